/* eddy loop backend: epoll (always available).
 *
 * Level-triggered interest per fd. Interest grows at once (eddy_io_start tells the kernel
 * before it returns, so EPERM for a regular file or EBADF reaches the caller) but shrinks
 * only lazily: when a watcher stops, the kernel registration stays, and it is narrowed the
 * first time the kernel reports readiness that no watcher wants. The common pattern — a task
 * woken by readiness stops its one-shot watcher, reads, writes, and waits again, perhaps only
 * after the loop has polled again because the ready queue was long — then costs no epoll_ctl
 * at all (libuv's epoll backend does the same). A registration left behind when an fd is
 * closed is dropped by eddy_fd_forget, which callers must use before close (see loop.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/epoll.h>
#include <unistd.h>

#include "internal.h"

#define MAX_EVENTS 256

static int ep_init(eddy_loop *l)
{
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) return -errno;
    l->be_data = NULL;
    return 0;
}

static void ep_destroy(eddy_loop *l)
{
    if (l->epfd >= 0) close(l->epfd);
    l->epfd = -1;
}

static uint32_t to_epoll(unsigned m)
{
    uint32_t e = 0;
    if (m & EDDY_READ) e |= EPOLLIN | EPOLLRDHUP;
    if (m & EDDY_WRITE) e |= EPOLLOUT;
    return e;
}

static unsigned wanted(eddy_loop *l, int fd)
{
    eddy__fdent *f = &l->fds[fd];
    unsigned m = 0;
    if (f->r) m |= f->r->events & EDDY_READ;
    if (f->w) m |= f->w->events & EDDY_WRITE;
    return m;
}

/* Make the kernel's interest in fd exactly want. Returns 0 or -errno. */
static int set_interest(eddy_loop *l, int fd, unsigned want)
{
    eddy__fdent *f = &l->fds[fd];
    if (want == f->registered) return 0;
    struct epoll_event ev = {.events = to_epoll(want), .data.fd = fd};
    int rc;
    if (f->registered == 0)
        rc = epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
    else if (want == 0)
        rc = epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    else
        rc = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
    if (rc < 0) {
        int e = errno;
        /* The fd was closed behind our back (EBADF/ENOENT on DEL): forget it. */
        if (want == 0) {
            f->registered = 0;
            return 0;
        }
        if (e == EEXIST) { /* registered by a previous owner of this fd number */
            if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) {
                f->registered = want;
                return 0;
            }
            e = errno;
        }
        if (e == ENOENT && f->registered != 0) { /* closed and reopened: re-add */
            if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
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

/* Grow at once (keeping lingering directions: they cost nothing until they fire); never
 * shrink here, see the top of the file. */
static int ep_update(eddy_loop *l, int fd, unsigned old_mask, unsigned new_mask)
{
    (void)old_mask;
    unsigned reg = l->fds[fd].registered;
    if ((new_mask & ~reg) == 0) return 0;
    return set_interest(l, fd, reg | new_mask);
}

static void ep_forget(eddy_loop *l, int fd)
{
    eddy__fdent *f = &l->fds[fd];
    if (f->registered) (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    f->registered = 0;
}

static int ep_poll(eddy_loop *l, int64_t timeout_ns)
{
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
    int n = epoll_wait(l->epfd, evs, MAX_EVENTS, ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        uint32_t e = evs[i].events;
        int fd = evs[i].data.fd;
        unsigned r = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLPRI)) r |= EDDY_READ;
        if (e & EPOLLOUT) r |= EDDY_WRITE;
        if (e & EPOLLERR) r |= EDDY_ERR | EDDY_READ | EDDY_WRITE;
        if (e & EPOLLHUP) r |= EDDY_HUP | EDDY_READ | EDDY_WRITE;
        if ((size_t)fd >= l->nfds_cap) continue;
        /* Readiness in a direction nobody watches comes from a lingering registration:
         * narrow it after dispatch (to what is wanted then), or it would fire forever. */
        unsigned stale = r & (EDDY_READ | EDDY_WRITE) & l->fds[fd].registered & ~wanted(l, fd);
        eddy__io_dispatch(l, fd, r);
        if (stale) { /* (the fd table may have grown in dispatch, never shrunk) */
            eddy__fdent *f = &l->fds[fd];
            (void)set_interest(l, fd, (f->registered & ~stale) | wanted(l, fd));
        }
    }
    return n;
}

const eddy__backend eddy__backend_epoll = {
    .name = "epoll",
    .init = ep_init,
    .destroy = ep_destroy,
    .poll = ep_poll,
    .update = ep_update,
    .forget = ep_forget,
};
