/* bufread.h — a small buffered reader over an eddy_stream, shared by the clamd examples
 * (clamd_scan.c, fake_clamd.c) until the library's eddy_bufreader (N7) is there.
 *
 * The buffer lives in the caller's storage; nothing is allocated. Functions return a
 * negative errno from the stream (cancellation included), and say "the peer closed first"
 * with a count shorter than asked (xb_read_exact) or -ENODATA (xb_read_until). */
#ifndef EXAMPLES_BUFREAD_H
#define EXAMPLES_BUFREAD_H

#include <string.h>

#include "eddy.h"

typedef struct xbuf {
    eddy_stream *s;
    size_t start, end; /* unread bytes are data[start..end) */
    char data[8192];
} xbuf;

static inline void xb_init(xbuf *b, eddy_stream *s)
{
    b->s = s;
    b->start = b->end = 0;
}

/* Read more from the stream into the free space. Returns the count, 0 at end of stream, or
 * a negative errno. */
static inline ssize_t xb_fill(xbuf *b)
{
    if (b->start == b->end) b->start = b->end = 0;
    if (b->end == sizeof b->data) { /* compact: keep the unread bytes at the front */
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    ssize_t n = eddy_stream_read(b->s, b->data + b->end, sizeof b->data - b->end);
    if (n > 0) b->end += (size_t)n;
    return n;
}

/* Up to max bytes (at least one unless at end of stream): buffered ones first. Returns the
 * count, 0 at end of stream, or a negative errno. */
static inline ssize_t xb_read_some(xbuf *b, void *out, size_t max)
{
    if (b->start == b->end) {
        if (max >= sizeof b->data) return eddy_stream_read(b->s, out, max); /* no copy */
        ssize_t n = xb_fill(b);
        if (n <= 0) return n;
    }
    size_t n = b->end - b->start;
    if (n > max) n = max;
    memcpy(out, b->data + b->start, n);
    b->start += n;
    return (ssize_t)n;
}

/* Exactly n bytes, unless the stream ends first. Returns the count (< n: it ended) or a
 * negative errno. */
static inline ssize_t xb_read_exact(xbuf *b, void *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = xb_read_some(b, (char *)out + got, n - got);
        if (r < 0) return r;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* A line ending in one of the separators sep1/sep2 (consumed, not stored), at most max bytes
 * without it, NUL-terminated in out (which has room for max + 1). Returns the length;
 * -EMSGSIZE if no separator came within max bytes; -ENODATA if the stream ended first (*partial,
 * if non-NULL, says whether some bytes had come); a negative errno from the stream. */
static inline ssize_t xb_read_until(xbuf *b, char sep1, char sep2, char *out, size_t max,
                                    bool *partial)
{
    size_t len = 0;
    if (partial) *partial = false;
    for (;;) {
        while (b->start < b->end) {
            char c = b->data[b->start++];
            if (c == sep1 || c == sep2) {
                out[len] = 0;
                return (ssize_t)len;
            }
            if (len == max) return -EMSGSIZE;
            out[len++] = c;
        }
        ssize_t n = xb_fill(b);
        if (n < 0) return n;
        if (n == 0) {
            if (partial) *partial = len > 0;
            return -ENODATA;
        }
    }
}

#endif
