// CVBridge: extern "C" wrappers over OpenCV (see include/CVBridge.h for the layout of images).
#include "CVBridge.h"
#include <opencv2/core.hpp>
#include <string>

const char *cvbridge_version(void) {
    // cv::getVersionString() reports the library actually loaded, not the headers compiled against.
    static const std::string version = cv::getVersionString();
    return version.c_str();
}
