// The vector float32 → bfloat16 kernels (CVectorKernels, behind `BFloat16.narrow` and `widen`) against the plain
// element-by-element rounding, on every kind of value and on lengths and offsets that end mid-vector.
import Support
import XCTest

final class BFloat16KernelTests: XCTestCase {
    /// Bit patterns that exercise each rule: ties (low half exactly 0x8000, odd and even upper halves), values just
    /// around ties, subnormals, ±0, ±infinity, NaNs with only low mantissa bits, the largest finite values (which
    /// round up to infinity), plus random patterns.
    private func testValues() -> [Float] {
        var bits: [UInt32] = [0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7F80_0001, 0xFF80_8000, 0x7FC0_0000,
                              0x7F7F_FFFF, 0xFF7F_FFFF, 0x0000_0001, 0x0000_8000, 0x0001_8000, 0x007F_FFFF,
                              0x3F80_8000, 0x3F81_8000, 0x3F80_7FFF, 0x3F80_8001, 0xBF81_8000]
        var rng = SeededRandom(seed: 7)
        for _ in 0..<4000 { bits.append(UInt32(truncatingIfNeeded: rng.next())) }
        for _ in 0..<1000 { bits.append(UInt32(truncatingIfNeeded: rng.next()) & 0xFFFF_0000 | 0x8000) }
        return bits.map { Float(bitPattern: $0) }
    }

    func testNarrowMatchesPlainRoundingBitForBit() {
        let values = testValues()
        print("bf16 conversion kernel on this CPU: \(BFloat16.kernel)")
        for offset in [0, 1, 3] {
            for count in [0, 1, 7, 15, 16, 17, 31, 33, values.count - offset] {
                var fast = [UInt16](repeating: 0xDEAD, count: count + 1)
                var plain = [UInt16](repeating: 0xDEAD, count: count + 1)
                values.withUnsafeBufferPointer { v in
                    BFloat16.narrow(v.baseAddress! + offset, into: &fast, count: count)
                    BFloat16.narrowReference(v.baseAddress! + offset, into: &plain, count: count)
                }
                let differing = (0..<count).filter { fast[$0] != plain[$0] }
                XCTAssertTrue(differing.isEmpty, "offset \(offset), count \(count): \(differing.count) values differ, "
                              + "first at \(differing.first ?? -1)")
                XCTAssertEqual(fast[count], 0xDEAD, "the kernel wrote past count \(count)")
            }
        }
    }

    func testNarrowRowsPacksAStridedMatrix() {
        let rows = 5, columns = 19, stride = 24
        let source = (0..<(rows * stride)).map { Float($0) * 1.001 + 0.37 }
        var packed = [UInt16](repeating: 0, count: rows * columns)
        source.withUnsafeBufferPointer { BFloat16.narrow($0.baseAddress!, rows: rows, columns: columns, stride: stride, into: &packed) }
        for r in 0..<rows { for j in 0..<columns {
            XCTAssertEqual(packed[r * columns + j], BFloat16.bits(source[r * stride + j]), "row \(r) column \(j)")
        } }
    }

    func testWidenIsExact() {
        var rng = SeededRandom(seed: 11)
        for count in [0, 5, 16, 23, 1000] {
            let halves = (0..<count).map { _ in UInt16(truncatingIfNeeded: rng.next()) }
            var floats = [Float](repeating: 0, count: count)
            BFloat16.widen(halves, into: &floats, count: count)
            for i in 0..<count {
                XCTAssertEqual(floats[i].bitPattern, UInt32(halves[i]) << 16, "count \(count), element \(i)")
            }
        }
    }
}
