// Shards: the one error type of the shard format, writer, reader and verifier. Each carries the file, the dataset
// or attribute involved, and a hint for the user; the executables turn it into a message and an exit code.

public struct ShardError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// An HDF5 call returned a negative status.
        case hdf5
        /// The file is not an asl-shard file, or has a version this code does not read.
        case wrongFormat
        /// A required attribute or dataset is missing.
        case missing
        /// A structural invariant is broken (offsets, lengths, label range, classes across shards, ...).
        case invariant
        /// Caller error in arguments or state (clip of the wrong size, append after finish, ...).
        case usage
        /// File-system error outside HDF5 (listing a directory, renaming, writing the manifest).
        case io
    }

    public let kind: Kind
    public let path: String
    /// Dataset or attribute name, `nil` when the error concerns the whole file.
    public let object: String?
    public let message: String
    public let hint: String?

    public init(_ kind: Kind, path: String, object: String? = nil, _ message: String, hint: String? = nil) {
        self.kind = kind; self.path = path; self.object = object; self.message = message; self.hint = hint
    }

    public var description: String {
        var s = "\(path)"
        if let object { s += " [\(object)]" }
        s += ": \(message)"
        if let hint { s += " (hint: \(hint))" }
        return s
    }
}
