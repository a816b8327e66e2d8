// Launcher: `asl-shards build <source>` — WLASL, class folders of videos or images, or frame folders into HDF5
// shards of hand-centric clips. Every check on the source runs before the first video is decoded.
import ArgumentParser
import Foundation
import Shards
import Support

/// Options shared by every `build` source.
struct BuildCommonOptions: ParsableArguments {
    @Option(help: "Shard directory to create (replaced as a whole when it holds a previous build).")
    var out: String

    @Option(help: "Side of the square output frames in pixels.")
    var size: Int = 128

    @Option(help: "Keep every k-th frame of each clip's frame range.")
    var stride: Int = 1

    @Option(help: "Shard files per split (fewer when a split has fewer clips).")
    var shards: Int = 4

    @Option(help: "Decoding threads; the output is identical for any value.")
    var workers: Int = Node.onlineCores

    @Option(name: .customLong("hand-crop"), help: "Square crop box per clip, then resized to --size.")
    var handCrop: HandCropMode = .bbox

    @Option(help: "Margin added on each side of the box, as a fraction of its longer edge.")
    var margin: Double = 0.1

    @Option(help: ArgumentHelp("How each frame becomes its crop: fused (swscale crops, area-scales and converts only the square) or reference (the whole frame to RGB, then OpenCV's area resize).",
                               discussion: "The two agree to about one level per channel on average; see the README's shard build speed."))
    var conversion: FrameConversion = .fused

    @Option(help: "Deflate level 0-9 of the frames dataset (0 = none).")
    var compression: Int = 0

    @Option(name: .customLong("val-fraction"), help: "Fraction of clips for val, for sources without splits.")
    var valFraction: Double = 0.15

    @Option(name: .customLong("test-fraction"), help: "Fraction of clips for test, for sources without splits.")
    var testFraction: Double = 0.15

    @Option(help: "Seed of the split assignment.")
    var seed: UInt64 = 0

    @Flag(name: .customLong("split-by-signer"), help: "Assign whole signers to splits, so no signer is in two (re-splits WLASL too).")
    var splitBySigner = false

    func validate() throws {
        guard size >= 8 else { throw ValidationError("--size must be at least 8") }
        guard stride >= 1 else { throw ValidationError("--stride must be at least 1") }
        guard shards >= 1 else { throw ValidationError("--shards must be at least 1") }
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        guard (0...9).contains(compression) else { throw ValidationError("--compression must be 0-9") }
        guard margin >= 0 else { throw ValidationError("--margin must be at least 0") }
        guard valFraction >= 0, testFraction >= 0, valFraction + testFraction < 1 else {
            throw ValidationError("--val-fraction and --test-fraction must be at least 0 and sum to less than 1")
        }
    }

    /// Assigns splits, checks the output directory, builds with a progress bar and prints a summary.
    func run(plan: SourcePlan, source: String, record: [String: String]) throws {
        var boxes: [String: [Double]] = [:]
        if case .boxes(let path) = handCrop { boxes = try ClipOptions.loadBoxes(path: path) }
        let planned = SourcePlan(
            classes: plan.classes,
            inputs: try SplitPlanner.assign(plan.inputs, valFraction: valFraction, testFraction: testFraction, seed: seed,
                                            bySigner: splitBySigner, resplit: splitBySigner),
            skipped: plan.skipped, fps: plan.fps)
        try ShardBuilder.checkOutput(out)
        var recorded = record
        recorded.merge([
            "source": source, "size": "\(size)", "stride": "\(stride)", "shards": "\(shards)", "hand_crop": handCrop.description,
            "margin": "\(margin)", "conversion": conversion.rawValue, "compression": "\(compression)", "val_fraction": "\(valFraction)",
            "test_fraction": "\(testFraction)", "seed": "\(seed)", "split_by_signer": "\(splitBySigner)",
        ]) { a, _ in a }
        var options = ShardBuildOptions(
            out: out, clip: ClipOptions(size: size, stride: stride, handCrop: handCrop, margin: margin, boxes: boxes,
                              conversion: conversion),
            shards: shards, workers: workers, compression: compression, source: source, recordedOptions: recorded)
        if handCrop == .bbox, let json = record["json"] {
            options.boxSource = URL(fileURLWithPath: json).standardizedFileURL.path
        }
        print("\(source): \(planned.classes.count) classes, \(planned.inputs.count) clips to decode"
              + (plan.skipped.isEmpty ? "" : ", \(plan.skipped.count) inputs missing") + ", \(workers) worker(s)")
        fflush(stdout)  // before the bar, which writes to standard error
        let bar = ProgressBar(total: planned.inputs.count, label: "build", unit: "clips")
        var failed = 0
        let manifest = try ShardBuilder.build(plan: planned, options: options) { _, _, skipped in
            failed = skipped + plan.skipped.count  // missing inputs count as skipped from the start
            bar.advance(note: skipped > 0 ? "\(skipped) skipped" : "")
        }
        bar.finish(note: failed > 0 ? "\(failed) skipped" : "")
        for split in Split.allCases {
            guard let s = manifest.splits[split.rawValue] else { continue }
            print("  \(split.rawValue): \(s.clips) clips, \(s.frames) frames in \(s.shards.count) shard(s)")
        }
        for warning in BuildCommonOptions.emptySplitWarnings(manifest: manifest, planned: planned, valFraction: valFraction,
                                                             testFraction: testFraction) {
            print("  warning: \(warning)")
        }
        if !manifest.skipped.isEmpty {
            print("  skipped \(manifest.skipped.count) input(s); reasons in \(Manifest.path(inDirectory: out))")
        }
        print("wrote \(out)")
    }
}

extension BuildCommonOptions {
    /// What a user should hear about a split the build left empty: val and test come from the fractions, and a class
    /// too small for them gets none (round(n × fraction) = 0); without val, training has no --val and no `best`.
    static func emptySplitWarnings(manifest: Manifest, planned: SourcePlan, valFraction: Double, testFraction: Double) -> [String] {
        let perClass = Dictionary(grouping: planned.inputs, by: \.label).values.map(\.count)
        let fewest = perClass.min() ?? 0
        var out: [String] = []
        if manifest.splits[Split.val.rawValue] == nil {
            out.append("no val split: " + (valFraction > 0
                ? "with --val-fraction \(valFraction) a class needs at least \(Int((0.5 / valFraction).rounded(.up))) clips for "
                  + "one val clip, and the smallest has \(fewest)"
                : "--val-fraction is 0")
                + ". Training then has no --val, so it writes no checkpoints/best and reports no validation metrics; "
                + "raise --val-fraction, add clips, or validate on the test split (--val DIR --val-split test)")
        }
        if manifest.splits[Split.test.rawValue] == nil {
            out.append("no test split" + (testFraction > 0 ? " (the smallest class has \(fewest) clips; raise --test-fraction or add clips)" : ""))
        }
        if manifest.splits[Split.train.rawValue] == nil {
            out.append("no train split: every clip went to val or test; lower --val-fraction and --test-fraction")
        }
        return out
    }
}

/// `asl-shards build`: the sources as subcommands.
struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Decode, hand-crop and resize clips from a source into HDF5 shards with a manifest.",
        discussion: """
            A missing, unreadable or corrupt video is skipped and listed with its reason in manifest.json. A bad JSON,
            unknown gloss or empty class stops the command before any decoding. The shards and manifest are written to
            a temporary sibling directory that replaces --out only when complete; running the same command again
            rebuilds from scratch.
            """,
        subcommands: [WLASLBuild.self, VideoFoldersBuild.self, ImageFoldersBuild.self, FrameFoldersBuild.self])
}

struct WLASLBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wlasl", abstract: "WLASL: a WLASL_v0.3.json-style file and a folder of <video_id>.mp4 videos.")

    @Option(help: "WLASL JSON file ([{gloss, instances: [{video_id, frame_start, frame_end, split, signer_id, bbox, ...}]}]).")
    var json: String

    @Option(help: "Folder of the videos, named <video_id>.<ext>.")
    var videos: String

    @Option(name: .customLong("top-k"), help: "Use the first K glosses of the file (WLASL100 = 100).")
    var topK: Int?

    @Option(help: "Use exactly these glosses, comma-separated, in this label order.")
    var glosses: String?

    @OptionGroup var common: BuildCommonOptions

    func validate() throws {
        guard topK == nil || glosses == nil else { throw ValidationError("give --top-k or --glosses, not both") }
    }

    func run() throws {
        let list = glosses?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let plan = try DataSources.wlasl(json: json, videos: videos, topK: topK, glosses: list)
        var record = ["json": json, "videos": videos]
        if let topK { record["top_k"] = "\(topK)" }
        if let glosses { record["glosses"] = glosses }
        try common.run(plan: plan, source: "wlasl", record: record)
    }
}

struct VideoFoldersBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "videos", abstract: "Class folders of videos: ROOT/<class>/<video>.")
    @Option(help: "Folder of class folders.") var root: String
    @OptionGroup var common: BuildCommonOptions
    func run() throws { try common.run(plan: try DataSources.videos(root: root), source: "videos", record: ["root": root]) }
}

struct ImageFoldersBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "Class folders of still images, one-frame clips: ROOT/<class>/*.jpg|png (Kaggle ASL Alphabet's doubled folder accepted).")
    @Option(help: "Folder of class folders.") var root: String
    @OptionGroup var common: BuildCommonOptions
    func run() throws { try common.run(plan: try DataSources.images(root: root), source: "images", record: ["root": root]) }
}

struct FrameFoldersBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frames",
        abstract: "Clips stored as frame images: ROOT/{train,test}/<class>/<clip>/frame_*.png.",
        discussion: "Without a val/ folder, --val-fraction of each class's train clips become val.")
    @Option(help: "Folder holding train/ and test/ (and optionally val/).") var root: String
    @OptionGroup var common: BuildCommonOptions
    func run() throws {
        var plan = try DataSources.frames(root: root)
        plan.inputs = try SplitPlanner.carveValidation(plan.inputs, fraction: common.valFraction, seed: common.seed)
        try common.run(plan: plan, source: "frames", record: ["root": root])
    }
}

extension FrameConversion: ExpressibleByArgument {}
