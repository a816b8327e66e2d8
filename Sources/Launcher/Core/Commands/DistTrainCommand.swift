// Launcher: the `asl-dist-train` command line.
import ArgumentParser
import Distributed
import Foundation

public struct DistTrainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "asl-dist-train",
        abstract: "Train C3D and R(2+1)D-18 sign-language recognizers data-parallel across MPI ranks on CPUs.",
        discussion: """
            Run as `mpirun -np 8 --hostfile hostfiles/cluster asl-dist-train --train DIR --val DIR ...` on a cluster,
            or alone as one rank. Without a subcommand, `train` runs.
            """,
        subcommands: [TrainCommand.self, EvaluateCommand.self, BenchCommand.self, CompareWeights.self, CommCheck.self,
                      AllreduceBench.self, SuperviseCommand.self],
        defaultSubcommand: TrainCommand.self)

    public init() {}

    /// Parses and runs, reading `--config FILE` first (flags typed after it override the file).
    public static func main(arguments: [String]) {
        do {
            let expanded = try ConfigFile.expand(arguments)
            var command = try parseAsRoot(expanded)
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
