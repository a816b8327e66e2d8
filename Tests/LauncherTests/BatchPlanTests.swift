// Tests: how a resume splits the checkpoint's global batch over another number of ranks.
import Launcher
import XCTest

final class BatchPlanTests: XCTestCase {
    func testFreshRunTakesTheFlags() throws {
        let plan = try BatchPlan.make(batchSize: 4, accumulate: 2, maxBatchSize: nil, ranks: 3, saved: nil)
        XCTAssertEqual(plan, BatchPlan(perRank: 4, accumulate: 2, note: nil))
    }

    func testResumeOnFewerRanksRaisesThePerRankBatchToKeepTheGlobalBatch() throws {
        let plan = try BatchPlan.make(batchSize: 4, accumulate: 1, maxBatchSize: nil, ranks: 1, saved: (8, 2))
        XCTAssertEqual(plan.perRank, 8)
        XCTAssertEqual(plan.accumulate, 1)
        XCTAssertEqual(plan.globalBatch(ranks: 1), 8)
        XCTAssertTrue(plan.note?.contains("global batch 8 kept as 1 × 8") == true, plan.note ?? "no note")
    }

    func testMaxBatchSizeTurnsTheRestIntoAccumulationAndSaysBNChanges() throws {
        // 8 ranks × 8 = 64 resumed on 2 ranks with at most 8 clips per rank: 2 × 8 × 4 accumulated.
        let plan = try BatchPlan.make(batchSize: 8, accumulate: 1, maxBatchSize: 8, ranks: 2, saved: (64, 8))
        XCTAssertEqual(plan, BatchPlan(perRank: 8, accumulate: 4, note: plan.note))
        XCTAssertEqual(plan.globalBatch(ranks: 2), 64)
        XCTAssertTrue(plan.note?.contains("BatchNorm now normalizes groups of 2 × 8") == true, plan.note ?? "no note")
    }

    func testSameRanksWithAnotherGlobalBatchIsRefusedNamingBoth() {
        XCTAssertThrowsError(try BatchPlan.make(batchSize: 8, accumulate: 1, maxBatchSize: nil, ranks: 2, saved: (8, 2))) {
            let text = "\($0)"
            XCTAssertTrue(text.contains("global batch of 8") && text.contains("give 16") && text.contains("--batch-size 4"), text)
        }
    }

    func testRankCountThatCannotSplitTheBatchNamesTheOnesThatCan() {
        XCTAssertNoThrow(try BatchPlan.make(batchSize: 2, accumulate: 1, maxBatchSize: nil, ranks: 3, saved: (12, 2)),
                         "12 splits over 3 ranks")
        XCTAssertThrowsError(try BatchPlan.make(batchSize: 4, accumulate: 1, maxBatchSize: nil, ranks: 5, saved: (12, 3))) {
            let text = "\($0)"
            XCTAssertTrue(text.contains("cannot be split evenly over 5 ranks; rank counts that keep it: 1, 2, 3, 4, 6, 12"), text)
        }
    }
}
