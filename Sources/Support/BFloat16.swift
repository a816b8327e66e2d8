// Support: bfloat16, the top 16 bits of an IEEE float32 (8-bit exponent, 7-bit mantissa), shared by NN's bf16
// GEMM inputs and Distributed's bf16 gradient transport so that both round the same way.
import CVectorKernels
import Foundation

public enum BFloat16 {
    /// The bfloat16 nearest `x` (ties to even), as its 16 bits; NaN stays a quiet NaN, overflow goes to ±infinity.
    /// Branch-free, so that loops over buffers vectorize.
    @inline(__always)
    public static func bits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        let rounded = (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16
        let quietNaN = (b >> 16) | 0x0040
        return UInt16(truncatingIfNeeded: (b & 0x7FFF_FFFF) > 0x7F80_0000 ? quietNaN : rounded)
    }

    /// Rounds `source` into `destination` (as many elements), each as `bits` does, 16 lanes at a time on AVX-512
    /// CPUs (CVectorKernels); `narrowReference` is the plain loop it is tested against.
    public static func narrow(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<UInt16>, count: Int) {
        cbf16_narrow(source, destination, count)
    }

    /// Rounds a [rows, columns] matrix stored with row length `stride` into `destination`, rows packed.
    public static func narrow(_ source: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int,
                              into destination: UnsafeMutablePointer<UInt16>) {
        cbf16_narrow_rows(source, rows, columns, stride, destination)
    }

    /// `narrow` one element at a time through `bits`: the reference for the vector kernels.
    public static func narrowReference(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<UInt16>,
                                       count: Int) {
        for i in 0..<count { destination[i] = bits(source[i]) }
    }

    /// Rounds `source` to bfloat16 values kept in float32 storage (low 16 bits zero) into `destination`, which may be
    /// `source`; 16 lanes at a time on AVX-512 CPUs, each as `round` does.
    public static func round(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count: Int) {
        cbf16_round(source, destination, count)
    }

    /// `round` over a [rows, columns] matrix stored with row length `stride`, into `destination` with rows packed.
    public static func round(_ source: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int,
                             into destination: UnsafeMutablePointer<Float>) {
        cbf16_round_rows(source, rows, columns, stride, destination)
    }

    /// Widens `source` into `destination` (as many elements), exactly.
    public static func widen(_ source: UnsafePointer<UInt16>, into destination: UnsafeMutablePointer<Float>, count: Int) {
        cbf16_widen(source, destination, count)
    }

    /// Which conversion kernel this CPU runs: "avx512f", "avx2" or "plain".
    public static var kernel: String { ["plain", "avx2", "avx512f"][Int(cbf16_path())] }

    /// `accumulator[i] = bits(float(addend[i]) + float(accumulator[i]))`: a sum in float32, rounded to bfloat16.
    public static func add(_ addend: UnsafePointer<UInt16>, into accumulator: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { accumulator[i] = bits(float(addend[i]) + float(accumulator[i])) }
    }

    /// The float32 a bfloat16 stands for (exact).
    @inline(__always)
    public static func float(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// `x` rounded to the nearest bfloat16, kept in float32 storage (low 16 bits zero).
    @inline(__always)
    public static func round(_ x: Float) -> Float { x.isNaN ? x : float(bits(x)) }
}
