// NN: the ordered parameter table and the flat buffers it describes.
//
// Every model's learnable tensors live in one Float allocation (`parameters`) with a twin of the same layout
// (`gradients`); BatchNorm running statistics live in a third (`buffers`) and `num_batches_tracked` in `counters`.
// The table, written once in module order by the model's constructor, is the single source of truth: checkpoint
// keys (torchvision's state-dict keys), allreduce buckets and optimizer state are all derived from it, so that
// zero-grad, allreduce and save are one call each over one buffer.

/// What a table entry holds.
public enum ParameterRole: String, Sendable {
    /// Learnable, with a gradient (conv/linear weights and biases, BN weight and bias).
    case parameter
    /// Float state that is saved but not learned (BN `running_mean`, `running_var`).
    case buffer
    /// An integer counter saved as int64 (BN `num_batches_tracked`); one element, in `counters`.
    case counter
}

/// One named tensor of a model, as it appears in a torchvision state dict.
public struct ParameterEntry: Equatable, Sendable {
    /// State-dict key, e.g. `layer2.0.conv1.0.0.weight`.
    public let name: String
    /// PyTorch shape, e.g. `[230, 64, 1, 3, 3]` (conv weights are `[out, in, kD, kH, kW]`).
    public let shape: [Int]
    public let role: ParameterRole
    /// Offset of the first element in the flat buffer of its role (`parameters`/`gradients`, `buffers`, `counters`).
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// A 64-byte aligned Float allocation that never moves, so pointers into it stay valid for the model's life.
public final class FlatBuffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        let bytes = max(64, count * MemoryLayout<Float>.stride)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: count)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public func zero() { pointer.update(repeating: 0, count: count) }
}

/// Identifies one entry of a `ParameterStore`.
public struct ParameterHandle: Hashable, Sendable {
    public let index: Int
}

/// The parameter table of one model and its flat buffers.
///
/// Build it in two phases: layers `register` their tensors in state-dict order while the model is constructed,
/// then `seal()` allocates the buffers. Pointers are only available after `seal()`.
public final class ParameterStore {
    public private(set) var entries: [ParameterEntry] = []
    private var indexByName: [String: Int] = [:]
    private var sizes: [ParameterRole: Int] = [.parameter: 0, .buffer: 0, .counter: 0]
    /// Per-entry "receives gradient and updates" flag; frozen entries are false. Only meaningful for `.parameter`.
    public var requiresGrad: [Bool] = []

    public private(set) var parameters = FlatBuffer(count: 0)
    public private(set) var gradients = FlatBuffer(count: 0)
    public private(set) var buffers = FlatBuffer(count: 0)
    public var counters: [Int64] = []
    public private(set) var isSealed = false

    public init() {}

    /// Adds a tensor to the table. Names must be unique; registration order is the table order.
    public func register(_ name: String, shape: [Int], role: ParameterRole = .parameter) -> ParameterHandle {
        precondition(!isSealed, "register(\(name)) after seal()")
        precondition(indexByName[name] == nil, "duplicate parameter name \(name)")
        let entry = ParameterEntry(name: name, shape: shape, role: role, offset: sizes[role]!)
        sizes[role]! += role == .counter ? 1 : entry.count
        indexByName[name] = entries.count
        entries.append(entry)
        requiresGrad.append(role == .parameter)
        return ParameterHandle(index: entries.count - 1)
    }

    /// Allocates the flat buffers (zero-filled). Call once, after the last `register`.
    public func seal() {
        precondition(!isSealed, "seal() called twice")
        parameters = FlatBuffer(count: sizes[.parameter]!)
        gradients = FlatBuffer(count: sizes[.parameter]!)
        buffers = FlatBuffer(count: sizes[.buffer]!)
        counters = [Int64](repeating: 0, count: sizes[.counter]!)
        isSealed = true
    }

    public func handle(named name: String) -> ParameterHandle? { indexByName[name].map(ParameterHandle.init) }
    public func entry(_ h: ParameterHandle) -> ParameterEntry { entries[h.index] }

    /// Values of a `.parameter` or `.buffer` entry.
    public func values(_ h: ParameterHandle) -> UnsafeMutablePointer<Float> {
        let e = entries[h.index]
        precondition(isSealed && e.role != .counter)
        return (e.role == .parameter ? parameters.pointer : buffers.pointer) + e.offset
    }

    /// Gradient of a `.parameter` entry (same layout as its values).
    public func gradient(_ h: ParameterHandle) -> UnsafeMutablePointer<Float> {
        let e = entries[h.index]
        precondition(isSealed && e.role == .parameter)
        return gradients.pointer + e.offset
    }

    /// Sets every gradient to zero (backward accumulates).
    public func zeroGrad() { gradients.zero() }

    /// Total learnable elements.
    public var parameterCount: Int { sizes[.parameter]! }
}
