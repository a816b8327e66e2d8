// Tests: `asl-predict --live` as a user runs it on a video file — every frame written annotated at the source's
// size and rate, records whose top-1 equal `--input` on the same windows, pixels outside the overlay untouched, a
// slow model dropping windows instead of frames, clean errors and clean ends — and its parts: the frame ring, the
// classifier's single waiting slot and the overlay.
import Foundation
import Inference
import NN
import Shards
import XCTest

final class LiveTests: XCTestCase {
    // MARK: - Fixtures

    /// A 25 fps H.264 video `width`×`height` of `frames` frames: a textured background and a bright square that
    /// moves right across the lower half (what the motion crop should follow).
    func makeVideo(_ path: String, width: Int = 320, height: Int = 240, frames: Int = 40, fps: Double = 25,
                   container: String? = nil) throws {
        let encoder = try VideoEncoder(path: path, width: width, height: height, frameRate: fps, quality: 16, container: container)
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for f in 0..<frames {
            for y in 0..<height {
                for x in 0..<width {
                    let i = (y * width + x) * 3
                    rgb[i] = UInt8((x * 255) / width); rgb[i + 1] = UInt8((y * 255) / height); rgb[i + 2] = UInt8(((x / 16 + y / 16) % 2) * 60 + 40)
                }
            }
            let side = height / 4, x0 = 20 + f * (width - side - 40) / max(1, frames - 1), y0 = height / 2
            for y in y0..<(y0 + side) { for x in x0..<(x0 + side) { let i = (y * width + x) * 3; rgb[i] = 250; rgb[i + 1] = 240; rgb[i + 2] = 200 } }
            try rgb.withUnsafeBufferPointer { try encoder.append(rgb: $0) }
        }
        try encoder.finish()
    }

    /// A random 4-class C3D (width 4) taking 4 frames of 24×24, whose metadata records shards of 32×32 frames made
    /// with the reference conversion (whole frames to RGB, then crop and area resize, as the live loop cuts them).
    func makeWeights(_ dir: String, width: Int = 4, frames: Int = 4, crop: Int = 24, size: Int = 32) throws -> String {
        let model = try makeRandomModel(arch: "c3d", classes: 4, width: width, seed: 5)
        let preprocessing = Preprocessing(size: size, handCrop: "none", margin: 0.1, stride: 1, fps: 25, conversion: "reference")
        let meta = ModelMetadata(arch: "c3d", classes: ["alpha", "bravo", "charlie", "delta"], frames: frames, crop: crop,
                                 mean: Normalization.kinetics400.mean, std: Normalization.kinetics400.std, width: width,
                                 preprocessing: preprocessing.json).asStrings
        let path = dir + "/model-\(width)-\(frames).safetensors"
        try model.store.save(to: path, metadata: meta)
        return path
    }

    /// Decodes `path`: its frames [F][H × W × 3], size and rate.
    func decode(_ path: String) throws -> (frames: [[UInt8]], info: VideoInfo) {
        var frames: [[UInt8]] = []
        let info = try VideoDecoder.decode(path: path) { rgb, _, _, _ in frames.append(Array(rgb)) }
        return (frames, info)
    }

    /// The JSON lines of `path`.
    func records(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func topProbabilities(_ record: [String: Any]) throws -> [String: Double] {
        let top = try XCTUnwrap(record["top_k"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: top.map { ($0["class"] as! String, $0["probability"] as! Double) })
    }

    /// asl-predict --input on frames start...end of `video`: its probabilities per class (softmax of its logits).
    func inputProbabilities(weights: String, video: String, start: Int, end: Int, crop: String, dir: String) throws -> [String: Double] {
        let csv = dir + "/range-\(start).csv"
        let r = try runPredict(["--weights", weights, "--input", video, "--range", "\(start):\(end)", "--hand-crop", crop,
                                "--logits-out", csv])
        XCTAssertEqual(r.status, 0, r.stderr)
        let logits = try XCTUnwrap(try readLogitsCSV(csv).values.first)
        let p = Predictor.probabilities(logits)
        return Dictionary(uniqueKeysWithValues: zip(["alpha", "bravo", "charlie", "delta"], p.map(Double.init)))
    }

    /// Mean |a − b| over the pixels of frame pair (a, b) [H × W × 3] where `masked(x, y)` is false.
    func meanDifference(_ a: [UInt8], _ b: [UInt8], width: Int, height: Int, masked: (Int, Int) -> Bool) -> (outside: Double, inside: Double) {
        var sums = (0.0, 0.0), counts = (0, 0)
        for y in 0..<height {
            for x in 0..<width {
                var d = 0.0
                for c in 0..<3 { let i = (y * width + x) * 3 + c; d += abs(Double(a[i]) - Double(b[i])) }
                if masked(x, y) { sums.1 += d / 3; counts.1 += 1 } else { sums.0 += d / 3; counts.0 += 1 }
            }
        }
        return (sums.0 / Double(max(1, counts.0)), sums.1 / Double(max(1, counts.1)))
    }

    // MARK: - End to end

    func testAFileIsAnnotatedFrameForFrameAndItsRecordsMatchInputOnTheSameWindows() throws {
        let dir = try makeTemporaryDirectory(self, "live-file")
        let video = dir + "/sign.mp4"
        try makeVideo(video)
        let weights = try makeWeights(dir)
        for crop in ["none", "motion"] {
            let out = dir + "/\(crop).mp4", jsonl = dir + "/\(crop).jsonl"
            let r = try runPredict(["--weights", weights, "--live", video, "--no-window", "--output-video", out,
                                    "--output", jsonl, "--every", "4", "--smooth", "1", "--hand-crop", crop])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("40 frames") && r.stdout.contains("10 windows classified") && r.stdout.contains("0 dropped"),
                          "a file without --realtime classifies every 4th window in order, none dropped: \(r.stdout)")

            let input = try decode(video), annotated = try decode(out)
            XCTAssertEqual(annotated.frames.count, input.frames.count, "every source frame is written")
            XCTAssertEqual(annotated.info.width, 320); XCTAssertEqual(annotated.info.height, 240)
            XCTAssertEqual(annotated.info.fps, input.info.fps, accuracy: 1e-6, "the source's rate")

            // One record per window ending at frame 4k - 1 (4 frames per window); its top-1 equals --input's on the
            // same frames (1-based range), and so do its probabilities (the same decode, crop and resize).
            let recs = try records(jsonl)
            XCTAssertEqual(recs.map { $0["frame"] as? Int }, Array(stride(from: 3, to: 40, by: 4)))
            let checked = crop == "none" ? recs : Array(recs.prefix(1))  // motion crops are smoothed after the first
            var worst = 0.0
            for rec in checked {
                let f = try XCTUnwrap(rec["frame"] as? Int)
                let live = try topProbabilities(rec)
                let reference = try inputProbabilities(weights: weights, video: video, start: f - 2, end: f + 1, crop: crop, dir: dir)
                XCTAssertEqual(live.max { $0.value < $1.value }?.key, reference.max { $0.value < $1.value }?.key,
                               "top-1 of the window ending at frame \(f) (\(crop))")
                worst = max(worst, live.map { abs($0.value - reference[$0.key]!) }.max()!)
            }
            XCTAssertLessThanOrEqual(worst, 1e-5, "max |live probability - --input probability| = \(worst) (\(crop))")

            // Outside the panel and the crop's outline (with 6 pixels for chroma subsampling and the codec's blocks)
            // the annotated frames are the source's; inside the panel they are not.
            let panel = try XCTUnwrap(recs.first?["panel"] as? [Int])
            XCTAssertEqual(panel.count, 4)
            var latest: [Int]? = nil
            var worstOutside = 0.0, leastInside = Double.infinity
            for (f, (a, b)) in zip(input.frames, annotated.frames).enumerated() {
                if let rec = recs.last(where: { ($0["frame"] as! Int) <= f }), crop == "motion" { latest = rec["crop"] as? [Int] }
                let box = latest
                let d = meanDifference(a, b, width: 320, height: 240) { x, y in
                    if x < panel[0] + panel[2] + 6 && y < panel[1] + panel[3] + 6 { return true }
                    guard let box else { return false }
                    let (x0, y0, s) = (box[0], box[1], box[2])
                    let inOuter = x >= x0 - 6 && x < x0 + s + 6 && y >= y0 - 6 && y < y0 + s + 6
                    let inInner = x >= x0 + 8 && x < x0 + s - 8 && y >= y0 + 8 && y < y0 + s - 8
                    return inOuter && !inInner
                }
                worstOutside = max(worstOutside, d.outside)
                leastInside = min(leastInside, d.inside)
            }
            XCTAssertLessThan(worstOutside, 2.5, "mean |annotated - source| outside the overlay (\(crop)), worst frame")
            XCTAssertGreaterThan(leastInside, 10, "the panel darkens and writes over the frame (\(crop))")
            if crop == "motion" {
                let first = try XCTUnwrap(recs.first?["crop"] as? [Int])
                XCTAssertGreaterThanOrEqual(first[1] + first[2], 120, "the crop follows the square moving in the lower half: \(first)")
            }
        }
    }

    func testAModelSlowerThanTheSourceDropsWindowsNotFrames() throws {
        let dir = try makeTemporaryDirectory(self, "live-slow")
        let video = dir + "/fast.mp4"
        try makeVideo(video, width: 160, height: 120, frames: 50, fps: 100)
        // 16 frames of 64×64 through a width-16 C3D: tens of milliseconds a window, against 10 ms a frame.
        let weights = try makeWeights(dir, width: 16, frames: 16, crop: 64, size: 64)
        let out = dir + "/out.mp4", jsonl = dir + "/out.jsonl"
        // --stride 1: every source frame is a model frame (else the 100 fps source is matched to the weights' 25).
        let r = try runPredict(["--weights", weights, "--live", video, "--realtime", "--no-window", "--every", "1", "--stride", "1",
                                "--output-video", out, "--output", jsonl])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try decode(out).frames.count, 50, "every frame is written however slow the model")
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("live:") }, r.stdout)
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        // "live: 50 frames (...) in ... s, C windows classified, D dropped ..."
        let classified = try XCTUnwrap(numbers.dropFirst().first), dropped = try XCTUnwrap(numbers.dropFirst(2).first)
        XCTAssertGreaterThan(dropped, 0, "windows are dropped while the model is busy: \(line)")
        XCTAssertEqual(classified + dropped, 50 - 15, "each of the 35 full windows is classified or dropped, never queued: \(line)")
        XCTAssertEqual(try records(jsonl).count, classified)
    }

    func testStillImageWeightsClassifyEveryFrameOnItsOwn() throws {
        let dir = try makeTemporaryDirectory(self, "live-still")
        let video = dir + "/letters.mp4"
        try makeVideo(video, frames: 12)
        let weights = try makeWeights(dir, frames: 1)
        let jsonl = dir + "/out.jsonl"
        let r = try runPredict(["--weights", weights, "--live", video, "--no-window", "--every", "1", "--hand-crop", "none",
                                "--output", jsonl])
        XCTAssertEqual(r.status, 0, r.stderr)
        let recs = try records(jsonl)
        XCTAssertEqual(recs.map { $0["frame"] as? Int }, Array(0..<12), "a T=1 model classifies each frame")
        // Frame 6 alone through --input gives the record's probabilities.
        let reference = try inputProbabilities(weights: weights, video: video, start: 7, end: 7, crop: "none", dir: dir)
        let live = try topProbabilities(recs[6])
        XCTAssertLessThanOrEqual(live.map { abs($0.value - reference[$0.key]!) }.max()!, 1e-5, "\(live) vs \(reference)")
    }

    func testBadSourcesAndOutputsFailClearlyAndLeaveNoFile() throws {
        let dir = try makeTemporaryDirectory(self, "live-bad")
        let weights = try makeWeights(dir)
        let video = dir + "/ok.mp4"
        try makeVideo(video, frames: 8)
        try Data("not a video".utf8).write(to: URL(fileURLWithPath: dir + "/text.mp4"))
        let outputs = ["--no-window", "--output-video", dir + "/out.mp4", "--output", dir + "/out.jsonl"]
        let cases: [(String, [String], String)] = [
            ("missing file", ["--live", dir + "/nothing.mp4"] + outputs, "no such file"),
            ("not a video", ["--live", dir + "/text.mp4"] + outputs, "avformat_open_input"),
            ("unreachable stream", ["--live", "http://127.0.0.1:9/stream.ts"] + outputs, "cannot be reached"),
            ("unwritable video", ["--live", video, "--no-window", "--output-video", dir + "/no/such/dir/out.mp4"], "not writable"),
            ("unknown container", ["--live", video, "--no-window", "--output-video", dir + "/out.xyz"], ".mp4"),
        ]
        for (name, args, message) in cases {
            let r = try runPredict(["--weights", weights] + args)
            XCTAssertTrue(r.exited, "\(name): no crash")
            XCTAssertNotEqual(r.status, 0, "\(name) fails")
            XCTAssertTrue(r.stderr.contains(message), "\(name): '\(message)' in: \(r.stderr)")
            let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("out") }
            XCTAssertEqual(left, [], "\(name) leaves no output or temporary file")
        }
    }

    func testAStreamThatEndsEarlyEndsCleanlyWithWhatItGave() throws {
        let dir = try makeTemporaryDirectory(self, "live-cut")
        let whole = dir + "/whole.ts"
        try makeVideo(whole, frames: 40, container: "mpegts")
        // An MPEG-TS stream cut in the middle of a packet, as a broken connection leaves it.
        let data = try Data(contentsOf: URL(fileURLWithPath: whole))
        let cut = dir + "/cut.ts"
        try data.prefix(data.count / 2 + 77).write(to: URL(fileURLWithPath: cut))
        let weights = try makeWeights(dir)
        let r = try runPredict(["--weights", weights, "--live", cut, "--no-window", "--output-video", dir + "/out.mp4"])
        XCTAssertEqual(r.status, 0, "a stream that ends early ends the run cleanly: \(r.stderr)")
        let frames = try decode(dir + "/out.mp4").frames.count
        XCTAssertGreaterThan(frames, 4); XCTAssertLessThan(frames, 40, "the frames the stream gave, annotated")
    }

    // MARK: - Parts

    func testTheRingKeepsTheNewestFramesOldestFirst() {
        var ring = FrameRing(capacity: 3, frameBytes: 2)
        for v in 1...5 { [UInt8(v), UInt8(v * 10)].withUnsafeBufferPointer { ring.push($0) } }
        XCTAssertTrue(ring.isFull)
        XCTAssertEqual(ring.ordered(), [3, 30, 4, 40, 5, 50])
        XCTAssertEqual(ring.withFrame(0) { Array($0) }, [3, 30])
        ring.removeAll()
        XCTAssertEqual(ring.count, 0)
        [9, 9].withUnsafeBufferPointer { ring.push($0) }
        XCTAssertEqual(ring.ordered(), [9, 9])
    }

    func testABusyClassifierKeepsOnlyTheNewestWaitingWindow() throws {
        let gate = DispatchSemaphore(value: 0), started = DispatchSemaphore(value: 0)
        let classifier = LiveClassifier { window in
            started.signal()
            gate.wait()
            return [Float(window.lastFrame)]
        }
        defer { classifier.stop() }
        func window(_ f: Int) -> LiveWindow {
            LiveWindow(frames: [], frameCount: 0, size: 0, lastFrame: f, timestamp: 0, crop: SquareCrop(x0: 0, y0: 0, side: 1))
        }
        classifier.offer(window(1))
        started.wait()                  // window 1 is being classified
        for f in 2...4 { classifier.offer(window(f)) }  // 2 and 3 are replaced while waiting
        XCTAssertEqual(classifier.dropped, 2)
        gate.signal(); started.wait(); gate.signal()
        try classifier.drain()
        XCTAssertEqual(try classifier.takeResults().map(\.lastFrame), [1, 4], "the running window, then the newest")
        XCTAssertEqual(try classifier.takeResults().count, 0)
    }

    func testAClassifierErrorReachesTheLoop() {
        struct Broken: Error {}
        let classifier = LiveClassifier { _ in throw Broken() }
        defer { classifier.stop() }
        classifier.offer(LiveWindow(frames: [], frameCount: 0, size: 0, lastFrame: 0, timestamp: 0, crop: SquareCrop(x0: 0, y0: 0, side: 1)))
        XCTAssertThrowsError(try classifier.drain()) { XCTAssertTrue($0 is Broken) }
    }

    func testTheOverlayAveragesRecognizesAboveTheThresholdAndTouchesOnlyItsPanelAndBox() throws {
        var overlay = Overlay(classes: ["a", "b", "c"], topK: 2, smooth: 2, threshold: 0.5)
        XCTAssertEqual(overlay.lines, ["collecting frames..."])
        let crop = SquareCrop(x0: 200, y0: 140, side: 80)  // clear of the panel
        func result(_ p: [Float]) -> LiveResult { LiveResult(lastFrame: 0, timestamp: 0, crop: crop, probabilities: p) }
        overlay.add(result([0.9, 0.05, 0.05]))
        XCTAssertEqual(overlay.lines, ["sign: a", "a  0.90", "b  0.05"])
        overlay.add(result([0.1, 0.8, 0.1]))   // mean of the last 2: a 0.5, b 0.425
        XCTAssertEqual(overlay.lines[0], "sign: a")
        overlay.add(result([0.2, 0.2, 0.6]))   // a 0.15, b 0.5, c 0.35 ... b reaches 0.5
        XCTAssertEqual(overlay.lines[0], "sign: b")
        overlay.add(result([0.3, 0.3, 0.4]))   // b 0.25, c 0.5 ... c
        overlay.add(result([0.4, 0.3, 0.3]))   // a 0.35, b 0.3, c 0.35: below 0.5
        XCTAssertTrue(overlay.lines[0].hasPrefix("no sign recognized"), overlay.lines[0])

        let (w, h) = (320, 240)
        var rng = SystemRandomNumberGenerator()
        let frame = (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var drawn = frame
        try overlay.draw(on: &drawn, width: w, height: h, crop: crop)
        let panel = try overlay.panelRect(frameHeight: h)
        var changedOutside = 0, changedPanel = 0, changedRing = 0
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * 3
                let changed = frame[i..<(i + 3)] != drawn[i..<(i + 3)]
                let inPanel = x < panel[2] && y < panel[3]
                let onRing = x >= 200 && x < 280 && y >= 140 && y < 220 && !(x >= 201 && x < 279 && y >= 141 && y < 219)
                if inPanel { changedPanel += changed ? 1 : 0 } else if onRing { changedRing += changed ? 1 : 0 } else if changed { changedOutside += 1 }
            }
        }
        XCTAssertEqual(changedOutside, 0, "pixels outside the panel and the box outline stay as they were")
        XCTAssertGreaterThan(changedPanel, panel[2] * panel[3] / 2, "the panel is drawn")
        XCTAssertGreaterThan(changedRing, 300, "the crop's outline is drawn")
        XCTAssertEqual(try overlay.panelRect(frameHeight: h), panel, "the panel keeps its size")
    }
}
