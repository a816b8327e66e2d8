// Shards: writing RGB frames to an H.264 MP4 with FFmpeg (libx264, yuv420p), for the synthetic data set, for
// the annotated output of live recognition and for tests that need real encoded videos. Falls back to MPEG-4 part 2
// when this FFmpeg has no libx264.
import CFFmpeg
import Foundation

/// Encodes frames one at a time into a video file whose container is chosen from the file extension.
///
/// Timestamps count frames in a `1/fps` time base and are rescaled to the stream's time base, so that `ffprobe`
/// and the `ffmpeg` program read the file with the right frame count and rate.
public final class VideoEncoder {
    public let path: String
    public let width: Int
    public let height: Int
    /// Frames per second (a rational such as 30000/1001 is kept exactly as the nearest fraction of `fps`).
    public let fps: Double
    /// The encoder actually used: "libx264" or the fallback "mpeg4".
    public let codecName: String

    private var format: UnsafeMutablePointer<AVFormatContext>?
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private var stream: UnsafeMutablePointer<AVStream>
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var scaler: OpaquePointer?
    private var nextPTS: Int64 = 0
    private var finished = false
    private var headerWritten = false

    /// Opens `path` for writing at a whole number of frames per second; see `init(path:width:height:frameRate:...)`.
    public convenience init(path: String, width: Int, height: Int, fps: Int, quality: Int = 20, container: String? = nil) throws {
        try self.init(path: path, width: width, height: height, frameRate: Double(fps), quality: quality, container: container)
    }

    /// FFmpeg's short name of the container for the extension of `path` ("mp4" for .mp4, "matroska" for .mkv),
    /// or nil when FFmpeg knows no container for it. For writing to a temporary name with another extension.
    public static func containerName(forExtensionOf path: String) -> String? {
        guard let format = av_guess_format(nil, path, nil), let name = format.pointee.name else { return nil }
        return String(cString: name)
    }

    /// Opens `path` for writing.
    /// - Parameters:
    ///   - width, height: frame size in pixels; must be even (yuv420p halves the chroma planes).
    ///   - frameRate: frames per second, positive; the time base is its nearest fraction (29.97 → 30000/1001).
    ///   - quality: x264's constant rate factor (0 lossless … 51 worst); MPEG-4 gets a matching fixed quantiser.
    ///   - container: FFmpeg's short name of the container ("mp4"); nil chooses it from the extension of `path`.
    /// - Throws: `VideoError` when the container, encoder or file cannot be opened.
    public init(path: String, width: Int, height: Int, frameRate: Double, quality: Int = 20, container: String? = nil) throws {
        FFmpegLog.quiet
        precondition(width > 0 && height > 0 && width % 2 == 0 && height % 2 == 0, "yuv420p needs an even frame size")
        precondition(frameRate > 0 && frameRate.isFinite, "the frame rate must be positive")
        self.path = path; self.width = width; self.height = height; self.fps = frameRate
        let rate = av_d2q(frameRate, 1_000_000)
        func fail(_ operation: String, _ code: Int32, _ hint: String) -> VideoError {
            VideoError(path: path, operation: operation, code: code, hint: hint)
        }
        var fmt: UnsafeMutablePointer<AVFormatContext>? = nil
        var rc = avformat_alloc_output_context2(&fmt, nil, container, path)
        guard rc >= 0, let fmt else { throw fail("avformat_alloc_output_context2", rc, "use a known extension such as .mp4") }
        format = fmt
        var codec = avcodec_find_encoder_by_name("libx264")
        var name = "libx264"
        if codec == nil { codec = avcodec_find_encoder_by_name("mpeg4"); name = "mpeg4" }
        codecName = name
        guard let codec else {
            avformat_free_context(fmt)
            throw VideoError(path: path, operation: "avcodec_find_encoder_by_name", code: 0,
                             message: "neither libx264 nor mpeg4 is available", hint: "install an FFmpeg with libx264")
        }
        guard let st = avformat_new_stream(fmt, nil), let ctx = avcodec_alloc_context3(codec) else {
            avformat_free_context(fmt)
            throw VideoError(path: path, operation: "avformat_new_stream", code: 0, message: "out of memory", hint: "free some memory")
        }
        stream = st
        context = ctx
        ctx.pointee.width = Int32(width)
        ctx.pointee.height = Int32(height)
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        ctx.pointee.time_base = AVRational(num: rate.den, den: rate.num)
        ctx.pointee.framerate = rate
        ctx.pointee.gop_size = 12
        ctx.pointee.thread_count = 1
        if name == "libx264" {
            for (key, value) in [("preset", "veryfast"), ("crf", "\(quality)")] {
                rc = av_opt_set(ctx.pointee.priv_data, key, value, 0)
                guard rc >= 0 else { throw fail("av_opt_set(\(key)=\(value))", rc, "this libx264 refuses the option") }
            }
        } else {
            // MPEG-4 part 2 has no CRF: a fixed quantiser (2 best … 31 worst) scaled from the same 0…51 range.
            ctx.pointee.flags |= Int32(AV_CODEC_FLAG_QSCALE)
            ctx.pointee.global_quality = Int32(FF_QP2LAMBDA) * Int32(max(2, min(31, quality * 31 / 51)))
        }
        if fmt.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            ctx.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
        }
        // From here on deinit frees whatever was allocated.
        rc = avcodec_open2(ctx, codec, nil)
        guard rc >= 0 else { throw fail("avcodec_open2", rc, "the encoder refused these settings") }
        rc = avcodec_parameters_from_context(st.pointee.codecpar, ctx)
        guard rc >= 0 else { throw fail("avcodec_parameters_from_context", rc, "internal FFmpeg error") }
        st.pointee.time_base = ctx.pointee.time_base
        st.pointee.avg_frame_rate = ctx.pointee.framerate

        guard let frm = av_frame_alloc(), let pkt = av_packet_alloc() else {
            throw VideoError(path: path, operation: "av_frame_alloc", code: 0, message: "out of memory", hint: "free some memory")
        }
        frame = frm; packet = pkt
        frm.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        frm.pointee.width = Int32(width)
        frm.pointee.height = Int32(height)
        rc = av_frame_get_buffer(frm, 0)
        guard rc >= 0 else { throw fail("av_frame_get_buffer", rc, "out of memory") }
        scaler = sws_getContext(Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height),
                                AV_PIX_FMT_YUV420P, SWS_BILINEAR | SWS_ACCURATE_RND, nil, nil, nil)
        guard scaler != nil else { throw fail("sws_getContext", 0, "no conversion from RGB24 to yuv420p") }

        if fmt.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            rc = avio_open(&fmt.pointee.pb, path, AVIO_FLAG_WRITE)
            guard rc >= 0 else { throw fail("avio_open", rc, "the directory is missing or not writable") }
        }
        rc = avformat_write_header(fmt, nil)
        guard rc >= 0 else { throw fail("avformat_write_header", rc, "the container refused the stream") }
        headerWritten = true
    }

    /// Encodes one frame: interleaved RGB24, `[H, W, 3]` row-major, `height * width * 3` bytes.
    public func append(rgb: UnsafeBufferPointer<UInt8>) throws {
        precondition(!finished, "append after finish")
        precondition(rgb.count == width * height * 3, "frame must be H×W×3 bytes")
        guard let frm = frame, let ctx = context else { return }
        var rc = av_frame_make_writable(frm)
        guard rc >= 0 else { throw VideoError(path: path, operation: "av_frame_make_writable", code: rc, hint: "out of memory") }
        var src: [UnsafePointer<UInt8>?] = [rgb.baseAddress, nil, nil, nil]
        var srcStride: [Int32] = [Int32(width * 3), 0, 0, 0]
        let lines = withUnsafeMutablePointer(to: &frm.pointee.data) { dataTuple in
            dataTuple.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { dst in
                withUnsafePointer(to: &frm.pointee.linesize) { strideTuple in
                    strideTuple.withMemoryRebound(to: Int32.self, capacity: 8) { dstStride in
                        sws_scale(scaler, &src, &srcStride, 0, Int32(height), dst, dstStride)
                    }
                }
            }
        }
        guard lines == Int32(height) else {
            throw VideoError(path: path, operation: "sws_scale", code: lines, hint: "colour conversion failed")
        }
        frm.pointee.pts = nextPTS
        nextPTS += 1
        rc = avcodec_send_frame(ctx, frm)
        guard rc >= 0 else { throw VideoError(path: path, operation: "avcodec_send_frame", code: rc, hint: "the encoder failed") }
        try writePackets()
    }

    /// Convenience for a whole `[F, H, W, 3]` clip.
    public func append(frames: [UInt8]) throws {
        let size = width * height * 3
        precondition(frames.count % size == 0, "frames must be F×H×W×3 bytes")
        try frames.withUnsafeBufferPointer { all in
            for f in 0..<(frames.count / size) {
                try append(rgb: UnsafeBufferPointer(rebasing: all[(f * size)..<((f + 1) * size)]))
            }
        }
    }

    /// Flushes the encoder, writes the container trailer and closes the file. Call exactly once.
    public func finish() throws {
        precondition(!finished, "finish called twice")
        finished = true
        guard let ctx = context, let fmt = format else { return }
        var rc = avcodec_send_frame(ctx, nil)
        guard rc >= 0 || rc == cffmpeg_error_eof() else {
            throw VideoError(path: path, operation: "avcodec_send_frame", code: rc, hint: "flushing the encoder failed")
        }
        try writePackets()
        rc = av_write_trailer(fmt)
        guard rc >= 0 else { throw VideoError(path: path, operation: "av_write_trailer", code: rc, hint: "the disk may be full") }
    }

    /// Moves every packet the encoder has ready into the container, timestamps rescaled to the stream's time base.
    private func writePackets() throws {
        guard let ctx = context, let fmt = format, let pkt = packet else { return }
        while true {
            var rc = avcodec_receive_packet(ctx, pkt)
            if rc == cffmpeg_error_eagain() || rc == cffmpeg_error_eof() { return }
            guard rc >= 0 else { throw VideoError(path: path, operation: "avcodec_receive_packet", code: rc, hint: "the encoder failed") }
            av_packet_rescale_ts(pkt, ctx.pointee.time_base, stream.pointee.time_base)
            pkt.pointee.stream_index = stream.pointee.index
            rc = av_interleaved_write_frame(fmt, pkt)  // takes ownership of the packet's data and unrefs it
            guard rc >= 0 else { throw VideoError(path: path, operation: "av_interleaved_write_frame", code: rc, hint: "the disk may be full") }
        }
    }

    deinit {
        if let fmt = format {
            if headerWritten && !finished { _ = av_write_trailer(fmt) }
            if fmt.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 && fmt.pointee.pb != nil { avio_closep(&fmt.pointee.pb) }
            avformat_free_context(fmt)
        }
        avcodec_free_context(&context)
        av_frame_free(&frame)
        av_packet_free(&packet)
        sws_freeContext(scaler)
    }
}
