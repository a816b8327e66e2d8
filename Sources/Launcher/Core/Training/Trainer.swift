// Launcher: the data-parallel training run of one rank, from setup to the last epoch.
//
// Every rank holds the whole model. Per step (`TrainStep`): read its share of the global batch, forward, loss,
// backward — during which gradient buckets are allreduced as soon as they are final — then the same optimizer step
// everywhere. BatchNorm statistics are summed across ranks (synchronized BN), so N ranks × batch B train like
// 1 rank × batch N·B. What the ranks agree on (setup checks, unfreezing, early stop, stopping on a signal) goes
// through `RunCoordinator`; rank 0 writes checkpoints (`Checkpointer`) and reports (`RunLog`).
import Distributed
import Foundation
import Inference
import NN
import Shards
import Support

extension SyncBatchNormReducer: BatchNormReducer {}

public final class Trainer {
    let comm: Communicator
    /// The flags, with the per-rank batch and accumulation of the batch plan (see `BatchPlan`).
    private(set) var options: TrainOptions
    let runDirectory: String
    var state = RunState()
    var model: VideoClassifier!
    var trainData: TrainingData!
    var valData: TrainingData?
    var optimizer: TrainingOptimizer!
    var step: TrainStep!
    var coordinator: RunCoordinator!
    var checkpointer: Checkpointer!
    var log: RunLog!
    var timeline: Timeline?
    var watchdog: Watchdog?
    /// When rank 0 last wrote a checkpoint (for --checkpoint-minutes).
    var lastSave = Date()

    public init(communicator: Communicator, options: TrainOptions) {
        comm = communicator
        self.options = options
        runDirectory = options.runDirectory
    }

    var globalBatch: Int { options.batchSize * comm.size * options.accumulate }

    // MARK: - Setup

    /// What rank 0 found to resume from, shared with every rank.
    struct ResumeDecision: Codable {
        var directory: String?
        var state: RunState?
        var notes: [String] = []
    }

    func setUp() throws {
        coordinator = RunCoordinator(comm: comm)
        let o = options
        guard let trainDir = o.train else { throw AgreedFailure(message: "--train DIR is required", reporter: comm.isRoot) }

        try coordinator.agree("output directory") {
            let fm = FileManager.default
            if o.resume == nil, let found = RunDirectory.previousRun(in: runDirectory) {
                throw FileWriteError(path: runDirectory, reason: "--out already holds a run (\(found)); a new run would "
                                     + "replace its checkpoints and mix its reports. Continue it with --resume auto, or "
                                     + "choose a new --out such as \(RunDirectory.nextFree(after: runDirectory))")
            }
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
        checkpointer = Checkpointer(runDirectory: runDirectory, keep: o.keepCheckpoints)
        let resume = try coordinator.rootDecides("resume") { try findResumePoint() }
        for note in resume.notes { print0(comm, note) }

        // The batch plan: a resume keeps the checkpoint's global batch (every rank computes the same plan).
        let plan: BatchPlan
        do {
            plan = try BatchPlan.make(batchSize: o.batchSize, accumulate: o.accumulate, maxBatchSize: o.maxBatchSize,
                                      ranks: comm.size, saved: resume.state.map { ($0.globalBatch, $0.worldSize) })
        } catch {
            throw AgreedFailure(message: "resume: \(error)", reporter: comm.isRoot)
        }
        if let note = plan.note { print0(comm, note) }
        options.batchSize = plan.perRank
        options.accumulate = plan.accumulate

        // Data: every rank opens the shards (global sampling needs all of them; local only its own).
        trainData = try coordinator.agreeAll("training data") {
            try TrainingData(directory: trainDir, split: o.trainSplit, options: options, training: true,
                             rank: comm.rank, size: comm.size)
        }
        if o.val == nil {
            print0(comm, "no --val: checkpoints/best will not be written (best needs a validation metric); "
                   + "use checkpoints/last, or pass --val DIR")
        }
        if let valDir = o.val {
            valData = try coordinator.agreeAll("validation data") {
                try TrainingData(directory: valDir, split: o.valSplit, options: options, training: false,
                                 rank: comm.rank, size: comm.size)
            }
        }
        let classes = trainData.classes
        try coordinator.agree("data") {
            if let v = valData, v.classes != classes {
                throw ShardError(.invariant, path: o.val ?? "", "the validation shards' classes differ from the training shards'",
                                 hint: "train: \(classes.prefix(5))…, val: \(v.classes.prefix(5))…; build both from the same class list")
            }
        }

        // Model: identical on every rank (rank 0's weights are broadcast), and its table must match rank 0's.
        model = try o.arch.makeModel(classes: classes.count, width: o.width, temporalStride: o.temporalStride)
        model.initialize(seed: o.seed)
        for line in try Precision.apply(o.precision, to: model, communicator: comm) { print0(comm, line) }
        try coordinator.checkTableMatchesRoot(model.store)
        if let directory = resume.directory, let saved = resume.state {
            try coordinator.agree("resume") {
                guard try saved.architecture(path: directory) == o.arch else {
                    throw ResumeError(path: directory, reason: "the checkpoint is a \(saved.arch), not a \(o.arch)")
                }
                guard saved.classes == classes else {
                    throw ResumeError(path: directory, reason: "the checkpoint was trained on other classes: "
                                      + RunDirectory.describeDifference(saved: saved.classes, data: classes)
                                      + "; resume with the shards it was trained on, or start a new run (another --out, "
                                      + "--pretrained \(directory) to fine-tune)")
                }
                try model.store.load(from: directory + "/" + Checkpointer.modelFile)
            }
            state = saved
        } else {
            if let pretrained = o.pretrained {
                try coordinator.agree("pretrained weights") { try loadPretrained(pretrained, classes: classes) }
            }
            state.seed = o.seed; state.arch = o.arch.rawValue; state.classes = classes
        }
        try coordinator.broadcastModel(model.store)

        if comm.size > 1 && !o.noSyncBn { model.bnReducer = SyncBatchNormReducer(communicator: comm) }
        try coordinator.agree("--freeze") { try model.store.validate(prefixes: o.freezePrefixes) }
        optimizer = try TrainingOptimizer(model: model, options: options)
        if let directory = resume.directory {
            try optimizer.load(from: directory + "/optimizer.safetensors")
        }
        if o.timeline != nil { timeline = Timeline(rank: comm.rank) }
        step = TrainStep(comm: comm, model: model, optimizer: optimizer, options: options,
                         accumulate: options.accumulate, timeline: timeline)
        step.freeze(prefixes: state.unfrozen ? [] : o.freezePrefixes)

        log = try RunLog(comm: comm, runDirectory: runDirectory, resuming: resume.directory != nil,
                         curvesTitle: "\(o.arch.rawValue): loss and accuracy per epoch")
        // A stalled rank ends itself without MPI (the watchdog thread may not call MPI); mpirun then ends the job.
        watchdog = Watchdog(timeout: o.stallTimeout) { [comm] label, seconds in
            printError("no progress in '\(label)' for \(Int(seconds)) s (--stall-timeout \(o.stallTimeout)); ending this "
                       + "rank so that mpirun ends the job", rank: comm.rank, size: comm.size)
            Job.endRankNow(status: .stalled)
        }
    }

    /// Rank 0: cleans what an interrupted save left, then finds the checkpoint `--resume` names (nil directory: a
    /// fresh start, for `--resume auto` on an empty --out or no --resume at all).
    func findResumePoint() throws -> ResumeDecision {
        var decision = ResumeDecision()
        decision.notes = try checkpointer.recover().map { "checkpoints: \($0)" }
        guard let resume = options.resume else { return decision }
        let auto = resume == "auto"
        guard let point = try checkpointer.resumePoint(fallBack: auto) else {
            guard auto else {
                throw ResumeError(path: runDirectory, reason: "no checkpoint in \(checkpointer.root) (nothing to resume)")
            }
            decision.notes.append("--resume auto: no checkpoint in \(runDirectory); starting a new run")
            return decision
        }
        for damaged in point.skipped {
            decision.notes.append("--resume auto: skipping \(damaged); falling back to an older checkpoint")
        }
        decision.directory = point.directory
        decision.state = point.state
        decision.notes.append("resuming from \(point.directory) (epoch \(point.state.epoch), step \(point.state.step))")
        return decision
    }

    func loadPretrained(_ given: String, classes: [String]) throws {
        let path = try Predictor.weightsFile(at: given)
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

    // MARK: - Loop

    public func run() throws {
        try setUp()
        defer { coordinator.signals.stop() }
        let o = options
        let stepsPerEpoch = try trainData.microBatchesPerEpoch(comm: comm) / o.accumulate
        guard stepsPerEpoch > 0 else {
            let message = trainData.isLocal
                ? "with --sampling local some rank owns fewer than --batch-size \(o.batchSize) clips (shard i belongs to "
                  + "rank i mod \(comm.size)): build at least as many shards as ranks, or use --sampling global"
                : "the training set has \(trainData.count) clips, fewer than one global batch of \(globalBatch) "
                  + "(\(comm.size) rank(s) × --batch-size \(o.batchSize)" + (o.accumulate > 1 ? " × --accumulate \(o.accumulate)" : "")
                  + "); " + largestBatchHint()
            throw AgreedFailure(message: message, reporter: comm.isRoot)
        }
        let totalSteps = o.steps.map { min($0, stepsPerEpoch * o.epochs) } ?? stepsPerEpoch * o.epochs
        let totalClips = trainData.isLocal ? Int(try comm.allreduce(Int64(trainData.count), op: .sum)) : trainData.count
        print0(comm, "train: \(totalClips) clips, \(trainData.classes.count) classes; global batch \(globalBatch) "
               + "(\(comm.size) ranks × \(o.batchSize)\(o.accumulate > 1 ? " × \(o.accumulate) accumulated" : "")); "
               + "\(stepsPerEpoch) steps/epoch; \(model.store.parameterCount) parameters; "
               + "sync BN \(model.bnReducer != nil ? "on" : "off"); \(step.buckets.buckets.count) gradient bucket(s)")
        if state.step > 0 {
            print0(comm, "resuming at epoch \(state.epoch), step \(state.step) (saved by \(state.worldSize) ranks)")
            if let planned = state.plannedSteps, planned != totalSteps {
                print0(comm, "note: this run plans \(totalSteps) steps, the checkpoint's run \(planned) (--steps or "
                       + "--epochs changed): the \(o.schedule) learning-rate schedule is reshaped from step \(state.step) on, "
                       + "so the run no longer matches an uninterrupted one")
            }
        }
        state.plannedSteps = totalSteps

        while state.epoch < o.epochs && state.step < totalSteps {
            try maybeUnfreeze()
            if let signal = try trainEpoch(stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps) {
                try stop(by: signal)
            }
            let finishedEpoch = state.samplesDoneInEpoch >= stepsPerEpoch * globalBatch
            let sums = state.epochTrainSums ?? StepSums()
            var row: [String: Double] = [
                "train_loss": sums.meanLoss, "train_top1": sums.accuracy,
                "lr": optimizer.learningRates(step: state.step, totalSteps: totalSteps).first ?? 0]
            var improved = false
            if finishedEpoch || state.step >= totalSteps, let val = valData {
                let metrics = try evaluateModel(model, on: val, communicator: comm,
                                                reportDirectory: runDirectory + "/reports/epoch-\(state.epoch)",
                                                title: "\(o.arch.rawValue) epoch \(state.epoch)")
                for (k, v) in metrics.summary { row["val_\(k)"] = v }
                improved = coordinator.recordValidation(o.metric.value(of: metrics), metric: o.metric, in: &state)
                log.epochLine(epoch: state.epoch, metrics: metrics, improved: improved)
            }
            row["epoch"] = Double(state.epoch)
            row["step"] = Double(state.step)
            if finishedEpoch { state.epoch += 1; state.samplesDoneInEpoch = 0; state.epochTrainSums = nil }
            if comm.isRoot {
                try log.epochRow(row, step: state.step, best: state.bestEpoch.map { ($0, o.metric) },
                                 unfrozeAt: state.unfrozeAtEpoch)
                try saveCheckpoint(best: improved)
            }
            if coordinator.shouldStopEarly(state, patience: o.patience) {
                print0(comm, "early stop: no improvement of \(o.metric) for \(o.patience) epochs")
                break
            }
        }
        watchdog?.stop()
        if let tl = timeline, let path = o.timeline { try tl.write(to: "\(path).rank\(comm.rank).json") }
        log.close()
        if comm.isRoot {
            let best = state.bestMetric.map { String(format: "%.4f", $0) } ?? "n/a"
            print0(comm, "done: \(state.step) steps; best \(o.metric) \(best) at epoch \(state.bestEpoch.map(String.init) ?? "n/a"); "
                   + "run directory \(runDirectory)")
        }
    }

    /// The way out of a training set smaller than one global batch: the largest per-rank batch that fits on this
    /// many ranks, or the rank count that would fit one clip per rank.
    func largestBatchHint() -> String {
        let perRank = DistributedSampler.globalSamplesPerRank(count: trainData.count, worldSize: comm.size,
                                                              dropLast: options.dropLast) / options.accumulate
        if perRank >= 1 {
            return "the largest batch that fits is --batch-size \(perRank)" + (options.accumulate > 1 ? " with --accumulate \(options.accumulate)" : "")
                + " on \(comm.size) rank(s) (global batch \(perRank * comm.size * options.accumulate)), or add clips"
        }
        return "use at most \(max(1, trainData.count / options.accumulate)) rank(s) with --batch-size 1, or add clips"
    }

    /// Unfreezes the frozen prefixes when the coordinator decides so (every rank at the same step).
    func maybeUnfreeze() throws {
        guard !options.freezePrefixes.isEmpty, !state.unfrozen else { return }
        guard try coordinator.shouldUnfreeze(state, atEpoch: options.unfreezeEpoch, onPlateau: options.unfreezeOnPlateau)
        else { return }
        state.unfrozen = true
        state.unfrozeAtEpoch = state.epoch
        state.epochsWithoutImprovement = 0
        step.freeze(prefixes: [])
        print0(comm, "epoch \(state.epoch): unfroze \(options.freezePrefixes.joined(separator: ",")) "
               + "(\(model.store.requiresGrad.filter { $0 }.count) trainable tensors)")
    }

    /// One pass over (the rest of) the epoch; the epoch's training sums accumulate in `state`. Returns the name of
    /// the signal that stopped it early (every rank returns at the same step), or nil.
    func trainEpoch(stepsPerEpoch: Int, totalSteps: Int) throws -> String? {
        let o = options
        let microPerRankAlreadyDone = state.samplesDoneInEpoch / (o.batchSize * comm.size)
        let loader = try trainData.loader(epoch: state.epoch, skipMicroBatches: microPerRankAlreadyDone,
                                          microBatches: stepsPerEpoch * o.accumulate)
        defer { loader.stop() }
        let progress = comm.isRoot ? ProgressBar(total: stepsPerEpoch, label: "epoch \(state.epoch)", unit: "steps") : nil
        progress?.advance(by: microPerRankAlreadyDone / o.accumulate)

        var local = StepSums()
        var micro = 0
        model.store.zeroGrad()
        while state.step < totalSteps, let batch = try step.timed("data wait", { try loader.next() }) {
            watchdog?.begin("step \(state.step)")
            let last = (micro + 1) % o.accumulate == 0
            try comm.arrive(at: "train step", step: Int64(state.step), timeout: o.stallTimeout)
            let sums = try step.microBatch(batch, last: last)
            local.add(sums)
            micro += 1
            guard last else { watchdog?.end(); continue }

            let exposed = try step.finishReduction()
            // Loss, accuracy and the stop request over all ranks: the reduced values are the same everywhere, so
            // every rank makes the same NaN and stop decisions.
            let reduced = try coordinator.reduceStep(local)
            local = StepSums()
            guard reduced.sums.loss.isFinite else {
                throw TrainingDiverged(step: state.step, lastCheckpoint: runDirectory + "/checkpoints/last")
            }
            let lr = step.update(step: state.step, totalSteps: totalSteps)
            state.step += 1
            state.samplesDoneInEpoch += globalBatch
            var epochSums = state.epochTrainSums ?? StepSums()
            epochSums.add(reduced.sums)
            state.epochTrainSums = epochSums
            log.addStep(reduced.sums, exposedCommSeconds: exposed)
            progress?.advance()
            watchdog?.end()

            if state.step % o.logEvery == 0 || state.step == totalSteps {
                try log.stepLine(step: state.step, globalBatch: globalBatch, lr: lr.first ?? 0,
                                 dataWaitSeconds: loader.waitedSeconds)
                loader.resetWaited()
            }
            if let signal = reduced.stopSignal {
                progress?.finish()
                return signal
            }
            if comm.isRoot && checkpointDue() { try saveCheckpoint(best: false) }
        }
        progress?.finish()
        return nil
    }

    // MARK: - Checkpoints and stopping

    /// Rank 0: whether --checkpoint-every or --checkpoint-minutes asks for a checkpoint after this step.
    func checkpointDue() -> Bool {
        let o = options
        if o.checkpointEvery > 0 && state.step % o.checkpointEvery == 0 { return true }
        return o.checkpointMinutes > 0 && Date().timeIntervalSince(lastSave) >= o.checkpointMinutes * 60
    }

    /// Rank 0: writes weights (with the model's metadata), optimizer state and run state as a new checkpoint that
    /// `checkpoints/last` (and `best`) then point to.
    func saveCheckpoint(best: Bool) throws {
        state.worldSize = comm.size
        state.globalBatch = globalBatch
        let o = options
        let meta = ModelMetadata(arch: o.arch.rawValue, classes: trainData.classes, frames: o.frames, crop: o.cropSize,
                                 mean: trainData.mean, std: trainData.std, width: o.width,
                                 temporalStride: o.temporalStride, frameStride: o.frameStride,
                                 preprocessing: trainData.dataset.shards.first?.attributes.preprocessing?.json)
        try checkpointer.save(model: model.store, metadata: meta, optimizer: optimizer, state: state, best: best)
        lastSave = Date()
    }

    /// Every rank stopped after the same step because of `signal`: rank 0 saves, then all ranks leave together
    /// (no rank exits while rank 0 still writes, which would make mpirun end it).
    func stop(by signal: String) throws {
        watchdog?.stop()
        var saved = ""
        if comm.isRoot {
            try saveCheckpoint(best: false)
            saved = checkpointer.target(of: "last") ?? "last"
        }
        try comm.barrier()
        print0(comm, "stopped by \(signal) at epoch \(state.epoch), step \(state.step) "
               + "(\(state.samplesDoneInEpoch) clips of the epoch done); saved \(runDirectory)/checkpoints/last -> \(saved). "
               + "Continue with the same command and --resume auto (exit status \(ExitStatus.stoppedResumable.rawValue))")
        log.close()
        throw StoppedBySignal(signal: signal, step: state.step)
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
