// Shards: one clip after decoding and hand-centric cropping, ready to be appended to a shard.
//
// Frames are interleaved RGB uint8, `[F, H, W, 3]` row-major, exactly as the shard's `frames` dataset stores them.

public struct DecodedClip: Sendable {
    /// `frameCount * height * width * 3` bytes.
    public var frames: [UInt8]
    public var frameCount: Int
    public var height: Int
    public var width: Int
    /// Index into the shard set's class list.
    public var label: Int32
    /// Unique within the data set, e.g. WLASL's `video_id` or a file path relative to the source root.
    public var clipID: String
    /// Signer id, -1 when unknown.
    public var signer: Int32
    /// Crop box in source pixels, x0 y0 x1 y1.
    public var box: (Float, Float, Float, Float)
    /// Frames per second of the source video as its container reports it; 0 for images or when unknown.
    public var sourceFPS: Double

    public init(frames: [UInt8], frameCount: Int, height: Int, width: Int, label: Int32, clipID: String,
                signer: Int32 = -1, box: (Float, Float, Float, Float) = (0, 0, 0, 0), sourceFPS: Double = 0) {
        precondition(frames.count == frameCount * height * width * 3, "frames must be F×H×W×3 bytes")
        self.frames = frames; self.frameCount = frameCount; self.height = height; self.width = width
        self.label = label; self.clipID = clipID; self.signer = signer; self.box = box
        self.sourceFPS = sourceFPS
    }
}
