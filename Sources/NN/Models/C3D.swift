// NN: the C3D variant of the seed pipeline: eight 3×3×3 conv + BN + ReLU blocks, four (1,2,2) max pools, global
// average pooling and a linear classifier. Keys `conv1.conv.weight`, `conv1.bn.*`, …, `fc.weight`, `fc.bias`.

/// C3D. Input [N, 3, T, H, W] → logits [N, classes]. `width` 64 gives widths 64, 128, 256, 256, 512 × 4.
public final class C3D: StagedClassifier {
    public init(classes: Int, width: Int = 64) {
        let store = ParameterStore()
        let blocks: [(String, Int, Bool)] = [
            ("conv1", 1, true), ("conv2", 2, true), ("conv3a", 4, false), ("conv3b", 4, true),
            ("conv4a", 8, false), ("conv4b", 8, true), ("conv5a", 8, false), ("conv5b", 8, false),
        ]
        var stages: [Layer] = []
        var cin = 3
        for (name, multiple, pool) in blocks {
            let cout = width * multiple
            stages.append(Conv3d(store: store, name: "\(name).conv", inChannels: cin, outChannels: cout,
                                 kernel: [3, 3, 3], padding: [1, 1, 1]))
            stages.append(overwriting(followingConv(BatchNorm3d(store: store, name: "\(name).bn", channels: cout))))
            stages.append(ReLU(inPlace: true))
            if pool { stages.append(MaxPool3d(kernel: [1, 2, 2])) }
            cin = cout
        }
        // Mean over H, W then over T equals the mean over (T, H, W): every frame has the same H·W.
        stages.append(GlobalAvgPool3d())
        stages.append(Linear(store: store, name: "fc", inFeatures: cin, outFeatures: classes))
        super.init(store: store, classes: classes, stages: stages)
    }
}
