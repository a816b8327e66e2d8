// Launcher: `asl-dist-train compare-weights A B`: the largest difference per tensor between two weight files with
// the same keys, e.g. to check that two runs (different rank counts, or interrupted and resumed) trained the same.
import ArgumentParser
import Foundation
import Inference
import NN

public struct CompareWeights: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "compare-weights",
        abstract: "Print the max absolute difference per tensor of two safetensors files; fail above a tolerance.")

    @Argument(help: "First weights file (or checkpoint directory).") var first: String
    @Argument(help: "Second weights file (or checkpoint directory).") var second: String
    @Option(help: "Fail when any tensor differs by more than this (absolute).") var tolerance: Double = 1e-5
    @Flag(help: "Print every tensor, not only the worst ones.") var all = false

    public init() {}

    public func run() throws {
        let a = try SafeTensorsFile(path: try Predictor.weightsFile(at: first))
        let b = try SafeTensorsFile(path: try Predictor.weightsFile(at: second))
        let onlyA = Set(a.names).subtracting(b.names).sorted(), onlyB = Set(b.names).subtracting(a.names).sorted()
        guard onlyA.isEmpty && onlyB.isEmpty else {
            // Not a usage error: both files were read; they hold different models (or one is incomplete).
            func list(_ keys: [String]) -> String {
                keys.prefix(10).joined(separator: ", ") + (keys.count > 10 ? ", ... (\(keys.count) in all)" : "")
            }
            if !onlyB.isEmpty { print("missing from \(first): \(onlyB.count) key(s): \(list(onlyB))") }
            if !onlyA.isEmpty { print("extra in \(first) (not in \(second)): \(onlyA.count) key(s): \(list(onlyA))") }
            print("the files hold different sets of tensors (\(a.names.count) and \(b.names.count) keys): they are not the "
                  + "same model; compare weights of one architecture, width and class count")
            throw ExitCode(1)
        }
        var rows: [(String, Double)] = []
        for name in a.names.sorted() {
            let x: [Double], y: [Double]
            if a.tensors[name]?.dtype.rawValue == "I64" {
                x = try a.int64s(name).map(Double.init); y = try b.int64s(name).map(Double.init)
            } else {
                x = try a.floats(name).map(Double.init); y = try b.floats(name).map(Double.init)
            }
            guard x.count == y.count else {
                print("\(name): shape \(a.tensors[name]?.shape ?? []) in \(first), \(b.tensors[name]?.shape ?? []) in \(second): "
                      + "not the same model (another width or class count?)")
                throw ExitCode(1)
            }
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
