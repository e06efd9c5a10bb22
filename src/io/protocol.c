/* eddy io: the protocol server (N9) — accepts from a read watcher on the listener, one
 * transport per connection, backs off when out of descriptors, and stops by policy
 * (close with a grace period, or abort). Transports themselves are transport.c. */
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/proto.h"
#include "loop/sys.h"

enum { ACCEPT_BATCH = 32 };

struct eddy_protocol_server {
    eddy_listener *listener;
    int lfd;
    bool inet;
    eddy_protocol_factory factory;
    void *arg;
    eddy_protocol_server_opts opts;
    eddy_io lio;
    eddy_timer backoff;     /* accept retry after EMFILE/ENFILE/ENOMEM */
    eddy_timer grace;       /* abort the stragglers of a graceful stop */
    eddy__link conns;       /* every transport until its connection_lost returned */
    eddy__waitq waiters;    /* eddy_protocol_server_wait / close */
    bool stopping;
    bool free_when_drained; /* closed from a callback */
    bool in_accept;         /* the accept callback is on the stack: do not free */
    bool gone;              /* drained, waiters woken */
    struct eddy_protocol_server_stats stats;
    eddy__handle handle;
};

static void on_accept(eddy_io *w, unsigned revents);

static bool drained(const eddy_protocol_server *s) { return s->stopping && s->stats.active == 0; }

static void server_free(eddy_protocol_server *s)
{
    (void)eddy_timer_stop(&s->backoff);
    (void)eddy_timer_stop(&s->grace);
    eddy__handle_del(&s->handle);
    free(s);
    eddy__proto_release();
}

/* Wake every waiter once the server is finished; free it if it was closed from a callback. */
static void check_drained(eddy_protocol_server *s)
{
    if (!drained(s)) return;
    if (!s->gone) {
        s->gone = true;
        (void)eddy_timer_stop(&s->grace);
        /* rc 1: "drained" — the waiters return without touching s again. */
        eddy__waitq_wake_all(&s->waiters, 1);
    }
    if (s->free_when_drained && !s->in_accept) server_free(s);
}

static int start_accepting(eddy_protocol_server *s)
{
    return eddy_io_start(&s->lio, s->lfd, EDDY_READ, on_accept, s);
}

static void backoff_fired(void *arg);

/* Stop accepting for the backoff period after a resource error. */
static void back_off(eddy_protocol_server *s, int err)
{
    s->stats.accept_errors++;
    s->stats.last_accept_error = err;
    /* EDDY_FOREVER: no timer; eddy__server_transport_gone restarts accepting when one of the
     * server's connections ends and gives its descriptor back. */
    if (s->opts.accept_backoff == EDDY_FOREVER) {
        eddy_io_stop(&s->lio);
        return;
    }
    /* Without memory for even the timer, keep the watcher: retrying on every loop iteration
     * is wasteful, but a server that never accepts again would be worse. */
    if (eddy_call_later(&s->backoff, s->opts.accept_backoff, backoff_fired, s) == 0)
        eddy_io_stop(&s->lio);
}

static void backoff_fired(void *arg)
{
    eddy_protocol_server *s = arg;
    if (s->stopping) return;
    if (s->opts.max_conns && s->stats.active >= s->opts.max_conns) return; /* gone() restarts */
    /* The watcher cannot start without memory: try again after another period. */
    if (start_accepting(s) < 0) {
        s->stats.accept_errors++;
        s->stats.last_accept_error = -ENOMEM;
        int rc = eddy_call_later(&s->backoff, s->opts.accept_backoff, backoff_fired, s);
        (void)rc; /* not even that: eddy__server_transport_gone restarts accepting */
    }
}

static void accept_one(eddy_protocol_server *s, int fd, const eddy_sockaddr *peer)
{
    s->stats.accepted++;
    if (s->inet) {
        int one = 1;
        (void)eddy__sys_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    eddy_transport *t;
    int rc = eddy__transport_new(fd, EDDY__TP_OPEN, peer, &s->opts.limits, s->handle.site, &t);
    if (rc < 0) {
        eddy__sys_close(fd);
        back_off(s, rc);
        return;
    }
    const eddy_protocol *proto = NULL;
    void *user = NULL;
    rc = s->factory(s->arg, peer, &proto, &user);
    if (rc < 0 || !proto) {
        eddy__transport_discard(t);
        return;
    }
    t->proto = proto;
    t->user = user;
    t->server = s;
    eddy__list_push_back(&s->conns, &t->slink);
    s->stats.active++;
    eddy__transport_made(t);
}

static void on_accept(eddy_io *w, unsigned revents)
{
    (void)revents;
    eddy_protocol_server *s = w->data;
    s->in_accept = true;
    for (int i = 0; i < ACCEPT_BATCH && !s->stopping; i++) {
        if (s->opts.max_conns && s->stats.active >= s->opts.max_conns) {
            eddy_io_stop(&s->lio); /* restarted when a connection ends */
            break;
        }
        eddy_sockaddr peer;
        peer.len = sizeof peer.ss;
        int fd = eddy__sys_accept4(s->lfd, (struct sockaddr *)&peer.ss, &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK) break;
            if (eddy__accept_error_is_transient(e)) continue;
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM — and anything unexpected (the listener
             * broke): never spin on a level-triggered listener; retry later. */
            back_off(s, -e);
            break;
        }
        accept_one(s, fd, &peer);
    }
    s->in_accept = false;
    check_drained(s);
}

void eddy__server_transport_gone(eddy_protocol_server *s)
{
    s->stats.active--;
    if (s->stopping) {
        check_drained(s);
        return;
    }
    if (!s->lio.active && !eddy_timer_is_pending(&s->backoff) &&
        (!s->opts.max_conns || s->stats.active < s->opts.max_conns)) {
        if (start_accepting(s) < 0) back_off(s, -ENOMEM);
    }
}

int eddy__protocol_serve(eddy_listener *l, eddy_protocol_factory factory, void *arg,
                         const eddy_protocol_server_opts *o, eddy_protocol_server **out,
                         const char *site)
{
    if (out) *out = NULL;
    if (!eddy__loop()) return -EPERM;
    if (!l || !factory || !out) return -EINVAL;
    static const eddy_protocol_server_opts def = EDDY_PROTOCOL_SERVER_OPTS_INIT;
    if (!o) o = &def;
    if (o->grace < 0 || o->accept_backoff < 0) return -EINVAL;
    eddy_protocol_server *s = calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    int rc = eddy__proto_acquire();
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->listener = l;
    s->lfd = eddy_listener_fd(l);
    s->inet = l->family == AF_INET || l->family == AF_INET6;
    s->factory = factory;
    s->arg = arg;
    s->opts = *o;
    eddy__list_init(&s->conns);
    eddy__waitq_init(&s->waiters);
    rc = start_accepting(s);
    if (rc < 0) {
        free(s);
        eddy__proto_release();
        return rc;
    }
    eddy__handle_add(eddy__loop(), &s->handle, "protocol server", site);
    *out = s;
    return 0;
}

static void abort_all(eddy_protocol_server *s)
{
    for (eddy__link *x = s->conns.next; x != &s->conns; x = x->next) {
        eddy_transport *t = eddy__container_of(x, eddy_transport, slink);
        (void)eddy_transport_abort(t); /* -EBADF for the already dead: fine */
    }
}

static void grace_fired(void *arg) { abort_all(arg); }

void eddy_protocol_server_shutdown(eddy_protocol_server *s)
{
    if (!s || s->stopping) return;
    s->stopping = true;
    eddy_io_stop(&s->lio);
    (void)eddy_timer_stop(&s->backoff);
    if (s->opts.abort_clients) {
        abort_all(s);
    } else {
        bool left = false;
        /* Closing never frees (connection_lost is deferred), so the list stays intact. */
        for (eddy__link *x = s->conns.next; x != &s->conns; x = x->next) {
            eddy_transport *t = eddy__container_of(x, eddy_transport, slink);
            (void)eddy_transport_close(t);
            if (t->state != EDDY__TP_DEAD) left = true;
        }
        /* grace 0: what the close could not end at once is aborted now; EDDY_FOREVER: no
         * limit, the transports close when their peers let them. */
        if (left && s->opts.grace == 0)
            abort_all(s);
        else if (left && s->opts.grace != EDDY_FOREVER &&
                 eddy_call_later(&s->grace, s->opts.grace, grace_fired, s) < 0)
            abort_all(s);
    }
    check_drained(s);
}

int eddy_protocol_server_wait(eddy_protocol_server *s)
{
    eddy_loop *l = eddy__loop();
    if (!l || !l->current || l->in_callback) return -EPERM;
    if (!s) return -EINVAL;
    if (s->gone) return 0;
    eddy__waiter w;
    int rc = eddy__waitq_wait(&s->waiters, &w, "protocol server", s);
    return rc < 0 ? rc : 0;
}

static void close_wait_cancel(eddy_task *t, void *arg)
{
    (void)t;
    (void)arg; /* uncancellable: never called */
}

int eddy_protocol_server_close(eddy_protocol_server *s)
{
    if (!s) return 0;
    eddy_loop *l = eddy__loop();
    if (!l) return -EPERM;
    eddy_protocol_server_shutdown(s);
    if (!l->current || l->in_callback) {
        s->free_when_drained = true;
        check_drained(s);
        return 0;
    }
    if (!s->gone) {
        eddy__waiter w = {.task = l->current};
        eddy__list_push_back(&s->waiters.head, &w.link);
        /* Not a cancellation point: bounded by the grace period, after which every
         * transport is aborted and freed on the next loop iteration. */
        eddy__wait wt = {.reason = "protocol server close", .obj = s, .cancel = close_wait_cancel,
                         .arg = &w, .uncancellable = true};
        (void)eddy__park(&wt);
    }
    server_free(s);
    return 0;
}

void eddy_protocol_server_stats(const eddy_protocol_server *s,
                                struct eddy_protocol_server_stats *out)
{
    if (!out) return;
    if (!s) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = s->stats;
}
