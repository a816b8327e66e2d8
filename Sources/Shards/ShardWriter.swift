// Shards: writing one split of clips into shard files of format v1.
//
// Frames are streamed to extendible chunked datasets as clips arrive, so memory stays at one clip plus HDF5's
// chunk cache per shard, whatever the split's size. Each shard is written under a hidden temporary name and
// renamed into place by `finish()`: an interrupted build leaves no file that looks like a complete shard.
import CHDF5
import Foundation
import Support

/// Counts for one split, as recorded in `manifest.json`.
public struct SplitSummary: Codable, Sendable, Equatable {
    public var clips: Int
    public var frames: Int
    /// Clips per class; index = label.
    public var classCounts: [Int]
    /// Shard file names (relative to the shard directory), in shard-index order.
    public var shards: [String]

    public init(clips: Int, frames: Int, classCounts: [Int], shards: [String]) {
        self.clips = clips; self.frames = frames; self.classCounts = classCounts; self.shards = shards
    }

    enum CodingKeys: String, CodingKey {
        case clips, frames, shards
        case classCounts = "class_counts"
    }
}

/// Writes the clips of one split into `shardCount` shard files in `directory`.
///
/// Clips are balanced by frame count: each clip goes to the shard holding the fewest frames so far (lowest index on
/// ties), so shards end up within one clip's length of each other and ranks reading whole shards get similar work.
/// Not thread-safe: call `append` from one thread (HDF5 calls inside are serialized with every other user anyway).
public final class ShardSetWriter {
    public let directory: String
    public let split: String
    public let classes: [String]
    public let height: Int
    public let width: Int
    private var shards: [SingleShardWriter] = []
    private var classCounts: [Int]
    private var finished = false

    /// Creates `directory` if needed and opens `shardCount` temporary shard files.
    /// - Parameters:
    ///   - height, width: every clip's frame size (frames are `[F, height, width, 3]`).
    ///   - frameStride: source frames per stored frame; `fps`: stored frames per second (0 when unknown).
    ///   - compression: deflate level 0 (off, the default) to 9.
    ///   - handCrop, margin, boxSource, conversion: how the clips were made, recorded when given.
    public init(directory: String, split: String, shardCount: Int, classes: [String], height: Int, width: Int,
                source: String, frameStride: Int = 1, fps: Double = 0, handCrop: String? = nil, margin: Double? = nil,
                boxSource: String? = nil, conversion: String? = nil, compression: Int = 0) throws {
        guard shardCount >= 1 else {
            throw ShardError(.usage, path: directory, "shard count must be at least 1, got \(shardCount)")
        }
        guard (0...9).contains(compression) else {
            throw ShardError(.usage, path: directory, "compression must be 0-9, got \(compression)")
        }
        guard height > 0, width > 0 else {
            throw ShardError(.usage, path: directory, "frame size must be positive, got \(height)x\(width)")
        }
        guard !split.isEmpty, !split.contains("/") else {
            throw ShardError(.usage, path: directory, "split name '\(split)' must be non-empty without '/'")
        }
        self.directory = directory; self.split = split; self.classes = classes
        self.height = height; self.width = width
        self.classCounts = [Int](repeating: 0, count: classes.count)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ShardError(.io, path: directory, "cannot create the output directory: \(error)")
        }
        do {
            for i in 0..<shardCount {
                let attributes = ShardAttributes(classes: classes, height: height, width: width, split: split,
                                                 shardIndex: i, shardCount: shardCount, source: source,
                                                 frameStride: frameStride, fps: fps, handCrop: handCrop,
                                                 margin: margin, boxSource: boxSource, conversion: conversion)
                let path = (directory as NSString).appendingPathComponent(
                    ShardFormat.fileName(split: split, index: i, count: shardCount))
                shards.append(try SingleShardWriter(path: path, attributes: attributes, compression: compression))
            }
        } catch {
            abandon()
            throw error
        }
    }

    deinit { abandon() }

    /// Appends one clip to the shard with the fewest frames. Throws `.usage` when the clip's frame size, label or
    /// frame count does not fit this split.
    public func append(_ clip: DecodedClip) throws {
        let where_ = "clip '\(clip.clipID)'"
        guard !finished else { throw ShardError(.usage, path: directory, "append after finish()") }
        guard clip.height == height, clip.width == width else {
            throw ShardError(.usage, path: directory, object: ShardFormat.Dataset.frames,
                             "\(where_) is \(clip.height)x\(clip.width), the split stores \(height)x\(width)",
                             hint: "resize crops to the split's size before appending")
        }
        guard clip.frameCount >= 1 else {
            throw ShardError(.usage, path: directory, object: ShardFormat.Dataset.frames, "\(where_) has no frames")
        }
        guard clip.label >= 0, Int(clip.label) < classes.count else {
            throw ShardError(.usage, path: directory, object: ShardFormat.Dataset.labels,
                             "\(where_) has label \(clip.label), outside 0..<\(classes.count)")
        }
        var target = 0
        for i in shards.indices where shards[i].frames < shards[target].frames { target = i }
        try shards[target].append(clip)
        classCounts[Int(clip.label)] += 1
    }

    /// Closes every shard and renames it into place, then removes other shard files of this split left in the
    /// directory by an earlier build with a different shard count. Returns the split's counts.
    public func finish() throws -> SplitSummary {
        guard !finished else { throw ShardError(.usage, path: directory, "finish() called twice") }
        finished = true
        do {
            for shard in shards { try shard.finish() }
        } catch {
            abandon()
            throw error
        }
        let names = shards.map { ($0.path as NSString).lastPathComponent }
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in existing where !names.contains(name) {
            if let parsed = ShardFormat.parseFileName(name), parsed.split == split {
                try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
            }
        }
        return SplitSummary(clips: shards.reduce(0) { $0 + $1.clips }, frames: shards.reduce(0) { $0 + $1.frames },
                            classCounts: classCounts, shards: names)
    }

    /// Closes and deletes the temporary files of an unfinished split (also done on deinit).
    public func abandon() {
        for shard in shards { shard.abandon() }
    }
}

/// One shard file being written under its temporary name.
final class SingleShardWriter {
    let path: String
    let tempPath: String
    private(set) var clips = 0
    private(set) var frames = 0
    private var file: hid_t = -1
    private var datasets: [String: hid_t] = [:]
    private var done = false
    private let rowShape: [Int]

    init(path: String, attributes a: ShardAttributes, compression: Int) throws {
        self.path = path
        self.tempPath = AtomicFile.temporaryPath(for: path)
        self.rowShape = [a.height, a.width, 3]
        try HDF5Lock.with {
            // The chunk cache must hold at least one frames chunk, or every partial-chunk append re-reads (and
            // with deflate, re-decompresses) the chunk from disk.
            let chunkBytes = ShardFormat.framesPerChunk * a.height * a.width * 3
            let fapl = try h5check(H5Pcreate(chdf5_file_access()), "H5Pcreate", path: path)
            defer { H5Pclose(fapl) }
            try h5check(H5Pset_cache(fapl, 0, 521, max(1 << 20, 2 * chunkBytes), 0.75), "H5Pset_cache", path: path)
            file = try h5check(H5Fcreate(tempPath, chdf5_f_acc_trunc(), chdf5_p_default(), fapl), "H5Fcreate",
                               path: path, hint: "is the output directory writable?")
            do {
                try writeAttributes(a)
                try createDatasets(compression: compression)
                var zero: Int64 = 0
                try H5Data.append(datasets[ShardFormat.Dataset.offsets]!, memType: chdf5_native_int64(), rowShape: [],
                                  currentRows: 0, rows: 1, &zero, path: path, name: ShardFormat.Dataset.offsets)
            } catch {
                closeHandles()
                unlink(tempPath)
                throw error
            }
        }
    }

    private func writeAttributes(_ a: ShardAttributes) throws {
        typealias A = ShardFormat.Attribute
        try H5Attr.write(file, A.format, string: a.format, path: path)
        try H5Attr.write(file, A.version, int: Int64(a.version), path: path)
        try H5Attr.write(file, A.classes, strings: a.classes, path: path)
        try H5Attr.write(file, A.height, int: Int64(a.height), path: path)
        try H5Attr.write(file, A.width, int: Int64(a.width), path: path)
        try H5Attr.write(file, A.split, string: a.split, path: path)
        try H5Attr.write(file, A.shardIndex, int: Int64(a.shardIndex), path: path)
        try H5Attr.write(file, A.shardCount, int: Int64(a.shardCount), path: path)
        try H5Attr.write(file, A.source, string: a.source, path: path)
        try H5Attr.write(file, A.frameStride, int: Int64(a.frameStride), path: path)
        try H5Attr.write(file, A.fps, double: a.fps, path: path)
        if let handCrop = a.handCrop { try H5Attr.write(file, A.handCrop, string: handCrop, path: path) }
        if let margin = a.margin { try H5Attr.write(file, A.margin, double: margin, path: path) }
        if let boxSource = a.boxSource { try H5Attr.write(file, A.boxSource, string: boxSource, path: path) }
        if let conversion = a.conversion { try H5Attr.write(file, A.conversion, string: conversion, path: path) }
    }

    private func createDatasets(compression: Int) throws {
        typealias D = ShardFormat.Dataset
        let rows = ShardFormat.rowsPerChunk
        datasets[D.frames] = try H5Data.createExtendible(file, D.frames, type: chdf5_native_uint8(), rowShape: rowShape,
                                                         chunkRows: ShardFormat.framesPerChunk, deflate: compression,
                                                         path: path)
        datasets[D.offsets] = try H5Data.createExtendible(file, D.offsets, type: chdf5_native_int64(), rowShape: [],
                                                          chunkRows: rows, deflate: 0, path: path)
        datasets[D.labels] = try H5Data.createExtendible(file, D.labels, type: chdf5_native_int32(), rowShape: [],
                                                         chunkRows: rows, deflate: 0, path: path)
        let stringType = try makeUTF8StringType(path: path, object: D.clipIDs)
        defer { H5Tclose(stringType) }
        datasets[D.clipIDs] = try H5Data.createExtendible(file, D.clipIDs, type: stringType, rowShape: [],
                                                          chunkRows: rows, deflate: 0, path: path)
        datasets[D.signers] = try H5Data.createExtendible(file, D.signers, type: chdf5_native_int32(), rowShape: [],
                                                          chunkRows: rows, deflate: 0, path: path)
        datasets[D.boxes] = try H5Data.createExtendible(file, D.boxes, type: chdf5_native_float(), rowShape: [4],
                                                        chunkRows: rows, deflate: 0, path: path)
    }

    /// Appends the clip's frames and its row in every per-clip dataset.
    func append(_ clip: DecodedClip) throws {
        typealias D = ShardFormat.Dataset
        try HDF5Lock.with {
            try clip.frames.withUnsafeBytes { buf in
                try H5Data.append(datasets[D.frames]!, memType: chdf5_native_uint8(), rowShape: rowShape,
                                  currentRows: frames, rows: clip.frameCount, buf.baseAddress!, path: path,
                                  name: D.frames)
            }
            var end = Int64(frames + clip.frameCount)
            try H5Data.append(datasets[D.offsets]!, memType: chdf5_native_int64(), rowShape: [], currentRows: clips + 1,
                              rows: 1, &end, path: path, name: D.offsets)
            var label = clip.label
            try H5Data.append(datasets[D.labels]!, memType: chdf5_native_int32(), rowShape: [], currentRows: clips,
                              rows: 1, &label, path: path, name: D.labels)
            var signer = clip.signer
            try H5Data.append(datasets[D.signers]!, memType: chdf5_native_int32(), rowShape: [], currentRows: clips,
                              rows: 1, &signer, path: path, name: D.signers)
            var box: [Float] = [clip.box.0, clip.box.1, clip.box.2, clip.box.3]
            try H5Data.append(datasets[D.boxes]!, memType: chdf5_native_float(), rowShape: [4], currentRows: clips,
                              rows: 1, &box, path: path, name: D.boxes)
            let stringType = try makeUTF8StringType(path: path, object: D.clipIDs)
            defer { H5Tclose(stringType) }
            try withCStringArray([clip.clipID]) { ptrs in
                try ptrs.withUnsafeBufferPointer {
                    try H5Data.append(datasets[D.clipIDs]!, memType: stringType, rowShape: [], currentRows: clips,
                                      rows: 1, $0.baseAddress!, path: path, name: D.clipIDs)
                }
            }
        }
        frames += clip.frameCount
        clips += 1
    }

    /// Flushes, closes, syncs and renames the temporary file to its final name.
    func finish() throws {
        try HDF5Lock.with {
            try h5check(H5Fflush(file, H5F_SCOPE_GLOBAL), "H5Fflush", path: path)
            let status = closeHandles()
            try h5check(status, "H5Dclose/H5Fclose", path: path, hint: "the disk may be full")
        }
        let fd = open(tempPath, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        do {
            try AtomicFile.commit(temporary: tempPath, to: path)
        } catch {
            throw ShardError(.io, path: path, "\(error)")
        }
        done = true
    }

    /// Closes every handle; returns the lowest status of the H5Dclose and H5Fclose calls (negative on failure).
    @discardableResult
    private func closeHandles() -> herr_t {
        var status: herr_t = 0
        for ds in datasets.values { status = min(status, H5Dclose(ds)) }
        datasets.removeAll()
        guard file >= 0 else { return status }
        status = min(status, H5Fclose(file))
        file = -1
        return status
    }

    func abandon() {
        guard !done else { return }
        HDF5Lock.with { _ = closeHandles() }
        unlink(tempPath)
        done = true
    }
}
