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

    func testAGenericOpenBLASKernelOnAVX512OrAVX2NamesTheCoreTypeToUse() {
        let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl"]
        let note = ThreadPolicy.kernelNote(coreName: "Prescott", cpuFlags: avx512)
        XCTAssertTrue(note?.contains("OPENBLAS_CORETYPE=SkylakeX") ?? false, note ?? "no note")
        XCTAssertTrue(ThreadPolicy.kernelNote(coreName: "Prescott", cpuFlags: ["avx2", "fma"])?.contains("=Haswell") ?? false)
        XCTAssertNil(ThreadPolicy.kernelNote(coreName: "SkylakeX", cpuFlags: avx512), "a good choice gets no note")
        XCTAssertNil(ThreadPolicy.kernelNote(coreName: "Prescott", cpuFlags: ["sse3"]), "nothing better to name")
    }
}
