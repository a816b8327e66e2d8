// Tests: a build records how it made its frames (size, crop rule, margin, stride, fps) where h5py, the trainer and
// asl-predict read it, and shards or manifests written before it was recorded still read.
import Foundation
import Shards
import XCTest

final class PreprocessingTests: XCTestCase {
    func testShardAttributesCarryTheCropRuleAndTheManifestThePreprocessing() throws {
        let dir = try ShardFixture.directory(self)
        let writer = try ShardSetWriter(directory: dir, split: "train", shardCount: 1, classes: ShardFixture.classes,
                                        height: 6, width: 6, source: "videos", frameStride: 2, fps: 12.5,
                                        handCrop: "motion", margin: 0.2)
        try writer.append(ShardFixture.clip(0, frames: 2, height: 6, width: 6))
        let summary = try writer.finish()
        let dataset = try ShardDataset(path: dir, split: "train")
        let recorded = try XCTUnwrap(dataset.shards[0].attributes.preprocessing)
        XCTAssertEqual(recorded, Preprocessing(size: 6, handCrop: "motion", margin: 0.2, stride: 2, fps: 12.5))
        XCTAssertEqual(Preprocessing(json: recorded.json), recorded, "the weights' metadata form reads back: \(recorded.json)")
        XCTAssertTrue(recorded.json.contains("\"hand_crop\":\"motion\""), recorded.json)

        let manifest = Manifest(classes: ShardFixture.classes, splits: ["train": summary], preprocessing: recorded)
        try manifest.write(toDirectory: dir)
        XCTAssertEqual(try Manifest.read(fromDirectory: dir).preprocessing, recorded)
    }

    func testShardsAndManifestsWithoutTheRecordStillRead() throws {
        let dir = try ShardFixture.directory(self)
        _ = try ShardFixture.write([ShardFixture.clip(0, frames: 3)], to: dir, shards: 1)  // no crop rule given
        let attributes = try ShardDataset(path: dir).shards[0].attributes
        XCTAssertNil(attributes.handCrop)
        XCTAssertNil(attributes.preprocessing, "unknown rather than guessed")
        let old = #"{"format": "asl-shard", "version": 1, "classes": ["a"], "splits": {}, "build_options": {}, "skipped": []}"#
        try old.write(toFile: Manifest.path(inDirectory: dir), atomically: true, encoding: .utf8)
        XCTAssertNil(try Manifest.read(fromDirectory: dir).preprocessing)
    }

    func testBoxesAreFoundByClipIDFileNameOrVideoID() {
        let input = ClipInput(media: .video(path: "/data/book/00412.mp4", frameStart: 1, frameEnd: -1), label: 0,
                              clipID: "book/00412.mp4")
        XCTAssertEqual(input.boxKey(in: ["book/00412.mp4": [0, 0, 1, 1], "00412": [0, 0, 2, 2]]), "book/00412.mp4")
        XCTAssertEqual(input.boxKey(in: ["00412": [0, 0, 2, 2]]), "00412", "WLASL's video_id")
        XCTAssertEqual(input.boxKey(in: ["00412.mp4": [0, 0, 2, 2]]), "00412.mp4")
        XCTAssertNil(input.boxKey(in: ["00413": [0, 0, 2, 2]]))
    }
}
