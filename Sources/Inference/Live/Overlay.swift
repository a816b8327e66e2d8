// Inference: what the live preview and the annotated video show: the top-k classes with probabilities averaged over
// the last K classifications (or that no sign is recognized below the threshold), in a fixed panel at the top left,
// and the square the model's window was cut from.
import CVBridge
import Foundation
import Shards
import Support

/// The overlay's state between classifications and its drawing.
public struct Overlay {
    public let classes: [String]
    public let topK: Int
    public let smooth: Int
    public let threshold: Double
    /// The newest `smooth` probability vectors, oldest first.
    private var history: [[Float]] = []
    /// The crop of the newest classified window.
    public private(set) var latestCrop: SquareCrop?
    /// The panel's size for frames of `panelFor` height, computed once from the widest lines it can show.
    private var panel: (width: Int32, height: Int32, forHeight: Int) = (0, 0, 0)

    public init(classes: [String], topK: Int, smooth: Int, threshold: Double) {
        self.classes = classes; self.topK = min(topK, classes.count); self.smooth = smooth; self.threshold = threshold
    }

    /// Adds a classification.
    public mutating func add(_ result: LiveResult) {
        history.append(result.probabilities)
        if history.count > smooth { history.removeFirst(history.count - smooth) }
        latestCrop = result.crop
    }

    /// The probabilities averaged over the last `smooth` classifications, [classes]; nil before the first.
    public var smoothed: [Float]? {
        guard let first = history.first else { return nil }
        var sum = [Float](repeating: 0, count: first.count)
        for p in history { for j in sum.indices { sum[j] += p[j] } }
        return sum.map { $0 / Float(history.count) }
    }

    /// Whether the smoothed top-1 reaches the threshold.
    public var recognizes: Bool {
        guard let p = smoothed, let best = p.max() else { return false }
        return Double(best) >= threshold
    }

    /// The panel's lines: a status line, then the smoothed top-k ("name  0.83").
    public var lines: [String] {
        guard let p = smoothed else { return ["collecting frames..."] }
        let top = Predictor.top(topK, probabilities: p, classes: classes)
        // top[0] is the smoothed maximum: the same test as `recognizes`, without averaging again.
        let status = Double(top[0].probability) >= threshold ? "sign: \(top[0].name)" : String(format: "no sign recognized (< %.2f)", threshold)
        return [status] + top.map { "\($0.name)  " + String(format: "%.2f", $0.probability) }
    }

    /// The panel's rectangle (x, y, width, height) on frames `height` pixels high.
    public mutating func panelRect(frameHeight height: Int) throws -> [Int] {
        if panel.forHeight != height {
            let longest = classes.max { $0.count < $1.count } ?? ""
            let sizing = ["collecting frames...", String(format: "no sign recognized (< %.2f)", threshold), "sign: \(longest)"]
                + [String](repeating: "\(longest)  0.00", count: topK)
            var w: Int32 = 0, h: Int32 = 0
            let rc = withCStringArray(sizing) { cvbridge_overlay_panel_size(Int32(height), $0, Int32(sizing.count), &w, &h) }
            guard rc == 0 else { throw PredictError(path: "<overlay>", "sizing the overlay failed (CVBridge code \(rc))") }
            panel = (w, h, height)
        }
        return [0, 0, Int(panel.width), Int(panel.height)]
    }

    /// Draws the panel and, when given, the crop's outline onto `rgb` [height, width, 3].
    public mutating func draw(on rgb: inout [UInt8], width: Int, height: Int, crop: SquareCrop?) throws {
        let rect = try panelRect(frameHeight: height)
        let text = lines
        let rc = withCStringArray(text) { cLines in
            rgb.withUnsafeMutableBufferPointer {
                cvbridge_draw_overlay($0.baseAddress, Int32(height), Int32(width), cLines, Int32(text.count), Int32(rect[2]),
                                      Int32(rect[3]), Int32(crop?.x0 ?? 0), Int32(crop?.y0 ?? 0), Int32(crop?.side ?? 0))
            }
        }
        guard rc == 0 else { throw PredictError(path: "<overlay>", "drawing the overlay failed (CVBridge code \(rc))") }
    }
}
