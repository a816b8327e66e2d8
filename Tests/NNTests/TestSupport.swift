// Tests: shared helpers: random tensors, finite-difference gradient checks, and the PyTorch fixture reader.
import Foundation
import NN
import Support
import XCTest

func randomTensor(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor {
    var rng = SeededRandom(keys: seed, 17)
    let t = Tensor(shape: shape)
    for i in 0..<t.count { t.data[i] = Float(rng.nextGaussian() * scale) }
    return t
}

func fillRandom(_ p: UnsafeMutablePointer<Float>, _ count: Int, seed: UInt64, scale: Double = 1, offset: Double = 0) {
    var rng = SeededRandom(keys: seed, 29)
    for i in 0..<count { p[i] = Float(rng.nextGaussian() * scale + offset) }
}

/// Largest |a − b| over two equally long float sequences.
func maxAbsDiff(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Double {
    var m: Double = 0
    for i in 0..<count { m = max(m, abs(Double(a[i]) - Double(b[i]))) }
    return m
}

func maxAbs(_ a: UnsafePointer<Float>, _ count: Int) -> Double {
    var m: Double = 0
    for i in 0..<count { m = max(m, abs(Double(a[i]))) }
    return m
}

/// Checks `layer.backward` against central differences of L = Σ y·r (r fixed random, accumulated in Double) on
/// sampled input elements and sampled elements of each parameter in `params`. `prepare` runs before every forward
/// (e.g. to replay a dropout mask).
func checkBackwardAgainstFiniteDifferences(
    _ label: String, layer: Layer, input: Tensor, store: ParameterStore? = nil, params: [ParameterHandle] = [],
    training: Bool = true, step: Float = 1e-2, samples: Int = 24, rtol: Double = 2e-2, atol: Double = 1e-3,
    prepare: () -> Void = {}, file: StaticString = #filePath, line: UInt = #line
) throws {
    prepare()
    let y0 = try layer.forward(input.copy(), training: training)
    let r = randomTensor(y0.shape, seed: 99)
    func loss(_ x: Tensor) throws -> Double {
        prepare()
        let y = try layer.forward(x, training: training)
        var s: Double = 0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
        return s
    }
    store?.zeroGrad()
    prepare()
    _ = try layer.forward(input.copy(), training: training)
    let dX = try layer.backward(r.copy()).copy()
    let analyticParams = params.map { h -> [Float] in
        Array(UnsafeBufferPointer(start: store!.gradient(h), count: store!.entry(h).count))
    }

    var worst: Double = 0, worstWhat = ""
    func compare(_ analytic: Float, _ numeric: Double, _ what: String) {
        let err = abs(Double(analytic) - numeric)
        let excess = err / (atol + rtol * abs(numeric))
        if excess > worst { worst = excess; worstWhat = "\(what): analytic \(analytic), numeric \(numeric)" }
    }
    var rng = SeededRandom(keys: 5, UInt64(input.count))
    let x = input.copy()
    let inputSamples = input.count <= samples ? Array(0..<input.count)
        : (0..<samples).map { _ in Int(rng.next() % UInt64(input.count)) }
    for i in inputSamples {
        let v = x.data[i]
        x.data[i] = v + step
        let lp = try loss(x.copy())
        x.data[i] = v - step
        let lm = try loss(x.copy())
        x.data[i] = v
        compare(dX.data[i], (lp - lm) / (2 * Double(step)), "dX[\(i)]")
    }
    for (k, h) in params.enumerated() {
        let p = store!.values(h), n = store!.entry(h).count
        let picks = n <= samples ? Array(0..<n) : (0..<samples).map { _ in Int(rng.next() % UInt64(n)) }
        for j in picks {
            let v = p[j]
            p[j] = v + step
            let lp = try loss(input.copy())
            p[j] = v - step
            let lm = try loss(input.copy())
            p[j] = v
            compare(analyticParams[k][j], (lp - lm) / (2 * Double(step)), "\(store!.entry(h).name)[\(j)]")
        }
    }
    XCTAssertLessThanOrEqual(worst, 1, "\(label): worst gradient mismatch \(worstWhat) (atol \(atol), rtol \(rtol))",
                             file: file, line: line)
}

/// One PyTorch reference dump: `<name>.json` (index) + `<name>.bin` (little-endian float32), see
/// tools/make_nn_fixtures.py.
struct Fixture {
    struct Entry { let shape: [Int]; let offset: Int; let count: Int }
    let names: [String]
    let entries: [String: Entry]
    let values: [Float]
    let scalars: [String: Any]
    let config: [String: Any]

    /// Loads `<name>.json` + `<name>.bin` from the test bundle's Fixtures folder.
    init(_ name: String) throws {
        guard let jsonURL = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"),
              let binURL = Bundle.module.url(forResource: name, withExtension: "bin", subdirectory: "Fixtures")
        else { throw NNError("Fixture", "\(name).json/.bin missing from Tests/NNTests/Fixtures (run tools/make_nn_fixtures.py)") }
        try self.init(json: jsonURL, bin: binURL)
    }

    init(json jsonURL: URL, bin binURL: URL) throws {
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: jsonURL)) as! [String: Any]
        var names: [String] = [], entries: [String: Entry] = [:]
        for t in index["tensors"] as! [[String: Any]] {
            let n = t["name"] as! String
            names.append(n)
            entries[n] = Entry(shape: t["shape"] as! [Int], offset: t["offset"] as! Int, count: t["count"] as! Int)
        }
        let data = try Data(contentsOf: binURL)
        values = data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        self.names = names
        self.entries = entries
        scalars = index["scalars"] as! [String: Any]
        config = index["config"] as! [String: Any]
    }

    func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw NNError("Fixture", "no tensor \(name)") }
        return values.withUnsafeBufferPointer { Tensor(shape: e.shape, copying: $0.baseAddress! + e.offset) }
    }

    /// Copies every `weights/<key>` into the store (values, buffers and counters), checking names and shapes.
    func load(into store: ParameterStore) throws {
        for e in store.entries {
            let t = try tensor("weights/" + e.name)
            guard t.shape == e.shape else { throw NNError("Fixture", "\(e.name): shape \(t.shape) vs \(e.shape)") }
            if e.role == .counter {
                store.counters[e.offset] = Int64(t.data[0])
            } else {
                store.values(store.handle(named: e.name)!).update(from: t.data, count: t.count)
            }
        }
    }
}

/// Runs tools/make_nn_fixtures.py with `flag` into a fresh temporary directory (removed after the test) and returns
/// it. Throws XCTSkip where python3 cannot import torch, torchvision and safetensors (as on CI).
func torchFixtureDirectory(_ test: XCTestCase, flag: String) throws -> URL {
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
        throw XCTSkip("PyTorch/torchvision/safetensors not importable by python3; this comparison needs them")
    }
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/make_nn_fixtures.py").path
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nn-fixture\(flag)-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    let run = try python([script, flag, dir.path])
    guard run.status == 0 else { throw NNError("fixture", "tools/make_nn_fixtures.py \(flag) failed: \(run.output)") }
    return dir
}
