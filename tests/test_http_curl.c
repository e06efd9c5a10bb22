/* The HTTP server against curl (Debian's), a real client the test starts: chunked uploads,
 * Expect: 100-continue, keep-alive reuse, streamed responses, a body over the limit. The
 * server runs in a forked child on its own loop; the test process runs curl and waits. */
#include "http_proc_util.h"
#include "http_test_util.h"

#define RAW(name) EDDY_TEST_EX(name, .raw = true, .timeout = EDDY_SEC(60))

/* FNV-1a of the body, to check large uploads without sending them back. */
static int h_upload(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    uint32_t h = 2166136261u;
    size_t total = 0;
    char buf[8192];
    ssize_t n;
    while ((n = eddy_http_request_read(req, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)buf[i]) * 16777619u;
        total += (size_t)n;
    }
    if (n < 0) return (int)n;
    char out[96];
    int k = snprintf(out, sizeof out, "%zu:%08x:%s:%lld", total, h, req->expect_continue ? "ec" : "-",
                     (long long)req->content_length);
    return eddy_http_response_send(res, 200, "text/plain", out, (size_t)k);
}

static int h_echo(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    /* stream the body straight back as a chunked response */
    char buf[4096];
    ssize_t n;
    while ((n = eddy_http_request_read(req, buf, sizeof buf)) > 0) {
        int rc = eddy_http_response_write(res, buf, (size_t)n);
        if (rc < 0) return rc;
    }
    if (n < 0) return (int)n;
    if (!eddy_http_response_started(res)) return eddy_http_response_send(res, 200, NULL, NULL, 0);
    return eddy_http_response_end(res);
}

static int h_stream(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    int rc = eddy_http_response_header(res, "Content-Type", "text/plain");
    for (int i = 0; rc == 0 && i < 5; i++) {
        char line[16];
        int k = snprintf(line, sizeof line, "part %d\n", i);
        rc = eddy_http_response_write(res, line, (size_t)k);
        if (rc == 0) rc = eddy_sleep(EDDY_MSEC(10));
    }
    return rc < 0 ? rc : eddy_http_response_end(res);
}

static int h_hello(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return eddy_http_response_send(res, 200, "text/plain", "hello\n", 6);
}

static const eddy_http_route ROUTES[] = {
    {"GET", "/", h_hello, NULL},
    {"PUT", "/upload", h_upload, NULL},
    {"POST", "/upload", h_upload, NULL},
    {"POST", "/echo", h_echo, NULL},
    {"GET", "/stream", h_stream, NULL},
};
static const eddy_http_router ROUTER = {ROUTES, 5};

static int server_main(void *arg)
{
    (void)arg;
    eddy_listener *l;
    int rc = eddy_tcp_listen("127.0.0.1", 0, NULL, &l);
    if (rc < 0) return rc;
    eddy_sockaddr a;
    rc = eddy_listener_local_addr(l, &a);
    if (rc < 0) return rc;
    printf("listening on port %u\n", eddy_sockaddr_port(&a));
    fflush(stdout);
    eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
    o.max_body = 4 << 20;
    rc = eddy_http_serve(l, eddy_http_router_serve, (void *)&ROUTER, &o);
    int crc = eddy_listener_close(l);
    if (crc < 0) return crc;
    return rc == -ECANCELED ? 0 : rc; /* SIGTERM: eddy_run's default handling cancels */
}

static char tmpdir[64];

static void make_file(const char *name, size_t size)
{
    char out[16];
    EDDY_CHECK_EQ(sh(out, sizeof out, "head -c %zu /dev/urandom >%s/%s", size, tmpdir, name), 0);
}

RAW(http_curl)
{
    EDDY_CHECK(have("curl"));
    snprintf(tmpdir, sizeof tmpdir, "/tmp/eddy-curl-XXXXXX");
    EDDY_CHECK(mkdtemp(tmpdir) != NULL);
    make_file("small", 1000);
    make_file("big", 3 << 20);
    make_file("huge", 5 << 20);
    child c;
    child_fork(&c, server_main);
    char out[65536], url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", c.port);

    /* chunked upload, streamed back as a chunked response */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -H 'Transfer-Encoding: chunked' --data-binary @%s/big %s/echo "
                                      "| cmp - %s/big && echo same", tmpdir, url, tmpdir), 0);
    EDDY_CHECK(strcmp(out, "same\n") == 0);
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -H 'Transfer-Encoding: chunked' --data-binary @%s/small %s/upload",
                     tmpdir, url), 0);
    EDDY_CHECK(strncmp(out, "1000:", 5) == 0 && strstr(out, ":-:-1") != NULL);

    /* Expect: 100-continue: curl waits for the 100 before it sends the body */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -v -T %s/big -H 'Expect: 100-continue' %s/upload 2>&1", tmpdir, url), 0);
    EDDY_CHECK(strstr(out, "< HTTP/1.1 100 Continue") != NULL);
    EDDY_CHECK(strstr(out, "3145728:") != NULL && strstr(out, ":ec:3145728") != NULL);
    /* the same body without it gives the same digest */
    char digest[64];
    EDDY_CHECK_EQ(sscanf(strstr(out, "3145728:"), "%*[^:]:%8s", digest), 1);
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -H 'Expect:' --data-binary @%s/big %s/upload", tmpdir, url), 0);
    EDDY_CHECK(strstr(out, digest) != NULL);

    /* a body over max_body: 413 before the 100, curl does not send it */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -o /dev/null -w '%%{http_code}' -H 'Expect: 100-continue' "
                                      "--data-binary @%s/huge %s/upload", tmpdir, url), 0);
    EDDY_CHECK(strcmp(out, "413") == 0);

    /* keep-alive: five requests (plain and streamed) on one connection */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null "
                                      "-w '%%{num_connects}' %s/ %s/stream %s/ %s/stream %s/",
                     url, url, url, url, url), 0);
    EDDY_CHECK(strcmp(out, "10000") == 0);

    /* a streamed response, decoded and raw */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s %s/stream", url), 0);
    EDDY_CHECK(strcmp(out, "part 0\npart 1\npart 2\npart 3\npart 4\n") == 0);
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s --raw %s/stream", url), 0);
    EDDY_CHECK(strcmp(out, "7\r\npart 0\n\r\n7\r\npart 1\n\r\n7\r\npart 2\n\r\n7\r\npart 3\n\r\n7\r\npart 4\n\r\n0\r\n\r\n") == 0);
    /* HTTP/1.0: no chunking, the end of the body is the end of the connection */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -0 -i %s/stream", url), 0);
    EDDY_CHECK(strstr(out, "Transfer-Encoding") == NULL && strstr(out, "\r\nConnection: close\r\n"));
    EDDY_CHECK(strstr(out, "\r\n\r\npart 0\npart 1\npart 2\npart 3\npart 4\n") != NULL);

    char rest[256];
    EDDY_CHECK_EQ(child_stop(&c, SIGTERM, rest, sizeof rest), 0);
    EDDY_CHECK_EQ(sh(NULL, 0, "rm -rf %s", tmpdir), 0);
    return 0;
}
