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
    world w = {.handler = echo_handler};
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
        /* "Connection: close" from the caller: the connection is not kept */
        const char *close_hdr[] = {"Connection", "close", NULL};
        EDDY_OK(eddy_http_client_send(c, &(eddy_http_client_request){.url = "http://example.test/", .headers = close_hdr}, &r));
        EDDY_CHECK(!r->keep_alive);
        free(read_body(r, NULL, &err));
        eddy_http_client_response_close(r);
        struct eddy_http_client_stats cs;
        eddy_http_client_stats(c, &cs);
        EDDY_CHECK_EQ(cs.idle, 1); /* the :81 one only */
        /* Basic credentials from the URL */
        b = get_text(c, "http://user:p%40ss@example.test/", &st);
        EDDY_CHECK(strstr(b, "\nAuthorization: Basic dXNlcjpwQHNz\n")); /* user:p@ss */
        free(b);
        EDDY_CHECK_EQ(w.connects, 3); /* :81 is an origin of its own; one was closed */
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

/* ---- the pool ---- */

typedef struct fetcher {
    eddy_http_client *c;
    const char *url;
    int status;
    int rc;
    int64_t done_at;
} fetcher;

static int fetch_task(void *p)
{
    fetcher *f = p;
    char buf[64];
    size_t len;
    f->rc = eddy_http_client_fetch(f->c, &(eddy_http_client_request){.url = f->url}, buf, sizeof buf,
                                   &len, &f->status);
    f->done_at = eddy_now();
    return 0;
}

/* Five requests at once with max_conns 2: two connections, served in turn (first come, first
 * served), each answer taking 1 s. */
/* n requests at once, request i for urls[i % nurls]; with want_open >= 0, checks how many
 * connections are open and requests wait once all have started. Returns when they started. */
static int64_t fetch_at_once(eddy_http_client *c, fetcher *f, int n, const char *const *urls,
                             int nurls, int want_open, int want_waiting)
{
    int64_t t0 = eddy_now();
    int nrc = 0;
    EDDY_NURSERY(nn, &nrc) {
        for (int i = 0; i < n; i++) {
            f[i] = (fetcher){.c = c, .url = urls[i % nurls]};
            EDDY_OK(eddy_spawn(nn, fetch_task, &f[i]));
        }
        struct eddy_http_client_stats st;
        eddy_http_client_stats(c, &st);
        if (want_open >= 0) EDDY_CHECK_EQ(st.open, want_open);
        if (want_waiting >= 0) EDDY_CHECK_EQ(st.waiting, want_waiting);
    }
    EDDY_OK(nrc);
    for (int i = 0; i < n; i++) {
        EDDY_OK(f[i].rc);
        EDDY_CHECK_EQ(f[i].status, 200);
    }
    return t0;
}

HC_TEST(pool_limits_total_connections)
{
    static int64_t delay = EDDY_SEC(1);
    world w = {.handler = slow, .harg = &delay};
    eddy_http_client_opts o = world_opts(&w);
    o.max_conns = 2;
    WITH_CLIENT(&w, &o, c) {
        fetcher f[5];
        const char *url = "http://h/";
        int64_t t0 = fetch_at_once(c, f, 5, &url, 1, 2, 3);
        EDDY_CHECK_EQ(f[0].done_at - t0, EDDY_SEC(1));
        EDDY_CHECK_EQ(f[1].done_at - t0, EDDY_SEC(1));
        EDDY_CHECK_EQ(f[2].done_at - t0, EDDY_SEC(2));
        EDDY_CHECK_EQ(f[3].done_at - t0, EDDY_SEC(2));
        EDDY_CHECK_EQ(f[4].done_at - t0, EDDY_SEC(3));
        EDDY_CHECK_EQ(w.connects, 2);
        struct eddy_http_client_stats st;
        eddy_http_client_stats(c, &st);
        EDDY_CHECK_EQ(st.connections, 2);
        EDDY_CHECK_EQ(st.reused, 3);
        EDDY_CHECK_EQ(st.waiting, 0);
    }
    return 0;
}

/* Per host: two origins, three requests each at once, one connection per host. */
HC_TEST(pool_limits_per_host)
{
    static int64_t delay = EDDY_SEC(1);
    world w = {.handler = slow, .harg = &delay};
    eddy_http_client_opts o = world_opts(&w);
    o.max_conns_per_host = 1;
    WITH_CLIENT(&w, &o, c) {
        fetcher f[6];
        const char *urls[] = {"http://b/", "http://a/"};
        int64_t t0 = fetch_at_once(c, f, 6, urls, 2, 2, 4);
        EDDY_CHECK_EQ(f[4].done_at - t0, EDDY_SEC(3));
        EDDY_CHECK_EQ(f[5].done_at - t0, EDDY_SEC(3));
        EDDY_CHECK_EQ(w.connects, 2);
    }
    return 0;
}

/* At the total limit, an idle connection of another origin is closed to make room; a
 * request waiting for a slot gets one as soon as one is freed. */
HC_TEST(pool_evicts_idle_connections_of_other_origins)
{
    static int64_t delay = EDDY_SEC(1);
    world w = {.handler = slow, .harg = &delay};
    eddy_http_client_opts o = world_opts(&w);
    o.max_conns = 1;
    WITH_CLIENT(&w, &o, c) {
        int st;
        free(get_text(c, "http://a/", &st));
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.idle, 1);
        free(get_text(c, "http://b/", &st));
        EDDY_CHECK_EQ(st, 200);
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 1);
        EDDY_CHECK_EQ(s.connections, 2);
        /* b busy for 1 s, a request for a waits, then takes b's place */
        fetcher fb = {.c = c, .url = "http://b/"}, fa = {.c = c, .url = "http://a/"};
        int64_t t0 = eddy_now();
        int nrc = 0;
        EDDY_NURSERY(n, &nrc) {
            EDDY_OK(eddy_spawn(n, fetch_task, &fb));
            EDDY_OK(eddy_spawn(n, fetch_task, &fa));
        }
        EDDY_OK(nrc);
        EDDY_CHECK_EQ(fb.done_at - t0, EDDY_SEC(1));
        EDDY_CHECK_EQ(fa.done_at - t0, EDDY_SEC(2));
        EDDY_CHECK_EQ(w.connects, 3);
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 1);
    }
    return 0;
}

HC_TEST(idle_connections_expire)
{
    world w = {.handler = hello};
    eddy_http_client_opts o = world_opts(&w);
    o.idle_timeout = EDDY_SEC(5);
    WITH_CLIENT(&w, &o, c) {
        int st;
        free(get_text(c, "http://h/", &st));
        EDDY_OK(eddy_sleep(EDDY_SEC(4)));
        free(get_text(c, "http://h/", &st)); /* 4 s idle: reused */
        EDDY_CHECK_EQ(w.connects, 1);
        EDDY_OK(eddy_sleep(EDDY_SEC(5)));     /* expired and closed by the timer */
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 0);
        EDDY_CHECK_EQ(s.idle, 0);
        free(get_text(c, "http://h/", &st));
        EDDY_CHECK_EQ(w.connects, 2);
    }
    /* idle_timeout 0: nothing is kept */
    world w2 = {.handler = hello};
    o = world_opts(&w2);
    o.idle_timeout = 0;
    WITH_CLIENT(&w2, &o, c) {
        int st;
        for (int i = 0; i < 3; i++) free(get_text(c, "http://h/", &st));
        EDDY_CHECK_EQ(w2.connects, 3);
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 0);
    }
    return 0;
}

/* Raw: answers one request with keep-alive, then closes the connection anyway (as servers do
 * when their own idle timer fires just as a request comes). */
static int raw_one_then_close(eddy_stream *s, void *arg)
{
    int *served = arg;
    raw_req *r = malloc(sizeof *r);
    r->len = r->used = 0;
    int rc = raw_read_request(s, r);
    if (rc > 0) {
        ++*served;
        rc = raw_write(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
    free(r);
    return rc;
}

HC_TEST(request_on_a_closed_pooled_connection_is_sent_again)
{
    int served = 0;
    world w = {.raw = raw_one_then_close, .rarg = &served};
    eddy_http_client_opts o = world_opts(&w);
    WITH_CLIENT(&w, &o, c) {
        int st;
        for (int i = 0; i < 3; i++) {
            char *b = get_text(c, "http://h/", &st);
            EDDY_CHECK(!strcmp(b, "ok"));
            free(b);
        }
        EDDY_CHECK_EQ(served, 3);
        EDDY_CHECK_EQ(w.connects, 3);
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.resent, 2);
        /* a POST is not sent twice: the failure is the caller's */
        eddy_http_client_response *r;
        int rc = eddy_http_client_send(c, &(eddy_http_client_request){.method = "POST", .url = "http://h/",
                                                                      .body = "x", .body_len = 1}, &r);
        EDDY_CHECK(rc == EDDY_EHTTP_TRUNCATED || rc == -EPIPE); /* read or write saw the close */
        EDDY_CHECK(r == NULL);
        EDDY_CHECK_EQ(served, 3);
    }
    return 0;
}

/* ---- time limits ---- */

/* Raw: what arg (a struct stall) says: read the request, then send head (may be NULL), then
 * the body bytes one per `trickle` (0: none), then stall forever. */
typedef struct stall {
    const char *head;
    const char *body;
    int64_t trickle;
    bool no_read; /* stall before reading anything (a TLS server that never answers) */
} stall;

static int raw_stall(eddy_stream *s, void *arg)
{
    stall *t = arg;
    int rc = 0;
    raw_req *r = malloc(sizeof *r);
    r->len = r->used = 0;
    if (!t->no_read) rc = raw_read_request(s, r);
    free(r);
    if (rc < 0) return rc;
    if (t->head && (rc = raw_write(s, t->head)) < 0) return rc;
    for (const char *p = t->body; p && *p && t->trickle; p++) {
        if ((rc = eddy_sleep(t->trickle)) < 0) return rc;
        if ((rc = eddy_stream_write_all(s, p, 1)) < 0) return rc;
    }
    if (t->body && !t->trickle && (rc = raw_write(s, t->body)) < 0) return rc;
    return eddy_sleep_forever();
}

static int send_get(eddy_http_client *c, const char *url, const eddy_http_timeouts *t,
                    eddy_http_client_response **r)
{
    return eddy_http_client_send(c, &(eddy_http_client_request){.url = url, .timeouts = t}, r);
}

HC_TEST(connect_and_headers_time_limits)
{
    world w = {.stall = true};
    eddy_http_client_opts o = world_opts(&w);
    o.timeouts.connect = EDDY_SEC(3);
    WITH_CLIENT(&w, &o, c) {
        eddy_http_client_response *r;
        int64_t t0 = eddy_now();
        EDDY_CHECK_EQ(send_get(c, "http://h/", NULL, &r), EDDY_EHTTP_CONNECT_TIMEOUT);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(3));
        EDDY_CHECK(r == NULL);
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 0); /* the slot came back */
        /* a request's own limits replace the client's */
        eddy_http_timeouts t = o.timeouts;
        t.connect = 0; /* already expired */
        t0 = eddy_now();
        EDDY_CHECK_EQ(send_get(c, "http://h/", &t, &r), EDDY_EHTTP_CONNECT_TIMEOUT);
        EDDY_CHECK_EQ(eddy_now() - t0, 0);
        /* total shorter than connect: the total's code */
        t.connect = EDDY_SEC(3);
        t.total = EDDY_SEC(2);
        t0 = eddy_now();
        EDDY_CHECK_EQ(send_get(c, "http://h/", &t, &r), EDDY_EHTTP_TOTAL_TIMEOUT);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(2));
        /* the caller's own scope: its code, not the client's */
        int rc = 0;
        EDDY_FAIL_AFTER(EDDY_SEC(1)) { rc = send_get(c, "http://h/", NULL, &r); }
        EDDY_CHECK_EQ(rc, -ETIMEDOUT);
        EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { rc = send_get(c, "http://h/", NULL, &r); }
        EDDY_CHECK_EQ(rc, -ECANCELED);
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 0);
    }
    static stall st = {.head = NULL};
    world w2 = {.raw = raw_stall, .rarg = &st};
    o = world_opts(&w2);
    o.timeouts.headers = EDDY_SEC(7);
    WITH_CLIENT(&w2, &o, c) {
        eddy_http_client_response *r;
        int64_t t0 = eddy_now();
        EDDY_CHECK_EQ(send_get(c, "http://h/", NULL, &r), EDDY_EHTTP_HEADERS_TIMEOUT);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(7));
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 0); /* the connection was closed */
    }
    return 0;
}

HC_TEST(body_idle_and_total_time_limits)
{
    static stall st = {.head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", .body = "abc"};
    world w = {.raw = raw_stall, .rarg = &st};
    eddy_http_client_opts o = world_opts(&w);
    o.timeouts.body_idle = EDDY_SEC(5);
    WITH_CLIENT(&w, &o, c) {
        eddy_http_client_response *r;
        EDDY_OK(send_get(c, "http://h/", NULL, &r));
        char buf[200];
        size_t got = 0;
        int64_t t0 = eddy_now();
        EDDY_CHECK_EQ(eddy_http_client_response_read_all(r, buf, sizeof buf, &got), EDDY_EHTTP_BODY_TIMEOUT);
        EDDY_CHECK_EQ(got, 3);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5));
        /* a timed-out read consumed nothing; another gets its own limit */
        t0 = eddy_now();
        EDDY_CHECK_EQ(eddy_stream_read(r->body, buf, sizeof buf), EDDY_EHTTP_BODY_TIMEOUT);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5));
        eddy_http_client_response_close(r); /* unfinished: the connection is closed */
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 0);
    }
    /* a byte every 2 s never trips body_idle (5 s), but total (10 s) ends it */
    static stall tr = {.head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
                       .body = "0123456789abcdef", .trickle = EDDY_SEC(2)};
    world w2 = {.raw = raw_stall, .rarg = &tr};
    o = world_opts(&w2);
    o.timeouts.body_idle = EDDY_SEC(5);
    o.timeouts.total = EDDY_SEC(10);
    WITH_CLIENT(&w2, &o, c) {
        eddy_http_client_response *r;
        int64_t t0 = eddy_now();
        EDDY_OK(send_get(c, "http://h/", NULL, &r));
        char buf[200];
        size_t got = 0;
        EDDY_CHECK_EQ(eddy_http_client_response_read_all(r, buf, sizeof buf, &got), EDDY_EHTTP_TOTAL_TIMEOUT);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(10));
        EDDY_CHECK_EQ(got, 4); /* bytes at 2, 4, 6, 8 s */
        eddy_http_client_response_close(r);
    }
    return 0;
}

HC_TEST(pool_time_limit_and_cancelled_waiters)
{
    static int64_t delay = EDDY_SEC(10);
    world w = {.handler = slow, .harg = &delay};
    eddy_http_client_opts o = world_opts(&w);
    o.max_conns = 1;
    o.timeouts.pool = EDDY_SEC(2);
    WITH_CLIENT(&w, &o, c) {
        fetcher busy = {.c = c, .url = "http://h/"};
        int nrc = 0;
        EDDY_NURSERY(n, &nrc) {
            EDDY_OK(eddy_spawn(n, fetch_task, &busy));
            eddy_http_client_response *r;
            int64_t t0 = eddy_now();
            EDDY_CHECK_EQ(send_get(c, "http://h/", NULL, &r), EDDY_EHTTP_POOL_TIMEOUT);
            EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(2));
            /* a waiter cancelled by its caller leaves the queue */
            int rc = 0;
            EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { rc = send_get(c, "http://other/", NULL, &r); }
            EDDY_CHECK_EQ(rc, -ECANCELED);
            struct eddy_http_client_stats s;
            eddy_http_client_stats(c, &s);
            EDDY_CHECK_EQ(s.waiting, 0);
            EDDY_CHECK_EQ(s.open, 1);
        }
        EDDY_OK(nrc);
        EDDY_CHECK_EQ(busy.status, 200);
    }
    return 0;
}

/* A request cancelled in the middle of its body: the connection is closed, not pooled, and
 * the server sees it go; a response whose unread rest had already arrived keeps it. */
HC_TEST(cancelled_mid_body_closes_the_connection)
{
    static stall st = {.head = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", .body = "01234"};
    world w = {.raw = raw_stall, .rarg = &st};
    eddy_http_client_opts o = world_opts(&w);
    WITH_CLIENT(&w, &o, c) {
        eddy_http_client_response *r;
        EDDY_OK(send_get(c, "http://h/", NULL, &r));
        char buf[16];
        size_t got = 0;
        int rc = 0;
        EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { rc = eddy_http_client_response_read_all(r, buf, sizeof buf, &got); }
        EDDY_CHECK_EQ(rc, -ECANCELED);
        EDDY_CHECK_EQ(got, 5);
        eddy_http_client_response_close(r);
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 0);
        EDDY_CHECK_EQ(s.idle, 0);
        EDDY_OK(send_get(c, "http://h/", NULL, &r));
        EDDY_CHECK(!r->reused);
        eddy_http_client_response_close(r);
        EDDY_CHECK_EQ(w.connects, 2);
    }
    world w2 = {.handler = hello};
    o = world_opts(&w2);
    WITH_CLIENT(&w2, &o, c) {
        eddy_http_client_response *r;
        EDDY_OK(send_get(c, "http://h/", NULL, &r));
        char b4[4];
        EDDY_CHECK_EQ(eddy_stream_read(r->body, b4, sizeof b4), 4);
        eddy_http_client_response_close(r); /* the other 10 bytes came with the head */
        EDDY_OK(send_get(c, "http://h/", NULL, &r));
        EDDY_CHECK(r->reused);
        eddy_http_client_response_close(r); /* not read at all, but all there */
        EDDY_OK(send_get(c, "http://h/", NULL, &r));
        EDDY_CHECK(r->reused);
        eddy_http_client_response_close(r);
        EDDY_CHECK_EQ(w2.connects, 1);
    }
    return 0;
}

/* A request cancelled while it waits for the head closes its connection. */
HC_TEST(cancelled_waiting_for_the_head_closes_the_connection)
{
    static stall st = {.head = NULL};
    world w = {.raw = raw_stall, .rarg = &st};
    eddy_http_client_opts o = world_opts(&w);
    WITH_CLIENT(&w, &o, c) {
        eddy_http_client_response *r = (void *)1;
        int rc = 0;
        eddy_cancel_scope cs;
        EDDY_CANCEL_SCOPE(&cs) {
            eddy_cancel_scope_cancel(&cs);
            rc = send_get(c, "http://h/", NULL, &r);
        }
        EDDY_CHECK_EQ(rc, -ECANCELED);
        EDDY_CHECK(r == NULL);
        EDDY_MOVE_ON_AFTER(EDDY_SEC(3)) { rc = send_get(c, "http://h/", NULL, &r); }
        EDDY_CHECK_EQ(rc, -ECANCELED);
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 0);
    }
    return 0;
}

/* ---- what servers get wrong ---- */

static int raw_canned(eddy_stream *s, void *arg)
{
    const char *answer = arg;
    raw_req *r = malloc(sizeof *r);
    r->len = r->used = 0;
    int rc = raw_read_request(s, r);
    free(r);
    if (rc > 0) rc = raw_write(s, answer);
    return rc;
}

static int canned(const char *answer, eddy_http_client_response **out, char **body, int *body_err)
{
    world w = {.raw = raw_canned, .rarg = (void *)answer};
    eddy_http_client_opts o = world_opts(&w);
    o.max_header_bytes = 1024;
    o.max_headers = 8;
    int rc = 0;
    WITH_CLIENT(&w, &o, c) {
        eddy_http_client_response *r = NULL;
        rc = eddy_http_client_get(c, "http://h/", &r);
        *out = r;
        if (rc == 0) {
            *body = read_body(r, NULL, body_err);
            eddy_http_client_response_close(r);
        }
    }
    return rc;
}

HC_TEST(malformed_responses_have_http_codes)
{
    eddy_http_client_response *r;
    char *b = NULL;
    int err = 0;
    EDDY_CHECK_EQ(canned("garbage\r\n\r\n", &r, &b, &err), EDDY_EHTTP_BADRESP);
    EDDY_CHECK(r == NULL);
    EDDY_CHECK_EQ(canned("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", &r, &b, &err),
                  EDDY_EHTTP_BADRESP);
    EDDY_CHECK_EQ(canned("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", &r, &b, &err), EDDY_EHTTP_BADRESP);
    EDDY_CHECK_EQ(canned("HTTP/2.0 200 OK\r\n\r\n", &r, &b, &err), EDDY_EHTTP_BADRESP);
    EDDY_CHECK_EQ(canned("HTTP/1.1 101 Switching Protocols\r\n\r\n", &r, &b, &err), EDDY_EHTTP_BADRESP);
    EDDY_CHECK_EQ(canned("HTTP/1.1 200 OK\r\nContent", &r, &b, &err), EDDY_EHTTP_TRUNCATED);
    EDDY_CHECK_EQ(canned("", &r, &b, &err), EDDY_EHTTP_TRUNCATED);
    static char longhead[2048];
    snprintf(longhead, sizeof longhead, "HTTP/1.1 200 OK\r\nX-Long: %01500d\r\n\r\n", 0);
    EDDY_CHECK_EQ(canned(longhead, &r, &b, &err), EDDY_EHTTP_HEADTOOBIG);
    EDDY_CHECK_EQ(canned("HTTP/1.1 200 OK\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\nf: 1\r\ng: 1\r\nh: 1\r\ni: 1\r\n\r\n",
                         &r, &b, &err), EDDY_EHTTP_HEADTOOBIG);
    /* body errors come from the body's reads */
    EDDY_OK(canned("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", &r, &b, &err));
    EDDY_CHECK_EQ(err, EDDY_EHTTP_TRUNCATED);
    EDDY_CHECK(!strcmp(b, "short"));
    free(b);
    EDDY_OK(canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n", &r, &b, &err));
    EDDY_CHECK_EQ(err, EDDY_EHTTP_BADRESP);
    EDDY_CHECK(!strcmp(b, "abc"));
    free(b);
    EDDY_OK(canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", &r, &b, &err));
    EDDY_CHECK_EQ(err, EDDY_EHTTP_TRUNCATED);
    free(b);
    /* interim responses are skipped; a status line without a reason is fine */
    EDDY_OK(canned("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                   "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", &r, &b, &err));
    EDDY_OK(err);
    EDDY_CHECK(!strcmp(b, "ok"));
    free(b);
    return 0;
}

HC_TEST(argument_errors)
{
    world w = {.handler = hello};
    eddy_http_client_opts o = world_opts(&w);
    eddy_http_client *bad;
    eddy_http_client_opts z = o;
    z.max_conns = 0;
    EDDY_CHECK_EQ(eddy_http_client_open(&z, &bad), -EINVAL);
    z = o;
    z.max_conns_per_host = 0;
    EDDY_CHECK_EQ(eddy_http_client_open(&z, &bad), -EINVAL);
    z = o;
    z.timeouts.body_idle = -1;
    EDDY_CHECK_EQ(eddy_http_client_open(&z, &bad), -EINVAL);
    z = o;
    z.idle_timeout = -5;
    EDDY_CHECK_EQ(eddy_http_client_open(&z, &bad), -EINVAL);
    z = o;
    z.max_headers = 0;
    EDDY_CHECK_EQ(eddy_http_client_open(&z, &bad), -EINVAL);
    z = o;
    z.user_agent = "evil\r\nX: y";
    EDDY_CHECK_EQ(eddy_http_client_open(&z, &bad), -EINVAL);
    z = o;
    z.proxy = "https://proxy:3128";
    EDDY_CHECK_EQ(eddy_http_client_open(&z, &bad), EDDY_EHTTP_BADURL);
    z.proxy = "socks5://proxy:1080";
    EDDY_CHECK_EQ(eddy_http_client_open(&z, &bad), EDDY_EHTTP_BADURL);
    EDDY_CHECK_EQ(eddy_http_client_open(&o, NULL), -EINVAL);
    /* TLS options are used at open: their errors are open's */
    eddy_tls_client_opts bad_tls = EDDY_TLS_CLIENT_OPTS_INIT;
    bad_tls.ca_file = "/nonexistent/ca.pem";
    z = o;
    z.tls_opts = &bad_tls;
#ifdef EDDY_TEST_OPENSSL
    EDDY_CHECK_EQ(eddy_http_client_open(&z, &bad), -ENOENT);
#else
    EDDY_CHECK_EQ(eddy_http_client_open(&z, &bad), -ENOTSUP);
#endif
    /* a zero-filled options struct: literal zeros, which are no use */
    eddy_http_client_opts zero;
    memset(&zero, 0, sizeof zero);
    EDDY_CHECK_EQ(eddy_http_client_open(&zero, &bad), -EINVAL);
    /* NULL: the defaults */
    EDDY_OK(eddy_http_client_open(NULL, &bad));
    EDDY_OK(eddy_http_client_close(bad));
    EDDY_OK(eddy_http_client_close(NULL));

    WITH_CLIENT(&w, &o, c) {
        eddy_http_client_response *r = (void *)1;
        const char *crlf[] = {"X-A", "1\r\nX-B: 2", NULL};
        const char *badname[] = {"X A", "1", NULL};
        const char *cl[] = {"content-length", "5", NULL};
        const char *te[] = {"Transfer-Encoding", "chunked", NULL};
        eddy_http_timeouts neg = EDDY_HTTP_TIMEOUTS_INIT;
        neg.headers = -1;
        eddy_http_client_request bad_reqs[] = {
            {.url = "http://h/", .method = "GE T"},
            {.url = "http://h/", .method = "CONNECT"},
            {.url = "http://h/", .headers = crlf},
            {.url = "http://h/", .headers = badname},
            {.url = "http://h/", .headers = cl},
            {.url = "http://h/", .headers = te},
            {.url = "http://h/", .body_len = 3},
            {.url = "http://h/", .body = "x", .body_len = 1, .body_stream = (eddy_stream *)1},
            {.url = "http://h/", .body_stream_len = -2},
            {.url = "http://h/", .timeouts = &neg},
            {.url = NULL},
        };
        for (size_t i = 0; i < sizeof bad_reqs / sizeof bad_reqs[0]; i++) {
            r = (void *)1;
            EDDY_CHECK_EQ(eddy_http_client_send(c, &bad_reqs[i], &r), -EINVAL);
            EDDY_CHECK(r == NULL);
        }
        EDDY_CHECK_EQ(eddy_http_client_send(NULL, &bad_reqs[0], &r), -EINVAL);
        EDDY_CHECK_EQ(eddy_http_client_send(c, NULL, &r), -EINVAL);
        EDDY_CHECK_EQ(eddy_http_client_send(c, &bad_reqs[0], NULL), -EINVAL);
        const char *bad_urls[] = {"ftp://h/", "h/path", "http:/h/", "http://", "http://:80/",
                                  "http://h:0/", "http://h:65536/", "http://h:8x/", "http://h/a b",
                                  "http://[::1/", "http://h\x01/", "mailto:x@y", ""};
        for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++)
            EDDY_CHECK_EQ(eddy_http_client_get(c, bad_urls[i], &r), EDDY_EHTTP_BADURL);
        char longhost[300] = "http://";
        memset(longhost + 7, 'a', 260);
        strcpy(longhost + 267, ".example/");
        EDDY_CHECK_EQ(eddy_http_client_get(c, longhost, &r), EDDY_EHTTP_BADURL); /* > 253 */
        EDDY_CHECK_EQ(w.connects, 0);
#ifndef EDDY_TEST_OPENSSL
        /* without OpenSSL an https request says so (after connecting) */
        EDDY_CHECK_EQ(eddy_http_client_get(c, "https://h/", &r), -ENOTSUP);
        w.connects = 0;
#endif
        /* close with a response still open: -EBUSY, and nothing is done */
        EDDY_OK(eddy_http_client_get(c, "http://h/", &r));
        EDDY_CHECK_EQ(eddy_http_client_close(c), -EBUSY);
        char buf[4];
        size_t len;
        EDDY_CHECK_EQ(eddy_http_client_response_read_all(r, buf, sizeof buf, &len), -EMSGSIZE);
        EDDY_CHECK_EQ(len, 4);
        EDDY_CHECK(!memcmp(buf, "Hell", 4));
        EDDY_CHECK_EQ(eddy_http_client_response_read_all(NULL, buf, 4, &len), -EINVAL);
        EDDY_CHECK_EQ(eddy_http_client_response_read_all(r, NULL, 4, &len), -EINVAL);
        /* the body is read-only */
        EDDY_CHECK(eddy_stream_write_all(r->body, "x", 1) < 0);
        eddy_http_client_response_close(r);
        eddy_http_client_response_close(NULL);
        EDDY_CHECK_EQ(eddy_http_client_fetch(c, &(eddy_http_client_request){.url = "http://h/"}, buf,
                                             sizeof buf, &len, NULL), -EMSGSIZE);
        EDDY_CHECK_EQ(eddy_http_client_fetch(c, &(eddy_http_client_request){.url = "http://h/"}, NULL,
                                             4, &len, NULL), -EINVAL);
    }
    return 0;
}

static eddy_http_client *outside_client;
static int outside_rc;
static void outside_cb(void *arg)
{
    (void)arg;
    eddy_http_client_response *r;
    outside_rc = eddy_http_client_get(outside_client, "http://h/", &r);
}

HC_TEST(send_outside_a_task_is_eperm)
{
    EDDY_OK(eddy_http_client_open(NULL, &outside_client));
    EDDY_OK(eddy_call_soon(outside_cb, NULL));
    EDDY_OK(eddy_yield());
    EDDY_CHECK_EQ(outside_rc, -EPERM);
    EDDY_OK(eddy_http_client_close(outside_client));
    return 0;
}

static int no_such_name(void *ctx, const char *host, uint16_t port, int family, eddy_sockaddr *out,
                        size_t max)
{
    (void)ctx, (void)port, (void)family, (void)out, (void)max;
    return strstr(host, "dns-down") ? EDDY_EDNSTIMEDOUT : EDDY_ENONAME;
}

/* Connection failures pass through with their own codes; the slot comes back. */
HC_TEST(connect_failures_pass_through)
{
    world w = {.handler = hello, .refuse = 1};
    eddy_http_client_opts o = world_opts(&w);
    WITH_CLIENT(&w, &o, c) {
        eddy_http_client_response *r;
        EDDY_CHECK_EQ(eddy_http_client_get(c, "http://h/", &r), -ECONNREFUSED);
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 0);
        EDDY_OK(eddy_http_client_get(c, "http://h/", &r));
        eddy_http_client_response_close(r);
    }
    /* through eddy_tcp_connect: the resolver's codes (a resolver of the test's: no network) */
    eddy_resolver res = {.resolve = no_such_name};
    EDDY_OK(eddy_loop_set_resolver(&res));
    eddy_http_client *c;
    EDDY_OK(eddy_http_client_open(NULL, &c));
    eddy_http_client_response *r;
    EDDY_CHECK_EQ(eddy_http_client_get(c, "http://no-such-host.example/", &r), EDDY_ENONAME);
    EDDY_CHECK_EQ(eddy_http_client_get(c, "http://dns-down.example/", &r), EDDY_EDNSTIMEDOUT);
    EDDY_OK(eddy_http_client_close(c));
    return 0;
}

/* A real refused connection (real clock: the kernel answers). */
EDDY_TEST_EX(refused_tcp_connection, .real_clock = true)
{
    eddy_listener *l;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_local_addr(l, &a));
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", eddy_sockaddr_port(&a));
    EDDY_OK(eddy_listener_close(l)); /* nobody listens there now */
    eddy_http_client *c;
    EDDY_OK(eddy_http_client_open(NULL, &c));
    eddy_http_client_response *r;
    EDDY_CHECK_EQ(eddy_http_client_get(c, url, &r), -ECONNREFUSED);
    EDDY_OK(eddy_http_client_close(c));
    return 0;
}

/* ---- URLs ---- */

static void url_is(const char *in, const char *href, const char *host, int port, const char *target)
{
    eddy__url u;
    int rc = eddy__url_parse(in, strlen(in), &u);
    if (rc != 0) eddy_test_fail(__FILE__, __LINE__, "parse %s: %d", in, rc);
    if (strcmp(u.href, href) || strcmp(u.host, host) || u.port != port || strcmp(u.target, target))
        eddy_test_fail(__FILE__, __LINE__, "%s: %s %s %u %s", in, u.href, u.host, u.port, u.target);
    eddy__url_free(&u);
}

static void resolves(const char *base, const char *ref, const char *want)
{
    eddy__url b, u;
    EDDY_OK(eddy__url_parse(base, strlen(base), &b));
    int rc = eddy__url_resolve(&b, ref, strlen(ref), &u);
    if (rc != 0) eddy_test_fail(__FILE__, __LINE__, "resolve %s: %d", ref, rc);
    if (strcmp(u.href, want)) eddy_test_fail(__FILE__, __LINE__, "%s -> %s, want %s", ref, u.href, want);
    eddy__url_free(&u);
    eddy__url_free(&b);
}

EDDY_TEST(urls_parse_and_resolve)
{
    url_is("http://Example.COM", "http://example.com/", "example.com", 80, "/");
    url_is("HTTPS://a.b:443/x?y#z", "https://a.b/x?y", "a.b", 443, "/x?y");
    url_is("http://a.b:8080?q", "http://a.b:8080/?q", "a.b", 8080, "/?q");
    url_is("http://[::1]:81/p", "http://[::1]:81/p", "::1", 81, "/p");
    url_is("http://u:p@h:/", "http://h/", "h", 80, "/");
    url_is("http://h/\xc3\xa9", "http://h/%C3%A9", "h", 80, "/%C3%A9");
    url_is("https://h:80/", "https://h:80/", "h", 80, "/");
    /* RFC 3986 5.4.1, with an http base */
    const char *base = "http://a/b/c/d;p?q";
    resolves(base, "g", "http://a/b/c/g");
    resolves(base, "./g", "http://a/b/c/g");
    resolves(base, "g/", "http://a/b/c/g/");
    resolves(base, "/g", "http://a/g");
    resolves(base, "//g", "http://g/");
    resolves(base, "?y", "http://a/b/c/d;p?y");
    resolves(base, "g?y", "http://a/b/c/g?y");
    resolves(base, "#s", "http://a/b/c/d;p?q");
    resolves(base, "g#s", "http://a/b/c/g");
    resolves(base, ";x", "http://a/b/c/;x");
    resolves(base, "", "http://a/b/c/d;p?q");
    resolves(base, ".", "http://a/b/c/");
    resolves(base, "./", "http://a/b/c/");
    resolves(base, "..", "http://a/b/");
    resolves(base, "../", "http://a/b/");
    resolves(base, "../g", "http://a/b/g");
    resolves(base, "../..", "http://a/");
    resolves(base, "../../g", "http://a/g");
    resolves(base, "../../../g", "http://a/g");
    resolves(base, "/./g", "http://a/g");
    resolves(base, "/../g", "http://a/g");
    resolves(base, "g.", "http://a/b/c/g.");
    resolves(base, "..g", "http://a/b/c/..g");
    resolves(base, "./../g", "http://a/b/g");
    resolves(base, "g/./h", "http://a/b/c/g/h");
    resolves(base, "g/../h", "http://a/b/c/h");
    resolves(base, "https://other:8443/x", "https://other:8443/x");
    resolves("https://a:444/x", "//b/y", "https://b/y");
    eddy__url b, u;
    EDDY_OK(eddy__url_parse(base, strlen(base), &b));
    EDDY_CHECK_EQ(eddy__url_resolve(&b, "ftp://x/", 8, &u), EDDY_EHTTP_BADURL);
    EDDY_CHECK_EQ(eddy__url_resolve(&b, "javascript:alert(1)", 19, &u), EDDY_EHTTP_BADURL);
    eddy__url_free(&b);
    return 0;
}
