// Shards: the hand-centric crop — one square box per clip (the same for every frame), from WLASL's bbox, from the
// motion across the clip, from a file of boxes, or the centre square — and the area resize and image files through
// OpenCV.
import CVBridge
import Foundation
import Support

/// Where a clip's crop box comes from.
public enum HandCropMode: Equatable, Sendable, CustomStringConvertible {
    /// The source's own box (WLASL's `bbox` [x0, y0, x1, y1] in source pixels); the centre square when absent.
    case bbox
    /// The region that moves across the clip (grey frame differences, thresholded and cleaned up by morphology);
    /// the centre square when nothing moves.
    case motion
    /// The centre square of the frame.
    case none
    /// Boxes computed elsewhere (e.g. by a hand detector), JSON `{clip_id: [x0, y0, x1, y1]}` in source pixels;
    /// the centre square for a clip the file does not list.
    case boxes(path: String)

    /// Parses `bbox`, `motion`, `none` or `boxes:FILE`.
    public init(parsing text: String) throws {
        switch text {
        case "bbox": self = .bbox
        case "motion": self = .motion
        case "none": self = .none
        default:
            guard text.hasPrefix("boxes:"), text.count > "boxes:".count else {
                throw ShardSourceError(path: text, reason: "unknown hand crop mode",
                                       hint: "use bbox, motion, none or boxes:FILE")
            }
            self = .boxes(path: String(text.dropFirst("boxes:".count)))
        }
    }

    public var description: String {
        switch self {
        case .bbox: return "bbox"
        case .motion: return "motion"
        case .none: return "none"
        case .boxes(let path): return "boxes:\(path)"
        }
    }
}

/// A square region of a source frame in pixels, `[x0, x0 + side) × [y0, y0 + side)`. It may stick out of the frame
/// when the frame is narrower than the square; those pixels are black.
public struct SquareCrop: Equatable, Sendable, CustomStringConvertible {
    public var x0: Int
    public var y0: Int
    public var side: Int

    public init(x0: Int, y0: Int, side: Int) {
        precondition(side > 0, "a crop needs a positive side")
        self.x0 = x0; self.y0 = y0; self.side = side
    }

    /// The square around `box` (x0, y0, x1, y1 in source pixels): side = the box's longer edge × (1 + 2 × margin),
    /// at most the frame's longer edge; moved to lie inside the frame where it fits, centred (and padded black)
    /// along an edge shorter than the side.
    public static func around(_ box: (Double, Double, Double, Double), frameWidth w: Int, frameHeight h: Int,
                              margin: Double) -> SquareCrop {
        let bx0 = min(box.0, box.2), bx1 = max(box.0, box.2), by0 = min(box.1, box.3), by1 = max(box.1, box.3)
        let cx = (bx0 + bx1) / 2, cy = (by0 + by1) / 2
        var side = Int((max(bx1 - bx0, by1 - by0) * (1 + 2 * margin)).rounded())
        side = max(1, min(side, max(w, h)))
        func place(_ centre: Double, _ extent: Int) -> Int {
            if side >= extent { return (extent - side) / 2 }  // centred; (extent - side) ≤ 0 pads both sides
            return min(max(Int((centre - Double(side) / 2).rounded()), 0), extent - side)
        }
        return SquareCrop(x0: place(cx, w), y0: place(cy, h), side: side)
    }

    /// The largest centred square of the frame.
    public static func centre(frameWidth w: Int, frameHeight h: Int) -> SquareCrop {
        let side = min(w, h)
        return SquareCrop(x0: (w - side) / 2, y0: (h - side) / 2, side: side)
    }

    /// x0, y0, x1, y1 (exclusive) as stored with each clip.
    public var box: (Float, Float, Float, Float) { (Float(x0), Float(y0), Float(x0 + side), Float(y0 + side)) }

    public var description: String { "[\(x0), \(y0), \(x0 + side), \(y0 + side)]" }
}

/// A failure inside OpenCV, or an image it could not read.
public struct ImageError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let operation: String
    public let code: Int32
    public let hint: String
    public var description: String { "\(path): \(operation) failed (CVBridge code \(code)): \(hint)" }
}

public enum ImageOps {
    /// Resizes `src` `[srcH, srcW, 3]` to `[dstH, dstW, 3]` with OpenCV's area interpolation.
    public static func resizeArea(_ src: [UInt8], height srcH: Int, width srcW: Int, toHeight dstH: Int, width dstW: Int)
        throws -> [UInt8]
    {
        precondition(src.count == srcH * srcW * 3, "src must be H×W×3 bytes")
        var out = [UInt8](repeating: 0, count: dstH * dstW * 3)
        let rc = out.withUnsafeMutableBufferPointer { o in
            cvbridge_resize_area(src, Int32(srcH), Int32(srcW), o.baseAddress, Int32(dstH), Int32(dstW))
        }
        guard rc == 0 else { throw ImageError(path: "<memory>", operation: "cvbridge_resize_area", code: rc, hint: "invalid sizes") }
        return out
    }

    /// The plain reference for `resizeArea` when shrinking: each output pixel is the mean of the source pixels
    /// weighted by how much of each lies inside the output pixel's footprint, rounded half up.
    /// Shapes: `[srcH, srcW, 3]` → `[dstH, dstW, 3]`, dstH ≤ srcH, dstW ≤ srcW.
    public static func resizeAreaReference(_ src: [UInt8], height srcH: Int, width srcW: Int,
                                           toHeight dstH: Int, width dstW: Int) -> [UInt8] {
        precondition(dstH <= srcH && dstW <= srcW, "the reference covers shrinking only")
        // Overlap of source cell [i, i+1) with output cell [o·s, (o+1)·s).
        func weights(_ n: Int, _ m: Int) -> [[(Int, Double)]] {
            let s = Double(n) / Double(m)
            return (0..<m).map { o in
                let a = Double(o) * s, b = Double(o + 1) * s
                return (Int(a.rounded(.down))..<min(n, Int(b.rounded(.up)))).compactMap { i in
                    let w = min(b, Double(i + 1)) - max(a, Double(i))
                    return w > 1e-12 ? (i, w / s) : nil
                }
            }
        }
        let wy = weights(srcH, dstH), wx = weights(srcW, dstW)
        var out = [UInt8](repeating: 0, count: dstH * dstW * 3)
        for oy in 0..<dstH {
            for ox in 0..<dstW {
                for c in 0..<3 {
                    var sum = 0.0
                    for (y, fy) in wy[oy] { for (x, fx) in wx[ox] { sum += fy * fx * Double(src[(y * srcW + x) * 3 + c]) } }
                    out[(oy * dstW + ox) * 3 + c] = UInt8(min(255, max(0, (sum + 0.5).rounded(.down))))
                }
            }
        }
        return out
    }

    /// Crops `crop` out of `rgb` `[height, width, 3]` (black outside the frame) and area-resizes it into `out`
    /// `[size, size, 3]`.
    public static func cropResize(_ rgb: UnsafeBufferPointer<UInt8>, width: Int, height: Int, crop: SquareCrop,
                                  size: Int, into out: UnsafeMutableBufferPointer<UInt8>) throws {
        precondition(rgb.count >= width * height * 3 && out.count >= size * size * 3, "buffer sizes")
        let rc = cvbridge_crop_resize_area(rgb.baseAddress, Int32(height), Int32(width), Int32(crop.x0), Int32(crop.y0),
                                           Int32(crop.side), out.baseAddress, Int32(size))
        guard rc == 0 else {
            throw ImageError(path: "<frame>", operation: "cvbridge_crop_resize_area", code: rc, hint: "crop \(crop) of \(width)×\(height)")
        }
    }

    /// Reads an image file as RGB `[height, width, 3]`.
    public static func readRGB(path: String) throws -> (pixels: [UInt8], width: Int, height: Int) {
        var pixels: UnsafeMutablePointer<UInt8>? = nil
        var h: Int32 = 0, w: Int32 = 0
        let rc = cvbridge_imread_rgb(path, &pixels, &h, &w)
        guard rc == 0, let p = pixels else {
            throw ImageError(path: path, operation: "cvbridge_imread_rgb", code: rc,
                             hint: rc == -3 ? "missing, unreadable or not an image" : "OpenCV failed")
        }
        defer { cvbridge_free(p) }
        return (Array(UnsafeBufferPointer(start: p, count: Int(h) * Int(w) * 3)), Int(w), Int(h))
    }

    /// Encodes RGB `[height, width, 3]` as the bytes of an image file whose format the extension names (`png`, `jpg`,
    /// any other OpenCV writes); JPEG at `jpegQuality` (0-100).
    public static func encodeRGB(_ rgb: [UInt8], width: Int, height: Int, fileExtension: String,
                                 jpegQuality: Int = 95) throws -> Data {
        precondition(rgb.count == width * height * 3, "rgb must be height×width×3 bytes")
        var bytes: UnsafeMutablePointer<UInt8>? = nil
        var count = 0
        let rc = cvbridge_imencode_rgb("." + fileExtension, rgb, Int32(height), Int32(width), Int32(jpegQuality), &bytes, &count)
        guard rc == 0, let b = bytes else {
            throw ImageError(path: "<\(fileExtension) image>", operation: "cvbridge_imencode_rgb", code: rc,
                             hint: rc == -4 ? "OpenCV has no encoder for .\(fileExtension)" : "invalid size \(width)×\(height)")
        }
        defer { cvbridge_free(b) }
        return Data(bytes: b, count: count)
    }

    /// Writes RGB `[height, width, 3]` to `path` atomically, in the format its extension names (see `encodeRGB`).
    public static func writeRGB(_ rgb: [UInt8], width: Int, height: Int, to path: String, jpegQuality: Int = 95) throws {
        let data: Data
        do {
            data = try encodeRGB(rgb, width: width, height: height, fileExtension: (path as NSString).pathExtension.lowercased(),
                                 jpegQuality: jpegQuality)
        } catch let e as ImageError {
            throw ImageError(path: path, operation: e.operation, code: e.code, hint: e.hint)
        }
        try AtomicFile.write(data, to: path)
    }
}

/// Accumulates grey-level motion over the frames of one clip and finds the box around what moves.
public struct MotionAccumulator {
    public let width: Int
    public let height: Int
    private var previous: [UInt8]
    private var accumulator: [Float]
    public private(set) var pairs = 0
    private var frames = 0

    public init(width: Int, height: Int) {
        self.width = width; self.height = height
        previous = [UInt8](repeating: 0, count: width * height)
        accumulator = [Float](repeating: 0, count: width * height)
    }

    /// Adds one frame `[height, width, 3]` RGB.
    public mutating func add(_ rgb: UnsafeBufferPointer<UInt8>) throws {
        let first: Int32 = frames == 0 ? 1 : 0
        let rc = previous.withUnsafeMutableBufferPointer { p in
            accumulator.withUnsafeMutableBufferPointer { a in
                cvbridge_motion_accumulate(rgb.baseAddress, Int32(height), Int32(width), p.baseAddress, a.baseAddress, first)
            }
        }
        guard rc == 0 else { throw ImageError(path: "<frame>", operation: "cvbridge_motion_accumulate", code: rc, hint: "frame size changed?") }
        if frames > 0 { pairs += 1 }
        frames += 1
    }

    /// The box (x0, y0, x1, y1) around pixels moving more than `threshold` grey levels per frame on average, or nil
    /// when nothing does.
    public func box(threshold: Float = 6, minAreaFraction: Float = 0.002) throws -> (Double, Double, Double, Double)? {
        var b = [Int32](repeating: 0, count: 4)
        let rc = cvbridge_motion_box(accumulator, Int32(height), Int32(width), Int32(pairs), threshold, minAreaFraction, &b)
        guard rc >= 0 else { throw ImageError(path: "<clip>", operation: "cvbridge_motion_box", code: rc, hint: "OpenCV failed") }
        return rc == 1 ? (Double(b[0]), Double(b[1]), Double(b[2]), Double(b[3])) : nil
    }
}
