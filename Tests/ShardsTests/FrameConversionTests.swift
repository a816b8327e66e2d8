// Tests: the fused crop path (swscale crops, area-scales and converts only the square) against the plain reference
// (whole frame to RGB, then OpenCV's area crop-resize) on H.264 videos, for every parity of crop offset and side,
// pixel formats the ffmpeg program makes, and the crops the fused path hands to the reference.
import Foundation
import Shards
import XCTest

final class FrameConversionTests: XCTestCase {
    /// Smooth colour fields with a textured skin-toned disk moving across: camera-like content without saturated
    /// edges. `[frames, height, width, 3]`.
    static func naturalVideo(at path: String, frames: Int = 8, width: Int = 160, height: Int = 120) throws {
        let encoder = try VideoEncoder(path: path, width: width, height: height, fps: 25, quality: 18)
        for f in 0..<frames {
            var rgb = [UInt8](repeating: 0, count: width * height * 3)
            let cx = 30.0 + 9 * Double(f), cy = 60.0 + 3 * Double(f)
            for y in 0..<height {
                for x in 0..<width {
                    let fx = Double(x), fy = Double(y)
                    var p = [128 + 60 * sin(fx / 9 + Double(f) / 3), 110 + 50 * cos(fy / 7 - Double(f) / 4), 100 + 40 * sin((fx + fy) / 13)]
                    if (fx - cx) * (fx - cx) + (fy - cy) * (fy - cy) < 400 {
                        let grain = Double((x * 7 + y * 13) % 5) * 6
                        p = [200 - grain, 150 - grain, 120 - grain]
                    }
                    for c in 0..<3 { rgb[(y * width + x) * 3 + c] = UInt8(max(0, min(255, p[c].rounded()))) }
                }
            }
            try rgb.withUnsafeBufferPointer { try encoder.append(rgb: $0) }
        }
        try encoder.finish()
    }

    /// Mean and max |a − b| over every channel value.
    static func difference(_ a: [UInt8], _ b: [UInt8]) -> (mean: Double, max: Int) {
        precondition(a.count == b.count)
        var sum = 0, worst = 0
        for (x, y) in zip(a, b) { let d = abs(Int(x) - Int(y)); sum += d; worst = max(worst, d) }
        return (Double(sum) / Double(max(1, a.count)), worst)
    }

    /// Reads `path` cropped to the square (x0, y0, side) both ways and returns the difference.
    func compare(_ path: String, _ x0: Int, _ y0: Int, _ side: Int, size: Int) throws -> (mean: Double, max: Int, frames: Int) {
        let input = ClipInput(media: .video(path: path, frameStart: 1, frameEnd: -1), label: 0, clipID: "c",
                              bbox: [Double(x0), Double(y0), Double(x0 + side), Double(y0 + side)])
        let fused = try ClipReader.read(input, options: ClipOptions(size: size, handCrop: .bbox, margin: 0, conversion: .fused))
        let reference = try ClipReader.read(input, options: ClipOptions(size: size, handCrop: .bbox, margin: 0, conversion: .reference))
        XCTAssertTrue(fused.box == reference.box && fused.box == (Float(x0), Float(y0), Float(x0 + side), Float(y0 + side)),
                      "crop \(fused.box) vs \(reference.box)")
        XCTAssertEqual(fused.frameCount, reference.frameCount)
        let d = Self.difference(fused.frames, reference.frames)
        return (d.mean, d.max, fused.frameCount)
    }

    /// (x0, y0, side): even and odd offsets and sides, the full height, and a square smaller than the output.
    let crops = [(20, 10, 96), (21, 10, 96), (20, 11, 96), (21, 11, 97), (30, 5, 101), (20, 0, 120), (63, 7, 64), (51, 41, 21)]

    /// Checks every crop of `crops` on the video at `path` against `tolerance`, naming `label` on failure.
    func assertEveryCrop(of path: String, within tolerance: (mean: Double, max: Int), _ label: String) throws {
        for (x0, y0, side) in crops {
            let d = try compare(path, x0, y0, side, size: 24)
            let what = "\(label) crop (\(x0), \(y0), \(side)): mean |fused − reference| = \(d.mean), max \(d.max)"
            XCTAssertLessThanOrEqual(d.mean, tolerance.mean, what)
            XCTAssertLessThanOrEqual(d.max, tolerance.max, what)
        }
    }

    func testFusedCropMatchesTheReferenceOnCameraLikeContentForEveryCropParity() throws {
        let dir = try ShardFixture.directory(self)
        let path = dir + "/natural.mp4"
        try Self.naturalVideo(at: path)
        try assertEveryCrop(of: path, within: FrameConversion.tolerance.camera, "camera-like")
    }

    func testFusedCropStaysWithinToleranceOnTestPatternsInEveryPixelFormatFFmpegMakes() throws {
        let dir = try ShardFixture.directory(self)
        // yuv420p is what nearly every camera and WLASL video has; yuvj420p is full range (MJPEG, some phones);
        // yuv422p and yuv444p exercise the other chroma layouts; nv12 is semi-planar and reaches us as yuv420p.
        for format in ["yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12"] {
            let path = dir + "/\(format).mkv"
            guard let made = try ShardFixture.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10",
                "-frames:v", "6", "-c:v", "libx264", "-crf", "18", "-pix_fmt", format, path]) else {
                throw XCTSkip("the ffmpeg program is not installed")
            }
            XCTAssertEqual(made.status, 0, format)
            try assertEveryCrop(of: path, within: FrameConversion.tolerance.saturatedPatterns, format)
        }
    }

    func testDecoderThreadsChangeNoPixel() throws {
        let dir = try ShardFixture.directory(self)
        let path = dir + "/natural.mp4"
        try Self.naturalVideo(at: path, frames: 12)
        let input = ClipInput(media: .video(path: path, frameStart: 2, frameEnd: 11), label: 0, clipID: "c", bbox: [21, 11, 118, 108])
        let one = try ClipReader.read(input, options: ClipOptions(size: 24, margin: 0), decoderThreads: 1)
        for threads in [2, 3] {
            let more = try ClipReader.read(input, options: ClipOptions(size: 24, margin: 0), decoderThreads: threads)
            XCTAssertEqual(more.frameCount, 10)
            XCTAssertEqual(one.frames, more.frames, "\(threads) decoder threads: max difference \(Self.difference(one.frames, more.frames).max)")
        }
        // The cores the workers leave free go to the decoders; never fewer than one thread.
        XCTAssertEqual(ClipPipeline.decoderThreads(workers: 2, cores: 2), 1)
        XCTAssertEqual(ClipPipeline.decoderThreads(workers: 1, cores: 2), 2)
        XCTAssertEqual(ClipPipeline.decoderThreads(workers: 3, cores: 16), 5)
        XCTAssertEqual(ClipPipeline.decoderThreads(workers: 32, cores: 16), 1)
    }

    func testMotionClipIsTheSameWhetherItsFramesAreHeldOrDecodedTwice() throws {
        let dir = try ShardFixture.directory(self)
        let path = dir + "/natural.mp4"
        try Self.naturalVideo(at: path, frames: 10)
        let input = ClipInput(media: .video(path: path, frameStart: 1, frameEnd: -1), label: 0, clipID: "c")
        for conversion in FrameConversion.allCases {
            let held = try ClipReader.read(input, options: ClipOptions(size: 24, handCrop: .motion, conversion: conversion))
            // Room for 3 of the 10 frames: the frames are let go and the video decoded again.
            let frameBytes = 160 * 120 * 3 / 2
            let twice = try ClipReader.read(input, options: ClipOptions(size: 24, handCrop: .motion, conversion: conversion,
                                                                       motionMemory: 3 * frameBytes + 4096))
            XCTAssertTrue(held.box == twice.box, "\(conversion): \(held.box) vs \(twice.box)")
            XCTAssertNotEqual(held.box.2 - held.box.0, 120, "the disk's motion, not the centre square")
            XCTAssertEqual(held.frameCount, 10)
            XCTAssertEqual(held.frames, twice.frames, "\(conversion): max difference \(Self.difference(held.frames, twice.frames).max)")
        }
    }

    func testASquareStickingOutOfTheFrameTakesTheReferencePathExactly() throws {
        let dir = try ShardFixture.directory(self)
        let path = dir + "/natural.mp4"
        try Self.naturalVideo(at: path, frames: 3)
        // 140 tall on a 120-high frame: padded black above and below, which only the reference path does.
        let d = try compare(path, 10, -10, 140, size: 20)
        XCTAssertEqual(d.max, 0, "mean \(d.mean)")
    }
}
