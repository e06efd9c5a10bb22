/* Shared helpers of the HTTP tests: a raw client over any stream that writes request bytes
 * and reads responses (parsed with the library's own response parser, which test_http_parse.c
 * checks on its own), and a server fixture running eddy_http_serve_stream on one end of a
 * memory stream pair. */
#ifndef EDDY_HTTP_TEST_UTIL_H
#define EDDY_HTTP_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "eddy/test.h"
#include "http/parse.h"

/* HTTP test cases run on a larger stack: responses are parsed into stack structs, and ASan
 * adds redzones around every one. */
#define HTTP_TEST(name) EDDY_TEST_EX(name, .stack_size = 512 * 1024)

/* ---- client ---- */

#define HC_BUF (256 * 1024)

typedef struct hclient {
    eddy_stream *s;
    char *buf;
    size_t len; /* buffered, not yet consumed */
    bool eof;
} hclient;

typedef struct hresp {
    int status, version;
    size_t nf;
    char name[32][48];
    char value[32][256];
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
    bool chunked, keep_alive;
} hresp;

static inline void hc_init(hclient *c, eddy_stream *s)
{
    c->s = s;
    c->buf = malloc(HC_BUF);
    EDDY_CHECK(c->buf != NULL);
    c->len = 0;
    c->eof = false;
}

static inline void hc_fini(hclient *c) { free(c->buf); }

static inline void hr_free(hresp *r)
{
    free(r->body);
    r->body = NULL;
}

static inline int hc_send(hclient *c, const char *s) { return eddy_stream_write_all(c->s, s, strlen(s)); }

/* Read more into the buffer: > 0 bytes, 0 at end of stream, or the error. */
static inline ssize_t hc_fill(hclient *c)
{
    if (c->len == HC_BUF) return -ENOBUFS;
    ssize_t n = eddy_stream_read(c->s, c->buf + c->len, HC_BUF - c->len);
    if (n > 0) c->len += (size_t)n;
    if (n == 0) c->eof = true;
    return n;
}

static inline void hc_consume(hclient *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* The value of a response field (case-insensitive), or NULL. */
static inline const char *hr_get(const hresp *r, const char *name)
{
    for (size_t i = 0; i < r->nf; i++)
        if (strcasecmp(r->name[i], name) == 0) return r->value[i];
    return NULL;
}

/* Read one whole response (to a request of method_id). 0; -EPIPE if the stream ended first;
 * -EBADMSG if it is not HTTP; the stream's errors. */
static inline int hc_read(hclient *c, hresp *r, int method_id)
{
    memset(r, 0, sizeof *r);
    eddy__http_limits lim = {.max_line = 8192, .max_head = 65536, .max_fields = 32};
    eddy_http_field f[32];
    eddy__http_msg m;
    size_t scan = 0;
    ssize_t head;
    for (;;) {
        head = eddy__http_parse_response(c->buf, c->len, &scan, &lim, f, method_id, &m);
        if (head < 0) return (int)head;
        if (head > 0) break;
        ssize_t n = hc_fill(c);
        if (n <= 0) return n < 0 ? (int)n : -EPIPE;
    }
    r->status = m.status;
    r->version = m.version;
    r->keep_alive = m.keep_alive;
    r->nf = m.nfields;
    for (size_t i = 0; i < m.nfields; i++) {
        snprintf(r->name[i], sizeof r->name[i], "%.*s", (int)f[i].name.len, f[i].name.ptr);
        snprintf(r->value[i], sizeof r->value[i], "%.*s", (int)f[i].value.len, f[i].value.ptr);
    }
    int body = m.body;
    uint64_t cl = m.content_length;
    hc_consume(c, (size_t)head);
    size_t cap = 4096, len = 0;
    char *b = malloc(cap + 1);
    if (body == EDDY__HTTP_BODY_LENGTH) {
        while (len < cl) {
            if (c->len == 0 && hc_fill(c) <= 0) break;
            size_t n = c->len < cl - len ? c->len : (size_t)(cl - len);
            if (len + n > cap) b = realloc(b, (cap = (len + n) * 2) + 1);
            memcpy(b + len, c->buf, n);
            len += n;
            hc_consume(c, n);
        }
        if (len < cl) {
            free(b);
            return -EPIPE;
        }
    } else if (body == EDDY__HTTP_BODY_CHUNKED) {
        r->chunked = true;
        eddy__http_chunked d;
        eddy__http_chunked_init(&d, 0, 0);
        while (!eddy__http_chunked_done(&d)) {
            size_t off, n;
            ssize_t k = c->len ? eddy__http_chunked_decode(&d, c->buf, c->len, SIZE_MAX, &off, &n) : 0;
            if (k < 0) {
                free(b);
                return (int)k;
            }
            if (len + n > cap) b = realloc(b, (cap = (len + n) * 2) + 1);
            memcpy(b + len, c->buf + off, n);
            len += n;
            hc_consume(c, (size_t)k);
            if (k == 0 && hc_fill(c) <= 0) {
                free(b);
                return -EPIPE;
            }
        }
    } else if (body == EDDY__HTTP_BODY_CLOSE) {
        for (;;) {
            if (c->len) {
                if (len + c->len > cap) b = realloc(b, (cap = (len + c->len) * 2) + 1);
                memcpy(b + len, c->buf, c->len);
                len += c->len;
                c->len = 0;
            }
            if (hc_fill(c) <= 0) break;
        }
    }
    b[len] = '\0';
    r->body = b;
    r->body_len = len;
    return 0;
}

/* Send one request and read its response. */
static inline int hc_get(hclient *c, const char *request, hresp *r)
{
    int rc = hc_send(c, request);
    if (rc < 0) return rc;
    return hc_read(c, r, strncmp(request, "HEAD ", 5) == 0 ? EDDY_HTTP_HEAD : EDDY_HTTP_GET);
}

/* Send request, read its response and check its status, and its body unless body is NULL. */
static inline void hc_expect(hclient *c, const char *request, int status, const char *body)
{
    hresp r;
    EDDY_OK(hc_get(c, request, &r));
    if (r.status != status || (body && strcmp(r.body, body) != 0))
        fprintf(stderr, "%s-> %d '%s'\n", request, r.status, r.body);
    EDDY_CHECK_EQ(r.status, status);
    if (body) EDDY_CHECK(strcmp(r.body, body) == 0);
    hr_free(&r);
}

/* True once the server closed: reads give end of stream (or a reset) with nothing before. */
static inline bool hc_closed(hclient *c)
{
    if (c->len) return false;
    ssize_t n = hc_fill(c);
    return n == 0 || n == -ECONNRESET;
}

/* ---- server fixture: eddy_http_serve_stream on one end of a memory pair ---- */

typedef struct fixture {
    eddy_http_handler handler;
    void *arg;
    eddy_http_serve_opts o;
    eddy_http_server srv;
    eddy_stream *server_end;
    int rc;
    bool done;
    int64_t ended_at;
} fixture;

static inline int fixture_main(void *p)
{
    fixture *x = p;
    x->rc = eddy_http_serve_stream(x->server_end, x->handler, x->arg, &x->o);
    x->ended_at = eddy_now();
    x->done = true;
    int crc = eddy_stream_close(x->server_end);
    if (x->rc == 0 && crc < 0 && crc != -ECONNRESET && crc != -EPIPE) x->rc = crc;
    return 0;
}

/* Start the server on a new memory pair in nursery n; *client gets the client's end. */
static inline void fixture_start(fixture *x, eddy_nursery *n, eddy_stream **client,
                                 const eddy_memstream_hooks *hooks)
{
    x->o.server = &x->srv;
    EDDY_OK(eddy__memstream_pair(client, &x->server_end, hooks, EDDY__SITE));
    EDDY_OK(eddy_spawn(n, fixture_main, x, .name = "http server"));
}

static inline void fixture_init(fixture *x, eddy_http_handler h, void *arg)
{
    memset(x, 0, sizeof *x);
    x->handler = h;
    x->arg = arg;
    x->o = (eddy_http_serve_opts)EDDY_HTTP_SERVE_OPTS_INIT;
}

typedef int (*fixture_client)(hclient *c, struct fixture *x);

/* Run the server fixture on a new memory pair (hooks may be NULL) and fn as its client, then
 * close the client's end (unless fn took it: c->s set to NULL) and wait for the server. */
static inline void fixture_run(fixture *x, fixture_client fn, const eddy_memstream_hooks *hooks)
{
    int rc = 0;
    EDDY_NURSERY(n, &rc) {
        eddy_stream *cs;
        fixture_start(x, n, &cs, hooks);
        hclient c;
        hc_init(&c, cs);
        int crc = fn(&c, x);
        /* The server may already have reset the connection (tests of errors): a close error
         * here is not what the test checks. */
        if (c.s) {
            int crc_close = eddy_stream_close(c.s);
            (void)crc_close;
        }
        hc_fini(&c);
        EDDY_OK(crc);
    }
    EDDY_OK(rc);
}

#endif
