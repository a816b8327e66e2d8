// Shards: which clips each rank reads in an epoch (pure functions of seed, epoch, rank and world size; no MPI), and
// which frames of a clip form the T-frame input.
//
// Two modes:
// - global: one permutation of all N clips per epoch, dealt to ranks like torch's DistributedSampler (rank r takes
//   positions r, r+W, r+2W, …), padded by wrapping (or truncated with dropLast) so every rank runs the same steps;
// - local: rank r reads only shards s with s mod W == r, in its own permutation per epoch, for a number of samples
//   the caller fixes (the trainer agrees on the minimum across ranks so that collectives line up).
// Every sample carries its global clip index: augmentation is keyed by it, so a clip is transformed identically
// whatever the number of ranks.
import Foundation
import Support

/// One sample of an epoch: a global clip index, and whether it repeats a clip already in the epoch (padding).
public struct SampleRef: Sendable, Equatable, Hashable {
    public var index: Int
    /// True for samples added to even out ranks; evaluation skips them so no clip is counted twice.
    public var isPadding: Bool
    public init(index: Int, isPadding: Bool = false) { self.index = index; self.isPadding = isPadding }
}

public enum SamplingMode: String, Sendable, CaseIterable {
    case global, local
}

public enum DistributedSampler {
    /// A permutation of `0..<count`, a pure function of (seed, epoch) (Fisher–Yates on `SeededRandom`).
    public static func permutation(count: Int, seed: UInt64, epoch: Int, stream: UInt64 = 0) -> [Int] {
        var rng = SeededRandom(keys: seed, UInt64(truncatingIfNeeded: epoch), 0x5045_524D /* "PERM" */, stream)
        var p = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                p.swapAt(i, j)
            }
        }
        return p
    }

    /// Samples per rank in global mode: ⌈N / W⌉, or ⌊N / W⌋ with `dropLast`.
    public static func globalSamplesPerRank(count: Int, worldSize: Int, dropLast: Bool) -> Int {
        dropLast ? count / worldSize : (count + worldSize - 1) / worldSize
    }

    /// Rank `rank`'s samples for `epoch` in global mode.
    ///
    /// The epoch's order is one permutation of all `count` clips (identity when `shuffle` is false), extended by
    /// wrapping around to a multiple of `worldSize` (padding samples are flagged), or cut to one with `dropLast`;
    /// rank r takes positions r, r + W, r + 2W, …. Across ranks, every clip appears exactly once unpadded (all but
    /// the cut tail with `dropLast`).
    public static func globalEpoch(count: Int, seed: UInt64, epoch: Int, rank: Int, worldSize: Int,
                                   shuffle: Bool = true, dropLast: Bool = false) -> [SampleRef] {
        precondition(worldSize >= 1 && (0..<worldSize).contains(rank), "rank \(rank) outside world of \(worldSize)")
        guard count > 0 else { return [] }
        let order = shuffle ? permutation(count: count, seed: seed, epoch: epoch) : Array(0..<count)
        let perRank = globalSamplesPerRank(count: count, worldSize: worldSize, dropLast: dropLast)
        return (0..<perRank).map { k in
            let position = rank + k * worldSize
            return SampleRef(index: order[position % count], isPadding: position >= count)
        }
    }

    /// Global indices of the clips in the shards rank `rank` owns in local mode (shards s with s mod W == r).
    public static func localClips(dataset: ShardDataset, rank: Int, worldSize: Int) -> [Int] {
        precondition(worldSize >= 1 && (0..<worldSize).contains(rank), "rank \(rank) outside world of \(worldSize)")
        return dataset.shards.indices.filter { dataset.shards[$0].attributes.shardIndex % worldSize == rank }
            .flatMap { s in dataset.clipStarts[s]..<dataset.clipStarts[s + 1] }
    }

    /// Rank `rank`'s `samples` samples for `epoch` in local mode: its own clips (`localClips`) in a permutation keyed
    /// by (seed, epoch, rank); when more samples are asked for than it has clips, further passes use fresh
    /// permutations and are flagged as padding. Empty when the rank owns no clips.
    public static func localEpoch(clips: [Int], seed: UInt64, epoch: Int, rank: Int, samples: Int,
                                  shuffle: Bool = true) -> [SampleRef] {
        guard !clips.isEmpty else { return [] }
        var out: [SampleRef] = []
        out.reserveCapacity(samples)
        var pass = 0
        while out.count < samples {
            let stream = UInt64(rank) << 32 | UInt64(pass)
            let order = shuffle ? permutation(count: clips.count, seed: seed, epoch: epoch, stream: stream + 1)
                                : Array(0..<clips.count)
            for p in order.prefix(samples - out.count) { out.append(SampleRef(index: clips[p], isPadding: pass > 0)) }
            pass += 1
        }
        return out
    }

    /// Rank `rank`'s batches for `epoch`: global mode deals the permutation of all clips (see `globalEpoch`); local
    /// mode takes `localSteps × batchSize` samples from the rank's own shards (see `localEpoch`; the ranks must agree
    /// on `localSteps`, e.g. the minimum over ranks of `localClips(…).count / batchSize`).
    public static func epochBatches(mode: SamplingMode, dataset: ShardDataset, seed: UInt64, epoch: Int, rank: Int,
                                    worldSize: Int, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false,
                                    localSteps: Int? = nil) -> [[SampleRef]] {
        switch mode {
        case .global:
            let samples = globalEpoch(count: dataset.count, seed: seed, epoch: epoch, rank: rank, worldSize: worldSize,
                                      shuffle: shuffle, dropLast: dropLast)
            return batches(samples, batchSize: batchSize, dropLast: dropLast)
        case .local:
            let clips = localClips(dataset: dataset, rank: rank, worldSize: worldSize)
            let steps = localSteps ?? (clips.count / batchSize)
            let samples = localEpoch(clips: clips, seed: seed, epoch: epoch, rank: rank, samples: steps * batchSize,
                                     shuffle: shuffle)
            return batches(samples, batchSize: batchSize, dropLast: true)
        }
    }

    /// Cuts samples into batches of `batchSize`; the last, shorter batch is kept unless `dropLast`.
    public static func batches(_ samples: [SampleRef], batchSize: Int, dropLast: Bool = false) -> [[SampleRef]] {
        precondition(batchSize >= 1, "batch size must be at least 1")
        var out: [[SampleRef]] = []
        var i = 0
        while i < samples.count {
            let end = min(i + batchSize, samples.count)
            if end - i < batchSize && dropLast { break }
            out.append(Array(samples[i..<end]))
            i = end
        }
        return out
    }
}

/// Which frames of a clip make the T-frame input.
///
/// A window covers `(T - 1) × s + 1` frames at stride `s`. Training places it at a random start (temporal jitter;
/// a clip shorter than the window is placed at a random offset inside it) and, with `speedRange`, scales the stride
/// by a random factor (speed perturbation; fractional strides round per frame). Evaluation centres the window, or
/// spaces K windows evenly from the first frame to the last. Indices past either end repeat the edge frame; frames
/// are never reversed.
public struct TemporalSampling: Sendable, Equatable {
    /// T, frames per input clip.
    public var frames: Int
    /// Stored frames between consecutive input frames.
    public var stride: Int
    /// Training-only stride multiplier range, e.g. 0.8...1.2; nil for none.
    public var speedRange: ClosedRange<Double>?

    public init(frames: Int, stride: Int = 1, speedRange: ClosedRange<Double>? = nil) {
        precondition(frames >= 1 && stride >= 1, "frames and stride must be at least 1")
        self.frames = frames; self.stride = stride; self.speedRange = speedRange
    }

    private func indices(start: Int, step: Double, frameCount: Int) -> [Int] {
        (0..<frames).map { k in min(max(start + Int((Double(k) * step).rounded()), 0), frameCount - 1) }
    }

    private func span(_ step: Double) -> Int { Int((Double(frames - 1) * step).rounded()) + 1 }

    /// `[T]` frame indices in `0..<frameCount` for training: random start and, with `speedRange`, a random stride.
    public func trainingIndices(frameCount: Int, rng: inout SeededRandom) -> [Int] {
        precondition(frameCount >= 1, "a clip has at least one frame")
        var step = Double(stride)
        if let r = speedRange { step = max(step * (r.lowerBound + (r.upperBound - r.lowerBound) * rng.nextDouble()), 0.25) }
        let slack = frameCount - span(step)
        let lo = min(0, slack), hi = max(0, slack)
        let start = lo + Int(rng.next() % UInt64(hi - lo + 1))
        return indices(start: start, step: step, frameCount: frameCount)
    }

    /// `[T]` frame indices of the centred window.
    public func centredIndices(frameCount: Int) -> [Int] {
        precondition(frameCount >= 1, "a clip has at least one frame")
        let slack = frameCount - span(Double(stride))
        let start = Int((Double(slack) / 2).rounded(.down))
        return indices(start: start, step: Double(stride), frameCount: frameCount)
    }

    /// `count` windows of `[T]` indices for multi-clip testing: evenly spaced starts from 0 to the last full window
    /// (all centred when the clip is shorter than one window). `count == 1` is the centred window.
    public func evaluationWindows(frameCount: Int, count: Int) -> [[Int]] {
        precondition(count >= 1, "at least one window")
        let slack = frameCount - span(Double(stride))
        guard count > 1, slack > 0 else { return Array(repeating: centredIndices(frameCount: frameCount), count: count) }
        return (0..<count).map { k in
            indices(start: Int((Double(k) * Double(slack) / Double(count - 1)).rounded()), step: Double(stride),
                    frameCount: frameCount)
        }
    }
}
