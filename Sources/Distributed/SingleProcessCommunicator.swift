// Distributed: rank 0 of 1. The collectives of `Communicator` with their one-rank meaning, so that training,
// evaluation and tests run unchanged without mpirun.
import Foundation

public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var localRank: Int { 0 }
    public var localSize: Int { 1 }

    public func barrier() throws {}

    public func broadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        try checkRoot(root, operation: "broadcast")
    }

    public func allreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws {}

    public func allgather<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws {
        guard receive.count == send.count else {
            throw CommunicatorError(operation: "allgather", rank: 0, code: -1,
                                    message: "receive holds \(receive.count) elements, expected \(send.count)")
        }
        if send.count > 0 { receive.baseAddress!.update(from: send.baseAddress!, count: send.count) }
    }

    public func startAllreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws -> PendingAllreduce {
        CompletedAllreduce()
    }

    public func arrive(at label: String, step: Int64, timeout: Double) throws {}

    /// Ends the process: with one rank, the process is the job.
    public func abort(code: Int32) -> Never {
        Foundation.exit(code)
    }

    private func checkRoot(_ root: Int, operation: String) throws {
        guard root == 0 else {
            throw CommunicatorError(operation: operation, rank: 0, code: -1,
                                    message: "root \(root) does not exist in a job of 1 rank")
        }
    }
}

/// A reduction that was complete when it started (one rank has nothing to exchange).
final class CompletedAllreduce: PendingAllreduce {
    func test() throws -> Bool { true }
    func wait() throws {}
}
