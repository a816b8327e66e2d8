// NN: SGD and AdamW over the store's flat buffers, with PyTorch's exact update rules and parameter groups.
//
// Optimizer state (momentum, Adam moments) lives in flat buffers with the same layout as `store.parameters`:
// element `e.offset + j` of a state buffer belongs to element j of entry e. A per-entry step count plays the role
// of torch's per-parameter state (0 = "no state yet": SGD then seeds its momentum with the gradient, AdamW starts
// its bias correction), so an entry unfrozen mid-run starts fresh exactly as it would in torch. Saving the state
// is one safetensors file with keys `<slot>.<name>` and `step.<name>`; a resumed run continues bit for bit.
//
// Scalars (lr, decay, bias corrections) are computed in Double and rounded to Float once, as torch does with
// Python floats; element arithmetic is Float in torch's order (single-tensor, non-foreach path).
import Foundation

/// A set of `.parameter` entries sharing a learning rate and weight decay (torch's param group).
public struct ParameterGroup: Equatable, Sendable {
    public var name: String
    /// Indices into `store.entries`; all `.parameter`, each in at most one group.
    public var indices: [Int]
    /// The learning rate a schedule scales (`LRSchedule.learningRate(step:baseLR:)`).
    public var baseLR: Double
    /// The learning rate the next `step()` uses.
    public var lr: Double
    public var weightDecay: Double

    public init(name: String, indices: [Int], lr: Double, weightDecay: Double) {
        self.name = name; self.indices = indices; self.baseLR = lr; self.lr = lr; self.weightDecay = weightDecay
    }

    /// Groups for fine-tuning: the head (entries under any of `headPrefixes`, e.g. `["fc"]`) and the backbone
    /// (everything else) with their own learning rates. With `exemptNormAndBias`, 1-D parameters (BN weights and
    /// biases, every bias) go to twin groups `<name>.no_decay` with weight decay 0. Frozen entries are included
    /// (the optimizer skips them while `requiresGrad` is false, so unfreezing later needs no new groups).
    /// Empty groups are left out.
    public static func backboneAndHead(_ store: ParameterStore, headPrefixes: [String], backboneLR: Double, headLR: Double,
                                       weightDecay: Double, exemptNormAndBias: Bool = true) -> [ParameterGroup] {
        var groups: [ParameterGroup] = []
        for (name, lr, isHead) in [("backbone", backboneLR, false), ("head", headLR, true)] {
            var decay: [Int] = [], noDecay: [Int] = []
            for (i, e) in store.entries.enumerated() where e.role == .parameter {
                guard headPrefixes.contains(where: { e.isUnder(prefix: $0) }) == isHead else { continue }
                if exemptNormAndBias && e.shape.count <= 1 { noDecay.append(i) } else { decay.append(i) }
            }
            if !decay.isEmpty { groups.append(ParameterGroup(name: name, indices: decay, lr: lr, weightDecay: weightDecay)) }
            if !noDecay.isEmpty { groups.append(ParameterGroup(name: name + ".no_decay", indices: noDecay, lr: lr, weightDecay: 0)) }
        }
        return groups
    }
}

/// What SGD and AdamW share: groups over one store, per-entry step counts, flat state buffers, and their file.
public protocol Optimizer: AnyObject {
    var store: ParameterStore { get }
    var groups: [ParameterGroup] { get set }
    /// Updates of each entry so far (0 = no state yet); indexed like `store.entries`.
    var entrySteps: [Int64] { get set }
    /// Calls of `step()` so far (saved and restored with the state).
    var stepCount: Int { get set }
    /// `sgd` or `adamw`; a state file of another kind does not load.
    var kind: String { get }
    /// Hyperparameters that must match for a saved state to load (as strings, as stored in the file).
    var hyperparameters: [String: String] { get }
    /// Named state buffers, each laid out like `store.parameters`.
    var stateSlots: [(name: String, buffer: FlatBuffer)] { get }
    /// Applies one update to every trainable (`requiresGrad`) entry of every group from `store.gradients`.
    func step()
}

extension Optimizer {
    /// Sets each group's `lr` to the schedule's value for `step` (0-based: the step about to be taken).
    public func setLearningRates(step: Int, schedule: LRSchedule) {
        for g in groups.indices { groups[g].lr = schedule.learningRate(step: step, baseLR: groups[g].baseLR) }
    }

    /// Checks the groups against the store (programmer errors).
    func validateGroups() {
        precondition(store.isSealed, "optimizer built before seal()")
        var seen = Set<Int>()
        for g in groups {
            for i in g.indices {
                precondition(store.entries[i].role == .parameter, "group \(g.name): \(store.entries[i].name) is not a parameter")
                precondition(seen.insert(i).inserted, "\(store.entries[i].name) is in two parameter groups")
            }
        }
    }

    /// Writes the optimizer state atomically: `<slot>.<name>` (F32, the entry's shape) and `step.<name>` (I64, [])
    /// for every parameter entry; metadata `optimizer`, `step`, the hyperparameters and `groups` (JSON, informative).
    public func saveState(to path: String) throws {
        var records: [SafeTensorsRecord] = []
        for (i, e) in store.entries.enumerated() where e.role == .parameter {
            for slot in stateSlots {
                records.append(SafeTensorsRecord(name: "\(slot.name).\(e.name)", shape: e.shape, source: .float32(slot.buffer.pointer + e.offset)))
            }
            records.append(SafeTensorsRecord(name: "step.\(e.name)", shape: [], source: .int64([entrySteps[i]])))
        }
        var meta = hyperparameters
        meta["optimizer"] = kind
        meta["step"] = String(stepCount)
        meta["groups"] = "[" + groups.map { g in
            "{\"name\":\(SafeTensorsWriter.jsonString(g.name)),\"size\":\(g.indices.count),\"base_lr\":\(g.baseLR),\"lr\":\(g.lr),\"weight_decay\":\(g.weightDecay)}"
        }.joined(separator: ",") + "]"
        try withExtendedLifetime(stateSlots) { try SafeTensorsWriter.write(records, metadata: meta, to: path) }
    }

    /// Restores state written by `saveState`, strictly: the kind and hyperparameters must match, and the keys
    /// must be exactly those this optimizer would write. Group learning rates are not restored (the schedule
    /// sets them from `stepCount`).
    public func loadState(from path: String) throws {
        let file = try SafeTensorsFile(path: path)
        for (key, want) in hyperparameters.merging(["optimizer": kind], uniquingKeysWith: { a, _ in a }) where file.metadata[key] != want {
            throw WeightsError(.badMetadata, path: path, key: key,
                               detail: "saved \(key) = \(file.metadata[key] ?? "none"), this optimizer has \(want)",
                               hint: "resume with the optimizer settings of the run that saved the state")
        }
        guard let steps = file.metadata["step"].flatMap(Int.init) else {
            throw WeightsError(.badMetadata, path: path, key: "step", detail: "no step count in the metadata",
                               hint: "not an optimizer state file")
        }
        // Check every key before changing anything.
        var expected = Set<String>()
        for e in store.entries where e.role == .parameter {
            for slot in stateSlots {
                let key = "\(slot.name).\(e.name)"
                expected.insert(key)
                let info = try file.info(key)
                guard info.shape == e.shape, info.dtype == .F32 else {
                    throw WeightsError(.shapeMismatch, path: path, key: key, detail: "saved \(info.dtype) \(info.shape), expected F32 \(e.shape)",
                                       hint: "the state was saved for a different model")
                }
            }
            expected.insert("step.\(e.name)")
            _ = try file.info("step.\(e.name)")
        }
        if let extra = file.names.first(where: { !expected.contains($0) }) {
            throw WeightsError(.unexpectedKey, path: path, key: extra, detail: "the state file has \(extra), which this model does not",
                               hint: "the state was saved for a different model")
        }
        for (i, e) in store.entries.enumerated() where e.role == .parameter {
            for slot in stateSlots { try file.readFloats("\(slot.name).\(e.name)", into: slot.buffer.pointer + e.offset, count: e.count) }
            entrySteps[i] = try file.int64s("step.\(e.name)")[0]
        }
        stepCount = steps
    }
}

/// torch.optim.SGD: `d = g + wd·p`; with momentum `buf = d` on an entry's first step, then
/// `buf = momentum·buf + (1 − dampening)·d`; `d = d + momentum·buf` (Nesterov) or `d = buf`; `p -= lr·d`.
public final class SGD: Optimizer {
    public let store: ParameterStore
    public var groups: [ParameterGroup]
    public var entrySteps: [Int64]
    public var stepCount = 0
    public let momentum: Double, dampening: Double, nesterov: Bool
    /// Momentum buffer, laid out like `store.parameters`.
    public let momentumBuffer: FlatBuffer

    public init(store: ParameterStore, groups: [ParameterGroup], momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "Nesterov momentum requires a momentum and zero dampening")
        self.store = store; self.groups = groups
        self.momentum = momentum; self.dampening = dampening; self.nesterov = nesterov
        entrySteps = [Int64](repeating: 0, count: store.entries.count)
        momentumBuffer = FlatBuffer(count: store.parameterCount)
        validateGroups()
    }

    public var kind: String { "sgd" }
    public var hyperparameters: [String: String] {
        ["momentum": "\(momentum)", "dampening": "\(dampening)", "nesterov": "\(nesterov)"]
    }
    public var stateSlots: [(name: String, buffer: FlatBuffer)] { [("momentum_buffer", momentumBuffer)] }

    public func step() {
        let mom = Float(momentum), keep = Float(1 - dampening)
        for g in groups {
            let lr = Float(g.lr), wd = Float(g.weightDecay)
            for i in g.indices where store.requiresGrad[i] {
                let e = store.entries[i]
                let p = store.parameters.pointer + e.offset, grad = store.gradients.pointer + e.offset
                let buf = momentumBuffer.pointer + e.offset
                let first = entrySteps[i] == 0
                for j in 0..<e.count {
                    var d = grad[j]
                    if wd != 0 { d += wd * p[j] }
                    if mom != 0 {
                        buf[j] = first ? d : mom * buf[j] + keep * d
                        d = nesterov ? d + mom * buf[j] : buf[j]
                    }
                    p[j] -= lr * d
                }
                entrySteps[i] += 1
            }
        }
        stepCount += 1
    }
}

/// torch.optim.AdamW: `p *= 1 − lr·wd`; `m = m + (1 − β1)(g − m)`; `v = β2·v + (1 − β2)·g²`;
/// `p -= lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps)`, t the entry's step count.
public final class AdamW: Optimizer {
    public let store: ParameterStore
    public var groups: [ParameterGroup]
    public var entrySteps: [Int64]
    public var stepCount = 0
    public let beta1: Double, beta2: Double, eps: Double
    /// First and second moments, laid out like `store.parameters`.
    public let expAvg: FlatBuffer, expAvgSq: FlatBuffer

    public init(store: ParameterStore, groups: [ParameterGroup], beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8) {
        self.store = store; self.groups = groups
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
        entrySteps = [Int64](repeating: 0, count: store.entries.count)
        expAvg = FlatBuffer(count: store.parameterCount)
        expAvgSq = FlatBuffer(count: store.parameterCount)
        validateGroups()
    }

    public var kind: String { "adamw" }
    public var hyperparameters: [String: String] { ["beta1": "\(beta1)", "beta2": "\(beta2)", "eps": "\(eps)"] }
    public var stateSlots: [(name: String, buffer: FlatBuffer)] { [("exp_avg", expAvg), ("exp_avg_sq", expAvgSq)] }

    public func step() {
        let b1 = Float(1 - beta1), b2 = Float(beta2), oneMinusB2 = Float(1 - beta2), epsF = Float(eps)
        for g in groups {
            for i in g.indices where store.requiresGrad[i] {
                entrySteps[i] += 1
                let t = Double(entrySteps[i])
                let decay = Float(1 - g.lr * g.weightDecay)
                let stepSize = Float(g.lr / (1 - pow(beta1, t)))
                let correction2 = Float((1 - pow(beta2, t)).squareRoot())
                let e = store.entries[i]
                let p = store.parameters.pointer + e.offset, grad = store.gradients.pointer + e.offset
                let m = expAvg.pointer + e.offset, v = expAvgSq.pointer + e.offset
                for j in 0..<e.count {
                    p[j] *= decay
                    m[j] += b1 * (grad[j] - m[j])
                    v[j] = b2 * v[j] + oneMinusB2 * (grad[j] * grad[j])
                    let denom = v[j].squareRoot() / correction2 + epsF
                    p[j] -= stepSize * (m[j] / denom)
                }
            }
        }
        stepCount += 1
    }
}
