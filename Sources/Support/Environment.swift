// Support: facts about the node this process runs on.
import Foundation

public enum Node {
    /// Processors online on this node.
    public static var onlineCores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Processors this process may run on (its CPU affinity mask, which mpirun's --bind-to sets).
    public static var allowedCores: Int {
        // Linux prints the mask as comma-separated hex words in /proc/self/status ("Cpus_allowed:\tff,ffffffff");
        // Glibc's sched_getaffinity is hidden from Swift behind _GNU_SOURCE.
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        else { return onlineCores }
        let mask = line.dropFirst("Cpus_allowed:".count).filter { $0.isHexDigit }
        let count = mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
        return count > 0 ? count : onlineCores
    }

    /// Peak resident set size of this process in bytes (getrusage's ru_maxrss, which Linux reports in KiB).
    public static var peakRSSBytes: Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }
}

extension String {
    /// Text of a NUL-terminated C character buffer filled in by a C call.
    public init(cChars buffer: [CChar]) {
        self = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
