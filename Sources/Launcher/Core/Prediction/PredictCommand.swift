// Launcher: the `asl-predict` command line (classify videos, shards or a webcam with trained weights).
//
// Videos go through the shard builder's crop and resize (`ClipReader`, `--hand-crop`, `--size`), then the trainer's
// evaluation sampling (`ClipTransform(training: false)`); shards skip the first step. Everything about the model
// comes from the weights file's metadata unless a flag overrides it.
import ArgumentParser
import Foundation
import NN
import Shards

/// The hand crops that apply to a video alone: it has no source box (`bbox`) nor a box file entry (`boxes:FILE`).
public enum VideoHandCrop: String, CaseIterable, ExpressibleByArgument, Sendable {
    case motion
    case none

    public static var allValueDescriptions: [String: String] {
        ["motion": "around what moves across the clip, else the centre square", "none": "the centre square"]
    }

    var mode: HandCropMode {
        switch self {
        case .motion: return .motion
        case .none: return .none
        }
    }
}

public struct PredictCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "asl-predict",
        abstract: "Classify sign-language videos, shards or a webcam stream with trained weights.",
        discussion: """
            --input takes a video, a folder of videos, a shard file (.h5) or a shard directory (every split, or \
            --split), or a .safetensors file holding a normalized tensor `input` [N, 3, T, H, W].
            Weights without metadata (converted from torchvision) need --arch; the class count then comes from \
            fc.weight and the names are class_0, class_1, ...
            """,
        version: VersionReport.projectVersion)

    @Option(help: "Weights file (.safetensors), from asl-dist-train or tools/convert_torchvision.py.")
    public var weights: String
    @Option(help: "A video, a folder of videos, a shard file or directory, or an input tensor (.safetensors).")
    public var input: String?
    @Option(help: "Classify the live stream of this camera index in a window instead of --input (q or Esc quits).")
    public var camera: Int?
    @Option(name: .customLong("top-k"), help: "Classes shown per input.")
    public var topK = 5
    @Option(help: "Write the top-k of every input to this JSON file.")
    public var output: String?
    @Option(name: .customLong("logits-out"), help: "Write every input's logits to this CSV file (clip_id,logit_0,...).")
    public var logitsOut: String?
    @Option(help: "Windows per input (evenly spaced, logits averaged); 1 is the centred window.")
    public var clips = 1
    @Option(help: "Stored frames between consecutive input frames (default: the trainer's --frame-stride from the metadata, else 1).")
    public var frameStride: Int?
    @Option(help: "Shard split to classify in a shard directory (default: every split).")
    public var split: String?
    @Option(name: .customLong("hand-crop"), help: "Square crop box of a video, then resized to --size.")
    public var handCrop = VideoHandCrop.motion
    @Option(help: "Video frames are cropped and resized to size × size first, as asl-shards build --size.")
    public var size = 128

    @Option(help: "Override the architecture (required for weights without metadata).")
    public var arch: Architecture?
    @Option(help: "Override the model width (default: metadata, else inferred from the weights).")
    public var width: Int?
    @Option(help: "Override r2plus1d_18's temporal stride, 1 or 2 (default: metadata, else 2).")
    public var temporalStride: Int?
    @Option(help: "Override the class names, comma separated, in logit order.")
    public var classes: String?
    @Option(help: "Override frames per window (default: metadata, else 16).")
    public var frames: Int?
    @Option(help: "Override the crop size (default: metadata, else 112).")
    public var cropSize: Int?
    @Option(help: "Override the normalization mean, three comma-separated values.")
    public var mean: String?
    @Option(help: "Override the normalization std, three comma-separated values.")
    public var std: String?

    public init() {}

    public func validate() throws {
        guard (input == nil) != (camera == nil) else { throw ValidationError("give exactly one of --input and --camera") }
        guard topK > 0, clips > 0, (frameStride ?? 1) > 0, size > 0 else {
            throw ValidationError("--top-k, --clips, --frame-stride and --size must be positive")
        }
        for (flag, value) in [("--mean", mean), ("--std", std)] {
            if let value, (try? floats(value))?.count != 3 { throw ValidationError("\(flag) takes three comma-separated numbers") }
        }
        if let classes, classes.split(separator: ",").isEmpty { throw ValidationError("--classes names no class") }
    }

    private func floats(_ text: String) throws -> [Float] {
        try text.split(separator: ",").map {
            guard let v = Float($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("not a number: \($0)") }
            return v
        }
    }

    /// The flags that override the weights file's metadata.
    public var overrides: ModelOverrides {
        ModelOverrides(arch: arch, width: width, temporalStride: temporalStride,
                       classes: classes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
                       frames: frames, crop: cropSize, mean: mean.flatMap { try? floats($0) },
                       std: std.flatMap { try? floats($0) }, frameStride: frameStride)
    }

    public func run() throws {
        do {
            let predictor = try Predictor(weights: weights, overrides: overrides)
            let s = predictor.spec
            print("asl-predict: \(s.arch) width \(s.width), \(s.classes.count) classes, \(s.frames) frames at "
                  + "\(s.crop)×\(s.crop), \(clips) window(s) per input")
            if let camera {
                try LiveCamera(predictor: predictor, index: camera, topK: topK, size: size, frameStride: predictor.spec.frameStride).run()
                return
            }
            let failures = try predict(predictor: predictor)
            if failures > 0 { throw ExitCode.failure }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("\(error)", rank: nil, size: nil)
            throw ExitCode.failure
        }
    }

    /// Classifies every input, prints and writes the results; returns how many inputs failed (each reported on
    /// standard error). Errors that concern the whole run (unreadable shards, unwritable outputs) are thrown.
    func predict(predictor: Predictor) throws -> Int {
        let transform = predictor.transform(clips: clips, frameStride: predictor.spec.frameStride)
        let clipOptions = ClipOptions(size: size, stride: 1, handCrop: handCrop.mode)
        var predictions: [Prediction] = []
        var failed: [(id: String, error: String)] = []
        var metrics: ClassificationMetrics?
        func report(_ p: Prediction) {
            let top = predictor.top(topK, of: p.logits).map { "\($0.name) \(String(format: "%.3f", $0.probability))" }
            print("\(p.id): " + top.joined(separator: ", ") + (p.label.map { "  [true: \($0)]" } ?? ""))
            predictions.append(p)
        }
        for source in try PredictSource.find(at: input!, split: split) {
            switch source {
            case .video(let path, let id):
                do {
                    let clip = try ClipReader.read(ClipInput(media: .video(path: path, frameStart: 1, frameEnd: -1),
                                                             label: -1, clipID: id), options: clipOptions)
                    report(Prediction(id: id, logits: try predictor.logits(frames: clip.frames, frameCount: clip.frameCount,
                                                                            height: clip.height, width: clip.width,
                                                                            transform: transform)))
                } catch {
                    printError("\(error)", rank: nil, size: nil)
                    failed.append((id, "\(error)"))
                }
            case .shards(let dataset, _):
                let sameClasses = dataset.classes == predictor.spec.classes
                if sameClasses && metrics == nil { metrics = ClassificationMetrics(classes: dataset.classes) }
                let reader = ShardReader(dataset: dataset)
                defer { reader.close() }
                var scratch: [UInt8] = []
                let input = Tensor(shape: [transform.windowsPerClip, 3, transform.temporal.frames, transform.cropSize,
                                           transform.cropSize])
                for i in 0..<dataset.count {
                    try transform.load(index: i, epoch: 0, reader: reader, scratch: &scratch, into: input.buffer)
                    let logits = try predictor.logits(windows: input)
                    let label = dataset.label(i)
                    if sameClasses { metrics?.add(logits: logits, labels: [label], isPadding: [false]) }
                    report(Prediction(id: dataset.clipID(i), logits: logits,
                                      label: dataset.classes.indices.contains(Int(label)) ? dataset.classes[Int(label)] : nil))
                }
            case .tensor(let path):
                let all = try PredictSource.readTensor(path: path)
                let n = all.shape[0], per = all.count / n
                let name = (path as NSString).lastPathComponent
                for i in 0..<n {
                    let one = Tensor(shape: [1] + Array(all.shape.dropFirst()), copying: all.data + i * per)
                    report(Prediction(id: "\(name)#\(i)", logits: try predictor.logits(windows: one)))
                }
            }
        }
        if let m = metrics, m.count > 0 {
            print(String(format: "shards: top-1 %.2f%%, top-5 %.2f%% over %lld clips", 100 * Double(m.top1) / Double(m.count),
                         100 * Double(m.top5) / Double(m.count), m.count))
        }
        if let output {
            try PredictionReport.writeJSON(predictions, failed: failed, predictor: predictor, topK: topK, to: output)
        }
        if let logitsOut {
            try PredictionReport.writeLogitsCSV(predictions, classes: predictor.spec.classes.count, to: logitsOut)
        }
        if !failed.isEmpty {
            printError("\(failed.count) of \(failed.count + predictions.count) input(s) could not be classified", rank: nil, size: nil)
        }
        return failed.count
    }
}
