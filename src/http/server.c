/* eddy http: the server (W2): eddy_serve for connections, one connection task reading and
 * parsing, one task per request running its handler, graceful shutdown. See httpd.h for the
 * division of work between the connection task (C) and the request task (H). */
#include <string.h>

#include "http/httpd.h"
#include "io/io.h"

/* Why C's last read stopped, when it stopped on its own scope. */
enum { WHY_NONE = 0, WHY_DEADLINE, WHY_KICK };

/* Body bytes the server reads and drops after a handler that did not read its request body,
 * to keep the connection; beyond this it closes instead. */
#define DISCARD_MAX (64 * 1024)
/* A lingering close (after a rejection, or with unread input) reads and drops at most this
 * much, for at most LINGER_TIME, so the client sees the answer instead of a reset. */
#define LINGER_MAX (256 * 1024)
#define LINGER_TIME EDDY_SEC(2)
/* The output buffer: a batch of pipelined responses, or one head and a small body. */
#define OUT_CAP 16384
/* The read buffer is the head limit plus this, so a maximal head still leaves room to read
 * the bytes after it. */
#define BUF_SLACK 2048

/* ---- reading (C) ------------------------------------------------------------------------- */

bool eddy__httpd_room(conn *c)
{
    size_t base = c->pinned ? c->he : 0;
    /* Compact when full, or early when little room is left, so reads stay large. */
    if (c->pos > base && (c->end == c->cap || c->cap - c->end < c->cap / 4)) {
        memmove(c->buf + base, c->buf + c->pos, c->end - c->pos);
        c->end -= c->pos - base;
        c->pos = base;
    }
    return c->end < c->cap;
}

static void read_timer(void *arg);

/* Make sure tmr fires no later than rd_deadline (see httpd.h). */
static void arm_read_deadline(conn *c, int64_t dl)
{
    c->rd_deadline = dl;
    if (dl == EDDY_FOREVER || c->tmr_at <= dl) return;
    if (eddy_call_at(&c->tmr, dl, read_timer, c) < 0) {
        /* no memory for the timer heap: the deadline cannot be kept, end the connection */
        c->rd_deadline = eddy_now();
        c->tmr_at = EDDY_FOREVER;
        c->broken = true;
        return;
    }
    c->tmr_at = dl;
}

static void read_timer(void *arg)
{
    conn *c = arg;
    c->tmr_at = EDDY_FOREVER;
    if (c->rd_deadline == EDDY_FOREVER) return;
    if (eddy_now() < c->rd_deadline) { /* armed for an earlier deadline that has moved on */
        arm_read_deadline(c, c->rd_deadline);
        return;
    }
    if (c->rd_active) {
        c->expired = true;
        eddy_cancel_scope_cancel(&c->rd_cs);
    }
}

/* One read into [end, cap) under rd_cs (deadline dl; EDDY_FOREVER: none), flushing out[]
 * first when flush is set. */
static ssize_t conn_read(conn *c, int64_t dl, bool idle, bool flush)
{
    c->kicked = c->expired = false;
    c->rd_why = WHY_NONE;
    if (c->broken) return -EPIPE;
    if (dl <= eddy_now()) {
        c->rd_why = WHY_DEADLINE;
        return -ETIMEDOUT;
    }
    int rc = eddy_cancel_scope_enter(&c->rd_cs, .deadline = EDDY_FOREVER);
    if (rc < 0) return rc;
    arm_read_deadline(c, dl);
    c->idle = idle;
    c->rd_active = true;
    ssize_t n = 0;
    if (flush && c->out_len && !c->flushing) n = eddy__httpd_write(c, NULL, 0, false);
    if (n == 0 && !c->broken) n = eddy_stream_read(c->s, c->buf + c->end, c->cap - c->end);
    c->idle = false;
    c->rd_active = false;
    c->rd_deadline = EDDY_FOREVER;
    eddy_cancel_scope_exit(&c->rd_cs);
    if (n > 0) c->end += (size_t)n;
    else if (n < 0 && c->rd_cs.cancel_called) c->rd_why = c->kicked ? WHY_KICK : c->expired ? WHY_DEADLINE : WHY_NONE;
    return n;
}

ssize_t eddy__httpd_read(conn *c, int64_t dl, bool idle)
{
    if (!eddy__httpd_room(c)) return -ENOBUFS;
    return conn_read(c, dl, idle, true);
}

void eddy__httpd_client_gone(conn *c)
{
    if (!c->h_alive || c->client_gone) return;
    c->client_gone = true;
    if (c->req_cs) eddy_cancel_scope_cancel(c->req_cs);
    if (c->data_waiter) eddy__wake(c->data_waiter, -EPIPE);
}

/* ---- one exchange ---------------------------------------------------------------------------- */

static const char SLASH[] = "/";

/* The request's strings from the parsed head. */
static void setup_request(conn *c)
{
    eddy__http_msg *m = &c->msg;
    eddy_http_request *r = &c->req;
    r->method = m->method;
    r->method_id = m->method_id;
    r->target = m->target;
    r->version = m->version;
    r->fields = c->fields;
    r->nfields = m->nfields;
    r->keep_alive = m->keep_alive;
    r->expect_continue = m->expect_continue;
    r->route_tail = (eddy_http_str){NULL, 0};
    r->index = c->nreq;
    r->start = eddy_now();
    r->conn = c;
    r->peer = c->peer;
    r->host = m->host;
    r->query = (eddy_http_str){NULL, 0};
    const char *t = m->target.ptr, *e = t + m->target.len;
    if (m->method_id == EDDY_HTTP_CONNECT || (m->target.len == 1 && t[0] == '*')) {
        r->path = m->target;
    } else {
        const char *p = t;
        if (t[0] != '/') { /* absolute-form (the parser allows only http and https) */
            const char *a = memchr(t, ':', m->target.len) + 3, *ae = a;
            while (ae < e && *ae != '/' && *ae != '?') ae++;
            r->host = (eddy_http_str){a, (size_t)(ae - a)};
            p = ae;
        }
        const char *q = memchr(p, '?', (size_t)(e - p));
        const char *pe = q ? q : e;
        r->path = pe > p ? (eddy_http_str){p, (size_t)(pe - p)} : (eddy_http_str){SLASH, 1};
        if (q) r->query = (eddy_http_str){q + 1, (size_t)(e - q - 1)};
    }
    c->body = m->body;
    c->body_left = 0;
    if (m->body == EDDY__HTTP_BODY_LENGTH) {
        c->body_left = m->content_length;
        r->content_length = (int64_t)m->content_length;
    } else if (m->body == EDDY__HTTP_BODY_CHUNKED) {
        eddy__http_chunked_init(&c->chunk, 4096, c->srv->opts.max_header_bytes);
        r->content_length = -1;
    } else {
        r->content_length = 0;
    }
}

/* Answer a request the server refuses, and close after a lingering read. */
static void reject(conn *c, int status)
{
    c->srv->stats.rejected++;
    eddy__httpd_exchange_reset(c);
    eddy__httpd_simple_response(c, status, true);
    c->linger = true;
}

static int request_main(void *arg)
{
    conn *c = arg;
    eddy_http_server *srv = c->srv;
    int64_t dl = eddy__httpd_after(c->req.start, srv->opts.request_timeout);
    eddy_cancel_scope rs;
    bool hit = false;
    int rc = eddy_cancel_scope_enter(&rs, .deadline = dl);
    if (rc == 0) {
        c->req_cs = &rs;
        rc = srv->handler(&c->req, &c->res, srv->arg);
        c->req_cs = NULL;
        eddy_cancel_scope_exit(&rs);
        hit = rs.cancel_called && !c->client_gone;
    }
    eddy__httpd_finish(c, rc, hit);
    c->h_alive = false;
    /* C is reading ahead or parked for us: it has the rest to do. */
    if (c->c_reading && c->rd_active) eddy_cancel_scope_cancel(&c->rd_cs);
    else if (c->c_parked) eddy__wake(c->ctask, 0);
    return 0; /* the exchange's outcome is in c, not in the nursery */
}

/* Run the exchange of the head just parsed: spawn H, then read ahead for it until it ends. */
static void exchange(conn *c)
{
    eddy_http_server *srv = c->srv;
    c->hs = c->pos;
    c->he = c->pos + c->msg.head_len;
    c->pinned = true;
    c->pos = c->he;
    c->scan = 0;
    setup_request(c);
    eddy__httpd_exchange_reset(c);
    c->body_done = c->body == EDDY__HTTP_BODY_NONE || (c->body == EDDY__HTTP_BODY_LENGTH && c->body_left == 0);
    c->nreq++;
    if (c->body == EDDY__HTTP_BODY_LENGTH && c->body_left > srv->opts.max_body) {
        reject(c, 413);
        c->pinned = false;
        return;
    }
    srv->stats.requests++;
    c->client_gone = false;
    c->h_alive = true;
    c->in_spawn = true;
    int rc = eddy_spawn(&c->nursery, request_main, c, .stack_size = srv->opts.stack_size);
    c->in_spawn = false;
    if (rc < 0) { /* no stack for the request: answer for it and close */
        c->h_alive = false;
        reject(c, 503);
    }
    while (c->h_alive) {
        /* H blocked: send what it left in out[], then read for it (body bytes, pipelined
         * requests, the end of the stream) until it ends or the buffer is full. */
        if (c->out_len && !c->flushing) {
            (void)eddy__httpd_write(c, NULL, 0, true);
            continue;
        }
        if (!c->eof && !c->broken && eddy__httpd_room(c)) {
            c->c_reading = true;
            ssize_t n = conn_read(c, EDDY_FOREVER, false, false);
            c->c_reading = false;
            if (n > 0) {
                if (c->data_waiter) eddy__wake(c->data_waiter, 0);
                continue;
            }
            if (n < 0 && c->rd_cs.cancel_called) continue; /* kicked: H ended, or a shutdown */
            c->eof = true;
            c->rd_err = n;
            if (n < 0 && eddy_checkpoint_if_cancelled() < 0) {
                /* cancelled from outside: H is cancelled too; wait for it below */
                if (c->data_waiter) eddy__wake(c->data_waiter, (int)n);
                continue;
            }
            eddy__httpd_client_gone(c); /* end of stream or a reset: the client is gone */
            continue;
        }
        /* Wait for H to end or to make room; not cancellable: H must end before C. */
        c->c_parked = true;
        eddy__wait w = {.reason = "http: request", .obj = c, .uncancellable = true};
        (void)eddy__park(&w);
        c->c_parked = false;
    }
    c->pinned = false;
}

/* After an exchange: whether the connection goes on with the next request. */
static bool after_exchange(conn *c)
{
    if (c->broken || c->client_gone) return false;
    bool keep = c->req.keep_alive && !c->res.close && !c->close_after &&
                c->srv->state == SRV_SERVING;
    if (c->body_err) {
        c->linger = true;
        return false;
    }
    if (!c->body_done) {
        /* A client that sent Expect: 100-continue and got no 100 may hold its body back, or
         * may send it anyway: nothing after it can be trusted to be a request. */
        bool held = c->req.expect_continue && !c->res.sent_100 && !c->body_touched;
        if (!keep || held || eddy__httpd_discard_body(c, DISCARD_MAX) < 0) {
            c->linger = true;
            return false;
        }
    }
    if (!keep) {
        if (c->pos < c->end) c->linger = true; /* pipelined requests we will not answer */
        return false;
    }
    return true;
}

/* The next request head, reading as needed. 1: parsed (in c->msg); 0: the connection ends
 * (the client closed, a timeout, a rejection answered, a shutdown); < 0: cancelled. */
static int next_head(conn *c)
{
    eddy_http_server *srv = c->srv;
    eddy__http_limits lim = {srv->opts.max_request_line, srv->opts.max_header_bytes,
                             srv->opts.max_headers};
    for (;;) {
        if (c->pos == c->end) c->pos = c->end = 0;
        size_t avail = c->end - c->pos;
        if (avail) {
            ssize_t r = eddy__http_parse_request(c->buf + c->pos, avail, &c->scan, &lim, c->fields,
                                                 &c->msg);
            if (r > 0) return 1;
            if (r < 0) {
                c->req = (eddy_http_request){.conn = c};
                reject(c, c->msg.error_status);
                return 0;
            }
        }
        if (c->eof || c->broken) return 0; /* a partial head at the end is dropped */
        if (srv->state != SRV_SERVING && avail == 0) return 0;
        int64_t dl = avail ? c->head_deadline : c->idle_deadline;
        ssize_t n = eddy__httpd_read(c, dl, avail == 0);
        if (n > 0) {
            if (avail == 0) c->head_deadline = eddy__httpd_after(eddy_now(), srv->opts.header_timeout);
            continue;
        }
        if (n == 0) {
            c->eof = true;
            continue;
        }
        int why = c->rd_why;
        if (why == WHY_DEADLINE) {
            if (avail) {
                srv->stats.timeouts++;
                c->req = (eddy_http_request){.conn = c};
                reject(c, 408);
            }
            return 0; /* an idle connection closes silently */
        }
        if (why == WHY_KICK) return 0;
        c->eof = true;
        c->rd_err = n;
        int cc = eddy_checkpoint_if_cancelled();
        return cc < 0 ? cc : 0;
    }
}

/* Send what is left and, when input may still be coming, half-close and read until the
 * client closes (bounded), so it reads our answer instead of a reset. */
static void end_conn(conn *c)
{
    if (c->broken) return;
    if (c->out_len) (void)eddy__httpd_write(c, NULL, 0, true);
    if (!c->linger || c->broken || c->eof || eddy_checkpoint_if_cancelled() < 0) return;
    if (eddy_stream_shutdown_write(c->s) < 0) return;
    int64_t t = c->srv->opts.header_timeout < LINGER_TIME ? c->srv->opts.header_timeout : LINGER_TIME;
    size_t total = 0;
    EDDY_MOVE_ON_AFTER(t) {
        while (total < LINGER_MAX) {
            ssize_t n = eddy_stream_read(c->s, c->buf, c->cap);
            if (n <= 0) break;
            total += (size_t)n;
        }
    }
}

static int serve_conn(eddy_http_server *srv, eddy_stream *s, const eddy_sockaddr *peer)
{
    const eddy_http_serve_opts *o = &srv->opts;
    size_t cap = o->max_header_bytes + BUF_SLACK;
    size_t fields = o->max_headers * sizeof(eddy_http_field);
    conn *c = malloc(sizeof *c + fields + cap + OUT_CAP);
    if (!c) return -ENOMEM;
    memset(c, 0, sizeof *c);
    c->srv = srv;
    c->s = s;
    c->ctask = eddy__cur();
    c->buf = (char *)c->fields + fields;
    c->cap = cap;
    c->out = c->buf + cap;
    c->out_cap = OUT_CAP;
    c->peer = peer;
    c->res.c = c;
    c->tmr_at = c->rd_deadline = EDDY_FOREVER;
    c->server_name_len = o->server_name ? strlen(o->server_name) : 0;
    int rc = eddy_nursery_open_flags(&c->nursery, EDDY_WAIT_ALL);
    if (rc < 0) {
        free(c);
        return rc;
    }
    eddy__list_push_back(&srv->conns, &c->link);
    srv->stats.connections++;
    srv->stats.active++;
    c->idle_deadline = eddy__httpd_after(eddy_now(), o->header_timeout);
    for (;;) {
        rc = next_head(c);
        if (rc <= 0) break;
        exchange(c);
        if (!after_exchange(c)) break;
        c->idle_deadline = eddy__httpd_after(eddy_now(), o->idle_timeout);
    }
    end_conn(c);
    (void)eddy_timer_stop(&c->tmr);
    int nrc = eddy_nursery_close(&c->nursery); /* H has ended: nothing to wait for */
    (void)nrc;
    eddy__list_remove(&c->link);
    srv->stats.active--;
    free(c);
    return rc < 0 ? rc : 0;
}

/* ---- servers ----------------------------------------------------------------------------------- */

static int check_opts(const eddy_http_serve_opts *o)
{
    if (o->request_timeout < 0 || o->header_timeout < 0 || o->idle_timeout < 0 || o->grace < 0)
        return -EINVAL;
    if (o->max_request_line < 16 || o->max_header_bytes < 16 ||
        o->max_request_line > o->max_header_bytes)
        return -EINVAL;
    if (o->max_headers > (1u << 20)) return -EINVAL;
    if (o->server_name) {
        size_t n = strlen(o->server_name);
        if (n == 0 || n > 256) return -EINVAL;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)o->server_name[i];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return -EINVAL;
        }
    }
    return 0;
}

static void server_init(eddy_http_server *srv, eddy_http_handler handler, void *arg,
                        const eddy_http_serve_opts *o)
{
    memset(srv, 0, sizeof *srv);
    srv->opts = *o;
    srv->opts.server = NULL;
    srv->handler = handler;
    srv->arg = arg;
    eddy__list_init(&srv->conns);
    srv->state = SRV_SERVING;
}

/* eddy_serve's handler for one accepted connection. */
static int conn_handler(eddy_stream *raw, void *arg)
{
    eddy_http_server *srv = arg;
    const eddy_sockaddr *peer = eddy_serve_peer_addr();
    eddy_stream *s = raw;
    if (srv->opts.accept) {
        int rc = -ETIMEDOUT;
        eddy_cancel_scope cs;
        EDDY_CANCEL_SCOPE(&cs, .timeout = srv->opts.header_timeout) {
            rc = srv->opts.accept(raw, &s, srv->opts.accept_ctx);
        }
        if (rc < 0 || !s) {
            int cc = eddy_checkpoint_if_cancelled();
            return cc < 0 ? cc : 0; /* dropped; eddy_serve closes raw */
        }
    }
    int rc = serve_conn(srv, s, peer);
    /* The wrapper (TLS) is gone whatever close returns. Its failures on a finished connection
     * (a client that left before close_notify) are the client's doing, not the handler's, so
     * they do not count as handler errors. */
    if (s != raw && eddy_stream_close(s) < 0) srv->stats.close_errors++;
    return rc;
}

/* The checks and set-up both serve calls start with: the server (o->server or own), or NULL
 * with *rcp set. */
static eddy_http_server *serve_begin(const void *what, eddy_http_handler handler, void *arg,
                                     const eddy_http_serve_opts *o, eddy_http_server *own, int *rcp)
{
    eddy_http_serve_opts def = EDDY_HTTP_SERVE_OPTS_INIT;
    if (!o) o = &def;
    int rc = !what || !handler ? -EINVAL : check_opts(o);
    eddy_loop *lp = eddy__loop();
    if (rc == 0 && (!lp || lp->in_callback || !lp->current)) rc = -EPERM;
    *rcp = rc;
    if (rc < 0) return NULL;
    eddy_http_server *srv = o->server ? o->server : own;
    server_init(srv, handler, arg, o);
    return srv;
}

int eddy_http_serve(eddy_listener *l, eddy_http_handler handler, void *arg,
                    const eddy_http_serve_opts *o)
{
    int rc;
    eddy_http_server own;
    eddy_http_server *srv = serve_begin(l, handler, arg, o, &own, &rc);
    if (!srv) return rc;
    srv->listening = true;
    /* base is srv's first member: eddy_serve's eddy_started(&srv->base) hands out srv. */
    eddy_serve_opts so = EDDY_SERVE_OPTS_INIT;
    so.max_conns = srv->opts.max_conns;
    so.grace = srv->opts.grace;
    so.server = &srv->base;
    rc = eddy_serve(l, conn_handler, srv, &so);
    srv->state = SRV_DONE;
    return rc;
}

int eddy_http_serve_stream(eddy_stream *s, eddy_http_handler handler, void *arg,
                           const eddy_http_serve_opts *o)
{
    int rc;
    eddy_http_server own;
    eddy_http_server *srv = serve_begin(s, handler, arg, o, &own, &rc);
    if (!srv) return rc;
    eddy_sockaddr peer;
    bool has_peer = eddy_stream_peer_addr(s, &peer) == 0;
    rc = serve_conn(srv, s, has_peer ? &peer : NULL);
    srv->state = SRV_DONE;
    return rc;
}

int eddy_http_server_shutdown(eddy_http_server *srv)
{
    if (!srv) return -EINVAL;
    if (srv->state == SRV_STOPPING) return 0;
    if (srv->state != SRV_SERVING) return -ESRCH;
    srv->state = SRV_STOPPING;
    /* Connections waiting for a request close now; the others after their response. */
    for (eddy__link *x = srv->conns.next; x != &srv->conns; x = x->next) {
        conn *c = eddy__container_of(x, conn, link);
        if (c->idle && c->rd_active) {
            c->kicked = true;
            eddy_cancel_scope_cancel(&c->rd_cs);
        }
    }
    if (srv->listening) (void)eddy_server_shutdown(&srv->base);
    return 0;
}

void eddy_http_server_stats(const eddy_http_server *srv, struct eddy_http_server_stats *out)
{
    if (!out) return;
    if (!srv) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = srv->stats;
}
