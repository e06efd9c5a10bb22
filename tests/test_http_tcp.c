/* Tests of eddy_http_serve over TCP in the test process: the listener path (eddy_serve), the
 * accept hook, peer addresses, and graceful shutdown with its grace period. */
#include "http_test_util.h"

typedef struct tcp_srv {
    eddy_listener *l;
    uint16_t port;
    eddy_http_serve_opts o;
    eddy_http_server srv;
    eddy_http_handler h;
    void *arg;
    int rc;
    int64_t ended_at;
    eddy_cancel_scope cs; /* around the server: cancelling it cancels the server alone */
} tcp_srv;

static int serve_main(void *p)
{
    tcp_srv *t = p;
    EDDY_CANCEL_SCOPE(&t->cs, .deadline = EDDY_FOREVER) { t->rc = eddy_http_serve(t->l, t->h, t->arg, &t->o); }
    t->ended_at = eddy_now();
    return 0;
}

static void srv_start(tcp_srv *t, eddy_nursery *n, eddy_http_handler h, void *arg)
{
    t->h = h;
    t->arg = arg;
    t->o.server = &t->srv;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &t->l));
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_local_addr(t->l, &a));
    t->port = eddy_sockaddr_port(&a);
    void *started = NULL;
    EDDY_OK(eddy_start(n, serve_main, t, &started));
    (void)started;
}

static void connect_client(tcp_srv *t, hclient *c)
{
    eddy_stream *s;
    EDDY_OK(eddy_tcp_connect("127.0.0.1", t->port, NULL, &s));
    hc_init(c, s);
}

static void close_client(hclient *c)
{
    EDDY_OK(eddy_stream_close(c->s));
    hc_fini(c);
}

/* eddy_start of eddy_http_serve hands out the eddy_http_server. */
static void *started_value;
static int start_main(void *p)
{
    tcp_srv *t = p;
    t->rc = eddy_http_serve(t->l, t->h, t->arg, &t->o);
    return 0;
}

static int h_peer(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    char b[64];
    int n = snprintf(b, sizeof b, "%u", req->peer ? eddy_sockaddr_port(req->peer) : 0);
    return eddy_http_response_send(res, 200, "text/plain", b, (size_t)n);
}

HTTP_TEST(http_tcp_serve_and_shutdown)
{
    tcp_srv t = {.o = EDDY_HTTP_SERVE_OPTS_INIT};
    int rc = 0;
    EDDY_NURSERY(n, &rc) {
        t.h = h_peer;
        t.o.server = &t.srv;
        EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &t.l));
        eddy_sockaddr a;
        EDDY_OK(eddy_listener_local_addr(t.l, &a));
        t.port = eddy_sockaddr_port(&a);
        EDDY_OK(eddy_start(n, start_main, &t, &started_value));
        EDDY_CHECK(started_value == &t.srv);
        hclient c[3];
        for (int i = 0; i < 3; i++) {
            connect_client(&t, &c[i]);
            eddy_sockaddr me;
            EDDY_OK(eddy_stream_local_addr(c[i].s, &me));
            hresp r;
            EDDY_OK(hc_get(&c[i], "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
            char want[16];
            snprintf(want, sizeof want, "%u", eddy_sockaddr_port(&me));
            EDDY_CHECK(strcmp(r.body, want) == 0);
            hr_free(&r);
        }
        EDDY_CHECK_EQ(t.srv.stats.connections, 3);
        EDDY_CHECK_EQ(t.srv.stats.active, 3);
        EDDY_OK(eddy_http_server_shutdown(&t.srv));
        for (int i = 0; i < 3; i++) {
            EDDY_CHECK(hc_closed(&c[i])); /* idle: closed at once */
            close_client(&c[i]);
        }
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(t.rc, 0);
    EDDY_CHECK_EQ(t.srv.stats.active, 0);
    EDDY_OK(eddy_listener_close(t.l));
    return 0;
}

/* Shutdown with requests in progress: one that finishes within the grace period answers
 * (with Connection: close); one that does not is cancelled when it ends. */
static int h_sleepy(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    int64_t d = req->path.len > 1 ? EDDY_SEC(atoi(req->path.ptr + 1)) : 0;
    int rc = eddy_sleep(d);
    if (rc < 0) return rc;
    return eddy_http_response_send(res, 200, NULL, "done", 4);
}

HTTP_TEST(http_tcp_shutdown_grace)
{
    tcp_srv t = {.o = EDDY_HTTP_SERVE_OPTS_INIT};
    t.o.grace = EDDY_SEC(5);
    t.o.request_timeout = EDDY_SEC(100);
    int rc = 0;
    int64_t t0 = 0;
    EDDY_NURSERY(n, &rc) {
        srv_start(&t, n, h_sleepy, NULL);
        hclient quick, slow, idle;
        connect_client(&t, &quick);
        connect_client(&t, &slow);
        connect_client(&t, &idle);
        hresp r;
        EDDY_OK(hc_get(&idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
        hr_free(&r);
        EDDY_OK(hc_send(&quick, "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"));
        EDDY_OK(hc_send(&slow, "GET /60 HTTP/1.1\r\nHost: a\r\n\r\n"));
        EDDY_OK(eddy_sleep(EDDY_MSEC(100)));
        t0 = eddy_now();
        EDDY_OK(eddy_http_server_shutdown(&t.srv));
        EDDY_CHECK(hc_closed(&idle));
        EDDY_OK(hc_read(&quick, &r, EDDY_HTTP_GET));
        EDDY_CHECK(r.status == 200 && strcmp(r.body, "done") == 0);
        EDDY_CHECK(strcmp(hr_get(&r, "connection"), "close") == 0);
        hr_free(&r);
        EDDY_CHECK(hc_closed(&quick));
        EDDY_CHECK(hc_closed(&slow)); /* cut at the end of the grace period */
        EDDY_CHECK(eddy_now() - t0 >= EDDY_SEC(5));
        close_client(&quick);
        close_client(&slow);
        close_client(&idle);
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(t.rc, 0);
    EDDY_CHECK(t.ended_at - t0 >= EDDY_SEC(5) && t.ended_at - t0 < EDDY_SEC(6));
    EDDY_CHECK_EQ(t.srv.base.stats.aborted, 1);
    EDDY_OK(eddy_listener_close(t.l));
    return 0;
}

/* Cancelling the scope around the server stops everything at once. */
HTTP_TEST(http_tcp_cancelled)
{
    tcp_srv t = {.o = EDDY_HTTP_SERVE_OPTS_INIT};
    int rc = 0;
    EDDY_NURSERY(n, &rc) {
        srv_start(&t, n, h_sleepy, NULL);
        hclient c;
        connect_client(&t, &c);
        EDDY_OK(hc_send(&c, "GET /60 HTTP/1.1\r\nHost: a\r\n\r\n"));
        EDDY_OK(eddy_sleep(EDDY_MSEC(100)));
        eddy_cancel_scope_cancel(&t.cs);
        EDDY_CHECK(hc_closed(&c));
        close_client(&c);
    }
    EDDY_CHECK_EQ(t.rc, -ECANCELED);
    EDDY_OK(eddy_listener_close(t.l));
    return 0;
}

/* ---- the accept hook ---- */

/* A stream layered on the accepted one, as TLS would be; it borrows the raw stream. */
typedef struct layer {
    eddy_stream base;
    eddy_stream *raw;
} layer;

static int layer_bytes_out, layers_closed;

static ssize_t ly_read(eddy_stream *s, void *b, size_t n) { return eddy_stream_read(((layer *)s)->raw, b, n); }
static ssize_t ly_write(eddy_stream *s, const void *b, size_t n)
{
    size_t w;
    int rc = eddy_stream_write(((layer *)s)->raw, b, n, &w);
    layer_bytes_out += (int)w;
    return rc < 0 && w == 0 ? rc : (ssize_t)w;
}
static int ly_shut(eddy_stream *s) { return eddy_stream_shutdown_write(((layer *)s)->raw); }
static int ly_close(eddy_stream *s, bool graceful)
{
    (void)graceful;
    layers_closed++;
    free(s); /* raw is the server's: not closed here */
    return 0;
}
static const eddy_stream_vt ly_vt = {.kind = "layer", .read = ly_read, .write = ly_write,
                                     .shutdown_write = ly_shut, .close = ly_close};

static int hook_mode; /* 0: wrap; 1: refuse; 2: hang */

static int hook(eddy_stream *raw, eddy_stream **out, void *ctx)
{
    EDDY_CHECK(ctx == &hook_mode);
    if (hook_mode == 1) return -EACCES;
    if (hook_mode == 2) return eddy_sleep_forever();
    layer *l = calloc(1, sizeof *l);
    eddy_stream_init(&l->base, &ly_vt);
    l->raw = raw;
    *out = &l->base;
    return 0;
}

static int h_hello(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return eddy_http_response_send(res, 200, "text/plain", "hello\n", 6);
}

HTTP_TEST(http_tcp_accept_hook)
{
    tcp_srv t = {.o = EDDY_HTTP_SERVE_OPTS_INIT};
    t.o.accept = hook;
    t.o.accept_ctx = &hook_mode;
    t.o.header_timeout = EDDY_SEC(3);
    int rc = 0;
    EDDY_NURSERY(n, &rc) {
        srv_start(&t, n, h_hello, NULL);
        hclient c;
        hresp r;
        hook_mode = 0;
        connect_client(&t, &c);
        EDDY_OK(hc_get(&c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
        EDDY_CHECK(strcmp(r.body, "hello\n") == 0);
        hr_free(&r);
        EDDY_CHECK(layer_bytes_out > 0);
        close_client(&c);
        hook_mode = 1; /* refused: dropped */
        connect_client(&t, &c);
        EDDY_CHECK(hc_closed(&c));
        close_client(&c);
        hook_mode = 2; /* never finishes: dropped after header_timeout */
        connect_client(&t, &c);
        int64_t t0 = eddy_now();
        EDDY_CHECK(hc_closed(&c));
        EDDY_CHECK(eddy_now() - t0 >= EDDY_SEC(3));
        close_client(&c);
        EDDY_OK(eddy_http_server_shutdown(&t.srv));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(layers_closed, 1);
    EDDY_CHECK_EQ(t.srv.stats.connections, 1);
    EDDY_OK(eddy_listener_close(t.l));
    return 0;
}

HTTP_TEST(http_tcp_serve_stream_peer)
{
    /* eddy_http_serve_stream on an accepted TCP stream finds the peer address itself */
    eddy_listener *l;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_local_addr(l, &a));
    eddy_stream *cs, *ss;
    EDDY_OK(eddy_tcp_connect("127.0.0.1", eddy_sockaddr_port(&a), NULL, &cs));
    EDDY_OK(eddy_listener_accept(l, &ss, NULL));
    fixture x;
    fixture_init(&x, h_peer, NULL);
    x.server_end = ss;
    x.o.server = &x.srv;
    int rc = 0;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, fixture_main, &x));
        hclient c;
        hc_init(&c, cs);
        hresp r;
        EDDY_OK(hc_get(&c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r));
        eddy_sockaddr me;
        EDDY_OK(eddy_stream_local_addr(cs, &me));
        EDDY_CHECK_EQ(atoi(r.body), eddy_sockaddr_port(&me));
        hr_free(&r);
        close_client(&c);
    }
    EDDY_OK(rc);
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* Outside a task (no loop at all): -EPERM before anything is touched. */
EDDY_TEST_EX(http_serve_outside_task, .raw = true)
{
    eddy_stream *fake_s = (eddy_stream *)&layers_closed;
    eddy_listener *fake_l = (eddy_listener *)&layers_closed;
    EDDY_CHECK_EQ(eddy_http_serve_stream(fake_s, h_hello, NULL, NULL), -EPERM);
    EDDY_CHECK_EQ(eddy_http_serve(fake_l, h_hello, NULL, NULL), -EPERM);
    return 0;
}
