/* Regression tests of the bugs the syscall fault sweep (tests/test_fault_sweep.c) found, each
 * failing the one system call that showed it (src/loop/sys.h). They need the fault layer
 * (EDDY_FAULTS: Debug builds, so make test's asan configuration). */
#include <string.h>
#include <unistd.h>

#include "eddy/test.h"
#include "loop/sys.h"
#ifdef EDDY_TEST_OPENSSL
#include "tls_util.h"
#endif

#ifndef EDDY_FAULTS

EDDY_TEST(fault_regress_needs_faults)
{
    printf("# fault regressions: skipped, this build has no fault injection (EDDY_FAULTS)\n");
    return 0;
}

#else

/* A protocol client whose connection_made runs a step, against a stream server task. */
typedef struct cli {
    int (*step)(eddy_transport *t);
    int step_rc;
    int lost;
    unsigned fired; /* calls the armed fault failed */
    bool made, gone;
    eddy_event done;
} cli;

static void made(eddy_transport *t, void *user)
{
    cli *c = user;
    c->made = true;
    c->step_rc = c->step(t);
}
static void lost(eddy_transport *t, int err)
{
    cli *c = eddy_transport_user(t);
    c->lost = err;
    c->gone = true;
    eddy_event_set(&c->done);
}
static const eddy_protocol cli_proto = {.connection_made = made, .connection_lost = lost};
static int factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **p, void **user)
{
    (void)peer;
    *p = &cli_proto;
    *user = arg;
    return 0;
}

static void run_client(cli *c)
{
    eddy_listener *l;
    eddy_sockaddr a;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    EDDY_OK(eddy_listener_local_addr(l, &a));
    eddy_event_init(&c->done);
    EDDY_OK(eddy_protocol_connect(&a, factory, c, NULL));
    eddy_stream *s;
    EDDY_OK(eddy_listener_accept(l, &s, NULL));
    EDDY_OK(eddy_event_wait(&c->done));
    c->fired = eddy__sys_fault_fired();
    eddy__sys_fault_set(NULL);
    eddy_stream_abort(s);
    EDDY_OK(eddy_listener_close(l));
}

static int write_one(eddy_transport *t)
{
    eddy__sys_fault f = {.kind = EDDY__SYS_SEND, .func = "eddy_transport_write", .nth = 1,
                         .err = ENOBUFS};
    eddy__sys_fault_set(&f);
    return eddy_transport_write(t, "x", 1);
}

/* Bug: a send the kernel refused with ENOBUFS lost the connection and made
 * eddy_transport_write return -ENOBUFS, the code protocol.h reserves for "over the hard
 * limit, nothing taken, the transport still usable": a caller backing off and retrying met a
 * dead transport. Now the write and connection_lost both say -ENOMEM. */
EDDY_TEST_EX(fault_regress_transport_kernel_enobufs_is_enomem, .real_clock = true)
{
    cli c = {.step = write_one};
    run_client(&c);
    EDDY_CHECK(c.made && c.gone);
    EDDY_CHECK_EQ(c.fired, 1u);
    EDDY_CHECK_EQ(c.step_rc, -ENOMEM);
    EDDY_CHECK_EQ(c.lost, -ENOMEM);
    return 0;
}

static int shut(eddy_transport *t)
{
    eddy__sys_fault f = {.kind = EDDY__SYS_SHUTDOWN, .func = "do_shutdown_wr", .nth = 1,
                         .err = ENOTCONN};
    eddy__sys_fault_set(&f);
    return eddy_transport_shutdown_write(t);
}

/* Bug: shutdown(2) on a connection the peer had reset fails with ENOTCONN, and that reached
 * connection_lost, which protocol.h documents as -ECONNRESET for a reset. */
EDDY_TEST_EX(fault_regress_transport_shutdown_enotconn_is_reset, .real_clock = true)
{
    cli c = {.step = shut};
    run_client(&c);
    EDDY_CHECK(c.made && c.gone);
    EDDY_CHECK_EQ(c.fired, 1u);
    EDDY_CHECK_EQ(c.step_rc, 0);
    EDDY_CHECK_EQ(c.lost, -ECONNRESET);
    return 0;
}

/* ---- io_uring completions (loop/uring.c's completion sites) ---------------------------- */

static bool on_uring(void)
{
    return !strcmp(eddy_backend_name(), "io_uring");
}

/* "hello" from w to r with the first completion of kind failing with EINTR. */
static void eintr_round(eddy_stream *r, eddy_stream *w, int kind, bool vec)
{
    eddy__sys_fault f = {.kind = kind, .nth = 1, .err = EINTR};
    eddy__sys_fault_set(&f);
    if (vec) {
        struct iovec iov[2] = {{"hel", 3}, {"lo", 2}};
        size_t done = 0;
        EDDY_OK(eddy_stream_writev(w, iov, 2, &done));
        EDDY_CHECK_EQ(done, 5u);
    } else {
        EDDY_OK(eddy_stream_write_all(w, "hello", 5));
    }
    char b[8];
    size_t got = 0;
    while (got < 5) {
        ssize_t n = eddy_stream_read(r, b + got, sizeof b - got);
        EDDY_CHECK(n > 0);
        got += (size_t)n;
    }
    unsigned fired = eddy__sys_fault_fired();
    eddy__sys_fault_set(NULL);
    EDDY_CHECK(memcmp(b, "hello", 5) == 0);
    if (on_uring()) EDDY_CHECK_EQ(fired, 1u); /* the epoll pass makes no io_uring request */
}

/* Bug: on io_uring, an operation completing with -EINTR (a signal interrupted it inside the
 * kernel, which cannot restart an io_uring request as it restarts a system call) returned
 * -EINTR from eddy_stream_read, _write_all and _writev, which stream.h does not name (the
 * readiness path retries a call that fails with EINTR). Now the request is submitted again. */
EDDY_TEST(fault_regress_uring_eintr_completion_retried)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    eintr_round(b, a, EDDY__SYS_CQE_RECV, false);
    eintr_round(b, a, EDDY__SYS_CQE_SEND, false);
    eintr_round(b, a, EDDY__SYS_CQE_SENDMSG, true);
    eddy_stream_abort(a);
    eddy_stream_abort(b);
    eddy_stream *rd, *wr;
    EDDY_OK(eddy_pipe(&rd, &wr));
    eintr_round(rd, wr, EDDY__SYS_CQE_READ, false);
    eintr_round(rd, wr, EDDY__SYS_CQE_WRITE, false);
    eintr_round(rd, wr, EDDY__SYS_CQE_WRITEV, true);
    eddy_stream_abort(rd);
    eddy_stream_abort(wr);
    return 0;
}

typedef struct feedc {
    char got[16];
    size_t n;
    int lost;
    bool gone;
    eddy_event done;
} feedc;

static void fc_data(eddy_transport *t, const void *buf, size_t len)
{
    feedc *c = eddy_transport_user(t);
    if (c->n + len <= sizeof c->got) memcpy(c->got + c->n, buf, len);
    c->n += len;
}
static void fc_lost(eddy_transport *t, int err)
{
    feedc *c = eddy_transport_user(t);
    c->lost = err;
    c->gone = true;
    eddy_event_set(&c->done);
}
static const eddy_protocol fc_proto = {.data_received = fc_data, .connection_lost = fc_lost};
static int fc_factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **p, void **user)
{
    (void)peer;
    *p = &fc_proto;
    *user = arg;
    return 0;
}

/* Bug: on io_uring, a protocol transport's multishot receive ending with -EINTR (nothing
 * received) ended the connection: connection_lost(-EINTR), which protocol.h does not name,
 * and the bytes the peer sent next were never delivered. Now the receive is armed again. */
EDDY_TEST_EX(fault_regress_uring_feed_eintr_rearmed, .real_clock = true)
{
    feedc c = {.n = 0};
    eddy_event_init(&c.done);
    eddy_listener *l;
    eddy_sockaddr a;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    EDDY_OK(eddy_listener_local_addr(l, &a));
    eddy__sys_fault f = {.kind = EDDY__SYS_CQE_RECV_MULTISHOT, .nth = 1, .err = EINTR};
    eddy__sys_fault_set(&f);
    EDDY_OK(eddy_protocol_connect(&a, fc_factory, &c, NULL));
    eddy_stream *s;
    EDDY_OK(eddy_listener_accept(l, &s, NULL));
    EDDY_OK(eddy_stream_write_all(s, "hello", 5));
    EDDY_OK(eddy_stream_shutdown_write(s));
    EDDY_OK(eddy_event_wait(&c.done));
    unsigned fired = eddy__sys_fault_fired();
    eddy__sys_fault_set(NULL);
    eddy_stream_abort(s);
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK_EQ(c.lost, 0);
    EDDY_CHECK_EQ(c.n, 5u);
    EDDY_CHECK(memcmp(c.got, "hello", 5) == 0);
    if (on_uring()) EDDY_CHECK_EQ(fired, 1u);
    return 0;
}

static int say_x(eddy_stream *c, void *arg)
{
    (void)arg;
    return eddy_stream_write_all(c, "x", 1);
}

typedef struct srv_run {
    eddy_listener *l;
    eddy_server srv;
    int rc;
} srv_run;

static int serve_task(void *p)
{
    srv_run *r = p;
    eddy_serve_opts o = EDDY_SERVE_OPTS_INIT;
    o.server = &r->srv;
    r->rc = eddy_serve(r->l, say_x, NULL, &o);
    return 0;
}

/* Bug: eddy_serve ended with -ENOSPC when the loop could not register the listener to wait
 * for a connection (epoll's limit of watches per user), leaving the listener open and its
 * pending clients waiting for ever (the fault sweep's http scenario hung). Now it is a lack
 * of resources like EMFILE: counted, backed off, accepted again. */
EDDY_TEST_EX(fault_regress_serve_watch_limit_backs_off, .real_clock = true)
{
    srv_run r = {.rc = 1};
    eddy_sockaddr a;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &r.l));
    EDDY_OK(eddy_listener_local_addr(r.l, &a));
    bool epoll = !on_uring();
    eddy__sys_fault f = {.kind = EDDY__SYS_EPOLL_CTL, .func = "set_interest", .nth = 1,
                         .err = ENOSPC};
    if (epoll) eddy__sys_fault_set(&f);
    unsigned fired = 0;
    EDDY_NURSERY(n, NULL) {
        EDDY_OK(eddy_spawn(n, serve_task, &r));
        eddy_stream *c;
        EDDY_OK(eddy_tcp_connect_addr(&a, &c));
        char b;
        EDDY_CHECK_EQ(eddy_stream_read(c, &b, 1), 1);
        fired = eddy__sys_fault_fired();
        eddy__sys_fault_set(NULL);
        eddy_stream_abort(c);
        EDDY_OK(eddy_server_shutdown(&r.srv));
    }
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_OK(eddy_listener_close(r.l));
    if (epoll) EDDY_CHECK_EQ(fired, 1u);
    return 0;
}

#ifdef EDDY_TEST_OPENSSL
typedef struct tls_srv {
    eddy_listener *l;
    eddy_tls_ctx *ctx;
    int rc;
} tls_srv;

static int tls_srv_task(void *p)
{
    tls_srv *a = p;
    eddy_stream *c, *t;
    EDDY_OK(eddy_listener_accept(a->l, &c, NULL));
    a->rc = eddy_tls_server(c, a->ctx, NULL, &t);
    if (a->rc < 0) {
        eddy_stream_abort(c);
        return 0;
    }
    eddy_stream_abort(t);
    return 0;
}

/* The client's first send (its ClientHello) fails with err; returns eddy_tls_client's result. */
static int tls_first_send_fails(int err)
{
    eddy_tls_ctx *sctx = tls_server_ctx_for("server"), *cctx = tls_client_ctx();
    tls_srv a = {.ctx = sctx};
    eddy_sockaddr addr;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &a.l));
    EDDY_OK(eddy_listener_local_addr(a.l, &addr));
    int crc = 0;
    unsigned fired = 0;
    EDDY_NURSERY(n, NULL) {
        EDDY_OK(eddy_spawn(n, tls_srv_task, &a));
        eddy_stream *s, *t = NULL;
        EDDY_OK(eddy_tcp_connect_addr(&addr, &s));
        eddy__sys_fault f = {.kind = on_uring() ? EDDY__SYS_CQE_SEND : EDDY__SYS_SEND, .nth = 1,
                             .err = err};
        eddy__sys_fault_set(&f);
        crc = eddy_tls_client(s, cctx, "localhost", NULL, &t);
        fired = eddy__sys_fault_fired();
        eddy__sys_fault_set(NULL);
        if (crc < 0) eddy_stream_abort(s);
        else eddy_stream_abort(t);
        eddy_nursery_cancel(n);
    }
    EDDY_OK(eddy_listener_close(a.l));
    eddy_tls_ctx_close(sctx);
    eddy_tls_ctx_close(cctx);
    EDDY_CHECK_EQ(fired, 1u);
    return crc;
}

/* Bug: a TLS client whose ClientHello could not be sent (the kernel's ENOBUFS, or any write
 * error) went on to wait for the server's answer, as after the handshake a failed write side
 * does not stop reads; the server waited for the ClientHello: both for ever. Now a handshake
 * ends with the write error as soon as its flight cannot go out. */
EDDY_TEST_EX(fault_regress_tls_handshake_write_error_ends_it, .real_clock = true)
{
    EDDY_CHECK_EQ(tls_first_send_fails(ENOBUFS), -ENOBUFS);
    EDDY_CHECK_EQ(tls_first_send_fails(EPIPE), -EPIPE);
    return 0;
}
#endif

#endif
