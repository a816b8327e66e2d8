// Shards: the names and attributes of shard format v1, shared by writer, reader, verifier and inspector.
// README.md's "Shard format v1" section is the user-facing description; keep the two in step.
import Foundation

public enum ShardFormat {
    /// Value of the root attribute `format`.
    public static let name = "asl-shard"
    /// Value of the root attribute `version` this code writes and reads.
    public static let version = 1
    /// Frames per chunk of the `frames` dataset: small, so reading one clip touches few extra frames.
    public static let framesPerChunk = 4
    /// Rows per chunk of the per-clip datasets (`offsets`, `labels`, ...).
    public static let rowsPerChunk = 1024
    public static let manifestFileName = "manifest.json"

    /// Dataset names.
    public enum Dataset {
        public static let frames = "frames"
        public static let offsets = "offsets"
        public static let labels = "labels"
        public static let clipIDs = "clip_ids"
        public static let signers = "signers"
        public static let boxes = "boxes"
        public static let all = [frames, offsets, labels, clipIDs, signers, boxes]
    }

    /// Root attribute names.
    public enum Attribute {
        public static let format = "format", version = "version", classes = "classes"
        public static let height = "height", width = "width", split = "split"
        public static let shardIndex = "shard_index", shardCount = "shard_count", source = "source"
        public static let frameStride = "frame_stride", fps = "fps"
        /// Written since the crop rule is recorded; shards built before lack them (readers treat them as unknown).
        public static let handCrop = "hand_crop", margin = "margin", boxSource = "box_source", conversion = "conversion"
        public static let all = [format, version, classes, height, width, split, shardIndex, shardCount, source,
                                 frameStride, fps, handCrop, margin, boxSource, conversion]
    }

    /// `<split>-<index:05d>-of-<count:05d>.h5`, e.g. `train-00003-of-00008.h5`.
    public static func fileName(split: String, index: Int, count: Int) -> String {
        func pad(_ v: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, 5 - s.count)) + s }
        return "\(split)-\(pad(index))-of-\(pad(count)).h5"
    }

    /// Parses a shard file name back into (split, index, count); `nil` for any other name.
    public static func parseFileName(_ name: String) -> (split: String, index: Int, count: Int)? {
        guard name.hasSuffix(".h5") else { return nil }
        let stem = name.dropLast(3)
        let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
        // The split name may itself contain dashes: the last three parts are index, "of", count.
        guard parts.count >= 4, parts[parts.count - 2] == "of",
              let index = Int(parts[parts.count - 3]), let count = Int(parts[parts.count - 1]) else { return nil }
        let split = parts[0..<(parts.count - 3)].joined(separator: "-")
        guard !split.isEmpty else { return nil }
        return (split, index, count)
    }
}

/// The root attributes of one shard file.
public struct ShardAttributes: Sendable, Equatable {
    public var format: String
    public var version: Int
    /// Class names; index = label.
    public var classes: [String]
    public var height: Int
    public var width: Int
    public var split: String
    public var shardIndex: Int
    public var shardCount: Int
    /// Where the clips came from (a data-set name or a path), free text.
    public var source: String
    /// Every `frameStride`-th source frame was kept.
    public var frameStride: Int
    /// Frames per second of the stored frames (source fps / stride), 0 when unknown (images).
    public var fps: Double
    /// The hand-crop rule (`asl-shards build --hand-crop`) and its margin; nil in shards built before they were
    /// recorded.
    public var handCrop: String?
    public var margin: Double?
    /// The WLASL JSON whose boxes a `bbox` build used; nil for other rules.
    public var boxSource: String?
    /// How video frames became RGB crops (`asl-shards build --conversion`); nil in older shards.
    public var conversion: String?

    public init(format: String = ShardFormat.name, version: Int = ShardFormat.version, classes: [String],
                height: Int, width: Int, split: String, shardIndex: Int, shardCount: Int, source: String,
                frameStride: Int, fps: Double, handCrop: String? = nil, margin: Double? = nil, boxSource: String? = nil,
                conversion: String? = nil) {
        self.format = format; self.version = version; self.classes = classes; self.height = height
        self.width = width; self.split = split; self.shardIndex = shardIndex; self.shardCount = shardCount
        self.source = source; self.frameStride = frameStride; self.fps = fps; self.handCrop = handCrop
        self.margin = margin; self.boxSource = boxSource; self.conversion = conversion
    }

    /// How the frames were made; nil for shards that do not record their crop rule.
    public var preprocessing: Preprocessing? {
        guard let handCrop, let margin, height == width else { return nil }
        return Preprocessing(size: height, handCrop: handCrop, margin: margin, stride: frameStride, fps: fps,
                             boxSource: boxSource, conversion: conversion)
    }
}
