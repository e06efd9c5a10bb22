/* eddy task layer: eddy_choose (C8).
 *
 * First every clause is tried in array order without waiting (channel operations, deadlines
 * already passed, fds polled with a zero timeout). If none can complete, every clause is
 * registered at once — a channel waiter, an fd watcher or a timer, all stored inside the
 * caller's clause array and pointing to one eddy__choice in this frame — and the task parks.
 * Whoever completes a clause first (a channel peer, the fd callback, the timer callback)
 * calls eddy__choice_fire, which unregisters every clause before the task can run again, so
 * the others cannot complete: exactly one clause happens. Cancellation unregisters all. */
#include <poll.h>
#include <string.h>

#include "chan_impl.h"
#include "loop/sys.h"

static void unregister(eddy__choice *chs)
{
    eddy_loop *l = eddy__tl_loop;
    for (size_t i = 0; i < chs->nreg; i++) {
        eddy_clause *c = &chs->c[i];
        switch (c->op) {
        case EDDY_CLAUSE_SEND:
        case EDDY_CLAUSE_RECV:
            eddy__list_remove(&c->priv_.u.w.link); /* harmless if already unlinked */
            break;
        case EDDY_CLAUSE_FD:
            eddy_io_stop(&c->priv_.u.io);
            break;
        case EDDY_CLAUSE_DEADLINE:
            eddy__timer_stop(l, &c->priv_.u.tm);
            break;
        }
    }
    chs->nreg = 0;
}

void eddy__choice_fire(eddy__choice *chs, size_t idx, int rc)
{
    if (chs->done) return; /* cannot happen: a claimed choice has no registration left */
    chs->done = true;
    chs->c[idx].rc = rc;
    unregister(chs);
    eddy__wake(chs->task, (int)idx);
}

static void fd_ready(eddy_io *io, unsigned revents)
{
    eddy_clause *c = eddy__container_of(io, eddy_clause, priv_.u.io);
    eddy__choice *chs = c->priv_.choice;
    eddy__choice_fire(chs, (size_t)(c - chs->c), (int)(revents ? revents : EDDY_ERR));
}

static void deadline_passed(void *arg)
{
    eddy_clause *c = arg;
    eddy__choice *chs = c->priv_.choice;
    eddy__choice_fire(chs, (size_t)(c - chs->c), 0);
}

static void choose_cancel(eddy_task *t, void *arg)
{
    (void)t;
    unregister(arg);
}

static int validate(const eddy_clause *c)
{
    switch (c->op) {
    case EDDY_CLAUSE_SEND:
        if (!c->tx) return -EINVAL;
        if (!c->tx->ch) return -EBADF;
        if (!c->elem && c->tx->ch->elem_size) return -EINVAL;
        return 0;
    case EDDY_CLAUSE_RECV:
        if (!c->rx) return -EINVAL;
        if (!c->rx->ch) return -EBADF;
        if (!c->elem && c->rx->ch->elem_size) return -EINVAL;
        return 0;
    case EDDY_CLAUSE_FD:
        if (c->fd < 0 || !(c->events & (EDDY_READ | EDDY_WRITE))) return -EINVAL;
        return 0;
    case EDDY_CLAUSE_DEADLINE:
        return 0;
    default:
        return -EINVAL;
    }
}

/* Returns the clause's result if it completed now, -EAGAIN if it would block, or (for fd
 * clauses) -EBADF for an fd poll calls invalid. Results of completed clauses are >= 0 or
 * -EPIPE; set *done. */
static int try_now(eddy_clause *c, bool *done)
{
    int rc;
    *done = false;
    switch (c->op) {
    case EDDY_CLAUSE_SEND:
        rc = eddy__chan_send_now(c->tx->ch, c->elem);
        break;
    case EDDY_CLAUSE_RECV:
        rc = eddy__chan_recv_now(c->rx->ch, c->elem);
        break;
    case EDDY_CLAUSE_DEADLINE:
        rc = c->deadline <= eddy_now() ? 0 : -EAGAIN;
        break;
    case EDDY_CLAUSE_FD: {
        struct pollfd p = {.fd = c->fd, .events = 0};
        if (c->events & EDDY_READ) p.events |= POLLIN;
        if (c->events & EDDY_WRITE) p.events |= POLLOUT;
        int n = eddy__sys_poll(&p, 1, 0);
        if (n <= 0) return -EAGAIN; /* EINTR/ENOMEM: let the watcher find out */
        if (p.revents & POLLNVAL) return -EBADF;
        unsigned ev = 0;
        if (p.revents & POLLIN) ev |= EDDY_READ;
        if (p.revents & POLLOUT) ev |= EDDY_WRITE;
        if (p.revents & POLLERR) ev |= EDDY_ERR;
        if (p.revents & POLLHUP) ev |= EDDY_HUP;
        rc = (int)ev;
        break;
    }
    default:
        return -EINVAL;
    }
    if (rc == -EAGAIN) return rc;
    *done = true;
    return rc;
}

static int register_clause(eddy_loop *l, eddy__choice *chs, size_t i)
{
    eddy_clause *c = &chs->c[i];
    c->priv_.choice = chs;
    switch (c->op) {
    case EDDY_CLAUSE_SEND:
    case EDDY_CLAUSE_RECV: {
        eddy__chan_waiter *w = &c->priv_.u.w;
        w->task = chs->task;
        w->buf = c->elem;
        w->choice = chs;
        w->idx = i;
        if (c->op == EDDY_CLAUSE_SEND) {
            w->end = c->tx;
            eddy__list_push_back(&c->tx->ch->senders, &w->link);
        } else {
            w->end = c->rx;
            eddy__list_push_back(&c->rx->ch->receivers, &w->link);
        }
        return 0;
    }
    case EDDY_CLAUSE_FD: {
        eddy_io *io = &c->priv_.u.io;
        memset(io, 0, sizeof *io);
        return eddy__io_start(io, c->fd, c->events, fd_ready, chs, chs->task->site);
    }
    case EDDY_CLAUSE_DEADLINE: {
        eddy_timer *tm = &c->priv_.u.tm;
        memset(tm, 0, sizeof *tm);
        tm->heap_index = SIZE_MAX;
        if (c->deadline == EDDY_FOREVER) return 0; /* never fires: no timer to keep the loop up */
        return eddy__timer_start(l, tm, c->deadline, deadline_passed, c);
    }
    }
    return -EINVAL;
}

int eddy_choose(eddy_clause *clauses, size_t n, unsigned flags)
{
    if (flags & ~(unsigned)EDDY_CHOOSE_NOWAIT) return -EINVAL;
    bool nowait = flags & EDDY_CHOOSE_NOWAIT;
    if ((!clauses && n) || n > (size_t)INT32_MAX || (n == 0 && !nowait)) return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = validate(&clauses[i]);
        if (rc) return rc;
    }
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = NULL;
    if (!nowait) {
        if (!l || !l->current || l->in_callback) return -EPERM;
        t = l->current;
        int c = eddy__cancel_code(t);
        if (c) return c;
    } else if (!l) {
        return -EPERM;
    }
    for (size_t i = 0; i < n; i++) {
        bool done;
        int rc = try_now(&clauses[i], &done);
        if (done) {
            clauses[i].rc = rc;
            return t ? eddy__coop_done(t, (int)i) : (int)i;
        }
        if (rc != -EAGAIN) return t ? eddy__coop_done(t, rc) : rc;
    }
    if (nowait) return -EAGAIN;

    eddy__choice chs = {.task = t, .c = clauses, .n = n};
    for (size_t i = 0; i < n; i++) {
        int rc = register_clause(l, &chs, i);
        if (rc < 0) {
            unregister(&chs);
            return rc;
        }
        chs.nreg = i + 1;
    }
    eddy__wait wt = {.reason = "choose", .obj = clauses, .cancel = choose_cancel, .arg = &chs};
    return eddy__park(&wt); /* cancelled: choose_cancel unregistered every clause */
}
