// Launcher: `asl-shards synth` — a synthetic sign-language data set for running the whole pipeline with no download:
// H.264 videos + a WLASL-format JSON of moving signs, or with `--static` class folders of still hand-shape images.
import ArgumentParser
import Foundation
import Shards
import Support

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate synthetic sign videos (one hand shape and trajectory per class) and a WLASL-format JSON, or with --static still hand-shape images.",
        discussion: """
            Writes OUT/videos/<video_id>.mp4 and OUT/WLASL_synth.json; build shards from them with
            `asl-shards build wlasl --json OUT/WLASL_synth.json --videos OUT/videos --out SHARDS`.
            With --static, writes OUT/<class>/<class>_<i>.png (one folder per hand shape, as Kaggle's ASL Alphabet)
            and OUT/synth.json, replacing OUT as a whole; build one-frame shards with
            `asl-shards build images --root OUT --out SHARDS` and train with --frames 1.
            The output depends only on the options (same seed, same files).
            """)

    @Option(help: "Output directory.") var out: String
    @Option(help: "Number of classes (2-\(SyntheticSigns.maxClasses); with --static 2-\(SyntheticStills.maxClasses)).")
    var classes: Int = 8
    @Flag(name: .customLong("static"), help: "Still images of hand shapes in class folders instead of videos.")
    var stills = false
    @Option(name: [.customLong("clips-per-class"), .customLong("images-per-class")],
            help: "Clips per class (default 12; every 6th to val, the next to test), or with --static images per class (default 40).")
    var perClass: Int?
    @Option(help: "Number of signers (default 4; videos only).") var signers: Int?
    @Option(help: "Signed frames per clip (default 24; each video has 4 still frames more at each end; videos only).")
    var frames: Int?
    @Option(help: "Video or image width and height in pixels (videos: even).") var size: Int = 96
    @Option(help: "Frames per second (default 25; videos only).") var fps: Int?
    @Option(help: "Image file format with --static: png or jpg (default png).") var format: StillImageFormat?
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func validate() throws {
        if stills {
            let videoOnly = [("--signers", signers), ("--frames", frames), ("--fps", fps)].filter { $0.1 != nil }.map(\.0)
            guard videoOnly.isEmpty else {
                throw ValidationError("\(videoOnly.joined(separator: ", ")) \(videoOnly.count == 1 ? "describes" : "describe") videos; "
                                      + "--static draws still images (options: --classes, --images-per-class, --size, --format, --seed)")
            }
        } else if format != nil {
            throw ValidationError("--format chooses the image format of --static; videos are always MP4")
        }
    }

    func run() throws {
        if stills { try runStatic(); return }
        let options = SynthOptions(classes: classes, clipsPerClass: perClass ?? 12, signers: signers ?? 4, frames: frames ?? 24,
                                   size: size, fps: fps ?? 25, seed: seed)
        try options.validate()
        let bar = ProgressBar(total: classes * options.clipsPerClass, label: "synth", unit: "videos")
        let summary = try SyntheticSigns.generate(into: out, options: options) { _, _ in bar.advance() }
        bar.finish()
        print("wrote \(summary.clips) \(summary.codec) videos to \(summary.videosDirectory) and \(summary.jsonPath)")
        print("glosses: \(summary.glosses.joined(separator: ", "))")
    }

    func runStatic() throws {
        let options = StillSynthOptions(classes: classes, imagesPerClass: perClass ?? 40, size: size, seed: seed,
                                        format: format ?? .png)
        try options.validate()
        let bar = ProgressBar(total: classes * options.imagesPerClass, label: "synth", unit: "images")
        let summary = try SyntheticStills.generate(into: out, options: options) { _, _ in bar.advance() }
        bar.finish()
        print("wrote \(summary.images) \(options.size)x\(options.size) \(summary.format.rawValue.uppercased()) images in "
              + "\(summary.classes.count) class folders under \(summary.root) (hand shapes in \(SyntheticStills.recordFileName))")
        print("classes: \(summary.classes.joined(separator: ", "))")
    }
}

extension StillImageFormat: ExpressibleByArgument {}
