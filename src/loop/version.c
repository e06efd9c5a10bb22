/* eddy_version: the library's own version, compiled in from include/eddy/version.h, so a
 * program can tell which libeddy it runs against (the headers it was built with may differ). */
#include "eddy/version.h"

const char *eddy_version(void) { return EDDY_VERSION_STRING; }
