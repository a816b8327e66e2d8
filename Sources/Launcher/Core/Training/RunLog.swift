// Launcher: what a run tells its user — step lines and epoch lines on the console (rank 0), the per-epoch history
// files, the training curves picture, and TensorBoard scalars. No decisions are made here.
import Distributed
import Foundation
import Support

final class RunLog {
    let comm: Communicator
    /// Rank 0 only.
    private var history: History?
    private var tensorBoard: TensorBoardWriter?
    private let runDirectory: String
    /// The heading of `reports/curves.png`.
    private let curvesTitle: String
    /// Reduced sums since the last step line, and the time the interval started.
    private var interval = (sums: StepSums(), start: Date(), comm: 0.0, steps: 0)

    init(comm: Communicator, runDirectory: String, resuming: Bool, curvesTitle: String) throws {
        self.comm = comm
        self.runDirectory = runDirectory
        self.curvesTitle = curvesTitle
        if comm.isRoot {
            history = History(directory: runDirectory, resumingFrom: resuming)
            tensorBoard = try TensorBoardWriter(directory: runDirectory + "/tensorboard")
        }
    }

    func say(_ line: String) { print0(comm, line) }

    /// Adds one step's reduced sums to the current interval (and the seconds communication was exposed).
    func addStep(_ sums: StepSums, exposedCommSeconds: Double) {
        interval.steps += 1
        interval.sums.add(sums)
        interval.comm += exposedCommSeconds
    }

    /// Prints the interval's step line (loss, accuracy, lr, clips/s, data wait, exposed allreduce) and writes its
    /// TensorBoard scalars; starts a new interval.
    func stepLine(step: Int, globalBatch: Int, lr: Double, dataWaitSeconds: Double) throws {
        let seconds = Date().timeIntervalSince(interval.start)
        let clipsPerSecond = Double(interval.steps * globalBatch) / seconds
        let (meanLoss, accuracy) = (interval.sums.meanLoss, interval.sums.accuracy)
        say(String(format: "step %d  loss %.4f  acc %.2f%%  lr %.3g  %.2f clips/s  data-wait %.0f%%  allreduce %.0f%%",
                   step, meanLoss, 100 * accuracy, lr, clipsPerSecond,
                   100 * min(1, dataWaitSeconds / seconds), 100 * min(1, interval.comm / seconds)))
        try tensorBoard?.scalars(["train/loss": meanLoss, "train/top1": accuracy, "train/lr": lr,
                                  "train/clips_per_s": clipsPerSecond], step: step)
        interval = (StepSums(), Date(), 0, 0)
    }

    /// Prints an epoch's validation line.
    func epochLine(epoch: Int, metrics m: ClassificationMetrics, improved: Bool) {
        say(String(format: "epoch %d  val loss %.4f  top1 %.2f%%  top5 %.2f%%  macro-F1 %.2f%%%@", epoch, m.meanLoss,
                   100 * m.accuracy, 100 * m.top5Accuracy, 100 * m.macroF1, improved ? "  (best)" : ""))
    }

    /// Records an epoch's row (`epoch`, `step`, train and `val_` metrics) in the history files and its validation
    /// scalars in TensorBoard, and redraws `reports/curves.png` from the whole history, marking the `best` epoch
    /// (by the run's metric) and the epoch frozen layers were unfrozen at.
    func epochRow(_ row: [String: Double], step: Int, best: (epoch: Int, metric: Metric)?, unfrozeAt: Int?) throws {
        guard let history else { return }
        try history.record(row)
        try tensorBoard?.scalars(row.filter { $0.key.hasPrefix("val_") }.reduce(into: [:]) {
            $0["val/" + $1.key.dropFirst(4)] = $1.value
        }, step: step)
        let reports = runDirectory + "/reports"
        do {
            try FileManager.default.createDirectory(atPath: reports, withIntermediateDirectories: true)
        } catch {
            throw FileWriteError(path: reports, reason: "cannot create the reports directory "
                                 + "(\((error as NSError).localizedDescription))")
        }
        try TrainingCurves(rows: history.rows, best: best, unfrozeAt: unfrozeAt.map { [$0] } ?? [])
            .write(to: reports + "/curves.png", title: curvesTitle)
    }

    func close() { tensorBoard?.close() }
}

/// One row per epoch in `history.csv` and `history.json`.
public final class History {
    /// The columns of `history.csv`, in this order: where the run was (epoch, optimizer step, learning rate at the
    /// epoch's end), the epoch's training metrics, then its validation metrics (`val_`, empty without --val). A key
    /// outside this list follows them, sorted, so that nothing recorded is lost.
    public static let columns = ["epoch", "step", "lr", "train_loss", "train_top1",
                                 "val_loss", "val_top1", "val_top5", "val_macro_f1", "val_samples"]
    /// The columns that count something, written without a fraction (`3`, not `3.0`).
    public static let integerColumns: Set<String> = ["epoch", "step", "val_samples"]

    public private(set) var rows: [[String: Double]] = []
    private let directory: String

    public init(directory: String, resumingFrom existing: Bool) {
        self.directory = directory
        if existing, let data = try? Data(contentsOf: URL(fileURLWithPath: directory + "/history.json")),
           let loaded = try? JSONDecoder().decode([[String: Double]].self, from: data) {
            rows = loaded
        }
    }

    /// Appends (or, for an epoch already present after a resume, replaces) a row and rewrites both files.
    public func record(_ row: [String: Double]) throws {
        if let epoch = row["epoch"], let i = rows.firstIndex(where: { $0["epoch"] == epoch }) {
            rows[i] = row
        } else {
            rows.append(row)
        }
        let known = Set(Self.columns)
        let columns = Self.columns + Set(rows.flatMap { $0.keys }).subtracting(known).sorted()
        var csv = columns.joined(separator: ",") + "\n"
        for r in rows {
            csv += columns.map { column in
                r[column].map { Self.integerColumns.contains(column) ? Self.integerText($0) : "\($0)" } ?? ""
            }.joined(separator: ",") + "\n"
        }
        try AtomicFile.write(Data(csv.utf8), to: directory + "/history.csv")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(try encoder.encode(rows), to: directory + "/history.json")
    }

    /// A count as an integer; a value that is not a whole number (never expected) keeps its fraction.
    private static func integerText(_ value: Double) -> String {
        Int(exactly: value).map(String.init) ?? "\(value)"
    }
}
