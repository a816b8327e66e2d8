// CVBridgePlot: the extern "C" face of the OpenCV drawing used for reports (confusion-matrix heat maps, training
// curves).
#ifndef CVBRIDGE_PLOT_H
#define CVBRIDGE_PLOT_H
#ifdef __cplusplus
extern "C" {
#endif

/// Draws an n×n matrix (row-major, `values[i*n + j]` = row i, column j, each in [0, 1]) as a heat map with row and
/// column labels and a title, and writes it as an image at `path` (the format follows the extension, e.g. ".png").
/// `counts`, when not NULL, are printed in the cells (n ≤ 40). Returns 0 on success, -1 when the image could not be
/// written, -2 on bad arguments.
int cvbridge_write_heatmap(const double *values, const long long *counts, int n, const char *const *labels,
                           const char *title, const char *path);

/// One line of a curves chart: `values[i]` is its value at `epochs[i]`; a NaN or infinite value leaves a gap (an
/// epoch without that measurement). Drawn in panel `panel` in the colour `rgb` (0xRRGGBB), named `name` in the legend.
typedef struct {
    const char *name;
    const double *values;
    int panel;
    unsigned int rgb;
} cvbridge_curve;

/// One panel of a curves chart: a title above it, the label of its y axis, and the top of that axis (`y_max` ≤ 0: the
/// panel's largest value with room above it for the marker labels, rounded up to a tick). The y axis starts at 0, or
/// lower when a value is negative.
typedef struct {
    const char *title;
    const char *y_label;
    double y_max;
} cvbridge_panel;

/// A dashed vertical line at `epoch` across every panel, labelled `label` at its top, in the colour `rgb` (0xRRGGBB).
/// Markers at the same epoch are drawn a few pixels apart, their labels one row below the other.
typedef struct {
    double epoch;
    const char *label;
    unsigned int rgb;
} cvbridge_marker;

/// Draws per-epoch line charts, `panel_count` panels side by side sharing the x axis (the epoch, ticks at whole
/// epochs), and writes them as a `width` × `height` image at `path` (the format follows the extension, e.g. ".png").
/// `epochs[0..n)` ascend; each curve holds n values. Every finite value is a dot, joined by a line to the next one
/// when that is finite too, so a single epoch still shows. Each panel lists its curves in a legend below its x axis;
/// `title`, when not NULL, heads the image. On failure, `message` (when not NULL) receives up to `message_size` - 1
/// characters of OpenCV's explanation. Returns 0 on success, -1 when the image could not be written, -2 on bad
/// arguments (NULL pointers, n < 1, epochs not ascending, a panel index out of range, an image too small for the
/// panels), -3 when OpenCV failed while drawing or encoding.
int cvbridge_write_curves(const double *epochs, int n, const cvbridge_curve *curves, int curve_count,
                          const cvbridge_panel *panels, int panel_count, const cvbridge_marker *markers,
                          int marker_count, const char *title, int width, int height, const char *path, char *message,
                          int message_size);

#ifdef __cplusplus
}
#endif
#endif
