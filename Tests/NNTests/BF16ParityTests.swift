// Tests: full-width r2plus1d_18 and c3d in bf16 deviate from float64 logits no more than 3× what PyTorch's own bf16
// autocast (with channels_last_3d) deviates on the same weights and clip. Needs PyTorch, so the reference is built
// on the fly with tools/make_nn_fixtures.py --autocast and the test is skipped where `import torch` fails (as on CI).
import Foundation
import NN
import XCTest

final class BF16ParityTests: XCTestCase {
    func testFullWidthModelsInBF16DeviateAtMostThreeTimesPyTorchAutocast() throws {
        func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3"] + arguments
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        guard let probe = try? python(["-c", "import torch, torchvision, safetensors"]), probe.status == 0 else {
            throw XCTSkip("PyTorch/torchvision/safetensors not importable by python3; the autocast comparison needs them")
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/make_nn_fixtures.py").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nn-bf16-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try python([script, "--autocast", dir.path])
        XCTAssertEqual(run.status, 0, "fixture script failed: \(run.output)")
        guard run.status == 0 else { return }
        var report: [String] = []
        for arch in ["r2plus1d_18", "c3d"] {
            let f = try Fixture(json: dir.appendingPathComponent("\(arch)_bf16.json"), bin: dir.appendingPathComponent("\(arch)_bf16.bin"))
            let model = try makeModel(arch: arch, classes: 7)
            try model.store.load(from: dir.appendingPathComponent("\(arch)_bf16.st").path)
            let input = try f.tensor("input"), reference = try f.tensor("logits")
            let scale = max(maxAbs(reference.data, reference.count), 1e-8)
            let fp32 = maxAbsDiff(try model.forward(input, training: false).data, reference.data, reference.count) / scale
            model.precision = .bf16
            let bf16 = maxAbsDiff(try model.forward(input, training: false).data, reference.data, reference.count) / scale
            let torch = try XCTUnwrap(f.scalars["autocast_deviation"] as? Double)
            report.append(String(format: "%@ ours bf16 %.2e (fp32 %.2e), PyTorch autocast %.2e", arch, bf16, fp32, torch))
            XCTAssertLessThan(fp32, 1e-4, "\(arch) fp32 logits")
            XCTAssertLessThanOrEqual(bf16, 3 * torch, "\(arch): ours in bf16 \(bf16), PyTorch's autocast \(torch)")
            XCTAssertGreaterThan(bf16, 10 * fp32, "\(arch): bf16 really rounds (else the test would not look at it)")
        }
        print("bf16 full-width deviation from float64 logits: " + report.joined(separator: "; "))
    }
}
