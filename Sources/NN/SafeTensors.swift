// NN: the safetensors file format (huggingface/safetensors), read and written without any dependency.
//
// A file is: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {string: string}, "name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
// (offsets relative to the data section, which starts at 8 + N), then the raw little-endian tensor bytes.
// The reader maps the file once and validates the whole header before any tensor is touched: a checkpoint that
// loads is a checkpoint whose every tensor is in range, non-overlapping and of the byte size its shape says.
// The writer reproduces the reference library's layout byte for byte (tensors ordered by dtype alignment, then
// name; compact JSON; header padded with spaces to a multiple of 8), so Python reads our files as its own.
// Everything here assumes a little-endian host, as every platform Swift runs this package on is.
import Foundation
import Support

#if _endian(big)
#error("safetensors data is little-endian; this reader maps it in place")
#endif

/// A weights or checkpoint file that cannot be read, written or bound to a model, with the file, the key and a
/// hint saying what to do about it.
public struct WeightsError: Error, CustomStringConvertible, Equatable {
    /// What went wrong, for callers (and tests) that branch on it.
    public enum Kind: String, Sendable {
        case unreadable, truncated, headerTooLarge, malformedHeader, unsupportedDType, offsetsOutOfRange,
             overlappingData, byteCountMismatch, missingKey, unexpectedKey, shapeMismatch, dtypeMismatch,
             unknownSkipKey, badMetadata, unwritable
    }
    public let kind: Kind
    public let path: String
    /// The tensor or metadata key concerned; nil for whole-file problems.
    public let key: String?
    public let detail: String
    public let hint: String

    public init(_ kind: Kind, path: String, key: String? = nil, detail: String, hint: String) {
        self.kind = kind; self.path = path; self.key = key; self.detail = detail; self.hint = hint
    }

    public var description: String {
        let at = key.map { "\(path) [\($0)]" } ?? path
        return "\(at): \(detail) (\(hint))"
    }
}

/// Element types of safetensors data this package understands. Floating types are converted to `Float` on read.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case F64, F32, F16, BF16, I64

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .F64, .I64: return 8
        case .F32: return 4
        case .F16, .BF16: return 2
        }
    }

    public var isFloatingPoint: Bool { self != .I64 }
}

/// One tensor's header record.
public struct SafeTensorInfo: Equatable, Sendable {
    public let name: String
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    /// Byte range inside the data section.
    public let dataRange: Range<Int>
    public var count: Int { shape.reduce(1, *) }
}

/// A safetensors file, mapped read-only and validated once on open.
public final class SafeTensorsFile {
    public let path: String
    /// Tensor records by name.
    public let tensors: [String: SafeTensorInfo]
    /// The `__metadata__` string map (empty when absent).
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    /// Tensor names in file (data-offset) order.
    public var names: [String] { tensors.values.sorted { $0.dataRange.lowerBound < $1.dataRange.lowerBound }.map(\.name) }

    /// Opens and validates `path`. Throws `WeightsError` for an unreadable file, a header length beyond the file,
    /// malformed JSON, an unsupported dtype, offsets out of range or overlapping, or a byte count that disagrees
    /// with shape × dtype size.
    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw WeightsError(.unreadable, path: path, detail: "is a directory, not a safetensors file",
                               hint: "pass the model.safetensors inside it (a checkpoint directory holds one)")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw WeightsError(.unreadable, path: path, detail: "cannot read: \(error.localizedDescription)",
                               hint: "check that the path exists and is readable")
        }
        self.data = data
        guard data.count >= 8 else {
            throw WeightsError(.truncated, path: path, detail: "file is \(data.count) bytes, shorter than the 8-byte header length",
                               hint: "the file is empty or truncated; re-export it")
        }
        let n = UInt64(littleEndian: data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        guard n <= UInt64(data.count - 8) else {
            throw WeightsError(.headerTooLarge, path: path,
                               detail: "header length \(n) exceeds the \(data.count - 8) bytes after it",
                               hint: "not a safetensors file, or truncated during copy")
        }
        dataStart = 8 + Int(n)
        let dataSize = data.count - dataStart
        let header: [String: HeaderField]
        do {
            header = try JSONDecoder().decode([String: HeaderField].self, from: data.subdata(in: 8..<dataStart))
        } catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty {
            throw WeightsError(.malformedHeader, path: path, detail: "header is not a JSON object: \(context.debugDescription)",
                               hint: "not a safetensors file, or corrupted")
        } catch {
            let (key, detail) = HeaderField.describe(error)
            throw WeightsError(.malformedHeader, path: path, key: key, detail: detail,
                               hint: "expected {\"dtype\": \"F32\", \"shape\": [...], \"data_offsets\": [begin, end]}")
        }
        var tensors: [String: SafeTensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (key, field) in header {
            if let map = field.metadata { metadata = map; continue }
            guard let dtype = SafeTensorsDType(rawValue: field.dtype) else {
                throw WeightsError(.unsupportedDType, path: path, key: key, detail: "dtype \(field.dtype) is not supported",
                                   hint: "supported: F32, F64, F16, BF16 (converted to Float) and I64; convert the tensor before export")
            }
            let shape = field.shape, offsets = field.offsets
            guard !shape.contains(where: { $0 < 0 }), offsets.count == 2 else {
                throw WeightsError(.malformedHeader, path: path, key: key,
                                   detail: "shape \(shape) has a negative size or data_offsets \(offsets) is not [begin, end]",
                                   hint: "the header is corrupted; re-export the file")
            }
            guard 0 <= offsets[0], offsets[0] <= offsets[1], offsets[1] <= dataSize else {
                throw WeightsError(.offsetsOutOfRange, path: path, key: key,
                                   detail: "data_offsets \(offsets) outside the \(dataSize)-byte data section",
                                   hint: "the file is truncated or its header is corrupted")
            }
            let expected = shape.reduce(1, *) * dtype.size
            guard offsets[1] - offsets[0] == expected else {
                throw WeightsError(.byteCountMismatch, path: path, key: key,
                                   detail: "\(offsets[1] - offsets[0]) bytes stored but shape \(shape) of \(dtype) needs \(expected)",
                                   hint: "the header disagrees with the data; re-export the file")
            }
            tensors[key] = SafeTensorInfo(name: key, dtype: dtype, shape: shape, dataRange: offsets[0]..<offsets[1])
        }
        let ordered = tensors.values.filter { !$0.dataRange.isEmpty }.sorted { $0.dataRange.lowerBound < $1.dataRange.lowerBound }
        for (a, b) in zip(ordered, ordered.dropFirst()) where b.dataRange.lowerBound < a.dataRange.upperBound {
            throw WeightsError(.overlappingData, path: path, key: b.name,
                               detail: "bytes \(b.dataRange) overlap \(a.name) at \(a.dataRange)",
                               hint: "the header is corrupted; re-export the file")
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The record of `name`, or a `.missingKey` error listing what the file has.
    public func info(_ name: String) throws -> SafeTensorInfo {
        guard let info = tensors[name] else {
            throw WeightsError(.missingKey, path: path, key: name, detail: "no tensor named \(name)",
                               hint: "the file has \(tensors.count) tensors, e.g. \(names.prefix(5).joined(separator: ", "))")
        }
        return info
    }

    /// Copies floating tensor `name` (any of F32/F64/F16/BF16) into `destination` as Float.
    /// - Parameter count: elements `destination` holds; must equal the tensor's element count.
    public func readFloats(_ name: String, into destination: UnsafeMutablePointer<Float>, count: Int) throws {
        let info = try info(name)
        guard info.dtype.isFloatingPoint else {
            throw WeightsError(.dtypeMismatch, path: path, key: name, detail: "stored as \(info.dtype), a float tensor was expected",
                               hint: "this key holds integers; check the key name")
        }
        precondition(count == info.count, "readFloats(\(name)): destination holds \(count), tensor has \(info.count)")
        data.withUnsafeBytes { raw in
            let src = raw.baseAddress! + dataStart + info.dataRange.lowerBound
            switch info.dtype {
            case .F32:
                UnsafeMutableRawPointer(destination).copyMemory(from: src, byteCount: count * 4)
            case .F64:
                for i in 0..<count { destination[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            case .F16:
                for i in 0..<count { destination[i] = floatFromHalfBits(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            case .BF16:
                for i in 0..<count {
                    destination[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
                }
            case .I64:
                preconditionFailure("checked above")
            }
        }
    }

    /// Floating tensor `name` as a Float array (row-major, its `shape`).
    public func floats(_ name: String) throws -> [Float] {
        let n = try info(name).count
        var out = [Float](repeating: 0, count: n)
        try out.withUnsafeMutableBufferPointer { try readFloats(name, into: $0.baseAddress!, count: n) }
        return out
    }

    /// Integer tensor `name` (I64) as an array.
    public func int64s(_ name: String) throws -> [Int64] {
        let info = try info(name)
        guard info.dtype == .I64 else {
            throw WeightsError(.dtypeMismatch, path: path, key: name, detail: "stored as \(info.dtype), I64 was expected",
                               hint: "this key holds floats; check the key name")
        }
        return data.withUnsafeBytes { raw in
            let src = raw.baseAddress! + dataStart + info.dataRange.lowerBound
            return (0..<info.count).map { src.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) }
        }
    }
}

/// One value of the header object: the `__metadata__` string map, or a tensor record.
private struct HeaderField: Decodable {
    var metadata: [String: String]?
    var dtype = "", shape: [Int] = [], offsets: [Int] = []

    private enum Keys: String, CodingKey { case dtype, shape, data_offsets }

    init(from decoder: Decoder) throws {
        if decoder.codingPath.last?.stringValue == "__metadata__" {
            metadata = try [String: String](from: decoder)
            return
        }
        let c = try decoder.container(keyedBy: Keys.self)
        dtype = try c.decode(String.self, forKey: .dtype)
        shape = try c.decode([Int].self, forKey: .shape)
        offsets = try c.decode([Int].self, forKey: .data_offsets)
    }

    /// The header key a decoding error is about, and what was wrong.
    static func describe(_ error: Error) -> (String?, String) {
        switch error {
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.dataCorrupted(let c):
            return (c.codingPath.first?.stringValue, c.codingPath.dropFirst().map(\.stringValue).joined(separator: ".") + ": " + c.debugDescription)
        case DecodingError.keyNotFound(let k, let c):
            return (c.codingPath.first?.stringValue, "missing \(k.stringValue)")
        default:
            return (nil, "\(error)")
        }
    }
}

/// IEEE half (binary16) bits to Float, by hand so that it works where `Float16` is unavailable.
@inlinable func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) }  // inf / nan
    if exponent == 0 {
        // Zero or subnormal: mantissa × 2^-24, exact in Float.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    }
    return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
}

/// One tensor to write: its bytes come from a pointer that must stay valid until `SafeTensorsWriter.write` returns.
public struct SafeTensorsRecord {
    public enum Source {
        /// `count` Floats written as F32.
        case float32(UnsafePointer<Float>)
        /// Int64 values written as I64.
        case int64([Int64])
    }
    public let name: String
    public let shape: [Int]
    public let source: Source

    public init(name: String, shape: [Int], source: Source) {
        self.name = name; self.shape = shape; self.source = source
        if case .int64(let values) = source {
            precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        }
    }

    var dtype: SafeTensorsDType {
        if case .int64 = source { return .I64 }
        return .F32
    }
}

public enum SafeTensorsWriter {
    /// Writes `records` and `metadata` to `path` atomically (temp file + rename), in the reference library's layout.
    public static func write(_ records: [SafeTensorsRecord], metadata: [String: String] = [:], to path: String) throws {
        precondition(Set(records.map(\.name)).count == records.count, "duplicate tensor names")
        precondition(!records.contains { $0.name == "__metadata__" }, "__metadata__ is reserved")
        // The reference sorts by dtype alignment (largest first, so 8-byte data stays aligned), then by name.
        let ordered = records.sorted { a, b in
            a.dtype.size != b.dtype.size ? a.dtype.size > b.dtype.size : a.name < b.name
        }
        var json = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let entries = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(entries.joined(separator: ","))}")
        }
        var offset = 0
        for r in ordered {
            let bytes = r.shape.reduce(1, *) * r.dtype.size
            let shape = r.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(r.name)):{\"dtype\":\"\(r.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        json += parts.joined(separator: ",") + "}"
        var header = Data(json.utf8)
        header.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8))
        var out = Data(capacity: 8 + header.count)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(header)

        let tmp = AtomicFile.temporaryPath(for: path)
        guard FileManager.default.createFile(atPath: tmp, contents: nil),
              let handle = FileHandle(forWritingAtPath: tmp) else {
            throw WeightsError(.unwritable, path: path, detail: "cannot create \(tmp)",
                               hint: "check that the directory exists and is writable")
        }
        do {
            defer { try? handle.close() }
            try handle.write(contentsOf: out)
            for r in ordered {
                let count = r.shape.reduce(1, *)
                switch r.source {
                case .float32(let p): try handle.write(contentsOf: Data(bytes: p, count: count * 4))
                case .int64(let v): try v.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
                }
            }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw WeightsError(.unwritable, path: path, detail: "write failed: \(error.localizedDescription)",
                               hint: "check free disk space")
        }
        do { try AtomicFile.commit(temporary: tmp, to: path) } catch {
            throw WeightsError(.unwritable, path: path, detail: "\(error)", hint: "check that the directory is writable")
        }
    }

    /// A JSON string literal (quotes, backslashes and control characters escaped).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
