/* eddy sys: file operations (see fileop.h): their synchronous bodies, heap ops for the ones
 * that may be abandoned, and the pool executor. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <signal.h>
#include <stdalign.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sys/fileop.h"
#include "loop/sys.h"

void eddy__fop_exec(eddy__fop *o)
{
    ssize_t r = -1;
    switch (o->op) {
    case EDDY__FOP_OPENAT: r = eddy__sys_openat(o->fd, o->path, o->flags | O_CLOEXEC, (mode_t)o->mode); break;
    case EDDY__FOP_CLOSE:
        /* Linux releases the descriptor even when close reports EINTR: never retry. */
        r = eddy__sys_close(o->fd);
        if (r < 0 && errno == EINTR) r = 0;
        break;
    case EDDY__FOP_READ:
        r = o->off < 0 ? eddy__sys_read(o->fd, o->buf, o->len) : eddy__sys_pread(o->fd, o->buf, o->len, (off_t)o->off);
        break;
    case EDDY__FOP_WRITE:
        r = o->off < 0 ? eddy__sys_write(o->fd, o->buf, o->len) : eddy__sys_pwrite(o->fd, o->buf, o->len, (off_t)o->off);
        break;
    case EDDY__FOP_READV:
        r = o->off < 0 ? eddy__sys_readv(o->fd, o->iov, o->iovcnt) : eddy__sys_preadv(o->fd, o->iov, o->iovcnt, (off_t)o->off);
        break;
    case EDDY__FOP_WRITEV:
        r = o->off < 0 ? eddy__sys_writev(o->fd, o->iov, o->iovcnt)
                       : eddy__sys_pwritev(o->fd, o->iov, o->iovcnt, (off_t)o->off);
        break;
    case EDDY__FOP_FSYNC: r = o->flags == EDDY__FSYNC_DATA ? eddy__sys_fdatasync(o->fd) : eddy__sys_fsync(o->fd); break;
    case EDDY__FOP_STATX:
        r = eddy__sys_statx(o->fd, o->path, o->flags, STATX_BASIC_STATS, (struct statx *)o->buf);
        break;
    case EDDY__FOP_RENAMEAT: r = eddy__sys_renameat(o->fd, o->path, o->fd2, o->path2); break;
    case EDDY__FOP_UNLINKAT: r = eddy__sys_unlinkat(o->fd, o->path, o->flags); break;
    case EDDY__FOP_MKDIRAT: r = eddy__sys_mkdirat(o->fd, o->path, (mode_t)o->mode); break;
    case EDDY__FOP_GETDENTS: r = eddy__sys_syscall(SYS_getdents64, o->fd, o->buf, o->len); break;
    case EDDY__FOP_OFD_LOCK: r = eddy__sys_fcntl(o->fd, o->flags, (struct flock *)o->buf); break;
    default: errno = EINVAL; break;
    }
    o->res = r >= 0 ? (int64_t)r : -(int64_t)errno;
    if (o->res == -EPIPE) {
        /* A write to a pipe without reader also raised SIGPIPE at this thread, where every
         * signal is blocked: take it off, so it does not stay pending here. */
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGPIPE);
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&s, NULL, &zero);
    }
}

eddy__fop *eddy__fop_new(const char *path, const char *path2, size_t extra)
{
    size_t l1 = path ? strlen(path) + 1 : 0, l2 = path2 ? strlen(path2) + 1 : 0;
    size_t a = alignof(max_align_t);
    size_t head = (sizeof(eddy__fop) + a - 1) / a * a;
    size_t ext = (extra + a - 1) / a * a;
    eddy__fop *o = malloc(head + ext + l1 + l2);
    if (!o) return NULL;
    memset(o, 0, sizeof *o);
    char *p = (char *)o + head;
    o->buf = extra ? p : NULL;
    p += ext;
    if (path) {
        memcpy(p, path, l1);
        o->path = p;
        p += l1;
    }
    if (path2) {
        memcpy(p, path2, l2);
        o->path2 = p;
    }
    return o;
}

int eddy__fop_open(const char *path, int flags, mode_t mode)
{
    eddy__fop *o = eddy__fop_new(path, NULL, 0);
    if (!o) return -ENOMEM;
    o->op = EDDY__FOP_OPENAT;
    o->fd = AT_FDCWD;
    o->flags = flags | O_CLOEXEC;
    o->mode = mode;
    int rc = eddy__fop_run(o, EDDY__JOB_ABANDON);
    if (o->job.abandoned) return rc; /* the layer frees o, and closes a late descriptor */
    if (rc == 0) rc = (int)o->res;
    free(o);
    return rc;
}

/* ---- the pool executor ---- */

/* Worker: perform the op, inside the interruptible bracket if it takes interrupts. EINTR
 * without a cancellation (a stray signal) is retried; with one it is the answer. */
static void pool_run_fop(eddy__job *j)
{
    eddy__fop *o = eddy__container_of(j, eddy__fop, job);
    bool intr = j->how & EDDY__JOB_INTERRUPT;
    for (;;) {
        if (intr && !eddy__intr_begin(j)) {
            o->res = -EINTR;
            return;
        }
        eddy__fop_exec(o);
        if (intr) eddy__intr_end(j);
        if (o->res != -EINTR || o->op == EDDY__FOP_CLOSE || atomic_load(&j->cancel)) return;
    }
}

/* An abandoned op, once its worker is done with it. */
static void pool_release_fop(eddy__job *j)
{
    eddy__fop *o = eddy__container_of(j, eddy__fop, job);
    if (o->op == EDDY__FOP_OPENAT && o->res >= 0) eddy__sys_close((int)o->res); /* nobody took it */
    free(o);
}

static int pool_run(eddy__fop *o, unsigned how)
{
    if ((how & EDDY__JOB_INTERRUPT) && !eddy__intr_available()) how &= ~(unsigned)EDDY__JOB_INTERRUPT;
    o->job.run = pool_run_fop;
    o->job.release = pool_release_fop;
    o->job.how = how;
    o->job.limiter = NULL;
    o->res = 0;
    return eddy__job_run(&o->job);
}

static const eddy__fop_executor pool_executor = {.name = "pool", .run = pool_run};

/* The executor of the calling thread's loop. Only the pool exists; a backend that performs
 * file operations itself (io_uring) will be asked here first. */
static const eddy__fop_executor *executor(void) { return &pool_executor; }

int eddy__fop_run(eddy__fop *o, unsigned how) { return executor()->run(o, how); }
