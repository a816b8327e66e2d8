// Tests: TensorBoard event files use TFRecord framing with correct CRC-32C, so TensorBoard accepts them.
import Foundation
import Launcher
import XCTest

final class TensorBoardTests: XCTestCase {
    func testCRC32CMatchesTheStandardCheckValue() {
        // The check value of CRC-32C over "123456789" (RFC 3720, appendix B.4).
        XCTAssertEqual(crc32c(Array("123456789".utf8)), 0xE306_9283)
    }

    func testEventRecordsAreFramedWithValidChecksums() throws {
        let dir = NSTemporaryDirectory() + "tb-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try TensorBoardWriter(directory: dir)
        try writer.scalars(["train/loss": 1.5, "train/lr": 0.01], step: 3)
        writer.close()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: writer.path)))
        var at = 0, records = 0
        func u64(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[i + $1]) << (8 * $1) } }
        func u32(_ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[i + $1]) << (8 * $1) } }
        while at < bytes.count {
            let n = Int(u64(at))
            XCTAssertEqual(u32(at + 8), maskedCRC32C(Array(bytes[at..<at + 8])), "length CRC of record \(records)")
            let payload = Array(bytes[at + 12..<at + 12 + n])
            XCTAssertEqual(u32(at + 12 + n), maskedCRC32C(payload), "payload CRC of record \(records)")
            if records == 1 { XCTAssertNotNil(String(decoding: payload, as: UTF8.self).range(of: "train/loss")) }
            at += 16 + n
            records += 1
        }
        XCTAssertEqual(records, 2)
    }
}
