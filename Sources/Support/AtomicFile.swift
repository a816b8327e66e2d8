// Support: atomic file and directory writes (temp + fsync + rename), so that an interrupted run never leaves a
// half-written shard, checkpoint or report that looks complete.
import Foundation

/// Errors from writing files.
public struct FileWriteError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "cannot write \(path): \(reason)" }
}

public enum AtomicFile {
    /// The temporary sibling path used while `path` is being written; same directory, so rename is atomic.
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
    }

    /// Writes `data` to `path` atomically: the old file (if any) stays until the new one is complete and synced.
    public static func write(_ data: Data, to path: String) throws {
        let tmp = temporaryPath(for: path)
        guard FileManager.default.createFile(atPath: tmp, contents: nil) else {
            throw FileWriteError(path: path, reason: "cannot create \(tmp) (directory missing or not writable?)")
        }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp))
            defer { try? handle.close() }
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw FileWriteError(path: path, reason: "\(error)")
        }
        try commit(temporary: tmp, to: path)
    }

    /// Renames a fully written temporary file over `path` (atomic on POSIX file systems).
    public static func commit(temporary tmp: String, to path: String) throws {
        if rename(tmp, path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: tmp)
            throw FileWriteError(path: path, reason: "rename from \(tmp) failed: \(reason)")
        }
    }

    /// Replaces directory `path` with the fully written directory `tmp` so that readers see either the old or the new
    /// one: the old one is first moved aside, the new one renamed in, then the old one removed.
    public static func commitDirectory(temporary tmp: String, to path: String) throws {
        let fm = FileManager.default
        let old = path + ".old-\(getpid())"
        if fm.fileExists(atPath: path) {
            if rename(path, old) != 0 {
                throw FileWriteError(path: path, reason: "cannot move previous version aside: \(String(cString: strerror(errno)))")
            }
        }
        if rename(tmp, path) != 0 {
            let reason = String(cString: strerror(errno))
            _ = rename(old, path)
            throw FileWriteError(path: path, reason: "rename from \(tmp) failed: \(reason)")
        }
        try? fm.removeItem(atPath: old)
    }
}
