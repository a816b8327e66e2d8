// Launcher: `asl-dist-train [train]`: the training run (the default subcommand).
import ArgumentParser
import Distributed
import Foundation

public struct TrainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a C3D or R(2+1)D-18 recognizer on shards, data-parallel across the job's ranks.")

    @OptionGroup public var options: TrainOptions

    @Flag(help: "Print the versions of the native libraries this binary is linked against (rank 0 only).")
    var version = false

    public init() {}

    public func validate() throws {
        if !version && options.train == nil && options.resume == nil {
            throw ValidationError("--train DIR is required (or --resume RUN_DIR, or --version)")
        }
    }

    public func run() throws {
        try Job.run(threads: options.threads, announce: true) { comm in
            if version {
                print0(comm, VersionReport.lines.joined(separator: "\n"))
                return
            }
            try Trainer(communicator: comm, options: options).run()
        }
    }
}
