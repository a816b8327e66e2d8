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
    /// Sets `model` to `precision`. For bf16 also picks the GEMM engine (`GEMM.chooseBF16Engine`: measured, or
    /// `ASL_BF16_GEMM`), rank 0's choice on every rank so that all ranks round and sum alike. Returns the lines rank 0
    /// prints: the engine and what was measured, and a note when the CPU has no native bf16.
    static func apply(_ precision: Precision, to model: VideoClassifier, communicator comm: Communicator? = nil) throws
        -> [String] {
        model.precision = precision
        guard precision == .bf16 else { return [] }
        let (chosen, measured) = GEMM.chooseBF16Engine()
        var engine = chosen
        if let comm, comm.size > 1 {
            let agreed = try comm.broadcast(bytes: Array(chosen.rawValue.utf8), root: 0)
            engine = BF16Engine(rawValue: String(decoding: agreed, as: UTF8.self)) ?? chosen
        }
        GEMM.bf16Engine = engine
        var lines: [String] = []
        let speeds = measured.isEmpty ? "set by ASL_BF16_GEMM"
            : "measured: bf16 matmul \(Int(measured[.bf16] ?? 0)), fp32 sgemm \(Int(measured[.fp32] ?? 0)) GFLOP/s"
        lines.append("bf16: GEMMs on oneDNN's \(engine == .bf16 ? "bf16 matmul" : "fp32 sgemm over bf16-rounded inputs") "
                     + "(\(speeds); ASL_BF16_GEMM=bf16|fp32 picks one)")
        if !OneDNN.hasNativeBF16 {
            lines.append("note: --precision bf16 on a CPU without bf16 instructions (oneDNN dispatches to \(OneDNN.isa)): "
                         + "oneDNN emulates it, which is slower than fp32 here")
        }
        return lines
    }
}
