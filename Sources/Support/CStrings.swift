// Support: passing Swift strings to C functions that take `const char *const *` (HDF5 string attributes, OpenCV's
// labels and text lines), as NUL-terminated UTF-8 copies that live for one call.
import Foundation

/// Calls `body` with an array of C strings (NUL-terminated UTF-8 copies of `strings`), freed afterwards.
public func withCStringArray<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) throws -> R) rethrows -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    return try body(copies.map { UnsafePointer($0) })
}
