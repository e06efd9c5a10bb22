/* What the HTTP client's tests share: a "world" of fake servers on memory stream pairs, which
 * the client reaches through its connect hook (so every time limit runs on the virtual clock),
 * either eddy's own HTTP server (eddy_http_serve_stream) with a handler, or a raw server that
 * reads request heads and writes whatever bytes the test wants. */
#ifndef EDDY_HTTP_CLIENT_UTIL_H
#define EDDY_HTTP_CLIENT_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "eddy/test.h"
#include "http/parse.h"

#ifdef EDDY_TEST_ZLIB
#define EDDY_TEST_HAS_ZLIB 1
#else
#define EDDY_TEST_HAS_ZLIB 0
#endif

#define HC_TEST(name) EDDY_TEST_EX(name, .stack_size = 512 * 1024)

typedef int (*raw_server_fn)(eddy_stream *s, void *arg);

typedef struct world {
    eddy_nursery *n;           /* where server tasks run (the test's nursery) */
    eddy_http_handler handler; /* eddy's server with this handler, or ... */
    void *harg;
    raw_server_fn raw;         /* ... a raw server */
    void *rarg;
    int connects;              /* connections made through the hook */
    int refuse;                /* fail this connect (1 = the first) with -ECONNREFUSED */
    bool stall;                /* connects never complete */
    eddy_memstream_hooks hooks;
    char host[64];             /* the last connect's */
    int port;
    /* per-host servers: a connect to hosts[i] gets handlers[i] (else the default above) */
    const char *hosts[4];
    eddy_http_handler handlers[4];
    raw_server_fn raws[4];
    /* TLS in front of the server (eddy's, not raw), with what the handshakes saw */
    eddy_tls_ctx *tls;
    char alpn[32];
    int handshakes, resumed, tls_failed;
} world;

typedef struct srv_conn {
    world *w;
    eddy_stream *s;
    eddy_http_handler handler;
    raw_server_fn raw;
    void *arg;
} srv_conn;

static int srv_conn_main(void *p)
{
    srv_conn *sc = p;
    world *w = sc->w;
    if (sc->handler && w->tls) {
        eddy_stream *t;
        eddy_tls_opts to = EDDY_TLS_OPTS_INIT;
        to.borrow = true;
        if (eddy_tls_server(sc->s, w->tls, &to, &t) == 0) {
            w->handshakes++;
            if (eddy_tls_is_resumed(t)) w->resumed++;
            const char *a = eddy_tls_alpn(t);
            snprintf(w->alpn, sizeof w->alpn, "%s", a ? a : "");
            eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
            int rc = eddy_http_serve_stream(t, sc->handler, sc->arg, &o);
            (void)rc;
            int crc = eddy_stream_close(t);
            (void)crc;
        } else {
            w->tls_failed++;
        }
    } else if (sc->handler) {
        eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
        int rc = eddy_http_serve_stream(sc->s, sc->handler, sc->arg, &o);
        (void)rc;
    } else {
        int rc = sc->raw(sc->s, sc->arg);
        (void)rc;
    }
    int crc = eddy_stream_close(sc->s); /* gracefully: the client reads what was written */
    (void)crc; /* a fake server: what the client saw is what the test checks */
    free(sc);
    return 0;
}

static int world_connect(void *ctx, const char *host, uint16_t port, eddy_stream **out)
{
    world *w = ctx;
    snprintf(w->host, sizeof w->host, "%s", host);
    w->port = port;
    if (w->stall) return eddy_sleep_forever();
    w->connects++;
    if (w->refuse && w->refuse == w->connects) return -ECONNREFUSED;
    srv_conn *sc = calloc(1, sizeof *sc);
    EDDY_CHECK(sc != NULL);
    sc->w = w;
    sc->handler = w->handler;
    sc->arg = w->handler ? w->harg : w->rarg;
    sc->raw = w->raw;
    for (int i = 0; i < 4 && w->hosts[i]; i++)
        if (!strcmp(w->hosts[i], host)) {
            sc->handler = w->handlers[i];
            sc->raw = w->raws[i];
        }
    eddy_stream *c;
    int rc = eddy__memstream_pair(&c, &sc->s, &w->hooks, EDDY__SITE);
    if (rc < 0) {
        free(sc);
        return rc;
    }
    EDDY_OK(eddy_spawn(w->n, srv_conn_main, sc, .name = "fake server"));
    *out = c;
    return 0;
}

/* Client options that connect into w. */
static inline eddy_http_client_opts world_opts(world *w)
{
    eddy_http_client_opts o = EDDY_HTTP_CLIENT_OPTS_INIT;
    o.connect = world_connect;
    o.connect_ctx = w;
    return o;
}

/* ---- handlers of eddy's server ---- */

/* Echo the request: "METHOD target", one "Name: value" line per field, an empty line, then
 * the body. */
static inline int echo_handler(eddy_http_request *req, eddy_http_response *res, void *arg)
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

/* ---- a client into a world ---- */

static inline eddy_http_client *open_client(const eddy_http_client_opts *o)
{
    eddy_http_client *c;
    EDDY_OK(eddy_http_client_open(o, &c));
    return c;
}

static inline eddy_http_client *client_done(eddy_http_client *c, eddy_nursery *n)
{
    EDDY_OK(eddy_http_client_close(c));
    eddy_nursery_cancel(n); /* the servers still running */
    return NULL;
}

static inline void check_ok(int rc) { EDDY_OK(rc); }

/* WITH_CLIENT(&w, &opts, c) { ... }: the block runs with client c open on opts (which should
 * connect into w, see world_opts), in a nursery where w's servers run; afterwards the client
 * is closed (no response may be left open) and the servers stopped. */
#define WITH_CLIENT(wp, optsp, c)                                                             \
    for (int nrc_ = 0, once_ = 1; once_; once_ = 0, check_ok(nrc_))                           \
        EDDY_NURSERY(n_, &nrc_)                                                               \
    for (eddy_http_client *c = ((wp)->n = n_, open_client(optsp)); c; c = client_done(c, n_))

/* ---- raw servers ---- */

/* Read one request head (and a Content-Length body, into *body if not NULL) from s into buf.
 * Returns the head length, 0 at end of stream, or an error. The parsed head is in *m. */
typedef struct raw_req {
    char buf[16384];
    size_t len, used;
    eddy__http_msg m;
    eddy_http_field f[64];
    char body[16384];
    size_t body_len;
} raw_req;

static inline int raw_read_request(eddy_stream *s, raw_req *r)
{
    /* drop the previous request */
    memmove(r->buf, r->buf + r->used, r->len - r->used);
    r->len -= r->used;
    r->used = 0;
    eddy__http_limits lim = {8192, 16384, 64};
    for (;;) {
        size_t scan = 0;
        ssize_t h = r->len ? eddy__http_parse_request(r->buf, r->len, &scan, &lim, r->f, &r->m) : 0;
        if (h < 0) return (int)h;
        if (h > 0) {
            r->used = (size_t)h;
            r->body_len = 0;
            if (r->m.body == EDDY__HTTP_BODY_LENGTH) {
                while (r->len - r->used < r->m.content_length) {
                    ssize_t n = eddy_stream_read(s, r->buf + r->len, sizeof r->buf - r->len);
                    if (n <= 0) return n < 0 ? (int)n : -EPIPE;
                    r->len += (size_t)n;
                }
                memcpy(r->body, r->buf + r->used, r->m.content_length);
                r->body_len = r->m.content_length;
                r->used += r->m.content_length;
            }
            return (int)h;
        }
        ssize_t n = eddy_stream_read(s, r->buf + r->len, sizeof r->buf - r->len);
        if (n <= 0) return (int)n;
        r->len += (size_t)n;
    }
}

/* The value of the request's field name as a C string in out (empty if absent). */
static inline const char *raw_field(const raw_req *r, const char *name, char *out, size_t cap)
{
    const eddy_http_field *f = eddy_http_field_find(r->f, r->m.nfields, 0, name);
    if (!f) {
        out[0] = '\0';
        return out;
    }
    snprintf(out, cap, "%.*s", (int)f->value.len, f->value.ptr);
    return out;
}

static inline int raw_write(eddy_stream *s, const char *text)
{
    return eddy_stream_write_all(s, text, strlen(text));
}

/* Read a whole response body into a malloc'd, NUL-terminated buffer. */
static inline char *read_body(eddy_http_client_response *r, size_t *len, int *err)
{
    size_t cap = 1024, n = 0;
    char *b = malloc(cap + 1);
    EDDY_CHECK(b != NULL);
    *err = 0;
    for (;;) {
        if (n == cap) {
            b = realloc(b, (cap *= 2) + 1);
            EDDY_CHECK(b != NULL);
        }
        ssize_t k = eddy_stream_read(r->body, b + n, cap - n);
        if (k < 0) *err = (int)k;
        if (k <= 0) break;
        n += (size_t)k;
    }
    b[n] = '\0';
    if (len) *len = n;
    return b;
}

#endif
