// Launcher: the training options that take one of a few named values (`--sampling`, `--optimizer`, `--schedule`,
// `--metric`). The raw values are the names typed on the command line and in config files; swift-argument-parser
// rejects any other value, naming the flag and listing these.
import ArgumentParser
import Distributed
import Foundation
import NN

/// How training clips are spread over ranks.
public enum SamplingMode: String, CaseIterable, ExpressibleByArgument, Sendable {
    case global
    case local

    public static var allValueDescriptions: [String: String] {
        ["global": "one permutation over all clips; every rank opens every shard",
         "local": "each rank reads its own shards (shard i belongs to rank i mod ranks)"]
    }
}

/// The optimizer of both parameter groups.
public enum OptimizerKind: String, CaseIterable, ExpressibleByArgument, Sendable {
    case sgd
    case adamw
}

/// The learning-rate schedule over the run.
public enum ScheduleKind: String, CaseIterable, ExpressibleByArgument, Sendable {
    case cosine
    case step
    case constant

    public static var allValueDescriptions: [String: String] {
        ["cosine": "linear warm-up over --warmup-steps, then cosine decay to 0",
         "step": "multiply by --gamma every --step-size steps",
         "constant": "the base learning rate throughout"]
    }
}

/// The validation metric that picks the best checkpoint and decides early stopping and plateaus.
public enum Metric: String, CaseIterable, ExpressibleByArgument, Sendable, CustomStringConvertible {
    case top1
    case macroF1 = "macro_f1"
    case loss

    /// The option's name, as logs and history columns spell it.
    public var description: String { rawValue }

    /// This metric's value in `m`.
    public func value(of m: ClassificationMetrics) -> Double {
        switch self {
        case .top1: return m.accuracy
        case .macroF1: return m.macroF1
        case .loss: return m.meanLoss
        }
    }

    /// Whether `a` improves on `b`: lower loss, higher accuracy or F1.
    public func isBetter(_ a: Double, than b: Double) -> Bool {
        switch self {
        case .loss: return a < b
        case .top1, .macroF1: return a > b
        }
    }
}

extension GradientBuckets.Transport: ExpressibleByArgument {}

extension Precision: ExpressibleByArgument {
    /// Sets `model` to `precision`; for bf16 on a CPU without native bf16 returns the note rank 0 prints once.
    static func apply(_ precision: Precision, to model: VideoClassifier) -> String? {
        model.precision = precision
        guard precision == .bf16, !OneDNN.hasNativeBF16 else { return nil }
        return "note: --precision bf16 on a CPU without bf16 instructions (oneDNN dispatches to \(OneDNN.isa)): "
            + "oneDNN emulates it, which is slower than fp32 here"
    }
}
