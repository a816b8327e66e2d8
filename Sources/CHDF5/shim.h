// CHDF5: the serial HDF5 C API as Swift sees it.
//
// HDF5's predefined types and property-list classes are macros that expand to a call that opens the library
// plus a global id (`#define H5T_NATIVE_FLOAT (H5OPEN H5T_NATIVE_FLOAT_g)`); Swift imports neither. Each one
// the Shards module uses is wrapped here so that it also runs H5open() first, exactly as the macro does.
#ifndef CHDF5_SHIM_H
#define CHDF5_SHIM_H
#include <hdf5.h>

// Memory types: always the native type matching the Swift element type of the buffer read or written.
static inline hid_t chdf5_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t chdf5_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t chdf5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
// Base type for strings; copied and given a size (or H5T_VARIABLE) and UTF-8 character set before use.
static inline hid_t chdf5_c_s1(void) { return H5T_C_S1; }
// Property-list classes for creating datasets and files.
static inline hid_t chdf5_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t chdf5_file_access(void) { return H5P_FILE_ACCESS; }
// "Default properties" and "all of the dataspace" sentinels.
static inline hid_t chdf5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_s_all(void) { return H5S_ALL; }
// "Variable length" marker for string types.
static inline size_t chdf5_variable(void) { return H5T_VARIABLE; }
// File open/create flags: macros that run H5check()/H5open() before the constant, so Swift cannot import them.
static inline unsigned chdf5_f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_f_acc_rdwr(void) { return H5F_ACC_RDWR; }
// Unlimited dimension size, for datasets that grow as clips are appended.
static inline hsize_t chdf5_unlimited(void) { return H5S_UNLIMITED; }
#endif
