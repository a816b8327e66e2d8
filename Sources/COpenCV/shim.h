// COpenCV: carries only the pkg-config flags of OpenCV 4 (include path and libraries) to CVBridge.
//
// OpenCV's API is C++, which Swift does not import here; CVBridge wraps the few calls used behind an extern "C"
// header. This header is deliberately empty so that the module map is valid C.
#ifndef COPENCV_SHIM_H
#define COPENCV_SHIM_H
#endif
