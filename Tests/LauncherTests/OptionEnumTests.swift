// Tests: options that take one of a few named values are parsed into enums — a bad value is rejected by the parser
// with the flag and the accepted values, config files still set them, and the architecture registry is complete.
import ArgumentParser
import Foundation
import Launcher
import NN
import Shards
import XCTest

final class OptionEnumTests: XCTestCase {
    func testBadValuesAreRejectedNamingTheFlagAndListingTheAcceptedValues() {
        let cases: [(flag: String, bad: String, accepted: [String])] = [
            ("--arch", "resnet50", Architecture.allCases.map(\.rawValue)),
            ("--optimizer", "lamb", ["sgd", "adamw"]),
            ("--schedule", "poly", ["cosine", "step", "constant"]),
            ("--metric", "top5", ["top1", "macro_f1", "loss"]),
            ("--sampling", "random", ["global", "local"]),
        ]
        for (flag, bad, accepted) in cases {
            XCTAssertThrowsError(try TrainOptions.parse([flag, bad]), "\(flag) \(bad)") { error in
                let message = TrainOptions.message(for: error)
                XCTAssertTrue(message.contains(flag), "names the flag: \(message)")
                XCTAssertTrue(message.contains("'\(bad)'"), "quotes the bad value: \(message)")
                for value in accepted { XCTAssertTrue(message.contains("'\(value)'"), "lists \(value): \(message)") }
            }
        }
        XCTAssertEqual(Architecture.allCases.map(\.rawValue), ["r2plus1d_18", "c3d"],
                       "the names written in checkpoints and run states")
    }

    func testDefaultsAreUnchanged() throws {
        let o = try TrainOptions.parse([])
        XCTAssertEqual(o.arch, .r2plus1d18)
        XCTAssertEqual(o.optimizer, .sgd)
        XCTAssertEqual(o.schedule, .cosine)
        XCTAssertEqual(o.metric, .top1)
        XCTAssertEqual(o.sampling, .global)
    }

    func testConfigFileSetsEnumOptionsByTheirNames() throws {
        let path = NSTemporaryDirectory() + "config-\(UUID().uuidString).yaml"
        try "arch: c3d\noptimizer: adamw\nschedule: step\nmetric: macro_f1\nsampling: local\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let o = try TrainOptions.parse(try ConfigFile.expand(["--config", path, "--schedule", "constant"]))
        XCTAssertEqual(o.arch, .c3d)
        XCTAssertEqual(o.optimizer, .adamw)
        XCTAssertEqual(o.schedule, .constant, "the typed flag overrides the file")
        XCTAssertEqual(o.metric, .macroF1)
        XCTAssertEqual(o.sampling, .local)
    }

    func testEveryArchitectureBuildsAModelWhoseSignatureKeyHoldsItsWidth() throws {
        for arch in Architecture.allCases {
            let model = try arch.makeModel(classes: 3, width: 4)
            let handle = try XCTUnwrap(model.store.handle(named: arch.signatureKey),
                                       "\(arch): \(arch.signatureKey) is not in its parameter table")
            // The predictor infers the width of weights without metadata from this tensor's first dimension.
            XCTAssertEqual(model.store.entry(handle).shape.first, 4, "\(arch): \(arch.signatureKey)")
            for other in Architecture.allCases where other != arch {
                XCTAssertNil(model.store.handle(named: other.signatureKey), "\(arch) holds \(other)'s signature key")
            }
        }
        XCTAssertThrowsError(try Architecture(named: "resnet50")) { error in
            XCTAssertTrue("\(error)".contains("known: r2plus1d_18, c3d"), "\(error)")
        }
    }

    func testARunStateNamingAnUnknownArchitectureIsAClearResumeError() throws {
        var state = RunState()
        state.arch = "c3d"
        XCTAssertEqual(try state.architecture(path: "run"), .c3d)
        state.arch = "x3d"
        XCTAssertThrowsError(try state.architecture(path: "run")) { error in
            XCTAssertTrue("\(error)".contains("unknown architecture 'x3d' (known: r2plus1d_18, c3d)"), "\(error)")
        }
    }

    func testHandCropParsesItsFormsAndListsThemOnABadValue() {
        XCTAssertEqual(HandCropMode(argument: "motion"), .motion)
        XCTAssertEqual(HandCropMode(argument: "boxes:/tmp/b.json"), .boxes(path: "/tmp/b.json"))
        XCTAssertNil(HandCropMode(argument: "boxes:"))
        XCTAssertThrowsError(try ShardsCommand.parseAsRoot(["build", "videos", "--root", "r", "--out", "o",
                                                            "--hand-crop", "hands"])) { error in
            let message = ShardsCommand.message(for: error)
            XCTAssertTrue(message.contains("--hand-crop"), message)
            for form in ["bbox", "motion", "none", "boxes:FILE"] { XCTAssertTrue(message.contains("'\(form)'"), message) }
        }
        XCTAssertThrowsError(try PredictCommand.parse(["--weights", "w", "--input", "i", "--hand-crop", "bbox"]),
                             "a video has no source box") { error in
            let message = PredictCommand.message(for: error)
            XCTAssertTrue(message.contains("--hand-crop") && message.contains("'motion'") && message.contains("'none'"), message)
        }
    }
}
