// Launcher: what the ranks of a run agree on, and how. Setup checks run on rank 0 (or on every rank) and fail on
// all of them at once; decisions (unfreeze, early stop, stop on a signal) are made from values every rank holds or
// rank 0 broadcasts, so every rank takes the same branch at the same step and none is left waiting in a collective.
import Distributed
import Foundation
import NN

/// A setup error found by rank 0 (or the lowest failing rank) and shared with every rank; only `reporter` prints it.
struct AgreedFailure: Error, CustomStringConvertible {
    let message: String
    let reporter: Bool
    var description: String { message }
}

/// Every rank stopped at the same step after a signal; rank 0 saved `checkpoints/last`.
struct StoppedBySignal: Error, CustomStringConvertible {
    let signal: String
    let step: Int
    var description: String { "stopped by \(signal) at step \(step)" }
}

/// A step's loss, accuracy and sample count summed over all ranks, and whether any rank asked to stop.
struct ReducedStep {
    var sums: StepSums
    /// The first stop signal seen on any rank (this rank's name when it saw one, else "a signal on another rank").
    var stopSignal: String?
}

final class RunCoordinator {
    let comm: Communicator
    /// The signals that ask every rank to stop at the next step boundary.
    let signals: StopSignals

    init(comm: Communicator) {
        self.comm = comm
        let rank = comm.rank, size = comm.size
        signals = StopSignals { name, first in
            let prefix = size > 1 ? "[rank \(rank)] " : ""
            let line = first
                ? "\(prefix)\(name) received: every rank stops after the current step; rank 0 saves checkpoints/last"
                : "\(prefix)\(name) received again: still stopping; the checkpoint being written stays consistent"
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    // MARK: - Setup checks

    /// Runs `check` on rank 0 and makes every rank throw the same error when it fails, so that a bad setup stops
    /// the job before training with one clear message.
    func agree(_ what: String, _ check: () throws -> Void) throws {
        var message = ""
        if comm.isRoot {
            do { try check() } catch { message = "\(error)" }
        }
        let shared = try comm.broadcast(bytes: Array(message.utf8), root: 0)
        if !shared.isEmpty {
            throw AgreedFailure(message: "\(what): " + String(decoding: shared, as: UTF8.self), reporter: comm.isRoot)
        }
    }

    /// Runs `body` on every rank; when it fails anywhere, the lowest failing rank reports its error and every rank
    /// stops, so that a problem every rank shares (e.g. a shard of the wrong version) is printed once, not N times.
    func agreeAll<T>(_ what: String, _ body: () throws -> T) throws -> T {
        let result: Result<T, Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        var isFailure = false
        if case .failure = result { isFailure = true }
        let failed = try comm.allgather([Int32(isFailure ? 1 : 0)])
        guard let first = failed.firstIndex(of: 1) else { return try result.get() }
        if comm.rank == first, case .failure(let error) = result {
            throw AgreedFailure(message: "\(what): \(error)", reporter: true)
        }
        throw AgreedFailure(message: "\(what): failed on rank \(first)", reporter: false)
    }

    /// Rank 0 computes a value (JSON-coded) and every rank receives it; a failure on rank 0 fails every rank.
    func rootDecides<T: Codable>(_ what: String, _ decide: () throws -> T) throws -> T {
        var value: T?
        try agree(what) { value = try decide() }
        let bytes = try comm.broadcast(bytes: comm.isRoot ? Array(try JSONEncoder().encode(value!)) : [], root: 0)
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    }

    /// Every rank hashes its parameter table (names, shapes, roles); a rank whose hash differs from rank 0's stops
    /// the job naming itself.
    func checkTableMatchesRoot(_ store: ParameterStore) throws {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for e in store.entries {
            for b in "\(e.name)|\(e.shape)|\(e.role.rawValue);".utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        }
        let all = try comm.allgather([Int64(bitPattern: h)])
        if let bad = all.indices.first(where: { all[$0] != all[0] }) {
            throw AgreedFailure(message: "rank \(bad)'s model parameter table (names, shapes) differs from rank 0's: "
                                + "every rank must be started with the same --arch, --width and data", reporter: comm.isRoot)
        }
    }

    /// Copies rank 0's parameters, BN buffers and counters to every rank.
    func broadcastModel(_ store: ParameterStore) throws {
        try comm.broadcast(store.parameters.buffer, root: 0)
        try comm.broadcast(store.buffers.buffer, root: 0)
        var counters = store.counters
        try comm.broadcast(&counters, root: 0)
        store.counters = counters
    }

    // MARK: - Per-step decisions

    /// Sums a step's loss, accuracy and count over all ranks, with the stop request folded into the same allreduce:
    /// a signal on any rank before this call makes every rank see it here, at the same step.
    func reduceStep(_ local: StepSums) throws -> ReducedStep {
        let mine = signals.received
        var values = [local.loss, local.correct, local.seen, mine == nil ? 0 : 1]
        try comm.allreduce(&values, op: .sum)
        let stop = values[3] > 0 ? (mine ?? "a signal on another rank") : nil
        return ReducedStep(sums: StepSums(loss: values[0], correct: values[1], seen: values[2]), stopSignal: stop)
    }

    /// Rank 0's yes/no, broadcast.
    func rootSays(_ yes: Bool) throws -> Bool {
        var flag: [Int32] = [comm.isRoot && yes ? 1 : 0]
        try comm.broadcast(&flag, root: 0)
        return flag[0] == 1
    }

    // MARK: - Per-epoch decisions

    /// Records an epoch's validation `value` (reduced over all ranks, so the same everywhere): the best so far and
    /// the count of epochs without improvement. Returns whether it is the new best.
    func recordValidation(_ value: Double, metric: Metric, in state: inout RunState) -> Bool {
        if let best = state.bestMetric, !metric.isBetter(value, than: best) {
            state.epochsWithoutImprovement += 1
            return false
        }
        state.bestMetric = value; state.bestEpoch = state.epoch; state.epochsWithoutImprovement = 0
        return true
    }

    /// Staged unfreezing: at `--unfreeze-epoch`, or after `--unfreeze-on-plateau` epochs without improvement; rank
    /// 0's decision, broadcast, so every rank changes its trainable set at the same step.
    func shouldUnfreeze(_ state: RunState, atEpoch epoch: Int?, onPlateau plateau: Int?) throws -> Bool {
        var due = false
        if let epoch, state.epoch >= epoch { due = true }
        if let plateau, state.bestMetric != nil, state.epochsWithoutImprovement >= plateau { due = true }
        return try rootSays(due)
    }

    /// Early stopping after `patience` epochs without improvement (0: never). The count comes from reduced metrics,
    /// so every rank decides the same.
    func shouldStopEarly(_ state: RunState, patience: Int) -> Bool {
        patience > 0 && state.epochsWithoutImprovement >= patience
    }
}
