// Tests: each rank's OpenBLAS thread count follows the documented rule.
import XCTest
import Launcher

final class ThreadPolicyTests: XCTestCase {
    func testRanksOnANodeSplitItsCores() {
        let p = ThreadPolicy.decide(requested: nil, environment: [:], onlineCores: 16, allowedCores: 16, localSize: 4)
        XCTAssertEqual(p.threads, 4)
        XCTAssertTrue(p.reason.contains("16 cores / 4 ranks"), p.reason)
    }

    func testMoreRanksThanCoresStillGetOneThread() {
        let p = ThreadPolicy.decide(requested: nil, environment: [:], onlineCores: 2, allowedCores: 2, localSize: 4)
        XCTAssertEqual(p.threads, 1)
    }

    func testBindingToFewerCoresCapsThreads() {
        let p = ThreadPolicy.decide(requested: nil, environment: [:], onlineCores: 32, allowedCores: 1, localSize: 2)
        XCTAssertEqual(p.threads, 1)
        XCTAssertTrue(p.reason.contains("bound to 1"), p.reason)
    }

    func testUserChoiceWinsFlagOverEnvironment() {
        let env = ["OPENBLAS_NUM_THREADS": "3"]
        XCTAssertEqual(ThreadPolicy.decide(requested: nil, environment: env, onlineCores: 16, allowedCores: 16,
                                           localSize: 8).threads, 3)
        XCTAssertEqual(ThreadPolicy.decide(requested: 5, environment: env, onlineCores: 16, allowedCores: 16,
                                           localSize: 8).threads, 5)
    }
}
