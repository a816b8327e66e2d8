// COpenBLAS: CBLAS sgemm and OpenBLAS's thread and build queries.
//
// Nothing here is a macro wrapper: CBLAS enums import as they are. The header exists because the Debian
// package puts cblas.h in a per-threading-flavour include directory that pkg-config names.
#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
#include <cblas.h>
#endif
