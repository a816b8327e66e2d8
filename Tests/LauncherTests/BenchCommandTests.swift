// Tests: `asl-dist-train bench` runs a tiny model end to end and ends with one JSON line of its measurements.
import Foundation
import XCTest

final class BenchCommandTests: XCTestCase {
    /// The directory holding the built executables (the test bundle sits beside them).
    private var productsDirectory: URL {
        #if os(macOS)
        return Bundle(for: Self.self).bundleURL.deletingLastPathComponent()
        #else
        return Bundle.main.bundleURL
        #endif
    }

    func testBenchPrintsMeasurementsAsJSONOnItsLastLine() throws {
        let binary = productsDirectory.appendingPathComponent("asl-dist-train")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("\(binary.path) not built (swift build -c release --product asl-dist-train)")
        }
        for arch in ["c3d", "r2plus1d_18"] {
            let p = Process()
            p.executableURL = binary
            p.arguments = ["bench", "--arch", arch, "--width", "2", "--classes", "3", "--batch-size", "2",
                           "--frames", "2", "--crop-size", "16", "--steps", "1"]
            p.environment = ProcessInfo.processInfo.environment.merging(["OPENBLAS_NUM_THREADS": "1"]) { $1 }
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let output = String(decoding: data, as: UTF8.self)
            XCTAssertEqual(p.terminationStatus, 0, output)
            let last = try XCTUnwrap(output.split(separator: "\n").last, output)
            let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], String(last))
            XCTAssertEqual(json["arch"] as? String, arch)
            XCTAssertEqual(json["threads"] as? Int, 1, "the thread policy applies (OPENBLAS_NUM_THREADS)")
            for key in ["train_clips_per_s", "eval_clips_per_s", "train_gflops_per_s", "eval_gflops_per_s"] {
                let v = try XCTUnwrap(json[key] as? Double, "\(key) missing in \(last)")
                XCTAssertGreaterThan(v, 0, key)
            }
            XCTAssertGreaterThan(json["peak_rss_bytes"] as? Int ?? 0, 0)
        }
    }

    func testBenchRejectsAnUnknownArchitecture() throws {
        let binary = productsDirectory.appendingPathComponent("asl-dist-train")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw XCTSkip("binary not built") }
        let p = Process()
        p.executableURL = binary
        p.arguments = ["bench", "--arch", "vgg", "--steps", "1"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(output.contains("c3d"), "the error names the known architectures: \(output)")
    }
}
