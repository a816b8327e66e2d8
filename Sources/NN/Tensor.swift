// NN: the dense Float32 tensor every layer reads and writes, and the small helpers layers share.
//
// Layout key for the whole module:
//   activations  [N, C, D, H, W]  (N = clips, C = channels, D = frames, H/W = rows/columns), contiguous, W fastest;
//   conv weights [out, in, kD, kH, kW];  linear weights [out, in];  logits [N, classes].
// Layers own their output tensors (which backward needs) and reuse them while the input shape stays the same, so a
// tensor returned by `forward` is valid until that layer's next call; `copy()` it to keep it longer. In bf16 training
// they return fresh tensors instead and keep compact copies (see "Compact activations" below). Input
// gradients returned by `backward` are fresh tensors that live as long as someone holds them: backward keeps only a
// few of them alive at a time, and their storage is recycled (see `StoragePool`), so no step allocates from the OS
// after the first.
import CVectorKernels
import Dispatch
import Foundation
import Support

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

/// Recycles tensor storage, as PyTorch's caching allocator does: a freed tensor's storage waits in a free list for the
/// next tensor that fits it — one of the same size, else the smallest free one up to twice the size asked for (so
/// that, in bf16 training, the compact copies released during backward hold its fp32 gradients, and a layer's
/// buffers serve the next layer's smaller ones). Training repeats the same shapes every step, so after the first step
/// tensors come from the lists (no page faults, no zeroing by the OS). Thread-safe (loader threads build batch
/// tensors).
final class StoragePool: @unchecked Sendable {
    static let shared = StoragePool()
    private let lock = NSLock()
    /// Free storage by capacity in bytes.
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    /// The capacity of storage handed out that is larger than what was asked for.
    private var larger: [UnsafeMutableRawPointer: Int] = [:]

    /// 64-byte aligned storage of at least `bytes` bytes, contents unspecified.
    func take(bytes: Int) -> UnsafeMutableRawPointer {
        lock.lock()
        defer { lock.unlock() }
        if let p = free[bytes]?.popLast() { return p }
        let fitting = free.lazy.filter { $0.key > bytes && $0.key <= 2 * bytes && !$0.value.isEmpty }.map(\.key)
        if let capacity = fitting.min(), let p = free[capacity]?.popLast() {
            larger[p] = capacity
            return p
        }
        return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    }

    /// Returns storage taken with `take(bytes:)` (the same `bytes`).
    func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        lock.lock()
        let capacity = larger.removeValue(forKey: pointer) ?? bytes
        free[capacity, default: []].append(pointer)
        lock.unlock()
    }
}

// MARK: Compact activations (bf16 training)
//
// In bf16 training a layer keeps what its backward needs in half the bytes or less, as autocast keeps bf16
// activations: a conv its input and a BatchNorm its input rounded to bf16 (`Kept.compact`), a ReLU one bit per
// element. Layers then return fresh (pooled) outputs instead of outputs they own, so that each fp32 activation lives
// only until the next layers have consumed it.

/// Layers whose kept activations can be compact; `VideoClassifier.precision` turns it on with bf16.
public protocol CompactingLayer: AnyObject {
    /// Keep activations for backward compactly in training, and return fresh outputs rather than owned ones.
    var compactActivations: Bool { get set }
}

/// `count` UInt16 values in storage from `StoragePool`, returned to it when this is freed.
final class PooledHalfwords {
    let pointer: UnsafeMutablePointer<UInt16>
    private let bytes: Int

    init(count: Int) {
        bytes = max(64, count * 2)
        pointer = StoragePool.shared.take(bytes: bytes).bindMemory(to: UInt16.self, capacity: max(1, count))
    }

    deinit { StoragePool.shared.give(UnsafeMutableRawPointer(pointer), bytes: bytes) }
}

/// A tensor's values rounded to bf16 in half the bytes (pooled storage).
final class CompactTensor {
    let shape: [Int]
    let count: Int
    private let storage: PooledHalfwords
    private var bits: UnsafeMutablePointer<UInt16> { storage.pointer }

    init(_ x: Tensor) {
        shape = x.shape
        count = x.count
        storage = PooledHalfwords(count: count)
        let src = x.data, dst = storage.pointer
        forEachSlice(count) { lo, hi in BFloat16.narrow(src + lo, into: dst + lo, count: hi - lo) }
    }

    /// Widens elements offset..<offset+count into `destination` (exactly).
    func widen(from offset: Int, count: Int, into destination: UnsafeMutablePointer<Float>) {
        BFloat16.widen(bits + offset, into: destination, count: count)
    }

    /// The values widened back to fp32 (exactly) in a new tensor.
    func expanded() -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        let src = bits, dst = t.data
        forEachSlice(count) { lo, hi in BFloat16.widen(src + lo, into: dst + lo, count: hi - lo) }
        return t
    }

}

/// What a layer keeps of a tensor for backward: the tensor itself, or its compact copy.
enum Kept {
    case full(Tensor)
    case compact(CompactTensor)

    /// `x` itself, or compact when `compact`.
    init(_ x: Tensor, compact: Bool) { self = compact ? .compact(CompactTensor(x)) : .full(x) }

    var shape: [Int] {
        switch self {
        case .full(let t): return t.shape
        case .compact(let c): return c.shape
        }
    }

    /// The fp32 tensor: the kept one, or a fresh widened copy that lives while the caller holds it.
    func tensor() -> Tensor {
        switch self {
        case .full(let t): return t
        case .compact(let c): return c.expanded()
        }
    }

    /// Calls `body` with elements offset..<offset+count in fp32: a pointer into the kept tensor, or the compact
    /// values widened into a temporary buffer (so that a layer can read a compact input one row at a time, without
    /// an fp32 copy of the whole tensor).
    func withElements<R>(from offset: Int, count: Int, _ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        switch self {
        case .full(let t):
            return try body(t.data + offset)
        case .compact(let c):
            let row = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
            defer { row.deallocate() }
            c.widen(from: offset, count: count, into: row)
            return try body(row)
        }
    }
}

/// Which elements of a tensor were positive, one bit each (1/32 of the tensor): what a ReLU's backward needs.
final class PositiveMask {
    let shape: [Int]
    let count: Int
    private let words: PooledHalfwords

    /// The mask of `y > 0` (NaN counts as not positive).
    init(_ y: Tensor) {
        shape = y.shape
        count = y.count
        words = PooledHalfwords(count: (count + 15) / 16)
        let src = y.data, dst = words.pointer
        forEachSlice(count) { lo, hi in cmask_positive(src + lo, dst + lo / 16, hi - lo) }
    }

    /// Zeroes `x` (the masked tensor's shape) wherever the masked tensor was not positive.
    func apply(to x: Tensor) {
        let dst = x.data, src = words.pointer
        forEachSlice(count) { lo, hi in cmask_apply(dst + lo, src + lo / 16, hi - lo) }
    }
}

/// Runs `body(lo, hi)` over slices of 0..<total in parallel (`parallelFor`), each starting at a multiple of 16 (so
/// that mask words are never shared).
private func forEachSlice(_ total: Int, _ body: (Int, Int) -> Void) {
    let blocks = (total + 15) / 16, chunks = max(1, min(64, total / 16384))
    parallelFor(chunks) { k in
        let lo = min(total, blocks * k / chunks * 16), hi = min(total, blocks * (k + 1) / chunks * 16)
        if hi > lo { body(lo, hi) }
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
