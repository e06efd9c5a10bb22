/* eddy sys: OFD byte-range locks (F3). Why a blocking acquire is an interruptible
 * F_OFD_SETLKW on a worker rather than polling is in file.h; this file holds the mechanics.
 * Every fcntl runs on the pool: even a non-blocking one is a round trip to a lock server on a
 * network file system. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>

#include "sys/file_impl.h"

/* One fcntl(F_OFD_*) on f's behalf. */
static int lock_call(eddy_file *f, int cmd, struct flock *fl, unsigned how)
{
    eddy__fop o;
    eddy__fop_init(&o, EDDY__FOP_OFD_LOCK, f->fd);
    o.flags = cmd;
    o.buf = fl;
    return (int)eddy__file_run(f, &o, how);
}

static bool busy(int rc) { return rc == -EAGAIN || rc == -EACCES; }

/* Without the interrupt signal: try, then sleep (cancellable) with a growing backoff. */
static int lock_polling(eddy_file *f, struct flock *fl)
{
    int64_t backoff = EDDY_MSEC(1);
    for (;;) {
        struct flock try = *fl;
        int rc = lock_call(f, F_OFD_SETLK, &try, EDDY__JOB_WAIT);
        if (!busy(rc)) return rc;
        if ((rc = eddy_sleep(backoff)) < 0) return rc;
        if (f->base.closing) return -EBADF;
        if (backoff < EDDY_MSEC(100)) backoff *= 2;
    }
}

int eddy_file_lock(eddy_file *f, unsigned how, int64_t start, int64_t len)
{
    unsigned kind = how & (EDDY_LOCK_SH | EDDY_LOCK_EX);
    if (!f || (how & ~(unsigned)(EDDY_LOCK_SH | EDDY_LOCK_EX | EDDY_LOCK_NB)) ||
        (kind != EDDY_LOCK_SH && kind != EDDY_LOCK_EX) || start < 0 || len < 0)
        return -EINVAL;
    int rc = eddy__file_enter(f);
    if (rc < 0) return rc;
    /* l_pid must be 0 for OFD locks. */
    struct flock fl = {.l_type = kind == EDDY_LOCK_EX ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET,
                       .l_start = (off_t)start, .l_len = (off_t)len};
    if (how & EDDY_LOCK_NB) {
        rc = lock_call(f, F_OFD_SETLK, &fl, EDDY__JOB_WAIT);
        if (busy(rc)) rc = -EAGAIN;
    } else if (eddy__intr_available()) {
        rc = lock_call(f, F_OFD_SETLKW, &fl, EDDY__JOB_WAIT | EDDY__JOB_INTERRUPT);
    } else {
        rc = lock_polling(f, &fl);
    }
    eddy__file_leave(f);
    return rc;
}

int eddy_file_unlock(eddy_file *f, int64_t start, int64_t len)
{
    if (!f || start < 0 || len < 0) return -EINVAL;
    /* Not a cancellation point: the checks of eddy__file_enter without the cancel check. */
    eddy_loop *l = eddy__tl_loop;
    if (!l || l->in_callback || !l->current) return -EPERM;
    if (f->base.closing) return -EBADF;
    f->base.users++;
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = (off_t)start,
                       .l_len = (off_t)len};
    int rc = lock_call(f, F_OFD_SETLK, &fl, EDDY__JOB_UNCANCELLABLE);
    eddy__file_leave(f);
    return rc;
}
