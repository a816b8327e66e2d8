// Launcher: `asl-shards inspect PATH`: the schema of a shard set, its counts per class and split, and the
// frame-length statistics of each split.
import ArgumentParser
import Foundation
import Shards

public struct ShardsInspect: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print the schema, per-class and per-split counts and clip-length statistics of shards.")

    @Argument(help: "A shard directory (all its splits) or one shard file.")
    var path: String

    public init() {}

    public func run() throws {
        print(try ShardsInspect.report(path: path), terminator: "")
    }

    /// The text `inspect` prints. Reads metadata only (never frames), so it is fast on large shard sets.
    public static func report(path: String) throws -> String {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let splits: [ShardDataset] = isDirectory.boolValue
            ? try ShardDataset.splits(inDirectory: path).map { try ShardDataset(path: path, split: $0) }
            : [try ShardDataset(path: path)]
        guard let first = splits.first else {
            throw ShardError(.missing, path: path, "no shard files (<split>-NNNNN-of-NNNNN.h5) here")
        }
        let a = first.shards[0].attributes
        var out = "\(path): \(a.format) v\(a.version), \(first.classes.count) classes, frames \(a.height)x\(a.width) RGB, "
            + "source \"\(a.source)\", frame stride \(a.frameStride), " + String(format: "%.4g fps", a.fps)
            + (a.handCrop.map { ", hand crop \($0)" + (a.margin.map { " (margin \($0))" } ?? "") } ?? "") + "\n"

        out += "\nschema of \((first.shards[0].path as NSString).lastPathComponent):\n"
        let schema = try ShardFile(path: first.shards[0].path).schema()
        var rows = [["dataset", "type", "shape", "chunk", "compression"]]
        for d in schema {
            rows.append([d.name, d.type, "[\(d.dims.map(String.init).joined(separator: ", "))]",
                         d.chunk.isEmpty ? "contiguous" : "[\(d.chunk.map(String.init).joined(separator: ", "))]",
                         d.deflate.map { "deflate \($0)" } ?? "none"])
        }
        out += table(rows)
        out += "attributes: " + ShardFormat.Attribute.all.joined(separator: ", ") + "\n"

        out += "\nsplits:\n"
        rows = [["split", "shards", "clips", "frames", "frames/clip min", "mean", "max"]]
        for s in splits {
            let lengths = s.frameCounts
            let stats = LengthStatistics(lengths)
            rows.append([s.split, "\(s.shards.count)", "\(s.count)", "\(lengths.reduce(0, +))", "\(stats.min)",
                         String(format: "%.1f", stats.mean), "\(stats.max)"])
        }
        out += table(rows)

        out += "\nclips per class:\n"
        rows = [["label", "class"] + splits.map { $0.split }]
        let counts = splits.map { $0.classCounts }
        for (label, name) in first.classes.enumerated() {
            rows.append(["\(label)", name] + counts.map { "\($0[label])" })
        }
        out += table(rows)
        return out
    }

    /// Left-aligned columns separated by two spaces.
    static func table(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.map { $0.count }.max() ?? 0)).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max()! }
        return rows.map { row in
            row.enumerated().map { c, cell in cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.map { "  " + $0 + "\n" }.joined()
    }
}
