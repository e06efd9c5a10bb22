/* eddy http: the HTTP/1.1 message parser (RFC 9110, RFC 9112), shared by the server and the
 * client. Never installed.
 *
 * Pure functions over the caller's memory: no allocation, no I/O, no loop, so the parser can
 * be fuzzed and tested on its own (tests/fuzz/fuzz_http_parse.c compiles this file alone).
 *
 * Heads: eddy__http_parse_request / eddy__http_parse_response look at the bytes buffered so
 * far, starting at the first byte of a message. They return 0 until the whole head (up to
 * and including the empty line) is there, then parse it in one pass: every string of the
 * result points into the buffer (zero-copy), so the buffer must not move while the result is
 * used. The search for the end of the head resumes where the previous call stopped (*scan),
 * so a head arriving one byte per read costs O(length), not O(length^2). Errors that can be
 * seen before the head is complete (a bare LF, a request line that is too long or does not
 * start with a method) are reported at once.
 *
 * Bodies: the head says how the body is framed (m->body). Content-Length bodies are counted
 * by the caller; chunked bodies go through eddy__http_chunked_decode, which also works in
 * place: it finds the data inside the buffered bytes and reports it as a span.
 *
 * Rejections (each with the status a server answers and a fixed description in m->error, for
 * logs and tests):
 *   400  malformed request line; method not a token; target not visible ASCII; bare CR; bare
 *        LF; obs-fold (a field line starting with whitespace); whitespace between field name
 *        and colon; empty or invalid field name; control character in a field value;
 *        Content-Length not 1*DIGIT, too large, or duplicated with a different value;
 *        Content-Length and Transfer-Encoding together; Transfer-Encoding whose last coding
 *        is not chunked, or with chunked twice, or in an HTTP/1.0 request; HTTP/1.1 without
 *        Host, or with several Host fields; malformed chunk size, extension or trailer (in the
 *        chunked decoder)
 *   414  request line longer than max_line
 *   417  Expect with anything but 100-continue
 *   431  head longer than max_head, more than max_fields field lines
 *   501  Transfer-Encoding with a coding other than chunked before the final chunked
 *   505  HTTP major version other than 1
 * Responses are rejected for the same malformations (m->error_status is then 502, what a
 * proxy would answer). */
#ifndef EDDY_HTTP_PARSE_H
#define EDDY_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "eddy/http.h"

#ifndef EDDY__HIDDEN
#define EDDY__HIDDEN __attribute__((visibility("hidden")))
#endif

/* How the body of a parsed message is framed (RFC 9112 section 6.3). */
enum {
    EDDY__HTTP_BODY_NONE = 0, /* no body: a request without Content-Length or
                                 Transfer-Encoding; a response to HEAD; 1xx, 204, 304 */
    EDDY__HTTP_BODY_LENGTH,   /* exactly content_length bytes (maybe 0) */
    EDDY__HTTP_BODY_CHUNKED,  /* chunked transfer coding: eddy__http_chunked_decode */
    EDDY__HTTP_BODY_CLOSE,    /* a response delimited by the end of the connection */
    EDDY__HTTP_BODY_TUNNEL,   /* a 2xx response to CONNECT: the connection becomes a tunnel */
};

/* Limits of a head. A head that breaks one is rejected (414 or 431). */
typedef struct eddy__http_limits {
    size_t max_line;   /* the request or status line, CRLF included (and any empty lines
                          before a request line) */
    size_t max_head;   /* the whole head, start line and final empty line included */
    size_t max_fields; /* field lines; also the capacity of the caller's field array */
} eddy__http_limits;

/* A parsed head. Strings point into the parsed buffer. */
typedef struct eddy__http_msg {
    /* request line */
    eddy_http_str method;
    int method_id;         /* EDDY_HTTP_GET, ..., EDDY_HTTP_OTHER */
    eddy_http_str target;  /* the request-target exactly as sent */
    /* status line */
    int status;            /* 100..599 */
    eddy_http_str reason;
    /* both */
    int version;           /* 10 (HTTP/1.0) or 11 (HTTP/1.1 and later 1.x) */
    eddy_http_field *fields; /* the caller's array, nfields filled */
    size_t nfields;
    size_t head_len;       /* bytes of the head, leading empty lines and final CRLF included */
    int body;              /* EDDY__HTTP_BODY_* */
    uint64_t content_length; /* with EDDY__HTTP_BODY_LENGTH */
    bool keep_alive;       /* the connection stays open after this message (version and
                              Connection; a response delimited by close: false) */
    bool expect_continue;  /* request: Expect: 100-continue (HTTP/1.1) */
    bool upgrade;          /* Connection has the "upgrade" option */
    eddy_http_str host;    /* request: the Host field's value (len 0 if absent) */
    /* after a rejection */
    int error_status;      /* 400, 414, 417, 431, 501, 505 (requests) or 502 (responses) */
    const char *error;     /* what was wrong, e.g. "obs-fold" (static) */
    bool is_response;      /* private */
} eddy__http_msg;

/* Parse the request head at the start of buf[0, len). *scan is the parser's progress over
 * this head: 0 before the first call, then left to the parser; reset it to 0 for the next
 * message. fields has room for lim->max_fields entries.
 * Returns the head's length (> 0) with *m filled; 0 if the head is not complete yet (call
 * again with more bytes, at least as many as before); -EBADMSG for a malformed or refused
 * head; -EMSGSIZE for one over a limit; -ENOTSUP for an unsupported version (505) or
 * transfer coding (501). After a negative return m->error_status and m->error say why. */
EDDY__HIDDEN ssize_t eddy__http_parse_request(const char *buf, size_t len, size_t *scan,
                                              const eddy__http_limits *lim,
                                              eddy_http_field *fields, eddy__http_msg *m);

/* The same for a response head; method_id is that of the request it answers (a response to
 * HEAD has no body; a 2xx response to CONNECT starts a tunnel). Same returns; the status
 * after an error is 502. Empty lines before the status line are refused, and a status line
 * without a reason phrase ("HTTP/1.1 200\r\n") is accepted. */
EDDY__HIDDEN ssize_t eddy__http_parse_response(const char *buf, size_t len, size_t *scan,
                                               const eddy__http_limits *lim,
                                               eddy_http_field *fields, int method_id,
                                               eddy__http_msg *m);

/* The chunked decoder's state. Zero it (or eddy__http_chunked_init) before the first chunk. */
typedef struct eddy__http_chunked {
    uint64_t left;        /* data bytes left in the current chunk */
    uint64_t total;       /* data bytes decoded so far */
    size_t line;          /* bytes of the current chunk-size line, or of the trailer section */
    size_t max_line;      /* limit of a chunk-size line, extensions included (0: 4096) */
    size_t max_trailer;   /* limit of the trailer section (0: 8192) */
    unsigned state;       /* private */
    bool digits;          /* private: the size had a digit */
    const char *error;    /* after -EBADMSG/-EMSGSIZE: what was wrong (static) */
} eddy__http_chunked;

EDDY__HIDDEN void eddy__http_chunked_init(eddy__http_chunked *d, size_t max_line, size_t max_trailer);

/* Decode chunked body bytes from in[0, len): chunk-size lines (with extensions, which are
 * checked and ignored), chunk data, and the trailer section (checked like header fields and
 * dropped). At most max_data data bytes are taken, and decoding stops after the first run of
 * data: *data_off and *data_len give it, inside in[0, return value) (*data_len 0 if none).
 * Returns the number of bytes consumed (0..len); -EBADMSG for a malformed chunk size (no
 * digit, a non-hex character, more than 64 bits), extension or trailer, or chunk data not
 * followed by CRLF; -EMSGSIZE for a chunk-size line or trailer section over its limit.
 * eddy__http_chunked_done tells when the last chunk and the trailers have been consumed:
 * bytes after that belong to the next message. */
EDDY__HIDDEN ssize_t eddy__http_chunked_decode(eddy__http_chunked *d, const char *in, size_t len,
                                               size_t max_data, size_t *data_off,
                                               size_t *data_len);
EDDY__HIDDEN bool eddy__http_chunked_done(const eddy__http_chunked *d);

/* The method id of a method token (EDDY_HTTP_OTHER if not a known one). */
EDDY__HIDDEN int eddy__http_method_id(const char *p, size_t n);

#endif
