// Tests: what the writer stored comes back byte for byte through ShardFile, ShardDataset and ShardReader, and h5py
// (code that is not ours) reads the same bytes and attributes.
import Foundation
import Shards
import XCTest

final class ShardReaderTests: XCTestCase {
    func testEveryClipReadsBackByteForByteThroughTheGlobalIndex() throws {
        let dir = try ShardFixture.directory(self)
        let clips = (0..<9).map { ShardFixture.clip($0, frames: 1 + ($0 * 5) % 4) }
        try ShardFixture.write(clips, to: dir, shards: 3, compression: 3)
        let dataset = try ShardDataset(path: dir)
        XCTAssertEqual(dataset.count, 9)
        XCTAssertEqual(dataset.split, "train")
        XCTAssertEqual(dataset.classes, ShardFixture.classes)
        let reader = ShardReader(dataset: dataset)
        var buffer: [UInt8] = []
        var seen = Set<String>()
        for g in 0..<dataset.count {
            let n = try reader.readFrames(g, into: &buffer)
            let id = dataset.clipID(g)
            guard let original = clips.first(where: { $0.clipID == id }) else { return XCTFail("unknown clip \(id)") }
            seen.insert(id)
            XCTAssertEqual(n, original.frameCount, id)
            XCTAssertEqual(dataset.label(g), original.label, id)
            let bytes = Array(buffer.prefix(n * 6 * 5 * 3))
            let differing = zip(bytes, original.frames).filter { $0 != $1 }.count
            XCTAssertEqual(differing, 0, "\(id): \(differing) bytes differ")
            let (s, l) = dataset.locate(g)
            XCTAssertEqual(dataset.globalIndex(shard: s, local: l), g)
        }
        XCTAssertEqual(seen.count, 9, "every clip appears once")
    }

    func testReadClipRestoresMetadataAndAFrameRange() throws {
        let dir = try ShardFixture.directory(self)
        let original = ShardFixture.clip(7, frames: 5)
        let summary = try ShardFixture.write([original], to: dir, shards: 1)
        let file = ShardFile(path: (dir as NSString).appendingPathComponent(summary.shards[0]))
        let clip = try file.readClip(0)
        XCTAssertEqual(clip.frames, original.frames)
        XCTAssertEqual(clip.clipID, "clip-7-é")
        XCTAssertEqual(clip.signer, original.signer)
        XCTAssertEqual([clip.box.0, clip.box.1, clip.box.2, clip.box.3], [7, 1.5, 17, 20.25])
        let a = try file.attributes
        XCTAssertEqual(a.fps, 12.5)
        XCTAssertEqual(a.frameStride, 2)
        XCTAssertEqual(a.source, "synthetic")
        var buffer: [UInt8] = []
        XCTAssertEqual(try file.readFrames(0, frames: 2..<4, into: &buffer), 2)
        let frameBytes = 6 * 5 * 3
        XCTAssertEqual(Array(buffer.prefix(2 * frameBytes)), Array(original.frames[(2 * frameBytes)..<(4 * frameBytes)]))
        XCTAssertThrowsError(try file.readFrames(0, frames: 4..<6, into: &buffer))
    }

    func testH5pyReadsTheSameFramesAndAttributes() throws {
        guard let (probe, probeStatus) = try ShardFixture.run("python3", ["-c", "import h5py"]), probeStatus == 0,
              probe.isEmpty else {
            print("python3 with h5py is not available; skipping the h5py cross-check")
            return
        }
        let dir = try ShardFixture.directory(self)
        let clips = [ShardFixture.clip(1, frames: 3), ShardFixture.clip(2, frames: 1)]
        let summary = try ShardFixture.write(clips, to: dir, shards: 1, compression: 2)
        let path = (dir as NSString).appendingPathComponent(summary.shards[0])
        let script = """
            import h5py, hashlib, sys
            f = h5py.File(sys.argv[1], "r")
            o = f["offsets"][:]
            print(f.attrs["format"], int(f.attrs["version"]), list(f.attrs["classes"]), f.attrs["split"],
                  int(f.attrs["height"]), int(f.attrs["width"]), float(f.attrs["fps"]))
            print(list(o), list(f["labels"][:]), [s.decode() for s in f["clip_ids"][:]], list(f["signers"][:]))
            print(hashlib.sha256(f["frames"][o[0]:o[1]].tobytes()).hexdigest())
            """
        guard let (out, status) = try ShardFixture.run("python3", ["-c", script, path]) else { return }
        XCTAssertEqual(status, 0, out)
        let lines = out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, out)
        XCTAssertEqual(lines.first, "asl-shard 1 ['hello', 'thanks', 'yes'] train 6 5 12.5")
        XCTAssertEqual(lines.dropFirst().first, "[0, 3, 4] [1, 2] ['clip-1-é', 'clip-2-é'] [0, 1]")
        if let (digest, _) = try ShardFixture.run("python3", ["-c",
            "import hashlib,sys; print(hashlib.sha256(bytes(int(b) for b in sys.argv[1].split(','))).hexdigest())",
            clips[0].frames.map(String.init).joined(separator: ",")]) {
            XCTAssertEqual(lines.last, digest.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    func testADirectoryWithSeveralSplitsNeedsTheSplitNamed() throws {
        let dir = try ShardFixture.directory(self)
        try ShardFixture.write([ShardFixture.clip(0, frames: 2)], to: dir, split: "train", shards: 1)
        try ShardFixture.write([ShardFixture.clip(1, frames: 2), ShardFixture.clip(2, frames: 1)], to: dir, split: "val",
                               shards: 2)
        XCTAssertThrowsError(try ShardDataset(path: dir)) { XCTAssertEqual(($0 as? ShardError)?.kind, .usage) }
        XCTAssertEqual(try ShardDataset(path: dir, split: "val").count, 2)
        XCTAssertEqual(try ShardDataset.splits(inDirectory: dir), ["train", "val"])
    }
    func testMoreShardsThanClipsLeavesEmptyShardsThatVerifyAndIndexCorrectly() throws {
        let dir = try ShardFixture.directory(self)
        let clips = [ShardFixture.clip(0, frames: 2), ShardFixture.clip(1, frames: 3)]
        try ShardFixture.write(clips, to: dir, shards: 4)
        let report = try ShardVerifier.verify(path: dir, readFrames: true)
        XCTAssertEqual(report.framesRead, 5)
        let dataset = try ShardDataset(path: dir)
        XCTAssertEqual(dataset.shards.map { $0.clipCount }, [1, 1, 0, 0])
        XCTAssertEqual((0..<2).map { dataset.clipID($0) }, ["clip-0-é", "clip-1-é"])
    }
    func testCompressedShardsReadEveryFrameRangeAcrossChunkBoundaries() throws {
        let dir = try ShardFixture.directory(self)
        // Lengths that put clip starts at every position within the 4-frame chunks.
        let clips = [3, 6, 1, 9, 2, 5].enumerated().map { ShardFixture.clip($0.offset, frames: $0.element) }
        let summary = try ShardFixture.write(clips, to: dir, shards: 1, compression: 6)
        let file = ShardFile(path: (dir as NSString).appendingPathComponent(summary.shards[0]))
        XCTAssertEqual(try file.schema().first { $0.name == "frames" }?.deflate, 6)
        let frameBytes = 6 * 5 * 3
        var buffer: [UInt8] = []
        var checked = 0
        for (i, clip) in clips.enumerated() {
            for lo in 0..<clip.frameCount {
                for hi in (lo + 1)...clip.frameCount {
                    let n = try file.readFrames(i, frames: lo..<hi, into: &buffer)
                    let expected = Array(clip.frames[(lo * frameBytes)..<(hi * frameBytes)])
                    let differing = zip(buffer.prefix(n * frameBytes), expected).filter { $0 != $1 }.count
                    XCTAssertEqual(n, hi - lo)
                    XCTAssertEqual(differing, 0, "clip \(i) frames \(lo)..<\(hi): \(differing) bytes differ")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, [3, 6, 1, 9, 2, 5].map { $0 * ($0 + 1) / 2 }.reduce(0, +))
    }
}
