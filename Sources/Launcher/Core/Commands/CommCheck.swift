// Launcher: `asl-dist-train comm-check`: runs every collective on every rank and checks the results against
// values each rank can compute alone; the multi-rank test suite runs it under mpirun.
import ArgumentParser
import Distributed
import Foundation

public struct CommCheck: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "comm-check",
        abstract: "Check broadcast, allreduce, allgather and non-blocking allreduce on every rank.")

    @Option(help: "Make this rank throw an error after the first collective (tests that the job ends, not hangs).")
    var failRank: Int?

    @Option(help: "Elements in the large allreduce.")
    var count: Int = 1_000_003

    @Option(help: "Make this rank sleep before the arrival check (tests the stall watchdog).")
    var stallRank: Int?

    @Option(help: "Seconds the arrival check waits for every rank.")
    var stallTimeout: Double = 30

    public init() {}

    public func run() throws {
        try Job.run { comm in
            var failures: [String] = []
            func expect(_ ok: Bool, _ what: String) { if !ok { failures.append(what) } }
            let r = comm.rank, n = comm.size

            // Broadcast from the last rank.
            var b: [Int64] = (0..<5).map { Int64($0 * 10 + r) }
            try comm.broadcast(&b, root: n - 1)
            expect(b == (0..<5).map { Int64($0 * 10 + n - 1) }, "broadcast Int64 from rank \(n - 1): \(b)")

            if failRank == r {
                throw ValidationError("rank \(r) fails on purpose (--fail-rank)")
            }

            // Allreduce sum/min/max over each element type.
            var f: [Float] = (0..<7).map { Float($0) + Float(r) * 0.5 }
            try comm.allreduce(&f, op: .sum)
            let sumRanks = Float(n * (n - 1)) / 2
            expect(f == (0..<7).map { Float($0) * Float(n) + 0.5 * sumRanks }, "allreduce Float sum: \(f)")
            var d: [Double] = [Double(r), -Double(r)]
            try comm.allreduce(&d, op: .max)
            expect(d == [Double(n - 1), 0], "allreduce Double max: \(d)")
            var i32: [Int32] = [Int32(r + 3)]
            try comm.allreduce(&i32, op: .min)
            expect(i32 == [3], "allreduce Int32 min: \(i32)")
            var i64: [Int64] = [Int64(r) << 40]
            try comm.allreduce(&i64, op: .sum)
            expect(i64 == [Int64(n * (n - 1) / 2) << 40], "allreduce Int64 sum: \(i64)")

            // bfloat16 sum: small integers are exact in bfloat16, so the sum is exact too; min is refused.
            var h = [BFloat16Value(Float(r + 1)), BFloat16Value(-2 * Float(r + 1))]
            try comm.allreduce(&h, op: .sum)
            let tri = Float(n * (n + 1) / 2)
            expect(h.map(\.float) == [tri, -2 * tri], "allreduce bfloat16 sum: \(h.map(\.float))")
            if n > 1 {
                var refused = false
                do { try comm.allreduce(&h, op: .min) } catch { refused = true }
                expect(refused, "allreduce bfloat16 min is refused")
            }

            // Allgather: rank k contributes [k, k*k].
            let g = try comm.allgather([Int32(r), Int32(r * r)])
            expect(g == (0..<n).flatMap { [Int32($0), Int32($0 * $0)] }, "allgather Int32: \(g)")

            // Large non-blocking allreduce, driven by test() then finished by wait().
            var big = [Float](repeating: Float(r + 1), count: count)
            let pending = try big.withUnsafeMutableBufferPointer { try comm.startAllreduce($0, op: .sum) }
            var polls = 0
            while try !pending.test() && polls < 3 { polls += 1 }
            try pending.wait()
            let expected = Float(n * (n + 1) / 2)
            expect(big.allSatisfy { $0 == expected }, "non-blocking allreduce of \(count) floats")

            // Bucketed gradient averaging, overlapped and deterministic: rank r holds r+1 (times the element's index
            // parity) everywhere; the average is known in closed form. Bucket size is odd so that buckets are uneven.
            // With bf16 transport the values (r+1)·(1 + j/1000 mod 7) are not all exact in bfloat16: the average
            // must be within bfloat16's rounding: at most 2^-8 relative per rounding, once per rank's value sent and once
            // per partial sum, which over n ranks stays below n + 1 roundings of the mean.
            for mode in [GradientBuckets.Mode.overlapped, .deterministic] {
              for transport in GradientBuckets.Transport.allCases {
                let wiggle: (Int) -> Float = transport == .fp32 ? { _ in 1 } : { 1 + Float($0 % 7) / 1000 }
                var grad = (0..<10_001).map { (j: Int) -> Float in Float(r + 1) * (j % 2 == 0 ? 1 : -1) * wiggle(j) }
                try grad.withUnsafeMutableBufferPointer { g in
                    let buckets = GradientBuckets(communicator: comm, gradient: g, reducedRange: 1..<10_001,
                                                  bucketBytes: 4 * 997, mode: mode, transport: transport)
                    buckets.beginStep()
                    // Backward reports progress from the end of the buffer downwards.
                    for offset in stride(from: 10_001, through: 0, by: -1500) { try buckets.gradientsReady(from: offset) }
                    try buckets.finish()
                }
                let mean = Float(n + 1) / 2
                let tolerance: Float = transport == .fp32 ? 1e-5 : Float(n + 1) * mean / 256
                var worst: Float = 0
                for j in 1..<grad.count {
                    let sign: Float = j % 2 == 0 ? 1 : -1
                    worst = max(worst, abs(grad[j] - mean * sign * wiggle(j)))
                }
                // bf16 must really round: some of these averages are not bfloat16 numbers (one rank averages nothing).
                expect(transport == .fp32 || n == 1 || worst > 0, "gradient buckets (\(mode), bf16) give the exact fp32 average")
                expect(grad[0] == Float(r + 1) * wiggle(0) && worst <= tolerance,
                       "gradient buckets (\(mode), \(transport)) average: max |error| \(worst) > \(tolerance); first values \(grad.prefix(4))")
              }
            }

            // Arrival check: every rank reaches step 1 (and, with --stall-rank, one of them too late).
            if stallRank == r { Thread.sleep(forTimeInterval: stallTimeout * 3) }
            try comm.arrive(at: "comm-check", step: 1, timeout: stallTimeout)

            // String broadcast, used for rank 0's decisions.
            let text = try comm.broadcast(bytes: Array("decided by rank 0 of \(n)".utf8), root: 0)
            expect(String(decoding: text, as: UTF8.self) == "decided by rank 0 of \(n)", "byte broadcast")

            try comm.barrier()
            // Each rank reports; the totals decide the exit status on every rank.
            let failed = try comm.allreduce(Int32(failures.isEmpty ? 0 : 1), op: .sum)
            for f in failures { printError("comm-check: \(f)", rank: r, size: n) }
            print0(comm, "comm-check: \(n) ranks, local size \(comm.localSize): "
                   + (failed == 0 ? "all collectives correct" : "\(failed) ranks saw wrong results"))
            if failed != 0 { throw ExitCode(1) }
        }
    }
}
