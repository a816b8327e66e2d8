// Tests: helpers shared by the asl-predict tests — running the built binary (and python3), tiny weights files with
// non-trivial BatchNorm statistics, and reading the logits CSV back.
import Foundation
import NN
import Support
import XCTest

/// What a finished process left behind.
struct ProcessResult {
    var status: Int32
    /// False when it died from a signal (a crash), not an exit.
    var exited: Bool
    var stdout: String
    var stderr: String
}

/// Runs `executable` with `arguments`, capturing both streams (through files, so that neither can fill a pipe
/// and block the child).
func runProcess(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
    let base = (NSTemporaryDirectory() as NSString).appendingPathComponent("asl-predict-run-\(getpid())-\(UUID().uuidString.prefix(8))")
    _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
    _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
    defer { try? FileManager.default.removeItem(atPath: base + ".out"); try? FileManager.default.removeItem(atPath: base + ".err") }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    p.standardOutput = FileHandle(forWritingAtPath: base + ".out")
    p.standardError = FileHandle(forWritingAtPath: base + ".err")
    try p.run()
    p.waitUntilExit()
    func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    return ProcessResult(status: p.terminationStatus, exited: p.terminationReason == .exit,
                         stdout: text(base + ".out"), stderr: text(base + ".err"))
}

/// The asl-predict built next to the test bundle (`swift build` builds it with the tests).
func predictExecutable() throws -> String {
    let candidates = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                      Bundle.main.bundleURL.deletingLastPathComponent()]
        .map { $0.appendingPathComponent("asl-predict").path }
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        XCTFail("asl-predict is not built next to the tests (looked in \(candidates)); run swift build -c release first")
        throw XCTSkip("asl-predict not built")
    }
    return found
}

func runPredict(_ arguments: [String]) throws -> ProcessResult { try runProcess(try predictExecutable(), arguments) }

/// The package root (for tools/).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

func makeTemporaryDirectory(_ test: XCTestCase, _ name: String) throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("asl-predict-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// A randomly initialized model whose BatchNorm affine parameters and running statistics are randomized too (the
/// default init makes BN the identity, which would hide a mix-up of its tensors), and a head with larger weights.
func makeRandomModel(arch: String, classes: Int, width: Int, temporalStride: Int = 2, seed: UInt64) throws -> VideoClassifier {
    let model = try makeModel(arch: arch, classes: classes, width: width, temporalStride: temporalStride)
    model.initialize(seed: seed)
    let store = model.store
    var rng = SeededRandom(keys: seed, 99)
    for e in store.entries {
        let h = store.handle(named: e.name)!
        func fill(_ lo: Double, _ hi: Double) {
            let p = store.values(h)
            for j in 0..<e.count { p[j] = Float(lo + (hi - lo) * rng.nextDouble()) }
        }
        if e.role == .counter { store.counters[e.offset] = 5; continue }
        if e.name.hasSuffix("running_var") { fill(0.5, 1.5) }
        else if e.name.hasSuffix("running_mean") { fill(-0.1, 0.1) }
        else if e.name == "fc.weight" { fill(-0.3, 0.3) }
        else if e.name.hasSuffix(".bias") { fill(-0.2, 0.2) }
        else if e.shape.count == 1 { fill(0.5, 1.5) }  // BN weight
    }
    return model
}

/// Writes `tensor` as the `input` of a safetensors file (asl-predict's raw tensor input).
func writeInputTensor(_ tensor: Tensor, to path: String) throws {
    try SafeTensorsWriter.write([SafeTensorsRecord(name: "input", shape: tensor.shape, source: .float32(tensor.data))], to: path)
}

/// Reads `clip_id,logit_0,…` back: id → logits. Ids in these tests hold no commas.
func readLogitsCSV(_ path: String) throws -> [String: [Float]] {
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
    XCTAssertTrue(lines.first?.hasPrefix("clip_id,logit_0") ?? false, "CSV header: \(lines.first ?? "")")
    var out: [String: [Float]] = [:]
    for line in lines.dropFirst() {
        let fields = line.split(separator: ",")
        out[String(fields[0])] = fields.dropFirst().map { Float($0)! }
    }
    return out
}

/// max |a - b| over two equally long arrays.
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
