// Launcher: `asl-shards verify PATH`: checks every invariant of shard format v1 and exits non-zero naming the first
// violation (the ShardError thrown by the Shards module becomes the message and exit status).
import ArgumentParser
import Foundation
import Shards

public struct ShardsVerify: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check shards against format v1; exit non-zero naming the first violation.",
        discussion: """
            Checks attributes, format and version, dataset types and shapes, offsets (start 0, increasing, ending at \
            the frame count), per-clip array lengths, label range, classes and shard indices across shards and \
            splits, clip ids unique across splits, and manifest.json when present.
            """)

    @Argument(help: "A shard directory (all its splits) or one shard file.")
    var path: String

    @Flag(help: "Also read every clip's frames back (catches truncated or corrupt data chunks).")
    var readFrames = false

    public init() {}

    public func run() throws {
        print(try ShardsVerify.check(path: path, readFrames: readFrames))
    }

    /// Verifies and returns the one-line summary `verify` prints; throws the first violation.
    public static func check(path: String, readFrames: Bool) throws -> String {
        let report = try ShardVerifier.verify(path: path, readFrames: readFrames)
        let splits = report.splits.map { name, ds in
            "\(name): \(ds.shards.count) shard(s), \(ds.count) clips, \(ds.shards.reduce(0) { $0 + $1.totalFrames }) frames"
        }
        var line = "OK \(path): " + splits.joined(separator: "; ")
        if report.manifest != nil { line += "; manifest.json agrees" }
        if readFrames { line += "; \(report.framesRead) frames read back" }
        return line
    }
}
