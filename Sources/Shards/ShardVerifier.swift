// Shards: checking a shard file or directory against every invariant of format v1 (`asl-shards verify`), and the
// summary `asl-shards inspect` prints. Both stop at the first violation with a typed `ShardError` naming it.
import Foundation

/// What a successful verification looked at.
public struct VerificationReport: Sendable {
    /// Split name → the dataset opened (all checks passed).
    public var splits: [(name: String, dataset: ShardDataset)]
    public var manifest: Manifest?
    /// Frames read back when frame reading was asked for.
    public var framesRead: Int
}

public enum ShardVerifier {
    /// Verifies `path` (a shard file or a shard directory) and returns what it saw; throws the first violation.
    ///
    /// Per file: attributes present, format and version known, datasets present with the documented types and shapes,
    /// offsets starting at 0, strictly increasing and ending at the frame count, per-clip arrays of equal length,
    /// labels within the classes. Per split: classes, frame size and shard count consistent, one file per index.
    /// Per directory: the same classes in every split, clip ids unique across all splits, and `manifest.json` (when
    /// present) agreeing with the shards.
    /// With `readFrames`, every clip's frames are also read back (catches truncated or corrupt chunks).
    public static func verify(path: String, readFrames: Bool = false) throws -> VerificationReport {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ShardError(.io, path: path, "no such file or directory")
        }
        var splits: [(String, ShardDataset)] = []
        var manifest: Manifest?
        if isDirectory.boolValue {
            let names = try ShardDataset.splits(inDirectory: path)
            guard !names.isEmpty else {
                throw ShardError(.missing, path: path, "no shard files (<split>-NNNNN-of-NNNNN.h5) in this directory")
            }
            for name in names { splits.append((name, try ShardDataset(path: path, split: name))) }
            let first = splits[0].1
            for (name, ds) in splits where ds.classes != first.classes {
                throw ShardError(.invariant, path: ds.shards[0].path, object: "classes",
                                 "split '\(name)' has different classes from split '\(splits[0].0)'",
                                 hint: "labels would mean different signs in different splits")
            }
            try checkUniqueClipIDs(splits)
            if FileManager.default.fileExists(atPath: Manifest.path(inDirectory: path)) {
                let m = try Manifest.read(fromDirectory: path)
                try check(manifest: m, against: splits, directory: path)
                manifest = m
            }
        } else {
            let ds = try ShardDataset(path: path)
            splits = [(ds.split, ds)]
            try checkUniqueClipIDs(splits)
        }
        var framesRead = 0
        if readFrames {
            for (_, ds) in splits {
                let reader = ShardReader(dataset: ds)
                defer { reader.close() }
                var buffer: [UInt8] = []
                for i in 0..<ds.count { framesRead += try reader.readFrames(i, into: &buffer) }
            }
        }
        return VerificationReport(splits: splits, manifest: manifest, framesRead: framesRead)
    }

    /// Clip ids are unique across every shard of every split: a clip in two splits would leak test data into
    /// training, and one twice in a split would be seen twice per epoch.
    static func checkUniqueClipIDs(_ splits: [(String, ShardDataset)]) throws {
        var seen: [String: (split: String, path: String, local: Int)] = [:]
        for (name, ds) in splits {
            for m in ds.shards {
                for (i, id) in m.clipIDs.enumerated() {
                    if let first = seen[id] {
                        throw ShardError(.invariant, path: m.path, object: ShardFormat.Dataset.clipIDs,
                                         "clip id '\(id)' (clip \(i), split '\(name)') also appears as clip \(first.local) of \(first.path) (split '\(first.split)')",
                                         hint: "each input must be stored once; a clip in two splits leaks test data into training")
                    }
                    seen[id] = (name, m.path, i)
                }
            }
        }
    }

    static func check(manifest m: Manifest, against splits: [(String, ShardDataset)], directory: String) throws {
        let path = Manifest.path(inDirectory: directory)
        func fail(_ object: String, _ message: String) -> ShardError {
            ShardError(.invariant, path: path, object: object, message,
                       hint: "the manifest and the shards come from different builds; rebuild")
        }
        guard m.classes == splits[0].1.classes else { throw fail("classes", "classes differ from the shards'") }
        let onDisk = Set(splits.map { $0.0 })
        guard Set(m.splits.keys) == onDisk else {
            throw fail("splits", "manifest lists splits \(m.splits.keys.sorted()), the directory holds \(onDisk.sorted())")
        }
        for (name, ds) in splits {
            let s = m.splits[name]!
            let files = ds.shards.map { ($0.path as NSString).lastPathComponent }
            guard s.shards == files else { throw fail("splits.\(name).shards", "lists \(s.shards), found \(files)") }
            guard s.clips == ds.count else { throw fail("splits.\(name).clips", "says \(s.clips) clips, shards hold \(ds.count)") }
            let frames = ds.shards.reduce(0) { $0 + $1.totalFrames }
            guard s.frames == frames else { throw fail("splits.\(name).frames", "says \(s.frames) frames, shards hold \(frames)") }
            guard s.classCounts == ds.classCounts else {
                throw fail("splits.\(name).class_counts", "per-class counts differ from the shards' labels")
            }
        }
    }
}

/// Frame-length statistics of a split.
public struct LengthStatistics: Sendable, Equatable {
    public var min: Int
    public var mean: Double
    public var max: Int

    public init(_ lengths: [Int]) {
        min = lengths.min() ?? 0
        max = lengths.max() ?? 0
        mean = lengths.isEmpty ? 0 : Double(lengths.reduce(0, +)) / Double(lengths.count)
    }
}
