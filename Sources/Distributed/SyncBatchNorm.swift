// Distributed: the reduction behind synchronized BatchNorm. NN's BatchNorm3d asks a reducer to sum its per-channel
// statistics (forward: count, sum, sum of squares; backward: sum of dy and of dy·x̂) across ranks; this one does it
// with an allreduce, so that N ranks with batch B each compute exactly the statistics of one batch of N·B.
// The conformance to NN's protocol is declared in the Launcher, which is the only module that sees both.

public final class SyncBatchNormReducer {
    public let communicator: Communicator
    /// Number of allreduces performed (two per BN layer per training step); for logs and tests.
    public private(set) var calls = 0

    public init(communicator: Communicator) { self.communicator = communicator }

    /// Element-wise sum over all ranks, in place.
    public func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        calls += 1
        try communicator.allreduce(values, op: .sum)
    }
}
