// NN: bf16 matrix products on oneDNN's matmul primitive, the fast path behind `GEMM.multiply(precision: .bf16)`
// (and oneDNN's fp32 sgemm, which the `.fp32` bf16 engine runs on rounded operands).
// Operands are rounded to bfloat16 into per-thread buffers (rows packed, the transposition kept as strides), the
// product accumulates in fp32 and lands in C with C's own alpha and beta. oneDNN picks the kernel for the CPU
// (avx512_core_bf16's vdpbf16ps, AMX tiles) and emulates bf16 where the CPU has neither. One primitive per shape is
// created on first use and cached; each thread executes on its own stream with OpenMP set to `BLAS.threads`
// (1 inside `BLAS.singleThreaded` regions), so oneDNN never adds threads to the engine's own.
import CDNNL
import Foundation
import Support

public enum OneDNN {
    /// oneDNN's version, e.g. "2.6.3".
    public static var version: String {
        guard let v = dnnl_version()?.pointee else { return "unknown" }
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// The instruction set oneDNN dispatches to on this CPU, e.g. "avx512_core_bf16" or "avx512_core_amx".
    public static var isa: String {
        let isa = dnnl_get_effective_cpu_isa()
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"), (dnnl_cpu_isa_avx, "avx"),
            (dnnl_cpu_isa_sse41, "sse41"),
        ]
        return names.first { $0.0 == isa }?.1 ?? "isa 0x" + String(isa.rawValue, radix: 16)
    }

    /// Whether this CPU multiplies bf16 natively (AVX512_BF16 or AMX); elsewhere bf16 works but is emulated, slowly.
    public static var hasNativeBF16: Bool {
        let isa = dnnl_get_effective_cpu_isa()
        return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx
    }

    /// C = alpha · op(A) · op(B) + beta · C with A and B rounded to bf16, as `GEMM.multiply` documents. Returns false
    /// (nothing written) when oneDNN cannot run it, so that the caller falls back to the rounded sgemm.
    public static func multiplyBF16(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        guard Engine.shared != nil else { return false }
        let operands = OperandScratch<UInt16>.forCurrentThread(key: "asl.nn.onednn-operands")
        let (aRows, aCols) = transA ? (k, m) : (m, k)
        let (bRows, bCols) = transB ? (n, k) : (k, n)
        let ra = operands.buffer(0, count: aRows * aCols), rb = operands.buffer(1, count: bRows * bCols)
        BFloat16.narrow(a, rows: aRows, columns: aCols, stride: lda, into: ra)
        BFloat16.narrow(b, rows: bRows, columns: bCols, stride: ldb, into: rb)
        return multiply(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: ra, lda: aCols, b: rb,
                        ldb: bCols, beta: beta, c: c, ldc: ldc)
    }

    /// C = alpha · op(A) · op(B) + beta · C for operands already in bf16 (their bits), stored row-major with row
    /// lengths lda and ldb as `GEMM.multiply` documents; fp32 accumulation and C. Returns false (nothing written) when
    /// oneDNN cannot run it.
    public static func multiply(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
                                beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        guard let engine = Engine.shared else { return false }
        let threads = BLAS.threads
        let key = Key(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, alpha: alpha,
                      beta: beta, threads: threads)
        guard let primitive = engine.primitive(for: key) else { return false }
        let scratch = Scratch.forCurrentThread
        _ = cdnnl_set_omp_threads(Int32(threads))  // without an OpenMP runtime oneDNN runs sequentially
        return primitive.run(a: a, b: b, c: c, scratch: scratch, stream: scratch.stream(engine))
    }

    /// C = alpha · op(A) · op(B) + beta · C in fp32 on oneDNN's own sgemm (JIT kernels for the CPU it runs on), with
    /// operands stored as `GEMM.multiply` documents; OpenMP threads as for the primitives. Returns false when oneDNN
    /// refuses.
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        guard Engine.shared != nil else { return false }
        _ = cdnnl_set_omp_threads(Int32(BLAS.threads))
        let t: (Bool) -> CChar = { $0 ? CChar(UInt8(ascii: "T")) : CChar(UInt8(ascii: "N")) }
        return dnnl_sgemm(t(transA), t(transB), Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb),
                          beta, c, Int64(ldc)) == dnnl_success
    }

    /// What a primitive is specialised for.
    struct Key: Hashable {
        var transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int, alpha: Float, beta: Float
        var threads: Int
    }

    /// The CPU engine and the primitive cache (shared by every thread; creation under a lock).
    final class Engine: @unchecked Sendable {
        static let shared: Engine? = Engine()
        let handle: dnnl_engine_t
        private var cache: [Key: Primitive?] = [:]
        private let lock = NSLock()

        private init?() {
            var e: dnnl_engine_t?
            guard dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success, let e else { return nil }
            handle = e
        }

        func primitive(for key: Key) -> Primitive? {
            lock.lock(); defer { lock.unlock() }
            if let cached = cache[key] { return cached }
            let made = Primitive(key: key, engine: handle)
            cache[key] = made
            return made
        }
    }

    /// One matmul primitive: src bf16 [m, k], weights bf16 [k, n] (each stored row-major with row length lda / ldb,
    /// transposed or not), dst f32 [m, n] with row length ldc; alpha as an output scale, beta as a sum post-op.
    final class Primitive {
        let primitive: dnnl_primitive_t
        // Read-only after init; copied into locals before use, so that concurrent runs never share an inout access.
        private(set) var aDesc = dnnl_memory_desc_t(), bDesc = dnnl_memory_desc_t(), cDesc = dnnl_memory_desc_t()
        private(set) var scratchDesc = dnnl_memory_desc_t()
        /// Bytes of scratch memory one execution needs (from the calling thread's `Scratch`).
        private(set) var scratchBytes = 0
        let engine: dnnl_engine_t

        init?(key: Key, engine: dnnl_engine_t) {
            self.engine = engine
            let m = Int64(key.m), n = Int64(key.n), k = Int64(key.k)
            var aDims: [Int64] = [m, k], bDims: [Int64] = [k, n], cDims: [Int64] = [m, n]
            var aStrides: [Int64] = key.transA ? [1, Int64(key.lda)] : [Int64(key.lda), 1]
            var bStrides: [Int64] = key.transB ? [1, Int64(key.ldb)] : [Int64(key.ldb), 1]
            var cStrides: [Int64] = [Int64(key.ldc), 1]
            guard dnnl_memory_desc_init_by_strides(&aDesc, 2, &aDims, dnnl_bf16, &aStrides) == dnnl_success,
                  dnnl_memory_desc_init_by_strides(&bDesc, 2, &bDims, dnnl_bf16, &bStrides) == dnnl_success,
                  dnnl_memory_desc_init_by_strides(&cDesc, 2, &cDims, dnnl_f32, &cStrides) == dnnl_success
            else { return nil }
            var desc = dnnl_matmul_desc_t()
            guard dnnl_matmul_desc_init(&desc, &aDesc, &bDesc, nil, &cDesc) == dnnl_success else { return nil }
            var attr: dnnl_primitive_attr_t?
            guard dnnl_primitive_attr_create(&attr) == dnnl_success, let attr else { return nil }
            defer { dnnl_primitive_attr_destroy(attr) }
            // The library's own scratchpad is shared by all primitives and unsafe when several threads execute at
            // once (Winograd chunks, clip-parallel convs): each thread passes its own.
            guard dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success else { return nil }
            if key.alpha != 1 {
                var scale = key.alpha
                guard dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale) == dnnl_success else { return nil }
            }
            if key.beta != 0 {
                var ops: dnnl_post_ops_t?
                guard dnnl_post_ops_create(&ops) == dnnl_success, let ops else { return nil }
                defer { dnnl_post_ops_destroy(ops) }
                guard dnnl_post_ops_append_sum(ops, key.beta) == dnnl_success,
                      dnnl_primitive_attr_set_post_ops(attr, ops) == dnnl_success else { return nil }
            }
            var pd: dnnl_primitive_desc_t?
            guard dnnl_primitive_desc_create(&pd, &desc, attr, engine, nil) == dnnl_success, let pd else { return nil }
            defer { dnnl_primitive_desc_destroy(pd) }
            guard let scratchpad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) else { return nil }
            scratchDesc = scratchpad.pointee
            scratchBytes = dnnl_memory_desc_get_size(scratchpad)
            var p: dnnl_primitive_t?
            guard dnnl_primitive_create(&p, pd) == dnnl_success, let p else { return nil }
            primitive = p
        }

        deinit { dnnl_primitive_destroy(primitive) }

        /// Executes on `stream` and waits. False when oneDNN refuses (then C may be partly written only if the
        /// execution itself failed midway, which oneDNN does not do on CPU).
        func run(a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>, c: UnsafeMutablePointer<Float>,
                 scratch: Scratch, stream: dnnl_stream_t?) -> Bool {
            guard let stream else { return false }
            var am: dnnl_memory_t?, bm: dnnl_memory_t?, cm: dnnl_memory_t?, sm: dnnl_memory_t?
            var aDesc = self.aDesc, bDesc = self.bDesc, cDesc = self.cDesc, sDesc = self.scratchDesc
            defer { for m in [am, bm, cm, sm] { if let m { dnnl_memory_destroy(m) } } }
            // oneDNN takes non-const handles but only reads src and weights.
            guard dnnl_memory_create(&am, &aDesc, engine, UnsafeMutablePointer(mutating: a)) == dnnl_success,
                  dnnl_memory_create(&bm, &bDesc, engine, UnsafeMutablePointer(mutating: b)) == dnnl_success,
                  dnnl_memory_create(&cm, &cDesc, engine, c) == dnnl_success else { return false }
            var args = [dnnl_exec_arg_t(arg: Int32(DNNL_ARG_SRC_0), memory: am), dnnl_exec_arg_t(arg: Int32(DNNL_ARG_WEIGHTS_0), memory: bm),
                        dnnl_exec_arg_t(arg: Int32(DNNL_ARG_DST_0), memory: cm)]
            if scratchBytes > 0 {
                guard dnnl_memory_create(&sm, &sDesc, engine, scratch.scratchpad(bytes: scratchBytes)) == dnnl_success else { return false }
                args.append(dnnl_exec_arg_t(arg: Int32(DNNL_ARG_SCRATCHPAD), memory: sm))
            }
            return dnnl_primitive_execute(primitive, stream, Int32(args.count), &args) == dnnl_success
                && dnnl_stream_wait(stream) == dnnl_success
        }
    }

    /// Per-thread oneDNN scratchpad and stream (the bf16 operands live in an `OperandScratch<UInt16>`).
    final class Scratch {
        private var streamHandle: dnnl_stream_t?
        private var pad: UnsafeMutableRawPointer?
        private var padBytes = 0

        static var forCurrentThread: Scratch { perThread("asl.nn.onednn-scratch") { Scratch() } }

        /// This thread's scratchpad for a primitive, at least `bytes` long, 64-byte aligned.
        func scratchpad(bytes: Int) -> UnsafeMutableRawPointer {
            if padBytes < bytes {
                pad?.deallocate()
                pad = .allocate(byteCount: bytes, alignment: 64)
                padBytes = bytes
            }
            return pad!
        }

        func stream(_ engine: Engine) -> dnnl_stream_t? {
            if streamHandle == nil {
                var s: dnnl_stream_t?
                if dnnl_stream_create(&s, engine.handle, dnnl_stream_default_flags.rawValue) == dnnl_success { streamHandle = s }
            }
            return streamHandle
        }

        deinit {
            pad?.deallocate()
            if let streamHandle { dnnl_stream_destroy(streamHandle) }
        }
    }
}
