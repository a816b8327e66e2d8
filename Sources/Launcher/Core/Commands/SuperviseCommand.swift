// Launcher: `asl-dist-train supervise -- mpirun ... asl-dist-train ... --resume auto`: runs a training job and
// reruns it from its last checkpoint after a failure or a preemption (torchrun's --max-restarts, Lightning's
// requeue), with a growing back-off, up to --max-restarts times. It does not retry what a restart cannot fix (bad
// flags, bad data, divergence: see `ExitStatus`). With --discover-hosts it asks, before each attempt, which hosts
// are up (Horovod Elastic's discovery script) and runs the job on them; the trainer keeps the global batch on
// fewer ranks. A stop signal to the supervisor reaches the job as SIGUSR1, which mpirun forwards to every rank at
// once, so the ranks save a checkpoint instead of being killed by mpirun's TERM-then-KILL sequence.
import ArgumentParser
import Foundation

public struct SuperviseCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "supervise",
        abstract: "Run a training job and rerun it from its last checkpoint after a failure or preemption.",
        discussion: """
            The job's command follows `--`; give it `--resume auto` so that each attempt continues from the last \
            checkpoint. Exit statuses of a training run: 0 finished; 1 failed (retried); 3 a stalled rank (retried); \
            64 bad flags, 65 bad setup or data, 66 diverged (not retried); 75 stopped by a signal after saving \
            (retried, unless the supervisor itself was signalled: then it exits 75 so that the batch system can \
            requeue). With --discover-hosts, {np} and {hostfile} in the command are replaced by the slots found and \
            a hostfile listing them.
            """)

    @Option(help: "Reruns after the first attempt.") var maxRestarts = 3
    @Option(help: "Seconds before the first rerun; doubled for each further one.") var backoff: Double = 10
    @Option(help: "Longest wait between attempts, in seconds.") var maxBackoff: Double = 300
    @Option(help: ArgumentHelp("Command printing the hosts that are up, one 'host:slots' (or 'host slots=N') per line; "
                               + "run before each attempt.", valueName: "command"))
    var discoverHosts: String?
    @Option(help: "With --discover-hosts: fewest slots to start an attempt with.") var minRanks = 1
    @Argument(parsing: .postTerminator, help: "The job's command line, after --.") var command: [String] = []

    public init() {}

    public func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the job's command after --, e.g. -- mpirun -np 8 asl-dist-train ...") }
        guard maxRestarts >= 0, backoff >= 0, maxBackoff >= 0, minRanks > 0 else {
            throw ValidationError("--max-restarts, --backoff and --max-backoff must be 0 or more, --min-ranks positive")
        }
        let usesPlaceholders = command.contains { $0.contains("{np}") || $0.contains("{hostfile}") }
        if usesPlaceholders && discoverHosts == nil {
            throw ValidationError("{np} and {hostfile} in the command need --discover-hosts")
        }
    }

    public func run() throws {
        let supervisor = Supervisor(command: command, maxRestarts: maxRestarts, backoff: backoff, maxBackoff: maxBackoff,
                                    discoverHosts: discoverHosts, minRanks: minRanks)
        let status = supervisor.run()
        if status != 0 { throw ExitCode(status) }
    }
}

/// Runs attempts of one command until it finishes, fails for good, or the restarts run out.
final class Supervisor {
    let command: [String]
    let maxRestarts: Int
    let backoff: Double
    let maxBackoff: Double
    let discoverHosts: String?
    let minRanks: Int
    private var child: pid_t = 0
    private let lock = NSLock()
    private var signals: StopSignals!

    init(command: [String], maxRestarts: Int, backoff: Double, maxBackoff: Double, discoverHosts: String?, minRanks: Int) {
        self.command = command; self.maxRestarts = maxRestarts; self.backoff = backoff; self.maxBackoff = maxBackoff
        self.discoverHosts = discoverHosts; self.minRanks = minRanks
    }

    func say(_ line: String) {
        FileHandle.standardError.write(Data("supervise: \(line)\n".utf8))
    }

    /// Returns the exit status to end with.
    func run() -> Int32 {
        signals = StopSignals { [weak self] name, _ in
            guard let self else { return }
            self.lock.lock(); let pid = self.child; self.lock.unlock()
            self.say("\(name) received: asking the job to save and stop (SIGUSR1); no further restarts")
            if pid > 0 { kill(pid, SIGUSR1) }
        }
        defer { signals.stop() }
        if !command.contains(where: { $0 == "--resume" || $0.hasPrefix("--resume=") || $0 == "--config" }) {
            say("warning: the command has no --resume auto: each restart would start the run over")
        }
        var attempt = 0
        while true {
            attempt += 1
            let status: Int32
            do {
                let argv = try arguments()
                say("attempt \(attempt) of at most \(maxRestarts + 1): \(argv.joined(separator: " "))")
                status = try spawnAndWait(argv)
            } catch let error as SpawnError {
                say("\(error); not restarting")
                return 127
            } catch {
                say("\(error)")  // host discovery: the hosts may be back at the next attempt
                status = ExitStatus.failed.rawValue
            }
            if status == 0 {
                say("the job finished" + (attempt > 1 ? " after \(attempt - 1) restart(s)" : ""))
                return 0
            }
            let reason = Self.explain(status)
            if let stopper = signals.received {
                say("the job ended with status \(status) (\(reason)) after \(stopper); not restarting")
                return status
            }
            if let known = ExitStatus(rawValue: status), !known.isRetryable {
                say("the job ended with status \(status) (\(reason)); a restart cannot fix that: not restarting")
                return status
            }
            guard attempt <= maxRestarts else {
                say("the job ended with status \(status) (\(reason)); \(maxRestarts) restart(s) used up: giving up")
                return status
            }
            let wait = min(maxBackoff, backoff * pow(2, Double(attempt - 1)))
            say("restart \(attempt) of \(maxRestarts) after status \(status) (\(reason)), in \(Self.seconds(wait))")
            let deadline = Date().addingTimeInterval(wait)
            while Date() < deadline && signals.received == nil { usleep(100_000) }
            if signals.received != nil {
                say("stopped while waiting to restart")
                return status
            }
        }
    }

    static func explain(_ status: Int32) -> String {
        if let known = ExitStatus(rawValue: status) { return known.meaning }
        return status > 128 ? "killed by signal \(status - 128)" : "unknown failure"
    }

    static func seconds(_ s: Double) -> String { s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s) }

    /// The command for this attempt: with --discover-hosts, {np} and {hostfile} replaced by the hosts found.
    func arguments() throws -> [String] {
        guard let discover = discoverHosts else { return command }
        let output = try capture(["/bin/sh", "-c", discover])
        var hosts: [(String, Int)] = []
        for raw in output.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.replacingOccurrences(of: "slots=", with: ":").split(whereSeparator: { $0 == ":" || $0 == " " })
            guard let host = parts.first, let slots = parts.count > 1 ? Int(parts[1]) : 1, slots > 0 else {
                throw SuperviseError(message: "--discover-hosts printed '\(line)', not 'host:slots'")
            }
            hosts.append((String(host), slots))
        }
        let np = hosts.reduce(0) { $0 + $1.1 }
        guard np >= minRanks else {
            throw SuperviseError(message: "--discover-hosts found \(np) slot(s), fewer than --min-ranks \(minRanks)")
        }
        let hostfile = NSTemporaryDirectory() + "asl-supervise-\(getpid()).hosts"
        try hosts.map { "\($0.0) slots=\($0.1)" }.joined(separator: "\n").appending("\n")
            .write(toFile: hostfile, atomically: true, encoding: .utf8)
        say("hosts up: " + hosts.map { "\($0.0):\($0.1)" }.joined(separator: ", ") + " (\(np) rank(s))")
        return command.map { $0.replacingOccurrences(of: "{np}", with: String(np))
            .replacingOccurrences(of: "{hostfile}", with: hostfile) }
    }

    /// Starts `argv` in its own process group (a Ctrl-C at the terminal reaches the supervisor, which turns it
    /// into SIGUSR1 for the job) with the stop signals at their default action, and waits for it.
    func spawnAndWait(_ argv: [String]) throws -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for (number, _) in StopSignals.watched { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], nil, &attributes, &cArgs, environ)
        guard rc == 0 else {
            throw SpawnError(message: "cannot start \(argv[0]): \(String(cString: strerror(rc)))")
        }
        lock.lock(); child = pid; lock.unlock()
        // A signal that arrived while starting: pass it on now.
        if signals.received != nil { kill(pid, SIGUSR1) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw SuperviseError(message: "waitpid: \(String(cString: strerror(errno)))") }
        }
        lock.lock(); child = 0; lock.unlock()
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (they are macros).
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Standard output of `argv`.
    func capture(_ argv: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SuperviseError(message: "--discover-hosts exited with status \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

struct SuperviseError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The job's command cannot be started at all (not found, not executable): no restart helps.
struct SpawnError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
