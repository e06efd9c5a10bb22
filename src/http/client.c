/* eddy http client (W1): the client object, a request from its call to its response head —
 * checks, the time-limit phases, writing the request, reading the head, resending on a pooled
 * connection the server had closed, redirects — and the calls on responses. The pool is in
 * pool.c, bodies in body.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/task.h"
#include "http/client.h"

/* ---- small helpers ------------------------------------------------------------------------- */

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool is_token(const char *s)
{
    if (!s || !*s) return false;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s)) return false;
    return true;
}

/* A field value: no CR, LF, NUL or other control character but HTAB (response splitting). */
static bool value_ok(const char *v)
{
    if (!v) return false;
    for (; *v; v++) {
        unsigned char ch = (unsigned char)*v;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return false;
    }
    return true;
}

static bool durations_ok(const eddy_http_timeouts *t)
{
    return t->pool >= 0 && t->connect >= 0 && t->tls >= 0 && t->headers >= 0 &&
           t->body_idle >= 0 && t->total >= 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* "Basic " + base64(percent-decoded userinfo), malloc'd; NULL for -ENOMEM. */
static char *basic_auth(const char *userinfo)
{
    size_t n = strlen(userinfo);
    unsigned char *raw = malloc(n + 1);
    if (!raw) return NULL;
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (userinfo[i] == '%' && i + 2 < n && (h = hexval(userinfo[i + 1])) >= 0 &&
            (l = hexval(userinfo[i + 2])) >= 0) {
            raw[r++] = (unsigned char)(h * 16 + l);
            i += 2;
        } else {
            raw[r++] = (unsigned char)userinfo[i];
        }
    }
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(6 + (r + 2) / 3 * 4 + 1), *p;
    if (!out) {
        free(raw);
        return NULL;
    }
    p = out + sprintf(out, "Basic ");
    for (size_t i = 0; i < r; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (i + 1 < r ? (unsigned)raw[i + 1] << 8 : 0) |
                     (i + 2 < r ? raw[i + 2] : 0);
        *p++ = b64[v >> 18 & 63];
        *p++ = b64[v >> 12 & 63];
        *p++ = i + 1 < r ? b64[v >> 6 & 63] : '=';
        *p++ = i + 2 < r ? b64[v & 63] : '=';
    }
    *p = '\0';
    free(raw);
    return out;
}

/* ---- the client ---------------------------------------------------------------------------- */

int eddy__http_client_open(const eddy_http_client_opts *o, eddy_http_client **out, const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    eddy_loop *l = eddy__loop();
    if (!l) return -EPERM;
    static const eddy_http_client_opts defaults = EDDY_HTTP_CLIENT_OPTS_INIT;
    if (!o) o = &defaults;
    if (o->max_conns == 0 || o->max_conns_per_host == 0 || o->idle_timeout < 0 ||
        !durations_ok(&o->timeouts) || o->max_header_bytes < 64 || o->max_headers == 0)
        return -EINVAL;
    eddy_http_client *cl = calloc(1, sizeof *cl);
    if (!cl) return -ENOMEM;
    cl->loop = l;
    cl->o = *o;
    eddy__list_init(&cl->origins);
    eddy__list_init(&cl->idle_lru);
    eddy__list_init(&cl->waiters);
    int rc = -ENOMEM;
    if (o->user_agent && !(cl->user_agent = strdup(o->user_agent))) goto fail;
    if (o->user_agent && !value_ok(o->user_agent)) {
        rc = -EINVAL;
        goto fail;
    }
    cl->o.user_agent = cl->user_agent;
    cl->o.proxy = NULL;
    cl->o.tls_opts = NULL;
    if (o->proxy) {
        rc = eddy__url_parse(o->proxy, strlen(o->proxy), &cl->proxy);
        if (rc < 0) goto fail;
        cl->has_proxy = true;
        if (cl->proxy.tls || strcmp(cl->proxy.target, "/") != 0) {
            rc = EDDY_EHTTP_BADURL;
            goto fail;
        }
        if (cl->proxy.userinfo && !(cl->proxy_auth = basic_auth(cl->proxy.userinfo))) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    if (o->tls_ctx) {
        cl->tls = o->tls_ctx;
    } else if (o->tls_opts) {
        static const char *const alpn[] = {"http/1.1", NULL};
        eddy_tls_client_opts to = *o->tls_opts;
        if (!to.alpn) to.alpn = alpn;
        if ((rc = eddy_tls_client_ctx_open(&to, &cl->tls)) < 0) goto fail;
        cl->own_tls = true;
    }
    eddy__handle_add(l, &cl->handle, "http client", site);
    *out = cl;
    return 0;
fail:
    eddy__url_free(&cl->proxy);
    free(cl->proxy_auth);
    free(cl->user_agent);
    free(cl);
    return rc;
}

int eddy_http_client_close(eddy_http_client *cl)
{
    if (!cl) return 0;
    if (cl->active || cl->waiting) return -EBUSY;
    eddy_timer_stop(&cl->idle_timer);
    while (!eddy__list_empty(&cl->idle_lru)) {
        hc_conn *c = eddy__container_of(cl->idle_lru.next, hc_conn, clink);
        eddy__list_remove(&c->olink);
        eddy__list_remove(&c->clink);
        cl->idle--;
        eddy__hc_discard(c, true);
    }
    eddy_timer_stop(&cl->idle_timer);
    if (cl->own_tls) eddy_tls_ctx_close(cl->tls);
    eddy__url_free(&cl->proxy);
    free(cl->proxy_auth);
    free(cl->user_agent);
    eddy__handle_del(&cl->handle);
    free(cl);
    return 0;
}

void eddy_http_client_stats(const eddy_http_client *cl, struct eddy_http_client_stats *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!cl) return;
    *out = cl->st;
    out->open = cl->open;
    out->idle = cl->idle;
    out->waiting = cl->waiting;
}

/* ---- a request ----------------------------------------------------------------------------- */

typedef struct hc_req {
    const eddy_http_client_request *r;
    const char *method;
    int method_id;
    eddy__url url;
    const void *body;       /* in memory (body_len bytes), or */
    size_t body_len;
    eddy_stream *bstream;   /* from a stream (blen bytes; -1 chunked) */
    int64_t blen;
    bool has_body;
    bool body_dropped;      /* a redirect turned it into a GET: no body, no Content-Type */
    bool drop_auth;         /* a redirect went to another origin: no Authorization */
} hc_req;

static bool ieq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

static int check_request(const eddy_http_client_request *r)
{
    if (r->method && (!is_token(r->method) || !strcmp(r->method, "CONNECT"))) return -EINVAL;
    for (const char *const *h = r->headers; h && *h; h += 2) {
        if (!is_token(h[0]) || !value_ok(h[1])) return -EINVAL;
        if (ieq(h[0], "Content-Length") || ieq(h[0], "Transfer-Encoding")) return -EINVAL;
    }
    if ((!r->body && r->body_len) || (r->body && r->body_stream) || r->body_stream_len < -1)
        return -EINVAL;
    if (r->timeouts && !durations_ok(r->timeouts)) return -EINVAL;
    return 0;
}

/* Does the request name header name (and so replace the client's)? */
static bool has_header(const hc_req *x, const char *name)
{
    for (const char *const *h = x->r->headers; h && *h; h += 2)
        if (ieq(h[0], name)) return true;
    return false;
}

/* Append to c->wbuf, growing it. */
typedef struct wb {
    hc_conn *c;
    size_t len;
    bool oom;
} wb;

static void put(wb *w, const char *s, size_t n)
{
    hc_conn *c = w->c;
    if (w->oom) return;
    if (w->len + n > c->wcap) {
        size_t cap = c->wcap ? c->wcap : 1024;
        while (cap < w->len + n) cap *= 2;
        char *p = realloc(c->wbuf, cap);
        if (!p) {
            w->oom = true;
            return;
        }
        c->wbuf = p;
        c->wcap = cap;
    }
    memcpy(c->wbuf + w->len, s, n);
    w->len += n;
}

static void puts_(wb *w, const char *s) { put(w, s, strlen(s)); }

static void field(wb *w, const char *name, const char *value)
{
    puts_(w, name);
    put(w, ": ", 2);
    puts_(w, value);
    put(w, "\r\n", 2);
}

/* The request head, in c->wbuf. Returns its length; -ENOMEM. */
static ssize_t build_head(hc_conn *c, const hc_req *x)
{
    eddy_http_client *cl = c->cl;
    bool via_proxy = cl->has_proxy && !x->url.tls; /* absolute form to the proxy */
    wb w = {.c = c};
    puts_(&w, x->method);
    put(&w, " ", 1);
    puts_(&w, via_proxy ? x->url.href : x->url.target);
    put(&w, " HTTP/1.1\r\n", 11);
    if (!has_header(x, "Host")) field(&w, "Host", x->url.authority);
    if (cl->o.user_agent && !has_header(x, "User-Agent")) field(&w, "User-Agent", cl->o.user_agent);
#ifdef EDDY_HAVE_ZLIB
    if (cl->o.decompress && !has_header(x, "Accept-Encoding"))
        field(&w, "Accept-Encoding", "gzip, deflate");
#endif
    bool user_auth = !x->drop_auth && has_header(x, "Authorization");
    if (x->url.userinfo && !user_auth) {
        char *a = basic_auth(x->url.userinfo);
        if (!a) return -ENOMEM;
        field(&w, "Authorization", a);
        free(a);
    }
    if (via_proxy && cl->proxy_auth) field(&w, "Proxy-Authorization", cl->proxy_auth);
    for (const char *const *h = x->r->headers; h && *h; h += 2) {
        if (x->drop_auth && ieq(h[0], "Authorization")) continue;
        if (x->body_dropped && ieq(h[0], "Content-Type")) continue;
        field(&w, h[0], h[1]);
    }
    char num[32];
    if (x->has_body && x->bstream && x->blen < 0) {
        field(&w, "Transfer-Encoding", "chunked");
    } else if (x->has_body) {
        snprintf(num, sizeof num, "%llu",
                 (unsigned long long)(x->bstream ? (uint64_t)x->blen : x->body_len));
        field(&w, "Content-Length", num);
    } else if (x->method_id == EDDY_HTTP_POST || x->method_id == EDDY_HTTP_PUT ||
               x->method_id == EDDY_HTTP_PATCH) {
        field(&w, "Content-Length", "0");
    }
    put(&w, "\r\n", 2);
    return w.oom ? -ENOMEM : (ssize_t)w.len;
}

/* Copy the body stream to the connection; the response's buffer (empty until the response
 * comes) carries it. */
static int pump_body(hc_conn *c, const hc_req *x)
{
    char *tmp = c->buf;
    size_t cap = c->cap;
    if (x->blen >= 0) {
        uint64_t left = (uint64_t)x->blen;
        while (left) {
            ssize_t n = eddy_stream_read(x->bstream, tmp, left < cap ? (size_t)left : cap);
            if (n < 0) return (int)n;
            if (n == 0) return -EPIPE; /* shorter than it said */
            int rc = eddy_stream_write_all(c->s, tmp, (size_t)n);
            if (rc < 0) return rc;
            left -= (uint64_t)n;
        }
        return 0;
    }
    for (;;) {
        ssize_t n = eddy_stream_read(x->bstream, tmp, cap);
        if (n < 0) return (int)n;
        char hdr[24];
        if (n == 0) return eddy_stream_write_all(c->s, "0\r\n\r\n", 5);
        int hl = snprintf(hdr, sizeof hdr, "%zx\r\n", (size_t)n);
        struct iovec iov[3] = {{hdr, (size_t)hl}, {tmp, (size_t)n}, {(void *)"\r\n", 2}};
        int rc = eddy_stream_writev(c->s, iov, 3, NULL);
        if (rc < 0) return rc;
    }
}

static int send_request(hc_conn *c, const hc_req *x)
{
    ssize_t hl = build_head(c, x);
    if (hl < 0) return (int)hl;
    if (x->has_body && !x->bstream && x->body_len) {
        struct iovec iov[2] = {{c->wbuf, (size_t)hl}, {(void *)x->body, x->body_len}};
        return eddy_stream_writev(c->s, iov, 2, NULL);
    }
    int rc = eddy_stream_write_all(c->s, c->wbuf, (size_t)hl);
    if (rc == 0 && x->has_body && x->bstream) rc = pump_body(c, x);
    return rc;
}

/* Read and parse the response head into c (interim 1xx responses skipped). *got: some byte of
 * an answer arrived. */
static int read_head(hc_conn *c, int method_id, bool *got)
{
    eddy_http_client *cl = c->cl;
    eddy__http_limits lim = {cl->o.max_header_bytes, cl->o.max_header_bytes, cl->o.max_headers};
    size_t scan = 0;
    c->pos = c->end = c->head_len = 0;
    for (;;) {
        ssize_t h = c->end ? eddy__http_parse_response(c->buf, c->end, &scan, &lim, c->fields,
                                                       method_id, &c->msg)
                           : 0;
        if (h < 0) return h == -EMSGSIZE ? EDDY_EHTTP_HEADTOOBIG : EDDY_EHTTP_BADRESP;
        if (h > 0 && c->msg.status < 200) {
            if (c->msg.status == 101) return EDDY_EHTTP_BADRESP; /* no upgrade was asked for */
            memmove(c->buf, c->buf + h, c->end - (size_t)h);
            c->end -= (size_t)h;
            scan = 0;
            continue;
        }
        if (h > 0 && c->cap - (size_t)h < 8192) {
            /* Keep room for the body after the pinned head: grow, then parse again (the
             * fields point into the old buffer). */
            char *nb = realloc(c->buf, (size_t)h + 16384);
            if (!nb) return -ENOMEM;
            c->buf = nb;
            c->cap = (size_t)h + 16384;
            scan = 0;
            continue;
        }
        if (h > 0) {
            c->head_len = c->pos = (size_t)h;
            return 0;
        }
        if (c->end == c->cap) {
            /* The parser refuses a head over the limit before the buffer outgrows it. */
            size_t cap = c->cap * 2;
            if (cap > cl->o.max_header_bytes + 16384) cap = cl->o.max_header_bytes + 16384;
            if (cap <= c->cap) return EDDY_EHTTP_HEADTOOBIG;
            char *nb = realloc(c->buf, cap);
            if (!nb) return -ENOMEM;
            c->buf = nb;
            c->cap = cap;
        }
        ssize_t n = eddy_stream_read(c->s, c->buf + c->end, c->cap - c->end);
        if (n < 0) return (int)n;
        if (n == 0) return EDDY_EHTTP_TRUNCATED;
        *got = true;
        c->end += (size_t)n;
    }
}

/* The request says "Connection: close". */
static bool asks_close(const hc_req *x)
{
    for (const char *const *h = x->r->headers; h && *h; h += 2)
        if (ieq(h[0], "Connection") && eddy_http_list_has((eddy_http_str){h[1], strlen(h[1])}, "close"))
            return true;
    return false;
}

static bool replayable(const hc_req *x)
{
    switch (x->method_id) {
    case EDDY_HTTP_GET:
    case EDDY_HTTP_HEAD:
    case EDDY_HTTP_OPTIONS:
    case EDDY_HTTP_TRACE:
    case EDDY_HTTP_PUT:
    case EDDY_HTTP_DELETE:
        return !x->bstream;
    default:
        return false;
    }
}

/* One request and its response head, on a connection from the pool. */
static int exchange(eddy_http_client *cl, hc_req *x, hc_phases *ph, hc_conn **out)
{
    hc_origin *o = eddy__hc_origin_get(cl, &x->url);
    if (!o) return -ENOMEM;
    int rc;
    for (;;) {
        hc_conn *c;
        bool reused, got = false;
        rc = eddy__hc_acquire(cl, o, ph, &c, &reused);
        if (rc < 0) break;
        eddy__hc_phase(ph, EDDY_EHTTP_HEADERS_TIMEOUT, ph->t->headers);
        cl->st.requests++;
        if (reused) cl->st.reused++;
        c->broken = false;
        rc = send_request(c, x);
        if (rc == 0) rc = read_head(c, x->method_id, &got);
        if (rc == 0) {
            c->in_use = true;
            if (asks_close(x)) c->msg.keep_alive = false; /* the server will close it */
            *out = c;
            break;
        }
        /* The server closed a pooled connection as we took it: the request never reached
         * it, so send it again on another one (only what can be sent twice). */
        bool again = reused && !got && replayable(x) &&
                     (rc == EDDY_EHTTP_TRUNCATED || rc == -ECONNRESET || rc == -EPIPE);
        eddy__hc_discard(c, false);
        if (!again) break;
        cl->st.resent++;
    }
    eddy__hc_origin_put(cl, o);
    return rc;
}

/* The response is done with: its connection back to the pool, or closed. */
static void response_end(hc_conn *c)
{
    eddy_http_client *cl = c->cl;
    eddy__hc_body_end(c);
    bool done = c->body_done || eddy__hc_body_skip_buffered(c);
    bool reuse = done && !c->broken && c->s && c->msg.keep_alive &&
                 c->body != EDDY__HTTP_BODY_CLOSE && c->pos == c->end;
    c->in_use = false;
    free(c->url);
    c->url = NULL;
    cl->active--;
    if (reuse) eddy__hc_release(c);
    else eddy__hc_discard(c, done && !c->broken);
}

static bool is_redirect(int st) { return st == 301 || st == 302 || st == 303 || st == 307 || st == 308; }

/* After a redirect response on c: decide whether and how to follow it; x gets the next
 * request. 1: follow; 0: return the response as it is; negative: an error. */
static int redirect(hc_conn *c, hc_req *x)
{
    int st = c->resp.status;
    const eddy_http_field *loc = eddy_http_field_find(c->fields, c->msg.nfields, 0, "Location");
    if (!is_redirect(st) || !loc || loc->value.len == 0) return 0;
    bool to_get = (st == 303 && x->method_id != EDDY_HTTP_HEAD) ||
                  ((st == 301 || st == 302) && x->method_id == EDDY_HTTP_POST);
    if (!to_get && x->has_body && x->bstream) return 0; /* the body cannot be sent again */
    eddy__url next;
    int rc = eddy__url_resolve(&x->url, loc->value.ptr, loc->value.len, &next);
    if (rc < 0) return rc;
    if (next.tls != x->url.tls || next.port != x->url.port || strcmp(next.host, x->url.host))
        x->drop_auth = true;
    eddy__url_free(&x->url);
    x->url = next;
    if (to_get) {
        x->method = "GET";
        x->method_id = EDDY_HTTP_GET;
        if (x->has_body) x->body_dropped = true;
        x->has_body = false;
        x->body = NULL;
        x->body_len = 0;
        x->bstream = NULL;
    }
    return 1;
}

/* Read and drop a redirect's body (a little of it: a larger one costs the connection). */
static void drain(hc_conn *c)
{
    char tmp[2048];
    for (size_t total = 0; total < 65536;) {
        ssize_t n = eddy__hc_body_read(c, tmp, sizeof tmp);
        if (n <= 0) break;
        total += (size_t)n;
    }
}

int eddy_http_client_send(eddy_http_client *cl, const eddy_http_client_request *req,
                          eddy_http_client_response **out)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!cl || !req || !req->url) return -EINVAL;
    int rc = check_request(req);
    if (rc < 0) return rc;
    if (!eddy_task_current()) return -EPERM;
    hc_req x = {.r = req, .method = req->method ? req->method : "GET"};
    x.method_id = eddy__http_method_id(x.method, strlen(x.method));
    x.body = req->body;
    x.body_len = req->body_len;
    x.bstream = req->body_stream;
    x.blen = req->body_stream_len;
    x.has_body = req->body || req->body_stream;
    rc = eddy__url_parse(req->url, strlen(req->url), &x.url);
    if (rc < 0) return rc;

    hc_phases ph = {.t = req->timeouts ? req->timeouts : &cl->o.timeouts};
    ph.total_dl = eddy__hc_after(eddy_now(), ph.t->total);
    ph.phase_dl = EDDY_FOREVER;
    ph.code = EDDY_EHTTP_TOTAL_TIMEOUT;
    if ((rc = eddy_cancel_scope_enter(&ph.cs)) < 0) {
        eddy__url_free(&x.url);
        return rc;
    }
    eddy_cancel_scope_set_deadline(&ph.cs, ph.total_dl);
    cl->active++;
    hc_conn *c = NULL;
    unsigned redirects = 0;
    for (;;) {
        rc = exchange(cl, &x, &ph, &c);
        if (rc < 0) break;
        c->total_dl = ph.total_dl;
        c->body_idle = ph.t->body_idle;
        if ((rc = eddy__hc_body_start(c, cl->o.decompress)) < 0) {
            c->broken = true;
            response_end(c);
            cl->active++;
            break;
        }
        c->resp.reused = c->served > 0;
        int f = cl->o.max_redirects ? redirect(c, &x) : 0;
        if (f == 0) break;
        if (f > 0 && redirects == cl->o.max_redirects) f = EDDY_EHTTP_REDIRECTS;
        if (f > 0) {
            eddy__hc_phase(&ph, EDDY_EHTTP_BODY_TIMEOUT, EDDY_FOREVER); /* reads have their own */
            drain(c);
            redirects++;
        }
        response_end(c);
        cl->active++; /* response_end gave back the response's share; the request goes on */
        c = NULL;
        if (f < 0) {
            rc = f;
            break;
        }
    }
    eddy_cancel_scope_exit(&ph.cs);
    rc = eddy__hc_timeout_code(&ph.cs, rc, ph.phase_dl, ph.total_dl, ph.code);
    if (rc == 0 && !(c->url = strdup(x.url.href))) {
        rc = -ENOMEM;
        c->broken = true;
        response_end(c);
        cl->active++;
    }
    eddy__url_free(&x.url);
    if (rc < 0) {
        cl->active--;
        return rc;
    }
    c->resp.url = c->url;
    c->resp.redirects = redirects;
    *out = &c->resp;
    return 0;
}

int eddy_http_client_get(eddy_http_client *cl, const char *url, eddy_http_client_response **out)
{
    return eddy_http_client_send(cl, &(eddy_http_client_request){.url = url}, out);
}

void eddy_http_client_response_close(eddy_http_client_response *r)
{
    if (!r) return;
    response_end(r->priv);
}

eddy_http_str eddy_http_client_response_header(const eddy_http_client_response *r, const char *name)
{
    if (!r || !name) return (eddy_http_str){NULL, 0};
    const eddy_http_field *f = eddy_http_field_find(r->fields, r->nfields, 0, name);
    return f ? f->value : (eddy_http_str){NULL, 0};
}

int eddy_http_client_response_read_all(eddy_http_client_response *r, void *buf, size_t cap, size_t *len)
{
    if (len) *len = 0;
    if (!r || (!buf && cap)) return -EINVAL;
    size_t got = 0;
    int rc = 0;
    while (got < cap) {
        ssize_t n = eddy_stream_read(r->body, (char *)buf + got, cap - got);
        if (n <= 0) {
            rc = (int)n;
            goto out;
        }
        got += (size_t)n;
    }
    char extra;
    ssize_t n = eddy_stream_read(r->body, &extra, 1);
    rc = n < 0 ? (int)n : n > 0 ? -EMSGSIZE : 0;
out:
    if (len) *len = got;
    return rc;
}

int eddy_http_client_fetch(eddy_http_client *cl, const eddy_http_client_request *req, void *buf,
                           size_t cap, size_t *len, int *status)
{
    if (len) *len = 0;
    if (status) *status = 0;
    if (!buf && cap) return -EINVAL;
    eddy_http_client_response *r;
    int rc = eddy_http_client_send(cl, req, &r);
    if (rc < 0) return rc;
    if (status) *status = r->status;
    rc = eddy_http_client_response_read_all(r, buf, cap, len);
    eddy_http_client_response_close(r);
    return rc;
}

bool eddy_http_client_retryable(int err, void *ctx)
{
    (void)ctx;
    switch (err) {
    case -ECONNREFUSED:
    case -ECONNRESET:
    case -ECONNABORTED:
    case -EPIPE:
    case -ENETUNREACH:
    case -EHOSTUNREACH:
    case -ENETDOWN:
    case -EHOSTDOWN:
    case -EAGAIN:
    case EDDY_EDNSTIMEDOUT:
    case EDDY_EDNSUNREACH:
    case EDDY_EDNSFAIL:
    case EDDY_EHTTP_TRUNCATED:
    case EDDY_EHTTP_POOL_TIMEOUT:
    case EDDY_EHTTP_CONNECT_TIMEOUT:
    case EDDY_EHTTP_TLS_TIMEOUT:
    case EDDY_EHTTP_HEADERS_TIMEOUT:
    case EDDY_EHTTP_BODY_TIMEOUT:
    case EDDY_EHTTP_TOTAL_TIMEOUT:
        return true;
    default:
        return false;
    }
}
