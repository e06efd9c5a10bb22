/* eddy sys: files (F1). An eddy_file is an eddy_stream whose operations are file operations
 * (fileop.h) run through the loop's executor.
 *
 * One close protocol for both faces: the stream core counts the tasks inside (users) and
 * sets closing; direct eddy_file_* calls count themselves in the same users field, so
 * eddy_stream_close waits for them too. Every op in flight is on f->ops, so the stream's
 * interrupt hook (called by close) can interrupt their workers: they come back with -EINTR
 * (or their result, if the system call was not interruptible) and report -EBADF. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sys/file_impl.h"
#include "loop/sys.h"

int64_t eddy__file_run(eddy_file *f, eddy__fop *o, unsigned how)
{
    eddy__list_push_back(&f->ops, &o->link);
    int rc = eddy__fop_run(o, how);
    eddy__list_remove(&o->link);
    if (rc < 0) return rc;
    /* Closing: bytes that moved are reported (the stream core then says -EBADF for the rest:
     * a peer must read exactly what a writer reported); otherwise -EBADF. */
    if (f->base.closing) return o->res > 0 ? o->res : -EBADF;
    if (o->res == -EINTR) {
        /* Interrupted because the caller was cancelled (close is handled above). */
        eddy_task *t = eddy__sys_task();
        int c = t ? eddy__cancel_code(t) : 0;
        return c ? c : -EINTR;
    }
    return o->res;
}

int eddy__file_enter(eddy_file *f)
{
    eddy_task *t = eddy__sys_task();
    if (!t) return -EPERM;
    int c = eddy__cancel_code(t);
    if (c) return c;
    if (f->base.closing) return -EBADF;
    f->base.users++;
    return 0;
}

void eddy__file_leave(eddy_file *f)
{
    if (--f->base.users == 0 && f->base.closer) eddy__wake(f->base.closer, 0);
}

/* ---- the stream face ---- */

static ssize_t vt_read(eddy_stream *s, void *buf, size_t len)
{
    eddy_file *f = (eddy_file *)s;
    eddy__fop o;
    eddy__fop_init(&o, EDDY__FOP_READ, f->fd);
    o.buf = buf;
    o.len = len;
    return (ssize_t)eddy__file_run(f, &o, EDDY__JOB_WAIT | EDDY__JOB_INTERRUPT);
}

static ssize_t vt_write(eddy_stream *s, const void *buf, size_t len)
{
    eddy_file *f = (eddy_file *)s;
    eddy__fop o;
    eddy__fop_init(&o, EDDY__FOP_WRITE, f->fd);
    o.buf = (void *)buf;
    o.len = len;
    ssize_t n = (ssize_t)eddy__file_run(f, &o, EDDY__JOB_WAIT | EDDY__JOB_INTERRUPT);
    return n == 0 ? -EIO : n; /* a stream write moves at least one byte or fails */
}

static ssize_t vt_writev(eddy_stream *s, const struct iovec *iov, int iovcnt)
{
    eddy_file *f = (eddy_file *)s;
    eddy__fop o;
    eddy__fop_init(&o, EDDY__FOP_WRITEV, f->fd);
    o.iov = iov;
    o.iovcnt = iovcnt;
    ssize_t n = (ssize_t)eddy__file_run(f, &o, EDDY__JOB_WAIT | EDDY__JOB_INTERRUPT);
    return n == 0 ? -EIO : n;
}

static void vt_interrupt(eddy_stream *s)
{
    eddy_file *f = (eddy_file *)s;
    for (eddy__link *x = f->ops.next; x != &f->ops; x = x->next)
        eddy__job_interrupt(&eddy__container_of(x, eddy__fop, link)->job);
}

static int vt_close(eddy_stream *s, bool graceful)
{
    (void)graceful; /* a file has nothing to discard */
    eddy_file *f = (eddy_file *)s;
    int rc = 0;
    if (!(f->flags & EDDY_FD_NOCLOSE)) {
        int r = -EPERM;
        if (eddy__sys_task()) {
            eddy__fop o;
            eddy__fop_init(&o, EDDY__FOP_CLOSE, f->fd);
            r = eddy__fop_run(&o, EDDY__JOB_UNCANCELLABLE);
            if (r == 0) rc = (int)o.res;
        }
        /* Outside a task (nothing to wait with), or no worker to be had: close here. */
        if (r < 0 && eddy__sys_close(f->fd) < 0 && errno != EINTR) rc = -errno;
    }
    free(f);
    return rc;
}

static int vt_fd(eddy_stream *s) { return ((eddy_file *)s)->fd; }

static const eddy_stream_vt file_vt = {.kind = "file", .read = vt_read, .write = vt_write,
                                       .interrupt = vt_interrupt, .close = vt_close, .fd = vt_fd,
                                       .writev = vt_writev};

static int file_new(int fd, unsigned flags, const char *site, eddy_file **out)
{
    eddy_file *f = malloc(sizeof *f);
    if (!f) return -ENOMEM;
    f->fd = fd;
    f->flags = flags;
    eddy__list_init(&f->ops);
    eddy__stream_init(&f->base, &file_vt, site);
    *out = f;
    return 0;
}

/* ---- opening and closing ---- */

int eddy__file_open(const char *path, int flags, mode_t mode, eddy_file **out, const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!path) return -EINVAL;
    if (!eddy__sys_task()) return -EPERM;
    int rc = eddy__fop_open(path, flags, mode);
    if (rc < 0) return rc;
    int fd = rc;
    rc = file_new(fd, 0, site, out);
    if (rc < 0) eddy__sys_close(fd);
    return rc;
}

int eddy__file_open_fd(int fd, unsigned flags, eddy_file **out, const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (flags & ~(unsigned)EDDY_FD_NOCLOSE) return -EINVAL;
    if (!eddy__tl_loop) return -EPERM;
    if (fd < 0 || eddy__sys_fcntl(fd, F_GETFD) < 0) return -EBADF;
    return file_new(fd, flags, site, out);
}

int eddy_file_close(eddy_file *f) { return f ? eddy_stream_close(&f->base) : 0; }

int eddy_file_fd(const eddy_file *f) { return f ? f->fd : -1; }

eddy_stream *eddy_file_stream(eddy_file *f) { return f ? &f->base : NULL; }

/* ---- reads and writes ---- */

static ssize_t io(eddy_file *f, uint8_t op, void *buf, size_t len, const struct iovec *iov, int iovcnt,
                  int64_t off)
{
    int rc = eddy__file_enter(f);
    if (rc < 0) return rc;
    eddy__fop o;
    eddy__fop_init(&o, op, f->fd);
    o.buf = buf;
    o.len = len;
    o.iov = iov;
    o.iovcnt = iovcnt;
    o.off = off;
    ssize_t n = (ssize_t)eddy__file_run(f, &o, EDDY__JOB_WAIT | EDDY__JOB_INTERRUPT);
    eddy__file_leave(f);
    return n;
}

static int check_buf(const eddy_file *f, const void *buf, size_t len, int64_t off)
{
    if (!f || (!buf && len)) return -EINVAL;
    if (off < -1) return -EINVAL;
    return 0;
}

static int check_iov(const eddy_file *f, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (!f || iovcnt < 0 || iovcnt > IOV_MAX || (!iov && iovcnt > 0) || off < -1) return -EINVAL;
    return 0;
}

ssize_t eddy_file_read(eddy_file *f, void *buf, size_t len)
{
    int rc = check_buf(f, buf, len, -1);
    return rc < 0 ? rc : io(f, EDDY__FOP_READ, buf, len, NULL, 0, -1);
}

ssize_t eddy_file_pread(eddy_file *f, void *buf, size_t len, int64_t off)
{
    int rc = check_buf(f, buf, len, off);
    if (rc == 0 && off < 0) rc = -EINVAL;
    return rc < 0 ? rc : io(f, EDDY__FOP_READ, buf, len, NULL, 0, off);
}

ssize_t eddy_file_write(eddy_file *f, const void *buf, size_t len)
{
    int rc = check_buf(f, buf, len, -1);
    return rc < 0 ? rc : io(f, EDDY__FOP_WRITE, (void *)buf, len, NULL, 0, -1);
}

ssize_t eddy_file_pwrite(eddy_file *f, const void *buf, size_t len, int64_t off)
{
    int rc = check_buf(f, buf, len, off);
    if (rc == 0 && off < 0) rc = -EINVAL;
    return rc < 0 ? rc : io(f, EDDY__FOP_WRITE, (void *)buf, len, NULL, 0, off);
}

ssize_t eddy_file_readv(eddy_file *f, const struct iovec *iov, int iovcnt)
{
    int rc = check_iov(f, iov, iovcnt, -1);
    return rc < 0 ? rc : io(f, EDDY__FOP_READV, NULL, 0, iov, iovcnt, -1);
}

ssize_t eddy_file_writev(eddy_file *f, const struct iovec *iov, int iovcnt)
{
    int rc = check_iov(f, iov, iovcnt, -1);
    return rc < 0 ? rc : io(f, EDDY__FOP_WRITEV, NULL, 0, iov, iovcnt, -1);
}

ssize_t eddy_file_preadv(eddy_file *f, const struct iovec *iov, int iovcnt, int64_t off)
{
    int rc = check_iov(f, iov, iovcnt, off);
    if (rc == 0 && off < 0) rc = -EINVAL;
    return rc < 0 ? rc : io(f, EDDY__FOP_READV, NULL, 0, iov, iovcnt, off);
}

ssize_t eddy_file_pwritev(eddy_file *f, const struct iovec *iov, int iovcnt, int64_t off)
{
    int rc = check_iov(f, iov, iovcnt, off);
    if (rc == 0 && off < 0) rc = -EINVAL;
    return rc < 0 ? rc : io(f, EDDY__FOP_WRITEV, NULL, 0, iov, iovcnt, off);
}

/* ---- sync and stat ---- */

static int sync_op(eddy_file *f, int flags)
{
    if (!f) return -EINVAL;
    int rc = eddy__file_enter(f);
    if (rc < 0) return rc;
    eddy__fop o;
    eddy__fop_init(&o, EDDY__FOP_FSYNC, f->fd);
    o.flags = flags;
    rc = (int)eddy__file_run(f, &o, EDDY__JOB_WAIT);
    eddy__file_leave(f);
    return rc;
}

int eddy_file_fsync(eddy_file *f) { return sync_op(f, 0); }
int eddy_file_fdatasync(eddy_file *f) { return sync_op(f, EDDY__FSYNC_DATA); }

static void stat_from_statx(struct stat *st, const struct statx *x)
{
    memset(st, 0, sizeof *st);
    st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
    st->st_ino = x->stx_ino;
    st->st_mode = x->stx_mode;
    st->st_nlink = x->stx_nlink;
    st->st_uid = x->stx_uid;
    st->st_gid = x->stx_gid;
    st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
    st->st_size = (off_t)x->stx_size;
    st->st_blksize = (blksize_t)x->stx_blksize;
    st->st_blocks = (blkcnt_t)x->stx_blocks;
    st->st_atim = (struct timespec){x->stx_atime.tv_sec, x->stx_atime.tv_nsec};
    st->st_mtim = (struct timespec){x->stx_mtime.tv_sec, x->stx_mtime.tv_nsec};
    st->st_ctim = (struct timespec){x->stx_ctime.tv_sec, x->stx_ctime.tv_nsec};
}

int eddy_file_fstat(eddy_file *f, struct stat *st)
{
    if (!f || !st) return -EINVAL;
    int rc = eddy__file_enter(f);
    if (rc < 0) return rc;
    struct statx x;
    eddy__fop o;
    eddy__fop_init(&o, EDDY__FOP_STATX, f->fd);
    o.path = "";
    o.flags = AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT;
    o.buf = &x;
    rc = (int)eddy__file_run(f, &o, EDDY__JOB_WAIT);
    eddy__file_leave(f);
    if (rc == 0) stat_from_statx(st, &x);
    return rc;
}

/* ---- paths ---- */

/* Run a heap op that may be abandoned; returns its result (o is freed unless abandoned, in
 * which case the layer frees it later). When out is not NULL and the op succeeded, *out gets
 * a copy of its extra area (out_len bytes) first. */
static int path_run(eddy__fop *o, void *out, size_t out_len)
{
    int rc = eddy__fop_run(o, EDDY__JOB_ABANDON);
    if (o->job.abandoned) return rc;
    if (rc == 0) rc = (int)o->res;
    if (rc >= 0 && out) memcpy(out, o->buf, out_len);
    free(o);
    return rc;
}

static int stat_path(const char *path, struct stat *st, int flags)
{
    if (!path || !st) return -EINVAL;
    if (!eddy__sys_task()) return -EPERM;
    eddy__fop *o = eddy__fop_new(path, NULL, sizeof(struct statx));
    if (!o) return -ENOMEM;
    o->op = EDDY__FOP_STATX;
    o->fd = AT_FDCWD;
    o->flags = flags | AT_STATX_SYNC_AS_STAT;
    struct statx x;
    int rc = path_run(o, &x, sizeof x);
    if (rc == 0) stat_from_statx(st, &x);
    return rc;
}

int eddy_file_stat(const char *path, struct stat *st) { return stat_path(path, st, 0); }
int eddy_file_lstat(const char *path, struct stat *st) { return stat_path(path, st, AT_SYMLINK_NOFOLLOW); }

/* One path op: op on path (and path2), with flags and mode. */
static int path_op(uint8_t op, const char *path, const char *path2, int flags, mode_t mode)
{
    if (!eddy__sys_task()) return -EPERM;
    eddy__fop *o = eddy__fop_new(path, path2, 0);
    if (!o) return -ENOMEM;
    o->op = op;
    o->fd = o->fd2 = AT_FDCWD;
    o->flags = flags;
    o->mode = mode;
    return path_run(o, NULL, 0);
}

int eddy_file_rename(const char *from, const char *to)
{
    if (!from || !to) return -EINVAL;
    return path_op(EDDY__FOP_RENAMEAT, from, to, 0, 0);
}

int eddy_file_unlink(const char *path)
{
    if (!path) return -EINVAL;
    return path_op(EDDY__FOP_UNLINKAT, path, NULL, 0, 0);
}

int eddy_file_rmdir(const char *path)
{
    if (!path) return -EINVAL;
    return path_op(EDDY__FOP_UNLINKAT, path, NULL, AT_REMOVEDIR, 0);
}

int eddy_file_mkdir(const char *path, mode_t mode)
{
    if (!path) return -EINVAL;
    return path_op(EDDY__FOP_MKDIRAT, path, NULL, 0, mode);
}
