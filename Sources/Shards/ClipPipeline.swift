// Shards: decoding many clips on a few threads while handing them on in input order, so that the shards are
// byte-for-byte the same whatever the number of workers.
import Foundation
import Support

public enum ClipPipeline {
    /// Reads every input with `ClipReader.read` on `workers` threads and calls `deliver(index, result)` on the
    /// calling thread in input order. A worker starts input `i` only once input `i - 2 × workers` has been handed
    /// to `deliver`, so at most `2 × workers` decoded clips wait besides the one being delivered; within that a
    /// worker never waits for the others, so one slow video no longer idles every other worker as fixed windows
    /// did. A failed input arrives as `.failure`; only `deliver` can stop the run (by throwing).
    public static func run(_ inputs: [ClipInput], options: ClipOptions, workers: Int,
                           deliver: (Int, Result<DecodedClip, Error>) throws -> Void) throws {
        let threads = max(1, min(workers, inputs.count))
        let decoderThreads = decoderThreads(workers: max(1, workers), cores: Node.onlineCores)
        if threads == 1 {
            for (i, input) in inputs.enumerated() {
                try deliver(i, Result { try ClipReader.read(input, options: options, decoderThreads: decoderThreads) })
            }
            return
        }
        let schedule = Schedule(count: inputs.count, window: 2 * max(1, workers))
        let finished = DispatchGroup()
        for _ in 0..<threads {
            finished.enter()
            let worker = Thread {
                defer { finished.leave() }
                while let i = schedule.claim() {
                    schedule.finish(i, Result { try ClipReader.read(inputs[i], options: options, decoderThreads: decoderThreads) })
                }
            }
            worker.stackSize = 8 << 20  // FFmpeg's decoders expect a C program's stack, not a small thread default
            worker.start()
        }
        // Stops the workers after their current clip, also when `deliver` throws.
        defer { schedule.stop(); finished.wait() }
        for i in inputs.indices { try deliver(i, schedule.take(i)) }
    }

    /// What the workers and the calling thread share, touched only under `condition`.
    private final class Schedule: @unchecked Sendable {
        let condition = NSCondition()
        let count: Int
        let window: Int
        var claimed = 0, delivered = 0, stopped = false
        var ready: [Int: Result<DecodedClip, Error>] = [:]

        init(count: Int, window: Int) { self.count = count; self.window = window }

        /// The next input to read, once it is less than `window` ahead of the next delivery; nil when none is left
        /// or the run stopped.
        func claim() -> Int? {
            condition.lock(); defer { condition.unlock() }
            while !stopped && claimed < count && claimed >= delivered + window { condition.wait() }
            guard !stopped && claimed < count else { return nil }
            claimed += 1
            return claimed - 1
        }

        func finish(_ i: Int, _ result: Result<DecodedClip, Error>) {
            condition.lock(); defer { condition.unlock() }
            ready[i] = result
            condition.broadcast()
        }

        /// Waits for input `i`'s result and hands it over, which lets a worker start input `i + window`.
        func take(_ i: Int) -> Result<DecodedClip, Error> {
            condition.lock(); defer { condition.unlock() }
            while ready[i] == nil { condition.wait() }
            delivered = i + 1
            condition.broadcast()
            return ready.removeValue(forKey: i)!
        }

        func stop() {
            condition.lock(); defer { condition.unlock() }
            stopped = true
            condition.broadcast()
        }
    }

    /// FFmpeg threads per video: the cores the workers leave free, shared out (1 when there are as many workers as
    /// cores, or more). Frame threads cost one decoded frame of memory each and change no pixel.
    public static func decoderThreads(workers: Int, cores: Int) -> Int {
        workers < cores ? max(1, cores / max(1, workers)) : 1
    }
}
