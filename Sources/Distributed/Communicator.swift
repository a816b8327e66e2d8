// Distributed: the communicator every other module talks to: rank, size, and the collectives data-parallel
// training needs, over Float/Double/Int32/Int64 buffers, and sums of bfloat16 buffers for compressed gradients.
//
// Two implementations share these semantics exactly: `MPICommunicator` (Open MPI, for jobs started by mpirun or
// srun) and `SingleProcessCommunicator` (rank 0 of 1, so that everything above runs and is tested without mpirun).
// Collectives are blocking unless named `start…`; buffers are reduced in place.

import Support

/// Element types a collective can carry.
public enum ScalarKind: Sendable { case float, double, int32, int64, bfloat16 }

/// Swift element types a collective can carry.
public protocol CommScalar { static var scalarKind: ScalarKind { get } }
extension Float: CommScalar { public static var scalarKind: ScalarKind { .float } }
extension Double: CommScalar { public static var scalarKind: ScalarKind { .double } }
extension Int32: CommScalar { public static var scalarKind: ScalarKind { .int32 } }
extension Int64: CommScalar { public static var scalarKind: ScalarKind { .int64 } }

/// A bfloat16 as its 16 bits (see Support's `BFloat16`). Collectives move it at half a Float's bytes; a sum adds
/// each pair of operands in float32 and rounds the result to bfloat16 (min and max are not offered).
public struct BFloat16Value: CommScalar, Equatable, Sendable {
    public var bits: UInt16
    public init(bits: UInt16) { self.bits = bits }
    public init(_ x: Float) { bits = BFloat16.bits(x) }
    public var float: Float { BFloat16.float(bits) }
    public static var scalarKind: ScalarKind { .bfloat16 }

    /// Rounds `source` into `destination` (at least as long).
    public static func narrow(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<BFloat16Value>) {
        precondition(destination.count >= source.count, "destination shorter than source")
        destination.withMemoryRebound(to: UInt16.self) { BFloat16.narrow(source.baseAddress!, into: $0.baseAddress!, count: source.count) }
    }

    /// Widens `source` into `destination` (at least as long).
    public static func widen(_ source: UnsafeBufferPointer<BFloat16Value>, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(destination.count >= source.count, "destination shorter than source")
        source.withMemoryRebound(to: UInt16.self) { BFloat16.widen($0.baseAddress!, into: destination.baseAddress!, count: source.count) }
    }
}

/// Reduction operators.
public enum ReduceOp: String, Sendable { case sum, min, max }

/// A failed collective or setup call, with enough context to tell which rank and what MPI said.
public struct CommunicatorError: Error, CustomStringConvertible {
    public let operation: String
    public let rank: Int
    public let code: Int32
    public let message: String
    public let hint: String

    public init(operation: String, rank: Int, code: Int32, message: String, hint: String = "") {
        self.operation = operation; self.rank = rank; self.code = code; self.message = message; self.hint = hint
    }

    public var description: String {
        var s = "rank \(rank): \(operation) failed (MPI error \(code)): \(message)"
        if !hint.isEmpty { s += "\nhint: \(hint)" }
        return s
    }
}

/// Some rank did not reach a collective in time, or reached a different step.
public struct StallError: Error, CustomStringConvertible {
    public let rank: Int
    public let label: String
    public let step: Int64
    public let missingRanks: [Int]
    public let detail: String
    public var description: String {
        let who = missingRanks.map(String.init).joined(separator: ", ")
        return "rank \(rank): stalled at '\(label)' (step \(step)): "
            + (missingRanks.isEmpty ? detail : "rank(s) \(who) missing; \(detail)")
    }
}

/// A non-blocking allreduce in flight. The buffer it was started on must stay alive and untouched until
/// `test()` returns true or `wait()` returns.
public protocol PendingAllreduce: AnyObject {
    /// True once the reduction has completed (and drives MPI progress when it has not).
    func test() throws -> Bool
    /// Blocks until the reduction has completed.
    func wait() throws
}

/// The collectives data-parallel training needs. Every rank must call each collective in the same order.
public protocol Communicator: AnyObject {
    /// This process's index in the job, 0 ..< size.
    var rank: Int { get }
    /// Number of processes in the job.
    var size: Int { get }
    /// This process's index among the processes on its node.
    var localRank: Int { get }
    /// Number of processes of the job on this node.
    var localSize: Int { get }

    /// Waits until every rank has reached this call.
    func barrier() throws
    /// Copies root's `buffer` into every other rank's `buffer` (same count on every rank).
    func broadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws
    /// Replaces `buffer` on every rank with the element-wise reduction over all ranks.
    func allreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws
    /// Gathers `send` (same count n on every rank) into `receive` (count n·size), rank r's block at r·n.
    func allgather<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws
    /// Starts an in-place allreduce of `buffer` and returns at once.
    func startAllreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws -> PendingAllreduce
    /// Checks that every rank reaches the same point (`label`, `step`) within `timeout` seconds. Rank 0 collects
    /// an arrival message from every rank and then releases them; when a rank is missing at the deadline, rank 0
    /// throws a `StallError` naming it (and a rank waiting for rank 0 names rank 0).
    func arrive(at label: String, step: Int64, timeout: Double) throws
    /// Ends the whole job at once with `code` (every rank, not only this one). Used after an error on one rank,
    /// so that the others never wait forever in a collective.
    func abort(code: Int32) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// Array conveniences over the buffer collectives.
    public func allreduce<T: CommScalar>(_ values: inout [T], op: ReduceOp) throws {
        try values.withUnsafeMutableBufferPointer { try allreduce($0, op: op) }
    }

    public func broadcast<T: CommScalar>(_ values: inout [T], root: Int) throws {
        try values.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
    }

    public func allgather<T: CommScalar>(_ values: [T]) throws -> [T] {
        let total = values.count * size
        return try [T](unsafeUninitializedCapacity: total) { out, initialized in
            try values.withUnsafeBufferPointer { try allgather($0, into: out) }
            initialized = total
        }
    }

    /// Reduces one scalar.
    public func allreduce<T: CommScalar>(_ value: T, op: ReduceOp) throws -> T {
        var v = [value]
        try allreduce(&v, op: op)
        return v[0]
    }

    /// Broadcasts a byte string of any length from root (length first, then the bytes packed into Int64 words).
    /// Used for decisions and small structured messages (JSON) that rank 0 makes for everyone.
    public func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8] {
        var count: [Int64] = [Int64(bytes.count)]
        try broadcast(&count, root: root)
        let n = Int(count[0])
        var words = [Int64](repeating: 0, count: (n + 7) / 8)
        if rank == root {
            words.withUnsafeMutableBytes { dst in
                bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<n])) }
            }
        }
        try broadcast(&words, root: root)
        return words.withUnsafeBytes { Array($0[0..<n]) }
    }
}
