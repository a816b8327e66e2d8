// Launcher: how a run splits its global batch over the job's ranks. A fresh run takes the flags (ranks ×
// --batch-size × --accumulate). A resume must keep the checkpoint's global batch to continue exactly: on the same
// number of ranks the flags must give it; on another number (a lost node, a requeue onto a smaller allocation) the
// per-rank batch is derived from it. With synchronized BN, N ranks × B clips are one batch of N·B, so raising B
// computes the same step; past --max-batch-size, --accumulate rises instead and BN normalizes smaller groups.

/// The per-rank batch and accumulation of a run.
public struct BatchPlan: Equatable {
    public var perRank: Int
    public var accumulate: Int
    /// What was changed and why, for the log (nil when the flags are taken as they are).
    public var note: String?

    public init(perRank: Int, accumulate: Int, note: String? = nil) {
        self.perRank = perRank; self.accumulate = accumulate; self.note = note
    }

    public func globalBatch(ranks: Int) -> Int { ranks * perRank * accumulate }

    /// - Parameters:
    ///   - batchSize, accumulate: the flags.
    ///   - maxBatchSize: --max-batch-size (nil: no cap).
    ///   - ranks: this job's number of ranks.
    ///   - saved: the checkpoint's global batch and number of ranks, when resuming.
    /// - Throws: `BatchPlanError` when the global batch cannot be kept.
    public static func make(batchSize: Int, accumulate: Int, maxBatchSize: Int?, ranks: Int,
                            saved: (globalBatch: Int, ranks: Int)?) throws -> BatchPlan {
        let flags = BatchPlan(perRank: batchSize, accumulate: accumulate, note: nil)
        guard let saved, saved.globalBatch > 0 else { return flags }
        let g = saved.globalBatch
        if flags.globalBatch(ranks: ranks) == g { return flags }
        guard ranks != saved.ranks else {
            throw BatchPlanError(message: "the checkpoint was trained with a global batch of \(g) (\(saved.ranks) "
                                 + "rank(s)); these flags give \(flags.globalBatch(ranks: ranks)) (\(ranks) × "
                                 + "--batch-size \(batchSize) × --accumulate \(accumulate)). Resuming exactly needs the "
                                 + "same global batch: use --batch-size \(g / max(1, ranks * accumulate)) here, or "
                                 + "start a new run with another --out")
        }
        guard g % ranks == 0 else {
            let working = (1...g).filter { g % $0 == 0 }.map(String.init).joined(separator: ", ")
            throw BatchPlanError(message: "the checkpoint's global batch of \(g) cannot be split evenly over \(ranks) "
                                 + "ranks; rank counts that keep it: \(working)")
        }
        let perRankTotal = g / ranks
        var k = perRankTotal % accumulate == 0 ? accumulate : 1
        while let cap = maxBatchSize, perRankTotal / k > cap || perRankTotal % k != 0 { k += 1 }
        var note = "resuming \(saved.ranks)-rank checkpoint on \(ranks) rank(s): global batch \(g) kept as "
            + "\(ranks) × \(perRankTotal / k)" + (k > 1 ? " × \(k) accumulated" : "")
        if k != accumulate {
            note += " (--max-batch-size \(maxBatchSize ?? 0): BatchNorm now normalizes groups of \(ranks) × "
                + "\(perRankTotal / k) clips, so steps are close to, not equal to, the original run's)"
        }
        return BatchPlan(perRank: perRankTotal / k, accumulate: k, note: note)
    }
}

public struct BatchPlanError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
