/* eddy http: the server's internals, shared by server.c (connections) and exchange.c (the
 * request body and the response of one exchange). Never installed.
 *
 * Two tasks serve a connection. The connection task (C, from eddy_serve) owns the read side:
 * it reads into the connection's buffer, parses request heads, and runs each request in a
 * request task (H) that it spawns and that runs the handler under the request's cancel scope.
 * While H runs without blocking (the common case: spawning is eager), C just waits for the
 * spawn to return. Once H blocks, C reads ahead into the free part of the buffer: request body
 * bytes for H (H waits for them in body_fill), pipelined requests, and the end of the stream,
 * which means the client is gone and cancels H's scope. When H ends it kicks C out of that read
 * (cancelling C's read scope; a cancelled read loses nothing) or wakes it.
 *
 * Buffer: buf[0, cap). The head of the exchange in progress is pinned at [hs, he) (the request's
 * strings point there); unconsumed input is [pos, end); [end, cap) is free. Compaction moves
 * [pos, end) down to he (or to 0 between exchanges) and happens only in C, while H is blocked,
 * so H never holds a pointer into bytes that move.
 *
 * Output: small responses are appended to out[] while H runs inside C's spawn call (in_spawn)
 * and flushed by C, in one write per batch of pipelined requests, before C next blocks on a
 * read. Anything written while H runs on its own (after it blocked) goes to the stream at once,
 * preceded by what out[] holds. While a task writes (flushing) nobody appends to out[]: a writer
 * that comes later writes its bytes directly, after the flush in the stream's FIFO order. */
#ifndef EDDY_HTTPD_H
#define EDDY_HTTPD_H

#include "eddy/http.h"
#include "http/parse.h"
#include "internal.h"

enum { SRV_IDLE = 0, SRV_SERVING, SRV_STOPPING, SRV_DONE };

/* A response's progress. */
enum {
    RS_NONE = 0, /* nothing decided */
    RS_STARTED,  /* status and framing decided; the head is not out yet */
    RS_BODY,     /* the head is out (or queued in out[]); body bytes may follow */
    RS_DONE,     /* complete */
};

typedef struct eddy__httpd_conn conn;

struct eddy_http_response {
    conn *c;
    int state;           /* RS_* */
    int status;
    int64_t length;      /* declared body length; -1 chunked; -2 delimited by closing */
    uint64_t written;    /* body bytes accepted so far */
    bool no_body;        /* HEAD request, or 204/304: body bytes are counted, not sent */
    bool user_date;      /* the handler gave a Date field */
    bool user_connection; /* ... a Connection field */
    bool close;          /* the connection closes after this response */
    bool sent_100;       /* "100 Continue" went out */
    const char *content_type; /* for eddy_http_response_send's head */
    size_t hdr_len;
    char hdr[EDDY_HTTP_RESPONSE_HEADERS_MAX]; /* the handler's fields, "Name: value\r\n" */
};

/* The exchange as a stream (eddy_http_request_stream). */
typedef struct body_stream {
    eddy_stream base;
    conn *c;
    bool open;
} body_stream;

struct eddy__httpd_conn {
    eddy__link link;            /* in srv->conns */
    eddy_http_server *srv;
    eddy_stream *s;
    eddy_task *ctask;           /* the connection task C */
    const eddy_sockaddr *peer;
    /* input */
    char *buf;
    size_t cap, pos, end, scan; /* scan: the parser's progress over the head at pos */
    size_t hs, he;              /* the pinned head of the exchange in progress */
    bool pinned;
    bool eof;                   /* the read side ended (rd_err: 0 for end of stream, or the
                                   error) */
    ssize_t rd_err;
    /* output */
    char *out;
    size_t out_cap, out_len;
    bool flushing;
    bool in_spawn;              /* H runs inside C's eddy_spawn call */
    /* the exchange */
    eddy__http_msg msg;
    eddy_http_request req;
    struct eddy_http_response res;
    body_stream bs;
    int body;                   /* EDDY__HTTP_BODY_* of the request */
    uint64_t body_left;         /* EDDY__HTTP_BODY_LENGTH: bytes still to come */
    eddy__http_chunked chunk;
    bool body_done;
    bool body_touched;          /* the handler read (or tried to read) the body */
    int body_err;               /* sticky error of the body */
    int body_status;            /* the status a body error calls for (400, 413) */
    eddy_task *body_reader;     /* the task inside eddy_http_request_read */
    eddy_task *data_waiter;     /* parked in body_fill for C's next read */
    bool waiting_body;          /* the handler waits for body bytes (a timeout is then 408) */
    /* tasks */
    eddy_nursery nursery;       /* H tasks */
    bool h_alive;
    eddy_cancel_scope *req_cs;  /* H's request scope while the handler runs */
    bool c_reading;             /* C is in a read that H may cancel (read-ahead) */
    bool c_parked;              /* C waits for H to end or to make room */
    eddy_cancel_scope rd_cs;    /* around C's reads */
    bool rd_active;
    bool idle;                  /* C waits for the first byte of a request */
    bool kicked;                /* rd_cs was cancelled by a shutdown */
    bool expired;               /* rd_cs was cancelled by rd_deadline */
    int rd_why;                 /* why the last read stopped on rd_cs (server.c) */
    /* outcome */
    bool client_gone;           /* the client left while H ran: H was cancelled */
    bool broken;                /* the output is unusable (partly written response) */
    bool close_after;           /* close once the current response is out */
    bool linger;                /* unread input may remain: close with a lingering read */
    uint64_t nreq;
    size_t server_name_len;
    int64_t idle_deadline;      /* for the next request's first byte */
    int64_t head_deadline;      /* for the current head, once its first byte came */
    /* C's read deadlines (idle, head, body discard) share one callback timer, re-armed
     * lazily: a later deadline (the idle deadline moving on with every request) leaves the
     * timer where it is, to fire early and re-arm once; only an earlier one moves it. So the
     * steady keep-alive state arms no timer per request. */
    eddy_timer tmr;
    int64_t tmr_at;             /* when tmr is armed for (EDDY_FOREVER: not armed) */
    int64_t rd_deadline;        /* the deadline of C's read in progress (EDDY_FOREVER: none) */
    eddy_http_field fields[];   /* max_headers */
};

/* exchange.c */
EDDY__HIDDEN void eddy__httpd_exchange_reset(conn *c);
/* Write out[] followed by iov[0, n) (n may be 0) to the stream as one gather write; with
 * own_deadline, under a scope of idle_timeout (a client that takes nothing for that long is
 * dropped). On failure the connection is marked broken (and a vanished client noted). */
EDDY__HIDDEN int eddy__httpd_write(conn *c, const struct iovec *iov, int n, bool own_deadline);
/* Append a whole response made by the server itself (errors, timeouts) to out[]. */
EDDY__HIDDEN void eddy__httpd_simple_response(conn *c, int status, bool close);
/* Bring the response to an end after the handler returned rc (see request_main). */
EDDY__HIDDEN void eddy__httpd_finish(conn *c, int rc, bool deadline_hit);
/* Consume the rest of the request body (from C, after the exchange), reading at most max
 * more bytes. 0 when the body is consumed; an error otherwise. */
EDDY__HIDDEN int eddy__httpd_discard_body(conn *c, uint64_t max);
/* From C: read more input into the free part of the buffer, under rd_cs with deadline dl. */
EDDY__HIDDEN ssize_t eddy__httpd_read(conn *c, int64_t dl, bool idle);
/* Make [end, cap) non-empty if compaction can; false if the buffer is full. */
EDDY__HIDDEN bool eddy__httpd_room(conn *c);
/* The client went away while H runs: cancel H's scope, wake a body reader. */
EDDY__HIDDEN void eddy__httpd_client_gone(conn *c);

/* Saturating now + d (durations may be EDDY_FOREVER). */
static inline int64_t eddy__httpd_after(int64_t t, int64_t d)
{
    int64_t r;
    return __builtin_add_overflow(t, d, &r) ? EDDY_FOREVER : r;
}

#endif
