// Launcher: the options of `asl-dist-train` training runs. Scripts and docs rely on these names; a config file
// (`--config FILE`) may set any of them, and flags typed on the command line win.
import ArgumentParser
import Distributed
import Foundation
import NN

public struct TrainOptions: ParsableArguments {
    // Data
    @Option(help: "Directory of training shards (asl-shards output).") public var train: String?
    @Option(help: "Directory of validation shards.") public var val: String?
    @Option(help: "Split name to read from --train (shards named <split>-*.h5).") public var trainSplit = "train"
    @Option(help: "Split name to read from --val.") public var valSplit = "val"
    @Option(help: "Frames per clip (T).") public var frames = 16
    @Option(help: "Frame stride when sampling a clip from the stored frames.") public var frameStride = 1
    @Option(help: "Square crop size fed to the model.") public var cropSize = 112
    @Flag(help: "Turn off training augmentation (random crop, colour jitter, rotation, blur, temporal jitter).")
    public var noAugment = false
    @Flag(help: "Allow horizontal flips in augmentation (off by default: a flip changes handedness).")
    public var hflip = false
    @Option(help: "Decode/augment worker threads per rank.") public var workers = 2
    @Option(help: "How training clips are spread over ranks.") public var sampling = SamplingMode.global
    @Flag(help: "Drop the tail of an epoch instead of padding it so that every rank runs the same steps.")
    public var dropLast = false

    // Model
    @Option(help: "Architecture.") public var arch = Architecture.r2plus1d18
    @Option(help: "Base channel width (64 = the standard model).") public var width = 64
    @Option(help: "r2plus1d_18 temporal stride of layers 2-4 (2 = torchvision, 1 keeps T).") public var temporalStride = 2

    // Optimization
    @Option(help: "Clips per rank per step.") public var batchSize = 8
    @Option(help: "Epochs.") public var epochs = 10
    @Option(help: "Stop after this many optimizer steps in total.") public var steps: Int?
    @Option(help: "Optimizer (--momentum and --nesterov apply to sgd).") public var optimizer = OptimizerKind.sgd
    @Option(help: "Learning rate (both groups, unless --backbone-lr/--head-lr are given).") public var lr: Double = 0.01
    @Option(help: "Learning rate of the backbone (everything but fc).") public var backboneLr: Double?
    @Option(help: "Learning rate of the classifier head (fc).") public var headLr: Double?
    @Option(help: "SGD momentum.") public var momentum: Double = 0.9
    @Flag(help: "Nesterov momentum.") public var nesterov = false
    @Option(help: "Weight decay.") public var weightDecay: Double = 1e-4
    @Option(help: "Learning-rate schedule.") public var schedule = ScheduleKind.cosine
    @Option(help: "Linear warm-up steps.") public var warmupSteps = 0
    @Option(help: "Step schedule: decay every this many steps.") public var stepSize = 1000
    @Option(help: "Step schedule: decay factor.") public var gamma: Double = 0.1
    @Option(help: "Label smoothing of the cross-entropy.") public var labelSmoothing: Double = 0
    @Option(help: "Clip gradients to this global L2 norm (0 = off).") public var clipGradNorm: Double = 0
    @Option(help: "Accumulate gradients over k micro-batches per optimizer step (no communication in between).")
    public var accumulate = 1
    @Option(help: "Seed of initialization, sampling and augmentation.") public var seed: UInt64 = 0

    // Distributed
    @Option(help: "Gradient bucket size in MB.") public var bucketMb: Double = 25
    @Flag(help: "Reduce gradients in a fixed order so results do not depend on timing.") public var deterministic = false
    @Option(help: "Arithmetic of the conv and linear GEMMs: fp32, or bf16 (mixed precision as PyTorch's autocast: bf16 inputs, fp32 accumulation; weights, gradients, optimizer state, BN statistics and reductions stay fp32).")
    public var precision: Precision = .fp32
    @Option(name: .customLong("allreduce-precision"),
            help: "Send gradient buckets as fp32, or as bf16 (half the bytes on the wire, summed in fp32; like Horovod's compression).")
    public var allreducePrecision: GradientBuckets.Transport = .fp32
    @Flag(help: "Do not synchronize BatchNorm statistics across ranks.") public var noSyncBn = false
    @Option(help: "Seconds a rank may be missing from a collective before the job is aborted.")
    public var stallTimeout: Double = 300
    @Option(help: "OpenBLAS threads per rank.") public var threads: Int?

    // Fine-tuning
    @Option(help: "Initial weights (safetensors); a head with another class count is left out.") public var pretrained: String?
    @Option(help: "Comma-separated prefixes to freeze, e.g. stem,layer1,layer2.") public var freeze: String?
    @Option(help: "Epoch (0-based) from which frozen parts are unfrozen.") public var unfreezeEpoch: Int?
    @Option(help: "Unfreeze when the validation metric has not improved for this many epochs.")
    public var unfreezeOnPlateau: Int?

    // Evaluation, checkpoints, logs
    @Option(help: "Directory of this run (checkpoints, history, reports, TensorBoard).") public var out = "runs/asl"
    @Option(help: ArgumentHelp("Continue a run exactly where it stopped: its directory, or 'auto' (--out when it "
                               + "holds a checkpoint, else start fresh: one command line for the first submission and "
                               + "every requeue).", valueName: "dir|auto"))
    public var resume: String?
    @Option(help: "Also write a checkpoint every this many steps (0 = only per epoch).") public var checkpointEvery = 0
    @Option(help: "Also write a checkpoint when this many minutes have passed since the last one (0 = off).")
    public var checkpointMinutes: Double = 0
    @Option(help: "Step checkpoints to keep besides the ones checkpoints/last and checkpoints/best point to.")
    public var keepCheckpoints = 0
    @Option(help: ArgumentHelp("Largest per-rank batch: when a resume onto fewer ranks keeps the global batch, "
                               + "--accumulate rises instead of the per-rank batch beyond this (BN then normalizes "
                               + "groups of this size)."))
    public var maxBatchSize: Int?
    @Option(help: "Validation metric for best checkpoint, early stopping and plateaus.") public var metric = Metric.top1
    @Option(help: "Stop when the metric has not improved for this many epochs (0 = never).") public var patience = 0
    @Option(help: "Clips per video in evaluation (evenly spaced windows, logits averaged).") public var testClips = 1
    @Option(help: "Log a line every this many steps.") public var logEvery = 10
    @Option(help: "Write a Chrome trace of this rank's steps to this file (rank r writes FILE.rank<r>.json).")
    public var timeline: String?
    @Option(help: "Read options from a YAML or JSON file (keys are option names); flags given here win.")
    public var config: String?

    public init() {}

    public func validate() throws {
        guard batchSize > 0, frames > 0, cropSize > 0, width > 0, accumulate > 0, epochs > 0, testClips > 0 else {
            throw ValidationError("--batch-size, --frames, --crop-size, --width, --accumulate, --epochs and --test-clips must be positive")
        }
        guard checkpointEvery >= 0, checkpointMinutes >= 0, keepCheckpoints >= 0, (maxBatchSize ?? 1) > 0 else {
            throw ValidationError("--checkpoint-every, --checkpoint-minutes and --keep-checkpoints must be 0 or more, "
                                  + "--max-batch-size positive")
        }
        if unfreezeEpoch != nil || unfreezeOnPlateau != nil, freeze == nil {
            throw ValidationError("--unfreeze-epoch/--unfreeze-on-plateau need --freeze")
        }
    }

    /// The run directory: --resume DIR, else --out (also for --resume auto).
    public var runDirectory: String { resume.map { $0 == "auto" ? out : $0 } ?? out }

    /// The frozen prefixes, e.g. ["stem", "layer1"].
    public var freezePrefixes: [String] {
        (freeze ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
