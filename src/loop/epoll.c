/* eddy loop backend: epoll (always available). Readiness: an operation tries its system call
 * and, when the descriptor is not ready, waits for readiness and tries again.
 *
 * Level-triggered interest per descriptor, kept in this file's table (fd -> the watcher per
 * direction and what is registered with the kernel). Interest grows at once (a start tells the
 * kernel before it returns, so EPERM for a regular file or EBADF reaches the caller). How it
 * shrinks depends on whose descriptor it is (loop/op.h):
 *   - owned (an operation's wait on a stream, listener or UDP socket): lazily. The
 *     registration stays when the wait ends and is narrowed only the first time the kernel
 *     reports readiness that nobody wants. The common pattern — a task woken by readiness
 *     reads, writes, and waits again, perhaps only after the loop has polled again because the
 *     ready queue was long — then costs no epoll_ctl at all (libuv's epoll backend does the
 *     same). This is safe because the owner tells the loop before it closes the descriptor
 *     (eddy__iofd_release), so the registration never outlives the descriptor it describes.
 *   - borrowed (eddy_wait_fd, eddy_io watchers): eagerly. When the last wait or watcher on it
 *     ends, the registration goes (EPOLL_CTL_DEL). The caller may close such a descriptor with
 *     plain close() — which the kernel answers by dropping it from the epoll set — and get the
 *     same number back for a new one: a registration kept in the table would then be believed
 *     and the new descriptor never registered, leaving its waiters hanging with data ready. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop/op.h"
#include "loop/sys.h"

#define MAX_EVENTS 256

typedef struct ep_fd {
    eddy_io *r, *w;      /* the watcher per direction (an operation's wait is one too) */
    eddy_io *x;          /* a zero-copy send waiting for its notice on the error queue */
    unsigned registered; /* what the kernel has: EDDY_READ|EDDY_WRITE, EDDY_ERR for "registered
                            with no events" (EPOLLERR is reported whatever the events) */
} ep_fd;

typedef struct ep_state {
    int epfd;
    int wakefd;          /* eventfd: eddy_loop_post_ts and signals wake a poll through it */
    ep_fd *fds;
    size_t cap;
} ep_state;

static ep_state *st_of(eddy_loop *l) { return l->be_data; }

static void ep_destroy(eddy_loop *l)
{
    ep_state *s = st_of(l);
    if (!s) return;
    if (s->epfd >= 0) eddy__sys_close(s->epfd);
    if (s->wakefd >= 0) eddy__sys_close(s->wakefd);
    free(s->fds);
    free(s);
    l->be_data = NULL;
}

static int ep_init(eddy_loop *l, const char **why)
{
    ep_state *s = calloc(1, sizeof *s);
    if (!s) {
        *why = "out of memory";
        return -ENOMEM;
    }
    s->wakefd = -1;
    l->be_data = s;
    s->epfd = eddy__sys_epoll_create1(EPOLL_CLOEXEC);
    int rc = 0;
    if (s->epfd < 0) {
        rc = -errno;
        *why = "epoll_create1";
    } else if ((s->wakefd = eddy__sys_eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        rc = -errno;
        *why = "eventfd";
    } else {
        /* data.fd = -1 marks the eventfd: no table entry, no watcher, not counted as I/O
         * that keeps the loop alive. */
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = -1};
        if (eddy__sys_epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev) < 0) {
            rc = -errno;
            *why = "epoll_ctl(eventfd)";
        }
    }
    if (rc < 0) ep_destroy(l);
    return rc;
}

static void ep_wake(eddy_loop *l)
{
    /* Async-signal-safe (the SIGINT handler calls it). EAGAIN: the counter is saturated, the
     * loop is awake anyway. */
    uint64_t one = 1;
    ssize_t r = eddy__sys_write(st_of(l)->wakefd, &one, sizeof one);
    (void)r;
}

static int ep_fd_of(eddy_loop *l) { return st_of(l)->epfd; }

static int reserve(ep_state *s, int fd)
{
    if ((size_t)fd < s->cap) return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap <= (size_t)fd) cap *= 2;
    ep_fd *f = realloc(s->fds, cap * sizeof *f);
    if (!f) return -ENOMEM;
    for (size_t i = s->cap; i < cap; i++) f[i] = (ep_fd){0};
    s->fds = f;
    s->cap = cap;
    return 0;
}

static uint32_t to_epoll(unsigned m)
{
    uint32_t e = 0;
    if (m & EDDY_READ) e |= EPOLLIN | EPOLLRDHUP;
    if (m & EDDY_WRITE) e |= EPOLLOUT;
    return e;
}

static unsigned wanted(const ep_fd *f)
{
    unsigned m = 0;
    if (f->r) m |= f->r->events & EDDY_READ;
    if (f->w) m |= f->w->events & EDDY_WRITE;
    if (f->x) m |= EDDY_ERR;
    return m;
}

/* Make the kernel's interest in fd exactly want. Returns 0 or -errno. */
static int set_interest(ep_state *s, int fd, unsigned want)
{
    ep_fd *f = &s->fds[fd];
    if (want == f->registered) return 0;
    struct epoll_event ev = {.events = to_epoll(want), .data.fd = fd};
    int rc;
    if (f->registered == 0)
        rc = eddy__sys_epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
    else if (want == 0)
        rc = eddy__sys_epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
    else
        rc = eddy__sys_epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev);
    if (rc < 0) {
        int e = errno;
        /* The descriptor was closed behind our back (EBADF/ENOENT on DEL): forget it. */
        if (want == 0) {
            f->registered = 0;
            return 0;
        }
        if (e == EEXIST) { /* registered under this number before and never dropped */
            if (eddy__sys_epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) {
                f->registered = want;
                return 0;
            }
            e = errno;
        }
        if (e == ENOENT && f->registered != 0) { /* closed and reopened: add again */
            if (eddy__sys_epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
                f->registered = want;
                return 0;
            }
            e = errno;
        }
        return -e;
    }
    f->registered = want;
    return 0;
}

/* Put w (w->fd, w->cb set; started or not) in the table for events and grow the kernel's
 * interest to cover it (lingering directions are kept: they cost nothing until they fire). */
static int attach(eddy_loop *l, eddy_io *w, unsigned events)
{
    ep_state *s = st_of(l);
    int fd = w->fd;
    int rc = reserve(s, fd);
    if (rc < 0) return rc;
    ep_fd *f = &s->fds[fd];
    if (((events & EDDY_READ) && f->r && f->r != w) || ((events & EDDY_WRITE) && f->w && f->w != w))
        return -EBUSY;
    if (events == EDDY_ERR) {
        if (f->x && f->x != w) return -EBUSY;
    }
    eddy_io *old_r = f->r, *old_w = f->w, *old_x = f->x;
    unsigned old_events = w->events;
    if (f->r == w) f->r = NULL;
    if (f->w == w) f->w = NULL;
    if (f->x == w) f->x = NULL;
    if (events & EDDY_READ) f->r = w;
    if (events & EDDY_WRITE) f->w = w;
    if (events == EDDY_ERR) f->x = w;
    w->events = events;
    unsigned want = wanted(f);
    if ((want & ~f->registered) == 0) return 0;
    rc = set_interest(s, fd, f->registered | want);
    if (rc < 0) {
        f->r = old_r;
        f->w = old_w;
        f->x = old_x;
        w->events = old_events;
    }
    return rc;
}

/* Take w out of the table; a borrowed descriptor's registration shrinks to what is still
 * wanted at once (see the top of the file). */
static void detach(eddy_loop *l, eddy_io *w)
{
    ep_state *s = st_of(l);
    ep_fd *f = &s->fds[w->fd];
    if (f->r == w) f->r = NULL;
    if (f->w == w) f->w = NULL;
    if (f->x == w) f->x = NULL;
    if (!w->owned) (void)set_interest(s, w->fd, wanted(f));
}

static int ep_watch(eddy_loop *l, eddy_io *w, unsigned events) { return attach(l, w, events); }

static void ep_unwatch(eddy_loop *l, eddy_io *w) { detach(l, w); }

static int ep_forget(eddy_loop *l, int fd);

/* ---- operations: try, then wait for readiness ---- */

/* Readiness woke the operation's task. The watcher stays in the table until the task runs
 * and takes it out (op_wait): a task woken by readiness often runs only after the loop has
 * polled again (the ready queue is long), and a descriptor without a watcher at that poll
 * would look unwanted, so its registration would be dropped and made again (two epoll_ctl
 * per wake-up). Readiness reported again meanwhile finds the task already woken. */
static void op_ready(eddy_io *w, unsigned revents)
{
    eddy__op *op = eddy__container_of(w, eddy__op, be.io);
    if (op->done) return;
    op->done = true;
    eddy__wake(op->task, (int)(revents ? revents : EDDY_ERR));
}

static void op_wait_cancel(eddy_task *t, void *arg)
{
    (void)t;
    eddy__op *op = arg;
    if (op->be.io.active) {
        op->be.io.active = false;
        detach(t->loop, &op->be.io);
    }
}

/* Park op's task until its descriptor is ready for events (EDDY_ERR alone: until its error
 * queue has something). The ready events (> 0), or the cancel code (unless uncancellable),
 * -EBADF (interrupted), the errors of attach. */
static int op_wait(eddy_loop *l, eddy__op *op, unsigned events, bool uncancellable)
{
    eddy_io *w = &op->be.io;
    w->fd = op->fd;
    w->cb = op_ready;
    w->owned = op->owner != NULL;
    w->events = 0;
    op->done = false;
    int rc = attach(l, w, events);
    if (rc < 0) return rc;
    w->active = true;
    l->nwatch_ref++;
    eddy__wait wt = {.reason = events == EDDY_ERR      ? "zero-copy send"
                               : (events & EDDY_WRITE) ? "wait writable"
                                                       : "wait readable",
                     .obj = (const void *)(intptr_t)op->fd, .cancel = op_wait_cancel, .arg = op,
                     .uncancellable = uncancellable};
    rc = eddy__park(&wt);
    l->nwatch_ref--;
    if (w->active) {
        w->active = false;
        detach(l, w);
    }
    return rc;
}

/* Try, and wait for readiness while the system call would block. */
static ssize_t try_wait(eddy_loop *l, eddy__op *op, bool attempt)
{
    unsigned events = eddy__op_events(op);
    for (;;) {
        if (attempt) {
            ssize_t r = eddy__op_syscall(op);
            if (r != -EAGAIN) return r;
        }
        attempt = true;
        int rc = op_wait(l, op, events, false);
        if (op->intr) return -EBADF;
        if (rc < 0) return rc;
    }
}

/* A MSG_ZEROCOPY send: the kernel takes the pages themselves, so the call returns only once
 * it has said (on the socket's error queue) that it let go of them. A cancellation ends that
 * wait the only way TCP allows: it resets the connection (eddy__op_zc_purge), which frees the
 * queued pages at once, waits (uncancellably, briefly) for that notice and returns the cancel
 * code, for bytes the peer may or may not have got. A close does the same reset
 * (eddy__iofd_interrupt). A kernel out of option memory for the notice (ENOBUFS, nothing
 * sent) gets the bytes by copy. */
static ssize_t zc_send(eddy_loop *l, eddy__op *op)
{
    eddy__iofd *f = op->owner;
    if (op->kind == EDDY__OP_SEND)
        op->u.rw.flags |= MSG_ZEROCOPY;
    else
        op->u.msg.flags |= MSG_ZEROCOPY;
    ssize_t n = try_wait(l, op, !(op->flags & EDDY__OP_POLL_FIRST));
    if (n == -ENOBUFS && !op->intr) { /* no room for the notice (optmem_max): copy instead */
        if (op->kind == EDDY__OP_SEND)
            op->u.rw.flags &= ~MSG_ZEROCOPY;
        else
            op->u.msg.flags &= ~MSG_ZEROCOPY;
        return try_wait(l, op, true);
    }
    if (n < 0) return n; /* nothing sent: nothing to wait for (the kernel reuses the number) */
    op->zc_seq = f->zc_next++;
    int code = 0;
    for (;;) {
        int rc = eddy__op_zc_reap(op->fd, op->zc_seq);
        if (rc != 0) return code ? code : n; /* released (or the queue broke: the socket is failing) */
        if (!code && (code = eddy__cancel_code(op->task)) != 0) {
            eddy__op_zc_purge(op->fd);
            continue;
        }
        rc = op_wait(l, op, EDDY_ERR, code != 0);
        /* No room in the table for the wait (ENOMEM): look again after a turn of the loop. */
        if (rc < 0 && rc != -EBADF && !eddy__cancel_code(op->task)) eddy__coop_yield(l, op->task);
    }
}

static ssize_t ep_run(eddy_loop *l, eddy__op *op)
{
    if (op->kind == EDDY__OP_POLL) {
        int rc = op_wait(l, op, op->u.poll.events, false);
        return op->intr ? -EBADF : rc;
    }
    if ((op->flags & EDDY__OP_ZEROCOPY) && op->owner && op->owner->zc_on) return zc_send(l, op);
    return try_wait(l, op, !(op->flags & EDDY__OP_POLL_FIRST));
}

/* The descriptor of op is being closed (op is in flight: parked in op_wait, or woken and not
 * yet run). An attempt it makes is synchronous, so ending the wait is enough. */
static void ep_interrupt(eddy_loop *l, eddy__op *op)
{
    op->intr = true;
    eddy_io *w = &op->be.io;
    if (w->active) {
        w->active = false;
        detach(l, w);
    }
    if (!op->done) {
        op->done = true;
        (void)eddy__wake(op->task, -EBADF);
    }
}

static int ep_forget(eddy_loop *l, int fd)
{
    ep_state *s = st_of(l);
    if (fd < 0 || (size_t)fd >= s->cap) return 0;
    ep_fd *f = &s->fds[fd];
    int n = 0;
    eddy_io *ws[2] = {f->r, f->w != f->r ? f->w : NULL};
    for (int i = 0; i < 2; i++)
        if (ws[i] && ws[i]->cb == op_ready) {
            ep_interrupt(l, eddy__container_of(ws[i], eddy__op, be.io));
            n++;
        }
    /* Drop the kernel registration now: after close() the number may be reused. */
    if (!f->r && !f->w && f->registered) {
        (void)eddy__sys_epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
        f->registered = 0;
    }
    return n;
}

/* ---- receive feeds: readiness, the generic way ---- */

static int ep_feed_start(eddy_loop *l, eddy__feed *f)
{
    (void)l;
    return eddy__feed_start_ready(f);
}

static void ep_feed_stop(eddy_loop *l, eddy__feed *f, bool final)
{
    (void)l;
    (void)final;
    eddy__feed_stop_ready(f);
}

/* ---- polling ---- */

static void dispatch(eddy_loop *l, ep_state *s, int fd, unsigned revents)
{
    eddy_io *r = s->fds[fd].r, *w;
    unsigned extra = revents & (EDDY_ERR | EDDY_HUP);
    bool r_called = false;
    if (r && (revents & EDDY_READ)) {
        eddy__io_call(l, r, (revents & r->events) | extra);
        r_called = true;
    }
    /* The read callback may have stopped or replaced the writer, or started a watcher on a
     * higher fd, which reallocates the table: index it afresh, never keep a pointer in.
     * A watcher of both directions is both r and w: it was called above only if the fd was
     * readable, and must still be called when it is only writable. */
    w = s->fds[fd].w;
    if (w && (revents & EDDY_WRITE) && !(r_called && w == r))
        eddy__io_call(l, w, (revents & w->events) | extra);
    eddy_io *x = s->fds[fd].x;
    if (x && (revents & EDDY_ERR)) eddy__io_call(l, x, EDDY_ERR);
}

static int ep_poll(eddy_loop *l, int64_t timeout_ns)
{
    ep_state *s = st_of(l);
    int ms;
    if (timeout_ns < 0)
        ms = -1;
    else if (timeout_ns == 0)
        ms = 0;
    else if (timeout_ns > (int64_t)INT32_MAX * 1000000)
        ms = INT32_MAX;
    else
        ms = (int)((timeout_ns + 999999) / 1000000); /* round up: never wake early */

    struct epoll_event evs[MAX_EVENTS];
    int n = eddy__sys_epoll_wait(s->epfd, evs, MAX_EVENTS, ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        uint32_t e = evs[i].events;
        int fd = evs[i].data.fd;
        if (fd < 0) { /* the wake-up eventfd */
            uint64_t v;
            ssize_t r = eddy__sys_read(s->wakefd, &v, sizeof v);
            (void)r;
            continue;
        }
        unsigned r = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLPRI)) r |= EDDY_READ;
        if (e & EPOLLOUT) r |= EDDY_WRITE;
        if (e & EPOLLERR) r |= EDDY_ERR | EDDY_READ | EDDY_WRITE;
        if (e & EPOLLHUP) r |= EDDY_HUP | EDDY_READ | EDDY_WRITE;
        if ((size_t)fd >= s->cap) continue;
        /* Readiness in a direction nobody watches comes from a lingering registration:
         * narrow it after dispatch (to what is wanted then), or it would fire forever. */
        unsigned stale = r & (EDDY_READ | EDDY_WRITE) & s->fds[fd].registered & ~wanted(&s->fds[fd]);
        dispatch(l, s, fd, r);
        if (stale) { /* (the table may have grown in dispatch, never shrunk) */
            ep_fd *f = &s->fds[fd];
            (void)set_interest(s, fd, (f->registered & ~stale) | wanted(f));
        }
    }
    return n;
}

const eddy__backend eddy__backend_epoll = {
    .name = "epoll",
    .init = ep_init,
    .destroy = ep_destroy,
    .poll = ep_poll,
    .wake = ep_wake,
    .fd = ep_fd_of,
    .watch = ep_watch,
    .unwatch = ep_unwatch,
    .run = ep_run,
    .interrupt = ep_interrupt,
    .forget = ep_forget,
    .feed_start = ep_feed_start,
    .feed_stop = ep_feed_stop,
};
