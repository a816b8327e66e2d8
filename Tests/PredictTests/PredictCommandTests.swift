// Tests: asl-predict as a user runs it — a video gets the same answer as the shard built from it, the JSON and CSV
// outputs say what they should, and weights without metadata work once --arch is given.
import Foundation
import Launcher
import NN
import Shards
import Support
import XCTest

final class PredictCommandTests: XCTestCase {
    /// Synthetic videos arranged as `root/<class>/<video>.mp4`, and the shards `asl-shards build videos` makes of
    /// them with a motion crop at 32×32.
    private func videosAndShards(in dir: String) throws -> (root: String, shards: String, classes: [String]) {
        var synth = try ShardsCommand.parseAsRoot(["synth", "--out", dir + "/synth", "--classes", "2", "--clips-per-class", "2",
                                                   "--frames", "6", "--size", "48", "--seed", "5"])
        try synth.run()
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/synth/WLASL_synth.json")))
        let entries = try XCTUnwrap(json as? [[String: Any]])
        let root = dir + "/videos"
        for entry in entries {
            let gloss = try XCTUnwrap(entry["gloss"] as? String)
            try FileManager.default.createDirectory(atPath: root + "/" + gloss, withIntermediateDirectories: true)
            for instance in try XCTUnwrap(entry["instances"] as? [[String: Any]]) {
                let id = try XCTUnwrap(instance["video_id"] as? String)
                try FileManager.default.copyItem(atPath: dir + "/synth/videos/\(id).mp4", toPath: root + "/\(gloss)/\(id).mp4")
            }
        }
        var build = try ShardsCommand.parseAsRoot(["build", "videos", "--root", root, "--out", dir + "/shards", "--size", "32",
                                                   "--hand-crop", "motion", "--shards", "1"])
        try build.run()
        return (root, dir + "/shards", try FileManager.default.contentsOfDirectory(atPath: root).sorted())
    }

    func testVideoGetsTheSameLogitsAsTheShardBuiltFromIt() throws {
        let dir = try makeTemporaryDirectory(self, "video-shard")
        let (root, shards, classes) = try videosAndShards(in: dir)
        let model = try makeRandomModel(arch: "r2plus1d_18", classes: 2, width: 4, seed: 11)
        let meta = ModelMetadata(arch: "r2plus1d_18", classes: classes, frames: 4, crop: 24,
                                 mean: Normalization.kinetics400.mean, std: Normalization.kinetics400.std,
                                 width: 4, temporalStride: 2).asStrings
        let weights = dir + "/model.safetensors"
        try model.store.save(to: weights, metadata: meta)

        // Two windows at stride 2 exercise the multi-clip averaging on both paths.
        let common = ["--weights", weights, "--clips", "2", "--frame-stride", "2"]
        let fromShards = try runPredict(common + ["--input", shards, "--logits-out", dir + "/shards.csv", "--output", dir + "/shards.json"])
        XCTAssertEqual(fromShards.status, 0, fromShards.stderr)
        let shardLogits = try readLogitsCSV(dir + "/shards.csv")
        XCTAssertEqual(shardLogits.count, 4, "every clip of every split")
        var compared = 0
        var worst: Float = 0
        for gloss in classes {
            let csv = dir + "/\(gloss).csv"
            let fromVideos = try runPredict(common + ["--input", root + "/" + gloss, "--size", "32", "--hand-crop", "motion",
                                                      "--logits-out", csv])
            XCTAssertEqual(fromVideos.status, 0, fromVideos.stderr)
            for (id, logits) in try readLogitsCSV(csv) {
                let shardLogit = try XCTUnwrap(shardLogits["\(gloss)/\(id)"], "shard clip \(gloss)/\(id) in \(shardLogits.keys.sorted())")
                worst = max(worst, maxAbsDifference(logits, shardLogit))
                compared += 1
            }
        }
        XCTAssertEqual(compared, 4)
        // The same decode, crop and resize on both paths: only float summation order could differ, and it does not.
        XCTAssertLessThanOrEqual(worst, 1e-6, "max |video logit - shard logit| = \(worst)")

        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/shards.json"))) as? [String: Any]
        XCTAssertEqual(report?["classes"] as? [String], classes)
        let predictions = try XCTUnwrap(report?["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.count, 4)
        for p in predictions {
            let id = try XCTUnwrap(p["id"] as? String)
            let top = try XCTUnwrap(p["top_k"] as? [[String: Any]])
            XCTAssertEqual(top.count, 2, "top-5 of a 2-class model lists both classes")
            let probabilities = top.compactMap { $0["probability"] as? Double }
            XCTAssertEqual(probabilities, probabilities.sorted(by: >), "most probable first")
            XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-5)
            XCTAssertEqual(Set(top.compactMap { $0["class"] as? String }), Set(classes))
            XCTAssertEqual(p["label"] as? String, String(id.split(separator: "/")[0]), "the shard's true class")
        }
        XCTAssertTrue(fromShards.stdout.contains("top-1"), "accuracy line for shards whose classes match: \(fromShards.stdout)")
    }

    func testWeightsWithoutMetadataNeedArchAndNameClassesAfterTheHead() throws {
        let dir = try makeTemporaryDirectory(self, "no-metadata")
        let model = try makeRandomModel(arch: "r2plus1d_18", classes: 3, width: 4, seed: 3)
        let weights = dir + "/bare.safetensors"
        try model.store.save(to: weights)
        let input = Tensor(shape: [2, 3, 4, 24, 24])
        var rng = SeededRandom(keys: 7)
        for i in 0..<input.count { input.data[i] = Float(rng.nextGaussian()) }
        try writeInputTensor(input, to: dir + "/input.safetensors")
        let reference = try model.forward(input, training: false).array

        let noArch = try runPredict(["--weights", weights, "--input", dir + "/input.safetensors"])
        XCTAssertTrue(noArch.exited && noArch.status != 0, "status \(noArch.status)")
        XCTAssertTrue(noArch.stderr.contains("--arch r2plus1d_18"), "suggests the arch its keys match: \(noArch.stderr)")

        let ok = try runPredict(["--weights", weights, "--arch", "r2plus1d_18", "--input", dir + "/input.safetensors",
                                 "--logits-out", dir + "/l.csv", "--output", dir + "/p.json", "--top-k", "1"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let logits = try readLogitsCSV(dir + "/l.csv")
        // Width 4 was inferred from stem.3.weight: a wrong width would have failed the strict load.
        let got = try (0..<2).flatMap { try XCTUnwrap(logits["input.safetensors#\($0)"]) }
        let diff = maxAbsDifference(got, reference)
        XCTAssertLessThanOrEqual(diff, 1e-6, "asl-predict vs in-process forward, max diff \(diff)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/p.json"))) as? [String: Any]
        XCTAssertEqual(report?["classes"] as? [String], ["class_0", "class_1", "class_2"])
        let first = (report?["predictions"] as? [[String: Any]])?.first?["top_k"] as? [[String: Any]]
        XCTAssertEqual(first?.count, 1)

        let named = try runPredict(["--weights", weights, "--arch", "r2plus1d_18", "--classes", "a,b,c",
                                    "--input", dir + "/input.safetensors", "--output", dir + "/named.json"])
        XCTAssertEqual(named.status, 0, named.stderr)
        let namedReport = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/named.json"))) as? [String: Any]
        XCTAssertEqual(namedReport?["classes"] as? [String], ["a", "b", "c"])

        let tooFew = try runPredict(["--weights", weights, "--arch", "r2plus1d_18", "--classes", "a,b",
                                     "--input", dir + "/input.safetensors"])
        XCTAssertTrue(tooFew.exited && tooFew.status != 0)
        XCTAssertTrue(tooFew.stderr.contains("2 class names but fc.weight has 3 rows"), tooFew.stderr)
    }
}
