// Inference: what `asl-predict --input PATH` classifies — a video, a folder of videos, a shard file or a shard
// directory, or a raw input tensor — and the per-input results it writes (top-k JSON, all-logits CSV).
import Foundation
import NN
import Shards
import Support

/// One source of inputs found under `--input`.
public enum PredictSource {
    /// One clip, decoded, cropped and resized as `asl-shards build` does: a video, an image, or a clip's frame
    /// images. `label` is the class its folder names, in layouts that have one.
    case clip(ClipInput, id: String, label: String?)
    /// The clips of one split of shards (a shard file, or one split of a shard directory).
    case shards(ShardDataset, path: String)
    /// A safetensors file with a float tensor `input` [N, 3, T, H, W], already normalized: fed to the model as is,
    /// one input per row (ids `NAME#i`). For checking the network against another implementation on exact inputs.
    case tensor(path: String)

    /// The sources at `path`, in every layout `asl-shards build` reads and a few of its own:
    /// - a file: `.h5` shard, `.safetensors` input tensor, an image (a one-frame clip), else a video;
    /// - a directory with shard files: every split, or only `split`;
    /// - `root/{train,val,test}/<class>/<clip>/frame_*.png` (as `build frames`; only `split` when given);
    /// - `root/<class>/<video or image>` (as `build videos` and `build images`), labelled by folder;
    /// - a directory of videos; a directory of images: each image a clip when the model takes one frame
    ///   (`framesPerWindow` 1), else the directory is one clip's frames in name order.
    /// Throws `PredictError` for a missing path or a directory with nothing to classify.
    public static func find(at path: String, split: String?, framesPerWindow: Int) throws -> [PredictSource] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PredictError(path: path, "no such file or directory",
                               hint: "--input takes a video, an image, a folder of them (as asl-shards build reads) or shards")
        }
        let name = (path as NSString).lastPathComponent
        func ext(_ n: String) -> String { (n as NSString).pathExtension.lowercased() }
        guard isDirectory.boolValue else {
            switch ext(path) {
            case "h5", "hdf5": return [.shards(try ShardDataset(path: path, split: split), path: path)]
            case "safetensors": return [.tensor(path: path)]
            case let e where DataSources.imageExtensions.contains(e):
                return [.clip(ClipInput(media: .images([path]), label: -1, clipID: name), id: name, label: nil)]
            default:
                return [.clip(ClipInput(media: .video(path: path, frameStart: 1, frameEnd: -1), label: -1, clipID: name),
                              id: name, label: nil)]
            }
        }
        let splits = try ShardDataset.splits(inDirectory: path)
        if !splits.isEmpty {
            if let split, !splits.contains(split) {
                throw PredictError(path: path, "no shards of split '\(split)' here", hint: "splits present: \(splits.joined(separator: ", "))")
            }
            return try (split.map { [$0] } ?? splits).map { .shards(try ShardDataset(path: path, split: $0), path: path) }
        }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted() } catch {
            throw PredictError(path: path, "cannot list the directory: \(error.localizedDescription)")
        }
        func full(_ n: String) -> String { (path as NSString).appendingPathComponent(n) }
        func labelled(_ plan: SourcePlan) -> [PredictSource] {
            plan.inputs.map { .clip($0, id: $0.clipID, label: plan.classes[Int($0.label)]) }
        }
        func planned(_ make: () throws -> SourcePlan) throws -> SourcePlan {
            do { return try make() } catch let e as ShardSourceError {
                throw PredictError(path: e.path, e.reason, hint: e.hint)
            }
        }
        let videos = entries.filter { DataSources.videoExtensions.contains(ext($0)) }
        if !videos.isEmpty {
            return videos.map { .clip(ClipInput(media: .video(path: full($0), frameStart: 1, frameEnd: -1), label: -1, clipID: $0),
                                      id: $0, label: nil) }
        }
        let images = entries.filter { DataSources.imageExtensions.contains(ext($0)) }
        if !images.isEmpty {
            if framesPerWindow == 1 {
                return images.map { .clip(ClipInput(media: .images([full($0)]), label: -1, clipID: $0), id: $0, label: nil) }
            }
            return [.clip(ClipInput(media: .images(images.map(full)), label: -1, clipID: name), id: name, label: nil)]
        }
        let folders = DataSources.subdirectories(path)
        if folders.contains(where: { Split(rawValue: $0) != nil }) {
            var plan = try planned { try DataSources.frames(root: path) }
            if let split {
                guard let wanted = Split(rawValue: split) else {
                    throw PredictError(path: path, "no split '\(split)' in a frame-folder layout", hint: "use train, val or test")
                }
                plan.inputs = plan.inputs.filter { $0.split == wanted }
            }
            return labelled(plan)
        }
        if let first = folders.first {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: full(first))) ?? []
            if files.contains(where: { DataSources.videoExtensions.contains(ext($0)) }) {
                return labelled(try planned { try DataSources.videos(root: path) })
            }
            if files.contains(where: { DataSources.imageExtensions.contains(ext($0)) }) {
                return labelled(try planned { try DataSources.images(root: path) })
            }
        }
        throw PredictError(path: path, "nothing to classify here: no shards, videos, images, class folders or train/test folders",
                           hint: "video extensions: \(DataSources.videoExtensions.sorted().joined(separator: ", ")); images: "
                               + DataSources.imageExtensions.sorted().joined(separator: ", "))
    }

    /// Reads the `input` tensor of a `.tensor` source: [N, 3, T, H, W] floats.
    public static func readTensor(path: String) throws -> Tensor {
        let file = try SafeTensorsFile(path: path)
        let info = try file.info("input")
        guard info.shape.count == 5, info.shape[1] == 3, info.count > 0 else {
            throw PredictError(path: path, "tensor input has shape \(info.shape), expected [N, 3, T, H, W]")
        }
        let t = Tensor(shape: info.shape)
        try file.readFloats("input", into: t.data, count: t.count)
        return t
    }
}

/// The result for one input.
public struct Prediction: Sendable {
    public init(id: String, logits: [Float], label: String? = nil) { self.id = id; self.logits = logits; self.label = label }
    public var id: String
    /// Averaged over the input's windows, [classes].
    public var logits: [Float]
    /// The true class name, when the input carries one (shards).
    public var label: String?
}

/// Writes predictions as the user asked for them.
public enum PredictionReport {
    /// `{"weights", "arch", "classes", "predictions": [{"id", "top_k": [{"class", "probability"}], "label"?}],
    /// "failed": [{"id", "error"}]}`, written atomically.
    public static func writeJSON(_ predictions: [Prediction], failed: [(id: String, error: String)], predictor: Predictor,
                          topK: Int, to path: String) throws {
        let items: [[String: Any]] = predictions.map { p in
            var item: [String: Any] = ["id": p.id, "top_k": predictor.top(topK, of: p.logits).map {
                ["class": $0.name, "probability": Double($0.probability)] as [String: Any]
            }]
            if let label = p.label { item["label"] = label }
            return item
        }
        let root: [String: Any] = ["weights": predictor.weightsPath, "arch": predictor.spec.arch.rawValue,
                                   "classes": predictor.spec.classes, "predictions": items,
                                   "failed": failed.map { ["id": $0.id, "error": $0.error] }]
        let data = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data + Data("\n".utf8), to: path)
    }

    /// `clip_id,logit_0,…,logit_{C-1}` then one row per input; floats printed so that they read back exactly.
    public static func writeLogitsCSV(_ predictions: [Prediction], classes: Int, to path: String) throws {
        var text = "clip_id," + (0..<classes).map { "logit_\($0)" }.joined(separator: ",") + "\n"
        for p in predictions {
            text += csvField(p.id) + "," + p.logits.map { "\($0)" }.joined(separator: ",") + "\n"
        }
        try AtomicFile.write(Data(text.utf8), to: path)
    }

    /// RFC 4180 quoting for ids holding a comma, quote or newline.
    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
