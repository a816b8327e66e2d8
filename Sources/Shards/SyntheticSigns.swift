// Shards: a synthetic sign-language data set — real H.264 MP4 videos and a WLASL-format JSON — so that the whole
// pipeline (synth → build → train) runs with no download.
//
// Each class is one hand shape moving along one trajectory in front of a torso (up to 64 distinct
// shape × trajectory pairs); signers differ in skin colour, hand size, speed, position, shirt and background
// (colour and texture); each clip adds its own phase, jitter and pixel noise. Every draw comes from
// `SeededRandom` keyed by (seed, purpose, class, clip), so the output depends only on the options.
import Foundation
import Support

public struct SynthOptions: Sendable {
    public var classes: Int
    public var clipsPerClass: Int
    public var signers: Int
    /// Frames of signing per clip; each video also has 4 still frames before and after, outside its frame range.
    public var frames: Int
    /// Video width and height in pixels (even).
    public var size: Int
    public var fps: Int
    public var seed: UInt64
    /// Standard deviation of the per-pixel noise, in grey levels.
    public var noise: Double

    public init(classes: Int = 8, clipsPerClass: Int = 12, signers: Int = 4, frames: Int = 24, size: Int = 96,
                fps: Int = 25, seed: UInt64 = 0, noise: Double = 6) {
        self.classes = classes; self.clipsPerClass = clipsPerClass; self.signers = signers; self.frames = frames
        self.size = size; self.fps = fps; self.seed = seed; self.noise = noise
    }

    /// Checks ranges; throws `ShardSourceError` naming the option.
    public func validate() throws {
        func bad(_ option: String, _ hint: String) -> ShardSourceError { ShardSourceError(path: option, reason: "out of range", hint: hint) }
        guard (2...SyntheticSigns.maxClasses).contains(classes) else { throw bad("--classes \(classes)", "2 to \(SyntheticSigns.maxClasses)") }
        guard clipsPerClass >= 1 else { throw bad("--clips-per-class \(clipsPerClass)", "at least 1") }
        guard signers >= 1 else { throw bad("--signers \(signers)", "at least 1") }
        guard frames >= 2 else { throw bad("--frames \(frames)", "at least 2") }
        guard size >= 32, size % 2 == 0 else { throw bad("--size \(size)", "an even number of at least 32") }
        guard fps >= 1 else { throw bad("--fps \(fps)", "at least 1") }
    }
}

/// What `SyntheticSigns.generate` wrote.
public struct SynthSummary: Sendable {
    public var jsonPath: String
    public var videosDirectory: String
    public var glosses: [String]
    public var clips: Int
    /// Encoder used ("libx264", or "mpeg4" where FFmpeg has no libx264).
    public var codec: String
}

public enum SyntheticSigns {
    public static let maxClasses = shapeCount * trajectoryCount
    static let shapeCount = 8
    static let trajectoryCount = 8
    /// Still frames before and after the signing, outside `frame_start...frame_end`.
    public static let padFrames = 4
    static let words = ["book", "drink", "computer", "before", "chair", "go", "clothes", "who", "candy", "cousin",
                        "deaf", "fine", "help", "no", "thin", "walk", "year", "yes", "all", "black", "cool", "finish",
                        "hot", "like"]

    /// The gloss of class `c`.
    public static func gloss(_ c: Int) -> String { c < words.count ? words[c] : "sign\(c)" }

    /// Writes `directory/videos/<video_id>.mp4` for every clip and `directory/WLASL_synth.json`. Clip j of a class is
    /// signed by signer (j + class) mod signers; j mod 6 = 4 goes to val, 5 to test, the rest to train.
    public static func generate(into directory: String, options: SynthOptions,
                                progress: ((Int, Int) -> Void)? = nil) throws -> SynthSummary {
        try options.validate()
        let videos = (directory as NSString).appendingPathComponent("videos")
        do { try FileManager.default.createDirectory(atPath: videos, withIntermediateDirectories: true) } catch {
            throw ShardSourceError(path: videos, reason: "cannot create the videos directory: \(error)", hint: "check --out")
        }
        var entries: [WLASLEntry] = []
        var codec = ""
        let total = options.classes * options.clipsPerClass
        for c in 0..<options.classes {
            var instances: [WLASLEntry.Instance] = []
            for j in 0..<options.clipsPerClass {
                let index = c * options.clipsPerClass + j
                let videoID = String(format: "%05d", index)
                let signer = (j + c) % options.signers
                let (frames, bbox) = render(classIndex: c, clip: j, signer: signer, options: options)
                let path = (videos as NSString).appendingPathComponent(videoID + ".mp4")
                let tmp = AtomicFile.temporaryPath(for: path)
                do {
                    let encoder = try VideoEncoder(path: tmp, width: options.size, height: options.size, fps: options.fps,
                                                   quality: 18, container: "mp4")
                    codec = encoder.codecName
                    try encoder.append(frames: frames)
                    try encoder.finish()
                } catch {
                    try? FileManager.default.removeItem(atPath: tmp)
                    throw error
                }
                try AtomicFile.commit(temporary: tmp, to: path)
                let split = j % 6 == 4 ? "val" : (j % 6 == 5 ? "test" : "train")
                instances.append(WLASLEntry.Instance(
                    video_id: videoID, frame_start: padFrames + 1, frame_end: padFrames + options.frames, split: split,
                    signer_id: signer, bbox: bbox, fps: Double(options.fps), instance_id: j, source: "synth", url: "",
                    variation_id: 0))
                progress?(index + 1, total)
            }
            entries.append(WLASLEntry(gloss: gloss(c), instances: instances))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = (directory as NSString).appendingPathComponent("WLASL_synth.json")
        try AtomicFile.write(try encoder.encode(entries), to: json)
        return SynthSummary(jsonPath: json, videosDirectory: videos, glosses: entries.map(\.gloss), clips: total, codec: codec)
    }

    /// A signer's look: skin and shirt colours, hand scale, speed, where they stand, and the background.
    struct Signer {
        var skin: (Double, Double, Double)
        var shirt: (Double, Double, Double)
        var background: (Double, Double, Double)
        var texture: Int
        var scale: Double
        var speed: Double
        var dx: Double
        var dy: Double

        init(_ s: Int, seed: UInt64) {
            var r = SeededRandom(keys: seed, 1, UInt64(s))
            let tones: [(Double, Double, Double)] = [(233, 196, 168), (198, 150, 112), (141, 93, 62), (92, 60, 40), (250, 215, 190)]
            let t = tones[Int(r.next() % UInt64(tones.count))]
            func jitter(_ v: Double) -> Double { min(255, max(0, v + (r.nextDouble() - 0.5) * 24)) }
            skin = (jitter(t.0), jitter(t.1), jitter(t.2))
            shirt = (r.nextDouble() * 200 + 20, r.nextDouble() * 200 + 20, r.nextDouble() * 200 + 20)
            background = (r.nextDouble() * 160 + 60, r.nextDouble() * 160 + 60, r.nextDouble() * 160 + 60)
            texture = Int(r.next() % 4)
            scale = 0.85 + r.nextDouble() * 0.3
            speed = 0.8 + r.nextDouble() * 0.45
            dx = (r.nextDouble() - 0.5) * 0.12
            dy = (r.nextDouble() - 0.5) * 0.08
        }
    }

    /// Whether the point (u, v), in units of the hand radius from its centre, is inside hand shape `shape`.
    static func inside(_ shape: Int, _ u: Double, _ v: Double) -> Bool {
        let d2 = u * u + v * v
        switch shape {
        case 0: return d2 <= 1                                                        // fist: disc
        case 1: return max(abs(u), abs(v)) <= 0.85                                    // flat hand: square
        case 2: return v >= -0.85 && v <= 0.85 && abs(u) <= (v + 0.85) * 0.55         // point: triangle
        case 3: return d2 <= 1 && d2 >= 0.3                                           // O-hand: ring
        case 4: return (abs(u) <= 0.3 && abs(v) <= 1) || (abs(v) <= 0.3 && abs(u) <= 1) // crossed fingers
        case 5: return (u / 1.1) * (u / 1.1) + (v / 0.45) * (v / 0.45) <= 1          // horizontal B-hand
        case 6: return abs(u) + abs(v) <= 1                                           // diamond
        default: return (u / 0.45) * (u / 0.45) + (v / 1.1) * (v / 1.1) <= 1          // vertical B-hand
        }
    }

    /// Hand centres (x, y in [0, 1]) and a size factor at phase `w` (radians) for trajectory `kind`.
    static func hands(_ kind: Int, _ w: Double, cx: Double, cy: Double) -> [(Double, Double, Double)] {
        let a = 0.2
        switch kind {
        case 0: return [(cx + a * sin(w), cy, 1)]                                     // side to side
        case 1: return [(cx, cy + a * sin(w), 1)]                                     // up and down
        case 2: return [(cx + a * cos(w), cy + a * sin(w), 1)]                        // circle
        case 3: return [(cx + a * sin(w), cy + a * sin(w), 1)]                        // diagonal
        case 4: return [(cx - 0.17 - 0.1 * sin(w), cy, 1), (cx + 0.17 + 0.1 * sin(w), cy, 1)]   // two hands apart/together
        case 5: return [(cx - 0.2, cy + a * sin(w), 1), (cx + 0.2, cy - a * sin(w), 1)]         // two hands alternating
        case 6: return [(cx + a * sin(w), cy + a / 2 * sin(2 * w), 1)]                // figure eight
        default: return [(cx, cy, 1 + 0.4 * sin(w))]                                  // still hand opening and closing
        }
    }

    /// Renders one clip: `[F, size, size, 3]` RGB with F = frames + 2 × padFrames, and the box [x0, y0, x1, y1]
    /// around everything the hands cover during the signed frames.
    static func render(classIndex c: Int, clip j: Int, signer s: Int, options: SynthOptions) -> ([UInt8], [Double]) {
        let n = options.size, total = options.frames + 2 * padFrames
        let shape = c % shapeCount, trajectory = (c + c / shapeCount) % trajectoryCount
        let person = Signer(s, seed: options.seed)
        var r = SeededRandom(keys: options.seed, 2, UInt64(c), UInt64(j))
        let phase0 = r.nextDouble() * 2 * Double.pi
        let cx = 0.5 + person.dx + (r.nextDouble() - 0.5) * 0.04
        let cy = 0.56 + person.dy + (r.nextDouble() - 0.5) * 0.04
        let radius = Double(n) * 0.11 * person.scale * (0.95 + r.nextDouble() * 0.1)
        let cycles = person.speed * (0.9 + r.nextDouble() * 0.2)
        let handColour = (person.skin.0 * 0.92, person.skin.1 * 0.92, person.skin.2 * 0.92)

        // The static scene: textured background, torso and head.
        var scene = [Double](repeating: 0, count: n * n * 3)
        for y in 0..<n {
            for x in 0..<n {
                let tex: Double
                switch person.texture {
                case 1: tex = (x / 6) % 2 == 0 ? 14 : -14
                case 2: tex = ((x / 8) + (y / 8)) % 2 == 0 ? 12 : -12
                case 3: tex = Double(y) / Double(n) * 40 - 20
                default: tex = 0
                }
                var colour = (person.background.0 + tex, person.background.1 + tex, person.background.2 + tex)
                let u = (Double(x) / Double(n) - (0.5 + person.dx)), v = Double(y) / Double(n)
                if v > 0.34 + person.dy && abs(u) < 0.28 { colour = person.shirt }                     // torso
                let hx = u / 0.1, hy = (v - (0.2 + person.dy)) / 0.12
                if hx * hx + hy * hy <= 1 { colour = person.skin }                                     // head
                scene[(y * n + x) * 3] = colour.0; scene[(y * n + x) * 3 + 1] = colour.1; scene[(y * n + x) * 3 + 2] = colour.2
            }
        }
        var frames = [UInt8](repeating: 0, count: total * n * n * 3)
        var box = [Double(n), Double(n), 0, 0]
        for f in 0..<total {
            // Hands rest at the phase of the first signed frame during the padding, then move.
            let t = Double(min(max(f - padFrames, 0), options.frames - 1)) / Double(options.frames)
            let w = phase0 + 2 * Double.pi * cycles * t
            var image = scene
            for (hx, hy, grow) in hands(trajectory, w, cx: cx, cy: cy) {
                let rr = radius * grow, px = hx * Double(n), py = hy * Double(n)
                if f >= padFrames && f < padFrames + options.frames {
                    box[0] = min(box[0], px - rr); box[1] = min(box[1], py - rr)
                    box[2] = max(box[2], px + rr); box[3] = max(box[3], py + rr)
                }
                for y in max(0, Int(py - rr) - 1)...min(n - 1, Int(py + rr) + 1) {
                    for x in max(0, Int(px - rr) - 1)...min(n - 1, Int(px + rr) + 1) {
                        guard inside(shape, (Double(x) + 0.5 - px) / rr, (Double(y) + 0.5 - py) / rr) else { continue }
                        image[(y * n + x) * 3] = handColour.0; image[(y * n + x) * 3 + 1] = handColour.1
                        image[(y * n + x) * 3 + 2] = handColour.2
                    }
                }
            }
            let base = f * n * n * 3
            for i in 0..<(n * n * 3) {
                let value = image[i] + options.noise * r.nextGaussian()
                frames[base + i] = UInt8(min(255, max(0, value.rounded())))
            }
        }
        let clamped = [max(0, box[0]).rounded(.down), max(0, box[1]).rounded(.down),
                       min(Double(n), box[2]).rounded(.up), min(Double(n), box[3]).rounded(.up)]
        return (frames, clamped)
    }
}
