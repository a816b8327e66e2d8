// Tests: safetensors files written by PyTorch load as is, our files read back in Python byte for byte, every
// malformed file is a typed error naming the key, and loading into a model is strict.
import Foundation
import NN
import XCTest

/// A path in a fresh temporary directory, removed when the test ends.
func temporaryPath(_ test: XCTestCase, _ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nntests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir.appendingPathComponent(name).path
}

func fixturePath(_ name: String, _ ext: String) throws -> String {
    guard let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures") else {
        throw XCTSkip("fixture \(name).\(ext) missing from the test bundle")
    }
    return url.path
}

func fixtureJSON(_ name: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixturePath(name, "json"))))
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// The torchvision-shaped miniature of tools/make_nn_train_fixtures.py, built by hand in state-dict order.
func tinyStore(classes: Int = 5) -> ParameterStore {
    let s = ParameterStore()
    _ = s.register("stem.0.weight", shape: [4, 3, 1, 3, 3])
    _ = s.register("stem.1.weight", shape: [4])
    _ = s.register("stem.1.bias", shape: [4])
    _ = s.register("stem.1.running_mean", shape: [4], role: .buffer)
    _ = s.register("stem.1.running_var", shape: [4], role: .buffer)
    _ = s.register("stem.1.num_batches_tracked", shape: [], role: .counter)
    _ = s.register("fc.weight", shape: [classes, 4])
    _ = s.register("fc.bias", shape: [classes])
    s.seal()
    return s
}

func values(_ s: ParameterStore, _ name: String) -> [Float] {
    let h = s.handle(named: name)!
    return Array(UnsafeBufferPointer(start: s.values(h), count: s.entry(h).count))
}

/// Fills every float entry with distinct values and the counters with 7, 8, ...
func fillDistinct(_ s: ParameterStore) {
    for i in 0..<s.parameters.count { s.parameters.pointer[i] = Float(i) * 0.25 - 3 }
    for i in 0..<s.buffers.count { s.buffers.pointer[i] = Float(i) + 0.5 }
    for i in s.counters.indices { s.counters[i] = Int64(7 + i) }
}

final class SafeTensorsTests: XCTestCase {
    func testTorchStateDictFileLoadsIntoStoreWithExactValues() throws {
        let path = try fixturePath("tiny_state_dict", "st-fixture")
        let expected = try fixtureJSON("tiny_state_dict") as! [String: Any]
        let tensors = expected["tensors"] as! [String: [String: Any]]
        let store = tinyStore()
        let report = try store.load(from: path)
        XCTAssertEqual(report.loaded, store.entries.map(\.name))
        XCTAssertEqual(report.skipped, [])
        for e in store.entries {
            let want = tensors[e.name]!
            XCTAssertEqual(want["shape"] as! [Int], e.shape, e.name)
            let wantValues = (want["values"] as! [Double]).map(Float.init)
            if e.role == .counter {
                XCTAssertEqual(store.counters[e.offset], Int64(wantValues[0]), e.name)
            } else {
                let diff = maxAbsDiff(values(store, e.name), wantValues)
                XCTAssertEqual(diff, 0, "\(e.name): max abs diff \(diff)")
            }
        }
        XCTAssertEqual(store.counters, [3])
        let meta = try ModelMetadata(strings: report.metadata, path: path)
        XCTAssertEqual(meta.arch, "tiny")
        XCTAssertEqual(meta.classes, ["hello", "thanks", "yes", "no", "please"])
        XCTAssertEqual(meta.frames, 2)
        XCTAssertEqual(meta.crop, 5)
        XCTAssertEqual(meta.mean, [0.43216, 0.394666, 0.37645])
        XCTAssertEqual(meta.std, [0.22803, 0.22145, 0.216989])
    }

    func testHalfBFloat16AndDoubleTensorsReadAsFloat() throws {
        let file = try SafeTensorsFile(path: fixturePath("float_dtypes", "st-fixture"))
        let expected = try fixtureJSON("float_dtypes") as! [String: [Double]]
        XCTAssertEqual(file.tensors["half"]?.dtype, .F16)
        XCTAssertEqual(file.tensors["bfloat"]?.dtype, .BF16)
        XCTAssertEqual(file.tensors["double"]?.dtype, .F64)
        XCTAssertEqual(file.tensors["double"]?.shape, [1, 7])
        for (key, want) in expected {
            let got = try file.floats(key)
            let diff = maxAbsDiff(got, want.map(Float.init))
            XCTAssertEqual(diff, 0, "\(key): max abs diff \(diff), got \(got)")
        }
        XCTAssertThrowsError(try file.int64s("half")) { XCTAssertEqual(($0 as? WeightsError)?.kind, .dtypeMismatch) }
    }

    func testSaveThenLoadRestoresEveryEntryAndMetadata() throws {
        let path = temporaryPath(self, "model.safetensors")
        let a = tinyStore()
        fillDistinct(a)
        let meta = ModelMetadata(arch: "r2plus1d_18", classes: ["a \"quoted\" sign", "b\\c", "ü"], frames: 16, crop: 112,
                                 mean: [0.43216, 0.394666, 0.37645], std: [0.22803, 0.22145, 0.216989])
        try a.save(to: path, metadata: meta.asStrings)
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = raw.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(headerLength % 8, 0, "header padded to a multiple of 8")
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(file.tensors["stem.1.num_batches_tracked"]?.dtype, .I64)
        XCTAssertEqual(file.tensors["stem.1.num_batches_tracked"]?.shape, [])
        XCTAssertEqual(file.tensors["fc.weight"]?.dtype, .F32)

        let b = tinyStore()
        let report = try b.load(from: path)
        XCTAssertEqual(Array(b.parameters.buffer), Array(a.parameters.buffer))
        XCTAssertEqual(Array(b.buffers.buffer), Array(a.buffers.buffer))
        XCTAssertEqual(b.counters, [7])
        XCTAssertEqual(try ModelMetadata(strings: report.metadata), meta)
        XCTAssertThrowsError(try ModelMetadata(strings: ["arch": "c3d"])) {
            XCTAssertEqual(($0 as? WeightsError)?.key, "classes")
        }
    }

    func testStrictLoadNamesMissingExtraMisshapenAndMistypedKeys() throws {
        let path = temporaryPath(self, "model.safetensors")
        try tinyStore().save(to: path)

        func loadError(_ build: (ParameterStore) -> Void) -> WeightsError? {
            let s = ParameterStore()
            build(s)
            s.seal()
            do { try s.load(from: path); return nil } catch { return error as? WeightsError }
        }
        let full: (ParameterStore) -> Void = { s in
            _ = s.register("stem.0.weight", shape: [4, 3, 1, 3, 3]); _ = s.register("stem.1.weight", shape: [4])
            _ = s.register("stem.1.bias", shape: [4]); _ = s.register("stem.1.running_mean", shape: [4], role: .buffer)
            _ = s.register("stem.1.running_var", shape: [4], role: .buffer)
            _ = s.register("stem.1.num_batches_tracked", shape: [], role: .counter)
        }
        var e = loadError { full($0); _ = $0.register("fc.weight", shape: [5, 4]); _ = $0.register("fc.bias", shape: [5]); _ = $0.register("fc2.bias", shape: [5]) }
        XCTAssertEqual(e?.kind, .missingKey); XCTAssertEqual(e?.key, "fc2.bias")
        e = loadError { full($0); _ = $0.register("fc.weight", shape: [5, 4]) }
        XCTAssertEqual(e?.kind, .unexpectedKey); XCTAssertEqual(e?.key, "fc.bias")
        e = loadError { full($0); _ = $0.register("fc.weight", shape: [7, 4]); _ = $0.register("fc.bias", shape: [7]) }
        XCTAssertEqual(e?.kind, .shapeMismatch); XCTAssertEqual(e?.key, "fc.weight")
        XCTAssertTrue(e?.hint.contains("skip fc.weight") ?? false, "\(String(describing: e))")
        e = loadError { full($0); _ = $0.register("fc.weight", shape: [5, 4]); _ = $0.register("fc.bias", shape: [], role: .counter) }
        XCTAssertEqual(e?.kind, .shapeMismatch); XCTAssertEqual(e?.key, "fc.bias")
        e = loadError { s in
            _ = s.register("stem.0.weight", shape: [4, 3, 1, 3, 3]); _ = s.register("stem.1.weight", shape: [4])
            _ = s.register("stem.1.bias", shape: [4]); _ = s.register("stem.1.running_mean", shape: [4], role: .buffer)
            _ = s.register("stem.1.running_var", shape: [4], role: .buffer)
            _ = s.register("stem.1.num_batches_tracked", shape: [])  // a float parameter where the file has I64
            _ = s.register("fc.weight", shape: [5, 4]); _ = s.register("fc.bias", shape: [5])
        }
        XCTAssertEqual(e?.kind, .dtypeMismatch); XCTAssertEqual(e?.key, "stem.1.num_batches_tracked")
    }

    func testSkippingTheHeadLoadsTheBackboneAndKeepsTheNewHead() throws {
        let path = temporaryPath(self, "pretrained.safetensors")
        let pretrained = tinyStore(classes: 5)
        fillDistinct(pretrained)
        try pretrained.save(to: path)

        let model = tinyStore(classes: 3)
        let fc = model.handle(named: "fc.bias")!
        model.values(fc)[0] = 42
        let report = try model.load(from: path, options: WeightsLoadOptions(skipping: ["fc.weight", "fc.bias"]))
        XCTAssertEqual(report.skipped, ["fc.bias", "fc.weight"])
        XCTAssertEqual(report.loaded, ["stem.0.weight", "stem.1.weight", "stem.1.bias", "stem.1.running_mean",
                                       "stem.1.running_var", "stem.1.num_batches_tracked"])
        XCTAssertEqual(values(model, "stem.0.weight"), values(pretrained, "stem.0.weight"))
        XCTAssertEqual(values(model, "stem.1.running_var"), values(pretrained, "stem.1.running_var"))
        XCTAssertEqual(model.values(fc)[0], 42, "a skipped key keeps the model's value")

        XCTAssertThrowsError(try model.load(from: path, options: WeightsLoadOptions(skipping: ["fc.weight", "fc.bias", "head.bias"]))) {
            XCTAssertEqual(($0 as? WeightsError)?.kind, .unknownSkipKey)
            XCTAssertEqual(($0 as? WeightsError)?.key, "head.bias")
        }
    }

    /// Writes `header` (a JSON text) and `data` as a safetensors file, with an optional false header length.
    func writeRaw(_ header: String, data: [UInt8] = [UInt8](repeating: 0, count: 16), declaredLength: UInt64? = nil) throws -> String {
        let path = temporaryPath(self, "broken.safetensors")
        var out = Data()
        withUnsafeBytes(of: (declaredLength ?? UInt64(header.utf8.count)).littleEndian) { out.append(contentsOf: $0) }
        out.append(Data(header.utf8))
        out.append(contentsOf: data)
        try out.write(to: URL(fileURLWithPath: path))
        return path
    }

    func testMalformedFilesAreTypedErrorsNamingFileAndKey() throws {
        func kindAndKey(_ path: String) -> (WeightsError.Kind?, String?) {
            do { _ = try SafeTensorsFile(path: path); return (nil, nil) } catch {
                let e = error as? WeightsError
                XCTAssertEqual(e?.path, path)
                XCTAssertFalse(e?.hint.isEmpty ?? true)
                return (e?.kind, e?.key)
            }
        }
        let ok = #"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#
        XCTAssertEqual(kindAndKey(try writeRaw(ok)).0, nil, "the well-formed baseline opens")
        let shortPath = temporaryPath(self, "short.safetensors")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: shortPath))
        XCTAssertEqual(kindAndKey(shortPath).0, .truncated)
        XCTAssertEqual(kindAndKey(temporaryPath(self, "absent.safetensors")).0, .unreadable)
        XCTAssertEqual(kindAndKey(try writeRaw(ok, declaredLength: 1 << 40)).0, .headerTooLarge)
        XCTAssertEqual(kindAndKey(try writeRaw(#"{"a":{"dtype":"F32","#)).0, .malformedHeader)
        XCTAssertEqual(kindAndKey(try writeRaw("[1, 2]")).0, .malformedHeader)
        var r = kindAndKey(try writeRaw(#"{"a":{"dtype":"F32","shape":[2,"x"],"data_offsets":[0,16]}}"#))
        XCTAssertEqual(r.0, .malformedHeader); XCTAssertEqual(r.1, "a")
        r = kindAndKey(try writeRaw(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0]}}"#))
        XCTAssertEqual(r.0, .malformedHeader); XCTAssertEqual(r.1, "a")
        r = kindAndKey(try writeRaw(#"{"a":{"dtype":"F32","shape":[4]}}"#))
        XCTAssertEqual(r.0, .malformedHeader); XCTAssertEqual(r.1, "a")
        r = kindAndKey(try writeRaw(#"{"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}}"#))
        XCTAssertEqual(r.0, .unsupportedDType); XCTAssertEqual(r.1, "a")
        r = kindAndKey(try writeRaw(#"{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}"#))
        XCTAssertEqual(r.0, .offsetsOutOfRange); XCTAssertEqual(r.1, "a")
        r = kindAndKey(try writeRaw(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#))
        XCTAssertEqual(r.0, .offsetsOutOfRange); XCTAssertEqual(r.1, "a")
        r = kindAndKey(try writeRaw(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#))
        XCTAssertEqual(r.0, .byteCountMismatch); XCTAssertEqual(r.1, "a")
        r = kindAndKey(try writeRaw(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#))
        XCTAssertEqual(r.0, .overlappingData); XCTAssertEqual(r.1, "b")
        r = kindAndKey(try writeRaw(#"{"__metadata__":{"frames":16},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#))
        XCTAssertEqual(r.0, .malformedHeader); XCTAssertEqual(r.1, "__metadata__")
    }

    /// Runs `python3 -c script args...`, returning stdout; skips the test when Python with safetensors is absent.
    func python(_ script: String, _ args: [String]) throws -> String {
        func run(_ arguments: [String]) throws -> (Int32, String, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3"] + arguments
            let out = Pipe(), err = Pipe()
            p.standardOutput = out; p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        guard let probe = try? run(["-c", "import safetensors, numpy"]), probe.0 == 0 else {
            throw XCTSkip("python3 with safetensors and numpy is not installed; skipping the cross-check with the reference reader")
        }
        let (status, out, err) = try run(["-c", script] + args)
        XCTAssertEqual(status, 0, "python failed: \(err)")
        return out
    }

    func testPythonSafetensorsReadsOurFileAndWritesTheSameBytes() throws {
        let path = temporaryPath(self, "ours.safetensors")
        let again = temporaryPath(self, "theirs.safetensors")
        let store = tinyStore()
        fillDistinct(store)
        // One metadata key: the reference keeps metadata in a hash map, so with several its byte order varies by run.
        try store.save(to: path, metadata: ["note": "ü \"q\"\n"])
        let script = """
        import json, sys
        from safetensors import safe_open
        from safetensors.numpy import load_file, save_file
        tensors = load_file(sys.argv[1])
        with safe_open(sys.argv[1], framework="np") as f:
            meta = f.metadata()
        save_file(tensors, sys.argv[2], metadata=meta)
        print(json.dumps({"meta": meta, "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape),
                          "values": v.flatten().tolist()} for k, v in tensors.items()}}))
        """
        let out = try python(script, [path, again])
        let parsed = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        XCTAssertEqual(parsed["meta"] as? [String: String], ["note": "ü \"q\"\n"])
        let tensors = parsed["tensors"] as! [String: [String: Any]]
        XCTAssertEqual(Set(tensors.keys), Set(store.entries.map(\.name)))
        for e in store.entries {
            let t = tensors[e.name]!
            XCTAssertEqual(t["shape"] as? [Int], e.shape, e.name)
            if e.role == .counter {
                XCTAssertEqual(t["dtype"] as? String, "int64")
                XCTAssertEqual(t["values"] as? [Int], [Int(store.counters[e.offset])])
            } else {
                XCTAssertEqual(t["dtype"] as? String, "float32")
                let diff = maxAbsDiff(values(store, e.name), (t["values"] as! [Double]).map(Float.init))
                XCTAssertEqual(diff, 0, "\(e.name): max abs diff \(diff)")
            }
        }
        let ours = try Data(contentsOf: URL(fileURLWithPath: path)), theirs = try Data(contentsOf: URL(fileURLWithPath: again))
        XCTAssertEqual(ours, theirs, "the reference writer lays out the same tensors identically")
    }
}
