// CMPI: the Open MPI C API as Swift sees it.
//
// Open MPI defines its handles and sentinels as macros that expand to casts of addresses of global objects
// (`#define MPI_COMM_WORLD OMPI_PREDEFINED_GLOBAL(MPI_Comm, ompi_mpi_comm_world)`). Swift imports no macro that
// is not a plain literal, so each one the Distributed module uses is wrapped here in a static inline function.
// These wrappers could go if Swift learned to import such macros.
#ifndef CMPI_SHIM_H
#define CMPI_SHIM_H
#include <mpi.h>

// The world communicator: every rank of the job.
static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
// The null communicator, returned by MPI_Comm_split_type on failure paths.
static inline MPI_Comm cmpi_comm_null(void) { return MPI_COMM_NULL; }
// Element types for the four buffer kinds the communicator supports.
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype cmpi_int64(void) { return MPI_INT64_T; }
// bfloat16 values travel as their 16 bits, summed by a user-defined operator (MPI has no bfloat16 type).
static inline MPI_Datatype cmpi_uint16(void) { return MPI_UINT16_T; }
// Reduction operators.
static inline MPI_Op cmpi_op_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_op_min(void) { return MPI_MIN; }
static inline MPI_Op cmpi_op_max(void) { return MPI_MAX; }
// The null operator handle, before a user-defined one is created.
static inline MPI_Op cmpi_op_null(void) { return MPI_OP_NULL; }
// In-place allreduce sentinel (a cast pointer constant, so not importable as a literal).
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
// MPI_Info "no hints" handle for MPI_Comm_split_type.
static inline MPI_Info cmpi_info_null(void) { return MPI_INFO_NULL; }
// Null request handle: what MPI_Test leaves behind when a request completes.
static inline MPI_Request cmpi_request_null(void) { return MPI_REQUEST_NULL; }
// Status out-parameters we never read.
static inline MPI_Status *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
// Error handler that makes MPI calls return codes instead of aborting, so each failure becomes a typed error.
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
// Buffer length for MPI_Error_string and MPI_Get_library_version.
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int cmpi_max_library_version_string(void) { return MPI_MAX_LIBRARY_VERSION_STRING; }
#endif
