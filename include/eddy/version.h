/* eddy — the version of these headers (and, through eddy_version(), of the library linked).
 *
 * This file is the one place the version is written: CMakeLists.txt reads it for
 * project(VERSION), the shared library's soname, eddy.pc and the CMake package version.
 * Compatibility (README.md, "Versions"): semantic versioning; while the major version is 0 a
 * minor release may change the API and the ABI (the soname is libeddy.so.0.MINOR), a patch
 * release changes neither. */
#ifndef EDDY_VERSION_H
#define EDDY_VERSION_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EDDY_VERSION_MAJOR 0
#define EDDY_VERSION_MINOR 2
#define EDDY_VERSION_PATCH 0
/* "MAJOR.MINOR.PATCH" */
#define EDDY_VERSION_STRING                                                                 \
    EDDY__STR(EDDY_VERSION_MAJOR) "." EDDY__STR(EDDY_VERSION_MINOR) "." EDDY__STR(            \
        EDDY_VERSION_PATCH)
/* One number for comparisons: EDDY_VERSION_NUMBER >= EDDY_VERSION_AT(0, 2, 0). */
#define EDDY_VERSION_AT(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#define EDDY_VERSION_NUMBER \
    EDDY_VERSION_AT(EDDY_VERSION_MAJOR, EDDY_VERSION_MINOR, EDDY_VERSION_PATCH)

/* The version of the library actually linked ("0.2.0"), which may differ from the headers'
 * EDDY_VERSION_STRING when a program runs against another build of libeddy.so. Never NULL;
 * callable from any thread, before or without a loop. */
EDDY_API const char *eddy_version(void);

#ifdef __cplusplus
}
#endif
#endif
