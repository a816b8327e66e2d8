// NN: the one place every matrix product of the engine goes through, and the precision it runs in. Layers call
// `GEMM.multiply` (never BLAS directly), so choosing fp32 or bf16 for a layer is one property, and a test can run any
// layer in either precision.
//
// bf16 here is mixed precision as PyTorch's autocast does it: both inputs are rounded to bfloat16 (8-bit mantissa,
// round to nearest even), products are accumulated in fp32, the output is fp32. This implementation rounds copies
// of the inputs and multiplies them with OpenBLAS's sgemm (`multiplyRoundedReference`), which gives exactly those
// numerics on any CPU: the reference the fast path, oneDNN's bf16 matmul (OneDNN.swift), is tested against, and the
// fallback where oneDNN cannot run a shape.
import COpenBLAS
import Foundation
import Support

/// The arithmetic of a layer's matrix products.
public enum Precision: String, CaseIterable, Sendable {
    /// fp32 inputs, fp32 accumulation (the default).
    case fp32
    /// bf16 inputs (rounded to nearest even), fp32 accumulation and output.
    case bf16
}

public enum GEMM {
    /// Whether bf16 products go through oneDNN (true, the default) or always through the rounded reference; for
    /// tests that compare the two on whole models.
    nonisolated(unsafe) public static var bf16UsesOneDNN = true

    /// C = alpha · op(A) · op(B) + beta · C, all row-major: op(A) is [m, k], op(B) [k, n], C [m, n]; op(X) is X, or
    /// Xᵀ when its `trans` flag is set (then X is stored [k, m] or [n, k]). `lda`, `ldb`, `ldc` are the stored row
    /// lengths. Runs on the calling thread with OpenBLAS's current thread count (see `BLAS.singleThreaded`).
    public static func multiply(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                                a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, precision: Precision = .fp32) {
        switch precision {
        case .fp32:
            sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        case .bf16:
            if bf16UsesOneDNN, OneDNN.multiplyBF16(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                   b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { return }
            multiplyRoundedReference(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                     b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// The bf16 reference: rounded copies of the stored operands (same layout, rows packed), then OpenBLAS's fp32
    /// product — exactly bf16 inputs with fp32 accumulation, on any CPU. The oneDNN path is tested against it.
    public static func multiplyRoundedReference(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                                alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                                b: UnsafePointer<Float>, ldb: Int, beta: Float,
                                                c: UnsafeMutablePointer<Float>, ldc: Int) {
        let (aRows, aCols) = transA ? (k, m) : (m, k)
        let (bRows, bCols) = transB ? (n, k) : (k, n)
        let scratch = OperandScratch<Float>.forCurrentThread(key: "asl.nn.bf16-reference-scratch")
        let ra = scratch.buffer(0, count: aRows * aCols), rb = scratch.buffer(1, count: bRows * bCols)
        BF16.round(a, rows: aRows, columns: aCols, stride: lda, into: ra)
        BF16.round(b, rows: bRows, columns: bCols, stride: ldb, into: rb)
        sgemm(transA, transB, m, n, k, alpha, ra, aCols, rb, bCols, beta, c, ldc)
    }

    private static func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                              _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                              _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// bfloat16 rounding of fp32 values (the values stay in fp32 storage, with the low 16 bits zero).
public enum BF16 {
    /// `x` rounded to the nearest bfloat16, ties to even; NaN stays NaN, overflow goes to ±infinity.
    @inline(__always)
    public static func round(_ x: Float) -> Float { BFloat16.round(x) }

    /// Rounds a [rows, columns] matrix stored with row length `stride` into `out` (row length `columns`).
    public static func round(_ x: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int,
                             into out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let src = x + r * stride, dst = out + r * columns
            for j in 0..<columns { dst[j] = round(src[j]) }
        }
    }
}

/// The calling thread's object stored under `key`, made by `make` on first use (worker threads each keep their
/// own scratch this way).
func perThread<T: AnyObject>(_ key: String, _ make: () -> T) -> T {
    if let existing = Thread.current.threadDictionary[key] as? T { return existing }
    let made = make()
    Thread.current.threadDictionary[key] = made
    return made
}

/// Per-thread operand buffers: GEMMs run on several worker threads at once (Winograd chunks, clip-parallel convs),
/// each with its own. `Element` is Float for the rounded reference, UInt16 (bf16 bits) for oneDNN.
final class OperandScratch<Element> {
    private var buffers: [UnsafeMutablePointer<Element>?] = [nil, nil]
    private var capacities = [0, 0]

    /// The calling thread's scratch stored under `key`, made on first use.
    static func forCurrentThread(key: String) -> OperandScratch { perThread(key) { OperandScratch() } }

    /// Buffer `slot` (0 or 1) with room for `count` elements; its contents are not kept.
    func buffer(_ slot: Int, count: Int) -> UnsafeMutablePointer<Element> {
        if capacities[slot] < count {
            buffers[slot]?.deallocate()
            buffers[slot] = .allocate(capacity: count)
            capacities[slot] = count
        }
        return buffers[slot]!
    }

    deinit { for b in buffers { b?.deallocate() } }
}
