// Launcher: the life of one rank: start the communicator, pick threads, run the work, and on any error end the
// whole job (MPI_Abort) so that other ranks never wait forever in a collective.
import ArgumentParser
import Distributed
import Foundation

public enum Job {
    /// Runs `body` as one rank of the job. An error thrown on any rank is printed with its rank and aborts every
    /// rank with a non-zero status; a clean return finalizes MPI.
    public static func run(threads: Int? = nil, announce: Bool = false,
                           _ body: (Communicator) throws -> Void) throws {
        let comm: Communicator
        do {
            comm = try MPIRuntime.makeCommunicator()
        } catch {
            printError("\(error)", rank: nil, size: nil)
            throw ExitCode(2)
        }
        let policy = ThreadPolicy.apply(requested: threads, communicator: comm)
        if announce {
            print0(comm, "asl-dist-train: \(comm.size) rank(s), \(policy.threads) OpenBLAS thread(s) per rank "
                   + "(\(policy.reason))")
        }
        do {
            try body(comm)
        } catch let exit as ExitCode where exit == .success {
            // fall through to finalize
        } catch {
            let code: Int32 = (error as? ExitCode)?.rawValue ?? 1
            // A setup error that every rank agreed on is printed once, by rank 0.
            let quiet = error is ExitCode || (error as? AgreedFailure).map { !$0.reporter } == true
            if !quiet { printError("\(error)", rank: comm.rank, size: comm.size) }
            if comm.size > 1 { comm.abort(code: code) }
            throw ExitCode(code)
        }
        if let mpi = comm as? MPICommunicator { try mpi.finalize() }
    }
}
