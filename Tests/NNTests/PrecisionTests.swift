// Tests: the GEMM seam's bf16 arithmetic (inputs rounded to bfloat16, fp32 accumulation) against an independent
// Double computation, and every conv path and Linear in bf16 against the fp32 direct reference, within bounds that
// follow from bf16's 8 significant bits: rounding moves each input by at most 2⁻⁸ of itself, so each product of
// rounded inputs is off by at most (2⁻⁷ + 2⁻¹⁶)·|a·b|, and an output by at most that times Σ|a·b| over its
// reduction (plus fp32's own accumulation error).
import NN
import XCTest

final class PrecisionTests: XCTestCase {
    /// bf16 rounding computed another way: keep 8 significant bits of the Double value, ties to even.
    private func roundToBF16(_ x: Float) -> Double {
        guard x != 0, x.isFinite else { return Double(x) }
        let e = Double(x).exponent  // x = m · 2^e with 1 ≤ |m| < 2
        let scaled = Double(x) * pow(2, Double(7 - e))
        return scaled.rounded(.toNearestOrEven) * pow(2, Double(e - 7))
    }

    func testBF16RoundingIsNearestEvenAndKeepsSpecialValues() {
        XCTAssertEqual(BF16.round(1 + 1.0 / 256), 1, "halfway between 1 and 1+2⁻⁷ goes to the even 1")
        XCTAssertEqual(BF16.round(1 + 3.0 / 256), 1 + 1.0 / 64, "halfway between 1+2⁻⁷ and 1+2⁻⁶ goes to the even one")
        XCTAssertEqual(BF16.round(1 + 1.0 / 256 + 1.0 / 4096), 1 + 1.0 / 128, "just above halfway rounds up")
        XCTAssertEqual(BF16.round(.infinity), .infinity)
        XCTAssertEqual(BF16.round(.greatestFiniteMagnitude), .infinity, "beyond bf16's largest value")
        XCTAssertTrue(BF16.round(.nan).isNaN)
        for x: Float in [0.1, -3.14159, 1e-30, 65504.7, -7.25e12] {
            XCTAssertEqual(Double(BF16.round(x)), roundToBF16(x), "\(x)")
        }
    }

    func testBF16GEMMEqualsTheProductOfRoundedInputsForEveryTransposeAndStride() {
        for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
            let (m, n, k) = (7, 9, 37)
            let (aRows, aCols) = transA ? (k, m) : (m, k), (bRows, bCols) = transB ? (n, k) : (k, n)
            let lda = aCols + 3, ldb = bCols + 1, ldc = n + 2
            let a = randomTensor([aRows * lda], seed: 1), b = randomTensor([bRows * ldb], seed: 2)
            let c0 = randomTensor([m * ldc], seed: 3)
            func element(_ p: Tensor, _ r: Int, _ col: Int, _ ld: Int, _ t: Bool) -> Float {
                t ? p.data[col * ld + r] : p.data[r * ld + col]
            }
            for precision in Precision.allCases {
                let c = c0.copy()
                GEMM.multiply(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: lda,
                              b: b.data, ldb: ldb, beta: 2, c: c.data, ldc: ldc, precision: precision)
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<n {
                        var sum = 0.0, magnitude = 0.0
                        for p in 0..<k {
                            let x = element(a, i, p, lda, transA), y = element(b, p, j, ldb, transB)
                            let product = precision == .bf16 ? roundToBF16(x) * roundToBF16(y) : Double(x) * Double(y)
                            sum += product; magnitude += abs(product)
                        }
                        let expected = 0.5 * sum + 2 * Double(c0.data[i * ldc + j])
                        worst = max(worst, abs(Double(c.data[i * ldc + j]) - expected) / (magnitude + 1))
                    }
                    // Padding between rows of C is untouched.
                    for j in n..<ldc { XCTAssertEqual(c.data[i * ldc + j], c0.data[i * ldc + j]) }
                }
                XCTAssertLessThan(worst, 1e-6, "\(precision) transA \(transA) transB \(transB): worst relative error \(worst)")
            }
        }
    }

    func testConvPathsInBF16StayWithinTheBoundOfTheFP32Reference() throws {
        struct Case { let input: [Int]; let out: Int; let kernel: [Int]; let stride: [Int]; let padding: [Int] }
        let cases = [
            Case(input: [2, 3, 5, 6, 7], out: 5, kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1]),
            Case(input: [1, 2, 3, 9, 11], out: 4, kernel: [1, 7, 7], stride: [1, 2, 2], padding: [0, 3, 3]),
            Case(input: [2, 4, 3, 4, 5], out: 3, kernel: [1, 1, 1], stride: [1, 1, 1], padding: [0, 0, 0]),
            Case(input: [2, 4, 5, 7, 9], out: 6, kernel: [1, 3, 3], stride: [1, 1, 1], padding: [0, 1, 1]),
            Case(input: [2, 5, 7, 3, 4], out: 4, kernel: [3, 1, 1], stride: [1, 1, 1], padding: [1, 0, 0]),
        ]
        var winogradWorst = 0.0
        let savedEngine = GEMM.bf16Engine
        defer { GEMM.bf16Engine = savedEngine }
        for engine in BF16Engine.allCases { for algorithm in [ConvAlgorithm.gemm, .winograd] {
            GEMM.bf16Engine = engine
            for (index, c) in cases.enumerated() {
                let what = "\(algorithm) case \(index), engine \(engine)"
                let store = ParameterStore()
                let conv = Conv3d(store: store, name: "c", inChannels: c.input[1], outChannels: c.out, kernel: c.kernel,
                                  stride: c.stride, padding: c.padding)
                store.seal()
                conv.algorithm = algorithm
                conv.columnBudget = 64; conv.winogradBudget = 64  // chunk boundaries in bf16 too
                fillRandom(store.parameters.pointer, store.parameterCount, seed: UInt64(index), scale: 0.5)
                let x = randomTensor(c.input, seed: UInt64(50 + index))
                let y32 = try conv.referenceForward(x)
                let dY = randomTensor(y32.shape, seed: UInt64(80 + index))
                let ref = try conv.referenceBackward(x, dY)

                conv.precision = .bf16
                let y = try conv.forward(x, training: true).copy()
                store.zeroGrad()
                let dX = try conv.backward(dY.copy())
                let dW = Tensor(shape: ref.dW.shape)
                dW.data.update(from: store.gradient(conv.weight), count: dW.count)

                // Σ|a·b| of every output: the same convolutions over absolute values.
                let w = store.values(conv.weight)
                for i in 0..<ref.dW.count { w[i] = abs(w[i]) }
                let absX = x.copy(), absDY = dY.copy()
                for i in 0..<absX.count { absX.data[i] = abs(absX.data[i]) }
                for i in 0..<absDY.count { absDY.data[i] = abs(absDY.data[i]) }
                let yBound = try conv.referenceForward(absX)
                let bounds = try conv.referenceBackward(absX, absDY)

                for (name, got, expected, magnitude) in [("forward", y, y32, yBound), ("dX", dX, ref.dX, bounds.dX),
                                                         ("dW", dW, ref.dW, bounds.dW)] {
                    var worstRatio = 0.0, differs = false, largest = 0.0
                    for i in 0..<got.count {
                        let error = abs(Double(got.data[i]) - Double(expected.data[i]))
                        differs = differs || error > 0
                        largest = max(largest, error)
                        let bound = Double(magnitude.data[i]) * (1.0 / 128 + 1e-4) + 1e-5
                        worstRatio = max(worstRatio, error / bound)
                    }
                    XCTAssertTrue(differs, "\(what) \(name): bf16 gave fp32's exact result; the rounding did not apply")
                    if conv.takesWinograd(inputShape: c.input) {
                        // Rounding applies to transformed tiles and weights, whose sums of |terms| exceed Σ|a·b|:
                        // the direct bound does not hold, so this checks the error against the output's scale.
                        let scale = maxAbs(expected.data, expected.count)
                        winogradWorst = max(winogradWorst, largest / scale)
                        XCTAssertLessThan(largest / scale, 2e-2, "\(what) \(name): max error \(largest), output scale \(scale)")
                    } else {
                        XCTAssertLessThanOrEqual(worstRatio, 1, "\(what) \(name): max error \(largest), \(worstRatio)× the bf16 bound")
                    }
                }
            }
        } }
        XCTAssertGreaterThan(winogradWorst, 0, "some case took Winograd")
        print("bf16 Winograd worst error relative to the output scale: \(winogradWorst)")
    }

    /// The two bf16 engines store rounded Winograd tiles differently (bf16 bits through a tile-row scratch, or fp32
    /// rounded as the transforms store them); multiplied by the same reference sgemm, they must give the same bits.
    func testBothEnginesRoundWinogradTilesIdentically() throws {
        let savedEngine = GEMM.bf16Engine, savedPath = GEMM.bf16UsesOneDNN
        defer { GEMM.bf16Engine = savedEngine; GEMM.bf16UsesOneDNN = savedPath }
        GEMM.bf16UsesOneDNN = false
        for (index, (input, kernel, padding)) in [([2, 5, 5, 7, 9], [3, 3, 3], [1, 1, 1]), ([1, 4, 3, 6, 11], [1, 3, 3], [0, 1, 1]),
                                                  ([2, 6, 7, 3, 5], [3, 1, 1], [1, 0, 0])].enumerated() {
            var results: [[UInt32]] = []
            for engine in BF16Engine.allCases {
                GEMM.bf16Engine = engine
                let store = ParameterStore()
                let conv = Conv3d(store: store, name: "c", inChannels: input[1], outChannels: 6, kernel: kernel,
                                  padding: padding)
                store.seal()
                conv.algorithm = .winograd
                conv.precision = .bf16
                conv.winogradBudget = 200
                fillRandom(store.parameters.pointer, store.parameterCount, seed: UInt64(index), scale: 0.5)
                let x = randomTensor(input, seed: UInt64(10 + index))
                let y = try conv.forward(x, training: true).copy()
                store.zeroGrad()
                let dX = try conv.backward(randomTensor(y.shape, seed: UInt64(20 + index)))
                let dW = Array(UnsafeBufferPointer(start: store.gradient(conv.weight), count: store.parameterCount))
                results.append((y.array + dX.array + dW).map(\.bitPattern))
            }
            XCTAssertEqual(results[0], results[1], "case \(index) \(kernel): the engines' rounded tiles differ")
        }
    }

    func testLinearAndModelPrecisionSwitchEveryLayer() throws {
        let model = try makeModel(arch: "c3d", classes: 3, width: 4)
        let x = randomTensor([1, 3, 2, 16, 16], seed: 9)
        let fp32 = try model.forward(x, training: false).copy()
        model.precision = .bf16
        XCTAssertTrue((model as! StagedClassifier).convolutions.allSatisfy { $0.precision == .bf16 })
        let bf16 = try model.forward(x, training: false).copy()
        model.precision = .fp32
        let again = try model.forward(x, training: false)
        let drift = maxAbsDiff(bf16.data, fp32.data, fp32.count), same = maxAbsDiff(again.data, fp32.data, fp32.count)
        XCTAssertEqual(same, 0, "back in fp32 the logits are fp32's again")
        XCTAssertGreaterThan(drift, 0, "bf16 changes the logits")
        XCTAssertLessThan(drift / maxAbs(fp32.data, fp32.count), 5e-2, "bf16 logits off by \(drift)")

        let store = ParameterStore()
        let linear = Linear(store: store, name: "fc", inFeatures: 33, outFeatures: 5)
        store.seal()
        fillRandom(store.parameters.pointer, store.parameterCount, seed: 4, scale: 0.3)
        let input = randomTensor([3, 33], seed: 5)
        let y32 = try linear.forward(input, training: true).copy()
        linear.precision = .bf16
        let y = try linear.forward(input, training: true)
        let w = store.values(linear.weight)
        var worstRatio = 0.0
        for i in 0..<3 {
            for o in 0..<5 {
                var magnitude = 0.0
                for f in 0..<33 { magnitude += abs(Double(w[o * 33 + f]) * Double(input.data[i * 33 + f])) }
                let error = abs(Double(y.data[i * 5 + o]) - Double(y32.data[i * 5 + o]))
                worstRatio = max(worstRatio, error / (magnitude * (1.0 / 128 + 1e-4) + 1e-6))
            }
        }
        XCTAssertGreaterThan(maxAbsDiff(y.data, y32.data, y.count), 0, "bf16 Linear differs from fp32")
        XCTAssertLessThanOrEqual(worstRatio, 1, "Linear bf16 error is \(worstRatio)× the bound")
    }
}
