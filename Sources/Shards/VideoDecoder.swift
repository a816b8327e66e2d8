// Shards: decoding a video file into RGB frames with FFmpeg, one frame at a time, so that a long video never has
// to fit in memory: the caller crops and resizes each kept frame inside the callback.
import CFFmpeg
import Foundation
import Support

/// An FFmpeg failure on one file, with the call that failed, FFmpeg's own text for the code and a hint.
public struct VideoError: Error, CustomStringConvertible, Sendable {
    public let path: String
    /// The FFmpeg call or step that failed, e.g. "avformat_open_input".
    public let operation: String
    /// FFmpeg's return code (negative AVERROR), 0 when the failure is not an FFmpeg code.
    public let code: Int32
    /// av_strerror's text for `code`, or a plain explanation.
    public let message: String
    public let hint: String

    public init(path: String, operation: String, code: Int32, message: String? = nil, hint: String) {
        self.path = path; self.operation = operation; self.code = code
        self.message = message ?? VideoError.text(for: code)
        self.hint = hint
    }

    /// av_strerror's text for an FFmpeg return code.
    public static func text(for code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        cffmpeg_error_string(code, &buffer, buffer.count)
        return String(cChars: buffer)
    }

    public var description: String { "\(path): \(operation) failed: \(message) (\(hint))" }
}

/// What the decoder learned about a video while reading it.
public struct VideoInfo: Sendable, Equatable {
    /// Source frame size in pixels.
    public var width: Int
    public var height: Int
    /// Frames per second as the container reports it (av_guess_frame_rate); 0 when unknown.
    public var fps: Double
    /// Frames decoded from the start of the stream (stops early once past the end of the range).
    public var decodedFrames: Int
    /// Frames handed to the callback.
    public var keptFrames: Int
    /// Seconds per unit of the stream's timestamps.
    public var timeBase: Double = 0
}

/// One decoded frame of `VideoDecoder.stream`, valid only inside the callback.
public struct StreamFrame {
    /// Interleaved RGB24, [height, width, 3], row-major without padding.
    public var rgb: UnsafeBufferPointer<UInt8>
    public var width: Int
    public var height: Int
    /// 1-based position in the stream.
    public var number: Int
    /// Presentation time in seconds (the frame's best-effort timestamp; (number − 1) / fps when it has none).
    public var timestamp: Double
}

/// Which frames of a video to keep: a 1-based inclusive range (WLASL's `frame_start`/`frame_end`, with
/// `end == -1` meaning "to the end of the video") and every `stride`-th frame of it, starting with `start`.
public struct FrameSelection: Sendable, Equatable {
    public var start: Int
    public var end: Int
    public var stride: Int

    public init(start: Int = 1, end: Int = -1, stride: Int = 1) {
        precondition(start >= 1 && stride >= 1 && (end == -1 || end >= 1), "frame range is 1-based, stride >= 1")
        self.start = start; self.end = end; self.stride = stride
    }

    /// Whether the 1-based frame `number` is kept.
    public func keeps(_ number: Int) -> Bool {
        number >= start && (end < 0 || number <= end) && (number - start) % stride == 0
    }

    /// Whether no frame after `number` can be kept.
    public func isPastEnd(_ number: Int) -> Bool { end >= 0 && number >= end }
}

public enum VideoDecoder {
    /// Decodes the best video stream of `path` (any container and codec this FFmpeg opens) and calls `body` with
    /// each kept frame as interleaved RGB24, `[H, W, 3]` row-major with no row padding, and its 1-based frame number.
    /// The buffer is reused for the next frame: copy or consume it inside `body`.
    ///
    /// - Parameter threads: decoder threads; 1 when the caller already decodes several files in parallel.
    /// - Throws: `VideoError` for any FFmpeg failure, or whatever `body` throws.
    @discardableResult
    public static func decode(path: String, selection: FrameSelection = FrameSelection(), threads: Int = 1,
                              body: (UnsafeBufferPointer<UInt8>, _ width: Int, _ height: Int, _ frameNumber: Int) throws -> Void)
        throws -> VideoInfo
    {
        let converter = RGBConverter(path: path)
        return try decodeFrames(path: path, selection: selection, threads: threads) { frame, number in
            let rgb = try converter.convert(frame)
            try body(rgb, Int(frame.pointee.width), Int(frame.pointee.height), number)
        }
    }

    /// Decodes a file or a stream URL (rtsp://, http://, udp://: anything FFmpeg opens) from its start, calling
    /// `opened` once with its size and rate before the first frame, then `body` with every frame until the stream
    /// ends or `body` returns false. A network stream that sends nothing for 10 seconds ends with an error.
    /// - Throws: `VideoError` for any FFmpeg failure, or whatever the callbacks throw.
    @discardableResult
    public static func stream(_ location: String, threads: Int = 1, opened: (VideoInfo) throws -> Void,
                              body: (StreamFrame) throws -> Bool) throws -> VideoInfo {
        let converter = RGBConverter(path: location)
        var timeBase = 0.0, fps = 0.0
        return try withoutActuallyEscaping(opened) { opened in
            try decodeFrames(path: location, threads: threads, opened: { info in
                timeBase = info.timeBase; fps = info.fps
                try opened(info)
            }) { frame, number in
            let rgb = try converter.convert(frame)
            let pts = frame.pointee.best_effort_timestamp
            let timestamp = pts != cffmpeg_nopts_value() && timeBase > 0 ? Double(pts) * timeBase
                                                                     : Double(number - 1) / max(fps, 1)
            return try body(StreamFrame(rgb: rgb, width: Int(frame.pointee.width), height: Int(frame.pointee.height),
                                        number: number, timestamp: timestamp))
            }
        }
    }

    /// Whether `location` names a URL for FFmpeg's network protocols rather than a file.
    public static func isURL(_ location: String) -> Bool {
        guard let scheme = location.range(of: "://") else { return false }
        return location[..<scheme.lowerBound].allSatisfy { $0.isLetter || $0.isNumber || $0 == "+" } && scheme.lowerBound != location.startIndex
    }

    /// Decodes like `decode`, but hands `body` each kept frame as the decoder made it (its own pixel format and
    /// planes), so that the caller converts only what it keeps. The frame is unreferenced after `body` returns:
    /// `av_frame_clone` it to hold it longer.
    @discardableResult
    static func decodeFrames(path: String, selection: FrameSelection = FrameSelection(), threads: Int = 1,
                             body: (UnsafeMutablePointer<AVFrame>, _ frameNumber: Int) throws -> Void) throws -> VideoInfo {
        try decodeFrames(path: path, selection: selection, threads: threads, opened: nil) { frame, number in
            try body(frame, number)
            return true
        }
    }

    /// `decodeFrames` with an `opened` callback (size, rate and time base, before the first frame) and a `body`
    /// that returns false to stop early. `path` may be a URL (see `isURL`).
    static func decodeFrames(path: String, selection: FrameSelection = FrameSelection(), threads: Int = 1,
                             opened: ((VideoInfo) throws -> Void)?,
                             body: (UnsafeMutablePointer<AVFrame>, _ frameNumber: Int) throws -> Bool) throws -> VideoInfo {
        FFmpegLog.quiet
        func fail(_ operation: String, _ code: Int32, _ hint: String) -> VideoError {
            VideoError(path: path, operation: operation, code: code, hint: hint)
        }
        let url = isURL(path)
        guard url || FileManager.default.fileExists(atPath: path) else {
            throw VideoError(path: path, operation: "open", code: 0, message: "no such file",
                             hint: "check the videos directory and the file name")
        }
        var format: UnsafeMutablePointer<AVFormatContext>? = nil
        var options: OpaquePointer? = nil
        // A network stream that stops sending ends the read instead of blocking forever (microseconds).
        if url { av_dict_set(&options, "rw_timeout", "10000000", 0) }
        var rc = avformat_open_input(&format, path, nil, &options)
        av_dict_free(&options)
        guard rc >= 0, let fmt = format else {
            throw fail("avformat_open_input", rc, url ? "the stream cannot be reached or FFmpeg has no protocol for it"
                                                      : "the file is not a container FFmpeg recognises, or is unreadable")
        }
        defer { avformat_close_input(&format) }
        rc = avformat_find_stream_info(fmt, nil)
        guard rc >= 0 else { throw fail("avformat_find_stream_info", rc, "the file is truncated or corrupt") }

        var codec: UnsafePointer<AVCodec>? = nil
        let streamIndex = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0)
        guard streamIndex >= 0, let decoder = codec, let stream = fmt.pointee.streams[Int(streamIndex)] else {
            throw fail("av_find_best_stream", streamIndex, "the file has no video stream this FFmpeg can decode")
        }
        var context = avcodec_alloc_context3(decoder)
        guard let ctx = context else {
            throw VideoError(path: path, operation: "avcodec_alloc_context3", code: 0, message: "out of memory",
                             hint: "free some memory")
        }
        defer { avcodec_free_context(&context) }
        rc = avcodec_parameters_to_context(ctx, stream.pointee.codecpar)
        guard rc >= 0 else { throw fail("avcodec_parameters_to_context", rc, "the stream's parameters are invalid") }
        // FFmpeg's own choice of frame and/or slice threads; its decoders give the same pixels for any count.
        ctx.pointee.thread_count = Int32(max(1, threads))
        rc = avcodec_open2(ctx, decoder, nil)
        guard rc >= 0 else { throw fail("avcodec_open2", rc, "the decoder refused the stream") }

        let rate = av_guess_frame_rate(fmt, stream, nil)
        var info = VideoInfo(width: Int(ctx.pointee.width), height: Int(ctx.pointee.height),
                             fps: rate.den > 0 && rate.num > 0 ? av_q2d(rate) : 0, decodedFrames: 0, keptFrames: 0,
                             timeBase: av_q2d(stream.pointee.time_base))
        try opened?(info)

        var packet = av_packet_alloc()
        defer { av_packet_free(&packet) }
        var frame = av_frame_alloc()
        defer { av_frame_free(&frame) }
        guard let pkt = packet, let frm = frame else {
            throw VideoError(path: path, operation: "av_packet_alloc", code: 0, message: "out of memory", hint: "free some memory")
        }
        var done = false

        // Receives every frame the decoder has ready; sets `done` once the selection's end is passed.
        func drain() throws {
            while !done {
                let r = avcodec_receive_frame(ctx, frm)
                if r == cffmpeg_error_eagain() || r == cffmpeg_error_eof() { return }
                guard r >= 0 else { throw fail("avcodec_receive_frame", r, "the video data is corrupt") }
                defer { av_frame_unref(frm) }
                info.decodedFrames += 1
                let number = info.decodedFrames
                if selection.keeps(number) {
                    let w = Int(frm.pointee.width), h = Int(frm.pointee.height)
                    guard w > 0, h > 0, AVPixelFormat(rawValue: frm.pointee.format) != AV_PIX_FMT_NONE else {
                        throw fail("avcodec_receive_frame", 0, "a decoded frame has no size or pixel format")
                    }
                    info.width = w; info.height = h
                    info.keptFrames += 1
                    if try !body(frm, number) { done = true }
                }
                if selection.isPastEnd(number) { done = true }
            }
        }

        while !done {
            rc = av_read_frame(fmt, pkt)
            if rc == cffmpeg_error_eof() { break }
            guard rc >= 0 else { throw fail("av_read_frame", rc, "the file is truncated or corrupt") }
            defer { av_packet_unref(pkt) }
            guard pkt.pointee.stream_index == streamIndex else { continue }
            rc = avcodec_send_packet(ctx, pkt)
            guard rc >= 0 || rc == cffmpeg_error_eagain() else {
                throw fail("avcodec_send_packet", rc, "the video data is corrupt")
            }
            try drain()
        }
        if !done {
            // Flush: a nil packet asks the decoder for the frames it still holds (B-frame reordering, frame threads).
            rc = avcodec_send_packet(ctx, nil)
            guard rc >= 0 || rc == cffmpeg_error_eof() else { throw fail("avcodec_send_packet", rc, "flushing the decoder failed") }
            try drain()
        }
        guard info.decodedFrames > 0 else {
            throw VideoError(path: path, operation: "decode", code: 0, message: "no frame could be decoded",
                             hint: "the file is empty, truncated or corrupt")
        }
        return info
    }
}

/// Whole decoded frames to interleaved RGB24 `[H, W, 3]`: the plain reference conversion every other path is
/// measured against. One reusable buffer and one cached swscale context, freed with the converter.
final class RGBConverter {
    let path: String
    private var scaler: OpaquePointer? = nil
    private var rgb = UnsafeMutableBufferPointer<UInt8>(start: nil, count: 0)

    init(path: String) { self.path = path }

    deinit {
        sws_freeContext(scaler)
        rgb.deallocate()
    }

    /// The frame as RGB24; valid until the next call.
    func convert(_ frame: UnsafePointer<AVFrame>) throws -> UnsafeBufferPointer<UInt8> {
        let w = Int(frame.pointee.width), h = Int(frame.pointee.height)
        // Bilinear chroma upsampling with accurate rounding: the conversion the shards have always been built with.
        scaler = sws_getCachedContext(scaler, Int32(w), Int32(h), AVPixelFormat(rawValue: frame.pointee.format),
                                      Int32(w), Int32(h), AV_PIX_FMT_RGB24, SWS_BILINEAR | SWS_ACCURATE_RND, nil, nil, nil)
        guard scaler != nil else {
            throw VideoError(path: path, operation: "sws_getCachedContext", code: 0,
                             hint: "no conversion from this pixel format to RGB24")
        }
        if rgb.count != w * h * 3 {
            rgb.deallocate()
            rgb = .allocate(capacity: w * h * 3)
        }
        let planes = FramePlanes(frame)
        var dst: [UnsafeMutablePointer<UInt8>?] = [rgb.baseAddress, nil, nil, nil]
        var dstStride: [Int32] = [Int32(w * 3), 0, 0, 0]
        let lines = sws_scale(scaler, planes.data, planes.linesize, 0, Int32(h), &dst, &dstStride)
        guard lines == Int32(h) else {
            throw VideoError(path: path, operation: "sws_scale", code: min(lines, 0), hint: "colour conversion failed or was incomplete")
        }
        return UnsafeBufferPointer(rgb)
    }
}

/// An AVFrame's plane pointers and strides as the arrays swscale takes (Swift sees them as fixed-size tuples).
struct FramePlanes {
    var data: [UnsafePointer<UInt8>?]
    var linesize: [Int32]

    init(_ frame: UnsafePointer<AVFrame>) {
        data = withUnsafeBytes(of: frame.pointee.data) { Array($0.bindMemory(to: UnsafePointer<UInt8>?.self)) }
        linesize = withUnsafeBytes(of: frame.pointee.linesize) { Array($0.bindMemory(to: Int32.self)) }
    }
}
