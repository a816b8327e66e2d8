// Launcher: the life of one rank: start the communicator, pick threads, run the work, and end with an exit status
// that says what happened (`ExitStatus`). On an error the whole job ends (MPI_Abort) so that other ranks never wait
// forever in a collective; a stop agreed by every rank (a signal) finalizes MPI cleanly and exits "resumable".
import ArgumentParser
import Distributed
import Foundation
import NN

public enum Job {
    /// Runs `body` as one rank of the job. An error thrown on any rank is printed with its rank and aborts every
    /// rank with the error's status; a clean return finalizes MPI.
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
            if let note = ThreadPolicy.kernelNote(coreName: BLAS.coreName, cpuFlags: ThreadPolicy.cpuFlags) { print0(comm, note) }
        }
        do {
            try body(comm)
        } catch let exit as ExitCode where exit == .success {
            // fall through to finalize
        } catch is StoppedBySignal {
            // Every rank stopped at the same step and rank 0 has saved: leave together, without an abort.
            if let mpi = comm as? MPICommunicator { try? mpi.finalize() }
            throw ExitCode(ExitStatus.stoppedResumable.rawValue)
        } catch {
            let code = status(of: error)
            // A setup error that every rank agreed on is printed once, by rank 0.
            let quiet = error is ExitCode || (error as? AgreedFailure).map { !$0.reporter } == true
            if !quiet { printError("\(error)", rank: comm.rank, size: comm.size) }
            if comm.size > 1 { comm.abort(code: code) }
            throw ExitCode(code)
        }
        if let mpi = comm as? MPICommunicator { try mpi.finalize() }
    }

    /// The exit status an error ends the job with.
    static func status(of error: Error) -> Int32 {
        switch error {
        case let exit as ExitCode: return exit.rawValue
        case is AgreedFailure: return ExitStatus.badSetup.rawValue
        case is TrainingDiverged: return ExitStatus.diverged.rawValue
        case is StallError: return ExitStatus.stalled.rawValue
        default: return ExitStatus.failed.rawValue
        }
    }

    /// Ends this rank at once, without MPI: for a thread other than the one that owns the communicator (MPI is
    /// initialized for one calling thread). mpirun sees the non-zero status and ends the other ranks.
    public static func endRankNow(status: ExitStatus) -> Never {
        fflush(stdout)
        fflush(stderr)
        _exit(status.rawValue)
    }
}
