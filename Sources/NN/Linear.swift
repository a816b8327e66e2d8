// NN: the fully connected layer.

/// `Linear(in, out)`: y = x·Wᵀ + b. Input [N, in] (or [N, …] flattened to in) → output [N, out].
/// Weight [out, in], bias [out].
public final class Linear: ParametricLayer {
    public let name: String
    public let inFeatures: Int, outFeatures: Int
    public let weight: ParameterHandle
    public let bias: ParameterHandle?
    public var isFrozen = false
    public weak var tracker: GradientTracker?
    /// Multiply-adds ×2 done by this layer's GEMMs since last reset.
    public var flops: Double = 0
    /// The arithmetic of this layer's GEMMs (forward, dX and dW).
    public var precision = Precision.fp32

    let store: ParameterStore
    // Cache for backward: the input.
    private var input: Tensor?
    private var output: Tensor?

    public init(store: ParameterStore, name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        self.store = store
        self.name = name
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = store.register("\(name).weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? store.register("\(name).bias", shape: [outFeatures]) : nil
    }

    public var parameterHandles: [ParameterHandle] { [weight] + (bias.map { [$0] } ?? []) }

    /// x: [N, in]; returns [N, out].
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let n = x.shape[0]
        guard x.itemCount == inFeatures else { throw NNError(name, "expects [N, \(inFeatures)], got \(x.shape)") }
        input = x
        let y = workspace(&output, [n, outFeatures])
        if let bias {
            let b = store.values(bias)
            for i in 0..<n { (y.data + i * outFeatures).update(from: b, count: outFeatures) }
        }
        GEMM.multiply(transB: true, m: n, n: outFeatures, k: inFeatures, a: x.data, lda: inFeatures,
                      b: store.values(weight), ldb: inFeatures, beta: bias == nil ? 0 : 1, c: y.data,
                      ldc: outFeatures, precision: precision)
        flops += 2 * Double(n * inFeatures * outFeatures)
        return y
    }

    /// dY: [N, out]; returns dX with the input's shape. Accumulates dW += dYᵀ·x and dB += Σ dY.
    public func backward(_ dY: Tensor, inputGradient: Bool) throws -> Tensor? {
        guard let x = input else { throw NNError(name, "backward before forward") }
        let n = x.shape[0]
        guard dY.shape == [n, outFeatures] else { throw NNError(name, "dY shape \(dY.shape), expected \([n, outFeatures])") }
        if !isFrozen && store.requiresGrad[weight.index] {
            GEMM.multiply(transA: true, m: outFeatures, n: inFeatures, k: n, a: dY.data, lda: outFeatures, b: x.data,
                          ldb: inFeatures, beta: 1, c: store.gradient(weight), ldc: inFeatures, precision: precision)
            flops += 2 * Double(n * inFeatures * outFeatures)
        }
        if let bias, !isFrozen, store.requiresGrad[bias.index] {
            let db = store.gradient(bias)
            for i in 0..<n { for o in 0..<outFeatures { db[o] += dY.data[i * outFeatures + o] } }
        }
        tracker?.finished(parameterHandles)
        guard inputGradient else { return nil }
        let dx = Tensor(uninitializedShape: x.shape)
        GEMM.multiply(m: n, n: inFeatures, k: outFeatures, a: dY.data, lda: outFeatures, b: store.values(weight),
                      ldb: inFeatures, beta: 0, c: dx.data, ldc: inFeatures, precision: precision)
        flops += 2 * Double(n * inFeatures * outFeatures)
        return dx
    }
}
