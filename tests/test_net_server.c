/* Tests of eddy_serve (N2): one task per connection, max_conns, graceful stop with a grace
 * period, handler failures, cancellation, and EMFILE on accept. Real loopback sockets on the
 * virtual clock. */
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "eddy/test.h"
#include "test_core_util.h"

/* ---- helpers ---- */

typedef struct server_run {
    eddy_listener *l;
    eddy_conn_handler h;
    void *arg;
    eddy_serve_opts o;
    eddy_server srv;
    int rc;
    bool returned;
    int64_t t_end;
} server_run;

static int server_task(void *p)
{
    server_run *r = p;
    r->rc = eddy_serve(r->l, r->h, r->arg, &r->o);
    r->returned = true;
    r->t_end = eddy_now();
    return 0;
}

static uint16_t port_of(eddy_listener *l)
{
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_local_addr(l, &a));
    return eddy_sockaddr_port(&a);
}

static void run_init(server_run *r, eddy_conn_handler h, void *arg)
{
    memset(r, 0, sizeof *r);
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &r->l));
    r->h = h;
    r->arg = arg;
    r->o.server = &r->srv;
    r->rc = 1;
}

/* Start the server in n; checks the started value is the server. */
static void run_start(eddy_nursery *n, server_run *r)
{
    void *v = NULL;
    EDDY_OK(eddy_start(n, server_task, r, &v));
    EDDY_CHECK(v == &r->srv);
}

static eddy_stream *client(server_run *r)
{
    eddy_stream *c;
    EDDY_OK(eddy_tcp_connect("127.0.0.1", port_of(r->l), NULL, &c));
    return c;
}

static void read_exact(eddy_stream *s, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = eddy_stream_read(s, (char *)buf + got, len - got);
        EDDY_CHECK(n > 0);
        got += (size_t)n;
    }
}

static void expect(eddy_stream *s, const char *text)
{
    char buf[64];
    size_t len = strlen(text);
    EDDY_CHECK(len < sizeof buf);
    read_exact(s, buf, len);
    buf[len] = 0;
    if (strcmp(buf, text) != 0) eddy_test_fail(__FILE__, __LINE__, "got \"%s\", want \"%s\"", buf, text);
}

static void echo_check(eddy_stream *c, const char *text)
{
    EDDY_OK(eddy_stream_write_all(c, text, strlen(text)));
    expect(c, text);
}

/* Let the loop poll and run what the kernel already has for it, a few rounds (each of one
 * virtual nanosecond: a yield alone would run the ready tasks without polling). */
static void settle(void)
{
    for (int i = 0; i < 8; i++) EDDY_OK(eddy_sleep(1));
}

static int echo_handler(eddy_stream *s, void *arg)
{
    (void)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = eddy_stream_read(s, buf, sizeof buf);
        if (n <= 0) return (int)n;
        int rc = eddy_stream_write_all(s, buf, (size_t)n);
        if (rc < 0) return rc;
    }
}

/* ---- basics ---- */

static uint16_t peer_ports[8];
static int npeers;
static bool child_saw_null;

static int peer_child(void *arg)
{
    (void)arg;
    child_saw_null = eddy_serve_peer_addr() == NULL;
    return 0;
}

/* Records the peer port, checks a task it spawns has no peer, then echoes. */
static int peer_echo_handler(eddy_stream *s, void *arg)
{
    const eddy_sockaddr *p = eddy_serve_peer_addr();
    EDDY_CHECK(p != NULL);
    peer_ports[npeers++] = eddy_sockaddr_port(p);
    int rc = 0;
    EDDY_NURSERY(n, &rc) EDDY_OK(eddy_spawn(n, peer_child, NULL));
    EDDY_OK(rc);
    return echo_handler(s, arg);
}

EDDY_TEST(serve_echo_and_peer_address)
{
    server_run r;
    run_init(&r, peer_echo_handler, NULL);
    npeers = 0;
    EDDY_CHECK(eddy_serve_peer_addr() == NULL);
    int nrc = 1;
    EDDY_NURSERY(n, &nrc) {
        run_start(n, &r);
        eddy_stream *c1 = client(&r), *c2 = client(&r);
        echo_check(c1, "hello");
        echo_check(c2, "world");
        echo_check(c1, "again");
        EDDY_CHECK_EQ(r.srv.stats.accepted, 2);
        EDDY_CHECK_EQ(r.srv.stats.active, 2);
        eddy_sockaddr a1, a2;
        EDDY_OK(eddy_stream_local_addr(c1, &a1));
        EDDY_OK(eddy_stream_local_addr(c2, &a2));
        EDDY_CHECK_EQ(npeers, 2);
        EDDY_CHECK_EQ(peer_ports[0], eddy_sockaddr_port(&a1));
        EDDY_CHECK_EQ(peer_ports[1], eddy_sockaddr_port(&a2));
        EDDY_CHECK(child_saw_null);
        /* A client that leaves ends its handler; the server closes that stream. */
        EDDY_OK(eddy_stream_close(c1));
        settle();
        EDDY_CHECK_EQ(r.srv.stats.active, 1);
        EDDY_OK(eddy_server_shutdown(&r.srv));
        EDDY_OK(eddy_server_shutdown(&r.srv)); /* idempotent */
        /* grace 0: the remaining handler is cancelled and its connection reset. */
        char b;
        EDDY_CHECK_EQ(eddy_stream_read(c2, &b, 1), -ECONNRESET);
        EDDY_OK(eddy_stream_close(c2));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_CHECK_EQ(r.srv.stats.accepted, 2);
    EDDY_CHECK_EQ(r.srv.stats.aborted, 1);
    EDDY_CHECK_EQ(r.srv.stats.handler_errors, 0);
    EDDY_CHECK_EQ(r.srv.stats.active, 0);
    EDDY_CHECK_EQ(r.srv.stats.peak, 2);
    struct eddy_server_stats st;
    eddy_server_stats(&r.srv, &st);
    EDDY_CHECK_EQ(st.accepted, 2);
    EDDY_CHECK_EQ(st.aborted, 1);
    EDDY_CHECK_EQ(st.peak, 2);
    EDDY_CHECK_EQ(memcmp(&st, &r.srv.stats, sizeof st), 0);
    eddy_server_stats(NULL, &st);
    EDDY_CHECK_EQ(st.accepted + st.peak + st.aborted + (uint64_t)st.last_accept_error, 0);
    EDDY_CHECK_EQ(eddy_server_shutdown(&r.srv), -ESRCH); /* after eddy_serve returned */
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

/* A failing handler is counted; the server and the other connections carry on. */
static int failing_handler(eddy_stream *s, void *arg)
{
    (void)arg;
    char b;
    ssize_t n = eddy_stream_read(s, &b, 1);
    if (n == 1 && b == 'x') return -EPROTO;
    if (n == 1 && eddy_stream_write_all(s, "ok", 2) < 0) return -EIO;
    return echo_handler(s, arg);
}

EDDY_TEST(serve_handler_error_does_not_stop_server)
{
    server_run r;
    run_init(&r, failing_handler, NULL);
    int nrc = 1;
    EDDY_NURSERY(n, &nrc) {
        run_start(n, &r);
        eddy_stream *good = client(&r), *bad = client(&r);
        EDDY_OK(eddy_stream_write_all(good, "g", 1));
        expect(good, "ok");
        EDDY_OK(eddy_stream_write_all(bad, "x", 1));
        char b;
        EDDY_CHECK_EQ(eddy_stream_read(bad, &b, 1), 0); /* closed gracefully by the server */
        EDDY_CHECK_EQ(r.srv.stats.handler_errors, 1);
        EDDY_CHECK_EQ(r.srv.stats.last_handler_error, -EPROTO);
        echo_check(good, "still here");
        eddy_stream *later = client(&r);
        EDDY_OK(eddy_stream_write_all(later, "l", 1));
        expect(later, "ok");
        EDDY_OK(eddy_stream_close(bad));
        EDDY_OK(eddy_stream_close(good));
        EDDY_OK(eddy_stream_close(later));
        settle();
        EDDY_CHECK_EQ(r.srv.stats.active, 0);
        EDDY_OK(eddy_server_shutdown(&r.srv));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_CHECK_EQ(r.srv.stats.accepted, 3);
    EDDY_CHECK_EQ(r.srv.stats.handler_errors, 1);
    EDDY_CHECK_EQ(r.srv.stats.aborted, 0);
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

/* ---- max_conns ---- */

/* Greets, then serves until the client leaves. */
static int greet_handler(eddy_stream *s, void *arg)
{
    int rc = eddy_stream_write_all(s, "hi", 2);
    if (rc < 0) return rc;
    return echo_handler(s, arg);
}

EDDY_TEST(serve_max_conns_pauses_accepting)
{
    server_run r;
    run_init(&r, greet_handler, NULL);
    r.o.max_conns = 2;
    int nrc = 1;
    EDDY_NURSERY(n, &nrc) {
        run_start(n, &r);
        eddy_stream *c1 = client(&r), *c2 = client(&r), *c3 = client(&r);
        expect(c1, "hi");
        expect(c2, "hi");
        int64_t t0 = eddy_now();
        char b[2];
        ssize_t got = 1;
        EDDY_MOVE_ON_AFTER(EDDY_SEC(5)) got = eddy_stream_read(c3, b, 2);
        EDDY_CHECK_EQ(got, -ECANCELED); /* not served within 5 s */
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5));
        EDDY_CHECK_EQ(r.srv.stats.accepted, 2);
        EDDY_CHECK_EQ(r.srv.stats.active, 2);
        /* One leaves: the third is accepted at once (no time passes). */
        t0 = eddy_now();
        EDDY_OK(eddy_stream_close(c1));
        expect(c3, "hi");
        EDDY_CHECK_EQ(eddy_now() - t0, 0);
        echo_check(c3, "third");
        echo_check(c2, "second");
        EDDY_CHECK_EQ(r.srv.stats.accepted, 3);
        EDDY_CHECK_EQ(r.srv.stats.peak, 2);
        EDDY_OK(eddy_stream_close(c2));
        EDDY_OK(eddy_stream_close(c3));
        EDDY_OK(eddy_server_shutdown(&r.srv));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

/* ---- graceful stop ---- */

static int stuck_rc;

/* "slow" finishes one second after the stop; "stuck" never does. */
static int slow_or_stuck_handler(eddy_stream *s, void *arg)
{
    (void)arg;
    char kind;
    if (eddy_stream_read(s, &kind, 1) != 1) return -EIO;
    int rc = eddy_stream_write_all(s, "started", 7);
    if (rc < 0) return rc;
    if (kind == 's') {
        rc = eddy_sleep(EDDY_SEC(1));
        if (rc < 0) return rc;
        return eddy_stream_write_all(s, "done", 4);
    }
    stuck_rc = eddy_sleep_forever();
    return stuck_rc;
}

EDDY_TEST(serve_graceful_stop_waits_then_aborts)
{
    server_run r;
    run_init(&r, slow_or_stuck_handler, NULL);
    r.o.grace = EDDY_SEC(3);
    stuck_rc = 1;
    int nrc = 1;
    int64_t t0 = 0;
    eddy_stream *slow = NULL, *stuck = NULL, *late = NULL;
    EDDY_NURSERY(n, &nrc) {
        run_start(n, &r);
        slow = client(&r);
        stuck = client(&r);
        EDDY_OK(eddy_stream_write_all(slow, "s", 1));
        EDDY_OK(eddy_stream_write_all(stuck, "k", 1));
        expect(slow, "started");
        expect(stuck, "started");
        t0 = eddy_now();
        EDDY_OK(eddy_server_shutdown(&r.srv));
        /* The slow handler completes its work within the grace period. */
        expect(slow, "done");
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
        char b;
        EDDY_CHECK_EQ(eddy_stream_read(slow, &b, 1), 0); /* then a normal close */
        /* Stopped: a new connection is not accepted (it waits in the backlog). */
        late = client(&r);
        settle();
        EDDY_CHECK_EQ(r.srv.stats.accepted, 2);
        /* The stuck one is cancelled when the grace period ends, and its peer reset. */
        EDDY_CHECK_EQ(eddy_stream_read(stuck, &b, 1), -ECONNRESET);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(3));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_CHECK_EQ(r.t_end - t0, EDDY_SEC(3));
    EDDY_CHECK_EQ(stuck_rc, -ECANCELED);
    EDDY_CHECK_EQ(r.srv.stats.aborted, 1);
    EDDY_CHECK_EQ(r.srv.stats.handler_errors, 0); /* a cancelled handler has not failed */
    EDDY_OK(eddy_stream_close(slow));
    EDDY_OK(eddy_stream_close(stuck));
    EDDY_OK(eddy_stream_close(late));
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

/* Regression (docs/api.md, "Durations"): the grace of eddy_serve had no default (NULL options
 * meant 0, "cancel at once") while the protocol server's was 5 s. Both default to 5 s now (NULL or
 * EDDY_SERVE_OPTS_INIT), 0 still cancels at once, EDDY_FOREVER waits. */
static int serve_with_null_opts(void *p)
{
    server_run *r = p;
    r->rc = eddy_serve(r->l, r->h, r->arg, NULL);
    r->returned = true;
    r->t_end = eddy_now();
    return 0;
}

EDDY_TEST(serve_default_grace_is_5s)
{
    eddy_serve_opts o = EDDY_SERVE_OPTS_INIT;
    EDDY_CHECK_EQ(o.grace, EDDY_SEC(5));
    EDDY_CHECK(o.max_conns == 0 && o.stack_size == 0 && o.server == NULL);
    server_run r;
    run_init(&r, slow_or_stuck_handler, NULL);
    stuck_rc = 1;
    int nrc = 1;
    int64_t t0 = 0;
    eddy_stream *stuck = NULL;
    EDDY_NURSERY(n, &nrc) {
        void *v = NULL;
        EDDY_OK(eddy_start(n, serve_with_null_opts, &r, &v));
        eddy_server *srv = v;
        EDDY_CHECK(srv != NULL);
        stuck = client(&r);
        EDDY_OK(eddy_stream_write_all(stuck, "k", 1));
        expect(stuck, "started");
        t0 = eddy_now();
        EDDY_OK(eddy_server_shutdown(srv));
        char b;
        EDDY_CHECK_EQ(eddy_stream_read(stuck, &b, 1), -ECONNRESET);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_CHECK_EQ(r.t_end - t0, EDDY_SEC(5));
    EDDY_CHECK_EQ(stuck_rc, -ECANCELED);
    EDDY_OK(eddy_stream_close(stuck));
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

/* All handlers done within the grace period: eddy_serve returns as soon as the last one has. */
EDDY_TEST(serve_graceful_stop_returns_early)
{
    server_run r;
    run_init(&r, slow_or_stuck_handler, NULL);
    r.o.grace = EDDY_FOREVER;
    int nrc = 1;
    int64_t t0 = 0;
    EDDY_NURSERY(n, &nrc) {
        run_start(n, &r);
        eddy_stream *slow = client(&r);
        EDDY_OK(eddy_stream_write_all(slow, "s", 1));
        expect(slow, "started");
        t0 = eddy_now();
        EDDY_OK(eddy_server_shutdown(&r.srv));
        expect(slow, "done");
        EDDY_OK(eddy_stream_close(slow));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_CHECK_EQ(r.t_end - t0, EDDY_SEC(1));
    EDDY_CHECK_EQ(r.srv.stats.aborted, 0);
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

/* A handler may stop its own server. */
static int stopping_handler(eddy_stream *s, void *arg)
{
    server_run *r = arg;
    int rc = eddy_stream_write_all(s, "bye", 3);
    if (rc < 0) return rc;
    return eddy_server_shutdown(&r->srv);
}

EDDY_TEST(serve_stop_from_handler)
{
    server_run r;
    run_init(&r, stopping_handler, &r);
    int nrc = 1;
    EDDY_NURSERY(n, &nrc) {
        run_start(n, &r);
        eddy_stream *c = client(&r);
        expect(c, "bye");
        char b;
        EDDY_CHECK_EQ(eddy_stream_read(c, &b, 1), 0);
        EDDY_OK(eddy_stream_close(c));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_CHECK_EQ(r.srv.stats.accepted, 1);
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

/* eddy_server_shutdown from a callback (a timer here) works like one from a task. */
static int stop_cb_rc = 1;
static void stop_from_timer(void *arg)
{
    stop_cb_rc = eddy_server_shutdown(arg);
}

EDDY_TEST(serve_stop_from_callback)
{
    server_run r;
    run_init(&r, echo_handler, NULL);
    r.o.grace = EDDY_SEC(1);
    eddy_timer tm = {0};
    int nrc = 1;
    EDDY_NURSERY(n, &nrc) {
        run_start(n, &r);
        eddy_stream *c = client(&r);
        echo_check(c, "before");
        EDDY_OK(eddy_call_later(&tm, EDDY_SEC(2), stop_from_timer, &r.srv));
        /* Stopped at 2 s; the connected client is cut off when the grace ends at 3 s. */
        char b;
        EDDY_CHECK_EQ(eddy_stream_read(c, &b, 1), -ECONNRESET);
        EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(3));
        EDDY_OK(eddy_stream_close(c));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(stop_cb_rc, 0);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_CHECK_EQ(r.t_end, EDDY_SEC(3));
    EDDY_CHECK_EQ(r.srv.stats.aborted, 1);
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

/* Cancelling the scope around eddy_serve cancels every handler at once. */
static int cancellable_server(void *p)
{
    server_run *r = p;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(2)) {
        r->rc = eddy_serve(r->l, r->h, r->arg, &r->o);
    }
    r->returned = true;
    r->t_end = eddy_now();
    return 0;
}

static int serve_cancelled_by_enclosing_scope_body(void)
{
    server_run r;
    run_init(&r, slow_or_stuck_handler, NULL);
    r.o.grace = EDDY_SEC(10); /* a stop's grace: not applied to cancellation */
    stuck_rc = 1;
    int nrc = 1;
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, cancellable_server, &r));
        eddy_stream *c = client(&r);
        EDDY_OK(eddy_stream_write_all(c, "k", 1));
        expect(c, "started");
        char b;
        EDDY_CHECK_EQ(eddy_stream_read(c, &b, 1), -ECONNRESET);
        EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(2));
        EDDY_OK(eddy_stream_close(c));
    }
    EDDY_OK(nrc);
    EDDY_CHECK(r.returned);
    EDDY_CHECK_EQ(r.rc, -ECANCELED);
    EDDY_CHECK_EQ(r.t_end, EDDY_SEC(2));
    EDDY_CHECK_EQ(stuck_rc, -ECANCELED);
    EDDY_CHECK_EQ(r.srv.stats.aborted, 1);
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

EDDY_TEST(serve_cancelled_by_enclosing_scope) { return serve_cancelled_by_enclosing_scope_body(); }

/* The same under a scheduler seed that runs the cancelled handler to its end before the
 * serving task looks at it: it must still be counted as aborted (it was not, when the server
 * counted the handlers still active at its own cancel). */
EDDY_TEST_EX(serve_cancelled_counts_handlers_that_ended_first, .sched_seed = 3)
{
    return serve_cancelled_by_enclosing_scope_body();
}

/* Closing the listener under a running server ends it with -EBADF after the usual drain. */
EDDY_TEST(serve_listener_closed_under_it)
{
    server_run r;
    run_init(&r, echo_handler, NULL);
    int nrc = 1;
    EDDY_NURSERY(n, &nrc) {
        run_start(n, &r);
        eddy_stream *c = client(&r);
        echo_check(c, "x");
        EDDY_OK(eddy_listener_close(r.l));
        settle();
        EDDY_CHECK(r.returned);
        EDDY_CHECK_EQ(r.rc, -EBADF);
        char b;
        EDDY_CHECK_EQ(eddy_stream_read(c, &b, 1), -ECONNRESET); /* grace 0: aborted */
        EDDY_OK(eddy_stream_close(c));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(r.srv.stats.aborted, 1);
    return 0;
}

/* No stack for a handler task (an impossible stack size makes every spawn fail with
 * -ENOMEM): the accepted connection is reset, counted, and the server backs off and stays
 * up; it serves again once spawning works (here: never, so it is stopped). */
EDDY_TEST(serve_spawn_failure_resets_connection)
{
    server_run r;
    run_init(&r, echo_handler, NULL);
    r.o.stack_size = (size_t)1 << 50; /* a petabyte: beyond the address space */
    /* Connected before the server runs (they wait in the backlog), so the reset cannot race
     * the connect itself. */
    eddy_stream *c = client(&r), *d = client(&r);
    int nrc = 1;
    EDDY_NURSERY(n, &nrc) {
        run_start(n, &r);
        char b;
        EDDY_CHECK_EQ(eddy_stream_read(c, &b, 1), -ECONNRESET);
        EDDY_CHECK_EQ(eddy_now(), 0);
        EDDY_CHECK_EQ(r.srv.stats.accepted, 0);
        EDDY_CHECK_EQ(r.srv.stats.last_accept_error, -ENOMEM);
        EDDY_CHECK_EQ(r.srv.stats.active, 0);
        /* After the first back-off (10 ms) the server accepts again: the same fate. */
        EDDY_CHECK_EQ(eddy_stream_read(d, &b, 1), -ECONNRESET);
        EDDY_CHECK_EQ(eddy_now(), EDDY_MSEC(10));
        EDDY_CHECK_EQ(r.srv.stats.accept_errors, 2);
        EDDY_OK(eddy_server_shutdown(&r.srv));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_CHECK_EQ(r.srv.stats.accepted, 0);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(d));
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

/* ---- argument and context errors ---- */

static int serve_rc_cb = 1;
static eddy_event serve_cb_done; /* the callback ran (whatever order the scheduler picks) */
static void serve_from_callback(void *arg)
{
    serve_rc_cb = eddy_serve(arg, echo_handler, NULL, NULL);
    eddy_event_set(&serve_cb_done);
}

static int second_acceptor(void *p)
{
    server_run *r = p;
    return eddy_serve(r->l, echo_handler, NULL, NULL);
}

EDDY_TEST(serve_errors)
{
    eddy_listener *l;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    EDDY_CHECK_EQ(eddy_serve(NULL, echo_handler, NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_serve(l, NULL, NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_serve(l, echo_handler, NULL, &(eddy_serve_opts){.grace = -1}), -EINVAL);
    eddy_event_init(&serve_cb_done);
    EDDY_OK(eddy_call_soon(serve_from_callback, l));
    EDDY_OK(eddy_event_wait(&serve_cb_done));
    EDDY_CHECK_EQ(serve_rc_cb, -EPERM);
    EDDY_CHECK_EQ(eddy_server_shutdown(NULL), -EINVAL);
    eddy_server zero = {0};
    EDDY_CHECK_EQ(eddy_server_shutdown(&zero), -ESRCH);
    /* Already cancelled: returns at once, accepting nothing. */
    int rc = 1;
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        rc = eddy_serve(l, echo_handler, NULL, NULL);
    }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_OK(eddy_listener_close(l));
    /* A second server on a listener that already has one: -EBUSY from accept. */
    server_run r;
    run_init(&r, echo_handler, NULL);
    int nrc = 1;
    EDDY_NURSERY(n, &nrc) {
        run_start(n, &r);
        EDDY_CHECK_EQ(second_acceptor(&r), -EBUSY);
        EDDY_OK(eddy_server_shutdown(&r.srv));
    }
    EDDY_OK(nrc);
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

/* ---- EMFILE ---- */

/* Leave exactly `free_slots` descriptors available under a lowered RLIMIT_NOFILE: lower the
 * limit a little above what is open, fill the gap with /dev/null, give back free_slots. */
typedef struct fd_squeeze {
    int *fillers;
    int n;
    struct rlimit saved;
} fd_squeeze;

static void squeeze(fd_squeeze *z, int free_slots)
{
    EDDY_CHECK(getrlimit(RLIMIT_NOFILE, &z->saved) == 0);
    int top = open("/dev/null", O_RDONLY | O_CLOEXEC);
    EDDY_CHECK(top >= 0);
    close(top);
    /* Descriptors are allocated lowest first; every number from top upwards is free and the
     * ones below are taken, except holes that the filling below takes up too. */
    int highest = top;
    for (int fd = top + 1; fd < top + 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0) highest = fd;
    struct rlimit lim = z->saved;
    lim.rlim_cur = (rlim_t)highest + 1 + 8;
    EDDY_CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    z->n = 0;
    z->fillers = malloc(sizeof(int) * lim.rlim_cur);
    EDDY_CHECK(z->fillers != NULL);
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            EDDY_CHECK_EQ(errno, EMFILE);
            break;
        }
        z->fillers[z->n++] = fd;
    }
    EDDY_CHECK(z->n >= free_slots);
    for (int i = 0; i < free_slots; i++) close(z->fillers[--z->n]);
}

static void unsqueeze(fd_squeeze *z)
{
    while (z->n) close(z->fillers[--z->n]);
    free(z->fillers);
    EDDY_CHECK(setrlimit(RLIMIT_NOFILE, &z->saved) == 0);
}

EDDY_TEST(serve_emfile_backs_off_and_resumes)
{
    server_run r;
    run_init(&r, echo_handler, NULL);
    /* The clients connect before the squeeze (the kernel completes the handshakes; the
     * connections wait in the listen backlog), so only the server needs descriptors. */
    eddy_stream *c[3];
    for (int i = 0; i < 3; i++) c[i] = client(&r);
    EDDY_OK(eddy_stream_write_all(c[2], "three", 5)); /* waits in the socket until served */
    fd_squeeze z;
    squeeze(&z, 2);
    int nrc = 1;
    EDDY_NURSERY(n, &nrc) {
        run_start(n, &r);
        settle();
        EDDY_CHECK_EQ(r.srv.stats.accepted, 2);
        EDDY_CHECK_EQ(r.srv.stats.last_accept_error, -EMFILE);
        /* The accepted connections are served while the server is out of descriptors. */
        echo_check(c[0], "zero");
        echo_check(c[1], "one");
        /* Ten seconds out of descriptors: the retries back off (10 ms doubling to 1 s: about
         * fifteen in ten seconds), and the loop sleeps in between instead of spinning. */
        struct eddy_loop_stats s0, s1;
        eddy_loop_stats(&s0);
        uint64_t calls0 = r.srv.stats.accept_calls;
        EDDY_OK(eddy_sleep(EDDY_SEC(10)));
        eddy_loop_stats(&s1);
        uint64_t retries = r.srv.stats.accept_calls - calls0;
        EDDY_CHECK(retries >= 10 && retries <= 17);
        EDDY_CHECK(s1.polls - s0.polls <= 3 * retries + 10);
        EDDY_CHECK_EQ(r.srv.stats.accepted, 2);
        EDDY_CHECK_EQ(r.srv.stats.accept_errors, r.srv.stats.accept_calls - 2);
        /* One client leaves: its handler ends and gives a descriptor back, which wakes the
         * acceptor at once (not at the next 1 s back-off); the third client is served. */
        int64_t t0 = eddy_now();
        EDDY_OK(eddy_stream_close(c[0]));
        expect(c[2], "three");
        EDDY_CHECK_EQ(eddy_now() - t0, 0);
        EDDY_CHECK_EQ(r.srv.stats.accepted, 3);
        echo_check(c[1], "still one");
        EDDY_OK(eddy_server_shutdown(&r.srv));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(r.rc, 0);
    unsqueeze(&z);
    EDDY_OK(eddy_stream_close(c[1]));
    EDDY_OK(eddy_stream_close(c[2]));
    EDDY_OK(eddy_listener_close(r.l));
    return 0;
}

/* ---- a handler that overflows its stack ---- */

/* The handler's stack is set where the user called eddy_serve, so the overflow message must
 * name that call (this file, the line below) and eddy_serve_opts.stack_size, not the spawn
 * inside src/io/server.c that the user never wrote. */

static int diving_handler(eddy_stream *conn, void *arg)
{
    (void)conn;
    (void)arg;
    return core_recurse(1 << 20) == 7 ? -EIO : 0; /* 1 GiB of frames: past any stack */
}

static int diving_client(void *p)
{
    eddy_stream *c;
    EDDY_OK(eddy_tcp_connect("127.0.0.1", port_of(p), NULL, &c));
    char b;
    ssize_t n = eddy_stream_read(c, &b, 1); /* never returns: the server dies first */
    return n < 0 ? (int)n : 0;
}

static int diving_main(void *arg)
{
    (void)arg;
    eddy_listener *l;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    int rc = 0;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, diving_client, l));
        enum { SERVE_LINE = __LINE__ + 2 };
        fprintf(stderr, "serve-line=%d\n", SERVE_LINE);
        rc = eddy_serve(l, diving_handler, NULL, NULL); /* the line the message must name */
    }
    return rc;
}

static int diving_child(void *arg)
{
    (void)arg;
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_NO_SIGNALS};
    return eddy_run_opts(diving_main, NULL, &o);
}

EDDY_TEST_EX(handler_stack_overflow_names_the_serve_call, .raw = true)
{
    static char out[8192];
    if (!core_overflow_child(diving_child, out, sizeof out)) return 0;
    const char *l = strstr(out, "serve-line=");
    EDDY_CHECK(l != NULL);
    char site[256];
    snprintf(site, sizeof site, "eddy_serve called at %s:%d:", __FILE__, atoi(l + 11));
    if (!strstr(out, "stack overflow in task 'conn'") || !strstr(out, site) ||
        !strstr(out, "eddy_serve_opts.stack_size") || strstr(out, "src/io/server.c"))
        eddy_test_fail(__FILE__, __LINE__, "expected a message naming %s, got: %s", site, out);
    return 0;
}
