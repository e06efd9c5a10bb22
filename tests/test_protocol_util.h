/* Shared by the protocol layer's tests (test_protocol.c, test_protocol_server.c): raw
 * loopback peers driven from the test task with eddy_wait_fd (so their buffer sizes and
 * resets are under the test's control), and a protocol that records what it sees. */
#ifndef TEST_PROTOCOL_UTIL_H
#define TEST_PROTOCOL_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/test.h"

#define TP_UNUSED __attribute__((unused))

/* ---- raw peers ---- */

static inline eddy_sockaddr loopback(uint16_t port)
{
    eddy_sockaddr a;
    EDDY_OK(eddy_sockaddr_parse("127.0.0.1", port, &a));
    return a;
}

/* A connected non-blocking client socket; rcvbuf > 0 shrinks its receive buffer first. */
static inline int raw_connect(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    if (rcvbuf > 0) EDDY_OK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf));
    eddy_sockaddr a = loopback(port);
    if (connect(fd, (struct sockaddr *)&a.ss, a.len) < 0) {
        EDDY_CHECK_EQ(errno, EINPROGRESS);
        EDDY_CHECK(eddy_wait_fd(fd, EDDY_WRITE) > 0);
        int err = 0;
        socklen_t el = sizeof err;
        EDDY_OK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el));
        EDDY_CHECK_EQ(err, 0);
    }
    return fd;
}

static inline void raw_close(int fd)
{
    (void)eddy_fd_forget(fd);
    close(fd);
}

static inline void raw_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    EDDY_OK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    raw_close(fd);
}

static inline void send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            EDDY_CHECK(errno == EAGAIN);
            EDDY_CHECK(eddy_wait_fd(fd, EDDY_WRITE) > 0);
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
}

/* One recv after waiting: the count, 0 at EOF, or -errno. */
static inline ssize_t recv_some(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n >= 0) return n;
        if (errno != EAGAIN) return -errno;
        EDDY_CHECK(eddy_wait_fd(fd, EDDY_READ) > 0);
    }
}

/* Read until len bytes or EOF; returns the count. */
static inline size_t recv_all(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv_some(fd, (char *)buf + got, len - got);
        EDDY_CHECK(n >= 0);
        if (n == 0) break;
        got += (size_t)n;
    }
    return got;
}

/* ---- a recording protocol ---- */

typedef struct conn {
    eddy_transport *t;
    bool made, lost;
    int lost_err, eofs, pauses, resumes;
    size_t max_buffered; /* write_buffered when pause_writing came */
    size_t sent;         /* bulk mode: bytes written so far */
    char rx[1 << 16];
    size_t nrx;
} conn;

static TP_UNUSED conn conns[8];
static TP_UNUSED int nconns, nlost, want_lost;
static TP_UNUSED eddy_event ev_lost, ev_made, ev_paused, ev_data;
static TP_UNUSED bool eof_keep_open;  /* what eof_received returns */
static TP_UNUSED size_t bulk_total;   /* bulk mode: bytes to send */
static TP_UNUSED int refuse_with;     /* factory result when nonzero */

static inline void state_reset(int lost_wanted)
{
    memset(conns, 0, sizeof conns);
    nconns = nlost = 0;
    want_lost = lost_wanted;
    eof_keep_open = false;
    bulk_total = 0;
    refuse_with = 0;
    eddy_event_init(&ev_lost);
    eddy_event_init(&ev_made);
    eddy_event_init(&ev_paused);
    eddy_event_init(&ev_data);
}

static inline int factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **proto, void **user)
{
    EDDY_CHECK(peer != NULL);
    if (refuse_with) return refuse_with;
    EDDY_CHECK(nconns < 8);
    *proto = arg;
    *user = &conns[nconns++];
    return 0;
}

static inline void made(eddy_transport *t, void *user)
{
    conn *c = user;
    EDDY_CHECK(!c->made);
    EDDY_CHECK(eddy_transport_user(t) == c);
    eddy_sockaddr peer;
    EDDY_OK(eddy_transport_peer_addr(t, &peer));
    if (peer.ss.ss_family != AF_UNIX) EDDY_CHECK(eddy_sockaddr_port(&peer) != 0);
    EDDY_CHECK(eddy_transport_fd(t) >= 0);
    c->t = t;
    c->made = true;
    eddy_event_set(&ev_made);
}

static inline void record(eddy_transport *t, const void *buf, size_t len)
{
    conn *c = eddy_transport_user(t);
    EDDY_CHECK(c->nrx + len <= sizeof c->rx);
    memcpy(c->rx + c->nrx, buf, len);
    c->nrx += len;
    eddy_event_set(&ev_data);
}

static inline void echo(eddy_transport *t, const void *buf, size_t len)
{
    record(t, buf, len);
    EDDY_OK(eddy_transport_write(t, buf, len));
}

static inline bool eof(eddy_transport *t)
{
    conn *c = eddy_transport_user(t);
    c->eofs++;
    EDDY_CHECK(!eddy_transport_is_reading(t));
    return eof_keep_open;
}

/* Every call on a transport whose connection_lost runs fails cleanly. */
static inline void check_dead(eddy_transport *t)
{
    eddy_sockaddr a;
    EDDY_CHECK_EQ(eddy_transport_write(t, "x", 1), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_shutdown_write(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_close(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_abort(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_pause_reading(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_resume_reading(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_peer_addr(t, &a), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_set_limits(t, NULL), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_fd(t), -1);
    EDDY_CHECK_EQ(eddy_transport_write_buffered(t), 0);
    EDDY_CHECK(!eddy_transport_is_reading(t));
}

static inline void lost(eddy_transport *t, int err)
{
    conn *c = eddy_transport_user(t);
    EDDY_CHECK(!c->lost);
    EDDY_CHECK(c->t == NULL || c->t == t);
    check_dead(t);
    c->lost = true;
    c->lost_err = err;
    if (++nlost == want_lost) eddy_event_set(&ev_lost);
}

static inline void paused(eddy_transport *t)
{
    conn *c = eddy_transport_user(t);
    c->pauses++;
    c->max_buffered = eddy_transport_write_buffered(t);
    eddy_event_set(&ev_paused);
}

static inline void resumed(eddy_transport *t)
{
    conn *c = eddy_transport_user(t);
    c->resumes++;
}

static TP_UNUSED const eddy_protocol echo_proto = {
    .connection_made = made,
    .data_received = echo,
    .eof_received = eof,
    .connection_lost = lost,
    .pause_writing = paused,
    .resume_writing = resumed,
};

/* A listener on 127.0.0.1 with a free port. */
static inline eddy_listener *listen_any(uint16_t *port)
{
    eddy_listener *l;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_local_addr(l, &a));
    *port = eddy_sockaddr_port(&a);
    EDDY_CHECK(*port != 0);
    return l;
}

static inline void pattern(char *buf, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++) buf[i] = (char)((off + i) * 7 + (off + i) / 251);
}

/* ---- calls after close ---- */

static inline void close_on_data(eddy_transport *t, const void *buf, size_t len)
{
    record(t, buf, len);
    int sz = 4096;
    EDDY_OK(setsockopt(eddy_transport_fd(t), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz));
    static char big[1 << 20];
    memset(big, 'q', sizeof big);
    EDDY_OK(eddy_transport_write(t, big, sizeof big));
    EDDY_CHECK(eddy_transport_write_buffered(t) > 0); /* left to flush */
    EDDY_OK(eddy_transport_close(t));
    EDDY_CHECK_EQ(eddy_transport_close(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_write(t, "x", 1), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_shutdown_write(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_pause_reading(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_resume_reading(t), -EBADF);
    eddy_sockaddr a;
    EDDY_CHECK_EQ(eddy_transport_peer_addr(t, &a), -EBADF);
    EDDY_CHECK(eddy_transport_user(t) == &conns[0]);
    EDDY_CHECK(!eddy_transport_is_reading(t));
}

static TP_UNUSED const eddy_protocol close_proto = {
    .connection_made = made,
    .data_received = close_on_data,
    .connection_lost = lost,
};


#endif
