// NN: the one place every matrix product of the engine goes through, and the precision it runs in. Layers call
// `GEMM.multiply` (never BLAS directly), so choosing fp32 or bf16 for a layer is one property, and a test can run any
// layer in either precision.
//
// bf16 here is mixed precision as PyTorch's autocast does it: both inputs are rounded to bfloat16 (8-bit mantissa,
// round to nearest even), products are accumulated in fp32, the output is fp32. The reference rounds copies of the
// inputs and multiplies them with OpenBLAS's sgemm (`multiplyRoundedReference`), which gives exactly those numerics
// on any CPU; it is what the fast paths are tested against, and the fallback where oneDNN cannot run a shape. The
// fast paths run on oneDNN (OneDNN.swift), on one of two engines (`BF16Engine`) that compute the same products at
// different speeds per CPU: its bf16 matmul on bf16 bits, or its fp32 sgemm on the rounded values.
import COpenBLAS
import Dispatch
import Foundation
import Support

/// The arithmetic of a layer's matrix products.
public enum Precision: String, CaseIterable, Sendable {
    /// fp32 inputs, fp32 accumulation (the default).
    case fp32
    /// bf16 inputs (rounded to nearest even), fp32 accumulation and output.
    case bf16
}

/// How bf16 products are computed. Both multiply the same bf16-rounded inputs with fp32 accumulation; they differ in
/// speed and in the order of the fp32 sums only.
public enum BF16Engine: String, CaseIterable, Sendable {
    /// oneDNN's bf16 matmul (AVX512_BF16's vdpbf16ps, AMX tiles) on operands stored as bf16 bits: the fast one where
    /// bf16 dot products outrun fp32 FMAs (AMX; AMD Zen 4, which issues two vdpbf16ps a cycle).
    case bf16
    /// The rounded values kept in fp32 storage and multiplied by oneDNN's fp32 sgemm (exact: a product of two bf16
    /// values fits fp32's mantissa): the fast one on CPUs whose vdpbf16ps is no faster than their fp32 FMAs.
    case fp32
}

public enum GEMM {
    /// Whether bf16 products go through oneDNN (true, the default) or always through the rounded OpenBLAS reference;
    /// for tests that compare the two on whole models.
    nonisolated(unsafe) public static var bf16UsesOneDNN = true
    /// Which oneDNN product bf16 GEMMs run on; `chooseBF16Engine` measures which is faster on this CPU. Set it before
    /// a model's first forward (rounded scratch is laid out for it) and leave it for the run.
    nonisolated(unsafe) public static var bf16Engine = BF16Engine.bf16

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
            if bf16UsesOneDNN {
                switch bf16Engine {
                case .bf16:
                    if OneDNN.multiplyBF16(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a,
                                           lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { return }
                case .fp32:
                    let (ra, lda, rb, ldb) = roundedCopies(transA, transB, m, n, k, a, lda, b, ldb, plain: false)
                    if OneDNN.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: ra, lda: lda,
                                    b: rb, ldb: ldb, beta: beta, c: c, ldc: ldc) { return }
                }
            }
            multiplyRoundedReference(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                     b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// C = alpha · op(A) · op(B) + beta · C for operands already rounded to bf16 (`RoundedPointer.store`), stored as
    /// `multiply` documents; fp32 accumulation and output. Layers that round an operand once and multiply it many
    /// times (Winograd's transformed weights and tiles) call this. Where oneDNN cannot run, the operands are widened
    /// (exactly) and multiplied by OpenBLAS's sgemm.
    public static func multiplyRounded(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                       alpha: Float = 1, a: RoundedPointer, lda: Int, b: RoundedPointer, ldb: Int,
                                       beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(a.engine == b.engine, "operands rounded for different engines")
        if bf16UsesOneDNN {
            switch a.engine {
            case .bf16:
                if OneDNN.multiply(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.bits, lda: lda,
                                   b: b.bits, ldb: ldb, beta: beta, c: c, ldc: ldc) { return }
            case .fp32:
                if OneDNN.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.floats, lda: lda,
                                b: b.floats, ldb: ldb, beta: beta, c: c, ldc: ldc) { return }
            }
        }
        guard a.engine == .bf16 else {
            return sgemm(transA, transB, m, n, k, alpha, a.floats, lda, b.floats, ldb, beta, c, ldc)
        }
        let (aRows, aCols) = transA ? (k, m) : (m, k)
        let (bRows, bCols) = transB ? (n, k) : (k, n)
        let scratch = OperandScratch<Float>.forCurrentThread(key: "asl.nn.bf16-reference-scratch")
        let wa = scratch.buffer(0, count: aRows * aCols), wb = scratch.buffer(1, count: bRows * bCols)
        for r in 0..<aRows { BFloat16.widen(a.bits + r * lda, into: wa + r * aCols, count: aCols) }
        for r in 0..<bRows { BFloat16.widen(b.bits + r * ldb, into: wb + r * bCols, count: bCols) }
        sgemm(transA, transB, m, n, k, alpha, wa, aCols, wb, bCols, beta, c, ldc)
    }

    /// The engine bf16 products should run on here: `ASL_BF16_GEMM=bf16|fp32` when set, else the faster of the two
    /// on a product of the size Winograd's tiles give (128 × 1024 × 256, best of 5 after a warm-up, on
    /// `BLAS.threads` threads), with the measured GFLOP/s. Without oneDNN, `.bf16` (the reference runs either way).
    public static func chooseBF16Engine(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> (engine: BF16Engine, measured: [BF16Engine: Double]) {
        if let name = environment["ASL_BF16_GEMM"], let forced = BF16Engine(rawValue: name) { return (forced, [:]) }
        guard OneDNN.Engine.shared != nil else { return (.bf16, [:]) }
        var measured: [BF16Engine: Double] = [:]
        let (m, n, k) = (128, 1024, 256)
        let a = FlatBuffer(count: m * k), b = FlatBuffer(count: k * n), c = FlatBuffer(count: m * n)
        var rng = SeededRandom(seed: 1)
        for i in 0..<(m * k) { a.pointer[i] = rng.nextFloat() - 0.5 }
        for i in 0..<(k * n) { b.pointer[i] = rng.nextFloat() - 0.5 }
        let saved = bf16Engine
        defer { bf16Engine = saved }
        for engine in BF16Engine.allCases {
            bf16Engine = engine
            var best = Double.infinity
            for rep in 0..<6 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                multiply(m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, beta: 0, c: c.pointer, ldc: n,
                         precision: .bf16)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                if rep > 0 { best = min(best, seconds) }
            }
            measured[engine] = 2 * Double(m * n * k) / best / 1e9
        }
        return ((measured[.fp32] ?? 0) > (measured[.bf16] ?? 0) ? .fp32 : .bf16, measured)
    }

    /// The bf16 reference: rounded copies of the stored operands (same layout, rows packed), then OpenBLAS's fp32
    /// product — exactly bf16 inputs with fp32 accumulation, on any CPU. The oneDNN paths are tested against it.
    public static func multiplyRoundedReference(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                                alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                                b: UnsafePointer<Float>, ldb: Int, beta: Float,
                                                c: UnsafeMutablePointer<Float>, ldc: Int) {
        let (ra, lda, rb, ldb) = roundedCopies(transA, transB, m, n, k, a, lda, b, ldb, plain: true)
        sgemm(transA, transB, m, n, k, alpha, ra, lda, rb, ldb, beta, c, ldc)
    }

    /// Copies of the stored operands rounded to bf16 (kept in fp32, rows packed) in the calling thread's scratch,
    /// with their new row lengths: by the plain scalar loop (`plain`, the reference's) or the vector kernel.
    private static func roundedCopies(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                                      _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                                      plain: Bool)
        -> (UnsafeMutablePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) {
        let (aRows, aCols) = transA ? (k, m) : (m, k)
        let (bRows, bCols) = transB ? (n, k) : (k, n)
        let scratch = OperandScratch<Float>.forCurrentThread(key: "asl.nn.bf16-rounded-operands")
        let ra = scratch.buffer(0, count: aRows * aCols), rb = scratch.buffer(1, count: bRows * bCols)
        if plain {
            BF16.round(a, rows: aRows, columns: aCols, stride: lda, into: ra)
            BF16.round(b, rows: bRows, columns: bCols, stride: ldb, into: rb)
        } else {
            BFloat16.round(a, rows: aRows, columns: aCols, stride: lda, into: ra)
            BFloat16.round(b, rows: bRows, columns: bCols, stride: ldb, into: rb)
        }
        return (ra, aCols, rb, bCols)
    }

    private static func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                              _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                              _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Values already rounded to bf16, in the storage an engine multiplies: bf16 bits (UInt16) for `.bf16`, the same
/// values in fp32 for `.fp32`. A layer rounds an operand once with `store` and hands it to `GEMM.multiplyRounded`
/// as often as it needs; offsets count elements whatever the storage.
public struct RoundedPointer {
    public let raw: UnsafeMutableRawPointer
    public let engine: BF16Engine

    /// Rounded storage at `raw` for `engine`; the caller provides room for the elements it will store
    /// (`engine.bytesPerElement` each).
    public init(_ raw: UnsafeMutableRawPointer, engine: BF16Engine) {
        self.raw = raw
        self.engine = engine
    }

    /// Rounded storage inside a Float buffer (which holds as many elements in either storage).
    public init(_ floats: UnsafeMutablePointer<Float>, engine: BF16Engine = GEMM.bf16Engine) {
        self.init(UnsafeMutableRawPointer(floats), engine: engine)
    }

    var bits: UnsafeMutablePointer<UInt16> { raw.assumingMemoryBound(to: UInt16.self) }
    var floats: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }

    /// The element `elements` further on.
    public func advanced(by elements: Int) -> RoundedPointer {
        RoundedPointer(raw + elements * engine.bytesPerElement, engine: engine)
    }

    /// Rounds `count` floats of `source` into elements 0..<count.
    public func store(_ source: UnsafePointer<Float>, count: Int) {
        switch engine {
        case .bf16: BFloat16.narrow(source, into: bits, count: count)
        case .fp32: BFloat16.round(source, into: floats, count: count)
        }
    }
}

extension BF16Engine {
    /// Bytes one rounded value takes in this engine's storage.
    public var bytesPerElement: Int { self == .bf16 ? 2 : 4 }
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
