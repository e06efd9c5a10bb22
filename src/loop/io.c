/* eddy loop: fd readiness watchers (callback form) and eddy_wait_fd (task form, N5), over
 * the backend's watcher table and the operation layer. Descriptors handed to these are
 * borrowed (loop/op.h): the backend drops what it knows of one as soon as its last wait or
 * watcher ends, so a caller may close it with plain close(). */
#include "loop/op.h"

int eddy__io_start(eddy_io *w, int fd, unsigned events, void (*cb)(eddy_io *, unsigned), void *data,
                   const char *site)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    events &= EDDY_READ | EDDY_WRITE;
    if (!w || fd < 0 || events == 0 || !cb) return -EINVAL;
    bool was_active = w->active && w->fd == fd;
    if (w->active && w->fd != fd) eddy_io_stop(w);
    if (!was_active) {
        w->fd = fd;
        w->events = 0;
        w->be = NULL;
        w->owned = false;
    }
    void (*old_cb)(eddy_io *, unsigned) = w->cb;
    w->cb = cb;
    int rc = l->be->watch(l, w, events);
    if (rc < 0) {
        w->cb = old_cb;
        return rc;
    }
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
    l->be->unwatch(l, w);
    w->active = false;
    if (!w->unref) {
        l->nwatch_ref--;
        eddy__handle_del(&w->handle);
    }
}

int eddy_wait_fd(int fd, unsigned events)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    int c = eddy__cancel_code(t);
    if (c) return c;
    events &= EDDY_READ | EDDY_WRITE;
    if (fd < 0 || events == 0) return -EINVAL;
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_POLL, NULL, fd);
    op.u.poll.events = events;
    return (int)eddy__op_run(&op);
}

int eddy_fd_forget(int fd)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l || fd < 0) return 0;
    return l->be->forget(l, fd);
}
