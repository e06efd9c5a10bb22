/* The HTTP client (W1) against a real nginx (Debian nginx-light, started by each case, see
 * nginx_util.h), over TCP on the real clock: keep-alive reuse and the connection limit counted
 * by nginx's own access log, chunked and gzip bodies, redirects, HTTPS with a test CA made at
 * test time (tls_util.h), session resumption as nginx reports it, a cancelled request's
 * connection, and both kinds of proxying through a small CONNECT proxy written here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "eddy/test.h"
#include "http_client_util.h"
#include "nginx_util.h"
#ifdef EDDY_TEST_OPENSSL
#include "tls_util.h"
#endif

#define NGX_TEST(name) EDDY_TEST_EX(name, .real_clock = true, .stack_size = 512 * 1024, .timeout = EDDY_SEC(60))

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    EDDY_CHECK(f != NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    EDDY_CHECK(fread(b, 1, (size_t)n, f) == (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

static char *get(eddy_http_client *c, const char *url, int *status, size_t *len)
{
    eddy_http_client_response *r;
    int rc = eddy_http_client_get(c, url, &r);
    if (rc) eddy_test_fail(__FILE__, __LINE__, "GET %s: %s", url, eddy_strerror(rc));
    *status = r->status;
    int err;
    char *b = read_body(r, len, &err);
    EDDY_OK(err);
    eddy_http_client_response_close(r);
    return b;
}

static void url(char *buf, size_t cap, const char *scheme, int port, const char *path)
{
    snprintf(buf, cap, "%s://%s:%d%s", scheme, strcmp(scheme, "https") ? "127.0.0.1" : "localhost", port, path);
}

NGX_TEST(nginx_keep_alive_reuses_one_connection)
{
    nginx x;
    nginx_start(&x, NULL, NULL);
    eddy_http_client *c;
    EDDY_OK(eddy_http_client_open(NULL, &c));
    char u[128];
    url(u, sizeof u, "http", x.port, "/");
    for (int i = 0; i < 20; i++) {
        int st;
        size_t len;
        char *b = get(c, u, &st, &len);
        EDDY_CHECK_EQ(st, 200);
        EDDY_CHECK(!strcmp(b, "Hello, World!\n"));
        free(b);
    }
    struct eddy_http_client_stats s;
    eddy_http_client_stats(c, &s);
    EDDY_CHECK_EQ(s.connections, 1);
    EDDY_CHECK_EQ(s.reused, 19);
    EDDY_OK(eddy_http_client_close(c));
    nginx_log g = nginx_stop(&x);
    EDDY_CHECK_EQ(g.requests, 20);
    EDDY_CHECK_EQ(g.connections, 1);
    return 0;
}

typedef struct job {
    eddy_http_client *c;
    const char *url;
    int status;
    size_t len;
} job;

static int fetch_job(void *arg)
{
    job *j = arg;
    char *b = get(j->c, j->url, &j->status, &j->len);
    free(b);
    return 0;
}

/* 20 requests at once with max_conns 2: nginx sees exactly two connections. */
NGX_TEST(nginx_connection_limit)
{
    nginx x;
    nginx_start(&x, NULL, NULL);
    eddy_http_client_opts o = EDDY_HTTP_CLIENT_OPTS_INIT;
    o.max_conns = 2;
    o.decompress = false; /* 400 KB each: the requests overlap */
    eddy_http_client *c;
    EDDY_OK(eddy_http_client_open(&o, &c));
    char u[128];
    url(u, sizeof u, "http", x.port, "/static/big.txt");
    job j[20];
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        for (int i = 0; i < 20; i++) {
            j[i] = (job){.c = c, .url = u};
            EDDY_OK(eddy_spawn(n, fetch_job, &j[i]));
        }
        struct eddy_http_client_stats s;
        eddy_http_client_stats(c, &s);
        EDDY_CHECK_EQ(s.open, 2);
        EDDY_CHECK_EQ(s.waiting, 18);
    }
    EDDY_OK(nrc);
    for (int i = 0; i < 20; i++) {
        EDDY_CHECK_EQ(j[i].status, 200);
        EDDY_CHECK_EQ(j[i].len, x.big_len);
    }
    EDDY_OK(eddy_http_client_close(c));
    nginx_log g = nginx_stop(&x);
    EDDY_CHECK_EQ(g.requests, 20);
    EDDY_CHECK_EQ(g.connections, 2);
    return 0;
}

NGX_TEST(nginx_chunked_and_gzip_bodies)
{
    nginx x;
    nginx_start(&x, NULL, NULL);
    size_t flen;
    char *file = read_file(x.big, &flen);
    eddy_http_client *c;
    EDDY_OK(eddy_http_client_open(NULL, &c));
    char u[128];
    /* sub_filter: chunked, never gzipped */
    url(u, sizeof u, "http", x.port, "/static/sub.txt");
    eddy_http_client_response *r;
    EDDY_OK(eddy_http_client_get(c, u, &r));
    EDDY_CHECK_EQ(r->content_length, -1);
    EDDY_CHECK(eddy_http_str_ieq(eddy_http_client_response_header(r, "Transfer-Encoding"), "chunked"));
    EDDY_CHECK(!r->decoded);
    int err;
    size_t len;
    char *b = read_body(r, &len, &err);
    EDDY_OK(err);
    EDDY_CHECK_EQ(len, 100 * 12);
    EDDY_CHECK(!strncmp(b, "hello YY 00\nhello YY 01\n", 24));
    EDDY_CHECK(!strstr(b, "XX"));
    free(b);
    eddy_http_client_response_close(r);
    /* gzip (chunked), decoded to the file's bytes */
    url(u, sizeof u, "http", x.port, "/static/big.txt");
    EDDY_OK(eddy_http_client_get(c, u, &r));
#ifdef EDDY_TEST_ZLIB
    EDDY_CHECK(r->decoded);
    EDDY_CHECK(eddy_http_str_ieq(eddy_http_client_response_header(r, "Content-Encoding"), "gzip"));
#else
    EDDY_CHECK(!r->decoded); /* without zlib nothing is asked for */
    EDDY_CHECK_EQ(r->content_length, (int64_t)flen);
#endif
    b = read_body(r, &len, &err);
    EDDY_OK(err);
    EDDY_CHECK_EQ(len, flen);
    EDDY_CHECK(!memcmp(b, file, flen));
    free(b);
    eddy_http_client_response_close(r);
    EDDY_OK(eddy_http_client_close(c));
    /* without Accept-Encoding: the file as it is, with a Content-Length */
    eddy_http_client_opts o = EDDY_HTTP_CLIENT_OPTS_INIT;
    o.decompress = false;
    EDDY_OK(eddy_http_client_open(&o, &c));
    EDDY_OK(eddy_http_client_get(c, u, &r));
    EDDY_CHECK_EQ(r->content_length, (int64_t)flen);
    b = read_body(r, &len, &err);
    EDDY_CHECK_EQ(len, flen);
    EDDY_CHECK(!memcmp(b, file, flen));
    free(b);
    eddy_http_client_response_close(r);
    /* asking for gzip ourselves: the compressed bytes */
    const char *ae[] = {"Accept-Encoding", "gzip", NULL};
    EDDY_OK(eddy_http_client_send(c, &(eddy_http_client_request){.url = u, .headers = ae}, &r));
    EDDY_CHECK(!r->decoded);
    b = read_body(r, &len, &err);
    EDDY_CHECK(len < flen / 3 && (unsigned char)b[0] == 0x1f && (unsigned char)b[1] == 0x8b);
    free(b);
    eddy_http_client_response_close(r);
    EDDY_OK(eddy_http_client_close(c));
    free(file);
    EDDY_CHECK_EQ(nginx_stop(&x).connections, 2);
    return 0;
}

NGX_TEST(nginx_redirects)
{
    nginx x;
    nginx_start(&x, NULL, NULL);
    eddy_http_client_opts o = EDDY_HTTP_CLIENT_OPTS_INIT;
    o.max_redirects = 6;
    eddy_http_client *c;
    EDDY_OK(eddy_http_client_open(&o, &c));
    char u[128];
    url(u, sizeof u, "http", x.port, "/r6"); /* 308, 307, 301, 302 (relative "r2"), 302, 302 */
    eddy_http_client_response *r;
    EDDY_OK(eddy_http_client_get(c, u, &r));
    EDDY_CHECK_EQ(r->status, 200);
    EDDY_CHECK_EQ(r->redirects, 6);
    char want[128];
    url(want, sizeof want, "http", x.port, "/");
    EDDY_CHECK(!strcmp(r->url, want));
    int err;
    char *b = read_body(r, NULL, &err);
    EDDY_CHECK(!strcmp(b, "Hello, World!\n"));
    free(b);
    eddy_http_client_response_close(r);
    /* to the second server: another origin */
    url(u, sizeof u, "http", x.port, "/cross");
    EDDY_OK(eddy_http_client_get(c, u, &r));
    b = read_body(r, NULL, &err);
    EDDY_CHECK(!strcmp(b, "second\n"));
    url(want, sizeof want, "http", x.port2, "/there");
    EDDY_CHECK(!strcmp(r->url, want));
    free(b);
    eddy_http_client_response_close(r);
    EDDY_OK(eddy_http_client_close(c));
    /* one fewer allowed than needed */
    o.max_redirects = 5;
    EDDY_OK(eddy_http_client_open(&o, &c));
    url(u, sizeof u, "http", x.port, "/r6");
    EDDY_CHECK_EQ(eddy_http_client_get(c, u, &r), EDDY_EHTTP_REDIRECTS);
    EDDY_OK(eddy_http_client_close(c));
    /* by default none: nginx's 308 page */
    EDDY_OK(eddy_http_client_open(NULL, &c));
    EDDY_OK(eddy_http_client_get(c, u, &r));
    EDDY_CHECK_EQ(r->status, 308);
    EDDY_CHECK(eddy_http_str_ieq(eddy_http_client_response_header(r, "Location"), "/r5"));
    eddy_http_client_response_close(r);
    EDDY_OK(eddy_http_client_close(c));
    nginx_log g = nginx_stop(&x);
    EDDY_CHECK_EQ(g.connections, 4); /* one per client and origin: redirects reuse it */
    return 0;
}

/* A request given up in the middle of its body: its connection is closed, not pooled. */
NGX_TEST(nginx_abandoned_body_costs_the_connection)
{
    nginx x;
    nginx_start(&x, NULL, NULL);
    eddy_http_client_opts o = EDDY_HTTP_CLIENT_OPTS_INIT;
    o.decompress = false;
    eddy_http_client *c;
    EDDY_OK(eddy_http_client_open(&o, &c));
    char u[128];
    url(u, sizeof u, "http", x.port, "/static/big.txt");
    eddy_http_client_response *r;
    EDDY_OK(eddy_http_client_get(c, u, &r));
    char buf[1000];
    size_t len;
    EDDY_CHECK_EQ(eddy_http_client_response_read_all(r, buf, sizeof buf, &len), -EMSGSIZE);
    eddy_http_client_response_close(r);
    struct eddy_http_client_stats s;
    eddy_http_client_stats(c, &s);
    EDDY_CHECK_EQ(s.open, 0);
    int st;
    url(u, sizeof u, "http", x.port, "/");
    free(get(c, u, &st, &len));
    free(get(c, u, &st, &len));
    EDDY_OK(eddy_http_client_close(c));
    nginx_log g = nginx_stop(&x);
    EDDY_CHECK_EQ(g.connections, 2);
    return 0;
}

/* ---- a small CONNECT proxy ---- */

typedef struct proxy {
    eddy_listener *l;
    int port;
    int connects, forwards;
    char last[256];
} proxy;

typedef struct pipe_half {
    eddy_stream *from, *to;
} pipe_half;

static int copy_half(void *arg)
{
    pipe_half *h = arg;
    char buf[16384];
    ssize_t n;
    while ((n = eddy_stream_read(h->from, buf, sizeof buf)) > 0)
        if (eddy_stream_write_all(h->to, buf, (size_t)n) < 0) return 0;
    int rc = eddy_stream_shutdown_write(h->to);
    (void)rc;
    return 0;
}

static void splice_streams(eddy_stream *a, eddy_stream *b)
{
    pipe_half ab = {a, b}, ba = {b, a};
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        if (eddy_spawn(n, copy_half, &ab) < 0) break;
        (void)copy_half(&ba);
    }
}

/* CONNECT host:port: a tunnel; absolute form: the request goes to its origin in origin form,
 * then bytes flow both ways (enough for one origin per connection, which is what the tests
 * send). */
static int proxy_conn(eddy_stream *s, void *arg)
{
    proxy *p = arg;
    raw_req *r = malloc(sizeof *r);
    r->len = r->used = 0;
    int rc = raw_read_request(s, r);
    if (rc <= 0) goto out;
    snprintf(p->last, sizeof p->last, "%.*s %.*s", (int)r->m.method.len, r->m.method.ptr,
             (int)r->m.target.len, r->m.target.ptr);
    char host[128];
    int port = 80;
    const char *t = r->m.target.ptr;
    size_t tl = r->m.target.len;
    const char *path = "/";
    size_t pl = 1;
    if (r->m.method_id == EDDY_HTTP_CONNECT) {
        snprintf(host, sizeof host, "%.*s", (int)tl, t);
    } else {
        if (tl < 7 || strncmp(t, "http://", 7)) goto out;
        const char *a = t + 7, *slash = memchr(a, '/', tl - 7);
        snprintf(host, sizeof host, "%.*s", (int)(slash ? slash - a : (long)(tl - 7)), a);
        if (slash) path = slash, pl = tl - (size_t)(slash - t);
    }
    char *colon = strrchr(host, ':');
    if (colon) *colon = '\0', port = atoi(colon + 1);
    eddy_stream *up;
    if ((rc = eddy_tcp_connect(host, (uint16_t)port, NULL, &up)) < 0) {
        rc = raw_write(s, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        goto out;
    }
    if (r->m.method_id == EDDY_HTTP_CONNECT) {
        p->connects++;
        rc = raw_write(s, "HTTP/1.1 200 Connection established\r\n\r\n");
    } else {
        p->forwards++;
        /* request line in origin form, then the rest of the head and what followed it */
        char line[512];
        int ll = snprintf(line, sizeof line, "%.*s %.*s HTTP/1.1\r\n", (int)r->m.method.len, r->m.method.ptr,
                          (int)pl, path);
        const char *rest = memchr(r->buf, '\n', r->len) + 1;
        rc = eddy_stream_write_all(up, line, (size_t)ll);
        if (rc == 0) rc = eddy_stream_write_all(up, rest, r->len - (size_t)(rest - r->buf));
    }
    if (rc == 0) splice_streams(s, up);
    int crc = eddy_stream_close(up);
    (void)crc; /* the proxy's upstream: the client's view of the tunnel is what is tested */
out:
    free(r);
    return 0;
}

static int proxy_main(void *arg)
{
    proxy *p = arg;
    return eddy_serve(p->l, proxy_conn, p, NULL);
}

static void proxy_start(proxy *p, eddy_nursery *n)
{
    memset(p, 0, sizeof *p);
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &p->l));
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_local_addr(p->l, &a));
    p->port = eddy_sockaddr_port(&a);
    EDDY_OK(eddy_spawn(n, proxy_main, p, .name = "proxy"));
}

#ifdef EDDY_TEST_OPENSSL
static eddy_http_client *tls_client(eddy_http_client_opts *o)
{
    static eddy_tls_client_opts to = EDDY_TLS_CLIENT_OPTS_INIT;
    to.ca_file = tls_file("ca.pem");
    o->tls_opts = &to;
    eddy_http_client *c;
    EDDY_OK(eddy_http_client_open(o, &c));
    return c;
}

NGX_TEST(nginx_https_with_a_test_ca)
{
    nginx x;
    nginx_start(&x, tls_file("server.pem"), tls_file("server.key"));
    eddy_http_client_opts o = EDDY_HTTP_CLIENT_OPTS_INIT;
    eddy_http_client *c = tls_client(&o);
    char u[128];
    url(u, sizeof u, "https", x.tls_port, "/");
    for (int i = 0; i < 10; i++) {
        int st;
        size_t len;
        char *b = get(c, u, &st, &len);
        EDDY_CHECK(!strcmp(b, "Hello, TLS!\n"));
        free(b);
    }
    /* gzip over TLS */
    url(u, sizeof u, "https", x.tls_port, "/static/big.txt");
    eddy_http_client_response *r;
    EDDY_OK(eddy_http_client_get(c, u, &r));
    EDDY_CHECK(r->decoded);
    int err;
    size_t len;
    free(read_body(r, &len, &err));
    EDDY_OK(err);
    EDDY_CHECK_EQ(len, x.big_len);
    eddy_http_client_response_close(r);
    struct eddy_http_client_stats s;
    eddy_http_client_stats(c, &s);
    EDDY_CHECK_EQ(s.connections, 1);
    EDDY_OK(eddy_http_client_close(c));
    /* a new connection per request: each after the first resumes the session */
    o.idle_timeout = 0;
    c = tls_client(&o);
    url(u, sizeof u, "https", x.tls_port, "/");
    for (int i = 0; i < 3; i++) {
        int st;
        free(get(c, u, &st, &len));
    }
    eddy_http_client_stats(c, &s);
    EDDY_CHECK_EQ(s.connections, 3);
    EDDY_CHECK_EQ(s.tls_resumed, 2);
    EDDY_OK(eddy_http_client_close(c));
    /* the system's CAs do not know the test CA */
    EDDY_OK(eddy_http_client_open(NULL, &c));
    EDDY_CHECK_EQ(eddy_http_client_get(c, u, &r), EDDY_ETLS_VERIFY);
    /* plain HTTP to the TLS port: nginx answers 400 */
    url(u, sizeof u, "http", x.tls_port, "/");
    EDDY_OK(eddy_http_client_get(c, u, &r));
    EDDY_CHECK_EQ(r->status, 400); /* nginx: "plain HTTP request was sent to HTTPS port" */
    eddy_http_client_response_close(r);
    EDDY_OK(eddy_http_client_close(c));
    nginx_log g = nginx_stop(&x);
    EDDY_CHECK_EQ(g.requests, 11 + 3 + 1);
    EDDY_CHECK_EQ(g.connections, 1 + 3 + 1); /* the failed handshake is no request */
    EDDY_CHECK_EQ(g.resumed, 2);
    return 0;
}

#endif

/* Both kinds of proxying through the proxy above: http:// in absolute form, https:// through a
 * CONNECT tunnel with TLS inside (with OpenSSL). */
NGX_TEST(nginx_through_a_connect_proxy)
{
    nginx x;
#ifdef EDDY_TEST_OPENSSL
    nginx_start(&x, tls_file("server.pem"), tls_file("server.key"));
#else
    nginx_start(&x, NULL, NULL);
#endif
    proxy p;
    int nrc = 0, tunnelled = 0;
    EDDY_NURSERY(n, &nrc) {
        proxy_start(&p, n);
        char pu[64];
        snprintf(pu, sizeof pu, "http://127.0.0.1:%d", p.port);
        eddy_http_client_opts o = EDDY_HTTP_CLIENT_OPTS_INIT;
        o.proxy = pu;
        char u[128], want[128];
        int st;
        size_t len;
#ifdef EDDY_TEST_OPENSSL
        eddy_http_client *c = tls_client(&o);
        url(u, sizeof u, "https", x.tls_port, "/");
        for (int i = 0; i < 3; i++) {
            char *b = get(c, u, &st, &len);
            EDDY_CHECK(!strcmp(b, "Hello, TLS!\n"));
            free(b);
        }
        tunnelled = 3;
        EDDY_CHECK_EQ(p.connects, 1);
        snprintf(want, sizeof want, "CONNECT localhost:%d", x.tls_port);
        EDDY_CHECK(!strcmp(p.last, want));
        /* the proxy's refusal of a tunnel */
        eddy_http_client_response *r;
        EDDY_CHECK_EQ(eddy_http_client_get(c, "https://localhost:1/", &r), EDDY_EHTTP_PROXY);
#else
        eddy_http_client *c;
        EDDY_OK(eddy_http_client_open(&o, &c));
#endif
        url(u, sizeof u, "http", x.port, "/");
        for (int i = 0; i < 3; i++) {
            char *b = get(c, u, &st, &len);
            EDDY_CHECK(!strcmp(b, "Hello, World!\n"));
            free(b);
        }
        EDDY_CHECK_EQ(p.forwards, 1);
        snprintf(want, sizeof want, "GET http://127.0.0.1:%d/", x.port);
        EDDY_CHECK(!strcmp(p.last, want));
        EDDY_OK(eddy_http_client_close(c));
        eddy_nursery_cancel(n);
    }
    EDDY_OK(nrc);
    EDDY_OK(eddy_listener_close(p.l));
    nginx_log g = nginx_stop(&x);
    EDDY_CHECK_EQ(g.requests, tunnelled + 3);
    EDDY_CHECK_EQ(g.connections, tunnelled ? 2 : 1);
    return 0;
}
