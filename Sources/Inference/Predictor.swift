// Inference: a trained (or torchvision-converted) model ready for inference: what the weights file's metadata says
// about the model (arch, width, classes, clip geometry, normalization), overridden by flags and, for files without
// metadata, inferred from tensor shapes; then the strict load and a clip → averaged-logits forward.
import Foundation
import NN
import Shards

/// A prediction that cannot run: bad input, inconsistent flags, unreadable media. Carries the path and a hint.
public struct PredictError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public let hint: String?

    public init(path: String, _ message: String, hint: String? = nil) {
        self.path = path; self.message = message; self.hint = hint
    }

    public var description: String { "\(path): \(message)" + (hint.map { " (\($0))" } ?? "") }

    /// An FFmpeg failure while reading or writing `path`, with FFmpeg's hint unless `hint` replaces it.
    public init(_ error: VideoError, path: String, hint: String? = nil) {
        self.init(path: path, "\(error.operation) failed: \(error.message)", hint: hint ?? error.hint)
    }
}

/// Everything needed to rebuild a model and feed it: resolved from metadata, flags and tensor shapes.
public struct ModelSpec: Equatable, Sendable {
    public var arch: Architecture
    /// Channel width (64 is the standard model).
    public var width: Int
    /// r2plus1d_18's temporal stride (2 is torchvision's).
    public var temporalStride: Int
    /// Class names in logit order.
    public var classes: [String]
    /// T: frames per window.
    public var frames: Int
    /// S: windows are S × S.
    public var crop: Int
    public var normalization: Normalization
    /// Stored frames between consecutive input frames (the trainer's --frame-stride).
    public var frameStride: Int
    /// How the training shards were made from raw videos (nil for weights that do not record it).
    public var preprocessing: Preprocessing?

    public init(arch: Architecture, width: Int, temporalStride: Int, classes: [String], frames: Int, crop: Int,
                normalization: Normalization, frameStride: Int = 1, preprocessing: Preprocessing? = nil) {
        self.arch = arch; self.width = width; self.temporalStride = temporalStride; self.classes = classes
        self.frames = frames; self.crop = crop; self.normalization = normalization; self.frameStride = frameStride
        self.preprocessing = preprocessing
    }
}

/// Values given on the command line; nil means "take it from the file".
public struct ModelOverrides: Sendable {
    public var arch: Architecture?
    public var width: Int?
    public var temporalStride: Int?
    public var classes: [String]?
    public var frames: Int?
    public var crop: Int?
    public var mean: [Float]?
    public var std: [Float]?
    public var frameStride: Int?

    public init(arch: Architecture? = nil, width: Int? = nil, temporalStride: Int? = nil, classes: [String]? = nil,
                frames: Int? = nil, crop: Int? = nil, mean: [Float]? = nil, std: [Float]? = nil,
                frameStride: Int? = nil) {
        self.arch = arch; self.width = width; self.temporalStride = temporalStride; self.classes = classes
        self.frames = frames; self.crop = crop; self.mean = mean; self.std = std; self.frameStride = frameStride
    }
}

extension ModelSpec {
    /// Resolves the spec of the weights in `file`. Each field comes from `overrides`, else the file's metadata
    /// (`arch`, `classes`, `frames`, `crop`, `mean`, `std`, and the trainer's `width`, `temporal_stride`), else:
    /// arch is required; width is the first dimension of the arch's `signatureKey` tensor; classes are
    /// `class_0…` for the rows of `fc.weight`; temporal stride 2, 16 frames, crop 112 and Kinetics-400
    /// normalization (torchvision's pretrained models). Throws `PredictError` when the file's tensors contradict
    /// the chosen arch or the class names, `WeightsError` for unparsable metadata.
    public static func resolve(file: SafeTensorsFile, overrides o: ModelOverrides) throws -> ModelSpec {
        let path = file.path, meta = file.metadata
        func decoded<T: Decodable>(_ key: String, as: T.Type) throws -> T? {
            guard let text = meta[key] else { return nil }
            guard let v = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
                throw WeightsError(.badMetadata, path: path, key: key, detail: "cannot parse \(key) = \(text.prefix(80))",
                                   hint: "expected a JSON \(T.self); override it with a flag")
            }
            return v
        }
        let detected = Architecture.allCases.filter { file.tensors[$0.signatureKey] != nil }
        let arch: Architecture
        if let chosen = o.arch {
            arch = chosen
        } else if let name = meta["arch"] {
            guard let named = Architecture(rawValue: name) else {
                throw PredictError(path: path, "unknown architecture '\(name)'", hint: "known: \(Architecture.knownNames)")
            }
            arch = named
        } else {
            throw PredictError(path: path, "the file has no metadata naming its architecture",
                               hint: "pass --arch" + (detected.count == 1 ? " \(detected[0]) (its keys look like \(detected[0])'s)"
                                                                          : " (one of \(Architecture.knownNames))"))
        }
        let signature = arch.signatureKey
        guard let sig = file.tensors[signature] else {
            let what = detected.isEmpty ? "none of the keys of \(Architecture.knownNames)"
                                        : "the weights of \(detected.map(\.rawValue).joined(separator: ", "))"
            throw PredictError(path: path, "architecture mismatch: the model is \(arch) but the file holds \(what) (no \(signature))",
                               hint: detected.count == 1 ? "use --arch \(detected[0]), or the weights of a \(arch) model"
                                                         : "check that this is a weights file of this project or torchvision")
        }
        guard sig.shape.count == 5 else {
            throw PredictError(path: path, "\(signature) has shape \(sig.shape), not a 3D convolution's [out, in, kD, kH, kW]",
                               hint: "the file does not hold \(arch) weights")
        }
        guard let fc = file.tensors["fc.weight"], fc.shape.count == 2 else {
            throw PredictError(path: path, "no fc.weight of shape [classes, features] in the file",
                               hint: "the classifier head is missing; the file is incomplete")
        }
        let rows = fc.shape[0]
        let classes = try o.classes ?? decoded("classes", as: [String].self) ?? (0..<rows).map { "class_\($0)" }
        guard classes.count == rows else {
            throw PredictError(path: path, "\(classes.count) class names but fc.weight has \(rows) rows",
                               hint: o.classes != nil ? "--classes must name one class per output" : "the metadata disagrees with the weights")
        }
        let width = try o.width ?? decoded("width", as: Int.self) ?? sig.shape[0]
        let temporalStride = try o.temporalStride ?? decoded("temporal_stride", as: Int.self) ?? 2
        let frames = try o.frames ?? decoded("frames", as: Int.self) ?? 16
        let crop = try o.crop ?? decoded("crop", as: Int.self) ?? 112
        let frameStride = try o.frameStride ?? decoded("frame_stride", as: Int.self) ?? 1
        let mean = try o.mean ?? decoded("mean", as: [Float].self) ?? Normalization.kinetics400.mean
        let std = try o.std ?? decoded("std", as: [Float].self) ?? Normalization.kinetics400.std
        guard width > 0, frames > 0, crop > 0, frameStride > 0, temporalStride == 1 || temporalStride == 2 else {
            throw PredictError(path: path, "width \(width), frames \(frames), crop \(crop) and frame stride \(frameStride) must be positive and the temporal stride (\(temporalStride)) 1 or 2",
                               hint: "fix the flag or the metadata")
        }
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 > 0 }) else {
            throw PredictError(path: path, "mean \(mean) and std \(std) must be 3 values each, std positive",
                               hint: "RGB statistics of [0, 1] pixels, e.g. --mean 0.43216,0.394666,0.37645")
        }
        var preprocessing: Preprocessing?
        if let text = meta["preprocessing"] {
            guard let p = Preprocessing(json: text) else {
                throw WeightsError(.badMetadata, path: path, key: "preprocessing", detail: "cannot parse preprocessing = \(text.prefix(80))",
                                   hint: "give --size, --hand-crop, --margin and --stride explicitly")
            }
            preprocessing = p
        }
        return ModelSpec(arch: arch, width: width, temporalStride: temporalStride, classes: classes, frames: frames,
                         crop: crop, normalization: Normalization(mean: mean, std: std), frameStride: frameStride,
                         preprocessing: preprocessing)
    }
}

/// A model loaded for inference, and the evaluation transform that matches how it was trained.
public final class Predictor {
    public let spec: ModelSpec
    public let model: VideoClassifier
    public let weightsPath: String

    /// Opens `weights` (a weights file, or a checkpoint directory holding `model.safetensors`; header validated),
    /// resolves the spec and loads every tensor strictly.
    /// - Throws: `WeightsError` (malformed file, missing or unexpected key, wrong shape or dtype), `PredictError`.
    public init(weights: String, overrides: ModelOverrides = ModelOverrides()) throws {
        let path = try Predictor.weightsFile(at: weights)
        let file = try SafeTensorsFile(path: path)
        spec = try ModelSpec.resolve(file: file, overrides: overrides)
        model = try spec.arch.makeModel(classes: spec.classes.count, width: spec.width, temporalStride: spec.temporalStride)
        try model.store.load(from: path)
        weightsPath = path
    }

    /// The weights file inside a checkpoint directory (the trainer's `checkpoints/step-N/`).
    public static let checkpointModelFile = "model.safetensors"

    /// The weights file `path` names: itself, or `path/model.safetensors` for a checkpoint directory (e.g.
    /// `run/checkpoints/best`). Throws `PredictError` for a directory without one.
    public static func weightsFile(at path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return path }
        let inside = (path as NSString).appendingPathComponent(checkpointModelFile)
        guard FileManager.default.fileExists(atPath: inside) else {
            throw PredictError(path: path, "a directory without \(checkpointModelFile)",
                               hint: "pass a weights file or a checkpoint directory such as RUN/checkpoints/best or RUN/checkpoints/last")
        }
        return inside
    }

    /// The trainer's evaluation sampling: `clips` evenly spaced windows (1: the centred one) of `spec.frames`
    /// frames at `frameStride`, centre crop to `spec.crop`, normalized.
    public func transform(clips: Int, frameStride: Int) -> ClipTransform {
        ClipTransform(temporal: TemporalSampling(frames: spec.frames, stride: frameStride), cropSize: spec.crop,
                      training: false, augmentation: .none, normalization: spec.normalization, evaluationClips: clips)
    }

    /// Runs the model on `windows` [K, 3, T, S, S] (the K windows of one clip) in evaluation mode; returns the mean
    /// of the K rows of logits, [classes].
    public func logits(windows: Tensor) throws -> [Float] {
        let k = windows.shape.first ?? 0
        let out = try model.forward(windows, training: false)
        let c = spec.classes.count
        precondition(out.shape == [k, c], "logits [K, classes]")
        var mean = [Float](repeating: 0, count: c)
        for w in 0..<k { for j in 0..<c { mean[j] += out.data[w * c + j] } }
        return mean.map { $0 / Float(max(k, 1)) }
    }

    /// Transforms a decoded clip (`frames` [F, height, width, 3] uint8 RGB) with `transform` and returns its averaged
    /// logits [classes].
    public func logits(frames: [UInt8], frameCount: Int, height: Int, width: Int, transform: ClipTransform) throws -> [Float] {
        var rng = transform.rng(epoch: 0, index: 0)
        let windows = transform.windows(frameCount: frameCount, rng: &rng)
        let input = Tensor(shape: [windows.count, 3, transform.temporal.frames, transform.cropSize, transform.cropSize])
        frames.withUnsafeBufferPointer { src in
            for (k, window) in windows.enumerated() {
                let out = UnsafeMutableBufferPointer(start: input.data + k * transform.floatsPerWindow,
                                                     count: transform.floatsPerWindow)
                var windowRng = rng
                transform.apply(frames: src, height: height, width: width, indices: window, rng: &windowRng, into: out)
            }
        }
        return try logits(windows: input)
    }

    /// Softmax of `logits` [classes] (computed in Double, shifted by the max).
    public static func probabilities(_ logits: [Float]) -> [Float] {
        guard let m = logits.max() else { return [] }
        let e = logits.map { exp(Double($0 - m)) }
        let sum = e.reduce(0, +)
        return e.map { Float($0 / sum) }
    }

    /// The `k` most probable classes, most probable first (ties: lower index first).
    public func top(_ k: Int, of logits: [Float]) -> [(name: String, probability: Float)] {
        Predictor.top(k, probabilities: Predictor.probabilities(logits), classes: spec.classes)
    }

    /// The `k` most probable of `classes` by `probabilities` [classes], most probable first (ties: lower index first).
    public static func top(_ k: Int, probabilities p: [Float], classes: [String]) -> [(name: String, probability: Float)] {
        let order = p.indices.sorted { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) }
        return order.prefix(k).map { (classes[$0], p[$0]) }
    }
}
