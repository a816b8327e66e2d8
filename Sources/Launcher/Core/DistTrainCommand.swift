// Launcher: the `asl-dist-train` command line.
import ArgumentParser
import Distributed
import Foundation

public struct DistTrainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "asl-dist-train",
        abstract: "Train C3D and R(2+1)D-18 sign-language recognizers data-parallel across MPI ranks on CPUs.",
        discussion: """
            Run as `mpirun -np 8 --hostfile hostfiles/cluster asl-dist-train ...` on a cluster, or alone as one rank.
            """,
        subcommands: [CommCheck.self, BenchCommand.self])

    @Flag(help: "Print the versions of the native libraries this binary is linked against (rank 0 only).")
    var version = false

    @Option(help: "OpenBLAS threads per rank (default: OPENBLAS_NUM_THREADS, else cores on the node / ranks on the node).")
    var threads: Int?

    public init() {}

    public func run() throws {
        guard version else {
            print(Self.helpMessage())
            return
        }
        try Job.run(threads: threads, announce: true) { comm in
            print0(comm, VersionReport.lines.joined(separator: "\n"))
        }
    }
}
