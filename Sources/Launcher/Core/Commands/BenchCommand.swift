// Launcher: `asl-dist-train bench`: times training steps (forward + loss + backward) and evaluation forwards of one
// model on random clips, on this rank alone, and reports clips/s, achieved GFLOP/s and peak memory. Speed claims
// in commit messages quote its output; its last line is one JSON object for scripts.
import ArgumentParser
import Distributed
import Foundation
import NN
import Support

public struct BenchCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time train steps and eval forwards of one architecture on random clips.",
        discussion: "The last line printed is a JSON object with the measured numbers.")

    @Option(help: "GEMM arithmetic: fp32, or bf16 (bf16 inputs, fp32 accumulation).") var precision: Precision = .fp32
    @Option(help: "Architecture.")
    var arch: Architecture = .r2plus1d18
    @Option(name: .customLong("batch-size"), help: "Clips per step.")
    var batchSize: Int = 2
    @Option(help: "Frames per clip (T).")
    var frames: Int = 8
    @Option(name: .customLong("crop-size"), help: "Height and width of each frame.")
    var cropSize: Int = 112
    @Option(help: "Timed steps (train and eval each), after one untimed warm-up step.")
    var steps: Int = 3
    @Option(help: "Base width (64 = the standard model).")
    var width: Int = 64
    @Option(help: "Number of classes.")
    var classes: Int = 100
    @Option(name: .customLong("temporal-stride"), help: "r2plus1d_18 only: 2 as torchvision, 1 keeps T.")
    var temporalStride: Int = 2
    @Option(name: .customLong("column-budget"),
            help: "Floats of vol2col columns per chunk in every conv (default: the layer's own, 4Mi).")
    var columnBudget: Int?
    @Option(name: .customLong("winograd-budget"),
            help: "Floats of transformed tiles per Winograd chunk and thread in every conv (default: the layer's own, 4Mi).")
    var winogradBudget: Int?
    @Option(help: "Convolution algorithm of every conv.")
    var conv: ConvChoice = .auto
    @Flag(help: "Also print the time spent in each top-level stage of one train step.")
    var profile = false
    @Option(help: "OpenBLAS threads (default: OPENBLAS_NUM_THREADS, else all cores of the node).")
    var threads: Int?
    public init() {}

    /// `--conv`: the names of `ConvAlgorithm`'s cases on the command line.
    enum ConvChoice: String, CaseIterable, ExpressibleByArgument {
        case auto
        case gemm
        case winograd

        static var allValueDescriptions: [String: String] {
            ["auto": "Winograd where it applies and pays (16+ channels), else vol2col + sgemm",
             "gemm": "vol2col + sgemm everywhere",
             "winograd": "Winograd F(2,3) wherever the geometry allows"]
        }

        var algorithm: ConvAlgorithm {
            switch self {
            case .auto: return .automatic
            case .gemm: return .gemm
            case .winograd: return .winograd
            }
        }
    }

    public func validate() throws {
        guard batchSize > 0, frames > 0, cropSize > 0, steps > 0, width > 0, classes > 0 else {
            throw ValidationError("--batch-size, --frames, --crop-size, --steps, --width and --classes must be positive")
        }
    }

    public func run() throws {
        // Threads follow the launcher's policy (OPENBLAS_NUM_THREADS, else cores ÷ ranks on the node): the parent
        // command's `--threads` is parsed by the parent and does not reach subcommands.
        try Job.run(threads: threads) { comm in
            let model = try arch.makeModel(classes: classes, width: width, temporalStride: temporalStride)
            for line in try Precision.apply(precision, to: model, communicator: comm) { print0(comm, line) }
            if let staged = model as? StagedClassifier {
                for c in staged.convolutions {
                    if let columnBudget { c.columnBudget = columnBudget }
                    if let winogradBudget { c.winogradBudget = winogradBudget }
                    c.algorithm = conv.algorithm
                }
            }
            let input = Tensor(shape: [batchSize, 3, frames, cropSize, cropSize])
            var rng = SeededRandom(keys: 7)
            for i in 0..<input.count { input.data[i] = Float(rng.nextGaussian()) }
            let labels = (0..<batchSize).map { $0 % classes }
            print0(comm, "bench: \(arch) width \(width) \(precision), \(model.store.parameterCount) parameters, input "
                   + "\(input.shape), \(BLAS.threads) thread(s), \(steps) timed step(s)")

            let sgemm = BLAS.measureSgemmGFLOPs()
            // SGD with momentum, as training and tools/bench_pytorch.py run it (its momentum buffer counts in memory).
            let optimizer = SGD(store: model.store, groups: ParameterGroup.backboneAndHead(
                model.store, headPrefixes: ["fc"], backboneLR: 1e-4, headLR: 1e-4, weightDecay: 0), momentum: 0.9)
            func trainStep() throws {
                model.store.zeroGrad()
                let logits = try model.forward(input, training: true)
                let (_, d) = try SoftmaxCrossEntropy.compute(logits: logits, labels: labels, labelSmoothing: 0.1)
                try model.backward(d)
                optimizer.step()
            }
            // Process CPU time (user + system, all threads): on a shared machine it tracks the work done better
            // than wall time, which includes waiting for cores.
            func cpuSeconds() -> Double {
                var usage = rusage()
                getrusage(RUSAGE_SELF.rawValue, &usage)
                return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
                    + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
            }
            try trainStep()  // warm-up: allocates every workspace
            model.resetFLOPs()
            let t0 = DispatchTime.now().uptimeNanoseconds, c0 = cpuSeconds()
            for _ in 0..<steps { try trainStep() }
            let trainSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let trainCPU = cpuSeconds() - c0
            let trainFLOPs = model.flops

            _ = try model.forward(input, training: false)
            model.resetFLOPs()
            let t1 = DispatchTime.now().uptimeNanoseconds, c1 = cpuSeconds()
            for _ in 0..<steps { _ = try model.forward(input, training: false) }
            let evalSeconds = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
            let evalCPU = cpuSeconds() - c1
            let evalFLOPs = model.flops

            let clips = Double(batchSize * steps)
            let result: [String: Any] = [
                "arch": arch.rawValue, "width": width, "batch_size": batchSize, "frames": frames, "crop_size": cropSize,
                "classes": classes, "steps": steps, "threads": BLAS.threads,
                "train_clips_per_s": clips / trainSeconds, "eval_clips_per_s": clips / evalSeconds,
                "train_s_per_step": trainSeconds / Double(steps), "eval_s_per_step": evalSeconds / Double(steps),
                "train_gflop_per_step": trainFLOPs / Double(steps) / 1e9,
                "eval_gflop_per_step": evalFLOPs / Double(steps) / 1e9,
                "train_gflops_per_s": trainFLOPs / trainSeconds / 1e9,
                "eval_gflops_per_s": evalFLOPs / evalSeconds / 1e9,
                "peak_rss_bytes": Node.peakRSSBytes,
                "sgemm_gflops_per_s": sgemm,
                "train_cpu_s_per_step": trainCPU / Double(steps), "eval_cpu_s_per_step": evalCPU / Double(steps),
            ]
            if profile, let staged = model as? StagedClassifier {
                for line in try staged.profileTrainStep(input, labels: labels) { print0(comm, line) }
            }
            print0(comm, String(format: "train: %.3f clips/s (%.2f s/step, %.1f GFLOP/s, %.1f GFLOP/step)",
                                clips / trainSeconds, trainSeconds / Double(steps), trainFLOPs / trainSeconds / 1e9,
                                trainFLOPs / Double(steps) / 1e9))
            print0(comm, String(format: "eval:  %.3f clips/s (%.2f s/step, %.1f GFLOP/s)",
                                clips / evalSeconds, evalSeconds / Double(steps), evalFLOPs / evalSeconds / 1e9))
            print0(comm, String(format: "CPU time per step: train %.2f s, eval %.2f s (all threads)",
                                trainCPU / Double(steps), evalCPU / Double(steps)))
            print0(comm, String(format: "peak RSS: %.1f MiB", Double(Node.peakRSSBytes) / 1_048_576))
            print0(comm, String(format: "sgemm 1024³ on this machine now: %.1f GFLOP/s", sgemm))
            let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print0(comm, String(decoding: json, as: UTF8.self))
        }
    }
}
