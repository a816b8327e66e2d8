// Tests: `verify` accepts a good shard directory and, for each kind of damage, throws an error naming the violated
// invariant. Files are damaged with raw HDF5 calls, as a buggy or foreign writer would.
import CHDF5
import Foundation
import Shards
import XCTest

final class ShardVerifierTests: XCTestCase {
    private func goodDirectory() throws -> (dir: String, firstShard: String) {
        let dir = try ShardFixture.directory(self)
        let clips = (0..<6).map { ShardFixture.clip($0, frames: 1 + $0 % 3) }
        let summary = try ShardFixture.write(clips, to: dir, shards: 2)
        try Manifest(classes: ShardFixture.classes, splits: ["train": summary]).write(toDirectory: dir)
        return (dir, (dir as NSString).appendingPathComponent(summary.shards[0]))
    }

    /// Opens `path` read-write, runs `body` on the file id, closes it.
    private func damage(_ path: String, _ body: (hid_t) -> Void) throws {
        let file = H5Fopen(path, chdf5_f_acc_rdwr(), chdf5_p_default())
        XCTAssertGreaterThanOrEqual(file, 0)
        body(file)
        XCTAssertGreaterThanOrEqual(H5Fclose(file), 0)
    }

    private func assertViolation(_ dir: String, kind: ShardError.Kind, object: String?, mentioning words: String,
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ShardVerifier.verify(path: dir, readFrames: true), file: file, line: line) { error in
            guard let e = error as? ShardError else { return XCTFail("untyped error \(error)", file: file, line: line) }
            XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
            XCTAssertEqual(e.object, object, "\(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(words), "\(e)", file: file, line: line)
        }
    }

    func testAGoodDirectoryVerifiesAndReadsEveryFrame() throws {
        let (dir, _) = try goodDirectory()
        let report = try ShardVerifier.verify(path: dir, readFrames: true)
        XCTAssertEqual(report.splits.map { $0.name }, ["train"])
        XCTAssertEqual(report.framesRead, (0..<6).map { 1 + $0 % 3 }.reduce(0, +))
        XCTAssertNotNil(report.manifest)
    }

    func testNonMonotoneOffsetsAreNamed() throws {
        let (dir, shard) = try goodDirectory()
        try damage(shard) { file in
            let ds = H5Dopen2(file, "offsets", chdf5_p_default())
            defer { H5Dclose(ds) }
            var values = [Int64](repeating: 0, count: 4)
            XCTAssertGreaterThanOrEqual(H5Dread(ds, chdf5_native_int64(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), &values), 0)
            values.swapAt(1, 2)
            XCTAssertGreaterThanOrEqual(H5Dwrite(ds, chdf5_native_int64(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), &values), 0)
        }
        assertViolation(dir, kind: .invariant, object: "offsets", mentioning: "not increasing")
    }

    func testAnUnknownVersionIsNamed() throws {
        let (dir, shard) = try goodDirectory()
        try damage(shard) { file in
            let attr = H5Aopen(file, "version", chdf5_p_default())
            defer { H5Aclose(attr) }
            var two: Int64 = 2
            XCTAssertGreaterThanOrEqual(H5Awrite(attr, chdf5_native_int64(), &two), 0)
        }
        assertViolation(dir, kind: .wrongFormat, object: "version", mentioning: "version 2 is not supported")
    }

    func testAMissingAttributeIsNamed() throws {
        let (dir, shard) = try goodDirectory()
        try damage(shard) { file in XCTAssertGreaterThanOrEqual(H5Adelete(file, "frame_stride"), 0) }
        assertViolation(dir, kind: .missing, object: "frame_stride", mentioning: "missing")
    }

    func testALabelOutsideTheClassesIsNamed() throws {
        let (dir, shard) = try goodDirectory()
        try damage(shard) { file in
            let ds = H5Dopen2(file, "labels", chdf5_p_default())
            defer { H5Dclose(ds) }
            var values: [Int32] = [0, 0, 7]
            XCTAssertGreaterThanOrEqual(H5Dwrite(ds, chdf5_native_int32(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), &values), 0)
        }
        assertViolation(dir, kind: .invariant, object: "labels", mentioning: "label 7")
    }

    func testClassesDifferingAcrossShardsAreNamed() throws {
        let (dir, shard) = try goodDirectory()
        try damage(shard) { file in
            XCTAssertGreaterThanOrEqual(H5Adelete(file, "classes"), 0)
            // Rewrite as a fixed-length string array with one name changed.
            let type = H5Tcopy(chdf5_c_s1())
            H5Tset_size(type, 8)
            var dims: [hsize_t] = [3]
            let space = H5Screate_simple(1, &dims, nil)
            let attr = H5Acreate2(file, "classes", type, space, chdf5_p_default(), chdf5_p_default())
            var bytes = [CChar](repeating: 0, count: 24)
            for (i, name) in ["hello", "thanks", "no"].enumerated() {
                for (j, c) in name.utf8.enumerated() { bytes[8 * i + j] = CChar(bitPattern: c) }
            }
            XCTAssertGreaterThanOrEqual(H5Awrite(attr, type, &bytes), 0)
            H5Aclose(attr); H5Sclose(space); H5Tclose(type)
        }
        assertViolation(dir, kind: .invariant, object: "classes", mentioning: "classes differ")
    }

    func testAManifestDisagreeingWithTheShardsIsNamed() throws {
        let (dir, _) = try goodDirectory()
        var manifest = try Manifest.read(fromDirectory: dir)
        manifest.splits["train"]!.clips += 1
        try manifest.write(toDirectory: dir)
        assertViolation(dir, kind: .invariant, object: "splits.train.clips", mentioning: "says 7 clips")
    }

    func testAFileThatIsNotHDF5IsRejectedClearly() throws {
        let dir = try ShardFixture.directory(self)
        let path = (dir as NSString).appendingPathComponent("train-00000-of-00001.h5")
        try Data("not a shard".utf8).write(to: URL(fileURLWithPath: path))
        assertViolation(dir, kind: .wrongFormat, object: nil, mentioning: "not an HDF5 file")
    }
    func testAClipStoredInTwoSplitsIsNamed() throws {
        let dir = try ShardFixture.directory(self)
        try ShardFixture.write([ShardFixture.clip(0, frames: 2), ShardFixture.clip(1, frames: 1)], to: dir, split: "train",
                               shards: 1)
        try ShardFixture.write([ShardFixture.clip(1, frames: 1)], to: dir, split: "test", shards: 1)
        assertViolation(dir, kind: .invariant, object: "clip_ids", mentioning: "clip id 'clip-1-é'")
    }
}
