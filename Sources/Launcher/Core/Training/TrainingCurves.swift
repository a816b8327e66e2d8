// Launcher: the picture of a run's training, `reports/curves.png`, redrawn by rank 0 after every epoch from the
// history rows: (a) training and validation loss, (b) training top-1, validation top-1 and validation macro-F1 in
// percent, per epoch, with dashed markers at the best epoch and where staged unfreezing happened. OpenCV draws it
// (CVBridgePlot); this file chooses the lines, colours and markers.
import CVBridge
import Foundation
import Support

public struct TrainingCurves {
    /// The picture's size in pixels: two 600-pixel-wide panels side by side.
    public static let width = 1200, height = 520

    /// Colours as 0xRRGGBB: training lines blue, validation lines orange, macro-F1 green; the best epoch's marker red,
    /// staged unfreezing purple.
    public enum Colour {
        public static let train: UInt32 = 0x1f77b4, validation: UInt32 = 0xff7f0e, macroF1: UInt32 = 0x2ca02c
        public static let best: UInt32 = 0xd62728, unfreeze: UInt32 = 0x9467bd
    }

    /// A line: its history column, legend name, panel (0 loss, 1 percent), factor to the panel's unit and colour.
    struct Line {
        let column: String, name: String, panel: Int32, scale: Double, colour: UInt32
    }

    static let lines = [
        Line(column: "train_loss", name: "train loss", panel: 0, scale: 1, colour: Colour.train),
        Line(column: "val_loss", name: "val loss", panel: 0, scale: 1, colour: Colour.validation),
        Line(column: "train_top1", name: "train top-1", panel: 1, scale: 100, colour: Colour.train),
        Line(column: "val_top1", name: "val top-1", panel: 1, scale: 100, colour: Colour.validation),
        Line(column: "val_macro_f1", name: "val macro-F1", panel: 1, scale: 100, colour: Colour.macroF1),
    ]

    /// History rows (`History.rows`: `epoch` and metric columns), drawn in epoch order.
    public let rows: [[String: Double]]
    /// The epoch `checkpoints/best` was saved at, and the metric that chose it.
    public let best: (epoch: Int, metric: Metric)?
    /// The epochs at whose start frozen layers were unfrozen.
    public let unfrozeAt: [Int]

    public init(rows: [[String: Double]], best: (epoch: Int, metric: Metric)?, unfrozeAt: [Int]) {
        self.rows = rows.filter { $0["epoch"]?.isFinite == true }.sorted { $0["epoch"]! < $1["epoch"]! }
        self.best = best
        self.unfrozeAt = unfrozeAt
    }

    /// Writes the picture as a PNG at `path`, atomically (a reader sees the previous picture or the new one).
    /// Lines without any value (validation lines of a run without --val) are left out, legend included; an epoch
    /// without a value leaves a gap in its line.
    public func write(to path: String, title: String) throws {
        guard !rows.isEmpty else { throw FileWriteError(path: path, reason: "no epoch to draw yet") }
        let epochs = rows.map { $0["epoch"]! }
        let n = epochs.count
        let drawn = Self.lines.compactMap { line -> (Line, [Double])? in
            let values = rows.map { row in row[line.column].map { $0 * line.scale } ?? .nan }
            return values.contains { $0.isFinite } ? (line, values) : nil
        }
        var markers: [(epoch: Int, label: String, colour: UInt32)] = []
        if let best { markers.append((best.epoch, "best (\(best.metric))", Colour.best)) }
        for epoch in unfrozeAt { markers.append((epoch, "unfroze", Colour.unfreeze)) }

        // C strings for every name, freed when the call is over.
        var owned: [UnsafeMutablePointer<CChar>] = []
        defer { owned.forEach { free($0) } }
        func cString(_ s: String) throws -> UnsafePointer<CChar> {
            guard let copy = strdup(s) else { throw FileWriteError(path: path, reason: "out of memory for the labels") }
            owned.append(copy)
            return UnsafePointer(copy)
        }
        let lineNames = try drawn.map { try cString($0.0.name) }
        let panels = [cvbridge_panel(title: try cString("(a) loss per epoch"), y_label: try cString("cross-entropy"),
                                     y_max: 0),
                      cvbridge_panel(title: try cString("(b) top-1 and macro-F1 per epoch"),
                                     y_label: try cString("percent"), y_max: 100)]
        let cMarkers = try markers.map {
            cvbridge_marker(epoch: Double($0.epoch), label: try cString($0.label), rgb: $0.colour)
        }
        let cTitle = try cString(title)

        // OpenCV picks the encoder from the extension, so the temporary name keeps ".png" at its end.
        let tmp = AtomicFile.temporaryPath(for: path) + ".png"
        var message = [CChar](repeating: 0, count: 512)
        let flat = drawn.flatMap { $0.1 }
        let rc = flat.withUnsafeBufferPointer { values in
            let curves = drawn.indices.map { i in
                cvbridge_curve(name: lineNames[i], values: values.baseAddress.map { $0 + i * n },
                               panel: drawn[i].0.panel, rgb: drawn[i].0.colour)
            }
            return cvbridge_write_curves(epochs, Int32(n), curves, Int32(curves.count), panels, Int32(panels.count),
                                         cMarkers, Int32(cMarkers.count), cTitle, Int32(Self.width),
                                         Int32(Self.height), tmp, &message, Int32(message.count))
        }
        guard rc == 0 else {
            try? FileManager.default.removeItem(atPath: tmp)
            let reason: String
            switch rc {
            case -1: reason = "OpenCV could not write the image (directory missing or not writable, or disk full?)"
            case -2: reason = "the curves were rejected as invalid (\(n) epochs, \(drawn.count) lines; code -2)"
            default:
                let explanation = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                reason = "OpenCV failed while drawing the curves (code \(rc)): \(explanation)"
            }
            throw FileWriteError(path: path, reason: reason)
        }
        try AtomicFile.commit(temporary: tmp, to: path)
    }
}
