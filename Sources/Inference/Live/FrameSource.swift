// Inference: where live frames come from. A camera (OpenCV's capture) or a video file or stream URL (FFmpeg) sit
// behind one callback interface, so that the live loop never knows which; a new kind of source only adds a type here.
import CVBridge
import Foundation
import Shards

/// One frame of a source, valid only inside the callback that receives it.
public struct LiveFrame {
    /// Interleaved RGB, [height, width, 3].
    public var rgb: UnsafeBufferPointer<UInt8>
    public var width: Int
    public var height: Int
    /// 0-based position in the source.
    public var index: Int
    /// Seconds from the source's start (its timestamps for files and streams, the clock for a camera).
    public var timestamp: Double
}

/// What a source says about itself once open.
public struct LiveSourceInfo: Sendable {
    public var width: Int
    public var height: Int
    /// Frames per second as reported; 0 when the source reports none.
    public var fps: Double
}

/// A source of frames for live recognition.
public protocol FrameSource {
    /// How the source is named in messages.
    var name: String { get }
    /// True when frames arrive at their own pace (a camera, a network stream); false for a file, which is read as
    /// fast as the consumer takes its frames.
    var isLive: Bool { get }
    /// Opens the source, calls `opened` once, then `frame` for each frame until the source ends or `frame` returns
    /// false. Throws `PredictError` when the source cannot be opened or fails while reading.
    func run(opened: (LiveSourceInfo) throws -> Void, frame: (LiveFrame) throws -> Bool) throws
}

/// The source a `--live` argument names: digits are a camera index, `scheme://…` a stream URL, anything else a
/// video file. Throws `PredictError` for a file that does not exist.
public func liveSource(_ text: String) throws -> FrameSource {
    if let index = Int(text), index >= 0 { return CameraSource(index: index) }
    if VideoDecoder.isURL(text) { return VideoSource(location: text, isLive: true) }
    guard FileManager.default.fileExists(atPath: text) else {
        throw PredictError(path: text, "no such file",
                           hint: "--live takes a camera index (0), a video file or a stream URL (rtsp://, http://)")
    }
    return VideoSource(location: text, isLive: false)
}

/// A video file or network stream decoded with FFmpeg.
public struct VideoSource: FrameSource {
    public let location: String
    public let isLive: Bool
    public var name: String { location }

    public init(location: String, isLive: Bool) { self.location = location; self.isLive = isLive }

    /// A network stream whose connection breaks after its first frames ends the run cleanly (with a note on
    /// standard error), as its end would; a file that fails to decode is an error.
    public func run(opened: (LiveSourceInfo) throws -> Void, frame: (LiveFrame) throws -> Bool) throws {
        var delivered = 0
        do {
            try VideoDecoder.stream(location, threads: 2, opened: { info in
                try opened(LiveSourceInfo(width: info.width, height: info.height, fps: info.fps))
            }) { f in
                delivered += 1
                return try frame(LiveFrame(rgb: f.rgb, width: f.width, height: f.height, index: f.number - 1, timestamp: f.timestamp))
            }
        } catch let e as VideoError {
            if isLive && delivered > 0 && e.operation == "av_read_frame" {
                FileHandle.standardError.write(Data("note: \(location) broke off after \(delivered) frames (\(e.message)); ending there\n".utf8))
                return
            }
            let hint = isLive && e.operation != "avformat_open_input" ? "the stream broke off or is not a video FFmpeg can read (an MP4 over HTTP needs a server that "
                + "answers range requests; MPEG-TS streams need none)" : nil
            throw PredictError(e, path: location, hint: hint)
        }
    }
}

/// A camera opened through OpenCV's capture (V4L2 on Linux).
public struct CameraSource: FrameSource {
    public let index: Int
    public var name: String { "camera \(index)" }
    public var isLive: Bool { true }

    public init(index: Int) { self.index = index }

    public func run(opened: (LiveSourceInfo) throws -> Void, frame: (LiveFrame) throws -> Bool) throws {
        var width: Int32 = 0, height: Int32 = 0, fps: Double = 0
        guard let camera = cvbridge_camera_open(Int32(index), &width, &height, &fps) else {
            throw PredictError(path: name, "cannot open the camera",
                               hint: "check that the device exists (e.g. /dev/video\(index)), that no other program holds it "
                                   + "and that OpenCV has a video backend (V4L2, AVFoundation)")
        }
        defer { cvbridge_camera_close(camera) }
        try opened(LiveSourceInfo(width: Int(width), height: Int(height), fps: fps > 0 && fps < 1000 ? fps : 0))
        var rgb = [UInt8](repeating: 0, count: max(3, Int(width) * Int(height) * 3))
        let start = Date()
        var index = 0
        while true {
            var w: Int32 = 0, h: Int32 = 0
            var rc = cvbridge_camera_read(camera, &rgb, rgb.count, &w, &h)
            if rc == -1 && w > 0 && h > 0 {
                // The device changed its frame size: grow the buffer and read again.
                rgb = [UInt8](repeating: 0, count: Int(w) * Int(h) * 3)
                rc = cvbridge_camera_read(camera, &rgb, rgb.count, &w, &h)
            }
            guard rc >= 0 else { throw PredictError(path: name, "reading a frame failed (CVBridge code \(rc))") }
            guard rc == 1 else { return }
            let more = try rgb.withUnsafeBufferPointer {
                try frame(LiveFrame(rgb: UnsafeBufferPointer(rebasing: $0[0..<(Int(w) * Int(h) * 3)]), width: Int(w),
                                    height: Int(h), index: index, timestamp: Date().timeIntervalSince(start)))
            }
            guard more else { return }
            index += 1
        }
    }
}
