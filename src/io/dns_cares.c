/* eddy io: the default resolver, c-ares driven by the loop (N11).
 *
 * One ares channel per loop, made at the first query and destroyed when the loop ends (an exit
 * hook). c-ares never blocks and runs no thread of its own here: it reports the sockets it
 * wants watched through ARES_OPT_SOCK_STATE_CB, each gets an eddy_io watcher that feeds
 * ares_process_fd, and ares_timeout tells when to call it with no fd so that retries and
 * timeouts happen. The channel reads /etc/resolv.conf (servers, search, ndots, options) and
 * the lookup order ("files" = /etc/hosts, "dns") from the system, as the libc resolver does;
 * the timeout and attempts come from dns_conf.c, which reads them as glibc does (c-ares 1.18
 * ignores resolv.conf's `timeout:` and `attempts:`).
 *
 * Every socket c-ares uses is made by eddy (ares_set_socket_functions): through the socket
 * factory hook (eddy__socket), already SOCK_NONBLOCK|SOCK_CLOEXEC, so no exec on another
 * thread can inherit one in the window between c-ares's socket() and its own fcntl. Writes
 * use MSG_NOSIGNAL (c-ares's own TCP path uses writev, which can raise SIGPIPE).
 *
 * How long a lookup may take is glibc's bound too: c-ares doubles the timeout at each round
 * over the servers (5 s, then 10 s, ...), glibc does not, so with glibc's defaults (5 s, 2
 * attempts, one server) c-ares alone would give up after 15 s where glibc gives up after 10.
 * A waiting caller therefore also has a deadline, timeout x attempts x servers after it
 * asked, on CLOCK_MONOTONIC; the channel's timer fires for the earliest one. A caller whose
 * deadline passes gets EDDY_EDNSTIMEDOUT and its query is abandoned (below). With a single
 * attempt there is no doubling and no such deadline: c-ares ends the query itself, at the
 * same moment.
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
 * c-ares status -> eddy code (the contract of eddy_resolve in include/eddy/dns.h):
 *   ENOTFOUND (NXDOMAIN), ENONAME                      -> EDDY_ENONAME
 *   ENODATA (the name has no record of that type)      -> EDDY_ENOADDR
 *   ETIMEOUT (no server answered)                      -> EDDY_EDNSTIMEDOUT
 *   ECONNREFUSED (no server reached), EREFUSED         -> EDDY_EDNSUNREACH, or the errno of
 *     the socket eddy could not make for c-ares (-EMFILE, ...) when that is why
 *     (c-ares 1.18 does not end a query on SERVFAIL, NOTIMP or REFUSED: it tries the next
 *     server, and when none is left reports ECONNREFUSED)
 *   ESERVFAIL, ENOTIMP, EFORMERR (server failure)      -> EDDY_EDNSFAIL
 *   EBADRESP, EOF (an answer that cannot be parsed)    -> EDDY_EDNSBADRESP
 *   EBADNAME (not a valid DNS name) -> -EINVAL; EBADFAMILY -> -EAFNOSUPPORT; ENOMEM -> -ENOMEM
 *   ECANCELLED, EDESTRUCTION (never seen by a waiting caller) -> -ECANCELED
 *   anything else (EBADQUERY, EFILE, ...: not expected from a lookup) -> -EIO */
#ifdef EDDY_HAVE_CARES /* CMake found c-ares; else dns_default.c is the resolver */
#include <ares.h>
#include <pthread.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "io/io.h"
#include "loop/sys.h"

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
    cares_query *q;   /* NULL once the query has ended or been abandoned */
    eddy__link link;  /* in dns_state.waiting while the caller waits for the answer */
    int64_t deadline; /* CLOCK_MONOTONIC ns: glibc's bound on the whole lookup */
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
    eddy__link waiting;    /* resolve_op of waiting callers, by deadline (all have one bound) */
    int64_t bound;         /* ns a caller waits at most: timeout x tries x servers, or
                              EDDY_FOREVER when c-ares's own end comes no later (one try) */
    int sock_err;          /* -errno of the last socket eddy could not make for c-ares, 0
                              once one is made again */
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
    case ARES_ENONAME: return EDDY_ENONAME;
    case ARES_ENODATA: return EDDY_ENOADDR;
    case ARES_ETIMEOUT: return EDDY_EDNSTIMEDOUT;
    case ARES_ECONNREFUSED:
    case ARES_EREFUSED: return EDDY_EDNSUNREACH;
    case ARES_ESERVFAIL:
    case ARES_ENOTIMP:
    case ARES_EFORMERR: return EDDY_EDNSFAIL;
    case ARES_EBADRESP:
    case ARES_EOF: return EDDY_EDNSBADRESP;
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

/* c-ares's clock, which the callers' deadlines also use. */
static int64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Re-arm the channel's timer for the earlier of c-ares's next timeout and the first waiting
 * caller's deadline, or disarm it when neither exists. Re-arming an armed eddy timer never
 * grows the heap, and eddy__resolve_default arms it before starting a query: so this cannot
 * fail for lack of memory, and no query is left without a timeout. */
static void rearm(dns_state *st)
{
    if (!st->have_chan) return;
    struct timeval tv, *tvp = ares_timeout(st->chan, NULL, &tv);
    int64_t d = tvp ? (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000 : -1;
    if (!eddy__list_empty(&st->waiting)) {
        const resolve_op *first = eddy__container_of(st->waiting.next, resolve_op, link);
        int64_t left = first->deadline - mono_now();
        if (left < 0) left = 0;
        if (d < 0 || left < d) d = left;
    }
    if (st->tfd >= 0) {
        struct itimerspec its = {0};
        if (d >= 0) {
            its.it_value.tv_sec = d / 1000000000;
            its.it_value.tv_nsec = d % 1000000000;
            if (!d) its.it_value.tv_nsec = 1; /* 0 disarms */
        }
        (void)eddy__sys_timerfd_settime(st->tfd, 0, &its, NULL); /* only EINVAL, for values we never pass */
        if (d < 0) eddy_io_stop(&st->tio);
        return;
    }
    if (d < 0) {
        eddy__timer_stop(st->loop, &st->timer);
        return;
    }
    (void)eddy__timer_start(st->loop, &st->timer, eddy__time_add(eddy__clock_read(st->loop), d),
                            on_timer, st);
}

static void op_abandon(eddy_task *t, void *arg);

/* Callers whose deadline has passed get EDDY_EDNSTIMEDOUT; their queries go on, abandoned. */
static void expire_waiting(dns_state *st)
{
    int64_t now = mono_now();
    while (!eddy__list_empty(&st->waiting)) {
        resolve_op *op = eddy__container_of(st->waiting.next, resolve_op, link);
        if (op->deadline > now) break;
        op_abandon(op->task, op);
        op->rc = EDDY_EDNSTIMEDOUT;
        op->done = true;
        if (op->parked) eddy__wake(op->task, 0);
    }
}

static void on_timer(void *arg)
{
    dns_state *st = arg;
    ares_process_fd(st->chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    expire_waiting(st);
    rearm(st);
}

static void on_timerfd(eddy_io *w, unsigned revents)
{
    (void)revents;
    dns_state *st = w->data;
    uint64_t n;
    ssize_t r = eddy__sys_read(st->tfd, &n, sizeof n);
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

/* The socket functions c-ares calls instead of its own (see the top of the file). */
static ares_socket_t sock_open(int domain, int type, int protocol, void *data)
{
    dns_state *st = data;
    int fd = eddy__socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    st->sock_err = fd < 0 ? fd : 0;
    if (fd >= 0) return fd;
    errno = -fd;
    return ARES_SOCKET_BAD;
}

static int sock_close(ares_socket_t fd, void *data)
{
    (void)data;
    eddy_fd_forget(fd); /* its watchers are stopped (on_sock_state); the number may be reused */
    return eddy__sys_close(fd);
}

static int sock_connect(ares_socket_t fd, const struct sockaddr *a, ares_socklen_t len, void *data)
{
    (void)data;
    return eddy__sys_connect(fd, a, len);
}

static ares_ssize_t sock_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags,
                                  struct sockaddr *from, ares_socklen_t *fromlen, void *data)
{
    (void)data;
    return eddy__sys_recvfrom(fd, buf, len, flags, from, fromlen);
}

static ares_ssize_t sock_sendv(ares_socket_t fd, const struct iovec *iov, int n, void *data)
{
    (void)data;
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    return eddy__sys_sendmsg(fd, &m, MSG_NOSIGNAL);
}

static const struct ares_socket_functions sock_funcs = {
    sock_open, sock_close, sock_connect, sock_recvfrom, sock_sendv,
};

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

/* c-ares opened a socket, changed what it waits for, or (0, 0) is about to close it (through
 * sock_close, which tells the loop). If a watcher cannot be had (ENOMEM), c-ares is not told
 * (it has no way to hear it): the query then ends by its timeout, driven by the timer,
 * instead of hanging. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    dns_state *st = data;
    cares_sock *s = st->socks;
    while (s && s->fd != fd) s = s->next;
    if (!readable && !writable) {
        if (s) sock_free(st, s);
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
        eddy__sys_close(st->tfd);
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
        eddy__list_init(&st->waiting);
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
    const eddy__dns_conf *c = st->have_conf ? &st->conf : NULL;
    const char *path = !c ? "/etc/resolv.conf" : c->resolvconf ? c->resolvconf : "/dev/null";
    eddy__resolv_opts ro;
    int rc = eddy__resolv_options(path, getenv("RES_OPTIONS"), &ro);
    if (rc < 0) return rc;
    struct ares_options o = {.sock_state_cb = on_sock_state, .sock_state_cb_data = st,
                             .timeout = c && c->timeout_ms > 0 ? c->timeout_ms : ro.timeout_ms,
                             .tries = c && c->tries > 0 ? c->tries : ro.attempts};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    char lookups[] = "fb";
    if (c) {
        o.resolvconf_path = (char *)path;
        o.lookups = lookups;
        mask |= ARES_OPT_RESOLVCONF | ARES_OPT_LOOKUPS;
        if (c->port) {
            o.udp_port = o.tcp_port = c->port;
            mask |= ARES_OPT_UDP_PORT | ARES_OPT_TCP_PORT;
        }
    }
    int s = ares_init_options(&st->chan, &o, mask);
    if (s != ARES_SUCCESS) return s == ARES_ENOMEM ? -ENOMEM : -EIO;
    ares_set_socket_functions(st->chan, &sock_funcs, st);
    if (c && c->servers && (s = ares_set_servers_ports_csv(st->chan, c->servers)) != ARES_SUCCESS) {
        ares_destroy(st->chan);
        return s == ARES_ENOMEM ? -ENOMEM : -EINVAL;
    }
    int nservers = 0;
    struct ares_addr_port_node *servers = NULL;
    if (ares_get_servers_ports(st->chan, &servers) == ARES_SUCCESS)
        for (const struct ares_addr_port_node *n = servers; n; n = n->next) nservers++;
    ares_free_data(servers);
    st->bound = o.tries > 1 ? (int64_t)o.timeout * 1000000 * o.tries * (nservers > 0 ? nservers : 1)
                            : EDDY_FOREVER;
    if (st->loop->clock_kind != EDDY_CLOCK_MONOTONIC) {
        st->tfd = eddy__sys_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
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

int eddy__dns_channel_info(int *timeout_ms, int *tries, int *nservers)
{
    eddy_loop *l = eddy__loop();
    if (!l) return -EPERM;
    dns_state *st;
    int rc = state_get(l, &st);
    if (rc < 0) return rc;
    if (!st->have_chan && (rc = chan_create(st)) < 0) return rc;
    struct ares_options o;
    int mask;
    if (ares_save_options(st->chan, &o, &mask) != ARES_SUCCESS) return -ENOMEM;
    *timeout_ms = o.timeout;
    *tries = o.tries;
    *nservers = o.nservers;
    ares_destroy_options(&o);
    return 0;
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
    return n ? (int)n : EDDY_ENOADDR;
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
        if (status == ARES_ECONNREFUSED && st->sock_err) op->rc = st->sock_err;
        op->done = true;
        op->q = NULL;
        eddy__list_remove(&op->link);
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
    eddy__list_remove(&op->link);
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
    eddy__list_init(&op.link);
    if (st->bound != EDDY_FOREVER) {
        op.deadline = eddy__time_add(mono_now(), st->bound);
        eddy__list_push_back(&st->waiting, &op.link); /* in deadline order: one bound for all */
    }
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
    if (rc < 0 && !op.done) return rc; /* cancelled: op_abandon left the query to c-ares */
    return op.rc;
}
#endif
