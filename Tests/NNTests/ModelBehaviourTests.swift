// Tests: what the trainer relies on beyond the math: gradient-ready events, freezing, and synchronized BatchNorm
// across ranks equal to one rank on the global batch.
import Foundation
import NN
import XCTest

final class ModelBehaviourTests: XCTestCase {
    private func trainStep(_ model: VideoClassifier, _ x: Tensor, _ labels: [Int]) throws {
        model.store.zeroGrad()
        let logits = try model.forward(x, training: true)
        try model.backward(try SoftmaxCrossEntropy.compute(logits: logits, labels: labels, labelSmoothing: 0.1).dLogits)
    }

    func testGradientsReadyOffsetsDecreaseToZeroAndMarkFinalGradients() throws {
        for arch in ["r2plus1d_18", "c3d"] {
            let model = try makeModel(arch: arch, classes: 3, width: 2)
            model.initialize(seed: 1)
            let store = model.store
            var events: [(offset: Int, snapshot: [Float])] = []
            model.gradientsReady = { offset in events.append((offset, Array(store.gradients.buffer[offset...]))) }
            try trainStep(model, randomTensor([2, 3, 2, 16, 16], seed: 3), [0, 1])
            let final = Array(store.gradients.buffer)
            let offsets = events.map(\.offset)
            XCTAssertEqual(offsets.last, 0, "\(arch): backward ends by declaring every gradient final")
            XCTAssertEqual(offsets, offsets.sorted(by: >), "\(arch): offsets only decrease")
            XCTAssertEqual(Set(offsets).count, offsets.count, "\(arch): no offset repeated")
            XCTAssertGreaterThan(offsets.count, 10, "\(arch): events arrive layer by layer, not once at the end")
            let fc = store.entry(store.handle(named: "fc.weight")!).offset
            XCTAssertEqual(offsets.first, fc, "\(arch): the classifier's gradients are final first")
            for e in events {
                XCTAssertEqual(e.snapshot, Array(final[e.offset...]), "\(arch): gradients from \(e.offset) changed after being declared final")
            }
        }
    }

    func testBothModelsTrainOnSingleFrameClips() throws {
        for (arch, ts) in [("r2plus1d_18", 2), ("r2plus1d_18", 1), ("c3d", 2)] {
            let model = try makeModel(arch: arch, classes: 4, width: 2, temporalStride: ts)
            model.initialize(seed: 6)
            let x = randomTensor([2, 3, 1, 32, 32], seed: 7)
            let logits = try model.forward(x, training: true)
            XCTAssertEqual(logits.shape, [2, 4], "\(arch) logits shape")
            XCTAssertTrue(logits.array.allSatisfy { $0.isFinite }, "\(arch) logits finite")
            try trainStep(model, x, [0, 3])
            XCTAssertTrue(model.store.gradients.buffer.contains { $0 != 0 }, "\(arch) gradients flow with T = 1")
            XCTAssertTrue(model.store.gradients.buffer.allSatisfy { $0.isFinite }, "\(arch) gradients finite")
        }
    }

    func testInitializationFollowsTorchvisionAndDependsOnlyOnTheSeed() throws {
        let model = try makeModel(arch: "r2plus1d_18", classes: 10, width: 16)
        let store = model.store
        func values(_ name: String) -> [Float] {
            let h = store.handle(named: name)!
            return Array(UnsafeBufferPointer(start: store.values(h), count: store.entry(h).count))
        }
        func std(_ v: [Float]) -> Double {
            let m = v.reduce(0) { $0 + Double($1) } / Double(v.count)
            return (v.reduce(0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(v.count)).squareRoot()
        }
        // layer3.0.conv1.0.0: [mid, 32, 1, 3, 3], fan_out = mid · 9.
        let w = values("layer3.0.conv1.0.0.weight"), mid = store.entry(store.handle(named: "layer3.0.conv1.0.0.weight")!).shape[0]
        XCTAssertEqual(std(w), (2.0 / Double(mid * 9)).squareRoot(), accuracy: 0.05 * (2.0 / Double(mid * 9)).squareRoot())
        XCTAssertEqual(std(values("fc.weight")), 0.01, accuracy: 0.001)
        XCTAssertEqual(Set(values("fc.bias")), [0])
        XCTAssertEqual(Set(values("layer1.0.conv1.1.weight")), [1])
        XCTAssertEqual(Set(values("layer1.0.conv1.1.bias")), [0])
        XCTAssertEqual(Set(values("layer1.0.conv1.1.running_var")), [1])
        let first = Array(store.parameters.buffer)
        model.initialize(seed: 0)
        XCTAssertEqual(Array(store.parameters.buffer), first, "same seed, same weights")
        model.initialize(seed: 1)
        XCTAssertNotEqual(Array(store.parameters.buffer), first, "another seed, other weights")
    }

    func testUnknownArchitectureIsAnErrorNamingTheKnownOnes() {
        XCTAssertThrowsError(try makeModel(arch: "resnet50", classes: 3)) { error in
            XCTAssertTrue("\(error)".contains("r2plus1d_18"), "\(error)")
        }
    }

    func testFreezeLeavesFrozenGradientsAndStatisticsUntouched() throws {
        let model = try makeModel(arch: "r2plus1d_18", classes: 3, width: 2)
        model.initialize(seed: 2)
        let store = model.store
        model.freeze(prefixes: ["stem", "layer1"])
        let frozen = store.entries.indices.filter {
            store.entries[$0].name.hasPrefix("stem.") || store.entries[$0].name.hasPrefix("layer1.")
        }
        for i in frozen where store.entries[i].role == .parameter { XCTAssertFalse(store.requiresGrad[i], store.entries[i].name) }
        XCTAssertTrue(store.requiresGrad[store.handle(named: "layer2.0.conv1.0.0.weight")!.index])
        let buffersBefore = Array(store.buffers.buffer), countersBefore = store.counters
        var events: [Int] = []
        model.gradientsReady = { events.append($0) }
        try trainStep(model, randomTensor([2, 3, 2, 16, 16], seed: 4), [1, 2])
        var trainableNonZero = 0
        for (i, e) in store.entries.enumerated() {
            switch e.role {
            case .parameter:
                let g = UnsafeBufferPointer(start: store.gradient(store.handle(named: e.name)!), count: e.count)
                if frozen.contains(i) {
                    XCTAssertEqual(g.map { abs($0) }.max(), 0, "\(e.name) is frozen but got a gradient")
                } else if g.contains(where: { $0 != 0 }) {
                    trainableNonZero += 1
                }
            case .buffer:
                let now = Array(UnsafeBufferPointer(start: store.values(store.handle(named: e.name)!), count: e.count))
                let before = Array(buffersBefore[e.offset..<(e.offset + e.count)])
                if frozen.contains(i) { XCTAssertEqual(now, before, "\(e.name): frozen BN must use and keep its running stats") }
                else { XCTAssertNotEqual(now, before, "\(e.name): trainable BN updates its running stats") }
            case .counter:
                XCTAssertEqual(store.counters[e.offset] - countersBefore[e.offset], frozen.contains(i) ? 0 : 1, e.name)
            }
        }
        XCTAssertGreaterThan(trainableNonZero, 20, "trainable layers receive gradients")
        XCTAssertEqual(events.last, 0)
        // Unfreezing restores every flag.
        model.freeze(prefixes: [])
        XCTAssertTrue(store.entries.indices.allSatisfy { store.entries[$0].role != .parameter || store.requiresGrad[$0] })
    }

    func testFlagsClearedOnTheStoreAlsoStopGradients() throws {
        let model = try makeModel(arch: "c3d", classes: 3, width: 2)
        try model.store.freeze(prefixes: ["conv1", "conv2"])
        try trainStep(model, randomTensor([2, 3, 2, 16, 16], seed: 9), [0, 2])
        for e in model.store.entries where e.role == .parameter {
            let g = UnsafeBufferPointer(start: model.store.gradient(model.store.handle(named: e.name)!), count: e.count)
            let frozen = e.name.hasPrefix("conv1.") || e.name.hasPrefix("conv2.")
            XCTAssertEqual(g.contains { $0 != 0 }, !frozen, "\(e.name): gradient \(frozen ? "must be zero" : "expected")")
        }
    }

    func testSyncBatchNormOnTwoRanksMatchesOneRankOnGlobalBatch() throws {
        // One rank: batch 4. Two ranks (threads): batch 2 each, statistics summed by a reducer. With the loss a sum
        // over clips, each rank's output and dX equal its slice of the one-rank ones, and the ranks' parameter
        // gradients add up to the one-rank gradient.
        let c = 3, shape = [4, c, 2, 3, 3], half = [2, c, 2, 3, 3]
        func makeBN() -> (ParameterStore, BatchNorm3d) {
            let store = ParameterStore()
            let bn = BatchNorm3d(store: store, name: "bn", channels: c)
            store.seal()
            bn.resetParameters()
            fillRandom(store.values(bn.weight), c, seed: 1, scale: 0.3, offset: 1)
            fillRandom(store.values(bn.bias), c, seed: 2, scale: 0.3)
            return (store, bn)
        }
        let x = randomTensor(shape, seed: 5, scale: 2), dY = randomTensor(shape, seed: 6)
        let (store1, bn1) = makeBN()
        let y1 = try bn1.forward(x, training: true).copy()
        let dX1 = try bn1.backward(dY.copy()).copy()

        let exchange = Exchange(ranks: 2)
        let itemCount = x.count / 4
        var results: [(y: Tensor, dX: Tensor, store: ParameterStore)?] = [nil, nil]
        var errors: [Error] = []
        let lock = NSLock(), group = DispatchGroup()
        for rank in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let (store, bn) = makeBN()
                    bn.reducer = ExchangeReducer(exchange)
                    let xr = Tensor(shape: half, copying: x.data + rank * 2 * itemCount)
                    let dYr = Tensor(shape: half, copying: dY.data + rank * 2 * itemCount)
                    let y = try bn.forward(xr, training: true).copy()
                    let dX = try bn.backward(dYr).copy()
                    lock.lock(); results[rank] = (y, dX, store); lock.unlock()
                } catch {
                    lock.lock(); errors.append(error); lock.unlock()
                }
            }
        }
        group.wait()
        XCTAssertTrue(errors.isEmpty, "\(errors)")
        for rank in 0..<2 {
            let r = try XCTUnwrap(results[rank])
            let yDiff = maxAbsDiff(r.y.data, y1.data + rank * 2 * itemCount, r.y.count)
            let dxDiff = maxAbsDiff(r.dX.data, dX1.data + rank * 2 * itemCount, r.dX.count)
            XCTAssertLessThan(yDiff, 1e-5, "rank \(rank) output max diff \(yDiff)")
            XCTAssertLessThan(dxDiff, 1e-5, "rank \(rank) dX max diff \(dxDiff)")
            let rm = maxAbsDiff(r.store.buffers.pointer, store1.buffers.pointer, store1.buffers.count)
            XCTAssertLessThan(rm, 1e-6, "rank \(rank) running statistics max diff \(rm)")
        }
        let g0 = results[0]!.store.gradients.pointer, g1 = results[1]!.store.gradients.pointer
        let summed = (0..<store1.parameterCount).map { g0[$0] + g1[$0] }
        let gDiff = summed.withUnsafeBufferPointer { maxAbsDiff($0.baseAddress!, store1.gradients.pointer, store1.parameterCount) }
        XCTAssertLessThan(gDiff, 1e-5, "summed parameter gradients max diff \(gDiff)")
    }
}

/// An in-process stand-in for an MPI allreduce between threads: each call blocks until every rank has contributed.
final class Exchange {
    let ranks: Int
    private let condition = NSCondition()
    private var arrived = 0, generation = 0
    private var accumulator: [Double] = [], result: [Double] = []

    init(ranks: Int) { self.ranks = ranks }

    func sum(_ values: UnsafeMutableBufferPointer<Double>) {
        condition.lock()
        defer { condition.unlock() }
        if arrived == 0 { accumulator = [Double](repeating: 0, count: values.count) }
        for i in 0..<values.count { accumulator[i] += values[i] }
        arrived += 1
        let mine = generation
        if arrived == ranks {
            result = accumulator
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == mine { condition.wait() }
        }
        for i in 0..<values.count { values[i] = result[i] }
    }
}

final class ExchangeReducer: BatchNormReducer {
    let exchange: Exchange
    init(_ exchange: Exchange) { self.exchange = exchange }
    func sum(_ values: UnsafeMutableBufferPointer<Double>) throws { exchange.sum(values) }
}
