// CVBridge: the extern "C" face of the few OpenCV calls this project uses, so that Swift can call them.
//
// Images are interleaved 8-bit RGB, row-major, `height * width * 3` bytes, no row padding. Every function that can
// fail returns an int: 0 (or a documented positive value) on success, a negative CVBRIDGE_E_* code on failure.
#ifndef CVBRIDGE_H
#define CVBRIDGE_H
#include <stddef.h>
#include <stdint.h>
#include "CVBridgePlot.h"
#include "CVBridgeCamera.h"
#ifdef __cplusplus
extern "C" {
#endif

/// A size or pointer argument is invalid (non-positive size, NULL buffer).
#define CVBRIDGE_E_ARGUMENT (-1)
/// OpenCV threw an exception (its message is lost at the C boundary).
#define CVBRIDGE_E_OPENCV (-2)
/// cv::imread could not read or decode the file.
#define CVBRIDGE_E_READ (-3)
/// cv::imencode has no encoder for the extension, or the encoder failed.
#define CVBRIDGE_E_ENCODE (-4)

/// The OpenCV version this binary is linked against, e.g. "4.6.0". Static storage; do not free.
const char *cvbridge_version(void);

/// Resizes `src` [src_h, src_w, 3] into `dst` [dst_h, dst_w, 3] with cv::resize(INTER_AREA): each output pixel is
/// the area-weighted mean of the source pixels it covers (when shrinking), rounded to the nearest integer.
int cvbridge_resize_area(const uint8_t *src, int src_h, int src_w, uint8_t *dst, int dst_h, int dst_w);

/// Crops the square [x0, x0+side) × [y0, y0+side) of `src` [src_h, src_w, 3] — parts outside the frame are black —
/// and resizes it to `dst` [size, size, 3] with INTER_AREA.
int cvbridge_crop_resize_area(const uint8_t *src, int src_h, int src_w, int x0, int y0, int side,
                              uint8_t *dst, int size);

/// Reads an image file (any format cv::imread knows: PNG, JPEG, BMP, …) as RGB. On success `*pixels` holds
/// `*height * *width * 3` bytes allocated with malloc, to be released with cvbridge_free. Returns CVBRIDGE_E_READ when
/// the file is missing, unreadable or not an image.
int cvbridge_imread_rgb(const char *path, uint8_t **pixels, int *height, int *width);

/// Encodes `rgb` [height, width, 3] as an image file's bytes with cv::imencode, the format chosen by `extension`
/// (".png", ".jpg", …; JPEG at `jpeg_quality` 0-100). On success `*bytes` holds `*count` bytes allocated with malloc,
/// to be released with cvbridge_free. Encoding to memory, not cv::imwrite, lets the caller write the file atomically
/// (OpenCV picks the encoder from the file name, which a temporary name would hide). Returns CVBRIDGE_E_ENCODE when
/// OpenCV has no encoder for `extension` or the encoder fails.
int cvbridge_imencode_rgb(const char *extension, const uint8_t *rgb, int height, int width, int jpeg_quality,
                          uint8_t **bytes, size_t *count);

/// Releases a buffer returned by cvbridge_imread_rgb or cvbridge_imencode_rgb.
void cvbridge_free(void *pointer);

/// One step of motion accumulation over a clip. `rgb` is the next frame [h, w, 3]; `previous_grey` [h, w] holds the
/// previous frame in grey and is overwritten with this one; `accumulator` [h, w] float gets |grey - previous|
/// added. With `is_first` != 0 only `previous_grey` is written (there is no previous frame yet).
int cvbridge_motion_accumulate(const uint8_t *rgb, int h, int w, uint8_t *previous_grey, float *accumulator,
                               int is_first);

/// The bounding box of the significant motion in `accumulator` [h, w] after `pairs` accumulation steps: pixels
/// whose mean absolute difference per frame pair exceeds `threshold` grey levels, opened (3×3, removes speckle),
/// closed (a kernel of about 1/16 of the frame, joins a hand with its arm), then the union of the bounding
/// rectangles of the regions larger than `min_area_fraction` of the frame. Writes x0, y0, x1, y1 (x1, y1
/// exclusive) to `box` and returns 1, or returns 0 when nothing moves.
int cvbridge_motion_box(const float *accumulator, int h, int w, int pairs, float threshold, float min_area_fraction,
                        int32_t box[4]);

#ifdef __cplusplus
}
#endif
#endif
