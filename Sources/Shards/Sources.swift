// Shards: what each data source looks like on disk, turned into a plan — the class list and one ClipInput per
// clip — before anything is decoded, so that a bad JSON, an unknown gloss or an empty class fails at once.
import Foundation
import Support

/// A problem with a source's description (its JSON, its folders, an option), found before any work starts.
public struct ShardSourceError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public let hint: String
    public init(path: String, reason: String, hint: String) { self.path = path; self.reason = reason; self.hint = hint }
    public var description: String { "\(path): \(reason) (\(hint))" }
}

/// Everything to build: classes in label order, the clips in a deterministic order, and inputs already known to be
/// unusable (e.g. a WLASL video that is not on disk).
public struct SourcePlan: Sendable {
    public var classes: [String]
    public var inputs: [ClipInput]
    public var skipped: [Manifest.SkippedInput]
    /// Frames per second of the source when it says (WLASL's `fps`), else nil.
    public var fps: Double?

    public init(classes: [String], inputs: [ClipInput], skipped: [Manifest.SkippedInput] = [], fps: Double? = nil) {
        self.classes = classes; self.inputs = inputs; self.skipped = skipped; self.fps = fps
    }
}

/// One entry of a WLASL JSON file: `[{"gloss": ..., "instances": [{"video_id", "frame_start", ...}]}]`.
public struct WLASLEntry: Codable, Sendable {
    public struct Instance: Codable, Sendable {
        public var video_id: String
        public var frame_start: Int?
        public var frame_end: Int?
        public var split: String?
        public var signer_id: Int?
        public var bbox: [Double]?
        public var fps: Double?
        public var instance_id: Int?
        public var source: String?
        public var url: String?
        public var variation_id: Int?
        public init(video_id: String, frame_start: Int?, frame_end: Int?, split: String?, signer_id: Int?,
                    bbox: [Double]?, fps: Double?, instance_id: Int? = nil, source: String? = nil, url: String? = nil,
                    variation_id: Int? = nil) {
            self.video_id = video_id; self.frame_start = frame_start; self.frame_end = frame_end; self.split = split
            self.signer_id = signer_id; self.bbox = bbox; self.fps = fps; self.instance_id = instance_id
            self.source = source; self.url = url; self.variation_id = variation_id
        }
    }
    public var gloss: String
    public var instances: [Instance]
    public init(gloss: String, instances: [Instance]) { self.gloss = gloss; self.instances = instances }
}

public enum DataSources {
    /// Video file extensions: preferred when a WLASL video_id has several files, required in class folders.
    public static let videoExtensions: Set<String> = ["mp4", "mkv", "webm", "avi", "mov", "m4v", "mpg", "mpeg", "flv", "swf", "ts"]
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff"]

    /// WLASL: classes are the first `topK` glosses of the file (WLASL100 = the first 100), or exactly `glosses`.
    /// Each instance keeps its frame range, split, signer and bbox; its video is `<videos>/<video_id>.mp4` or
    /// `<video_id>.<any extension>`. A video not on disk is skipped with a reason.
    /// - Throws: `ShardSourceError` for an unreadable or malformed JSON, an unknown gloss, a bad split name, or a
    ///   class with no instance (or none on disk).
    public static func wlasl(json: String, videos: String, topK: Int?, glosses: [String]?) throws -> SourcePlan {
        guard let data = FileManager.default.contents(atPath: json) else {
            throw ShardSourceError(path: json, reason: "cannot read the WLASL JSON", hint: "check --json")
        }
        let entries: [WLASLEntry]
        do { entries = try JSONDecoder().decode([WLASLEntry].self, from: data) } catch {
            throw ShardSourceError(path: json, reason: "not a WLASL JSON: \(describe(error))",
                                   hint: "expected [{\"gloss\": ..., \"instances\": [{\"video_id\": ...}]}]")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: videos, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ShardSourceError(path: videos, reason: "the videos directory does not exist", hint: "check --videos")
        }
        let chosen: [WLASLEntry]
        if let glosses {
            let byGloss = Dictionary(entries.map { ($0.gloss, $0) }, uniquingKeysWith: { a, _ in a })
            chosen = try glosses.map { g in
                guard let e = byGloss[g] else {
                    throw ShardSourceError(path: json, reason: "unknown gloss \"\(g)\"",
                                           hint: "the file has \(entries.count) glosses, e.g. \(entries.prefix(5).map(\.gloss).joined(separator: ", "))")
                }
                return e
            }
        } else {
            let k = topK ?? entries.count
            guard k >= 1, k <= entries.count else {
                throw ShardSourceError(path: json, reason: "--top-k \(k) but the file has \(entries.count) glosses",
                                       hint: "use a value from 1 to \(entries.count)")
            }
            chosen = Array(entries.prefix(k))
        }
        // One directory listing: video_id → file. FFmpeg probes the content, so any extension will do; when several
        // files share a video_id, .mp4 wins, then a known video extension, then the first name in sorted order.
        let listing = (try? FileManager.default.contentsOfDirectory(atPath: videos)) ?? []
        var fileByID: [String: (name: String, rank: Int)] = [:]
        for name in listing.sorted() where !name.hasPrefix(".") {
            let ext = (name as NSString).pathExtension.lowercased()
            let stem = (name as NSString).deletingPathExtension
            let rank = ext == "mp4" ? 0 : (videoExtensions.contains(ext) ? 1 : 2)
            if let seen = fileByID[stem], seen.rank <= rank { continue }
            fileByID[stem] = (name, rank)
        }
        var plan = SourcePlan(classes: chosen.map(\.gloss), inputs: [], skipped: [], fps: nil)
        for (label, entry) in chosen.enumerated() {
            guard !entry.instances.isEmpty else {
                throw ShardSourceError(path: json, reason: "gloss \"\(entry.gloss)\" has no instances", hint: "choose other glosses")
            }
            var found = 0
            for inst in entry.instances {
                var split: Split? = nil
                if let s = inst.split {
                    guard let parsed = Split(rawValue: s) else {
                        throw ShardSourceError(path: json, reason: "instance \(inst.video_id) has split \"\(s)\"",
                                               hint: "WLASL splits are train, val and test")
                    }
                    split = parsed
                }
                guard let file = fileByID[inst.video_id]?.name else {
                    plan.skipped.append(Manifest.SkippedInput(input: (videos as NSString).appendingPathComponent(inst.video_id + ".mp4"),
                                                     reason: "video not found in \(videos)"))
                    continue
                }
                found += 1
                if plan.fps == nil, let f = inst.fps { plan.fps = f }
                plan.inputs.append(ClipInput(
                    media: .video(path: (videos as NSString).appendingPathComponent(file),
                                  frameStart: max(1, inst.frame_start ?? 1), frameEnd: inst.frame_end ?? -1),
                    label: Int32(label), clipID: inst.video_id, signer: Int32(inst.signer_id ?? -1),
                    split: split, bbox: inst.bbox))
            }
            guard found > 0 else {
                throw ShardSourceError(path: videos, reason: "none of the \(entry.instances.count) videos of gloss \"\(entry.gloss)\" is here",
                                       hint: "download the videos or choose other glosses")
            }
        }
        return plan
    }

    /// The boxes of a WLASL JSON, `video_id → [x0, y0, x1, y1]`, for instances that have one: what `bbox` crops used.
    /// - Throws: `ShardSourceError` for an unreadable or malformed file.
    public static func wlaslBoxes(json: String) throws -> [String: [Double]] {
        guard let data = FileManager.default.contents(atPath: json) else {
            throw ShardSourceError(path: json, reason: "cannot read the WLASL JSON", hint: "check the path")
        }
        do {
            let entries = try JSONDecoder().decode([WLASLEntry].self, from: data)
            var boxes: [String: [Double]] = [:]
            for e in entries { for i in e.instances { if let b = i.bbox, b.count == 4 { boxes[i.video_id] = b } } }
            return boxes
        } catch {
            throw ShardSourceError(path: json, reason: "not a WLASL JSON: \(describe(error))", hint: "expected [{\"gloss\", \"instances\"}]")
        }
    }

    /// A folder of class folders of videos: `root/<class>/<video>`. Classes in sorted order; no splits, no signers.
    public static func videos(root: String) throws -> SourcePlan {
        try classFolders(root: root, kind: "videos") { classDir, name in
            DataSources.videoExtensions.contains((name as NSString).pathExtension.lowercased())
                ? .video(path: (classDir as NSString).appendingPathComponent(name), frameStart: 1, frameEnd: -1) : nil
        }
    }

    /// A folder of class folders of still images, each a one-frame clip: `root/<class>/*.jpg|png`. Kaggle ASL
    /// Alphabet's doubled folder (`asl_alphabet_train/asl_alphabet_train/<class>`) is accepted as the root.
    public static func images(root: String) throws -> SourcePlan {
        var base = root
        let last = (root as NSString).lastPathComponent
        let doubled = (root as NSString).appendingPathComponent(last)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: doubled, isDirectory: &isDir), isDir.boolValue { base = doubled }
        return try classFolders(root: base, kind: "images") { classDir, name in
            DataSources.imageExtensions.contains((name as NSString).pathExtension.lowercased())
                ? .images([(classDir as NSString).appendingPathComponent(name)]) : nil
        }
    }

    /// Clips stored as frame images: `root/{train,test}/<class>/<clip>/frame_*.png` (also `val`). The split folders
    /// give the splits; each clip's frames are read in name order.
    public static func frames(root: String) throws -> SourcePlan {
        let fm = FileManager.default
        let splits = Split.allCases.filter { dirExists((root as NSString).appendingPathComponent($0.rawValue)) }
        guard !splits.isEmpty else {
            throw ShardSourceError(path: root, reason: "no train/val/test folder", hint: "expected root/{train,test}/<class>/<clip>/frame_*.png")
        }
        let classes = Set(splits.flatMap { s in subdirectories((root as NSString).appendingPathComponent(s.rawValue)) }).sorted()
        guard !classes.isEmpty else { throw ShardSourceError(path: root, reason: "no class folders", hint: "expected root/train/<class>/") }
        var plan = SourcePlan(classes: classes, inputs: [], skipped: [], fps: nil)
        var perClass = [Int](repeating: 0, count: classes.count)
        for split in splits {
            for (label, name) in classes.enumerated() {
                let classDir = ((root as NSString).appendingPathComponent(split.rawValue) as NSString).appendingPathComponent(name)
                for clip in subdirectories(classDir) {
                    let clipDir = (classDir as NSString).appendingPathComponent(clip)
                    let files = ((try? fm.contentsOfDirectory(atPath: clipDir)) ?? []).filter {
                        imageExtensions.contains(($0 as NSString).pathExtension.lowercased())
                    }.sorted()
                    guard !files.isEmpty else {
                        plan.skipped.append(Manifest.SkippedInput(input: clipDir, reason: "no frame images")); continue
                    }
                    perClass[label] += 1
                    plan.inputs.append(ClipInput(media: .images(files.map { (clipDir as NSString).appendingPathComponent($0) }),
                                                 label: Int32(label), clipID: "\(split.rawValue)/\(name)/\(clip)", split: split))
                }
            }
        }
        if let empty = perClass.firstIndex(of: 0) {
            throw ShardSourceError(path: root, reason: "class \"\(classes[empty])\" has no clip", hint: "remove the folder or add clips")
        }
        return plan
    }

    /// `root/<class>/<file>` for each file `media` accepts; an empty class is an error.
    private static func classFolders(root: String, kind: String, media: (String, String) -> ClipInput.Media?) throws -> SourcePlan {
        guard dirExists(root) else { throw ShardSourceError(path: root, reason: "the root folder does not exist", hint: "check --root") }
        let classes = subdirectories(root)
        guard !classes.isEmpty else {
            throw ShardSourceError(path: root, reason: "no class folders", hint: "expected root/<class>/<file>")
        }
        var plan = SourcePlan(classes: classes, inputs: [], skipped: [], fps: nil)
        for (label, name) in classes.enumerated() {
            let classDir = (root as NSString).appendingPathComponent(name)
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: classDir)) ?? []).sorted()
            let clips = files.compactMap { f in media(classDir, f).map { (f, $0) } }
            guard !clips.isEmpty else {
                throw ShardSourceError(path: classDir, reason: "class \"\(name)\" has no \(kind)", hint: "remove the folder or add \(kind)")
            }
            for (file, m) in clips { plan.inputs.append(ClipInput(media: m, label: Int32(label), clipID: "\(name)/\(file)")) }
        }
        return plan
    }

    static func dirExists(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// Sorted names of the visible subdirectories of `path`.
    public static func subdirectories(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { !$0.hasPrefix(".") && dirExists((path as NSString).appendingPathComponent($0)) }.sorted()
    }

    /// A JSON decoding error in words a user can act on (which key, at which index).
    static func describe(_ error: Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func at(_ path: [CodingKey]) -> String { path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined() }
        switch e {
        case .dataCorrupted(let c): return "invalid JSON at \(at(c.codingPath)): \(c.debugDescription)"
        case .keyNotFound(let k, let c): return "missing key \"\(k.stringValue)\" at \(at(c.codingPath))"
        case .typeMismatch(_, let c): return "wrong type at \(at(c.codingPath)): \(c.debugDescription)"
        case .valueNotFound(_, let c): return "null at \(at(c.codingPath))"
        @unknown default: return "\(error)"
        }
    }
}

/// Assigns train/val/test to clips that have no split, reproducibly from a seed.
public enum SplitPlanner {
    /// Gives every input a split. Inputs that already have one keep it unless `resplit` is set.
    ///
    /// - Per clip (default): within each class, clips are shuffled by `SeededRandom(keys: seed, class)` and the
    ///   first round(n × testFraction) go to test, the next round(n × valFraction) to val.
    /// - `bySigner`: signers are shuffled by `SeededRandom(keys: seed)` and whole signers go to test, then val, until
    ///   each holds its fraction of the clips, so no signer is in two splits. Every clip needs a known signer.
    /// - Throws: `ShardSourceError` when fractions are out of range or `bySigner` meets an unknown signer.
    public static func assign(_ inputs: [ClipInput], valFraction: Double, testFraction: Double, seed: UInt64,
                              bySigner: Bool, resplit: Bool = false) throws -> [ClipInput] {
        guard valFraction >= 0, testFraction >= 0, valFraction + testFraction < 1 else {
            throw ShardSourceError(path: "--val-fraction/--test-fraction", reason: "fractions \(valFraction) and \(testFraction)",
                                   hint: "each at least 0, together below 1")
        }
        var out = inputs
        let open = inputs.indices.filter { resplit || inputs[$0].split == nil }
        if open.isEmpty { return out }
        if bySigner {
            if let unknown = open.first(where: { inputs[$0].signer < 0 }) {
                throw ShardSourceError(path: inputs[unknown].inputPath, reason: "signer unknown but --split-by-signer was given",
                                       hint: "this source records no signers; split per clip instead")
            }
            var clipsPerSigner: [Int32: Int] = [:]
            for i in open { clipsPerSigner[inputs[i].signer, default: 0] += 1 }
            var signers = clipsPerSigner.keys.sorted()
            var rng = SeededRandom(keys: seed)
            shuffle(&signers, &rng)
            let total = Double(open.count)
            var splitOf: [Int32: Split] = [:]
            var inTest = 0, inVal = 0
            for s in signers {
                let n = clipsPerSigner[s]!
                if Double(inTest) < total * testFraction && testFraction > 0 { splitOf[s] = .test; inTest += n }
                else if Double(inVal) < total * valFraction && valFraction > 0 { splitOf[s] = .val; inVal += n }
                else { splitOf[s] = .train }
            }
            for i in open { out[i].split = splitOf[inputs[i].signer] }
        } else {
            let byClass = Dictionary(grouping: open, by: { inputs[$0].label })
            for label in byClass.keys.sorted() {
                var members = byClass[label]!
                var rng = SeededRandom(keys: seed, UInt64(label))
                shuffle(&members, &rng)
                let n = Double(members.count)
                let nTest = Int((n * testFraction).rounded()), nVal = Int((n * valFraction).rounded())
                for (k, i) in members.enumerated() {
                    out[i].split = k < nTest ? .test : (k < nTest + nVal ? .val : .train)
                }
            }
        }
        return out
    }
}

extension SplitPlanner {
    /// For sources with train and test but no val (frame folders): moves `fraction` of each class's train clips to
    /// val, reproducibly from `seed`. Inputs are returned unchanged when some already are in val.
    public static func carveValidation(_ inputs: [ClipInput], fraction: Double, seed: UInt64) throws -> [ClipInput] {
        guard fraction > 0, !inputs.contains(where: { $0.split == .val }) else { return inputs }
        let open = inputs.map { x -> ClipInput in var y = x; if y.split == .train { y.split = nil }; return y }
        return try assign(open, valFraction: fraction, testFraction: 0, seed: seed, bySigner: false)
    }
}

/// Fisher–Yates with our own draws (the standard library's `shuffle(using:)` may change its algorithm between
/// releases, and splits must stay reproducible from the seed).
func shuffle<T>(_ items: inout [T], _ rng: inout SeededRandom) {
    guard items.count > 1 else { return }
    for i in stride(from: items.count - 1, to: 0, by: -1) {
        let j = Int(rng.next() % UInt64(i + 1))
        items.swapAt(i, j)
    }
}
