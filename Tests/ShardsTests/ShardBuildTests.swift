// Tests: building shards from sources — skipped inputs with reasons, errors before any work, reproducible splits,
// worker-independent output, the synthetic data set, and synth → build wlasl end to end.
import Foundation
import Shards
import XCTest

final class ShardBuildTests: XCTestCase {
    func options(_ out: String, size: Int = 16, shards: Int = 2, workers: Int = 2, crop: HandCropMode = .bbox) -> ShardBuildOptions {
        ShardBuildOptions(out: out, clip: ClipOptions(size: size, stride: 1, handCrop: crop), shards: shards,
                          workers: workers, source: "test")
    }

    func testSynthThenBuildWLASLGivesTheExpectedCountsPerSplitAndClass() throws {
        let dir = try ShardFixture.directory(self)
        let synth = try MediaFixture.synth(in: dir + "/synth", classes: 3, clips: 6, frames: 6)
        XCTAssertEqual(synth.clips, 18)
        let plan = try DataSources.wlasl(json: synth.jsonPath, videos: synth.videosDirectory, topK: nil, glosses: nil)
        let manifest = try ShardBuilder.build(plan: plan, options: options(dir + "/shards"))
        XCTAssertEqual(manifest.classes, ["book", "drink", "computer"])
        XCTAssertEqual(manifest.skipped, [])
        // Clip j of each class: j % 6 == 4 -> val, 5 -> test, others train.
        XCTAssertEqual(manifest.splits["train"]?.classCounts, [4, 4, 4])
        XCTAssertEqual(manifest.splits["val"]?.classCounts, [1, 1, 1])
        XCTAssertEqual(manifest.splits["test"]?.classCounts, [1, 1, 1])
        XCTAssertEqual(manifest.splits["train"]?.frames, 12 * 6, "frame_start..frame_end keeps the 6 signed frames")
        for split in manifest.splits.values {
            for shard in split.shards { XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/shards/" + shard), shard) }
        }
        XCTAssertEqual(try Manifest.read(fromDirectory: dir + "/shards"), manifest)

        // The shards pass the format verifier (frames read back), and each stored clip is the one decoded from its
        // video: same label, signer, crop box and bytes.
        let report = try ShardVerifier.verify(path: dir + "/shards", readFrames: true)
        XCTAssertEqual(report.framesRead, 18 * 6)
        let inputs = Dictionary(uniqueKeysWithValues: plan.inputs.map { ($0.clipID, $0) })
        for name in manifest.splits["val"]!.shards {
            let file = ShardFile(path: dir + "/shards/" + name)
            defer { file.close() }
            for i in 0..<(try file.metadata().clipCount) {
                let stored = try file.readClip(i)
                let input = try XCTUnwrap(inputs[stored.clipID])
                let fresh = try ClipReader.read(input, options: ClipOptions(size: 16, handCrop: .bbox))
                XCTAssertEqual(stored.label, input.label); XCTAssertEqual(stored.signer, input.signer)
                XCTAssertEqual(input.split, .val)
                XCTAssertEqual(stored.frames, fresh.frames, stored.clipID)
                XCTAssertTrue(stored.box == fresh.box, "\(stored.box) vs \(fresh.box)")
            }
        }
    }

    func testCorruptTruncatedAndMissingVideosAreSkippedWithReasonsWhileTheRestBuilds() throws {
        let dir = try ShardFixture.directory(self)
        let synth = try MediaFixture.synth(in: dir + "/synth", classes: 2, clips: 6, frames: 5)
        let v = synth.videosDirectory
        try MediaFixture.writeGarbage(to: v + "/00001.mp4")
        let whole = try Data(contentsOf: URL(fileURLWithPath: v + "/00002.mp4"))
        try whole.prefix(whole.count / 4).write(to: URL(fileURLWithPath: v + "/00002.mp4"))
        try FileManager.default.removeItem(atPath: v + "/00007.mp4")
        // Another extension is found too (FFmpeg probes the content, not the name).
        try FileManager.default.moveItem(atPath: v + "/00003.mp4", toPath: v + "/00003.video")
        let plan = try DataSources.wlasl(json: synth.jsonPath, videos: v, topK: nil, glosses: nil)
        XCTAssertEqual(plan.inputs.count, 11)
        XCTAssertTrue(plan.inputs.contains { $0.inputPath.hasSuffix("00003.video") })
        let manifest = try ShardBuilder.build(plan: plan, options: options(dir + "/shards"))
        let total = manifest.splits.values.reduce(0) { $0 + $1.clips }
        XCTAssertEqual(total, 9, "12 clips minus 3 bad ones")
        XCTAssertEqual(manifest.skipped.count, 3, "\(manifest.skipped)")
        let byName = Dictionary(uniqueKeysWithValues: manifest.skipped.map { (($0.input as NSString).lastPathComponent, $0.reason) })
        XCTAssertTrue(byName["00007.mp4"]?.contains("not found") == true, "\(byName)")
        XCTAssertNotNil(byName["00001.mp4"]); XCTAssertNotNil(byName["00002.mp4"])
        XCTAssertTrue(byName.values.allSatisfy { !$0.isEmpty })
    }

    func testBadJSONUnknownGlossAndEmptyClassAreErrorsNamingTheProblem() throws {
        let dir = try ShardFixture.directory(self)
        let synth = try MediaFixture.synth(in: dir + "/synth", classes: 2, clips: 1, frames: 3)
        let bad = dir + "/bad.json"
        try Data("[{\"gloss\": \"book\", \"instances\": [{\"frame_start\": 1}]}]".utf8).write(to: URL(fileURLWithPath: bad))
        XCTAssertThrowsError(try DataSources.wlasl(json: bad, videos: synth.videosDirectory, topK: nil, glosses: nil)) {
            XCTAssertTrue("\($0)".contains("video_id"), "\($0)")
        }
        XCTAssertThrowsError(try DataSources.wlasl(json: synth.jsonPath, videos: synth.videosDirectory, topK: nil,
                                                   glosses: ["book", "nope"])) { XCTAssertTrue("\($0)".contains("nope"), "\($0)") }
        XCTAssertThrowsError(try DataSources.wlasl(json: synth.jsonPath, videos: synth.videosDirectory, topK: 3, glosses: nil))
        let empty = dir + "/empty.json"
        try Data("[{\"gloss\": \"book\", \"instances\": []}]".utf8).write(to: URL(fileURLWithPath: empty))
        XCTAssertThrowsError(try DataSources.wlasl(json: empty, videos: synth.videosDirectory, topK: nil, glosses: nil)) {
            XCTAssertTrue("\($0)".contains("no instances"), "\($0)")
        }
        try FileManager.default.createDirectory(atPath: dir + "/folders/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/folders/b", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: synth.videosDirectory + "/00000.mp4", toPath: dir + "/folders/a/x.mp4")
        XCTAssertThrowsError(try DataSources.videos(root: dir + "/folders")) { XCTAssertTrue("\($0)".contains("\"b\""), "\($0)") }
    }

    func testSplitsAreReproducibleFromTheSeedAndSplitBySignerKeepsSignersDisjoint() throws {
        let inputs = (0..<100).map { i in
            ClipInput(media: .video(path: "/v/\(i).mp4", frameStart: 1, frameEnd: -1), label: Int32(i % 5),
                      clipID: "\(i)", signer: Int32(i % 10))
        }
        func splits(_ seed: UInt64, _ bySigner: Bool) throws -> [Split] {
            try SplitPlanner.assign(inputs, valFraction: 0.2, testFraction: 0.2, seed: seed, bySigner: bySigner).map { $0.split! }
        }
        XCTAssertEqual(try splits(3, false), try splits(3, false))
        XCTAssertNotEqual(try splits(3, false), try splits(4, false))
        let perClip = try splits(3, false)
        XCTAssertEqual(perClip.filter { $0 == .test }.count, 20); XCTAssertEqual(perClip.filter { $0 == .val }.count, 20)

        let bySigner = try splits(3, true)
        XCTAssertEqual(bySigner, try splits(3, true))
        var splitsOfSigner: [Int32: Set<Split>] = [:]
        for (input, split) in zip(inputs, bySigner) { splitsOfSigner[input.signer, default: []].insert(split) }
        XCTAssertTrue(splitsOfSigner.values.allSatisfy { $0.count == 1 }, "a signer in two splits: \(splitsOfSigner)")
        XCTAssertEqual(Set(bySigner), [.train, .val, .test])

        let unknown = inputs.map { var x = $0; x.signer = -1; return x }
        XCTAssertThrowsError(try SplitPlanner.assign(unknown, valFraction: 0.2, testFraction: 0.2, seed: 0, bySigner: true))
        // Splits a source gives are kept.
        let given = inputs.map { var x = $0; x.split = .val; return x }
        XCTAssertTrue(try SplitPlanner.assign(given, valFraction: 0.2, testFraction: 0.2, seed: 0, bySigner: false).allSatisfy { $0.split == .val })
    }

    func testClipsArriveInInputOrderWithTheSameBytesForAnyWorkerCount() throws {
        let dir = try ShardFixture.directory(self)
        let synth = try MediaFixture.synth(in: dir + "/synth", classes: 2, clips: 4, frames: 4)
        let plan = try DataSources.wlasl(json: synth.jsonPath, videos: synth.videosDirectory, topK: nil, glosses: nil)
        func run(_ workers: Int) throws -> [(Int, String, [UInt8])] {
            var out: [(Int, String, [UInt8])] = []
            try ClipPipeline.run(plan.inputs, options: ClipOptions(size: 12, handCrop: .motion), workers: workers) { i, r in
                let clip = try r.get()
                out.append((i, clip.clipID, clip.frames))
            }
            return out
        }
        let one = try run(1), three = try run(3)
        XCTAssertEqual(one.map(\.0), Array(0..<8))
        XCTAssertEqual(one.map(\.0), three.map(\.0)); XCTAssertEqual(one.map(\.1), three.map(\.1))
        XCTAssertTrue(zip(one, three).allSatisfy { $0.2 == $1.2 }, "frames differ between 1 and 3 workers")
    }

    func testAThrowingDeliveryStopsThePipelineWithoutDeliveringMore() throws {
        let dir = try ShardFixture.directory(self)
        let synth = try MediaFixture.synth(in: dir + "/synth", classes: 2, clips: 5, frames: 3)
        let plan = try DataSources.wlasl(json: synth.jsonPath, videos: synth.videosDirectory, topK: nil, glosses: nil)
        struct Stop: Error {}
        var seen: [Int] = []
        XCTAssertThrowsError(try ClipPipeline.run(plan.inputs, options: ClipOptions(size: 8), workers: 3) { i, _ in
            seen.append(i)
            if i == 2 { throw Stop() }
        }) { XCTAssertTrue($0 is Stop, "\($0)") }
        XCTAssertEqual(seen, [0, 1, 2])
    }

    func testSynthVideosDecodeToTheirFrameRangesAndTheirBoxesHoldTheMotion() throws {
        let dir = try ShardFixture.directory(self)
        let frames = 8
        // 64 pixels: at 32 a hand is a few pixels wide and the motion box's speckle filter may remove it.
        let synth = try MediaFixture.synth(in: dir + "/synth", classes: 4, clips: 2, frames: frames, size: 64)
        let entries = try JSONDecoder().decode([WLASLEntry].self, from: Data(contentsOf: URL(fileURLWithPath: synth.jsonPath)))
        XCTAssertEqual(entries.map(\.gloss), synth.glosses)
        XCTAssertEqual(Set(entries.flatMap { $0.instances.map(\.video_id) }).count, 8, "video ids are unique")
        for entry in entries {
            for inst in entry.instances {
                let path = synth.videosDirectory + "/\(inst.video_id).mp4"
                var motion: MotionAccumulator?
                let info = try VideoDecoder.decode(path: path, selection: FrameSelection(start: inst.frame_start!, end: inst.frame_end!)) { rgb, w, h, _ in
                    if motion == nil { motion = MotionAccumulator(width: w, height: h) }
                    try motion!.add(rgb)
                }
                XCTAssertEqual(info.keptFrames, frames)
                XCTAssertEqual(info.decodedFrames, inst.frame_end!, "frame_end lies inside the video")
                XCTAssertEqual(inst.frame_end! - inst.frame_start! + 1, frames)
                let bbox = try XCTUnwrap(inst.bbox)
                let moved = try XCTUnwrap(try motion?.box(), "\(entry.gloss)/\(inst.video_id): nothing moves")
                // The motion box lies inside the labelled box, give or take the closing's growth and codec noise.
                let slack = 4.0
                XCTAssertTrue(moved.0 >= bbox[0] - slack && moved.1 >= bbox[1] - slack && moved.2 <= bbox[2] + slack
                              && moved.3 <= bbox[3] + slack, "\(inst.video_id): motion \(moved) outside bbox \(bbox)")
            }
        }
        // Same seed, same bytes.
        let again = try MediaFixture.synth(in: dir + "/again", classes: 4, clips: 2, frames: frames, size: 64)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: again.videosDirectory + "/00005.mp4")),
                       try Data(contentsOf: URL(fileURLWithPath: synth.videosDirectory + "/00005.mp4")))
    }

    func testImageAndFrameFoldersBuildWithSplitsAndOneFrameStills() throws {
        let dir = try ShardFixture.directory(self)
        let square = [UInt8](repeating: 90, count: 20 * 20 * 3)
        // Kaggle layout: root/asl_alphabet_train/asl_alphabet_train/<class>/*.bmp
        let kaggle = dir + "/asl_alphabet_train"
        for c in ["A", "B"] {
            try FileManager.default.createDirectory(atPath: kaggle + "/asl_alphabet_train/\(c)", withIntermediateDirectories: true)
            for i in 0..<5 { try MediaFixture.writeBMP(square, width: 20, height: 20, to: kaggle + "/asl_alphabet_train/\(c)/\(c)\(i).bmp") }
        }
        let images = try DataSources.images(root: kaggle)
        XCTAssertEqual(images.classes, ["A", "B"]); XCTAssertEqual(images.inputs.count, 10)
        let assigned = SourcePlan(classes: images.classes, inputs: try SplitPlanner.assign(images.inputs, valFraction: 0.2,
                                  testFraction: 0.2, seed: 1, bySigner: false))
        let m1 = try ShardBuilder.build(plan: assigned, options: options(dir + "/img-shards"))
        XCTAssertEqual(m1.splits.values.reduce(0) { $0 + $1.clips }, 10)
        XCTAssertEqual(m1.splits.values.reduce(0) { $0 + $1.frames }, 10, "a still image is a one-frame clip")

        for (split, clips) in [("train", 2), ("test", 1)] {
            for c in ["hello", "yes"] {
                for k in 0..<clips {
                    let clipDir = dir + "/frames/\(split)/\(c)/clip\(k)"
                    try FileManager.default.createDirectory(atPath: clipDir, withIntermediateDirectories: true)
                    for f in 0..<5 { try MediaFixture.writeBMP(square, width: 20, height: 20, to: clipDir + String(format: "/frame_%03d.bmp", f)) }
                }
            }
        }
        let framesPlan = try DataSources.frames(root: dir + "/frames")
        let carved = try SplitPlanner.carveValidation(framesPlan.inputs, fraction: 0.5, seed: 2)
        XCTAssertEqual(carved.filter { $0.split == .val }.map(\.label), [0, 1], "half of each class's 2 train clips")
        XCTAssertEqual(carved.filter { $0.split == .test }, framesPlan.inputs.filter { $0.split == .test }, "test untouched")
        var opts = options(dir + "/frame-shards")
        opts.clip.stride = 2
        let m2 = try ShardBuilder.build(plan: framesPlan, options: opts)
        XCTAssertEqual(m2.splits["train"]?.classCounts, [2, 2]); XCTAssertEqual(m2.splits["test"]?.classCounts, [1, 1])
        XCTAssertEqual(m2.splits["train"]?.frames, 4 * 3, "frames 1, 3, 5 of each clip at stride 2")
    }

    func testRebuildReplacesThePreviousBuildAndForeignDirectoriesAreRefused() throws {
        let dir = try ShardFixture.directory(self)
        let synth = try MediaFixture.synth(in: dir + "/synth", classes: 2, clips: 6, frames: 3)
        let plan = try DataSources.wlasl(json: synth.jsonPath, videos: synth.videosDirectory, topK: nil, glosses: nil)
        _ = try ShardBuilder.build(plan: plan, options: options(dir + "/shards", shards: 3))
        let second = try ShardBuilder.build(plan: plan, options: options(dir + "/shards", shards: 1))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/shards").sorted()
        XCTAssertEqual(files, (["manifest.json"] + second.splits.values.flatMap(\.shards)).sorted())
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.contains(".tmp-") || $0.contains(".old-") })

        try FileManager.default.createDirectory(atPath: dir + "/mine", withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: dir + "/mine/notes.txt"))
        XCTAssertThrowsError(try ShardBuilder.build(plan: plan, options: options(dir + "/mine")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/mine/notes.txt"))
    }
}
