// Launcher: `asl-dist-train allreduce-bench`: allreduce latency and bandwidth per message size, the numbers that
// decide the gradient bucket size on a given cluster, for fp32 buckets and for bf16 ones (half the bytes, plus the
// conversions training pays).
import ArgumentParser
import Distributed
import Foundation

public struct AllreduceBench: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "allreduce-bench",
        abstract: "Time in-place gradient allreduce from 1 KB to 256 MB of fp32 gradients, sent as fp32 and as bf16.")

    @Option(help: "Smallest message in bytes.") var minBytes: Int = 1 << 10
    @Option(help: "Largest message in bytes.") var maxBytes: Int = 256 << 20
    @Option(help: "Timed repetitions per size (fewer are used for large sizes).") var iterations: Int = 20
    @Option(help: "OpenBLAS threads per rank.") var threads: Int?

    public init() {}

    public func run() throws {
        try Job.run(threads: threads) { comm in
            let n = comm.size
            print0(comm, "allreduce-bench: \(n) rank(s); bytes = fp32 gradients reduced; bus bandwidth = algorithm bandwidth × 2(n−1)/n; "
                   + "bf16 sends half the bytes and its time includes rounding to bf16 and widening back")
            print0(comm, String(format: "%12@ %12@ %14@ %14@ %16@ %12@", "bytes", "latency_us", "algbw_GB/s", "busbw_GB/s",
                                "bf16_latency_us", "bf16_speedup"))
            var buffer = [Float](repeating: 1, count: maxBytes / 4)
            var wire = [BFloat16Value](repeating: BFloat16Value(1), count: maxBytes / 4)
            var rows: [String] = []
            var bytes = minBytes
            // Mean seconds per call of `body` over `reps` calls, the slowest rank's.
            func timed(_ reps: Int, _ body: () throws -> Void) throws -> Double {
                try body()  // warm-up
                try comm.barrier()
                let t0 = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<reps { try body() }
                var seconds = [Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(reps)]
                try comm.allreduce(&seconds, op: .max)
                return seconds[0]
            }
            while bytes <= maxBytes {
                let count = bytes / 4
                let reps = max(3, min(iterations, (64 << 20) / bytes * 4))
                try buffer.withUnsafeMutableBufferPointer { b in
                    try wire.withUnsafeMutableBufferPointer { w in
                        let slice = UnsafeMutableBufferPointer(rebasing: b[0..<count])
                        let half = UnsafeMutableBufferPointer(rebasing: w[0..<count])
                        let fp32 = try timed(reps) { try comm.allreduce(slice, op: .sum) }
                        let bf16 = try timed(reps) {
                            BFloat16Value.narrow(UnsafeBufferPointer(slice), into: half)
                            try comm.allreduce(half, op: .sum)
                            BFloat16Value.widen(UnsafeBufferPointer(half), into: slice)
                        }
                        let algbw = Double(bytes) / fp32 / 1e9
                        let busbw = algbw * 2 * Double(n - 1) / Double(max(n, 1))
                        print0(comm, String(format: "%12d %12.1f %14.3f %14.3f %16.1f %12.2f", bytes, fp32 * 1e6, algbw, busbw,
                                            bf16 * 1e6, fp32 / bf16))
                        rows.append("{\"bytes\":\(bytes),\"latency_us\":\(fp32 * 1e6),\"algbw_gbps\":\(algbw),\"busbw_gbps\":\(busbw),"
                                    + "\"bf16_latency_us\":\(bf16 * 1e6)}")
                    }
                }
                bytes *= 4
            }
            print0(comm, "{\"ranks\":\(n),\"sizes\":[\(rows.joined(separator: ","))]}")
        }
    }
}
