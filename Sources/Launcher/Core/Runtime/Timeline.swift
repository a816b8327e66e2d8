// Launcher: a per-rank timeline of the training step as Chrome trace events (`--timeline FILE`), viewable in
// chrome://tracing or Perfetto: data wait, forward, backward, each bucket's allreduce, optimizer step.
import Foundation
import Support

public final class Timeline {
    private var events: [String] = []
    private let rank: Int
    private let origin = DispatchTime.now().uptimeNanoseconds
    private var open: [String: UInt64] = [:]

    public init(rank: Int) { self.rank = rank }

    private var nowMicros: Double { Double(DispatchTime.now().uptimeNanoseconds - origin) / 1000 }

    /// Starts a named span on track `thread` (0 = compute, 1 = communication).
    public func begin(_ name: String, thread: Int = 0) {
        events.append(#"{"name":"\#(name)","ph":"B","pid":\#(rank),"tid":\#(thread),"ts":\#(nowMicros)}"#)
    }

    public func end(_ name: String, thread: Int = 0) {
        events.append(#"{"name":"\#(name)","ph":"E","pid":\#(rank),"tid":\#(thread),"ts":\#(nowMicros)}"#)
    }

    /// Runs `body` inside a span.
    public func span<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        begin(name); defer { end(name) }
        return try body()
    }

    /// Writes the trace (a JSON array of events) atomically.
    public func write(to path: String) throws {
        let meta = #"{"name":"process_name","ph":"M","pid":\#(rank),"args":{"name":"rank \#(rank)"}}"#
        try AtomicFile.write(Data(("[" + ([meta] + events).joined(separator: ",\n") + "]\n").utf8), to: path)
    }
}
