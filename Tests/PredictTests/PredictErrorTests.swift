// Tests: every kind of bad input makes asl-predict exit non-zero with a message naming the problem — never a
// crash, never an answer computed from the wrong weights.
import Foundation
import Inference
import NN
import XCTest

final class PredictErrorTests: XCTestCase {
    /// Rewrites the tensors of `source` into `path`, letting `change` replace any record (nil keeps it); float
    /// tensors are handed over as a `Tensor` of their values.
    private func rewrite(_ source: String, to path: String, _ change: (SafeTensorInfo, Tensor) -> SafeTensorsRecord?) throws {
        let file = try SafeTensorsFile(path: source)
        let names = file.names
        // The records point into these tensors, which live until the write returns.
        let values = try names.map { name -> Tensor in
            let info = try file.info(name)
            return info.dtype == .I64 ? Tensor(shape: [0]) : Tensor(shape: info.shape, values: try file.floats(name))
        }
        var records: [SafeTensorsRecord] = []
        for (name, tensor) in zip(names, values) {
            let info = try file.info(name)
            if let replaced = change(info, tensor) {
                records.append(replaced)
            } else if info.dtype == .I64 {
                records.append(SafeTensorsRecord(name: name, shape: info.shape, source: .int64(try file.int64s(name))))
            } else {
                records.append(SafeTensorsRecord(name: name, shape: info.shape, source: .float32(tensor.data)))
            }
        }
        try withExtendedLifetime(values) { try SafeTensorsWriter.write(records, metadata: file.metadata, to: path) }
    }

    func testEachBadInputFailsWithAClearMessageAndANonZeroExit() throws {
        let dir = try makeTemporaryDirectory(self, "errors")
        let model = try makeRandomModel(arch: "r2plus1d_18", classes: 2, width: 4, seed: 1)
        let meta = ModelMetadata(arch: "r2plus1d_18", classes: ["a", "b"], frames: 4, crop: 24, mean: [0.4, 0.4, 0.4],
                                 std: [0.2, 0.2, 0.2], width: 4).asStrings
        let good = dir + "/good.safetensors"
        try model.store.save(to: good, metadata: meta)
        try writeInputTensor(Tensor(shape: [1, 3, 4, 24, 24]), to: dir + "/input.safetensors")
        let goodBytes = try Data(contentsOf: URL(fileURLWithPath: good))

        // Weights whose header length claims more bytes than the file has.
        var huge = Data(count: 8)
        huge.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(1 << 40).littleEndian, as: UInt64.self) }
        try (huge + Data("{}".utf8)).write(to: URL(fileURLWithPath: dir + "/huge-header.safetensors"))
        // Weights whose header is not JSON.
        let junk = Data("{\"fc.weight\": not json}   ".utf8)
        var length = Data(count: 8)
        length.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(junk.count).littleEndian, as: UInt64.self) }
        try (length + junk).write(to: URL(fileURLWithPath: dir + "/malformed.safetensors"))
        // Weights cut short: the header names bytes past the end of the file.
        try goodBytes.prefix(goodBytes.count - 1000).write(to: URL(fileURLWithPath: dir + "/truncated.safetensors"))
        // A weight stored as integers.
        try rewrite(good, to: dir + "/int-weight.safetensors") { info, _ in
            info.name == "layer1.0.conv1.0.0.weight" ? SafeTensorsRecord(name: info.name, shape: info.shape,
                                                                          source: .int64([Int64](repeating: 1, count: info.count))) : nil
        }
        // A weight with the right element count in the wrong shape.
        let reshaped = dir + "/wrong-shape.safetensors"
        try rewrite(good, to: reshaped) { info, values in
            guard info.name == "layer2.0.conv1.0.3.weight" else { return nil }
            return SafeTensorsRecord(name: info.name, shape: [info.shape[1], info.shape[0]] + info.shape.dropFirst(2),
                                     source: .float32(values.data))
        }
        // C3D weights, asked to run as r2plus1d_18.
        let c3d = try makeModel(arch: "c3d", classes: 2, width: 2)
        try c3d.store.save(to: dir + "/c3d.safetensors", metadata: ["arch": "c3d"])
        // A video that cannot be decoded.
        try Data("this is not a video".utf8).write(to: URL(fileURLWithPath: dir + "/broken.mp4"))

        let tensorInput = ["--input", dir + "/input.safetensors"]
        let cases: [(name: String, arguments: [String], message: String)] = [
            ("header length", ["--weights", dir + "/huge-header.safetensors"] + tensorInput, "exceeds the"),
            ("malformed header", ["--weights", dir + "/malformed.safetensors"] + tensorInput, "header is not a JSON object"),
            ("truncated data", ["--weights", dir + "/truncated.safetensors"] + tensorInput, "outside the"),
            ("integer weight", ["--weights", dir + "/int-weight.safetensors"] + tensorInput, "[layer1.0.conv1.0.0.weight]: stored as I64"),
            ("wrong shape", ["--weights", reshaped] + tensorInput, "[layer2.0.conv1.0.3.weight]: file shape"),
            ("arch mismatch", ["--weights", dir + "/c3d.safetensors", "--arch", "r2plus1d_18"] + tensorInput,
             "architecture mismatch: the model is r2plus1d_18 but the file holds the weights of c3d"),
            ("undecodable video", ["--weights", good, "--input", dir + "/broken.mp4"], "broken.mp4"),
            ("missing input", ["--weights", good, "--input", dir + "/nowhere.mp4"], "no such file or directory"),
            ("missing weights", ["--weights", dir + "/nowhere.safetensors"] + tensorInput, "cannot read"),
        ]
        for c in cases {
            let out = dir + "/\(c.name).json"
            let result = try runPredict(c.arguments + ["--output", out])
            XCTAssertTrue(result.exited, "\(c.name): killed by a signal (status \(result.status)); stderr: \(result.stderr)")
            XCTAssertNotEqual(result.status, 0, "\(c.name): exited 0")
            XCTAssertTrue(result.stderr.contains(c.message), "\(c.name): stderr lacks \"\(c.message)\": \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("Fatal error"), "\(c.name): \(result.stderr)")
            if c.name != "undecodable video" {
                XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(c.name): wrote a report")
            }
        }
        // The undecodable video is reported in the JSON as failed, with no prediction.
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/undecodable video.json"))) as? [String: Any]
        XCTAssertEqual((report?["predictions"] as? [Any])?.count, 0)
        XCTAssertEqual((report?["failed"] as? [[String: Any]])?.first?["id"] as? String, "broken.mp4")
    }

    func testCameraThatCannotBeOpenedFailsWithAMessage() throws {
        let dir = try makeTemporaryDirectory(self, "camera")
        let model = try makeRandomModel(arch: "r2plus1d_18", classes: 2, width: 4, seed: 1)
        try model.store.save(to: dir + "/w.safetensors", metadata: ["arch": "r2plus1d_18"])
        // No machine has camera 97.
        let result = try runPredict(["--weights", dir + "/w.safetensors", "--camera", "97"])
        XCTAssertTrue(result.exited && result.status != 0, "status \(result.status)")
        XCTAssertTrue(result.stderr.contains("camera 97: cannot open the camera"), result.stderr)
    }
}
