// NN: the dense Float32 tensor every layer reads and writes, and the small helpers layers share.
//
// Layout key for the whole module:
//   activations  [N, C, D, H, W]  (N = clips, C = channels, D = frames, H/W = rows/columns), contiguous, W fastest;
//   conv weights [out, in, kD, kH, kW];  linear weights [out, in];  logits [N, classes].
// Layers own their output tensors (which backward needs) and reuse them while the input shape stays the same, so a
// tensor returned by `forward` is valid until that layer's next call; `copy()` it to keep it longer. Input
// gradients returned by `backward` are fresh tensors that live as long as someone holds them: backward keeps only a
// few of them alive at a time, and their storage is recycled (see `StoragePool`), so no step allocates from the OS
// after the first.
import Dispatch
import Foundation

/// A shape plus a contiguous, 64-byte aligned Float32 storage that it owns.
public final class Tensor {
    public let shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor of `shape`.
    public convenience init(shape: [Int]) {
        self.init(uninitializedShape: shape)
        data.update(repeating: 0, count: count)
    }

    /// A tensor of `shape` whose contents are unspecified, for outputs the caller overwrites completely.
    public init(uninitializedShape shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        data = StoragePool.shared.take(bytes: Self.bytes(count)).bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// A tensor of `shape` holding `values` (row-major, count must match).
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A tensor of `shape` filled from `count` floats at `pointer`.
    public convenience init(shape: [Int], copying pointer: UnsafePointer<Float>) {
        self.init(shape: shape)
        data.update(from: pointer, count: count)
    }

    deinit { StoragePool.shared.give(UnsafeMutableRawPointer(data), bytes: Self.bytes(count)) }

    private static func bytes(_ count: Int) -> Int { max(64, count * 4) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }
    public var array: [Float] { Array(buffer) }
    public func copy() -> Tensor { Tensor(shape: shape, copying: data) }
    public func zero() { data.update(repeating: 0, count: count) }
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// Elements per item of the first dimension (C·D·H·W for an activation).
    public var itemCount: Int { shape.count > 1 ? shape.dropFirst().reduce(1, *) : 1 }
}

/// Errors a model or layer throws on a bad input (shape mismatches the caller can fix).
public struct NNError: Error, CustomStringConvertible {
    public let layer: String
    public let message: String
    public init(_ layer: String, _ message: String) { self.layer = layer; self.message = message }
    public var description: String { "\(layer): \(message)" }
}

/// Recycles tensor storage by exact byte size, as PyTorch's caching allocator does: a freed tensor's storage waits
/// in a free list for the next tensor of the same size. Training repeats the same shapes every step, so after the
/// first step tensors come from the lists (no page faults, no zeroing by the OS), and memory stays at the largest
/// set of tensors alive at once. Thread-safe (loader threads build batch tensors).
final class StoragePool: @unchecked Sendable {
    static let shared = StoragePool()
    private let lock = NSLock()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]

    /// 64-byte aligned storage of `bytes` bytes, contents unspecified.
    func take(bytes: Int) -> UnsafeMutableRawPointer {
        lock.lock()
        if let p = free[bytes]?.popLast() {
            lock.unlock()
            return p
        }
        lock.unlock()
        return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    }

    func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        lock.lock()
        free[bytes, default: []].append(pointer)
        lock.unlock()
    }
}

/// Returns `cached` when it has `shape`, else a fresh zero-filled tensor stored into `cached`.
@inline(__always)
func workspace(_ cached: inout Tensor?, _ shape: [Int]) -> Tensor {
    if let t = cached, t.shape == shape { return t }
    let t = Tensor(shape: shape)
    cached = t
    return t
}

/// Runs `body(i)` for i in 0..<count on `BLAS.threads` workers (contiguous chunks; serial when one worker).
/// Each call of `body` must touch only its own slice of the outputs.
func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    let workers = min(count, max(1, BLAS.threads))
    if workers <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        let lo = count * w / workers, hi = count * (w + 1) / workers
        for i in lo..<hi { body(i) }
    }
}
