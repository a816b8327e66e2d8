// Shards: decoding many clips on a few threads while handing them on in input order, so that the shards are
// byte-for-byte the same whatever the number of workers.
import Foundation
import Support

public enum ClipPipeline {
    /// Reads every input with `ClipReader.read` on `workers` threads and calls `deliver(index, result)` on the
    /// calling thread in input order. Inputs are processed in windows of `2 × workers`, so at most that many
    /// decoded clips are held at once. A failed input arrives as `.failure`; only `deliver` can stop the run
    /// (by throwing).
    public static func run(_ inputs: [ClipInput], options: ClipOptions, workers: Int,
                           deliver: (Int, Result<DecodedClip, Error>) throws -> Void) throws {
        let threads = max(1, workers)
        let window = 2 * threads
        let decoderThreads = decoderThreads(workers: threads, cores: Node.onlineCores)
        var start = 0
        while start < inputs.count {
            let end = min(inputs.count, start + window)
            let results = decodeWindow(Array(inputs[start..<end]), options: options, threads: threads, decoderThreads: decoderThreads)
            for (k, r) in results.enumerated() { try deliver(start + k, r) }
            start = end
        }
    }

    /// FFmpeg threads per video: the cores the workers leave free, shared out (1 when there are as many workers as
    /// cores, or more). Frame threads cost one decoded frame of memory each and change no pixel.
    public static func decoderThreads(workers: Int, cores: Int) -> Int {
        workers < cores ? max(1, cores / max(1, workers)) : 1
    }

    /// Decodes `batch` with up to `threads` threads pulling indices from a shared counter.
    private static func decodeWindow(_ batch: [ClipInput], options: ClipOptions, threads: Int,
                                     decoderThreads: Int) -> [Result<DecodedClip, Error>] {
        let slots = UnsafeMutablePointer<Result<DecodedClip, Error>?>.allocate(capacity: batch.count)
        slots.initialize(repeating: nil, count: batch.count)
        defer { slots.deinitialize(count: batch.count); slots.deallocate() }
        if threads == 1 || batch.count == 1 {
            for i in batch.indices { slots[i] = Result { try ClipReader.read(batch[i], options: options, decoderThreads: decoderThreads) } }
        } else {
            let lock = NSLock()
            var next = 0
            // Each slot is written by exactly one thread; the counter is the only shared mutable state.
            DispatchQueue.concurrentPerform(iterations: min(threads, batch.count)) { _ in
                while true {
                    lock.lock(); let i = next; next += 1; lock.unlock()
                    guard i < batch.count else { return }
                    slots[i] = Result { try ClipReader.read(batch[i], options: options, decoderThreads: decoderThreads) }
                }
            }
        }
        return (0..<batch.count).map { slots[$0]! }
    }
}
