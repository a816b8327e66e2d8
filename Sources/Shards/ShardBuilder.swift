// Shards: building a shard directory from a source plan — decode on a few threads, write each split through
// ShardSetWriter in input order, record what was skipped and why, and swap the finished directory into place.
import Foundation
import Support

/// How a shard directory is built.
public struct ShardBuildOptions: Sendable {
    /// The shard directory to create or replace.
    public var out: String
    public var clip: ClipOptions
    /// Shards per split (fewer when a split has fewer clips).
    public var shards: Int
    /// Decoding threads.
    public var workers: Int
    /// Deflate level 0-9 for the frames dataset.
    public var compression: Int
    /// Source name stored in every shard ("wlasl", "videos", "images", "frames", ...).
    public var source: String
    /// Recorded in the manifest's `build_options`.
    public var recordedOptions: [String: String]
    /// Where `bbox` crops' boxes came from (the WLASL JSON), recorded with the preprocessing.
    public var boxSource: String?

    public init(out: String, clip: ClipOptions, shards: Int = 1, workers: Int = 1, compression: Int = 0,
                source: String, recordedOptions: [String: String] = [:]) {
        self.out = out; self.clip = clip; self.shards = shards; self.workers = workers; self.compression = compression
        self.source = source; self.recordedOptions = recordedOptions
    }
}

public enum ShardBuilder {
    /// Checks that `out` may be replaced: it must not exist, be empty, or hold a previous build (a manifest.json).
    /// Call before any work so that a mistyped `--out` never costs a build, nor deletes someone's folder.
    public static func checkOutput(_ out: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out, isDirectory: &isDir) else { return }
        guard isDir.boolValue else {
            throw ShardSourceError(path: out, reason: "--out is a file", hint: "choose a directory path")
        }
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        guard contents.isEmpty || contents.contains(ShardFormat.manifestFileName) else {
            throw ShardSourceError(path: out, reason: "--out is a non-empty directory without a manifest.json",
                                   hint: "a rebuild replaces the whole directory; choose an empty or new one")
        }
    }

    /// Builds every split of `plan` (each input must have a split) into `options.out`.
    ///
    /// The shards and manifest are written into a sibling temporary directory which then replaces `out` in one
    /// rename, so `out` always holds either the previous complete build or the new one; re-running the same
    /// command rebuilds from scratch. An input that cannot be decoded is skipped and listed in the manifest with
    /// its reason, never fatal. `progress(done, total, skipped)` is called after each input.
    public static func build(plan: SourcePlan, options: ShardBuildOptions,
                             progress: ((Int, Int, Int) -> Void)? = nil) throws -> Manifest {
        precondition(plan.inputs.allSatisfy { $0.split != nil }, "assign splits before building")
        try checkOutput(options.out)
        let out = (options.out as NSString).standardizingPath
        var parent = (out as NSString).deletingLastPathComponent
        if parent.isEmpty { parent = "." }
        try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let hiddenPrefix = ".\((out as NSString).lastPathComponent).tmp-"
        // A build that was killed leaves its temporary directory behind; it can never complete, so remove it.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(hiddenPrefix) {
            try? FileManager.default.removeItem(atPath: (parent as NSString).appendingPathComponent(name))
        }
        let tmp = (parent as NSString).appendingPathComponent(hiddenPrefix + "\(getpid())")
        var committed = false
        defer { if !committed { try? FileManager.default.removeItem(atPath: tmp) } }

        var inputsPerSplit: [Split: Int] = [:]
        for input in plan.inputs { inputsPerSplit[input.split!, default: 0] += 1 }
        var writers: [Split: ShardSetWriter] = [:]
        var skipped = plan.skipped
        // What every shard and the manifest record. The stored frame rate is the source's when it says (WLASL's
        // fps), else the first decoded video's.
        let c = options.clip
        var preprocessing = Preprocessing(size: c.size, handCrop: c.handCrop.description, margin: c.margin, stride: c.stride,
                                          fps: (plan.fps ?? 0) / Double(c.stride), boxSource: options.boxSource,
                                          conversion: c.conversion.rawValue)
        try ClipPipeline.run(plan.inputs, options: options.clip, workers: options.workers) { index, result in
            let input = plan.inputs[index]
            switch result {
            case .success(let clip):
                let split = input.split!
                if preprocessing.fps == 0 && clip.sourceFPS > 0 { preprocessing.fps = clip.sourceFPS / Double(preprocessing.stride) }
                if writers[split] == nil {
                    let p = preprocessing
                    writers[split] = try ShardSetWriter(
                        directory: tmp, split: split.rawValue, shardCount: max(1, min(options.shards, inputsPerSplit[split]!)),
                        classes: plan.classes, height: p.size, width: p.size, source: options.source, frameStride: p.stride,
                        fps: p.fps, handCrop: p.handCrop, margin: p.margin, boxSource: p.boxSource, conversion: p.conversion,
                        compression: options.compression)
                }
                try writers[split]!.append(clip)
            case .failure(let error):
                skipped.append(Manifest.SkippedInput(input: input.inputPath, reason: "\(error)"))
            }
            progress?(index + 1, plan.inputs.count, skipped.count - plan.skipped.count)
        }
        var splits: [String: SplitSummary] = [:]
        for (split, writer) in writers.sorted(by: { $0.key < $1.key }) { splits[split.rawValue] = try writer.finish() }
        guard !splits.isEmpty else {
            throw ShardSourceError(path: out, reason: "no input could be decoded (\(skipped.count) skipped)",
                                   hint: "the first reason: \(skipped.first?.reason ?? "none")")
        }
        let manifest = Manifest(classes: plan.classes, splits: splits, buildOptions: options.recordedOptions,
                                skipped: skipped, preprocessing: preprocessing)
        try manifest.write(toDirectory: tmp)
        try AtomicFile.commitDirectory(temporary: tmp, to: out)
        committed = true
        return manifest
    }
}
