// Shards: turning one planned input (a video, or a sequence of image files) into a hand-centric DecodedClip —
// decode, choose the clip's square, crop and area-resize every kept frame as it is decoded.
import CFFmpeg
import Foundation

/// The split a clip belongs to.
public enum Split: String, Codable, CaseIterable, Sendable, Comparable {
    case train, val, test
    public static func < (a: Split, b: Split) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One clip to build, as a source describes it before anything is decoded.
public struct ClipInput: Sendable, Equatable {
    public enum Media: Sendable, Equatable {
        /// A video file and the 1-based inclusive frame range to keep (`end == -1`: to the end).
        case video(path: String, frameStart: Int, frameEnd: Int)
        /// Image files, one frame each, in order (a single still image is a one-frame clip).
        case images([String])
    }
    public var media: Media
    /// Index into the class list.
    public var label: Int32
    /// Unique within the data set (WLASL's video_id, or the path relative to the source root).
    public var clipID: String
    /// -1 when unknown.
    public var signer: Int32
    /// The split the source assigns, nil when the source has none (then `SplitPlanner` assigns one).
    public var split: Split?
    /// The source's box around the signer (x0, y0, x1, y1, source pixels), used by `--hand-crop bbox`.
    public var bbox: [Double]?

    public init(media: Media, label: Int32, clipID: String, signer: Int32 = -1, split: Split? = nil, bbox: [Double]? = nil) {
        self.media = media; self.label = label; self.clipID = clipID; self.signer = signer; self.split = split; self.bbox = bbox
    }

    /// This clip's key in a boxes file (`--hand-crop boxes:FILE`): its clip id, else its file's name, that name
    /// without extension (WLASL's video_id, what hand detectors usually key by), `folder/name`, or its path; nil
    /// when the file lists none of them.
    public func boxKey(in boxes: [String: [Double]]) -> String? {
        let path = inputPath, name = (path as NSString).lastPathComponent
        let folder = ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
        return [clipID, name, (name as NSString).deletingPathExtension, folder + "/" + name, path].first { boxes[$0] != nil }
    }

    /// The file a user would look at when this clip fails.
    public var inputPath: String {
        switch media {
        case .video(let path, _, _): return path
        case .images(let paths): return paths.count == 1 ? paths[0] : (paths.first.map { ($0 as NSString).deletingLastPathComponent } ?? clipID)
        }
    }
}

/// How each kept video frame becomes the clip's `size × size` RGB crop.
public enum FrameConversion: String, Sendable, CaseIterable {
    /// swscale crops the square from the decoded planes, area-scales and converts only it (`FrameCropScaler`), within
    /// `FrameConversion.tolerance` of `.reference`; frames in other pixel formats (RGB, 10-bit, packed YUYV), and
    /// squares that stick out of the frame, take the reference path.
    case fused
    /// The plain reference: the whole frame to RGB24, then OpenCV's INTER_AREA crop-resize.
    case reference

    /// |fused − reference| per channel value, mean and max, on camera-like content and on saturated synthetic
    /// patterns (measured in `FrameCropScaler.tolerance`).
    public static var tolerance: (camera: (mean: Double, max: Int), saturatedPatterns: (mean: Double, max: Int)) {
        FrameCropScaler.tolerance
    }
}

/// How every clip is cropped and sampled.
public struct ClipOptions: Sendable {
    /// Output frames are `size × size`.
    public var size: Int
    /// Keep every `stride`-th frame of the selected range.
    public var stride: Int
    public var handCrop: HandCropMode
    /// Fraction of the box's longer edge added on each side before squaring.
    public var margin: Double
    /// Boxes loaded from `--hand-crop boxes:FILE`, keyed by clip id.
    public var boxes: [String: [Double]]
    public var conversion: FrameConversion
    /// Bytes of decoded frames one clip may hold in `.motion` mode so that its video is decoded once; a clip above
    /// it is decoded a second time instead. Each worker reads one clip at a time, so the build holds at most
    /// `workers ×` this.
    public var motionMemory: Int

    /// 512 MiB: 370 frames of 1280×720 or 160 of 1920×1080 in 4:2:0, more than a sign clip of a few seconds has,
    /// and a quarter of the 2 GiB per core that build machines usually have.
    public static let defaultMotionMemory = 512 << 20

    public init(size: Int = 128, stride: Int = 1, handCrop: HandCropMode = .bbox, margin: Double = 0.1,
                boxes: [String: [Double]] = [:], conversion: FrameConversion = .fused,
                motionMemory: Int = ClipOptions.defaultMotionMemory) {
        precondition(size > 0 && stride > 0 && motionMemory >= 0, "size and stride must be positive, motionMemory at least 0")
        self.size = size; self.stride = stride; self.handCrop = handCrop; self.margin = margin; self.boxes = boxes
        self.conversion = conversion; self.motionMemory = motionMemory
    }

    /// Loads the options' boxes for `.boxes(path:)`; throws a `ShardSourceError` for an unreadable or malformed file.
    public static func loadBoxes(path: String) throws -> [String: [Double]] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ShardSourceError(path: path, reason: "cannot read the boxes file", hint: "check the path after boxes:")
        }
        let boxes: [String: [Double]]
        do { boxes = try JSONDecoder().decode([String: [Double]].self, from: data) } catch {
            throw ShardSourceError(path: path, reason: "not a JSON object of boxes: \(error)",
                                   hint: "expected {\"clip_id\": [x0, y0, x1, y1], ...}")
        }
        if let bad = boxes.first(where: { $0.value.count != 4 }) {
            throw ShardSourceError(path: path, reason: "box of \(bad.key) has \(bad.value.count) numbers", hint: "use [x0, y0, x1, y1]")
        }
        return boxes
    }
}

public enum ClipReader {
    /// Decodes `input` into a clip `[F, size, size, 3]` cropped around one square for the whole clip.
    ///
    /// Memory stays at one source frame plus the output clip, except with `.motion`: its square needs every frame
    /// first, so the decoded frames are held (up to `options.motionMemory` bytes) and cropped once the square is
    /// known; a longer video is decoded a second time instead. Either way the clip is the same.
    /// - Parameter decoderThreads: FFmpeg threads for this one video (the output does not depend on it).
    /// - Throws: `VideoError`, `ImageError`, or `ShardSourceError` when no frame is selected.
    public static func read(_ input: ClipInput, options: ClipOptions, decoderThreads: Int = 1) throws -> DecodedClip {
        let s = options.size
        var frames: [UInt8] = []
        var crop: SquareCrop?
        var count = 0
        var fps = 0.0

        // The square for a frame size, for every mode but motion (whose box needs the whole clip first).
        func fixedCrop(width: Int, height: Int) -> SquareCrop {
            let box: [Double]?
            switch options.handCrop {
            case .bbox: box = input.bbox
            case .boxes: box = input.boxKey(in: options.boxes).flatMap { options.boxes[$0] }
            case .none, .motion: box = nil
            }
            if let b = box, b.count == 4, b[2] > b[0], b[3] > b[1] {
                return SquareCrop.around((b[0], b[1], b[2], b[3]), frameWidth: width, frameHeight: height, margin: options.margin)
            }
            return SquareCrop.centre(frameWidth: width, frameHeight: height)
        }
        func motionCrop(_ motion: MotionAccumulator) throws -> SquareCrop {
            if let b = try motion.box() {
                return SquareCrop.around(b, frameWidth: motion.width, frameHeight: motion.height, margin: options.margin)
            }
            return SquareCrop.centre(frameWidth: motion.width, frameHeight: motion.height)
        }
        func append(_ rgb: UnsafeBufferPointer<UInt8>, _ w: Int, _ h: Int, _ crop: SquareCrop) throws {
            frames.append(contentsOf: repeatElement(0, count: s * s * 3))
            try frames.withUnsafeMutableBufferPointer { all in
                try ImageOps.cropResize(rgb, width: w, height: h, crop: crop, size: s,
                                        into: UnsafeMutableBufferPointer(rebasing: all[(count * s * s * 3)...]))
            }
            count += 1
        }

        switch input.media {
        case .video(let path, let start, let end):
            let selection = FrameSelection(start: max(1, start), end: end, stride: options.stride)
            let converter = RGBConverter(path: path)
            let fused = options.conversion == .fused ? FrameCropScaler(path: path) : nil
            func appendFrame(_ frame: UnsafePointer<AVFrame>, _ crop: SquareCrop) throws {
                guard let fused, fused.accepts(frame, crop: crop) else {
                    return try append(converter.convert(frame), Int(frame.pointee.width), Int(frame.pointee.height), crop)
                }
                frames.append(contentsOf: repeatElement(0, count: s * s * 3))
                try frames.withUnsafeMutableBufferPointer { all in
                    try fused.cropScale(frame, crop: crop, size: s, into: UnsafeMutableBufferPointer(rebasing: all[(count * s * s * 3)...]))
                }
                count += 1
            }
            if options.handCrop == .motion {
                var motion: MotionAccumulator?
                let held = HeldFrames(budget: options.motionMemory)
                fps = try VideoDecoder.decodeFrames(path: path, selection: selection, threads: decoderThreads) { frame, _ in
                    let w = Int(frame.pointee.width), h = Int(frame.pointee.height)
                    if motion == nil { motion = MotionAccumulator(width: w, height: h) }
                    guard motion!.width == w, motion!.height == h else {
                        throw VideoError(path: path, operation: "decode", code: 0, message: "frame size changes mid-stream",
                                         hint: "re-encode the video at one size")
                    }
                    try motion!.add(converter.convert(frame))
                    held.keep(frame)
                }.fps
                if let m = motion { crop = try motionCrop(m) }
                if let crop, held.isComplete {
                    for frame in held.frames { try appendFrame(frame, crop) }
                    break
                }
            }
            fps = try VideoDecoder.decodeFrames(path: path, selection: selection, threads: decoderThreads) { frame, _ in
                if crop == nil { crop = fixedCrop(width: Int(frame.pointee.width), height: Int(frame.pointee.height)) }
                try appendFrame(frame, crop!)
            }.fps
        case .images(let paths):
            let kept = Swift.stride(from: 0, to: paths.count, by: options.stride).map { paths[$0] }
            let images = try kept.map { try ImageOps.readRGB(path: $0) }
            guard let first = images.first else { break }
            if let odd = zip(kept, images).first(where: { $0.1.width != first.width || $0.1.height != first.height }) {
                throw ImageError(path: odd.0, operation: "read", code: 0,
                                 hint: "its size \(odd.1.width)×\(odd.1.height) differs from the clip's first frame")
            }
            if options.handCrop == .motion {
                var motion = MotionAccumulator(width: first.width, height: first.height)
                for image in images { try image.pixels.withUnsafeBufferPointer { try motion.add($0) } }
                crop = try motionCrop(motion)
            } else {
                crop = fixedCrop(width: first.width, height: first.height)
            }
            for image in images { try image.pixels.withUnsafeBufferPointer { try append($0, image.width, image.height, crop!) } }
        }
        guard count > 0, let crop else {
            throw ShardSourceError(path: input.inputPath, reason: "no frame in the selected range",
                                   hint: "check frame_start/frame_end against the video's length")
        }
        return DecodedClip(frames: frames, frameCount: count, height: s, width: s, label: input.label,
                           clipID: input.clipID, signer: input.signer, box: crop.box, sourceFPS: fps)
    }
}

/// References to a clip's decoded frames, kept while their buffers fit `budget` bytes; past it they are all let go
/// and `isComplete` is false for good.
final class HeldFrames {
    let budget: Int
    private(set) var frames: [UnsafeMutablePointer<AVFrame>] = []
    private(set) var bytes = 0
    private(set) var isComplete = true

    init(budget: Int) { self.budget = budget }

    deinit { release() }

    /// Takes a new reference to `frame`'s buffers (no copy), unless that would pass the budget.
    func keep(_ frame: UnsafePointer<AVFrame>) {
        guard isComplete else { return }
        // The frame's reference-counted buffers: planes plus the decoder's padding, what holding it really costs.
        let size = withUnsafeBytes(of: frame.pointee.buf) { raw in
            raw.bindMemory(to: UnsafeMutablePointer<AVBufferRef>?.self).reduce(0) { $0 + ($1.map { Int($0.pointee.size) } ?? 0) }
        }
        guard bytes + size <= budget, let copy = av_frame_clone(frame) else {
            release()
            isComplete = false
            return
        }
        frames.append(copy)
        bytes += size
    }

    private func release() {
        for frame in frames { var f: UnsafeMutablePointer<AVFrame>? = frame; av_frame_free(&f) }
        frames = []
        bytes = 0
    }
}
