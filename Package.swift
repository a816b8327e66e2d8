// swift-tools-version:6.0
// asl-dist-train: data-parallel training of 3D-CNN sign-language recognizers across MPI ranks on CPUs.
//
// Products are split by dependency weight (as swift-nio does): NN needs only OpenBLAS and oneDNN, Shards needs HDF5,
// FFmpeg and OpenCV, Distributed needs only Open MPI, Inference needs NN and Shards; the executables wire them
// together.
import PackageDescription

let package = Package(
    name: "asl-dist-train",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "asl-dist-train", targets: ["asl-dist-train"]),
        .executable(name: "asl-shards", targets: ["asl-shards"]),
        .executable(name: "asl-predict", targets: ["asl-predict"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Shards", targets: ["Shards"]),
        .library(name: "Distributed", targets: ["Distributed"]),
        .library(name: "Inference", targets: ["Inference"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // YAML run configurations (`--config FILE`).
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // C system libraries. Each carries a shim header that wraps the macros Swift cannot import.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // oneDNN: bf16 matrix products (matmul primitive) for --precision bf16; no pkg-config file, links "dnnl".
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        // zlib (a dependency of libhdf5-dev): the loader inflates compressed frame chunks itself, outside the HDF5 lock.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]),
        // OpenCV is C++: COpenCV only carries its pkg-config flags, CVBridge is the extern "C" face Swift sees.
        .systemLibrary(name: "COpenCV", pkgConfig: "opencv4",
                       providers: [.apt(["libopencv-dev"])]),
        .target(name: "CVBridge", dependencies: ["COpenCV"]),

        // Buffer loops in C (bfloat16 conversion, ReLU sign masks), compiled for AVX-512 and AVX2 as well and chosen
        // at run time, since Swift itself targets baseline x86-64; see its header.
        .target(name: "CVectorKernels"),

        // Small pieces shared by every module: seeded RNG, atomic files, timing, terminal progress, bfloat16.
        .target(name: "Support", dependencies: ["CVectorKernels"]),

        // Tensors, layers with hand-written backward, models, losses, optimizers, weights. No MPI.
        .target(name: "NN", dependencies: ["COpenBLAS", "CDNNL", "CVectorKernels", "Support"]),
        // HDF5 shard format, decoding, crops, augmentation, loader. No MPI, no model.
        .target(name: "Shards", dependencies: ["CHDF5", "CZlib", "CFFmpeg", "CVBridge", "Support"]),
        // Open MPI communicator, gradient buckets, SyncBN reducer, watchdog. No model knowledge.
        .target(name: "Distributed", dependencies: ["CMPI", "Support"]),

        // Trained weights → predictions: the model spec, the predictor, the input sources and the live loop (frame
        // source, ring buffer, classifier thread, overlay). No MPI, no command line; CVBridge draws the overlay.
        .target(name: "Inference", dependencies: ["NN", "Shards", "Support", "CVBridge"]),

        // The commands, wiring the modules together.
        .target(name: "Launcher", dependencies: [
            "NN", "Shards", "Distributed", "Inference", "Support", "COpenBLAS", "CHDF5", "CFFmpeg", "CVBridge",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Yams", package: "Yams"),
        ], path: "Sources/Launcher/Core"),
        .executableTarget(name: "asl-dist-train", dependencies: ["Launcher"],
                          path: "Sources/Launcher/asl-dist-train"),
        .executableTarget(name: "asl-shards", dependencies: ["Launcher"],
                          path: "Sources/Launcher/asl-shards"),
        .executableTarget(name: "asl-predict", dependencies: ["Launcher"],
                          path: "Sources/Launcher/asl-predict"),

        .testTarget(name: "NNTests", dependencies: ["NN", "Support"], resources: [.copy("Fixtures")]),
        // CHDF5: the verifier tests damage shard files with raw HDF5 calls to prove each violation is caught.
        .testTarget(name: "ShardsTests", dependencies: ["Shards", "Support", "CHDF5"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        // Shards: the shard-command tests write small shard sets to inspect and verify; NN: the option tests build
        // each registered architecture.
        .testTarget(name: "LauncherTests", dependencies: ["Launcher", "NN", "Shards"]),
        // Runs the built asl-predict as a user would; the PyTorch interop tests skip themselves without torch.
        .testTarget(name: "PredictTests", dependencies: ["Launcher", "Inference", "NN", "Shards", "Support"]),
    ],
    // Swift 5 mode: the numeric kernels share raw buffers across worker threads by design (disjoint ranges),
    // which Swift 6's strict checking cannot express without copying.
    swiftLanguageModes: [.v5]
)
