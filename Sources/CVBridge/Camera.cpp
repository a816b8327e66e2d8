// CVBridgeCamera: webcam capture (cv::VideoCapture), a preview window (cv::imshow) and the overlay drawing for live
// classification
// (see include/CVBridgeCamera.h). OpenCV exceptions stop here: C callers only see return codes.
#include "CVBridgeCamera.h"
#include <opencv2/core.hpp>
#include <opencv2/highgui.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <algorithm>
#include <cstring>
#include <exception>

struct cvbridge_camera {
    cv::VideoCapture capture;
    cv::Mat bgr;
};

cvbridge_camera *cvbridge_camera_open(int index, int *width, int *height, double *fps) {
    try {
        auto *camera = new cvbridge_camera();
        if (!camera->capture.open(index) || !camera->capture.isOpened()) {
            delete camera;
            return nullptr;
        }
        if (width) *width = (int)camera->capture.get(cv::CAP_PROP_FRAME_WIDTH);
        if (height) *height = (int)camera->capture.get(cv::CAP_PROP_FRAME_HEIGHT);
        if (fps) *fps = camera->capture.get(cv::CAP_PROP_FPS);
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

namespace {
// The overlay's text: font, scale for a frame height, and the height of one row.
const int overlayFont = cv::FONT_HERSHEY_SIMPLEX;
double overlayScale(int frameHeight) { return std::max(0.35, 0.6 * frameHeight / 480.0); }
int overlayRow(double scale, int *baseline) {
    return cv::getTextSize("Ag", overlayFont, scale, 1, baseline).height + *baseline + 6;
}
}  // namespace

int cvbridge_overlay_panel_size(int frame_height, const char *const *lines, int line_count, int *panel_width,
                                int *panel_height) {
    if (frame_height <= 0 || line_count < 0 || (line_count > 0 && lines == nullptr) || panel_width == nullptr ||
        panel_height == nullptr)
        return -1;
    try {
        const double scale = overlayScale(frame_height);
        int baseline = 0, widest = 0;
        const int row = overlayRow(scale, &baseline);
        for (int i = 0; i < line_count; ++i)
            widest = std::max(widest, cv::getTextSize(lines[i], overlayFont, scale, 1, &baseline).width);
        *panel_width = widest + 12;
        *panel_height = row * line_count + 8;
        return 0;
    } catch (const std::exception &) {
        return -2;
    }
}

int cvbridge_draw_overlay(uint8_t *rgb, int height, int width, const char *const *lines, int line_count,
                          int panel_width, int panel_height, int box_x, int box_y, int box_side) {
    if (rgb == nullptr || height <= 0 || width <= 0 || line_count < 0 || (line_count > 0 && lines == nullptr) ||
        panel_width < 0 || panel_height < 0)
        return -1;
    try {
        cv::Mat image(height, width, CV_8UC3, rgb);
        const cv::Rect frame(0, 0, width, height);
        if (box_side > 0) {
            const int thickness = std::max(1, height / 160);
            for (int t = 0; t < thickness && box_side > 2 * t; ++t) {
                const cv::Rect ring(box_x + t, box_y + t, box_side - 2 * t, box_side - 2 * t);
                // cv::rectangle clips to the image; a 1-pixel outline covers exactly the ring's border.
                cv::rectangle(image, ring, cv::Scalar(0, 220, 0), 1, cv::LINE_8);
            }
        }
        const cv::Rect panel = cv::Rect(0, 0, panel_width, panel_height) & frame;
        if (panel.area() == 0) return 0;
        // Half the pixel values under the panel, so that white text reads on any background.
        cv::Mat under = image(panel);
        under *= 0.5;
        const double scale = overlayScale(height);
        int baseline = 0;
        const int row = overlayRow(scale, &baseline);
        for (int i = 0; i < line_count; ++i) {
            const cv::Point at(6, 4 + row * (i + 1) - baseline - 3);
            cv::putText(under, lines[i], at, overlayFont, scale, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
        }
        return 0;
    } catch (const std::exception &) {
        return -2;
    }
}

void cvbridge_close_windows(void) {
    try { cv::destroyAllWindows(); } catch (const std::exception &) {}
}
