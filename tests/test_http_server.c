/* Tests of the HTTP server (src/http/server.c, exchange.c) over memory stream pairs on the
 * virtual clock: every timeout is checked to the nanosecond, with no real waiting. Real
 * peers (curl, raw TCP) are in test_http_curl.c; the examples in test_http_examples.c. */
#include <unistd.h>

#include "http_test_util.h"

/* ---- handlers ---- */

static int h_hello(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return eddy_http_response_send(res, 200, "text/plain", "hello\n", 6);
}

/* Describes the request in its body. */
static int h_info(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    char b[1024];
    int n = snprintf(b, sizeof b, "m=%.*s id=%d t=%.*s p=%.*s q=%.*s h=%.*s v=%d cl=%lld i=%llu ka=%d ec=%d n=%zu",
                     (int)req->method.len, req->method.ptr, req->method_id, (int)req->target.len,
                     req->target.ptr, (int)req->path.len, req->path.ptr, (int)req->query.len,
                     req->query.ptr ? req->query.ptr : "", (int)req->host.len,
                     req->host.ptr ? req->host.ptr : "", req->version, (long long)req->content_length,
                     (unsigned long long)req->index, req->keep_alive, req->expect_continue, req->nfields);
    return eddy_http_response_send(res, 200, "text/plain", b, (size_t)n);
}

static int last_read_rc;

/* Reads the whole body (in reads of arg bytes, default 1000) and sends it back. */
static int h_echo(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    size_t step = arg ? (size_t)(uintptr_t)arg : 1000;
    size_t cap = 1 << 21, len = 0;
    char *b = malloc(cap);
    ssize_t n;
    while ((n = eddy_http_request_read(req, b + len, len + step <= cap ? step : cap - len)) > 0) len += (size_t)n;
    last_read_rc = (int)n;
    int rc = n < 0 ? (int)n : eddy_http_response_send(res, 200, "application/octet-stream", b, len);
    free(b);
    return rc;
}

static int64_t sleep_for;
static int sleep_rc;

static int h_sleep(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    sleep_rc = eddy_sleep(sleep_for);
    if (sleep_rc < 0) return sleep_rc;
    return eddy_http_response_send(res, 200, NULL, "late", 4);
}

/* A streamed response: "one", a pause of sleep_for, "two", "six": chunked, or with a
 * Content-Length of 9 when arg is set. */
static int h_stream(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    int rc = eddy_http_response_start(res, 200, arg ? 9 : EDDY_HTTP_CHUNKED);
    if (rc == 0) rc = eddy_http_response_write(res, "one", 3);
    if (rc == 0 && sleep_for) rc = eddy_sleep(sleep_for);
    if (rc == 0) rc = eddy_http_response_write(res, "two", 3);
    if (rc == 0) rc = eddy_http_response_write(res, "six", 3);
    if (rc == 0) rc = eddy_http_response_end(res);
    return rc;
}

static int h_none(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)res;
    return (int)(intptr_t)arg; /* no response at all */
}

/* ---- running a client against the fixture ---- */

static int run(fixture *x, fixture_client fn, const eddy_memstream_hooks *hooks)
{
    fixture_run(x, fn, hooks);
    return 0;
}

/* ---- basic exchanges ---- */

static int c_simple(hclient *c, fixture *x)
{
    hresp r;
    EDDY_OK(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
    EDDY_CHECK_EQ(r.status, 200);
    EDDY_CHECK(strcmp(r.body, "hello\n") == 0);
    EDDY_CHECK(strcmp(hr_get(&r, "content-length"), "6") == 0);
    EDDY_CHECK(strcmp(hr_get(&r, "content-type"), "text/plain") == 0);
    const char *d = hr_get(&r, "date");
    EDDY_CHECK(d && strlen(d) == 29 && strcmp(d + 25, " GMT") == 0 && d[3] == ',');
    EDDY_CHECK(!hr_get(&r, "connection") && !hr_get(&r, "server"));
    EDDY_CHECK(r.keep_alive);
    hr_free(&r);
    EDDY_CHECK_EQ(x->srv.stats.requests, 1);
    EDDY_CHECK_EQ(x->srv.stats.active, 1);
    return 0;
}

HTTP_TEST(http_simple_get)
{
    fixture x;
    fixture_init(&x, h_hello, NULL);
    run(&x, c_simple, NULL);
    EDDY_CHECK_EQ(x.rc, 0);
    EDDY_CHECK_EQ(x.srv.stats.connections, 1);
    EDDY_CHECK_EQ(x.srv.stats.active, 0);
    return 0;
}

static int c_fields(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    EDDY_OK(hc_get(c, "GET /a/b?x=1&y HTTP/1.1\r\nHost: h.example:8\r\nX-A: 1\r\n\r\n", &r));
    EDDY_CHECK(strcmp(r.body, "m=GET id=1 t=/a/b?x=1&y p=/a/b q=x=1&y h=h.example:8 v=11 cl=0 i=0 ka=1 ec=0 n=2") == 0);
    hr_free(&r);
    EDDY_OK(hc_get(c, "GET http://o.example/p?q HTTP/1.1\r\nHost: ignored\r\n\r\n", &r));
    EDDY_CHECK(strcmp(r.body, "m=GET id=1 t=http://o.example/p?q p=/p q=q h=o.example v=11 cl=0 i=1 ka=1 ec=0 n=1") == 0);
    hr_free(&r);
    EDDY_OK(hc_get(c, "GET https://o.example HTTP/1.1\r\nHost: x\r\n\r\n", &r));
    EDDY_CHECK(strstr(r.body, " p=/ q= h=o.example ") != NULL);
    hr_free(&r);
    EDDY_OK(hc_get(c, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", &r));
    EDDY_CHECK(strstr(r.body, "id=7 t=* p=* q= ") != NULL);
    hr_free(&r);
    EDDY_OK(hc_get(c, "PURGE /z HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r));
    EDDY_CHECK(strstr(r.body, "m=PURGE id=0 ") != NULL && strstr(r.body, "i=4") != NULL);
    hr_free(&r);
    return 0;
}

HTTP_TEST(http_request_fields)
{
    fixture x;
    fixture_init(&x, h_info, NULL);
    run(&x, c_fields, NULL);
    return 0;
}

/* Keep-alive: many requests on one connection; HTTP/1.0 closes unless asked to keep it. */
static int c_keepalive(hclient *c, fixture *x)
{
    hresp r;
    for (int i = 0; i < 20; i++) {
        hc_expect(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, NULL);
    }
    EDDY_OK(hc_get(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r));
    EDDY_CHECK(strcmp(hr_get(&r, "connection"), "keep-alive") == 0);
    hr_free(&r);
    EDDY_OK(hc_get(c, "GET / HTTP/1.0\r\n\r\n", &r));
    EDDY_CHECK(strcmp(hr_get(&r, "connection"), "close") == 0);
    hr_free(&r);
    EDDY_CHECK(hc_closed(c));
    EDDY_CHECK_EQ(x->srv.stats.requests, 22);
    return 0;
}

HTTP_TEST(http_keepalive_and_http10)
{
    fixture x;
    fixture_init(&x, h_hello, NULL);
    run(&x, c_keepalive, NULL);
    return 0;
}

static int c_conn_close(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    EDDY_OK(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r));
    EDDY_CHECK(strcmp(hr_get(&r, "connection"), "close") == 0);
    hr_free(&r);
    EDDY_CHECK(hc_closed(c));
    return 0;
}

HTTP_TEST(http_connection_close)
{
    fixture x;
    fixture_init(&x, h_hello, NULL);
    run(&x, c_conn_close, NULL);
    return 0;
}

static int c_head(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    EDDY_OK(hc_get(c, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
    EDDY_CHECK_EQ(r.status, 200);
    EDDY_CHECK(strcmp(hr_get(&r, "content-length"), "6") == 0);
    EDDY_CHECK_EQ(r.body_len, 0);
    hr_free(&r);
    /* the next response starts right after the head: no body bytes were sent */
    EDDY_OK(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
    EDDY_CHECK(strcmp(r.body, "hello\n") == 0);
    hr_free(&r);
    return 0;
}

HTTP_TEST(http_head)
{
    fixture x;
    fixture_init(&x, h_hello, NULL);
    run(&x, c_head, NULL);
    return 0;
}

/* ---- pipelining ---- */

/* A layered stream counting the write calls that reach its inner stream. */
typedef struct counting {
    eddy_stream base;
    eddy_stream *inner;
    int writes;
} counting;

static ssize_t cnt_read(eddy_stream *s, void *b, size_t n) { return eddy_stream_read(((counting *)s)->inner, b, n); }
static ssize_t cnt_write(eddy_stream *s, const void *b, size_t n)
{
    counting *k = (counting *)s;
    k->writes++;
    size_t w;
    int rc = eddy_stream_write(k->inner, b, n, &w);
    return rc < 0 && w == 0 ? rc : (ssize_t)w;
}
static ssize_t cnt_writev(eddy_stream *s, const struct iovec *iov, int n)
{
    counting *k = (counting *)s;
    k->writes++;
    size_t w;
    int rc = eddy_stream_writev(k->inner, iov, n, &w);
    return rc < 0 && w == 0 ? rc : (ssize_t)w;
}
static int cnt_shut(eddy_stream *s) { return eddy_stream_shutdown_write(((counting *)s)->inner); }
static int cnt_close(eddy_stream *s, bool graceful)
{
    counting *k = (counting *)s;
    int rc = 0;
    if (graceful) rc = eddy_stream_close(k->inner);
    else eddy_stream_abort(k->inner);
    free(k);
    return rc;
}
static const eddy_stream_vt cnt_vt = {.kind = "count", .read = cnt_read, .write = cnt_write,
                                      .shutdown_write = cnt_shut, .close = cnt_close,
                                      .writev = cnt_writev};

static int pipelined_writes;

static int c_pipeline(hclient *c, fixture *x)
{
    /* 100 requests in one write: 100 responses, in order, in a few writes */
    char *reqs = malloc(100 * 64), *p = reqs;
    for (int i = 0; i < 100; i++) p += sprintf(p, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
    EDDY_OK(hc_send(c, reqs));
    free(reqs);
    for (int i = 0; i < 100; i++) {
        hresp r;
        EDDY_OK(hc_read(c, &r, EDDY_HTTP_GET));
        char want[32];
        snprintf(want, sizeof want, " p=/%d ", i);
        EDDY_CHECK(strstr(r.body, want) != NULL);
        char idx[32];
        snprintf(idx, sizeof idx, " i=%d ", i);
        EDDY_CHECK(strstr(r.body, idx) != NULL);
        hr_free(&r);
    }
    pipelined_writes = ((counting *)x->server_end)->writes;
    return 0;
}

static int pipeline_main(fixture *x)
{
    int rc = 0;
    EDDY_NURSERY(n, &rc) {
        eddy_stream *cs, *ss;
        EDDY_OK(eddy_memstream_pair(&cs, &ss, NULL));
        counting *k = calloc(1, sizeof *k);
        eddy_stream_init(&k->base, &cnt_vt);
        k->inner = ss;
        x->server_end = &k->base;
        x->o.server = &x->srv;
        EDDY_OK(eddy_spawn(n, fixture_main, x));
        hclient c;
        hc_init(&c, cs);
        EDDY_OK(c_pipeline(&c, x));
        hc_fini(&c);
        EDDY_OK(eddy_stream_close(cs));
    }
    return rc;
}

HTTP_TEST(http_pipelining_in_order_few_writes)
{
    fixture x;
    fixture_init(&x, h_info, NULL);
    EDDY_OK(pipeline_main(&x));
    /* ~100 responses of ~190 bytes: a 16 KiB output buffer flushed twice */
    EDDY_CHECK(pipelined_writes >= 1 && pipelined_writes <= 3);
    EDDY_CHECK_EQ(x.srv.stats.requests, 100);
    return 0;
}

/* ---- request bodies ---- */

static char *pattern(size_t n)
{
    char *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++) b[i] = (char)('a' + (i * 7 + i / 251) % 26);
    b[n] = '\0';
    return b;
}

static int c_body_length(hclient *c, fixture *x)
{
    (void)x;
    size_t n = 300000;
    char *body = pattern(n);
    char head[128];
    snprintf(head, sizeof head, "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", n);
    EDDY_OK(hc_send(c, head));
    EDDY_OK(eddy_stream_write_all(c->s, body, n));
    hresp r;
    EDDY_OK(hc_read(c, &r, EDDY_HTTP_POST));
    EDDY_CHECK_EQ(r.status, 200);
    EDDY_CHECK_EQ(r.body_len, n);
    EDDY_CHECK(memcmp(r.body, body, n) == 0);
    hr_free(&r);
    free(body);
    /* the connection goes on */
    EDDY_OK(hc_get(c, "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz", &r));
    EDDY_CHECK(strcmp(r.body, "xyz") == 0);
    hr_free(&r);
    return 0;
}

HTTP_TEST(http_body_content_length)
{
    fixture x;
    fixture_init(&x, h_echo, (void *)(uintptr_t)777);
    x.o.max_body = 1 << 20;
    run(&x, c_body_length, NULL);
    return 0;
}

/* The same through a connection that delivers one byte per read: every head and body state
 * is resumed at every byte. */
static int c_body_bytewise(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    EDDY_OK(hc_get(c, "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world", &r));
    EDDY_CHECK(strcmp(r.body, "hello world") == 0);
    hr_free(&r);
    EDDY_OK(hc_get(c, "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\n", &r));
    EDDY_CHECK(strcmp(r.body, "hello world") == 0);
    hr_free(&r);
    return 0;
}

HTTP_TEST(http_body_bytewise)
{
    fixture x;
    fixture_init(&x, h_echo, (void *)(uintptr_t)3);
    run(&x, c_body_bytewise, &(eddy_memstream_hooks){.max_read = 1});
    return 0;
}

static int c_body_chunked(hclient *c, fixture *x)
{
    (void)x;
    /* 200 chunks of 1000 bytes, extensions and trailers */
    char *body = pattern(200000);
    EDDY_OK(hc_send(c, "PUT /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
    for (int i = 0; i < 200; i++) {
        char sz[32];
        snprintf(sz, sizeof sz, "%x;n=%d\r\n", 1000, i);
        EDDY_OK(hc_send(c, sz));
        EDDY_OK(eddy_stream_write_all(c->s, body + i * 1000, 1000));
        EDDY_OK(hc_send(c, "\r\n"));
    }
    EDDY_OK(hc_send(c, "0\r\nX-Trailer: 1\r\nY: \"q\"\r\n\r\n"));
    hresp r;
    EDDY_OK(hc_read(c, &r, EDDY_HTTP_PUT));
    EDDY_CHECK_EQ(r.body_len, 200000);
    EDDY_CHECK(memcmp(r.body, body, 200000) == 0);
    hr_free(&r);
    free(body);
    hc_expect(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, NULL);
    return 0;
}

HTTP_TEST(http_body_chunked)
{
    fixture x;
    fixture_init(&x, h_echo, (void *)(uintptr_t)4096);
    run(&x, c_body_chunked, NULL);
    return 0;
}

/* A handler that ignores the body: the server reads and drops a small one and goes on. */
static int c_body_unread(hclient *c, fixture *x)
{
    (void)x;
    hc_expect(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n12345", 200, NULL);
    hc_expect(c, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, NULL);
    hc_expect(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, NULL);
    /* a large unread body: answered, then the connection is closed */
    char head[128];
    snprintf(head, sizeof head, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", 200000);
    hc_expect(c, head, 200, NULL);
    return 0;
}

HTTP_TEST(http_body_unread_is_discarded)
{
    fixture x;
    fixture_init(&x, h_hello, NULL);
    run(&x, c_body_unread, NULL);
    return 0;
}

static int c_too_large(hclient *c, fixture *x)
{
    hresp r;
    /* declared too large: 413 before the handler, connection closed */
    EDDY_OK(hc_get(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", &r));
    EDDY_CHECK_EQ(r.status, 413);
    EDDY_CHECK(strcmp(hr_get(&r, "connection"), "close") == 0);
    hr_free(&r);
    EDDY_CHECK(hc_closed(c));
    EDDY_CHECK_EQ(x->srv.stats.requests, 0);
    EDDY_CHECK_EQ(x->srv.stats.rejected, 1);
    return 0;
}

HTTP_TEST(http_body_too_large_declared)
{
    fixture x;
    fixture_init(&x, h_echo, NULL);
    x.o.max_body = 100;
    run(&x, c_too_large, NULL);
    return 0;
}

static int c_too_large_chunked(hclient *c, fixture *x)
{
    (void)x;
    EDDY_OK(hc_send(c, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
    for (int i = 0; i < 3; i++) EDDY_OK(hc_send(c, "40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n"));
    hresp r;
    EDDY_OK(hc_read(c, &r, EDDY_HTTP_POST));
    EDDY_CHECK_EQ(r.status, 413);
    EDDY_CHECK(strcmp(hr_get(&r, "connection"), "close") == 0);
    hr_free(&r);
    EDDY_CHECK_EQ(last_read_rc, -EMSGSIZE);
    return 0;
}

HTTP_TEST(http_body_too_large_chunked)
{
    fixture x;
    fixture_init(&x, h_echo, NULL);
    x.o.max_body = 100;
    run(&x, c_too_large_chunked, NULL);
    EDDY_CHECK_EQ(x.srv.stats.handler_errors, 0); /* the body's fault, not the handler's */
    return 0;
}

static int c_bad_chunk(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    EDDY_OK(hc_get(c, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", &r));
    EDDY_CHECK_EQ(r.status, 400);
    EDDY_CHECK_EQ(last_read_rc, -EBADMSG);
    hr_free(&r);
    EDDY_CHECK(hc_closed(c));
    return 0;
}

HTTP_TEST(http_body_malformed_chunk)
{
    fixture x;
    fixture_init(&x, h_echo, NULL);
    run(&x, c_bad_chunk, NULL);
    return 0;
}

/* A client that closes in the middle of a body: the handler's read fails and it is gone. */
static int c_body_cut(hclient *c, fixture *x)
{
    EDDY_OK(hc_send(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345"));
    EDDY_OK(eddy_stream_shutdown_write(c->s));
    EDDY_CHECK(hc_closed(c));
    while (!x->done) EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
    EDDY_CHECK(last_read_rc == -ECANCELED || last_read_rc == -EPIPE);
    EDDY_CHECK_EQ(x->srv.stats.disconnects, 1);
    return 0;
}

HTTP_TEST(http_body_client_gone)
{
    fixture x;
    fixture_init(&x, h_echo, NULL);
    run(&x, c_body_cut, NULL);
    return 0;
}

/* ---- Expect: 100-continue ---- */

static int c_continue(hclient *c, fixture *x)
{
    (void)x;
    EDDY_OK(hc_send(c, "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
    hresp r;
    EDDY_OK(hc_read(c, &r, EDDY_HTTP_PUT));
    EDDY_CHECK_EQ(r.status, 100);
    hr_free(&r);
    EDDY_OK(hc_send(c, "data"));
    EDDY_OK(hc_read(c, &r, EDDY_HTTP_PUT));
    EDDY_CHECK_EQ(r.status, 200);
    EDDY_CHECK(strcmp(r.body, "data") == 0);
    hr_free(&r);
    /* already sent the body: no 100 needed, none sent */
    hc_expect(c, "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", 200, "ok");
    return 0;
}

HTTP_TEST(http_expect_continue)
{
    fixture x;
    fixture_init(&x, h_echo, NULL);
    run(&x, c_continue, NULL);
    return 0;
}

/* A handler answering without reading: no 100, and the connection closes (the client may or
 * may not send its body). */
static int c_continue_refused(hclient *c, fixture *x)
{
    (void)x;
    EDDY_OK(hc_send(c, "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
    hresp r;
    EDDY_OK(hc_read(c, &r, EDDY_HTTP_PUT));
    EDDY_CHECK_EQ(r.status, 200);
    hr_free(&r);
    EDDY_CHECK(hc_closed(c));
    return 0;
}

HTTP_TEST(http_expect_continue_unread)
{
    fixture x;
    fixture_init(&x, h_hello, NULL);
    run(&x, c_continue_refused, NULL);
    return 0;
}

/* ---- responses ---- */

static int c_stream(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    EDDY_OK(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
    EDDY_CHECK(r.chunked);
    EDDY_CHECK(strcmp(r.body, "onetwosix") == 0);
    hr_free(&r);
    /* HTTP/1.0: no chunking, the body ends with the connection */
    EDDY_OK(hc_get(c, "GET / HTTP/1.0\r\n\r\n", &r));
    EDDY_CHECK(!r.chunked && !hr_get(&r, "content-length"));
    EDDY_CHECK(strcmp(hr_get(&r, "connection"), "close") == 0);
    EDDY_CHECK(strcmp(r.body, "onetwosix") == 0);
    hr_free(&r);
    return 0;
}

HTTP_TEST(http_response_streamed_chunked)
{
    fixture x;
    fixture_init(&x, h_stream, NULL);
    sleep_for = 0;
    run(&x, c_stream, NULL);
    return 0;
}

/* The first piece of a streamed response reaches the client before the handler goes on. */
static int c_stream_early(hclient *c, fixture *x)
{
    (void)x;
    int64_t t0 = eddy_now();
    EDDY_OK(hc_send(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    while (!strstr(c->buf, "one") || c->len < 10) {
        EDDY_CHECK(hc_fill(c) > 0);
        c->buf[c->len] = '\0';
    }
    EDDY_CHECK_EQ(eddy_now() - t0, 0);
    hresp r;
    EDDY_OK(hc_read(c, &r, EDDY_HTTP_GET));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5));
    EDDY_CHECK_EQ(r.body_len, 9);
    EDDY_CHECK(strcmp(hr_get(&r, "content-length"), "9") == 0);
    hr_free(&r);
    return 0;
}

HTTP_TEST(http_response_streamed_length)
{
    fixture x;
    fixture_init(&x, h_stream, (void *)1);
    sleep_for = EDDY_SEC(5);
    run(&x, c_stream_early, NULL);
    sleep_for = 0;
    return 0;
}

static int c_500(hclient *c, fixture *x)
{
    hc_expect(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 500, NULL);
    EDDY_CHECK_EQ(x->srv.stats.handler_errors, 1);
    return 0;
}

HTTP_TEST(http_handler_without_response_gets_500)
{
    fixture x;
    fixture_init(&x, h_none, NULL);
    run(&x, c_500, NULL);
    EDDY_CHECK_EQ(x.srv.stats.last_handler_error, -EPROTO);
    fixture_init(&x, h_none, (void *)(intptr_t)-EIO);
    run(&x, c_500, NULL);
    EDDY_CHECK_EQ(x.srv.stats.last_handler_error, -EIO);
    return 0;
}

static int h_api(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    EDDY_CHECK_EQ(eddy_http_response_header(res, "X-Bad", "a\r\nInjected: 1"), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_header(res, "X-Bad", "a\nb"), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_header(res, "X-Bad", "a\x01"), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_header(res, "Bad Name", "v"), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_header(res, "", "v"), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_header(res, "Content-Length", "5"), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_header(res, "transfer-encoding", "chunked"), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_header(NULL, "A", "v"), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_header(res, NULL, "v"), -EINVAL);
    char big[EDDY_HTTP_RESPONSE_HEADERS_MAX];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    EDDY_CHECK_EQ(eddy_http_response_header(res, "X-Big", big), -ENOBUFS);
    EDDY_OK(eddy_http_response_header(res, "X-Ok", "a\tb c"));
    EDDY_OK(eddy_http_response_header(res, "Date", "Thu, 01 Jan 1970 00:00:00 GMT"));
    EDDY_CHECK_EQ(eddy_http_response_send(res, 99, NULL, NULL, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_send(res, 100, NULL, NULL, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_send(res, 600, NULL, NULL, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_send(res, 204, NULL, "x", 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_send(res, 200, NULL, NULL, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_end(res), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_sendfile(res, 0, 0, 1), -EINVAL);
    EDDY_CHECK(!eddy_http_response_started(res));
    EDDY_CHECK_EQ(eddy_http_response_start(res, 200, -2), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_start(res, 304, 1), -EINVAL);
    EDDY_OK(eddy_http_response_start(res, 200, 4));
    EDDY_CHECK(eddy_http_response_started(res));
    EDDY_CHECK_EQ(eddy_http_response_start(res, 200, 4), -EALREADY);
    EDDY_CHECK_EQ(eddy_http_response_send(res, 200, NULL, NULL, 0), -EALREADY);
    EDDY_CHECK_EQ(eddy_http_response_header(res, "X-Late", "v"), -EALREADY);
    EDDY_CHECK_EQ(eddy_http_response_write(res, "12345", 5), -EMSGSIZE);
    EDDY_OK(eddy_http_response_write(res, "12", 2));
    EDDY_OK(eddy_http_response_write(res, "", 0));
    EDDY_OK(eddy_http_response_write(res, "34", 2));
    EDDY_OK(eddy_http_response_end(res));
    EDDY_OK(eddy_http_response_end(res));
    EDDY_CHECK_EQ(eddy_http_response_write(res, "5", 1), -EALREADY);
    return 0;
}

static int c_api(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    EDDY_OK(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
    EDDY_CHECK_EQ(r.status, 200);
    EDDY_CHECK(strcmp(r.body, "1234") == 0);
    EDDY_CHECK(strcmp(hr_get(&r, "x-ok"), "a\tb c") == 0);
    EDDY_CHECK(strcmp(hr_get(&r, "date"), "Thu, 01 Jan 1970 00:00:00 GMT") == 0);
    EDDY_CHECK(!hr_get(&r, "x-bad") && !hr_get(&r, "x-late"));
    hr_free(&r);
    return 0;
}

HTTP_TEST(http_response_api_errors)
{
    fixture x;
    fixture_init(&x, h_api, NULL);
    run(&x, c_api, NULL);
    return 0;
}

/* A response cut short (fewer bytes than its Content-Length): the connection is closed. */
static int h_short(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    EDDY_OK(eddy_http_response_start(res, 200, 10));
    EDDY_OK(eddy_http_response_write(res, "abc", 3));
    return 0;
}

static int c_short(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    EDDY_CHECK_EQ(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r), -EPIPE);
    return 0;
}

HTTP_TEST(http_response_short_closes)
{
    fixture x;
    fixture_init(&x, h_short, NULL);
    run(&x, c_short, NULL);
    return 0;
}

/* The exchange as a stream: a buffered reader over the body, writes as the response. */
static int h_streamio(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)res;
    (void)arg;
    eddy_stream *s = eddy_http_request_stream(req);
    EDDY_CHECK(s && strcmp(eddy_stream_kind(s), "http") == 0);
    EDDY_CHECK(eddy_http_request_stream(req) == s);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, s, NULL, 64));
    eddy_span line;
    int lines = 0;
    while (eddy_read_line(&br, 0, 0, &line) > 0) {
        char out[80];
        int n = snprintf(out, sizeof out, "%d:%.*s\n", ++lines, (int)line.len, (const char *)line.data);
        EDDY_OK(eddy_stream_write_all(s, out, (size_t)n));
    }
    eddy_bufreader_destroy(&br);
    return eddy_stream_shutdown_write(s);
}

static int c_streamio(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    EDDY_OK(hc_get(c, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "4\r\nab\nc\r\n4\r\nd\ne\n\r\n0\r\n\r\n", &r));
    EDDY_CHECK(r.chunked);
    EDDY_CHECK(strcmp(r.body, "1:ab\n2:cd\n3:e\n") == 0);
    hr_free(&r);
    return 0;
}

HTTP_TEST(http_exchange_stream)
{
    fixture x;
    fixture_init(&x, h_streamio, NULL);
    run(&x, c_streamio, NULL);
    return 0;
}

/* ---- rejections: answered, counted, connection closed ---- */

typedef struct rej {
    const char *req;
    int status;
} rej;

static const rej *rej_case;

static int c_reject(hclient *c, fixture *x)
{
    hresp r;
    EDDY_OK(hc_get(c, rej_case->req, &r));
    if (r.status != rej_case->status) fprintf(stderr, "%s: %d\n", rej_case->req, r.status);
    EDDY_CHECK_EQ(r.status, rej_case->status);
    EDDY_CHECK(strcmp(hr_get(&r, "connection"), "close") == 0);
    EDDY_CHECK(strcmp(r.body, eddy_http_reason(rej_case->status)) > 0);
    hr_free(&r);
    EDDY_CHECK(hc_closed(c));
    EDDY_CHECK_EQ(x->srv.stats.requests, 0);
    EDDY_CHECK_EQ(x->srv.stats.rejected, 1);
    return 0;
}

HTTP_TEST(http_rejections_close)
{
    static char longline[200], manyfields[600], bighead[400];
    snprintf(longline, sizeof longline, "GET /%0120d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    char *p = manyfields + sprintf(manyfields, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 12; i++) p += sprintf(p, "X-%d: v\r\n", i);
    strcpy(p, "\r\n");
    snprintf(bighead, sizeof bighead, "GET / HTTP/1.1\r\nHost: a\r\nX: %0280d\r\n\r\n", 0);
    static const rej cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\nx", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nHost: a\r\nExpect: nothing\r\n\r\n", 417},
        {"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400},
        {NULL, 0},
    };
    const rej limits[] = {{longline, 414}, {manyfields, 431}, {bighead, 431}, {NULL, 0}};
    for (int set = 0; set < 2; set++) {
        for (const rej *k = set ? limits : cases; k->req; k++) {
            fixture x;
            fixture_init(&x, h_hello, NULL);
            x.o.max_request_line = 100;
            x.o.max_header_bytes = 300;
            x.o.max_headers = 10;
            rej_case = k;
            run(&x, c_reject, NULL);
        }
    }
    return 0;
}

/* ---- timeouts (virtual clock: exact) ---- */

static int c_request_timeout(hclient *c, fixture *x)
{
    int64_t t0 = eddy_now();
    hresp r;
    EDDY_OK(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(3));
    EDDY_CHECK_EQ(r.status, 503);
    EDDY_CHECK(strcmp(hr_get(&r, "connection"), "close") == 0);
    hr_free(&r);
    EDDY_CHECK(hc_closed(c));
    EDDY_CHECK_EQ(sleep_rc, -ECANCELED);
    EDDY_CHECK_EQ(x->srv.stats.timeouts, 1);
    return 0;
}

HTTP_TEST(http_request_timeout_503)
{
    fixture x;
    fixture_init(&x, h_sleep, NULL);
    x.o.request_timeout = EDDY_SEC(3);
    sleep_for = EDDY_SEC(10);
    run(&x, c_request_timeout, NULL);
    return 0;
}

static int c_body_timeout(hclient *c, fixture *x)
{
    (void)x;
    int64_t t0 = eddy_now();
    hresp r;
    EDDY_OK(hc_get(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", &r));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(3));
    EDDY_CHECK_EQ(r.status, 408);
    hr_free(&r);
    EDDY_CHECK(hc_closed(c));
    return 0;
}

HTTP_TEST(http_request_timeout_waiting_body_408)
{
    fixture x;
    fixture_init(&x, h_echo, NULL);
    x.o.request_timeout = EDDY_SEC(3);
    run(&x, c_body_timeout, NULL);
    return 0;
}

/* Slowloris: a head that never completes gets 408 header_timeout after its first byte. */
static int c_slow_head(hclient *c, fixture *x)
{
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    int64_t t0 = eddy_now();
    EDDY_OK(hc_send(c, "GET / HTTP/1.1\r\n"));
    for (int i = 0; i < 4; i++) {
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_OK(hc_send(c, "X: y\r\n")); /* trickling does not extend it */
    }
    hresp r;
    EDDY_OK(hc_read(c, &r, EDDY_HTTP_GET));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5));
    EDDY_CHECK_EQ(r.status, 408);
    hr_free(&r);
    EDDY_CHECK(hc_closed(c));
    EDDY_CHECK_EQ(x->srv.stats.timeouts, 1);
    EDDY_CHECK_EQ(x->srv.stats.requests, 0);
    return 0;
}

HTTP_TEST(http_header_timeout_408)
{
    fixture x;
    fixture_init(&x, h_hello, NULL);
    x.o.header_timeout = EDDY_SEC(5);
    run(&x, c_slow_head, NULL);
    return 0;
}

/* Idle: a new connection must start its request within header_timeout; after a response the
 * next one within idle_timeout; otherwise the server closes without a word. */
static int c_idle(hclient *c, fixture *x)
{
    int64_t t0 = eddy_now();
    EDDY_CHECK(hc_closed(c));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5));
    EDDY_CHECK_EQ(x->ended_at - t0, EDDY_SEC(5));
    EDDY_CHECK_EQ(x->srv.stats.timeouts, 0);
    return 0;
}

static int c_idle_after(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    EDDY_OK(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
    hr_free(&r);
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_sleep(EDDY_SEC(6))); /* shorter than idle: still open */
    EDDY_OK(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
    hr_free(&r);
    t0 = eddy_now();
    EDDY_CHECK(hc_closed(c));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(7));
    return 0;
}

HTTP_TEST(http_idle_timeouts)
{
    fixture x;
    fixture_init(&x, h_hello, NULL);
    x.o.header_timeout = EDDY_SEC(5);
    x.o.idle_timeout = EDDY_SEC(7);
    run(&x, c_idle, NULL);
    fixture_init(&x, h_hello, NULL);
    x.o.header_timeout = EDDY_SEC(5);
    x.o.idle_timeout = EDDY_SEC(7);
    run(&x, c_idle_after, NULL);
    return 0;
}

/* A client that goes away cancels its handler. */
static int c_gone(hclient *c, fixture *x)
{
    EDDY_OK(hc_send(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    EDDY_OK(eddy_sleep(EDDY_SEC(2)));
    int64_t t0 = eddy_now();
    eddy_stream_abort(c->s);
    c->s = NULL;
    while (!x->done) EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
    EDDY_CHECK_EQ(x->ended_at - t0, 0); /* at once, not after the handler's hour */
    EDDY_CHECK_EQ(sleep_rc, -ECANCELED);
    EDDY_CHECK_EQ(x->srv.stats.disconnects, 1);
    EDDY_CHECK_EQ(x->srv.stats.timeouts, 0);
    return 0;
}

HTTP_TEST(http_client_disconnect_cancels_handler)
{
    fixture x;
    fixture_init(&x, h_sleep, NULL);
    sleep_for = EDDY_SEC(3600);
    run(&x, c_gone, NULL);
    return 0;
}

/* ---- shutdown ---- */

static int c_shutdown_idle(hclient *c, fixture *x)
{
    hresp r;
    EDDY_OK(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
    hr_free(&r);
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_http_server_shutdown(&x->srv));
    EDDY_OK(eddy_http_server_shutdown(&x->srv)); /* idempotent */
    EDDY_CHECK(hc_closed(c));
    EDDY_CHECK_EQ(eddy_now() - t0, 0);
    return 0;
}

static int c_shutdown_busy(hclient *c, fixture *x)
{
    EDDY_OK(hc_send(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    EDDY_OK(eddy_http_server_shutdown(&x->srv));
    hresp r;
    EDDY_OK(hc_read(c, &r, EDDY_HTTP_GET));
    EDDY_CHECK_EQ(r.status, 200); /* finished, and told the connection ends */
    EDDY_CHECK(strcmp(r.body, "late") == 0);
    EDDY_CHECK(strcmp(hr_get(&r, "connection"), "close") == 0);
    hr_free(&r);
    EDDY_CHECK(hc_closed(c));
    return 0;
}

HTTP_TEST(http_shutdown_closes_idle_finishes_busy)
{
    fixture x;
    fixture_init(&x, h_hello, NULL);
    run(&x, c_shutdown_idle, NULL);
    EDDY_CHECK_EQ(eddy_http_server_shutdown(&x.srv), -ESRCH);
    fixture_init(&x, h_sleep, NULL);
    sleep_for = EDDY_SEC(5);
    run(&x, c_shutdown_busy, NULL);
    return 0;
}

/* ---- argument checks ---- */

HTTP_TEST(http_serve_argument_errors)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
    EDDY_CHECK_EQ(eddy_http_serve_stream(NULL, h_hello, NULL, &o), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_serve_stream(b, NULL, NULL, &o), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_serve(NULL, h_hello, NULL, &o), -EINVAL);
    o.idle_timeout = -1;
    EDDY_CHECK_EQ(eddy_http_serve_stream(b, h_hello, NULL, &o), -EINVAL);
    o = (eddy_http_serve_opts)EDDY_HTTP_SERVE_OPTS_INIT;
    o.max_request_line = 8;
    EDDY_CHECK_EQ(eddy_http_serve_stream(b, h_hello, NULL, &o), -EINVAL);
    o = (eddy_http_serve_opts)EDDY_HTTP_SERVE_OPTS_INIT;
    o.max_request_line = o.max_header_bytes + 1;
    EDDY_CHECK_EQ(eddy_http_serve_stream(b, h_hello, NULL, &o), -EINVAL);
    o = (eddy_http_serve_opts)EDDY_HTTP_SERVE_OPTS_INIT;
    o.server_name = "bad\r\nname";
    EDDY_CHECK_EQ(eddy_http_serve_stream(b, h_hello, NULL, &o), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_server_shutdown(NULL), -EINVAL);
    eddy_http_server zero = {0};
    EDDY_CHECK_EQ(eddy_http_server_shutdown(&zero), -ESRCH);
    struct eddy_http_server_stats st;
    eddy_http_server_stats(NULL, &st);
    EDDY_CHECK_EQ(st.requests, 0);
    EDDY_CHECK_EQ(eddy_http_request_read(NULL, NULL, 0), -EINVAL);
    EDDY_CHECK(eddy_http_request_stream(NULL) == NULL);
    EDDY_CHECK_EQ(eddy_http_response_write(NULL, "", 0), -EINVAL);
    EDDY_CHECK(!eddy_http_response_started(NULL));
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

/* Literal zeros: a zero-filled options struct is not the defaults (a 0 request timeout
 * expires at once; a synchronous handler still answers). */
static int c_zero_timeout(hclient *c, fixture *x)
{
    (void)x;
    hc_expect(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, NULL);
    return 0;
}

static int c_zero_sleep(hclient *c, fixture *x)
{
    (void)x;
    int64_t t0 = eddy_now();
    hresp r;
    EDDY_OK(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r));
    EDDY_CHECK_EQ(r.status, 503);
    EDDY_CHECK_EQ(eddy_now() - t0, 0);
    hr_free(&r);
    return 0;
}

HTTP_TEST(http_zero_request_timeout)
{
    fixture x;
    fixture_init(&x, h_hello, NULL);
    x.o.request_timeout = 0;
    run(&x, c_zero_timeout, NULL);
    EDDY_CHECK_EQ(x.srv.stats.timeouts, 0);
    fixture_init(&x, h_sleep, NULL);
    x.o.request_timeout = 0;
    sleep_for = EDDY_SEC(1);
    run(&x, c_zero_sleep, NULL);
    return 0;
}

/* ---- more error paths ---- */

/* eddy_http_response_sendfile: beyond the declared length, a negative offset, a file shorter
 * than promised (what it had goes out, then the connection closes). */
static int h_sendfile(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    char path[] = "/tmp/eddy-sf-XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    unlink(path);
    EDDY_CHECK(write(fd, "0123456789", 10) == 10);
    EDDY_OK(eddy_http_response_start(res, 200, 5));
    EDDY_CHECK_EQ(eddy_http_response_sendfile(res, fd, 0, 6), -EMSGSIZE);
    EDDY_CHECK_EQ(eddy_http_response_sendfile(res, fd, -1, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_sendfile(NULL, fd, 0, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_response_sendfile(res, fd, 8, 5), -EPIPE); /* 2 bytes there */
    close(fd);
    return 0;
}

static int c_sendfile(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    EDDY_CHECK_EQ(hc_get(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r), -EPIPE); /* "89", then EOF */
    return 0;
}

HTTP_TEST(http_response_sendfile_errors)
{
    fixture x;
    fixture_init(&x, h_sendfile, NULL);
    run(&x, c_sendfile, NULL);
    return 0;
}

/* One body reader at a time: a second task reading the same body gets -EBUSY. */
static int first_rc, second_rc;
static char first_buf[16];

static int first_reader(void *arg)
{
    first_rc = (int)eddy_http_request_read(arg, first_buf, sizeof first_buf);
    return 0;
}

static int h_two_readers(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    char b[4];
    int rc = 0;
    EDDY_NURSERY(nn, &rc) {
        /* spawning is eager: the child is the reader, waiting for the body, when this reads */
        EDDY_OK(eddy_spawn(nn, first_reader, req));
        second_rc = (int)eddy_http_request_read(req, b, sizeof b);
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(first_rc, 4);
    return eddy_http_response_send(res, 200, NULL, first_buf, (size_t)first_rc);
}

static int c_two_readers(hclient *c, fixture *x)
{
    (void)x;
    EDDY_OK(hc_send(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n"));
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    EDDY_OK(hc_send(c, "body"));
    hresp r;
    EDDY_OK(hc_read(c, &r, EDDY_HTTP_POST));
    EDDY_CHECK(r.status == 200 && strcmp(r.body, "body") == 0);
    hr_free(&r);
    return 0;
}

HTTP_TEST(http_request_read_one_reader)
{
    fixture x;
    fixture_init(&x, h_two_readers, NULL);
    run(&x, c_two_readers, NULL);
    EDDY_CHECK_EQ(second_rc, -EBUSY);
    EDDY_CHECK(strcmp(eddy_http_reason(200), "OK") == 0);
    EDDY_CHECK(strcmp(eddy_http_reason(431), "Request Header Fields Too Large") == 0);
    EDDY_CHECK(strcmp(eddy_http_reason(299), "") == 0);
    return 0;
}
