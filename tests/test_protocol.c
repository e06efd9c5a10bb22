/* Tests of the callback protocol layer (N9): transports over real loopback sockets driven by
 * a protocol server or eddy_protocol_connect, and the echo_protocol example program.
 *
 * The peers are raw non-blocking sockets driven from the test task with eddy_wait_fd, so
 * their buffer sizes and resets are under the test's control. Everything runs on the
 * virtual clock (loopback delivery is immediate, so no test waits on real time) except the
 * example test, which is a raw test spawning the binary. */
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

/* ---- raw peers ---- */

static int fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    EDDY_CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static eddy_sockaddr loopback(uint16_t port)
{
    eddy_sockaddr a;
    EDDY_OK(eddy_sockaddr_parse("127.0.0.1", port, &a));
    return a;
}

/* A connected non-blocking client socket; rcvbuf > 0 shrinks its receive buffer first. */
static int raw_connect(uint16_t port, int rcvbuf)
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

static void raw_close(int fd)
{
    (void)eddy_fd_forget(fd);
    close(fd);
}

static void raw_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    EDDY_OK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    raw_close(fd);
}

static void send_all(int fd, const void *buf, size_t len)
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
static ssize_t recv_some(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n >= 0) return n;
        if (errno != EAGAIN) return -errno;
        EDDY_CHECK(eddy_wait_fd(fd, EDDY_READ) > 0);
    }
}

/* Read until len bytes or EOF; returns the count. */
static size_t recv_all(int fd, void *buf, size_t len)
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

static conn conns[8];
static int nconns, nlost, want_lost;
static eddy_event ev_lost, ev_made, ev_paused, ev_data;
static bool eof_keep_open;  /* what eof_received returns */
static size_t bulk_total;   /* bulk mode: bytes to send */
static int refuse_with;     /* factory result when nonzero */

static void state_reset(int lost_wanted)
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

static int factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **proto, void **user)
{
    EDDY_CHECK(peer != NULL);
    if (refuse_with) return refuse_with;
    EDDY_CHECK(nconns < 8);
    *proto = arg;
    *user = &conns[nconns++];
    return 0;
}

static void made(eddy_transport *t, void *user)
{
    conn *c = user;
    EDDY_CHECK(!c->made);
    EDDY_CHECK(eddy_transport_get_user(t) == c);
    eddy_sockaddr peer;
    EDDY_OK(eddy_transport_get_peer(t, &peer));
    EDDY_CHECK(eddy_sockaddr_port(&peer) != 0);
    EDDY_CHECK(eddy_transport_fd(t) >= 0);
    c->t = t;
    c->made = true;
    eddy_event_set(&ev_made);
}

static void record(eddy_transport *t, const void *buf, size_t len)
{
    conn *c = eddy_transport_get_user(t);
    EDDY_CHECK(c->nrx + len <= sizeof c->rx);
    memcpy(c->rx + c->nrx, buf, len);
    c->nrx += len;
    eddy_event_set(&ev_data);
}

static void echo(eddy_transport *t, const void *buf, size_t len)
{
    record(t, buf, len);
    EDDY_OK(eddy_transport_write(t, buf, len));
}

static bool eof(eddy_transport *t)
{
    conn *c = eddy_transport_get_user(t);
    c->eofs++;
    EDDY_CHECK(!eddy_transport_is_reading(t));
    return eof_keep_open;
}

/* Every call on a transport whose connection_lost runs fails cleanly. */
static void check_dead(eddy_transport *t)
{
    eddy_sockaddr a;
    EDDY_CHECK_EQ(eddy_transport_write(t, "x", 1), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_write_eof(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_close(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_abort(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_pause_reading(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_resume_reading(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_get_peer(t, &a), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_set_limits(t, NULL), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_fd(t), -1);
    EDDY_CHECK_EQ(eddy_transport_write_buffered(t), 0);
    EDDY_CHECK(!eddy_transport_is_reading(t));
}

static void lost(eddy_transport *t, int err)
{
    conn *c = eddy_transport_get_user(t);
    EDDY_CHECK(!c->lost);
    EDDY_CHECK(c->t == NULL || c->t == t);
    check_dead(t);
    c->lost = true;
    c->lost_err = err;
    if (++nlost == want_lost) eddy_event_set(&ev_lost);
}

static void paused(eddy_transport *t)
{
    conn *c = eddy_transport_get_user(t);
    c->pauses++;
    c->max_buffered = eddy_transport_write_buffered(t);
    eddy_event_set(&ev_paused);
}

static void resumed(eddy_transport *t)
{
    conn *c = eddy_transport_get_user(t);
    c->resumes++;
}

static const eddy_protocol echo_proto = {
    .connection_made = made,
    .data_received = echo,
    .eof_received = eof,
    .connection_lost = lost,
    .pause_writing = paused,
    .resume_writing = resumed,
};

/* A listener on 127.0.0.1 with a free port. */
static eddy_listener *listen_any(uint16_t *port)
{
    eddy_listener *l;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_addr(l, &a));
    *port = eddy_sockaddr_port(&a);
    EDDY_CHECK(*port != 0);
    return l;
}

static void pattern(char *buf, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++) buf[i] = (char)((off + i) * 7 + (off + i) / 251);
}

/* ---- echo ---- */

typedef struct client_arg {
    uint16_t port;
    int id;
} client_arg;

static int echo_client(void *arg)
{
    client_arg *ca = arg;
    enum { N = 200000 };
    static char out[4][N], in[4][N];
    pattern(out[ca->id], (size_t)ca->id * 1000, N);
    int fd = raw_connect(ca->port, 0);
    /* Interleave writes and reads so neither side's buffers have to hold everything. */
    size_t sent = 0, got = 0;
    while (got < N) {
        if (sent < N) {
            size_t k = N - sent < 7000 ? N - sent : 7000;
            send_all(fd, out[ca->id] + sent, k);
            sent += k;
        }
        ssize_t n = recv_some(fd, in[ca->id] + got, N - got);
        EDDY_CHECK(n > 0);
        got += (size_t)n;
    }
    EDDY_CHECK(memcmp(out[ca->id], in[ca->id], N) == 0);
    EDDY_OK(shutdown(fd, SHUT_WR));
    char c;
    EDDY_CHECK_EQ(recv_some(fd, &c, 1), 0); /* the server closes after our EOF */
    raw_close(fd);
    return 0;
}

static int discard_factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **proto,
                           void **user);

EDDY_TEST(echo_several_connections)
{
    int fds0 = fd_count();
    state_reset(4);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    /* The recording buffer would overflow with 200 KB per connection: echo without it. */
    EDDY_OK(eddy_protocol_serve(l, discard_factory, NULL, NULL, &s));
    client_arg ca[4];
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 4; i++) {
            ca[i] = (client_arg){port, i};
            EDDY_OK(eddy_spawn(n, echo_client, &ca[i]));
        }
    }
    EDDY_OK(rc);
    EDDY_OK(eddy_event_wait(&ev_lost));
    eddy_protocol_server_stats st;
    eddy_protocol_server_get_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 4);
    EDDY_CHECK_EQ(st.active, 0);
    EDDY_CHECK_EQ(st.accept_errors, 0);
    for (int i = 0; i < 4; i++) {
        EDDY_CHECK(conns[i].made && conns[i].lost);
        EDDY_CHECK_EQ(conns[i].lost_err, 0);
        EDDY_CHECK_EQ(conns[i].eofs, 1);
    }
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK_EQ(fd_count(), fds0);
    return 0;
}

/* Echo that only counts bytes (the connections above move more than conn.rx holds). */
static void echo_count(eddy_transport *t, const void *buf, size_t len)
{
    conn *c = eddy_transport_get_user(t);
    c->sent += len;
    int rc = eddy_transport_write(t, buf, len);
    EDDY_CHECK(rc == 0);
}

static void echo_pause(eddy_transport *t) { EDDY_OK(eddy_transport_pause_reading(t)); }
static void echo_resume(eddy_transport *t) { EDDY_OK(eddy_transport_resume_reading(t)); }

static const eddy_protocol count_proto = {
    .connection_made = made,
    .data_received = echo_count,
    .eof_received = eof,
    .connection_lost = lost,
    .pause_writing = echo_pause,
    .resume_writing = echo_resume,
};

static int discard_factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **proto,
                           void **user)
{
    (void)arg;
    return factory((void *)&count_proto, peer, proto, user);
}

/* ---- back pressure ---- */

static void bulk_more(eddy_transport *t)
{
    conn *c = eddy_transport_get_user(t);
    static char chunk[16384];
    while (c->pauses == c->resumes && c->sent < bulk_total) {
        size_t k = bulk_total - c->sent < sizeof chunk ? bulk_total - c->sent : sizeof chunk;
        pattern(chunk, c->sent, k);
        EDDY_OK(eddy_transport_write(t, chunk, k));
        c->sent += k;
    }
    if (c->sent == bulk_total) EDDY_OK(eddy_transport_close(t));
}

static void bulk_made(eddy_transport *t, void *user)
{
    made(t, user);
    /* A small kernel send buffer: the peer's refusal reaches our buffer quickly. */
    int sz = 4096;
    EDDY_OK(setsockopt(eddy_transport_fd(t), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz));
    eddy_transport_limits lim = {.high_water = 65536, .low_water = 8192};
    EDDY_OK(eddy_transport_set_limits(t, &lim));
    bulk_more(t);
}

static void bulk_resumed(eddy_transport *t)
{
    conn *c = eddy_transport_get_user(t);
    EDDY_CHECK(eddy_transport_write_buffered(t) <= 8192);
    c->resumes++;
    bulk_more(t);
}

static const eddy_protocol bulk_proto = {
    .connection_made = bulk_made,
    .eof_received = eof,
    .connection_lost = lost,
    .pause_writing = paused,
    .resume_writing = bulk_resumed,
};

EDDY_TEST(pause_resume_writing_with_slow_reader)
{
    state_reset(1);
    bulk_total = 4 << 20;
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&bulk_proto, NULL, &s));
    int fd = raw_connect(port, 4096); /* and it does not read yet */
    EDDY_OK(eddy_event_wait(&ev_paused));
    conn *c = &conns[0];
    EDDY_CHECK_EQ(c->pauses, 1);
    /* The kernel took only part of the writes: the rest is in the transport's buffer, over
     * the high-water mark by less than one write. */
    EDDY_CHECK(c->max_buffered > 65536);
    EDDY_CHECK(c->max_buffered <= 65536 + 16384);
    EDDY_CHECK(c->sent < bulk_total);
    /* Now read everything, checking every byte. */
    static char buf[65536], want[65536];
    size_t got = 0;
    for (;;) {
        ssize_t n = recv_some(fd, buf, sizeof buf);
        EDDY_CHECK(n >= 0);
        if (n == 0) break;
        pattern(want, got, (size_t)n);
        EDDY_CHECK(memcmp(buf, want, (size_t)n) == 0);
        got += (size_t)n;
    }
    EDDY_CHECK_EQ(got, bulk_total);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK_EQ(c->lost_err, 0);
    EDDY_CHECK(c->pauses > 1); /* 4 MB through a 64 KB mark: paused many times */
    EDDY_CHECK(c->resumes == c->pauses || c->resumes == c->pauses - 1);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- hard limit ---- */

static int enobufs_at;      /* buffered bytes when the write failed */
static int pause_calls_seen;

/* Runs on the peer's first data, so that the peer's connect has completed before the
 * abort at the end (a reset during the handshake would fail the peer's connect). */
static void greedy_data(eddy_transport *t, const void *buf, size_t len)
{
    (void)buf;
    (void)len;
    void *user = eddy_transport_get_user(t);
    int sz = 4096;
    EDDY_OK(setsockopt(eddy_transport_fd(t), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz));
    eddy_transport_limits lim = {.high_water = 1024, .hard_limit = 8192};
    EDDY_OK(eddy_transport_set_limits(t, &lim));
    static char big[9000];
    EDDY_CHECK_EQ(eddy_transport_write(t, big, sizeof big), -ENOBUFS); /* never fits */
    /* A protocol that ignores pause_writing: the hard limit stops it. */
    static char chunk[3000];
    int rc;
    size_t total = 0;
    while ((rc = eddy_transport_write(t, chunk, sizeof chunk)) == 0) {
        total += sizeof chunk;
        EDDY_CHECK(total < (64u << 20));
    }
    EDDY_CHECK_EQ(rc, -ENOBUFS);
    size_t b = eddy_transport_write_buffered(t);
    EDDY_CHECK(b <= 8192 && b + sizeof chunk > 8192);
    enobufs_at = (int)b;
    /* Nothing was taken by the failed write, and a write that fits still succeeds. */
    EDDY_OK(eddy_transport_write(t, chunk, 8192 - b));
    EDDY_CHECK_EQ(eddy_transport_write_buffered(t), 8192);
    EDDY_CHECK_EQ(eddy_transport_write(t, chunk, 1), -ENOBUFS);
    /* A lowered hard limit below what is buffered refuses every write, even a small one. */
    eddy_transport_limits lower = {.high_water = 1024, .hard_limit = 2048};
    EDDY_OK(eddy_transport_set_limits(t, &lower));
    EDDY_CHECK_EQ(eddy_transport_write(t, chunk, 1), -ENOBUFS);
    eddy_transport_limits inverted = {.high_water = 1024, .low_water = 2048};
    EDDY_CHECK_EQ(eddy_transport_set_limits(t, &inverted), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_write(t, NULL, 1), -EINVAL);
    EDDY_OK(eddy_transport_write(t, NULL, 0));
    pause_calls_seen = ((conn *)user)->pauses;
    EDDY_OK(eddy_transport_abort(t));
    EDDY_CHECK_EQ(eddy_transport_write(t, chunk, 1), -EBADF);
}

static const eddy_protocol greedy_proto = {
    .connection_made = made,
    .data_received = greedy_data,
    .connection_lost = lost,
    .pause_writing = paused,
};

EDDY_TEST(write_hard_limit_enobufs)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&greedy_proto, NULL, &s));
    int fd = raw_connect(port, 4096);
    send_all(fd, "go", 2);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK(enobufs_at > 1024);
    EDDY_CHECK_EQ(pause_calls_seen, 1); /* once past high water, not again per write */
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    /* The abort reset the connection: the peer sees ECONNRESET (after any data). */
    static char buf[65536];
    ssize_t n;
    while ((n = recv_some(fd, buf, sizeof buf)) > 0) {}
    EDDY_CHECK_EQ(n, -ECONNRESET);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- end of stream, both ways ---- */

static void reply_on_eof_made(eddy_transport *t, void *user) { made(t, user); }

static bool reply_on_eof(eddy_transport *t)
{
    conn *c = eddy_transport_get_user(t);
    c->eofs++;
    /* Keep the write side: answer after the peer's EOF, then half-close ours. */
    char reply[80];
    int len = snprintf(reply, sizeof reply, "got %zu: %.*s", c->nrx, (int)c->nrx, c->rx);
    EDDY_OK(eddy_transport_write(t, reply, (size_t)len));
    EDDY_OK(eddy_transport_write_eof(t));
    /* The reply went out at once and both directions are finished: the transport closed
     * itself (connection_lost comes from the loop). */
    EDDY_CHECK_EQ(eddy_transport_write(t, "x", 1), -EBADF);
    return true;
}

static const eddy_protocol eof_proto = {
    .connection_made = reply_on_eof_made,
    .data_received = record,
    .eof_received = reply_on_eof,
    .connection_lost = lost,
};

EDDY_TEST(eof_received_keeps_write_side_open)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&eof_proto, NULL, &s));
    int fd = raw_connect(port, 0);
    send_all(fd, "abc", 3);
    EDDY_OK(shutdown(fd, SHUT_WR));
    char buf[100];
    size_t n = recv_all(fd, buf, sizeof buf);
    buf[n] = 0;
    EDDY_CHECK(strcmp(buf, "got 3: abc") == 0);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK_EQ(conns[0].eofs, 1);
    EDDY_CHECK_EQ(conns[0].lost_err, 0); /* both directions ended: closed by itself */
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* The server half-closes first; the peer keeps talking, then ends too. */
static void hello_then_eof(eddy_transport *t, void *user)
{
    made(t, user);
    EDDY_OK(eddy_transport_write(t, "hello", 5));
    EDDY_OK(eddy_transport_write_eof(t));
    EDDY_OK(eddy_transport_write_eof(t)); /* idempotent */
    EDDY_CHECK_EQ(eddy_transport_write(t, "x", 1), -EPIPE);
    EDDY_CHECK(eddy_transport_is_reading(t));
}

static const eddy_protocol server_eof_proto = {
    .connection_made = hello_then_eof,
    .data_received = record,
    .eof_received = eof,
    .connection_lost = lost,
};

EDDY_TEST(server_half_close_first)
{
    state_reset(1);
    eof_keep_open = true; /* the write side is already shut: still closes when both are */
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&server_eof_proto, NULL, &s));
    int fd = raw_connect(port, 0);
    char buf[16];
    EDDY_CHECK_EQ(recv_all(fd, buf, sizeof buf), 5); /* "hello", then EOF */
    EDDY_CHECK(memcmp(buf, "hello", 5) == 0);
    send_all(fd, "after eof", 9); /* our direction is still open */
    EDDY_OK(eddy_event_wait(&ev_data));
    EDDY_CHECK(!conns[0].lost);
    EDDY_OK(shutdown(fd, SHUT_WR));
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK_EQ(conns[0].nrx, 9);
    EDDY_CHECK(memcmp(conns[0].rx, "after eof", 9) == 0);
    EDDY_CHECK_EQ(conns[0].eofs, 1);
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* eof_received returning false closes the transport after flushing what is buffered. */
EDDY_TEST(eof_received_false_closes)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, NULL, &s));
    int fd = raw_connect(port, 0);
    send_all(fd, "ping", 4);
    EDDY_OK(shutdown(fd, SHUT_WR));
    char buf[16];
    EDDY_CHECK_EQ(recv_all(fd, buf, sizeof buf), 4);
    EDDY_CHECK(memcmp(buf, "ping", 4) == 0);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK_EQ(conns[0].eofs, 1);
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- resets and aborts ---- */

EDDY_TEST(peer_reset_reports_econnreset)
{
    int fds0 = fd_count();
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, NULL, &s));
    int fd = raw_connect(port, 0);
    send_all(fd, "x", 1);
    char c;
    EDDY_CHECK_EQ(recv_some(fd, &c, 1), 1);
    raw_reset(fd);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK_EQ(conns[0].lost_err, -ECONNRESET);
    EDDY_CHECK_EQ(conns[0].eofs, 0);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK_EQ(fd_count(), fds0);
    return 0;
}

static void abort_on_data(eddy_transport *t, const void *buf, size_t len)
{
    record(t, buf, len);
    EDDY_OK(eddy_transport_write(t, "unsent?", 7));
    EDDY_OK(eddy_transport_abort(t));
    /* The transport stays valid until connection_lost returns, which is not now. */
    check_dead(t);
    EDDY_CHECK(!((conn *)eddy_transport_get_user(t))->lost);
}

static const eddy_protocol abort_proto = {
    .connection_made = made,
    .data_received = abort_on_data,
    .connection_lost = lost,
};

EDDY_TEST(abort_resets_peer)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&abort_proto, NULL, &s));
    int fd = raw_connect(port, 0);
    send_all(fd, "bye", 3);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    char buf[16];
    ssize_t n;
    while ((n = recv_some(fd, buf, sizeof buf)) > 0) {} /* "unsent?" may have gone out */
    EDDY_CHECK_EQ(n, -ECONNRESET);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- pause_reading ---- */

static void pause_at_start(eddy_transport *t, void *user)
{
    made(t, user);
    EDDY_CHECK(eddy_transport_is_reading(t));
    EDDY_OK(eddy_transport_pause_reading(t));
    EDDY_OK(eddy_transport_pause_reading(t)); /* idempotent */
    EDDY_CHECK(!eddy_transport_is_reading(t));
}

static const eddy_protocol paused_proto = {
    .connection_made = pause_at_start,
    .data_received = echo,
    .eof_received = eof,
    .connection_lost = lost,
};

EDDY_TEST(pause_reading_holds_data)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&paused_proto, NULL, &s));
    int fd = raw_connect(port, 0);
    EDDY_OK(eddy_event_wait(&ev_made));
    send_all(fd, "xyz", 3);
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    EDDY_CHECK_EQ(conns[0].nrx, 0); /* held in the kernel while paused */
    EDDY_OK(eddy_transport_resume_reading(conns[0].t)); /* from a task */
    EDDY_CHECK(eddy_transport_is_reading(conns[0].t));
    char buf[8];
    EDDY_CHECK_EQ(recv_all(fd, buf, 3), 3);
    EDDY_CHECK(memcmp(buf, "xyz", 3) == 0);
    EDDY_CHECK_EQ(conns[0].nrx, 3);
    raw_close(fd);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- calls after close ---- */

static void close_on_data(eddy_transport *t, const void *buf, size_t len)
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
    EDDY_CHECK_EQ(eddy_transport_write_eof(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_pause_reading(t), -EBADF);
    EDDY_CHECK_EQ(eddy_transport_resume_reading(t), -EBADF);
    eddy_sockaddr a;
    EDDY_CHECK_EQ(eddy_transport_get_peer(t, &a), -EBADF);
    EDDY_CHECK(eddy_transport_get_user(t) == &conns[0]);
    EDDY_CHECK(!eddy_transport_is_reading(t));
}

static const eddy_protocol close_proto = {
    .connection_made = made,
    .data_received = close_on_data,
    .connection_lost = lost,
};

EDDY_TEST(calls_after_close_and_flush)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&close_proto, NULL, &s));
    int fd = raw_connect(port, 4096);
    send_all(fd, "go", 2);
    EDDY_OK(eddy_event_wait(&ev_data));
    EDDY_CHECK(!conns[0].lost); /* still flushing to us */
    static char buf[65536];
    size_t got = 0;
    ssize_t n;
    while ((n = recv_some(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) EDDY_CHECK_EQ(buf[i], 'q');
        got += (size_t)n;
    }
    EDDY_CHECK_EQ(n, 0);
    EDDY_CHECK_EQ(got, 1 << 20); /* every buffered byte went out before the close */
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    /* NULL arguments */
    EDDY_CHECK_EQ(eddy_transport_write(NULL, "x", 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_close(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_abort(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_write_eof(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_pause_reading(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_resume_reading(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_set_limits(NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_fd(NULL), -1);
    EDDY_CHECK(eddy_transport_get_user(NULL) == NULL);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- EMFILE on accept ---- */

EDDY_TEST(emfile_on_accept_backs_off_and_recovers)
{
    int fds0 = fd_count();
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    eddy_protocol_server_opts o = {.accept_backoff = EDDY_MSEC(100)};
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, &o, &s));
    /* Connect without letting the loop run: the server must not accept before the limit. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    eddy_sockaddr a = loopback(port);
    EDDY_CHECK(connect(fd, (struct sockaddr *)&a.ss, a.len) == 0 || errno == EINPROGRESS);
    /* Use up every descriptor: the limit just above the highest in use, holes filled. */
    struct rlimit old;
    EDDY_OK(getrlimit(RLIMIT_NOFILE, &old));
    int maxfd = 0;
    DIR *d = opendir("/proc/self/fd");
    EDDY_CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) > maxfd) maxfd = atoi(e->d_name);
    closedir(d);
    struct rlimit low = {.rlim_cur = (rlim_t)maxfd + 1, .rlim_max = old.rlim_max};
    EDDY_OK(setrlimit(RLIMIT_NOFILE, &low));
    static int fillers[4096];
    int nf = 0;
    for (;;) {
        int f = dup(fd);
        if (f < 0) {
            EDDY_CHECK_EQ(errno, EMFILE);
            break;
        }
        EDDY_CHECK(nf < 4096);
        fillers[nf++] = f;
    }
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    eddy_protocol_server_stats st;
    eddy_protocol_server_get_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 0);
    EDDY_CHECK_EQ(st.last_accept_error, -EMFILE);
    /* One attempt per backoff period, not a spin: about 1 s / 100 ms. */
    EDDY_CHECK(st.accept_errors >= 9 && st.accept_errors <= 12);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
    EDDY_CHECK(eddy_wait_fd(fd, EDDY_WRITE) > 0); /* the handshake completed in the backlog */
    /* Free descriptors: the pending connection is accepted at the next retry. */
    for (int i = 0; i < nf; i++) close(fillers[i]);
    EDDY_OK(setrlimit(RLIMIT_NOFILE, &old));
    send_all(fd, "still there", 11);
    char buf[16];
    EDDY_CHECK_EQ(recv_all(fd, buf, 11), 11);
    EDDY_CHECK(memcmp(buf, "still there", 11) == 0);
    EDDY_CHECK(eddy_now() - t0 <= EDDY_SEC(1) + EDDY_MSEC(100));
    eddy_protocol_server_get_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 1);
    raw_close(fd);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK_EQ(fd_count(), fds0);
    return 0;
}

/* A write to a peer that reset the connection fails and ends the transport with that error. */
EDDY_TEST(write_to_reset_peer_reports_error)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, NULL, &s));
    int fd = raw_connect(port, 0);
    EDDY_OK(eddy_event_wait(&ev_made));
    raw_reset(fd);
    /* From the task, before the loop has seen the reset. */
    int rc = eddy_transport_write(conns[0].t, "late", 4);
    EDDY_CHECK(rc == -ECONNRESET || rc == -EPIPE);
    EDDY_CHECK_EQ(eddy_transport_write(conns[0].t, "late", 4), -EBADF);
    EDDY_CHECK(!conns[0].lost); /* deferred to the loop */
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK_EQ(conns[0].lost_err, rc);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- client connect ---- */

static void hello_made(eddy_transport *t, void *user)
{
    made(t, user);
    EDDY_OK(eddy_transport_write(t, " world", 6));
}

static void client_data(eddy_transport *t, const void *buf, size_t len)
{
    record(t, buf, len);
    conn *c = eddy_transport_get_user(t);
    if (c->nrx == 11) EDDY_OK(eddy_transport_close(t));
}

static const eddy_protocol client_proto = {
    .connection_made = hello_made,
    .data_received = client_data,
    .connection_lost = lost,
};

EDDY_TEST(client_connect_echo)
{
    int fds0 = fd_count();
    state_reset(2); /* the client's and the server's transport */
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, NULL, &s));
    eddy_sockaddr a = loopback(port);
    eddy_transport *t;
    EDDY_OK(eddy_protocol_connect(&a, factory, (void *)&client_proto, &t));
    /* Written before the connection is up: buffered, sent first. */
    EDDY_OK(eddy_transport_write(t, "hello", 5));
    EDDY_CHECK_EQ(eddy_transport_write_buffered(t), 5);
    EDDY_OK(eddy_event_wait(&ev_lost));
    conn *client = &conns[0];
    EDDY_CHECK(client->t == t && client->made);
    EDDY_CHECK_EQ(client->nrx, 11);
    EDDY_CHECK(memcmp(client->rx, "hello world", 11) == 0);
    EDDY_CHECK_EQ(client->lost_err, 0);
    EDDY_CHECK_EQ(conns[1].lost_err, 0);
    EDDY_CHECK_EQ(conns[1].eofs, 1);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK_EQ(fd_count(), fds0);
    return 0;
}

EDDY_TEST(client_connect_refused_reports_lost)
{
    int fds0 = fd_count();
    state_reset(1);
    /* A bound socket that does not listen: connecting to it is refused, and no one else can
     * take the port meanwhile. */
    int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    eddy_sockaddr a = loopback(0);
    EDDY_OK(bind(b, (struct sockaddr *)&a.ss, a.len));
    a.len = sizeof a.ss;
    EDDY_OK(getsockname(b, (struct sockaddr *)&a.ss, &a.len));
    eddy_transport *t;
    EDDY_OK(eddy_protocol_connect(&a, factory, (void *)&client_proto, &t));
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK(!conns[0].made); /* connection_made is never called for a failed connect */
    EDDY_CHECK_EQ(conns[0].lost_err, -ECONNREFUSED);
    close(b);
    /* Errors before any transport exists are returned directly. */
    EDDY_CHECK_EQ(eddy_protocol_connect(NULL, factory, NULL, &t), -EINVAL);
    EDDY_CHECK(t == NULL);
    EDDY_CHECK_EQ(eddy_protocol_connect(&a, NULL, NULL, &t), -EINVAL);
    eddy_sockaddr un = {.len = sizeof(struct sockaddr_un)};
    un.ss.ss_family = AF_UNIX;
    EDDY_CHECK_EQ(eddy_protocol_connect(&un, factory, NULL, &t), -EAFNOSUPPORT);
    refuse_with = -EACCES;
    EDDY_CHECK_EQ(eddy_protocol_connect(&a, factory, (void *)&client_proto, &t), -EACCES);
    EDDY_CHECK(t == NULL);
    EDDY_CHECK_EQ(fd_count(), fds0);
    return 0;
}

/* ---- server stop policies ---- */

EDDY_TEST(client_close_and_abort_while_connecting)
{
    int fds0 = fd_count();
    state_reset(2);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_sockaddr a = loopback(port);
    eddy_transport *t1, *t2;
    EDDY_OK(eddy_protocol_connect(&a, factory, (void *)&client_proto, &t1));
    EDDY_OK(eddy_protocol_connect(&a, factory, (void *)&client_proto, &t2));
    EDDY_OK(eddy_transport_write(t1, "dropped", 7));
    EDDY_OK(eddy_transport_close(t1));
    EDDY_OK(eddy_transport_abort(t2));
    EDDY_CHECK_EQ(eddy_transport_write(t1, "x", 1), -EBADF);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK(!conns[0].made && !conns[1].made);
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    EDDY_CHECK_EQ(conns[1].lost_err, 0);
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK_EQ(fd_count(), fds0);
    return 0;
}

static int stuck_client(uint16_t port, int *fd)
{
    *fd = raw_connect(port, 4096);
    send_all(*fd, "go", 2);
    return 0;
}

EDDY_TEST(server_close_grace_then_abort)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    eddy_protocol_server_opts o = {.grace = EDDY_SEC(2)};
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&close_proto, &o, &s));
    int fd;
    EDDY_OK(stuck_client(port, &fd)); /* never reads: the server's close cannot flush */
    EDDY_OK(eddy_event_wait(&ev_data));
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(2)); /* waited the grace period, then aborted */
    EDDY_CHECK(conns[0].lost);
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    raw_close(fd);
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* Clients that drain within the grace period end it early (and its timer is disarmed: the
 * leak check would report it otherwise). On the real clock: the peer's reads open its TCP
 * window through the kernel's own timers (delayed ACKs), and on the virtual clock the loop
 * would jump to the grace deadline while waiting for them. */
EDDY_TEST_EX(server_close_grace_ends_when_drained, .real_clock = true)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    eddy_protocol_server_opts o = {.grace = EDDY_SEC(30)};
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&close_proto, &o, &s));
    int fd;
    EDDY_OK(stuck_client(port, &fd));
    EDDY_OK(eddy_event_wait(&ev_data));
    eddy_protocol_server_stop(s); /* the transport is already closing: nothing changes */
    EDDY_OK(eddy_sleep(EDDY_MSEC(50)));
    int64_t t0 = eddy_now();
    static char buf[65536];
    size_t got = 0;
    ssize_t n;
    while ((n = recv_some(fd, buf, sizeof buf)) > 0) got += (size_t)n;
    EDDY_CHECK_EQ(got, 1 << 20);
    EDDY_OK(eddy_protocol_server_wait(s));
    EDDY_CHECK(eddy_now() - t0 < EDDY_SEC(15)); /* well before the grace deadline */
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    EDDY_OK(eddy_protocol_server_close(s));
    raw_close(fd);
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

EDDY_TEST(server_close_abort_clients)
{
    state_reset(2);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    eddy_protocol_server_opts o = {.abort_clients = true};
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, &o, &s));
    int fd1 = raw_connect(port, 0), fd2 = raw_connect(port, 0);
    send_all(fd1, "a", 1);
    send_all(fd2, "b", 1);
    char c;
    EDDY_CHECK_EQ(recv_some(fd1, &c, 1), 1);
    EDDY_CHECK_EQ(recv_some(fd2, &c, 1), 1);
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_CHECK_EQ(eddy_now(), t0);
    EDDY_CHECK_EQ(nlost, 2);
    EDDY_CHECK_EQ(recv_some(fd1, &c, 1), -ECONNRESET);
    EDDY_CHECK_EQ(recv_some(fd2, &c, 1), -ECONNRESET);
    raw_close(fd1);
    raw_close(fd2);
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* A task waits on the server while a protocol callback stops it. */
static eddy_protocol_server *the_server;

static void stop_server_on_data(eddy_transport *t, const void *buf, size_t len)
{
    record(t, buf, len);
    EDDY_CHECK_EQ(eddy_protocol_server_wait(the_server), -EPERM); /* callbacks cannot wait */
    EDDY_OK(eddy_transport_write(t, "stopping", 8));
    eddy_protocol_server_stop(the_server);
    eddy_protocol_server_stop(the_server); /* idempotent */
}

static const eddy_protocol stopper_proto = {
    .connection_made = made,
    .data_received = stop_server_on_data,
    .connection_lost = lost,
};

EDDY_TEST(server_wait_returns_when_stopped_from_callback)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&stopper_proto, NULL, &the_server));
    /* A cancelled wait leaves the server running. */
    EDDY_MOVE_ON_AFTER(EDDY_MSEC(10)) {
        EDDY_CHECK_EQ(eddy_protocol_server_wait(the_server), -ECANCELED);
    }
    int fd = raw_connect(port, 0);
    send_all(fd, "stop", 4);
    EDDY_OK(eddy_protocol_server_wait(the_server));
    EDDY_OK(eddy_protocol_server_wait(the_server)); /* returns at once now */
    EDDY_CHECK(conns[0].lost);
    char buf[16];
    EDDY_CHECK_EQ(recv_all(fd, buf, sizeof buf), 8); /* flushed by the graceful stop */
    EDDY_CHECK(memcmp(buf, "stopping", 8) == 0);
    /* No longer accepting. */
    int fd2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    eddy_sockaddr a = loopback(port);
    (void)connect(fd2, (struct sockaddr *)&a.ss, a.len);
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    eddy_protocol_server_stats st;
    eddy_protocol_server_get_stats(the_server, &st);
    EDDY_CHECK_EQ(st.accepted, 1);
    close(fd2);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(the_server));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* Closing the server from a callback frees it once its last transport is gone. */
static void close_server_on_data(eddy_transport *t, const void *buf, size_t len)
{
    record(t, buf, len);
    EDDY_OK(eddy_protocol_server_close(the_server));
}

static const eddy_protocol closer_proto = {
    .connection_made = made,
    .data_received = close_server_on_data,
    .connection_lost = lost,
};

EDDY_TEST(server_close_from_callback)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&closer_proto, NULL, &the_server));
    int fd = raw_connect(port, 0);
    send_all(fd, "x", 1);
    EDDY_OK(eddy_event_wait(&ev_lost));
    char c;
    EDDY_CHECK_EQ(recv_some(fd, &c, 1), 0);
    raw_close(fd);
    EDDY_OK(eddy_listener_close(l)); /* the leak check proves the server was freed */
    return 0;
}

EDDY_TEST(serve_errors)
{
    state_reset(0);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_CHECK_EQ(eddy_protocol_serve(NULL, factory, NULL, NULL, &s), -EINVAL);
    EDDY_CHECK_EQ(eddy_protocol_serve(l, NULL, NULL, NULL, &s), -EINVAL);
    EDDY_CHECK_EQ(eddy_protocol_serve(l, factory, NULL, NULL, NULL), -EINVAL);
    eddy_protocol_server_opts bad = {.grace = -1};
    EDDY_CHECK_EQ(eddy_protocol_serve(l, factory, NULL, &bad, &s), -EINVAL);
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, NULL, &s));
    eddy_protocol_server *s2;
    EDDY_CHECK_EQ(eddy_protocol_serve(l, factory, (void *)&echo_proto, NULL, &s2), -EBUSY);
    EDDY_CHECK_EQ(eddy_protocol_server_wait(NULL), -EINVAL);
    EDDY_OK(eddy_protocol_server_close(NULL));
    eddy_protocol_server_stop(NULL);
    /* The factory refusing a connection closes it. */
    refuse_with = -EACCES;
    int fd = raw_connect(port, 0);
    char c;
    EDDY_CHECK_EQ(recv_some(fd, &c, 1), 0);
    eddy_protocol_server_stats st;
    eddy_protocol_server_get_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 1);
    EDDY_CHECK_EQ(st.active, 0);
    EDDY_CHECK_EQ(nconns, 0);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

EDDY_TEST(max_conns_pauses_accepting)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    eddy_protocol_server_opts o = {.max_conns = 1};
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, &o, &s));
    int fd1 = raw_connect(port, 0), fd2 = raw_connect(port, 0);
    send_all(fd1, "1", 1);
    send_all(fd2, "2", 1);
    char c;
    EDDY_CHECK_EQ(recv_some(fd1, &c, 1), 1);
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    eddy_protocol_server_stats st;
    eddy_protocol_server_get_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 1); /* the second waits in the backlog */
    raw_close(fd1);
    EDDY_CHECK_EQ(recv_some(fd2, &c, 1), 1); /* accepted once the first ended */
    EDDY_CHECK_EQ(c, '2');
    eddy_protocol_server_get_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 2);
    raw_close(fd2);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- the example program ---- */

EDDY_TEST_EX(echo_protocol_example, .raw = true)
{
    int out[2];
    EDDY_CHECK(pipe2(out, O_CLOEXEC) == 0);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        unsetenv("EDDY_CLOCK");
        unsetenv("EDDY_SCHED_SEED");
        execl(EDDY_BUILD_DIR "/examples/echo_protocol", "echo_protocol", "0", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[256];
    size_t n = 0;
    while (n < sizeof line - 1 && !memchr(line, '\n', n)) {
        ssize_t k = read(out[0], line + n, sizeof line - 1 - n);
        EDDY_CHECK(k > 0);
        n += (size_t)k;
    }
    line[n] = 0;
    EDDY_CHECK(strncmp(line, "Server listening at ", 20) == 0);
    char *colon = strrchr(line, ':');
    EDDY_CHECK(colon != NULL);
    int port = atoi(colon + 1);
    EDDY_CHECK(port > 0 && port < 65536);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EDDY_OK(connect(fd, (struct sockaddr *)&sa, sizeof sa));
    static char msg[100000], back[100000];
    pattern(msg, 3, sizeof msg);
    size_t got = 0;
    EDDY_CHECK_EQ(send(fd, msg, sizeof msg, 0), (ssize_t)sizeof msg);
    while (got < sizeof back) {
        ssize_t k = recv(fd, back + got, sizeof back - got, 0);
        EDDY_CHECK(k > 0);
        got += (size_t)k;
    }
    EDDY_CHECK(memcmp(msg, back, sizeof msg) == 0);
    EDDY_OK(kill(pid, SIGTERM));
    int ws;
    EDDY_CHECK(waitpid(pid, &ws, 0) == pid);
    EDDY_CHECK(WIFEXITED(ws));
    EDDY_CHECK_EQ(WEXITSTATUS(ws), 0);
    /* The open connection was closed by the server's stop. */
    char c;
    EDDY_CHECK_EQ(recv(fd, &c, 1, 0), 0);
    close(fd);
    close(out[0]);
    return 0;
}
