// CFFmpeg: libavformat, libavcodec, libswscale and libavutil as Swift sees them.
//
// FFmpeg's error codes are function-like macros (`AVERROR(EAGAIN)`, `AVERROR_EOF` built from FFERRTAG) and
// its "no timestamp" marker is a cast constant; Swift imports none of them, so each one used is wrapped here.
#ifndef CFFMPEG_SHIM_H
#define CFFMPEG_SHIM_H
#include <errno.h>
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

// "Try again": the decoder needs more input, or the encoder needs more frames.
static inline int cffmpeg_error_eagain(void) { return AVERROR(EAGAIN); }
// End of stream.
static inline int cffmpeg_error_eof(void) { return AVERROR_EOF; }
// Timestamp unknown.
static inline int64_t cffmpeg_nopts_value(void) { return AV_NOPTS_VALUE; }
// Error text for a return code: av_err2str is a macro around a compound literal.
static inline void cffmpeg_error_string(int code, char *buffer, size_t size) { av_strerror(code, buffer, size); }
#endif
