// Tests: a config file stands for the flags it names, and flags typed on the command line override it.
import ArgumentParser
import Foundation
import Launcher
import XCTest

final class ConfigFileTests: XCTestCase {
    private func write(_ text: String, ext: String) throws -> String {
        let path = NSTemporaryDirectory() + "config-\(UUID().uuidString).\(ext)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testYAMLKeysBecomeOptionsAndCommandLineFlagsWin() throws {
        let path = try write("""
            arch: c3d
            batch_size: 4
            lr: 0.05
            freeze: [stem, layer1]
            nesterov: true
            no-sync-bn: false
            """, ext: "yaml")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let args = try ConfigFile.expand(["--config", path, "--batch-size", "16"])
        let o = try TrainOptions.parse(args)
        XCTAssertEqual(o.arch, .c3d)
        XCTAssertEqual(o.batchSize, 16, "the typed flag must override the file: \(args)")
        XCTAssertEqual(o.lr, 0.05)
        XCTAssertEqual(o.freezePrefixes, ["stem", "layer1"])
        XCTAssertTrue(o.nesterov)
        XCTAssertFalse(o.noSyncBn)
    }

    func testJSONConfigAfterASubcommandKeepsTheSubcommandFirst() throws {
        let path = try write(#"{"epochs": 3, "out": "runs/x"}"#, ext: "json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(try ConfigFile.expand(["train", "--config=\(path)", "--seed", "2"]),
                       ["train", "--epochs", "3", "--out", "runs/x", "--seed", "2"])
    }

    func testMalformedConfigNamesTheFile() throws {
        let path = try write("arch: [unclosed", ext: "yaml")
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try ConfigFile.expand(["--config", path])) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }

    func testConfigOfTheSupervisedCommandAfterDoubleDashIsLeftToIt() throws {
        let path = try write("batch_size: 4\n", ext: "yaml")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let args = ["supervise", "--max-restarts", "2", "--", "mpirun", "-np", "2", "asl-dist-train", "--config", path]
        XCTAssertEqual(try ConfigFile.expand(args), args, "the job's --config is the job's to read")
    }
}

final class ConfigFileTypoTests: XCTestCase {
    func testAnUnknownKeyOfTheFileIsNamedWithTheClosestOption() throws {
        let path = NSTemporaryDirectory() + "typo-\(UUID().uuidString).yaml"
        try "epoch: 3\nlr: 0.1\n".write(toFile: path, atomically: true, encoding: .utf8)
        let error = try XCTUnwrap(ConfigFile.explain(parseError: "Unknown option '--epoch'", configPath: path,
                                                     known: ["--epochs", "--lr", "--steps"]))
        XCTAssertTrue(error.description.contains(path) && error.description.contains("key 'epoch'")
                      && error.description.contains("did you mean 'epochs'?"), error.description)
        XCTAssertNil(ConfigFile.explain(parseError: "Unknown option '--epohcs'", configPath: path, known: ["--epochs"]),
                     "a typo typed on the command line is not the file's")
        XCTAssertEqual(ConfigFile.path(in: ["train", "--config=\(path)", "--seed", "1"]), path)
    }
}
