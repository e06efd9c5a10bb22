/* eddy — HTTP/1.1 (RFC 9110, RFC 9112): the types shared by the server and the client, and
 * the server (W2).
 *
 * Messages are parsed in place: every string a parsed message exposes (method, target,
 * field names and values) is an eddy_http_str pointing into the connection's read buffer,
 * not a copy and not NUL-terminated. Such a view stays valid while the message is being
 * handled (for the server: until the handler returns); copy what must outlive it.
 *
 * The parser is strict where leniency lets two parsers disagree on where a message ends
 * (request smuggling, response splitting): see "What the server rejects" below. */
#ifndef EDDY_HTTP_H
#define EDDY_HTTP_H

#include <sys/types.h>

#include "base.h"
#include "net.h"
#include "server.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- shared types ------------------------------------------------------------------------ */

/* A view of bytes (not NUL-terminated). ptr may be NULL when len is 0. */
typedef struct eddy_http_str {
    const char *ptr;
    size_t len;
} eddy_http_str;

/* One field line ("Name: value"): the name as sent (case preserved), the value without the
 * whitespace around it. */
typedef struct eddy_http_field {
    eddy_http_str name;
    eddy_http_str value;
} eddy_http_field;

/* Request methods the parser recognises (by exact, case-sensitive spelling); any other token
 * is EDDY_HTTP_OTHER and is still a valid method (see eddy_http_request.method). */
enum {
    EDDY_HTTP_OTHER = 0,
    EDDY_HTTP_GET,
    EDDY_HTTP_HEAD,
    EDDY_HTTP_POST,
    EDDY_HTTP_PUT,
    EDDY_HTTP_DELETE,
    EDDY_HTTP_CONNECT,
    EDDY_HTTP_OPTIONS,
    EDDY_HTTP_TRACE,
    EDDY_HTTP_PATCH,
};

/* The reason phrase of a status code ("OK", "Not Found"); "" for a code it does not know. */
EDDY_API const char *eddy_http_reason(int status);

/* True if s equals the NUL-terminated lit, ignoring ASCII case (field names, tokens). */
EDDY_API bool eddy_http_str_ieq(eddy_http_str s, const char *lit);

/* The first field named name (ASCII case-insensitive) in fields[from, n), or NULL. To visit
 * every field of that name, call again with from = index of the last match + 1. */
EDDY_API const eddy_http_field *eddy_http_field_find(const eddy_http_field *fields, size_t n,
                                                     size_t from, const char *name);

/* True if the comma-separated list value (a field value such as Connection's) has an element
 * equal to token, ignoring ASCII case and the whitespace around elements. */
EDDY_API bool eddy_http_list_has(eddy_http_str value, const char *token);


/* ---- the server (W2) -----------------------------------------------------------------------
 *
 *   static int hello(eddy_http_request *req, eddy_http_response *res, void *arg) {
 *       return eddy_http_response_send(res, 200, "text/plain", "Hello, World!\n", 14);
 *   }
 *   eddy_listener *l;  eddy_tcp_listen(NULL, 8080, NULL, &l);
 *   rc = eddy_http_serve(l, hello, NULL, NULL);
 *
 * Connections: eddy_http_serve runs on eddy_serve (server.h): each connection is served by
 * its own task, which reads and parses requests and writes responses; the stream of a
 * connection may be any eddy_stream (the accept hook can put TLS in front of it; the tests
 * use memory streams through eddy_http_serve_stream). Keep-alive and pipelining: requests of
 * one connection are handled one after the other and answered in order; the responses of a
 * pipelined batch go out in one write.
 *
 * Requests: each request runs in a task of its own (a pooled stack), under a cancel scope whose
 * deadline is request_timeout after its head was complete. Its handler gets the request and
 * a response to fill; everything it can block on (reading the body, writing the response,
 * whatever else it does) is a cancellation point of that scope:
 *   - the deadline passed: the server answers 503 if the handler had not responded yet (408
 *     if it was waiting for the request body), and closes the connection;
 *   - the client went away (end of stream or an error on the connection while the handler
 *     runs; a client that half-closes after its request counts as gone): the handler is
 *     cancelled and nothing more is sent;
 *   - eddy_http_server_shutdown: running handlers finish within the grace period, then are
 *     cancelled.
 * A handler returns 0, or a negative errno (counted in stats.handler_errors). If it returns
 * without having responded, the server answers 500. If it started a response and did not
 * finish it, a chunked response is ended for it when it returned 0; otherwise the
 * connection is closed (the client sees a response shorter than its framing promised).
 *
 * What the server rejects (each answered by the server itself, with Connection: close, then
 * the connection is closed after a short lingering read so the client sees the answer): the
 * parser's list (src/http/parse.h: malformed or ambiguous heads 400, unsupported version 505 or
 * transfer coding 501, Expect other than 100-continue 417), a request line over
 * max_request_line 414, a head over max_header_bytes or max_headers 431, a body over max_body
 * 413 (at once for a Content-Length, when reached for a chunked body), a malformed chunked body
 * 400. A head not complete within header_timeout gets 408. */

typedef struct eddy_http_server eddy_http_server;
/* The response side of an exchange: opaque, valid while its handler runs. */
typedef struct eddy_http_response eddy_http_response;

/* A request as its handler sees it. Strings point into the connection's read buffer and are
 * valid until the handler returns. All fields are read-only except route_tail (set by
 * eddy_http_router_serve); the last one is private. */
typedef struct eddy_http_request {
    eddy_http_str method;     /* "GET", "POST", ... (any token) */
    int method_id;            /* EDDY_HTTP_GET, ...; EDDY_HTTP_OTHER for other methods */
    eddy_http_str target;     /* the request-target exactly as sent */
    eddy_http_str path;       /* the target's path, without the query, not percent-decoded:
                                 "/a/b" (for an absolute-form target, its path; "/" if it has
                                 none); "*" for OPTIONS *; the authority for CONNECT */
    eddy_http_str query;      /* after the '?', without it (len 0 without a query) */
    eddy_http_str host;       /* the authority of an absolute-form target, else Host's value */
    int version;              /* 10 (HTTP/1.0) or 11 */
    const eddy_http_field *fields; /* the header fields, in order */
    size_t nfields;
    int64_t content_length;   /* the body's declared length; -1 for a chunked body (length
                                 unknown); 0 without a body */
    bool keep_alive;          /* the client allows the connection to be reused */
    bool expect_continue;     /* Expect: 100-continue (sent for it on the first body read) */
    eddy_http_str route_tail; /* after eddy_http_router_serve matched a prefix route ("/p/"
                                 then '*'): the path after "/p/" (ptr NULL for an exact route) */
    const eddy_sockaddr *peer; /* the client's address; NULL if the connection has none */
    uint64_t index;           /* 0 for the first request of its connection, then 1, 2, ... */
    int64_t start;            /* eddy_now() when the head was complete */
    void *conn;               /* private */
} eddy_http_request;

/* A request handler. Runs in a task of its own; see above for its return value. */
typedef int (*eddy_http_handler)(eddy_http_request *req, eddy_http_response *res, void *arg);

/* Response header space: the header fields added with eddy_http_response_header, as
 * "Name: value\r\n" lines, must fit in this many bytes. */
#define EDDY_HTTP_RESPONSE_HEADERS_MAX 4096
/* eddy_http_response_start's length for a body whose length is not known in advance:
 * chunked for HTTP/1.1 clients; for HTTP/1.0 ones the body ends with the connection. */
#define EDDY_HTTP_CHUNKED (-1)

/* Read request body bytes into buf: up to len, at least one unless the body has ended.
 * Bytes already buffered with the head come first; otherwise it waits for the client. The
 * first call sends "100 Continue" when the client asked for it (Expect: 100-continue) and no
 * response has started. A chunked body is decoded (extensions and trailers are checked and
 * dropped). Call it from the handler's task or a task it spawned, one reader at a time.
 * Returns the count (> 0); 0 at the end of the body (also for a request without one, or
 * len 0); -EMSGSIZE once the body exceeds max_body (the server answers 413 if no response
 * was started); -EBADMSG for a malformed chunked body (400); -EPIPE if the client closed the
 * connection before the end of the body; -ECONNRESET and other errors of the connection;
 * -ECANCELED/-ETIMEDOUT if cancelled (the request's deadline: the server answers 408);
 * -EBUSY if another task is reading this body; -EINVAL for NULL req or buf with len > 0;
 * -EPERM outside a task. An error other than cancellation is final: later calls return it
 * again. */
EDDY_API EDDY_WUR ssize_t eddy_http_request_read(eddy_http_request *req, void *buf, size_t len);

/* The exchange as an eddy_stream (kind "http"), for code that works on streams (a buffered
 * reader over the body, eddy_sendfile of a generated body): reads are eddy_http_request_read;
 * writes are eddy_http_response_write (a write before eddy_http_response_start starts a 200
 * response of unknown length); eddy_stream_shutdown_write is eddy_http_response_end. The
 * stream belongs to the server: do not close it; it is valid until the handler returns.
 * Returns NULL for a NULL req. */
EDDY_API eddy_stream *eddy_http_request_stream(eddy_http_request *req);

/* Add a header field to the response, before it starts. The server adds Date, Server (if
 * configured), Content-Length or Transfer-Encoding, and Connection itself; a Date or
 * Connection added here replaces the server's ("Connection: close" also closes the
 * connection after the response). Returns 0; -EINVAL if name is not a token, value has a CR,
 * LF, NUL or other control character (response splitting), the name is Content-Length or
 * Transfer-Encoding (the server frames the body), or res, name or value is NULL; -ENOBUFS if
 * the fields would exceed EDDY_HTTP_RESPONSE_HEADERS_MAX; -EALREADY once the response
 * started. */
EDDY_API EDDY_WUR int eddy_http_response_header(eddy_http_response *res, const char *name,
                                                const char *value);

/* Send a whole response: status (200..599, or 204/304 without a body), Content-Type (NULL:
 * none), Content-Length and the body (nothing of it for HEAD requests). A small response is
 * copied into the connection's output buffer and goes out with the others of a pipelined
 * batch, once the handler returns or blocks; a larger one is written at once, without a
 * copy. Cancellation point when it writes. Returns 0; -EALREADY if a response was already
 * started; -EINVAL for a status out of range (1xx are the server's: 100 Continue is sent by
 * eddy_http_request_read), body NULL with len > 0, or a body with 204/304, or NULL res; the
 * errors of writing to the connection (-EPIPE, -ECONNRESET, -ECANCELED/-ETIMEDOUT: then the
 * response may be partly sent and the connection will be closed). */
EDDY_API EDDY_WUR int eddy_http_response_send(eddy_http_response *res, int status,
                                              const char *content_type, const void *body,
                                              size_t len);

/* Start a streamed response: the head goes out with the first body bytes (or at
 * eddy_http_response_end). length >= 0 is the Content-Length; EDDY_HTTP_CHUNKED means
 * unknown. Returns 0; -EALREADY if already started; -EINVAL for a bad status or length, or a
 * length > 0 with 204/304. Does not block. */
EDDY_API EDDY_WUR int eddy_http_response_start(eddy_http_response *res, int status, int64_t length);

/* Write body bytes of a started response (starting a 200 response of unknown length if none
 * was started). They go out at once (a chunk for a chunked body): a streamed response reaches
 * the client as it is written. For HEAD requests the bytes are counted and dropped.
 * Cancellation point. Returns 0; -EMSGSIZE if they would exceed the declared Content-Length
 * (nothing written); -EINVAL for NULL res, or buf NULL with len > 0; -EALREADY after
 * eddy_http_response_end; -EPIPE once an earlier write failed or was cut (the response is
 * broken, the connection will be closed); the errors of writing to the connection (the
 * connection will then be closed). */
EDDY_API EDDY_WUR int eddy_http_response_write(eddy_http_response *res, const void *buf, size_t len);

/* Write len bytes of the regular file fd from offset as body bytes (with eddy_sendfile: no
 * copy over a plain socket). The response must have been started with a Content-Length.
 * Returns 0; -EMSGSIZE beyond the declared length; -EPIPE if the file is shorter than len
 * (what it had was sent; the connection will be closed), or once an earlier write failed;
 * -EINVAL without a Content-Length response, for a negative offset, or for NULL res; the
 * errors of eddy_sendfile and of writing to the connection. */
EDDY_API EDDY_WUR int eddy_http_response_sendfile(eddy_http_response *res, int fd, off_t offset,
                                                  size_t len);

/* Finish the response: the last chunk of a chunked body; the head of a started response that
 * has no body bytes yet. Returns 0 (also when already ended); -EPIPE if fewer body bytes than
 * the declared Content-Length were written (the connection will be closed); -EINVAL if no
 * response was started or res is NULL; the errors of writing. */
EDDY_API EDDY_WUR int eddy_http_response_end(eddy_http_response *res);

/* True once the response's head is decided (eddy_http_response_send or _start was called). */
EDDY_API bool eddy_http_response_started(const eddy_http_response *res);

/* Options of eddy_http_serve. NULL means EDDY_HTTP_SERVE_OPTS_INIT; a zero-filled struct
 * means literal zeros (a 0 duration is already expired, a 0 limit admits nothing). */
typedef struct eddy_http_serve_opts {
    int64_t request_timeout;  /* from a complete head to the handler's return (503/408) */
    int64_t header_timeout;   /* from a request's first byte (or the connection's start, or
                                 the end of the accept hook) to its complete head (408); also
                                 bounds the accept hook and the lingering close */
    int64_t idle_timeout;     /* keep-alive: from the end of a response to the next request's
                                 first byte; the connection is then closed silently. Output
                                 the client does not take within it is dropped too */
    int64_t grace;            /* eddy_http_server_shutdown: how long running requests may
                                 finish before they are cancelled (EDDY_FOREVER: wait) */
    size_t max_request_line;  /* request line, CRLF included (414) */
    size_t max_header_bytes;  /* the whole head (431); the read buffer is a little larger */
    size_t max_headers;       /* header fields (431) */
    uint64_t max_body;        /* request body bytes (413) */
    size_t max_conns;         /* connections served at once (eddy_serve_opts.max_conns; 0: no
                                 limit) */
    size_t stack_size;        /* request handler task stacks (0: the loop's default) */
    const char *server_name;  /* the Server field's value; NULL: no Server field */
    /* Accept hook: called in the connection's task, before anything is read, under
     * header_timeout, for every accepted connection. Return 0 with *out the stream to serve
     * HTTP on (e.g. a TLS stream over raw after its handshake), or a negative errno to drop
     * the connection. *out borrows raw: the server closes *out (if it is not raw itself)
     * first, then raw, so *out must not close raw (it may still write to it in its close:
     * a TLS close_notify). NULL: serve raw. */
    int (*accept)(eddy_stream *raw, eddy_stream **out, void *ctx);
    void *accept_ctx;
    eddy_http_server *server; /* optional storage for the server (to shut it down or read its
                                 stats from another task); NULL: eddy_http_serve's own */
} eddy_http_serve_opts;

#define EDDY_HTTP_SERVE_OPTS_INIT                                                           \
    {EDDY_SEC(60), EDDY_SEC(10), EDDY_SEC(30), EDDY_SEC(10), 8192, 16384, 100, 1048576, 0, 0, \
     NULL, NULL, NULL, NULL}

/* (A struct tag only: eddy_http_server_stats is also the function that copies them.) */
struct eddy_http_server_stats {
    uint64_t connections;     /* connections served (accepted or given to _serve_stream) */
    uint64_t requests;        /* requests handed to a handler */
    uint64_t rejected;        /* requests the server answered itself with 4xx/5xx (parser and
                                 limit rejections, 408 for a slow head) */
    uint64_t timeouts;        /* requests past their deadline (answered 503/408 or cut) */
    uint64_t disconnects;     /* handlers cancelled because their client went away */
    uint64_t handler_errors;  /* handlers that returned an error or no response */
    uint64_t close_errors;    /* connections whose accept-hook stream (TLS) failed to close
                                 cleanly: the client left before the close handshake */
    int last_handler_error;   /* the latest of those errors (-EPROTO: no response) */
    size_t active;            /* connections open now */
};

/* A running HTTP server. Filled by eddy_http_serve (in opts->server or its own frame); valid
 * until it returns. Fields other than stats are private. */
struct eddy_http_server {
    eddy_server base;               /* private: the connection server (first: see eddy_start) */
    struct eddy_http_server_stats stats; /* read-only */
    eddy_http_serve_opts opts;      /* private */
    eddy_http_handler handler;      /* private */
    void *arg;                      /* private */
    eddy__link conns;               /* private: connections being served */
    int state;                      /* private */
    bool listening;                 /* private */
};

/* W2: serve HTTP/1.1 on the connections accepted from l, calling handler(req, res, arg) for
 * every request (see above), until shut down or cancelled. If the calling task was started
 * with eddy_start, the eddy_http_server * is passed to eddy_started once it listens. o may be
 * NULL (EDDY_HTTP_SERVE_OPTS_INIT).
 * Shutdown (eddy_http_server_shutdown): stop accepting; close the connections that wait for a
 * request; let the requests in progress finish (their responses carry Connection: close)
 * within o->grace, then cancel them; return 0. Cancelling the scope around eddy_http_serve
 * cancels everything at once and returns the cancel code.
 * Returns 0 after a shutdown; -ECANCELED/-ETIMEDOUT if cancelled; -EINVAL for NULL l or
 * handler, a negative duration, a max_request_line or max_header_bytes below 16,
 * max_request_line above max_header_bytes, max_headers above 2^20, or a server_name that is
 * empty, longer than 256 bytes or has control characters; -EPERM outside a task (callback
 * context included); the errors of eddy_serve
 * (-EBADF if l is closed under it, -EBUSY if another task accepts on it). When it returns,
 * every connection is closed and every handler has returned. */
EDDY_API EDDY_WUR int eddy_http_serve(eddy_listener *l, eddy_http_handler handler, void *arg,
                                      const eddy_http_serve_opts *o);

/* Serve HTTP/1.1 on one connected stream s, in the calling task, until the connection ends
 * (the client closes it, an idle or header timeout, an error, or a shutdown of o->server).
 * s is borrowed: the caller closes it afterwards (o->accept is not used). For connections
 * accepted by other means, and for tests (a memory stream pair and the virtual clock make
 * every timeout deterministic). o->server, if given, is filled as by eddy_http_serve.
 * Returns 0 when the connection ended (whatever the client did); -ECANCELED/-ETIMEDOUT if
 * cancelled; -EINVAL (as eddy_http_serve, or NULL s); -ENOMEM; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_http_serve_stream(eddy_stream *s, eddy_http_handler handler, void *arg,
                                             const eddy_http_serve_opts *o);

/* Shut srv down gracefully (see eddy_http_serve); returns at once. Idempotent. Call it on the
 * server's loop, from a task or a callback. Returns 0; -ESRCH if srv is not serving (zeroed,
 * or after eddy_http_serve returned); -EINVAL for NULL. */
EDDY_API int eddy_http_server_shutdown(eddy_http_server *srv);

/* Copy srv's statistics into *out. Zeroes *out for NULL srv. */
EDDY_API void eddy_http_server_stats(const eddy_http_server *srv,
                                     struct eddy_http_server_stats *out);

/* ---- routing ------------------------------------------------------------------------------ */

/* One route. A path ending in '*' is a prefix: written "/static/" followed by '*', it matches
 * "/static/" and every path under it (req->route_tail gets the rest of the path), and a lone
 * "*" matches every path; any other path matches only itself ("/", "/about"). Paths are
 * compared as sent (not percent-decoded). */
typedef struct eddy_http_route {
    const char *method;         /* "GET", "POST", ...; NULL: any method */
    const char *path;
    eddy_http_handler handler;
    void *arg;
} eddy_http_route;

/* A routing table (caller storage; eddy_http_router_serve reads it, never copies it). */
typedef struct eddy_http_router {
    const eddy_http_route *routes;
    size_t nroutes;
} eddy_http_router;

/* A handler that dispatches by method and path: pass it to eddy_http_serve with arg the
 * const eddy_http_router *. The route whose path matches wins: an exact path over a prefix,
 * a longer prefix over a shorter one, then the first in the table. A GET route also serves
 * HEAD. When routes match the path but none allows the method: 405 with an Allow field (OPTIONS
 * gets 204 with Allow instead); when no route matches: 404. Returns what the chosen handler
 * returns; otherwise the returns of eddy_http_response_send; -EINVAL for a NULL router. */
EDDY_API EDDY_WUR int eddy_http_router_serve(eddy_http_request *req, eddy_http_response *res,
                                             void *router);

/* ---- static files --------------------------------------------------------------------------- */

/* A directory served as static files (eddy_http_files_serve). Caller storage. */
typedef struct eddy_http_files {
    int root_fd;                /* private: the directory, O_PATH */
    const char *index;          /* file served for a directory path ending in "/":
                                   "index.html" after init; NULL: such paths get 404 */
    const char *cache_control;  /* Cache-Control value of every file response; NULL: none */
} eddy_http_files;

/* Open dir to serve its files. Returns 0; -ENOTDIR; -ENOENT; -EACCES; the errors of open(2)
 * (-EMFILE, -ENFILE, -ENOMEM, -ELOOP, ...); -EINVAL for NULL arguments. */
EDDY_API EDDY_WUR int eddy_http_files_init(eddy_http_files *f, const char *dir);
/* Close the directory. Idempotent; NULL is a no-op. */
EDDY_API void eddy_http_files_destroy(eddy_http_files *f);

/* A handler serving the file named by the request's path (route_tail under a prefix route)
 * from the directory of the eddy_http_files * arg: GET and HEAD (others: 405 with Allow);
 * percent-decoded path; never outside the directory (a ".." segment, encoded or not: 403; a
 * symbolic link, or a path through one, leading outside: 403; a NUL byte: 400); missing or
 * not a regular file: 404; a directory without the trailing "/": 301 to the path with it.
 * Responses carry Content-Type (by extension), Content-Length, Last-Modified and a strong
 * ETag (inode, size, modification time); If-None-Match (or If-Modified-Since without it)
 * gives 304; one "bytes=" Range gives 206 with Content-Range (several ranges: the whole file;
 * unsatisfiable: 416), unless If-Range names another version. The body goes out with
 * eddy_sendfile. Opening the file and its fstat are made on the loop thread (page-cache fast;
 * a slow disk stalls the loop). Returns the returns of eddy_http_response_send / _sendfile;
 * -EINVAL for a NULL arg. */
EDDY_API EDDY_WUR int eddy_http_files_serve(eddy_http_request *req, eddy_http_response *res, void *files);

/* The Content-Type eddy_http_files_serve gives a file name, by its extension (case-
 * insensitive): "text/html; charset=utf-8" for .html, ...; "application/octet-stream" for
 * anything it does not know. */
EDDY_API const char *eddy_http_content_type(const char *name);

#ifdef __cplusplus
}
#endif
#endif
