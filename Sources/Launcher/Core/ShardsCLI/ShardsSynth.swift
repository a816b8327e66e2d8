// Launcher: `asl-shards synth` — a synthetic sign-language data set (H.264 videos + WLASL-format JSON) for running
// the whole pipeline with no download.
import ArgumentParser
import Foundation
import Shards
import Support

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate synthetic sign videos (one hand shape and trajectory per class) and a WLASL-format JSON.",
        discussion: """
            Writes OUT/videos/<video_id>.mp4 and OUT/WLASL_synth.json; build shards from them with
            `asl-shards build wlasl --json OUT/WLASL_synth.json --videos OUT/videos --out SHARDS`.
            The output depends only on the options (same seed, same files).
            """)

    @Option(help: "Output directory.") var out: String
    @Option(help: "Number of classes (2-\(SyntheticSigns.maxClasses)).") var classes: Int = 8
    @Option(name: .customLong("clips-per-class"), help: "Clips per class (every 6th to val, the next to test).")
    var clipsPerClass: Int = 12
    @Option(help: "Number of signers.") var signers: Int = 4
    @Option(help: "Signed frames per clip (each video has 4 still frames more at each end).") var frames: Int = 24
    @Option(help: "Video width and height in pixels (even).") var size: Int = 96
    @Option(help: "Frames per second.") var fps: Int = 25
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func run() throws {
        let options = SynthOptions(classes: classes, clipsPerClass: clipsPerClass, signers: signers, frames: frames,
                                   size: size, fps: fps, seed: seed)
        try options.validate()
        let bar = ProgressBar(total: classes * clipsPerClass, label: "synth", unit: "videos")
        let summary = try SyntheticSigns.generate(into: out, options: options) { _, _ in bar.advance() }
        bar.finish()
        print("wrote \(summary.clips) \(summary.codec) videos to \(summary.videosDirectory) and \(summary.jsonPath)")
        print("glosses: \(summary.glosses.joined(separator: ", "))")
    }
}
