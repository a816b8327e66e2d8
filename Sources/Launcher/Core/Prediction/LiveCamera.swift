// Launcher: `asl-predict --camera N`: classifies a webcam's stream live and draws the top-k onto the preview window.
// For desktops with a camera and a display; it cannot run in CI, where it fails with the message below.
import CVBridge
import Foundation
import Inference
import NN
import Shards

struct LiveCamera {
    let predictor: Predictor
    let index: Int
    let topK: Int
    /// Frames are centre-cropped to a square and resized to size × size, as the shard builder stores them.
    let size: Int
    let frameStride: Int
    /// Frames between two classifications (the model is far slower than the camera on a CPU).
    var every = 4

    /// Captures until the stream ends or q / Esc is pressed. The newest `(T - 1) × stride + 1` frames form the clip,
    /// classified with the trainer's evaluation transform (centred window).
    func run() throws {
        var width: Int32 = 0, height: Int32 = 0
        guard let camera = cvbridge_camera_open(Int32(index), &width, &height) else {
            throw PredictError(path: "camera \(index)", "cannot open the camera",
                               hint: "check that the device exists (e.g. /dev/video\(index)), that no other program holds it "
                                   + "and that OpenCV has a video backend (V4L2, AVFoundation)")
        }
        defer { cvbridge_camera_close(camera); cvbridge_close_windows() }
        let transform = predictor.transform(clips: 1, frameStride: frameStride)
        let span = (transform.temporal.frames - 1) * frameStride + 1
        let frameBytes = size * size * 3
        var rgb = [UInt8](repeating: 0, count: max(1, Int(width) * Int(height) * 3))
        var clip: [UInt8] = []  // the newest `span` frames, [F, size, size, 3]
        var lines: [String] = ["collecting frames..."]
        var count = 0
        while true {
            var w: Int32 = 0, h: Int32 = 0
            var rc = cvbridge_camera_read(camera, &rgb, rgb.count, &w, &h)
            if rc == -1 && w > 0 && h > 0 {
                // The device changed its frame size: grow the buffer and read again.
                rgb = [UInt8](repeating: 0, count: Int(w) * Int(h) * 3)
                rc = cvbridge_camera_read(camera, &rgb, rgb.count, &w, &h)
            }
            guard rc >= 0 else { throw PredictError(path: "camera \(index)", "reading a frame failed (CVBridge code \(rc))") }
            guard rc == 1 else { break }
            var square = [UInt8](repeating: 0, count: frameBytes)
            try rgb.withUnsafeBufferPointer { src in
                try square.withUnsafeMutableBufferPointer {
                    try ImageOps.cropResize(src, width: Int(w), height: Int(h),
                                            crop: SquareCrop.centre(frameWidth: Int(w), frameHeight: Int(h)), size: size, into: $0)
                }
            }
            clip.append(contentsOf: square)
            if clip.count > span * frameBytes { clip.removeFirst(clip.count - span * frameBytes) }
            count += 1
            if clip.count == span * frameBytes && count % every == 0 {
                let logits = try predictor.logits(frames: clip, frameCount: span, height: size, width: size, transform: transform)
                lines = predictor.top(topK, of: logits).map { "\($0.name)  \(String(format: "%.2f", $0.probability))" }
            }
            let key = lines.withCStrings { cLines in
                rgb.withUnsafeBufferPointer {
                    cvbridge_show_frame("asl-predict", $0.baseAddress, h, w, cLines, Int32(lines.count), 1)
                }
            }
            guard key != -2 else {
                throw PredictError(path: "camera \(index)", "cannot show the preview window", hint: "is a display available?")
            }
            if key >= 0 && (key & 0xFF == Int32(UInt8(ascii: "q")) || key & 0xFF == 27) { break }
        }
    }
}

private extension Array where Element == String {
    /// Calls `body` with the strings as a C array of NUL-terminated strings, valid for the call only.
    func withCStrings<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer<CChar>($0) }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
