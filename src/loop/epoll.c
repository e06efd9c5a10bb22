/* eddy loop backend: epoll (always available).
 *
 * Level-triggered interest per fd, kept in sync lazily: eddy_io_start/stop only record the
 * wanted mask (update), and the kernel is told just before epoll_wait, so a watcher that is
 * stopped and restarted within one iteration (the common read-again pattern) costs no
 * epoll_ctl at all. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/epoll.h>
#include <unistd.h>

#include "internal.h"

#define MAX_EVENTS 256

typedef struct epoll_state {
    int *dirty;      /* fds whose interest changed since the last poll */
    size_t ndirty, cap;
} epoll_state;

static epoll_state *st(eddy_loop *l) { return (epoll_state *)(void *)l->be_data; }

static int ep_init(eddy_loop *l)
{
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) return -errno;
    epoll_state *s = calloc(1, sizeof *s);
    if (!s) {
        close(l->epfd);
        l->epfd = -1;
        return -ENOMEM;
    }
    l->be_data = s;
    return 0;
}

static void ep_fini(eddy_loop *l)
{
    epoll_state *s = st(l);
    if (s) {
        free(s->dirty);
        free(s);
        l->be_data = NULL;
    }
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

/* Apply one fd's interest. Returns 0 or -errno. */
static int sync_fd(eddy_loop *l, int fd)
{
    eddy__fdent *f = &l->fds[fd];
    unsigned want = wanted(l, fd);
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

/* Interest grows: tell the kernel now, so errors (EPERM for regular files, EBADF) reach the
 * caller of eddy_io_start. Interest shrinks: defer, coalescing stop+start pairs. */
static int ep_update(eddy_loop *l, int fd, unsigned old_mask, unsigned new_mask)
{
    (void)old_mask;
    if ((new_mask & ~l->fds[fd].registered) != 0) return sync_fd(l, fd);
    if (new_mask == l->fds[fd].registered) return 0;
    epoll_state *s = st(l);
    if (s->ndirty == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        int *d = realloc(s->dirty, cap * sizeof *d);
        if (!d) return sync_fd(l, fd); /* no memory to defer: do it now */
        s->dirty = d;
        s->cap = cap;
    }
    s->dirty[s->ndirty++] = fd;
    return 0;
}

static void ep_forget(eddy_loop *l, int fd)
{
    eddy__fdent *f = &l->fds[fd];
    if (f->registered) (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    f->registered = 0;
}

static int ep_poll(eddy_loop *l, int64_t timeout_ns)
{
    epoll_state *s = st(l);
    for (size_t i = 0; i < s->ndirty; i++) {
        int fd = s->dirty[i];
        if ((size_t)fd < l->nfds_cap) (void)sync_fd(l, fd);
    }
    s->ndirty = 0;

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
        unsigned r = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLPRI)) r |= EDDY_READ;
        if (e & EPOLLOUT) r |= EDDY_WRITE;
        if (e & EPOLLERR) r |= EDDY_ERR | EDDY_READ | EDDY_WRITE;
        if (e & EPOLLHUP) r |= EDDY_HUP | EDDY_READ | EDDY_WRITE;
        eddy__io_dispatch(l, evs[i].data.fd, r);
    }
    return n;
}

const eddy__backend eddy__backend_epoll = {
    .name = "epoll",
    .init = ep_init,
    .fini = ep_fini,
    .poll = ep_poll,
    .update = ep_update,
    .forget = ep_forget,
};
