// CVBridge: extern "C" wrappers over OpenCV (see include/CVBridge.h for the layout of images and the error codes).
// No exception crosses the C boundary: each wrapper catches and returns CVBRIDGE_E_OPENCV.
#include "CVBridge.h"
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

const char *cvbridge_version(void) {
    // cv::getVersionString() reports the library actually loaded, not the headers compiled against.
    static const std::string version = cv::getVersionString();
    return version.c_str();
}

int cvbridge_resize_area(const uint8_t *src, int src_h, int src_w, uint8_t *dst, int dst_h, int dst_w) {
    if (!src || !dst || src_h <= 0 || src_w <= 0 || dst_h <= 0 || dst_w <= 0) return CVBRIDGE_E_ARGUMENT;
    try {
        const cv::Mat in(src_h, src_w, CV_8UC3, const_cast<uint8_t *>(src));
        cv::Mat out(dst_h, dst_w, CV_8UC3, dst);  // writes straight into the caller's buffer
        cv::resize(in, out, out.size(), 0, 0, cv::INTER_AREA);
        return 0;
    } catch (...) {
        return CVBRIDGE_E_OPENCV;
    }
}

int cvbridge_crop_resize_area(const uint8_t *src, int src_h, int src_w, int x0, int y0, int side,
                              uint8_t *dst, int size) {
    if (!src || !dst || src_h <= 0 || src_w <= 0 || side <= 0 || size <= 0) return CVBRIDGE_E_ARGUMENT;
    try {
        const cv::Mat in(src_h, src_w, CV_8UC3, const_cast<uint8_t *>(src));
        cv::Mat out(size, size, CV_8UC3, dst);
        const cv::Rect want(x0, y0, side, side);
        const cv::Rect inside = want & cv::Rect(0, 0, src_w, src_h);
        if (inside == want) {
            cv::resize(in(want), out, out.size(), 0, 0, cv::INTER_AREA);  // no copy: a view of the source
        } else {
            cv::Mat square(side, side, CV_8UC3, cv::Scalar(0, 0, 0));
            if (inside.area() > 0) in(inside).copyTo(square(inside - want.tl()));
            cv::resize(square, out, out.size(), 0, 0, cv::INTER_AREA);
        }
        return 0;
    } catch (...) {
        return CVBRIDGE_E_OPENCV;
    }
}

int cvbridge_imread_rgb(const char *path, uint8_t **pixels, int *height, int *width) {
    if (!path || !pixels || !height || !width) return CVBRIDGE_E_ARGUMENT;
    try {
        cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
        if (bgr.empty()) return CVBRIDGE_E_READ;
        cv::Mat rgb;
        cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
        const size_t bytes = size_t(rgb.rows) * size_t(rgb.cols) * 3;
        uint8_t *buffer = static_cast<uint8_t *>(std::malloc(bytes));
        if (!buffer) return CVBRIDGE_E_ARGUMENT;
        for (int r = 0; r < rgb.rows; ++r) std::memcpy(buffer + size_t(r) * rgb.cols * 3, rgb.ptr(r), size_t(rgb.cols) * 3);
        *pixels = buffer;
        *height = rgb.rows;
        *width = rgb.cols;
        return 0;
    } catch (...) {
        return CVBRIDGE_E_OPENCV;
    }
}

int cvbridge_imencode_rgb(const char *extension, const uint8_t *rgb, int height, int width, int jpeg_quality,
                          uint8_t **bytes, size_t *count) {
    if (!extension || !rgb || !bytes || !count || height <= 0 || width <= 0) return CVBRIDGE_E_ARGUMENT;
    try {
        const cv::Mat in(height, width, CV_8UC3, const_cast<uint8_t *>(rgb));
        cv::Mat bgr;
        cv::cvtColor(in, bgr, cv::COLOR_RGB2BGR);
        std::vector<uchar> encoded;
        const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, std::clamp(jpeg_quality, 0, 100)};
        if (!cv::imencode(extension, bgr, encoded, params) || encoded.empty()) return CVBRIDGE_E_ENCODE;
        uint8_t *buffer = static_cast<uint8_t *>(std::malloc(encoded.size()));
        if (!buffer) return CVBRIDGE_E_ARGUMENT;
        std::memcpy(buffer, encoded.data(), encoded.size());
        *bytes = buffer;
        *count = encoded.size();
        return 0;
    } catch (...) {
        // imencode throws (rather than returning false) for an extension it has no encoder for.
        return CVBRIDGE_E_ENCODE;
    }
}

void cvbridge_free(void *pointer) { std::free(pointer); }

int cvbridge_motion_accumulate(const uint8_t *rgb, int h, int w, uint8_t *previous_grey, float *accumulator,
                               int is_first) {
    if (!rgb || !previous_grey || !accumulator || h <= 0 || w <= 0) return CVBRIDGE_E_ARGUMENT;
    try {
        const cv::Mat in(h, w, CV_8UC3, const_cast<uint8_t *>(rgb));
        cv::Mat previous(h, w, CV_8UC1, previous_grey);
        cv::Mat grey;
        cv::cvtColor(in, grey, cv::COLOR_RGB2GRAY);
        if (!is_first) {
            cv::Mat acc(h, w, CV_32FC1, accumulator);
            cv::Mat diff;
            cv::absdiff(grey, previous, diff);
            cv::accumulate(diff, acc);
        }
        grey.copyTo(previous);
        return 0;
    } catch (...) {
        return CVBRIDGE_E_OPENCV;
    }
}

int cvbridge_motion_box(const float *accumulator, int h, int w, int pairs, float threshold, float min_area_fraction,
                        int32_t box[4]) {
    if (!accumulator || !box || h <= 0 || w <= 0) return CVBRIDGE_E_ARGUMENT;
    if (pairs <= 0) return 0;
    try {
        const cv::Mat acc(h, w, CV_32FC1, const_cast<float *>(accumulator));
        cv::Mat mask;
        cv::threshold(acc, mask, double(threshold) * pairs, 255, cv::THRESH_BINARY);
        mask.convertTo(mask, CV_8UC1);
        cv::morphologyEx(mask, mask, cv::MORPH_OPEN, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(3, 3)));
        const int k = std::max(3, std::min(h, w) / 16) | 1;
        cv::morphologyEx(mask, mask, cv::MORPH_CLOSE, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(k, k)));
        std::vector<std::vector<cv::Point>> contours;
        cv::findContours(mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
        const double minArea = double(min_area_fraction) * h * w;
        cv::Rect all;
        bool found = false;
        for (const auto &c : contours) {
            const cv::Rect r = cv::boundingRect(c);
            if (cv::contourArea(c) < minArea && double(r.area()) < minArea) continue;
            all = found ? (all | r) : r;
            found = true;
        }
        if (!found) return 0;
        box[0] = all.x;
        box[1] = all.y;
        box[2] = all.x + all.width;
        box[3] = all.y + all.height;
        return 1;
    } catch (...) {
        return CVBRIDGE_E_OPENCV;
    }
}
