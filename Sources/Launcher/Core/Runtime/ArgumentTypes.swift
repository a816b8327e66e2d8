// Launcher: command-line parsing for the value types of NN and Shards, which do not depend on swift-argument-parser.
// The parser then validates `--arch` and `--hand-crop` itself and names the flag and the accepted values on error.
import ArgumentParser
import NN
import Shards

/// `--arch r2plus1d_18|c3d`: the raw values, listed from `Architecture.allCases`.
extension Architecture: ExpressibleByArgument {}

/// `--hand-crop bbox|motion|none|boxes:FILE`.
extension HandCropMode: ExpressibleByArgument {
    public init?(argument: String) {
        guard let mode = try? HandCropMode(parsing: argument) else { return nil }
        self = mode
    }

    /// The accepted forms, for help and for the error on a bad value (`boxes:FILE` is a pattern, not a literal).
    public static var allValueStrings: [String] { ["bbox", "motion", "none", "boxes:FILE"] }

    public static var allValueDescriptions: [String: String] {
        ["bbox": "the source's box (WLASL's bbox), else the centre square",
         "motion": "around what moves across the clip, else the centre square",
         "none": "the centre square",
         "boxes:FILE": "JSON {clip_id: [x0,y0,x1,y1]} in source pixels, else the centre square"]
    }

    /// Completes file names: the literal values are few, and `boxes:FILE` cannot be listed.
    public static var defaultCompletionKind: CompletionKind { .default }

    public var defaultValueDescription: String { description }
}
