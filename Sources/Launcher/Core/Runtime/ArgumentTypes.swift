// Launcher: command-line parsing for the value types of NN and Shards, which do not depend on swift-argument-parser.
// The parser then validates `--arch` itself and names the flag and the accepted values on error.
import ArgumentParser
import NN

/// `--arch r2plus1d_18|c3d`: the raw values, listed from `Architecture.allCases`.
extension Architecture: ExpressibleByArgument {}
