// Launcher: the `asl-predict` command line (classify videos, shards, or a live camera, file or stream with trained
// weights).
//
// Videos and images go through the shard builder's crop and resize (`ClipReader`) with the preprocessing the
// training shards were built with (recorded in the weights' metadata), then the trainer's evaluation sampling
// (`ClipTransform(training: false)`); shards skip the first step. Everything about the model and its input comes
// from the weights file's metadata unless a flag overrides it, and an override that departs from it is printed.
import ArgumentParser
import Foundation
import Inference
import NN
import Shards

public struct PredictCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "asl-predict",
        abstract: "Classify sign-language videos, shards, or a live camera, video file or stream with trained weights.",
        discussion: """
            --input takes a video, an image, a folder in any layout asl-shards build reads (class folders of videos or \
            images, train/test frame folders), a folder of videos, a shard file (.h5) or a shard directory (every \
            split, or --split), or a .safetensors file holding a normalized tensor `input` [N, 3, T, H, W].
            Raw videos and images are cropped and resized as the training shards were built (size, hand-crop rule, \
            margin, stride: from the weights' metadata); --size, --hand-crop, --margin and --stride override it.
            Weights without metadata (converted from torchvision) need --arch; the class count then comes from \
            fc.weight and the names are class_0, class_1, ...
            --live takes a camera index, a video file or a stream URL: frames are shown (or written with \
            --output-video) at the source's rate while the model classifies the newest window in the background; \
            --output then writes one JSON line per classification.
            """,
        version: VersionReport.projectVersion)

    @Option(help: "Weights file (.safetensors) or checkpoint directory (RUN/checkpoints/best), from asl-dist-train or tools/convert_torchvision.py.")
    public var weights: String
    @Option(help: "A video, an image, a folder of them (as asl-shards build reads), a shard file or directory, or an input tensor (.safetensors).")
    public var input: String?
    @Option(help: "Classify a live source instead of --input: a camera index (0), a video file or a stream URL (rtsp://, http://); q or Esc in the window quits.")
    public var live: String?
    @Option(help: "The same as --live N for camera N.")
    public var camera: Int?
    @Flag(name: .customLong("no-window"), help: "--live: show no preview window (for servers and recordings).")
    public var noWindow = false
    @Option(name: .customLong("output-video"), help: "--live: write the annotated frames to this video file (.mp4: H.264 where the encoder exists, else MPEG-4) at the source's rate and size.")
    public var outputVideo: String?
    @Option(help: "--live: classify the window ending at every N-th frame.")
    public var every = 4
    @Option(help: "--live: show probabilities averaged over the last K classifications.")
    public var smooth = 3
    @Option(help: "--live: below this averaged top-1 probability the overlay says that no sign is recognized.")
    public var threshold = 0.0
    @Flag(help: "--live with a file or stream: deliver its frames at its frame rate, as a camera would (windows the model cannot keep up with are dropped); without it a file is read as fast as it decodes and every N-th window is classified.")
    public var realtime = false
    @Option(help: "Classify only frames START:END (1-based, inclusive; END -1 = to the end) of a video --input, as WLASL's frame_start/frame_end.")
    public var range: String?
    @Option(name: .customLong("top-k"), help: "Classes shown per input.")
    public var topK = 5
    @Option(help: "Write the top-k of every input to this JSON file (with --live: one JSON line per classification).")
    public var output: String?
    @Option(name: .customLong("logits-out"), help: "Write every input's logits to this CSV file (clip_id,logit_0,...).")
    public var logitsOut: String?
    @Option(help: "Windows per input (evenly spaced, logits averaged); 1 is the centred window.")
    public var clips = 1
    @Option(help: "Stored frames between consecutive input frames (default: the trainer's --frame-stride from the metadata, else 1).")
    public var frameStride: Int?
    @Option(help: "Shard split to classify in a shard directory (default: every split).")
    public var split: String?
    @Option(name: .customLong("hand-crop"), help: "Square crop box of a video, as asl-shards build --hand-crop (default: the build's rule; a bbox build's boxes come from its WLASL JSON while it is there, else motion).")
    public var handCrop: HandCropMode?
    @Option(help: "Margin around the crop box, as asl-shards build --margin (default: the build's, else 0.1).")
    public var margin: Double?
    @Option(help: "Video frames are cropped and resized to size × size first, as asl-shards build --size (default: the build's, else 128).")
    public var size: Int?
    @Option(help: "Keep every k-th video frame, as asl-shards build --stride (default: the build's, adapted to the video's fps so that its frames match the training frames' rate).")
    public var stride: Int?

    @Option(help: "GEMM arithmetic: fp32, or bf16 (bf16 inputs, fp32 accumulation, as PyTorch's autocast).")
    public var precision: Precision = .fp32
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
        guard [input != nil, live != nil, camera != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --input, --live and --camera")
        }
        guard topK > 0, clips > 0, (frameStride ?? 1) > 0, (size ?? 1) > 0, (stride ?? 1) > 0, (margin ?? 0) >= 0,
              every > 0, smooth > 0, (0...1).contains(threshold) else {
            throw ValidationError("--top-k, --clips, --frame-stride, --size, --stride, --every and --smooth must be positive, "
                                  + "--margin at least 0, --threshold within 0...1")
        }
        let isLive = live != nil || camera != nil
        for (flag, given) in [("--output-video", outputVideo != nil), ("--no-window", noWindow), ("--realtime", realtime)] where given && !isLive {
            throw ValidationError("\(flag) applies to --live")
        }
        if isLive, logitsOut != nil { throw ValidationError("--logits-out applies to --input; --live writes its records with --output") }
        if let range {
            guard input != nil else { throw ValidationError("--range applies to a video --input") }
            guard frameRange(range) != nil else {
                throw ValidationError("--range takes START:END, 1-based and inclusive (END -1: to the end), e.g. 1:64")
            }
        }
        if handCrop == .bbox {
            throw ValidationError("--hand-crop bbox takes the source's own box (WLASL's bbox), which a raw video does not have; "
                                  + "use 'motion', 'none' or 'boxes:FILE'")
        }
        for (flag, value) in [("--mean", mean), ("--std", std)] {
            if let value, (try? floats(value))?.count != 3 { throw ValidationError("\(flag) takes three comma-separated numbers") }
        }
        if let classes, classes.split(separator: ",").isEmpty { throw ValidationError("--classes names no class") }
    }

    /// START:END of --range, or nil when malformed.
    func frameRange(_ text: String) -> (start: Int, end: Int)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int(parts[0]), let end = Int(parts[1]), start >= 1, end == -1 || end >= start else { return nil }
        return (start, end)
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
            for line in try Precision.apply(precision, to: predictor.model) { print(line) }
            print("asl-predict: \(s.arch) width \(s.width), \(s.classes.count) classes, \(s.frames) frames at "
                  + "\(s.crop)×\(s.crop), \(clips) window(s) per input")
            let input = try inputPreprocessing(for: s)
            for note in input.notes { print("note: \(note)") }
            if let source = live ?? camera.map(String.init) {
                try runLive(source: source, predictor: predictor, preprocessing: input)
                return
            }
            let failures = try predict(predictor: predictor, preprocessing: input)
            if failures > 0 { throw ExitCode.failure }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("\(error)", rank: nil, size: nil)
            throw ExitCode.failure
        }
    }

    /// How raw videos and images become frames here: the training shards' preprocessing from the weights'
    /// metadata, with each flag given overriding it. `notes` say where the result departs from the build (printed
    /// once); `targetFPS` is the training frames' rate that videos are matched to when --stride is not given.
    struct InputPreprocessing {
        var options: ClipOptions
        var targetFPS: Double?
        var notes: [String] = []
    }

    func inputPreprocessing(for spec: ModelSpec) throws -> InputPreprocessing {
        let built = spec.preprocessing
        var notes: [String] = []
        func choose<T: Equatable>(_ flag: String, _ given: T?, _ recorded: T?, default value: T) -> T {
            if let given, let recorded, given != recorded {
                notes.append("\(flag) \(given) departs from the training shards' \(recorded)")
            }
            return given ?? recorded ?? value
        }
        let size = choose("--size", size, built?.size, default: 128)
        let margin = choose("--margin", margin, built?.margin, default: 0.1)
        let stride = choose("--stride", stride, built?.stride, default: 1)
        var mode: HandCropMode
        if let handCrop {
            mode = handCrop
            if let built, built.handCrop != handCrop.description {
                notes.append("--hand-crop \(handCrop) departs from the training shards' \(built.handCrop)")
            }
        } else if let built {
            mode = (try? HandCropMode(parsing: built.handCrop)) ?? .motion
            switch mode {
            case .bbox:
                if let json = built.boxSource, FileManager.default.fileExists(atPath: json) {
                    // The build's own boxes: a video that JSON lists is cropped exactly as its shard was.
                    mode = .boxes(path: json)
                    notes.append("cropping around the boxes of \(json), as the training shards were (a video it does not "
                                 + "list gets the centre square, as in the build)")
                } else {
                    mode = .motion
                    notes.append("the training shards were cropped around the source's own boxes (bbox)"
                                 + (built.boxSource.map { " from \($0), which is not here" } ?? "") + "; a raw video has none, "
                                 + "so it is cropped around what moves (give --hand-crop boxes:FILE with its box to repeat the build)")
                }
            case .boxes(let path) where !FileManager.default.fileExists(atPath: path):
                mode = .motion
                notes.append("the training shards' boxes file \(path) is not here, so videos are cropped around what moves "
                             + "(give --hand-crop boxes:FILE)")
            default: break
            }
        } else {
            mode = .motion
            notes.append("the weights do not record how their training frames were made: using --size \(size) "
                         + "--hand-crop motion --margin \(margin) --stride \(stride) (set them as the shards were built)")
        }
        var boxes: [String: [Double]] = [:]
        if case .boxes(let path) = mode {
            do {
                let isWLASL = handCrop == nil && path == built?.boxSource
                boxes = isWLASL ? try DataSources.wlaslBoxes(json: path) : try ClipOptions.loadBoxes(path: path)
            } catch let e as ShardSourceError {
                throw PredictError(path: e.path, e.reason, hint: e.hint)
            }
        }
        let fps = self.stride == nil ? built.flatMap { $0.fps > 0 ? $0.fps : nil } : nil
        let options = ClipOptions(size: size, stride: stride, handCrop: mode, margin: margin, boxes: boxes,
                                  conversion: built?.frameConversion ?? .fused)
        return InputPreprocessing(options: options, targetFPS: fps, notes: notes)
    }

    /// Decodes one raw clip as the training shards were built. A video whose rate differs from the training frames'
    /// (`targetFPS`, without --stride) is read again keeping every k-th frame, k = its fps / the training fps rounded.
    func readClip(_ input: ClipInput, id: String, preprocessing p: InputPreprocessing) throws -> DecodedClip {
        let clip = try ClipReader.read(input, options: p.options)
        guard let target = p.targetFPS, clip.sourceFPS > 0 else { return clip }
        let match = Preprocessing.matchingStride(sourceFPS: clip.sourceFPS, trainingFPS: target, source: id)
        guard match.stride != p.options.stride else { return clip }
        print(match.note)
        var options = p.options
        options.stride = match.stride
        return try ClipReader.read(input, options: options)
    }

    /// Classifies every input, prints and writes the results; returns how many inputs failed (each reported on
    /// standard error). Errors that concern the whole run (unreadable shards, unwritable outputs) are thrown.
    func predict(predictor: Predictor, preprocessing: InputPreprocessing) throws -> Int {
        let transform = predictor.transform(clips: clips, frameStride: predictor.spec.frameStride)
        var predictions: [Prediction] = []
        var failed: [(id: String, error: String)] = []
        var metrics = ClassificationMetrics(classes: predictor.spec.classes)
        func report(_ p: Prediction) {
            let top = predictor.top(topK, of: p.logits).map { "\($0.name) \(String(format: "%.3f", $0.probability))" }
            print("\(p.id): " + top.joined(separator: ", ") + (p.label.map { "  [true: \($0)]" } ?? ""))
            if let label = p.label, let index = predictor.spec.classes.firstIndex(of: label) {
                metrics.add(logits: p.logits, labels: [Int32(index)], isPadding: [false])
            }
            predictions.append(p)
        }
        for source in try PredictSource.find(at: input!, split: split, framesPerWindow: predictor.spec.frames) {
            switch source {
            case .clip(var clipInput, var id, let label):
                do {
                    if let range, let r = frameRange(range) {
                        guard case .video(let path, _, _) = clipInput.media else {
                            throw PredictError(path: id, "--range applies to videos, not to images", hint: "drop --range")
                        }
                        clipInput.media = .video(path: path, frameStart: r.start, frameEnd: r.end)
                        id += "[\(range)]"
                    }
                    let clip = try readClip(clipInput, id: id, preprocessing: preprocessing)
                    report(Prediction(id: id, logits: try predictor.logits(frames: clip.frames, frameCount: clip.frameCount,
                                                                            height: clip.height, width: clip.width,
                                                                            transform: transform), label: label))
                } catch {
                    printError("\(error)", rank: nil, size: nil)
                    failed.append((id, "\(error)"))
                }
            case .shards(let dataset, _):
                let reader = ShardReader(dataset: dataset)
                defer { reader.close() }
                var scratch: [UInt8] = []
                let input = Tensor(shape: [transform.windowsPerClip, 3, transform.temporal.frames, transform.cropSize,
                                           transform.cropSize])
                for i in 0..<dataset.count {
                    try transform.load(index: i, epoch: 0, reader: reader, scratch: &scratch, into: input.buffer)
                    let logits = try predictor.logits(windows: input)
                    let label = dataset.label(i)
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
        if metrics.count > 0 {
            print(String(format: "labelled inputs: top-1 %.2f%%, top-5 %.2f%% over %lld clips",
                         100 * Double(metrics.top1) / Double(metrics.count), 100 * Double(metrics.top5) / Double(metrics.count),
                         metrics.count))
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

    /// Runs `--live`: the preprocessing's frame size and margin; the crop follows what moves unless the shards were
    /// cut from centre squares (`none`) or --hand-crop names another rule.
    func runLive(source text: String, predictor: Predictor, preprocessing p: InputPreprocessing) throws {
        var options = LiveOptions(size: p.options.size)
        switch p.options.handCrop {
        case .none: options.crop = .centre
        case .boxes where handCrop != nil:
            let name = (text as NSString).lastPathComponent
            let probe = ClipInput(media: .video(path: text, frameStart: 1, frameEnd: -1), label: -1, clipID: name)
            if let key = probe.boxKey(in: p.options.boxes), let b = p.options.boxes[key], b.count == 4 {
                options.crop = .box(b[0], b[1], b[2], b[3])
            } else {
                print("note: \(name) has no box in the boxes file; the crop follows what moves")
            }
        default: options.crop = .motion
        }
        options.margin = p.options.margin
        options.sourceStride = stride
        options.targetFPS = p.targetFPS
        options.every = every
        options.topK = topK
        options.smooth = smooth
        options.threshold = threshold
        options.realtime = realtime
        options.showWindow = !noWindow
        options.outputVideo = outputVideo
        options.outputRecords = output
        let source = try liveSource(text)
        let summary = try LiveRecognizer(predictor: predictor, options: options).run(source: source)
        print(String(format: "live: %d frames (%.4g fps) in %.1f s, %d windows classified, %d dropped while the model was busy",
                     summary.frames, summary.fps, summary.seconds, summary.classified, summary.dropped)
              + (summary.codec.map { ", annotated video \(outputVideo!) (\($0))" } ?? ""))
    }
}
