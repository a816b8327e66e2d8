// NN: what the trainer sees of a model, and the shared machinery of both architectures (a chain of top-level
// stages over one parameter table: freezing, initialization, gradient-ready events, FLOP counting).
import Foundation
import Support

/// A clip classifier: [N, 3, T, H, W] → logits [N, classes], with its parameters in one `ParameterStore`.
public protocol VideoClassifier: AnyObject {
    /// The parameter table (torchvision state-dict keys, in state-dict order) and its flat buffers.
    var store: ParameterStore { get }
    var classes: Int { get }
    /// input: [N, 3, T, H, W]; returns logits [N, classes] (owned by the model, valid until the next forward).
    /// `training` selects batch statistics in BatchNorm (except frozen layers).
    func forward(_ input: Tensor, training: Bool) throws -> Tensor
    /// dLogits: [N, classes]; accumulates into `store.gradients`, in reverse table order.
    func backward(_ dLogits: Tensor) throws
    /// Sums BatchNorm statistics across ranks (synchronized BN); nil on one rank.
    var bnReducer: BatchNormReducer? { get set }
    /// The arithmetic of every conv and linear layer's GEMMs (BatchNorm, losses and the optimizer stay fp32).
    var precision: Precision { get set }
    /// Called during backward with the lowest flat-gradient offset whose gradients are final (every offset ≥ it is
    /// final); offsets only decrease within one backward, which ends with 0.
    var gradientsReady: ((Int) -> Void)? { get set }
    /// Freezes exactly the entries named `prefix` or `prefix.…` for some prefix (all others become trainable):
    /// sets `store.requiresGrad`, puts those BatchNorm layers in evaluation mode, and makes backward skip their
    /// parameter gradients and every input gradient below the lowest trainable layer. Unknown prefixes match
    /// nothing; check them first with `store.validate(prefixes:)`. (Flags changed on the store directly also stop
    /// gradients, but leave BatchNorm in training mode.)
    func freeze(prefixes: [String])
    /// torchvision's initialization from `SeededRandom`: Kaiming normal (fan_out, ReLU) for convs, BN weight 1 and
    /// bias 0 (running mean 0, var 1, counter 0), Linear normal(0, 0.01) and bias 0. New models come initialized
    /// with seed 0.
    func initialize(seed: UInt64)
    /// Conv and linear GEMM FLOPs (2 × multiply-adds) done since the last `resetFLOPs()`, forward and backward.
    var flops: Double { get }
    func resetFLOPs()
}

/// A model made of top-level stages run one after the other (blocks count as one stage).
public class StagedClassifier: VideoClassifier {
    public let store: ParameterStore
    public let classes: Int
    let stages: [Layer]
    let leaves: [ParametricLayer]
    let tracker: GradientTracker
    /// Index of the lowest stage holding a parameter with `requiresGrad` (stages below it get no backward at all).
    /// Read from `store.requiresGrad` at each backward, so flags set directly on the store are honoured too.
    private var lowestTrainableStage: Int {
        stages.firstIndex { stage in
            stage.allLayers.contains { layer in
                guard let p = layer as? ParametricLayer else { return false }
                return p.parameterHandles.contains { store.requiresGrad[$0.index] }
            }
        } ?? stages.count
    }

    init(store: ParameterStore, classes: Int, stages: [Layer]) {
        store.seal()
        self.store = store
        self.classes = classes
        self.stages = stages
        leaves = stages.flatMap { $0.allLayers }.compactMap { $0 as? ParametricLayer }
        tracker = GradientTracker(store: store)
        for l in leaves { l.tracker = tracker }
        let scratch = ConvScratch()
        for case let conv as Conv3d in leaves { conv.scratch = scratch }
        // Like torchvision, a new model is initialized (BN weights must not start at zero); `initialize(seed:)`
        // re-draws with another seed.
        initialize(seed: 0)
    }

    /// Every convolution of the model, in table order (for tuning such as `columnBudget`).
    public var convolutions: [Conv3d] { leaves.compactMap { $0 as? Conv3d } }

    public var precision: Precision = .fp32 {
        didSet {
            for case let conv as Conv3d in leaves { conv.precision = precision }
            for case let linear as Linear in leaves { linear.precision = precision }
            // bf16 training keeps its activations compact, as autocast keeps them in bf16.
            compactActivations = precision == .bf16
        }
    }

    /// Whether training keeps activations for backward compactly (`CompactingLayer`): on with bf16, off with fp32;
    /// tests turn it off to compare.
    public var compactActivations = false {
        didSet {
            for case let layer as CompactingLayer in stages.flatMap({ $0.allLayers }) {
                layer.compactActivations = compactActivations
            }
        }
    }

    public var bnReducer: BatchNormReducer? {
        didSet { for case let bn as BatchNorm3d in leaves { bn.reducer = bnReducer } }
    }

    public var gradientsReady: ((Int) -> Void)? {
        get { tracker.onReady }
        set { tracker.onReady = newValue }
    }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        guard input.shape.count == 5, input.shape[1] == 3 else {
            throw NNError("\(type(of: self))", "expects input [N, 3, T, H, W], got \(input.shape)")
        }
        var h = input
        for s in stages { h = try s.forward(h, training: training) }
        return h
    }

    public func backward(_ dLogits: Tensor) throws {
        tracker.reset()
        var d = dLogits
        let lowest = lowestTrainableStage
        for i in stride(from: stages.count - 1, through: lowest, by: -1) {
            guard let next = try stages[i].backward(d, inputGradient: i > lowest) else { break }
            d = next
        }
        tracker.report(0)
    }

    public func freeze(prefixes: [String]) {
        func frozen(_ name: String) -> Bool { prefixes.contains { name == $0 || name.hasPrefix($0 + ".") } }
        for (i, e) in store.entries.enumerated() where e.role == .parameter { store.requiresGrad[i] = !frozen(e.name) }
        for l in leaves { l.isFrozen = l.parameterHandles.allSatisfy { !store.requiresGrad[$0.index] } }
    }

    public func initialize(seed: UInt64) {
        for (index, layer) in leaves.enumerated() {
            var rng = SeededRandom(keys: seed, UInt64(index))
            switch layer {
            case let conv as Conv3d:
                let fanOut = conv.outChannels * conv.kernel.reduce(1, *)
                let std = (2.0 / Double(fanOut)).squareRoot()
                fillNormal(conv.weight, std: std, &rng)
                if let b = conv.bias { store.values(b).update(repeating: 0, count: store.entry(b).count) }
            case let bn as BatchNorm3d:
                bn.resetParameters()
            case let fc as Linear:
                fillNormal(fc.weight, std: 0.01, &rng)
                if let b = fc.bias { store.values(b).update(repeating: 0, count: store.entry(b).count) }
            default:
                break
            }
        }
    }

    /// Runs one training step (forward, loss, backward) stage by stage and returns one line per stage with its
    /// forward and backward wall time, slowest first. input: [N, 3, T, H, W]; labels: N class indices.
    public func profileTrainStep(_ input: Tensor, labels: [Int]) throws -> [String] {
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        func name(_ i: Int) -> String {
            (stages[i] as? ParametricLayer)?.name ?? (stages[i] as? R2Plus1DBlock)?.name ?? "\(i):\(type(of: stages[i]))"
        }
        var fwd = [Double](repeating: 0, count: stages.count), bwd = fwd
        store.zeroGrad()
        var h = input
        for (i, s) in stages.enumerated() {
            let t = now()
            h = try s.forward(h, training: true)
            fwd[i] = Double(now() - t) / 1e9
        }
        var d = try SoftmaxCrossEntropy.compute(logits: h, labels: labels, labelSmoothing: 0.1).dLogits
        let lowest = lowestTrainableStage
        for i in stride(from: stages.count - 1, through: lowest, by: -1) {
            let t = now()
            let next = try stages[i].backward(d, inputGradient: i > lowest)
            bwd[i] = Double(now() - t) / 1e9
            guard let next else { break }
            d = next
        }
        let total = fwd.reduce(0, +) + bwd.reduce(0, +)
        return stages.indices.sorted { fwd[$0] + bwd[$0] > fwd[$1] + bwd[$1] }.map {
            String(format: "  %@ forward %7.3f s  backward %7.3f s  (%4.1f%%)", name($0).padding(toLength: 22, withPad: " ", startingAt: 0), fwd[$0], bwd[$0],
                   100 * (fwd[$0] + bwd[$0]) / total)
        }
    }

    private func fillNormal(_ h: ParameterHandle, std: Double, _ rng: inout SeededRandom) {
        let p = store.values(h)
        for i in 0..<store.entry(h).count { p[i] = Float(rng.nextGaussian() * std) }
    }

    public var flops: Double {
        leaves.reduce(0) { $0 + (($1 as? Conv3d)?.flops ?? 0) + (($1 as? Linear)?.flops ?? 0) }
    }

    public func resetFLOPs() {
        for l in leaves {
            (l as? Conv3d)?.flops = 0
            (l as? Linear)?.flops = 0
        }
    }
}

/// Marks a BatchNorm that is followed by a ReLU (so it alone uses its dY) as allowed to overwrite dY.
func overwriting(_ bn: BatchNorm3d) -> BatchNorm3d {
    bn.overwritesGradient = true
    return bn
}

/// Marks a BN that normalizes a conv's output, which nothing else reads: in bf16 training it normalizes in place.
func followingConv(_ bn: BatchNorm3d) -> BatchNorm3d {
    bn.overwritesInput = true
    return bn
}

/// Builds a model by architecture name (`Architecture`'s raw values); throws, listing the known names, for any other.
public func makeModel(arch: String, classes: Int, width: Int = 64, temporalStride: Int = 2) throws
    -> VideoClassifier {
    try Architecture(named: arch).makeModel(classes: classes, width: width, temporalStride: temporalStride)
}
