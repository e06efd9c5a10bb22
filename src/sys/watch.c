/* eddy sys: change notification with inotify (F2). The inotify descriptor is pollable, so
 * receiving waits on the loop like a socket read; only eddy_watch_add, which resolves a path,
 * goes to the pool. Events are read in batches into the receiver's buffer and handed out one
 * by one; the kernel's queue is the only queue, and its overflow arrives as an event. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "eddy/file.h"
#include "sys/pool.h"
#include "loop/sys.h"

enum { WATCH_BUF = 64 * (sizeof(struct inotify_event) + NAME_MAX + 1) };

struct eddy_watch {
    int fd;
    bool closing;
    size_t len, pos;          /* bytes of buf filled, and handed out */
    eddy_task *reader;        /* the task inside eddy_watch_recv */
    eddy_task *closer;
    eddy__handle handle;
    /* inotify_event is 4-byte aligned and the kernel packs records at that alignment */
    _Alignas(struct inotify_event) char buf[WATCH_BUF];
};

int eddy__watch_open(eddy_watch **out, const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    int fd = eddy__sys_inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return -errno;
    eddy_watch *w = malloc(sizeof *w);
    if (!w) {
        eddy__sys_close(fd);
        return -ENOMEM;
    }
    w->fd = fd;
    w->closing = false;
    w->len = w->pos = 0;
    w->reader = w->closer = NULL;
    w->handle = (eddy__handle){0};
    eddy__handle_add(l, &w->handle, "watch", site);
    *out = w;
    return 0;
}

/* ---- adding watches (on the pool: inotify_add_watch resolves the path) ---- */

typedef struct add_job {
    eddy__job j;
    int fd;
    const char *path;
    uint32_t mask;
} add_job;

static void add_run(eddy__job *j)
{
    add_job *a = (add_job *)j;
    int wd = eddy__sys_inotify_add_watch(a->fd, a->path, a->mask);
    j->result = wd >= 0 ? wd : -errno;
}

int eddy_watch_add(eddy_watch *w, const char *path, uint32_t mask)
{
    if (!w || !path || !(mask & IN_ALL_EVENTS)) return -EINVAL;
    if (!eddy__sys_task()) return -EPERM;
    if (w->closing) return -EBADF;
    add_job a = {.fd = w->fd, .path = path, .mask = mask};
    a.j.run = add_run;
    a.j.how = EDDY__JOB_WAIT;
    int rc = eddy__job_run(&a.j);
    return rc < 0 ? rc : (int)a.j.result;
}

int eddy_watch_remove(eddy_watch *w, int wd)
{
    if (!w) return -EINVAL;
    return eddy__sys_inotify_rm_watch(w->fd, wd) < 0 ? -errno : 0;
}

/* ---- receiving ---- */

/* The next event from the buffer, if any. */
static bool take(eddy_watch *w, eddy_watch_event *ev)
{
    if (w->pos >= w->len) return false;
    const struct inotify_event *e = (const struct inotify_event *)(w->buf + w->pos);
    w->pos += sizeof *e + e->len;
    ev->wd = e->wd;
    ev->mask = e->mask;
    ev->cookie = e->cookie;
    size_t n = e->len ? strnlen(e->name, e->len) : 0;
    if (n > sizeof ev->name - 1) n = sizeof ev->name - 1;
    memcpy(ev->name, e->name, n);
    ev->name[n] = '\0';
    return true;
}

/* Refill the buffer without waiting: 1 if events came, 0 if none are there, or -errno. */
static int refill(eddy_watch *w)
{
    ssize_t n = eddy__sys_read(w->fd, w->buf, sizeof w->buf);
    if (n > 0) {
        w->len = (size_t)n;
        w->pos = 0;
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    return n < 0 ? -errno : -EIO; /* inotify never reads 0 */
}

int eddy_watch_try_recv(eddy_watch *w, eddy_watch_event *ev)
{
    if (!w || !ev) return -EINVAL;
    if (w->closing) return -EBADF;
    if (w->reader) return -EBUSY;
    if (take(w, ev)) return 0;
    int rc = refill(w);
    if (rc < 0) return rc;
    return rc && take(w, ev) ? 0 : -EAGAIN;
}

int eddy_watch_recv(eddy_watch *w, eddy_watch_event *ev)
{
    if (!w || !ev) return -EINVAL;
    eddy_task *t = eddy__sys_task();
    if (!t) return -EPERM;
    int c = eddy__cancel_code(t);
    if (c) return c;
    if (w->closing) return -EBADF;
    if (w->reader) return -EBUSY;
    w->reader = t;
    int rc;
    for (;;) {
        if (take(w, ev)) {
            rc = 0;
            break;
        }
        rc = refill(w);
        if (rc < 0) break;
        if (rc > 0) continue;
        /* Nothing consumed yet: a cancellation here takes no event. */
        rc = eddy_wait_fd(w->fd, EDDY_READ);
        if (rc < 0) break;
        if (w->closing) {
            rc = -EBADF;
            break;
        }
    }
    w->reader = NULL;
    if (w->closer) eddy__wake(w->closer, 0);
    /* A flood of events never makes this wait: spend the task's budget (internal.h), so a
     * receiving loop still lets the others run. Nothing touches w after this. */
    return rc == 0 ? eddy__coop_done(t, 0) : rc;
}

int eddy_watch_fd(const eddy_watch *w) { return w ? w->fd : -1; }

int eddy_watch_close(eddy_watch *w)
{
    if (!w) return 0;
    if (w->reader) {
        eddy_task *t = eddy__sys_task();
        if (!t) return -EBUSY;
        w->closing = true;
        w->closer = t;
        (void)eddy_fd_forget(w->fd); /* wakes the receiver with -EBADF */
        eddy__wait wt = {.reason = "watch close", .obj = w, .uncancellable = true};
        while (w->reader) (void)eddy__park(&wt);
        w->closer = NULL;
    }
    eddy__handle_del(&w->handle);
    (void)eddy_fd_forget(w->fd);
    eddy__sys_close(w->fd);
    free(w);
    return 0;
}
