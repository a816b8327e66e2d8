// Launcher: what a checkpoint holds besides weights and optimizer state — where the run is (epoch, step, position
// in the epoch's sample order), what it has decided (best metric, plateau count, unfrozen). Everything random is
// keyed by (seed, epoch, global sample index, step), so these counters are the whole random state: a resumed run
// replays exactly.
import Foundation
import NN
import Support

public struct RunState: Codable, Equatable {
    public var epoch = 0
    /// Optimizer steps taken so far.
    public var step = 0
    /// Samples of the current epoch's global order already consumed (independent of the number of ranks).
    public var samplesDoneInEpoch = 0
    public var bestMetric: Double?
    public var bestEpoch: Int?
    public var epochsWithoutImprovement = 0
    public var unfrozen = false
    /// The epoch at whose start staged unfreezing happened, for the marker in `reports/curves.png`; nil while frozen,
    /// without --freeze, or in a checkpoint that predates the field.
    public var unfrozeAtEpoch: Int?
    /// Loss, correct and seen summed over the current epoch's steps so far (so that an epoch resumed midway reports
    /// its whole training loss and accuracy); nil at the start of an epoch.
    public var epochTrainSums: StepSums?
    /// The job shape when saved, for the log of a resume with another number of ranks.
    public var worldSize = 1
    public var globalBatch = 0
    public var seed: UInt64 = 0
    /// An `Architecture` raw value (a string on disk); `architecture(path:)` reads it.
    public var arch = ""
    public var classes: [String] = []
    /// The optimizer steps the run was planned for (--steps, else epochs × steps per epoch): the learning-rate
    /// schedule's length. A resume that plans another number reshapes the schedule, which the log says. nil when
    /// the checkpoint predates the field (optional, so such checkpoints still decode).
    public var plannedSteps: Int?

    public init() {}

    public static func load(from path: String) throws -> RunState {
        do {
            return try JSONDecoder().decode(RunState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ResumeError(path: path, reason: "cannot read the run state: \(error)")
        }
    }

    /// `arch` as an `Architecture`; throws `ResumeError` (naming the known ones) for a name this build does not know.
    public func architecture(path: String) throws -> Architecture {
        guard let arch = Architecture(rawValue: arch) else {
            throw ResumeError(path: path, reason: "the run state names an unknown architecture '\(arch)' (known: \(Architecture.knownNames))")
        }
        return arch
    }

    public func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(self), to: path)
    }
}

/// Training loss (summed over samples), correct predictions and samples seen: of a micro-batch, a step, an interval
/// of steps or an epoch so far.
public struct StepSums: Codable, Equatable {
    public var loss = 0.0
    public var correct = 0.0
    public var seen = 0.0

    public init(loss: Double = 0, correct: Double = 0, seen: Double = 0) {
        self.loss = loss; self.correct = correct; self.seen = seen
    }

    public mutating func add(_ other: StepSums) {
        loss += other.loss; correct += other.correct; seen += other.seen
    }

    /// Mean loss and accuracy (NaN when nothing was seen).
    public var meanLoss: Double { seen > 0 ? loss / seen : .nan }
    public var accuracy: Double { seen > 0 ? correct / seen : .nan }
}

public struct ResumeError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot resume from \(path): \(reason)" }
}
