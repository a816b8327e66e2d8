// Launcher: one optimizer step of one rank — forward, loss and backward of each micro-batch (gradient buckets
// allreduced during the last backward, as soon as they are final), then clipping, the learning rate and the update.
// Everything a step needs to agree on with other ranks goes through `RunCoordinator`; this type only computes.
import Distributed
import Foundation
import NN
import Shards

final class TrainStep {
    let comm: Communicator
    let model: VideoClassifier
    let optimizer: TrainingOptimizer
    /// Micro-batches per optimizer step (--accumulate, or what a resume onto fewer ranks chose).
    let accumulate: Int
    let labelSmoothing: Float
    let clipGradNorm: Double
    let bucketBytes: Int
    let deterministic: Bool
    let transport: GradientBuckets.Transport
    let timeline: Timeline?
    private(set) var buckets: GradientBuckets!
    /// Backward's "gradients final from this offset on" events, forwarded to the buckets on steps whose gradients
    /// are reduced (an error there is kept and rethrown after backward, which cannot throw from the callback).
    private lazy var reportGradients: (Int) -> Void = { [unowned self] offset in
        do { try self.buckets.gradientsReady(from: offset) } catch { self.pendingError = error }
    }
    private var pendingError: Error?

    init(comm: Communicator, model: VideoClassifier, optimizer: TrainingOptimizer, options o: TrainOptions,
         accumulate: Int, timeline: Timeline?) {
        self.comm = comm; self.model = model; self.optimizer = optimizer; self.accumulate = accumulate
        labelSmoothing = Float(o.labelSmoothing); clipGradNorm = o.clipGradNorm
        bucketBytes = Int(o.bucketMb * 1024 * 1024); deterministic = o.deterministic
        transport = o.allreducePrecision
        self.timeline = timeline
    }

    /// Freezes `prefixes` (nothing when empty) and rebuilds the buckets over the trainable part of the buffer.
    func freeze(prefixes: [String]) {
        model.freeze(prefixes: prefixes)
        let s = model.store
        let lowest = s.entries.indices.filter { s.entries[$0].role == .parameter && s.requiresGrad[$0] }
            .map { s.entries[$0].offset }.min() ?? s.parameterCount
        buckets = GradientBuckets(communicator: comm, gradient: s.gradients.buffer,
                                  reducedRange: lowest..<s.parameterCount, bucketBytes: bucketBytes,
                                  mode: deterministic ? .deterministic : .overlapped, transport: transport)
        if let tl = timeline {
            buckets.onBucketEvent = { i, starting in
                starting ? tl.begin("allreduce bucket \(i)", thread: 1) : tl.end("allreduce bucket \(i)", thread: 1)
            }
        }
    }

    /// Forward, loss and backward of one micro-batch (input [B, 3, T, S, S], labels [B]); gradients accumulate.
    /// `last`: the step's last micro-batch, whose backward starts the bucket allreduces. Returns its sums.
    func microBatch(_ batch: LoadedBatch, last: Bool) throws -> StepSums {
        let logits = try timed("forward") { try model.forward(batch.input, training: true) }
        let labels = batch.labels.map(Int.init)
        let (loss, dLogits) = try SoftmaxCrossEntropy.compute(logits: logits, labels: labels, labelSmoothing: labelSmoothing)
        // Accumulated micro-batches each contribute 1/k of the step's gradient.
        if accumulate > 1 { let s = 1 / Float(accumulate); for i in 0..<dLogits.count { dLogits.data[i] *= s } }
        if last { buckets.beginStep() }
        // Intermediate micro-batches of --accumulate start no communication.
        model.gradientsReady = last ? reportGradients : nil
        try timed("backward") { try model.backward(dLogits) }
        if let e = pendingError { pendingError = nil; throw e }

        let k = logits.shape[1]
        var correct = 0.0
        for i in labels.indices {
            let row = UnsafeBufferPointer(start: logits.data + i * k, count: k)
            if row.indices.max(by: { row[$0] < row[$1] }) == labels[i] { correct += 1 }
        }
        return StepSums(loss: Double(loss) * Double(labels.count), correct: correct, seen: Double(labels.count))
    }

    /// Waits for the step's gradient allreduces; returns the seconds that communication was not hidden by backward.
    func finishReduction() throws -> Double {
        try timed("allreduce wait") { try buckets.finish() }
        return buckets.exposedSeconds
    }

    /// Clips, sets the learning rates of `step` (0-based) in a run of `totalSteps`, updates, zeroes the gradients.
    /// Returns the learning rates (backbone first).
    func update(step: Int, totalSteps: Int) -> [Double] {
        if clipGradNorm > 0 { _ = optimizer.clipGradients(maxNorm: clipGradNorm) }
        let lr = optimizer.learningRates(step: step, totalSteps: totalSteps)
        timed("optimizer") { optimizer.step(learningRates: lr) }
        model.store.zeroGrad()
        return lr
    }

    @discardableResult
    func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        guard let tl = timeline else { return try body() }
        tl.begin(name); defer { tl.end(name) }
        return try body()
    }
}
