/* eddy sys: the file operation layer. Never installed.
 *
 * An eddy__fop describes one system call the way an io_uring submission does (an opcode, a
 * descriptor or directory descriptor, paths, a buffer or vector, an offset with -1 for "the
 * file position", flags, mode) and receives its result the way a completion does (res: a
 * value >= 0 or -errno). The callers (file.c, dir.c, lock.c) build ops and wait for them
 * through eddy__fop_run; they never see who performs them.
 *
 * Who performs them is an executor (eddy__fop_executor). Today there is one, the thread pool:
 * a worker runs eddy__fop_exec, the synchronous body of each op, and the job layer (job.c)
 * does the waiting and cancellation. An io_uring backend adds an executor that maps the same
 * ops to IORING_OP_OPENAT, READ, WRITE, READV, WRITEV, FSYNC (IORING_FSYNC_DATASYNC), STATX,
 * RENAMEAT, UNLINKAT, MKDIRAT and CLOSE, cancels with IORING_OP_ASYNC_CANCEL and keeps the
 * same wait/abandon rules per op; ops it cannot express (GETDENTS, OFD_LOCK) stay on the
 * pool. */
#ifndef EDDY_SYS_FILEOP_H
#define EDDY_SYS_FILEOP_H

#include "sys/pool.h"

enum {
    EDDY__FOP_OPENAT = 1, /* openat(fd, path, flags, mode) -> descriptor */
    EDDY__FOP_CLOSE,      /* close(fd) (EINTR counts as closed) */
    EDDY__FOP_READ,       /* read / pread (off >= 0) into buf, len */
    EDDY__FOP_WRITE,      /* write / pwrite */
    EDDY__FOP_READV,      /* readv / preadv over iov, iovcnt */
    EDDY__FOP_WRITEV,     /* writev / pwritev */
    EDDY__FOP_FSYNC,      /* fsync, or fdatasync when flags is EDDY__FSYNC_DATA */
    EDDY__FOP_STATX,      /* statx(fd, path, flags, STATX_BASIC_STATS, buf) */
    EDDY__FOP_RENAMEAT,   /* renameat(fd, path, fd2, path2) */
    EDDY__FOP_UNLINKAT,   /* unlinkat(fd, path, flags: 0 or AT_REMOVEDIR) */
    EDDY__FOP_MKDIRAT,    /* mkdirat(fd, path, mode) */
    EDDY__FOP_GETDENTS,   /* getdents64(fd, buf, len) */
    EDDY__FOP_OFD_LOCK,   /* fcntl(fd, flags: F_OFD_SETLK/SETLKW/GETLK, buf: struct flock) */
};
enum { EDDY__FSYNC_DATA = 1 };

typedef struct eddy__fop {
    eddy__job job;           /* the pool executor's carrier (other executors ignore it) */
    eddy__link link;         /* the owner's list of ops in flight (file.c: close interrupts) */
    uint8_t op;              /* EDDY__FOP_* */
    int fd, fd2;
    int flags;
    unsigned mode;
    const char *path, *path2;
    void *buf;
    size_t len;
    const struct iovec *iov;
    int iovcnt;
    int64_t off;             /* -1: the file position */
    int64_t res;             /* out: >= 0 or -errno */
} eddy__fop;

/* Set o up for op on fd with every other field of the op cleared (-1 offset: the position),
 * without touching the embedded job (the executor initialises what it uses): on-stack ops are
 * made per call, and zero-filling the whole struct was a fifth of a pread's instructions. */
static inline void eddy__fop_init(eddy__fop *o, uint8_t op, int fd)
{
    o->op = op;
    o->fd = fd;
    o->fd2 = -1;
    o->flags = 0;
    o->mode = 0;
    o->path = o->path2 = NULL;
    o->buf = NULL;
    o->len = 0;
    o->iov = NULL;
    o->iovcnt = 0;
    o->off = -1;
    o->res = 0;
}

/* Perform o synchronously on the calling thread (a worker): one system call, its result in
 * o->res. EINTR is returned as -EINTR (the executor decides whether to retry). */
EDDY__HIDDEN void eddy__fop_exec(eddy__fop *o);

/* From a task: perform o and wait for it as how says (EDDY__JOB_WAIT, _ABANDON,
 * _UNCANCELLABLE, optionally | _INTERRUPT; _INTERRUPT is dropped when the interrupt signal is
 * unavailable). Returns 0 when o was performed (o->res holds the result: -EINTR means the
 * worker was interrupted by a cancellation or a close), or the errors of eddy__job_run (the
 * op did not run, or was abandoned: then o->job.abandoned is true and o belongs to the layer,
 * which frees it with free() once done, closing a descriptor an abandoned OPENAT produced).
 * Abandonable ops must come from eddy__fop_new. */
EDDY__HIDDEN int eddy__fop_run(eddy__fop *o, unsigned how);

/* A heap op with room for copies of path and path2 (either may be NULL) and extra bytes
 * (aligned for any type) at o->buf, for ops that may be abandoned. NULL if out of memory. */
EDDY__HIDDEN eddy__fop *eddy__fop_new(const char *path, const char *path2, size_t extra);

/* From a task: open path (openat from the working directory, O_CLOEXEC added) as an
 * abandonable op: a cancellation returns at once, and a descriptor the worker gets after that
 * is closed by the layer. Returns the descriptor, or the errors of open(2) and of
 * eddy__fop_run, or -ENOMEM. */
EDDY__HIDDEN int eddy__fop_open(const char *path, int flags, mode_t mode);

/* An executor: how a loop performs file operations (the seam for an io_uring backend). */
typedef struct eddy__fop_executor {
    const char *name;
    int (*run)(eddy__fop *o, unsigned how); /* eddy__fop_run's contract */
} eddy__fop_executor;

#endif
