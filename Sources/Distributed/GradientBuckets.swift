// Distributed: averaging one flat gradient buffer across ranks in fused buckets, overlapped with backward.
//
// Backward produces gradients from the end of the parameter table to its start, so buckets are cut from the end
// of the buffer: bucket 0 is the last `bucketBytes` of it, and is the first to be complete. As soon as backward
// reports that every gradient at or above some offset is final, each bucket lying wholly above it starts its
// non-blocking allreduce, and communication runs while backward computes the rest. Bucket boundaries depend only
// on the buffer size and the bucket size, so they are identical on every rank and the reduction does not depend
// on timing. With `Transport.bf16` (Horovod's compression, in bfloat16) each bucket travels as bfloat16 — half the
// bytes on the wire — and is summed in float32 at each step of the reduction.
import Foundation
import Support

public final class GradientBuckets {
    /// How buckets are reduced.
    public enum Mode: Sendable {
        /// Non-blocking MPI allreduce per bucket, started during backward.
        case overlapped
        /// After backward, each bucket is gathered from every rank and summed in rank order 0, 1, …, so that the
        /// floating-point result is the same whatever the reduction algorithm, the timing or the bucket size.
        case deterministic
    }

    /// What the buckets are sent as.
    public enum Transport: String, Sendable, CaseIterable {
        /// The gradients as they are.
        case fp32
        /// Rounded to bfloat16 (to nearest, ties to even) for the wire, summed in float32 and rounded again after
        /// each addition, then widened back to float32: about 3 significant digits, half the bytes.
        case bf16
    }

    /// Element ranges of the gradient buffer, in the order they are reduced (highest offsets first).
    public let buckets: [Range<Int>]
    public let mode: Mode
    public let transport: Transport
    /// Per bucket, its bfloat16 copy while it travels (bf16 transport only).
    private var wire: [[BFloat16Value]] = []
    private let communicator: Communicator
    private let gradient: UnsafeMutableBufferPointer<Float>
    private var pending: [PendingAllreduce?]
    private var started: Int = 0
    /// Scratch of the deterministic reduction, per transport (what this rank sends, what it gathers).
    private var sendFloat: [Float] = [], receivedFloat: [Float] = []
    private var sendBF16: [BFloat16Value] = [], receivedBF16: [BFloat16Value] = []
    /// Seconds spent inside `finish()` waiting for communication that backward did not hide (last step).
    public private(set) var exposedSeconds: Double = 0
    /// Called with (bucket index, start, end) when a bucket's reduction starts and ends; used for timelines.
    public var onBucketEvent: ((Int, Bool) -> Void)?

    /// - Parameters:
    ///   - gradient: the model's flat gradient buffer; must stay alive and in place.
    ///   - reducedRange: the elements to reduce (e.g. only the trainable suffix of the table when the lower layers
    ///     are frozen); elements outside it are left as they are.
    ///   - bucketBytes: fused bucket size, counted in float32 gradients; 25 MB as PyTorch DDP by default.
    ///   - transport: fp32, or bf16 to halve the bytes sent.
    public init(communicator: Communicator, gradient: UnsafeMutableBufferPointer<Float>, reducedRange: Range<Int>? = nil,
                bucketBytes: Int = 25 * 1024 * 1024, mode: Mode = .overlapped, transport: Transport = .fp32) {
        self.communicator = communicator
        self.gradient = gradient
        self.mode = mode
        self.transport = transport
        let range = reducedRange ?? 0..<gradient.count
        let perBucket = max(1, bucketBytes / MemoryLayout<Float>.stride)
        var cuts: [Range<Int>] = []
        var end = range.upperBound
        while end > range.lowerBound {
            let start = max(range.lowerBound, end - perBucket)
            cuts.append(start..<end)
            end = start
        }
        buckets = cuts
        pending = Array(repeating: nil, count: cuts.count)
        if transport == .bf16 { wire = cuts.map { [BFloat16Value](repeating: BFloat16Value(bits: 0), count: $0.count) } }
    }

    /// Call before backward of a step whose gradients will be reduced.
    public func beginStep() {
        precondition(started == 0 || started == buckets.count, "beginStep() while a step is in flight")
        started = 0
        pending = Array(repeating: nil, count: buckets.count)
        exposedSeconds = 0
    }

    /// Backward's progress report: every gradient element at index ≥ `offset` is final. Starts the buckets that
    /// became complete and drives progress of those in flight. Does nothing in deterministic mode or on one rank.
    public func gradientsReady(from offset: Int) throws {
        guard mode == .overlapped, communicator.size > 1 else { return }
        while started < buckets.count && buckets[started].lowerBound >= offset {
            try startBucket(started)
            started += 1
        }
        // Open MPI progresses non-blocking collectives only inside MPI calls: poke the ones in flight.
        for p in pending.prefix(started) { if let p { _ = try p.test() } }
    }

    /// Finishes the step: reduces whatever has not been started, waits for everything, and divides by the number
    /// of ranks, so that the buffer holds the average gradient over all ranks.
    public func finish() throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { exposedSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        guard communicator.size > 1 else { started = buckets.count; return }
        switch mode {
        case .overlapped:
            while started < buckets.count { try startBucket(started); started += 1 }
            for (i, p) in pending.enumerated() {
                try p?.wait()
                if transport == .bf16 { widen(i) }
                onBucketEvent?(i, false)
            }
        case .deterministic:
            for i in buckets.indices {
                onBucketEvent?(i, true)
                try reduceInRankOrder(buckets[i])
                onBucketEvent?(i, false)
            }
            started = buckets.count
        }
        let scale = 1 / Float(communicator.size)
        for b in buckets {
            for i in b { gradient[i] *= scale }
        }
    }

    private func startBucket(_ i: Int) throws {
        onBucketEvent?(i, true)
        let b = buckets[i]
        switch transport {
        case .fp32:
            pending[i] = try communicator.startAllreduce(UnsafeMutableBufferPointer(rebasing: gradient[b]), op: .sum)
        case .bf16:
            // The buffer stays in place until finish() waits on it: `wire` is never resized during a step.
            pending[i] = try wire[i].withUnsafeMutableBufferPointer { w in
                BFloat16Value.narrow(UnsafeBufferPointer(rebasing: gradient[b]), into: w)
                return try communicator.startAllreduce(w, op: .sum)
            }
        }
    }

    /// Copies bucket `i`'s reduced bfloat16 sums back into the gradient as float32.
    private func widen(_ i: Int) {
        let b = buckets[i]
        wire[i].withUnsafeBufferPointer { BFloat16Value.widen($0, into: UnsafeMutableBufferPointer(rebasing: gradient[b])) }
    }

    /// Sums `range` over ranks in rank order, in pieces of at most 1 M elements per rank to bound the scratch space.
    /// With bf16 transport the pieces travel as bfloat16 and are summed in float32.
    private func reduceInRankOrder(_ range: Range<Int>) throws {
        switch transport {
        case .fp32: try reduceInRankOrder(range, send: &sendFloat, received: &receivedFloat, encode: { $0 }, decode: { $0 })
        case .bf16: try reduceInRankOrder(range, send: &sendBF16, received: &receivedBF16, encode: BFloat16Value.init,
                                          decode: { $0.float })
        }
    }

    /// Gathers `range` from every rank as `T` (`encode` of each gradient) and replaces it with the float32 sum of
    /// the `decode`d values, rank 0 first. `send` and `received` are scratch kept between steps.
    private func reduceInRankOrder<T: CommScalar>(_ range: Range<Int>, send: inout [T], received: inout [T],
                                                  encode: (Float) -> T, decode: (T) -> Float) throws {
        let n = communicator.size
        let piece = 1 << 20
        var start = range.lowerBound
        while start < range.upperBound {
            let count = min(piece, range.upperBound - start)
            send.removeAll(keepingCapacity: true)
            for i in start..<(start + count) { send.append(encode(gradient[i])) }
            if received.count != count * n { received = Array(repeating: send[0], count: count * n) }
            try send.withUnsafeBufferPointer { s in
                try received.withUnsafeMutableBufferPointer { try communicator.allgather(s, into: $0) }
            }
            for j in 0..<count {
                var total: Float = decode(received[j])
                for r in 1..<n { total += decode(received[r * count + j]) }
                gradient[start + j] = total
            }
            start += count
        }
    }
}
