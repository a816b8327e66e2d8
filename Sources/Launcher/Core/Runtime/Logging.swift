// Launcher: printing from a multi-rank job. Most lines come from rank 0 only (llm.c's printf0), errors from
// whichever rank has them, prefixed with its rank.
import Distributed
import Foundation

/// Prints on rank 0 only.
public func print0(_ communicator: Communicator, _ message: String) {
    guard communicator.isRoot else { return }
    print(message)
    fflush(stdout)
}

/// Writes an error line to standard error, naming the rank when the job has more than one.
public func printError(_ message: String, rank: Int?, size: Int?) {
    let prefix = (size ?? 1) > 1 ? "[rank \(rank ?? -1)] " : ""
    FileHandle.standardError.write(Data("\(prefix)error: \(message)\n".utf8))
}
