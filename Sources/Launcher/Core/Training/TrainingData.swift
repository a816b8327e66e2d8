// Launcher: the data side of a training run: which samples this rank reads each epoch (global or local sampling),
// and the prefetching loader that turns them into NCDHW batches.
import Distributed
import Foundation
import NN
import Shards

/// One batch as the training loop uses it.
struct LoadedBatch {
    /// [N·K, 3, T, S, S] (K windows per sample in multi-clip evaluation, 1 otherwise).
    let input: Tensor
    /// [N·K]: the label of each row (rows of one sample share it).
    let labels: [Int32]
    /// [N] per sample.
    let videoLabels: [Int32]
    let videoIsPadding: [Bool]
    let windowsPerSample: Int

    init(_ b: Batch) {
        input = Tensor(shape: b.shape, values: b.data)
        windowsPerSample = b.windowsPerSample
        videoLabels = b.labels
        videoIsPadding = b.isPadding
        labels = b.labels.flatMap { Array(repeating: $0, count: b.windowsPerSample) }
    }

    /// Averages the K rows of logits of each sample: [N·K, classes] → [N, classes].
    func averageClips(_ logits: [Float], classes: Int) -> [Float] {
        let k = windowsPerSample
        guard k > 1 else { return logits }
        let n = logits.count / (classes * k)
        var out = [Float](repeating: 0, count: n * classes)
        for i in 0..<n {
            for w in 0..<k {
                for c in 0..<classes { out[i * classes + c] += logits[(i * k + w) * classes + c] / Float(k) }
            }
        }
        return out
    }
}

/// A loader over part of an epoch.
final class EpochLoader {
    private let loader: BatchLoader
    private var waitedOffset = 0.0
    init(_ loader: BatchLoader) { self.loader = loader }
    func next() throws -> LoadedBatch? { try loader.next().map(LoadedBatch.init) }
    /// Seconds the consumer waited since the last `resetWaited()`.
    var waitedSeconds: Double { loader.waitSeconds - waitedOffset }
    func resetWaited() { waitedOffset = loader.waitSeconds }
    func stop() { loader.close() }
}

final class TrainingData {
    let dataset: ShardDataset
    let options: TrainOptions
    let training: Bool
    let rank: Int
    let size: Int
    var transform: ClipTransform
    /// Input normalization (Kinetics-400's unless the weights say otherwise).
    var normalization: Normalization {
        get { transform.normalization }
        set { transform.normalization = newValue }
    }
    var classes: [String] { dataset.classes }
    var count: Int { dataset.count }
    var mean: [Float] { transform.normalization.mean }
    var std: [Float] { transform.normalization.std }
    /// Local sampling: the clips per rank agreed across ranks (the fewest any rank owns).
    private var agreedLocalSamples = 0

    init(directory: String, split: String, options o: TrainOptions, training: Bool, rank: Int, size: Int) throws {
        // Local sampling opens only this rank's shards (i mod size == rank): other nodes' shards need not be here.
        let local = training && o.sampling == .local
        if local, let files = try? ShardDataset.shardFiles(inDirectory: directory, split: split), !files.isEmpty,
           let count = files.compactMap({ ShardFormat.parseFileName(($0 as NSString).lastPathComponent)?.count }).first,
           count <= rank {
            throw ShardError(.usage, path: directory,
                             "rank \(rank) of \(size) owns no shard of split '\(split)': --sampling local gives shard i to "
                             + "rank i mod \(size), and the split has \(count) shard(s)",
                             hint: "use --sampling global, or rebuild with asl-shards build --shards \(size) (at least one shard per rank)")
        }
        dataset = try ShardDataset(path: directory, split: split, owned: local ? { $0 % size == rank } : nil)
        options = o
        self.training = training
        self.rank = rank
        self.size = size
        var augmentation = AugmentationConfig()
        if o.hflip { augmentation.horizontalFlipProbability = 0.5 }
        transform = ClipTransform(temporal: TemporalSampling(frames: o.frames, stride: o.frameStride,
                                                             speedRange: training && !o.noAugment ? 0.8...1.2 : nil),
                                  cropSize: o.cropSize, training: training,
                                  augmentation: training && !o.noAugment ? augmentation : .none,
                                  evaluationClips: training ? 1 : o.testClips, seed: o.seed)
    }

    var isLocal: Bool { training && options.sampling == .local }

    /// Micro-batches each rank runs per epoch (identical on every rank; agreed by allreduce in local mode).
    func microBatchesPerEpoch(comm: Communicator) throws -> Int {
        let b = options.batchSize
        if isLocal {
            let owned = DistributedSampler.localClips(dataset: dataset, rank: rank, worldSize: size).count
            agreedLocalSamples = Int(try comm.allreduce(Int64(owned), op: .min))
            return agreedLocalSamples / b
        }
        // Every step uses a full batch on every rank, so that all steps have the same global batch.
        return DistributedSampler.globalSamplesPerRank(count: count, worldSize: size, dropLast: options.dropLast) / b
    }

    /// This rank's batches of `epoch`; in training the first `skip` micro-batches (already done before a resume)
    /// are left out and at most `limit` are kept.
    func batches(epoch: Int, skip: Int, limit: Int?) -> [[SampleRef]] {
        // Evaluation reads every clip once, in order, keeping the short last batch; training cuts at `limit`,
        // which `microBatchesPerEpoch` makes the same on every rank.
        var all = DistributedSampler.epochBatches(
            mode: isLocal ? .local : .global, dataset: dataset, seed: options.seed, epoch: epoch, rank: rank,
            worldSize: size, batchSize: options.batchSize, shuffle: training, dropLast: training && options.dropLast,
            localSteps: isLocal ? agreedLocalSamples / options.batchSize : nil)
        if let limit { all = Array(all.prefix(limit)) }
        return Array(all.dropFirst(skip))
    }

    /// A prefetching loader over this rank's batches (`microBatches` nil: the whole epoch, evaluation).
    func loader(epoch: Int, skipMicroBatches: Int, microBatches: Int?) throws -> EpochLoader {
        EpochLoader(BatchLoader(dataset: dataset, transform: transform, epoch: epoch,
                                batches: batches(epoch: epoch, skip: skipMicroBatches, limit: microBatches),
                                workers: options.workers))
    }
}

/// Evaluates `model` on this rank's share of `data` (every clip once over all ranks, padding excluded), reduces
/// the metrics across ranks, and has rank 0 write the reports (metrics JSON, per-class CSV, confusion CSV + PNG).
/// Multi-clip testing: the loader yields K windows per clip as consecutive rows, whose logits are averaged.
func evaluateModel(_ model: VideoClassifier, on data: TrainingData, communicator comm: Communicator,
                   reportDirectory: String, title: String) throws -> ClassificationMetrics {
    var metrics = ClassificationMetrics(classes: data.classes)
    let loader = try data.loader(epoch: 0, skipMicroBatches: 0, microBatches: nil)
    defer { loader.stop() }
    while let batch = try loader.next() {
        let logits = try model.forward(batch.input, training: false)
        let averaged = batch.averageClips(logits.array, classes: logits.shape[1])
        metrics.add(logits: averaged, labels: batch.videoLabels, isPadding: batch.videoIsPadding)
    }
    try metrics.reduce(over: comm)
    if comm.isRoot { try metrics.writeReports(to: reportDirectory, title: title) }
    return metrics
}
