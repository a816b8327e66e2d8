// Shards: the small layer over the HDF5 C API that the writer, reader and verifier share: a process-wide lock,
// return-code checks that throw `ShardError` with HDF5's own error stack, and typed attribute and dataset helpers.
//
// Every helper expects the caller to hold `HDF5Lock` (HDF5 serial is not thread-safe) and always passes the native
// memory type matching the Swift element type to H5Aread/H5Dread/H5Dwrite, never the file's type.
import CHDF5
import Foundation
import Support

/// The one lock around every HDF5 call in this process. Recursive, so public entry points can nest.
/// Decoding and augmentation must stay outside it: only HDF5 calls serialize.
enum HDF5Lock {
    private static let lock = NSRecursiveLock()
    private static let setUp: Void = {
        // Errors are reported by throwing `ShardError` with the stack text; stop HDF5 printing them too.
        _ = H5Eset_auto2(hid_t(H5E_DEFAULT), nil, nil)
    }()

    static func with<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        _ = setUp
        return try body()
    }
}

/// HDF5's current error stack as one line ("H5Fopen: unable to open file; ...: file signature not found"), then
/// cleared. Caller holds `HDF5Lock`.
func hdf5ErrorStack() -> String {
    final class Box { var lines: [String] = [] }
    let box = Box()
    let unmanaged = Unmanaged.passRetained(box)
    defer { unmanaged.release() }
    _ = H5Ewalk2(hid_t(H5E_DEFAULT), H5E_WALK_UPWARD, { _, desc, data in
        guard let desc, let data else { return 0 }
        let box = Unmanaged<Box>.fromOpaque(data).takeUnretainedValue()
        let fn = desc.pointee.func_name.map { String(cString: $0) } ?? "?"
        let text = desc.pointee.desc.map { String(cString: $0) } ?? ""
        box.lines.append("\(fn): \(text)")
        return 0
    }, unmanaged.toOpaque())
    _ = H5Eclear2(hid_t(H5E_DEFAULT))
    return box.lines.isEmpty ? "no HDF5 error detail" : box.lines.prefix(4).joined(separator: "; ")
}

/// Throws `ShardError(.hdf5)` when an HDF5 status or id is negative; returns it otherwise.
@discardableResult
func h5check<T: BinaryInteger>(_ status: T, _ call: String, path: String, object: String? = nil,
                               hint: String? = nil) throws -> T {
    if status < 0 {
        throw ShardError(.hdf5, path: path, object: object, "\(call) failed: \(hdf5ErrorStack())", hint: hint)
    }
    return status
}

/// A variable-length UTF-8 string type; the caller closes it with H5Tclose.
func makeUTF8StringType(path: String, object: String) throws -> hid_t {
    let type = try h5check(H5Tcopy(chdf5_c_s1()), "H5Tcopy", path: path, object: object)
    do {
        try h5check(H5Tset_size(type, chdf5_variable()), "H5Tset_size", path: path, object: object)
        try h5check(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset", path: path, object: object)
    } catch {
        H5Tclose(type)
        throw error
    }
    return type
}

// MARK: - Attributes

enum H5Attr {
    static func exists(_ loc: hid_t, _ name: String, path: String) throws -> Bool {
        try h5check(H5Aexists(loc, name), "H5Aexists", path: path, object: name) > 0
    }

    private static func write(_ loc: hid_t, _ name: String, type: hid_t, space: hid_t, path: String,
                              _ buffer: UnsafeRawPointer) throws {
        if try exists(loc, name, path: path) {
            try h5check(H5Adelete(loc, name), "H5Adelete", path: path, object: name)
        }
        let attr = try h5check(H5Acreate2(loc, name, type, space, chdf5_p_default(), chdf5_p_default()),
                               "H5Acreate2", path: path, object: name)
        defer { H5Aclose(attr) }
        try h5check(H5Awrite(attr, type, buffer), "H5Awrite", path: path, object: name)
    }

    private static func scalarSpace(path: String, object: String) throws -> hid_t {
        try h5check(H5Screate(H5S_SCALAR), "H5Screate", path: path, object: object)
    }

    /// Writes a scalar 64-bit integer attribute.
    static func write(_ loc: hid_t, _ name: String, int value: Int64, path: String) throws {
        let space = try scalarSpace(path: path, object: name)
        defer { H5Sclose(space) }
        var v = value
        try write(loc, name, type: chdf5_native_int64(), space: space, path: path, &v)
    }

    /// Writes a scalar 64-bit float attribute.
    static func write(_ loc: hid_t, _ name: String, double value: Double, path: String) throws {
        let space = try scalarSpace(path: path, object: name)
        defer { H5Sclose(space) }
        var v = value
        try write(loc, name, type: chdf5_native_double(), space: space, path: path, &v)
    }

    /// Writes a scalar variable-length UTF-8 string attribute.
    static func write(_ loc: hid_t, _ name: String, string value: String, path: String) throws {
        let space = try scalarSpace(path: path, object: name)
        defer { H5Sclose(space) }
        let type = try makeUTF8StringType(path: path, object: name)
        defer { H5Tclose(type) }
        try withCStringArray([value]) { ptrs in
            try ptrs.withUnsafeBufferPointer { try write(loc, name, type: type, space: space, path: path, $0.baseAddress!) }
        }
    }

    /// Writes a 1-D variable-length UTF-8 string array attribute `[count]`.
    static func write(_ loc: hid_t, _ name: String, strings: [String], path: String) throws {
        var dims: [hsize_t] = [hsize_t(strings.count)]
        let space = try h5check(H5Screate_simple(1, &dims, nil), "H5Screate_simple", path: path, object: name)
        defer { H5Sclose(space) }
        let type = try makeUTF8StringType(path: path, object: name)
        defer { H5Tclose(type) }
        try withCStringArray(strings) { ptrs in
            try ptrs.withUnsafeBufferPointer { try write(loc, name, type: type, space: space, path: path, $0.baseAddress!) }
        }
    }

    /// Opens attribute `name`, throwing `.missing` when it does not exist.
    private static func open(_ loc: hid_t, _ name: String, path: String) throws -> hid_t {
        guard try exists(loc, name, path: path) else {
            throw ShardError(.missing, path: path, object: name, "attribute '\(name)' is missing",
                             hint: "not an asl-shard file, or written by an incomplete build")
        }
        return try h5check(H5Aopen(loc, name, chdf5_p_default()), "H5Aopen", path: path, object: name)
    }

    private static func typeClass(_ attr: hid_t, path: String, name: String) throws -> H5T_class_t {
        let type = try h5check(H5Aget_type(attr), "H5Aget_type", path: path, object: name)
        defer { H5Tclose(type) }
        return H5Tget_class(type)
    }

    private static func elementCount(_ attr: hid_t, path: String, name: String) throws -> Int {
        let space = try h5check(H5Aget_space(attr), "H5Aget_space", path: path, object: name)
        defer { H5Sclose(space) }
        return Int(try h5check(H5Sget_simple_extent_npoints(space), "H5Sget_simple_extent_npoints",
                               path: path, object: name))
    }

    /// Reads a scalar integer attribute (any integer width in the file) as Int64.
    static func readInt(_ loc: hid_t, _ name: String, path: String) throws -> Int64 {
        let attr = try open(loc, name, path: path)
        defer { H5Aclose(attr) }
        guard try typeClass(attr, path: path, name: name) == H5T_INTEGER,
              try elementCount(attr, path: path, name: name) == 1 else {
            throw ShardError(.invariant, path: path, object: name, "attribute '\(name)' is not a scalar integer")
        }
        var v: Int64 = 0
        try h5check(H5Aread(attr, chdf5_native_int64(), &v), "H5Aread", path: path, object: name)
        return v
    }

    /// Reads a scalar numeric attribute (integer or float in the file) as Double.
    static func readDouble(_ loc: hid_t, _ name: String, path: String) throws -> Double {
        let attr = try open(loc, name, path: path)
        defer { H5Aclose(attr) }
        let cls = try typeClass(attr, path: path, name: name)
        guard cls == H5T_FLOAT || cls == H5T_INTEGER, try elementCount(attr, path: path, name: name) == 1 else {
            throw ShardError(.invariant, path: path, object: name, "attribute '\(name)' is not a scalar number")
        }
        var v: Double = 0
        try h5check(H5Aread(attr, chdf5_native_double(), &v), "H5Aread", path: path, object: name)
        return v
    }

    /// Reads a string attribute (scalar or 1-D, variable- or fixed-length) as an array of strings.
    static func readStrings(_ loc: hid_t, _ name: String, path: String) throws -> [String] {
        let attr = try open(loc, name, path: path)
        defer { H5Aclose(attr) }
        let fileType = try h5check(H5Aget_type(attr), "H5Aget_type", path: path, object: name)
        defer { H5Tclose(fileType) }
        guard H5Tget_class(fileType) == H5T_STRING else {
            throw ShardError(.invariant, path: path, object: name, "attribute '\(name)' is not a string")
        }
        let count = try elementCount(attr, path: path, name: name)
        if count == 0 { return [] }
        if try h5check(H5Tis_variable_str(fileType), "H5Tis_variable_str", path: path, object: name) > 0 {
            let memType = try makeUTF8StringType(path: path, object: name)
            defer { H5Tclose(memType) }
            var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            try h5check(H5Aread(attr, memType, &ptrs), "H5Aread", path: path, object: name)
            let strings = ptrs.map { $0.map { String(cString: $0) } ?? "" }
            let space = try h5check(H5Aget_space(attr), "H5Aget_space", path: path, object: name)
            defer { H5Sclose(space) }
            try h5check(H5Dvlen_reclaim(memType, space, chdf5_p_default(), &ptrs), "H5Dvlen_reclaim",
                        path: path, object: name)
            return strings
        } else {
            let size = H5Tget_size(fileType)
            let memType = try h5check(H5Tcopy(chdf5_c_s1()), "H5Tcopy", path: path, object: name)
            defer { H5Tclose(memType) }
            try h5check(H5Tset_size(memType, size), "H5Tset_size", path: path, object: name)
            var bytes = [CChar](repeating: 0, count: size * count + 1)
            try h5check(H5Aread(attr, memType, &bytes), "H5Aread", path: path, object: name)
            return (0..<count).map { i in String(cChars: Array(bytes[(i * size)..<((i + 1) * size)]) + [0]) }
        }
    }

    static func readString(_ loc: hid_t, _ name: String, path: String) throws -> String {
        let values = try readStrings(loc, name, path: path)
        guard values.count == 1 else {
            throw ShardError(.invariant, path: path, object: name, "attribute '\(name)' is not a single string")
        }
        return values[0]
    }
}

// MARK: - Datasets

enum H5Data {
    static func exists(_ file: hid_t, _ name: String, path: String) throws -> Bool {
        try h5check(H5Lexists(file, name, chdf5_p_default()), "H5Lexists", path: path, object: name) > 0
    }

    /// Opens dataset `name`, throwing `.missing` when it does not exist. The caller closes it with H5Dclose.
    static func open(_ file: hid_t, _ name: String, path: String) throws -> hid_t {
        guard try exists(file, name, path: path) else {
            throw ShardError(.missing, path: path, object: name, "dataset '\(name)' is missing",
                             hint: "not an asl-shard file, or written by an incomplete build")
        }
        return try h5check(H5Dopen2(file, name, chdf5_p_default()), "H5Dopen2", path: path, object: name)
    }

    /// Current dimensions of an open dataset.
    static func dims(_ ds: hid_t, path: String, name: String) throws -> [Int] {
        let space = try h5check(H5Dget_space(ds), "H5Dget_space", path: path, object: name)
        defer { H5Sclose(space) }
        let rank = Int(try h5check(H5Sget_simple_extent_ndims(space), "H5Sget_simple_extent_ndims",
                                   path: path, object: name))
        var d = [hsize_t](repeating: 0, count: max(rank, 1))
        try h5check(H5Sget_simple_extent_dims(space, &d, nil), "H5Sget_simple_extent_dims", path: path, object: name)
        return d.prefix(rank).map { Int($0) }
    }

    /// Creates a chunked dataset whose first dimension starts at 0 and grows without limit.
    /// `rowShape` is the shape of one row (the trailing dimensions), `chunkRows` rows per chunk,
    /// `deflate` 0 for none or 1-9.
    static func createExtendible(_ file: hid_t, _ name: String, type: hid_t, rowShape: [Int], chunkRows: Int,
                                 deflate: Int, path: String) throws -> hid_t {
        let rank = Int32(1 + rowShape.count)
        var dims: [hsize_t] = [0] + rowShape.map { hsize_t($0) }
        var maxDims: [hsize_t] = [chdf5_unlimited()] + rowShape.map { hsize_t($0) }
        var chunk: [hsize_t] = [hsize_t(max(1, chunkRows))] + rowShape.map { hsize_t(max(1, $0)) }
        let space = try h5check(H5Screate_simple(rank, &dims, &maxDims), "H5Screate_simple", path: path, object: name)
        defer { H5Sclose(space) }
        let dcpl = try h5check(H5Pcreate(chdf5_dataset_create()), "H5Pcreate", path: path, object: name)
        defer { H5Pclose(dcpl) }
        try h5check(H5Pset_chunk(dcpl, rank, &chunk), "H5Pset_chunk", path: path, object: name)
        if deflate > 0 {
            try h5check(H5Pset_deflate(dcpl, UInt32(deflate)), "H5Pset_deflate", path: path, object: name,
                        hint: "this HDF5 build may lack zlib; use --compression 0")
        }
        return try h5check(H5Dcreate2(file, name, type, space, chdf5_p_default(), dcpl, chdf5_p_default()),
                           "H5Dcreate2", path: path, object: name)
    }

    /// Appends `rows` rows to an extendible dataset whose current first dimension is `currentRows`.
    /// `buffer` holds `rows × product(rowShape)` elements of `memType`.
    static func append(_ ds: hid_t, memType: hid_t, rowShape: [Int], currentRows: Int, rows: Int,
                       _ buffer: UnsafeRawPointer, path: String, name: String) throws {
        guard rows > 0 else { return }
        let rank = Int32(1 + rowShape.count)
        var newDims: [hsize_t] = [hsize_t(currentRows + rows)] + rowShape.map { hsize_t($0) }
        try h5check(H5Dset_extent(ds, &newDims), "H5Dset_extent", path: path, object: name)
        let fileSpace = try h5check(H5Dget_space(ds), "H5Dget_space", path: path, object: name)
        defer { H5Sclose(fileSpace) }
        var start: [hsize_t] = [hsize_t(currentRows)] + rowShape.map { _ in 0 }
        var count: [hsize_t] = [hsize_t(rows)] + rowShape.map { hsize_t($0) }
        try h5check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &count, nil),
                    "H5Sselect_hyperslab", path: path, object: name)
        let memSpace = try h5check(H5Screate_simple(rank, &count, nil), "H5Screate_simple", path: path, object: name)
        defer { H5Sclose(memSpace) }
        try h5check(H5Dwrite(ds, memType, memSpace, fileSpace, chdf5_p_default(), buffer),
                    "H5Dwrite", path: path, object: name)
    }

    /// Reads a whole dataset of `count` elements into a Swift array of the native type `memType` names.
    static func readAll<T>(_ file: hid_t, _ name: String, memType: hid_t, zero: T, path: String) throws -> (values: [T], dims: [Int]) {
        let ds = try open(file, name, path: path)
        defer { H5Dclose(ds) }
        let d = try dims(ds, path: path, name: name)
        let count = d.reduce(1, *)
        var values = [T](repeating: zero, count: count)
        if count > 0 {
            try values.withUnsafeMutableBytes { buf in
                _ = try h5check(H5Dread(ds, memType, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), buf.baseAddress!),
                                "H5Dread", path: path, object: name)
            }
        }
        return (values, d)
    }

    /// Reads a 1-D variable-length string dataset.
    static func readStrings(_ file: hid_t, _ name: String, path: String) throws -> [String] {
        let ds = try open(file, name, path: path)
        defer { H5Dclose(ds) }
        let fileType = try h5check(H5Dget_type(ds), "H5Dget_type", path: path, object: name)
        defer { H5Tclose(fileType) }
        guard H5Tget_class(fileType) == H5T_STRING,
              try h5check(H5Tis_variable_str(fileType), "H5Tis_variable_str", path: path, object: name) > 0 else {
            throw ShardError(.invariant, path: path, object: name, "'\(name)' is not a variable-length string dataset")
        }
        let count = try dims(ds, path: path, name: name).reduce(1, *)
        if count == 0 { return [] }
        let memType = try makeUTF8StringType(path: path, object: name)
        defer { H5Tclose(memType) }
        var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        try h5check(H5Dread(ds, memType, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), &ptrs),
                    "H5Dread", path: path, object: name)
        let strings = ptrs.map { $0.map { String(cString: $0) } ?? "" }
        let space = try h5check(H5Dget_space(ds), "H5Dget_space", path: path, object: name)
        defer { H5Sclose(space) }
        try h5check(H5Dvlen_reclaim(memType, space, chdf5_p_default(), &ptrs), "H5Dvlen_reclaim", path: path, object: name)
        return strings
    }
}
