// NN: the one registry of model architectures. Each case's raw value is the name written in checkpoint metadata and
// run states (so it must never change); the case owns how its model is built and which state-dict key identifies
// its weights. Adding an architecture means adding a case here and nowhere else.

public enum Architecture: String, CaseIterable, Sendable, CustomStringConvertible {
    /// torchvision's `r2plus1d_18` (`R2Plus1D18`).
    case r2plus1d18 = "r2plus1d_18"
    /// The C3D variant (`C3D`).
    case c3d

    /// The on-disk name, so that messages and logs show what files and flags use.
    public var description: String { rawValue }

    /// The known names, for error messages: `r2plus1d_18, c3d`.
    public static var knownNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The architecture named `name` (as written in metadata or typed); throws, listing the known names, otherwise.
    public init(named name: String) throws {
        guard let arch = Architecture(rawValue: name) else {
            throw NNError("Architecture", "unknown architecture '\(name)' (known: \(Architecture.knownNames))")
        }
        self = arch
    }

    /// The tensor whose presence identifies this architecture's state dict, and whose first dimension is the model
    /// width: r2plus1d_18's `stem.3` outputs the width (while `stem.0`'s 45·w/64 rounds several widths to one),
    /// c3d's first conv does.
    public var signatureKey: String {
        switch self {
        case .r2plus1d18: return "stem.3.weight"
        case .c3d: return "conv1.conv.weight"
        }
    }

    /// Builds the model. `width` 64 is the standard model; smaller values scale every channel count proportionally.
    /// `temporalStride` (r2plus1d_18 only) 2 is torchvision's, 1 keeps T.
    public func makeModel(classes: Int, width: Int = 64, temporalStride: Int = 2) throws -> VideoClassifier {
        guard classes > 0, width > 0 else {
            throw NNError("makeModel", "classes (\(classes)) and width (\(width)) must be positive")
        }
        switch self {
        case .r2plus1d18: return R2Plus1D18(classes: classes, width: width, temporalStride: temporalStride)
        case .c3d: return C3D(classes: classes, width: width)
        }
    }
}
