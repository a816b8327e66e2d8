// Tests: weights cross between this project and PyTorch in both directions with torchvision's keys and strict
// loading, and both sides compute the same logits. Needs python3 with torch, torchvision and safetensors
// (tools/predict_interop.py does the PyTorch side); skipped where they are not importable, as on CI.
import Foundation
import NN
import Support
import XCTest

final class TorchInteropTests: XCTestCase {
    private func python(_ arguments: [String]) throws -> ProcessResult {
        try runProcess("/usr/bin/env", ["python3"] + arguments)
    }

    /// Probed once per test run: importing torch takes seconds.
    private static let torchImportable: Bool = {
        guard let probe = try? runProcess("/usr/bin/env", ["python3", "-c", "import torch, torchvision, safetensors"]) else { return false }
        return probe.exited && probe.status == 0
    }()

    private func requireTorch() throws {
        guard Self.torchImportable else {
            throw XCTSkip("python3 cannot import torch, torchvision and safetensors; the PyTorch interop checks need them")
        }
    }

    /// Logits [N][classes] from the JSON the Python side writes.
    private func torchLogits(_ path: String) throws -> [[Double]] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        return try XCTUnwrap(json?["logits"] as? [[Double]])
    }

    /// max |ours - torch| / max |torch| over all logits.
    private func relativeDifference(ours: [String: [Float]], name: String, torch: [[Double]]) throws -> Double {
        var worst = 0.0, scale = 0.0
        for (i, row) in torch.enumerated() {
            let mine = try XCTUnwrap(ours["\(name)#\(i)"], "row \(i) in \(ours.keys.sorted())")
            XCTAssertEqual(mine.count, row.count)
            for (a, b) in zip(mine, row) { worst = max(worst, abs(Double(a) - b)); scale = max(scale, abs(b)) }
        }
        return worst / max(scale, 1e-12)
    }

    /// Saves a random Swift model with metadata, has torchvision (or its scaled copy) load it strictly, and
    /// compares its float64 logits with asl-predict's on the same input.
    private func checkOurWeightsInTorch(width: Int, temporalStride: Int, classes: Int, input shape: [Int]) throws -> Double {
        let dir = try makeTemporaryDirectory(self, "to-torch-\(width)")
        let model = try makeRandomModel(arch: "r2plus1d_18", classes: classes, width: width, temporalStride: temporalStride, seed: 21)
        let meta = ModelMetadata(arch: "r2plus1d_18", classes: (0..<classes).map { "sign\($0)" }, frames: shape[2], crop: shape[3],
                                 mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], width: width,
                                 temporalStride: temporalStride).asStrings
        try model.store.save(to: dir + "/ours.safetensors", metadata: meta)
        let input = Tensor(shape: shape)
        var rng = SeededRandom(keys: 4, UInt64(width))
        for i in 0..<input.count { input.data[i] = Float(rng.nextGaussian()) }
        try writeInputTensor(input, to: dir + "/input.safetensors")

        let torch = try python([packageRoot + "/tools/predict_interop.py", "logits", "--weights", dir + "/ours.safetensors",
                                "--input", dir + "/input.safetensors", "--out", dir + "/torch.json"])
        XCTAssertEqual(torch.status, 0, "PyTorch side failed: \(torch.stdout)\(torch.stderr)")
        guard torch.status == 0 else { return .infinity }
        let ours = try runPredict(["--weights", dir + "/ours.safetensors", "--input", dir + "/input.safetensors",
                                   "--logits-out", dir + "/ours.csv"])
        XCTAssertEqual(ours.status, 0, ours.stderr)
        let rel = try relativeDifference(ours: readLogitsCSV(dir + "/ours.csv"), name: "input.safetensors",
                                         torch: torchLogits(dir + "/torch.json"))
        print("swift → torch (\(torch.stdout.trimmingCharacters(in: .whitespacesAndNewlines))): relative max logit difference "
              + String(format: "%.2e", rel))
        return rel
    }

    func testOurTinyWeightsLoadIntoTorchvisionsVideoResNetStrictlyWithTheSameLogits() throws {
        try requireTorch()
        for ts in [2, 1] {
            let rel = try checkOurWeightsInTorch(width: 8, temporalStride: ts, classes: 5, input: [2, 3, 8, 40, 40])
            XCTAssertLessThan(rel, 1e-4, "width 8, temporal stride \(ts): relative max logit difference \(rel)")
        }
    }

    func testOurFullWidthWeightsLoadIntoTorchvisionsR2Plus1D18StrictlyWithTheSameLogits() throws {
        try requireTorch()
        let rel = try checkOurWeightsInTorch(width: 64, temporalStride: 2, classes: 7, input: [1, 3, 4, 32, 32])
        XCTAssertLessThan(rel, 1e-4, "width 64: relative max logit difference \(rel)")
    }

    func testTorchvisionStateDictConvertedFromPthGivesTorchsLogits() throws {
        try requireTorch()
        let dir = try makeTemporaryDirectory(self, "from-torch")
        let export = try python([packageRoot + "/tools/predict_interop.py", "export", "--classes", "6", "--out", dir])
        XCTAssertEqual(export.status, 0, "export failed: \(export.stdout)\(export.stderr)")
        let convert = try python([packageRoot + "/tools/convert_torchvision.py", "--pth", dir + "/model.pth", "--arch", "r2plus1d_18",
                                  "--out", dir + "/converted.safetensors"])
        XCTAssertEqual(convert.status, 0, "conversion failed: \(convert.stdout)\(convert.stderr)")
        guard export.status == 0, convert.status == 0 else { return }
        let ours = try runPredict(["--weights", dir + "/converted.safetensors", "--arch", "r2plus1d_18",
                                   "--input", dir + "/input.safetensors", "--logits-out", dir + "/ours.csv", "--output", dir + "/top.json"])
        XCTAssertEqual(ours.status, 0, ours.stderr)
        let rel = try relativeDifference(ours: readLogitsCSV(dir + "/ours.csv"), name: "input.safetensors",
                                         torch: torchLogits(dir + "/logits.json"))
        print("torch .pth → convert_torchvision.py → asl-predict: relative max logit difference " + String(format: "%.2e", rel))
        XCTAssertLessThan(rel, 1e-4, "relative max logit difference \(rel)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/top.json"))) as? [String: Any]
        XCTAssertEqual(report?["classes"] as? [String], (0..<6).map { "class_\($0)" }, "names from fc.weight's 6 rows")
    }
}
