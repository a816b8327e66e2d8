// NN: the dense Float32 tensor every layer reads and writes, and the small helpers layers share.
//
// Layout key for the whole module:
//   activations  [N, C, D, H, W]  (N = clips, C = channels, D = frames, H/W = rows/columns), contiguous, W fastest;
//   conv weights [out, in, kD, kH, kW];  linear weights [out, in];  logits [N, classes].
// Layers own their output and input-gradient tensors and reuse them while the input shape stays the same, so a
// tensor returned by `forward`/`backward` is valid until that layer's next call; `copy()` it to keep it longer.
import Dispatch

/// A shape plus a contiguous, 64-byte aligned Float32 storage that it owns.
public final class Tensor {
    public let shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor of `shape`.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(64, count * 4), alignment: 64)
        data = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        data.initialize(repeating: 0, count: count)
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

    deinit { UnsafeMutableRawPointer(data).deallocate() }

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
