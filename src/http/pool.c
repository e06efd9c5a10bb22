/* eddy http client: the connection pool — origins, slots and limits, waiting for a connection
 * in order, making connections (TCP, a proxy's CONNECT tunnel, TLS), idle expiry and the
 * check that an idle connection is still open. See client.h for the slot rules. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/net.h"
#include "eddy/task.h"
#include "eddy/tls.h"
#include "http/client.h"
#include "loop/sys.h"

/* ---- origins ------------------------------------------------------------------------------ */

hc_origin *eddy__hc_origin_get(eddy_http_client *cl, const eddy__url *url)
{
    char key[600];
    bool via = cl->has_proxy;
    if (via && !url->tls) snprintf(key, sizeof key, "proxy %s", cl->proxy.href);
    else
        snprintf(key, sizeof key, "%s://%s%s%s:%u%s", url->tls ? "https" : "http",
                 url->ipv6 ? "[" : "", url->host, url->ipv6 ? "]" : "", url->port,
                 via ? " via proxy" : "");
    for (eddy__link *l = cl->origins.next; l != &cl->origins; l = l->next) {
        hc_origin *o = eddy__container_of(l, hc_origin, link);
        if (!strcmp(o->key, key)) {
            o->refs++;
            return o;
        }
    }
    size_t kl = strlen(key) + 1, hl = strlen(url->host) + 1, al = hl + 2 + 6 + 1;
    const eddy__url *to = via ? &cl->proxy : url;
    size_t thl = strlen(to->host) + 1;
    hc_origin *o = calloc(1, sizeof *o + kl + hl + al + thl);
    if (!o) return NULL;
    char *p = o->key + kl;
    memcpy(o->key, key, kl);
    memcpy(p, url->host, hl);
    o->tls_name = p;
    p += hl;
    snprintf(p, al, "%s%s%s:%u", url->ipv6 ? "[" : "", url->host, url->ipv6 ? "]" : "", url->port);
    o->authority = p;
    p += al;
    memcpy(p, to->host, thl);
    o->host = p;
    o->port = to->port;
    o->tls = url->tls;
    o->tunnel = via && url->tls;
    eddy__list_init(&o->idle);
    eddy__list_push_back(&cl->origins, &o->link);
    o->refs = 1;
    return o;
}

static void origin_maybe_free(hc_origin *o)
{
    if (o->refs == 0 && o->open == 0) {
        eddy__list_remove(&o->link);
        free(o);
    }
}

void eddy__hc_origin_put(eddy_http_client *cl, hc_origin *o)
{
    (void)cl;
    o->refs--;
    origin_maybe_free(o);
}

/* ---- phases -------------------------------------------------------------------------------- */

void eddy__hc_phase(hc_phases *ph, int code, int64_t limit)
{
    ph->code = code;
    ph->phase_dl = eddy__hc_after(eddy_now(), limit);
    int64_t dl = ph->phase_dl < ph->total_dl ? ph->phase_dl : ph->total_dl;
    if (!ph->cs.cancel_called) eddy_cancel_scope_set_deadline(&ph->cs, dl);
}

int eddy__hc_timeout_code(const eddy_cancel_scope *cs, int rc, int64_t phase_dl, int64_t total_dl,
                          int phase_code)
{
    if ((rc != -ECANCELED && rc != -ETIMEDOUT) || !cs->cancelled_caught) return rc;
    int outer = eddy_checkpoint_if_cancelled();
    if (outer) return outer; /* the caller's own scope: its code */
    return phase_dl < total_dl ? phase_code : EDDY_EHTTP_TOTAL_TIMEOUT;
}

/* ---- connections --------------------------------------------------------------------------- */

static void idle_timer_fire(void *arg);

static void conn_free(hc_conn *c)
{
    free(c->buf);
    free(c->wbuf);
    free(c->fields);
    free(c->url);
    free(c);
}

static void unidle(hc_conn *c)
{
    eddy__list_remove(&c->olink);
    eddy__list_remove(&c->clink);
    c->cl->idle--;
}

/* Close c's stream; c's slot stays taken (the caller gives it back or reuses it). */
static void conn_close_stream(hc_conn *c, bool graceful)
{
    if (!c->s) return;
    if (graceful) {
        /* Retiring a connection: the stream is gone whatever close returns, and a close_notify
         * the server no longer reads is not a failure of any request. */
        int crc = eddy_stream_close(c->s);
        (void)crc;
    } else {
        eddy_stream_abort(c->s);
    }
    c->s = NULL;
}

typedef struct hc_waiter {
    eddy__link link;
    eddy_task *task;
    hc_origin *o;
    hc_conn *conn; /* handed an idle connection */
    bool slot;     /* handed a slot (counted for o already) */
} hc_waiter;

static void waiter_cancel(eddy_task *t, void *arg)
{
    (void)t;
    hc_waiter *w = arg;
    eddy__list_remove(&w->link);
}

static void wake_waiter(eddy_http_client *cl, hc_waiter *w)
{
    eddy__list_remove(&w->link);
    cl->waiting--;
    eddy__wake(w->task, 0);
}

/* Detach the oldest idle connection (of any origin) and move its slot to origin to; the
 * caller closes it with close_victim once it no longer walks any list (closing a TLS
 * connection may block, and other tasks run meanwhile). NULL if nothing is idle. */
static hc_conn *evict_for(eddy_http_client *cl, hc_origin *to)
{
    if (eddy__list_empty(&cl->idle_lru)) return NULL;
    hc_conn *v = eddy__container_of(cl->idle_lru.next, hc_conn, clink);
    unidle(v);
    v->o->open--;
    to->open++;
    return v;
}

static void close_victim(hc_conn *v)
{
    origin_maybe_free(v->o); /* before a close that may block: v no longer counts for it */
    v->o = NULL;
    conn_close_stream(v, true);
    conn_free(v);
}

/* Hand what is free (idle connections, slots) to the waiters it can serve, in their order.
 * Never blocks: connections evicted for a waiter are closed after the walk. */
static void pool_kick(eddy_http_client *cl)
{
    eddy__link victims;
    eddy__list_init(&victims);
    eddy__link *l = cl->waiters.next;
    while (l != &cl->waiters) {
        hc_waiter *w = eddy__container_of(l, hc_waiter, link);
        l = l->next;
        hc_origin *o = w->o;
        hc_conn *v;
        if (!eddy__list_empty(&o->idle)) {
            hc_conn *c = eddy__container_of(o->idle.next, hc_conn, olink);
            unidle(c);
            w->conn = c;
        } else if (o->open >= cl->o.max_conns_per_host) {
            continue;
        } else if (cl->open < cl->o.max_conns) {
            cl->open++;
            o->open++;
            w->slot = true;
        } else if ((v = evict_for(cl, o))) {
            eddy__list_push_back(&victims, &v->clink);
            w->slot = true;
        } else {
            continue;
        }
        wake_waiter(cl, w);
    }
    eddy__link *x;
    while ((x = eddy__list_pop_front(&victims))) close_victim(eddy__container_of(x, hc_conn, clink));
}

static void slot_free(eddy_http_client *cl, hc_origin *o)
{
    o->open--;
    cl->open--;
    origin_maybe_free(o); /* waiters hold references to theirs: pool_kick needs no other */
    pool_kick(cl);
}

void eddy__hc_discard(hc_conn *c, bool graceful)
{
    eddy_http_client *cl = c->cl;
    hc_origin *o = c->o;
    conn_close_stream(c, graceful);
    conn_free(c);
    slot_free(cl, o);
}

static void arm_idle_timer(eddy_http_client *cl)
{
    if (eddy__list_empty(&cl->idle_lru)) {
        eddy_timer_stop(&cl->idle_timer);
        return;
    }
    hc_conn *c = eddy__container_of(cl->idle_lru.next, hc_conn, clink);
    int64_t due = eddy__hc_after(c->idle_since, cl->o.idle_timeout);
    if (eddy_timer_is_pending(&cl->idle_timer) && cl->idle_timer.deadline == due) return;
    eddy_timer_stop(&cl->idle_timer);
    /* Without memory for the timer, idle connections expire at their next use instead. */
    if (eddy_call_at(&cl->idle_timer, due, idle_timer_fire, cl) < 0) return;
}

/* Idle connections past idle_timeout are closed (from the loop's callback context: a TLS
 * connection closes without waiting, see eddy_stream_close in tls.h). */
static void idle_timer_fire(void *arg)
{
    eddy_http_client *cl = arg;
    int64_t now = eddy_now();
    while (!eddy__list_empty(&cl->idle_lru)) {
        hc_conn *c = eddy__container_of(cl->idle_lru.next, hc_conn, clink);
        if (eddy__hc_after(c->idle_since, cl->o.idle_timeout) > now) break;
        unidle(c);
        eddy__hc_discard(c, true);
    }
    arm_idle_timer(cl);
}

void eddy__hc_release(hc_conn *c)
{
    eddy_http_client *cl = c->cl;
    c->served++;
    if (cl->o.idle_timeout == 0 || !c->s) {
        eddy__hc_discard(c, true);
        return;
    }
    /* The first waiter for this origin takes it at once. */
    for (eddy__link *l = cl->waiters.next; l != &cl->waiters; l = l->next) {
        hc_waiter *w = eddy__container_of(l, hc_waiter, link);
        if (w->o == c->o) {
            w->conn = c;
            wake_waiter(cl, w);
            return;
        }
    }
    c->idle_since = eddy_now();
    eddy__list_push_front(&c->o->idle, &c->olink);
    eddy__list_push_back(&cl->idle_lru, &c->clink);
    cl->idle++;
    arm_idle_timer(cl);
    pool_kick(cl); /* a waiter of another origin at the total limit may need its slot */
}

/* An idle connection the server closed (or wrote to out of turn: plain HTTP never has bytes
 * of its own between responses; TLS may, a session ticket) is of no use. */
static bool conn_stale(const hc_conn *c)
{
    int fd = eddy_stream_fd(c->s);
    if (fd < 0) return false; /* no descriptor (a test's memory stream): trust it */
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (eddy__sys_poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
    return (p.revents & POLLIN) && !c->o->tls;
}

/* ---- making a connection ------------------------------------------------------------------- */

static int ensure_tls(eddy_http_client *cl)
{
    if (cl->tls) return 0;
    static const char *const alpn[] = {"http/1.1", NULL};
    eddy_tls_client_opts to = EDDY_TLS_CLIENT_OPTS_INIT;
    to.alpn = alpn;
    int rc = eddy_tls_client_ctx_open(&to, &cl->tls);
    if (rc < 0) return rc;
    cl->own_tls = true;
    return 0;
}

/* Ask the proxy on s for a tunnel to o->authority; c's buffers are used for the exchange. */
static int proxy_tunnel(hc_conn *c, eddy_stream *s)
{
    eddy_http_client *cl = c->cl;
    hc_origin *o = c->o;
    char head[1024];
    int n = snprintf(head, sizeof head, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n",
                     o->authority, o->authority, cl->proxy_auth ? "Proxy-Authorization: " : "",
                     cl->proxy_auth ? cl->proxy_auth : "", cl->proxy_auth ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head) return -ENOMEM;
    int rc = eddy_stream_write_all(s, head, (size_t)n);
    if (rc < 0) return rc;
    eddy__http_limits lim = {cl->o.max_header_bytes, cl->o.max_header_bytes, cl->o.max_headers};
    size_t scan = 0, end = 0;
    for (;;) {
        ssize_t h = end ? eddy__http_parse_response(c->buf, end, &scan, &lim, c->fields,
                                                     EDDY_HTTP_CONNECT, &c->msg)
                        : 0;
        if (h < 0) return h == -EMSGSIZE ? EDDY_EHTTP_HEADTOOBIG : EDDY_EHTTP_BADRESP;
        if (h > 0 && c->msg.status < 200) { /* interim: skip */
            memmove(c->buf, c->buf + h, end - (size_t)h);
            end -= (size_t)h;
            scan = 0;
            continue;
        }
        if (h > 0) {
            if (c->msg.body != EDDY__HTTP_BODY_TUNNEL) return EDDY_EHTTP_PROXY;
            /* The server speaks first in no protocol we tunnel: bytes after the proxy's
             * answer are not the server's. */
            return (size_t)h == end ? 0 : EDDY_EHTTP_BADRESP;
        }
        if (end == c->cap) return EDDY_EHTTP_HEADTOOBIG;
        ssize_t r = eddy_stream_read(s, c->buf + end, c->cap - end);
        if (r < 0) return (int)r;
        if (r == 0) return EDDY_EHTTP_TRUNCATED;
        end += (size_t)r;
    }
}

/* A new connection for c->o, on the slot the caller holds. */
static int conn_open(hc_conn *c, hc_phases *ph)
{
    eddy_http_client *cl = c->cl;
    hc_origin *o = c->o;
    eddy__hc_phase(ph, EDDY_EHTTP_CONNECT_TIMEOUT, ph->t->connect);
    eddy_stream *s = NULL;
    int rc = cl->o.connect ? cl->o.connect(cl->o.connect_ctx, o->host, o->port, &s)
                           : eddy_tcp_connect(o->host, o->port, NULL, &s);
    if (rc < 0) return rc;
    if (!s) return -EINVAL; /* a connect hook that claims success without a stream */
    if (o->tunnel && (rc = proxy_tunnel(c, s)) < 0) {
        eddy_stream_abort(s);
        return rc;
    }
    if (o->tls) {
        eddy__hc_phase(ph, EDDY_EHTTP_TLS_TIMEOUT, ph->t->tls);
        if ((rc = ensure_tls(cl)) < 0) {
            eddy_stream_abort(s);
            return rc;
        }
        eddy_tls_opts to = EDDY_TLS_OPTS_INIT;
        to.session_key = o->authority;
        to.close_timeout = EDDY_SEC(1); /* close_notify is a courtesy: never wait long for it */
        eddy_stream *t;
        rc = eddy_tls_client(s, cl->tls, o->tls_name, &to, &t);
        if (rc < 0) {
            eddy_stream_abort(s);
            return rc;
        }
        if (eddy_tls_is_resumed(t)) cl->st.tls_resumed++;
        s = t;
    }
    c->s = s;
    cl->st.connections++;
    return 0;
}

static int conn_make(eddy_http_client *cl, hc_origin *o, hc_phases *ph, hc_conn **out)
{
    hc_conn *c = calloc(1, sizeof *c);
    int rc = -ENOMEM;
    if (c) {
        c->cl = cl;
        c->o = o;
        eddy__list_init(&c->olink);
        eddy__list_init(&c->clink);
        c->cap = 16384;
        c->buf = malloc(c->cap);
        c->fields = calloc(cl->o.max_headers, sizeof *c->fields);
        if (c->buf && c->fields) rc = conn_open(c, ph);
    }
    if (rc < 0) {
        if (c) conn_free(c);
        slot_free(cl, o);
        return rc;
    }
    *out = c;
    return 0;
}

int eddy__hc_acquire(eddy_http_client *cl, hc_origin *o, hc_phases *ph, hc_conn **out,
                     bool *reused)
{
    *reused = false;
    while (!eddy__list_empty(&o->idle)) {
        hc_conn *c = eddy__container_of(o->idle.next, hc_conn, olink);
        unidle(c);
        arm_idle_timer(cl);
        if (eddy__hc_after(c->idle_since, cl->o.idle_timeout) > eddy_now() && !conn_stale(c)) {
            *reused = true;
            *out = c;
            return 0;
        }
        /* Expired or closed by the server: its slot becomes the new connection's. */
        conn_close_stream(c, true);
        conn_free(c);
        return conn_make(cl, o, ph, out);
    }
    if (o->open < cl->o.max_conns_per_host) {
        if (cl->open < cl->o.max_conns) {
            cl->open++;
            o->open++;
            return conn_make(cl, o, ph, out);
        }
        hc_conn *v = evict_for(cl, o); /* at the total limit: an idle connection elsewhere */
        if (v) {
            close_victim(v);
            return conn_make(cl, o, ph, out);
        }
    }
    /* Wait for a connection or a slot, in turn. */
    eddy__hc_phase(ph, EDDY_EHTTP_POOL_TIMEOUT, ph->t->pool);
    hc_waiter w = {.task = eddy_task_current(), .o = o};
    if (!w.task) return -EPERM;
    eddy__list_push_back(&cl->waiters, &w.link);
    cl->waiting++;
    eddy__wait wt = {.reason = "http pool", .obj = cl, .cancel = waiter_cancel, .arg = &w};
    int rc = eddy__park(&wt);
    if (rc < 0) {
        if (eddy__linked(&w.link)) eddy__list_remove(&w.link);
        cl->waiting--;
        /* Cancelled after being served (both can happen in one loop iteration): give back. */
        if (w.conn) {
            w.conn->served--; /* not an exchange of its own */
            eddy__hc_release(w.conn);
        }
        if (w.slot) slot_free(cl, o);
        return rc;
    }
    if (w.conn) {
        *reused = true;
        *out = w.conn;
        return 0;
    }
    return conn_make(cl, o, ph, out);
}
