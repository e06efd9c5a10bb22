/* eddy sys: reading directories (F1). getdents64 on the pool fills a buffer with many
 * entries at once; eddy_dir_read hands them out one by one on the loop thread. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "eddy/file.h"
#include "sys/fileop.h"
#include "loop/sys.h"

enum { DIR_BUF = 32 * 1024 };

struct eddy_dir {
    int fd;
    bool eof, closing;
    size_t len, pos;          /* bytes of buf filled, and read so far */
    eddy_task *reader;        /* the task inside eddy_dir_read */
    eddy_task *closer;        /* eddy_dir_close waiting for it */
    eddy__handle handle;
    char buf[DIR_BUF];
};

/* The kernel's record (linux_dirent64; glibc does not declare it). */
struct dent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

int eddy__dir_open(const char *path, eddy_dir **out, const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!path) return -EINVAL;
    if (!eddy__sys_task()) return -EPERM;
    int rc = eddy__fop_open(path, O_RDONLY | O_DIRECTORY, 0);
    if (rc < 0) return rc;
    eddy_dir *d = malloc(sizeof *d);
    if (!d) {
        eddy__sys_close(rc);
        return -ENOMEM;
    }
    d->fd = rc;
    d->eof = d->closing = false;
    d->len = d->pos = 0;
    d->reader = d->closer = NULL;
    d->handle = (eddy__handle){0};
    eddy__handle_add(eddy__tl_loop, &d->handle, "dir", site);
    *out = d;
    return 0;
}

/* The next entry from the buffer, "." and ".." skipped; false when the buffer is used up. */
static bool take(eddy_dir *d, eddy_dirent *ent)
{
    while (d->pos < d->len) {
        const struct dent64 *e = (const struct dent64 *)(d->buf + d->pos);
        d->pos += e->d_reclen;
        const char *n = e->d_name;
        if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
        ent->ino = e->d_ino;
        ent->type = e->d_type;
        size_t len = strnlen(n, sizeof ent->name - 1);
        memcpy(ent->name, n, len);
        ent->name[len] = '\0';
        return true;
    }
    return false;
}

int eddy_dir_read(eddy_dir *d, eddy_dirent *ent)
{
    if (!d || !ent) return -EINVAL;
    eddy_task *t = eddy__sys_task();
    if (!t) return -EPERM;
    int c = eddy__cancel_code(t);
    if (c) return c;
    if (d->closing) return -EBADF;
    if (d->reader) return -EBUSY;
    for (;;) {
        /* Most entries come from the buffer without waiting: spend the task's budget. */
        if (take(d, ent)) return eddy__coop_done(t, 1);
        if (d->eof) return 0;
        d->reader = t;
        /* Not interruptible (a directory read does not block on anything a signal ends):
         * wait for it, and keep what it read for the next call. */
        eddy__fop o;
        eddy__fop_init(&o, EDDY__FOP_GETDENTS, d->fd);
        o.buf = d->buf;
        o.len = sizeof d->buf;
        int rc = eddy__fop_run(&o, EDDY__JOB_WAIT);
        d->reader = NULL;
        if (d->closer) eddy__wake(d->closer, 0);
        if (rc < 0) return rc;
        if (d->closing) return -EBADF;
        if (o.res < 0) return (int)o.res;
        d->len = (size_t)o.res;
        d->pos = 0;
        if (o.res == 0) d->eof = true;
    }
}

int eddy_dir_close(eddy_dir *d)
{
    if (!d) return 0;
    eddy_task *t = eddy__sys_task();
    if (d->reader) {
        if (!t) return -EBUSY;
        d->closing = true;
        d->closer = t;
        eddy__wait w = {.reason = "dir close", .obj = d, .uncancellable = true};
        while (d->reader) (void)eddy__park(&w);
        d->closer = NULL;
    }
    eddy__handle_del(&d->handle);
    int r = -EPERM;
    if (t) {
        eddy__fop o;
        eddy__fop_init(&o, EDDY__FOP_CLOSE, d->fd);
        r = eddy__fop_run(&o, EDDY__JOB_UNCANCELLABLE);
    }
    if (r < 0) eddy__sys_close(d->fd);
    free(d);
    return 0;
}
