// Tests: small media files made on the fly — encoded videos, BMP images, corrupt files — for the decoding,
// cropping and builder tests.
import Foundation
import Shards
import XCTest

enum MediaFixture {
    /// The grey level that encodes frame `f` (0-based) in `colourCodedVideo`: steps of 12 survive H.264 easily.
    static func level(_ f: Int) -> UInt8 { UInt8(16 + 12 * (f % 19)) }

    /// A video whose frame f is flat grey `level(f)` with a white square in the top-left quarter.
    static func colourCodedVideo(at path: String, frames: Int, width: Int = 64, height: Int = 48, fps: Int = 25) throws {
        let encoder = try VideoEncoder(path: path, width: width, height: height, fps: fps, quality: 10)
        for f in 0..<frames {
            var rgb = [UInt8](repeating: level(f), count: width * height * 3)
            for y in 0..<(height / 4) { for x in 0..<(width / 4) { for c in 0..<3 { rgb[(y * width + x) * 3 + c] = 255 } } }
            try rgb.withUnsafeBufferPointer { try encoder.append(rgb: $0) }
        }
        try encoder.finish()
    }

    /// Mean of the bottom-right quarter of an RGB frame, away from the white square.
    static func backgroundMean(_ rgb: UnsafeBufferPointer<UInt8>, width: Int, height: Int) -> Double {
        var sum = 0.0, n = 0.0
        for y in (height / 2)..<height { for x in (width / 2)..<width { for c in 0..<3 { sum += Double(rgb[(y * width + x) * 3 + c]); n += 1 } } }
        return sum / n
    }

    /// Writes a 24-bit uncompressed BMP (bottom-up rows, BGR, rows padded to 4 bytes) from RGB `[h, w, 3]`.
    static func writeBMP(_ rgb: [UInt8], width: Int, height: Int, to path: String) throws {
        let rowBytes = (width * 3 + 3) / 4 * 4
        var data = Data()
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { data.append(contentsOf: $0) } }
        func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: [0x42, 0x4D]); u32(54 + rowBytes * height); u32(0); u32(54)
        u32(40); u32(width); u32(height); u16(1); u16(24); u32(0); u32(rowBytes * height); u32(2835); u32(2835); u32(0); u32(0)
        for y in stride(from: height - 1, through: 0, by: -1) {
            var row = [UInt8](repeating: 0, count: rowBytes)
            for x in 0..<width {
                row[x * 3] = rgb[(y * width + x) * 3 + 2]; row[x * 3 + 1] = rgb[(y * width + x) * 3 + 1]; row[x * 3 + 2] = rgb[(y * width + x) * 3]
            }
            data.append(contentsOf: row)
        }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// A tiny synthetic WLASL set: `classes` × `clips` videos of `frames` signed frames at `size`×`size`.
    static func synth(in directory: String, classes: Int = 3, clips: Int = 6, signers: Int = 3, frames: Int = 6,
                      size: Int = 32, seed: UInt64 = 7) throws -> SynthSummary {
        try SyntheticSigns.generate(into: directory, options: SynthOptions(
            classes: classes, clipsPerClass: clips, signers: signers, frames: frames, size: size, fps: 25, seed: seed))
    }

    /// Overwrites `path` with `count` seeded pseudo-random bytes.
    static func writeGarbage(to path: String, count: Int = 4096) throws {
        var state: UInt64 = 0x1234_5678
        let bytes = (0..<count).map { _ -> UInt8 in state = state &* 6364136223846793005 &+ 1442695040888963407; return UInt8(state >> 56) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}
