// Tests: history.csv has its columns in the documented order, counts written as integers (also after a resume
// reloads history.json), and empty cells where an epoch has no validation.
import Foundation
import Launcher
import XCTest

final class HistoryTests: XCTestCase {
    func testCSVHasFixedColumnsIntegerCountsAndEmptyCellsWithoutValidation() throws {
        let dir = NSTemporaryDirectory() + "history-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        try History(directory: dir, resumingFrom: false).record(
            ["val_macro_f1": 0.25, "train_top1": 0.5, "val_samples": 32, "step": 8, "val_top1": 0.375, "lr": 0.005,
             "train_loss": 1.25, "epoch": 0, "val_loss": 1.5, "val_top5": 1])
        // A resumed run reloads the rows from history.json, then records an epoch without validation.
        let resumed = History(directory: dir, resumingFrom: true)
        try resumed.record(["epoch": 1, "step": 16, "lr": 0.0025, "train_loss": 0.75, "train_top1": 0.625])

        let lines = try String(contentsOfFile: dir + "/history.csv", encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 4, "header, two rows, final newline: \(lines)")
        XCTAssertEqual(lines[0],
                       "epoch,step,lr,train_loss,train_top1,val_loss,val_top1,val_top5,val_macro_f1,val_samples")
        let header = lines[0].split(separator: ",").map(String.init)
        let cells = lines[1...2].map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        for row in cells {
            XCTAssertEqual(row.count, header.count, "cells in \(row)")
            XCTAssertNotNil(Int(row[0]), "epoch \(row[0]) is not an integer")
            XCTAssertNotNil(Int(row[1]), "step \(row[1]) is not an integer")
        }
        XCTAssertEqual(cells[0], ["0", "8", "0.005", "1.25", "0.5", "1.5", "0.375", "1.0", "0.25", "32"])
        XCTAssertEqual(cells[1], ["1", "16", "0.0025", "0.75", "0.625", "", "", "", "", ""])
    }
}
