// Support: counter-based random numbers, so that a draw depends only on its key, never on call order.
//
// Data augmentation must be identical whatever the number of ranks, and resumed runs must replay exactly, so
// every random stream here is derived from a key such as (seed, epoch, global sample index) by hashing,
// not from a shared generator whose state depends on who drew before.
import Foundation

/// SplitMix64's finalizer: a bijective 64-bit mixer with good avalanche, used to derive stream keys.
@inlinable public func mix64(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// A small, fast, seedable generator (SplitMix64) conforming to `RandomNumberGenerator`.
///
/// Build one per independent stream with `SeededRandom(keys: seed, epoch, index)`.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = mix64(seed) }

    /// A stream keyed by several integers; different key tuples give unrelated streams.
    public init(keys: UInt64...) {
        var s: UInt64 = 0x243F_6A88_85A3_08D3
        for k in keys { s = mix64(s ^ k) }
        state = s
    }

    /// Restores a generator saved with `state` (checkpoints keep it so that resumed runs replay exactly).
    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func nextFloat() -> Float { Float(next() >> 40) * (1.0 / Float(1 << 24)) }

    /// Uniform in [0, 1) with 53 bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / Double(UInt64(1) << 53)) }

    /// Standard normal by Box–Muller (one of the pair is discarded to keep the stream stateless).
    public mutating func nextGaussian() -> Double {
        var u1 = nextDouble()
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = nextDouble()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

