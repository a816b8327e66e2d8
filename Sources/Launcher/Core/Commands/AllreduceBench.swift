// Launcher: `asl-dist-train allreduce-bench`: allreduce latency and bandwidth per message size, the numbers that
// decide the gradient bucket size on a given cluster.
import ArgumentParser
import Distributed
import Foundation

public struct AllreduceBench: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "allreduce-bench",
        abstract: "Time in-place Float allreduce from 1 KB to 256 MB: latency, algorithm and bus bandwidth.")

    @Option(help: "Smallest message in bytes.") var minBytes: Int = 1 << 10
    @Option(help: "Largest message in bytes.") var maxBytes: Int = 256 << 20
    @Option(help: "Timed repetitions per size (fewer are used for large sizes).") var iterations: Int = 20
    @Option(help: "OpenBLAS threads per rank.") var threads: Int?

    public init() {}

    public func run() throws {
        try Job.run(threads: threads) { comm in
            let n = comm.size
            print0(comm, "allreduce-bench: \(n) rank(s); bus bandwidth = algorithm bandwidth × 2(n−1)/n")
            print0(comm, String(format: "%12@ %12@ %14@ %14@", "bytes", "latency_us", "algbw_GB/s", "busbw_GB/s"))
            var buffer = [Float](repeating: 1, count: maxBytes / 4)
            var rows: [String] = []
            var bytes = minBytes
            while bytes <= maxBytes {
                let count = bytes / 4
                let reps = max(3, min(iterations, (64 << 20) / bytes * 4))
                try buffer.withUnsafeMutableBufferPointer { b in
                    let slice = UnsafeMutableBufferPointer(rebasing: b[0..<count])
                    try comm.allreduce(slice, op: .sum)  // warm-up
                    try comm.barrier()
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<reps { try comm.allreduce(slice, op: .sum) }
                    var seconds = [Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(reps)]
                    try comm.allreduce(&seconds, op: .max)
                    let algbw = Double(bytes) / seconds[0] / 1e9
                    let busbw = algbw * 2 * Double(n - 1) / Double(max(n, 1))
                    print0(comm, String(format: "%12d %12.1f %14.3f %14.3f", bytes, seconds[0] * 1e6, algbw, busbw))
                    rows.append("{\"bytes\":\(bytes),\"latency_us\":\(seconds[0] * 1e6),\"algbw_gbps\":\(algbw),\"busbw_gbps\":\(busbw)}")
                }
                bytes *= 4
            }
            print0(comm, "{\"ranks\":\(n),\"sizes\":[\(rows.joined(separator: ","))]}")
        }
    }
}
