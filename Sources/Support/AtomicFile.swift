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

    /// Renames a fully written temporary file over `path` (atomic on POSIX file systems), then syncs the directory so
    /// that the rename itself survives a power loss.
    public static func commit(temporary tmp: String, to path: String) throws {
        if rename(tmp, path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: tmp)
            throw FileWriteError(path: path, reason: "rename from \(tmp) failed: \(reason)")
        }
        try syncDirectory(containing: path)
    }

    /// fsyncs the directory `path` (its entries: the names created, renamed or removed in it).
    public static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else {
            throw FileWriteError(path: path, reason: "cannot open the directory to sync it: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        // EINVAL: the file system does not sync directories (some network ones); its renames are as durable as it gets.
        if fsync(fd) != 0 && errno != EINVAL {
            throw FileWriteError(path: path, reason: "fsync of the directory failed: \(String(cString: strerror(errno)))")
        }
    }

    /// fsyncs the directory that holds `path`.
    public static func syncDirectory(containing path: String) throws {
        try syncDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    /// Replaces directory `path` with the fully written directory `tmp` so that readers — and a process killed at any
    /// instant — see either the old or the new one, never neither: the two are swapped in one step
    /// (`renameat2(RENAME_EXCHANGE)`), then the old one, now at `tmp`, is removed. Where the file system cannot swap
    /// (e.g. NFS), the old one is moved aside first: a kill between the two renames then leaves `path.old-PID`.
    public static func commitDirectory(temporary tmp: String, to path: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            try commit(temporary: tmp, to: path)
            return
        }
        if let exchange = renameExchange, exchange(AT_FDCWD, tmp, AT_FDCWD, path, renameExchangeFlag) == 0 {
            try syncDirectory(containing: path)
            try? fm.removeItem(atPath: tmp)
            return
        }
        let old = path + ".old-\(getpid())"
        if rename(path, old) != 0 {
            throw FileWriteError(path: path, reason: "cannot move previous version aside: \(String(cString: strerror(errno)))")
        }
        if rename(tmp, path) != 0 {
            let reason = String(cString: strerror(errno))
            _ = rename(old, path)
            throw FileWriteError(path: path, reason: "rename from \(tmp) failed: \(reason)")
        }
        try syncDirectory(containing: path)
        try? fm.removeItem(atPath: old)
    }

    /// Points the symbolic link `path` at `target` (a name relative to the link's directory), replacing an existing
    /// link in one rename: a reader sees the old target or the new one. Fails if `path` is a real directory.
    public static func replaceSymlink(at path: String, pointingTo target: String) throws {
        let tmp = temporaryPath(for: path)
        unlink(tmp)
        if symlink(target, tmp) != 0 {
            throw FileWriteError(path: path, reason: "cannot create the link \(tmp): \(String(cString: strerror(errno)))")
        }
        try commit(temporary: tmp, to: path)
    }

    /// `renameat2`, looked up at run time: Swift's Glibc module does not import it (glibc declares it only under
    /// _GNU_SOURCE), and a kernel or C library without it leaves the aside-and-rename fallback.
    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    private static let renameExchangeFlag: UInt32 = 1 << 1  // RENAME_EXCHANGE in <linux/fs.h>
    private static let renameExchange: RenameAt2? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
    }()
}
