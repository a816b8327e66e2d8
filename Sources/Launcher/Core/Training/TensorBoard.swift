// Launcher: TensorBoard scalar event files, written without TensorFlow: TFRecord framing (length, masked CRC-32C,
// payload, masked CRC-32C) around hand-encoded `Event` protocol buffers (wall_time = 1, step = 2,
// file_version = 3, summary = 5; Summary.value = 1; Value.tag = 1, Value.simple_value = 2).
import Foundation

public final class TensorBoardWriter {
    public let path: String
    private let handle: FileHandle

    /// Creates `events.out.tfevents.<unix time>.<host>` in `directory`.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName
        path = "\(directory)/events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host)"
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let h = FileHandle(forWritingAtPath: path) else {
            throw FileWriteErrorForLogs(path: path)
        }
        handle = h
        var event = Protobuf()
        event.double(1, Date().timeIntervalSince1970)
        event.bytes(3, Array("brain.Event:2".utf8))
        try append(record: event.data)
    }

    /// Appends scalars for one step (tags such as "train/loss").
    public func scalars(_ values: [String: Double], step: Int) throws {
        var summary = Protobuf()
        for (tag, value) in values.sorted(by: { $0.key < $1.key }) {
            var v = Protobuf()
            v.bytes(1, Array(tag.utf8))
            v.float(2, Float(value))
            summary.bytes(1, v.data)
        }
        var event = Protobuf()
        event.double(1, Date().timeIntervalSince1970)
        event.varint(2, UInt64(step))
        event.bytes(5, summary.data)
        try append(record: event.data)
    }

    public func close() { try? handle.close() }

    private func append(record payload: [UInt8]) throws {
        var out: [UInt8] = []
        let length = withUnsafeBytes(of: UInt64(payload.count).littleEndian, Array.init)
        out += length
        out += withUnsafeBytes(of: maskedCRC32C(length).littleEndian, Array.init)
        out += payload
        out += withUnsafeBytes(of: maskedCRC32C(payload).littleEndian, Array.init)
        try handle.write(contentsOf: out)
    }
}

struct FileWriteErrorForLogs: Error, CustomStringConvertible {
    let path: String
    var description: String { "cannot create \(path): is the run directory writable?" }
}

/// Minimal protocol-buffer encoder for the few field kinds an Event needs.
struct Protobuf {
    private(set) var data: [UInt8] = []

    mutating func varint(_ field: Int, _ value: UInt64) { key(field, 0); rawVarint(value) }
    mutating func double(_ field: Int, _ value: Double) {
        key(field, 1); data += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
    }
    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5); data += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
    }
    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, 2); rawVarint(UInt64(value.count)); data += value
    }
    private mutating func key(_ field: Int, _ wireType: UInt64) { rawVarint(UInt64(field) << 3 | wireType) }
    private mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 { data.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        data.append(UInt8(v))
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses.
public func crc32c(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0x82F6_3B78 & (0 &- (crc & 1))) }
    }
    return ~crc
}

/// TFRecord's masking of stored CRCs.
public func maskedCRC32C(_ bytes: [UInt8]) -> UInt32 {
    let c = crc32c(bytes)
    return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
}
