// CVBridgeCamera: webcam capture (cv::VideoCapture) and a preview window (cv::imshow) for live classification
// (see include/CVBridgeCamera.h). OpenCV exceptions stop here: C callers only see return codes.
#include "CVBridgeCamera.h"
#include <opencv2/core.hpp>
#include <opencv2/highgui.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <cstring>
#include <exception>

struct cvbridge_camera {
    cv::VideoCapture capture;
    cv::Mat bgr;
};

cvbridge_camera *cvbridge_camera_open(int index, int *width, int *height) {
    try {
        auto *camera = new cvbridge_camera();
        if (!camera->capture.open(index) || !camera->capture.isOpened()) {
            delete camera;
            return nullptr;
        }
        if (width) *width = (int)camera->capture.get(cv::CAP_PROP_FRAME_WIDTH);
        if (height) *height = (int)camera->capture.get(cv::CAP_PROP_FRAME_HEIGHT);
        return camera;
    } catch (const std::exception &) {
        return nullptr;
    }
}

int cvbridge_camera_read(cvbridge_camera *camera, uint8_t *rgb, long capacity, int *width, int *height) {
    if (camera == nullptr || rgb == nullptr || width == nullptr || height == nullptr) return -1;
    try {
        if (!camera->capture.read(camera->bgr) || camera->bgr.empty()) return 0;
        if (camera->bgr.type() != CV_8UC3) return -2;
        *width = camera->bgr.cols;
        *height = camera->bgr.rows;
        if ((long)camera->bgr.rows * camera->bgr.cols * 3 > capacity) return -1;
        cv::Mat out(camera->bgr.rows, camera->bgr.cols, CV_8UC3, rgb);
        cv::cvtColor(camera->bgr, out, cv::COLOR_BGR2RGB);
        return 1;
    } catch (const std::exception &) {
        return -2;
    }
}

void cvbridge_camera_close(cvbridge_camera *camera) {
    if (camera == nullptr) return;
    try { camera->capture.release(); } catch (const std::exception &) {}
    delete camera;
}

int cvbridge_show_frame(const char *title, const uint8_t *rgb, int height, int width, const char *const *lines,
                        int line_count, int wait_ms) {
    if (title == nullptr || rgb == nullptr || height <= 0 || width <= 0 || (line_count > 0 && lines == nullptr)) return -1;
    try {
        cv::Mat bgr;
        cv::cvtColor(cv::Mat(height, width, CV_8UC3, const_cast<uint8_t *>(rgb)), bgr, cv::COLOR_RGB2BGR);
        const int font = cv::FONT_HERSHEY_SIMPLEX;
        for (int i = 0; i < line_count; ++i) {
            const cv::Point at(10, 28 + 26 * i);
            // A dark outline under white text stays readable on any background.
            cv::putText(bgr, lines[i], at, font, 0.7, cv::Scalar(0, 0, 0), 4, cv::LINE_AA);
            cv::putText(bgr, lines[i], at, font, 0.7, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
        }
        cv::imshow(title, bgr);
        return cv::waitKey(wait_ms < 1 ? 1 : wait_ms);
    } catch (const std::exception &) {
        return -2;
    }
}

void cvbridge_close_windows(void) {
    try { cv::destroyAllWindows(); } catch (const std::exception &) {}
}
