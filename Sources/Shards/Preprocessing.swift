// Shards: how a shard set's frames were made from its source videos or images — frame size, hand-crop rule and
// margin, frame stride, frame rate. Recorded in every shard's attributes and in manifest.json, carried by the trainer
// into the weights' metadata, and repeated by `asl-predict` on raw videos so that they are classified exactly as
// their shards would be.
import Foundation

public struct Preprocessing: Codable, Equatable, Sendable {
    /// Stored frames are `size × size` RGB.
    public var size: Int
    /// The crop rule as `asl-shards build --hand-crop` takes it: `bbox`, `motion`, `none` or `boxes:FILE`.
    public var handCrop: String
    /// Fraction of the box's longer edge added on each side before squaring.
    public var margin: Double
    /// Every `stride`-th source frame was kept.
    public var stride: Int
    /// Stored frames per second (source fps / stride); 0 when unknown (images).
    public var fps: Double
    /// For `bbox` crops, the WLASL JSON whose boxes were used (absolute path), so that a raw video it lists can be
    /// cropped as its shard was; nil otherwise.
    public var boxSource: String?
    /// How video frames became RGB crops (`FrameConversion`'s raw value, `asl-shards build --conversion`); nil reads
    /// as `fused`, the default.
    public var conversion: String?

    public init(size: Int, handCrop: String, margin: Double, stride: Int, fps: Double, boxSource: String? = nil,
                conversion: String? = nil) {
        self.size = size; self.handCrop = handCrop; self.margin = margin; self.stride = stride; self.fps = fps
        self.boxSource = boxSource; self.conversion = conversion
    }

    enum CodingKeys: String, CodingKey {
        case size, margin, stride, fps, conversion
        case handCrop = "hand_crop", boxSource = "box_source"
    }

    /// The recorded conversion (fused when unrecorded or unknown to this build).
    public var frameConversion: FrameConversion { conversion.flatMap(FrameConversion.init(rawValue:)) ?? .fused }

    /// The record as one JSON object (keys sorted), as stored in a weights file's metadata under `preprocessing`.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Parses `json`; nil when it is not such a record.
    public init?(json: String) {
        guard let p = try? JSONDecoder().decode(Preprocessing.self, from: Data(json.utf8)) else { return nil }
        self = p
    }
}

extension Preprocessing {
    /// Keep every k-th frame of a source at `sourceFPS` so that its frames come at about the training frames'
    /// `trainingFPS`: k = sourceFPS / trainingFPS rounded, at least 1. Also the note that says so, naming `source`.
    public static func matchingStride(sourceFPS: Double, trainingFPS: Double, source: String) -> (stride: Int, note: String) {
        let keep = max(1, Int((sourceFPS / trainingFPS).rounded()))
        return (keep, String(format: "note: %@ runs at %.4g fps and the training frames at %.4g: keeping every %dth frame",
                             source, sourceFPS, trainingFPS, keep))
    }
}
