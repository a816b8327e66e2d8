// bf16 training keeps activations compact (conv and BN inputs in bf16, ReLU masks as bits, fresh pooled outputs):
// the forward pass computes exactly what it computed before, the gradients differ only by the rounding of what was
// kept, and layers free what they kept once their backward has run.
import NN
import XCTest

final class CompactActivationTests: XCTestCase {
    /// One bf16 training step of `arch` (width 16) with and without compact activations: logits bit for bit equal,
    /// and every parameter gradient within bf16 rounding of the uncompacted one.
    func testCompactTrainingMatchesUncompactedUpToBF16Rounding() throws {
        for arch in ["r2plus1d_18", "c3d"] {
            func step(compact: Bool) throws -> (logits: [Float], gradients: [Float]) {
                let model = try makeModel(arch: arch, classes: 5, width: 16)
                model.initialize(seed: 21)
                model.precision = .bf16
                (model as! StagedClassifier).compactActivations = compact
                let input = randomTensor([2, 3, 8, 32, 32], seed: 22)
                model.store.zeroGrad()
                let logits = try model.forward(input, training: true)
                let (_, d) = try SoftmaxCrossEntropy.compute(logits: logits, labels: [1, 3], labelSmoothing: 0)
                let values = logits.array
                try model.backward(d)
                let g = model.store.gradients
                return (values, Array(UnsafeBufferPointer(start: g.pointer, count: g.count)))
            }
            let plain = try step(compact: false), compact = try step(compact: true)
            XCTAssertEqual(plain.logits, compact.logits, "\(arch): compacting what backward keeps changes no forward value")
            let scale = plain.gradients.map { abs(Double($0)) }.max() ?? 0
            let worst = zip(plain.gradients, compact.gradients).map { abs(Double($0) - Double($1)) }.max() ?? 0
            print("\(arch): compact vs plain bf16 gradients, max difference \(worst) (largest gradient \(scale))")
            XCTAssertGreaterThan(scale, 0)
            XCTAssertLessThan(worst / scale, 2e-2, "\(arch): gradients move by more than bf16 rounding of the inputs")
            XCTAssertGreaterThan(worst, 0, "\(arch): backward did not read the compact copies")
        }
    }

    /// A ReLU keeping one bit per element gives the same dX as one keeping its output, on lengths that end inside a
    /// 16-element mask word, with zeros and negative zeros.
    func testReLUMaskMatchesTheKeptOutput() throws {
        for count in [1, 15, 16, 17, 37, 16_400 * 3 + 5] {
            let x = randomTensor([count], seed: UInt64(count))
            x.data[0] = 0
            if count > 1 { x.data[1] = -0.0 }
            let dY = randomTensor([count], seed: UInt64(count) + 1)
            let kept = ReLU(inPlace: false), compact = ReLU(inPlace: false)
            compact.compactActivations = true
            _ = try kept.forward(x, training: true)
            _ = try compact.forward(x, training: true)
            let a = try kept.backward(dY.copy()), b = try compact.backward(dY.copy())
            XCTAssertEqual(a.array.map(\.bitPattern), b.array.map(\.bitPattern), "count \(count)")
            XCTAssertThrowsError(try compact.backward(dY.copy()), "the mask is freed after its backward")
        }
    }

    /// An evaluation forward in bf16 keeps nothing: backward afterwards is an error naming the layer, and a later
    /// training step still works.
    func testEvaluationKeepsNothingAndTrainingResumes() throws {
        let store = ParameterStore()
        let conv = Conv3d(store: store, name: "c", inChannels: 3, outChannels: 4, kernel: [3, 3, 3], padding: [1, 1, 1])
        let bn = BatchNorm3d(store: store, name: "bn", channels: 4)
        store.seal()
        fillRandom(store.parameters.pointer, store.parameterCount, seed: 5, scale: 0.3)
        bn.resetParameters()
        let model = Sequential([conv, bn])
        conv.precision = .bf16
        conv.compactActivations = true
        bn.compactActivations = true
        let x = randomTensor([2, 3, 4, 6, 6], seed: 6)
        let y = try model.forward(x, training: false)
        XCTAssertThrowsError(try model.backward(y.copy())) { error in
            XCTAssertTrue("\(error)".contains("bn"), "the error names the layer: \(error)")
        }
        let yt = try model.forward(x, training: true)
        XCTAssertNotNil(try model.backward(yt.copy()))
    }
}
