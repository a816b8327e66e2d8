// Tests: replacing a directory or a link atomically leaves exactly the new one, with nothing beside it.
import Foundation
import Support
import XCTest

final class AtomicFileTests: XCTestCase {
    func testCommitDirectoryReplacesTheOldDirectoryAndLeavesNothingAside() throws {
        let root = NSTemporaryDirectory() + "atomic-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: root) }
        try Data("old".utf8).write(to: URL(fileURLWithPath: root + "/out/a"))
        try fm.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
        try Data("new".utf8).write(to: URL(fileURLWithPath: root + "/tmp/b"))

        try AtomicFile.commitDirectory(temporary: root + "/tmp", to: root + "/out")
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: root).sorted(), ["out"], "no temporary or aside directory left")
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: root + "/out"), ["b"])
        XCTAssertEqual(try String(contentsOfFile: root + "/out/b", encoding: .utf8), "new")
    }

    func testReplaceSymlinkRepointsTheLinkInOneStep() throws {
        let root = NSTemporaryDirectory() + "atomic-\(UUID().uuidString)"
        let fm = FileManager.default
        for d in ["one", "two"] { try fm.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true) }
        defer { try? fm.removeItem(atPath: root) }
        try AtomicFile.replaceSymlink(at: root + "/last", pointingTo: "one")
        try AtomicFile.replaceSymlink(at: root + "/last", pointingTo: "two")
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: root + "/last"), "two")
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: root).sorted(), ["last", "one", "two"], "no temporary link left")
    }
}
