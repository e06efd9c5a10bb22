/* eddy io: pipes as a pair of descriptor streams (P3). */
#include <fcntl.h>
#include <unistd.h>

#include "io/io.h"
#include "loop/sys.h"

int eddy__pipe(eddy_stream **rd, eddy_stream **wr, const char *site)
{
    if (rd) *rd = NULL;
    if (wr) *wr = NULL;
    if (!rd || !wr) return -EINVAL;
    if (!eddy__loop()) return -EPERM;
    int p[2];
    if (eddy__sys_pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
    /* Our own descriptors, non-blocking from birth: nothing to restore on close. The write
     * end's stream goes through eddy_fd_stream's SIGPIPE rule. */
    int rc = eddy__fdstream_new(p[0], false, -1, 0, &eddy__fdstream_vt_fd, site, rd);
    if (rc < 0) {
        eddy__sys_close(p[0]);
        eddy__sys_close(p[1]);
        return rc;
    }
    rc = eddy__fd_stream(p[1], 0, wr, site);
    if (rc < 0) {
        eddy_stream_abort(*rd);
        *rd = NULL;
        eddy__sys_close(p[1]);
    }
    return rc;
}
