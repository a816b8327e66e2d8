// Launcher: the signals that ask a run to stop and save — SIGTERM (scancel, preemption, a node's shutdown), SIGINT
// (Ctrl-C) and SIGUSR1 (`sbatch --signal=USR1@120`, and what mpirun forwards to every rank) — turned into a flag
// the training loop reads at each step boundary. The signals are delivered on a dispatch queue, not in a signal
// handler, so the flag needs no async-signal-safe code; a signal never interrupts a collective or a file write.
import Dispatch
import Foundation

/// How a process ends, as its exit status. Scripts and the supervisor tell these apart.
public enum ExitStatus: Int32 {
    /// Training finished.
    case finished = 0
    /// An error a restart may fix: a lost rank, an I/O or MPI error.
    case failed = 1
    /// The stall watchdog ended a rank that made no progress.
    case stalled = 3
    /// Bad flags (swift-argument-parser's EX_USAGE).
    case usage = 64
    /// The setup is wrong in a way a restart repeats: data, classes, a checkpoint of another model.
    case badSetup = 65
    /// The loss became NaN or infinite.
    case diverged = 66
    /// Stopped by a signal after saving `checkpoints/last`: run the same command with `--resume auto` to continue
    /// (EX_TEMPFAIL).
    case stoppedResumable = 75

    /// What the status says, for logs.
    public var meaning: String {
        switch self {
        case .finished: return "finished"
        case .failed: return "failed: a lost rank, an I/O or MPI error"
        case .stalled: return "a rank stalled"
        case .usage: return "bad flags"
        case .badSetup: return "bad setup or data"
        case .diverged: return "the loss diverged"
        case .stoppedResumable: return "stopped by a signal after saving a checkpoint"
        }
    }

    /// Whether running the same command again can get further.
    public var isRetryable: Bool {
        switch self {
        case .finished, .usage, .badSetup, .diverged: return false
        case .failed, .stalled, .stoppedResumable: return true
        }
    }
}

/// The first stop signal this process received, if any.
public final class StopSignals {
    public static let watched: [(number: Int32, name: String)] = [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT"),
                                                                   (SIGUSR1, "SIGUSR1")]
    private let lock = NSLock()
    private var first: String?
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "stop-signals")

    /// Starts catching the watched signals; `onSignal` runs on a background queue with the signal's name and
    /// whether it is the first one.
    public init(onSignal: @escaping (String, Bool) -> Void = { _, _ in }) {
        for (number, name) in Self.watched {
            signal(number, SIG_IGN)  // the dispatch source receives it instead of the default action
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                let isFirst = self.first == nil
                if isFirst { self.first = name }
                self.lock.unlock()
                onSignal(name, isFirst)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// The name of the first signal received (e.g. "SIGTERM"), or nil.
    public var received: String? {
        lock.lock(); defer { lock.unlock() }
        return first
    }

    /// Restores the default action of the watched signals.
    public func stop() {
        for s in sources { s.cancel() }
        for (number, _) in Self.watched { signal(number, SIG_DFL) }
    }
}
