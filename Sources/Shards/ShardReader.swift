// Shards: reading shard files of format v1. `ShardFile` is one file (metadata read on first use, one hyperslab read
// per clip); `ShardDataset` is all shards of one split with a global clip index; `ShardReader` holds one thread's
// open handles on a dataset's shards.
//
// Opening a file checks every per-file invariant of the format (the same checks `asl-shards verify` reports), so a
// reader never indexes past a corrupt `offsets` array.
import CHDF5
import CZlib
import Foundation

/// Everything about one shard except its frames: root attributes and the per-clip arrays.
public struct ShardMetadata: Sendable {
    public var path: String
    public var attributes: ShardAttributes
    /// `[N]`.
    public var labels: [Int32]
    /// `[N + 1]`; clip i is `frames[offsets[i] ..< offsets[i + 1]]`.
    public var offsets: [Int64]
    /// `[N]`.
    public var clipIDs: [String]
    /// `[N]`, -1 unknown.
    public var signers: [Int32]
    /// `[N * 4]`: x0 y0 x1 y1 per clip, in source pixels.
    public var boxes: [Float]
    /// Shape of the `frames` dataset, `[F, H, W, 3]`.
    public var frameDims: [Int]

    public var clipCount: Int { labels.count }
    public var totalFrames: Int { frameDims.first ?? 0 }
    public func frameCount(ofClip i: Int) -> Int { Int(offsets[i + 1] - offsets[i]) }
}

/// One dataset's layout as stored, for `asl-shards inspect`.
public struct DatasetSchema: Sendable {
    public var name: String
    public var dims: [Int]
    /// e.g. "uint8", "int64", "float32", "string (variable, UTF-8)".
    public var type: String
    /// Chunk shape, empty when contiguous.
    public var chunk: [Int]
    /// Deflate level, nil when not compressed.
    public var deflate: Int?
}

/// One shard file. Opens lazily; not thread-safe (give each thread its own, see `ShardReader`), though its HDF5
/// calls are serialized with every other thread's by the process-wide HDF5 lock.
public final class ShardFile {
    public let path: String
    private var file: hid_t = -1
    private var framesDS: hid_t = -1
    private var framesSpace: hid_t = -1
    private var cached: ShardMetadata?

    /// Does not touch the file; the first call that needs it opens it.
    public init(path: String) { self.path = path }

    /// A handle on a file whose metadata was already read and checked (by `ShardDataset`).
    init(metadata: ShardMetadata) {
        path = metadata.path
        cached = metadata
    }

    deinit { close() }

    /// Attributes and per-clip arrays; opens the file and checks its invariants on first call.
    public func metadata() throws -> ShardMetadata {
        if let cached { return cached }
        let meta = try HDF5Lock.with { () throws -> ShardMetadata in
            try openIfNeeded()
            return try readMetadata()
        }
        try ShardFile.check(meta)
        cached = meta
        return meta
    }

    private func openIfNeeded() throws {
        guard file < 0 else { return }
        guard FileManager.default.fileExists(atPath: path) else {
            throw ShardError(.io, path: path, "no such file")
        }
        guard H5Fis_hdf5(path) > 0 else {
            _ = hdf5ErrorStack()
            throw ShardError(.wrongFormat, path: path, "not an HDF5 file", hint: "expected a shard written by asl-shards")
        }
        file = try h5check(H5Fopen(path, chdf5_f_acc_rdonly(), chdf5_p_default()), "H5Fopen", path: path)
    }

    private func readMetadata() throws -> ShardMetadata {
        typealias A = ShardFormat.Attribute
        typealias D = ShardFormat.Dataset
        // Format and version first: on a foreign file they give the clearest message.
        guard try H5Attr.exists(file, A.format, path: path), try H5Attr.exists(file, A.version, path: path) else {
            throw ShardError(.wrongFormat, path: path, object: A.format,
                             "no '\(A.format)'/'\(A.version)' attributes: not an \(ShardFormat.name) file",
                             hint: "build shards with `asl-shards build`")
        }
        let format = try H5Attr.readString(file, A.format, path: path)
        guard format == ShardFormat.name else {
            throw ShardError(.wrongFormat, path: path, object: A.format,
                             "format is '\(format)', expected '\(ShardFormat.name)'")
        }
        let version = Int(try H5Attr.readInt(file, A.version, path: path))
        guard version == ShardFormat.version else {
            throw ShardError(.wrongFormat, path: path, object: A.version,
                             "format version \(version) is not supported (this reader knows version \(ShardFormat.version))",
                             hint: version > ShardFormat.version ? "update asl-shards" : "rebuild the shards")
        }
        let attributes = ShardAttributes(
            format: format, version: version,
            classes: try H5Attr.readStrings(file, A.classes, path: path),
            height: Int(try H5Attr.readInt(file, A.height, path: path)),
            width: Int(try H5Attr.readInt(file, A.width, path: path)),
            split: try H5Attr.readString(file, A.split, path: path),
            shardIndex: Int(try H5Attr.readInt(file, A.shardIndex, path: path)),
            shardCount: Int(try H5Attr.readInt(file, A.shardCount, path: path)),
            source: try H5Attr.readString(file, A.source, path: path),
            frameStride: Int(try H5Attr.readInt(file, A.frameStride, path: path)),
            fps: try H5Attr.readDouble(file, A.fps, path: path),
            handCrop: try H5Attr.exists(file, A.handCrop, path: path) ? try H5Attr.readString(file, A.handCrop, path: path) : nil,
            margin: try H5Attr.exists(file, A.margin, path: path) ? try H5Attr.readDouble(file, A.margin, path: path) : nil,
            boxSource: try H5Attr.exists(file, A.boxSource, path: path) ? try H5Attr.readString(file, A.boxSource, path: path) : nil,
            conversion: try H5Attr.exists(file, A.conversion, path: path) ? try H5Attr.readString(file, A.conversion, path: path) : nil)
        for name in D.all where !(try H5Data.exists(file, name, path: path)) {
            throw ShardError(.missing, path: path, object: name, "dataset '\(name)' is missing")
        }
        let frames = try H5Data.open(file, D.frames, path: path)
        defer { H5Dclose(frames) }
        let frameType = try h5check(H5Dget_type(frames), "H5Dget_type", path: path, object: D.frames)
        defer { H5Tclose(frameType) }
        guard H5Tget_class(frameType) == H5T_INTEGER, H5Tget_size(frameType) == 1, H5Tget_sign(frameType) == H5T_SGN_NONE
        else {
            throw ShardError(.invariant, path: path, object: D.frames, "frames must be uint8")
        }
        let (boxes, boxDims) = try H5Data.readAll(file, D.boxes, memType: chdf5_native_float(), zero: Float(0), path: path)
        let (labels, labelDims) = try H5Data.readAll(file, D.labels, memType: chdf5_native_int32(), zero: Int32(0),
                                                     path: path)
        let (offsets, offsetDims) = try H5Data.readAll(file, D.offsets, memType: chdf5_native_int64(), zero: Int64(0),
                                                       path: path)
        let (signers, signerDims) = try H5Data.readAll(file, D.signers, memType: chdf5_native_int32(), zero: Int32(0),
                                                       path: path)
        let clipIDs = try H5Data.readStrings(file, D.clipIDs, path: path)
        let frameDims = try H5Data.dims(frames, path: path, name: D.frames)
        func oneD(_ dims: [Int], _ name: String) throws {
            guard dims.count == 1 else {
                throw ShardError(.invariant, path: path, object: name, "'\(name)' must be 1-D, has shape \(dims)")
            }
        }
        try oneD(labelDims, D.labels); try oneD(offsetDims, D.offsets); try oneD(signerDims, D.signers)
        guard boxDims.count == 2, boxDims[1] == 4 else {
            throw ShardError(.invariant, path: path, object: D.boxes, "boxes must have shape [N, 4], has \(boxDims)")
        }
        return ShardMetadata(path: path, attributes: attributes, labels: labels, offsets: offsets, clipIDs: clipIDs,
                             signers: signers, boxes: boxes, frameDims: frameDims)
    }

    /// Checks the per-file invariants of format v1 on metadata already read; throws the first violation.
    static func check(_ m: ShardMetadata) throws {
        typealias D = ShardFormat.Dataset
        let a = m.attributes, path = m.path
        func fail(_ object: String, _ message: String, hint: String? = nil) -> ShardError {
            ShardError(.invariant, path: path, object: object, message, hint: hint)
        }
        guard a.height > 0, a.width > 0 else { throw fail("height", "height and width must be positive") }
        guard a.shardCount >= 1, (0..<a.shardCount).contains(a.shardIndex) else {
            throw fail("shard_index", "shard_index \(a.shardIndex) is outside 0..<shard_count (\(a.shardCount))")
        }
        guard a.frameStride >= 1 else { throw fail("frame_stride", "frame_stride must be at least 1") }
        guard m.frameDims.count == 4, m.frameDims[1] == a.height, m.frameDims[2] == a.width, m.frameDims[3] == 3 else {
            throw fail(D.frames, "frames has shape \(m.frameDims), expected [F, \(a.height), \(a.width), 3]")
        }
        let n = m.labels.count
        guard m.offsets.count == n + 1 else {
            throw fail(D.offsets, "offsets has \(m.offsets.count) entries, expected clips + 1 = \(n + 1)")
        }
        guard m.clipIDs.count == n else { throw fail(D.clipIDs, "clip_ids has \(m.clipIDs.count) entries, labels \(n)") }
        guard m.signers.count == n else { throw fail(D.signers, "signers has \(m.signers.count) entries, labels \(n)") }
        guard m.boxes.count == 4 * n else { throw fail(D.boxes, "boxes has \(m.boxes.count / 4) rows, labels \(n)") }
        guard m.offsets[0] == 0 else { throw fail(D.offsets, "offsets[0] is \(m.offsets[0]), must be 0") }
        for i in 0..<n where m.offsets[i + 1] <= m.offsets[i] {
            throw fail(D.offsets, "offsets are not increasing at clip \(i): \(m.offsets[i]) then \(m.offsets[i + 1])",
                       hint: "every clip has at least one frame")
        }
        guard m.offsets[n] == Int64(m.totalFrames) else {
            throw fail(D.offsets, "offsets end at \(m.offsets[n]) but frames holds \(m.totalFrames) frames")
        }
        for i in 0..<n where m.labels[i] < 0 || Int(m.labels[i]) >= a.classes.count {
            throw fail(D.labels, "label \(m.labels[i]) of clip \(i) is outside 0..<\(a.classes.count) classes")
        }
    }

    /// Root attributes (opens the file on first use).
    public var attributes: ShardAttributes { get throws { try metadata().attributes } }

    /// Reads frames `range` (default all) of clip `i` into `buffer`, growing the buffer only when it is too small;
    /// returns the number of frames read. The frames are `buffer[0 ..< count * H * W * 3]`, `[count, H, W, 3]` RGB.
    ///
    /// Uncompressed shards: one hyperslab read. Deflate-compressed shards: the raw chunks covering the range are
    /// read under the HDF5 lock and inflated after releasing it, so loader workers decompress in parallel.
    @discardableResult
    public func readFrames(_ i: Int, frames range: Range<Int>? = nil, into buffer: inout [UInt8]) throws -> Int {
        let meta = try metadata()
        guard (0..<meta.clipCount).contains(i) else {
            throw ShardError(.usage, path: path, object: ShardFormat.Dataset.frames,
                             "clip \(i) is outside 0..<\(meta.clipCount)")
        }
        let length = meta.frameCount(ofClip: i)
        let r = range ?? 0..<length
        guard r.lowerBound >= 0, r.upperBound <= length, !r.isEmpty else {
            throw ShardError(.usage, path: path, object: ShardFormat.Dataset.frames,
                             "frames \(r) are outside clip \(i)'s 0..<\(length)")
        }
        let frameBytes = meta.attributes.height * meta.attributes.width * 3
        if buffer.count < r.count * frameBytes { buffer = [UInt8](repeating: 0, count: r.count * frameBytes) }
        let first = Int(meta.offsets[i]) + r.lowerBound
        let layout = try HDF5Lock.with { () throws -> FramesLayout in
            try openFrames()
            if case .deflate = framesLayout! { return framesLayout! }
            try readHyperslab(first: first, count: r.count, meta: meta, into: &buffer)
            return framesLayout!
        }
        if case .deflate(let framesPerChunk) = layout {
            try readDeflated(first: first, count: r.count, frameBytes: frameBytes, framesPerChunk: framesPerChunk,
                             into: &buffer)
        }
        return r.count
    }

    /// How the frames dataset is stored, decided once per open file.
    private enum FramesLayout {
        /// Read through HDF5 (uncompressed, or filters this reader does not inflate itself).
        case hyperslab
        /// Deflate only, chunks of whole frames: read raw chunks, inflate outside the lock.
        case deflate(framesPerChunk: Int)
    }
    private var framesLayout: FramesLayout?
    /// Raw chunk bytes read under the lock, and one inflated chunk; reused across reads.
    private var rawChunks: [UInt8] = []
    private var inflated: [UInt8] = []

    /// Opens the frames dataset and decides its layout. Caller holds `HDF5Lock`.
    private func openFrames() throws {
        try openIfNeeded()
        guard framesDS < 0 else { return }
        let name = ShardFormat.Dataset.frames
        framesDS = try H5Data.open(file, name, path: path)
        framesSpace = try h5check(H5Dget_space(framesDS), "H5Dget_space", path: path, object: name)
        framesLayout = .hyperslab
        let dcpl = try h5check(H5Dget_create_plist(framesDS), "H5Dget_create_plist", path: path, object: name)
        defer { H5Pclose(dcpl) }
        guard H5Pget_layout(dcpl) == H5D_CHUNKED,
              try h5check(H5Pget_nfilters(dcpl), "H5Pget_nfilters", path: path, object: name) == 1 else { return }
        var flags: UInt32 = 0, nValues = 1, config: UInt32 = 0
        var values: [UInt32] = [0]
        guard H5Pget_filter2(dcpl, 0, &flags, &nValues, &values, 0, nil, &config) == H5Z_FILTER_DEFLATE else { return }
        var chunk = [hsize_t](repeating: 0, count: 4)
        guard try h5check(H5Pget_chunk(dcpl, 4, &chunk), "H5Pget_chunk", path: path, object: name) == 4 else { return }
        let dims = try H5Data.dims(framesDS, path: path, name: name)
        // Direct chunk reads need chunks of whole frames.
        guard chunk[0] >= 1, Int(chunk[1]) == dims[1], Int(chunk[2]) == dims[2], Int(chunk[3]) == dims[3] else { return }
        framesLayout = .deflate(framesPerChunk: Int(chunk[0]))
    }

    /// One hyperslab read of frames `first ..< first + count` of the dataset. Caller holds `HDF5Lock`.
    private func readHyperslab(first: Int, count n: Int, meta: ShardMetadata, into buffer: inout [UInt8]) throws {
        let name = ShardFormat.Dataset.frames
        var start: [hsize_t] = [hsize_t(first), 0, 0, 0]
        var count: [hsize_t] = [hsize_t(n), hsize_t(meta.attributes.height), hsize_t(meta.attributes.width), 3]
        try h5check(H5Sselect_hyperslab(framesSpace, H5S_SELECT_SET, &start, nil, &count, nil),
                    "H5Sselect_hyperslab", path: path, object: name)
        let memSpace = try h5check(H5Screate_simple(4, &count, nil), "H5Screate_simple", path: path, object: name)
        defer { H5Sclose(memSpace) }
        try buffer.withUnsafeMutableBytes { buf in
            _ = try h5check(H5Dread(framesDS, chdf5_native_uint8(), memSpace, framesSpace, chdf5_p_default(),
                                    buf.baseAddress!), "H5Dread", path: path, object: name,
                            hint: "the file may be truncated or corrupt; run `asl-shards verify`")
        }
    }

    /// Frames `first ..< first + count` from deflate-compressed chunks of `framesPerChunk` frames: raw chunks are
    /// read under the lock, then inflated and copied without it.
    private func readDeflated(first: Int, count: Int, frameBytes: Int, framesPerChunk: Int,
                              into buffer: inout [UInt8]) throws {
        let name = ShardFormat.Dataset.frames
        let firstChunk = first / framesPerChunk, lastChunk = (first + count - 1) / framesPerChunk
        var pieces: [(start: Int, size: Int, filtered: Bool)] = []
        try HDF5Lock.with {
            var total = 0
            for c in firstChunk...lastChunk {
                var offset: [hsize_t] = [hsize_t(c * framesPerChunk), 0, 0, 0]
                var size: hsize_t = 0
                try h5check(H5Dget_chunk_storage_size(framesDS, &offset, &size), "H5Dget_chunk_storage_size",
                            path: path, object: name)
                if rawChunks.count < total + Int(size) { rawChunks += [UInt8](repeating: 0, count: total + Int(size) - rawChunks.count) }
                var mask: UInt32 = 0
                try rawChunks.withUnsafeMutableBytes { buf in
                    _ = try h5check(H5Dread_chunk(framesDS, chdf5_p_default(), &offset, &mask, buf.baseAddress! + total),
                                    "H5Dread_chunk", path: path, object: name,
                                    hint: "the file may be truncated or corrupt; run `asl-shards verify`")
                }
                // Bit 0 of the mask set: the deflate filter was skipped for this chunk, which is stored raw.
                pieces.append((total, Int(size), mask & 1 == 0))
                total += Int(size)
            }
        }
        let chunkBytes = framesPerChunk * frameBytes
        if inflated.count < chunkBytes { inflated = [UInt8](repeating: 0, count: chunkBytes) }
        for (k, piece) in pieces.enumerated() {
            let c = firstChunk + k
            var produced = chunkBytes
            if piece.filtered {
                var destLen = uLongf(chunkBytes)
                let status = inflated.withUnsafeMutableBytes { dst in
                    rawChunks.withUnsafeBytes { src in
                        uncompress(dst.baseAddress!.assumingMemoryBound(to: Bytef.self), &destLen,
                                   src.baseAddress!.assumingMemoryBound(to: Bytef.self) + piece.start, uLong(piece.size))
                    }
                }
                guard status == Z_OK else {
                    throw ShardError(.invariant, path: path, object: name,
                                     "chunk \(c) does not inflate (zlib status \(status))",
                                     hint: "the file is corrupt; rebuild the shard")
                }
                produced = Int(destLen)
            } else {
                produced = min(piece.size, chunkBytes)
                inflated.withUnsafeMutableBytes { dst in
                    rawChunks.withUnsafeBytes { src in
                        dst.baseAddress!.copyMemory(from: src.baseAddress! + piece.start, byteCount: produced)
                    }
                }
            }
            guard produced == chunkBytes else {
                throw ShardError(.invariant, path: path, object: name,
                                 "chunk \(c) holds \(produced) bytes, expected \(chunkBytes)", hint: "the file is corrupt")
            }
            // Frames of this chunk inside the requested range.
            let lo = max(first, c * framesPerChunk), hi = min(first + count, (c + 1) * framesPerChunk)
            buffer.withUnsafeMutableBytes { dst in
                inflated.withUnsafeBytes { src in
                    (dst.baseAddress! + (lo - first) * frameBytes).copyMemory(
                        from: src.baseAddress! + (lo - c * framesPerChunk) * frameBytes, byteCount: (hi - lo) * frameBytes)
                }
            }
        }
    }

    /// Clip `i` with all its frames and metadata (allocates; the loader uses `readFrames` with a reused buffer).
    public func readClip(_ i: Int) throws -> DecodedClip {
        let meta = try metadata()
        var buffer: [UInt8] = []
        let count = try readFrames(i, into: &buffer)
        let a = meta.attributes
        let b = meta.boxes
        return DecodedClip(frames: Array(buffer.prefix(count * a.height * a.width * 3)), frameCount: count,
                           height: a.height, width: a.width, label: meta.labels[i], clipID: meta.clipIDs[i],
                           signer: meta.signers[i], box: (b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]))
    }

    /// Each dataset's shape, type, chunking and compression.
    public func schema() throws -> [DatasetSchema] {
        _ = try metadata()
        return try HDF5Lock.with {
            try ShardFormat.Dataset.all.map { name in
                let ds = try H5Data.open(file, name, path: path)
                defer { H5Dclose(ds) }
                let dims = try H5Data.dims(ds, path: path, name: name)
                let type = try h5check(H5Dget_type(ds), "H5Dget_type", path: path, object: name)
                defer { H5Tclose(type) }
                let size = H5Tget_size(type)
                let typeName: String
                switch H5Tget_class(type) {
                case H5T_INTEGER: typeName = (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + "\(8 * size)"
                case H5T_FLOAT: typeName = "float\(8 * size)"
                case H5T_STRING:
                    typeName = H5Tis_variable_str(type) > 0 ? "string (variable, UTF-8)" : "string (\(size) bytes)"
                default: typeName = "other"
                }
                let dcpl = try h5check(H5Dget_create_plist(ds), "H5Dget_create_plist", path: path, object: name)
                defer { H5Pclose(dcpl) }
                var chunk: [Int] = []
                if H5Pget_layout(dcpl) == H5D_CHUNKED {
                    var c = [hsize_t](repeating: 0, count: dims.count)
                    let rank = try h5check(H5Pget_chunk(dcpl, Int32(dims.count), &c), "H5Pget_chunk", path: path,
                                           object: name)
                    chunk = c.prefix(Int(rank)).map { Int($0) }
                }
                var deflate: Int?
                let filters = try h5check(H5Pget_nfilters(dcpl), "H5Pget_nfilters", path: path, object: name)
                for f in 0..<UInt32(filters) {
                    var flags: UInt32 = 0, nValues = 1
                    var values: [UInt32] = [0]
                    var config: UInt32 = 0
                    let id = H5Pget_filter2(dcpl, f, &flags, &nValues, &values, 0, nil, &config)
                    if id == H5Z_FILTER_DEFLATE { deflate = Int(values[0]) }
                }
                return DatasetSchema(name: name, dims: dims, type: typeName, chunk: chunk, deflate: deflate)
            }
        }
    }

    /// Closes the file's handles; the next call that needs them reopens the file. Metadata stays cached.
    public func close() {
        HDF5Lock.with {
            if framesSpace >= 0 { H5Sclose(framesSpace); framesSpace = -1 }
            if framesDS >= 0 { H5Dclose(framesDS); framesDS = -1 }
            framesLayout = nil
            if file >= 0 { H5Fclose(file); file = -1 }
        }
    }
}

/// All shards of one split (or a single shard file), with a global clip index running through the shards in
/// shard-index order. Holds only metadata; threads read frames through their own `ShardReader`.
public final class ShardDataset: @unchecked Sendable {
    /// Shard metadata in shard-index order. Immutable after init, so safe to share across threads.
    public let shards: [ShardMetadata]
    public let split: String
    public let classes: [String]
    public let height: Int
    public let width: Int
    /// `clipStarts[s]` is the global index of shard s's first clip; `clipStarts[shards.count]` is the clip count.
    public let clipStarts: [Int]

    public var count: Int { clipStarts.last ?? 0 }

    /// Opens `path`: a shard file, or a directory holding the shards of `split` (which may be omitted when the
    /// directory holds one split only). Checks every shard's invariants, and across shards: same classes, frame
    /// size and split, and — for a directory — shard_count equal to the number of files, every index present once.
    /// - Parameter owned: when given, only the shards whose index satisfies it are opened and the others need not
    ///   be present (local sampling on clusters without a shared file system, where each node holds its own
    ///   shards); every owned index must be there. Global clip indices then count the owned shards only.
    public init(path: String, split: String? = nil, owned: ((Int) -> Bool)? = nil) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ShardError(.io, path: path, "no such file or directory")
        }
        var metas: [ShardMetadata] = []
        if isDirectory.boolValue {
            let available = try ShardDataset.splits(inDirectory: path)
            guard let chosen = split ?? (available.count == 1 ? available[0] : nil) else {
                throw ShardError(.usage, path: path, available.isEmpty ? "no shard files (<split>-NNNNN-of-NNNNN.h5) here"
                                 : "several splits here (\(available.joined(separator: ", "))); name one",
                                 hint: available.isEmpty ? nil : "pass --split")
            }
            let files = try ShardDataset.shardFiles(inDirectory: path, split: chosen).filter { file in
                owned.map { keep in ShardFormat.parseFileName((file as NSString).lastPathComponent).map { keep($0.index) } ?? false } ?? true
            }
            guard !files.isEmpty else {
                throw ShardError(.usage, path: path, "no shards of split '\(chosen)' here",
                                 hint: available.isEmpty ? "no shard files (<split>-NNNNN-of-NNNNN.h5) at all: build them with asl-shards build"
                                                         : "splits present: \(available.joined(separator: ", "))")
            }
            for file in files {
                let f = ShardFile(path: file)
                metas.append(try f.metadata())
                f.close()
            }
            try ShardDataset.checkAcrossShards(metas, directory: path, owned: owned)
        } else {
            let f = ShardFile(path: path)
            metas = [try f.metadata()]
            f.close()
            if let split, split != metas[0].attributes.split {
                throw ShardError(.usage, path: path, object: "split",
                                 "this shard belongs to split '\(metas[0].attributes.split)', not '\(split)'")
            }
        }
        shards = metas
        let a = metas[0].attributes
        self.split = a.split; classes = a.classes; height = a.height; width = a.width
        var starts = [0]
        for m in metas { starts.append(starts.last! + m.clipCount) }
        clipStarts = starts
    }

    /// Split names with shard files in `directory`, sorted.
    public static func splits(inDirectory directory: String) throws -> [String] {
        Array(Set(try listing(directory).compactMap { ShardFormat.parseFileName($0)?.split })).sorted()
    }

    /// Paths of `split`'s shard files in `directory`, sorted by shard index.
    public static func shardFiles(inDirectory directory: String, split: String) throws -> [String] {
        try listing(directory)
            .compactMap { name in ShardFormat.parseFileName(name).flatMap { $0.split == split ? (name, $0.index) : nil } }
            .sorted { $0.1 < $1.1 }
            .map { (directory as NSString).appendingPathComponent($0.0) }
    }

    private static func listing(_ directory: String) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw ShardError(.io, path: directory, "cannot list the directory: \(error)")
        }
    }

    /// The invariants that relate shards of one split to each other; throws the first violation.
    static func checkAcrossShards(_ metas: [ShardMetadata], directory: String, owned: ((Int) -> Bool)? = nil) throws {
        guard let first = metas.first?.attributes else { return }
        for m in metas {
            let a = m.attributes
            func fail(_ object: String, _ message: String) -> ShardError {
                ShardError(.invariant, path: m.path, object: object, message, hint: "shards of one split must come from one build")
            }
            guard a.classes == first.classes else {
                throw fail("classes", "classes differ from \(metas[0].path)'s (\(a.classes.count) vs \(first.classes.count) names)")
            }
            guard a.height == first.height, a.width == first.width else {
                throw fail("height", "frame size \(a.height)x\(a.width) differs from \(first.height)x\(first.width)")
            }
            guard owned != nil || a.shardCount == metas.count else {
                throw fail("shard_count", "shard_count is \(a.shardCount) but \(metas.count) shard files of split '\(first.split)' are here")
            }
            let name = (m.path as NSString).lastPathComponent
            guard let parsed = ShardFormat.parseFileName(name), parsed.split == a.split, parsed.index == a.shardIndex,
                  parsed.count == a.shardCount else {
                throw fail("shard_index", "attributes (split '\(a.split)', shard \(a.shardIndex) of \(a.shardCount)) do not match the file name")
            }
        }
        let indices = metas.map { $0.attributes.shardIndex }
        let expected = Array(0..<first.shardCount).filter { owned?($0) ?? true }
        guard indices == expected else {
            throw ShardError(.invariant, path: directory, object: "shard_index", "shard indices are \(indices), expected \(expected)",
                             hint: owned == nil ? nil : "with local sampling each node needs the shards its ranks own")
        }
    }

    /// (shard, local index) of global clip `index`.
    public func locate(_ index: Int) -> (shard: Int, local: Int) {
        precondition((0..<count).contains(index), "clip \(index) is outside 0..<\(count)")
        // Binary search for the last start <= index.
        var lo = 0, hi = shards.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if clipStarts[mid] <= index { lo = mid } else { hi = mid - 1 }
        }
        return (lo, index - clipStarts[lo])
    }

    public func globalIndex(shard: Int, local: Int) -> Int { clipStarts[shard] + local }
    public func label(_ index: Int) -> Int32 { let (s, l) = locate(index); return shards[s].labels[l] }
    public func frameCount(_ index: Int) -> Int { let (s, l) = locate(index); return shards[s].frameCount(ofClip: l) }
    public func clipID(_ index: Int) -> String { let (s, l) = locate(index); return shards[s].clipIDs[l] }

    /// Every clip's frame count, in global order.
    public var frameCounts: [Int] { shards.flatMap { m in (0..<m.clipCount).map { m.frameCount(ofClip: $0) } } }

    /// Clips per class; index = label.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classes.count)
        for m in shards { for l in m.labels { counts[Int(l)] += 1 } }
        return counts
    }
}

/// One thread's open handles on a dataset's shards (HDF5 handles must not be shared between threads).
public final class ShardReader {
    public let dataset: ShardDataset
    private var files: [ShardFile?]

    public init(dataset: ShardDataset) {
        self.dataset = dataset
        files = Array(repeating: nil, count: dataset.shards.count)
    }

    /// Reads frames `range` (default all) of global clip `index` into `buffer`; returns the number of frames.
    /// Frames are `[count, H, W, 3]` RGB at the start of `buffer`.
    @discardableResult
    public func readFrames(_ index: Int, frames range: Range<Int>? = nil, into buffer: inout [UInt8]) throws -> Int {
        let (s, l) = dataset.locate(index)
        let file = files[s] ?? ShardFile(metadata: dataset.shards[s])
        files[s] = file
        return try file.readFrames(l, frames: range, into: &buffer)
    }

    public func close() { for f in files { f?.close() } }
}
