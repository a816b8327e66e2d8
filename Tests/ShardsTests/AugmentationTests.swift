// Tests: what the network sees. Evaluation crops are exact pixels, normalized; training augmentation is a function
// of (seed, epoch, clip index) only, identical on every frame of a clip, and different across clips.
import Foundation
import Shards
import Support
import XCTest

final class AugmentationTests: XCTestCase {
    /// A clip of `frames` frames whose frames are all the same picture when `still`, so per-frame differences in the
    /// output can only come from the transform.
    private func clip(_ n: Int, frames: Int, height: Int, width: Int, still: Bool) -> DecodedClip {
        var c = ShardFixture.clip(n, frames: frames, height: height, width: width)
        if still {
            let one = Array(c.frames.prefix(height * width * 3))
            c.frames = Array((0..<frames).map { _ in one }.joined())
        }
        return c
    }

    func testEvaluationCentreCropIsTheExactNormalizedCentrePixels() throws {
        let (h, w, s, t) = (9, 8, 5, 3)
        let original = ShardFixture.clip(4, frames: 7, height: h, width: w)
        let transform = ClipTransform(temporal: TemporalSampling(frames: t, stride: 2), cropSize: s, training: false)
        var out = [Float](repeating: .nan, count: transform.floatsPerWindow)
        var rng = SeededRandom(seed: 0)
        let indices = transform.temporal.centredIndices(frameCount: 7)
        XCTAssertEqual(indices, [1, 3, 5])
        original.frames.withUnsafeBufferPointer { frames in
            out.withUnsafeMutableBufferPointer { o in
                transform.apply(frames: frames, height: h, width: w, indices: indices, rng: &rng, into: o)
            }
        }
        // Independent: rows 2..<7, columns 1..<6 of frames 1, 3, 5, channel-first, (x/255 - mean) / std.
        let mean: [Double] = [0.43216, 0.394666, 0.37645], std: [Double] = [0.22803, 0.22145, 0.216989]
        var maxDiff: Double = 0
        for c in 0..<3 {
            for (ti, f) in [1, 3, 5].enumerated() {
                for y in 0..<s {
                    for x in 0..<s {
                        let byte = original.frames[((f * h + (2 + y)) * w + (1 + x)) * 3 + c]
                        let expected = (Double(byte) / 255 - mean[c]) / std[c]
                        maxDiff = max(maxDiff, abs(expected - Double(out[((c * t + ti) * s + y) * s + x])))
                    }
                }
            }
        }
        XCTAssertLessThan(maxDiff, 1e-5, "max difference \(maxDiff)")
    }

    func testEvaluationOnFramesSmallerThanTheCropResizesTheShorterSide() {
        // A 4 x 6 frame, crop 8: shorter side 4 → 8 (scale 1/2), centre 8 x 8 of the 8 x 12 resize.
        // A constant frame must stay constant and a horizontal ramp must stay a non-decreasing ramp.
        let (h, w, s) = (4, 6, 8)
        var frame = [UInt8](repeating: 0, count: h * w * 3)
        for y in 0..<h { for x in 0..<w { for c in 0..<3 { frame[(y * w + x) * 3 + c] = c == 0 ? 100 : UInt8(x * 40) } } }
        let transform = ClipTransform(temporal: TemporalSampling(frames: 1), cropSize: s, training: false,
                                      normalization: Normalization(mean: [0, 0, 0], std: [1, 1, 1]))
        var out = [Float](repeating: .nan, count: transform.floatsPerWindow)
        var rng = SeededRandom(seed: 0)
        frame.withUnsafeBufferPointer { f in
            out.withUnsafeMutableBufferPointer { transform.apply(frames: f, height: h, width: w, indices: [0], rng: &rng, into: $0) }
        }
        let red = out[0..<(s * s)], green = Array(out[(s * s)..<(2 * s * s)])
        XCTAssertTrue(red.allSatisfy { abs($0 - 100 / 255) < 1e-6 }, "\(red)")
        for y in 0..<s {
            let row = Array(green[(y * s)..<((y + 1) * s)])
            XCTAssertEqual(row, row.sorted(), "row \(y): \(row)")
            XCTAssertEqual(row, Array(green[0..<s]), "rows are equal")
        }
        // Source x of output column 0: 3 + (0.5 - 4) * 0.5 - 0.5 = 0.75, between columns 0 and 1: 0.75 * 40 / 255.
        XCTAssertEqual(green[0], Float(0.75 * 40 / 255), accuracy: 1e-6)
    }

    func testTrainingAugmentationIsAFunctionOfSeedEpochAndIndexOnly() throws {
        let dir = try ShardFixture.directory(self)
        // Clips 0 and 1 hold the same pixels: any output difference comes from the augmentation draw.
        var twin = clip(0, frames: 6, height: 12, width: 10, still: false)
        twin.clipID = "twin"
        try ShardFixture.write([clip(0, frames: 6, height: 12, width: 10, still: false), twin], to: dir, shards: 1,
                               height: 12, width: 10)
        let dataset = try ShardDataset(path: dir)
        var aug = AugmentationConfig()
        aug.horizontalFlipProbability = 0.5
        aug.blurProbability = 0.5
        let transform = ClipTransform(temporal: TemporalSampling(frames: 3, stride: 1, speedRange: 0.8...1.2), cropSize: 7,
                                      training: true, augmentation: aug, seed: 42)
        func run(_ index: Int, epoch: Int, _ reader: ShardReader) throws -> [Float] {
            var out = [Float](repeating: 0, count: transform.floatsPerWindow)
            var scratch: [UInt8] = []
            try out.withUnsafeMutableBufferPointer {
                try transform.load(index: index, epoch: epoch, reader: reader, scratch: &scratch, into: $0)
            }
            return out
        }
        let a = try run(0, epoch: 1, ShardReader(dataset: dataset))
        XCTAssertEqual(a, try run(0, epoch: 1, ShardReader(dataset: dataset)), "same key, same output")
        XCTAssertNotEqual(a, try run(1, epoch: 1, ShardReader(dataset: dataset)), "same pixels, another index")
        XCTAssertNotEqual(a, try run(0, epoch: 2, ShardReader(dataset: dataset)), "another epoch")
        XCTAssertTrue(a.allSatisfy { $0.isFinite })
    }

    func testTrainingAugmentationAppliesTheSameParametersToEveryFrame() {
        let (h, w, t) = (11, 9, 4)
        let still = clip(3, frames: 1, height: h, width: w, still: true)
        var aug = AugmentationConfig()
        aug.rotationDegrees = 20
        aug.horizontalFlipProbability = 0.5
        aug.blurProbability = 1
        let transform = ClipTransform(temporal: TemporalSampling(frames: t), cropSize: 6, training: true, augmentation: aug)
        for key in 0..<20 {
            var rng = SeededRandom(keys: 7, UInt64(key))
            var out = [Float](repeating: .nan, count: transform.floatsPerWindow)
            still.frames.withUnsafeBufferPointer { f in
                out.withUnsafeMutableBufferPointer {
                    transform.apply(frames: f, height: h, width: w, indices: [0, 0, 0, 0], rng: &rng, into: $0)
                }
            }
            let plane = 36
            var maxDiff: Float = 0
            for c in 0..<3 {
                for ti in 1..<t {
                    for p in 0..<plane {
                        maxDiff = max(maxDiff, abs(out[(c * t + ti) * plane + p] - out[(c * t) * plane + p]))
                    }
                }
            }
            XCTAssertEqual(maxDiff, 0, "key \(key): frames of one clip transformed differently, max difference \(maxDiff)")
        }
    }
    func testFastAugmentationMatchesThePlainReferenceOnOddShapes() {
        var aug = AugmentationConfig()
        aug.horizontalFlipProbability = 0.5
        aug.rotationDegrees = 25
        aug.brightness = 0.4; aug.contrast = 0.4; aug.saturation = 0.4
        aug.blurProbability = 0.7
        for (h, w, s, t) in [(13, 10, 7, 3), (9, 17, 5, 2), (6, 6, 9, 1)] {
            let clip = ShardFixture.clip(h + w, frames: t + 2, height: h, width: w)
            let transform = ClipTransform(temporal: TemporalSampling(frames: t), cropSize: s, training: true, augmentation: aug)
            for key in 0..<8 {
                var rng = SeededRandom(keys: 11, UInt64(key))
                let p = transform.drawParameters(height: h, width: w, rng: &rng)
                let indices = (0..<t).map { ($0 * 2 + key) % (t + 2) }
                var fast = [Float](repeating: .nan, count: transform.floatsPerWindow)
                var reference = fast
                clip.frames.withUnsafeBufferPointer { f in
                    fast.withUnsafeMutableBufferPointer {
                        transform.apply(frames: f, height: h, width: w, indices: indices, parameters: p, into: $0)
                    }
                    reference.withUnsafeMutableBufferPointer {
                        transform.applyReference(frames: f, height: h, width: w, indices: indices, parameters: p, into: $0)
                    }
                }
                let maxDiff = zip(fast, reference).map { abs($0 - $1) }.max() ?? .nan
                XCTAssertLessThan(maxDiff, 1e-4, "\(h)x\(w) S=\(s) T=\(t) key \(key) \(p): max difference \(maxDiff)")
            }
        }
    }

    func testFlipIsOffByDefaultAndTheDrawCoversTheConfiguredRanges() {
        let transform = ClipTransform(temporal: TemporalSampling(frames: 1), cropSize: 8, training: true)
        var flips = 0, blurs = 0
        for key in 0..<300 {
            var rng = SeededRandom(keys: 2, UInt64(key))
            let p = transform.drawParameters(height: 40, width: 30, rng: &rng)
            if p.flip { flips += 1 }
            if p.blurSigma != nil { blurs += 1 }
            XCTAssertLessThanOrEqual(abs(p.angle), 10 * Double.pi / 180 + 1e-12)
            XCTAssertTrue((0.8...1.2).contains(Double(p.brightness)), "\(p.brightness)")
            let area = p.cropWidth * p.cropHeight / 1200
            XCTAssertTrue(area >= 0.55 && area <= 1.0, "crop area fraction \(area)")
            XCTAssertTrue(p.centreX - p.cropWidth / 2 >= 0 && p.centreX + p.cropWidth / 2 <= 30, "\(p)")
        }
        XCTAssertEqual(flips, 0, "mirroring changes the signing hand; it must be asked for")
        XCTAssertTrue((30...90).contains(blurs), "blur fired \(blurs) times in 300 at probability 0.2")
    }
}
