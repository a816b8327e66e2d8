// NN: max pooling and global average pooling over (D, H, W).

/// `MaxPool3d(kernel, stride, padding)` with PyTorch semantics (padding counts as −∞, floor output size).
/// Input [N, C, D, H, W] → output [N, C, D', H', W'], D' = (D + 2·pD − kD) / sD + 1.
public final class MaxPool3d: Layer, CompactingLayer {
    public let kernel: [Int], stride: [Int], padding: [Int]
    /// Return fresh outputs (bf16 training; see `CompactingLayer`); backward needs only the argmax either way.
    public var compactActivations = false
    // Cache for backward: the input shape and, per output element, the flat index of its maximum in its plane.
    private var inputShape: [Int] = []
    private var argmax: [Int32] = []
    private var output: Tensor?

    public init(kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0, 0]) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        guard s.count == 5 else { throw NNError("MaxPool3d", "expects [N, C, D, H, W], got \(s)") }
        var o: [Int] = []
        for i in 0..<3 {
            let span: Int = s[2 + i] + 2 * padding[i] - kernel[i]
            o.append(span < 0 ? 0 : span / stride[i] + 1)
        }
        guard o.allSatisfy({ $0 > 0 }) else { throw NNError("MaxPool3d", "input \(s) smaller than kernel \(kernel)") }
        return Array(s[0..<2]) + o
    }

    /// When false, every shape takes the general window loop (the reference the tests compare the fast path with).
    public var allowsFastPath = true

    /// C3D's pool: 1×2×2 windows, stride 1×2×2, no padding.
    private var isSpatialPair: Bool { kernel == [1, 2, 2] && stride == [1, 2, 2] && padding == [0, 0, 0] }

    /// x: [N, C, D, H, W]; returns [N, C, D', H', W'].
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let os = try outputShape(x.shape)
        let y = compactActivations ? Tensor(uninitializedShape: os) : workspace(&output, os)
        inputShape = x.shape
        if allowsFastPath && isSpatialPair {
            forwardSpatialPair(x, y)
            return y
        }
        let (d, h, w) = (x.shape[2], x.shape[3], x.shape[4])
        let (od, oh, ow) = (os[2], os[3], os[4])
        let planeIn = d * h * w, planeOut = od * oh * ow
        if argmax.count != y.count { argmax = [Int32](repeating: 0, count: y.count) }
        let k = kernel, st = stride, pd = padding, xp = x.data, yp = y.data
        argmax.withUnsafeMutableBufferPointer { am in
            let ap = am.baseAddress!
            parallelFor(os[0] * os[1]) { plane in
                let src = xp + plane * planeIn
                var o = plane * planeOut
                for z in 0..<od { for yy in 0..<oh { for xx in 0..<ow {
                    var best = -Float.infinity, bestIndex = -1
                    for a in 0..<k[0] {
                        let iz = z * st[0] - pd[0] + a
                        if iz < 0 || iz >= d { continue }
                        for b in 0..<k[1] {
                            let iy = yy * st[1] - pd[1] + b
                            if iy < 0 || iy >= h { continue }
                            for e in 0..<k[2] {
                                let ix = xx * st[2] - pd[2] + e
                                if ix < 0 || ix >= w { continue }
                                let i = (iz * h + iy) * w + ix
                                let v = src[i]
                                if v > best || bestIndex < 0 || v.isNaN { best = v; bestIndex = i }
                            }
                        }
                    }
                    yp[o] = best
                    ap[o] = Int32(bestIndex)
                    o += 1
                } } }
            }
        }
        return y
    }

    /// Fast path of `forward` for 1×2×2 windows: each output row reads two input rows, no bounds checks.
    private func forwardSpatialPair(_ x: Tensor, _ y: Tensor) {
        let (d, h, w) = (x.shape[2], x.shape[3], x.shape[4])
        let (oh, ow) = (y.shape[3], y.shape[4])
        if argmax.count != y.count { argmax = [Int32](repeating: 0, count: y.count) }
        let xp = x.data, yp = y.data
        argmax.withUnsafeMutableBufferPointer { am in
            let ap = am.baseAddress!
            parallelFor(x.shape[0] * x.shape[1] * d) { frame in
                let src = xp + frame * h * w, dst = yp + frame * oh * ow, idx = ap + frame * oh * ow
                let base = (frame % d) * h * w  // index within the (N, C) plane, as the general loop records it
                for i in 0..<oh {
                    let r0 = src + 2 * i * w, r1 = r0 + w
                    for j in 0..<ow {
                        // Same scan order and rules as the general loop: (0,0), (0,1), (1,0), (1,1); the first maximum wins, a
                        // NaN always does (PyTorch propagates NaN).
                        var best = r0[2 * j], at = 2 * i * w + 2 * j
                        if r0[2 * j + 1] > best || r0[2 * j + 1].isNaN { best = r0[2 * j + 1]; at = 2 * i * w + 2 * j + 1 }
                        if r1[2 * j] > best || r1[2 * j].isNaN { best = r1[2 * j]; at = (2 * i + 1) * w + 2 * j }
                        if r1[2 * j + 1] > best || r1[2 * j + 1].isNaN { best = r1[2 * j + 1]; at = (2 * i + 1) * w + 2 * j + 1 }
                        dst[i * ow + j] = best
                        idx[i * ow + j] = Int32(base + at)
                    }
                }
            }
        }
    }

    /// dY: [N, C, D', H', W']; returns dX [N, C, D, H, W] with each dY routed to its window's maximum.
    public func backward(_ dY: Tensor, inputGradient: Bool) throws -> Tensor? {
        guard !inputShape.isEmpty else { throw NNError("MaxPool3d", "backward before forward") }
        guard inputGradient else { return nil }
        guard dY.count == argmax.count else { throw NNError("MaxPool3d", "dY shape \(dY.shape) does not match forward") }
        let dx = Tensor(uninitializedShape: inputShape)
        let planeIn = inputShape[2] * inputShape[3] * inputShape[4]
        let planeOut = dY.count / max(1, inputShape[0] * inputShape[1])
        let dxp = dx.data, dyp = dY.data
        argmax.withUnsafeBufferPointer { am in
            let ap = am.baseAddress!
            parallelFor(inputShape[0] * inputShape[1]) { plane in
                let dst = dxp + plane * planeIn
                dst.update(repeating: 0, count: planeIn)
                for o in (plane * planeOut)..<((plane + 1) * planeOut) { dst[Int(ap[o])] += dyp[o] }
            }
        }
        return dx
    }
}

/// Global average pooling (`AdaptiveAvgPool3d(1)` + flatten): [N, C, D, H, W] → [N, C].
public final class GlobalAvgPool3d: Layer {
    // Cache for backward: the input shape.
    private var inputShape: [Int] = []
    private var output: Tensor?

    public init() {}

    /// x: [N, C, D, H, W]; returns [N, C], the mean over D, H, W.
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        guard x.shape.count == 5 else { throw NNError("GlobalAvgPool3d", "expects [N, C, D, H, W], got \(x.shape)") }
        inputShape = x.shape
        let y = workspace(&output, [x.shape[0], x.shape[1]])
        let s = x.shape[2] * x.shape[3] * x.shape[4], xp = x.data, yp = y.data
        parallelFor(y.count) { r in
            let row = xp + r * s
            var acc: Double = 0
            for j in 0..<s { acc += Double(row[j]) }
            yp[r] = Float(acc / Double(s))
        }
        return y
    }

    /// dY: [N, C]; returns dX [N, C, D, H, W] = dY / (D·H·W) broadcast.
    public func backward(_ dY: Tensor, inputGradient: Bool) throws -> Tensor? {
        guard !inputShape.isEmpty else { throw NNError("GlobalAvgPool3d", "backward before forward") }
        guard inputGradient else { return nil }
        let dx = Tensor(uninitializedShape: inputShape)
        let s = inputShape[2] * inputShape[3] * inputShape[4], dxp = dx.data, dyp = dY.data
        parallelFor(dY.count) { r in
            let v = dyp[r] / Float(s)
            (dxp + r * s).update(repeating: v, count: s)
        }
        return dx
    }
}
