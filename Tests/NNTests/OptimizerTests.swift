// Tests: SGD and AdamW follow torch.optim's trajectories step for step, skip frozen entries, and resume exactly
// from a saved state.
import Foundation
import NN
import XCTest

/// The optimizer fixture's model plus a frozen matrix and a BN buffer, in table order.
private func trajectoryStore(_ fixture: [String: Any]) -> ParameterStore {
    let shapes = fixture["shapes"] as! [String: [Int]]
    let s = ParameterStore()
    _ = s.register("backbone.conv.weight", shape: shapes["backbone.conv.weight"]!)
    _ = s.register("backbone.frozen.weight", shape: [2, 2])
    _ = s.register("backbone.bn.weight", shape: shapes["backbone.bn.weight"]!)
    _ = s.register("backbone.bn.bias", shape: shapes["backbone.bn.bias"]!)
    _ = s.register("backbone.bn.running_mean", shape: [3], role: .buffer)
    _ = s.register("fc.weight", shape: shapes["fc.weight"]!)
    _ = s.register("fc.bias", shape: shapes["fc.bias"]!)
    s.seal()
    for (name, v) in fixture["initial"] as! [String: [Double]] {
        let p = s.values(s.handle(named: name)!)
        for (j, x) in v.enumerated() { p[j] = Float(x) }
    }
    for j in 0..<4 { s.values(s.handle(named: "backbone.frozen.weight")!)[j] = Float(j) }
    try! s.freeze(prefixes: ["backbone.frozen"])
    return s
}

/// Copies step `k`'s gradients in; the frozen entry gets gradients too, which the optimizer must ignore.
private func setGradients(_ s: ParameterStore, _ fixture: [String: Any], step k: Int) {
    for (name, v) in (fixture["gradients"] as! [[String: [Double]]])[k] {
        let g = s.gradient(s.handle(named: name)!)
        for (j, x) in v.enumerated() { g[j] = Float(x) }
    }
    for j in 0..<4 { s.gradient(s.handle(named: "backbone.frozen.weight")!)[j] = 100 }
}

private func makeOptimizer(_ run: String, _ s: ParameterStore) -> Optimizer {
    let groups = ParameterGroup.backboneAndHead(s, headPrefixes: ["fc"], backboneLR: 0.01, headLR: 0.1, weightDecay: 1e-3)
    switch run {
    case "sgd_nesterov": return SGD(store: s, groups: groups, momentum: 0.9, nesterov: true)
    case "sgd_dampening": return SGD(store: s, groups: groups, momentum: 0.8, dampening: 0.3)
    default: return AdamW(store: s, groups: groups, beta1: 0.9, beta2: 0.999, eps: 1e-8)
    }
}

final class OptimizerTests: XCTestCase {
    func testBackboneAndHeadGroupsMatchTorchParamGroupsWithNoDecayForNormAndBias() throws {
        let fixture = try fixtureJSON("optimizer_trajectories") as! [String: Any]
        let s = trajectoryStore(fixture)
        let groups = ParameterGroup.backboneAndHead(s, headPrefixes: ["fc"], backboneLR: 0.01, headLR: 0.1, weightDecay: 1e-3)
        XCTAssertEqual(groups.map(\.name), ["backbone", "backbone.no_decay", "head", "head.no_decay"])
        XCTAssertEqual(groups.map { $0.indices.map { s.entries[$0].name } },
                       [["backbone.conv.weight", "backbone.frozen.weight"], ["backbone.bn.weight", "backbone.bn.bias"],
                        ["fc.weight"], ["fc.bias"]])
        for (g, want) in zip(groups, fixture["groups"] as! [[String: Any]]) {
            XCTAssertEqual(g.lr, want["lr"] as! Double)
            XCTAssertEqual(g.weightDecay, want["weight_decay"] as! Double)
        }
    }

    func testSGDAndAdamWFollowTorchTrajectoriesForFiveSteps() throws {
        let fixture = try fixtureJSON("optimizer_trajectories") as! [String: Any]
        let runs = fixture["runs"] as! [String: [String: Any]]
        XCTAssertEqual(Set(runs.keys), ["sgd_nesterov", "sgd_dampening", "adamw"])
        for (run, spec) in runs.sorted(by: { $0.key < $1.key }) {
            let s = trajectoryStore(fixture)
            let frozenBefore = values(s, "backbone.frozen.weight")
            let opt = makeOptimizer(run, s)
            XCTAssertEqual(opt.kind, spec["kind"] as! String)
            var worst: Float = 0
            for (k, want) in (spec["trajectory"] as! [[String: [Double]]]).enumerated() {
                setGradients(s, fixture, step: k)
                opt.step()
                for (name, v) in want {
                    let diff = maxAbsDiff(values(s, name), v.map(Float.init))
                    worst = max(worst, diff)
                    XCTAssertLessThan(diff, 2e-6, "\(run) step \(k + 1) \(name): max abs diff \(diff)")
                }
            }
            print("\(run): max abs diff from torch over 5 steps \(worst)")
            XCTAssertEqual(values(s, "backbone.frozen.weight"), frozenBefore, "\(run) updated a frozen entry")
            XCTAssertEqual(opt.stepCount, 5)
        }
    }

    func testResumingFromSavedStateContinuesBitForBit() throws {
        let fixture = try fixtureJSON("optimizer_trajectories") as! [String: Any]
        for run in ["sgd_nesterov", "adamw"] {
            let weights = temporaryPath(self, "model.safetensors"), state = temporaryPath(self, "optimizer.safetensors")
            let a = trajectoryStore(fixture)
            let optA = makeOptimizer(run, a)
            for k in 0..<2 { setGradients(a, fixture, step: k); optA.step() }
            try a.save(to: weights)
            try optA.saveState(to: state)

            let b = trajectoryStore(fixture)
            try b.load(from: weights)
            let optB = makeOptimizer(run, b)
            try optB.loadState(from: state)
            XCTAssertEqual(optB.stepCount, 2)
            for k in 2..<5 {
                setGradients(a, fixture, step: k); optA.step()
                setGradients(b, fixture, step: k); optB.step()
            }
            XCTAssertEqual(Array(b.parameters.buffer), Array(a.parameters.buffer), "\(run): resumed run diverged")
        }
    }

    func testLoadingStateOfOtherSettingsOrKindFailsNamingTheSetting() throws {
        let fixture = try fixtureJSON("optimizer_trajectories") as! [String: Any]
        let path = temporaryPath(self, "optimizer.safetensors")
        let s = trajectoryStore(fixture)
        let groups = ParameterGroup.backboneAndHead(s, headPrefixes: ["fc"], backboneLR: 0.01, headLR: 0.1, weightDecay: 0)
        try SGD(store: s, groups: groups, momentum: 0.9).saveState(to: path)
        XCTAssertThrowsError(try SGD(store: s, groups: groups, momentum: 0.8).loadState(from: path)) {
            XCTAssertEqual(($0 as? WeightsError)?.key, "momentum")
        }
        XCTAssertThrowsError(try AdamW(store: s, groups: groups).loadState(from: path)) {
            XCTAssertEqual(($0 as? WeightsError)?.kind, .badMetadata)
        }
        XCTAssertNoThrow(try SGD(store: s, groups: groups, momentum: 0.9).loadState(from: path))
    }

    func testEntryUnfrozenMidRunStartsWithFreshMomentumLikeTorch() throws {
        let s = ParameterStore()
        let w = s.register("head.weight", shape: [3])
        s.seal()
        try s.freeze(prefixes: ["head"])
        let opt = SGD(store: s, groups: [ParameterGroup(name: "all", indices: [w.index], lr: 0.5, weightDecay: 0.1)],
                      momentum: 0.9, nesterov: true)
        for j in 0..<3 { s.values(w)[j] = Float(j + 1); s.gradient(w)[j] = 2 }
        opt.step()
        XCTAssertEqual(Array(UnsafeBufferPointer(start: s.values(w), count: 3)), [1, 2, 3], "frozen entry moved")
        try s.unfreeze(prefixes: ["head"])
        opt.step()
        // First real step: d = g + wd·p, buf = d, update d + 0.9·buf = 1.9·d.
        let want = (0..<3).map { j -> Float in let p = Float(j + 1); return p - 0.5 * 1.9 * (2 + 0.1 * p) }
        let got = Array(UnsafeBufferPointer(start: s.values(w), count: 3))
        XCTAssertLessThan(maxAbsDiff(got, want), 1e-6, "got \(got), want \(want)")
    }

    func testOptimizerGroupsTakeTheScheduleTimesTheirOwnBaseRate() {
        let s = ParameterStore()
        _ = s.register("stem.weight", shape: [2, 2]); _ = s.register("fc.weight", shape: [2, 2])
        s.seal()
        let opt = SGD(store: s, groups: ParameterGroup.backboneAndHead(s, headPrefixes: ["fc"], backboneLR: 0.01, headLR: 0.1, weightDecay: 0))
        opt.setLearningRates(step: 3, schedule: .step(stepSize: 2, gamma: 0.1))
        XCTAssertEqual(opt.groups[0].lr, 0.001, accuracy: 1e-15)
        XCTAssertEqual(opt.groups[1].lr, 0.01, accuracy: 1e-15)
    }
}
