/* Tests of eddy_tcp_connect (N1): Happy Eyeballs over addresses from a fake resolver, on the
 * virtual clock. Every address is on loopback. An address that "never answers" is a listener
 * with backlog 0 whose accept queue already holds one connection: Linux drops further SYNs,
 * so a connect to it stays in SYN_SENT (the kernel's retransmissions are on the real clock,
 * seconds away, far beyond any of these tests). */
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/test.h"

/* The default options (EDDY_TCP_CONNECT_OPTS_INIT) with the fields given changed: a zero
 * stagger would start every attempt at once. */
#define OPTS(...) (&(eddy_tcp_connect_opts){.stagger = EDDY_CONNECT_STAGGER, __VA_ARGS__})

/* ---- helpers ---- */

typedef struct fake_res {
    eddy_sockaddr a[8];
    int n;
    int err;   /* returned instead of addresses when non-zero */
    int calls;
    int family; /* the family asked for by the last call */
} fake_res;

static int fake_resolve(void *ctx, const char *host, uint16_t port, int family, eddy_sockaddr *out,
                        size_t max)
{
    (void)host;
    (void)port; /* the fake's addresses carry their own ports */
    fake_res *f = ctx;
    f->calls++;
    f->family = family;
    if (f->err) return f->err;
    size_t k = 0;
    for (int i = 0; i < f->n && k < max; i++)
        if (family == AF_UNSPEC || f->a[i].ss.ss_family == family) out[k++] = f->a[i];
    return k ? (int)k : EDDY_ENOADDR;
}

static fake_res fake;
static const eddy_resolver fake_resolver = {fake_resolve, &fake};

static void use_fake(void)
{
    memset(&fake, 0, sizeof fake);
    EDDY_OK(eddy_loop_set_resolver(&fake_resolver));
}

static void add_addr(const char *host, uint16_t port)
{
    EDDY_CHECK(fake.n < 8);
    EDDY_OK(eddy_sockaddr_parse(host, port, &fake.a[fake.n]));
    fake.n++;
}

static eddy_listener *listen_on(const char *host, uint16_t *port)
{
    eddy_listener *l;
    EDDY_OK(eddy_tcp_listen(host, 0, NULL, &l));
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_local_addr(l, &a));
    *port = eddy_sockaddr_port(&a);
    return l;
}

/* A port with nothing listening: bind a socket, note its port, close it. */
static uint16_t closed_port(const char *host)
{
    eddy_sockaddr a;
    EDDY_OK(eddy_sockaddr_parse(host, 0, &a));
    int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    EDDY_CHECK(bind(fd, (struct sockaddr *)&a.ss, a.len) == 0);
    a.len = sizeof a.ss;
    EDDY_CHECK(getsockname(fd, (struct sockaddr *)&a.ss, &a.len) == 0);
    close(fd);
    return eddy_sockaddr_port(&a);
}

/* The never-answering address (see the top). */
typedef struct blackhole {
    int lfd, filler;
    uint16_t port;
} blackhole;

static void blackhole_open(blackhole *b)
{
    eddy_sockaddr a;
    EDDY_OK(eddy_sockaddr_parse("127.0.0.1", 0, &a));
    b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EDDY_CHECK(b->lfd >= 0);
    EDDY_CHECK(bind(b->lfd, (struct sockaddr *)&a.ss, a.len) == 0);
    EDDY_CHECK(listen(b->lfd, 0) == 0);
    a.len = sizeof a.ss;
    EDDY_CHECK(getsockname(b->lfd, (struct sockaddr *)&a.ss, &a.len) == 0);
    b->port = eddy_sockaddr_port(&a);
    b->filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EDDY_CHECK(b->filler >= 0);
    EDDY_CHECK(connect(b->filler, (struct sockaddr *)&a.ss, a.len) == 0);
    /* Until the handshake's last ACK has put the filler in the accept queue, a SYN would
     * still be answered: wait (in the kernel, not on a clock) until the listener is readable. */
    struct pollfd p = {.fd = b->lfd, .events = POLLIN};
    EDDY_CHECK_EQ(poll(&p, 1, 5000), 1);
}

static void blackhole_close(blackhole *b)
{
    close(b->filler);
    close(b->lfd);
}

/* Accept the connection c made on l and check bytes go both ways. */
static void check_pair(eddy_listener *l, eddy_stream *c)
{
    eddy_stream *s;
    eddy_sockaddr peer, local;
    EDDY_OK(eddy_listener_accept(l, &s, &peer));
    EDDY_OK(eddy_stream_local_addr(c, &local));
    EDDY_CHECK_EQ(eddy_sockaddr_port(&peer), eddy_sockaddr_port(&local));
    EDDY_OK(eddy_stream_write_all(c, "ping", 4));
    char buf[8];
    EDDY_CHECK_EQ(eddy_stream_read(s, buf, sizeof buf), 4);
    EDDY_CHECK(memcmp(buf, "ping", 4) == 0);
    EDDY_OK(eddy_stream_write_all(s, "pong!", 5));
    EDDY_CHECK_EQ(eddy_stream_read(c, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "pong!", 5) == 0);
    EDDY_OK(eddy_stream_close(s));
}

/* ---- success paths ---- */

EDDY_TEST(connect_numeric_host)
{
    uint16_t port;
    eddy_listener *l = listen_on("127.0.0.1", &port);
    eddy_stream *c;
    EDDY_OK(eddy_tcp_connect("127.0.0.1", port, NULL, &c));
    EDDY_CHECK(strcmp(eddy_stream_kind(c), "tcp") == 0);
    check_pair(l, c);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* "localhost" is ::1 then 127.0.0.1; only IPv4 listens, so the IPv6 attempt fails and the
 * IPv4 one starts at once instead of after the stagger. */
EDDY_TEST(connect_localhost_falls_back_at_once)
{
    uint16_t port;
    eddy_listener *l = listen_on("127.0.0.1", &port);
    int64_t t0 = eddy_now();
    eddy_stream *c;
    EDDY_OK(eddy_tcp_connect("localhost", port, NULL, &c));
    EDDY_CHECK_EQ(eddy_now() - t0, 0);
    eddy_sockaddr peer;
    EDDY_OK(eddy_stream_peer_addr(c, &peer));
    EDDY_CHECK_EQ(peer.ss.ss_family, AF_INET);
    check_pair(l, c);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* The race of the stagger tests: the fake resolver gives a never-answering address, then the
 * address of a listener (*port). */
static eddy_listener *hole_then_listener(blackhole *b, uint16_t *port)
{
    blackhole_open(b);
    eddy_listener *l = listen_on("127.0.0.1", port);
    use_fake();
    add_addr("127.0.0.1", b->port);
    add_addr("127.0.0.1", *port);
    return l;
}

/* The stagger, on the virtual clock: the first address never answers, the second is started
 * exactly one stagger later and wins; the losing socket is closed. The default, from NULL
 * options and from EDDY_TCP_CONNECT_OPTS_INIT. */
EDDY_TEST(connect_stagger_default_250ms)
{
    eddy_tcp_connect_opts init = EDDY_TCP_CONNECT_OPTS_INIT;
    EDDY_CHECK_EQ(init.stagger, EDDY_CONNECT_STAGGER);
    const eddy_tcp_connect_opts *opts[] = {NULL, &init};
    for (int i = 0; i < 2; i++) {
        blackhole b;
        uint16_t port;
        eddy_listener *l = hole_then_listener(&b, &port);
        int fds = eddy_test_fd_count();
        int64_t t0 = eddy_now();
        eddy_stream *c;
        EDDY_OK(eddy_tcp_connect("fake.test", 80, opts[i], &c));
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_MSEC(250));
        EDDY_CHECK_EQ(fake.calls, 1);
        EDDY_CHECK_EQ(fake.family, AF_UNSPEC);
        EDDY_CHECK_EQ(eddy_test_fd_count(), fds + 1); /* the winner only */
        eddy_sockaddr peer;
        EDDY_OK(eddy_stream_peer_addr(c, &peer));
        EDDY_CHECK_EQ(eddy_sockaddr_port(&peer), port);
        check_pair(l, c);
        EDDY_OK(eddy_stream_close(c));
        EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
        EDDY_OK(eddy_listener_close(l));
        blackhole_close(&b);
    }
    return 0;
}

EDDY_TEST(connect_stagger_option_and_third_address)
{
    blackhole b;
    blackhole_open(&b);
    uint16_t port;
    eddy_listener *l = listen_on("127.0.0.1", &port);
    use_fake();
    add_addr("127.0.0.1", b.port);
    add_addr("127.0.0.1", b.port);
    add_addr("127.0.0.1", port);
    int fds = eddy_test_fd_count();
    int64_t t0 = eddy_now();
    eddy_stream *c;
    EDDY_OK(eddy_tcp_connect("fake.test", 80, &(eddy_tcp_connect_opts){.stagger = EDDY_MSEC(40)}, &c));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_MSEC(80));
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds + 1);
    check_pair(l, c);
    EDDY_OK(eddy_stream_close(c));
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
    EDDY_OK(eddy_listener_close(l));
    blackhole_close(&b);
    return 0;
}

/* Regression (docs/api.md, "Durations"): a zero stagger meant "the default" (250 ms). Durations
 * have one rule now: 0 starts every attempt at once, EDDY_FOREVER starts the next only when one
 * fails, and the default is what NULL or EDDY_TCP_CONNECT_OPTS_INIT give. */
EDDY_TEST(connect_stagger_zero_is_at_once_forever_is_one_at_a_time)
{
    blackhole b;
    uint16_t port;
    eddy_listener *l = hole_then_listener(&b, &port);
    int fds = eddy_test_fd_count();
    eddy_stream *c;
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_tcp_connect("fake.test", 80, &(eddy_tcp_connect_opts){.stagger = 0}, &c));
    EDDY_CHECK_EQ(eddy_now() - t0, 0); /* the listener was tried beside the blackhole */
    check_pair(l, c);
    EDDY_OK(eddy_stream_close(c));
    /* EDDY_FOREVER: the blackhole never fails, so the listener is never tried */
    t0 = eddy_now();
    int rc = 1;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(10))
        rc = eddy_tcp_connect("fake.test", 80, &(eddy_tcp_connect_opts){.stagger = EDDY_FOREVER}, &c);
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(10));
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
    /* ... while a refused first address passes the turn at once */
    use_fake();
    add_addr("127.0.0.1", closed_port("127.0.0.1"));
    add_addr("127.0.0.1", port);
    t0 = eddy_now();
    EDDY_OK(eddy_tcp_connect("fake.test", 80, &(eddy_tcp_connect_opts){.stagger = EDDY_FOREVER}, &c));
    EDDY_CHECK_EQ(eddy_now() - t0, 0);
    check_pair(l, c);
    EDDY_OK(eddy_stream_close(c));
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
    EDDY_OK(eddy_listener_close(l));
    blackhole_close(&b);
    return 0;
}

/* RFC 8305 order: IPv6 first, then alternate, whatever order the resolver used. Both a v4
 * and a v6 listener accept; the v6 one wins although the resolver listed it last. */
EDDY_TEST(connect_prefers_ipv6_first)
{
    uint16_t p4, p6;
    eddy_listener *l4 = listen_on("127.0.0.1", &p4);
    eddy_listener *l6 = listen_on("::1", &p6);
    use_fake();
    add_addr("127.0.0.1", p4);
    add_addr("127.0.0.1", p4);
    add_addr("::1", p6);
    eddy_stream *c;
    EDDY_OK(eddy_tcp_connect("fake.test", 80, NULL, &c));
    eddy_sockaddr peer;
    EDDY_OK(eddy_stream_peer_addr(c, &peer));
    EDDY_CHECK_EQ(peer.ss.ss_family, AF_INET6);
    check_pair(l6, c);
    EDDY_OK(eddy_stream_close(c));
    /* Family filter: only the IPv4 addresses are asked for and tried. */
    EDDY_OK(eddy_tcp_connect("fake.test", 80, OPTS(.family = AF_INET), &c));
    EDDY_CHECK_EQ(fake.family, AF_INET);
    check_pair(l4, c);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_listener_close(l4));
    EDDY_OK(eddy_listener_close(l6));
    return 0;
}

/* Interleaving: [v4 refused, v4 refused, v6 never answers, v6 listener]: the order tried is
 * v6 (hangs), v4 (refused: next at once), v6 listener — connected without waiting a stagger. */
EDDY_TEST(connect_interleaves_families)
{
    blackhole b;
    blackhole_open(&b);
    uint16_t p6;
    eddy_listener *l6 = listen_on("::1", &p6);
    uint16_t dead = closed_port("127.0.0.1");
    use_fake();
    add_addr("127.0.0.1", dead);
    add_addr("127.0.0.1", dead);
    add_addr("::ffff:127.0.0.1", b.port); /* the v4 blackhole reached over IPv6 */
    add_addr("::1", p6);
    int64_t t0 = eddy_now();
    eddy_stream *c;
    EDDY_OK(eddy_tcp_connect("fake.test", 80, NULL, &c));
    /* v6 blackhole at 0, v4 refused at 250 ms, so the v6 listener starts at 250 ms too. */
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_MSEC(250));
    eddy_sockaddr peer;
    EDDY_OK(eddy_stream_peer_addr(c, &peer));
    EDDY_CHECK_EQ(eddy_sockaddr_port(&peer), p6);
    check_pair(l6, c);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_listener_close(l6));
    blackhole_close(&b);
    return 0;
}

/* opts.local binds the source address; a target of another family is not tried. */
EDDY_TEST(connect_local_address)
{
    uint16_t port;
    eddy_listener *l = listen_on("", &port); /* dual-stack */
    eddy_sockaddr local;
    EDDY_OK(eddy_sockaddr_parse("127.0.0.1", 0, &local));
    eddy_stream *c;
    EDDY_OK(eddy_tcp_connect("localhost", port, OPTS(.local = &local), &c));
    eddy_sockaddr got, peer;
    EDDY_OK(eddy_stream_local_addr(c, &got));
    EDDY_OK(eddy_stream_peer_addr(c, &peer));
    EDDY_CHECK_EQ(got.ss.ss_family, AF_INET);
    EDDY_CHECK_EQ(peer.ss.ss_family, AF_INET);
    EDDY_CHECK(eddy_sockaddr_port(&got) != 0);
    check_pair(l, c);
    EDDY_OK(eddy_stream_close(c));
    /* A bound port in use by a listener: bind fails with -EADDRINUSE (SO_REUSEADDR does not
     * allow binding over a listening socket). */
    EDDY_OK(eddy_sockaddr_parse("127.0.0.1", port, &local));
    EDDY_CHECK_EQ(eddy_tcp_connect("127.0.0.1", port, OPTS(.local = &local), &c),
                  -EADDRINUSE);
    EDDY_CHECK(c == NULL);
    /* Only IPv6 targets for an IPv4 source: nothing to try. */
    EDDY_OK(eddy_sockaddr_parse("127.0.0.1", 0, &local));
    EDDY_CHECK_EQ(eddy_tcp_connect("::1", port, OPTS(.local = &local), &c),
                  -EAFNOSUPPORT);
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- failures ---- */

EDDY_TEST(connect_all_refused)
{
    uint16_t d1 = closed_port("127.0.0.1"), d6 = closed_port("::1");
    use_fake();
    add_addr("127.0.0.1", d1);
    add_addr("::1", d6);
    add_addr("127.0.0.1", d1);
    int fds = eddy_test_fd_count();
    int64_t t0 = eddy_now();
    eddy_stream *c = (eddy_stream *)&c;
    EDDY_CHECK_EQ(eddy_tcp_connect("fake.test", 80, NULL, &c), -ECONNREFUSED);
    EDDY_CHECK(c == NULL);
    /* Each failure started the next attempt at once: no stagger was waited. */
    EDDY_CHECK_EQ(eddy_now() - t0, 0);
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
    /* A single address takes the direct path: the same error. */
    EDDY_CHECK_EQ(eddy_tcp_connect("127.0.0.1", d1, NULL, &c), -ECONNREFUSED);
    return 0;
}

EDDY_TEST(connect_cancelled_mid_race_leaves_nothing)
{
    blackhole b;
    blackhole_open(&b);
    use_fake();
    add_addr("127.0.0.1", b.port);
    add_addr("::ffff:127.0.0.1", b.port);
    add_addr("127.0.0.1", b.port);
    int fds = eddy_test_fd_count();
    int64_t t0 = eddy_now();
    eddy_stream *c = NULL;
    int rc = 1;
    /* Cancelled at 300 ms: two attempts are in flight, the third not started. */
    EDDY_MOVE_ON_AFTER(EDDY_MSEC(300)) rc = eddy_tcp_connect("fake.test", 80, NULL, &c);
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK(c == NULL);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_MSEC(300));
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
    /* A fail-after scope gives -ETIMEDOUT, also on the single-address path. */
    EDDY_FAIL_AFTER(EDDY_MSEC(100)) rc = eddy_tcp_connect("fake.test", 80, NULL, &c);
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_FAIL_AFTER(EDDY_MSEC(100)) rc = eddy_tcp_connect("127.0.0.1", b.port, NULL, &c);
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
    /* Already cancelled: nothing is resolved or opened. */
    int calls = fake.calls;
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        rc = eddy_tcp_connect("fake.test", 80, NULL, &c);
    }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(fake.calls, calls);
    blackhole_close(&b);
    return 0;
}

EDDY_TEST(connect_resolver_errors)
{
    use_fake();
    eddy_stream *c;
    fake.err = EDDY_ENONAME;
    EDDY_CHECK_EQ(eddy_tcp_connect("fake.test", 80, NULL, &c), EDDY_ENONAME);
    fake.err = EDDY_EDNSTIMEDOUT;
    EDDY_CHECK_EQ(eddy_tcp_connect("fake.test", 80, NULL, &c), EDDY_EDNSTIMEDOUT);
    /* An answer of only Unix addresses: nothing TCP can use. */
    fake.err = 0;
    fake.n = 1;
    fake.a[0].ss.ss_family = AF_UNIX;
    fake.a[0].len = sizeof(sa_family_t);
    EDDY_CHECK_EQ(eddy_tcp_connect("fake.test", 80, NULL, &c), -EAFNOSUPPORT);
    EDDY_CHECK(c == NULL);
    return 0;
}

static int perm_rc;
static eddy_event perm_done; /* the callback ran (whatever order the scheduler picks) */
static void from_callback(void *arg)
{
    (void)arg;
    eddy_stream *c;
    perm_rc = eddy_tcp_connect("127.0.0.1", 1, NULL, &c);
    eddy_event_set(&perm_done);
}

EDDY_TEST(connect_bad_arguments)
{
    eddy_stream *c;
    EDDY_CHECK_EQ(eddy_tcp_connect(NULL, 80, NULL, &c), -EINVAL);
    EDDY_CHECK_EQ(eddy_tcp_connect("", 80, NULL, &c), -EINVAL);
    EDDY_CHECK_EQ(eddy_tcp_connect("127.0.0.1", 80, NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_tcp_connect("127.0.0.1", 80, &(eddy_tcp_connect_opts){.stagger = -1}, &c), -EINVAL);
    EDDY_CHECK_EQ(eddy_tcp_connect("127.0.0.1", 80, &(eddy_tcp_connect_opts){.family = AF_UNIX}, &c),
                  -EINVAL);
    /* A numeric host of the other family than asked for. */
    EDDY_CHECK_EQ(eddy_tcp_connect("::1", 80, OPTS(.family = AF_INET), &c), EDDY_ENOADDR);
    perm_rc = 1;
    eddy_event_init(&perm_done);
    EDDY_OK(eddy_call_soon(from_callback, NULL));
    EDDY_OK(eddy_event_wait(&perm_done));
    EDDY_CHECK_EQ(perm_rc, -EPERM);
    return 0;
}
