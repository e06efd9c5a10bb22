/* eddy — the HTTP/1.1 client (W1).
 *
 *   eddy_http_client *c;
 *   rc = eddy_http_client_open(NULL, &c);                 // a pool, system CAs for https
 *   eddy_http_client_response *r;
 *   rc = eddy_http_client_send(c, &(eddy_http_client_request){.url = "https://example.com/"}, &r);
 *   if (rc == 0) {
 *       printf("%d\n", r->status);
 *       char buf[4096];
 *       ssize_t n;
 *       while ((n = eddy_stream_read(r->body, buf, sizeof buf)) > 0) fwrite(buf, 1, n, stdout);
 *       eddy_http_client_response_close(r);             // the connection goes back to the pool
 *   }
 *   eddy_http_client_close(c);
 *
 * Connections. A client keeps a pool of connections per origin (scheme, host and port; through
 * a proxy, per proxy for http:// and per origin for https://): a request takes an idle
 * connection of its origin (the one used last, so the others expire), or opens a new one when
 * the limits allow (max_conns over every origin, max_conns_per_host per origin; an idle
 * connection of another origin is closed to make room), or waits for one, first come first
 * served (timeouts.pool). A connection goes back to the pool when its response was read to
 * the end (or its rest was already buffered) and both sides allow keep-alive; an idle
 * connection is closed after idle_timeout, and one the server closed meanwhile is noticed
 * before use. A request that fails on a reused connection before any byte of the answer
 * arrived (the server closed it at the same moment) is sent once more on a new connection
 * when it can be (method GET, HEAD, OPTIONS, TRACE, PUT or DELETE, and a body given in
 * memory), as browsers, Go and urllib3 do.
 *
 * https: TLS through the tls module (tls.h): the server's certificate and name are verified
 * against the system's CAs (SSL_CERT_FILE and SSL_CERT_DIR honoured) unless the client was
 * given another context; SNI; ALPN "http/1.1"; a new connection to an origin resumes the TLS
 * session of an earlier one (the context's session cache, keyed by "host:port").
 *
 * Responses. eddy_http_client_send returns once the response head has arrived (interim 1xx
 * responses are skipped): the status and the header fields are parsed (views into the
 * connection's buffer, valid until the response is closed), and the body streams through
 * response->body, an eddy_stream (kind "http-body") that reads the body bytes as the server
 * sends them, whatever the framing (Content-Length, chunked, or until the server closes) and
 * decoded when the server applied gzip or deflate (Content-Encoding) and the client
 * advertised them (opts.decompress). Read it with eddy_stream_read or a buffered reader
 * (bufio.h), or all at once with eddy_http_client_response_read_all; end of body is a read of
 * 0. A malformed or cut body makes the read fail (EDDY_EHTTP_BADRESP, EDDY_EHTTP_TRUNCATED,
 * EDDY_EHTTP_DECODE). Do not close response->body: eddy_http_client_response_close does.
 *
 * Time limits. Every call here is a cancellation point of the caller's cancel scopes, as
 * everywhere in eddy; on top of them each request has limits per phase (eddy_http_timeouts,
 * after aiohttp's ClientTimeout and httpx's Timeout): waiting for a pooled connection,
 * connecting (name resolution and the proxy's CONNECT included), the TLS handshake, the
 * response head, each wait for body bytes, and the whole request. A phase limit that runs out
 * fails the call with its own code (EDDY_EHTTP_CONNECT_TIMEOUT, ...), while the caller's own
 * scope gives its -ECANCELED/-ETIMEDOUT as usual. Durations follow docs/api.md: EDDY_FOREVER
 * is no limit, 0 has already expired, negative is -EINVAL.
 *
 * Cancellation and errors leave nothing behind: a request cancelled or failed while it was
 * sending or waiting for the head closes its connection; a response closed before its body
 * was read to the end closes the connection (unless the rest had already arrived), so a
 * connection with half a response in it never goes back to the pool.
 *
 * Errors (eddy_strerror names each): the HTTP-level EDDY_EHTTP_* codes of error.h; TLS
 * failures as the tls module reports them (EDDY_ETLS_VERIFY, EDDY_ETLS_HOSTNAME, ...);
 * name-resolution failures as the resolver does (EDDY_ENONAME, EDDY_EDNSTIMEDOUT, ...);
 * connection failures as errno values (-ECONNREFUSED, -ECONNRESET, -ENETUNREACH, ...).
 *
 * A client belongs to the thread (loop) that opened it; any number of tasks of that loop may
 * send requests through it at once. */
#ifndef EDDY_HTTP_CLIENT_H
#define EDDY_HTTP_CLIENT_H

#include <stdint.h>
#include <sys/types.h>

#include "base.h"
#include "error.h"
#include "http.h"
#include "stream.h"
#include "tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_http_client eddy_http_client;

/* Limits per phase of a request (durations: EDDY_FOREVER none, 0 already expired). Each
 * fails the request with its own code when it runs out. */
typedef struct eddy_http_timeouts {
    int64_t pool;      /* waiting for a connection when the pool is at its limits
                          (EDDY_EHTTP_POOL_TIMEOUT). INIT: EDDY_FOREVER */
    int64_t connect;   /* opening a connection: name resolution, TCP connect, and through a
                          proxy its CONNECT answer (EDDY_EHTTP_CONNECT_TIMEOUT). INIT: 10 s */
    int64_t tls;       /* the TLS handshake of a new https connection
                          (EDDY_EHTTP_TLS_TIMEOUT). INIT: 10 s */
    int64_t headers;   /* from the first byte of the request sent to the complete response
                          head: writing the request (and its body) and the server's think time
                          (EDDY_EHTTP_HEADERS_TIMEOUT). INIT: 30 s */
    int64_t body_idle; /* each wait for body bytes, from the response's return to the end of
                          the body (EDDY_EHTTP_BODY_TIMEOUT). INIT: 30 s */
    int64_t total;     /* the whole request, from the call of eddy_http_client_send to the end
                          of the body, redirects included (EDDY_EHTTP_TOTAL_TIMEOUT).
                          INIT: EDDY_FOREVER */
} eddy_http_timeouts;
#define EDDY_HTTP_TIMEOUTS_INIT \
    {EDDY_FOREVER, EDDY_SEC(10), EDDY_SEC(10), EDDY_SEC(30), EDDY_SEC(30), EDDY_FOREVER}

/* Makes the connection for a new connection instead of eddy_tcp_connect: *out gets a
 * connected stream to host:port (the proxy's, when there is a proxy), which the client then
 * owns. Return 0, or a negative errno that fails the request. Runs in the requesting task,
 * under the connect limit; may block. For tests (memory streams), Unix sockets, or sockets
 * with options of your own. */
typedef int (*eddy_http_connect_fn)(void *ctx, const char *host, uint16_t port,
                                    eddy_stream **out);

/* Options of eddy_http_client_open. NULL means EDDY_HTTP_CLIENT_OPTS_INIT; a zero-filled
 * struct means literal zeros (limits of 0 are -EINVAL, 0 durations have already expired). */
typedef struct eddy_http_client_opts {
    size_t max_conns;          /* connections open at once over every origin (idle ones
                                  included). INIT: 100 */
    size_t max_conns_per_host; /* connections open at once per origin; SIZE_MAX: only
                                  max_conns limits. INIT: SIZE_MAX */
    int64_t idle_timeout;      /* an idle connection is closed after this long; 0: never keep
                                  one (a new connection per request). INIT: 15 s */
    unsigned max_redirects;    /* redirects (301, 302, 303, 307, 308 with a Location) followed
                                  per request; 0: none, the 3xx response is returned.
                                  INIT: 0 */
    bool decompress;           /* send "Accept-Encoding: gzip, deflate" (unless the request
                                  has its own) and decode such bodies. INIT: true */
    eddy_http_timeouts timeouts; /* per request (a request may bring its own). INIT:
                                  EDDY_HTTP_TIMEOUTS_INIT */
    size_t max_header_bytes;   /* the largest response head accepted (EDDY_EHTTP_HEADTOOBIG).
                                  INIT: 65536 */
    size_t max_headers;        /* the most header fields in a response. INIT: 100 */
    const char *user_agent;    /* the User-Agent of requests that have none; NULL: no field.
                                  INIT: "eddy". Copied */
    /* A proxy for every request: "http://[user:password@]host[:port]" (port 80 by default;
     * credentials become a Proxy-Authorization: Basic field). http:// requests go to it in
     * absolute form ("GET http://host/path HTTP/1.1"); https:// requests through a tunnel it
     * opens with CONNECT, TLS running end to end inside. NULL: none. Copied. */
    const char *proxy;
    /* TLS for https:// requests: the context to use (borrowed: it must outlive the client).
     * NULL: the client makes its own, with ALPN "http/1.1" unless tls_opts names protocols:
     * from tls_opts at eddy_http_client_open when given (verification off, other CAs, a
     * client certificate ...), else with the defaults (the system's CAs) on the first https
     * request. */
    eddy_tls_ctx *tls_ctx;
    const eddy_tls_client_opts *tls_opts; /* only read by eddy_http_client_open */
    eddy_http_connect_fn connect;  /* NULL: eddy_tcp_connect */
    void *connect_ctx;
} eddy_http_client_opts;
#define EDDY_HTTP_CLIENT_OPTS_INIT                                                            \
    {100, SIZE_MAX, EDDY_SEC(15), 0, true, EDDY_HTTP_TIMEOUTS_INIT, 65536, 100, "eddy", NULL, \
     NULL, NULL, NULL, NULL}

/* A request. A zero-filled struct with a url is a GET without a body. */
typedef struct eddy_http_client_request {
    const char *method;        /* a token: "GET", "POST", ...; NULL: "GET" */
    const char *url;           /* "http://host[:port]/path?query" or https://; a fragment is
                                  dropped; "user:password@" before the host becomes an
                                  Authorization: Basic field. Copied */
    /* Header fields as a NULL-terminated array of name, value pairs:
     *   (const char *[]){"Accept", "text/html", "X-Id", "7", NULL}
     * Host (default: the URL's authority), User-Agent, Accept-Encoding and Connection given
     * here replace the client's; Content-Length and Transfer-Encoding are the client's own
     * (-EINVAL). NULL: none. */
    const char *const *headers;
    /* The body, either in memory (can be sent again: after a 307/308 redirect or on a fresh
     * connection), or from a stream read to its end (sent once; stream_len bytes with a
     * Content-Length, or chunked when it is -1). Neither: no body (and no Content-Length,
     * except "Content-Length: 0" for POST, PUT and PATCH). */
    const void *body;
    size_t body_len;
    eddy_stream *body_stream;
    int64_t body_stream_len;
    const eddy_http_timeouts *timeouts; /* NULL: the client's */
} eddy_http_client_request;

/* A response. Everything but the private part is read-only. The strings point into the
 * connection's buffer (not NUL-terminated, except url) and are valid until
 * eddy_http_client_response_close. */
typedef struct eddy_http_client_response {
    int status;                   /* 200, 404, ... (never 1xx) */
    int version;                  /* 10 (HTTP/1.0) or 11 */
    eddy_http_str reason;         /* "OK", as the server wrote it (may be empty) */
    const eddy_http_field *fields; /* the header fields, in order */
    size_t nfields;
    int64_t content_length;       /* Content-Length (of the encoded body when decoded is
                                     true); -1 when not known (chunked, until close); 0 when
                                     there is no body (HEAD, 204, 304) */
    eddy_stream *body;            /* the body (see above); reads 0 at once when there is none
                                     (HEAD, 204, 304) */
    const char *url;              /* the URL that answered: the request's, or the last
                                     redirect's target (NUL-terminated) */
    unsigned redirects;           /* redirects followed to get here */
    bool decoded;                 /* body reads decode Content-Encoding gzip or deflate */
    bool reused;                  /* came over a connection that had served a request before */
    bool keep_alive;              /* the connection may be reused after this response */
    void *priv;                   /* private */
} eddy_http_client_response;

/* Statistics of a client (eddy_http_client_stats). */
struct eddy_http_client_stats {
    uint64_t requests;     /* requests sent (each redirect and each resend counts) */
    uint64_t connections;  /* connections opened (successfully) */
    uint64_t reused;       /* requests sent over a connection that had served one before */
    uint64_t tls_resumed;  /* https connections whose TLS session was resumed */
    uint64_t resent;       /* requests sent again after a reused connection failed */
    size_t open;           /* connections open now (busy, idle, being made) */
    size_t idle;           /* of which idle in the pool */
    size_t waiting;        /* requests waiting for a connection */
};

/* W1: make a client with its (empty) pool in *out. o may be NULL (EDDY_HTTP_CLIENT_OPTS_INIT);
 * its strings are copied. Nothing is connected and no TLS context made until needed. Call on
 * a loop thread; the client belongs to that loop.
 * Returns 0; -EINVAL for NULL out, max_conns or max_conns_per_host 0, a negative duration, a
 * max_header_bytes below 64, max_headers 0 or a user_agent with control characters;
 * EDDY_EHTTP_BADURL for a proxy that is not "http://host[:port]"; with tls_opts, the errors of
 * eddy_tls_client_ctx_open (-EINVAL, -ENOENT, -EACCES, -EMFILE, ... for its files, EDDY_ETLS_LOAD, -ENOTSUP
 * when built without OpenSSL); -ENOMEM; -EPERM outside a loop thread. */
#define eddy_http_client_open(o, out) eddy__http_client_open((o), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__http_client_open(const eddy_http_client_opts *o,
                                             eddy_http_client **out, const char *site);

/* Close every idle connection (gracefully: TLS sends close_notify) and free c. Every
 * response must have been closed and no request may be running (-EBUSY, and nothing is
 * done). May block briefly for TLS close_notify; not a cancellation point. Returns 0 (also for
 * NULL); -EBUSY. */
EDDY_API int eddy_http_client_close(eddy_http_client *c);

/* W1: send req and wait for the response head; *out gets the response, to be closed with
 * eddy_http_client_response_close. Redirects are followed as opts.max_redirects says: 301,
 * 302 and 303 are followed with GET and no body (HEAD stays HEAD; 301 and 302 of a GET or
 * HEAD keep it), 307 and 308 with the same method and body (a body_stream cannot be sent
 * again: the 307/308 response is returned); a redirect to another origin drops the
 * Authorization field; the body of each redirect response is read and dropped. Any status is
 * a success here: 404 and 500 are responses.
 * Returns 0; -EINVAL for NULL arguments, a method that is not a token, a header name that is
 * not a token or a value with CR, LF or NUL, a Content-Length or Transfer-Encoding header,
 * body NULL with body_len > 0, both body and body_stream, a body_stream_len below -1, or a
 * negative duration; EDDY_EHTTP_BADURL (not an absolute http:// or https:// URL, a bad port
 * or host, a redirect's Location likewise); EDDY_EHTTP_BADRESP (not an HTTP/1.x response, a
 * forbidden framing); EDDY_EHTTP_HEADTOOBIG; EDDY_EHTTP_TRUNCATED (the connection ended
 * before the whole head); EDDY_EHTTP_REDIRECTS (more than max_redirects); EDDY_EHTTP_PROXY
 * (the proxy refused the tunnel); EDDY_EHTTP_POOL_TIMEOUT, EDDY_EHTTP_CONNECT_TIMEOUT,
 * EDDY_EHTTP_TLS_TIMEOUT, EDDY_EHTTP_HEADERS_TIMEOUT, EDDY_EHTTP_TOTAL_TIMEOUT; the TLS
 * module's errors (EDDY_ETLS_*; -ENOTSUP for https when eddy was built without OpenSSL); the
 * resolver's (EDDY_ENONAME, ...); the connection's (-ECONNREFUSED, -ECONNRESET, -EPIPE,
 * -ENOBUFS, -ENOSPC, ...; those of eddy_tcp_connect while connecting: -EMFILE/-ENFILE/-ENOBUFS
 * when no socket can be had, -EAGAIN/-EADDRNOTAVAIL when no local port is free, ...);
 * the errors of reading body_stream; -ECANCELED/-ETIMEDOUT if the caller's scope was
 * cancelled (the connection in use is closed); -ENOMEM; -EPERM outside a task. *out is NULL
 * after an error. */
EDDY_API EDDY_WUR int eddy_http_client_send(eddy_http_client *c,
                                            const eddy_http_client_request *req,
                                            eddy_http_client_response **out);

/* eddy_http_client_send of a GET of url without fields or body. Same returns. */
EDDY_API EDDY_WUR int eddy_http_client_get(eddy_http_client *c, const char *url,
                                           eddy_http_client_response **out);

/* Read the rest of r's body into buf, at most cap bytes; *len (may be NULL) gets the count
 * stored, also after an error. Returns 0 at the end of the body; -EMSGSIZE if the body holds
 * more than cap bytes (buf is full, the rest unread); -EINVAL for NULL r, or NULL buf with
 * cap > 0; the errors of body reads (EDDY_EHTTP_TRUNCATED, EDDY_EHTTP_BADRESP,
 * EDDY_EHTTP_DECODE, EDDY_EHTTP_BODY_TIMEOUT, EDDY_EHTTP_TOTAL_TIMEOUT, the connection's:
 * -ECONNRESET, -ENOMEM, -ENOSPC, ...; -ECANCELED/-ETIMEDOUT: what was read stays counted in
 * *len). */
EDDY_API EDDY_WUR int eddy_http_client_response_read_all(eddy_http_client_response *r, void *buf,
                                                         size_t cap, size_t *len);

/* End r: its connection goes back to the pool if the body was read to the end (or what was
 * left of it had already arrived) and keep-alive holds; otherwise the connection is closed
 * (reset, if body bytes were left). Frees r. Never blocks for long (a close of a finished TLS
 * connection sends its close_notify); not a cancellation point. NULL: nothing. */
EDDY_API void eddy_http_client_response_close(eddy_http_client_response *r);

/* The value of r's first field named name (ASCII case-insensitive), or a str with ptr NULL. */
EDDY_API eddy_http_str eddy_http_client_response_header(const eddy_http_client_response *r,
                                                        const char *name);

/* The whole exchange at once: send req, read the body into buf (at most cap bytes), close
 * the response. *status (may be NULL) gets the status, *len (may be NULL) the body's length.
 * Returns 0 for any status; the returns of eddy_http_client_send and
 * eddy_http_client_response_read_all (-EMSGSIZE for a body over cap). */
EDDY_API EDDY_WUR int eddy_http_client_fetch(eddy_http_client *c,
                                             const eddy_http_client_request *req, void *buf,
                                             size_t cap, size_t *len, int *status);

/* Copy c's statistics into *out (zeroes for NULL c). */
EDDY_API void eddy_http_client_stats(const eddy_http_client *c, struct eddy_http_client_stats *out);

/* A "retryable?" classifier for eddy_retry (retry.h) around HTTP requests: true for failures
 * that another attempt may not meet — connection refused, reset or cut, unreachable networks,
 * temporary name-resolution failures (EDDY_EDNSTIMEDOUT, EDDY_EDNSUNREACH, EDDY_EDNSFAIL),
 * the phase timeouts and EDDY_EHTTP_TRUNCATED; false for the rest (a bad URL, a certificate
 * that does not verify, an unknown host, a malformed response, cancellation). ctx unused. */
EDDY_API bool eddy_http_client_retryable(int err, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
