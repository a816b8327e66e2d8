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
}
