// CZlib: zlib, to inflate deflate-compressed shard chunks outside the process-wide HDF5 lock (HDF5 serial would
// otherwise decompress inside H5Dread, serializing every loader worker). Nothing needs wrapping: zlib's API is
// plain functions.
#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
#include <zlib.h>
#endif
