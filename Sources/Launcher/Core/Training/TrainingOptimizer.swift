// Launcher: the optimizer a training run uses, built from its options: SGD or AdamW over backbone and head
// parameter groups (BN weights and biases exempt from weight decay), an LR schedule, clipping, and its state file.
import Foundation
import NN

final class TrainingOptimizer {
    let optimizer: Optimizer
    let options: TrainOptions
    let store: ParameterStore

    init(model: VideoClassifier, options o: TrainOptions) throws {
        store = model.store
        options = o
        let groups = ParameterGroup.backboneAndHead(store, headPrefixes: ["fc"], backboneLR: o.backboneLr ?? o.lr,
                                                    headLR: o.headLr ?? o.lr, weightDecay: o.weightDecay)
        switch o.optimizer {
        case .sgd: optimizer = SGD(store: store, groups: groups, momentum: o.momentum, nesterov: o.nesterov)
        case .adamw: optimizer = AdamW(store: store, groups: groups)
        }
    }

    /// The schedule over a run of `totalSteps` optimizer steps.
    func schedule(totalSteps: Int) -> LRSchedule {
        switch options.schedule {
        case .constant: return .constant
        case .step: return .step(stepSize: options.stepSize, gamma: options.gamma)
        case .cosine:
            let warmup = min(options.warmupSteps, max(0, totalSteps - 1))
            return .warmupCosine(warmupSteps: warmup, startFactor: warmup > 0 ? 0.01 : 1,
                                 totalSteps: max(totalSteps, warmup + 1), minFactor: 0)
        }
    }

    /// Each group's learning rate for `step` (0-based), backbone first.
    func learningRates(step: Int, totalSteps: Int) -> [Double] {
        let s = schedule(totalSteps: totalSteps)
        return optimizer.groups.map { s.learningRate(step: step, baseLR: $0.baseLR) }
    }

    /// One update with the given per-group learning rates (from `learningRates`).
    func step(learningRates: [Double]) {
        for g in optimizer.groups.indices { optimizer.groups[g].lr = learningRates[g] }
        optimizer.step()
    }

    /// Clips the global gradient norm; returns the norm before clipping.
    func clipGradients(maxNorm: Double) -> Float { store.clipGradientNorm(maxNorm: Float(maxNorm)) }

    func save(to path: String) throws { try optimizer.saveState(to: path) }
    func load(from path: String) throws { try optimizer.loadState(from: path) }
}
