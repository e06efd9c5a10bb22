/* eddy — introspection: capabilities D3 (task tree dump), D4 (leak report, see eddy_run). */
#ifndef EDDY_DEBUG_H
#define EDDY_DEBUG_H

#include <stdio.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    EDDY_DUMP_TREE = 1u << 0, /* scope/task tree: id, name, state, wait reason, spawn site, age */
    EDDY_DUMP_JSON = 1u << 1, /* the same tree as one JSON object */
};

/* D3: print the calling thread's loop's task tree to f. Callable from tasks and callbacks.
 * Returns 0; -EPERM outside a loop; -EINVAL for f == NULL or unknown flags; -EIO if writing
 * to f failed. */
EDDY_API int eddy_dump(FILE *f, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
