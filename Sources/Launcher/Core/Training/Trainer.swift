// Launcher: the data-parallel training loop of one rank.
//
// Every rank holds the whole model. Per step: read its share of the global batch, forward, loss, backward — during
// which gradient buckets are allreduced as soon as they are final — then the same optimizer step everywhere. BatchNorm
// statistics are summed across ranks (synchronized BN), so N ranks × batch B train like 1 rank × batch N·B. Rank 0
// validates the setup, writes checkpoints and reports, and makes the decisions (best, plateau, unfreeze, early stop)
// that it broadcasts to everyone.
import Distributed
import Foundation
import NN
import Shards
import Support

extension SyncBatchNormReducer: BatchNormReducer {}

/// A setup error found by rank 0 and shared with every rank; only rank 0 prints it.
struct AgreedFailure: Error, CustomStringConvertible {
    let message: String
    let reporter: Bool
    var description: String { message }
}

public final class Trainer {
    let comm: Communicator
    let options: TrainOptions
    let runDirectory: String
    var state = RunState()
    var model: VideoClassifier!
    var trainData: TrainingData!
    var valData: TrainingData?
    var optimizer: TrainingOptimizer!
    var buckets: GradientBuckets!
    var history: History?
    var tensorBoard: TensorBoardWriter?
    var timeline: Timeline?
    var watchdog: Watchdog?

    public init(communicator: Communicator, options: TrainOptions) {
        comm = communicator
        self.options = options
        runDirectory = options.resume ?? options.out
    }

    var globalBatch: Int { options.batchSize * comm.size * options.accumulate }

    // MARK: - Setup

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

    func setUp() throws {
        let o = options
        guard let trainDir = o.train else { throw AgreedFailure(message: "--train DIR is required", reporter: comm.isRoot) }

        try agree("output directory") {
            let fm = FileManager.default
            do {
                try fm.createDirectory(atPath: runDirectory + "/checkpoints", withIntermediateDirectories: true)
            } catch {
                throw FileWriteError(path: runDirectory, reason: "cannot create the run directory "
                                     + "(\((error as NSError).localizedDescription)); choose a writable --out")
            }
            let probe = runDirectory + "/.write-probe"
            guard fm.createFile(atPath: probe, contents: Data("ok".utf8)) else {
                throw FileWriteError(path: runDirectory, reason: "the run directory is not writable; choose another --out")
            }
            try? fm.removeItem(atPath: probe)
        }
        if o.resume != nil {
            try agree("resume") {
                let path = runDirectory + "/checkpoints/last/state.json"
                guard FileManager.default.fileExists(atPath: path) else {
                    throw ResumeError(path: runDirectory, reason: "no checkpoints/last/state.json (nothing to resume)")
                }
            }
        }

        // Data: every rank opens the shards (global sampling needs all of them; local only its own).
        trainData = try agreeAll("training data") {
            try TrainingData(directory: trainDir, split: o.trainSplit, options: o, training: true,
                             rank: comm.rank, size: comm.size)
        }
        if let valDir = o.val {
            valData = try agreeAll("validation data") {
                try TrainingData(directory: valDir, split: o.valSplit, options: o, training: false,
                                 rank: comm.rank, size: comm.size)
            }
        }
        let classes = trainData.classes
        try agree("data") {
            if let v = valData, v.classes != classes {
                throw ShardError(.invariant, path: o.val ?? "", "the validation shards' classes differ from the training shards'",
                                 hint: "train: \(classes.prefix(5))…, val: \(v.classes.prefix(5))…; build both from the same class list")
            }
        }

        // Model: identical on every rank (rank 0's weights are broadcast), and its table must match rank 0's.
        model = try o.arch.makeModel(classes: classes.count, width: o.width, temporalStride: o.temporalStride)
        model.initialize(seed: o.seed)
        try checkTableMatchesRoot()
        if let pretrained = o.pretrained, o.resume == nil {
            try agree("pretrained weights") { try loadPretrained(pretrained, classes: classes) }
        }
        if o.resume != nil {
            try agree("resume") { try loadCheckpoint(directory: runDirectory + "/checkpoints/last", classes: classes) }
            let stateBytes = try comm.broadcast(bytes: comm.isRoot ? Array(try JSONEncoder().encode(state)) : [], root: 0)
            state = try JSONDecoder().decode(RunState.self, from: Data(stateBytes))
        } else {
            state.seed = o.seed; state.arch = o.arch.rawValue; state.classes = classes
        }
        try broadcastModel()

        if comm.size > 1 && !o.noSyncBn { model.bnReducer = SyncBatchNormReducer(communicator: comm) }
        try agree("--freeze") { try model.store.validate(prefixes: o.freezePrefixes) }
        optimizer = try TrainingOptimizer(model: model, options: o)
        if o.resume != nil {
            try optimizer.load(from: runDirectory + "/checkpoints/last/optimizer.safetensors")
        }
        applyFreezing()

        if comm.isRoot {
            history = History(directory: runDirectory, resumingFrom: o.resume != nil)
            tensorBoard = try TensorBoardWriter(directory: runDirectory + "/tensorboard")
        }
        if o.timeline != nil { timeline = Timeline(rank: comm.rank) }
        watchdog = Watchdog(timeout: o.stallTimeout) { [comm] label, seconds in
            printError("no progress in '\(label)' for \(Int(seconds)) s (--stall-timeout \(o.stallTimeout)); aborting the job",
                       rank: comm.rank, size: comm.size)
            comm.abort(code: 3)
        }
    }

    /// Every rank hashes its parameter table (names, shapes, roles); a rank whose hash differs from rank 0's stops
    /// the job naming itself.
    func checkTableMatchesRoot() throws {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for e in model.store.entries {
            for b in "\(e.name)|\(e.shape)|\(e.role.rawValue);".utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        }
        let all = try comm.allgather([Int64(bitPattern: h)])
        if let bad = all.indices.first(where: { all[$0] != all[0] }) {
            throw AgreedFailure(message: "rank \(bad)'s model parameter table (names, shapes) differs from rank 0's: "
                                + "every rank must be started with the same --arch, --width and data", reporter: comm.isRoot)
        }
    }

    /// Copies rank 0's parameters, BN buffers and counters to every rank.
    func broadcastModel() throws {
        let s = model.store
        try comm.broadcast(s.parameters.buffer, root: 0)
        try comm.broadcast(s.buffers.buffer, root: 0)
        var counters = s.counters
        try comm.broadcast(&counters, root: 0)
        s.counters = counters
    }

    func loadPretrained(_ path: String, classes: [String]) throws {
        // Leave out the head when its class count differs (fine-tuning to a new label set).
        let file = try SafeTensorsFile(path: path)
        var skip: Set<String> = []
        if let w = file.tensors["fc.weight"], w.shape.first != classes.count {
            skip = ["fc.weight", "fc.bias"]
        }
        let report = try model.store.load(from: path, options: WeightsLoadOptions(skipping: skip))
        print0(comm, "pretrained: loaded \(report.loaded.count) tensors from \(path)"
               + (report.skipped.isEmpty ? "" : ", kept the new head (\(report.skipped.joined(separator: ", ")))"))
    }

    func loadCheckpoint(directory: String, classes: [String]) throws {
        state = try RunState.load(from: directory + "/state.json")
        guard try state.architecture(path: directory) == options.arch else {
            throw ResumeError(path: directory, reason: "the checkpoint is a \(state.arch), not a \(options.arch)")
        }
        guard state.classes == classes else {
            throw ResumeError(path: directory, reason: "the checkpoint has \(state.classes.count) classes, the data \(classes.count)")
        }
        try model.store.load(from: directory + "/model.safetensors")
    }

    /// Frozen prefixes until the unfreeze decision; rebuilds the buckets over the trainable part of the buffer.
    func applyFreezing() {
        let frozen = state.unfrozen ? [] : options.freezePrefixes
        model.freeze(prefixes: frozen)
        let s = model.store
        let lowest = s.entries.indices.filter { s.entries[$0].role == .parameter && s.requiresGrad[$0] }
            .map { s.entries[$0].offset }.min() ?? s.parameterCount
        buckets = GradientBuckets(communicator: comm, gradient: s.gradients.buffer,
                                  reducedRange: lowest..<s.parameterCount,
                                  bucketBytes: Int(options.bucketMb * 1024 * 1024),
                                  mode: options.deterministic ? .deterministic : .overlapped)
        if let tl = timeline {
            buckets.onBucketEvent = { i, starting in
                starting ? tl.begin("allreduce bucket \(i)", thread: 1) : tl.end("allreduce bucket \(i)", thread: 1)
            }
        }
    }

    /// Backward's "gradients final from this offset on" events, forwarded to the buckets on steps whose gradients
    /// are reduced (an error there is kept and rethrown after backward, which cannot throw from the callback).
    lazy var reportGradients: (Int) -> Void = { [unowned self] offset in
        do { try self.buckets.gradientsReady(from: offset) } catch { self.pendingError = error }
    }
    var pendingError: Error?

    // MARK: - Loop

    public func run() throws {
        try setUp()
        let o = options
        let stepsPerEpoch = try trainData.microBatchesPerEpoch(comm: comm) / o.accumulate
        guard stepsPerEpoch > 0 else {
            let message = trainData.isLocal
                ? "with --sampling local some rank owns fewer than --batch-size \(o.batchSize) clips (shard i belongs to "
                  + "rank i mod \(comm.size)): build at least as many shards as ranks, or use --sampling global"
                : "the training set has \(trainData.count) clips, fewer than one global batch of \(globalBatch)"
            throw AgreedFailure(message: message, reporter: comm.isRoot)
        }
        let totalSteps = o.steps.map { min($0, stepsPerEpoch * o.epochs) } ?? stepsPerEpoch * o.epochs
        let totalClips = trainData.isLocal ? Int(try comm.allreduce(Int64(trainData.count), op: .sum)) : trainData.count
        print0(comm, "train: \(totalClips) clips, \(trainData.classes.count) classes; global batch \(globalBatch) "
               + "(\(comm.size) ranks × \(o.batchSize)\(o.accumulate > 1 ? " × \(o.accumulate) accumulated" : "")); "
               + "\(stepsPerEpoch) steps/epoch; \(model.store.parameterCount) parameters; "
               + "sync BN \(model.bnReducer != nil ? "on" : "off"); \(buckets.buckets.count) gradient bucket(s)")
        if state.step > 0 {
            print0(comm, "resuming at epoch \(state.epoch), step \(state.step) (saved by \(state.worldSize) ranks)")
        }

        var stop = false
        while state.epoch < o.epochs && state.step < totalSteps && !stop {
            try maybeUnfreeze()
            let epochStats = try trainEpoch(stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)
            let finishedEpoch = state.samplesDoneInEpoch >= stepsPerEpoch * globalBatch
            var row = epochStats
            var improved = false
            if finishedEpoch || state.step >= totalSteps, let val = valData {
                let metrics = try evaluate(val, reportDirectory: runDirectory + "/reports/epoch-\(state.epoch)")
                let value = o.metric.value(of: metrics)
                for (k, v) in metrics.summary { row["val_\(k)"] = v }
                if state.bestMetric == nil || o.metric.isBetter(value, than: state.bestMetric!) {
                    state.bestMetric = value; state.bestEpoch = state.epoch; state.epochsWithoutImprovement = 0
                    improved = true
                } else {
                    state.epochsWithoutImprovement += 1
                }
                print0(comm, String(format: "epoch %d  val loss %.4f  top1 %.2f%%  top5 %.2f%%  macro-F1 %.2f%%%@",
                                    state.epoch, metrics.meanLoss, 100 * metrics.accuracy, 100 * metrics.top5Accuracy,
                                    100 * metrics.macroF1, improved ? "  (best)" : ""))
            }
            row["epoch"] = Double(state.epoch)
            row["step"] = Double(state.step)
            if finishedEpoch { state.epoch += 1; state.samplesDoneInEpoch = 0 }
            if comm.isRoot {
                try history?.record(row)
                try tensorBoard?.scalars(row.filter { $0.key.hasPrefix("val_") }.reduce(into: [:]) {
                    $0["val/" + $1.key.dropFirst(4)] = $1.value
                }, step: state.step)
                try saveCheckpoint(best: improved)
            }
            // Early stopping: rank 0's state is everyone's (decisions are made from reduced metrics).
            if o.patience > 0 && state.epochsWithoutImprovement >= o.patience {
                print0(comm, "early stop: no improvement of \(o.metric) for \(o.patience) epochs")
                stop = true
            }
        }
        watchdog?.stop()
        if let tl = timeline, let path = o.timeline { try tl.write(to: "\(path).rank\(comm.rank).json") }
        tensorBoard?.close()
        if comm.isRoot {
            let best = state.bestMetric.map { String(format: "%.4f", $0) } ?? "n/a"
            print0(comm, "done: \(state.step) steps; best \(o.metric) \(best) at epoch \(state.bestEpoch.map(String.init) ?? "n/a"); "
                   + "run directory \(runDirectory)")
        }
    }

    /// Unfreezes at `--unfreeze-epoch`, or when rank 0 sees a plateau of `--unfreeze-on-plateau` epochs; the decision
    /// is rank 0's, broadcast, so every rank changes its trainable set at the same step.
    func maybeUnfreeze() throws {
        guard !options.freezePrefixes.isEmpty, !state.unfrozen else { return }
        var decide: [Int32] = [0]
        if comm.isRoot {
            if let e = options.unfreezeEpoch, state.epoch >= e { decide[0] = 1 }
            if let p = options.unfreezeOnPlateau, state.bestMetric != nil, state.epochsWithoutImprovement >= p { decide[0] = 1 }
        }
        try comm.broadcast(&decide, root: 0)
        guard decide[0] == 1 else { return }
        state.unfrozen = true
        state.epochsWithoutImprovement = 0
        applyFreezing()
        print0(comm, "epoch \(state.epoch): unfroze \(options.freezePrefixes.joined(separator: ",")) "
               + "(\(model.store.requiresGrad.filter { $0 }.count) trainable tensors)")
    }

    /// One pass over (the rest of) the epoch. Returns the epoch's training summary.
    func trainEpoch(stepsPerEpoch: Int, totalSteps: Int) throws -> [String: Double] {
        let o = options
        let microPerRankAlreadyDone = state.samplesDoneInEpoch / (o.batchSize * comm.size)
        let loader = try trainData.loader(epoch: state.epoch, skipMicroBatches: microPerRankAlreadyDone,
                                          microBatches: stepsPerEpoch * o.accumulate)
        defer { loader.stop() }
        let progress = comm.isRoot ? ProgressBar(total: stepsPerEpoch, label: "epoch \(state.epoch)", unit: "steps") : nil
        progress?.advance(by: microPerRankAlreadyDone / o.accumulate)

        var lossSum = 0.0, correct = 0.0, seen = 0.0
        // This step's local sums (over its micro-batches), and the reduced sums since the last log line.
        var step = (loss: 0.0, correct: 0.0, seen: 0.0)
        var interval = (loss: 0.0, correct: 0.0, seen: 0.0, start: Date(), comm: 0.0, steps: 0)
        var micro = 0
        model.store.zeroGrad()
        while state.step < totalSteps, let batch = try timed("data wait", { try loader.next() }) {
            watchdog?.begin("step \(state.step)")
            let last = (micro + 1) % o.accumulate == 0
            try comm.arrive(at: "train step", step: Int64(state.step), timeout: o.stallTimeout)

            let logits = try timed("forward") { try model.forward(batch.input, training: true) }
            let (loss, dLogits) = try SoftmaxCrossEntropy.compute(logits: logits, labels: batch.labels.map(Int.init),
                                                                  labelSmoothing: Float(o.labelSmoothing))
            // Accumulated micro-batches each contribute 1/k of the step's gradient.
            if o.accumulate > 1 { let s = 1 / Float(o.accumulate); for i in 0..<dLogits.count { dLogits.data[i] *= s } }
            if last { buckets.beginStep() }
            // Intermediate micro-batches of --accumulate start no communication.
            model.gradientsReady = last ? reportGradients : nil
            try timed("backward") { try model.backward(dLogits) }
            if let e = pendingError { throw e }

            let k = logits.shape[1]
            var batchCorrect = 0.0
            for i in batch.labels.indices {
                let row = UnsafeBufferPointer(start: logits.data + i * k, count: k)
                if row.indices.max(by: { row[$0] < row[$1] }) == Int(batch.labels[i]) { batchCorrect += 1 }
            }
            step.loss += Double(loss) * Double(batch.labels.count)
            step.correct += batchCorrect
            step.seen += Double(batch.labels.count)
            micro += 1
            guard last else { watchdog?.end(); continue }

            try timed("allreduce wait") { try buckets.finish() }
            interval.comm += buckets.exposedSeconds
            // Loss and accuracy over all ranks (and a shared NaN decision: the reduced value is the same everywhere).
            var stats = [step.loss, step.correct, step.seen]
            step = (0, 0, 0)
            try comm.allreduce(&stats, op: .sum)
            guard stats[0].isFinite else {
                throw TrainingDiverged(step: state.step, lastCheckpoint: runDirectory + "/checkpoints/last")
            }
            if o.clipGradNorm > 0 { _ = optimizer.clipGradients(maxNorm: o.clipGradNorm) }
            let lr = optimizer.learningRates(step: state.step, totalSteps: totalSteps)
            try timed("optimizer") { optimizer.step(learningRates: lr) }
            model.store.zeroGrad()
            state.step += 1
            state.samplesDoneInEpoch += globalBatch
            lossSum += stats[0]; correct += stats[1]; seen += stats[2]
            interval.steps += 1
            interval.loss += stats[0]; interval.correct += stats[1]; interval.seen += stats[2]
            progress?.advance()
            watchdog?.end()

            if state.step % o.logEvery == 0 || state.step == totalSteps {
                let seconds = Date().timeIntervalSince(interval.start)
                let clipsPerSecond = Double(interval.steps * globalBatch) / seconds
                let (meanLoss, accuracy) = (interval.loss / interval.seen, interval.correct / interval.seen)
                print0(comm, String(format: "step %d  loss %.4f  acc %.2f%%  lr %.3g  %.2f clips/s  data-wait %.0f%%  allreduce %.0f%%",
                                    state.step, meanLoss, 100 * accuracy, lr.first ?? 0, clipsPerSecond,
                                    100 * min(1, loader.waitedSeconds / seconds), 100 * min(1, interval.comm / seconds)))
                if comm.isRoot {
                    try tensorBoard?.scalars(["train/loss": meanLoss, "train/top1": accuracy,
                                              "train/lr": lr.first ?? 0, "train/clips_per_s": clipsPerSecond], step: state.step)
                }
                interval = (0, 0, 0, Date(), 0, 0)
                loader.resetWaited()
            }
            if o.checkpointEvery > 0 && state.step % o.checkpointEvery == 0 && comm.isRoot {
                try saveCheckpoint(best: false)
            }
        }
        progress?.finish()
        return ["train_loss": seen > 0 ? lossSum / seen : .nan, "train_top1": seen > 0 ? correct / seen : .nan,
                "lr": optimizer.learningRates(step: state.step, totalSteps: totalSteps).first ?? 0]
    }

    /// Evaluates on `data` across all ranks (padding excluded), writes reports on rank 0, returns the metrics.
    func evaluate(_ data: TrainingData, reportDirectory: String) throws -> ClassificationMetrics {
        try evaluateModel(model, on: data, communicator: comm, reportDirectory: reportDirectory,
                          title: "\(options.arch) epoch \(state.epoch)")
    }

    // MARK: - Checkpoints (rank 0)

    /// Writes weights, optimizer state and run state to `checkpoints/last` (and `best`), each as a whole directory
    /// renamed into place, so that a kill at any moment leaves the previous checkpoint loadable.
    func saveCheckpoint(best: Bool) throws {
        state.worldSize = comm.size
        state.globalBatch = globalBatch
        let root = runDirectory + "/checkpoints"
        let tmp = root + "/.tmp-\(getpid())"
        try? FileManager.default.removeItem(atPath: tmp)
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let meta = ModelMetadata(arch: options.arch.rawValue, classes: trainData.classes, frames: options.frames,
                                 crop: options.cropSize, mean: trainData.mean, std: trainData.std)
        var strings = meta.asStrings
        strings["width"] = String(options.width)
        strings["temporal_stride"] = String(options.temporalStride)
        strings["frame_stride"] = String(options.frameStride)
        try model.store.save(to: tmp + "/model.safetensors", metadata: strings)
        try optimizer.save(to: tmp + "/optimizer.safetensors")
        try state.save(to: tmp + "/state.json")
        if best {
            let bestTmp = root + "/.tmp-best-\(getpid())"
            try? FileManager.default.removeItem(atPath: bestTmp)
            try FileManager.default.copyItem(atPath: tmp, toPath: bestTmp)
            try AtomicFile.commitDirectory(temporary: bestTmp, to: root + "/best")
        }
        try AtomicFile.commitDirectory(temporary: tmp, to: root + "/last")
    }

    // MARK: - Helpers

    @discardableResult
    func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        guard let tl = timeline else { return try body() }
        tl.begin(name); defer { tl.end(name) }
        return try body()
    }
}

/// The loss became NaN or infinite.
public struct TrainingDiverged: Error, CustomStringConvertible {
    public let step: Int
    public let lastCheckpoint: String
    public var description: String {
        "loss is not finite at step \(step); training stopped. The last good checkpoint is \(lastCheckpoint) "
            + "(try a lower --lr, --clip-grad-norm, or --warmup-steps)"
    }
}
