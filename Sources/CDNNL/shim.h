// CDNNL: oneDNN (Debian's libdnnl-dev, no pkg-config file) for bf16 matrix products, and the one OpenMP call that
// sets how many threads its primitives run on.
//
// oneDNN runs its primitives on OpenMP threads. omp.h and the unversioned libgomp.so belong to the compiler (GCC's,
// here) and are on neither the importer's nor the linker's path, so the one OpenMP function needed is looked up in
// the libgomp that libdnnl already loaded.
#ifndef CDNNL_SHIM_H
#define CDNNL_SHIM_H
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>

// Sets the threads the calling thread's next OpenMP parallel regions (and so oneDNN's primitives) use. Returns 0, or
// -1 when no OpenMP runtime is loaded.
static inline int cdnnl_set_omp_threads(int count) {
    static void (*set)(int) = 0;
    if (set == 0) set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (set == 0) return -1;
    set(count);
    return 0;
}
#endif
