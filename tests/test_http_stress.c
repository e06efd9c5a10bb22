/* Reliability tests of the HTTP server ("heavy" label): slowloris connections, ten thousand
 * keep-alive connections, many pipelined requests per connection, a flood of garbage. The
 * server runs in a forked child on its own loop; the test process is the load, on plain
 * blocking sockets (raw tests: no loop here). Each test checks the server still answers a
 * normal client quickly afterwards, and that its descriptors come back to where they were. */
#include <dirent.h>
#include <poll.h>
#include <time.h>

#include "http_proc_util.h"

#define RAW(name) EDDY_TEST_EX(name, .raw = true, .timeout = EDDY_SEC(180))

static int h_hello(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return eddy_http_response_send(res, 200, "text/plain", "Hello, World!\n", 14);
}

/* Echoes the path, so the order of pipelined answers can be checked. */
static int h_path(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    return eddy_http_response_send(res, 200, "text/plain", req->path.ptr, req->path.len);
}

static const eddy_http_route ROUTES[] = {{"GET", "/", h_hello, NULL}, {"GET", "/p/*", h_path, NULL}};
static const eddy_http_router ROUTER = {ROUTES, 2};

static int server_main(void *arg)
{
    (void)arg;
    eddy_listener *l;
    int rc = eddy_tcp_listen("127.0.0.1", 0, &(eddy_tcp_listen_opts){.backlog = 4096}, &l);
    if (rc < 0) return rc;
    eddy_sockaddr a;
    if ((rc = eddy_listener_local_addr(l, &a)) < 0) return rc;
    printf("listening on port %u\n", eddy_sockaddr_port(&a));
    fflush(stdout);
    eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
    o.header_timeout = EDDY_SEC(120); /* the slowloris test must not be saved by the timeout */
    o.idle_timeout = EDDY_SEC(120);
    rc = eddy_http_serve(l, eddy_http_router_serve, (void *)&ROUTER, &o);
    int crc = eddy_listener_close(l);
    if (crc < 0) return crc;
    return rc == -ECANCELED ? 0 : rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fds_of(pid_t pid)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(p);
    if (!d) return -1;
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n - 2;
}

/* One request on a new connection; the seconds it took. */
static double probe(int port)
{
    double t0 = now_s();
    int fd = tcp_to(port);
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 46);
    char buf[1024];
    recv_all(fd, buf, sizeof buf);
    EDDY_CHECK(strstr(buf, "HTTP/1.1 200 OK\r\n") == buf && strstr(buf, "Hello, World!\n"));
    close(fd);
    return now_s() - t0;
}

/* The child's descriptors come back to base (closing is asynchronous: wait a little). */
static void fds_settle(child *c, int base)
{
    for (int i = 0; i < 200 && fds_of(c->pid) > base; i++) usleep(10000);
    EDDY_CHECK_EQ(fds_of(c->pid), base);
}

RAW(http_stress_slowloris)
{
    EDDY_CHECK(raise_nofile(4096) >= 2100);
    child c;
    child_fork(&c, server_main);
    probe(c.port);
    int base = fds_of(c.pid);
    enum { N = 1000 };
    static int slow[N];
    for (int i = 0; i < N; i++) {
        slow[i] = tcp_to(c.port);
        /* a third send nothing, the others an unfinished head */
        if (i % 3) send_all(slow[i], "GET / HTTP/1.1\r\nHost: x\r\nX-Slow:", i % 3 == 1 ? 10 : 31);
    }
    /* others are served at once, many times over */
    double worst = 0;
    for (int i = 0; i < 50; i++) {
        double t = probe(c.port);
        if (t > worst) worst = t;
    }
    EDDY_CHECK(worst < 2.0);
    EDDY_CHECK_EQ(fds_of(c.pid), base + N);
    for (int i = 0; i < N; i++) close(slow[i]);
    fds_settle(&c, base);
    probe(c.port);
    char rest[64];
    EDDY_CHECK_EQ(child_stop(&c, SIGTERM, rest, sizeof rest), 0);
    return 0;
}

RAW(http_stress_10k_keepalive)
{
    enum { N = 10000 };
    long lim = raise_nofile(2 * N + 200);
    EDDY_CHECK(lim >= N + 100); /* the server child inherits the limit */
    child c;
    child_fork(&c, server_main);
    int base = fds_of(c.pid);
    int *fd = malloc(N * sizeof *fd);
    for (int i = 0; i < N; i++) fd[i] = tcp_to(c.port);
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[1024];
    for (int round = 0; round < 2; round++) {
        /* every connection asks, then every one reads its answer: all 10k are open at once */
        for (int i = 0; i < N; i++) send_all(fd[i], req, sizeof req - 1);
        for (int i = 0; i < N; i++) {
            size_t n = recv_until(fd[i], buf, sizeof buf, "Hello, World!\n", 1);
            EDDY_CHECK(n > 0 && strstr(buf, "HTTP/1.1 200 OK\r\n") == buf);
        }
    }
    EDDY_CHECK_EQ(fds_of(c.pid), base + N);
    EDDY_CHECK(probe(c.port) < 2.0);
    for (int i = 0; i < N; i++) close(fd[i]);
    free(fd);
    fds_settle(&c, base);
    char rest[64];
    EDDY_CHECK_EQ(child_stop(&c, SIGTERM, rest, sizeof rest), 0);
    return 0;
}

RAW(http_stress_pipelined_in_order)
{
    enum { CONNS = 50, REQS = 100 };
    child c;
    child_fork(&c, server_main);
    int fd[CONNS];
    static char req[REQS * 48];
    for (int k = 0; k < CONNS; k++) {
        fd[k] = tcp_to(c.port);
        char *p = req;
        for (int i = 0; i < REQS; i++) p += sprintf(p, "GET /p/%d-%d HTTP/1.1\r\nHost: x\r\n\r\n", k, i);
        send_all(fd[k], req, (size_t)(p - req));
    }
    static char buf[REQS * 256];
    for (int k = 0; k < CONNS; k++) {
        recv_until(fd[k], buf, sizeof buf, "HTTP/1.1 200 OK", REQS);
        /* the bodies, in order */
        const char *q = buf;
        for (int i = 0; i < REQS; i++) {
            char want[32];
            snprintf(want, sizeof want, "\r\n\r\n/p/%d-%d", k, i);
            q = strstr(q, want);
            EDDY_CHECK(q != NULL);
            q += strlen(want);
        }
        close(fd[k]);
    }
    probe(c.port);
    char rest[64];
    EDDY_CHECK_EQ(child_stop(&c, SIGTERM, rest, sizeof rest), 0);
    return 0;
}

RAW(http_stress_garbage_flood)
{
    child c;
    child_fork(&c, server_main);
    probe(c.port);
    int base = fds_of(c.pid);
    uint64_t r = 12345;
    static char junk[65536];
    int answered = 0;
    for (int i = 0; i < 500; i++) {
        int fd = tcp_to(c.port);
        size_t n = 1 + (size_t)(i * 131 % 60000);
        for (size_t k = 0; k < n; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            junk[k] = (char)(r >> 56);
        }
        if (i % 4 == 1) memcpy(junk, "GET / HTTP/1.1\r\n", n < 16 ? n : 16); /* a valid start */
        if (i % 4 == 2) memcpy(junk, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz",
                               n < 59 ? n : 59);
        send(fd, junk, n, MSG_NOSIGNAL); /* the server may refuse before it is all sent */
        shutdown(fd, SHUT_WR);
        char buf[4096];
        size_t got = recv_all(fd, buf, sizeof buf);
        if (got && strncmp(buf, "HTTP/1.1 4", 10) == 0) answered++;
        close(fd);
    }
    EDDY_CHECK(answered > 300); /* most are answered (400/431/...), the rest just closed */
    EDDY_CHECK(probe(c.port) < 2.0);
    fds_settle(&c, base);
    char rest[64];
    EDDY_CHECK_EQ(child_stop(&c, SIGTERM, rest, sizeof rest), 0);
    return 0;
}
