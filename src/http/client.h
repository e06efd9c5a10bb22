/* eddy http: the client's internals, shared by client.c (requests, redirects), pool.c
 * (origins, connections, limits, waiting, idle expiry), body.c (response bodies: framing and
 * content decoding) and url.c. Never installed.
 *
 * One connection serves one exchange at a time. Its read buffer buf[0, cap) holds, during an
 * exchange, the response head pinned at [0, head_len) (the response's strings point there)
 * and the unread bytes at [pos, end), pos >= head_len; the body is read through [head_len,
 * cap), or straight into the caller's buffer when nothing is buffered and the read is large.
 * Before the head is complete the buffer may grow (realloc) up to the head limit: nothing
 * points into it yet. The response (the public struct, the body stream, the decoder) lives
 * in the connection: a connection goes back to the pool only with its response closed.
 *
 * Slots. client->open counts connections open or being opened, each origin's open its own;
 * a slot is taken (both incremented) before a connection is made, and given back when it is
 * closed or could not be made. A freed slot, or a connection released to the pool, is handed
 * to the first waiter it can serve (pool_kick) before anyone else may take it, so waiters are
 * served in order and never starve behind newcomers. */
#ifndef EDDY_HTTP_CLIENT_IMPL_H
#define EDDY_HTTP_CLIENT_IMPL_H

#include "eddy/http_client.h"
#include "eddy/loop.h"
#include "http/parse.h"
#include "internal.h"

/* ---- URLs (url.c) ------------------------------------------------------------------------- */

/* An absolute http(s) URL, taken apart. Every string lives in mem (one allocation). */
typedef struct eddy__url {
    char *mem;
    bool tls;             /* https */
    bool ipv6;            /* host is an IPv6 literal (brackets in authority, not in host) */
    bool default_port;
    uint16_t port;        /* given or the scheme's */
    const char *host;     /* lower case, no brackets */
    const char *authority; /* host[:port] as a Host field: port only when not the default */
    const char *target;   /* path and query, at least "/"; bytes above 0x7f percent-encoded */
    const char *userinfo; /* "user:password" as written (percent-encoded), or NULL */
    const char *href;     /* scheme://authority/target (no userinfo, no fragment) */
} eddy__url;

/* Parse s[0, n). 0; EDDY_EHTTP_BADURL; -ENOMEM. */
EDDY__HIDDEN int eddy__url_parse(const char *s, size_t n, eddy__url *u);
/* Resolve the reference ref[0, n) (a Location value) against base (RFC 3986 5.2) into out.
 * 0; EDDY_EHTTP_BADURL (also for a scheme other than http and https); -ENOMEM. */
EDDY__HIDDEN int eddy__url_resolve(const eddy__url *base, const char *ref, size_t n, eddy__url *out);
EDDY__HIDDEN void eddy__url_free(eddy__url *u);

/* ---- pool (pool.c) ------------------------------------------------------------------------ */

typedef struct hc_origin hc_origin;
typedef struct hc_conn hc_conn;
typedef struct hc_decoder hc_decoder;

/* Where connections of one pool go, and how they are made. */
struct hc_origin {
    eddy__link link;         /* in client->origins */
    eddy__link idle;         /* idle connections, most recently used first */
    size_t open;             /* connections open or being opened */
    size_t refs;             /* requests using it (it is freed at 0 with nothing open) */
    const char *host;        /* where to connect: the target, or the proxy */
    uint16_t port;
    bool tls;                /* TLS to the target */
    bool tunnel;             /* through the proxy with CONNECT */
    const char *tls_name;    /* the target's host: SNI and verification */
    const char *authority;   /* the target's "host:port" (CONNECT, TLS session key) */
    char key[];              /* "scheme://host:port" (+ " via proxy") */
};

/* The body stream of a response: framing (Content-Length, chunked, until close). */
typedef struct hc_body {
    eddy_stream base;
    hc_conn *c;
} hc_body;

struct hc_conn {
    eddy__link olink;        /* in origin->idle while idle */
    eddy__link clink;        /* in client->idle_lru while idle (oldest first) */
    eddy_http_client *cl;
    hc_origin *o;
    eddy_stream *s;          /* the connection (TCP, or TLS over TCP); NULL once closed */
    char *buf;
    size_t cap, pos, end, head_len;
    char *wbuf;              /* the request head being written */
    size_t wcap;
    int64_t idle_since;
    uint64_t served;         /* exchanges completed */
    bool broken;             /* an error or cancellation left the exchange half done */
    /* the exchange */
    eddy_http_field *fields; /* max_headers entries */
    eddy__http_msg msg;
    int body;                /* EDDY__HTTP_BODY_* */
    uint64_t left;           /* EDDY__HTTP_BODY_LENGTH: bytes still to come */
    eddy__http_chunked chunk;
    bool body_done;
    int body_err;            /* sticky error of the body */
    int64_t total_dl;        /* the request's total deadline */
    int64_t body_idle;       /* the request's body_idle limit */
    bool in_use;             /* a response is out (not closed) */
    bool stream_open;        /* the public body stream is initialised */
    hc_body bs;
    hc_decoder *dec;
    eddy_http_client_response resp;
    char *url;               /* resp.url */
};

struct eddy_http_client {
    eddy_loop *loop;
    eddy_http_client_opts o; /* strings replaced by the copies below */
    char *user_agent;
    bool has_proxy;
    eddy__url proxy;
    char *proxy_auth;        /* "Basic ..." or NULL */
    eddy_tls_ctx *tls;       /* NULL until the first https request (or the caller's) */
    bool own_tls;
    eddy__link origins;
    eddy__link idle_lru;
    eddy__link waiters;
    size_t open, idle, waiting;
    size_t active;           /* requests running and responses not closed */
    eddy_timer idle_timer;
    struct eddy_http_client_stats st;
    eddy__handle handle;
};

/* The origin for url (made on first use), with a reference the caller drops with
 * eddy__hc_origin_put. NULL: -ENOMEM. */
EDDY__HIDDEN hc_origin *eddy__hc_origin_get(eddy_http_client *cl, const eddy__url *url);
EDDY__HIDDEN void eddy__hc_origin_put(eddy_http_client *cl, hc_origin *o);

/* Phases of a request, for the time limits: the request's scope gets the earlier of the
 * phase's deadline and the total one. */
typedef struct hc_phases {
    eddy_cancel_scope cs;
    const eddy_http_timeouts *t;
    int64_t total_dl;
    int64_t phase_dl;
    int code;                /* the phase's EDDY_EHTTP_*_TIMEOUT */
} hc_phases;
EDDY__HIDDEN void eddy__hc_phase(hc_phases *ph, int code, int64_t limit);
/* After leaving a scope whose deadline was phase_dl or total_dl: what rc means (a cancel code
 * from our own deadline becomes the phase's code, the caller's cancellation stays itself). */
EDDY__HIDDEN int eddy__hc_timeout_code(const eddy_cancel_scope *cs, int rc, int64_t phase_dl,
                                       int64_t total_dl, int phase_code);
/* Saturating t + d. */
static inline int64_t eddy__hc_after(int64_t t, int64_t d)
{
    int64_t r;
    return d == EDDY_FOREVER || __builtin_add_overflow(t, d, &r) ? EDDY_FOREVER : r;
}

/* A connection to o: an idle one (*reused true) or a new one, made under the phases' limits.
 * 0; the errors of connecting (see eddy_http_client_send). */
EDDY__HIDDEN int eddy__hc_acquire(eddy_http_client *cl, hc_origin *o, hc_phases *ph,
                                  hc_conn **out, bool *reused);
/* The exchange on c is over: back to the pool if it can be reused, else closed. */
EDDY__HIDDEN void eddy__hc_release(hc_conn *c);
/* Close c (abort: reset, unless graceful) and give its slot back. */
EDDY__HIDDEN void eddy__hc_discard(hc_conn *c, bool graceful);

/* ---- bodies (body.c) --------------------------------------------------------------------- */

/* Set up the response body of c after its head was parsed (decoding as the head says).
 * 0; -ENOMEM. */
EDDY__HIDDEN int eddy__hc_body_start(hc_conn *c, bool decompress);
/* Read body bytes (framing decoded; not content-decoded). Count; 0 at the end; errors as the
 * body stream's. */
EDDY__HIDDEN ssize_t eddy__hc_body_read(hc_conn *c, void *buf, size_t len);
/* Consume what is left of the body if it is all buffered already: true if the body is then
 * complete. Never blocks. */
EDDY__HIDDEN bool eddy__hc_body_skip_buffered(hc_conn *c);
/* Tear the response's streams down (closing them waits for a reader still inside, after the
 * connection was aborted under it). */
EDDY__HIDDEN void eddy__hc_body_end(hc_conn *c);
#endif
