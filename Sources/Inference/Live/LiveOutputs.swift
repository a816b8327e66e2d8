// Inference: the files a live run writes — the annotated video and the per-classification JSON lines — each into a
// temporary sibling that replaces the target only when the run ends cleanly, so that a failed or interrupted run
// leaves no partial file behind.
import Foundation
import Shards
import Support

/// The annotated video and the records of one live run.
final class LiveOutputs {
    let videoPath: String?
    let recordsPath: String?
    private var encoder: VideoEncoder?
    private var records: FileHandle?
    private var temporaries: [String] = []
    private var committed = false
    private var cropped: [UInt8] = []

    /// Checks that each target's directory is writable by creating its temporary file now, before any frame is read.
    init(video: String?, records: String?) throws {
        videoPath = video; recordsPath = records
        if let video {
            guard VideoEncoder.containerName(forExtensionOf: video) != nil else {
                throw PredictError(path: video, "FFmpeg knows no video container for this file name",
                                   hint: "end --output-video with .mp4, .mkv or .avi")
            }
            try create(AtomicFile.temporaryPath(for: video), for: video)
        }
        if let records {
            let tmp = AtomicFile.temporaryPath(for: records)
            try create(tmp, for: records)
            self.records = FileHandle(forWritingAtPath: tmp)
        }
    }

    private func create(_ tmp: String, for path: String) throws {
        guard FileManager.default.createFile(atPath: tmp, contents: nil) else {
            throw PredictError(path: path, "cannot create a file here", hint: "the directory is missing or not writable")
        }
        temporaries.append(tmp)
    }

    var wantsVideo: Bool { videoPath != nil }

    /// Starts the encoder (on the first frame, once the size is known).
    func openVideo(width: Int, height: Int, fps: Double) throws {
        guard let videoPath else { return }
        let tmp = AtomicFile.temporaryPath(for: videoPath)
        do {
            encoder = try VideoEncoder(path: tmp, width: width, height: height, frameRate: fps, quality: 18,
                                       container: VideoEncoder.containerName(forExtensionOf: videoPath))
        } catch let e as VideoError {
            throw PredictError(e, path: videoPath)
        }
    }

    /// Appends the frame `rgb` [height, width, 3], cut to `encodedSize` from its top left.
    func append(_ rgb: [UInt8], width: Int, height: Int, encodedSize: (width: Int, height: Int)) throws {
        guard let encoder else { return }
        do {
            if encodedSize.width == width && encodedSize.height == height {
                try rgb.withUnsafeBufferPointer { try encoder.append(rgb: $0) }
                return
            }
            cropped.removeAll(keepingCapacity: true)
            for y in 0..<encodedSize.height {
                cropped.append(contentsOf: rgb[(y * width * 3)..<(y * width * 3 + encodedSize.width * 3)])
            }
            try cropped.withUnsafeBufferPointer { try encoder.append(rgb: $0) }
        } catch let e as VideoError {
            throw PredictError(e, path: videoPath ?? "")
        }
    }

    /// Writes one JSON line for `result`: `{"frame", "time", "crop": [x0, y0, side], "top_k": [{"class",
    /// "probability"}], "smoothed_top_k": [...], "recognized", "panel": [x, y, width, height]}` — the window's own
    /// top-k, the overlay's average over the last classifications, and where the overlay's text panel lies.
    func record(_ result: LiveResult, smoothed: [Float], recognized: Bool, panel: [Int], classes: [String], topK: Int) throws {
        guard let records else { return }
        func items(_ p: [Float]) -> [[String: Any]] {
            Predictor.top(topK, probabilities: p, classes: classes).map { ["class": $0.name, "probability": Double($0.probability)] }
        }
        let object: [String: Any] = [
            "frame": result.lastFrame, "time": result.timestamp,
            "crop": [result.crop.x0, result.crop.y0, result.crop.side],
            "top_k": items(result.probabilities), "smoothed_top_k": items(smoothed),
            "recognized": recognized, "panel": panel,
        ]
        var line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        line.append(0x0A)
        do { try records.write(contentsOf: line) } catch {
            throw PredictError(path: recordsPath ?? "", "cannot write: \(error.localizedDescription)", hint: "is the disk full?")
        }
    }

    /// Finishes the video and moves both files into place. Returns the video codec used, if a video was written.
    func commit() throws -> String? {
        var codec: String?
        if let videoPath {
            guard let encoder else {
                throw PredictError(path: videoPath, "the source gave no frame", hint: "nothing to write")
            }
            do { try encoder.finish() } catch let e as VideoError { throw PredictError(e, path: videoPath) }
            self.encoder = nil
            codec = encoder.codecName
            let tmp = AtomicFile.temporaryPath(for: videoPath)
            guard let handle = FileHandle(forUpdatingAtPath: tmp) else {
                throw PredictError(path: videoPath, "cannot reopen \(tmp) to sync it", hint: "was it removed?")
            }
            try handle.synchronize()
            try handle.close()
            try AtomicFile.commit(temporary: tmp, to: videoPath)
        }
        if let recordsPath, let records {
            try records.synchronize()
            try records.close()
            self.records = nil
            try AtomicFile.commit(temporary: AtomicFile.temporaryPath(for: recordsPath), to: recordsPath)
        }
        committed = true
        return codec
    }

    /// Removes the temporary files of a run that did not commit.
    func discard() {
        guard !committed else { return }
        encoder = nil
        try? records?.close()
        records = nil
        for tmp in temporaries { try? FileManager.default.removeItem(atPath: tmp) }
    }
}
