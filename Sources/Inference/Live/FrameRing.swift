// Inference: the newest frames of a live source in one preallocated buffer, so that keeping a sliding window costs
// one copy per frame and no allocation (an array with removeFirst moved the whole window on every frame).
import Foundation

/// The newest `capacity` frames of `frameBytes` bytes each; `push` overwrites the oldest once full.
public struct FrameRing {
    public let capacity: Int
    public let frameBytes: Int
    public private(set) var count = 0
    private var storage: [UInt8]
    /// Slot the next push writes.
    private var next = 0

    public init(capacity: Int, frameBytes: Int) {
        precondition(capacity > 0 && frameBytes > 0, "a ring needs room for at least one frame")
        self.capacity = capacity; self.frameBytes = frameBytes
        storage = [UInt8](repeating: 0, count: capacity * frameBytes)
    }

    public var isFull: Bool { count == capacity }

    /// Copies `frame` (`frameBytes` bytes) in as the newest frame.
    public mutating func push(_ frame: UnsafeBufferPointer<UInt8>) {
        precondition(frame.count == frameBytes, "frame of \(frame.count) bytes in a ring of \(frameBytes)-byte frames")
        let offset = next * frameBytes
        storage.withUnsafeMutableBufferPointer { s in
            UnsafeMutableRawPointer(s.baseAddress! + offset).copyMemory(from: frame.baseAddress!, byteCount: frameBytes)
        }
        next = (next + 1) % capacity
        count = min(count + 1, capacity)
    }

    /// Forgets every frame (e.g. when the source changes its frame size).
    public mutating func removeAll() { count = 0; next = 0 }

    /// Calls `body` with frame `i`, 0 being the oldest held and `count - 1` the newest.
    public func withFrame<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        precondition(i >= 0 && i < count, "frame \(i) of \(count)")
        let slot = (next - count + i + capacity) % capacity
        return try storage.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[(slot * frameBytes)..<((slot + 1) * frameBytes)])) }
    }

    /// The held frames oldest first, [count × frameBytes].
    public func ordered() -> [UInt8] {
        var out = [UInt8](); out.reserveCapacity(count * frameBytes)
        for i in 0..<count { withFrame(i) { out.append(contentsOf: $0) } }
        return out
    }
}
