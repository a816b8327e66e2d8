// Launcher: `asl-dist-train compare-weights A B`: the largest difference per tensor between two weight files with
// the same keys, e.g. to check that two runs (different rank counts, or interrupted and resumed) trained the same.
import ArgumentParser
import Foundation
import NN

public struct CompareWeights: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "compare-weights",
        abstract: "Print the max absolute difference per tensor of two safetensors files; fail above a tolerance.")

    @Argument(help: "First weights file.") var first: String
    @Argument(help: "Second weights file.") var second: String
    @Option(help: "Fail when any tensor differs by more than this (absolute).") var tolerance: Double = 1e-5
    @Flag(help: "Print every tensor, not only the worst ones.") var all = false

    public init() {}

    public func run() throws {
        let a = try SafeTensorsFile(path: first), b = try SafeTensorsFile(path: second)
        guard Set(a.names) == Set(b.names) else {
            let onlyA = Set(a.names).subtracting(b.names).sorted(), onlyB = Set(b.names).subtracting(a.names).sorted()
            throw ValidationError("the files have different keys: only in \(first): \(onlyA.prefix(5)); only in \(second): \(onlyB.prefix(5))")
        }
        var rows: [(String, Double)] = []
        for name in a.names.sorted() {
            let x: [Double], y: [Double]
            if a.tensors[name]?.dtype.rawValue == "I64" {
                x = try a.int64s(name).map(Double.init); y = try b.int64s(name).map(Double.init)
            } else {
                x = try a.floats(name).map(Double.init); y = try b.floats(name).map(Double.init)
            }
            guard x.count == y.count else { throw ValidationError("\(name): \(x.count) vs \(y.count) elements") }
            rows.append((name, zip(x, y).reduce(0) { max($0, abs($1.0 - $1.1)) }))
        }
        let worst = rows.max { $0.1 < $1.1 }
        for (name, d) in (all ? rows : Array(rows.sorted { $0.1 > $1.1 }.prefix(5))) {
            print(String(format: "%-48@ max |diff| %.3e", name, d))
        }
        print(String(format: "compared %d tensors; largest difference %.3e (%@); tolerance %.1e",
                     rows.count, worst?.1 ?? 0, worst?.0 ?? "-", tolerance))
        if let worst, worst.1 > tolerance { throw ExitCode(1) }
    }
}
