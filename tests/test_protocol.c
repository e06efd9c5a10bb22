/* Tests of the callback protocol layer's transports (N9) over real loopback sockets: echo,
 * back pressure, the write hard limit, end of stream both ways, resets, aborts,
 * pause_reading, calls on a closed transport, and client connect. The server's own
 * behaviour (stop policies, EMFILE, the example program) is test_protocol_server.c.
 *
 * Everything runs on the virtual clock: loopback delivery is immediate, and no test that
 * needs the kernel's own timers (delayed ACKs) has a timer of ours armed that the loop could
 * jump to meanwhile. */
#include "test_protocol_util.h"

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
    int fds0 = eddy_test_fd_count();
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
    struct eddy_protocol_server_stats st;
    eddy_protocol_server_stats(s, &st);
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
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds0);
    return 0;
}

/* Echo that only counts bytes (the connections above move more than conn.rx holds). */
static void echo_count(eddy_transport *t, const void *buf, size_t len)
{
    conn *c = eddy_transport_user(t);
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

/* Many connections at once: the loop's descriptor table grows under live watchers, and
 * every connection still gets its own bytes back. */
enum { MANY = 64 };

static int many_client(void *arg)
{
    client_arg *ca = arg;
    int fd = raw_connect(ca->port, 0);
    char msg[32], back[32];
    int len = snprintf(msg, sizeof msg, "client %d says hi", ca->id);
    for (int round = 0; round < 3; round++) {
        send_all(fd, msg, (size_t)len);
        EDDY_CHECK_EQ(recv_all(fd, back, (size_t)len), (size_t)len);
        EDDY_CHECK(memcmp(msg, back, (size_t)len) == 0);
        EDDY_OK(eddy_yield()); /* let the other clients interleave */
    }
    raw_close(fd);
    return 0;
}

static conn many_conns[MANY];
static int many_lost;
static eddy_event many_done;

static int many_factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **proto,
                        void **user)
{
    (void)peer;
    static int n;
    EDDY_CHECK(n < MANY);
    *proto = arg;
    *user = &many_conns[n++];
    return 0;
}

static void many_echo(eddy_transport *t, const void *buf, size_t len)
{
    EDDY_OK(eddy_transport_write(t, buf, len));
}

static void many_lost_cb(eddy_transport *t, int err)
{
    conn *c = eddy_transport_user(t);
    c->lost = true;
    c->lost_err = err;
    if (++many_lost == MANY) eddy_event_set(&many_done);
}

static const eddy_protocol many_proto = {
    .data_received = many_echo,
    .connection_lost = many_lost_cb,
};

EDDY_TEST(many_connections_at_once)
{
    int fds0 = eddy_test_fd_count();
    eddy_event_init(&many_done);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, many_factory, (void *)&many_proto, NULL, &s));
    static client_arg ca[MANY];
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < MANY; i++) {
            ca[i] = (client_arg){port, i};
            EDDY_OK(eddy_spawn(n, many_client, &ca[i], .stack_size = EDDY_MIN_STACK * 2));
        }
    }
    EDDY_OK(rc);
    EDDY_OK(eddy_event_wait(&many_done));
    for (int i = 0; i < MANY; i++) EDDY_CHECK_EQ(many_conns[i].lost_err, 0);
    struct eddy_protocol_server_stats st;
    eddy_protocol_server_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, MANY);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds0);
    return 0;
}

/* connection_lost of one transport may end another: its own connection_lost follows in the
 * same drain, after the first has returned. */
static void lost_aborts_other(eddy_transport *t, int err)
{
    conn *c = eddy_transport_user(t);
    lost(t, err);
    conn *other = c == &conns[0] ? &conns[1] : &conns[0];
    if (!other->lost) {
        EDDY_OK(eddy_transport_abort(other->t));
        EDDY_CHECK(!other->lost); /* not from inside abort */
    }
}

static const eddy_protocol chain_proto = {
    .connection_made = made,
    .data_received = echo,
    .connection_lost = lost_aborts_other,
};

EDDY_TEST(connection_lost_ends_another_transport)
{
    state_reset(2);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&chain_proto, NULL, &s));
    int fd1 = raw_connect(port, 0), fd2 = raw_connect(port, 0);
    send_all(fd1, "1", 1);
    send_all(fd2, "2", 1);
    char c;
    EDDY_CHECK_EQ(recv_some(fd1, &c, 1), 1);
    EDDY_CHECK_EQ(recv_some(fd2, &c, 1), 1);
    raw_reset(fd1);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK_EQ(conns[0].lost_err, -ECONNRESET);
    EDDY_CHECK_EQ(conns[1].lost_err, 0);
    EDDY_CHECK_EQ(recv_some(fd2, &c, 1), -ECONNRESET);
    raw_close(fd2);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- back pressure ---- */

static void bulk_more(eddy_transport *t)
{
    conn *c = eddy_transport_user(t);
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
    conn *c = eddy_transport_user(t);
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
    void *user = eddy_transport_user(t);
    /* set_user replaces what eddy_transport_user answers; both are no-ops on NULL */
    eddy_transport_set_user(t, &enobufs_at);
    EDDY_CHECK(eddy_transport_user(t) == &enobufs_at);
    eddy_transport_set_user(t, user);
    EDDY_CHECK(eddy_transport_user(t) == user);
    eddy_transport_set_user(NULL, &enobufs_at);
    EDDY_CHECK(eddy_transport_user(NULL) == NULL);
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
    conn *c = eddy_transport_user(t);
    c->eofs++;
    /* Keep the write side: answer after the peer's EOF, then half-close ours. */
    char reply[80];
    int len = snprintf(reply, sizeof reply, "got %zu: %.*s", c->nrx, (int)c->nrx, c->rx);
    EDDY_OK(eddy_transport_write(t, reply, (size_t)len));
    EDDY_OK(eddy_transport_shutdown_write(t));
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
    EDDY_OK(eddy_transport_shutdown_write(t));
    EDDY_OK(eddy_transport_shutdown_write(t)); /* idempotent */
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
    int fds0 = eddy_test_fd_count();
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
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds0);
    return 0;
}

static void abort_on_data(eddy_transport *t, const void *buf, size_t len)
{
    record(t, buf, len);
    EDDY_OK(eddy_transport_write(t, "unsent?", 7));
    EDDY_OK(eddy_transport_abort(t));
    /* The transport stays valid until connection_lost returns, which is not now. */
    check_dead(t);
    EDDY_CHECK(!((conn *)eddy_transport_user(t))->lost);
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
    EDDY_CHECK_EQ(eddy_transport_shutdown_write(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_pause_reading(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_resume_reading(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_set_limits(NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_transport_fd(NULL), -1);
    EDDY_CHECK(eddy_transport_user(NULL) == NULL);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
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
    conn *c = eddy_transport_user(t);
    if (c->nrx == 11) EDDY_OK(eddy_transport_close(t));
}

static const eddy_protocol client_proto = {
    .connection_made = hello_made,
    .data_received = client_data,
    .connection_lost = lost,
};

EDDY_TEST(client_connect_echo)
{
    int fds0 = eddy_test_fd_count();
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
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds0);
    return 0;
}

EDDY_TEST(client_connect_refused_reports_lost)
{
    int fds0 = eddy_test_fd_count();
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
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds0);
    return 0;
}

EDDY_TEST(client_close_and_abort_while_connecting)
{
    int fds0 = eddy_test_fd_count();
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
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds0);
    return 0;
}

