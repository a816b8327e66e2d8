// Launcher: the `asl-predict` command line (classify videos, shards or a webcam with trained weights).
import ArgumentParser

public struct PredictCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "asl-predict",
        abstract: "Classify sign-language videos, shards or a webcam stream with trained weights.",
        version: VersionReport.projectVersion)

    public init() {}
}
