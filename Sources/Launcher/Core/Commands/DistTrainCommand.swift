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

    /// Every long option name of the subcommands, read off their help (for config-file suggestions).
    static var knownOptions: [String] {
        let help = configuration.subcommands.map { helpMessage(for: $0) }.joined(separator: "\n")
        let regex = try! NSRegularExpression(pattern: "--[a-z0-9][a-z0-9-]*")
        let range = NSRange(help.startIndex..., in: help)
        return Array(Set(regex.matches(in: help, range: range).compactMap { Range($0.range, in: help).map { String(help[$0]) } }))
    }

    /// Parses and runs, reading `--config FILE` first (flags typed after it override the file).
    public static func main(arguments: [String]) {
        let expanded: [String]
        var command: ParsableCommand
        do {
            expanded = try ConfigFile.expand(arguments)
            command = try parseAsRoot(expanded)
        } catch {
            // A typo in the config file reads as an unknown option typed by hand; say which file and key it is.
            if let path = ConfigFile.path(in: arguments),
               let explained = ConfigFile.explain(parseError: message(for: error), configPath: path, known: knownOptions) {
                exit(withError: ValidationError("\(explained)"))
            }
            exit(withError: error)
        }
        do { try command.run() } catch { exit(withError: error) }
    }
}
