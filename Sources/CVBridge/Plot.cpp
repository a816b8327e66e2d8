// CVBridgePlot: confusion-matrix heat maps and per-epoch training curves drawn with OpenCV (see
// include/CVBridgePlot.h).
#include "CVBridgePlot.h"
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

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

namespace {

cv::Scalar fromRGB(unsigned int rgb) { return cv::Scalar(rgb & 0xff, (rgb >> 8) & 0xff, (rgb >> 16) & 0xff); }

/// A tick step of 1, 2 or 5 × 10^k that cuts `span` (> 0) into about `count` intervals.
double niceStep(double span, int count) {
    const double raw = span / count;
    const double power = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / power;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

/// A tick value with as many decimals as its step needs.
std::string tickText(double value, double step) {
    const int decimals = step >= 1 ? 0 : std::min(6, int(std::ceil(-std::log10(step) - 1e-9)));
    char text[48];
    std::snprintf(text, sizeof text, "%.*f", decimals, std::abs(value) < step * 1e-6 ? 0.0 : value);
    return text;
}

/// Writes `text` turned 90° counter-clockwise (read bottom to top), centred vertically on `centreY`, its left edge
/// at `x`.
void putVerticalText(cv::Mat &image, const std::string &text, int x, int centreY, double scale) {
    int base = 0;
    const cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base);
    cv::Mat strip(size.height + base + 4, size.width + 4, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::putText(strip, text, cv::Point(2, size.height + 2), cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
    cv::Mat turned;
    cv::rotate(strip, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
    const cv::Rect where = cv::Rect(x, centreY - turned.rows / 2, turned.cols, turned.rows) &
                           cv::Rect(0, 0, image.cols, image.rows);
    if (where.area() > 0) turned(cv::Rect(where.x - x, where.y - (centreY - turned.rows / 2), where.width,
                                          where.height)).copyTo(image(where));
}

}  // namespace

int cvbridge_write_curves(const double *epochs, int n, const cvbridge_curve *curves, int curve_count,
                          const cvbridge_panel *panels, int panel_count, const cvbridge_marker *markers,
                          int marker_count, const char *title, int width, int height, const char *path, char *message,
                          int message_size) {
    if (message != nullptr && message_size > 0) message[0] = '\0';
    if (epochs == nullptr || path == nullptr || panels == nullptr || n < 1 || panel_count < 1 || curve_count < 0 ||
        marker_count < 0 || (curve_count > 0 && curves == nullptr) || (marker_count > 0 && markers == nullptr))
        return -2;
    for (int i = 0; i < n; ++i)
        if (!std::isfinite(epochs[i]) || (i > 0 && epochs[i] <= epochs[i - 1])) return -2;
    for (int c = 0; c < curve_count; ++c)
        if (curves[c].values == nullptr || curves[c].panel < 0 || curves[c].panel >= panel_count) return -2;
    for (int m = 0; m < marker_count; ++m)
        if (!std::isfinite(markers[m].epoch)) return -2;
    const int panelWidth = width / panel_count;
    if (panelWidth < 240 || height < 240) return -2;
    try {
        const int font = cv::FONT_HERSHEY_SIMPLEX;
        const cv::Scalar black(0, 0, 0), grid(225, 225, 225);
        cv::Mat image(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
        const int top0 = title != nullptr ? 36 : 8;
        if (title != nullptr) cv::putText(image, title, cv::Point(10, 24), font, 0.6, black, 1, cv::LINE_AA);

        // The epoch axis, shared by the panels: half an epoch of room on each side, so that one epoch has width.
        double xLow = epochs[0], xHigh = epochs[n - 1];
        for (int m = 0; m < marker_count; ++m) {
            xLow = std::min(xLow, markers[m].epoch);
            xHigh = std::max(xHigh, markers[m].epoch);
        }
        xLow -= 0.5;
        xHigh += 0.5;
        const double xStep = std::max(1.0, niceStep(xHigh - xLow, 10));

        for (int p = 0; p < panel_count; ++p) {
            const int x0 = p * panelWidth;
            const int left = x0 + 78, right = x0 + panelWidth - 24, top = top0 + 28;

            // Legend rows (swatch and name per curve, wrapped to the plot's width) decide where the plot ends.
            struct Item { const cvbridge_curve *curve; int x, row; };
            std::vector<Item> legend;
            int lx = left, rows = 1;
            for (int c = 0; c < curve_count; ++c) {
                if (curves[c].panel != p) continue;
                int base = 0;
                const char *name = curves[c].name != nullptr ? curves[c].name : "";
                const int itemWidth = 34 + cv::getTextSize(name, font, 0.45, 1, &base).width + 18;
                if (lx > left && lx + itemWidth > right) { lx = left; ++rows; }
                legend.push_back({&curves[c], lx, rows});
                lx += itemWidth;
            }
            const int bottom = height - 52 - 20 * rows;
            if (bottom - top < 60) return -2;
            const auto px = [&](double x) {
                return int(std::lround(left + (x - xLow) / (xHigh - xLow) * (right - left)));
            };

            // The y axis: from 0 (or the lowest value) to y_max, or to the rounded-up largest value.
            double yLow = 0, yHigh = panels[p].y_max;
            double largest = -INFINITY;
            for (int c = 0; c < curve_count; ++c) {
                if (curves[c].panel != p) continue;
                for (int i = 0; i < n; ++i) {
                    const double v = curves[c].values[i];
                    if (!std::isfinite(v)) continue;
                    yLow = std::min(yLow, v);
                    largest = std::max(largest, v);
                }
            }
            // An axis of its own data leaves room above the highest value for the marker labels.
            if (!(yHigh > 0))
                yHigh = std::isfinite(largest) && largest > yLow ? largest + 0.12 * (largest - yLow) : yLow + 1;
            const double yStep = niceStep(yHigh - yLow, 5);
            yLow = std::floor(yLow / yStep + 1e-9) * yStep;
            yHigh = std::ceil(yHigh / yStep - 1e-9) * yStep;
            const auto py = [&](double y) {
                const double t = (std::clamp(y, yLow, yHigh) - yLow) / (yHigh - yLow);
                return int(std::lround(bottom - t * (bottom - top)));
            };

            if (panels[p].title != nullptr)
                cv::putText(image, panels[p].title, cv::Point(left, top - 10), font, 0.55, black, 1, cv::LINE_AA);
            for (int k = 0; yLow + k * yStep <= yHigh + yStep * 1e-6; ++k) {
                const double y = yLow + k * yStep;
                cv::line(image, cv::Point(left, py(y)), cv::Point(right, py(y)), grid, 1);
                const std::string text = tickText(y, yStep);
                int base = 0;
                const int w = cv::getTextSize(text, font, 0.4, 1, &base).width;
                cv::putText(image, text, cv::Point(left - 6 - w, py(y) + 5), font, 0.4, black, 1, cv::LINE_AA);
            }
            for (int k = int(std::ceil(xLow / xStep)); k * xStep <= xHigh; ++k) {
                const double x = k * xStep;
                cv::line(image, cv::Point(px(x), bottom), cv::Point(px(x), bottom + 5), black, 1);
                const std::string text = tickText(x, 1);
                int base = 0;
                const int w = cv::getTextSize(text, font, 0.4, 1, &base).width;
                cv::putText(image, text, cv::Point(px(x) - w / 2, bottom + 20), font, 0.4, black, 1, cv::LINE_AA);
            }
            {
                int base = 0;
                const int w = cv::getTextSize("epoch", font, 0.45, 1, &base).width;
                cv::putText(image, "epoch", cv::Point((left + right - w) / 2, bottom + 40), font, 0.45, black, 1,
                            cv::LINE_AA);
            }
            if (panels[p].y_label != nullptr)
                putVerticalText(image, panels[p].y_label, x0 + 6, (top + bottom) / 2, 0.45);

            const int dot = n <= 30 ? 4 : 2;  // smaller dots where many epochs would merge them into a band
            // Markers under the curves; markers at one epoch side by side, so that each stays visible.
            std::vector<int> markerX(marker_count);
            for (int m = 0; m < marker_count; ++m) {
                markerX[m] = px(markers[m].epoch);
                for (int earlier = 0; earlier < m; ++earlier)
                    if (markers[earlier].epoch == markers[m].epoch) markerX[m] += 4;
                const cv::Scalar colour = fromRGB(markers[m].rgb);
                for (int y = top; y < bottom; y += 10)
                    cv::line(image, cv::Point(markerX[m], y), cv::Point(markerX[m], std::min(y + 6, bottom)), colour,
                             2);
            }
            for (int c = 0; c < curve_count; ++c) {
                if (curves[c].panel != p) continue;
                const cv::Scalar colour = fromRGB(curves[c].rgb);
                const double *v = curves[c].values;
                for (int i = 0; i < n; ++i) {
                    if (!std::isfinite(v[i])) continue;
                    const cv::Point at(px(epochs[i]), py(v[i]));
                    if (i + 1 < n && std::isfinite(v[i + 1]))
                        cv::line(image, at, cv::Point(px(epochs[i + 1]), py(v[i + 1])), colour, 2, cv::LINE_AA);
                    cv::circle(image, at, dot, colour, cv::FILLED, cv::LINE_AA);
                }
            }
            // Marker labels over everything, one row each, on white so that a curve passing behind leaves them
            // legible.
            for (int m = 0; m < marker_count; ++m) {
                if (markers[m].label == nullptr) continue;
                int base = 0;
                const cv::Size size = cv::getTextSize(markers[m].label, font, 0.42, 1, &base);
                const int x = markerX[m] + 5 + size.width <= right ? markerX[m] + 5 : markerX[m] - 5 - size.width;
                const int y = top + 16 + 16 * m;
                cv::rectangle(image, cv::Rect(x - 2, y - size.height - 2, size.width + 4, size.height + base + 3),
                              cv::Scalar(255, 255, 255), cv::FILLED);
                cv::putText(image, markers[m].label, cv::Point(x, y), font, 0.42, fromRGB(markers[m].rgb), 1,
                            cv::LINE_AA);
            }
            cv::rectangle(image, cv::Point(left, top), cv::Point(right, bottom), black, 1);

            for (const Item &item : legend) {
                const int y = bottom + 42 + 20 * item.row;
                const cv::Scalar colour = fromRGB(item.curve->rgb);
                cv::line(image, cv::Point(item.x, y - 4), cv::Point(item.x + 26, y - 4), colour, 3);
                cv::putText(image, item.curve->name != nullptr ? item.curve->name : "", cv::Point(item.x + 32, y),
                            font, 0.45, black, 1, cv::LINE_AA);
            }
        }
        return cv::imwrite(path, image) ? 0 : -1;
    } catch (const std::exception &error) {
        if (message != nullptr && message_size > 0) {
            std::strncpy(message, error.what(), size_t(message_size) - 1);
            message[message_size - 1] = '\0';
        }
        return -3;
    }
}
