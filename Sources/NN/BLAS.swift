// NN: the OpenBLAS build this binary runs on, and its thread count.
import COpenBLAS

public enum BLAS {
    /// OpenBLAS's build string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var config: String { String(cString: openblas_get_config()) }

    /// The CPU kernel set OpenBLAS chose at run time, e.g. "Zen" or "SkylakeX".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Threads OpenBLAS uses for one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }
}
