// Tests: the shard writer produces files in format v1 that tools without our code (h5dump) read as documented,
// balances shards, and leaves nothing that looks complete when a build is abandoned.
import Foundation
import Shards
import XCTest

final class ShardWriterTests: XCTestCase {
    func testH5dumpShowsTheDocumentedDatasetsTypesAndAttributes() throws {
        let dir = try ShardFixture.directory(self)
        let clips = (0..<5).map { ShardFixture.clip($0, frames: 1 + $0 % 3) }
        let summary = try ShardFixture.write(clips, to: dir, shards: 2, compression: 4)
        let path = (dir as NSString).appendingPathComponent(summary.shards[0])
        guard let (header, status) = try ShardFixture.run("h5dump", ["-H", path]) else {
            print("h5dump is not installed; skipping the h5dump check")
            return
        }
        XCTAssertEqual(status, 0, header)
        func section(_ name: String) -> String {
            guard let start = header.range(of: "DATASET \"\(name)\"") ?? header.range(of: "ATTRIBUTE \"\(name)\"")
            else { return "" }
            return String(header[start.lowerBound...].prefix(400))
        }
        let frames = section("frames")
        XCTAssertTrue(frames.contains("H5T_STD_U8LE"), frames)
        XCTAssertTrue(frames.contains(", 6, 5, 3 ) / ( H5S_UNLIMITED, 6, 5, 3 )"), frames)
        XCTAssertTrue(section("offsets").contains("H5T_STD_I64LE"), section("offsets"))
        XCTAssertTrue(section("labels").contains("H5T_STD_I32LE"), section("labels"))
        XCTAssertTrue(section("signers").contains("H5T_STD_I32LE"), section("signers"))
        XCTAssertTrue(section("boxes").contains("H5T_IEEE_F32LE"), section("boxes"))
        XCTAssertTrue(section("boxes").contains(", 4 ) / ( H5S_UNLIMITED, 4 )"), section("boxes"))
        for name in ["clip_ids", "classes", "format", "split", "source"] {
            let s = section(name)
            XCTAssertTrue(s.contains("STRSIZE H5T_VARIABLE") && s.contains("CSET H5T_CSET_UTF8"), "\(name): \(s)")
        }
        XCTAssertTrue(section("classes").contains("DATASPACE  SIMPLE { ( 3 ) / ( 3 ) }"), section("classes"))
        for name in ["version", "height", "width", "shard_index", "shard_count", "frame_stride"] {
            XCTAssertTrue(section(name).contains("H5T_STD_I64LE"), "\(name): \(section(name))")
        }
        XCTAssertTrue(section("fps").contains("H5T_IEEE_F64LE"), section("fps"))
        // The attribute values themselves.
        if let (values, _) = try ShardFixture.run("h5dump", ["-a", "/format", "-a", "/version", path]) {
            XCTAssertTrue(values.contains("\"asl-shard\""), values)
            XCTAssertTrue(values.contains("(0): 1"), values)
        }
    }

    func testClipsAreBalancedByFrameCountAndCountedPerClass() throws {
        let dir = try ShardFixture.directory(self)
        let lengths = [9, 1, 1, 1, 4, 2, 2]
        let clips = lengths.enumerated().map { ShardFixture.clip($0.offset, frames: $0.element) }
        let summary = try ShardFixture.write(clips, to: dir, shards: 3)
        XCTAssertEqual(summary.clips, 7)
        XCTAssertEqual(summary.frames, lengths.reduce(0, +))
        XCTAssertEqual(summary.classCounts, [3, 2, 2])
        XCTAssertEqual(summary.shards, ["train-00000-of-00003.h5", "train-00001-of-00003.h5", "train-00002-of-00003.h5"])
        // Greedy least-loaded: 9→s0, 1→s1, 1→s2, 1→s1, 4→s2, 2→s1, 2→s1 gives frames 9 / 6 / 5.
        XCTAssertEqual(try ShardDataset(path: dir).shards.map { $0.totalFrames }, [9, 6, 5])
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(files, summary.shards, "no temporary files are left behind")
    }

    func testAbandonedWriterLeavesNoShardFile() throws {
        let dir = try ShardFixture.directory(self)
        do {
            let writer = try ShardSetWriter(directory: dir, split: "train", shardCount: 2, classes: ShardFixture.classes,
                                            height: 6, width: 5, source: "synthetic")
            try writer.append(ShardFixture.clip(0, frames: 2))
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".h5") }, [],
                           "in-progress shards must not carry the final name")
            writer.abandon()
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    func testAppendRejectsAClipOfAnotherSizeNamingIt() throws {
        let dir = try ShardFixture.directory(self)
        let writer = try ShardSetWriter(directory: dir, split: "val", shardCount: 1, classes: ShardFixture.classes,
                                        height: 6, width: 5, source: "synthetic")
        XCTAssertThrowsError(try writer.append(ShardFixture.clip(3, frames: 2, height: 7))) { error in
            let e = error as? ShardError
            XCTAssertEqual(e?.kind, .usage)
            XCTAssertTrue("\(error)".contains("clip-3"), "\(error)")
        }
    }

    func testManifestRoundTripsThroughJSON() throws {
        let dir = try ShardFixture.directory(self)
        let summary = try ShardFixture.write([ShardFixture.clip(0, frames: 3)], to: dir, shards: 1)
        let manifest = Manifest(classes: ShardFixture.classes, splits: ["train": summary],
                                buildOptions: ["size": "6x5"], skipped: [.init(input: "a.mp4", reason: "no hands")])
        try manifest.write(toDirectory: dir)
        XCTAssertEqual(try Manifest.read(fromDirectory: dir), manifest)
        let text = try String(contentsOfFile: Manifest.path(inDirectory: dir), encoding: .utf8)
        XCTAssertTrue(text.contains("\"class_counts\"") && text.contains("\"build_options\""), text)
    }
}
