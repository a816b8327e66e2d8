// Shards: `manifest.json`, the summary of a shard directory: classes, per-split counts and shard files, the
// options the build ran with, and the inputs it skipped (with why). Written atomically after every split is done.
import Foundation
import Support

public struct Manifest: Codable, Sendable, Equatable {
    /// An input the builder could not turn into a clip.
    public struct SkippedInput: Codable, Sendable, Equatable {
        public var input: String
        public var reason: String
        public init(input: String, reason: String) { self.input = input; self.reason = reason }
    }

    public var format: String
    public var version: Int
    /// Class names; index = label, identical to every shard's `classes` attribute.
    public var classes: [String]
    /// Split name ("train", "val", "test") → its counts and shard files.
    public var splits: [String: SplitSummary]
    /// The command-line options of the build, for provenance.
    public var buildOptions: [String: String]
    public var skipped: [SkippedInput]
    /// How the frames were made (nil in manifests written before it was recorded).
    public var preprocessing: Preprocessing?

    public init(classes: [String], splits: [String: SplitSummary], buildOptions: [String: String] = [:],
                skipped: [SkippedInput] = [], preprocessing: Preprocessing? = nil) {
        self.format = ShardFormat.name; self.version = ShardFormat.version
        self.classes = classes; self.splits = splits; self.buildOptions = buildOptions; self.skipped = skipped
        self.preprocessing = preprocessing
    }

    enum CodingKeys: String, CodingKey {
        case format, version, classes, splits, skipped, preprocessing
        case buildOptions = "build_options"
    }

    /// `<directory>/manifest.json`.
    public static func path(inDirectory directory: String) -> String {
        (directory as NSString).appendingPathComponent(ShardFormat.manifestFileName)
    }

    /// Writes `<directory>/manifest.json` atomically (pretty-printed, keys sorted so rebuilds diff cleanly).
    public func write(toDirectory directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let path = Manifest.path(inDirectory: directory)
        do {
            try AtomicFile.write(try encoder.encode(self) + Data("\n".utf8), to: path)
        } catch {
            throw ShardError(.io, path: path, "cannot write the manifest: \(error)")
        }
    }

    /// Reads `<directory>/manifest.json`, checking its format and version.
    public static func read(fromDirectory directory: String) throws -> Manifest {
        let path = Manifest.path(inDirectory: directory)
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ShardError(.io, path: path, "cannot read the manifest: \(error)",
                             hint: "was the shard build interrupted before it finished?")
        }
        guard manifest.format == ShardFormat.name, manifest.version == ShardFormat.version else {
            throw ShardError(.wrongFormat, path: path, object: "format",
                             "manifest says \(manifest.format) v\(manifest.version), expected \(ShardFormat.name) v\(ShardFormat.version)")
        }
        return manifest
    }
}
