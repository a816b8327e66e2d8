// Shards: the fast way from a decoded frame to a `size × size` RGB crop — swscale crops the clip's square straight
// from the decoded planes and area-scales it, so that only the kept pixels are ever converted. The plain reference
// (the whole frame to RGB, then OpenCV's area crop-resize) stays beside it; tests hold the two within
// `FrameCropScaler.tolerance`.
//
// Two swscale passes, each chosen by measurement against the reference on H.264 content (see `tolerance`):
//  1. crop + SWS_AREA to YUV 4:4:4 at `size × size`: per plane this is OpenCV's INTER_AREA to within one level.
//  2. YUV → RGB24 with the reference's own converter. swscale picks its RGB writer from the input's chroma layout:
//     4:4:4 input forces the full-chroma writer, whose rounding sits 0.6–1.6 levels above the one the reference
//     uses for 4:2:0 and 4:2:2. So for those sources the 4:4:4 result is fed as 4:2:2 twice as wide, each luma
//     sample doubled, which selects the reference's writer, and every other output pixel is kept; sources without
//     horizontal subsampling (4:4:4, 4:4:0) were converted by the full-chroma writer and are fed as they are.
// Converting after averaging (instead of before) is the one difference left: rounding, and clipping where
// saturated colours meet (see `tolerance`).
import CFFmpeg
import Foundation

final class FrameCropScaler {
    /// |fused − reference| per channel value (mean over all values, max at any one), as the tests hold it. Measured
    /// on H.264 4:2:0 with every parity of crop offset and side:
    /// - camera-like content: a panned photo 1280×720 → 112, mean 0.82, max 13; smooth colour fields with a textured
    ///   disk 160×120 → 24, mean 1.0–1.34, max 16.
    /// - saturated synthetic patterns (FFmpeg's testsrc2, where pure colours meet and RGB clips): 1280×720 → 112
    ///   mean 1.1–1.4, max 64; 160×120 → 24 mean up to 3.7, max 112 at single pixels.
    static let tolerance = (camera: (mean: 1.5, max: 24), saturatedPatterns: (mean: 4.0, max: 128))

    /// Where the planes of one pixel format hold a pixel, for the formats the fused path takes: 8-bit YUV, planar
    /// or semi-planar, chroma subsampled by at most 2 each way. Nil for anything else (RGB, 10-bit, packed YUYV,
    /// 4:1:1, alpha, palettes, hardware frames).
    struct Layout: Equatable {
        /// log2 of the chroma subsampling, horizontal and vertical (0 or 1).
        var chromaShiftX: Int
        var chromaShiftY: Int
        /// Bytes per chroma sample in each plane (2 in NV12's interleaved plane), by plane index.
        var steps: [Int]
        /// Full-range YUV (the yuvj formats): the intermediate 4:4:4 and 4:2:2 must be full range too.
        var fullRange: Bool

        init?(_ format: AVPixelFormat) {
            guard let d = av_pix_fmt_desc_get(format)?.pointee else { return nil }
            let refused = UInt64(AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_HWACCEL
                                 | AV_PIX_FMT_FLAG_ALPHA | AV_PIX_FMT_FLAG_BAYER | AV_PIX_FMT_FLAG_FLOAT)
            guard d.nb_components == 3, d.flags & refused == 0, d.log2_chroma_w <= 1, d.log2_chroma_h <= 1 else { return nil }
            let comps = [d.comp.0, d.comp.1, d.comp.2]
            guard comps.allSatisfy({ $0.depth == 8 && $0.shift == 0 }), comps[0].plane == 0, comps[0].step == 1,
                  comps[1].plane != 0, comps[2].plane != 0 else { return nil }
            var steps = [1, 1, 1, 1]
            steps[Int(comps[1].plane)] = Int(comps[1].step)
            steps[Int(comps[2].plane)] = Int(comps[2].step)
            chromaShiftX = Int(d.log2_chroma_w); chromaShiftY = Int(d.log2_chroma_h)
            self.steps = steps
            fullRange = [AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_YUVJ440P].contains(format)
        }
    }

    private struct Key: Hashable { var side: Int32; var format: Int32; var size: Int32; var chromaX: Int32; var chromaY: Int32 }

    let path: String
    private var scalers: [Key: OpaquePointer] = [:]
    private var converter: OpaquePointer? = nil
    private var layouts: [Int32: Layout?] = [:]
    /// `[3, size, size]` planes after pass 1; `[size, 2 size]` doubled luma and `[size, 2 size, 3]` RGB for pass 2.
    private var yuv: [UInt8] = [], doubled: [UInt8] = [], wide: [UInt8] = []

    init(path: String) { self.path = path }

    deinit {
        for s in scalers.values { sws_freeContext(s) }
        sws_freeContext(converter)
    }

    /// Whether `crop` of `frame` can take the fused path: a format `Layout` accepts and a square inside the frame.
    func accepts(_ frame: UnsafePointer<AVFrame>, crop: SquareCrop) -> Bool {
        layout(frame.pointee.format) != nil && crop.x0 >= 0 && crop.y0 >= 0
            && crop.x0 + crop.side <= Int(frame.pointee.width) && crop.y0 + crop.side <= Int(frame.pointee.height)
    }

    /// Crops `crop` out of `frame` and area-scales it to RGB24 `[size, size, 3]` in `out`. The caller checks
    /// `accepts` first.
    func cropScale(_ frame: UnsafePointer<AVFrame>, crop: SquareCrop, size: Int, into out: UnsafeMutableBufferPointer<UInt8>) throws {
        guard let layout = layout(frame.pointee.format) else { preconditionFailure("check accepts(_:crop:) first") }
        precondition(out.count >= size * size * 3, "output buffer too small")
        let n = size * size
        if yuv.count != 3 * n { yuv = [UInt8](repeating: 0, count: 3 * n); doubled = [UInt8](repeating: 0, count: 2 * n); wide = [UInt8](repeating: 0, count: 6 * n) }

        // Pass 1: pointers to the square's first pixel in each plane; swscale reads `side` rows from there.
        let planes = FramePlanes(frame)
        var src = planes.data
        for p in 0..<4 where src[p] != nil {
            let luma = p == 0
            let x = luma ? crop.x0 : (crop.x0 >> layout.chromaShiftX) * layout.steps[p]
            let y = luma ? crop.y0 : crop.y0 >> layout.chromaShiftY
            src[p] = src[p]! + y * Int(planes.linesize[p]) + x
        }
        let scaler = try scaler(side: crop.side, format: frame.pointee.format, size: size, layout: layout,
                                chromaX: chromaPosition(shift: layout.chromaShiftX, offset: crop.x0, side: crop.side),
                                chromaY: chromaPosition(shift: layout.chromaShiftY, offset: crop.y0, side: crop.side))
        let lines = yuv.withUnsafeMutableBufferPointer { b -> Int32 in
            var dst: [UnsafeMutablePointer<UInt8>?] = [b.baseAddress, b.baseAddress! + n, b.baseAddress! + 2 * n, nil]
            var dstStride: [Int32] = [Int32(size), Int32(size), Int32(size), 0]
            return sws_scale(scaler, src, planes.linesize, 0, Int32(crop.side), &dst, &dstStride)
        }
        guard lines == Int32(size) else {
            throw VideoError(path: path, operation: "sws_scale", code: min(lines, 0), hint: "crop and area scale of \(crop) failed")
        }

        // Pass 2, with the writer the reference used: for horizontally subsampled sources, luma doubled into a 4:2:2
        // picture twice as wide (see the file comment) and every other pixel kept; else the 4:4:4 planes as they are.
        let doubling = layout.chromaShiftX == 1 ? 2 : 1
        let pass2Format = doubling == 2 ? (layout.fullRange ? AV_PIX_FMT_YUVJ422P : AV_PIX_FMT_YUV422P)
                                        : (layout.fullRange ? AV_PIX_FMT_YUVJ444P : AV_PIX_FMT_YUV444P)
        converter = sws_getCachedContext(converter, Int32(doubling * size), Int32(size), pass2Format,
                                         Int32(doubling * size), Int32(size), AV_PIX_FMT_RGB24, SWS_BILINEAR | SWS_ACCURATE_RND, nil, nil, nil)
        guard converter != nil else {
            throw VideoError(path: path, operation: "sws_getCachedContext", code: 0, hint: "no YUV 4:2:2 to RGB24 conversion")
        }
        let converted = yuv.withUnsafeBufferPointer { y in
            doubled.withUnsafeMutableBufferPointer { d in
                wide.withUnsafeMutableBufferPointer { w -> Int32 in
                    if doubling == 2 { for i in 0..<n { d[2 * i] = y[i]; d[2 * i + 1] = y[i] } }
                    let luma = doubling == 2 ? UnsafePointer(d.baseAddress) : y.baseAddress
                    let src: [UnsafePointer<UInt8>?] = [luma, y.baseAddress! + n, y.baseAddress! + 2 * n, nil]
                    let srcStride: [Int32] = [Int32(doubling * size), Int32(size), Int32(size), 0]
                    var dst: [UnsafeMutablePointer<UInt8>?] = [doubling == 2 ? w.baseAddress : out.baseAddress, nil, nil, nil]
                    var dstStride: [Int32] = [Int32(doubling * 3 * size), 0, 0, 0]
                    let lines = sws_scale(converter, src, srcStride, 0, Int32(size), &dst, &dstStride)
                    if doubling == 2 { for i in 0..<n { out[3 * i] = w[6 * i]; out[3 * i + 1] = w[6 * i + 1]; out[3 * i + 2] = w[6 * i + 2] } }
                    return lines
                }
            }
        }
        guard converted == Int32(size) else {
            throw VideoError(path: path, operation: "sws_scale", code: min(converted, 0), hint: "YUV to RGB conversion failed")
        }
    }

    /// swscale's `src_*_chr_pos` (1/256 luma pixel) for a crop starting at `offset` with `side` pixels, so that the
    /// cropped chroma lines up with the luma as it did in the whole frame (swscale assumes chroma centred between
    /// luma pairs). An odd offset starts inside a chroma sample: half a luma pixel earlier. An odd side makes
    /// swscale stretch ⌈side/2⌉ chroma samples over `side` luma pixels, up to one pixel off at the far edge; moving
    /// the chroma 3/4 pixel the other way halves that error (192: the best of 128, 192 and 256 on all four test
    /// contents). Nil: no subsampling, swscale's default is exact.
    private func chromaPosition(shift: Int, offset: Int, side: Int) -> Int32? {
        guard shift == 1 else { return nil }
        return Int32(128 + (side & 1 == 1 ? 192 : 0) - (offset & 1 == 1 ? 256 : 0))
    }

    private func layout(_ format: Int32) -> Layout? {
        if let known = layouts[format] { return known }
        let l = Layout(AVPixelFormat(rawValue: format))
        layouts[format] = l
        return l
    }

    /// The pass-1 context for one square side, pixel format, output size and chroma placement, made once.
    private func scaler(side: Int, format: Int32, size: Int, layout: Layout, chromaX: Int32?, chromaY: Int32?) throws -> OpaquePointer {
        let key = Key(side: Int32(side), format: format, size: Int32(size), chromaX: chromaX ?? -513, chromaY: chromaY ?? -513)
        if let s = scalers[key] { return s }
        guard let s = sws_alloc_context() else {
            throw VideoError(path: path, operation: "sws_alloc_context", code: 0, message: "out of memory", hint: "free some memory")
        }
        let options: [(String, Int64)] = [
            ("srcw", Int64(side)), ("srch", Int64(side)), ("src_format", Int64(format)),
            ("dstw", Int64(size)), ("dsth", Int64(size)),
            ("dst_format", Int64((layout.fullRange ? AV_PIX_FMT_YUVJ444P : AV_PIX_FMT_YUV444P).rawValue)),
            ("sws_flags", Int64(SWS_AREA | SWS_ACCURATE_RND)),
        ] + (chromaX.map { [("src_h_chr_pos", Int64($0))] } ?? []) + (chromaY.map { [("src_v_chr_pos", Int64($0))] } ?? [])
        for (name, value) in options {
            let rc = av_opt_set_int(UnsafeMutableRawPointer(s), name, value, 0)
            guard rc >= 0 else {
                sws_freeContext(s)
                throw VideoError(path: path, operation: "av_opt_set_int(\(name))", code: rc, hint: "this swscale lacks the option")
            }
        }
        let rc = sws_init_context(s, nil, nil)
        guard rc >= 0 else {
            sws_freeContext(s)
            throw VideoError(path: path, operation: "sws_init_context", code: rc, hint: "no area scale of a \(side)² crop to \(size)²")
        }
        scalers[key] = s
        return s
    }
}
