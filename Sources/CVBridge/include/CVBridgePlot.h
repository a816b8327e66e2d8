// CVBridgePlot: the extern "C" face of the OpenCV drawing used for reports (confusion-matrix heat maps).
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

#ifdef __cplusplus
}
#endif
#endif
