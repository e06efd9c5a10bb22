/* N3: UDP sockets over loopback. */
#include <string.h>
#include <unistd.h>

#include "eddy/test.h"

static eddy_sockaddr lo4(uint16_t port)
{
    eddy_sockaddr a;
    EDDY_OK(eddy_sockaddr_parse("127.0.0.1", port, &a));
    return a;
}

static bool same_addr(const eddy_sockaddr *a, const eddy_sockaddr *b)
{
    char x[64], y[64];
    EDDY_CHECK(eddy_sockaddr_format(a, x, sizeof x) > 0);
    EDDY_CHECK(eddy_sockaddr_format(b, y, sizeof y) > 0);
    return strcmp(x, y) == 0;
}

/* A socket bound to 127.0.0.1:free port, and its address. */
static eddy_udp *bound(eddy_sockaddr *addr)
{
    eddy_sockaddr l = lo4(0);
    eddy_udp *u;
    EDDY_OK(eddy_udp_open(&l, NULL, &u));
    EDDY_OK(eddy_udp_local_addr(u, addr));
    EDDY_CHECK(eddy_sockaddr_port(addr) != 0);
    return u;
}

EDDY_TEST(udp_send_recv_both_ways)
{
    eddy_sockaddr aa, ba, from, got;
    eddy_udp *a = bound(&aa);
    eddy_sockaddr bl = lo4(0);
    eddy_udp *b;
    EDDY_OK(eddy_udp_open(&bl, &aa, &b));
    EDDY_OK(eddy_udp_local_addr(b, &ba));
    EDDY_OK(eddy_udp_peer_addr(b, &got));
    EDDY_CHECK(same_addr(&got, &aa));
    EDDY_CHECK_EQ(eddy_udp_peer_addr(a, &got), -ENOTCONN);

    EDDY_CHECK_EQ(eddy_udp_send(b, NULL, "hello", 5), 5);
    char buf[64];
    memset(buf, 0, sizeof buf);
    EDDY_CHECK_EQ(eddy_udp_recv(a, &from, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "hello", 5) == 0);
    EDDY_CHECK(same_addr(&from, &ba));

    EDDY_CHECK_EQ(eddy_udp_send(a, &from, "world!", 6), 6);
    memset(buf, 0, sizeof buf);
    EDDY_CHECK_EQ(eddy_udp_recv(b, NULL, buf, sizeof buf), 6);
    EDDY_CHECK(memcmp(buf, "world!", 6) == 0);

    /* Zero-length datagrams are datagrams. */
    EDDY_CHECK_EQ(eddy_udp_send(b, NULL, NULL, 0), 0);
    EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, buf, sizeof buf), 0);
    EDDY_CHECK(eddy_udp_fd(a) >= 0);
    EDDY_CHECK_EQ(eddy_udp_fd(NULL), -1);
    EDDY_OK(eddy_udp_close(a));
    EDDY_OK(eddy_udp_close(b));
    EDDY_OK(eddy_udp_close(NULL));
    return 0;
}

EDDY_TEST(udp_ipv6_loopback)
{
    eddy_sockaddr l6, a6, from;
    EDDY_OK(eddy_sockaddr_parse("::1", 0, &l6));
    eddy_udp *a;
    int rc = eddy_udp_open(&l6, NULL, &a);
    if (rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL) return 0; /* no IPv6 on this host */
    EDDY_OK(rc);
    EDDY_OK(eddy_udp_local_addr(a, &a6));
    EDDY_CHECK_EQ(a6.ss.ss_family, AF_INET6);
    eddy_udp *b;
    EDDY_OK(eddy_udp_open(NULL, &a6, &b));
    EDDY_CHECK_EQ(eddy_udp_send(b, NULL, "six", 3), 3);
    char buf[8];
    EDDY_CHECK_EQ(eddy_udp_recv(a, &from, buf, sizeof buf), 3);
    EDDY_CHECK(memcmp(buf, "six", 3) == 0);
    EDDY_CHECK_EQ(from.ss.ss_family, AF_INET6);
    EDDY_OK(eddy_udp_close(a));
    EDDY_OK(eddy_udp_close(b));
    return 0;
}

/* Neither address: the socket is dual-stack IPv6 (or IPv4) and can still reach 127.0.0.1. */
EDDY_TEST(udp_open_unbound_sends_to_ipv4)
{
    eddy_sockaddr aa, from, mine;
    eddy_udp *a = bound(&aa);
    eddy_udp *u;
    EDDY_OK(eddy_udp_open(NULL, NULL, &u));
    EDDY_CHECK_EQ(eddy_udp_send(u, NULL, "x", 1), -EDESTADDRREQ);
    EDDY_CHECK_EQ(eddy_udp_send(u, &aa, "ping", 4), 4);
    char buf[8];
    EDDY_CHECK_EQ(eddy_udp_recv(a, &from, buf, sizeof buf), 4);
    EDDY_CHECK(memcmp(buf, "ping", 4) == 0);
    EDDY_OK(eddy_udp_local_addr(u, &mine));
    EDDY_CHECK_EQ(eddy_sockaddr_port(&from), eddy_sockaddr_port(&mine));
    EDDY_OK(eddy_udp_close(u));
    EDDY_OK(eddy_udp_close(a));
    return 0;
}

EDDY_TEST(udp_truncation_is_reported)
{
    eddy_sockaddr aa;
    eddy_udp *a = bound(&aa);
    eddy_udp *b;
    EDDY_OK(eddy_udp_open(NULL, &aa, &b));
    char big[100];
    for (int i = 0; i < 100; i++) big[i] = (char)i;
    EDDY_CHECK_EQ(eddy_udp_send(b, NULL, big, sizeof big), 100);
    EDDY_CHECK_EQ(eddy_udp_send(b, NULL, "next", 4), 4);
    char buf[10];
    EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, buf, sizeof buf), 100); /* > len: truncated */
    EDDY_CHECK(memcmp(buf, big, 10) == 0);
    /* The tail is gone: the next receive is the next datagram. */
    EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, buf, sizeof buf), 4);
    EDDY_CHECK(memcmp(buf, "next", 4) == 0);
    /* A zero-size buffer still learns the length. */
    EDDY_CHECK_EQ(eddy_udp_send(b, NULL, big, 33), 33);
    EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, NULL, 0), 33);
    EDDY_OK(eddy_udp_close(a));
    EDDY_OK(eddy_udp_close(b));
    return 0;
}

typedef struct rx {
    eddy_udp *u;
    ssize_t rc;
    int64_t at;
    char buf[32];
    eddy_sockaddr from;
} rx;

static int receiver(void *arg)
{
    rx *r = arg;
    r->rc = eddy_udp_recv(r->u, &r->from, r->buf, sizeof r->buf);
    r->at = eddy_now();
    return 0;
}

static int receiver_fail_after(void *arg)
{
    rx *r = arg;
    r->rc = 1;
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { r->rc = eddy_udp_recv(r->u, NULL, r->buf, sizeof r->buf); }
    r->at = eddy_now();
    return 0;
}

EDDY_TEST(udp_recv_waits_for_a_datagram)
{
    eddy_sockaddr aa;
    eddy_udp *a = bound(&aa);
    eddy_udp *b;
    EDDY_OK(eddy_udp_open(NULL, &aa, &b));
    rx r = {.u = a, .rc = 99};
    int rc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, receiver, &r));
        EDDY_OK(eddy_sleep(EDDY_SEC(2)));
        EDDY_CHECK_EQ(r.rc, 99); /* still waiting */
        EDDY_CHECK_EQ(eddy_udp_send(b, NULL, "late", 4), 4);
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(r.rc, 4);
    EDDY_CHECK(memcmp(r.buf, "late", 4) == 0);
    EDDY_CHECK_EQ(r.at - t0, EDDY_SEC(2));
    EDDY_OK(eddy_udp_close(a));
    EDDY_OK(eddy_udp_close(b));
    return 0;
}

/* A receive cancelled while waiting takes nothing, and one in a cancelled scope does not
 * take a datagram that is already queued. */
EDDY_TEST(udp_cancelled_recv_loses_nothing)
{
    eddy_sockaddr aa;
    eddy_udp *a = bound(&aa);
    eddy_udp *b;
    EDDY_OK(eddy_udp_open(NULL, &aa, &b));
    rx r = {.u = a};
    int rc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(nu, &rc) { EDDY_OK(eddy_spawn(nu, receiver_fail_after, &r)); }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(r.rc, -ETIMEDOUT);
    EDDY_CHECK_EQ(r.at - t0, EDDY_SEC(1));

    EDDY_CHECK_EQ(eddy_udp_send(b, NULL, "kept", 4), 4);
    char buf[8];
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, buf, sizeof buf), -ECANCELED);
        eddy_udp_msg m = {.buf = buf, .len = sizeof buf};
        EDDY_CHECK_EQ(eddy_udp_recv_many(a, &m, 1), -ECANCELED);
        EDDY_CHECK_EQ(eddy_udp_send(b, NULL, "no", 2), -ECANCELED);
        EDDY_CHECK_EQ(eddy_udp_send_many(b, &m, 1), -ECANCELED);
    }
    EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, buf, sizeof buf), 4);
    EDDY_CHECK(memcmp(buf, "kept", 4) == 0);
    /* Nothing else arrived: the cancelled send sent nothing. */
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, buf, sizeof buf), -ECANCELED); }
    EDDY_OK(eddy_udp_close(a));
    EDDY_OK(eddy_udp_close(b));
    return 0;
}

EDDY_TEST(udp_second_receiver_is_busy)
{
    eddy_sockaddr aa;
    eddy_udp *a = bound(&aa);
    eddy_udp *b;
    EDDY_OK(eddy_udp_open(NULL, &aa, &b));
    rx r = {.u = a};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, receiver, &r));
        char buf[4];
        EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, buf, sizeof buf), -EBUSY);
        eddy_udp_msg m = {.buf = buf, .len = sizeof buf};
        EDDY_CHECK_EQ(eddy_udp_recv_many(a, &m, 1), -EBUSY);
        EDDY_CHECK_EQ(eddy_udp_send(b, NULL, "one", 3), 3);
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(r.rc, 3);
    EDDY_OK(eddy_udp_close(a));
    EDDY_OK(eddy_udp_close(b));
    return 0;
}

static int closer(void *arg)
{
    return eddy_udp_close(arg);
}

/* Close wakes a blocked receiver with -EBADF and frees the socket once it has left; a second
 * close meanwhile is refused. */
EDDY_TEST(udp_close_wakes_receiver)
{
    eddy_sockaddr aa;
    eddy_udp *a = bound(&aa);
    rx r = {.u = a};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, receiver, &r));
        EDDY_OK(eddy_spawn(nu, closer, a)); /* parks until the receiver has left */
        EDDY_CHECK_EQ(eddy_udp_close(a), -EBADF);
        char buf[4];
        EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, buf, sizeof buf), -EBADF);
        EDDY_CHECK_EQ(eddy_udp_send(a, &aa, buf, 1), -EBADF);
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(r.rc, -EBADF);
    return 0;
}

typedef struct cb_close {
    eddy_udp *u;
    int rc;
} cb_close;

static void close_in_callback(void *arg)
{
    cb_close *c = arg;
    c->rc = eddy_udp_close(c->u);
}

static void recv_in_callback(void *arg)
{
    cb_close *c = arg;
    char b[1];
    c->rc = (int)eddy_udp_recv(c->u, NULL, b, 1);
}

EDDY_TEST(udp_callback_context)
{
    eddy_sockaddr aa;
    eddy_udp *a = bound(&aa);
    rx r = {.u = a};
    cb_close c = {.u = a, .rc = 1}, d = {.u = a, .rc = 1};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, receiver, &r));
        EDDY_OK(eddy_call_soon(close_in_callback, &c));
        EDDY_OK(eddy_call_soon(recv_in_callback, &d));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK_EQ(c.rc, -EBUSY); /* a task is inside: a callback cannot wait for it */
        EDDY_CHECK_EQ(d.rc, -EPERM);
        EDDY_OK(eddy_udp_close(a));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(r.rc, -EBADF);
    return 0;
}

EDDY_TEST(udp_refused_by_closed_port)
{
    eddy_sockaddr aa;
    eddy_udp *a = bound(&aa);
    EDDY_OK(eddy_udp_close(a)); /* nobody listens on aa now */
    eddy_udp *b;
    EDDY_OK(eddy_udp_open(NULL, &aa, &b));
    EDDY_CHECK_EQ(eddy_udp_send(b, NULL, "anyone?", 7), 7);
    char buf[8];
    /* The ICMP port-unreachable comes back as an error on the connected socket. */
    EDDY_CHECK_EQ(eddy_udp_recv(b, NULL, buf, sizeof buf), -ECONNREFUSED);
    /* Reported once; the socket stays usable. */
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { EDDY_CHECK_EQ(eddy_udp_recv(b, NULL, buf, sizeof buf), -ECANCELED); }
    EDDY_OK(eddy_udp_close(b));
    return 0;
}

EDDY_TEST(udp_recv_many_batches)
{
    eddy_sockaddr aa, ba;
    eddy_udp *a = bound(&aa);
    eddy_udp *b = bound(&ba);
    enum { N = 40 }; /* more than one recvmmsg batch */
    for (int i = 0; i < N; i++) {
        char p[8];
        int n = snprintf(p, sizeof p, "d%d", i);
        EDDY_CHECK_EQ(eddy_udp_send(b, &aa, p, (size_t)n), n);
    }
    char bufs[N + 4][8];
    eddy_udp_msg m[N + 4];
    for (int i = 0; i < N + 4; i++) m[i] = (eddy_udp_msg){.buf = bufs[i], .len = sizeof bufs[i]};
    EDDY_CHECK_EQ(eddy_udp_recv_many(a, m, N + 4), N); /* takes what is queued, does not wait */
    for (int i = 0; i < N; i++) {
        char p[8];
        int n = snprintf(p, sizeof p, "d%d", i);
        EDDY_CHECK_EQ(m[i].n, n);
        EDDY_CHECK(!m[i].truncated);
        EDDY_CHECK(memcmp(bufs[i], p, (size_t)n) == 0);
        EDDY_CHECK(same_addr(&m[i].addr, &ba));
    }
    /* Truncation inside a batch, and a count smaller than what is queued. */
    EDDY_CHECK_EQ(eddy_udp_send(b, &aa, "0123456789", 10), 10);
    EDDY_CHECK_EQ(eddy_udp_send(b, &aa, "ok", 2), 2);
    EDDY_CHECK_EQ(eddy_udp_recv_many(a, m, 1), 1);
    EDDY_CHECK_EQ(m[0].n, 10);
    EDDY_CHECK(m[0].truncated);
    EDDY_CHECK(memcmp(bufs[0], "01234567", 8) == 0);
    EDDY_CHECK_EQ(eddy_udp_recv_many(a, m, 4), 1);
    EDDY_CHECK_EQ(m[0].n, 2);
    EDDY_CHECK(!m[0].truncated);
    EDDY_CHECK_EQ(eddy_udp_recv_many(a, m, 0), 0);
    EDDY_CHECK_EQ(eddy_udp_recv_many(a, NULL, 1), -EINVAL);
    eddy_udp_msg bad = {.buf = NULL, .len = 4};
    EDDY_CHECK_EQ(eddy_udp_recv_many(a, &bad, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_udp_recv_many(NULL, m, 1), -EINVAL);
    EDDY_OK(eddy_udp_close(a));
    EDDY_OK(eddy_udp_close(b));
    return 0;
}

typedef struct rxm {
    eddy_udp *u;
    eddy_udp_msg *m;
    int rc;
    int64_t at;
} rxm;

static int many_receiver(void *arg)
{
    rxm *r = arg;
    r->rc = eddy_udp_recv_many(r->u, r->m, 4);
    r->at = eddy_now();
    return 0;
}

EDDY_TEST(udp_recv_many_waits_for_the_first)
{
    eddy_sockaddr aa;
    eddy_udp *a = bound(&aa);
    eddy_udp *b;
    EDDY_OK(eddy_udp_open(NULL, &aa, &b));
    char bufs[4][8];
    eddy_udp_msg m[4];
    for (int i = 0; i < 4; i++) m[i] = (eddy_udp_msg){.buf = bufs[i], .len = sizeof bufs[i]};
    rxm r = {.u = a, .m = m, .rc = 99};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, many_receiver, &r));
        EDDY_OK(eddy_sleep(EDDY_SEC(3)));
        EDDY_CHECK_EQ(r.rc, 99);
        /* Both in one call: a send of its own may suspend the sender (on io_uring it waits
         * for its completion), which would let the receiver run between the two. */
        eddy_udp_msg out[2] = {{.buf = "a", .len = 1}, {.buf = "bb", .len = 2}};
        EDDY_CHECK_EQ(eddy_udp_send_many(b, out, 2), 2);
    }
    EDDY_OK(rc);
    /* The receiver ran only after both datagrams were sent. */
    EDDY_CHECK_EQ(r.rc, 2);
    EDDY_CHECK_EQ(m[0].n, 1);
    EDDY_CHECK_EQ(m[1].n, 2);
    EDDY_CHECK(memcmp(bufs[1], "bb", 2) == 0);
    EDDY_CHECK_EQ(r.at, EDDY_SEC(3));
    EDDY_OK(eddy_udp_close(a));
    EDDY_OK(eddy_udp_close(b));
    return 0;
}

EDDY_TEST(udp_send_many)
{
    eddy_sockaddr aa, xa;
    eddy_udp *a = bound(&aa);
    eddy_udp *x = bound(&xa);
    eddy_udp *b;
    EDDY_OK(eddy_udp_open(NULL, &aa, &b));
    /* Connected remote (addr.len == 0) and an explicit other destination, mixed. */
    eddy_udp_msg m[3] = {
        {.buf = "first", .len = 5},
        {.buf = "other", .len = 5, .addr = xa},
        {.buf = "third", .len = 5},
    };
    EDDY_CHECK_EQ(eddy_udp_send_many(b, m, 3), 3);
    for (int i = 0; i < 3; i++) EDDY_CHECK_EQ(m[i].n, 5);
    char buf[8];
    EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "first", 5) == 0);
    EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "third", 5) == 0);
    EDDY_CHECK_EQ(eddy_udp_recv(x, NULL, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "other", 5) == 0);

    /* An unconnected socket without a destination: the first datagram fails. */
    eddy_udp *u;
    EDDY_OK(eddy_udp_open(NULL, NULL, &u));
    eddy_udp_msg n[2] = {{.buf = "z", .len = 1}, {.buf = "z", .len = 1, .addr = aa}};
    EDDY_CHECK_EQ(eddy_udp_send_many(u, n, 2), -EDESTADDRREQ);
    /* A failure after the first ends the batch early. */
    eddy_udp_msg o[2] = {{.buf = "y", .len = 1, .addr = aa}, {.buf = "z", .len = 1}};
    EDDY_CHECK_EQ(eddy_udp_send_many(u, o, 2), 1);
    EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, buf, sizeof buf), 1);
    EDDY_CHECK_EQ(buf[0], 'y');
    EDDY_CHECK_EQ(eddy_udp_send_many(u, o, 0), 0);
    EDDY_CHECK_EQ(eddy_udp_send_many(u, NULL, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_udp_send_many(NULL, o, 1), -EINVAL);
    EDDY_OK(eddy_udp_close(u));
    EDDY_OK(eddy_udp_close(a));
    EDDY_OK(eddy_udp_close(b));
    EDDY_OK(eddy_udp_close(x));
    return 0;
}

EDDY_TEST(udp_open_errors)
{
    eddy_udp *u = (eddy_udp *)1;
    eddy_sockaddr a4 = lo4(0), a6, un = {0};
    EDDY_OK(eddy_sockaddr_parse("::1", 0, &a6));
    un.ss.ss_family = AF_UNIX;
    un.len = sizeof(sa_family_t) + 2;
    EDDY_CHECK_EQ(eddy_udp_open(&a4, NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_udp_open(&un, NULL, &u), -EAFNOSUPPORT);
    EDDY_CHECK(u == NULL);
    EDDY_CHECK_EQ(eddy_udp_open(NULL, &un, &u), -EAFNOSUPPORT);
    EDDY_CHECK_EQ(eddy_udp_open(&a4, &a6, &u), -EINVAL); /* families differ */
    eddy_sockaddr shortlen = a4;
    shortlen.len = 4;
    EDDY_CHECK_EQ(eddy_udp_open(&shortlen, NULL, &u), -EINVAL);
    /* A port already taken. */
    eddy_sockaddr aa;
    eddy_udp *a = bound(&aa);
    EDDY_CHECK_EQ(eddy_udp_open(&aa, NULL, &u), -EADDRINUSE);
    /* An address this host does not have. */
    eddy_sockaddr far;
    EDDY_OK(eddy_sockaddr_parse("192.0.2.1", 0, &far));
    EDDY_CHECK_EQ(eddy_udp_open(&far, NULL, &u), -EADDRNOTAVAIL);
    /* Argument checks of the other calls. */
    char buf[4];
    EDDY_CHECK_EQ(eddy_udp_send(NULL, NULL, buf, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_udp_send(a, &aa, NULL, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_udp_recv(NULL, NULL, buf, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_udp_recv(a, NULL, NULL, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_udp_local_addr(NULL, &aa), -EINVAL);
    EDDY_CHECK_EQ(eddy_udp_local_addr(a, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_udp_peer_addr(NULL, &aa), -EINVAL);
    /* Sending an IPv4-only socket to an IPv6 address. */
    EDDY_CHECK_EQ(eddy_udp_send(a, &a6, "x", 1), -EAFNOSUPPORT);
    /* A datagram larger than UDP allows. */
    static char huge[70000];
    EDDY_CHECK_EQ(eddy_udp_send(a, &aa, huge, sizeof huge), -EMSGSIZE);
    EDDY_OK(eddy_udp_close(a));
    return 0;
}

static int outside_loop(void *arg)
{
    (void)arg;
    eddy_udp *u;
    EDDY_CHECK_EQ(eddy_udp_open(NULL, NULL, &u), -EPERM);
    return 0;
}

EDDY_TEST_EX(udp_open_outside_loop, .raw = true) { return outside_loop(eddy_test_arg); }

static int leaks_udp(void *arg)
{
    eddy_udp **keep = arg;
    eddy_sockaddr l = lo4(0);
    EDDY_OK(eddy_udp_open(&l, NULL, keep));
    return 0; /* not closed */
}

/* An unclosed UDP socket is a leak eddy_run reports (the handle is tracked). */
EDDY_TEST_EX(udp_leak_is_reported, .raw = true)
{
    static eddy_udp *kept;
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL,
                   .flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_QUIET};
    EDDY_CHECK_EQ(eddy_run_opts(leaks_udp, &kept, &o), -ENOTRECOVERABLE);
    EDDY_CHECK(kept != NULL);
    return 0;
}
