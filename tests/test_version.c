/* The version (README.md, "Versions"): the macros, eddy_version() and the build's
 * project(VERSION) agree, and the shared library's soname follows the 0.x policy. */
#include <stdio.h>
#include <string.h>

#include "eddy/test.h"

EDDY_TEST_EX(version_macros_function_and_build_agree, .raw = true)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", EDDY_VERSION_MAJOR, EDDY_VERSION_MINOR,
             EDDY_VERSION_PATCH);
    EDDY_CHECK(strcmp(EDDY_VERSION_STRING, want) == 0);
    EDDY_CHECK(strcmp(eddy_version(), want) == 0);
    EDDY_CHECK(strcmp(eddy_version(), EDDY_PROJECT_VERSION) == 0); /* CMake read version.h */
    EDDY_CHECK_EQ(EDDY_VERSION_NUMBER,
                  (EDDY_VERSION_MAJOR << 16) | (EDDY_VERSION_MINOR << 8) | EDDY_VERSION_PATCH);
    EDDY_CHECK(EDDY_VERSION_NUMBER >= EDDY_VERSION_AT(0, 2, 0));
    EDDY_CHECK(EDDY_VERSION_AT(0, 10, 0) > EDDY_VERSION_AT(0, 9, 99));
    return 0;
}

/* The shared library's soname: libeddy.so.0.MINOR while the major version is 0,
 * libeddy.so.MAJOR after (readelf is binutils', there wherever gcc is). */
EDDY_TEST_EX(shared_library_soname, .raw = true)
{
    char want[64], cmd[512], line[512];
    if (EDDY_VERSION_MAJOR == 0)
        snprintf(want, sizeof want, "[libeddy.so.%d.%d]", EDDY_VERSION_MAJOR, EDDY_VERSION_MINOR);
    else
        snprintf(want, sizeof want, "[libeddy.so.%d]", EDDY_VERSION_MAJOR);
    snprintf(cmd, sizeof cmd, "readelf -d '%s/libeddy.so' 2>&1", EDDY_BUILD_DIR);
    FILE *p = popen(cmd, "r");
    EDDY_CHECK(p != NULL);
    bool found = false;
    while (fgets(line, sizeof line, p))
        if (strstr(line, "(SONAME)") && strstr(line, want)) found = true;
    int st = pclose(p);
    EDDY_CHECK_EQ(st, 0);
    if (!found) eddy_test_fail(__FILE__, __LINE__, "no SONAME %s in libeddy.so", want);
    return 0;
}
