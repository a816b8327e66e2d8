// NN: the OpenBLAS build this binary runs on, and its thread count.
import COpenBLAS
import Dispatch

public enum BLAS {
    /// OpenBLAS's build string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var config: String { String(cString: openblas_get_config()) }

    /// The CPU kernel set OpenBLAS chose at run time, e.g. "Zen" or "SkylakeX".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Threads OpenBLAS uses for one call (and `parallelFor` uses for the loops between calls).
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// Runs `body` with OpenBLAS (and so `parallelFor`) single-threaded, for regions whose callers run several
    /// GEMMs in parallel themselves; restores the thread count afterwards.
    public static func singleThreaded(_ body: () -> Void) {
        let saved = threads
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(saved)) }
        body()
    }
}

extension BLAS {
    /// Measures what one `cblas_sgemm` of m×k by k×n achieves right now, in GFLOP/s (best of `repeats` after one
    /// warm-up), so that benchmark numbers can be read against the machine's current GEMM speed.
    public static func measureSgemmGFLOPs(m: Int = 1024, n: Int = 1024, k: Int = 1024, repeats: Int = 3) -> Double {
        let a = Tensor(shape: [m, k]), b = Tensor(shape: [k, n]), c = Tensor(shape: [m, n])
        a.fill(0.5)
        b.fill(0.25)
        var best = Double.infinity
        for r in 0...repeats {
            let t = DispatchTime.now().uptimeNanoseconds
            GEMM.multiply(m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n, beta: 0, c: c.data, ldc: n)
            let s = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
            if r > 0 { best = min(best, s) }
        }
        return 2 * Double(m * n * k) / best / 1e9
    }
}
