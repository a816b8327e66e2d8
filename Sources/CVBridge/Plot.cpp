// CVBridgePlot: confusion-matrix heat maps drawn with OpenCV (see include/CVBridgePlot.h).
#include "CVBridgePlot.h"
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <algorithm>
#include <exception>
#include <string>

int cvbridge_write_heatmap(const double *values, const long long *counts, int n, const char *const *labels,
                           const char *title, const char *path) {
    if (values == nullptr || labels == nullptr || path == nullptr || n <= 0) return -2;
    try {
        const int cell = n <= 12 ? 48 : (n <= 40 ? 24 : std::max(4, 960 / n));
        const int font = cv::FONT_HERSHEY_SIMPLEX;
        const double scale = cell >= 48 ? 0.45 : 0.35;
        int labelWidth = 0;
        for (int i = 0; i < n; ++i) {
            int base = 0;
            labelWidth = std::max(labelWidth, cv::getTextSize(labels[i], font, scale, 1, &base).width);
        }
        const int left = labelWidth + 16, top = 40 + labelWidth + 8;
        cv::Mat image(top + n * cell + 40, left + n * cell + 20, CV_8UC3, cv::Scalar(255, 255, 255));

        // Cells: value in [0,1] through the viridis colour map.
        cv::Mat grey(n, n, CV_8UC1);
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j)
                grey.at<unsigned char>(i, j) = (unsigned char)std::clamp(values[i * n + j] * 255.0, 0.0, 255.0);
        cv::Mat coloured, big;
        cv::applyColorMap(grey, coloured, cv::COLORMAP_VIRIDIS);
        cv::resize(coloured, big, cv::Size(n * cell, n * cell), 0, 0, cv::INTER_NEAREST);
        big.copyTo(image(cv::Rect(left, top, n * cell, n * cell)));

        if (counts != nullptr && n <= 40) {
            for (int i = 0; i < n; ++i)
                for (int j = 0; j < n; ++j) {
                    std::string text = std::to_string(counts[i * n + j]);
                    cv::Scalar colour = values[i * n + j] > 0.5 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
                    cv::putText(image, text, cv::Point(left + j * cell + 3, top + i * cell + cell / 2 + 4), font,
                                scale * 0.8, colour, 1, cv::LINE_AA);
                }
        }
        // Row labels (true class) on the left, column labels (predicted class) rotated above.
        for (int i = 0; i < n; ++i) {
            cv::putText(image, labels[i], cv::Point(6, top + i * cell + cell / 2 + 4), font, scale,
                        cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
        }
        cv::Mat header(labelWidth + 8, n * cell, CV_8UC3, cv::Scalar(255, 255, 255));
        cv::Mat rotated;
        cv::rotate(header, rotated, cv::ROTATE_90_CLOCKWISE);
        for (int j = 0; j < n; ++j) {
            cv::putText(rotated, labels[j], cv::Point(4, j * cell + cell / 2 + 4), font, scale, cv::Scalar(0, 0, 0), 1,
                        cv::LINE_AA);
        }
        cv::rotate(rotated, header, cv::ROTATE_90_COUNTERCLOCKWISE);
        header.copyTo(image(cv::Rect(left, 40, n * cell, labelWidth + 8)));
        if (title != nullptr) {
            cv::putText(image, title, cv::Point(6, 26), font, 0.6, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
        }
        cv::putText(image, "rows: true class, columns: predicted", cv::Point(6, image.rows - 14), font, 0.4,
                    cv::Scalar(80, 80, 80), 1, cv::LINE_AA);
        return cv::imwrite(path, image) ? 0 : -1;
    } catch (const std::exception &) {
        return -1;
    }
}
