// Inference: the live loop. Frames flow source → ring of the newest window → (every N frames) a hand-centred clip
// for the background classifier → overlay of the latest smoothed top-k and crop box → preview window, annotated
// video and per-classification records. Capture never waits for the model on a live source; a file is read as fast
// as it decodes with every N-th window classified in order (deterministic), or paced at its rate with --realtime.
import CVBridge
import Foundation
import NN
import Shards
import Support

/// How live windows are cut from the source frames.
public enum LiveCrop: Sendable, Equatable {
    /// The largest centred square of each frame.
    case centre
    /// The square around what moves over the window (the builder's `motion` rule), smoothed between windows.
    case motion
    /// A fixed box (x0, y0, x1, y1 in source pixels), as `--hand-crop boxes:FILE` gives it.
    case box(Double, Double, Double, Double)
}

/// Everything the live loop needs besides the source and the model.
public struct LiveOptions: Sendable {
    /// Source frames are cut to a square and resized to size × size (the training shards' frame size).
    public var size: Int
    public var crop: LiveCrop = .motion
    /// Margin around a motion or fixed box, as `asl-shards build --margin`.
    public var margin: Double = 0.1
    /// Weight of the newest motion square against the previous one's centre and side (1: no smoothing).
    public var cropSmoothing: Double = 0.5
    /// Keep every k-th source frame (the build's `--stride`); nil adapts it to `targetFPS`.
    public var sourceStride: Int?
    /// The training frames' rate, to which a source at another rate is matched when `sourceStride` is nil.
    public var targetFPS: Double?
    /// Classify the window ending at every N-th source frame.
    public var every: Int = 4
    public var topK: Int = 5
    /// Probabilities shown are averaged over the last K classifications.
    public var smooth: Int = 1
    /// Below this smoothed top-1 probability the overlay says that no sign is recognized.
    public var threshold: Double = 0
    /// Pace a file or stream at its frame rate, as a camera would deliver it (windows may then be dropped).
    public var realtime = false
    public var showWindow = true
    /// Annotated frames are written here (atomically, at the source's rate and size).
    public var outputVideo: String?
    /// One JSON record per classification is written here (atomically).
    public var outputRecords: String?
    /// Called with each line of progress worth printing (notes, the summary).
    public var log: @Sendable (String) -> Void = { print($0) }

    public init(size: Int) { self.size = size }
}

/// What a live run did.
public struct LiveSummary: Sendable {
    public var frames = 0
    public var classified = 0
    public var dropped = 0
    public var fps = 0.0
    public var seconds = 0.0
    /// The encoder of the annotated video, when one was written.
    public var codec: String?
}

/// Runs a predictor over a frame source.
public final class LiveRecognizer {
    public let predictor: Predictor
    public let options: LiveOptions
    /// Source frames per window: (T − 1) × the model's frame stride + 1.
    public let span: Int

    public init(predictor: Predictor, options: LiveOptions) {
        precondition(options.size > 0 && options.every > 0 && options.topK > 0 && options.smooth > 0, "positive options")
        self.predictor = predictor
        self.options = options
        span = (predictor.spec.frames - 1) * predictor.spec.frameStride + 1
    }

    /// Reads `source` to its end (or until q / Esc in the preview window) and returns what happened. Outputs appear
    /// only when the run ends without error; a failed run leaves none behind.
    public func run(source: FrameSource) throws -> LiveSummary {
        let transform = predictor.transform(clips: 1, frameStride: predictor.spec.frameStride)
        let size = options.size, model = predictor
        let classifier = LiveClassifier { window in
            let logits = try model.logits(frames: window.frames, frameCount: window.frameCount, height: window.size,
                                          width: window.size, transform: transform)
            return Predictor.probabilities(logits)
        }
        defer { classifier.stop() }
        let outputs = try LiveOutputs(video: options.outputVideo, records: options.outputRecords)
        defer { outputs.discard() }

        var summary = LiveSummary()
        var ring: FrameRing?
        var keep = max(1, options.sourceStride ?? 1)
        var overlay = Overlay(classes: predictor.spec.classes, topK: options.topK, smooth: options.smooth,
                              threshold: options.threshold)
        var previousCrop: SquareCrop?
        var scratch: [UInt8] = []
        var encodedSize = (width: 0, height: 0)
        let started = Date()
        var sourceInfo = LiveSourceInfo(width: 0, height: 0, fps: 0)
        var firstTimestamp: Double?
        // A file is paced only with --realtime; its windows are then offered like a camera's.
        let waitsForModel = !source.isLive && !options.realtime

        func collect(frameHeight: Int) throws {
            for result in try classifier.takeResults() {
                summary.classified += 1
                overlay.add(result)
                try outputs.record(result, smoothed: overlay.smoothed ?? result.probabilities, recognized: overlay.recognizes,
                                   panel: try overlay.panelRect(frameHeight: frameHeight), classes: predictor.spec.classes,
                                   topK: options.topK)
            }
        }
        var lastHeight = 1

        try source.run(opened: { info in
            sourceInfo = info
            if options.sourceStride == nil, let target = options.targetFPS, target > 0, info.fps > 0 {
                let match = Preprocessing.matchingStride(sourceFPS: info.fps, trainingFPS: target, source: source.name)
                keep = match.stride
                if keep > 1 { options.log(match.note) }
            }
            if info.fps <= 0 { options.log("note: \(source.name) reports no frame rate; the annotated video is written at 30 fps") }
        }) { frame in
            if options.realtime {
                // Paced by the source's own timestamps, counted from its first frame (streams start anywhere).
                if firstTimestamp == nil { firstTimestamp = frame.timestamp }
                let due = started.addingTimeInterval(frame.timestamp - firstTimestamp!).timeIntervalSinceNow
                if due > 0 { Thread.sleep(forTimeInterval: min(due, 1)) }
            }
            let bytes = frame.width * frame.height * 3
            if ring?.frameBytes != bytes {
                ring = FrameRing(capacity: span, frameBytes: bytes)
                previousCrop = nil
            }
            if frame.index % keep == 0 { ring!.push(frame.rgb) }

            if ring!.isFull && (frame.index + 1) % options.every == 0 {
                let crop = try cropSquare(ring!, width: frame.width, height: frame.height, previous: previousCrop)
                previousCrop = crop
                var clip = [UInt8](repeating: 0, count: span * size * size * 3)
                try clip.withUnsafeMutableBufferPointer { out in
                    for i in 0..<span {
                        try ring!.withFrame(i) {
                            try ImageOps.cropResize($0, width: frame.width, height: frame.height, crop: crop, size: size,
                                                    into: UnsafeMutableBufferPointer(rebasing: out[(i * size * size * 3)..<((i + 1) * size * size * 3)]))
                        }
                    }
                }
                classifier.offer(LiveWindow(frames: clip, frameCount: span, size: size, lastFrame: frame.index,
                                            timestamp: frame.timestamp, crop: crop))
                if waitsForModel { try classifier.drain() }
            }
            try collect(frameHeight: frame.height)
            lastHeight = frame.height

            summary.frames += 1
            // Nothing shows or stores the annotated frame: only the records are written.
            guard options.showWindow || outputs.wantsVideo else { return true }
            // The annotated frame: a copy of the source frame with the panel and the latest crop drawn on it.
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: frame.rgb)
            try overlay.draw(on: &scratch, width: frame.width, height: frame.height,
                             crop: options.crop == .centre ? nil : overlay.latestCrop)
            if outputs.wantsVideo {
                if encodedSize.width == 0 {
                    // yuv420p needs even sides: an odd last row or column is left out.
                    encodedSize = (frame.width & ~1, frame.height & ~1)
                    if encodedSize.width != frame.width || encodedSize.height != frame.height {
                        options.log("note: the annotated video is \(encodedSize.width)×\(encodedSize.height): H.264 needs even sides")
                    }
                    try outputs.openVideo(width: encodedSize.width, height: encodedSize.height,
                                          fps: sourceInfo.fps > 0 ? sourceInfo.fps : 30)
                }
                guard frame.width >= encodedSize.width, frame.height >= encodedSize.height else {
                    throw PredictError(path: source.name, "the frame size changed from \(encodedSize.width)×\(encodedSize.height) to \(frame.width)×\(frame.height)",
                                       hint: "the annotated video keeps one size; record without --output-video")
                }
                try outputs.append(scratch, width: frame.width, height: frame.height, encodedSize: encodedSize)
            }
            if options.showWindow {
                let key = scratch.withUnsafeBufferPointer {
                    cvbridge_show_frame("asl-predict", $0.baseAddress, Int32(frame.height), Int32(frame.width), nil, 0, 1)
                }
                guard key != -2 else {
                    throw PredictError(path: source.name, "cannot show the preview window",
                                       hint: "is a display available? --no-window runs without one")
                }
                if key >= 0 && (key & 0xFF == Int32(UInt8(ascii: "q")) || key & 0xFF == 27) { return false }
            }
            return true
        }
        if options.showWindow { cvbridge_close_windows() }
        try classifier.drain()
        try collect(frameHeight: lastHeight)
        summary.dropped = classifier.dropped
        summary.seconds = Date().timeIntervalSince(started)
        summary.fps = sourceInfo.fps
        summary.codec = try outputs.commit()
        return summary
    }

    /// The square the window in `ring` is cut from: the centre, a fixed box, or the motion box over the window's
    /// frames (the centre when nothing moves) moved part of the way from `previous`.
    func cropSquare(_ ring: FrameRing, width: Int, height: Int, previous: SquareCrop?) throws -> SquareCrop {
        switch options.crop {
        case .centre:
            return SquareCrop.centre(frameWidth: width, frameHeight: height)
        case .box(let x0, let y0, let x1, let y1):
            return SquareCrop.around((x0, y0, x1, y1), frameWidth: width, frameHeight: height, margin: options.margin)
        case .motion:
            var motion = MotionAccumulator(width: width, height: height)
            for i in 0..<ring.count { try ring.withFrame(i) { try motion.add($0) } }
            let current = try motion.box().map {
                SquareCrop.around($0, frameWidth: width, frameHeight: height, margin: options.margin)
            } ?? SquareCrop.centre(frameWidth: width, frameHeight: height)
            guard let previous else { return current }
            let a = options.cropSmoothing
            func blend(_ p: Double, _ c: Double) -> Double { p + a * (c - p) }
            let side = blend(Double(previous.side), Double(current.side))
            let cx = blend(Double(previous.x0) + Double(previous.side) / 2, Double(current.x0) + Double(current.side) / 2)
            let cy = blend(Double(previous.y0) + Double(previous.side) / 2, Double(current.y0) + Double(current.side) / 2)
            return SquareCrop.around((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), frameWidth: width,
                                     frameHeight: height, margin: 0)
        }
    }
}
