// Launcher: `asl-dist-train evaluate`: the trainer's evaluation alone, on any number of ranks, for a weights file
// and a shard directory; writes the same reports as training (metrics JSON, per-class CSV, confusion CSV + PNG).
import ArgumentParser
import Foundation
import Inference
import NN
import Shards

public struct EvaluateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate weights on a split of a shard directory across all ranks and write the reports.")

    @Option(help: "Weights (safetensors) or a checkpoint directory written by asl-dist-train, or converted from torchvision.") var weights: String
    @Option(help: "Shard directory (or one shard file).") var shards: String
    @Option(help: "Split to evaluate.") var split = "test"
    @Option(help: "Directory for the reports (default: <weights dir>/eval-<split>).") var out: String?
    @Option(help: "Clips per video (evenly spaced windows, logits averaged).") var testClips = 1
    @Option(help: "Clips per rank per forward.") var batchSize = 8
    @Option(help: "Frame stride when sampling (default: the weights' metadata, else 1).") var frameStride: Int?
    @Option(help: "Architecture, for weights without metadata.") var arch: Architecture?
    @Option(help: "Frames per window (default: the weights' metadata).") var frames: Int?
    @Option(help: "Crop size (default: the weights' metadata).") var cropSize: Int?
    @Option(help: "Loader threads per rank.") var workers = 2
    @Option(help: "OpenBLAS threads per rank.") var threads: Int?
    @Option(help: "GEMM arithmetic: fp32, or bf16 (bf16 inputs, fp32 accumulation).") var precision: Precision = .fp32

    public init() {}

    public func run() throws {
        try Job.run(threads: threads) { comm in
            var overrides = ModelOverrides()
            overrides.arch = arch; overrides.frames = frames; overrides.crop = cropSize; overrides.frameStride = frameStride
            let predictor = try Predictor(weights: weights, overrides: overrides)
            let spec = predictor.spec
            for line in try Precision.apply(precision, to: predictor.model, communicator: comm) { print0(comm, line) }
            let options = try TrainOptions.parse([
                "--frames", "\(spec.frames)", "--crop-size", "\(spec.crop)", "--frame-stride", "\(spec.frameStride)",
                "--batch-size", "\(batchSize)", "--test-clips", "\(testClips)", "--workers", "\(workers)",
            ])
            let data = try TrainingData(directory: shards, split: split, options: options, training: false,
                                        rank: comm.rank, size: comm.size)
            data.normalization = spec.normalization
            guard data.classes.count == spec.classes.count else {
                throw ValidationError("the weights have \(spec.classes.count) classes, the shards \(data.classes.count)")
            }
            if data.classes != spec.classes && spec.classes.first?.hasPrefix("class_") != true {
                throw ValidationError("the weights' classes differ from the shards' (\(spec.classes.prefix(3))… vs "
                                      + "\(data.classes.prefix(3))…): build the shards with the same class list")
            }
            let directory = out ?? (URL(fileURLWithPath: predictor.weightsPath).deletingLastPathComponent().path + "/eval-\(split)")
            let metrics = try evaluateModel(predictor.model, on: data, communicator: comm, reportDirectory: directory,
                                            title: "\(spec.arch) \(split)")
            print0(comm, String(format: "%@ %@: %d clips  loss %.4f  top1 %.2f%%  top5 %.2f%%  macro-F1 %.2f%%",
                                spec.arch.rawValue, split, Int(metrics.count), metrics.meanLoss, 100 * metrics.accuracy,
                                100 * metrics.top5Accuracy, 100 * metrics.macroF1))
            print0(comm, "reports: \(directory)")
        }
    }
}
