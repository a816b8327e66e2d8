// Shards: a synthetic fingerspelling-like data set of still images — one folder of PNG (or JPEG) files per class, the
// layout of Kaggle's ASL Alphabet that `asl-shards build images` reads — so that one-frame (T=1) models can be
// trained and tried with no download.
//
// Each class is one hand shape: a palm on a forearm, each of the four fingers extended or folded (together or
// spread), the thumb folded across the palm, out to the side or up, and the whole hand upright or turned. Each image
// draws it at its own position, size, tilt (±15°), skin tone, lighting and exposure over its own background (flat,
// gradient, stripes or checks) with pixel noise, so that a model has to learn the shape, not a pixel. Every draw comes
// from `SeededRandom` keyed by (seed, purpose, class, image), so the files depend only on the options.
import Foundation
import Support

/// The file format of the still images.
public enum StillImageFormat: String, CaseIterable, Sendable {
    case png, jpg
}

public struct StillSynthOptions: Sendable {
    public var classes: Int
    public var imagesPerClass: Int
    /// Image width and height in pixels.
    public var size: Int
    public var seed: UInt64
    public var format: StillImageFormat
    /// Standard deviation of the per-pixel noise, in grey levels.
    public var noise: Double

    public init(classes: Int = 8, imagesPerClass: Int = 40, size: Int = 64, seed: UInt64 = 0,
                format: StillImageFormat = .png, noise: Double = 6) {
        self.classes = classes; self.imagesPerClass = imagesPerClass; self.size = size; self.seed = seed
        self.format = format; self.noise = noise
    }

    /// Checks ranges; throws `ShardSourceError` naming the option.
    public func validate() throws {
        func bad(_ option: String, _ hint: String) -> ShardSourceError { ShardSourceError(path: option, reason: "out of range", hint: hint) }
        guard (2...SyntheticStills.maxClasses).contains(classes) else {
            throw bad("--classes \(classes)", "2 to \(SyntheticStills.maxClasses) with --static")
        }
        guard imagesPerClass >= 1 else { throw bad("--images-per-class \(imagesPerClass)", "at least 1") }
        guard size >= 16 else { throw bad("--size \(size)", "at least 16") }
        guard noise >= 0 else { throw bad("noise \(noise)", "at least 0") }
    }
}

/// What `SyntheticStills.generate` wrote.
public struct StillSynthSummary: Sendable {
    /// The root of the class folders.
    public var root: String
    /// Class names, in the order of the class indices the options count (folders sort them alphabetically).
    public var classes: [String]
    public var images: Int
    public var format: StillImageFormat
}

public enum SyntheticStills {
    /// How the thumb is held.
    enum Thumb { case folded, out, up }

    /// One class: which fingers are extended (index, middle, ring, little), whether they are spread, the thumb, and
    /// the turn of the whole hand in degrees, counterclockwise from fingers up.
    struct Handshape {
        var name: String
        var description: String
        var fingers: [Bool]
        var spread: Bool
        var thumb: Thumb
        var turn: Double
    }

    /// The classes in index order, named after the fingerspelled letters they loosely resemble. The first eight
    /// differ most (the default and the demo's eight classes).
    static let handshapes: [Handshape] = [
        Handshape(name: "B", description: "four fingers up together, thumb folded", fingers: [true, true, true, true], spread: false, thumb: .folded, turn: 0),
        Handshape(name: "D", description: "index up, thumb folded", fingers: [true, false, false, false], spread: false, thumb: .folded, turn: 0),
        Handshape(name: "L", description: "index up, thumb out", fingers: [true, false, false, false], spread: false, thumb: .out, turn: 0),
        Handshape(name: "V", description: "index and middle up, spread", fingers: [true, true, false, false], spread: true, thumb: .folded, turn: 0),
        Handshape(name: "Y", description: "little finger up, thumb out", fingers: [false, false, false, true], spread: false, thumb: .out, turn: 0),
        Handshape(name: "S", description: "fist, thumb across the fingers", fingers: [false, false, false, false], spread: false, thumb: .folded, turn: 0),
        Handshape(name: "I", description: "little finger up, thumb folded", fingers: [false, false, false, true], spread: false, thumb: .folded, turn: 0),
        Handshape(name: "W", description: "index, middle and ring up, spread", fingers: [true, true, true, false], spread: true, thumb: .folded, turn: 0),
        Handshape(name: "G", description: "index and thumb pointing sideways", fingers: [true, false, false, false], spread: false, thumb: .out, turn: 90),
        Handshape(name: "H", description: "index and middle together, pointing sideways", fingers: [true, true, false, false], spread: false, thumb: .folded, turn: 90),
        Handshape(name: "A", description: "fist, thumb up along its side", fingers: [false, false, false, false], spread: false, thumb: .up, turn: 0),
        Handshape(name: "U", description: "index and middle up together", fingers: [true, true, false, false], spread: false, thumb: .folded, turn: 0),
        Handshape(name: "F", description: "middle, ring and little finger up, spread", fingers: [false, true, true, true], spread: true, thumb: .folded, turn: 0),
        Handshape(name: "Q", description: "index and thumb pointing down", fingers: [true, false, false, false], spread: false, thumb: .out, turn: 200),
    ]

    public static var maxClasses: Int { handshapes.count }
    /// The record of what was drawn, at the root of the output (beside the class folders, which `build images` reads).
    public static let recordFileName = "synth.json"

    /// The name (and folder) of class `c`.
    public static func className(_ c: Int) -> String { handshapes[c].name }

    /// What `synth.json` holds: the options and each class's hand shape in words.
    struct Record: Codable {
        struct Class: Codable { var name: String; var description: String }
        var format = "asl-synth-static"
        var classes: [Class]
        var images_per_class: Int
        var size: Int
        var seed: UInt64
        var image_format: String
    }

    /// Refuses an `--out` that is a file, or a non-empty directory that is not an earlier output (which has
    /// `synth.json`): the output replaces the directory as a whole.
    public static func checkOutput(_ out: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out, isDirectory: &isDir) else { return }
        guard isDir.boolValue else { throw ShardSourceError(path: out, reason: "--out is a file", hint: "choose a directory path") }
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        guard contents.isEmpty || contents.contains(recordFileName) else {
            throw ShardSourceError(path: out, reason: "--out is a non-empty directory without \(recordFileName)",
                                   hint: "synth --static replaces the whole directory; choose an empty or new one")
        }
    }

    /// Writes `directory/<class>/<class>_<i:04d>.<png|jpg>` for every class and image, and `directory/synth.json`.
    /// The tree is drawn in a hidden sibling directory that replaces `directory` only when complete, so an earlier
    /// output with other classes leaves no folder behind. `progress(done, total)` is called after each image.
    public static func generate(into directory: String, options: StillSynthOptions,
                                progress: ((Int, Int) -> Void)? = nil) throws -> StillSynthSummary {
        try options.validate()
        try checkOutput(directory)
        let out = (directory as NSString).standardizingPath
        var parent = (out as NSString).deletingLastPathComponent
        if parent.isEmpty { parent = "." }
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw ShardSourceError(path: parent, reason: "cannot create the parent directory: \(error.localizedDescription)", hint: "check --out")
        }
        let hiddenPrefix = ".\((out as NSString).lastPathComponent).tmp-"
        // A run that was killed leaves its temporary directory behind; it can never complete, so remove it.
        for name in (try? fm.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(hiddenPrefix) {
            try? fm.removeItem(atPath: (parent as NSString).appendingPathComponent(name))
        }
        let tmp = (parent as NSString).appendingPathComponent(hiddenPrefix + "\(getpid())")
        var committed = false
        defer { if !committed { try? fm.removeItem(atPath: tmp) } }

        let names = (0..<options.classes).map(className)
        let total = options.classes * options.imagesPerClass
        for c in 0..<options.classes {
            let folder = (tmp as NSString).appendingPathComponent(names[c])
            do { try fm.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw ShardSourceError(path: folder, reason: "cannot create the class folder: \(error.localizedDescription)", hint: "check --out")
            }
            for i in 0..<options.imagesPerClass {
                let rgb = render(classIndex: c, image: i, options: options)
                let file = (folder as NSString).appendingPathComponent("\(names[c])_\(String(format: "%04d", i)).\(options.format.rawValue)")
                try ImageOps.writeRGB(rgb, width: options.size, height: options.size, to: file)
                progress?(c * options.imagesPerClass + i + 1, total)
            }
        }
        let record = Record(classes: (0..<options.classes).map { Record.Class(name: names[$0], description: handshapes[$0].description) },
                            images_per_class: options.imagesPerClass, size: options.size, seed: options.seed,
                            image_format: options.format.rawValue)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(record), to: (tmp as NSString).appendingPathComponent(recordFileName))
        try AtomicFile.commitDirectory(temporary: tmp, to: out)
        committed = true
        return StillSynthSummary(root: out, classes: names, images: total, format: options.format)
    }

    /// Where and how big one image draws its hand: `unit` pixels per hand unit (the palm is about 1 unit wide),
    /// `angle` radians counterclockwise, and the image point (`x`, `y`) that the middle of the hand lands on.
    struct Pose {
        var unit: Double
        var angle: Double
        var x: Double
        var y: Double

        /// The point of the hand frame (palm centre at the origin, fingers towards +y, in units) seen at pixel
        /// position (px, py) of the image (y down).
        func handPoint(_ px: Double, _ py: Double) -> (Double, Double) {
            let dx = (px - x) / unit, dy = -(py - y) / unit
            let c = cos(angle), s = sin(angle)
            // Undo the turn, then move from the middle of the hand (0, 0.35) to the palm centre.
            return (dx * c + dy * s, -dx * s + dy * c + 0.35)
        }
    }

    /// Whether (x, y) lies within `r` of the segment from (ax, ay) to (bx, by).
    static func inCapsule(_ x: Double, _ y: Double, _ ax: Double, _ ay: Double, _ bx: Double, _ by: Double, _ r: Double) -> Bool {
        let vx = bx - ax, vy = by - ay, wx = x - ax, wy = y - ay
        let t = max(0, min(1, (wx * vx + wy * vy) / (vx * vx + vy * vy)))
        let ex = wx - t * vx, ey = wy - t * vy
        return ex * ex + ey * ey <= r * r
    }

    /// The shade (1 = lit skin) of hand shape `h` at (x, y) in hand units, or nil outside the hand. Folded parts are
    /// darker, so that a folded thumb or knuckles show on the palm as they do on a real hand.
    static func shade(_ h: Handshape, _ x: Double, _ y: Double) -> Double? {
        guard x * x + y * y < 9 else { return nil }  // nothing reaches 3 units from the palm centre
        var result: Double? = nil
        if inCapsule(x, y, 0, -0.3, 0, -2.9, 0.3) { result = 0.9 }                          // forearm
        if (x / 0.48) * (x / 0.48) + (y / 0.55) * (y / 0.55) <= 1 { result = 1 }            // palm
        let lengths = [0.95, 1.05, 0.97, 0.85]
        for (k, extended) in h.fingers.enumerated() {
            let bx = -0.33 + 0.22 * Double(k), by = 0.4
            if extended {
                // Spread fingers fan out by 12° each; together they touch.
                let a = (90 + (1.5 - Double(k)) * (h.spread ? 12 : 2)) * Double.pi / 180
                if inCapsule(x, y, bx, by, bx + lengths[k] * cos(a), by + lengths[k] * sin(a), 0.11) { result = 1 }
            } else if inCapsule(x, y, bx, by, bx, by + 0.1, 0.1) {
                result = 0.85                                                                 // knuckle
            }
        }
        switch h.thumb {
        case .out:
            let a = 150 * Double.pi / 180
            if inCapsule(x, y, -0.38, -0.05, -0.38 + 0.7 * cos(a), -0.05 + 0.7 * sin(a), 0.12) { result = 1 }
        case .up:
            if inCapsule(x, y, -0.52, -0.15, -0.56, 0.75, 0.13) { result = 0.95 }
        case .folded:
            if inCapsule(x, y, -0.4, -0.2, 0.12, 0.05, 0.11) { result = 0.8 }
        }
        return result
    }

    /// Whether each pixel of a `size`×`size` image is covered by class `c`'s hand in its plain pose (centred,
    /// upright but for the class's turn, 0.25 × size pixels per unit): the shape itself, without any per-image
    /// variation. Row-major, `size * size` entries.
    public static func silhouette(classIndex c: Int, size n: Int) -> [Bool] {
        let pose = Pose(unit: Double(n) * 0.25, angle: handshapes[c].turn * Double.pi / 180, x: Double(n) / 2, y: Double(n) / 2)
        var mask = [Bool](repeating: false, count: n * n)
        for y in 0..<n {
            for x in 0..<n {
                let (hx, hy) = pose.handPoint(Double(x) + 0.5, Double(y) + 0.5)
                mask[y * n + x] = shade(handshapes[c], hx, hy) != nil
            }
        }
        return mask
    }

    /// Draws image `i` of class `c`: RGB `[size, size, 3]`.
    public static func render(classIndex c: Int, image i: Int, options: StillSynthOptions) -> [UInt8] {
        let n = options.size, h = handshapes[c]
        var r = SeededRandom(keys: options.seed, 3, UInt64(c), UInt64(i))
        func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * r.nextDouble() }
        let pose = Pose(unit: Double(n) * 0.25 * uniform(0.85, 1.15), angle: (h.turn + uniform(-15, 15)) * Double.pi / 180,
                        x: Double(n) * uniform(0.45, 0.55), y: Double(n) * uniform(0.45, 0.55))

        let tones: [(Double, Double, Double)] = [(233, 196, 168), (198, 150, 112), (141, 93, 62), (92, 60, 40), (250, 215, 190)]
        let tone = tones[Int(r.next() % UInt64(tones.count))]
        let skin = [tone.0, tone.1, tone.2].map { min(255, max(0, $0 + uniform(-15, 15))) }
        var background = (0..<3).map { _ in uniform(30, 225) }
        // Keep the hand visible: a background as bright as the skin is pushed darker or lighter.
        func luma(_ v: [Double]) -> Double { 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2] }
        if abs(luma(skin) - luma(background)) < 45 {
            background = luma(skin) > 128 ? background.map { $0 * 0.4 } : background.map { 255 - (255 - $0) * 0.4 }
        }
        let texture = Int(r.next() % 4)
        let period = Double(Int(uniform(5, 13))), amplitude = uniform(8, 22)
        let lightAngle = uniform(0, 2 * Double.pi), exposure = uniform(0.75, 1.2)
        let light = (cos(lightAngle) * 0.1, sin(lightAngle) * 0.1)

        // 2×2 samples per pixel smooth the hand's edges as a camera's optics would.
        let offsets = [0.25, 0.75]
        var image = [UInt8](repeating: 0, count: n * n * 3)
        for y in 0..<n {
            for x in 0..<n {
                let tex: Double
                switch texture {
                case 1: tex = (Double(y) / Double(n) - 0.5) * 2 * amplitude                           // gradient
                case 2: tex = (Int(Double(y) / period) % 2 == 0 ? amplitude : -amplitude) / 2        // stripes
                case 3: tex = ((Int(Double(x) / period) + Int(Double(y) / period)) % 2 == 0 ? amplitude : -amplitude) / 2 // checks
                default: tex = 0                                                                      // flat
                }
                var sum = [0.0, 0.0, 0.0]
                for oy in offsets {
                    for ox in offsets {
                        let (hx, hy) = pose.handPoint(Double(x) + ox, Double(y) + oy)
                        if let s = shade(h, hx, hy) {
                            let lit = s * (1 + light.0 * hx + light.1 * hy)
                            for k in 0..<3 { sum[k] += skin[k] * lit }
                        } else {
                            for k in 0..<3 { sum[k] += background[k] + tex }
                        }
                    }
                }
                for k in 0..<3 {
                    let value = sum[k] / 4 * exposure + options.noise * r.nextGaussian()
                    image[(y * n + x) * 3 + k] = UInt8(min(255, max(0, value.rounded())))
                }
            }
        }
        return image
    }
}
