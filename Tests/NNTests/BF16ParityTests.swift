// Tests: full-width r2plus1d_18 and c3d in bf16 deviate from float64 logits no more than 3× what PyTorch's own bf16
// autocast (with channels_last_3d) deviates on the same weights and clip. Needs PyTorch, so the reference is built
// on the fly with tools/make_nn_fixtures.py --autocast and the test is skipped where `import torch` fails (as on CI).
import Foundation
import NN
import XCTest

final class BF16ParityTests: XCTestCase {
    func testFullWidthModelsInBF16DeviateAtMostThreeTimesPyTorchAutocast() throws {
        let dir = try torchFixtureDirectory(self, flag: "--autocast")
        var report: [String] = []
        for arch in ["r2plus1d_18", "c3d"] {
            let f = try Fixture(json: dir.appendingPathComponent("\(arch)_bf16.json"), bin: dir.appendingPathComponent("\(arch)_bf16.bin"))
            let model = try makeModel(arch: arch, classes: 7)
            try model.store.load(from: dir.appendingPathComponent("\(arch)_bf16.st").path)
            let input = try f.tensor("input"), reference = try f.tensor("logits")
            let scale = max(maxAbs(reference.data, reference.count), 1e-8)
            let fp32 = maxAbsDiff(try model.forward(input, training: false).data, reference.data, reference.count) / scale
            model.precision = .bf16
            let torch = try XCTUnwrap(f.scalars["autocast_deviation"] as? Double)
            XCTAssertLessThan(fp32, 1e-4, "\(arch) fp32 logits")
            let saved = GEMM.bf16Engine
            defer { GEMM.bf16Engine = saved }
            for engine in BF16Engine.allCases {
                GEMM.bf16Engine = engine
                let bf16 = maxAbsDiff(try model.forward(input, training: false).data, reference.data, reference.count) / scale
                report.append(String(format: "%@ ours bf16 (engine %@) %.2e (fp32 %.2e), PyTorch autocast %.2e", arch,
                                     engine.rawValue, bf16, fp32, torch))
                XCTAssertLessThanOrEqual(bf16, 3 * torch, "\(arch), engine \(engine): ours in bf16 \(bf16), PyTorch's autocast \(torch)")
                XCTAssertGreaterThan(bf16, 10 * fp32, "\(arch): bf16 really rounds (else the test would not look at it)")
            }
        }
        print("bf16 full-width deviation from float64 logits: " + report.joined(separator: "; "))
    }
}
