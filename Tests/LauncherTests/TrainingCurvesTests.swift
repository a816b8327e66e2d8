// Tests: reports/curves.png is a PNG of the documented size that shows the lines a run has (training always,
// validation only with --val) and the best-epoch and unfreezing markers, also for a run of a single epoch.
import Foundation
import Launcher
import Shards
import XCTest

final class TrainingCurvesTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = NSTemporaryDirectory() + "curves-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    /// History rows of a run that learns: loss falls and accuracy rises with the epoch.
    private func rows(epochs: Int, validation: Bool) -> [[String: Double]] {
        (0..<epochs).map { e in
            let t = Double(e)
            var row = ["epoch": t, "step": 8 * (t + 1), "lr": 0.01, "train_loss": 2.0 / (1 + t),
                       "train_top1": 0.2 + 0.1 * t]
            if validation {
                row.merge(["val_loss": 2.2 / (1 + t), "val_top1": 0.15 + 0.1 * t, "val_top5": 0.6,
                           "val_macro_f1": 0.1 + 0.1 * t, "val_samples": 32]) { $1 }
            }
            return row
        }
    }

    /// Writes the curves, decodes the PNG back and counts the pixels of each colour (0xRRGGBB, exactly) above the
    /// legend, where the plots are: the legend's swatches alone must not pass for a drawn line.
    private func drawAndCount(_ curves: TrainingCurves, colours: [UInt32]) throws -> [UInt32: Int] {
        let path = directory + "/curves.png"
        try curves.write(to: path, title: "c3d: loss and accuracy per epoch")
        let image = try ImageOps.readRGB(path: path)
        XCTAssertEqual(image.width, 1200, "picture width")
        XCTAssertEqual(image.height, 520, "picture height")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0 != "curves.png" }
        XCTAssertEqual(leftovers, [], "a temporary file stayed beside curves.png")
        var counts: [UInt32: Int] = [:]
        for colour in colours { counts[colour] = 0 }
        let legendTop = image.height - 80
        for i in stride(from: 0, to: legendTop * image.width * 3, by: 3) {
            let rgb = UInt32(image.pixels[i]) << 16 | UInt32(image.pixels[i + 1]) << 8 | UInt32(image.pixels[i + 2])
            if counts[rgb] != nil { counts[rgb]! += 1 }
        }
        return counts
    }

    /// The counts with colours in hex, for failure messages.
    private func hex(_ counts: [UInt32: Int]) -> String {
        counts.sorted { $0.key < $1.key }.map { String($0.key, radix: 16) + ": \($0.value)" }.joined(separator: ", ")
    }

    private let all = [TrainingCurves.Colour.train, TrainingCurves.Colour.validation, TrainingCurves.Colour.macroF1,
                       TrainingCurves.Colour.best, TrainingCurves.Colour.unfreeze]

    func testRunWithValidationShowsEveryLineAndBothMarkers() throws {
        let curves = TrainingCurves(rows: rows(epochs: 5, validation: true), best: (epoch: 3, metric: .top1),
                                    unfrozeAt: [2])
        let counts = try drawAndCount(curves, colours: all)
        for colour in all {
            XCTAssertGreaterThan(counts[colour]!, 50, "\(String(colour, radix: 16)) barely drawn: \(hex(counts))")
        }
    }

    func testRunWithoutValidationShowsOnlyTrainingLines() throws {
        let curves = TrainingCurves(rows: rows(epochs: 4, validation: false), best: nil, unfrozeAt: [])
        let counts = try drawAndCount(curves, colours: all)
        XCTAssertGreaterThan(counts[TrainingCurves.Colour.train]!, 50, "training lines barely drawn: \(hex(counts))")
        for colour in [TrainingCurves.Colour.validation, TrainingCurves.Colour.macroF1, TrainingCurves.Colour.best,
                       TrainingCurves.Colour.unfreeze] {
            XCTAssertEqual(counts[colour], 0, "\(String(colour, radix: 16)) drawn without validation: \(hex(counts))")
        }
    }

    func testSingleEpochShowsItsPointsAndTheBestMarker() throws {
        let curves = TrainingCurves(rows: rows(epochs: 1, validation: true), best: (epoch: 0, metric: .loss),
                                    unfrozeAt: [])
        let counts = try drawAndCount(curves, colours: all)
        // Nothing to join: each line is one dot of radius 4.
        for colour in [TrainingCurves.Colour.train, TrainingCurves.Colour.validation, TrainingCurves.Colour.macroF1,
                       TrainingCurves.Colour.best] {
            XCTAssertGreaterThan(counts[colour]!, 20, "\(String(colour, radix: 16)) barely drawn: \(hex(counts))")
        }
        XCTAssertEqual(counts[TrainingCurves.Colour.unfreeze], 0)
    }

    func testUnwritableDirectoryThrowsNamingThePath() {
        let path = directory + "/missing/curves.png"
        let curves = TrainingCurves(rows: rows(epochs: 2, validation: false), best: nil, unfrozeAt: [])
        XCTAssertThrowsError(try curves.write(to: path, title: "t")) { error in
            XCTAssertTrue("\(error)".contains(path), "the error does not name \(path): \(error)")
        }
    }
}
