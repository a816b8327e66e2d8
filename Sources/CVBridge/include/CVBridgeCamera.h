// CVBridgeCamera: the extern "C" face of OpenCV's webcam capture and preview window, for `asl-predict --camera`.
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
/// permission, no video backend); `*width`/`*height` receive the capture size otherwise.
cvbridge_camera *cvbridge_camera_open(int index, int *width, int *height);

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

/// Closes every window opened by cvbridge_show_frame.
void cvbridge_close_windows(void);

#ifdef __cplusplus
}
#endif
#endif
