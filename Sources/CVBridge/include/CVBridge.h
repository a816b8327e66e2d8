// CVBridge: the extern "C" face of the few OpenCV calls this project uses, so that Swift can call them.
//
// Images are interleaved 8-bit RGB, row-major, `height * width * 3` bytes, no row padding.
#ifndef CVBRIDGE_H
#define CVBRIDGE_H
#include <stddef.h>
#include "CVBridgePlot.h"
#ifdef __cplusplus
extern "C" {
#endif

/// The OpenCV version this binary is linked against, e.g. "4.6.0". Static storage; do not free.
const char *cvbridge_version(void);

#ifdef __cplusplus
}
#endif
#endif
