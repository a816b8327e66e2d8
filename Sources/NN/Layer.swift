// NN: what every layer offers (forward/backward on tensors) and how parameter-holding layers report that their
// gradients are final, so that the trainer can start allreducing buckets while backward continues.

/// A layer: `forward` maps an input to an output and caches what `backward` needs; `backward` maps the output
/// gradient to the input gradient and ACCUMULATES into its parameter gradients (zero them with
/// `ParameterStore.zeroGrad()`).
public protocol Layer: AnyObject {
    /// Takes the layer's input (shape documented per layer) and returns its output. The returned tensor is owned
    /// by the layer and reused by its next forward, except with compact activations (bf16; `CompactingLayer`), where
    /// it is fresh and lives as long as the caller holds it.
    func forward(_ x: Tensor, training: Bool) throws -> Tensor
    /// Takes dY (the shape `forward` returned) and returns dX (the input's shape), or nil when `inputGradient` is
    /// false (then only parameter gradients are computed). May overwrite `dY` (ReLU does, in place).
    func backward(_ dY: Tensor, inputGradient: Bool) throws -> Tensor?
    /// Layers nested inside this one, in registration order (empty for leaves).
    var sublayers: [Layer] { get }
}

extension Layer {
    public var sublayers: [Layer] { [] }

    /// Backward that always returns dX.
    public func backward(_ dY: Tensor) throws -> Tensor {
        guard let dX = try backward(dY, inputGradient: true) else {
            throw NNError("\(type(of: self))", "backward returned no input gradient")
        }
        return dX
    }

    /// This layer and every layer nested in it, depth first in registration order.
    public var allLayers: [Layer] { [self] + sublayers.flatMap { $0.allLayers } }
}

/// A layer that owns entries of a `ParameterStore`.
public protocol ParametricLayer: Layer {
    /// State-dict prefix, e.g. `layer2.0.conv1.0.0`.
    var name: String { get }
    /// Learnable entries (weight, then bias when present).
    var parameterHandles: [ParameterHandle] { get }
    /// Frozen layers compute no parameter gradients (frozen BatchNorm also uses its running statistics).
    var isFrozen: Bool { get set }
    /// Told the flat-gradient offset of this layer's parameters once their gradients are final.
    var tracker: GradientTracker? { get set }
}

/// Collects "gradients final from this offset on" events during one backward and forwards each new, lower offset to
/// `onReady`. Backward visits layers in reverse table order, so the offsets only decrease.
public final class GradientTracker {
    public var onReady: ((Int) -> Void)?
    public private(set) var lowestReady: Int

    let store: ParameterStore

    init(store: ParameterStore) {
        self.store = store
        lowestReady = store.parameterCount
    }

    /// Starts a new backward pass.
    func reset() { lowestReady = store.parameterCount }

    /// Called by a layer when gradients of `handles` are final.
    func finished(_ handles: [ParameterHandle]) {
        guard let lowest = handles.map({ store.entry($0).offset }).min() else { return }
        report(lowest)
    }

    /// Declares every offset ≥ `offset` final.
    func report(_ offset: Int) {
        guard offset < lowestReady else { return }
        lowestReady = offset
        onReady?(offset)
    }
}

/// Layers applied one after the other: y = fₙ(…f₁(x)).
public final class Sequential: Layer {
    public let layers: [Layer]
    public init(_ layers: [Layer]) { self.layers = layers }
    public var sublayers: [Layer] { layers }

    /// x: the first layer's input; returns the last layer's output.
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        var h = x
        for l in layers { h = try l.forward(h, training: training) }
        return h
    }

    /// dY: the last layer's output shape; returns dX of the first layer's input (nil when not asked).
    public func backward(_ dY: Tensor, inputGradient: Bool) throws -> Tensor? {
        var d = dY
        for (i, l) in layers.enumerated().reversed() {
            let needed = i > 0 || inputGradient
            guard let next = try l.backward(d, inputGradient: needed) else { return nil }
            d = next
        }
        return d
    }
}
