// Launcher: `asl-shards bench PATH`: how fast clips are read, and read + augmented into network input, with one
// worker and with N workers, so a run can check that loading keeps ahead of training.
import ArgumentParser
import Foundation
import Shards
import Support

public struct ShardsBench: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure clips/s read, and read + augmented, per worker and with N workers.")

    @Argument(help: "A shard directory or one shard file.")
    var path: String

    @Option(help: "Split to read (default: the only split in the directory).")
    var split: String?

    @Option(help: "Clips per measurement (repeats clips when the split has fewer).")
    var clips: Int = 256

    @Option(help: "Workers for the parallel measurement (default: the cores this process may use).")
    var workers: Int?

    @Option(help: "Frames per input clip (T).")
    var frames: Int = 16

    @Option(help: "Stored frames between input frames.")
    var stride: Int = 1

    @Option(help: "Output crop size (S).")
    var crop: Int = 112

    @Option(help: "Clips per batch.")
    var batchSize: Int = 8

    @Option(help: "Runs of each measurement; the fastest is reported (other load on the machine only slows runs down).")
    var repeats: Int = 3

    @Option(help: "Also simulate a trainer that spends this many milliseconds per batch, and report how long it waited for batches (0: skip).")
    var stepMs: Double = 0

    @Flag(help: "Use the evaluation transform (centre window and crop) instead of training augmentation.")
    var eval = false

    public init() {}

    public func validate() throws {
        guard clips >= 1, frames >= 1, stride >= 1, crop >= 1, batchSize >= 1, repeats >= 1 else {
            throw ValidationError("--clips, --frames, --stride, --crop, --batch-size and --repeats must be at least 1")
        }
        if let w = workers, w < 1 { throw ValidationError("--workers must be at least 1") }
        if stepMs < 0 { throw ValidationError("--step-ms must be at least 0") }
    }

    public func run() throws {
        let dataset = try ShardDataset(path: path, split: split)
        let transform = ClipTransform(temporal: TemporalSampling(frames: frames, stride: stride,
                                                                 speedRange: eval ? nil : 0.8...1.2),
                                      cropSize: crop, training: !eval, seed: 0)
        let order = DistributedSampler.permutation(count: dataset.count, seed: 0, epoch: 0)
        let samples = (0..<clips).map { SampleRef(index: order[$0 % order.count]) }
        let batches = DistributedSampler.batches(samples, batchSize: batchSize)
        let n = workers ?? Node.allowedCores
        print("\(path) [\(dataset.split)]: \(dataset.count) clips of \(dataset.height)x\(dataset.width); "
              + "best of \(repeats) runs of \(clips) clips, T=\(frames) stride \(stride), crop \(crop), \(eval ? "evaluation" : "training") transform")

        // Read only: the windows' frame ranges, one thread (HDF5 is serialized, so this is the read ceiling).
        let reader = ShardReader(dataset: dataset)
        var scratch: [UInt8] = []
        var bytes = 0
        let readSeconds = try time {
            bytes = 0
            var rng = SeededRandom(seed: 0)
            for s in samples {
                let windows = transform.windows(frameCount: dataset.frameCount(s.index), rng: &rng)
                let lo = windows.map { $0.min()! }.min()!, hi = windows.map { $0.max()! }.max()!
                bytes += try reader.readFrames(s.index, frames: lo..<(hi + 1), into: &scratch)
                    * dataset.height * dataset.width * 3
            }
        }
        reader.close()
        print(String(format: "read only, 1 thread:            %8.1f clips/s  (%.1f MB/s)",
                     Double(clips) / readSeconds, Double(bytes) / readSeconds / 1e6))

        for w in n == 1 ? [1] : [1, n] {
            let seconds = try time {
                let loader = BatchLoader(dataset: dataset, transform: transform, epoch: 0, batches: batches, workers: w,
                                         queueDepth: 2 * w)
                while try loader.next() != nil {}
            }
            let label = "read + augment, \(w) worker\(w == 1 ? "" : "s"):"
            print(String(format: "%@ %8.1f clips/s  (%.1f clips/s per worker)",
                         label.padding(toLength: 31, withPad: " ", startingAt: 0),
                         Double(clips) / seconds, Double(clips) / seconds / Double(w)))
        }
        if stepMs > 0 { try simulateTraining(dataset: dataset, transform: transform, batches: batches, workers: n) }
    }

    /// Runs `batches` through a loader with `workers` workers while the consumer "computes" `stepMs` per batch;
    /// prints the time the consumer waited (after the first batch, which nothing can prefetch).
    private func simulateTraining(dataset: ShardDataset, transform: ClipTransform, batches: [[SampleRef]], workers: Int) throws {
        let loader = BatchLoader(dataset: dataset, transform: transform, epoch: 0, batches: batches, workers: workers,
                                 queueDepth: 2 * workers)
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try loader.next()
        let firstWait = loader.waitSeconds
        while true {
            usleep(UInt32(stepMs * 1000))
            if try loader.next() == nil { break }
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print(String(format: "trainer at %.0f ms/batch, %d worker%@: waited %.3f s after the first batch (first batch %.3f s), epoch %.2f s",
                     stepMs, workers, workers == 1 ? "" : "s", loader.waitSeconds - firstWait, firstWait, total))
    }

    /// The fastest of `repeats` runs of `body`, in seconds.
    private func time(_ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return max(best, 1e-9)
    }
}
