// Tests: FFmpeg encoding and decoding — frame counts, strides and ranges on real encoded videos, videos made by
// the ffmpeg program, and corrupt or missing files reported with their path.
import Foundation
import Shards
import XCTest

final class VideoCodecTests: XCTestCase {
    /// H.264 at CRF 10 changes a flat grey by a few levels; 4 is well under the 12-level step between frames.
    let codecTolerance = 4.0

    func testEncodedVideoDecodesEveryFrameInOrderAtItsFrameRate() throws {
        let dir = try ShardFixture.directory(self)
        let path = dir + "/coded.mp4"
        try MediaFixture.colourCodedVideo(at: path, frames: 20, fps: 25)
        var numbers: [Int] = [], worst = 0.0
        let info = try VideoDecoder.decode(path: path) { rgb, w, h, n in
            numbers.append(n)
            worst = max(worst, abs(MediaFixture.backgroundMean(rgb, width: w, height: h) - Double(MediaFixture.level(n - 1))))
        }
        XCTAssertEqual(numbers, Array(1...20))
        XCTAssertEqual(info.width, 64); XCTAssertEqual(info.height, 48)
        XCTAssertEqual(info.fps, 25, accuracy: 1e-9)
        XCTAssertLessThanOrEqual(worst, codecTolerance, "max |decoded - encoded| grey level \(worst)")
    }

    func testFFprobeReadsOurEncodedFramesAndRate() throws {
        let dir = try ShardFixture.directory(self)
        let path = dir + "/coded.mp4"
        try MediaFixture.colourCodedVideo(at: path, frames: 13, fps: 10)
        guard let probe = try ShardFixture.run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0",
            "-show_entries", "stream=nb_read_frames,r_frame_rate,pix_fmt", "-of", "csv=p=0", path]) else {
            throw XCTSkip("ffprobe is not installed")
        }
        XCTAssertEqual(probe.status, 0)
        let fields = Set(probe.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").map(String.init))
        XCTAssertEqual(fields, ["yuv420p", "10/1", "13"], probe.output)
    }

    func testStrideAndOneBasedFrameRangeKeepExactlyTheSelectedFrames() throws {
        let dir = try ShardFixture.directory(self)
        let path = dir + "/coded.mp4"
        try MediaFixture.colourCodedVideo(at: path, frames: 18)
        var numbers: [Int] = [], worst = 0.0
        let info = try VideoDecoder.decode(path: path, selection: FrameSelection(start: 3, end: 15, stride: 4)) { rgb, w, h, n in
            numbers.append(n)
            worst = max(worst, abs(MediaFixture.backgroundMean(rgb, width: w, height: h) - Double(MediaFixture.level(n - 1))))
        }
        XCTAssertEqual(numbers, [3, 7, 11, 15])
        XCTAssertEqual(info.keptFrames, 4)
        XCTAssertEqual(info.decodedFrames, 15, "decoding stops at frame_end")
        XCTAssertLessThanOrEqual(worst, codecTolerance, "frame content must match its number; max diff \(worst)")

        var toEnd: [Int] = []
        try VideoDecoder.decode(path: path, selection: FrameSelection(start: 10, end: -1, stride: 3)) { _, _, _, n in toEnd.append(n) }
        XCTAssertEqual(toEnd, [10, 13, 16], "frame_end -1 runs to the last frame")
    }

    func testVideoFromTheFFmpegProgramDecodesLikeFFmpegItself() throws {
        let dir = try ShardFixture.directory(self)
        let video = dir + "/testsrc.mkv", raw = dir + "/testsrc.rgb"
        guard let made = try ShardFixture.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=80x60:rate=10",
                                                          "-frames:v", "15", "-c:v", "mpeg4", "-q:v", "3", video]) else {
            throw XCTSkip("the ffmpeg program is not installed")
        }
        XCTAssertEqual(made.status, 0)
        // The same conversion flags as VideoDecoder, so that only the decoders are compared.
        let dumped = try ShardFixture.run("ffmpeg", ["-v", "error", "-i", video, "-sws_flags", "bilinear+accurate_rnd",
                                                     "-f", "rawvideo", "-pix_fmt", "rgb24", raw])
        XCTAssertEqual(dumped?.status, 0)
        let reference = [UInt8](try Data(contentsOf: URL(fileURLWithPath: raw)))
        var ours: [UInt8] = []
        let info = try VideoDecoder.decode(path: video) { rgb, _, _, _ in ours.append(contentsOf: rgb) }
        XCTAssertEqual(info.keptFrames, 15); XCTAssertEqual(info.width, 80); XCTAssertEqual(info.height, 60)
        XCTAssertEqual(info.fps, 10, accuracy: 1e-9)
        XCTAssertEqual(ours.count, reference.count)
        // Same decoder, same swscale flags: identical here (FFmpeg 5.1); one level allows for another release's rounding.
        let diffs = zip(ours, reference).map { abs(Int($0) - Int($1)) }
        let mean = Double(diffs.reduce(0, +)) / Double(max(1, diffs.count))
        XCTAssertLessThanOrEqual(diffs.max() ?? 0, 1, "mean |ours - ffmpeg| = \(mean), max \(diffs.max() ?? 0)")
    }

    func testCorruptTruncatedAndMissingFilesThrowVideoErrorsNamingTheFile() throws {
        let dir = try ShardFixture.directory(self)
        let garbage = dir + "/garbage.mp4", truncated = dir + "/truncated.mp4", good = dir + "/good.mp4"
        try MediaFixture.writeGarbage(to: garbage)
        try MediaFixture.colourCodedVideo(at: good, frames: 12)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: truncated))
        XCTAssertThrowsError(try VideoEncoder(path: dir + "/no/such/dir/x.mp4", width: 16, height: 16, fps: 10)) {
            XCTAssertTrue($0 is VideoError, "\($0)")
        }
        for path in [garbage, truncated, dir + "/missing.mp4"] {
            XCTAssertThrowsError(try VideoDecoder.decode(path: path) { _, _, _, _ in }, path) { error in
                guard let e = error as? VideoError else { return XCTFail("\(path): \(error) is not a VideoError") }
                XCTAssertEqual(e.path, path)
                XCTAssertFalse(e.message.isEmpty); XCTAssertFalse(e.hint.isEmpty)
            }
        }
    }

    func testClipReaderCropsAndAreaResizesTheSelectedFramesOfADecodedVideo() throws {
        let dir = try ShardFixture.directory(self)
        let path = dir + "/coded.mp4"
        // 64×48 frames, white in x 0..<16, y 0..<12, grey level(f) elsewhere.
        try MediaFixture.colourCodedVideo(at: path, frames: 14)
        let input = ClipInput(media: .video(path: path, frameStart: 3, frameEnd: 11), label: 2, clipID: "coded",
                              signer: 5, bbox: [0, 0, 32, 24])
        let clip = try ClipReader.read(input, options: ClipOptions(size: 8, stride: 2, handCrop: .bbox, margin: 0))
        // bbox 32×24 squares to 32×32 at (0, -4), moved inside the frame to (0, 0); shrunk 4×: the white block is
        // output x 0..<4, y 0..<3, the rest grey.
        XCTAssertEqual(clip.frameCount, 5, "frames 3, 5, 7, 9, 11")
        XCTAssertTrue(clip.box == (0, 0, 32, 32), "\(clip.box)")
        XCTAssertEqual(clip.label, 2); XCTAssertEqual(clip.signer, 5); XCTAssertEqual(clip.clipID, "coded")
        var worst = 0.0
        for (k, number) in [3, 5, 7, 9, 11].enumerated() {
            func px(_ x: Int, _ y: Int) -> Double {
                (0..<3).map { Double(clip.frames[((k * 8 + y) * 8 + x) * 3 + $0]) }.reduce(0, +) / 3
            }
            worst = max(worst, abs(px(1, 1) - 255), abs(px(2, 1) - 255))
            for (x, y) in [(6, 6), (1, 6), (6, 1), (4, 4)] { worst = max(worst, abs(px(x, y) - Double(MediaFixture.level(number - 1)))) }
        }
        XCTAssertLessThanOrEqual(worst, codecTolerance, "max |pixel - expected| = \(worst)")
    }
}
