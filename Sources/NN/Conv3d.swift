// NN: 3-D convolution. Fast paths: Winograd F(2,3) for stride-1 "same" 3-tap convs (Winograd.swift), else vol2col +
// OpenBLAS sgemm per clip (col2vol for dX); a direct 7-loop reference beside them, which the tests use to check both
// fast paths on odd shapes. Every GEMM goes through `GEMM.multiply` in the layer's `precision`.
import Dispatch

/// `Conv3d(in, out, kernel, stride, padding, bias)` with PyTorch semantics (zero padding, no dilation, groups 1).
///
/// Input [N, in, D, H, W] → output [N, out, D', H', W'] with D' = (D + 2·pD − kD) / sD + 1 (same for H, W).
/// Weight [out, in, kD, kH, kW], bias [out].
public final class Conv3d: ParametricLayer, CompactingLayer {
    public let name: String
    public let inChannels: Int
    public let outChannels: Int
    /// (kD, kH, kW), (sD, sH, sW), (pD, pH, pW).
    public let kernel: [Int], stride: [Int], padding: [Int]
    public let weight: ParameterHandle
    public let bias: ParameterHandle?
    public var isFrozen = false
    public weak var tracker: GradientTracker?
    /// Multiply-adds ×2 of this layer's convolutions since the counter was last reset (forward and backward),
    /// counted as direct convolution (2·out·in·kernel volume per output) whichever algorithm ran, so that GFLOP/s
    /// compare with other frameworks' figures; Winograd does fewer.
    public var flops: Double = 0
    /// Which fast path runs: `.automatic` takes Winograd where it applies (see `winogradPlan`), else vol2col + sgemm.
    public var algorithm = ConvAlgorithm.automatic
    /// The arithmetic of this layer's GEMMs (forward, dX and dW); on the Winograd path the transformed tiles and
    /// weights are what is rounded to bf16.
    public var precision = Precision.fp32
    /// Keep the input in bf16 for backward and return fresh outputs (bf16 training; see `CompactingLayer`).
    public var compactActivations = false

    let store: ParameterStore
    // Cache for backward: the input, compact in bf16 training (the vol2col columns are recomputed per clip in
    // backward instead of saved, which would cost kD·kH·kW times the input's memory).
    private var input: Kept?
    private var output: Tensor?
    /// Where the per-clip columns live; a model shares one among all its convs (only one conv runs at a time),
    /// which at 16×112×112 clips saves about 100 MB per conv.
    public var scratch = ConvScratch()
    /// Floats of vol2col columns per chunk (4 Mi floats = 16 MiB, half this machine's 32 MiB L3); tests lower it to
    /// exercise chunking on small inputs.
    public var columnBudget = 4 << 20
    /// Floats of transformed tiles per Winograd chunk and worker (input and output transforms together), unless a
    /// chunk would then hold fewer than 256 tiles (see `winogradRowsPerChunk`). Tests lower it to exercise chunking.
    public var winogradBudget = 4 << 20

    /// Registers `name.weight` [out, in, kD, kH, kW] and, when `bias`, `name.bias` [out] in `store`.
    public init(store: ParameterStore, name: String, inChannels: Int, outChannels: Int, kernel: [Int],
                stride: [Int] = [1, 1, 1], padding: [Int] = [0, 0, 0], bias: Bool = false) {
        precondition(kernel.count == 3 && stride.count == 3 && padding.count == 3)
        self.store = store
        self.name = name
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        weight = store.register("\(name).weight", shape: [outChannels, inChannels] + kernel)
        self.bias = bias ? store.register("\(name).bias", shape: [outChannels]) : nil
    }

    public var parameterHandles: [ParameterHandle] { [weight] + (bias.map { [$0] } ?? []) }

    /// Output shape for input shape [N, in, D, H, W].
    public func outputShape(_ s: [Int]) throws -> [Int] {
        guard s.count == 5, s[1] == inChannels else {
            throw NNError(name, "expects [N, \(inChannels), D, H, W], got \(s)")
        }
        var o: [Int] = []
        for i in 0..<3 {
            let span: Int = s[2 + i] + 2 * padding[i] - kernel[i]
            o.append(span < 0 ? 0 : span / stride[i] + 1)
        }
        guard o.allSatisfy({ $0 > 0 }) else { throw NNError(name, "input \(s) smaller than kernel \(kernel)") }
        return [s[0], outChannels] + o
    }

    private var isPointwise: Bool { kernel == [1, 1, 1] && stride == [1, 1, 1] && padding == [0, 0, 0] }

    /// Output rows (of W' columns each) per vol2col chunk, so that one chunk's columns take about
    /// `columnBudget` floats and stay in the last-level cache between vol2col and the GEMM that reads them.
    private func rowsPerChunk(_ os: [Int], _ k: Int) -> Int {
        max(1, min(os[2] * os[3], columnBudget / max(1, k * os[4])))
    }

    /// x: [N, in, D, H, W]; returns [N, out, D', H', W'].
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let os = try outputShape(x.shape)
        // Every path writes all of y, so a fresh output needs no zeroing.
        let y = compactActivations ? Tensor(uninitializedShape: os) : workspace(&output, os)
        input = compactActivations ? (training ? Kept(x, compact: true) : nil) : .full(x)
        if let plan = winogradPlan(for: x.shape) {
            winogradForward(x, y, plan)
        } else {
            gemmForward(x, y)
        }
        let p = os[2] * os[3] * os[4]
        flops += 2 * Double(x.shape[0] * outChannels * p * inChannels * kernel.reduce(1, *))
        if let bias {
            let b = store.values(bias)
            let yp = y.data
            parallelFor(x.shape[0] * outChannels) { r in
                let v = b[r % self.outChannels], row = yp + r * p
                for j in 0..<p { row[j] += v }
            }
        }
        return y
    }

    /// Forward through vol2col + sgemm, clip-parallel: x [N, in, D, H, W] → y [N, out, D', H', W'] (overwritten; no
    /// bias).
    private func gemmForward(_ x: Tensor, _ y: Tensor) {
        let os = y.shape
        let n = x.shape[0], inItem = x.itemCount, outItem = y.itemCount
        let p = os[2] * os[3] * os[4], k = inChannels * kernel.reduce(1, *), ow = os[4]
        let w = store.values(weight)
        let rows = os[2] * os[3], chunk = rowsPerChunk(os, k)
        let xp = x.data, yp = y.data, pointwise = isPointwise
        if !pointwise { for wk in 0..<clipWorkers(n) { _ = scratch.pointer(2 * wk, count: k * chunk * ow) } }
        forEachClip(n) { i, worker in
            if pointwise {
                GEMM.multiply(m: self.outChannels, n: p, k: k, a: w, lda: k, b: xp + i * inItem, ldb: p, beta: 0,
                              c: yp + i * outItem, ldc: p, precision: self.precision)
                return
            }
            let col = self.scratch.pointer(2 * worker, count: k * chunk * ow)
            for r0 in Swift.stride(from: 0, to: rows, by: chunk) {
                let pc = (min(rows, r0 + chunk) - r0) * ow
                self.vol2col(xp + i * inItem, x.shape, os, col, rowStart: r0, rowCount: pc / ow)
                // Y[out, chunk] = W[out, k] · col[k, chunk]
                GEMM.multiply(m: self.outChannels, n: pc, k: k, a: w, lda: k, b: col, ldb: pc, beta: 0,
                              c: yp + i * outItem + r0 * ow, ldc: p, precision: self.precision)
            }
        }
    }

    /// dY: [N, out, D', H', W']; returns dX [N, in, D, H, W] (nil when not asked). Accumulates dW and dB unless frozen.
    public func backward(_ dY: Tensor, inputGradient: Bool) throws -> Tensor? {
        guard let kept = input else { throw NNError(name, "backward before a training forward") }
        let os = try outputShape(kept.shape)
        guard dY.shape == os else { throw NNError(name, "dY shape \(dY.shape), expected \(os)") }
        // A compact input is needed by this backward only: its memory goes back to the pool when this returns.
        if compactActivations { input = nil }
        let outItem = dY.itemCount
        let p = os[2] * os[3] * os[4], k = inChannels * kernel.reduce(1, *)
        let weightGrad = !isFrozen && store.requiresGrad[weight.index]
        let n = kept.shape[0]
        let dx = inputGradient ? Tensor(uninitializedShape: kept.shape) : nil
        if weightGrad || dx != nil {
            if let plan = winogradPlan(for: kept.shape) {
                winogradBackward(kept, dY, dx, weightGrad: weightGrad, plan)
            } else {
                gemmBackward(kept, dY, dx, weightGrad: weightGrad)
            }
        }
        if weightGrad { flops += 2 * Double(n * outChannels * p * k) }
        if dx != nil { flops += 2 * Double(n * outChannels * p * k) }
        if let bias, !isFrozen, store.requiresGrad[bias.index] {
            let db = store.gradient(bias), dyp = dY.data, c = outChannels
            parallelFor(c) { o in
                var s: Float = 0
                for i in 0..<n {
                    let row = dyp + i * outItem + o * p
                    for j in 0..<p { s += row[j] }
                }
                db[o] += s
            }
        }
        tracker?.finished(parameterHandles)
        return dx
    }

    /// Backward through vol2col + sgemm, clip-parallel: dY [N, out, D', H', W'] → writes dX [N, in, D, H, W] when
    /// given, and adds this batch's weight gradient into dW when `weightGrad`. A compact input is widened one clip
    /// at a time, into the worker's own buffer.
    private func gemmBackward(_ x: Kept, _ dY: Tensor, _ dx: Tensor?, weightGrad: Bool) {
        let os = dY.shape
        let n = x.shape[0], inItem = x.shape.dropFirst().reduce(1, *), outItem = dY.itemCount
        let p = os[2] * os[3] * os[4], k = inChannels * kernel.reduce(1, *), ow = os[4]
        let w = store.values(weight), dW = store.gradient(weight)
        let rows = os[2] * os[3], chunk = rowsPerChunk(os, k)
        let dyp = dY.data, pointwise = isPointwise, wCount = outChannels * k
        // Worker 0 accumulates dW in place; the others into their own buffers, added in worker order afterwards
        // so that the sum does not depend on timing.
        let workers = clipWorkers(n)
        if !pointwise {
            for wk in 0..<workers {
                _ = scratch.pointer(2 * wk, count: k * chunk * ow)
                _ = scratch.pointer(2 * wk + 1, count: k * chunk * ow)
            }
        }
        var partials: [UnsafeMutablePointer<Float>] = [dW]
        if weightGrad {
            for wk in 1..<max(1, workers) {
                let b = scratch.pointer(2 * workers + wk, count: wCount)
                b.update(repeating: 0, count: wCount)
                partials.append(b)
            }
        }
        // Per-worker clip buffers for a compact input (slots 3W + w).
        var clipBuffers: [UnsafeMutablePointer<Float>] = []
        if case .compact = x, weightGrad {
            clipBuffers = (0..<max(1, workers)).map { scratch.pointer(3 * workers + $0, count: inItem) }
        }
        forEachClip(n) { i, worker in
            let dy = UnsafePointer(dyp + i * outItem)
            let dWw = partials[weightGrad ? worker : 0]
            // Clip i of the input (read only for dW).
            let xi: UnsafePointer<Float>
            switch x {
            case .full(let t): xi = UnsafePointer(t.data + i * inItem)
            case .compact(let c):
                if weightGrad { c.widen(from: i * inItem, count: inItem, into: clipBuffers[worker]) }
                xi = clipBuffers.isEmpty ? dy : UnsafePointer(clipBuffers[worker])  // dy: never read (no dW)
            }
            if pointwise {
                if weightGrad {
                    GEMM.multiply(transB: true, m: self.outChannels, n: k, k: p, a: dy, lda: p, b: xi,
                                  ldb: p, beta: 1, c: dWw, ldc: k, precision: self.precision)
                }
                if let dx {
                    GEMM.multiply(transA: true, m: k, n: p, k: self.outChannels, a: w, lda: k, b: dy, ldb: p, beta: 0,
                                  c: dx.data + i * inItem, ldc: p, precision: self.precision)
                }
                return
            }
            let col = self.scratch.pointer(2 * worker, count: k * chunk * ow)
            let dCol = self.scratch.pointer(2 * worker + 1, count: k * chunk * ow)
            // col2vol adds into dX, so each clip of it starts from zero.
            if let dx { (dx.data + i * inItem).update(repeating: 0, count: inItem) }
            for r0 in Swift.stride(from: 0, to: rows, by: chunk) {
                let pc = (min(rows, r0 + chunk) - r0) * ow
                let dyc = dy + r0 * ow
                if weightGrad {
                    // The columns are recomputed here rather than kept from forward (see `input`).
                    self.vol2col(xi, x.shape, os, col, rowStart: r0, rowCount: pc / ow)
                    // dW[out, k] += dY[out, chunk] · col[k, chunk]ᵀ
                    GEMM.multiply(transB: true, m: self.outChannels, n: k, k: pc, a: dyc, lda: p, b: col, ldb: pc,
                                  beta: 1, c: dWw, ldc: k, precision: self.precision)
                }
                if let dx {
                    // dCol[k, chunk] = Wᵀ[k, out] · dY[out, chunk], then added back onto the input grid.
                    GEMM.multiply(transA: true, m: k, n: pc, k: self.outChannels, a: w, lda: k, b: dyc, ldb: p,
                                  beta: 0, c: dCol, ldc: pc, precision: self.precision)
                    self.col2vol(dCol, x.shape, os, dx.data + i * inItem, rowStart: r0, rowCount: pc / ow)
                }
            }
        }
        addInOrder(partials.dropFirst(), into: dW, rows: outChannels, columns: k)
    }

    /// Clip workers for a batch of `n`: with more than one thread and more than one clip, clips are spread over the
    /// threads and each GEMM runs single-threaded (OpenBLAS's own threads would otherwise spin between the many
    /// small GEMMs of a clip, and per-clip GEMMs at layer4's 2×7×7 outputs are too small to split well).
    private func clipWorkers(_ n: Int) -> Int { min(n, BLAS.threads) }

    /// Runs `body(clip, worker)` for clips 0..<n over `clipWorkers(n)` workers (see `distribute`).
    private func forEachClip(_ n: Int, _ body: (Int, Int) -> Void) { distribute(n, workers: clipWorkers(n), body) }

    /// Runs `body(item, worker)` for items 0..<count: worker w takes items w, w + W, … (a fixed assignment, so sums
    /// kept per worker do not depend on timing). With more than one worker, OpenBLAS and `parallelFor` are
    /// single-threaded inside, each worker running its own GEMMs.
    func distribute(_ count: Int, workers: Int, _ body: (Int, Int) -> Void) {
        guard workers > 1 else {
            for i in 0..<count { body(i, 0) }
            return
        }
        BLAS.singleThreaded {
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                for i in Swift.stride(from: w, to: count, by: workers) { body(i, w) }
            }
        }
    }

    /// Adds each of `sources` (rows × columns floats, row-major) into `dst` in the order given, parallel over rows:
    /// the per-worker partial sums of a weight gradient, added in worker order so that the total does not depend on
    /// timing.
    func addInOrder<S: Sequence>(_ sources: S, into dst: UnsafeMutablePointer<Float>, rows: Int, columns: Int)
    where S.Element == UnsafeMutablePointer<Float> {
        for src in sources {
            parallelFor(rows) { r in
                let d = dst + r * columns, s = src + r * columns
                for j in 0..<columns { d[j] += s[j] }
            }
        }
    }

    /// Gathers one clip's receptive fields for output rows rowStart..<rowStart+rowCount (a row = one (od, oh) pair
    /// of W' columns): x [in, D, H, W] → col [in·kD·kH·kW, rowCount·W'] (zeros where padded).
    /// Rows of col run over (c, kd, kh, kw), columns over the output positions; parallel over col rows.
    func vol2col(_ x: UnsafePointer<Float>, _ inShape: [Int], _ outShape: [Int], _ col: UnsafeMutablePointer<Float>,
                 rowStart: Int, rowCount: Int) {
        let (d, h, w) = (inShape[2], inShape[3], inShape[4])
        let (oh, ow) = (outShape[3], outShape[4])
        let (kd, kh, kw) = (kernel[0], kernel[1], kernel[2])
        let (sd, sh, sw) = (stride[0], stride[1], stride[2])
        let (pd, ph, pw) = (padding[0], padding[1], padding[2])
        let pc = rowCount * ow, kvol = kd * kh * kw
        parallelFor(inChannels * kvol) { r in
            let c = r / kvol, kk = r % kvol
            let a = kk / (kh * kw), b = (kk / kw) % kh, e = kk % kw
            let xc = x + c * d * h * w
            var dst = col + r * pc
            let (ow0, ow1) = insideRange(ow, w, sw, pw, e)
            for q in rowStart..<(rowStart + rowCount) {
                let iz = (q / oh) * sd - pd + a, iy = (q % oh) * sh - ph + b
                if iz < 0 || iz >= d || iy < 0 || iy >= h {
                    dst.update(repeating: 0, count: ow)
                } else {
                    let row = xc + (iz * h + iy) * w - pw + e
                    for j in 0..<ow0 { dst[j] = 0 }
                    if sw == 1 {
                        (dst + ow0).update(from: row + ow0, count: ow1 - ow0)
                    } else {
                        for j in ow0..<ow1 { dst[j] = row[j * sw] }
                    }
                    for j in ow1..<ow { dst[j] = 0 }
                }
                dst += ow
            }
        }
    }

    /// Adjoint of `vol2col` for the same output rows: ADDS each column entry onto the input element it was read from,
    /// dX [in, D, H, W] (zero it before the first chunk). Parallel over input channels (each owns its rows).
    func col2vol(_ col: UnsafePointer<Float>, _ inShape: [Int], _ outShape: [Int], _ dx: UnsafeMutablePointer<Float>,
                 rowStart: Int, rowCount: Int) {
        let (d, h, w) = (inShape[2], inShape[3], inShape[4])
        let (oh, ow) = (outShape[3], outShape[4])
        let (kd, kh, kw) = (kernel[0], kernel[1], kernel[2])
        let (sd, sh, sw) = (stride[0], stride[1], stride[2])
        let (pd, ph, pw) = (padding[0], padding[1], padding[2])
        let pc = rowCount * ow, kvol = kd * kh * kw
        parallelFor(inChannels) { c in
            let xc = dx + c * d * h * w
            for kk in 0..<kvol {
                let a = kk / (kh * kw), b = (kk / kw) % kh, e = kk % kw
                var src = col + (c * kvol + kk) * pc
                let (ow0, ow1) = insideRange(ow, w, sw, pw, e)
                for q in rowStart..<(rowStart + rowCount) {
                    let iz = (q / oh) * sd - pd + a, iy = (q % oh) * sh - ph + b
                    if iz >= 0 && iz < d && iy >= 0 && iy < h {
                        let row = xc + (iz * h + iy) * w - pw + e
                        if sw == 1 {
                            for j in ow0..<ow1 { row[j] += src[j] }
                        } else {
                            for j in ow0..<ow1 { row[j * sw] += src[j] }
                        }
                    }
                    src += ow
                }
            }
        }
    }

    /// Output columns j in 0..<outW whose input column j·s − pad + k lies inside [0, inW), as lo..<hi.
    @inline(__always)
    private func insideRange(_ outW: Int, _ inW: Int, _ s: Int, _ pad: Int, _ k: Int) -> (Int, Int) {
        let first = pad - k > 0 ? (pad - k + s - 1) / s : 0
        let last = inW - 1 + pad - k  // j·s ≤ last
        let lo = min(outW, first)
        guard last >= 0 else { return (lo, lo) }
        return (lo, max(lo, min(outW, last / s + 1)))
    }

    // MARK: Reference

    /// Direct 7-loop convolution with this layer's parameters: x [N, in, D, H, W] → [N, out, D', H', W'].
    /// Slow; the tests use it to check the vol2col + sgemm path.
    public func referenceForward(_ x: Tensor) throws -> Tensor {
        let os = try outputShape(x.shape)
        let y = Tensor(shape: os)
        let w = store.values(weight), b = bias.map { store.values($0) }
        let (d, h, wd) = (x.shape[2], x.shape[3], x.shape[4])
        let ks = kernel, st = stride, pd = padding
        for n in 0..<os[0] { for o in 0..<outChannels {
            for z in 0..<os[2] { for yy in 0..<os[3] { for xx in 0..<os[4] {
                var s: Double = b.map { Double($0[o]) } ?? 0
                for c in 0..<inChannels { for a in 0..<ks[0] { for bb in 0..<ks[1] { for e in 0..<ks[2] {
                    let iz = z * st[0] - pd[0] + a, iy = yy * st[1] - pd[1] + bb, ix = xx * st[2] - pd[2] + e
                    if iz < 0 || iz >= d || iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                    let xv = x.data[(((n * inChannels + c) * d + iz) * h + iy) * wd + ix]
                    let wv = w[(((o * inChannels + c) * ks[0] + a) * ks[1] + bb) * ks[2] + e]
                    s += Double(xv) * Double(wv)
                } } } }
                y.data[(((n * outChannels + o) * os[2] + z) * os[3] + yy) * os[4] + xx] = Float(s)
            } } }
        } }
        return y
    }

    /// Direct-loop gradients for x and dY: returns dX [N, in, D, H, W], dW [out, in, kD, kH, kW] and dB [out]
    /// (not accumulated into the store).
    public func referenceBackward(_ x: Tensor, _ dY: Tensor) throws -> (dX: Tensor, dW: Tensor, dB: Tensor) {
        let os = try outputShape(x.shape)
        let w = store.values(weight)
        let dx = Tensor(shape: x.shape), dw = Tensor(shape: [outChannels, inChannels] + kernel)
        let db = Tensor(shape: [outChannels])
        let (d, h, wd) = (x.shape[2], x.shape[3], x.shape[4])
        let ks = kernel, st = stride, pd = padding
        for n in 0..<os[0] { for o in 0..<outChannels {
            for z in 0..<os[2] { for yy in 0..<os[3] { for xx in 0..<os[4] {
                let g = dY.data[(((n * outChannels + o) * os[2] + z) * os[3] + yy) * os[4] + xx]
                db.data[o] += g
                for c in 0..<inChannels { for a in 0..<ks[0] { for bb in 0..<ks[1] { for e in 0..<ks[2] {
                    let iz = z * st[0] - pd[0] + a, iy = yy * st[1] - pd[1] + bb, ix = xx * st[2] - pd[2] + e
                    if iz < 0 || iz >= d || iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                    let xi = (((n * inChannels + c) * d + iz) * h + iy) * wd + ix
                    let wi = (((o * inChannels + c) * ks[0] + a) * ks[1] + bb) * ks[2] + e
                    dx.data[xi] += g * w[wi]
                    dw.data[wi] += g * x.data[xi]
                } } } }
            } } }
        } }
        return (dx, dw, db)
    }
}

/// How `Conv3d` computes: `.gemm` always vol2col + sgemm; `.winograd` Winograd F(2,3) wherever the geometry allows
/// (stride-1 "same" 3-tap axes) even for few channels; `.automatic` Winograd where it also pays (16+ channels in and
/// out), else vol2col + sgemm.
public enum ConvAlgorithm: Sendable { case automatic, gemm, winograd }

/// Growable Float buffers for `Conv3d`'s per-clip vol2col work (columns and column gradients per clip worker, and
/// per-worker weight-gradient partial sums).
/// They grow to the largest request and never shrink, so after the first step no conv allocates.
public final class ConvScratch {
    private var slots: [FlatBuffer?] = []

    public init() {}

    /// A buffer of at least `count` floats in `slot`; contents are unspecified. Slots 2w and 2w + 1 are clip
    /// worker w's columns and column gradients; higher slots hold per-worker weight-gradient partial sums.
    /// Not thread-safe while growing: the conv creates every worker's slots before the workers start.
    func pointer(_ slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        if slot < slots.count, let b = slots[slot], b.count >= count { return b.pointer }
        if slot >= slots.count { slots += Array(repeating: nil, count: slot + 1 - slots.count) }
        slots[slot] = nil  // free the smaller one first
        let b = FlatBuffer(count: count)
        slots[slot] = b
        return b.pointer
    }
}
