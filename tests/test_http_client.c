/* The HTTP client (W1) against fake servers on memory streams, on the virtual clock: requests
 * and responses, body framings, keep-alive and the pool's limits, idle expiry, resending on a
 * closed pooled connection, every phase time limit, cancellation, malformed answers, argument
 * errors, and URLs. Redirects, decoding, proxies and TLS: test_http_client_more.c; real nginx:
 * test_http_client_nginx.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "eddy/test.h"
#include "http/client.h"
#include "http_client_util.h"

/* ---- handlers of eddy's own server ---- */

static int hello(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    if (eddy_http_str_ieq(req->path, "/404")) return eddy_http_response_send(res, 404, "text/plain", "no\n", 3);
    return eddy_http_response_send(res, 200, "text/plain", "Hello, World!\n", 14);
}

/* Echo: method, target, the fields the test asks about, and the body. */
static int echo(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    static char out[1 << 20];
    int n = snprintf(out, sizeof out, "%.*s %.*s\n", (int)req->method.len, req->method.ptr,
                     (int)req->target.len, req->target.ptr);
    for (size_t i = 0; i < req->nfields; i++)
        n += snprintf(out + n, sizeof out - (size_t)n, "%.*s: %.*s\n", (int)req->fields[i].name.len,
                      req->fields[i].name.ptr, (int)req->fields[i].value.len, req->fields[i].value.ptr);
    n += snprintf(out + n, sizeof out - (size_t)n, "\n");
    for (;;) {
        ssize_t k = eddy_http_request_read(req, out + n, sizeof out - (size_t)n);
        if (k < 0) return (int)k;
        if (k == 0) break;
        n += (int)k;
    }
    return eddy_http_response_send(res, 200, "text/plain", out, (size_t)n);
}

/* A chunked body in pieces of 1, 2, ... 40 bytes of 'a'+i. */
static int chunked(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    int rc = eddy_http_response_start(res, 200, EDDY_HTTP_CHUNKED);
    char piece[64];
    for (int i = 1; rc == 0 && i <= 40; i++) {
        memset(piece, 'a' + i % 26, (size_t)i);
        rc = eddy_http_response_write(res, piece, (size_t)i);
    }
    return rc ? rc : eddy_http_response_end(res);
}

/* A body of arg bytes (size_t *), byte i = i * 7 % 251. */
static int big(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    size_t len = *(size_t *)arg;
    int rc = eddy_http_response_start(res, 200, (int64_t)len);
    char piece[8192];
    for (size_t off = 0; rc == 0 && off < len;) {
        size_t n = len - off < sizeof piece ? len - off : sizeof piece;
        for (size_t i = 0; i < n; i++) piece[i] = (char)((off + i) * 7 % 251);
        rc = eddy_http_response_write(res, piece, n);
        off += n;
    }
    return rc ? rc : eddy_http_response_end(res);
}

/* Answers after sleeping arg (int64_t *) ns. */
__attribute__((unused)) static int slow(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    int rc = eddy_sleep(*(int64_t *)arg);
    if (rc < 0) return rc;
    return eddy_http_response_send(res, 200, "text/plain", "slow\n", 5);
}

/* ---- basics ---- */

HC_TEST(get_returns_status_fields_and_body)
{
    world w = {.handler = hello};
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        w.n = n;
        eddy_http_client_opts o = world_opts(&w);
        eddy_http_client *c;
        EDDY_OK(eddy_http_client_open(&o, &c));
        eddy_http_client_response *r;
        EDDY_OK(eddy_http_client_get(c, "http://example.test/", &r));
        EDDY_CHECK_EQ(r->status, 200);
        EDDY_CHECK_EQ(r->version, 11);
        EDDY_CHECK(eddy_http_str_ieq(r->reason, "OK"));
        EDDY_CHECK_EQ(r->content_length, 14);
        EDDY_CHECK(!r->reused && !r->decoded && r->keep_alive);
        EDDY_CHECK_EQ(r->redirects, 0);
        EDDY_CHECK(!strcmp(r->url, "http://example.test/"));
        EDDY_CHECK(!strcmp(eddy_stream_kind(r->body), "http-body"));
        eddy_http_str ct = eddy_http_client_response_header(r, "content-type");
        EDDY_CHECK(eddy_http_str_ieq(ct, "text/plain"));
        EDDY_CHECK(eddy_http_client_response_header(r, "X-None").ptr == NULL);
        char buf[64];
        size_t len;
        EDDY_OK(eddy_http_client_response_read_all(r, buf, sizeof buf, &len));
        EDDY_CHECK_EQ(len, 14);
        EDDY_CHECK(!memcmp(buf, "Hello, World!\n", 14));
        EDDY_CHECK_EQ(eddy_stream_read(r->body, buf, sizeof buf), 0); /* stays at the end */
        eddy_http_client_response_close(r);
        EDDY_CHECK(!strcmp(w.host, "example.test"));
        EDDY_CHECK_EQ(w.port, 80);
        struct eddy_http_client_stats st;
        eddy_http_client_stats(c, &st);
        EDDY_CHECK_EQ(st.requests, 1);
        EDDY_CHECK_EQ(st.connections, 1);
        EDDY_CHECK_EQ(st.open, 1);
        EDDY_CHECK_EQ(st.idle, 1);
        EDDY_OK(eddy_http_client_close(c));
    }
    EDDY_OK(nrc);
    return 0;
}

HC_TEST(keep_alive_reuses_one_connection)
{
    world w = {.handler = hello};
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        w.n = n;
        eddy_http_client_opts o = world_opts(&w);
        eddy_http_client *c;
        EDDY_OK(eddy_http_client_open(&o, &c));
        for (int i = 0; i < 5; i++) {
            char buf[64];
            size_t len;
            int status;
            EDDY_OK(eddy_http_client_fetch(c, &(eddy_http_client_request){.url = "http://h:8080/"}, buf,
                                           sizeof buf, &len, &status));
            EDDY_CHECK_EQ(status, 200);
            EDDY_CHECK_EQ(len, 14);
        }
        eddy_http_client_response *r;
        EDDY_OK(eddy_http_client_get(c, "http://h:8080/404", &r));
        EDDY_CHECK_EQ(r->status, 404);
        EDDY_CHECK(r->reused);
        eddy_http_client_response_close(r);
        EDDY_CHECK_EQ(w.connects, 1);
        EDDY_CHECK_EQ(w.port, 8080);
        struct eddy_http_client_stats st;
        eddy_http_client_stats(c, &st);
        EDDY_CHECK_EQ(st.requests, 6);
        EDDY_CHECK_EQ(st.reused, 5);
        EDDY_CHECK_EQ(st.connections, 1);
        EDDY_OK(eddy_http_client_close(c));
    }
    EDDY_OK(nrc);
    return 0;
}


/* Run body(c, w) with a client into a world of servers; then close the client and stop the
 * servers. */
#define WITH_CLIENT(wp, optsp, c)                                                             \
    for (int nrc_ = 0, once_ = 1; once_; once_ = 0, check_ok(nrc_))                           \
        EDDY_NURSERY(n_, &nrc_)                                                               \
    for (eddy_http_client *c = ((wp)->n = n_, open_client(optsp)); c; c = client_done(c, n_))

static eddy_http_client *open_client(const eddy_http_client_opts *o)
{
    eddy_http_client *c;
    EDDY_OK(eddy_http_client_open(o, &c));
    return c;
}

static eddy_http_client *client_done(eddy_http_client *c, eddy_nursery *n)
{
    EDDY_OK(eddy_http_client_close(c));
    eddy_nursery_cancel(n);
    return NULL;
}

static void check_ok(int rc) { EDDY_OK(rc); }

static char *get_text(eddy_http_client *c, const char *url, int *status)
{
    eddy_http_client_response *r;
    EDDY_OK(eddy_http_client_get(c, url, &r));
    *status = r->status;
    int err;
    char *b = read_body(r, NULL, &err);
    EDDY_OK(err);
    eddy_http_client_response_close(r);
    return b;
}

HC_TEST(request_head_fields_and_bodies)
{
    world w = {.handler = echo};
    eddy_http_client_opts o = world_opts(&w);
    WITH_CLIENT(&w, &o, c) {
        /* GET: Host, User-Agent, Accept-Encoding; no Content-Length */
        int st;
        char *b = get_text(c, "http://Example.TEST:81/a/b?x=1#frag", &st);
        EDDY_CHECK_EQ(st, 200);
        EDDY_CHECK(strstr(b, "GET /a/b?x=1\n") == b);
        EDDY_CHECK(strstr(b, "\nHost: example.test:81\n"));
        EDDY_CHECK(strstr(b, "\nUser-Agent: eddy\n"));
        EDDY_CHECK(strstr(b, "\nAccept-Encoding: gzip, deflate\n") || !EDDY_TEST_HAS_ZLIB);
        EDDY_CHECK(!strstr(b, "Content-Length"));
        free(b);
        /* POST with a memory body; the caller's fields replace the client's */
        eddy_http_client_response *r;
        const char *hdrs[] = {"User-Agent", "mine/1", "X-Two", "a b", "Host", "other", NULL};
        EDDY_OK(eddy_http_client_send(c, &(eddy_http_client_request){
            .method = "POST", .url = "http://example.test/p", .headers = hdrs,
            .body = "hello body", .body_len = 10}, &r));
        int err;
        b = read_body(r, NULL, &err);
        EDDY_OK(err);
        eddy_http_client_response_close(r);
        EDDY_CHECK(strstr(b, "POST /p\n") == b);
        EDDY_CHECK(strstr(b, "\nUser-Agent: mine/1\n") && !strstr(b, "User-Agent: eddy"));
        EDDY_CHECK(strstr(b, "\nHost: other\n") && !strstr(b, "example.test"));
        EDDY_CHECK(strstr(b, "\nX-Two: a b\n"));
        EDDY_CHECK(strstr(b, "\nContent-Length: 10\n"));
        EDDY_CHECK(!strcmp(strstr(b, "\n\n") + 2, "hello body"));
        free(b);
        /* POST without a body: Content-Length: 0 */
        EDDY_OK(eddy_http_client_send(c, &(eddy_http_client_request){.method = "POST", .url = "http://example.test/"}, &r));
        b = read_body(r, NULL, &err);
        eddy_http_client_response_close(r);
        EDDY_CHECK(strstr(b, "\nContent-Length: 0\n"));
        free(b);
        /* a body from a stream of known length, and one sent chunked */
        for (int chunk = 0; chunk < 2; chunk++) {
            eddy_stream *wr, *rd;
            EDDY_OK(eddy_memstream_pair(&wr, &rd, NULL));
            char data[20000];
            for (size_t i = 0; i < sizeof data; i++) data[i] = (char)('A' + i % 26);
            EDDY_OK(eddy_stream_write_all(wr, data, sizeof data));
            EDDY_OK(eddy_stream_close(wr));
            EDDY_OK(eddy_http_client_send(c, &(eddy_http_client_request){
                .method = "PUT", .url = "http://example.test/up", .body_stream = rd,
                .body_stream_len = chunk ? -1 : (int64_t)sizeof data}, &r));
            size_t len;
            b = read_body(r, &len, &err);
            EDDY_OK(err);
            eddy_http_client_response_close(r);
            EDDY_CHECK(strstr(b, chunk ? "\nTransfer-Encoding: chunked\n" : "\nContent-Length: 20000\n"));
            char *body = strstr(b, "\n\n") + 2;
            EDDY_CHECK_EQ(len - (size_t)(body - b), sizeof data);
            EDDY_CHECK(!memcmp(body, data, sizeof data));
            free(b);
            EDDY_OK(eddy_stream_close(rd));
        }
        /* Basic credentials from the URL */
        b = get_text(c, "http://user:p%40ss@example.test/", &st);
        EDDY_CHECK(strstr(b, "\nAuthorization: Basic dXNlcjpwQHNz\n")); /* user:p@ss */
        free(b);
        EDDY_CHECK_EQ(w.connects, 2); /* :81 is an origin of its own */
    }
    return 0;
}

HC_TEST(chunked_and_large_bodies_stream_through)
{
    static size_t size = 3 * 1000 * 1000 + 7;
    world w = {.handler = chunked};
    w.hooks.max_read = 1000; /* the network delivers odd pieces */
    eddy_http_client_opts o = world_opts(&w);
    WITH_CLIENT(&w, &o, c) {
        int st;
        char *b = get_text(c, "http://h/", &st);
        EDDY_CHECK_EQ(strlen(b), 40 * 41 / 2);
        for (int i = 1, off = 0; i <= 40; off += i, i++)
            for (int k = 0; k < i; k++) EDDY_CHECK_EQ(b[off + k], 'a' + i % 26);
        free(b);
        eddy_http_client_response *r;
        EDDY_OK(eddy_http_client_get(c, "http://h/", &r));
        EDDY_CHECK_EQ(r->content_length, -1);
        /* byte by byte */
        char ch;
        size_t total = 0;
        ssize_t k;
        while ((k = eddy_stream_read(r->body, &ch, 1)) == 1) total++;
        EDDY_CHECK_EQ(k, 0);
        EDDY_CHECK_EQ(total, 820);
        eddy_http_client_response_close(r);
        EDDY_CHECK_EQ(w.connects, 1);
    }
    world w2 = {.handler = big, .harg = &size};
    w2.hooks.max_read = 3000;
    o = world_opts(&w2);
    WITH_CLIENT(&w2, &o, c) {
        for (int round = 0; round < 2; round++) {
            eddy_http_client_response *r;
            EDDY_OK(eddy_http_client_get(c, "http://h/", &r));
            EDDY_CHECK_EQ(r->content_length, (int64_t)size);
            /* small reads through the buffer, then large ones straight into ours */
            static char buf[1 << 16];
            size_t off = 0;
            for (;;) {
                size_t want = round == 0 ? 100 : sizeof buf;
                ssize_t k = eddy_stream_read(r->body, buf, want);
                EDDY_CHECK(k >= 0);
                if (k == 0) break;
                for (ssize_t i = 0; i < k; i++) EDDY_CHECK_EQ((unsigned char)buf[i], (off + (size_t)i) * 7 % 251);
                off += (size_t)k;
            }
            EDDY_CHECK_EQ(off, size);
            eddy_http_client_response_close(r);
        }
        EDDY_CHECK_EQ(w2.connects, 1);
    }
    return 0;
}

/* Raw: a response delimited by the end of the connection, then (next connection) HEAD and
 * 204 without bodies. */
static int raw_close_delimited(eddy_stream *s, void *arg)
{
    (void)arg;
    raw_req *r = malloc(sizeof *r);
    r->len = r->used = 0;
    int rc = raw_read_request(s, r);
    if (rc > 0) {
        if (r->m.method_id == EDDY_HTTP_HEAD)
            rc = raw_write(s, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        else if (strncmp(r->m.target.ptr, "/204", 4) == 0)
            rc = raw_write(s, "HTTP/1.1 204 No Content\r\n\r\n");
        else
            rc = raw_write(s, "HTTP/1.0 200 OK\r\n\r\nuntil the end");
    }
    free(r);
    return rc;
}

HC_TEST(close_delimited_head_and_204)
{
    world w = {.raw = raw_close_delimited};
    eddy_http_client_opts o = world_opts(&w);
    WITH_CLIENT(&w, &o, c) {
        int st;
        char *b = get_text(c, "http://h/", &st);
        EDDY_CHECK(!strcmp(b, "until the end"));
        free(b);
        eddy_http_client_response *r;
        EDDY_OK(eddy_http_client_send(c, &(eddy_http_client_request){.method = "HEAD", .url = "http://h/"}, &r));
        EDDY_CHECK_EQ(r->status, 200);
        EDDY_CHECK_EQ(r->content_length, 0);
        char buf[8];
        EDDY_CHECK_EQ(eddy_stream_read(r->body, buf, sizeof buf), 0);
        eddy_http_client_response_close(r);
        EDDY_OK(eddy_http_client_get(c, "http://h/204", &r));
        EDDY_CHECK_EQ(r->status, 204);
        EDDY_CHECK_EQ(eddy_stream_read(r->body, buf, sizeof buf), 0);
        eddy_http_client_response_close(r);
        /* the raw server serves one request per connection; each is noticed as closed */
        EDDY_CHECK_EQ(w.connects, 3);
    }
    return 0;
}
