/* The HTTP client (W1), continued, on memory streams and the virtual clock: redirects,
 * gzip/deflate decoding, proxies (absolute form and CONNECT tunnels), and https (verification,
 * ALPN, session resumption across pooled connections, the TLS time limit). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "eddy/test.h"
#include "http/client.h"
#include "http_client_util.h"
#ifdef EDDY_TEST_ZLIB
#include <zlib.h>
#endif
#ifdef EDDY_TEST_OPENSSL
#include "tls_util.h"
#endif


/* Echo the method, target and fields and the body; under /redir/CODE?to=LOCATION answer CODE
 * with that Location (and a small body); /loop redirects to itself. */
static int site(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    const char *p = req->path.ptr;
    size_t pl = req->path.len;
    if (pl == 5 && !memcmp(p, "/loop", 5)) {
        int rc = eddy_http_response_header(res, "Location", "/loop");
        return rc ? rc : eddy_http_response_send(res, 302, "text/plain", "again\n", 6);
    }
    const char *rd = memmem(p, pl, "/redir/", 7);
    if (rd) {
        int code = atoi(rd + 7);
        char loc[512] = "";
        if (req->query.len > 3 && !memcmp(req->query.ptr, "to=", 3))
            snprintf(loc, sizeof loc, "%.*s", (int)req->query.len - 3, req->query.ptr + 3);
        int rc = loc[0] ? eddy_http_response_header(res, "Location", loc) : 0;
        return rc ? rc : eddy_http_response_send(res, code, "text/plain", "moved\n", 6);
    }
    return echo_handler(req, res, arg);
}

typedef struct answer {
    int rc, status;
    unsigned redirects;
    char url[256];
    char *body;
} answer;

static answer do_request(eddy_http_client *c, const eddy_http_client_request *req)
{
    answer a = {0};
    eddy_http_client_response *r;
    a.rc = eddy_http_client_send(c, req, &r);
    if (a.rc < 0) return a;
    a.status = r->status;
    a.redirects = r->redirects;
    snprintf(a.url, sizeof a.url, "%s", r->url);
    int err;
    a.body = read_body(r, NULL, &err);
    EDDY_OK(err);
    eddy_http_client_response_close(r);
    return a;
}

/* ---- redirects ---- */

HC_TEST(redirects_are_off_by_default)
{
    world w = {.handler = site};
    eddy_http_client_opts o = world_opts(&w);
    WITH_CLIENT(&w, &o, c) {
        answer a = do_request(c, &(eddy_http_client_request){.url = "http://h/redir/302?to=/echo"});
        EDDY_OK(a.rc);
        EDDY_CHECK_EQ(a.status, 302);
        EDDY_CHECK_EQ(a.redirects, 0);
        EDDY_CHECK(!strcmp(a.body, "moved\n"));
        free(a.body);
    }
    return 0;
}

HC_TEST(redirects_follow_methods_and_bodies_as_rfc_9110_says)
{
    world w = {.handler = site};
    eddy_http_client_opts o = world_opts(&w);
    o.max_redirects = 5;
    WITH_CLIENT(&w, &o, c) {
        const char *ct[] = {"Content-Type", "text/x-test", NULL};
        struct {
            const char *method;
            int code;
            const char *want_method;
            bool body_kept;
        } cases[] = {
            {"GET", 301, "GET", false},   {"GET", 302, "GET", false},
            {"POST", 301, "GET", false},  {"POST", 302, "GET", false},
            {"POST", 303, "GET", false},  {"PUT", 303, "GET", false},
            {"POST", 307, "POST", true},  {"POST", 308, "POST", true},
            {"PUT", 301, "PUT", true},    {"DELETE", 302, "DELETE", false},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char url[64];
            snprintf(url, sizeof url, "http://h/redir/%d?to=/echo", cases[i].code);
            bool with_body = strcmp(cases[i].method, "GET") && strcmp(cases[i].method, "DELETE");
            answer a = do_request(c, &(eddy_http_client_request){
                .method = cases[i].method, .url = url, .headers = ct,
                .body = with_body ? "payload" : NULL, .body_len = with_body ? 7 : 0});
            EDDY_OK(a.rc);
            EDDY_CHECK_EQ(a.status, 200);
            EDDY_CHECK_EQ(a.redirects, 1);
            EDDY_CHECK(!strcmp(a.url, "http://h/echo"));
            char first[64];
            snprintf(first, sizeof first, "%s /echo\n", cases[i].want_method);
            if (strncmp(a.body, first, strlen(first)))
                eddy_test_fail(__FILE__, __LINE__, "case %zu: %s", i, a.body);
            const char *body = strstr(a.body, "\n\n") + 2;
            if (cases[i].body_kept) {
                EDDY_CHECK(!strcmp(body, "payload"));
                EDDY_CHECK(strstr(a.body, "\nContent-Type: text/x-test\n"));
            } else {
                EDDY_CHECK(!strcmp(body, ""));
                /* a dropped body takes its Content-Type along */
                EDDY_CHECK(!with_body == !!strstr(a.body, "\nContent-Type: text/x-test\n"));
            }
            free(a.body);
        }
        /* every redirect's small body was read: one connection throughout */
        EDDY_CHECK_EQ(w.connects, 1);
        /* HEAD stays HEAD through a 303 */
        eddy_http_client_response *r;
        EDDY_OK(eddy_http_client_send(c, &(eddy_http_client_request){.method = "HEAD",
                                         .url = "http://h/redir/303?to=/echo"}, &r));
        EDDY_CHECK_EQ(r->status, 200);
        EDDY_CHECK_EQ(r->redirects, 1);
        eddy_http_client_response_close(r);
    }
    return 0;
}

HC_TEST(redirect_chains_relative_locations_and_limits)
{
    world w = {.handler = site};
    eddy_http_client_opts o = world_opts(&w);
    o.max_redirects = 3;
    WITH_CLIENT(&w, &o, c) {
        answer a = do_request(c, &(eddy_http_client_request){
            .url = "http://h/a/b/redir/302?to=/redir/301?to=../c/./echo?x=1"});
        EDDY_OK(a.rc);
        EDDY_CHECK_EQ(a.redirects, 2);
        EDDY_CHECK(!strcmp(a.url, "http://h/c/echo?x=1"));
        EDDY_CHECK(strstr(a.body, "GET /c/echo?x=1\n") == a.body);
        free(a.body);
        /* one more than allowed */
        eddy_http_client_response *r = (void *)1;
        EDDY_CHECK_EQ(eddy_http_client_get(c, "http://h/loop", &r), EDDY_EHTTP_REDIRECTS);
        EDDY_CHECK(r == NULL);
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.requests, 3 + 4);
        EDDY_CHECK_EQ(s.idle, 1); /* the last redirect's connection went back too */
        /* a Location the client cannot follow */
        EDDY_CHECK_EQ(eddy_http_client_get(c, "http://h/redir/302?to=ftp://x/", &r), EDDY_EHTTP_BADURL);
        /* no Location: the 3xx is the answer */
        a = do_request(c, &(eddy_http_client_request){.url = "http://h/redir/302"});
        EDDY_OK(a.rc);
        EDDY_CHECK_EQ(a.status, 302);
        free(a.body);
        /* a 307 whose body came from a stream cannot be sent again: returned as it is */
        eddy_stream *wr, *rd;
        EDDY_OK(eddy_memstream_pair(&wr, &rd, NULL));
        EDDY_OK(eddy_stream_write_all(wr, "abc", 3));
        EDDY_OK(eddy_stream_close(wr));
        a = do_request(c, &(eddy_http_client_request){.method = "POST", .url = "http://h/redir/307?to=/echo",
                                                      .body_stream = rd, .body_stream_len = 3});
        EDDY_OK(a.rc);
        EDDY_CHECK_EQ(a.status, 307);
        EDDY_CHECK_EQ(a.redirects, 0);
        free(a.body);
        EDDY_OK(eddy_stream_close(rd));
    }
    return 0;
}

HC_TEST(redirect_to_another_origin_drops_authorization)
{
    world w = {.handler = site};
    eddy_http_client_opts o = world_opts(&w);
    o.max_redirects = 5;
    WITH_CLIENT(&w, &o, c) {
        const char *auth[] = {"Authorization", "Bearer secret", "X-Keep", "yes", NULL};
        answer a = do_request(c, &(eddy_http_client_request){.url = "http://h/redir/302?to=/echo", .headers = auth});
        EDDY_CHECK(strstr(a.body, "\nAuthorization: Bearer secret\n")); /* same origin: kept */
        free(a.body);
        a = do_request(c, &(eddy_http_client_request){.url = "http://h/redir/302?to=http://other/echo",
                                                      .headers = auth});
        EDDY_OK(a.rc);
        EDDY_CHECK(!strcmp(a.url, "http://other/echo"));
        EDDY_CHECK(!strstr(a.body, "Authorization"));
        EDDY_CHECK(strstr(a.body, "\nX-Keep: yes\n"));
        EDDY_CHECK(strstr(a.body, "\nHost: other\n"));
        free(a.body);
        /* once dropped, it stays dropped, also back on the first origin */
        a = do_request(c, &(eddy_http_client_request){
            .url = "http://h/redir/302?to=http://other/redir/302?to=http://h/echo", .headers = auth});
        EDDY_OK(a.rc);
        EDDY_CHECK_EQ(a.redirects, 2);
        EDDY_CHECK(!strstr(a.body, "Authorization"));
        free(a.body);
        /* and to a port of its own: another origin too */
        a = do_request(c, &(eddy_http_client_request){.url = "http://h/redir/302?to=http://h:8080/echo",
                                                      .headers = auth});
        EDDY_CHECK(!strstr(a.body, "Authorization"));
        free(a.body);
    }
    return 0;
}

/* ---- content decoding ---- */

#ifdef EDDY_TEST_ZLIB
/* Compress src into a malloc'd buffer: windowBits 15+16 gzip, 15 zlib, -15 raw deflate. */
static unsigned char *deflated(const void *src, size_t n, int bits, size_t *out_len)
{
    z_stream z = {0};
    EDDY_CHECK(deflateInit2(&z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t cap = deflateBound(&z, n);
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)src;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    EDDY_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static char *original;
static size_t original_len;

static int coded(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    char path[64];
    snprintf(path, sizeof path, "%.*s", (int)req->path.len, req->path.ptr);
    const eddy_http_field *ae = eddy_http_field_find(req->fields, req->nfields, 0, "Accept-Encoding");
    int rc = eddy_http_response_header(res, "X-Accept-Encoding", ae ? "yes" : "no");
    size_t n = 0;
    unsigned char *body = NULL;
    const char *coding = "gzip";
    if (!strcmp(path, "/gzip")) body = deflated(original, original_len, 31, &n);
    else if (!strcmp(path, "/x-gzip")) body = deflated(original, original_len, 31, &n), coding = "x-gzip";
    else if (!strcmp(path, "/deflate")) body = deflated(original, original_len, 15, &n), coding = "deflate";
    else if (!strcmp(path, "/rawdeflate")) body = deflated(original, original_len, -15, &n), coding = "deflate";
    else if (!strcmp(path, "/members")) {
        /* two gzip members: the original's halves */
        size_t h = original_len / 2, n1, n2;
        unsigned char *a = deflated(original, h, 31, &n1), *b = deflated(original + h, original_len - h, 31, &n2);
        body = malloc(n1 + n2);
        memcpy(body, a, n1);
        memcpy(body + n1, b, n2);
        n = n1 + n2;
        free(a);
        free(b);
    } else if (!strcmp(path, "/corrupt")) {
        body = deflated(original, original_len, 31, &n);
        for (size_t i = 20; i < n && i < 60; i++) body[i] ^= 0x5a;
    } else if (!strcmp(path, "/cut")) {
        body = deflated(original, original_len, 31, &n);
        n /= 2;
    } else if (!strcmp(path, "/br")) {
        coding = "br";
        body = malloc(5);
        memcpy(body, "brotl", 5);
        n = 5;
    }
    if (!rc) rc = eddy_http_response_header(res, "Content-Encoding", coding);
    if (!rc) rc = eddy_http_response_start(res, 200, strcmp(path, "/chunked") ? (int64_t)n : EDDY_HTTP_CHUNKED);
    if (!rc) rc = eddy_http_response_write(res, body, n);
    free(body);
    return rc ? rc : eddy_http_response_end(res);
}

HC_TEST(gzip_and_deflate_bodies_are_decoded)
{
    original_len = 300000;
    original = malloc(original_len);
    for (size_t i = 0; i < original_len; i++) original[i] = (char)("eddy decodes "[i % 13] + (i / 4096) % 3);
    world w = {.handler = coded};
    w.hooks.max_read = 1500;
    eddy_http_client_opts o = world_opts(&w);
    WITH_CLIENT(&w, &o, c) {
        const char *paths[] = {"/gzip", "/x-gzip", "/deflate", "/rawdeflate", "/members"};
        for (size_t i = 0; i < 5; i++) {
            char url[64];
            snprintf(url, sizeof url, "http://h%s", paths[i]);
            eddy_http_client_response *r;
            EDDY_OK(eddy_http_client_get(c, url, &r));
            EDDY_CHECK(r->decoded);
            EDDY_CHECK(r->content_length > 0 && r->content_length < (int64_t)original_len / 10);
            EDDY_CHECK(eddy_http_str_ieq(eddy_http_client_response_header(r, "X-Accept-Encoding"), "yes"));
            /* in reads of 7 bytes, then all at once */
            size_t len = 0;
            char *b = malloc(original_len + 1);
            ssize_t k;
            while (len < 1000 && (k = eddy_stream_read(r->body, b + len, 7)) > 0) len += (size_t)k;
            size_t rest;
            EDDY_OK(eddy_http_client_response_read_all(r, b + len, original_len + 1 - len, &rest));
            len += rest;
            if (len != original_len || memcmp(b, original, len))
                eddy_test_fail(__FILE__, __LINE__, "%s: %zu bytes", paths[i], len);
            free(b);
            eddy_http_client_response_close(r);
        }
        EDDY_CHECK_EQ(w.connects, 1);
        /* broken codings fail the body's reads */
        const char *bad[] = {"http://h/corrupt", "http://h/cut"};
        for (int i = 0; i < 2; i++) {
            eddy_http_client_response *r;
            EDDY_OK(eddy_http_client_get(c, bad[i], &r));
            int err;
            free(read_body(r, NULL, &err));
            EDDY_CHECK_EQ(err, EDDY_EHTTP_DECODE);
            char x;
            EDDY_CHECK_EQ(eddy_stream_read(r->body, &x, 1), EDDY_EHTTP_DECODE); /* sticky */
            eddy_http_client_response_close(r);
        }
        /* a coding the client does not know is left alone */
        eddy_http_client_response *r;
        EDDY_OK(eddy_http_client_get(c, "http://h/br", &r));
        EDDY_CHECK(!r->decoded);
        int err;
        char *b = read_body(r, NULL, &err);
        EDDY_CHECK(!strcmp(b, "brotl"));
        free(b);
        eddy_http_client_response_close(r);
    }
    /* decompress off: no Accept-Encoding, the bytes as sent */
    world w2 = {.handler = coded};
    o = world_opts(&w2);
    o.decompress = false;
    WITH_CLIENT(&w2, &o, c) {
        eddy_http_client_response *r;
        EDDY_OK(eddy_http_client_get(c, "http://h/gzip", &r));
        EDDY_CHECK(!r->decoded);
        EDDY_CHECK(eddy_http_str_ieq(eddy_http_client_response_header(r, "X-Accept-Encoding"), "no"));
        size_t len;
        int err;
        char *b = read_body(r, &len, &err);
        EDDY_CHECK_EQ((int64_t)len, r->content_length);
        EDDY_CHECK((unsigned char)b[0] == 0x1f && (unsigned char)b[1] == 0x8b); /* gzip magic */
        free(b);
        eddy_http_client_response_close(r);
    }
    free(original);
    return 0;
}
#else
/* Built without zlib: nothing is asked for and nothing decoded. */
static int gz(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)arg;
    const eddy_http_field *ae = eddy_http_field_find(req->fields, req->nfields, 0, "Accept-Encoding");
    int rc = eddy_http_response_header(res, "Content-Encoding", "gzip");
    return rc ? rc : eddy_http_response_send(res, 200, NULL, ae ? "asked" : "plain", 5);
}

HC_TEST(without_zlib_nothing_is_decoded)
{
    world w = {.handler = gz};
    eddy_http_client_opts o = world_opts(&w);
    WITH_CLIENT(&w, &o, c) {
        eddy_http_client_response *r;
        EDDY_OK(eddy_http_client_get(c, "http://h/", &r));
        EDDY_CHECK(!r->decoded);
        int err;
        char *b = read_body(r, NULL, &err);
        EDDY_CHECK(!strcmp(b, "plain"));
        free(b);
        eddy_http_client_response_close(r);
    }
    return 0;
}
#endif

/* ---- proxies ---- */

typedef struct proxy_log {
    int requests;
    char line[8][256];
    char auth[8][128];
    eddy_tls_ctx *tls; /* the tunnelled server's */
    const char *answer_connect;
} proxy_log;

static proxy_log plog;

/* A proxy: CONNECT opens a tunnel to a TLS server of eddy's (serving site); any other request
 * (absolute form) is answered by the proxy itself with what it saw. */
static int raw_proxy(eddy_stream *s, void *arg)
{
    (void)arg;
    raw_req *r = malloc(sizeof *r);
    r->len = r->used = 0;
    int rc;
    while ((rc = raw_read_request(s, r)) > 0) {
        int i = plog.requests++ % 8;
        snprintf(plog.line[i], sizeof plog.line[i], "%.*s %.*s", (int)r->m.method.len, r->m.method.ptr,
                 (int)r->m.target.len, r->m.target.ptr);
        raw_field(r, "Proxy-Authorization", plog.auth[i], sizeof plog.auth[i]);
        if (r->m.method_id == EDDY_HTTP_CONNECT) {
            if (plog.answer_connect) {
                rc = raw_write(s, plog.answer_connect);
                break;
            }
            if ((rc = raw_write(s, "HTTP/1.1 200 Connection established\r\n\r\n")) < 0) break;
            eddy_stream *t;
            eddy_tls_opts to = EDDY_TLS_OPTS_INIT;
            to.borrow = true;
            if ((rc = eddy_tls_server(s, plog.tls, &to, &t)) < 0) break;
            eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
            rc = eddy_http_serve_stream(t, site, NULL, &o);
            int crc = eddy_stream_close(t);
            (void)crc;
            break;
        }
        char out[512];
        int n = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(plog.line[i]), plog.line[i]);
        if ((rc = eddy_stream_write_all(s, out, (size_t)n)) < 0) break;
    }
    free(r);
    return rc;
}

HC_TEST(http_requests_go_to_the_proxy_in_absolute_form)
{
    memset(&plog, 0, sizeof plog);
    world w = {.raw = raw_proxy};
    eddy_http_client_opts o = world_opts(&w);
    o.proxy = "http://alice:pw@proxy.test:3128";
    WITH_CLIENT(&w, &o, c) {
        answer a = do_request(c, &(eddy_http_client_request){.url = "http://site.test/x?y=1"});
        EDDY_OK(a.rc);
        EDDY_CHECK(!strcmp(a.body, "GET http://site.test/x?y=1"));
        free(a.body);
        a = do_request(c, &(eddy_http_client_request){.url = "http://other.test:81/"});
        EDDY_CHECK(!strcmp(a.body, "GET http://other.test:81/"));
        free(a.body);
        EDDY_CHECK(!strcmp(w.host, "proxy.test"));
        EDDY_CHECK_EQ(w.port, 3128);
        EDDY_CHECK(!strcmp(plog.auth[0], "Basic YWxpY2U6cHc=")); /* alice:pw */
        EDDY_CHECK_EQ(w.connects, 1); /* one pool for every http:// origin through the proxy */
    }
    return 0;
}

#ifdef EDDY_TEST_OPENSSL
static eddy_http_client_opts tls_world_opts(world *w, eddy_tls_client_opts *to)
{
    eddy_http_client_opts o = world_opts(w);
    *to = (eddy_tls_client_opts)EDDY_TLS_CLIENT_OPTS_INIT;
    to->ca_file = tls_file("ca.pem");
    o.tls_opts = to;
    return o;
}

HC_TEST(https_requests_tunnel_through_connect)
{
    memset(&plog, 0, sizeof plog);
    plog.tls = tls_server_ctx_for("server");
    world w = {.raw = raw_proxy};
    eddy_tls_client_opts to;
    eddy_http_client_opts o = tls_world_opts(&w, &to);
    o.proxy = "http://proxy.test:3128";
    WITH_CLIENT(&w, &o, c) {
        for (int i = 0; i < 2; i++) {
            answer a = do_request(c, &(eddy_http_client_request){.url = "https://localhost:8443/secret"});
            EDDY_OK(a.rc);
            EDDY_CHECK_EQ(a.status, 200);
            EDDY_CHECK(strstr(a.body, "GET /secret\n") == a.body); /* origin form inside */
            EDDY_CHECK(strstr(a.body, "\nHost: localhost:8443\n"));
            free(a.body);
        }
        EDDY_CHECK_EQ(plog.requests, 1); /* one tunnel, kept */
        EDDY_CHECK(!strcmp(plog.line[0], "CONNECT localhost:8443"));
        EDDY_CHECK(!strcmp(plog.auth[0], ""));
        EDDY_CHECK_EQ(w.connects, 1);
        /* a proxy that refuses */
        plog.answer_connect = "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n";
        eddy_http_client_response *r;
        EDDY_CHECK_EQ(eddy_http_client_get(c, "https://elsewhere:443/", &r), EDDY_EHTTP_PROXY);
        EDDY_CHECK(!strcmp(plog.line[1], "CONNECT elsewhere:443"));
    }
    eddy_tls_ctx_close(plog.tls);
    return 0;
}

/* A server context for cert that speaks h2 and http/1.1 (ALPN), preferring h2. */
static eddy_tls_ctx *alpn_server_ctx(const char *cert)
{
    static const char *const alpn[] = {"h2", "http/1.1", NULL};
    char cf[64], kf[64];
    snprintf(cf, sizeof cf, "%s.pem", cert);
    snprintf(kf, sizeof kf, "%s.key", cert);
    eddy_tls_cert ck = {.cert_file = tls_file(cf), .key_file = tls_file(kf)};
    eddy_tls_server_opts so = EDDY_TLS_SERVER_OPTS_INIT;
    so.certs = &ck;
    so.ncerts = 1;
    so.alpn = alpn;
    eddy_tls_ctx *ctx;
    EDDY_OK(eddy_tls_server_ctx_open(&so, &ctx));
    return ctx;
}

HC_TEST(https_verifies_negotiates_http11_and_resumes)
{
    world w = {.handler = site};
    w.tls = alpn_server_ctx("server");
    eddy_tls_client_opts to;
    eddy_http_client_opts o = tls_world_opts(&w, &to);
    o.idle_timeout = 0; /* a new connection per request: each after the first resumes */
    WITH_CLIENT(&w, &o, c) {
        for (int i = 0; i < 3; i++) {
            answer a = do_request(c, &(eddy_http_client_request){.url = "https://localhost/x"});
            EDDY_OK(a.rc);
            EDDY_CHECK_EQ(a.status, 200);
            EDDY_CHECK(strstr(a.body, "\nHost: localhost\n"));
            free(a.body);
        }
        EDDY_CHECK_EQ(w.port, 443);
        EDDY_CHECK(!strcmp(w.alpn, "http/1.1"));
        EDDY_CHECK_EQ(w.handshakes, 3);
        EDDY_CHECK_EQ(w.resumed, 2);
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.tls_resumed, 2);
        /* the wrong name */
        eddy_http_client_response *r;
        EDDY_CHECK_EQ(eddy_http_client_get(c, "https://wrong.test/", &r), EDDY_ETLS_HOSTNAME);
    }
    eddy_tls_ctx_close(w.tls);
    /* an untrusted certificate; then the same with verification off */
    world w2 = {.handler = site};
    w2.tls = alpn_server_ctx("self");
    o = tls_world_opts(&w2, &to);
    WITH_CLIENT(&w2, &o, c) {
        eddy_http_client_response *r;
        EDDY_CHECK_EQ(eddy_http_client_get(c, "https://localhost/", &r), EDDY_ETLS_VERIFY);
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 0);
    }
    to.insecure = true;
    WITH_CLIENT(&w2, &o, c) {
        answer a = do_request(c, &(eddy_http_client_request){.url = "https://localhost/"});
        EDDY_OK(a.rc);
        free(a.body);
    }
    /* a context of the caller's, borrowed */
    eddy_tls_ctx *mine;
    EDDY_OK(eddy_tls_client_ctx_open(&to, &mine));
    o.tls_opts = NULL;
    o.tls_ctx = mine;
    WITH_CLIENT(&w2, &o, c) {
        answer a = do_request(c, &(eddy_http_client_request){.url = "https://127.0.0.1/"});
        EDDY_OK(a.rc);
        free(a.body);
        EDDY_CHECK(!strcmp(w2.alpn, "")); /* that context offers no ALPN */
    }
    eddy_tls_ctx_close(mine);
    eddy_tls_ctx_close(w2.tls);
    return 0;
}

static int raw_silent(eddy_stream *s, void *arg)
{
    (void)s, (void)arg;
    return eddy_sleep_forever();
}

HC_TEST(tls_handshake_time_limit)
{
    world w = {.raw = raw_silent};
    eddy_tls_client_opts to;
    eddy_http_client_opts o = tls_world_opts(&w, &to);
    o.timeouts.tls = EDDY_SEC(4);
    WITH_CLIENT(&w, &o, c) {
        eddy_http_client_response *r;
        int64_t t0 = eddy_now();
        EDDY_CHECK_EQ(eddy_http_client_get(c, "https://localhost/", &r), EDDY_EHTTP_TLS_TIMEOUT);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(4));
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 0);
    }
    return 0;
}
#endif
