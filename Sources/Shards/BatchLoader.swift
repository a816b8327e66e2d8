// Shards: the prefetching batch loader. Background workers read and transform whole batches ahead of the trainer,
// at most `queueDepth` batches ahead of the one it consumes, and hand them over in order.
//
// Each worker opens its own HDF5 handles (`ShardReader`); the HDF5 calls themselves serialize on the process-wide
// HDF5 lock, while decoding into floats and augmentation run in parallel outside it.
import Foundation
import Support

/// One batch, `N` samples of `K` windows each (K = 1 in training).
public struct Batch: Sendable {
    /// `[N × K, 3, T, S, S]` (NCDHW), sample-major: rows k·… of sample i are `i * K + k`.
    public var data: [Float]
    /// `[N × K, 3, T, S, S]`.
    public var shape: [Int]
    /// `[N]`.
    public var labels: [Int32]
    /// `[N]` global clip indices.
    public var indices: [Int]
    /// `[N]`: true for samples that repeat a clip to even out ranks; evaluation must not count them.
    public var isPadding: [Bool]
    /// K: windows per sample (multi-clip testing averages the K rows of each sample).
    public var windowsPerSample: Int
    /// Position of this batch in the epoch's batch list.
    public var position: Int

    public var sampleCount: Int { labels.count }
}

public final class BatchLoader {
    public let dataset: ShardDataset
    public let transform: ClipTransform
    public let epoch: Int
    public let batches: [[SampleRef]]
    public let workers: Int
    public let queueDepth: Int

    /// What the workers share with the consumer. The worker threads hold this, not the loader, so dropping the
    /// loader mid-epoch stops them (deinit) instead of leaving them blocked on a full queue.
    private final class Queue {
        let condition = NSCondition()
        var ready: [Int: Result<Batch, Error>] = [:]
        var nextToClaim = 0
        var nextToDeliver = 0
        var stopped = false
        var waited: Double = 0
        let finishedWorkers = DispatchGroup()
    }
    private let queue = Queue()
    /// Used only when `workers == 0` (everything on the caller's thread).
    private var inlineReader: ShardReader?
    private var inlineScratch: [UInt8] = []

    /// Starts `workers` background threads (0: produce each batch inside `next()`, for debugging) that prepare
    /// `batches` (lists of samples, e.g. from `DistributedSampler.batches`) for `epoch`, at most `queueDepth`
    /// batches ahead of the consumer.
    public init(dataset: ShardDataset, transform: ClipTransform, epoch: Int, batches: [[SampleRef]], workers: Int = 2,
                queueDepth: Int = 4) {
        precondition(workers >= 0 && queueDepth >= 1, "workers >= 0 and queue depth >= 1")
        self.dataset = dataset; self.transform = transform; self.epoch = epoch; self.batches = batches
        self.workers = workers; self.queueDepth = queueDepth
        let queue = self.queue
        for w in 0..<workers {
            queue.finishedWorkers.enter()
            let thread = Thread {
                BatchLoader.workerLoop(queue: queue, dataset: dataset, transform: transform, epoch: epoch,
                                       batches: batches, queueDepth: queueDepth)
                queue.finishedWorkers.leave()
            }
            thread.name = "batch-loader-\(w)"
            thread.start()
        }
    }

    deinit { close() }

    /// Total seconds `next()` has blocked waiting for a batch not yet prepared (with 0 workers: time spent
    /// preparing batches).
    public var waitSeconds: Double {
        queue.condition.lock(); defer { queue.condition.unlock() }
        return queue.waited
    }

    /// The next batch in order, or nil after the last. Rethrows a worker's error for the batch it failed on.
    public func next() throws -> Batch? {
        let q = queue
        if workers == 0 {
            guard q.nextToDeliver < batches.count else { return nil }
            let reader = inlineReader ?? ShardReader(dataset: dataset)
            inlineReader = reader
            let start = DispatchTime.now().uptimeNanoseconds
            defer { q.waited += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            let k = q.nextToDeliver
            q.nextToDeliver += 1
            return try BatchLoader.makeBatch(k, samples: batches[k], dataset: dataset, transform: transform,
                                             epoch: epoch, reader: reader, scratch: &inlineScratch)
        }
        q.condition.lock()
        defer { q.condition.unlock() }
        guard q.nextToDeliver < batches.count else { return nil }
        if q.ready[q.nextToDeliver] == nil {
            let start = DispatchTime.now().uptimeNanoseconds
            while q.ready[q.nextToDeliver] == nil { q.condition.wait() }
            q.waited += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        let result = q.ready.removeValue(forKey: q.nextToDeliver)!
        q.nextToDeliver += 1
        q.condition.broadcast()
        return try result.get()
    }

    /// Stops the workers (batches in flight are finished and dropped) and waits for them to exit. Idempotent.
    public func close() {
        queue.condition.lock()
        queue.stopped = true
        queue.condition.broadcast()
        queue.condition.unlock()
        queue.finishedWorkers.wait()
        inlineReader?.close()
    }

    private static func workerLoop(queue q: Queue, dataset: ShardDataset, transform: ClipTransform, epoch: Int,
                                   batches: [[SampleRef]], queueDepth: Int) {
        let reader = ShardReader(dataset: dataset)
        defer { reader.close() }
        var scratch: [UInt8] = []
        while true {
            q.condition.lock()
            while !q.stopped && q.nextToClaim < batches.count && q.nextToClaim >= q.nextToDeliver + queueDepth {
                q.condition.wait()
            }
            if q.stopped || q.nextToClaim >= batches.count {
                q.condition.unlock()
                return
            }
            let k = q.nextToClaim
            q.nextToClaim += 1
            q.condition.unlock()

            let result = Result {
                try makeBatch(k, samples: batches[k], dataset: dataset, transform: transform, epoch: epoch,
                              reader: reader, scratch: &scratch)
            }
            q.condition.lock()
            q.ready[k] = result
            q.condition.broadcast()
            q.condition.unlock()
        }
    }

    /// Reads and transforms batch `k`: `[N × K, 3, T, S, S]` floats plus its labels, indices and padding flags.
    static func makeBatch(_ k: Int, samples: [SampleRef], dataset: ShardDataset, transform: ClipTransform, epoch: Int,
                          reader: ShardReader, scratch: inout [UInt8]) throws -> Batch {
        let kWindows = transform.windowsPerClip, per = transform.floatsPerWindow
        var data = [Float](repeating: 0, count: samples.count * kWindows * per)
        try data.withUnsafeMutableBufferPointer { buf in
            for (i, sample) in samples.enumerated() {
                let out = UnsafeMutableBufferPointer(rebasing: buf[(i * kWindows * per)..<((i + 1) * kWindows * per)])
                try transform.load(index: sample.index, epoch: epoch, reader: reader, scratch: &scratch, into: out)
            }
        }
        let t = transform.temporal.frames, s = transform.cropSize
        return Batch(data: data, shape: [samples.count * kWindows, 3, t, s, s],
                     labels: samples.map { dataset.label($0.index) }, indices: samples.map { $0.index },
                     isPadding: samples.map { $0.isPadding }, windowsPerSample: kWindows, position: k)
    }
}
