// NN: 3-D batch normalization with PyTorch semantics, whose batch statistics pass through a pluggable reducer so
// that the Distributed module can turn it into synchronized BN (SyncBatchNorm's math) without NN knowing MPI.
import Foundation

/// Sums per-channel statistics across ranks. NN calls it with Double buffers laid out as documented at each call.
public protocol BatchNormReducer: AnyObject {
    /// Sums `values` element-wise across all ranks, in place (identity on one rank).
    func sum(_ values: UnsafeMutableBufferPointer<Double>) throws
}

/// `BatchNorm3d(C)`: y = (x − mean) / sqrt(var + eps) · weight + bias, per channel over (N, D, H, W).
///
/// Training mode uses the batch statistics (biased variance), summed across ranks by `reducer` when set, and
/// updates `running_mean`/`running_var` (unbiased variance) with `momentum` on the new statistic and increments
/// `num_batches_tracked`; evaluation mode, or a frozen layer, uses the running statistics.
/// Input and output [N, C, D, H, W]; weight, bias, running_mean, running_var [C].
public final class BatchNorm3d: ParametricLayer, CompactingLayer {
    public let name: String
    public let channels: Int
    public let eps: Double
    public let momentum: Double
    public let weight: ParameterHandle, bias: ParameterHandle
    public let runningMean: ParameterHandle, runningVar: ParameterHandle, numBatchesTracked: ParameterHandle
    public var isFrozen = false
    public weak var tracker: GradientTracker?
    /// Sums the statistics across ranks; nil on one rank.
    public var reducer: BatchNormReducer?
    /// When true, backward writes dX over dY and returns it (saves one activation-sized buffer); set it only where
    /// the caller has no further use for dY.
    public var overwritesGradient = false
    /// Keep the input in bf16 for backward and return fresh outputs (bf16 training; see `CompactingLayer`).
    public var compactActivations = false
    /// With `compactActivations`, write the output over the input (which is then kept only compact), so that a conv
    /// output and its normalization share one buffer; set it only where nothing else reads the input afterwards (a
    /// conv's fresh output).
    public var overwritesInput = false

    let store: ParameterStore
    // Cache for backward: the input (compact in bf16 training), per-channel mean and 1/sqrt(var + eps) used, the global element count per
    // channel, and whether batch statistics were used (x̂ is recomputed from these instead of stored).
    private var input: Kept?
    private var mean: [Double] = []
    private var invStd: [Double] = []
    private var globalCount: Double = 0
    private var usedBatchStatistics = false
    private var output: Tensor?

    /// Registers `name.weight`, `.bias`, `.running_mean`, `.running_var`, `.num_batches_tracked` in state-dict order.
    public init(store: ParameterStore, name: String, channels: Int, eps: Double = 1e-5, momentum: Double = 0.1) {
        self.store = store
        self.name = name
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        weight = store.register("\(name).weight", shape: [channels])
        bias = store.register("\(name).bias", shape: [channels])
        runningMean = store.register("\(name).running_mean", shape: [channels], role: .buffer)
        runningVar = store.register("\(name).running_var", shape: [channels], role: .buffer)
        numBatchesTracked = store.register("\(name).num_batches_tracked", shape: [], role: .counter)
    }

    public var parameterHandles: [ParameterHandle] { [weight, bias] }

    /// Sets weight 1, bias 0, running mean 0, running var 1, counter 0 (PyTorch's reset).
    public func resetParameters() {
        store.values(weight).update(repeating: 1, count: channels)
        store.values(bias).update(repeating: 0, count: channels)
        store.values(runningMean).update(repeating: 0, count: channels)
        store.values(runningVar).update(repeating: 1, count: channels)
        store.counters[store.entry(numBatchesTracked).offset] = 0
    }

    /// x: [N, C, D, H, W]; returns the normalized tensor of the same shape.
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        guard x.shape.count >= 2, x.shape[1] == channels else {
            throw NNError(name, "expects [N, \(channels), ...], got \(x.shape)")
        }
        let n = x.shape[0], c = channels, s = x.count / max(1, n * c)
        // The input is kept (or compacted) before y is written, which may be x itself.
        input = compactActivations ? (training ? Kept(x, compact: true) : nil) : .full(x)
        let y = compactActivations ? (overwritesInput ? x : Tensor(uninitializedShape: x.shape))
            : workspace(&output, x.shape)
        usedBatchStatistics = training && !isFrozen
        mean = [Double](repeating: 0, count: c)
        invStd = [Double](repeating: 0, count: c)
        if usedBatchStatistics {
            // [Σx (C), Σx² (C), count (1)], summed across ranks.
            var stats = [Double](repeating: 0, count: 2 * c + 1)
            let xp = x.data
            stats.withUnsafeMutableBufferPointer { st in
                let sp = st.baseAddress!
                parallelFor(c) { ch in
                    var s1: Double = 0, s2: Double = 0
                    for i in 0..<n {
                        let row = xp + (i * c + ch) * s
                        let (a, b) = chunkedSums(row, row, s, 0)
                        s1 += a; s2 += b
                    }
                    sp[ch] = s1
                    sp[c + ch] = s2
                }
            }
            stats[2 * c] = Double(n * s)
            if let reducer { try stats.withUnsafeMutableBufferPointer { try reducer.sum($0) } }
            let count = stats[2 * c]
            guard count > 1 else {
                throw NNError(name, "expected more than 1 value per channel when training, got input \(x.shape)")
            }
            globalCount = count
            let rm = store.values(runningMean), rv = store.values(runningVar)
            for ch in 0..<c {
                let m = stats[ch] / count
                let v = max(0, stats[c + ch] / count - m * m)
                mean[ch] = m
                invStd[ch] = 1 / (v + eps).squareRoot()
                rm[ch] = Float((1 - momentum) * Double(rm[ch]) + momentum * m)
                rv[ch] = Float((1 - momentum) * Double(rv[ch]) + momentum * v * count / (count - 1))
            }
            store.counters[store.entry(numBatchesTracked).offset] += 1
        } else {
            let rm = store.values(runningMean), rv = store.values(runningVar)
            for ch in 0..<c {
                mean[ch] = Double(rm[ch])
                invStd[ch] = 1 / (Double(rv[ch]) + eps).squareRoot()
            }
        }
        let g = store.values(weight), b = store.values(bias), xp = x.data, yp = y.data
        let meanF = mean.map(Float.init), invF = invStd.map(Float.init)
        parallelFor(n * c) { r in
            let ch = r % c
            let scale = invF[ch] * g[ch], shift = b[ch] - meanF[ch] * scale
            let src = xp + r * s, dst = yp + r * s
            for j in 0..<s { dst[j] = src[j] * scale + shift }
        }
        return y
    }

    /// dY: [N, C, D, H, W]; returns dX of the same shape (nil when not asked; dY itself when `overwritesGradient`). Accumulates dWeight = Σ dY·x̂ and
    /// dBias = Σ dY over this rank's batch; with batch statistics dX uses the sums over all ranks (SyncBatchNorm).
    public func backward(_ dY: Tensor, inputGradient: Bool) throws -> Tensor? {
        guard let kept = input else { throw NNError(name, "backward before a training forward") }
        guard dY.shape == kept.shape else { throw NNError(name, "dY shape \(dY.shape), expected \(kept.shape)") }
        // A compact input is needed by this backward only: its memory goes back to the pool when this returns. It
        // is read a row at a time (`withElements`), never widened whole.
        if compactActivations { input = nil }
        let shape = kept.shape, total = shape.reduce(1, *)
        let n = shape[0], c = channels, s = total / max(1, n * c)
        let dyp = dY.data
        let meanF = mean.map(Float.init), invF = invStd.map(Float.init)
        // [Σ dY (C), Σ dY·x̂ (C)], this rank's.
        var sums = [Double](repeating: 0, count: 2 * c)
        sums.withUnsafeMutableBufferPointer { st in
            let sp = st.baseAddress!
            parallelFor(c) { ch in
                var s1: Double = 0, s2: Double = 0
                let m = meanF[ch], inv = invF[ch]
                for i in 0..<n {
                    let dr = dyp + (i * c + ch) * s
                    let (a, b) = kept.withElements(from: (i * c + ch) * s, count: s) { xr in chunkedSums(dr, xr, s, m) }
                    s1 += a; s2 += b * Double(inv)
                }
                sp[ch] = s1
                sp[c + ch] = s2
            }
        }
        let trainable = !isFrozen
        if trainable {
            let dg = store.gradient(weight), db = store.gradient(bias)
            if store.requiresGrad[weight.index] { for ch in 0..<c { dg[ch] += Float(sums[c + ch]) } }
            if store.requiresGrad[bias.index] { for ch in 0..<c { db[ch] += Float(sums[ch]) } }
        }
        tracker?.finished(parameterHandles)
        guard inputGradient else { return nil }
        let dx = overwritesGradient ? dY : Tensor(uninitializedShape: shape)
        let g = store.values(weight), dxp = dx.data
        if usedBatchStatistics {
            if let reducer { try sums.withUnsafeMutableBufferPointer { try reducer.sum($0) } }
            let count = globalCount
            let meanDy = (0..<c).map { Float(sums[$0] / count) }
            let meanDyXhat = (0..<c).map { Float(sums[c + $0] / count) }
            parallelFor(n * c) { r in
                let ch = r % c
                let m = meanF[ch], inv = invF[ch], k = g[ch] * inv, a = meanDy[ch], b = meanDyXhat[ch]
                let dr = dyp + r * s, out = dxp + r * s
                kept.withElements(from: r * s, count: s) { xr in
                    for j in 0..<s { out[j] = k * (dr[j] - a - (xr[j] - m) * inv * b) }
                }
            }
        } else {
            parallelFor(n * c) { r in
                let k = g[r % c] * invF[r % c]
                let dr = dyp + r * s, out = dxp + r * s
                for j in 0..<s { out[j] = dr[j] * k }
            }
        }
        return dx
    }
}

/// Returns (Σ u, Σ u·(v − shift)) over `count` elements, adding Float partial sums of 256 into Doubles so that
/// long rows keep Double-like accuracy at Float speed.
@inline(__always)
private func chunkedSums(_ u: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ count: Int,
                         _ shift: Float) -> (Double, Double) {
    var s1: Double = 0, s2: Double = 0
    var start = 0
    while start < count {
        let end = min(count, start + 256)
        var a: Float = 0, b: Float = 0
        for j in start..<end { let x = u[j]; a += x; b += x * (v[j] - shift) }
        s1 += Double(a); s2 += Double(b)
        start = end
    }
    return (s1, s2)
}
