// Tests: the synthetic still hand-shape images (`asl-shards synth --static`) — the class-folder tree `build images`
// reads, images that decode at the asked size, one distinct shape per class, variation between images, and files
// that depend only on the options.
import Foundation
import Shards
import XCTest

final class SyntheticStillsTests: XCTestCase {
    func files(under root: String) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: root).filter { !$0.hasPrefix(".") }.sorted()
    }

    func testWritesOneFolderPerClassOfDecodableImagesThatBuildImagesReads() throws {
        let dir = try ShardFixture.directory(self)
        let summary = try SyntheticStills.generate(into: dir + "/stills", options: StillSynthOptions(
            classes: 4, imagesPerClass: 3, size: 40, seed: 5))
        XCTAssertEqual(summary.classes, ["B", "D", "L", "V"])
        XCTAssertEqual(summary.images, 12)
        var expected = ["synth.json"]
        for c in summary.classes {
            expected.append(c)
            for i in 0..<3 { expected.append("\(c)/\(c)_000\(i).png") }
        }
        XCTAssertEqual(try files(under: dir + "/stills"), expected.sorted())
        for c in summary.classes {
            let image = try ImageOps.readRGB(path: "\(dir)/stills/\(c)/\(c)_0002.png")
            XCTAssertEqual(image.width, 40, c); XCTAssertEqual(image.height, 40, c)
        }
        let plan = try DataSources.images(root: dir + "/stills")
        XCTAssertEqual(plan.classes, ["B", "D", "L", "V"])
        XCTAssertEqual(plan.inputs.count, 12)
        XCTAssertEqual(plan.inputs.filter { $0.label == 3 }.count, 3)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }, [],
                       "no temporary directory left behind")

        let jpegs = try SyntheticStills.generate(into: dir + "/jpegs", options: StillSynthOptions(
            classes: 2, imagesPerClass: 1, size: 24, format: .jpg))
        XCTAssertEqual(try files(under: jpegs.root), ["B", "B/B_0000.jpg", "D", "D/D_0000.jpg", "synth.json"])
        XCTAssertEqual(try ImageOps.readRGB(path: jpegs.root + "/D/D_0000.jpg").width, 24)
    }

    func testTheSameSeedWritesTheSameBytesAndAnotherSeedOtherImages() throws {
        let dir = try ShardFixture.directory(self)
        func contents(_ root: String) throws -> [String: Data] {
            Dictionary(uniqueKeysWithValues: try files(under: root).filter { $0.hasSuffix(".png") }.map {
                ($0, try Data(contentsOf: URL(fileURLWithPath: root + "/" + $0)))
            })
        }
        let options = StillSynthOptions(classes: 3, imagesPerClass: 2, size: 32, seed: 11)
        _ = try SyntheticStills.generate(into: dir + "/a", options: options)
        _ = try SyntheticStills.generate(into: dir + "/b", options: options)
        var other = options
        other.seed = 12
        _ = try SyntheticStills.generate(into: dir + "/c", options: other)
        let a = try contents(dir + "/a"), b = try contents(dir + "/b"), c = try contents(dir + "/c")
        XCTAssertEqual(a.count, 6)
        XCTAssertEqual(a, b, "the same options must give byte-identical files")
        XCTAssertEqual(Set(a.keys), Set(c.keys))
        for (name, bytes) in a { XCTAssertNotEqual(bytes, c[name], "\(name) is the same under seeds 11 and 12") }
    }

    func testEveryClassHasItsOwnShapeAndImagesOfAClassVary() {
        // The plain-pose silhouettes of any two classes differ by at least a finger: 35 pixels of a 64×64 image, where
        // a hand covers 420-630 (as in fingerspelling, some letters differ by one finger: S and I by 41 pixels).
        let n = 64
        let masks = (0..<SyntheticStills.maxClasses).map { SyntheticStills.silhouette(classIndex: $0, size: n) }
        var closest = (n * n, "")
        for a in 0..<masks.count {
            let covered = masks[a].filter { $0 }.count
            XCTAssertTrue((n * n / 20...n * n / 2).contains(covered), "class \(SyntheticStills.className(a)) covers \(covered) pixels")
            for b in (a + 1)..<masks.count {
                let differing = zip(masks[a], masks[b]).filter { $0 != $1 }.count
                if differing < closest.0 { closest = (differing, "\(SyntheticStills.className(a)) and \(SyntheticStills.className(b))") }
            }
        }
        XCTAssertGreaterThanOrEqual(closest.0, 35, "classes \(closest.1) differ in only \(closest.0) pixels")

        // Two images of one class differ well beyond the pixel noise (6 levels): position, size, tilt, colours.
        let options = StillSynthOptions(classes: 2, imagesPerClass: 2, size: n, noise: 6)
        for c in 0..<2 {
            let first = SyntheticStills.render(classIndex: c, image: 0, options: options)
            let second = SyntheticStills.render(classIndex: c, image: 1, options: options)
            let meanDifference = zip(first, second).map { abs(Double($0) - Double($1)) }.reduce(0, +) / Double(first.count)
            XCTAssertGreaterThan(meanDifference, 20, "class \(c): images 0 and 1 differ by only \(meanDifference) levels on average")
        }
    }

    func testARerunReplacesTheTreeAndOtherDirectoriesAreRefused() throws {
        let dir = try ShardFixture.directory(self)
        _ = try SyntheticStills.generate(into: dir + "/stills", options: StillSynthOptions(classes: 4, imagesPerClass: 2, size: 16))
        _ = try SyntheticStills.generate(into: dir + "/stills", options: StillSynthOptions(classes: 2, imagesPerClass: 1, size: 16))
        XCTAssertEqual(try files(under: dir + "/stills"), ["B", "B/B_0000.png", "D", "D/D_0000.png", "synth.json"],
                       "a class folder of the earlier, larger output would become a class of the next build")

        try FileManager.default.createDirectory(atPath: dir + "/mine/photos", withIntermediateDirectories: true)
        XCTAssertThrowsError(try SyntheticStills.generate(into: dir + "/mine", options: StillSynthOptions(classes: 2, imagesPerClass: 1))) {
            XCTAssertTrue("\($0)".contains("non-empty directory without synth.json"), "\($0)")
        }
        XCTAssertEqual(try files(under: dir + "/mine"), ["photos"])
        XCTAssertThrowsError(try SyntheticStills.generate(into: dir + "/x", options: StillSynthOptions(
            classes: SyntheticStills.maxClasses + 1))) { XCTAssertTrue("\($0)".contains("--classes"), "\($0)") }
    }
}
