// Distributed: `Communicator` over Open MPI. Every call's return code is checked and turned into a
// `CommunicatorError` carrying the rank and MPI_Error_string, because the world communicator is switched to
// MPI_ERRORS_RETURN (the default handler would abort without saying which call failed).
import CMPI
import Foundation
import Support

public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let localRank: Int
    public let localSize: Int
    private let world: MPI_Comm
    private var finalized = false
    /// The bfloat16 sum operator, created on first use.
    private var bfloat16SumOp: MPI_Op?

    /// Initializes MPI (once per process) and queries the job's layout.
    /// Threads: only the thread that created the communicator calls MPI (MPI_THREAD_FUNNELED).
    public init() throws {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            let rc = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
            if rc != MPI_SUCCESS {
                throw CommunicatorError(operation: "MPI_Init_thread", rank: -1, code: rc, message: mpiErrorString(rc),
                                        hint: "is Open MPI installed on every node, and was the job started with mpirun or srun?")
            }
        }
        world = cmpi_comm_world()
        var r: Int32 = 0, n: Int32 = 0
        try Self.check(MPI_Comm_set_errhandler(world, cmpi_errors_return()), "MPI_Comm_set_errhandler", rank: -1)
        try Self.check(MPI_Comm_rank(world, &r), "MPI_Comm_rank", rank: -1)
        try Self.check(MPI_Comm_size(world, &n), "MPI_Comm_size", rank: Int(r))
        rank = Int(r); size = Int(n)

        // Ranks that share memory with us are the ones on our node.
        var node: MPI_Comm? = cmpi_comm_null()
        try Self.check(MPI_Comm_split_type(world, Int32(MPI_COMM_TYPE_SHARED), r, cmpi_info_null(), &node),
                       "MPI_Comm_split_type", rank: rank)
        var lr: Int32 = 0, ln: Int32 = 0
        try Self.check(MPI_Comm_rank(node, &lr), "MPI_Comm_rank(node)", rank: rank)
        try Self.check(MPI_Comm_size(node, &ln), "MPI_Comm_size(node)", rank: rank)
        try Self.check(MPI_Comm_free(&node), "MPI_Comm_free(node)", rank: rank)
        localRank = Int(lr); localSize = Int(ln)
    }

    /// Ends MPI cleanly; call once on every rank after the last collective.
    public func finalize() throws {
        guard !finalized else { return }
        finalized = true
        if bfloat16SumOp != nil { try Self.check(MPI_Op_free(&bfloat16SumOp), "MPI_Op_free", rank: rank) }
        try Self.check(MPI_Finalize(), "MPI_Finalize", rank: rank)
    }

    public func barrier() throws {
        try check(MPI_Barrier(world), "MPI_Barrier")
    }

    public func broadcast<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        try checkRoot(root, "MPI_Bcast")
        for (base, count) in chunks(buffer) {
            try check(MPI_Bcast(base, count, datatype(T.self), Int32(root), world), "MPI_Bcast")
        }
    }

    public func allreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws {
        for (base, count) in chunks(buffer) {
            try check(MPI_Allreduce(cmpi_in_place(), base, count, datatype(T.self), try mpiOp(op, T.self), world), "MPI_Allreduce")
        }
    }

    public func allgather<T: CommScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws {
        guard receive.count == send.count * size, send.count <= Int(Int32.max) else {
            throw CommunicatorError(operation: "MPI_Allgather", rank: rank, code: -1,
                                    message: "receive holds \(receive.count) elements, expected \(send.count) × \(size)")
        }
        let n = Int32(send.count)
        try check(MPI_Allgather(send.baseAddress, n, datatype(T.self), receive.baseAddress, n, datatype(T.self), world),
                  "MPI_Allgather")
    }

    public func startAllreduce<T: CommScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws -> PendingAllreduce {
        let pending = MPIPendingAllreduce(communicator: self)
        for (base, count) in chunks(buffer) {
            var request: MPI_Request? = cmpi_request_null()
            try check(MPI_Iallreduce(cmpi_in_place(), base, count, datatype(T.self), try mpiOp(op, T.self), world, &request),
                      "MPI_Iallreduce")
            pending.requests.append(request)
        }
        return pending
    }

    public func arrive(at label: String, step: Int64, timeout: Double) throws {
        let tag: Int32 = 0x5A11
        let deadline = Date().addingTimeInterval(timeout)
        var mine: [Int64] = [step]
        if rank == 0 {
            var steps = [Int64](repeating: -1, count: size)
            var requests = [MPI_Request?](repeating: cmpi_request_null(), count: size)
            try steps.withUnsafeMutableBufferPointer { buf in
                for r in 1..<size {
                    try check(MPI_Irecv(buf.baseAddress! + r, 1, cmpi_int64(), Int32(r), tag, world, &requests[r]), "MPI_Irecv")
                }
                var arrived = [Bool](repeating: false, count: size)
                arrived[0] = true
                while !arrived.allSatisfy({ $0 }) {
                    for r in 1..<size where !arrived[r] {
                        var flag: Int32 = 0
                        try check(MPI_Test(&requests[r], &flag, cmpi_status_ignore()), "MPI_Test")
                        arrived[r] = flag != 0
                    }
                    if arrived.allSatisfy({ $0 }) { break }
                    if Date() > deadline {
                        let missing = (0..<size).filter { !arrived[$0] }
                        throw StallError(rank: 0, label: label, step: step, missingRanks: missing,
                                         detail: "no arrival after \(timeout) s (--stall-timeout); aborting the job")
                    }
                    usleep(200)
                }
            }
            if let r = (1..<size).first(where: { steps[$0] != step }) {
                throw StallError(rank: 0, label: label, step: step, missingRanks: [],
                                 detail: "rank \(r) arrived at step \(steps[r]) instead: ranks disagree on the schedule")
            }
            var sends = [MPI_Request?](repeating: cmpi_request_null(), count: size)
            for r in 1..<size {
                try check(MPI_Isend(&mine, 1, cmpi_int64(), Int32(r), tag, world, &sends[r]), "MPI_Isend")
            }
            for r in 1..<size { try check(MPI_Wait(&sends[r], cmpi_status_ignore()), "MPI_Wait") }
        } else {
            var send: MPI_Request? = cmpi_request_null()
            var receive: MPI_Request? = cmpi_request_null()
            var go: [Int64] = [-1]
            try check(MPI_Isend(&mine, 1, cmpi_int64(), 0, tag, world, &send), "MPI_Isend")
            try check(MPI_Irecv(&go, 1, cmpi_int64(), 0, tag, world, &receive), "MPI_Irecv")
            var flag: Int32 = 0
            while flag == 0 {
                try check(MPI_Test(&receive, &flag, cmpi_status_ignore()), "MPI_Test")
                if flag != 0 { break }
                if Date() > deadline {
                    throw StallError(rank: rank, label: label, step: step, missingRanks: [0],
                                     detail: "rank 0 did not release the ranks after \(timeout) s (--stall-timeout)")
                }
                usleep(200)
            }
            try check(MPI_Wait(&send, cmpi_status_ignore()), "MPI_Wait")
        }
    }

    public func abort(code: Int32) -> Never {
        MPI_Abort(world, code)
        // MPI_Abort does not return when the runtime works; if it did, end this process at least.
        Foundation.exit(code)
    }

    // MARK: - Helpers

    /// MPI counts are Int32: a buffer longer than that is sent in consecutive pieces.
    private func chunks<T>(_ buffer: UnsafeMutableBufferPointer<T>) -> [(UnsafeMutableRawPointer?, Int32)] {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return [] }
        let step = Int(Int32.max / 2)
        return stride(from: 0, to: buffer.count, by: step).map { start in
            (UnsafeMutableRawPointer(base + start), Int32(min(step, buffer.count - start)))
        }
    }

    private func datatype<T: CommScalar>(_ type: T.Type) -> MPI_Datatype? {
        switch T.scalarKind {
        case .float: return cmpi_float()
        case .double: return cmpi_double()
        case .int32: return cmpi_int32()
        case .int64: return cmpi_int64()
        case .bfloat16: return cmpi_uint16()
        }
    }

    /// The MPI operator for `op` over `T`: MPI's own, or for bfloat16 sums the user-defined one below.
    private func mpiOp<T: CommScalar>(_ op: ReduceOp, _ type: T.Type) throws -> MPI_Op? {
        if T.scalarKind == .bfloat16 {
            guard op == .sum else {
                throw CommunicatorError(operation: "allreduce", rank: rank, code: -1,
                                        message: "bfloat16 buffers can only be summed, not reduced with \(op)")
            }
            return try bfloat16Sum()
        }
        switch op {
        case .sum: return cmpi_op_sum()
        case .min: return cmpi_op_min()
        case .max: return cmpi_op_max()
        }
    }

    /// Sums bfloat16 operands pairwise in float32, rounding each result to bfloat16 (created once, commutative).
    private func bfloat16Sum() throws -> MPI_Op? {
        if let op = bfloat16SumOp { return op }
        var op: MPI_Op? = cmpi_op_null()
        try check(MPI_Op_create({ input, output, length, _ in
            guard let input, let output, let length else { return }
            BFloat16.add(input.assumingMemoryBound(to: UInt16.self), into: output.assumingMemoryBound(to: UInt16.self),
                         count: Int(length.pointee))
        }, 1, &op), "MPI_Op_create")
        bfloat16SumOp = op
        return op
    }

    private func checkRoot(_ root: Int, _ operation: String) throws {
        guard (0..<size).contains(root) else {
            throw CommunicatorError(operation: operation, rank: rank, code: -1,
                                    message: "root \(root) does not exist in a job of \(size) ranks")
        }
    }

    fileprivate func check(_ rc: Int32, _ operation: String) throws {
        try Self.check(rc, operation, rank: rank)
    }

    fileprivate static func check(_ rc: Int32, _ operation: String, rank: Int) throws {
        guard rc == MPI_SUCCESS else {
            throw CommunicatorError(operation: operation, rank: rank, code: rc, message: mpiErrorString(rc),
                                    hint: "another rank may have failed; see its message above")
        }
    }
}

/// The requests of one `startAllreduce` (one per Int32-sized piece of the buffer).
final class MPIPendingAllreduce: PendingAllreduce {
    unowned let communicator: MPICommunicator
    var requests: [MPI_Request?] = []

    init(communicator: MPICommunicator) { self.communicator = communicator }

    func test() throws -> Bool {
        var done = true
        for i in requests.indices where requests[i] != cmpi_request_null() {
            var flag: Int32 = 0
            try communicator.check(MPI_Test(&requests[i], &flag, cmpi_status_ignore()), "MPI_Test")
            if flag == 0 { done = false }
        }
        return done
    }

    func wait() throws {
        for i in requests.indices where requests[i] != cmpi_request_null() {
            try communicator.check(MPI_Wait(&requests[i], cmpi_status_ignore()), "MPI_Wait")
        }
    }
}

/// MPI_Error_string for a return code.
func mpiErrorString(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
    var length: Int32 = 0
    guard MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS else { return "unknown MPI error \(code)" }
    return String(cChars: buffer)
}

/// Facts about the MPI runtime that can be asked before (or without) initializing it.
public enum MPIRuntime {
    /// MPI_Get_library_version's text, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, ...".
    public static func libraryVersion() -> String {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_library_version_string()) + 1)
        var length: Int32 = 0
        guard MPI_Get_library_version(&buffer, &length) == MPI_SUCCESS else { return "unknown" }
        return String(cChars: buffer).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// True when a process manager (mpirun, srun, PMIx) started this process as part of a job.
    public static var launchedByProcessManager: Bool {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains { env[$0] != nil }
    }

    /// The communicator for this process: Open MPI under a process manager, otherwise rank 0 of 1.
    public static func makeCommunicator() throws -> Communicator {
        launchedByProcessManager ? try MPICommunicator() : SingleProcessCommunicator()
    }
}
