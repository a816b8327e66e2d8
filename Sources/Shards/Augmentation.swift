// Shards: turning a clip's uint8 frames into the network's Float32 input `[3, T, S, S]` (C, D, H, W of NCDHW),
// with training augmentation whose random parameters are drawn once per clip and applied to every frame.
//
// Geometry (random resized crop, horizontal flip, rotation about the crop centre) is one inverse affine map from
// output to source pixels, sampled bilinearly (no antialiasing, edges clamped); its four taps and weights are
// computed once per clip and reused for every frame. Then colour jitter (brightness, contrast, saturation, in that
// fixed order), Gaussian blur, and normalization. All randomness comes from `SeededRandom(keys: seed, epoch,
// globalIndex)`, so a clip's augmentation does not depend on the rank that loads it. Never reverses time.
import Foundation
import Support

/// Per-channel mean and standard deviation, RGB, of pixel values scaled to [0, 1].
public struct Normalization: Sendable, Equatable {
    public var mean: [Float]
    public var std: [Float]
    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == 3 && std.count == 3 && std.allSatisfy { $0 > 0 }, "3 means, 3 positive stds")
        self.mean = mean; self.std = std
    }
    /// Kinetics-400's, which torchvision's pretrained video models expect.
    public static let kinetics400 = Normalization(mean: [0.43216, 0.394666, 0.37645], std: [0.22803, 0.22145, 0.216989])
}

/// Training augmentation parameters. Every transform is temporally consistent: drawn once per clip.
public struct AugmentationConfig: Sendable, Equatable {
    /// Random resized crop: fraction of the frame's area, and aspect ratio (w/h) range, as torchvision's.
    public var scale: ClosedRange<Double> = 0.6...1.0
    public var ratio: ClosedRange<Double> = (3.0 / 4.0)...(4.0 / 3.0)
    /// Off by default: mirroring swaps the signing hand, which changes some signs.
    public var horizontalFlipProbability: Double = 0
    /// Colour jitter: factors drawn from [max(0, 1 - x), 1 + x]; 0 disables.
    public var brightness: Double = 0.2
    public var contrast: Double = 0.2
    public var saturation: Double = 0.2
    /// Rotation angle drawn from [-x, x] degrees; 0 disables.
    public var rotationDegrees: Double = 10
    /// Gaussian blur with this probability, sigma drawn from `blurSigma` (pixels of the output).
    public var blurProbability: Double = 0.2
    public var blurSigma: ClosedRange<Double> = 0.1...1.5

    public init() {}

    /// No augmentation at all: crop the whole frame (resized to the crop size), nothing else.
    public static var none: AugmentationConfig {
        var c = AugmentationConfig()
        c.scale = 1...1; c.ratio = 1...1; c.brightness = 0; c.contrast = 0; c.saturation = 0
        c.rotationDegrees = 0; c.blurProbability = 0
        return c
    }
}

/// How a clip becomes network input. `training` selects random windows and augmentation; evaluation uses the
/// centred window (or `evaluationClips` evenly spaced windows) and a centre crop.
public struct ClipTransform: Sendable, Equatable {
    public var temporal: TemporalSampling
    /// S: output frames are S × S.
    public var cropSize: Int
    public var training: Bool
    public var augmentation: AugmentationConfig
    public var normalization: Normalization
    /// K windows per clip in evaluation (multi-clip testing); 1 in training.
    public var evaluationClips: Int
    public var seed: UInt64

    public init(temporal: TemporalSampling, cropSize: Int = 112, training: Bool, augmentation: AugmentationConfig = .init(),
                normalization: Normalization = .kinetics400, evaluationClips: Int = 1, seed: UInt64 = 0) {
        precondition(cropSize >= 1 && evaluationClips >= 1, "crop size and evaluation clips must be at least 1")
        self.temporal = temporal; self.cropSize = cropSize; self.training = training
        self.augmentation = augmentation; self.normalization = normalization
        self.evaluationClips = training ? 1 : evaluationClips; self.seed = seed
    }

    /// Input windows produced per clip: K in evaluation, 1 in training.
    public var windowsPerClip: Int { training ? 1 : evaluationClips }

    /// Floats per window, `3 × T × S × S`.
    public var floatsPerWindow: Int { 3 * temporal.frames * cropSize * cropSize }

    /// The random stream of clip `index` in `epoch`.
    public func rng(epoch: Int, index: Int) -> SeededRandom {
        SeededRandom(keys: seed, UInt64(truncatingIfNeeded: epoch), UInt64(truncatingIfNeeded: index))
    }

    /// The frame windows of a clip of `frameCount` frames: `windowsPerClip` arrays of T indices. Draws from `rng`
    /// in training.
    public func windows(frameCount: Int, rng: inout SeededRandom) -> [[Int]] {
        training ? [temporal.trainingIndices(frameCount: frameCount, rng: &rng)]
                 : temporal.evaluationWindows(frameCount: frameCount, count: evaluationClips)
    }

    /// Reads clip `index` through `reader` and writes `windowsPerClip × [3, T, S, S]` floats to `output`.
    /// `scratch` is the caller's reusable frame buffer. Only the frame range the windows span is read.
    public func load(index: Int, epoch: Int, reader: ShardReader, scratch: inout [UInt8],
                     into output: UnsafeMutableBufferPointer<Float>) throws {
        precondition(output.count >= windowsPerClip * floatsPerWindow, "output too small")
        var rng = rng(epoch: epoch, index: index)
        let frameCount = reader.dataset.frameCount(index)
        let windows = windows(frameCount: frameCount, rng: &rng)
        let first = windows.map { $0.min()! }.min()!, last = windows.map { $0.max()! }.max()!
        try reader.readFrames(index, frames: first..<(last + 1), into: &scratch)
        let h = reader.dataset.height, w = reader.dataset.width
        scratch.withUnsafeBufferPointer { frames in
            for (k, window) in windows.enumerated() {
                let out = UnsafeMutableBufferPointer(rebasing: output[(k * floatsPerWindow)..<((k + 1) * floatsPerWindow)])
                // Every window of a clip gets the same spatial parameters: copy the stream.
                var windowRng = rng
                apply(frames: frames, height: h, width: w, indices: window.map { $0 - first }, rng: &windowRng, into: out)
            }
        }
    }

    /// Transforms frames `indices` of `frames` (`[F, height, width, 3]` uint8 RGB) into `[3, T, S, S]` floats,
    /// normalized. In training, draws the augmentation parameters from `rng` (once for the whole clip); in
    /// evaluation takes the exact centre crop (or resizes the shorter side to S first when a side is below S).
    public func apply(frames: UnsafeBufferPointer<UInt8>, height: Int, width: Int, indices: [Int],
                      rng: inout SeededRandom, into out: UnsafeMutableBufferPointer<Float>) {
        let s = cropSize, t = indices.count, plane = s * s
        precondition(t == temporal.frames && out.count >= 3 * t * plane, "output is [3, T, S, S]")
        precondition(indices.allSatisfy { $0 >= 0 && ($0 + 1) * height * width * 3 <= frames.count }, "frame index out of range")
        if training {
            apply(frames: frames, height: height, width: width, indices: indices,
                  parameters: drawParameters(height: height, width: width, rng: &rng), into: out)
        } else if height >= s && width >= s {
            // An exact centre crop, no resampling.
            let y0 = (height - s) / 2, x0 = (width - s) / 2, frameBytes = height * width * 3
            for (ti, f) in indices.enumerated() {
                for y in 0..<s {
                    for x in 0..<s {
                        let src = f * frameBytes + ((y0 + y) * width + (x0 + x)) * 3
                        for c in 0..<3 { out[c * t * plane + ti * plane + y * s + x] = Float(frames[src + c]) * (1 / 255) }
                    }
                }
            }
            normalize(out, t: t)
        } else {
            apply(frames: frames, height: height, width: width, indices: indices,
                  parameters: .centre(height: height, width: width), into: out)
        }
    }

    /// Draws one clip's augmentation parameters from `rng`, in a fixed order: crop (torchvision's RandomResizedCrop
    /// sampling: 10 tries, else the largest centred crop within the ratio range), flip, angle, brightness, contrast,
    /// saturation, blur. Every draw happens whether or not its transform is enabled, so the stream never shifts.
    public func drawParameters(height: Int, width: Int, rng: inout SeededRandom) -> AugmentationParameters {
        let a = augmentation
        let area = Double(height * width)
        var crop: (w: Double, h: Double, cx: Double, cy: Double)?
        let logLo = log(a.ratio.lowerBound), logHi = log(a.ratio.upperBound)
        for _ in 0..<10 {
            let target = area * (a.scale.lowerBound + (a.scale.upperBound - a.scale.lowerBound) * rng.nextDouble())
            let ratio = exp(logLo + (logHi - logLo) * rng.nextDouble())
            let w = (target * ratio).squareRoot().rounded(), h = (target / ratio).squareRoot().rounded()
            if w > 0, h > 0, w <= Double(width), h <= Double(height) {
                let x0 = (rng.nextDouble() * (Double(width) - w + 1)).rounded(.down)
                let y0 = (rng.nextDouble() * (Double(height) - h + 1)).rounded(.down)
                crop = (w, h, x0 + w / 2, y0 + h / 2)
                break
            }
        }
        if crop == nil {
            let inRatio = Double(width) / Double(height)
            var w = Double(width), h = Double(height)
            if inRatio < a.ratio.lowerBound { h = (w / a.ratio.lowerBound).rounded() }
            else if inRatio > a.ratio.upperBound { w = (h * a.ratio.upperBound).rounded() }
            crop = (w, h, Double(width) / 2, Double(height) / 2)
        }
        let flip = rng.nextDouble() < a.horizontalFlipProbability
        let angle = (rng.nextDouble() * 2 - 1) * a.rotationDegrees * Double.pi / 180
        func factor(_ x: Double) -> Float {
            let u = rng.nextDouble()
            return x > 0 ? Float(max(0, 1 - x) + (1 + x - max(0, 1 - x)) * u) : 1
        }
        let b = factor(a.brightness), c = factor(a.contrast), sat = factor(a.saturation)
        let fire = rng.nextDouble() < a.blurProbability
        let sigma = a.blurSigma.lowerBound + (a.blurSigma.upperBound - a.blurSigma.lowerBound) * rng.nextDouble()
        let k = crop!
        return AugmentationParameters(centreX: k.cx, centreY: k.cy, cropWidth: k.w, cropHeight: k.h, flip: flip,
                                      angle: angle, brightness: b, contrast: c, saturation: sat,
                                      blurSigma: fire && sigma > 0 ? sigma : nil)
    }

    /// Applies `p` to frames `indices` of `frames` (`[F, height, width, 3]` uint8) giving `[3, T, S, S]` normalized
    /// floats: bilinear geometry through a tap table built once, colour jitter, separable blur, normalization.
    public func apply(frames: UnsafeBufferPointer<UInt8>, height: Int, width: Int, indices: [Int],
                      parameters p: AugmentationParameters, into out: UnsafeMutableBufferPointer<Float>) {
        let s = cropSize, t = indices.count, plane = s * s, n = t * plane
        precondition(out.count >= 3 * n, "output is [3, T, S, S]")
        let taps = BilinearTaps(p, size: s, height: height, width: width)
        for (ti, f) in indices.enumerated() {
            taps.sample(frames, base: f * height * width * 3, into: out, offset: ti * plane, channelStride: n)
        }
        // Colour jitter in fixed order brightness → contrast → saturation, clamping to [0, 1] after each.
        if p.brightness != 1 { for i in 0..<(3 * n) { out[i] = min(max(out[i] * p.brightness, 0), 1) } }
        if p.contrast != 1 {
            // Grey mean over the whole clip, so one clip gets one contrast map (torchvision uses each image's own).
            var sum: Double = 0
            for i in 0..<n { sum += Double(0.299 * out[i] + 0.587 * out[n + i] + 0.114 * out[2 * n + i]) }
            let m = Float(sum / Double(n)) * (1 - p.contrast)
            for i in 0..<(3 * n) { out[i] = min(max(out[i] * p.contrast + m, 0), 1) }
        }
        if p.saturation != 1 {
            for i in 0..<n {
                let grey = (0.299 * out[i] + 0.587 * out[n + i] + 0.114 * out[2 * n + i]) * (1 - p.saturation)
                for c in 0..<3 { out[c * n + i] = min(max(out[c * n + i] * p.saturation + grey, 0), 1) }
            }
        }
        if let sigma = p.blurSigma { gaussianBlur(out, planes: 3 * t, size: s, sigma: sigma) }
        normalize(out, t: t)
    }

    /// The plain version of `apply(…parameters:…)`, for tests: source point and bilinear weights recomputed for every
    /// pixel of every frame, colour jitter per pixel, blur as a direct 2-D convolution. Same shapes and result.
    public func applyReference(frames: UnsafeBufferPointer<UInt8>, height: Int, width: Int, indices: [Int],
                               parameters p: AugmentationParameters, into out: UnsafeMutableBufferPointer<Float>) {
        let s = cropSize, t = indices.count, n = t * s * s
        func at(_ f: Int, _ y: Int, _ x: Int, _ c: Int) -> Double { Double(frames[((f * height + y) * width + x) * 3 + c]) }
        var img = [Double](repeating: 0, count: 3 * n)  // [3, T, S, S]
        for (ti, f) in indices.enumerated() {
            for y in 0..<s {
                for x in 0..<s {
                    var u = (Double(x) + 0.5 - Double(s) / 2) * p.cropWidth / Double(s)
                    let v = (Double(y) + 0.5 - Double(s) / 2) * p.cropHeight / Double(s)
                    if p.flip { u = -u }
                    let sx = min(max(p.centreX + cos(p.angle) * u - sin(p.angle) * v - 0.5, 0), Double(width - 1))
                    let sy = min(max(p.centreY + sin(p.angle) * u + cos(p.angle) * v - 0.5, 0), Double(height - 1))
                    let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                    let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
                    let fx = sx - Double(x0), fy = sy - Double(y0)
                    for c in 0..<3 {
                        let top = at(f, y0, x0, c) * (1 - fx) + at(f, y0, x1, c) * fx
                        let bottom = at(f, y1, x0, c) * (1 - fx) + at(f, y1, x1, c) * fx
                        img[((c * t + ti) * s + y) * s + x] = (top * (1 - fy) + bottom * fy) / 255
                    }
                }
            }
        }
        func clamp(_ v: Double) -> Double { min(max(v, 0), 1) }
        func grey(_ i: Int) -> Double { 0.299 * img[i] + 0.587 * img[n + i] + 0.114 * img[2 * n + i] }
        let b = Double(p.brightness), cf = Double(p.contrast), sf = Double(p.saturation)
        if b != 1 { img = img.map { clamp($0 * b) } }
        if cf != 1 {
            let mean = (0..<n).map(grey).reduce(0, +) / Double(n)
            img = img.map { clamp(cf * $0 + (1 - cf) * mean) }
        }
        if sf != 1 {
            for i in 0..<n {
                let g = grey(i)
                for c in 0..<3 { img[c * n + i] = clamp(sf * img[c * n + i] + (1 - sf) * g) }
            }
        }
        if let sigma = p.blurSigma {
            let r = min(Int((3 * sigma).rounded(.up)), s - 1)
            let w1 = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
            let total = w1.reduce(0, +)
            func reflect(_ i: Int) -> Int { i < 0 ? -i : (i >= s ? 2 * (s - 1) - i : i) }
            var blurred = img
            for plane in 0..<(3 * t) where r >= 1 {
                for y in 0..<s {
                    for x in 0..<s {
                        var acc = 0.0
                        for dy in -r...r {
                            for dx in -r...r {
                                acc += w1[dy + r] * w1[dx + r] * img[(plane * s + reflect(y + dy)) * s + reflect(x + dx)]
                            }
                        }
                        blurred[(plane * s + y) * s + x] = acc / (total * total)
                    }
                }
            }
            img = blurred
        }
        for c in 0..<3 {
            for i in 0..<n {
                out[c * n + i] = Float((img[c * n + i] - Double(normalization.mean[c])) / Double(normalization.std[c]))
            }
        }
    }

    private func normalize(_ out: UnsafeMutableBufferPointer<Float>, t: Int) {
        let n = t * cropSize * cropSize
        for c in 0..<3 {
            let m = normalization.mean[c], inv = 1 / normalization.std[c]
            for i in (c * n)..<((c + 1) * n) { out[i] = (out[i] - m) * inv }
        }
    }
}

/// One clip's augmentation, drawn once and applied to every frame.
///
/// Output pixel (x, y) of the S × S result samples the stored frame at
/// centre + R(angle) · (±(x + ½ − S/2) · cropWidth / S, (y + ½ − S/2) · cropHeight / S) in pixel-centre coordinates
/// (− when flipped), bilinearly, with coordinates clamped to the frame.
public struct AugmentationParameters: Sendable, Equatable {
    /// Crop box centre and size, in stored-frame pixels.
    public var centreX: Double, centreY: Double, cropWidth: Double, cropHeight: Double
    public var flip: Bool
    /// Rotation about the crop centre, radians.
    public var angle: Double
    /// Colour jitter factors; 1 leaves the clip unchanged.
    public var brightness: Float, contrast: Float, saturation: Float
    /// Gaussian blur sigma in output pixels; nil for no blur.
    public var blurSigma: Double?

    public init(centreX: Double, centreY: Double, cropWidth: Double, cropHeight: Double, flip: Bool = false,
                angle: Double = 0, brightness: Float = 1, contrast: Float = 1, saturation: Float = 1,
                blurSigma: Double? = nil) {
        self.centreX = centreX; self.centreY = centreY; self.cropWidth = cropWidth; self.cropHeight = cropHeight
        self.flip = flip; self.angle = angle; self.brightness = brightness; self.contrast = contrast
        self.saturation = saturation; self.blurSigma = blurSigma
    }

    /// The centred square of the shorter side: resize the shorter side to S, keep the centre S × S.
    public static func centre(height: Int, width: Int) -> AugmentationParameters {
        let side = Double(min(height, width))
        return AugmentationParameters(centreX: Double(width) / 2, centreY: Double(height) / 2, cropWidth: side,
                                      cropHeight: side)
    }
}

/// The four source taps and weights of every output pixel, computed once per clip.
struct BilinearTaps {
    let size: Int
    /// Byte offsets within a frame of the four taps, `[S*S*4]`.
    var offsets: [Int32]
    /// Weights of the four taps, `[S*S*4]`.
    var weights: [Float]

    init(_ g: AugmentationParameters, size: Int, height: Int, width: Int) {
        self.size = size
        offsets = [Int32](repeating: 0, count: size * size * 4)
        weights = [Float](repeating: 0, count: size * size * 4)
        let cosA = cos(g.angle), sinA = sin(g.angle), half = Double(size) / 2
        let scaleX = g.cropWidth / Double(size), scaleY = g.cropHeight / Double(size)
        for y in 0..<size {
            for x in 0..<size {
                var u = (Double(x) + 0.5 - half) * scaleX
                let v = (Double(y) + 0.5 - half) * scaleY
                if g.flip { u = -u }
                // Source coordinates with pixel centres at integers.
                let sx = min(max(g.centreX + cosA * u - sinA * v - 0.5, 0), Double(width - 1))
                let sy = min(max(g.centreY + sinA * u + cosA * v - 0.5, 0), Double(height - 1))
                let x0 = Int(sx), y0 = Int(sy)
                let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
                let fx = Float(sx - Double(x0)), fy = Float(sy - Double(y0))
                let k = (y * size + x) * 4
                offsets[k] = Int32((y0 * width + x0) * 3); offsets[k + 1] = Int32((y0 * width + x1) * 3)
                offsets[k + 2] = Int32((y1 * width + x0) * 3); offsets[k + 3] = Int32((y1 * width + x1) * 3)
                weights[k] = (1 - fx) * (1 - fy); weights[k + 1] = fx * (1 - fy)
                weights[k + 2] = (1 - fx) * fy; weights[k + 3] = fx * fy
            }
        }
    }

    /// Samples the frame starting at byte `base` of `frames` into `out[c * channelStride + offset + y * S + x]`,
    /// values scaled to [0, 1].
    func sample(_ frames: UnsafeBufferPointer<UInt8>, base: Int, into out: UnsafeMutableBufferPointer<Float>,
                offset: Int, channelStride: Int) {
        offsets.withUnsafeBufferPointer { o in
            weights.withUnsafeBufferPointer { w in
                for p in 0..<(size * size) {
                    let k = p * 4
                    for c in 0..<3 {
                        let v = w[k] * Float(frames[base + Int(o[k]) + c]) + w[k + 1] * Float(frames[base + Int(o[k + 1]) + c])
                            + w[k + 2] * Float(frames[base + Int(o[k + 2]) + c]) + w[k + 3] * Float(frames[base + Int(o[k + 3]) + c])
                        out[c * channelStride + offset + p] = v * (1 / 255)
                    }
                }
            }
        }
    }
}

/// Separable Gaussian blur of `planes` S × S planes in place, reflecting at the borders (as torchvision does).
/// Kernel radius ⌈3σ⌉, capped at S − 1. Each row or column is first copied into a reflect-padded line so the
/// inner loop has no border tests.
func gaussianBlur(_ data: UnsafeMutableBufferPointer<Float>, planes: Int, size s: Int, sigma: Double) {
    let radius = min(Int((3 * sigma).rounded(.up)), s - 1)
    guard radius >= 1 else { return }
    var kernel = (-radius...radius).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
    let total = kernel.reduce(0, +)
    kernel = kernel.map { $0 / total }
    func reflect(_ i: Int) -> Int { i < 0 ? -i : (i >= s ? 2 * (s - 1) - i : i) }
    let source = (0..<(s + 2 * radius)).map { reflect($0 - radius) }
    var padded = [Float](repeating: 0, count: s + 2 * radius)
    kernel.withUnsafeBufferPointer { k in
        padded.withUnsafeMutableBufferPointer { line in
            // One line (a row when step is 1, a column when step is S) starting at `start`.
            func blurLine(_ start: Int, step: Int) {
                for i in 0..<line.count { line[i] = data[start + source[i] * step] }
                for x in 0..<s {
                    var acc: Float = 0
                    for j in 0..<k.count { acc += k[j] * line[x + j] }
                    data[start + x * step] = acc
                }
            }
            for p in 0..<planes {
                let base = p * s * s
                for y in 0..<s { blurLine(base + y * s, step: 1) }
                for x in 0..<s { blurLine(base + x, step: s) }
            }
        }
    }
}
