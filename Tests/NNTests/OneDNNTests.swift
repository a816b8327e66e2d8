// Tests: both bf16 engines (oneDNN's bf16 matmul, and its fp32 sgemm over rounded inputs), through GEMM.multiply and
// through GEMM.multiplyRounded with operands rounded ahead, run every transpose, stride, alpha and beta the layers
// use and equal the rounded-input OpenBLAS reference up to fp32 accumulation order; the matmul also runs from several
// threads at once, as Winograd chunks and clip-parallel convs call it.
import Foundation
import NN
import Support
import XCTest

final class OneDNNTests: XCTestCase {
    /// max over C of |fast − reference| / (Σ_k |a·b| + 1e-30): accumulation-order error relative to the row's scale.
    func check(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float, seed: UInt64,
               file: StaticString = #filePath, line: UInt = #line) {
        let (aRows, aCols) = transA ? (k, m) : (m, k), (bRows, bCols) = transB ? (n, k) : (k, n)
        let lda = aCols + 2, ldb = bCols + 3, ldc = n + 1
        let a = randomTensor([aRows * lda], seed: seed), b = randomTensor([bRows * ldb], seed: seed + 1)
        let c0 = randomTensor([m * ldc], seed: seed + 2)
        let reference = c0.copy()
        GEMM.multiplyRoundedReference(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: lda,
                                      b: b.data, ldb: ldb, beta: beta, c: reference.data, ldc: ldc)
        let matmul = c0.copy()
        let ran = OneDNN.multiplyBF16(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: lda,
                                      b: b.data, ldb: ldb, beta: beta, c: matmul.data, ldc: ldc)
        XCTAssertTrue(ran, "oneDNN runs \(m)×\(n)×\(k) transA \(transA) transB \(transB)", file: file, line: line)
        compare(matmul, "bf16 matmul")
        let saved = GEMM.bf16Engine
        defer { GEMM.bf16Engine = saved }
        for engine in BF16Engine.allCases {
            GEMM.bf16Engine = engine
            let viaMultiply = c0.copy()
            GEMM.multiply(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: lda, b: b.data,
                          ldb: ldb, beta: beta, c: viaMultiply.data, ldc: ldc, precision: .bf16)
            compare(viaMultiply, "GEMM.multiply, engine \(engine)")
            // Operands rounded ahead, with the same row lengths.
            let ra = Tensor(shape: [aRows * lda]), rb = Tensor(shape: [bRows * ldb])
            RoundedPointer(ra.data, engine: engine).store(a.data, count: aRows * lda)
            RoundedPointer(rb.data, engine: engine).store(b.data, count: bRows * ldb)
            let viaRounded = c0.copy()
            GEMM.multiplyRounded(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                 a: RoundedPointer(ra.data, engine: engine), lda: lda,
                                 b: RoundedPointer(rb.data, engine: engine), ldb: ldb, beta: beta, c: viaRounded.data,
                                 ldc: ldc)
            compare(viaRounded, "GEMM.multiplyRounded, engine \(engine)")
        }
        let rounded = (Tensor(shape: [aRows * lda]), Tensor(shape: [bRows * ldb]))
        BFloat16.round(a.data, into: rounded.0.data, count: aRows * lda)
        BFloat16.round(b.data, into: rounded.1.data, count: bRows * ldb)
        let sgemm = c0.copy()
        XCTAssertTrue(OneDNN.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: rounded.0.data,
                                   lda: lda, b: rounded.1.data, ldb: ldb, beta: beta, c: sgemm.data, ldc: ldc),
                      "oneDNN's sgemm runs \(m)×\(n)×\(k)", file: file, line: line)
        compare(sgemm, "oneDNN sgemm over rounded inputs")

        func compare(_ fast: Tensor, _ what: String) {
            var worst: Double = 0
            for i in 0..<m {
                var scale: Double = abs(Double(beta) * Double(c0.data[i * ldc]))
                for p in 0..<k {
                    let av = transA ? a.data[p * lda + i] : a.data[i * lda + p]
                    let bv = transB ? b.data[0 * ldb + p] : b.data[p * ldb + 0]
                    scale += abs(Double(alpha) * Double(av) * Double(bv))
                }
                let d = abs(Double(fast.data[i * ldc]) - Double(reference.data[i * ldc])) / (scale + 1e-30)
                worst = max(worst, d)
                for j in 0..<n where abs(fast.data[i * ldc + j] - reference.data[i * ldc + j]) > 1e-3 * max(1, abs(reference.data[i * ldc + j])) {
                    XCTFail("\(what): C[\(i), \(j)] = \(fast.data[i * ldc + j]), reference \(reference.data[i * ldc + j])",
                            file: file, line: line)
                    return
                }
            }
            XCTAssertLessThan(worst, 1e-5, "\(what), column 0: |fast − reference| relative to Σ|a·b|", file: file, line: line)
            // The padding between rows of C is never written.
            for i in 0..<m { XCTAssertEqual(fast.data[i * ldc + n], c0.data[i * ldc + n], "\(what)", file: file, line: line) }
        }
    }

    func testEngineChoiceFollowsTheEnvironmentOrTheFasterMeasurement() {
        XCTAssertEqual(GEMM.chooseBF16Engine(environment: ["ASL_BF16_GEMM": "fp32"]).engine, .fp32)
        XCTAssertEqual(GEMM.chooseBF16Engine(environment: ["ASL_BF16_GEMM": "bf16"]).engine, .bf16)
        let (engine, measured) = GEMM.chooseBF16Engine(environment: [:])
        print("bf16 engines measured here (GFLOP/s): \(measured), chosen \(engine)")
        XCTAssertEqual(Set(measured.keys), Set(BF16Engine.allCases), "both engines are timed")
        let faster = measured.max { $0.value < $1.value }!.key
        XCTAssertEqual(engine, faster, "the faster engine is chosen")
    }

    func testEveryTransposeAlphaAndBetaMatchesTheRoundedReference() {
        var seed: UInt64 = 10
        for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
            for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (0.5, 2)] {
                check(transA: transA, transB: transB, m: 13, n: 29, k: 71, alpha: alpha, beta: beta, seed: seed)
                seed += 3
            }
        }
        // Conv-sized: C3D conv2's vol2col GEMM at 16×28² (k = 64·27) and a Winograd position's batch.
        check(transA: false, transB: false, m: 128, n: 3136, k: 1728, alpha: 1, beta: 0, seed: 50)
        check(transA: false, transB: true, m: 64, n: 200, k: 576, alpha: 1, beta: 1, seed: 60)
    }

    func testConcurrentCallsFromWorkerThreads() {
        let results = (0..<4).map { _ in Tensor(shape: [32 * 40]) }
        let a = randomTensor([32 * 50], seed: 1), b = randomTensor([50 * 40], seed: 2)
        BLAS.singleThreaded {
            DispatchQueue.concurrentPerform(iterations: 4) { t in
                for _ in 0..<20 {
                    _ = OneDNN.multiplyBF16(transA: false, transB: false, m: 32, n: 40, k: 50, alpha: 1, a: a.data, lda: 50,
                                            b: b.data, ldb: 40, beta: 0, c: results[t].data, ldc: 40)
                }
            }
        }
        let reference = Tensor(shape: [32 * 40])
        GEMM.multiplyRoundedReference(m: 32, n: 40, k: 50, a: a.data, lda: 50, b: b.data, ldb: 40, beta: 0, c: reference.data, ldc: 40)
        for r in results { XCTAssertLessThanOrEqual(maxAbsDiff(r.data, reference.data, r.count), 1e-4) }
    }

    func testVersionAndISAAreReported() {
        XCTAssertTrue(OneDNN.version.hasPrefix("2.") || OneDNN.version.hasPrefix("3."), OneDNN.version)
        XCTAssertFalse(OneDNN.isa.isEmpty)
        print("oneDNN \(OneDNN.version), ISA \(OneDNN.isa), native bf16: \(OneDNN.hasNativeBF16)")
    }
}

final class OneDNNModelTests: XCTestCase {
    /// A whole model in bf16 gives the same logits through oneDNN as through the rounded reference up to bf16's own
    /// rounding: both are bf16 inputs with fp32 accumulation, but the summation order differs by ~1e-6, which flips
    /// the bf16 rounding of a few next-layer inputs, each by 2⁻⁸ (measured 5.4e-3 for c3d, 7.3e-3 for r2plus1d_18).
    /// oneDNN's shared scratchpad under concurrent execution made c3d's 2.1e-2 and garbage in single products.
    func testModelsInBF16AgreeThroughOneDNNAndTheReference() throws {
        let saved = GEMM.bf16Engine
        defer { GEMM.bf16Engine = saved }
        for engine in BF16Engine.allCases { for arch in ["c3d", "r2plus1d_18"] {
            GEMM.bf16Engine = engine
            let model = try makeModel(arch: arch, classes: 5, width: 16)
            model.initialize(seed: 3)
            model.precision = .bf16
            let input = randomTensor([2, 3, 8, 32, 32], seed: 4)
            GEMM.bf16UsesOneDNN = false
            let reference = try model.forward(input, training: false).copy()
            GEMM.bf16UsesOneDNN = true
            let fast = try model.forward(input, training: false)
            let rel = maxAbsDiff(fast.data, reference.data, reference.count) / max(maxAbs(reference.data, reference.count), 1e-8)
            XCTAssertLessThan(rel, 1.5e-2, "\(arch), engine \(engine): oneDNN bf16 vs reference bf16 logits, relative")
        } }
    }
}
