// Launcher: the native library versions the binary is linked against, printed by `--version`.
import Distributed
import NN
import Shards

public enum VersionReport {
    public static let projectVersion = "0.1.0"

    /// One line per library; the values come from the libraries at run time, not from headers.
    public static var lines: [String] {
        [
            "asl-dist-train \(projectVersion)",
            "Open MPI: \(MPIRuntime.libraryVersion().split(separator: "\n").first.map(String.init) ?? "unknown")",
            "OpenBLAS: \(BLAS.config) (core \(BLAS.coreName))",
            "oneDNN: \(OneDNN.version) (ISA \(OneDNN.isa); bf16 \(OneDNN.hasNativeBF16 ? "native" : "emulated"))",
            "HDF5: \(NativeLibraries.hdf5Version)",
            "FFmpeg: \(NativeLibraries.ffmpegVersion)",
            "OpenCV: \(NativeLibraries.openCVVersion)",
        ]
    }
}
