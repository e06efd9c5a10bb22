/* eddy io: callback transports (N9) — reads into the loop's shared buffer, writes straight
 * to the kernel with a bounded buffer for the rest, deferred connection_lost, and the
 * non-blocking client connect. The server side is protocol.c. */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/proto.h"
#include "loop/sys.h"

enum {
    DEF_HIGH = 64 * 1024,
    MIN_WBUF = 4096,
    /* A drained write buffer bigger than this is freed: a connection that once saw back
     * pressure does not keep a large buffer for the rest of its life. */
    KEEP_WBUF = 64 * 1024,
};

/* ---- per-loop state ---- */

typedef struct proto_loop {
    eddy_loop *loop;
    char *rbuf;         /* EDDY_PROTOCOL_RECV_BUF bytes, shared by every transport */
    size_t users;       /* live transports and servers */
    eddy__link dead;    /* transports whose connection_lost is due */
    bool scheduled;     /* a drain is queued with eddy_call_soon */
} proto_loop;

/* One loop per thread, so a thread-local is a loop-local; initial-exec keeps the access a
 * plain TLS load in libeddy.so too. */
static __thread proto_loop tl_proto __attribute__((tls_model("initial-exec")));

int eddy__proto_acquire(void)
{
    proto_loop *p = &tl_proto;
    eddy_loop *l = eddy__loop();
    if (p->loop != l) {
        /* A previous loop on this thread ended with everything released (or leaked, which
         * its leak report showed): start afresh. */
        if (p->users == 0) free(p->rbuf);
        *p = (proto_loop){.loop = l};
        eddy__list_init(&p->dead);
    }
    if (!p->rbuf) {
        p->rbuf = malloc(EDDY_PROTOCOL_RECV_BUF);
        if (!p->rbuf) return -ENOMEM;
    }
    p->users++;
    return 0;
}

void eddy__proto_release(void)
{
    proto_loop *p = &tl_proto;
    if (--p->users == 0 && !p->scheduled) {
        free(p->rbuf);
        p->rbuf = NULL;
    }
}

static void finish(eddy_transport *t)
{
    if (t->proto->connection_lost) t->proto->connection_lost(t, t->lost_err);
    eddy_protocol_server *s = t->server;
    if (s) eddy__list_remove(&t->slink);
    eddy__handle_del(&t->handle);
    free(t);
    eddy__proto_release();
    if (s) eddy__server_transport_gone(s);
}

static void drain_dead(void *arg)
{
    (void)arg;
    proto_loop *p = &tl_proto;
    eddy__link *x;
    /* connection_lost may kill more transports: they join the list and are handled here. */
    while ((x = eddy__list_pop_front(&p->dead))) finish(eddy__container_of(x, eddy_transport, dlink));
    p->scheduled = false;
    if (p->users == 0) {
        free(p->rbuf);
        p->rbuf = NULL;
    }
}

/* Queue the drain if it is not. Without memory for the queue node, the dead stay listed and
 * the next transport event retries (see the watcher callbacks). */
static void schedule_drain(void)
{
    proto_loop *p = &tl_proto;
    if (p->scheduled || eddy__list_empty(&p->dead)) return;
    if (eddy_call_soon(drain_dead, NULL) == 0) p->scheduled = true;
}

/* ---- lifecycle ---- */

static void apply_limits(eddy_transport *t, const eddy_transport_limits *lim)
{
    eddy_transport_limits def = {0};
    if (!lim) lim = &def;
    t->high = lim->high_water ? lim->high_water : DEF_HIGH;
    t->low = lim->low_water ? lim->low_water : t->high / 4;
    if (t->low > t->high) t->low = t->high;
    t->hard = lim->hard_limit ? lim->hard_limit : 16 * t->high;
    if (t->hard < t->high) t->hard = t->high;
}

int eddy__transport_new(int fd, uint8_t state, const eddy_sockaddr *peer,
                        const eddy_transport_limits *lim, const char *site, eddy_transport **out)
{
    eddy_transport *t = calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    int rc = eddy__proto_acquire();
    if (rc < 0) {
        free(t);
        return rc;
    }
    t->fd = fd;
    t->state = state;
    if (peer) t->peer = *peer;
    apply_limits(t, lim);
    eddy__list_init(&t->slink);
    eddy__list_init(&t->dlink);
    t->wio.data = t;
    eddy__handle_add(eddy__loop(), &t->handle, "transport", site);
    *out = t;
    return 0;
}

static void close_sock(eddy_transport *t, bool rst)
{
    eddy__feed_close(&t->feed);
    eddy_io_stop(&t->wio);
    (void)eddy_fd_forget(t->fd);
    if (rst) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)eddy__sys_setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    eddy__sys_close(t->fd);
    t->fd = -1;
}

void eddy__transport_discard(eddy_transport *t)
{
    close_sock(t, false);
    eddy__handle_del(&t->handle);
    free(t);
    eddy__proto_release();
}

/* End the connection now: the socket goes, connection_lost(t, err) is queued. */
static void lose(eddy_transport *t, int err, bool rst)
{
    if (t->state == EDDY__TP_DEAD) return;
    close_sock(t, rst);
    free(t->wbuf);
    t->wbuf = NULL;
    t->woff = t->wlen = t->wcap = 0;
    t->state = EDDY__TP_DEAD;
    t->lost_err = err;
    eddy__list_push_back(&tl_proto.dead, &t->dlink);
    schedule_drain();
}

static void on_feed(eddy__feed *f, const char *data, ssize_t n);

static int update_reading(eddy_transport *t)
{
    bool want = t->state == EDDY__TP_OPEN && t->made && !t->rpaused && !t->eof_seen;
    if (!want) {
        eddy__feed_stop(&t->feed);
        return 0;
    }
    t->feed.fd = t->fd;
    t->feed.cb = on_feed;
    t->feed.buf = tl_proto.rbuf;
    t->feed.len = EDDY_PROTOCOL_RECV_BUF;
    return eddy__feed_start(&t->feed);
}

static void maybe_pause(eddy_transport *t);
static void on_writable(eddy_io *w, unsigned revents);

static int start_writing(eddy_transport *t)
{
    if (t->wio.active) return 0;
    return eddy_io_start(&t->wio, t->fd, EDDY_WRITE, on_writable, t);
}

void eddy__transport_made(eddy_transport *t)
{
    t->made = true;
    if (t->proto->connection_made) EDDY__IN_CALLBACK(t->proto->connection_made(t, t->user));
    if (t->state != EDDY__TP_OPEN) return; /* the protocol closed it already */
    int rc = update_reading(t);
    if (rc == 0 && t->wlen > 0) rc = start_writing(t);
    if (rc < 0) {
        lose(t, rc, true);
        return;
    }
    maybe_pause(t); /* writes made while connecting */
}

/* ---- reading ---- */

static void on_peer_eof(eddy_transport *t)
{
    t->eof_seen = true;
    eddy__feed_stop(&t->feed);
    bool keep = t->proto->eof_received ? t->proto->eof_received(t) : false;
    if (t->state != EDDY__TP_OPEN) return;
    if (!keep)
        (void)eddy_transport_close(t);
    else if (t->wshut_done)
        lose(t, 0, false); /* both directions are finished: nothing more can happen */
}

/* The feed reads (epoll: one recv into the loop's shared buffer per readiness event;
 * io_uring: a multishot recv into the loop's provided buffers) and hands the bytes here. */
static void on_feed(eddy__feed *f, const char *data, ssize_t n)
{
    eddy_transport *t = eddy__container_of(f, eddy_transport, feed);
    schedule_drain();
    if (n > 0) {
        if (t->proto->data_received) t->proto->data_received(t, data, (size_t)n);
        return;
    }
    if (n == 0) {
        on_peer_eof(t);
        return;
    }
    lose(t, (int)n, false);
}

/* ---- writing ---- */

/* The buffer drained to the low-water mark: tell the protocol (once per pause). */
static void maybe_resume(eddy_transport *t)
{
    if (t->wpaused && t->wlen <= t->low && t->state == EDDY__TP_OPEN) {
        t->wpaused = false;
        if (t->proto->resume_writing) EDDY__IN_CALLBACK(t->proto->resume_writing(t));
    }
}

static void maybe_pause(eddy_transport *t)
{
    if (!t->wpaused && t->wlen > t->high && t->state == EDDY__TP_OPEN) {
        t->wpaused = true;
        if (t->proto->pause_writing) EDDY__IN_CALLBACK(t->proto->pause_writing(t));
    }
}

/* The error a failed socket call ends the connection with (protocol.h, "Errors passed to
 * connection_lost"). The kernel's ENOBUFS (no memory for the data) becomes -ENOMEM:
 * eddy_transport_write's -ENOBUFS means the hard limit with the transport still usable, and
 * must not also mean a lost connection. ENOTCONN, from shutdown, means the peer's reset has
 * already torn the connection down. */
static int lost_code(int e)
{
    return e == ENOBUFS ? -ENOMEM : e == ENOTCONN ? -ECONNRESET : -e;
}

static void do_shutdown_wr(eddy_transport *t)
{
    t->wshut_done = true;
    if (eddy__sys_shutdown(t->fd, SHUT_WR) < 0) {
        lose(t, lost_code(errno), false);
        return;
    }
    if (t->eof_seen) lose(t, 0, false);
}

/* The buffer is empty: give back a large one, and do what waited for the drain. */
static void drained(eddy_transport *t)
{
    eddy_io_stop(&t->wio);
    t->woff = 0;
    if (t->wcap > KEEP_WBUF) {
        free(t->wbuf);
        t->wbuf = NULL;
        t->wcap = 0;
    }
    if (t->state == EDDY__TP_CLOSING)
        lose(t, 0, false);
    else if (t->wshut_req && !t->wshut_done)
        do_shutdown_wr(t);
}

static void connected(eddy_transport *t)
{
    int err = 0;
    socklen_t el = sizeof err;
    if (eddy__sys_getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
    if (err == EINPROGRESS || err == EALREADY) return; /* spurious: keep waiting */
    if (err) {
        lose(t, -err, false);
        return;
    }
    t->state = EDDY__TP_OPEN;
    eddy_io_stop(&t->wio);
    eddy__transport_made(t);
    if (t->state == EDDY__TP_OPEN && t->wlen == 0 && t->wshut_req && !t->wshut_done)
        do_shutdown_wr(t);
}

static void on_writable(eddy_io *w, unsigned revents)
{
    (void)revents;
    eddy_transport *t = w->data;
    schedule_drain();
    if (t->state == EDDY__TP_CONNECTING) {
        connected(t);
        return;
    }
    if (t->wlen == 0) { /* nothing to send (the watcher only runs with a backlog) */
        drained(t);
        return;
    }
    ssize_t n = eddy__sys_send(t->fd, t->wbuf + t->woff, t->wlen, MSG_NOSIGNAL);
    if (n < 0) {
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR) return;
        lose(t, lost_code(e), false);
        return;
    }
    t->woff += (size_t)n;
    t->wlen -= (size_t)n;
    if (t->wlen == 0) drained(t);
    maybe_resume(t);
}

/* Append to the buffer (wlen + len <= hard already checked). 0 or -ENOMEM (nothing added). */
static int buffer_append(eddy_transport *t, const char *p, size_t len)
{
    if (t->woff + t->wlen + len > t->wcap) {
        if (t->wlen + len <= t->wcap) {
            memmove(t->wbuf, t->wbuf + t->woff, t->wlen);
        } else {
            size_t cap = t->wcap ? t->wcap : MIN_WBUF;
            while (cap < t->wlen + len) cap *= 2;
            if (cap > t->hard) cap = t->hard;
            char *nb = malloc(cap);
            if (!nb) return -ENOMEM;
            if (t->wlen) memcpy(nb, t->wbuf + t->woff, t->wlen);
            free(t->wbuf);
            t->wbuf = nb;
            t->wcap = cap;
        }
        t->woff = 0;
    }
    memcpy(t->wbuf + t->woff + t->wlen, p, len);
    t->wlen += len;
    return 0;
}

int eddy_transport_write(eddy_transport *t, const void *buf, size_t len)
{
    if (!t || (!buf && len)) return -EINVAL;
    if (t->state == EDDY__TP_DEAD || t->state == EDDY__TP_CLOSING) return -EBADF;
    if (t->wshut_req) return -EPIPE;
    if (len == 0) return 0;
    /* wlen can exceed hard after eddy_transport_set_limits lowered it. */
    if (t->wlen > t->hard || len > t->hard - t->wlen) return -ENOBUFS;
    size_t sent = 0;
    if (t->wlen == 0 && t->state == EDDY__TP_OPEN) {
        ssize_t n;
        do n = eddy__sys_send(t->fd, buf, len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (eddy__likely((size_t)n == len)) return 0;
        if (n < 0) {
            int e = errno;
            if (e != EAGAIN && e != EWOULDBLOCK) {
                lose(t, lost_code(e), false);
                return lost_code(e);
            }
            n = 0;
        }
        sent = (size_t)n;
    }
    int rc = buffer_append(t, (const char *)buf + sent, len - sent);
    if (rc < 0) {
        /* Part went out and the rest cannot be kept: the byte stream would have a hole, so
         * the connection cannot go on. */
        if (sent) lose(t, rc, true);
        return rc;
    }
    if (t->state == EDDY__TP_OPEN) {
        rc = start_writing(t);
        if (rc < 0) {
            lose(t, rc, true);
            return rc;
        }
    }
    maybe_pause(t);
    return 0;
}

int eddy_transport_shutdown_write(eddy_transport *t)
{
    if (!t) return -EINVAL;
    if (t->state == EDDY__TP_DEAD || t->state == EDDY__TP_CLOSING) return -EBADF;
    if (t->wshut_req) return 0;
    t->wshut_req = true;
    if (t->state == EDDY__TP_OPEN && t->wlen == 0) do_shutdown_wr(t);
    return 0;
}

int eddy_transport_close(eddy_transport *t)
{
    if (!t) return -EINVAL;
    if (t->state == EDDY__TP_DEAD || t->state == EDDY__TP_CLOSING) return -EBADF;
    if (t->state == EDDY__TP_CONNECTING || t->wlen == 0) {
        lose(t, 0, false);
        return 0;
    }
    t->state = EDDY__TP_CLOSING;
    eddy__feed_stop(&t->feed);
    return 0;
}

int eddy_transport_abort(eddy_transport *t)
{
    if (!t) return -EINVAL;
    if (t->state == EDDY__TP_DEAD) return -EBADF;
    lose(t, 0, true);
    return 0;
}

int eddy_transport_pause_reading(eddy_transport *t)
{
    if (!t) return -EINVAL;
    if (t->state == EDDY__TP_DEAD || t->state == EDDY__TP_CLOSING) return -EBADF;
    t->rpaused = true;
    return update_reading(t);
}

int eddy_transport_resume_reading(eddy_transport *t)
{
    if (!t) return -EINVAL;
    if (t->state == EDDY__TP_DEAD || t->state == EDDY__TP_CLOSING) return -EBADF;
    t->rpaused = false;
    int rc = update_reading(t);
    if (rc < 0) t->rpaused = true;
    return rc;
}

bool eddy_transport_is_reading(const eddy_transport *t)
{
    return t && t->state == EDDY__TP_OPEN && t->made && !t->rpaused && !t->eof_seen;
}

int eddy_transport_peer_addr(const eddy_transport *t, eddy_sockaddr *out)
{
    if (!t || !out) return -EINVAL;
    if (t->state == EDDY__TP_DEAD || t->state == EDDY__TP_CLOSING) return -EBADF;
    *out = t->peer;
    return 0;
}

size_t eddy_transport_write_buffered(const eddy_transport *t) { return t ? t->wlen : 0; }

int eddy_transport_fd(const eddy_transport *t)
{
    return t && t->state != EDDY__TP_DEAD ? t->fd : -1;
}

int eddy_transport_set_limits(eddy_transport *t, const eddy_transport_limits *l)
{
    if (!t) return -EINVAL;
    if (l && l->low_water && l->high_water && l->low_water > l->high_water) return -EINVAL;
    if (t->state == EDDY__TP_DEAD || t->state == EDDY__TP_CLOSING) return -EBADF;
    apply_limits(t, l);
    maybe_pause(t);
    maybe_resume(t);
    return 0;
}

void *eddy_transport_user(const eddy_transport *t) { return t ? t->user : NULL; }

void eddy_transport_set_user(eddy_transport *t, void *user)
{
    if (t) t->user = user;
}

/* ---- client connect ---- */

int eddy__protocol_connect(const eddy_sockaddr *addr, eddy_protocol_factory factory, void *arg,
                           eddy_transport **out, const char *site)
{
    if (out) *out = NULL;
    if (!eddy__loop()) return -EPERM;
    if (!addr || !factory) return -EINVAL;
    int fam = addr->ss.ss_family;
    if (fam != AF_INET && fam != AF_INET6) return -EAFNOSUPPORT;
    int fd = eddy__socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fd;
    int one = 1;
    (void)eddy__sys_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    eddy_transport *t;
    int rc = eddy__transport_new(fd, EDDY__TP_CONNECTING, addr, NULL, site, &t);
    if (rc < 0) {
        eddy__sys_close(fd);
        return rc;
    }
    const eddy_protocol *proto = NULL;
    void *user = NULL;
    EDDY__IN_CALLBACK(rc = factory(arg, addr, &proto, &user));
    if (rc == 0 && !proto) rc = -EINVAL;
    if (rc < 0) {
        eddy__transport_discard(t);
        return rc;
    }
    t->proto = proto;
    t->user = user;
    if (eddy__sys_connect(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 && errno != EINPROGRESS &&
        errno != EINTR) {
        lose(t, lost_code(errno), false);
    } else {
        /* Connected or in progress: either way the write watcher reports it from the loop. */
        rc = start_writing(t);
        if (rc < 0) lose(t, rc, false);
    }
    if (out) *out = t;
    return 0;
}
