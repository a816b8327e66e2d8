// Tests: `asl-shards inspect` and `asl-shards verify` as a user types them: inspect shows counts per class and split
// and length statistics; verify accepts a good directory and fails naming the first violation.
import Foundation
import Launcher
import Shards
import XCTest

final class ShardsInspectVerifyCommandTests: XCTestCase {
    private func shardDirectory() throws -> String {
        let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("asl-shards-iv-\(getpid())-\(UUID().uuidString.prefix(8))")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        var splits: [String: SplitSummary] = [:]
        for (split, lengths) in [("train", [3, 5, 1, 7]), ("val", [2, 2])] {
            let writer = try ShardSetWriter(directory: dir, split: split, shardCount: 2, classes: ["a", "b"], height: 4,
                                            width: 4, source: "test")
            for (i, f) in lengths.enumerated() {
                try writer.append(DecodedClip(frames: [UInt8](repeating: UInt8(i), count: f * 48), frameCount: f,
                                              height: 4, width: 4, label: Int32(i % 2), clipID: "\(split)-\(i)"))
            }
            splits[split] = try writer.finish()
        }
        try Manifest(classes: ["a", "b"], splits: splits).write(toDirectory: dir)
        return dir
    }

    func testInspectShowsCountsPerClassAndSplitAndLengthStatistics() throws {
        let dir = try shardDirectory()
        let text = try ShardsInspect.report(path: dir)
        XCTAssertTrue(text.contains("asl-shard v1, 2 classes, frames 4x4"), text)
        XCTAssertTrue(text.contains("frames    uint8"), text)
        // train: 4 clips, 16 frames, lengths 1 / 4.0 / 7; val: 2 clips, 4 frames.
        XCTAssertTrue(text.contains("train  2       4      16      1                4.0   7"), text)
        XCTAssertTrue(text.contains("val    2       2      4       2                2.0   2"), text)
        XCTAssertTrue(text.contains("0      a      2      1"), text)
    }

    func testVerifyPassesAGoodDirectoryAndNamesTheFirstViolation() throws {
        let dir = try shardDirectory()
        XCTAssertTrue(try ShardsVerify.check(path: dir, readFrames: true).hasPrefix("OK "))
        var command = try ShardsCommand.parseAsRoot(["verify", dir, "--read-frames"])
        try command.run()

        var manifest = try Manifest.read(fromDirectory: dir)
        manifest.splits["val"]!.classCounts = [2, 0]
        try manifest.write(toDirectory: dir)
        var broken = try ShardsCommand.parseAsRoot(["verify", dir])
        XCTAssertThrowsError(try broken.run()) { error in
            XCTAssertEqual((error as? ShardError)?.object, "splits.val.class_counts", "\(error)")
        }
        // What the user sees, and the exit status the executable turns it into.
        let message = ShardsCommand.message(for: ShardError(.invariant, path: "p", object: "offsets", "not increasing"))
        XCTAssertTrue(message.contains("[offsets]") && message.contains("not increasing"), message)
        XCTAssertNotEqual(ShardsCommand.exitCode(for: ShardError(.invariant, path: "p", "x")).rawValue, 0)
    }
}
