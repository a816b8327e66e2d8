// Tests: learning-rate schedules match torch's StepLR and LinearLR→CosineAnnealingLR, and hold their minimum.
import Foundation
import NN
import XCTest

final class LRScheduleTests: XCTestCase {
    func testStepAndWarmupCosineMatchTorchSchedulers() throws {
        let fixture = try fixtureJSON("lr_schedules") as! [String: [String: Any]]
        let step = fixture["step"]!, wc = fixture["warmup_cosine"]!
        let cases: [(LRSchedule, [String: Any])] = [
            (.step(stepSize: step["step_size"] as! Int, gamma: step["gamma"] as! Double), step),
            (.warmupCosine(warmupSteps: wc["warmup_steps"] as! Int, startFactor: wc["start_factor"] as! Double,
                           totalSteps: wc["total_steps"] as! Int, minFactor: wc["min_factor"] as! Double), wc),
        ]
        for (schedule, spec) in cases {
            let want = spec["lrs"] as! [Double], base = spec["base"] as! Double
            let got = want.indices.map { schedule.learningRate(step: $0, baseLR: base) }
            let diff = zip(got, want).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(diff, 1e-12, "\(schedule): max abs diff \(diff)\n got \(got)\nwant \(want)")
        }
    }

    func testConstantStaysAndCosineHoldsItsMinimumPastTheEnd() {
        XCTAssertEqual(LRSchedule.constant.learningRate(step: 1000, baseLR: 0.3), 0.3)
        let s = LRSchedule.warmupCosine(warmupSteps: 0, startFactor: 1, totalSteps: 10, minFactor: 0.05)
        XCTAssertEqual(s.learningRate(step: 0, baseLR: 2), 2, accuracy: 1e-12)
        XCTAssertEqual(s.learningRate(step: 5, baseLR: 2), 2 * (0.05 + 0.95 * 0.5), accuracy: 1e-12)
        XCTAssertEqual(s.learningRate(step: 10, baseLR: 2), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.learningRate(step: 25, baseLR: 2), 0.1, accuracy: 1e-12)
    }
}
