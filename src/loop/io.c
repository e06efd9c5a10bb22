/* eddy loop: fd readiness watchers (callback form) and eddy_wait_fd (task form, N5). */
#include "internal.h"

static int fd_table_reserve(eddy_loop *l, int fd)
{
    if ((size_t)fd < l->nfds_cap) return 0;
    size_t cap = l->nfds_cap ? l->nfds_cap : 64;
    while (cap <= (size_t)fd) cap *= 2;
    eddy__fdent *f = realloc(l->fds, cap * sizeof *f);
    if (!f) return -ENOMEM;
    for (size_t i = l->nfds_cap; i < cap; i++) f[i] = (eddy__fdent){0};
    l->fds = f;
    l->nfds_cap = cap;
    return 0;
}

static unsigned mask_of(eddy__fdent *f)
{
    unsigned m = 0;
    if (f->r) m |= EDDY_READ;
    if (f->w) m |= EDDY_WRITE;
    return m;
}

static void detach(eddy_loop *l, eddy_io *w)
{
    eddy__fdent *f = &l->fds[w->fd];
    if (f->r == w) f->r = NULL;
    if (f->w == w) f->w = NULL;
}

int eddy__io_start(eddy_io *w, int fd, unsigned events, void (*cb)(eddy_io *, unsigned), void *data,
                   const char *site)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    events &= EDDY_READ | EDDY_WRITE;
    if (fd < 0 || events == 0 || !cb) return -EINVAL;
    int rc = fd_table_reserve(l, fd);
    if (rc < 0) return rc;
    eddy__fdent *f = &l->fds[fd];
    if (((events & EDDY_READ) && f->r && f->r != w) || ((events & EDDY_WRITE) && f->w && f->w != w))
        return -EBUSY;
    bool was_active = w->active && w->fd == fd;
    if (w->active && w->fd != fd) eddy_io_stop(w);
    unsigned old = mask_of(f);
    eddy_io *old_r = f->r, *old_w = f->w;
    if (was_active) detach(l, w);
    if (events & EDDY_READ) f->r = w;
    if (events & EDDY_WRITE) f->w = w;
    unsigned old_events = w->events;
    w->fd = fd;
    w->events = events;
    rc = l->be->update(l, fd, old, mask_of(f));
    if (rc < 0) {
        f->r = old_r;
        f->w = old_w;
        w->events = old_events;
        return rc;
    }
    w->cb = cb;
    w->data = data;
    if (!was_active) {
        w->active = true;
        w->site = site;
        if (!w->unref) {
            l->nwatch_ref++;
            eddy__handle_add(l, &w->handle, "fd watcher", site);
        }
    }
    return 0;
}

void eddy_io_stop(eddy_io *w)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l || !w || !w->active) return;
    eddy__fdent *f = &l->fds[w->fd];
    unsigned old = mask_of(f);
    detach(l, w);
    (void)l->be->update(l, w->fd, old, mask_of(f));
    w->active = false;
    if (!w->unref) {
        l->nwatch_ref--;
        eddy__handle_del(&w->handle);
    }
}

void eddy__io_dispatch(eddy_loop *l, int fd, unsigned revents)
{
    if ((size_t)fd >= l->nfds_cap) return;
    bool was = l->in_callback;
    l->in_callback = true;
    eddy_io *r = l->fds[fd].r, *w;
    unsigned extra = revents & (EDDY_ERR | EDDY_HUP);
    bool r_called = false;
    if (r && (revents & EDDY_READ)) {
        r->cb(r, (revents & r->events) | extra);
        r_called = true;
    }
    /* The read callback may have stopped or replaced the writer, or started a watcher on a
     * higher fd, which reallocates the table: index it afresh, never keep a pointer in.
     * A watcher of both directions is both r and w: it was called above only if the fd was
     * readable, and must still be called when it is only writable. */
    w = l->fds[fd].w;
    if (w && (revents & EDDY_WRITE) && !(r_called && w == r))
        w->cb(w, (revents & w->events) | extra);
    l->in_callback = was;
}

/* ---- eddy_wait_fd ---- */

typedef struct fd_wait {
    eddy_io io;
    eddy_task *task;
    bool fired; /* readiness woke the task; it has not run yet */
} fd_wait;

/* The watcher stays started until the woken task runs and stops it in eddy_wait_fd: a task
 * woken by readiness often runs only after the loop has polled again (the ready queue is
 * long), and an fd with no watcher at that poll would look unwanted to the backend, which
 * would then drop and re-add its registration (two epoll_ctl per wake-up). Readiness reported
 * again meanwhile finds the task already woken and does nothing. */
static void fd_wait_ready(eddy_io *w, unsigned revents)
{
    fd_wait *fw = (fd_wait *)w;
    if (fw->fired) return;
    fw->fired = true;
    eddy__wake(fw->task, (int)(revents ? revents : EDDY_ERR));
}

static void fd_wait_cancel(eddy_task *t, void *arg)
{
    (void)t;
    eddy_io_stop(&((fd_wait *)arg)->io);
}

int eddy_wait_fd(int fd, unsigned events)
{
    eddy_task *t = eddy__cur();
    if (!t) return -EPERM;
    int c = eddy__cancel_code(t);
    if (c) return c;
    fd_wait fw = {.task = t};
    fw.io.unref = false;
    int rc = eddy__io_start(&fw.io, fd, events, fd_wait_ready, NULL, t->site);
    if (rc < 0) return rc;
    eddy__wait w = {.reason = (events & EDDY_WRITE) ? "wait writable" : "wait readable",
                    .obj = (const void *)(intptr_t)fd, .deadline = 0,
                    .cancel = fd_wait_cancel, .arg = &fw};
    rc = eddy__park(&w);
    if (fw.io.active) eddy_io_stop(&fw.io);
    return rc;
}

int eddy_fd_forget(int fd)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l || fd < 0 || (size_t)fd >= l->nfds_cap) return 0;
    eddy__fdent *f = &l->fds[fd];
    int n = 0;
    eddy_io *ws[2] = {f->r, f->w != f->r ? f->w : NULL};
    for (int i = 0; i < 2; i++) {
        eddy_io *w = ws[i];
        if (!w) continue;
        if (w->cb == fd_wait_ready) {
            fd_wait *fw = (fd_wait *)w;
            eddy_io_stop(w);
            if (fw->fired) { /* woken by readiness, not yet run: it returns -EBADF instead */
                fw->task->wake_rc = -EBADF;
                n++;
            } else if (eddy__wake(fw->task, -EBADF)) {
                n++;
            }
        }
    }
    /* Drop the kernel registration now: after close() the number may be reused, and a stale
     * "registered" mask would make a later watcher on the new fd skip its EPOLL_CTL_ADD. */
    if (!f->r && !f->w) l->be->forget(l, fd);
    return n;
}
