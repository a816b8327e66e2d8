// CVBridgeCamera: the extern "C" face of OpenCV's webcam capture, preview window and the live overlay's drawing, for
// `asl-predict --live`.
// Frames cross the boundary as interleaved 8-bit RGB [height, width, 3], as everywhere else in CVBridge.
#ifndef CVBRIDGE_CAMERA_H
#define CVBRIDGE_CAMERA_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/// An open camera (a cv::VideoCapture); opaque to callers.
typedef struct cvbridge_camera cvbridge_camera;

/// Opens camera `index` (0 is the system's default). Returns NULL when OpenCV cannot open it (no such device, no
/// permission, no video backend); `*width`/`*height` receive the capture size and `*fps` the rate the device
/// reports (0 when it reports none) otherwise.
cvbridge_camera *cvbridge_camera_open(int index, int *width, int *height, double *fps);

/// Grabs the next frame into `rgb`, which holds `capacity` bytes. Returns 1 on success with `*width`/`*height`
/// set, 0 when the stream ended or the device stopped delivering, CVBRIDGE_E_ARGUMENT (-1) when the frame does not
/// fit in `capacity` (then `*width`/`*height` say what it needs), CVBRIDGE_E_OPENCV (-2) on an OpenCV exception.
int cvbridge_camera_read(cvbridge_camera *camera, uint8_t *rgb, long capacity, int *width, int *height);

/// Releases the device. NULL is allowed.
void cvbridge_camera_close(cvbridge_camera *camera);

/// Shows `rgb` [height, width, 3] in window `title` with `line_count` lines of text drawn at its top left, and
/// waits up to `wait_ms` milliseconds for a key. Returns the key code (-1 for none), or CVBRIDGE_E_OPENCV (-2)
/// when no window can be shown (e.g. no display).
int cvbridge_show_frame(const char *title, const uint8_t *rgb, int height, int width, const char *const *lines,
                        int line_count, int wait_ms);

/// The size of the live overlay's text panel that holds `lines` (one row each) at a frame `frame_height` pixels
/// high: computed once from the widest lines the panel may show, so that it stays put from frame to frame.
/// Returns 0, CVBRIDGE_E_ARGUMENT (-1) for bad arguments, CVBRIDGE_E_OPENCV (-2) on an OpenCV exception.
int cvbridge_overlay_panel_size(int frame_height, const char *const *lines, int line_count, int *panel_width,
                                int *panel_height);

/// Draws the live overlay onto `rgb` [height, width, 3] in place: the panel (0, 0, panel_width, panel_height),
/// clipped to the frame, darkened to half its values and holding `line_count` lines of white text; and, when
/// `box_side` > 0, a green outline along the inside edge of the square (box_x, box_y, box_side), clipped to the
/// frame, height / 160 pixels thick (at least 1). Every other pixel is left untouched.
/// Returns 0, CVBRIDGE_E_ARGUMENT (-1) for bad arguments, CVBRIDGE_E_OPENCV (-2) on an OpenCV exception.
int cvbridge_draw_overlay(uint8_t *rgb, int height, int width, const char *const *lines, int line_count,
                          int panel_width, int panel_height, int box_x, int box_y, int box_side);

/// Closes every window opened by cvbridge_show_frame.
void cvbridge_close_windows(void);

#ifdef __cplusplus
}
#endif
#endif
