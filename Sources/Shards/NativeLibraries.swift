// Shards: versions of the native libraries the shard builder and loader are linked against.
import CFFmpeg
import CHDF5
import CVBridge

public enum NativeLibraries {
    /// HDF5's run-time version, e.g. "1.10.8".
    public static var hdf5Version: String {
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        let status = HDF5Lock.with { H5get_libversion(&major, &minor, &release) }
        guard status >= 0 else { return "unknown" }
        return "\(major).\(minor).\(release)"
    }

    /// FFmpeg's release and the versions of each library used, e.g.
    /// "5.1.6 (libavformat 59.27.100, libavcodec 59.37.100, libswscale 6.7.100, libavutil 57.28.100)".
    public static var ffmpegVersion: String {
        func v(_ x: UInt32) -> String { "\(x >> 16).\((x >> 8) & 0xFF).\(x & 0xFF)" }
        let release = String(cString: av_version_info())
        return "\(release) (libavformat \(v(avformat_version())), libavcodec \(v(avcodec_version())), "
            + "libswscale \(v(swscale_version())), libavutil \(v(avutil_version())))"
    }

    /// OpenCV's run-time version, e.g. "4.6.0".
    public static var openCVVersion: String { String(cString: cvbridge_version()) }
}

/// FFmpeg's own console log. Every failure the builders care about is returned as a code and reported with its
/// file and `av_strerror` text (or recorded as a skipped input), so FFmpeg's per-frame chatter (libx264's
/// statistics, warnings about damaged packets) is turned off once per process.
enum FFmpegLog {
    static let quiet: Void = { av_log_set_level(AV_LOG_FATAL) }()
}
