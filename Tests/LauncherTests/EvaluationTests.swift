// Tests: evaluation metrics match hand-computed values, padding is never counted, and reports are written.
import Foundation
import Launcher
import XCTest

final class EvaluationTests: XCTestCase {
    /// Logits with the predicted class as the largest entry.
    private func onehotLogits(_ predicted: [Int], classes: Int) -> [Float] {
        predicted.flatMap { p in (0..<classes).map { $0 == p ? Float(5) : Float(0) } }
    }

    func testPerClassScoresAndMacroF1MatchHandComputation() {
        var m = ClassificationMetrics(classes: ["a", "b", "c"])
        // true:      a a a b b c
        // predicted: a a b b c c   → a: P 1, R 2/3; b: P 1/2, R 1/2; c: P 1/2, R 1
        m.add(logits: onehotLogits([0, 0, 1, 1, 2, 2], classes: 3), labels: [0, 0, 0, 1, 1, 2],
              isPadding: [false, false, false, false, false, false])
        XCTAssertEqual(m.accuracy, 4.0 / 6.0, accuracy: 1e-12)
        let s = m.perClass
        XCTAssertEqual(s[0].precision, 1, accuracy: 1e-12)
        XCTAssertEqual(s[0].recall, 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(s[1].f1, 0.5, accuracy: 1e-12)
        XCTAssertEqual(s[2].f1, 2 * 0.5 / 1.5, accuracy: 1e-12)
        let expectedMacro = (0.8 + 0.5 + 2.0 / 3.0) / 3.0
        XCTAssertEqual(m.macroF1, expectedMacro, accuracy: 1e-12, "macro-F1 \(m.macroF1) vs \(expectedMacro)")
        XCTAssertEqual(m.confusion, [2, 1, 0, 0, 1, 1, 0, 0, 1])
    }

    func testPaddedSamplesAreNotCounted() {
        var m = ClassificationMetrics(classes: ["a", "b"])
        m.add(logits: onehotLogits([0, 1, 1], classes: 2), labels: [0, 0, 0], isPadding: [false, true, true])
        XCTAssertEqual(m.count, 1)
        XCTAssertEqual(m.accuracy, 1)
    }

    func testLossIsCrossEntropyAndTop5CountsNearMisses() {
        var m = ClassificationMetrics(classes: (0..<7).map { "c\($0)" })
        let logits: [Float] = [0, 1, 2, 3, 4, 5, 6]  // label 2 is 5th best → top-5 hit, top-1 miss
        m.add(logits: logits, labels: [2], isPadding: [false])
        let expected = log(logits.reduce(0.0) { $0 + exp(Double($1)) }) - 2
        XCTAssertEqual(m.meanLoss, expected, accuracy: 1e-9)
        XCTAssertEqual(m.top1, 0)
        XCTAssertEqual(m.top5, 1)
    }

    func testReportsAreWrittenWithClassNames() throws {
        var m = ClassificationMetrics(classes: ["hello", "thank,you"])
        m.add(logits: onehotLogits([0, 1, 1], classes: 2), labels: [0, 1, 0], isPadding: [false, false, false])
        let dir = NSTemporaryDirectory() + "eval-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try m.writeReports(to: dir, title: "test")
        let csv = try String(contentsOfFile: dir + "/confusion.csv", encoding: .utf8)
        XCTAssertEqual(csv, "true\\predicted,hello,\"thank,you\"\nhello,1,1\n\"thank,you\",0,1\n")
        let png = try Data(contentsOf: URL(fileURLWithPath: dir + "/confusion.png"))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "not a PNG")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/metrics.json")))
        XCTAssertEqual((json as? [String: Any])?["top1"] as? Double, 2.0 / 3.0)
    }
}
