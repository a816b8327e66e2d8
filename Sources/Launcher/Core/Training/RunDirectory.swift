// Launcher: what a run directory (`--out`) already holds, so that a new run never overwrites or mixes with an
// earlier one by accident, and the words for a resume that does not fit its checkpoint.
import Foundation

enum RunDirectory {
    /// What marks `path` as holding an earlier run: its visible entries (checkpoints that are not empty, history,
    /// reports, TensorBoard files...), summarized for a message; nil for a missing or unused directory. An empty
    /// `checkpoints/` is what a run that failed during setup leaves, and does not count.
    static func previousRun(in path: String) -> String? {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: path) else { return nil }
        let used = entries.filter { name in
            guard !name.hasPrefix(".") else { return false }
            if name == "checkpoints" {
                let inside = (try? fm.contentsOfDirectory(atPath: (path as NSString).appendingPathComponent(name))) ?? []
                return inside.contains { !$0.hasPrefix(".") }
            }
            return true
        }.sorted()
        guard !used.isEmpty else { return nil }
        return used.prefix(4).joined(separator: ", ") + (used.count > 4 ? ", ..." : "")
    }

    /// `path-2`, `path-3`, ...: the first sibling name that does not exist.
    static func nextFree(after path: String) -> String {
        let base = path.hasSuffix("/") ? String(path.dropLast()) : path
        var n = 2
        while FileManager.default.fileExists(atPath: "\(base)-\(n)") { n += 1 }
        return "\(base)-\(n)"
    }

    /// Two class lists that differ, in words: their sizes, or the first position where they part.
    static func describeDifference(saved: [String], data: [String]) -> String {
        if saved.count != data.count {
            return "it has \(saved.count) classes (\(preview(saved))), the data \(data.count) (\(preview(data)))"
        }
        let i = saved.indices.first { saved[$0] != data[$0] } ?? 0
        return "class \(i) is \"\(saved[i])\" in the checkpoint and \"\(data[i])\" in the data "
            + "(checkpoint: \(preview(saved)); data: \(preview(data)))"
    }

    private static func preview(_ names: [String]) -> String {
        names.prefix(4).joined(separator: ", ") + (names.count > 4 ? ", ..." : "")
    }
}
