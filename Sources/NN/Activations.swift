// NN: element-wise layers: ReLU, Dropout and the residual add.
import Support

/// `ReLU`: y = max(x, 0), any shape. With `inPlace` the output overwrites the input tensor (as PyTorch's
/// `inplace=True`), which is safe after BatchNorm because BN's backward reads its own input, not its output.
/// Backward always works in place: it masks dY and returns it as dX.
public final class ReLU: Layer, CompactingLayer {
    public let inPlace: Bool
    /// Keep one bit per element for backward instead of the output, and return fresh outputs (bf16 training; see
    /// `CompactingLayer`).
    public var compactActivations = false
    // Cache for backward: the output (its sign is the mask), or in compact training only the mask.
    private var output: Tensor?
    private var mask: PositiveMask?
    private var ownOutput: Tensor?

    public init(inPlace: Bool = false) { self.inPlace = inPlace }

    /// x: any shape; returns max(x, 0) of the same shape.
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let y = inPlace ? x : compactActivations ? Tensor(uninitializedShape: x.shape) : workspace(&ownOutput, x.shape)
        let xp = x.data, yp = y.data, total = x.count
        let chunks = max(1, min(64, total / 16384))
        parallelFor(chunks) { k in
            let lo = total * k / chunks, hi = total * (k + 1) / chunks
            for j in lo..<hi { yp[j] = max(xp[j], 0) }
        }
        output = compactActivations ? nil : y
        mask = compactActivations && training ? PositiveMask(y) : nil
        return y
    }

    /// dY: the output's shape; returns dY with entries zeroed where the output was 0 (same tensor).
    public func backward(_ dY: Tensor, inputGradient: Bool) throws -> Tensor? {
        if let mask {
            guard dY.shape == mask.shape else { throw NNError("ReLU", "dY shape \(dY.shape), expected \(mask.shape)") }
            self.mask = nil  // needed by this backward only
            guard inputGradient else { return nil }
            mask.apply(to: dY)
            return dY
        }
        guard let y = output else { throw NNError("ReLU", "backward before forward") }
        guard dY.shape == y.shape else { throw NNError("ReLU", "dY shape \(dY.shape), expected \(y.shape)") }
        guard inputGradient else { return nil }
        let yp = y.data, dp = dY.data, total = dY.count
        let chunks = max(1, min(64, total / 16384))
        parallelFor(chunks) { k in
            let lo = total * k / chunks, hi = total * (k + 1) / chunks
            maskWherePositive(yp + lo, dp + lo, hi - lo)
        }
        return dY
    }
}

/// `Dropout(p)`: in training zeroes each element with probability p and scales the rest by 1/(1−p); identity in
/// evaluation. The mask of call k is drawn from `SeededRandom(keys: seed, k)`, so runs replay exactly.
public final class Dropout: Layer {
    public let p: Float
    public let seed: UInt64
    /// Training forwards done so far (the key of the next mask).
    public var calls: UInt64 = 0
    // Cache for backward: the mask (0 or 1/(1−p) per element); nil after an evaluation forward.
    private var mask: Tensor?
    private var output: Tensor?

    public init(p: Float, seed: UInt64) {
        precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
        self.p = p
        self.seed = seed
    }

    /// x: any shape; returns the same shape.
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        guard training && p > 0 else { mask = nil; return x }
        var rng = SeededRandom(keys: seed, calls)
        calls += 1
        var m: Tensor? = mask
        let mk = workspace(&m, x.shape)
        mask = mk
        let keep = 1 / (1 - p)
        for j in 0..<x.count { mk.data[j] = rng.nextFloat() < p ? 0 : keep }
        let y = workspace(&output, x.shape)
        for j in 0..<x.count { y.data[j] = x.data[j] * mk.data[j] }
        return y
    }

    /// dY: the output's shape; returns dX = dY · mask (dY itself after an evaluation forward).
    public func backward(_ dY: Tensor, inputGradient: Bool) throws -> Tensor? {
        guard inputGradient else { return nil }
        guard let mk = mask else { return dY }
        guard dY.shape == mk.shape else { throw NNError("Dropout", "dY shape \(dY.shape), expected \(mk.shape)") }
        let dx = Tensor(uninitializedShape: dY.shape)
        for j in 0..<dY.count { dx.data[j] = dY.data[j] * mk.data[j] }
        return dx
    }
}

/// The residual add of a ResNet block: y = a + b (same shapes). Its backward passes dY to both inputs unchanged,
/// so it needs no cache.
public enum ResidualAdd {
    /// Adds `b` into `a` in place and returns `a`. a, b: same shape.
    @discardableResult
    public static func forward(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.shape == b.shape else { throw NNError("ResidualAdd", "shapes \(a.shape) and \(b.shape) differ") }
        let ap = a.data, bp = b.data, total = a.count
        let chunks = max(1, min(64, total / 16384))
        parallelFor(chunks) { k in
            let lo = total * k / chunks, hi = total * (k + 1) / chunks
            for j in lo..<hi { ap[j] += bp[j] }
        }
        return a
    }

    /// dY → (dA, dB) = (dY, dY).
    public static func backward(_ dY: Tensor) -> (dA: Tensor, dB: Tensor) { (dY, dY) }
}

/// d[j] = y[j] > 0 ? d[j] : 0 for j in 0..<count, sixteen lanes at a time (the compiler keeps the scalar form
/// scalar because d may alias y).
@inline(__always)
func maskWherePositive(_ y: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ count: Int) {
    let zero = SIMD16<Float>(repeating: 0)
    var j = 0
    while j + 16 <= count {
        let yv = UnsafeRawPointer(y + j).loadUnaligned(as: SIMD16<Float>.self)
        var dv = UnsafeRawPointer(d + j).loadUnaligned(as: SIMD16<Float>.self)
        dv.replace(with: zero, where: yv .<= zero)
        UnsafeMutableRawPointer(d + j).storeBytes(of: dv, as: SIMD16<Float>.self)
        j += 16
    }
    while j < count {
        if !(y[j] > 0) { d[j] = 0 }
        j += 1
    }
}
