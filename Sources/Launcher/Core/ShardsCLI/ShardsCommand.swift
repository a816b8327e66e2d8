// Launcher: the `asl-shards` command line (data preparation into HDF5 shards).
import ArgumentParser

public struct ShardsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "asl-shards",
        abstract: "Turn WLASL, video folders, image folders and frame folders into HDF5 shards of hand-centric clips.",
        version: VersionReport.projectVersion,
        subcommands: [BuildCommand.self, SynthCommand.self, ShardsInspect.self, ShardsVerify.self, ShardsBench.self])

    public init() {}
}
