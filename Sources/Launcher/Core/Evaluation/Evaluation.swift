// Launcher: classification metrics over a validation or test set: loss, top-1, top-5, per-class precision, recall
// and F1, macro-F1 and the confusion matrix; reduced across ranks by summing counts (padding excluded), and
// written as report files (metrics JSON, per-class CSV, confusion CSV and PNG heat map).
import CVBridge
import Distributed
import Foundation
import Support

public struct ClassificationMetrics {
    public let classes: [String]
    /// n×n counts, row = true class, column = predicted class.
    public private(set) var confusion: [Int64]
    public private(set) var lossSum: Double = 0
    public private(set) var count: Int64 = 0
    public private(set) var top1: Int64 = 0
    public private(set) var top5: Int64 = 0

    public init(classes: [String]) {
        self.classes = classes
        confusion = [Int64](repeating: 0, count: classes.count * classes.count)
    }

    /// Adds a batch. `logits` is [N, classes] row-major; samples with `isPadding[i]` (repeated to even out ranks)
    /// are skipped so that nothing is counted twice. The loss is the cross-entropy without label smoothing.
    public mutating func add(logits: [Float], labels: [Int32], isPadding: [Bool]) {
        let k = classes.count
        precondition(logits.count == labels.count * k, "logits must be [N, \(k)]")
        for i in labels.indices where !(isPadding.indices.contains(i) && isPadding[i]) {
            let row = logits[i * k ..< (i + 1) * k]
            let label = Int(labels[i])
            let maxLogit = row.max()!
            let logSum = log(row.reduce(0.0) { $0 + exp(Double($1 - maxLogit)) }) + Double(maxLogit)
            lossSum += logSum - Double(row[row.startIndex + label])
            // Rank of the true class: how many classes score strictly higher (ties favour the true class).
            let truth = row[row.startIndex + label]
            let higher = row.reduce(0) { $0 + ($1 > truth ? 1 : 0) }
            let predicted = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! - row.startIndex
            if higher == 0 { top1 += 1 }
            if higher < 5 { top5 += 1 }
            confusion[label * k + predicted] += 1
            count += 1
        }
    }

    /// Sums every count over all ranks so that each rank holds the metrics of the whole set.
    public mutating func reduce(over communicator: Communicator) throws {
        var ints = confusion + [count, top1, top5]
        try communicator.allreduce(&ints, op: .sum)
        let n = confusion.count
        confusion = Array(ints[0..<n])
        count = ints[n]; top1 = ints[n + 1]; top5 = ints[n + 2]
        lossSum = try communicator.allreduce(lossSum, op: .sum)
    }

    public var meanLoss: Double { count > 0 ? lossSum / Double(count) : .nan }
    public var accuracy: Double { count > 0 ? Double(top1) / Double(count) : 0 }
    public var top5Accuracy: Double { count > 0 ? Double(top5) / Double(count) : 0 }

    public struct ClassScores: Codable, Equatable {
        public let name: String
        public let precision: Double, recall: Double, f1: Double
        public let support: Int64
    }

    /// Precision, recall and F1 per class (0 where undefined, as scikit-learn's zero_division=0).
    public var perClass: [ClassScores] {
        let k = classes.count
        return (0..<k).map { c in
            let tp = Double(confusion[c * k + c])
            let support = (0..<k).reduce(Int64(0)) { $0 + confusion[c * k + $1] }
            let predicted = (0..<k).reduce(Int64(0)) { $0 + confusion[$1 * k + c] }
            let p = predicted > 0 ? tp / Double(predicted) : 0
            let r = support > 0 ? tp / Double(support) : 0
            let f = p + r > 0 ? 2 * p * r / (p + r) : 0
            return ClassScores(name: classes[c], precision: p, recall: r, f1: f, support: support)
        }
    }

    /// Unweighted mean of F1 over the classes that occur in the set (true or predicted).
    public var macroF1: Double {
        let k = classes.count
        let scores = perClass
        let present = (0..<k).filter { c in scores[c].support > 0 || (0..<k).contains { confusion[$0 * k + c] > 0 } }
        guard !present.isEmpty else { return 0 }
        return present.reduce(0) { $0 + scores[$1].f1 } / Double(present.count)
    }

    /// The summary line values, for logs and history.
    public var summary: [String: Double] {
        ["loss": meanLoss, "top1": accuracy, "top5": top5Accuracy, "macro_f1": macroF1, "samples": Double(count)]
    }

    /// Writes `metrics.json`, `per_class.csv`, `confusion.csv` and `confusion.png` into `directory` (atomically each).
    public func writeReports(to directory: String, title: String, extra: [String: Double] = [:]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var json: [String: Any] = summary.merging(extra) { a, _ in a }
        json["classes"] = classes
        json["per_class"] = perClass.map {
            ["name": $0.name, "precision": $0.precision, "recall": $0.recall, "f1": $0.f1, "support": $0.support]
        }
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: directory + "/metrics.json")

        var csv = "class,precision,recall,f1,support\n"
        for s in perClass { csv += "\(csvField(s.name)),\(s.precision),\(s.recall),\(s.f1),\(s.support)\n" }
        try AtomicFile.write(Data(csv.utf8), to: directory + "/per_class.csv")

        let k = classes.count
        var matrix = "true\\predicted," + classes.map(csvField).joined(separator: ",") + "\n"
        for i in 0..<k {
            matrix += csvField(classes[i]) + "," + (0..<k).map { String(confusion[i * k + $0]) }.joined(separator: ",") + "\n"
        }
        try AtomicFile.write(Data(matrix.utf8), to: directory + "/confusion.csv")
        try writeHeatMap(to: directory + "/confusion.png", title: title)
    }

    /// Row-normalized confusion matrix as a PNG heat map with class names.
    public func writeHeatMap(to path: String, title: String) throws {
        let k = classes.count
        var normalized = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            let total = (0..<k).reduce(Int64(0)) { $0 + confusion[i * k + $1] }
            if total > 0 { for j in 0..<k { normalized[i * k + j] = Double(confusion[i * k + j]) / Double(total) } }
        }
        // OpenCV picks the encoder from the extension, so the temporary name keeps ".png" at its end.
        let tmp = AtomicFile.temporaryPath(for: path) + ".png"
        let rc = withCStringArray(classes) { labels in
            cvbridge_write_heatmap(normalized, confusion.map { Int64($0) }, Int32(k), labels, title, tmp)
        }
        guard rc == 0 else {
            throw FileWriteError(path: path, reason: "OpenCV could not write the heat map (code \(rc))")
        }
        try AtomicFile.commit(temporary: tmp, to: path)
    }
}

/// Quotes a CSV field when it holds a comma, quote or newline.
func csvField(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}
