// Tests: the Predictor API the command is built on — multi-clip testing averages what each window alone would give,
// and the resolved spec follows flags over metadata over tensor shapes.
import Foundation
import Inference
import Launcher
import NN
import Shards
import Support
import XCTest

final class PredictorTests: XCTestCase {
    func testMultiClipLogitsAreTheMeanOfEachWindowAlone() throws {
        let dir = try makeTemporaryDirectory(self, "predictor")
        let model = try makeRandomModel(arch: "r2plus1d_18", classes: 3, width: 4, seed: 8)
        let meta = ModelMetadata(arch: "r2plus1d_18", classes: ["x", "y", "z"], frames: 4, crop: 20, mean: [0.45, 0.45, 0.45],
                                 std: [0.225, 0.225, 0.225], width: 4).asStrings
        try model.store.save(to: dir + "/w.safetensors", metadata: meta)
        let predictor = try Predictor(weights: dir + "/w.safetensors")
        // 13 frames of 24×24 noise: three windows of 4 frames start at 0, 5 and 9.
        var rng = SeededRandom(keys: 12)
        let frames = (0..<(13 * 24 * 24 * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let three = predictor.transform(clips: 3, frameStride: 1)
        let averaged = try predictor.logits(frames: frames, frameCount: 13, height: 24, width: 24, transform: three)

        var noRng = three.rng(epoch: 0, index: 0)
        let windows = three.windows(frameCount: 13, rng: &noRng)
        XCTAssertEqual(windows.map { $0[0] }, [0, 5, 9])
        var mean = [Float](repeating: 0, count: 3)
        for window in windows {
            // One window at a time, cut out of the clip as its own 4-frame clip.
            let bytes = 24 * 24 * 3
            let alone = window.flatMap { frames[($0 * bytes)..<(($0 + 1) * bytes)] }
            let logits = try predictor.logits(frames: Array(alone), frameCount: 4, height: 24, width: 24,
                                              transform: predictor.transform(clips: 1, frameStride: 1))
            for c in 0..<3 { mean[c] += logits[c] / 3 }
        }
        let diff = maxAbsDifference(averaged, mean)
        XCTAssertLessThan(diff, 1e-5, "3-window logits vs mean of single windows, max diff \(diff)")
        XCTAssertGreaterThan(maxAbsDifference(averaged, try predictor.logits(frames: frames, frameCount: 13, height: 24, width: 24,
                                                                             transform: predictor.transform(clips: 1, frameStride: 1))),
                             1e-4, "the windows differ, so averaging them changes the answer")
    }

    func testSpecTakesFlagsOverMetadataOverTensorShapes() throws {
        let dir = try makeTemporaryDirectory(self, "spec")
        let model = try makeModel(arch: "c3d", classes: 4, width: 3)
        try model.store.save(to: dir + "/bare.safetensors")
        let bare = try ModelSpec.resolve(file: SafeTensorsFile(path: dir + "/bare.safetensors"), overrides: ModelOverrides(arch: .c3d))
        XCTAssertEqual(bare, ModelSpec(arch: .c3d, width: 3, temporalStride: 2, classes: ["class_0", "class_1", "class_2", "class_3"],
                                       frames: 16, crop: 112, normalization: .kinetics400))
        try model.store.save(to: dir + "/meta.safetensors", metadata: ["arch": "c3d", "frames": "8", "crop": "64", "width": "3",
                                                                      "frame_stride": "2",
                                                                      "classes": "[\"a\",\"b\",\"c\",\"d\"]"])
        let file = try SafeTensorsFile(path: dir + "/meta.safetensors")
        let fromMeta = try ModelSpec.resolve(file: file, overrides: ModelOverrides())
        XCTAssertEqual([fromMeta.frames, fromMeta.crop, fromMeta.width, fromMeta.frameStride], [8, 64, 3, 2])
        XCTAssertEqual(fromMeta.classes, ["a", "b", "c", "d"])
        let overridden = try ModelSpec.resolve(file: file, overrides: ModelOverrides(frames: 12, mean: [0, 0, 0], std: [1, 1, 1],
                                                                                     frameStride: 3))
        XCTAssertEqual(overridden.frames, 12)
        XCTAssertEqual(overridden.frameStride, 3)
        XCTAssertEqual(overridden.crop, 64)
        XCTAssertEqual(overridden.normalization, Normalization(mean: [0, 0, 0], std: [1, 1, 1]))
        try model.store.save(to: dir + "/bad-meta.safetensors", metadata: ["arch": "c3d", "frames": "eight"])
        XCTAssertThrowsError(try ModelSpec.resolve(file: SafeTensorsFile(path: dir + "/bad-meta.safetensors"), overrides: ModelOverrides())) {
            XCTAssertTrue("\($0)".contains("cannot parse frames = eight"), "\($0)")
        }
        try model.store.save(to: dir + "/future.safetensors", metadata: ["arch": "x3d"])
        XCTAssertThrowsError(try ModelSpec.resolve(file: SafeTensorsFile(path: dir + "/future.safetensors"), overrides: ModelOverrides())) {
            XCTAssertTrue("\($0)".contains("unknown architecture 'x3d'") && "\($0)".contains("known: r2plus1d_18, c3d"), "\($0)")
        }
    }
}
