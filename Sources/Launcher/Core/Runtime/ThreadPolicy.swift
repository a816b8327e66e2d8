// Launcher: how many OpenBLAS threads each rank runs, so that ranks on a node share its cores without
// oversubscribing them.
import Distributed
import Foundation
import NN
import Support

public struct ThreadPolicy: Equatable {
    public let threads: Int
    /// Where the number came from, for the start-up log line.
    public let reason: String

    /// Rule: `--threads` wins, then `OPENBLAS_NUM_THREADS`, then (cores on the node ÷ ranks on the node), never more
    /// than the cores this rank is bound to and never fewer than one.
    public static func decide(requested: Int?, environment: [String: String], onlineCores: Int, allowedCores: Int,
                              localSize: Int) -> ThreadPolicy {
        if let n = requested { return ThreadPolicy(threads: max(1, n), reason: "--threads") }
        if let s = environment["OPENBLAS_NUM_THREADS"], let n = Int(s), n > 0 {
            return ThreadPolicy(threads: n, reason: "OPENBLAS_NUM_THREADS")
        }
        let share = max(1, onlineCores / max(1, localSize))
        let threads = min(share, max(1, allowedCores))
        var reason = "\(onlineCores) cores / \(localSize) ranks on this node"
        if threads < share { reason += ", bound to \(allowedCores) cores" }
        return ThreadPolicy(threads: threads, reason: reason)
    }

    /// Decides for this rank and applies it to OpenBLAS.
    @discardableResult
    public static func apply(requested: Int?, communicator: Communicator) -> ThreadPolicy {
        let policy = decide(requested: requested, environment: ProcessInfo.processInfo.environment,
                            onlineCores: Node.onlineCores, allowedCores: Node.allowedCores,
                            localSize: communicator.localSize)
        BLAS.threads = policy.threads
        return policy
    }

    /// A note when OpenBLAS fell back to a generic kernel set on a CPU with AVX-512 or AVX2 (it does not recognise
    /// some virtual CPUs: an "Intel Xeon Processor" VM got Prescott's SSE3 kernels), naming the OPENBLAS_CORETYPE that
    /// uses the CPU's vector units; nil when OpenBLAS chose well. `cpuFlags`: the `flags` of /proc/cpuinfo.
    public static func kernelNote(coreName: String, cpuFlags: Set<String>) -> String? {
        let generic: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
                                    "Northwood", "Banias", "Opteron", "Barcelona"]
        guard generic.contains(coreName) else { return nil }
        let better: String
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl"]) { better = "SkylakeX" }
        else if cpuFlags.isSuperset(of: ["avx2", "fma"]) { better = "Haswell" }
        else { return nil }
        return "note: OpenBLAS chose its \(coreName) kernels on a CPU with \(better == "SkylakeX" ? "AVX-512" : "AVX2"); "
            + "export OPENBLAS_CORETYPE=\(better) before starting (on every node) for faster fp32 GEMMs"
    }

    /// The `flags` of the first processor in /proc/cpuinfo (empty where there is none).
    public static var cpuFlags: Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
