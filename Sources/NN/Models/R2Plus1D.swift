// NN: torchvision's `r2plus1d_18` (VideoResNet with BasicBlock and Conv2Plus1D), with its state-dict keys.
//
// Key schema (the nesting of torchvision's nn.Sequentials): stem.{0,3} convs, stem.{1,4} BNs; in a block
// `layerL.B`: conv1.0.0 (1×3×3 spatial conv), conv1.0.1 (its inner BN), conv1.0.3 (3×1×1 temporal conv), conv1.1
// (BN), the same for conv2, and downsample.0 (1×1×1 conv) + downsample.1 (BN) when the shape changes; then fc.

/// torchvision's `BasicBlock` with `Conv2Plus1D` convolutions:
/// out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), each conv a (1×3×3 → BN → ReLU → 3×1×1) pair.
/// Input [N, inplanes, T, H, W] → [N, planes, T/st, H/s, W/s].
public final class R2Plus1DBlock: Layer, CompactingLayer {
    /// State-dict prefix, e.g. `layer2.0`.
    public let name: String
    let main: Sequential
    let downsample: Sequential?

    /// `stride` is the spatial stride, `temporalStride` the temporal one (torchvision uses the same for both).
    init(store: ParameterStore, name: String, inplanes: Int, planes: Int, stride: Int, temporalStride: Int) {
        // torchvision's midplanes formula, shared by conv1 and conv2 of the block.
        self.name = name
        let mid = (inplanes * planes * 3 * 3 * 3) / (inplanes * 3 * 3 + 3 * planes)
        // BNs followed by a ReLU own their dY and may overwrite it; conv2.1's dY is shared with the shortcut.
        func bn(_ name: String, _ channels: Int, overwrite: Bool = true) -> BatchNorm3d {
            let layer = followingConv(BatchNorm3d(store: store, name: name, channels: channels))
            layer.overwritesGradient = overwrite
            return layer
        }
        func conv2plus1d(_ prefix: String, _ cin: Int, _ s: Int, _ st: Int, last: Bool) -> [Layer] {
            [Conv3d(store: store, name: "\(prefix).0.0", inChannels: cin, outChannels: mid, kernel: [1, 3, 3],
                    stride: [1, s, s], padding: [0, 1, 1]),
             bn("\(prefix).0.1", mid),
             ReLU(inPlace: true),
             Conv3d(store: store, name: "\(prefix).0.3", inChannels: mid, outChannels: planes, kernel: [3, 1, 1],
                    stride: [st, 1, 1], padding: [1, 0, 0]),
             bn("\(prefix).1", planes, overwrite: !last)]
        }
        main = Sequential(conv2plus1d("\(name).conv1", inplanes, stride, temporalStride, last: false)
                          + [ReLU(inPlace: true)] + conv2plus1d("\(name).conv2", planes, 1, 1, last: true))
        if stride != 1 || temporalStride != 1 || inplanes != planes {
            downsample = Sequential([
                Conv3d(store: store, name: "\(name).downsample.0", inChannels: inplanes, outChannels: planes,
                       kernel: [1, 1, 1], stride: [temporalStride, stride, stride]),
                followingConv(BatchNorm3d(store: store, name: "\(name).downsample.1", channels: planes))])
        } else {
            downsample = nil
        }
    }

    public var sublayers: [Layer] { [main] + (downsample.map { [$0] } ?? []) }

    /// Keep the final ReLU's mask as one bit per element (bf16 training; see `CompactingLayer`).
    public var compactActivations = false
    // Cache for backward: the output (the final ReLU's mask), or in compact training only the mask; the sublayers
    // cache the rest.
    private var output: Tensor?
    private var mask: PositiveMask?

    /// x: [N, inplanes, T, H, W]; returns [N, planes, T', H', W'].
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let shortcut = try downsample?.forward(x, training: training) ?? x
        let y = try main.forward(x, training: training)  // the last BN's output, which this block then owns
        try ResidualAdd.forward(y, shortcut)
        let yp = y.data, total = y.count
        let chunks = max(1, min(64, total / 16384))
        parallelFor(chunks) { k in
            for j in (total * k / chunks)..<(total * (k + 1) / chunks) { yp[j] = max(yp[j], 0) }
        }
        output = compactActivations ? nil : y
        mask = compactActivations && training ? PositiveMask(y) : nil
        return y
    }

    /// dY: the output's shape (overwritten); returns dX [N, inplanes, T, H, W] or nil. The shortcut runs first
    /// because its parameters come last in the table.
    public func backward(_ dY: Tensor, inputGradient: Bool) throws -> Tensor? {
        if let mask, mask.shape == dY.shape {
            mask.apply(to: dY)
            self.mask = nil  // needed by this backward only
        } else {
            guard let y = output, y.shape == dY.shape else { throw NNError("R2Plus1DBlock", "backward before forward") }
            let yp = y.data, dp = dY.data, total = dY.count
            let chunks = max(1, min(64, total / 16384))
            parallelFor(chunks) { k in
                let lo = total * k / chunks, hi = total * (k + 1) / chunks
                maskWherePositive(yp + lo, dp + lo, hi - lo)
            }
        }
        let (dMain, dShortcut) = ResidualAdd.backward(dY)
        let dX0: Tensor?
        if let downsample {
            dX0 = try downsample.backward(dShortcut, inputGradient: inputGradient)
        } else {
            dX0 = dShortcut  // not overwritten by the main branch: its first backward (BN) writes its own dX
        }
        guard let dX = try main.backward(dMain, inputGradient: inputGradient) else { return nil }
        if let dX0 { try ResidualAdd.forward(dX, dX0) }
        return dX
    }
}

/// torchvision's `r2plus1d_18`. Input [N, 3, T, H, W] → logits [N, classes].
public final class R2Plus1D18: StagedClassifier {
    /// `width` 64 gives torchvision's channel counts (45/64 stem, 64…512 blocks); other widths scale them.
    /// `temporalStride` 2 is torchvision's; 1 keeps T through the backbone.
    public init(classes: Int, width: Int = 64, temporalStride: Int = 2) {
        precondition(temporalStride == 1 || temporalStride == 2, "temporalStride must be 1 or 2")
        let store = ParameterStore()
        let stemMid = max(1, (45 * width + 32) / 64)
        var stages: [Layer] = [
            Conv3d(store: store, name: "stem.0", inChannels: 3, outChannels: stemMid, kernel: [1, 7, 7],
                   stride: [1, 2, 2], padding: [0, 3, 3]),
            overwriting(followingConv(BatchNorm3d(store: store, name: "stem.1", channels: stemMid))),
            ReLU(inPlace: true),
            Conv3d(store: store, name: "stem.3", inChannels: stemMid, outChannels: width, kernel: [3, 1, 1],
                   padding: [1, 0, 0]),
            overwriting(followingConv(BatchNorm3d(store: store, name: "stem.4", channels: width))),
            ReLU(inPlace: true),
        ]
        var inplanes = width
        for (l, planes) in [width, 2 * width, 4 * width, 8 * width].enumerated() {
            for b in 0..<2 {
                let s = (l > 0 && b == 0) ? 2 : 1
                stages.append(R2Plus1DBlock(store: store, name: "layer\(l + 1).\(b)", inplanes: inplanes,
                                            planes: planes, stride: s, temporalStride: s == 2 ? temporalStride : 1))
                inplanes = planes
            }
        }
        stages.append(GlobalAvgPool3d())
        stages.append(Linear(store: store, name: "fc", inFeatures: inplanes, outFeatures: classes))
        super.init(store: store, classes: classes, stages: stages)
    }
}
