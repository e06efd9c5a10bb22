/* HTTPS = a TLS stream + the same HTTP server: eddy_http_serve with an accept hook that runs
 * eddy_tls_server (borrowing the accepted stream), against eddy's own TLS client and against
 * curl. Nothing in the server knows about TLS. Certificates are made at test time
 * (tests/tls_util.h). Without OpenSSL this file has no cases. */
#include "eddy/test.h"
#ifdef EDDY_TEST_OPENSSL
#include "http_proc_util.h"
#include "http_test_util.h"
#include "tls_util.h"

static int tls_accept(eddy_stream *raw, eddy_stream **out, void *ctx)
{
    eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
    o.borrow = true; /* the server closes the TLS stream, then raw */
    return eddy_tls_server(raw, ctx, &o, out);
}

static int h_echo(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while ((n = eddy_http_request_read(req, buf + len, sizeof buf - len)) > 0) len += (size_t)n;
    if (n < 0) return (int)n;
    if (len == 0) return eddy_http_response_send(res, 200, "text/plain", "Hello, TLS!\n", 12);
    return eddy_http_response_send(res, 200, "text/plain", buf, len);
}

typedef struct tls_srv {
    eddy_listener *l;
    eddy_tls_ctx *ctx;
    eddy_http_server srv;
    int rc;
} tls_srv;

static int serve_tls(void *p)
{
    tls_srv *t = p;
    eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
    o.accept = tls_accept;
    o.accept_ctx = t->ctx;
    o.server = &t->srv;
    t->rc = eddy_http_serve(t->l, h_echo, NULL, &o);
    return 0;
}

HTTP_TEST(https_with_eddy_client)
{
    tls_srv t = {0};
    t.ctx = tls_server_ctx_for("server");
    eddy_tls_ctx *cctx = tls_client_ctx();
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &t.l));
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_local_addr(t.l, &a));
    int rc = 0;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, serve_tls, &t));
        eddy_stream *tcp, *tls;
        EDDY_OK(eddy_tcp_connect("127.0.0.1", eddy_sockaddr_port(&a), NULL, &tcp));
        EDDY_OK(eddy_tls_client(tcp, cctx, "localhost", NULL, &tls));
        hclient c;
        hc_init(&c, tls);
        hc_expect(&c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 200, "Hello, TLS!\n");
        /* keep-alive, pipelining and a chunked body, all through the TLS stream */
        EDDY_OK(hc_send(&c, "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                            "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        hresp r;
        EDDY_OK(hc_read(&c, &r, EDDY_HTTP_POST));
        EDDY_CHECK(r.status == 200 && strcmp(r.body, "hello world") == 0);
        hr_free(&r);
        EDDY_OK(hc_read(&c, &r, EDDY_HTTP_GET));
        EDDY_CHECK(r.status == 200 && strcmp(r.body, "Hello, TLS!\n") == 0);
        hr_free(&r);
        EDDY_CHECK_EQ(t.srv.stats.requests, 3);
        /* a client that speaks plain HTTP to the TLS port is dropped; the server goes on */
        eddy_stream *plain;
        EDDY_OK(eddy_tcp_connect("127.0.0.1", eddy_sockaddr_port(&a), NULL, &plain));
        EDDY_OK(eddy_stream_write_all(plain, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27));
        char b[64];
        EDDY_CHECK(eddy_stream_read(plain, b, sizeof b) <= 0);
        EDDY_OK(eddy_stream_close(plain));
        hc_expect(&c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 200, "Hello, TLS!\n");
        hc_fini(&c);
        EDDY_OK(eddy_stream_close(tls));
        EDDY_OK(eddy_http_server_shutdown(&t.srv));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(t.rc, 0);
    EDDY_CHECK_EQ(t.srv.stats.connections, 1); /* the plain one never got past the hook */
    EDDY_OK(eddy_listener_close(t.l));
    eddy_tls_ctx_close(t.ctx);
    eddy_tls_ctx_close(cctx);
    return 0;
}

/* curl against the same server in a child process: verified TLS, keep-alive over TLS. */
static int curl_server_main(void *arg)
{
    (void)arg;
    tls_srv t = {0};
    t.ctx = tls_server_ctx_for("server");
    int rc = eddy_tcp_listen("127.0.0.1", 0, NULL, &t.l);
    if (rc < 0) return rc;
    eddy_sockaddr a;
    if ((rc = eddy_listener_local_addr(t.l, &a)) < 0) return rc;
    printf("listening on port %u\n", eddy_sockaddr_port(&a));
    fflush(stdout);
    serve_tls(&t);
    int crc = eddy_listener_close(t.l);
    eddy_tls_ctx_close(t.ctx);
    if (crc < 0) return crc;
    return t.rc == -ECANCELED ? 0 : t.rc;
}

EDDY_TEST_EX(https_with_curl, .raw = true, .timeout = EDDY_SEC(60))
{
    EDDY_CHECK(have("curl"));
    child c;
    child_fork(&c, curl_server_main);
    char out[4096];
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s --cacert %s -o /dev/null -o /dev/null -w '%%{num_connects}' "
                                      "https://localhost:%d/ https://localhost:%d/", tls_file("ca.pem"), c.port, c.port), 0);
    EDDY_CHECK(strcmp(out, "10") == 0);
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s --cacert %s -d 'posted body' https://localhost:%d/",
                     tls_file("ca.pem"), c.port), 0);
    EDDY_CHECK(strcmp(out, "posted body") == 0);
    /* an untrusted certificate is refused by curl (exit 60), the server goes on */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s https://localhost:%d/", c.port), 60);
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s --cacert %s https://localhost:%d/", tls_file("ca.pem"), c.port), 0);
    EDDY_CHECK(strcmp(out, "Hello, TLS!\n") == 0);
    char rest[64];
    EDDY_CHECK_EQ(child_stop(&c, SIGTERM, rest, sizeof rest), 0);
    return 0;
}
#endif
