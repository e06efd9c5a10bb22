/* N11: eddy_resolve and its default resolver (c-ares driven by the loop), against fake DNS
 * servers on 127.0.0.1 that the tests run as tasks: UDP sockets answering queries built here
 * by hand, or never answering, or answering garbage. No real network is used: every c-ares
 * case points the loop's channel at such a server (eddy__dns_configure, an internal hook). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/test.h"
#include "io/io.h"

#include "dns_fake.h"

static bool have_cares(void)
{
    int rc = eddy__dns_configure(NULL);
    if (rc == -ENOTSUP) {
        printf("# skipped: eddy built without c-ares\n");
        return false;
    }
    EDDY_OK(rc);
    return true;
}

static void check_addr(const eddy_sockaddr *a, const char *want)
{
    char buf[80];
    EDDY_CHECK(eddy_sockaddr_format(a, buf, sizeof buf) > 0);
    if (strcmp(buf, want) != 0) eddy_test_fail(__FILE__, __LINE__, "address %s, want %s", buf, want);
}

static const rr zone[] = {
    {"www.example.test", T_A, "192.0.2.10"},
    {"www.example.test", T_A, "192.0.2.11"},
    {"www.example.test", T_AAAA, "2001:db8::10"},
    {"v4only.test", T_A, "198.51.100.7"},
    {"db.corp.test", T_A, "10.2.2.2"},
};
#define NZONE (sizeof zone / sizeof zone[0])

/* WITH_SERVER(s, mode, zone, n) { body }: the body runs with fake server s serving in a task
 * (in a nursery around the body), which is cancelled and closed after it. */
static int ws_spawn(eddy_nursery *n, fake_dns *s)
{
    EDDY_OK(eddy_spawn(n, fake_serve, s));
    return 1;
}
static int ws_cancel(eddy_nursery *n)
{
    eddy_nursery_cancel(n);
    return 0;
}
static int ws_done(fake_dns *s, int rc)
{
    EDDY_CHECK_EQ(rc, 0);
    fake_close(s);
    return 0;
}
#define WITH_SERVER(s, mode, z, nz)                                                    \
    fake_open(&(s), (mode), (z), (nz));                                                \
    for (int ws_rc_ = 0, ws_once_ = 1; ws_once_; ws_once_ = ws_done(&(s), ws_rc_))     \
        EDDY_NURSERY(srv_n, &ws_rc_)                                                   \
            for (int ws_in_ = ws_spawn(srv_n, &(s)); ws_in_; ws_in_ = ws_cancel(srv_n))

/* ---- answers ---- */

EDDY_TEST(dns_a_and_aaaa_answers)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_ANSWER, zone, NZONE) {
        use_server(&s, 500, 1);
        eddy_sockaddr a[8];
        int n = eddy_resolve("www.example.test", 443, AF_INET, a, 8);
        EDDY_CHECK_EQ(n, 2);
        char got[2][64];
        for (int i = 0; i < 2; i++) EDDY_CHECK(eddy_sockaddr_format(&a[i], got[i], 64) > 0);
        EDDY_CHECK((!strcmp(got[0], "192.0.2.10:443") && !strcmp(got[1], "192.0.2.11:443")) ||
                   (!strcmp(got[1], "192.0.2.10:443") && !strcmp(got[0], "192.0.2.11:443")));
        EDDY_CHECK_EQ(a[0].len, sizeof(struct sockaddr_in));

        n = eddy_resolve("WWW.Example.Test.", 80, AF_INET6, a, 8);
        EDDY_CHECK_EQ(n, 1);
        check_addr(&a[0], "[2001:db8::10]:80");
        EDDY_CHECK_EQ(a[0].len, sizeof(struct sockaddr_in6));
        EDDY_CHECK_EQ(eddy_sockaddr_port(&a[0]), 80);

        n = eddy_resolve("www.example.test", 8080, AF_UNSPEC, a, 8);
        EDDY_CHECK_EQ(n, 3);
        int v4 = 0, v6 = 0;
        for (int i = 0; i < n; i++) {
            EDDY_CHECK_EQ(eddy_sockaddr_port(&a[i]), 8080);
            if (a[i].ss.ss_family == AF_INET) v4++;
            if (a[i].ss.ss_family == AF_INET6) v6++;
        }
        EDDY_CHECK_EQ(v4, 2);
        EDDY_CHECK_EQ(v6, 1);

        /* max smaller than the answer: the first max addresses */
        EDDY_CHECK_EQ(eddy_resolve("www.example.test", 1, AF_UNSPEC, a, 1), 1);
        EDDY_CHECK_EQ(eddy__dns_pending(), 0);
    }
    return 0;
}

/* Issue 8: an unknown name is no file error (it was -ENOENT, "No such file or directory"). */
EDDY_TEST(dns_nxdomain_is_enoname_nodata_is_enoaddr)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_ANSWER, zone, NZONE) {
        use_server(&s, 500, 1);
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("nosuch.test", 80, AF_INET, a, 4), EDDY_ENONAME);
        EDDY_CHECK(strcmp(s.last_name, "nosuch.test") == 0);
        EDDY_CHECK_EQ(eddy_resolve("nosuch.test", 80, AF_UNSPEC, a, 4), EDDY_ENONAME);
        /* the name exists, but has no AAAA record */
        EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET6, a, 4), EDDY_ENOADDR);
        EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_UNSPEC, a, 4), 1);
        check_addr(&a[0], "198.51.100.7:80");
        EDDY_CHECK(s.queries >= 4);
    }
    return 0;
}

/* resolv.conf is read: its nameserver (with the port option) and its search list. */
EDDY_TEST(dns_resolv_conf_is_honoured)
{
    if (!have_cares()) return 0;
    char path[] = "/tmp/eddy-dns-resolv.XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    const char conf[] = "nameserver 127.0.0.1\nsearch corp.test\noptions ndots:2 timeout:1 attempts:1\n";
    EDDY_CHECK_EQ(write(fd, conf, sizeof conf - 1), sizeof conf - 1);
    close(fd);
    fake_dns s;
    WITH_SERVER(s, M_ANSWER, zone, NZONE) {
        EDDY_OK(eddy__dns_configure(&(eddy__dns_conf){.resolvconf = path, .port = s.port}));
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("db", 5432, AF_INET, a, 4), 1);
        check_addr(&a[0], "10.2.2.2:5432");
        EDDY_CHECK(strcmp(s.last_name, "db.corp.test") == 0);
    }
    unlink(path);
    return 0;
}

/* ---- failures ---- */

/* A lookup against s, set to never answer, with this timeout and tries: it fails with
 * EDDY_EDNSTIMEDOUT; the real time it took. */
static int64_t silent_lookup(fake_dns *s, int timeout_ms, int tries)
{
    use_server(s, timeout_ms, tries);
    eddy_sockaddr a[4];
    int64_t t0 = eddy_now_fresh();
    EDDY_CHECK_EQ(eddy_resolve("www.example.test", 80, AF_INET, a, 4), EDDY_EDNSTIMEDOUT);
    return eddy_now_fresh() - t0;
}

/* On the real clock c-ares's timeouts run on the loop's eddy timer... */
EDDY_TEST_EX(dns_timeout_is_ednstimedout, .real_clock = true)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_SILENT, zone, NZONE) {
        int64_t took = silent_lookup(&s, 100, 1);
        EDDY_CHECK(took >= EDDY_MSEC(100) && took < EDDY_SEC(2));
        EDDY_CHECK_EQ(s.queries, 1);
        EDDY_CHECK_EQ(eddy__dns_pending(), 0);
    }
    return 0;
}

/* A lookup takes at most timeout x attempts x servers, as with glibc, although c-ares doubles
 * the timeout at each round: 300 ms and 3 tries is 300 + 600 + 1200 ms for c-ares alone, and
 * 900 ms here. The caller goes; c-ares keeps the abandoned query to its own end. */
EDDY_TEST_EX(dns_lookup_takes_at_most_timeout_times_attempts, .real_clock = true)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_SILENT, zone, NZONE) {
        int64_t took = silent_lookup(&s, 300, 3);
        if (took < EDDY_MSEC(900) || took >= EDDY_MSEC(1800))
            eddy_test_fail(__FILE__, __LINE__, "took %lld ms, want 900..1800", (long long)(took / 1000000));
        EDDY_CHECK(s.queries >= 2); /* the second try went out at 300 ms */
        EDDY_CHECK_EQ(eddy__dns_pending(), 1);
        /* the channel goes on: a second lookup has a bound of its own */
        s.mode = M_ANSWER;
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET, a, 4), 1);
    }
    return 0;
}

/* ...and on the virtual clock on a timerfd (virtual time says nothing about a server). */
EDDY_TEST(dns_timeout_on_virtual_clock)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_SILENT, zone, NZONE) {
        use_server(&s, 50, 1);
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("www.example.test", 80, AF_UNSPEC, a, 4), EDDY_EDNSTIMEDOUT);
        EDDY_CHECK_EQ(eddy__dns_pending(), 0);
    }
    return 0;
}

EDDY_TEST(dns_garbage_is_ednsbadresp)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_BADRR, zone, NZONE) {
        use_server(&s, 500, 1);
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("www.example.test", 80, AF_INET, a, 4), EDDY_EDNSBADRESP);
        EDDY_CHECK_EQ(eddy_resolve("www.example.test", 80, AF_INET6, a, 4), EDDY_EDNSBADRESP);
    }
    return 0;
}

/* Datagrams that are no answer to anything are dropped: the real answer after them counts,
 * and without one the query times out. */
EDDY_TEST(dns_junk_datagrams_are_ignored)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_JUNK, zone, NZONE) {
        use_server(&s, 50, 1);
        s.junk_then_answer = true;
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET, a, 4), 1);
        check_addr(&a[0], "198.51.100.7:80");
        s.junk_then_answer = false;
        EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET, a, 4), EDDY_EDNSTIMEDOUT);
    }
    return 0;
}

EDDY_TEST(dns_refused_servfail_and_tcp_refused)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_REFUSED, zone, NZONE) {
        use_server(&s, 500, 1);
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("www.example.test", 80, AF_INET, a, 4), EDDY_EDNSUNREACH);
        /* c-ares moves on to the next server after a SERVFAIL; 1.18 then ends the query with
         * ECONNREFUSED when none is left, releases that keep the SERVFAIL give ESERVFAIL */
        s.mode = M_SERVFAIL;
        int rc = eddy_resolve("www.example.test", 80, AF_INET, a, 4);
        EDDY_CHECK(rc == EDDY_EDNSUNREACH || rc == EDDY_EDNSFAIL);
        /* a server that calls the query malformed: a failure of its own */
        s.mode = M_FORMERR;
        EDDY_CHECK_EQ(eddy_resolve("www.example.test", 80, AF_INET, a, 4), EDDY_EDNSFAIL);
        /* a truncated answer sends c-ares to TCP, where the port refuses connections */
        s.mode = M_TC;
        EDDY_CHECK_EQ(eddy_resolve("www.example.test", 80, AF_INET, a, 4), EDDY_EDNSUNREACH);
        EDDY_CHECK_EQ(eddy__dns_pending(), 0);
    }
    return 0;
}

/* A truncated UDP answer: c-ares asks again over TCP and takes that answer. */
EDDY_TEST(dns_truncated_answer_retried_over_tcp)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_TC, zone, NZONE) {
        EDDY_OK(fcntl(s.tcp_fd, F_SETFL, O_NONBLOCK));
        EDDY_OK(listen(s.tcp_fd, 4));
        use_server(&s, 1000, 1);
        int rc;
        EDDY_NURSERY(n, &rc) {
            EDDY_OK(eddy_spawn(n, fake_serve_tcp, &s));
            eddy_sockaddr a[4];
            EDDY_CHECK_EQ(eddy_resolve("www.example.test", 53, AF_UNSPEC, a, 4), 3);
            EDDY_CHECK_EQ(eddy_resolve("v4only.test", 53, AF_INET, a, 4), 1);
            check_addr(&a[0], "198.51.100.7:53");
            eddy_nursery_cancel(n);
        }
        EDDY_CHECK_EQ(rc, 0);
        EDDY_CHECK_EQ(s.queries, 3);
        EDDY_CHECK_EQ(s.tcp_queries, 3);
    }
    return 0;
}

/* The first server never answers: after its timeout the second one does. */
EDDY_TEST(dns_next_server_after_timeout)
{
    if (!have_cares()) return 0;
    fake_dns dead, s;
    WITH_SERVER(dead, M_SILENT, zone, NZONE) {
        WITH_SERVER(s, M_ANSWER, zone, NZONE) {
            char csv[64];
            snprintf(csv, sizeof csv, "127.0.0.1:%u,127.0.0.1:%u", dead.port, s.port);
            EDDY_OK(eddy__dns_configure(&(eddy__dns_conf){.servers = csv, .timeout_ms = 50, .tries = 1}));
            eddy_sockaddr a[4];
            EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET, a, 4), 1);
            check_addr(&a[0], "198.51.100.7:80");
            EDDY_CHECK_EQ(dead.queries, 1);
            EDDY_CHECK_EQ(s.queries, 1);
        }
    }
    return 0;
}

/* ---- cancellation ---- */

typedef struct rq {
    const char *host;
    int family;
    int rc;
    eddy_sockaddr a[4];
} rq;

static int resolve_task(void *arg)
{
    rq *r = arg;
    r->rc = eddy_resolve(r->host, 80, r->family, r->a, 4);
    return 0;
}

/* Cancelled mid-query, the call returns at once; the answer that arrives later is taken by
 * c-ares and dropped without touching the finished task's frame; the channel goes on. */
EDDY_TEST(dns_cancel_mid_query_then_late_answer)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_HOLD, zone, NZONE) {
        use_server(&s, 5000, 1);
        int rc;
        rq r = {.host = "v4only.test", .family = AF_INET, .rc = 1};
        eddy_task *t;
        EDDY_NURSERY(n, &rc) {
            EDDY_OK(eddy_spawn(n, resolve_task, &r, .handle = &t));
            EDDY_OK(eddy_event_wait(&s.got));
            EDDY_CHECK_EQ(r.rc, 1);
            int64_t t0 = eddy_now();
            eddy_task_cancel(t);
            EDDY_OK(eddy_task_join(t, NULL));
            EDDY_CHECK_EQ(r.rc, -ECANCELED);
            EDDY_CHECK_EQ(eddy_now(), t0);
        }
        EDDY_CHECK_EQ(rc, 0);
        EDDY_CHECK_EQ(eddy__dns_pending(), 1); /* abandoned, still in c-ares */
        /* The late answer, then a new query: its answer comes after the late one on the same
         * socket, so by the time it is back the late one has been dealt with. */
        fake_release(&s);
        s.mode = M_ANSWER;
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("www.example.test", 80, AF_INET6, a, 4), 1);
        check_addr(&a[0], "[2001:db8::10]:80");
        EDDY_CHECK_EQ(eddy__dns_pending(), 0);
        EDDY_CHECK_EQ(r.rc, -ECANCELED);
    }
    return 0;
}

/* A deadline ends the wait with -ETIMEDOUT exactly at it (virtual clock); the abandoned query
 * is still pending when the loop ends, and the channel's destruction frees it (leak check). */
EDDY_TEST(dns_deadline_and_pending_at_loop_end)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_SILENT, zone, NZONE) {
        use_server(&s, 10000, 1);
        eddy_sockaddr a[4];
        int64_t t0 = eddy_now();
        int rc = 1;
        EDDY_FAIL_AFTER(EDDY_MSEC(300)) { rc = eddy_resolve("www.example.test", 80, AF_UNSPEC, a, 4); }
        EDDY_CHECK_EQ(rc, -ETIMEDOUT);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_MSEC(300));
        EDDY_MOVE_ON_AFTER(EDDY_MSEC(100)) { rc = eddy_resolve("v4only.test", 80, AF_INET, a, 4); }
        EDDY_CHECK_EQ(rc, -ECANCELED);
        EDDY_CHECK(eddy__dns_pending() >= 2);
        EDDY_CHECK_EQ(eddy__dns_configure(NULL), -EBUSY);
    }
    return 0;
}

/* Already cancelled: no query is made at all. */
EDDY_TEST(dns_cancelled_before_call)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_ANSWER, zone, NZONE) {
        use_server(&s, 500, 1);
        eddy_sockaddr a[4];
        int rc = 1;
        eddy_cancel_scope cs;
        EDDY_CANCEL_SCOPE(&cs) {
            eddy_cancel_scope_cancel(&cs);
            rc = eddy_resolve("www.example.test", 80, AF_INET, a, 4);
        }
        EDDY_CHECK_EQ(rc, -ECANCELED);
        EDDY_CHECK_EQ(eddy__dns_pending(), 0);
        /* a query now is the server's first (A only: one query) */
        EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET, a, 4), 1);
        EDDY_CHECK_EQ(s.queries, 1);
    }
    return 0;
}

/* ---- many at once ---- */

enum { NMANY = 64 };

EDDY_TEST(dns_many_concurrent_queries)
{
    if (!have_cares()) return 0;
    static rr many[NMANY];
    static char names[NMANY][32], addrs[NMANY][32];
    for (int i = 0; i < NMANY; i++) {
        snprintf(names[i], sizeof names[i], "h%d.many.test", i);
        snprintf(addrs[i], sizeof addrs[i], "10.7.%d.%d", i / 8, i % 8 + 1);
        many[i] = (rr){names[i], T_A, addrs[i]};
    }
    fake_dns s;
    WITH_SERVER(s, M_ANSWER, many, NMANY) {
        use_server(&s, 2000, 2);
        static rq r[NMANY];
        int rc;
        EDDY_NURSERY(n, &rc) {
            for (int i = 0; i < NMANY; i++) {
                r[i] = (rq){.host = names[i], .family = AF_INET, .rc = 1};
                EDDY_OK(eddy_spawn(n, resolve_task, &r[i]));
            }
            EDDY_CHECK_EQ(eddy__dns_pending(), NMANY);
        }
        EDDY_CHECK_EQ(rc, 0);
        for (int i = 0; i < NMANY; i++) {
            EDDY_CHECK_EQ(r[i].rc, 1);
            char want[48];
            snprintf(want, sizeof want, "%.20s:80", addrs[i]);
            check_addr(&r[i].a[0], want);
        }
        EDDY_CHECK_EQ(s.queries, NMANY);
        EDDY_CHECK_EQ(eddy__dns_pending(), 0);
    }
    return 0;
}

/* ---- the sockets c-ares uses ---- */

typedef struct sock_count {
    int calls, cloexec, nonblock, fail_with;
} sock_count;

static int counting_socket(void *ctx, int domain, int type, int protocol)
{
    sock_count *c = ctx;
    c->calls++;
    if (c->fail_with) return c->fail_with;
    int fd = socket(domain, type, protocol);
    if (fd < 0) return -errno;
    if (fcntl(fd, F_GETFD) & FD_CLOEXEC) c->cloexec++;
    if (fcntl(fd, F_GETFL) & O_NONBLOCK) c->nonblock++;
    return fd;
}

/* Issue 9: c-ares's sockets are made by eddy, close-on-exec and non-blocking from the start
 * (socket(2) flags, not a later fcntl), through the socket factory hook. */
EDDY_TEST(dns_sockets_come_from_the_socket_hook)
{
    if (!have_cares()) return 0;
    fake_dns s;
    WITH_SERVER(s, M_ANSWER, zone, NZONE) {
        use_server(&s, 500, 1);
        sock_count c = {0};
        eddy_socket_hook h = {counting_socket, &c};
        EDDY_OK(eddy_loop_set_socket_hook(&h));
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET, a, 4), 1);
        EDDY_CHECK(c.calls >= 1);
        EDDY_CHECK_EQ(c.cloexec, c.calls);
        EDDY_CHECK_EQ(c.nonblock, c.calls);
        /* no socket to be had: the socket's own error, not "server unreachable" */
        EDDY_OK(eddy__dns_configure(NULL)); /* a new channel: no socket left open */
        use_server(&s, 500, 1);
        c.fail_with = -EMFILE;
        int calls = c.calls;
        EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET, a, 4), -EMFILE);
        EDDY_CHECK(c.calls > calls);
        /* and back: a socket can be had again */
        c.fail_with = 0;
        EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET, a, 4), 1);
        EDDY_OK(eddy_loop_set_socket_hook(NULL));
    }
    return 0;
}

/* The channel's sockets are closed (and forgotten by the loop) when the channel goes. */
EDDY_TEST(dns_channel_sockets_closed)
{
    if (!have_cares()) return 0;
    int before = eddy_test_fd_count();
    EDDY_CHECK(before > 0);
    fake_dns s;
    WITH_SERVER(s, M_ANSWER, zone, NZONE) {
        use_server(&s, 500, 1);
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET, a, 4), 1);
        EDDY_OK(eddy__dns_configure(NULL));
    }
    EDDY_CHECK_EQ(eddy_test_fd_count(), before);
    return 0;
}

/* ---- hosts files and the front end ---- */

/* The hosts file comes first: none of these names reaches the (silent) server. */
EDDY_TEST(dns_hosts_file)
{
    if (!have_cares()) return 0;
    char path[] = "/tmp/eddy-dns-hosts.XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    const char hosts[] = "# test hosts\n10.9.8.7 alpha.test alias.test\nfd00::7 alpha.test\n"
                         "10.9.8.8\tbeta.test # comment\n";
    EDDY_CHECK_EQ(write(fd, hosts, sizeof hosts - 1), sizeof hosts - 1);
    close(fd);
    EDDY_OK(setenv("CARES_HOSTS", path, 1));
    fake_dns s;
    WITH_SERVER(s, M_SILENT, zone, NZONE) {
        char csv[64];
        snprintf(csv, sizeof csv, "127.0.0.1:%u", s.port);
        EDDY_OK(eddy__dns_configure(&(eddy__dns_conf){.servers = csv, .timeout_ms = 50, .tries = 1,
                                                       .env_hosts = true}));
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("alpha.test", 22, AF_INET, a, 4), 1);
        check_addr(&a[0], "10.9.8.7:22");
        EDDY_CHECK_EQ(eddy_resolve("ALIAS.test", 22, AF_INET, a, 4), 1);
        check_addr(&a[0], "10.9.8.7:22");
        EDDY_CHECK_EQ(eddy_resolve("alpha.test", 22, AF_INET6, a, 4), 1);
        check_addr(&a[0], "[fd00::7]:22");
        EDDY_CHECK_EQ(eddy_resolve("alpha.test", 22, AF_UNSPEC, a, 4), 2);
        EDDY_CHECK_EQ(eddy_resolve("beta.test", 23, AF_UNSPEC, a, 4), 1);
        check_addr(&a[0], "10.9.8.8:23");
        EDDY_CHECK_EQ(s.queries, 0);
    }
    unlink(path);
    return 0;
}

/* The system's /etc/hosts itself: the first name in it other than localhost's. */
EDDY_TEST(dns_etc_hosts)
{
    bool cares = have_cares(); /* without c-ares: the /etc/hosts-only fallback */
    FILE *f = fopen("/etc/hosts", "re");
    char line[512], name[256] = "", addr[64] = "";
    while (f && !*name && fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *save, *a = strtok_r(line, " \t\r\n", &save), *h;
        eddy_sockaddr tmp;
        if (!a || eddy_sockaddr_parse(a, 0, &tmp) < 0 || strchr(a, '%')) continue;
        while ((h = strtok_r(NULL, " \t\r\n", &save))) {
            if (strlen(h) >= sizeof name || strcasestr(h, "localhost")) continue;
            snprintf(name, sizeof name, "%s", h);
            snprintf(addr, sizeof addr, "%s", a);
            break;
        }
    }
    if (f) fclose(f);
    if (!*name) {
        printf("# skipped: no name in /etc/hosts besides localhost\n");
        return 0;
    }
    fake_dns s;
    WITH_SERVER(s, M_SILENT, zone, NZONE) {
        if (cares) use_server(&s, 50, 1);
        eddy_sockaddr a[8], want;
        EDDY_OK(eddy_sockaddr_parse(addr, 7, &want));
        int n = eddy_resolve(name, 7, AF_UNSPEC, a, 8);
        EDDY_CHECK(n >= 1);
        bool found = false;
        for (int i = 0; i < n; i++)
            found |= a[i].len == want.len && memcmp(&a[i].ss, &want.ss, want.len) == 0;
        if (!found) eddy_test_fail(__FILE__, __LINE__, "%s: %s not among the answers", name, addr);
        EDDY_CHECK_EQ(s.queries, 0);
    }
    return 0;
}

/* localhost and numeric hosts never reach a resolver. */
EDDY_TEST(dns_localhost_and_numeric)
{
    fake_dns s;
    bool cares = have_cares();
    WITH_SERVER(s, M_SILENT, zone, NZONE) {
        if (cares) use_server(&s, 50, 1);
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("localhost", 80, AF_UNSPEC, a, 4), 2);
        check_addr(&a[0], "[::1]:80");
        check_addr(&a[1], "127.0.0.1:80");
        EDDY_CHECK_EQ(eddy_resolve("LocalHost.", 81, AF_INET, a, 4), 1);
        check_addr(&a[0], "127.0.0.1:81");
        EDDY_CHECK_EQ(eddy_resolve("db.localhost", 82, AF_INET6, a, 4), 1);
        check_addr(&a[0], "[::1]:82");
        EDDY_CHECK_EQ(eddy_resolve("localhost", 83, AF_UNSPEC, a, 1), 1);
        EDDY_CHECK_EQ(eddy_resolve("192.0.2.1", 84, AF_UNSPEC, a, 4), 1);
        check_addr(&a[0], "192.0.2.1:84");
        EDDY_CHECK_EQ(eddy_resolve("[2001:db8::1]", 85, AF_INET6, a, 4), 1);
        check_addr(&a[0], "[2001:db8::1]:85");
        EDDY_CHECK_EQ(eddy_resolve("192.0.2.1", 84, AF_INET6, a, 4), EDDY_ENOADDR);
        EDDY_CHECK_EQ(s.queries, 0);
        EDDY_CHECK_EQ(eddy__dns_pending(), 0);
    }
    return 0;
}

/* ---- the resolver hook ---- */

typedef struct fake_resolver {
    int calls;
    char host[64];
    int family;
} fake_resolver;

static int fake_resolve(void *ctx, const char *host, uint16_t port, int family, eddy_sockaddr *out,
                        size_t max)
{
    fake_resolver *f = ctx;
    f->calls++;
    snprintf(f->host, sizeof f->host, "%s", host);
    f->family = family;
    if (!strcmp(host, "fail.test")) return -EAGAIN;
    EDDY_CHECK(max >= 1);
    int rc = eddy_sleep(EDDY_MSEC(10)); /* a resolver may block its task */
    if (rc < 0) return rc;
    return eddy_sockaddr_parse("203.0.113.5", port, &out[0]) == 0 ? 1 : -EIO;
}

EDDY_TEST(dns_loop_set_resolver_hook)
{
    fake_dns s;
    bool cares = have_cares();
    WITH_SERVER(s, M_ANSWER, zone, NZONE) {
        if (cares) use_server(&s, 500, 1);
        fake_resolver fr = {0};
        eddy_resolver r = {.resolve = fake_resolve, .ctx = &fr};
        EDDY_OK(eddy_loop_set_resolver(&r));
        eddy_sockaddr a[4];
        EDDY_CHECK_EQ(eddy_resolve("www.example.test", 99, AF_INET6, a, 4), 1);
        check_addr(&a[0], "203.0.113.5:99");
        EDDY_CHECK_EQ(fr.calls, 1);
        EDDY_CHECK(!strcmp(fr.host, "www.example.test"));
        EDDY_CHECK_EQ(fr.family, AF_INET6);
        EDDY_CHECK_EQ(eddy_resolve("fail.test", 99, AF_INET, a, 4), -EAGAIN);
        /* numeric hosts are still parsed by the front end */
        EDDY_CHECK_EQ(eddy_resolve("10.0.0.1", 1, AF_UNSPEC, a, 4), 1);
        EDDY_CHECK_EQ(fr.calls, 2);
        /* the hook sees localhost too: it replaces name resolution as a whole */
        EDDY_CHECK_EQ(eddy_resolve("localhost", 1, AF_UNSPEC, a, 4), 1);
        check_addr(&a[0], "203.0.113.5:1");
        EDDY_CHECK_EQ(s.queries, 0);

        EDDY_OK(eddy_loop_set_resolver(NULL));
        if (cares) {
            EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET, a, 4), 1);
            check_addr(&a[0], "198.51.100.7:80");
            EDDY_CHECK_EQ(s.queries, 1);
        }
        EDDY_CHECK_EQ(fr.calls, 3);
    }
    return 0;
}

static int set_resolver_main(void *arg)
{
    static fake_resolver fr;
    static eddy_resolver r = {.resolve = fake_resolve, .ctx = &fr};
    (void)arg;
    EDDY_OK(eddy_loop_set_resolver(&r));
    eddy_sockaddr a[2];
    return eddy_resolve("one.test", 1, AF_INET, a, 2);
}

static int default_resolver_main(void *arg)
{
    (void)arg;
    eddy_sockaddr a[2];
    /* Not the previous loop's hook: the default resolver, which finds "localhost" itself. */
    int n = eddy_resolve("localhost", 1, AF_INET, a, 2);
    if (n != 1 || a[0].ss.ss_family != AF_INET) return -EIO;
    return 0;
}

EDDY_TEST_EX(dns_resolver_hook_ends_with_its_loop, .raw = true)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    EDDY_CHECK_EQ(eddy_run_opts(set_resolver_main, NULL, &o), 1);
    EDDY_CHECK_EQ(eddy_run_opts(default_resolver_main, NULL, &o), 0);
    return 0;
}

/* Each loop has its own channel: the first loop ends with a query in flight (its channel is
 * destroyed by the loop's end), the next loop on the thread makes a fresh one. */
static int loop_with_query(void *arg)
{
    bool abandon = arg != NULL;
    if (!have_cares()) return 0;
    fake_dns s;
    int rc = 1;
    WITH_SERVER(s, abandon ? M_SILENT : M_ANSWER, zone, NZONE) {
        use_server(&s, 10000, 1);
        eddy_sockaddr a[4];
        if (abandon) {
            EDDY_MOVE_ON_AFTER(EDDY_MSEC(10)) { rc = eddy_resolve("v4only.test", 80, AF_INET, a, 4); }
            EDDY_CHECK_EQ(rc, -ECANCELED);
            EDDY_CHECK_EQ(eddy__dns_pending(), 1);
        } else {
            EDDY_CHECK_EQ(eddy__dns_pending(), 0);
            rc = eddy_resolve("v4only.test", 80, AF_INET, a, 4);
            EDDY_CHECK_EQ(rc, 1);
            check_addr(&a[0], "198.51.100.7:80");
        }
    }
    return 0;
}

EDDY_TEST_EX(dns_channel_per_loop, .raw = true)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    EDDY_CHECK_EQ(eddy_run_opts(loop_with_query, "abandon", &o), 0);
    EDDY_CHECK_EQ(eddy_run_opts(loop_with_query, NULL, &o), 0);
    return 0;
}

/* ---- argument errors ---- */

typedef struct cb_call {
    int rc;
    eddy_event done;
} cb_call;

static void resolve_in_callback(void *arg)
{
    cb_call *c = arg;
    eddy_sockaddr a[1];
    c->rc = eddy_resolve("www.example.test", 80, AF_INET, a, 1);
    eddy_event_set(&c->done);
}

EDDY_TEST(dns_argument_errors)
{
    eddy_sockaddr a[2];
    EDDY_CHECK_EQ(eddy_resolve(NULL, 80, AF_INET, a, 2), -EINVAL);
    EDDY_CHECK_EQ(eddy_resolve("", 80, AF_INET, a, 2), -EINVAL);
    EDDY_CHECK_EQ(eddy_resolve("x.test", 80, AF_INET, NULL, 2), -EINVAL);
    EDDY_CHECK_EQ(eddy_resolve("x.test", 80, AF_INET, a, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_resolve("x.test", 80, AF_UNIX, a, 2), -EAFNOSUPPORT);
    EDDY_CHECK_EQ(eddy_resolve("x.test", 80, 12345, a, 2), -EAFNOSUPPORT);
    cb_call c = {.rc = 1};
    eddy_event_init(&c.done);
    EDDY_OK(eddy_call_soon(resolve_in_callback, &c));
    EDDY_OK(eddy_event_wait(&c.done));
    EDDY_CHECK_EQ(c.rc, -EPERM);
    if (have_cares()) {
        fake_dns s;
        WITH_SERVER(s, M_ANSWER, zone, NZONE) {
            use_server(&s, 500, 1);
            char label[80];
            memset(label, 'a', 70); /* a label over 63 bytes is no DNS name */
            memcpy(label + 70, ".test", 6);
            EDDY_CHECK_EQ(eddy_resolve(label, 80, AF_INET, a, 2), -EINVAL);
            EDDY_CHECK_EQ(s.queries, 0);
        }
        EDDY_CHECK_EQ(eddy__dns_configure(&(eddy__dns_conf){.servers = "not an address"}), 0);
        EDDY_CHECK_EQ(eddy_resolve("x.test", 80, AF_INET, a, 2), -EINVAL);
    }
    return 0;
}

EDDY_TEST_EX(dns_outside_a_loop, .raw = true)
{
    eddy_sockaddr a[1];
    EDDY_CHECK_EQ(eddy_resolve("x.test", 80, AF_INET, a, 1), -EPERM);
    EDDY_CHECK_EQ(eddy_loop_set_resolver(NULL), -EPERM);
    EDDY_CHECK_EQ(eddy__dns_configure(NULL), -EPERM);
    EDDY_CHECK_EQ(eddy__dns_pending(), 0);
    return 0;
}
