// Support: a one-line terminal progress bar with rate and ETA, for the shard builder and the trainer.
//
// On a terminal the line is redrawn in place (at most ~10 times a second); when standard error is a file or a
// pipe, a plain line is written every 10% so that logs stay readable.
import Foundation

public final class ProgressBar {
    public let total: Int
    public let label: String
    public let unit: String
    public private(set) var done = 0
    private let started: Date
    private var lastDraw = Date.distantPast
    private var lastDecile = -1
    private let isTerminal: Bool
    private let width = 30

    /// - Parameters: total: steps expected (> 0); label: printed before the bar; unit: what a step is ("clips").
    public init(total: Int, label: String, unit: String = "it") {
        self.total = max(1, total); self.label = label; self.unit = unit
        started = Date()
        isTerminal = isatty(STDERR_FILENO) != 0
    }

    /// Advances by `steps` and redraws when due. `note` is appended to the line (e.g. "3 skipped").
    public func advance(by steps: Int = 1, note: String = "") {
        done = min(total, done + steps)
        let now = Date()
        if isTerminal {
            if now.timeIntervalSince(lastDraw) >= 0.1 || done == total {
                lastDraw = now
                write("\r" + line(now: now, note: note) + "\u{1B}[K")
            }
        } else {
            let decile = done * 10 / total
            if decile != lastDecile { lastDecile = decile; write(line(now: now, note: note) + "\n") }
        }
    }

    /// Ends the bar's line (on a terminal) with a final summary.
    public func finish(note: String = "") {
        let text = line(now: Date(), note: note)
        write(isTerminal ? "\r" + text + "\u{1B}[K\n" : (lastDecile == 10 ? "" : text + "\n"))
    }

    /// "label [#####.....] 12/40 clips 3.1 clips/s ETA 9s note"
    public func line(now: Date, note: String) -> String {
        let elapsed = max(1e-9, now.timeIntervalSince(started))
        let rate = Double(done) / elapsed
        let filled = done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let eta = done == total ? "done in \(Self.duration(elapsed))"
            : (rate > 0 ? "ETA \(Self.duration(Double(total - done) / rate))" : "ETA --")
        let rateText = rate >= 10 ? String(format: "%.0f", rate) : String(format: "%.1f", rate)
        return "\(label) [\(bar)] \(done)/\(total) \(unit) \(rateText) \(unit)/s \(eta)" + (note.isEmpty ? "" : " \(note)")
    }

    /// "42s", "3m07s", "1h02m".
    public static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
