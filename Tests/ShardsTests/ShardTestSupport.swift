// Tests: synthetic clips and temporary shard directories shared by the shard tests.
import Foundation
import Shards
import XCTest

enum ShardFixture {
    static let classes = ["hello", "thanks", "yes"]

    /// A clip whose every byte is a function of (clip, frame, y, x, channel), so misplaced bytes are visible.
    static func clip(_ n: Int, frames: Int, height: Int = 6, width: Int = 5, label: Int32? = nil) -> DecodedClip {
        var bytes = [UInt8](repeating: 0, count: frames * height * width * 3)
        var i = 0
        for f in 0..<frames {
            for y in 0..<height {
                for x in 0..<width {
                    for c in 0..<3 {
                        bytes[i] = UInt8(truncatingIfNeeded: n &* 37 &+ f &* 11 &+ y &* 7 &+ x &* 3 &+ c)
                        i += 1
                    }
                }
            }
        }
        return DecodedClip(frames: bytes, frameCount: frames, height: height, width: width,
                           label: label ?? Int32(n % classes.count), clipID: "clip-\(n)-é", signer: Int32(n % 4) - 1,
                           box: (Float(n), 1.5, Float(n) + 10, 20.25))
    }

    /// A fresh empty directory under the system's temporary directory, removed at the end of the test.
    static func directory(_ test: XCTestCase) throws -> String {
        let path = (NSTemporaryDirectory() as NSString)
            .appendingPathComponent("asl-shards-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// Writes `clips` as one split and returns its summary.
    @discardableResult
    static func write(_ clips: [DecodedClip], to directory: String, split: String = "train", shards: Int = 2,
                      height: Int = 6, width: Int = 5, compression: Int = 0) throws -> SplitSummary {
        let writer = try ShardSetWriter(directory: directory, split: split, shardCount: shards, classes: classes,
                                        height: height, width: width, source: "synthetic", frameStride: 2,
                                        fps: 12.5, compression: compression)
        for clip in clips { try writer.append(clip) }
        return try writer.finish()
    }

    /// Runs a program and returns its standard output and exit status; nil when the program is not installed.
    static func run(_ program: String, _ arguments: [String]) throws -> (output: String, status: Int32)? {
        let candidates = ["/usr/bin/\(program)", "/usr/local/bin/\(program)", "/bin/\(program)"]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return nil
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: data, as: UTF8.self), process.terminationStatus)
    }
}
