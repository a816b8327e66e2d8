// NN: saving and strictly loading a `ParameterStore` as a safetensors file with torchvision's state-dict keys, and
// the model metadata (arch, class names, clip geometry, normalization) carried in the file's `__metadata__`.
//
// Loading is strict (unlike mlx-swift's default): every key of the model must be in the file with its exact shape,
// and every key of the file must belong to the model, unless the caller names it in `skipping` — the one escape,
// used to fine-tune a classifier head with a different class count.
import Foundation

/// How `ParameterStore.load` treats the file.
public struct WeightsLoadOptions: Sendable {
    /// Keys neither loaded nor required (e.g. `["fc.weight", "fc.bias"]`); the model keeps its current values for
    /// them and the file's tensors of that name, whatever their shape, are ignored. Each must name a key of the
    /// model or of the file, so a typo cannot silently skip nothing.
    public var skipping: Set<String>

    public init(skipping: Set<String> = []) { self.skipping = skipping }
}

/// What `ParameterStore.load` did.
public struct WeightsLoadReport: Sendable {
    /// Keys copied into the store, in table order.
    public var loaded: [String]
    /// Keys named in `skipping`, sorted.
    public var skipped: [String]
    /// The file's `__metadata__`.
    public var metadata: [String: String]
}

extension ParameterStore {
    /// Writes every entry to `path` atomically: parameters and buffers as F32 with their table shape, counters as
    /// I64 with shape `[]` (as `num_batches_tracked` is in a torch state dict).
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        precondition(isSealed, "save before seal()")
        let records = entries.indices.map { i -> SafeTensorsRecord in
            let e = entries[i]
            switch e.role {
            case .counter: return SafeTensorsRecord(name: e.name, shape: e.shape, source: .int64([counters[e.offset]]))
            default: return SafeTensorsRecord(name: e.name, shape: e.shape, source: .float32(values(ParameterHandle(index: i))))
            }
        }
        try withExtendedLifetime(self) { try SafeTensorsWriter.write(records, metadata: metadata, to: path) }
    }

    /// Loads every entry from `path`, strictly: a key of the model missing from the file, a key of the file unknown
    /// to the model, a shape that differs, or a dtype of the wrong kind (float for parameters and buffers — F32, F64,
    /// F16 or BF16, converted — I64 for counters) is a `WeightsError` naming the key. Nothing is modified unless
    /// the whole file checks out.
    @discardableResult
    public func load(from path: String, options: WeightsLoadOptions = WeightsLoadOptions()) throws -> WeightsLoadReport {
        precondition(isSealed, "load before seal()")
        let file = try SafeTensorsFile(path: path)
        for name in options.skipping where handle(named: name) == nil && file.tensors[name] == nil {
            throw WeightsError(.unknownSkipKey, path: path, key: name, detail: "asked to skip \(name), which neither the model nor the file has",
                               hint: "check the spelling; model keys look like \(entries.prefix(3).map(\.name).joined(separator: ", "))")
        }
        for name in file.names where handle(named: name) == nil && !options.skipping.contains(name) {
            throw WeightsError(.unexpectedKey, path: path, key: name, detail: "the file has \(name), which the model does not",
                               hint: "the file was saved from a different architecture, or skip the key explicitly")
        }
        var toLoad: [Int] = []
        for (i, e) in entries.enumerated() where !options.skipping.contains(e.name) {
            guard let info = file.tensors[e.name] else {
                throw WeightsError(.missingKey, path: path, key: e.name, detail: "the model's \(e.name) is not in the file",
                                   hint: "the file was saved from a different architecture or is incomplete")
            }
            guard info.shape == e.shape else {
                throw WeightsError(.shapeMismatch, path: path, key: e.name,
                                   detail: "file shape \(info.shape), model shape \(e.shape)",
                                   hint: e.name.hasPrefix("fc.") ? "a different class count? skip fc.weight and fc.bias to train a new head"
                                                                 : ParameterStore.widthHint(file: info.shape, model: e.shape)
                                                                   ?? "the file was saved from a different architecture")
            }
            let wantInteger = e.role == .counter
            guard info.dtype.isFloatingPoint != wantInteger else {
                throw WeightsError(.dtypeMismatch, path: path, key: e.name,
                                   detail: "stored as \(info.dtype), the model's \(e.role.rawValue) needs \(wantInteger ? "I64" : "a float type")",
                                   hint: "the file was not written from a state dict of this model")
            }
            toLoad.append(i)
        }
        for i in toLoad {
            let e = entries[i]
            if e.role == .counter {
                counters[e.offset] = try file.int64s(e.name)[0]
            } else {
                try file.readFloats(e.name, into: values(ParameterHandle(index: i)), count: e.count)
            }
        }
        return WeightsLoadReport(loaded: toLoad.map { entries[$0].name }, skipped: options.skipping.sorted(), metadata: file.metadata)
    }
}

/// What a trained model needs besides its weights to be used: stored as strings in the safetensors
/// `__metadata__` (lists as JSON), so that Python sees it with `safe_open(...).metadata()`.
public struct ModelMetadata: Codable, Equatable, Sendable {
    /// Architecture name, an `Architecture` raw value (`r2plus1d_18`, `c3d`). A string, so that a file naming an
    /// architecture this build does not know still reads and the user gets its name in the error.
    public var arch: String
    /// Class names in logit order.
    public var classes: [String]
    /// Frames per clip (D).
    public var frames: Int
    /// Spatial crop size (H = W).
    public var crop: Int
    /// Per-channel normalization mean and std (RGB, on [0, 1] pixel values).
    public var mean: [Float]
    public var std: [Float]
    /// Base channel width (64 is the standard model).
    public var width: Int
    /// r2plus1d_18's temporal stride of layers 2-4 (2 is torchvision's).
    public var temporalStride: Int
    /// Stored frames between consecutive input frames.
    public var frameStride: Int
    /// How the training frames were made from raw videos (a JSON object written by the data side, which NN does not
    /// interpret), so that prediction on raw videos can repeat it; nil when unknown.
    public var preprocessing: String?

    public init(arch: String, classes: [String], frames: Int, crop: Int, mean: [Float], std: [Float],
                width: Int = 64, temporalStride: Int = 2, frameStride: Int = 1, preprocessing: String? = nil) {
        self.arch = arch; self.classes = classes; self.frames = frames; self.crop = crop; self.mean = mean; self.std = std
        self.width = width; self.temporalStride = temporalStride; self.frameStride = frameStride
        self.preprocessing = preprocessing
    }

    /// The `__metadata__` string map: `arch`, `classes` (JSON list), `frames`, `crop`, `mean`, `std` (JSON lists),
    /// `width`, `temporal_stride`, `frame_stride`, and `preprocessing` when known.
    public var asStrings: [String: String] {
        func list(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }
        var m = ["arch": arch, "classes": list(classes.map(SafeTensorsWriter.jsonString)), "frames": String(frames),
                 "crop": String(crop), "mean": list(mean.map { "\($0)" }), "std": list(std.map { "\($0)" }),
                 "width": String(width), "temporal_stride": String(temporalStride), "frame_stride": String(frameStride)]
        if let preprocessing { m["preprocessing"] = preprocessing }
        return m
    }

    /// Parses the map written by `asStrings`; `path` only names the file in errors. Extra keys are ignored; files
    /// written before `width`, `temporal_stride` and `frame_stride` were recorded get torchvision's 64, 2 and 1.
    public init(strings m: [String: String], path: String = "<metadata>") throws {
        func field(_ key: String) throws -> String {
            guard let v = m[key] else {
                throw WeightsError(.badMetadata, path: path, key: key, detail: "metadata has no \(key)",
                                   hint: "the file was not saved with model metadata; present: \(m.keys.sorted().joined(separator: ", "))")
            }
            return v
        }
        func decode<T: Decodable>(_ key: String, as: T.Type) throws -> T {
            let text = try field(key)
            guard let v = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
                throw WeightsError(.badMetadata, path: path, key: key, detail: "cannot parse \(key) = \(text.prefix(80))",
                                   hint: "expected a JSON \(T.self)")
            }
            return v
        }
        func optional(_ key: String, default value: Int) throws -> Int {
            m[key] == nil ? value : try decode(key, as: Int.self)
        }
        self.init(arch: try field("arch"), classes: try decode("classes", as: [String].self),
                  frames: try decode("frames", as: Int.self), crop: try decode("crop", as: Int.self),
                  mean: try decode("mean", as: [Float].self), std: try decode("std", as: [Float].self),
                  width: try optional("width", default: 64), temporalStride: try optional("temporal_stride", default: 2),
                  frameStride: try optional("frame_stride", default: 1), preprocessing: m["preprocessing"])
    }
}

extension ParameterStore {
    /// When two shapes differ only in their channel dimensions (the first two), by one common ratio, the file holds a
    /// narrower or wider model of the same architecture: says so and how to load it; nil otherwise.
    static func widthHint(file: [Int], model: [Int]) -> String? {
        guard file.count == model.count, !file.isEmpty, file.dropFirst(2) == model.dropFirst(2) else { return nil }
        let ratios = zip(file.prefix(2), model.prefix(2)).filter { $0 != $1 }.map { Double($0) / Double($1) }
        guard let r = ratios.first, ratios.allSatisfy({ $0 == r }) else { return nil }
        let how = r > 1 ? String(format: "%g× wider", r) : String(format: "%g× narrower", 1 / r)
        return "the file holds a model \(how) than this one: pass the --width it was trained with "
            + "(this model's width times \(String(format: "%g", r)))"
    }
}
