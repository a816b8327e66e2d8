// Distributed: a stall watchdog. The training loop marks the stretch it is in (`begin("allreduce step 120")`);
// a background thread ends the rank (and so the job) when one stretch lasts longer than the stall timeout, so a
// rank stuck inside MPI (whose peer hangs without dying) cannot hang the job forever. Which rank is missing is found by
// `Communicator.arrive(at:step:timeout:)`, which the trainer calls once per step; this thread is the last resort
// for a hang inside a collective itself.
import Foundation

public final class Watchdog {
    private let timeout: Double
    private let lock = NSLock()
    private var label: String?
    private var since = Date()
    private var stopped = false
    private let onStall: (String, Double) -> Void
    private var thread: Thread?

    /// - Parameter onStall: called once, from the watchdog thread, with the stretch's label and its duration; it
    ///   should report and end this process without calling MPI (MPI is initialized for one calling thread, and
    ///   this is another): the launcher (mpirun) then ends the other ranks.
    public init(timeout: Double, onStall: @escaping (String, Double) -> Void) {
        self.timeout = timeout
        self.onStall = onStall
        let t = Thread { [weak self] in self?.loop() }
        t.name = "stall-watchdog"
        thread = t
        t.start()
    }

    /// Marks the start of a stretch that must finish within the timeout.
    public func begin(_ label: String) {
        lock.lock(); self.label = label; since = Date(); lock.unlock()
    }

    /// Marks the end of the current stretch.
    public func end() {
        lock.lock(); label = nil; lock.unlock()
    }

    public func stop() {
        lock.lock(); stopped = true; lock.unlock()
    }

    private func loop() {
        while true {
            Thread.sleep(forTimeInterval: min(0.5, timeout / 4))
            lock.lock()
            if stopped { lock.unlock(); return }
            let current = label, elapsed = Date().timeIntervalSince(since)
            lock.unlock()
            if let current, elapsed > timeout {
                onStall(current, elapsed)
                return
            }
        }
    }
}
