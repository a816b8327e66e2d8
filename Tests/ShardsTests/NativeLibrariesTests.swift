// Tests: the shard code runs on the HDF5, FFmpeg and OpenCV versions the README documents.
import Shards
import XCTest

final class NativeLibrariesTests: XCTestCase {
    func testLinkedLibraryVersionsAreTheSupportedMajors() {
        XCTAssertTrue(NativeLibraries.hdf5Version.hasPrefix("1."), NativeLibraries.hdf5Version)
        XCTAssertTrue(NativeLibraries.ffmpegVersion.contains("libavcodec "), NativeLibraries.ffmpegVersion)
        XCTAssertTrue(NativeLibraries.openCVVersion.hasPrefix("4."), NativeLibraries.openCVVersion)
    }
}
