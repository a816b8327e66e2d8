// Inference: runs the model beside the capture loop. One window is classified at a time on a background thread and
// at most one waits: a newer window replaces the waiting one (counted as dropped), so capture and display never
// wait for the model and nothing queues without bound.
import Foundation
import Shards

/// A clip cut from the live source, ready for the model.
public struct LiveWindow: Sendable {
    /// [frameCount, size, size, 3] RGB, oldest frame first.
    public var frames: [UInt8]
    public var frameCount: Int
    public var size: Int
    /// 0-based index of the window's newest source frame.
    public var lastFrame: Int
    /// That frame's timestamp, seconds.
    public var timestamp: Double
    /// The square the frames were cut from, in source pixels.
    public var crop: SquareCrop

    public init(frames: [UInt8], frameCount: Int, size: Int, lastFrame: Int, timestamp: Double, crop: SquareCrop) {
        self.frames = frames; self.frameCount = frameCount; self.size = size
        self.lastFrame = lastFrame; self.timestamp = timestamp; self.crop = crop
    }
}

/// A classified window: its position and crop, and the class probabilities [classes].
public struct LiveResult: Sendable {
    public var lastFrame: Int
    public var timestamp: Double
    public var crop: SquareCrop
    public var probabilities: [Float]

    public init(lastFrame: Int, timestamp: Double, crop: SquareCrop, probabilities: [Float]) {
        self.lastFrame = lastFrame; self.timestamp = timestamp; self.crop = crop; self.probabilities = probabilities
    }
}

/// The background classifier. `classify` maps a window to probabilities; it runs on the classifier's own thread,
/// one call at a time.
public final class LiveClassifier: @unchecked Sendable {
    private let classify: (LiveWindow) throws -> [Float]
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var waiting: LiveWindow?
    private var busy = false
    private var stopping = false
    private var finished: [LiveResult] = []
    private var failure: Error?
    private var droppedCount = 0
    private var thread: Thread?

    public init(classify: @escaping (LiveWindow) throws -> [Float]) {
        self.classify = classify
        // The thread holds the classifier until `stop()` ends it.
        let thread = Thread { self.work() }
        thread.name = "live-classifier"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Windows replaced while waiting, never classified.
    public var dropped: Int { condition.lock(); defer { condition.unlock() }; return droppedCount }

    /// Hands `window` to the classifier without waiting: it starts at once when the classifier is idle, else it
    /// waits in the single slot, replacing (and dropping) the window that waited there.
    public func offer(_ window: LiveWindow) {
        condition.lock()
        if waiting != nil { droppedCount += 1 }
        waiting = window
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until every offered window that was not dropped is classified. Rethrows the classifier's error.
    public func drain() throws {
        condition.lock()
        while (busy || waiting != nil) && failure == nil { condition.wait() }
        let error = failure
        condition.unlock()
        if let error { throw error }
    }

    /// The results finished since the last call, oldest first. Rethrows the classifier's error.
    public func takeResults() throws -> [LiveResult] {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        let out = finished
        finished.removeAll()
        return out
    }

    /// Stops the thread once the window being classified is done; a waiting window is dropped. Call it when done:
    /// the thread keeps the classifier alive until then.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while waiting == nil && !stopping { condition.wait() }
            if stopping { condition.unlock(); return }
            let window = waiting!
            waiting = nil
            busy = true
            condition.unlock()
            let outcome = Result { try classify(window) }
            condition.lock()
            busy = false
            switch outcome {
            case .success(let p):
                finished.append(LiveResult(lastFrame: window.lastFrame, timestamp: window.timestamp, crop: window.crop,
                                           probabilities: p))
            case .failure(let e):
                failure = e
                waiting = nil
            }
            condition.broadcast()
            condition.unlock()
        }
    }
}
