// Tests: the bfloat16 values gradients travel as with --allreduce-precision bf16 round to nearest (ties to even),
// keep infinities and NaN, and widen back exactly; one-rank bucket averaging with bf16 transport leaves the
// gradient as it was (nothing to average, nothing rounded).
import Distributed
import XCTest

final class BFloat16TransportTests: XCTestCase {
    func testNarrowRoundsToNearestEvenAndWidenIsExact() {
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even one (1); 1 + 3·2^-8 goes up to 1 + 2^-6.
        let inputs: [Float] = [1, 1 + 0x1p-8, 1 + 3 * 0x1p-8, 1 + 0x1p-8 + 0x1p-20, -2.5, .infinity, -.infinity,
                               Float.greatestFiniteMagnitude, 3.0e-39]
        let expected: [Float] = [1, 1, 1 + 0x1p-6, 1 + 0x1p-7, -2.5, .infinity, -.infinity, .infinity, 3.0e-39]
        var wire = [BFloat16Value](repeating: BFloat16Value(bits: 0), count: inputs.count)
        var back = [Float](repeating: 0, count: inputs.count)
        inputs.withUnsafeBufferPointer { i in wire.withUnsafeMutableBufferPointer { BFloat16Value.narrow(i, into: $0) } }
        wire.withUnsafeBufferPointer { w in back.withUnsafeMutableBufferPointer { BFloat16Value.widen(w, into: $0) } }
        for (k, (got, want)) in zip(back, expected).enumerated() where k != 8 {
            XCTAssertEqual(got, want, "input \(inputs[k])")
        }
        XCTAssertEqual(back[8], 3.0e-39, accuracy: 0x1p-134, "a subnormal rounds to the nearest multiple of 2^-133")
        XCTAssertTrue(BFloat16Value(.nan).float.isNaN, "NaN stays NaN, never becomes infinity")
        XCTAssertTrue(BFloat16Value(Float(bitPattern: 0x7F80_0001)).float.isNaN, "a NaN with only low mantissa bits too")
    }

    func testOneRankBucketsWithBF16TransportLeaveTheGradient() throws {
        var grad: [Float] = (0..<1000).map { Float($0) * 0.001 + 0.1234567 }
        let before = grad
        try grad.withUnsafeMutableBufferPointer { g in
            let buckets = GradientBuckets(communicator: SingleProcessCommunicator(), gradient: g, bucketBytes: 400,
                                          transport: .bf16)
            buckets.beginStep()
            try buckets.gradientsReady(from: 0)
            try buckets.finish()
        }
        XCTAssertEqual(grad, before)
    }
}
