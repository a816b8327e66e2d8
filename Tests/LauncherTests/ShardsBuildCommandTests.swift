// Tests: `asl-shards synth` and `asl-shards build` as a user types them — a mistake in the source fails before
// any output exists, a correct command writes shards and a manifest, and still images from `synth --static` become
// one-frame clips.
import Foundation
import Launcher
import Shards
import XCTest

final class ShardsBuildCommandTests: XCTestCase {
    func run(_ arguments: [String]) throws {
        var command = try ShardsCommand.parseAsRoot(arguments)
        try command.run()
    }

    func temporaryDirectory() throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("asl-shards-cli-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testSourceMistakesFailBeforeAnyOutputAndACorrectBuildWritesShards() throws {
        let dir = try temporaryDirectory()
        try run(["synth", "--out", dir + "/synth", "--classes", "2", "--clips-per-class", "6", "--frames", "3", "--size", "32"])
        let json = dir + "/synth/WLASL_synth.json", videos = dir + "/synth/videos", out = dir + "/shards"
        let bad = dir + "/bad.json"
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: bad))
        for arguments in [["--json", bad, "--videos", videos], ["--json", json, "--videos", videos, "--glosses", "book,zebra"],
                          ["--json", json, "--videos", dir + "/nowhere"],
                          ["--json", json, "--videos", videos, "--hand-crop", "boxes:" + dir + "/no-boxes.json"]] {
            XCTAssertThrowsError(try run(["build", "wlasl"] + arguments + ["--out", out]), "\(arguments)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(arguments) wrote \(out)")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }, [],
                           "no temporary directory left behind")
        }
        try run(["build", "wlasl", "--json", json, "--videos", videos, "--out", out, "--size", "16", "--shards", "1",
                 "--workers", "2", "--split-by-signer", "--seed", "3"])
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as? [String: Any]
        let splits = try XCTUnwrap(manifest?["splits"] as? [String: [String: Any]])
        XCTAssertEqual(splits.values.compactMap { $0["clips"] as? Int }.reduce(0, +), 12)
        XCTAssertEqual((manifest?["build_options"] as? [String: String])?["split_by_signer"], "true")
    }

    func testStaticSynthBuildsIntoOneFrameClipsAndRefusesVideoOptions() throws {
        let dir = try temporaryDirectory()
        for (arguments, wanted) in [(["--static", "--frames", "3"], "--frames describes videos"),
                                    (["--format", "jpg"], "--format chooses the image format of --static")] {
            XCTAssertThrowsError(try ShardsCommand.parseAsRoot(["synth", "--out", dir + "/s"] + arguments)) {
                XCTAssertTrue(ShardsCommand.message(for: $0).contains(wanted), ShardsCommand.message(for: $0))
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/s"))
        try run(["synth", "--static", "--out", dir + "/stills", "--classes", "3", "--images-per-class", "10", "--size", "32"])
        try run(["build", "images", "--root", dir + "/stills", "--out", dir + "/shards", "--size", "16", "--shards", "1"])
        let manifest = try Manifest.read(fromDirectory: dir + "/shards")
        XCTAssertEqual(manifest.classes, ["B", "D", "L"])
        XCTAssertEqual(manifest.splits.values.map(\.clips).reduce(0, +), 30)
        for (name, split) in manifest.splits { XCTAssertEqual(split.frames, split.clips, "\(name): every image is one frame") }
        XCTAssertEqual(Set(manifest.splits.keys), ["train", "val", "test"])
    }
}
