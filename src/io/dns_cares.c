/* eddy io: the default resolver, c-ares driven by the loop (N11).
 *
 * One ares channel per loop, made at the first query and destroyed when the loop ends (an exit
 * hook). c-ares never blocks and runs no thread of its own here: it reports the sockets it
 * wants watched through ARES_OPT_SOCK_STATE_CB, each gets an eddy_io watcher that feeds
 * ares_process_fd, and ares_timeout tells when to call it with no fd so that retries and
 * timeouts happen. The channel reads /etc/resolv.conf (servers, search, ndots, options) and
 * the lookup order ("files" = /etc/hosts, "dns") from the system, as the libc resolver does.
 *
 * c-ares measures its timeouts on CLOCK_MONOTONIC and cannot be given another clock. On the
 * loop's default (monotonic) clock its timer is an eddy timer; on a virtual or custom clock
 * eddy timers follow that clock, which has nothing to do with how long a server takes to
 * answer (a virtual clock jumping to a timer due "in 2 s" would make the loop spin against a
 * c-ares that still sees 2 s to go), so there the timer is a timerfd on CLOCK_MONOTONIC.
 *
 * A query outlives the task that asked: c-ares has no per-query cancel (ares_cancel ends every
 * query of the channel), so a cancelled eddy_resolve abandons its query. The ares callback's
 * argument is therefore a small heap record, not the caller's frame: the caller's frame is
 * reachable from it only while the caller waits, and the record is freed by the callback,
 * whenever c-ares ends the query (answer, timeout, or the channel's destruction).
 *
 * c-ares status -> errno (the contract of eddy_resolve in include/eddy/dns.h):
 *   ENOTFOUND (NXDOMAIN), ENODATA (no record of that type), ENONAME  -> -ENOENT
 *   ETIMEOUT (no server answered), ESERVFAIL (server failure)        -> -EAGAIN
 *     (c-ares 1.18 does not end a query on SERVFAIL or REFUSED: it tries the next server, and
 *     when none is left reports ECONNREFUSED)
 *   ECONNREFUSED (could not reach a server), EREFUSED (REFUSED rcode) -> -ECONNREFUSED
 *   EBADRESP, EFORMERR, ENOTIMP, EBADQUERY, EOF and anything unknown   -> -EIO
 *   EBADNAME (not a valid DNS name) -> -EINVAL; EBADFAMILY -> -EAFNOSUPPORT; ENOMEM -> -ENOMEM
 *   ECANCELLED, EDESTRUCTION (never seen by a waiting caller)          -> -ECANCELED */
#ifdef EDDY_HAVE_CARES /* CMake found c-ares; else dns_default.c is the resolver */
#include <ares.h>
#include <pthread.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "io/io.h"

typedef struct dns_state dns_state;

/* A socket c-ares asked us to watch: a watcher per direction (the loop calls a watcher that
 * has both directions only when the fd is readable). */
typedef struct cares_sock {
    eddy_io rio, wio;
    int fd;
    struct cares_sock *next;
    dns_state *st;
} cares_sock;

typedef struct resolve_op resolve_op;

/* The ares callback's argument: lives until c-ares ends the query. */
typedef struct cares_query {
    dns_state *st;
    resolve_op *op; /* the waiting caller's frame; NULL once abandoned */
} cares_query;

/* In the caller's frame. */
struct resolve_op {
    eddy_task *task;
    cares_query *q; /* NULL once the query has ended */
    uint16_t port;
    eddy_sockaddr *out;
    size_t max;
    int rc;
    bool done, parked;
};

/* Per loop: configuration (test hook), and the channel with what drives it. */
struct dns_state {
    eddy_loop *loop;
    eddy__exit_hook hook;
    bool have_conf, have_chan, destroying;
    eddy__dns_conf conf;   /* strings are copies owned here */
    ares_channel chan;
    cares_sock *socks;
    size_t pending;        /* queries in c-ares, abandoned ones included */
    int tfd;               /* timerfd on non-monotonic loop clocks, else -1 */
    eddy_io tio;
    eddy_timer timer;
};

static __thread dns_state *tl_state;

static int lib_status = ARES_SUCCESS;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* ares_library_init is not thread-safe and must precede every channel: once per process, and
 * never undone (ares_library_cleanup while another thread's loop uses c-ares would break it). */
static void lib_init(void) { lib_status = ares_library_init(ARES_LIB_INIT_ALL); }

static int map_status(int st)
{
    switch (st) {
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME: return -ENOENT;
    case ARES_ETIMEOUT:
    case ARES_ESERVFAIL: return -EAGAIN;
    case ARES_ECONNREFUSED:
    case ARES_EREFUSED: return -ECONNREFUSED;
    case ARES_EBADNAME: return -EINVAL;
    case ARES_EBADFAMILY: return -EAFNOSUPPORT;
    case ARES_ENOMEM: return -ENOMEM;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return -ECANCELED;
    default: return -EIO;
    }
}

/* ---- timers ---- */

static void on_timer(void *arg);

/* Re-arm the channel's timer for c-ares's next timeout, or disarm it when nothing is pending.
 * Re-arming an armed eddy timer never grows the heap, and eddy__resolve_default arms it before
 * starting a query: so this cannot fail for lack of memory, and no query is left without a
 * timeout. */
static void rearm(dns_state *st)
{
    if (!st->have_chan) return;
    struct timeval tv, *tvp = ares_timeout(st->chan, NULL, &tv);
    if (st->tfd >= 0) {
        struct itimerspec its = {0};
        if (tvp) {
            its.it_value.tv_sec = tv.tv_sec;
            its.it_value.tv_nsec = tv.tv_usec * 1000L;
            if (!its.it_value.tv_sec && !its.it_value.tv_nsec) its.it_value.tv_nsec = 1; /* 0 disarms */
        }
        (void)timerfd_settime(st->tfd, 0, &its, NULL); /* only EINVAL, for values we never pass */
        if (!tvp) eddy_io_stop(&st->tio);
        return;
    }
    if (!tvp) {
        eddy__timer_stop(st->loop, &st->timer);
        return;
    }
    int64_t d = (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
    (void)eddy__timer_start(st->loop, &st->timer, eddy__clock_read(st->loop) + d, on_timer, st);
}

static void on_timer(void *arg)
{
    dns_state *st = arg;
    ares_process_fd(st->chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm(st);
}

static void on_timerfd(eddy_io *w, unsigned revents)
{
    (void)revents;
    dns_state *st = w->data;
    uint64_t n;
    ssize_t r = read(st->tfd, &n, sizeof n);
    (void)r; /* EAGAIN: not expired after all (re-armed meanwhile) */
    on_timer(st);
}

/* Make sure the timer can fire for a query about to start (see rearm). */
static int timer_reserve(dns_state *st)
{
    if (st->tfd >= 0) {
        if (st->tio.active) return 0;
        return eddy_io_start(&st->tio, st->tfd, EDDY_READ, on_timerfd, st);
    }
    if (eddy_timer_is_pending(&st->timer)) return 0;
    return eddy__timer_start(st->loop, &st->timer, EDDY_FOREVER, on_timer, st);
}

/* ---- sockets ---- */

/* An error or hangup comes with both directions set (epoll backend): c-ares reads or writes
 * the socket, sees the error (ECONNREFUSED from an ICMP port unreachable) and moves on. */
static void on_sock_read(eddy_io *w, unsigned revents)
{
    (void)revents;
    cares_sock *s = w->data;
    dns_state *st = s->st;
    ares_process_fd(st->chan, s->fd, ARES_SOCKET_BAD); /* may close the socket and free s */
    rearm(st);
}

static void on_sock_write(eddy_io *w, unsigned revents)
{
    (void)revents;
    cares_sock *s = w->data;
    dns_state *st = s->st;
    ares_process_fd(st->chan, ARES_SOCKET_BAD, s->fd);
    rearm(st);
}

static void sock_free(dns_state *st, cares_sock *s)
{
    for (cares_sock **pp = &st->socks; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    eddy_io_stop(&s->rio);
    eddy_io_stop(&s->wio);
    free(s);
}

/* Start or stop w as wanted. */
static int sock_watch(cares_sock *s, eddy_io *w, bool want, unsigned ev, void (*cb)(eddy_io *, unsigned))
{
    if (!want) {
        eddy_io_stop(w);
        return 0;
    }
    return w->active ? 0 : eddy_io_start(w, s->fd, ev, cb, s);
}

/* c-ares opened a socket, changed what it waits for, or (0, 0) is about to close it.
 * If a watcher cannot be had (ENOMEM), c-ares is not told (it has no way to hear it): the
 * query then ends by its timeout, driven by the timer, instead of hanging. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    dns_state *st = data;
    cares_sock *s = st->socks;
    while (s && s->fd != fd) s = s->next;
    if (!readable && !writable) {
        if (s) sock_free(st, s);
        eddy_fd_forget(fd); /* before c-ares closes it: the number may be reused at once */
        return;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return;
        s->st = st;
        s->fd = fd;
        s->next = st->socks;
        st->socks = s;
    }
    int rc = sock_watch(s, &s->rio, readable, EDDY_READ, on_sock_read);
    if (rc == 0) rc = sock_watch(s, &s->wio, writable, EDDY_WRITE, on_sock_write);
    if (rc < 0 && !s->rio.active && !s->wio.active) sock_free(st, s);
}

/* ---- the per-loop state ---- */

static void conf_free(eddy__dns_conf *c)
{
    free((char *)c->resolvconf);
    free((char *)c->servers);
    *c = (eddy__dns_conf){0};
}

static void chan_destroy(dns_state *st)
{
    if (!st->have_chan) return;
    /* Ends every query: the callbacks see destroying and only free their records. */
    st->destroying = true;
    ares_destroy(st->chan); /* closes the sockets: on_sock_state stops their watchers */
    st->destroying = false;
    st->have_chan = false;
    while (st->socks) sock_free(st, st->socks); /* closed without telling: not expected */
    eddy__timer_stop(st->loop, &st->timer);
    if (st->tfd >= 0) {
        eddy_io_stop(&st->tio);
        eddy_fd_forget(st->tfd);
        close(st->tfd);
        st->tfd = -1;
    }
}

static void state_end(eddy__exit_hook *h)
{
    dns_state *st = eddy__container_of(h, dns_state, hook);
    chan_destroy(st);
    conf_free(&st->conf);
    if (tl_state == st) tl_state = NULL;
    free(st);
}

static int state_get(eddy_loop *l, dns_state **out)
{
    dns_state *st = tl_state;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st) return -ENOMEM;
        st->loop = l;
        st->tfd = -1;
        st->hook.fn = state_end;
        eddy__loop_at_exit(l, &st->hook);
        tl_state = st;
    }
    *out = st;
    return 0;
}

static int chan_create(dns_state *st)
{
    pthread_once(&lib_once, lib_init);
    if (lib_status != ARES_SUCCESS) return map_status(lib_status);
    struct ares_options o = {.sock_state_cb = on_sock_state, .sock_state_cb_data = st};
    int mask = ARES_OPT_SOCK_STATE_CB;
    char lookups[] = "fb";
    if (st->have_conf) {
        const eddy__dns_conf *c = &st->conf;
        o.resolvconf_path = (char *)(c->resolvconf ? c->resolvconf : "/dev/null");
        o.lookups = lookups;
        mask |= ARES_OPT_RESOLVCONF | ARES_OPT_LOOKUPS;
        if (c->port) {
            o.udp_port = o.tcp_port = c->port;
            mask |= ARES_OPT_UDP_PORT | ARES_OPT_TCP_PORT;
        }
        if (c->timeout_ms > 0) {
            o.timeout = c->timeout_ms;
            mask |= ARES_OPT_TIMEOUTMS;
        }
        if (c->tries > 0) {
            o.tries = c->tries;
            mask |= ARES_OPT_TRIES;
        }
    }
    int s = ares_init_options(&st->chan, &o, mask);
    if (s != ARES_SUCCESS) return s == ARES_ENOMEM ? -ENOMEM : -EIO;
    if (st->have_conf && st->conf.servers &&
        (s = ares_set_servers_ports_csv(st->chan, st->conf.servers)) != ARES_SUCCESS) {
        ares_destroy(st->chan);
        return s == ARES_ENOMEM ? -ENOMEM : -EINVAL;
    }
    if (st->loop->clock_kind != EDDY_CLOCK_MONOTONIC) {
        st->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (st->tfd < 0) {
            int e = -errno;
            ares_destroy(st->chan);
            return e;
        }
    }
    st->have_chan = true;
    return 0;
}

int eddy__dns_configure(const eddy__dns_conf *conf)
{
    eddy_loop *l = eddy__loop();
    if (!l) return -EPERM;
    dns_state *st;
    int rc = state_get(l, &st);
    if (rc < 0) return rc;
    if (st->pending) return -EBUSY;
    eddy__dns_conf c = {0};
    if (conf) {
        c = *conf;
        c.resolvconf = conf->resolvconf ? strdup(conf->resolvconf) : NULL;
        c.servers = conf->servers ? strdup(conf->servers) : NULL;
        if ((conf->resolvconf && !c.resolvconf) || (conf->servers && !c.servers)) {
            conf_free(&c);
            return -ENOMEM;
        }
    }
    chan_destroy(st);
    conf_free(&st->conf);
    st->conf = c;
    st->have_conf = conf != NULL;
    return 0;
}

size_t eddy__dns_pending(void)
{
    dns_state *st = tl_state;
    return st ? st->pending : 0;
}

/* ---- queries ---- */

static int copy_result(const struct ares_addrinfo *res, resolve_op *op)
{
    size_t n = 0;
    for (const struct ares_addrinfo_node *a = res ? res->nodes : NULL; a && n < op->max; a = a->ai_next) {
        eddy_sockaddr *o = &op->out[n];
        memset(o, 0, sizeof *o);
        if (a->ai_family == AF_INET && a->ai_addrlen >= sizeof(struct sockaddr_in)) {
            struct sockaddr_in *in = (struct sockaddr_in *)&o->ss;
            memcpy(in, a->ai_addr, sizeof *in);
            in->sin_port = htons(op->port);
            o->len = sizeof *in;
        } else if (a->ai_family == AF_INET6 && a->ai_addrlen >= sizeof(struct sockaddr_in6)) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&o->ss;
            memcpy(in6, a->ai_addr, sizeof *in6);
            in6->sin6_port = htons(op->port);
            o->len = sizeof *in6;
        } else {
            continue;
        }
        n++;
    }
    return n ? (int)n : -ENOENT;
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    cares_query *q = arg;
    dns_state *st = q->st;
    resolve_op *op = q->op;
    /* When the channel is destroyed with a caller still waiting, the loop has given up on its
     * blocked tasks (deadlock): their frames are left alone. */
    if (op && !st->destroying) {
        op->rc = status == ARES_SUCCESS ? copy_result(res, op) : map_status(status);
        op->done = true;
        op->q = NULL;
        if (op->parked) eddy__wake(op->task, 0);
    }
    if (res) ares_freeaddrinfo(res);
    st->pending--;
    free(q);
}

static void op_abandon(eddy_task *t, void *arg)
{
    (void)t;
    resolve_op *op = arg;
    if (op->q) op->q->op = NULL;
    op->q = NULL;
}

int eddy__resolve_default(const char *host, uint16_t port, int family, eddy_sockaddr *out, size_t max)
{
    eddy_loop *l = eddy__loop();
    dns_state *st;
    int rc = state_get(l, &st);
    if (rc < 0) return rc;
    if (!st->have_chan && (rc = chan_create(st)) < 0) return rc;
    cares_query *q = NULL;
    if ((rc = timer_reserve(st)) < 0 || !(q = malloc(sizeof *q))) {
        rearm(st); /* back to what the queries in flight need */
        return rc < 0 ? rc : -ENOMEM;
    }
    resolve_op op = {.task = l->current, .q = q, .port = port, .out = out, .max = max};
    *q = (cares_query){.st = st, .op = &op};
    st->pending++;
    struct ares_addrinfo_hints hints = {.ai_family = family, .ai_socktype = SOCK_STREAM};
    if (st->have_conf && st->conf.env_hosts) hints.ai_flags |= ARES_AI_ENVHOSTS;
    ares_getaddrinfo(st->chan, host, NULL, &hints, on_addrinfo, q); /* may call back at once */
    rearm(st);
    if (op.done) return op.rc;
    op.parked = true;
    eddy__wait w = {.reason = "resolve", .obj = st, .cancel = op_abandon, .arg = &op};
    rc = eddy__park(&w);
    if (rc < 0 && !op.done) {
        op_abandon(op.task, &op); /* eddy__park refused to suspend: not abandoned yet */
        return rc;
    }
    return op.rc;
}
#endif
