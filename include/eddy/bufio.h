/* eddy — buffered reading and framing over any stream (N7).
 *
 * An eddy_bufreader reads a stream through a buffer of fixed capacity, chosen by the caller
 * (its own memory or one malloc at init); the buffer never grows, so the capacity bounds the
 * longest line or frame a peer can make us hold. The record readers (eddy_read_until,
 * eddy_read_line, eddy_read_suffixed, eddy_read_frame) return a view into the buffer and are
 * all-or-nothing: on success the record is consumed; on any error nothing is consumed and
 * the view shows every byte buffered, so a caller can inspect the partial data (asyncio's
 * IncompleteReadError.partial), consume it, or simply call again.
 *
 * Views: an eddy_span returned by a call stays valid until the next call on the same
 * bufreader that can read or consume (every call below except eddy_bufreader_buffered).
 *
 * Cancellation: every call that can read from the stream is a cancellation point (it checks
 * first, even when the answer is already buffered; outside a task, callbacks included, it
 * returns -EPERM like eddy_stream_read). A cancelled call loses nothing: bytes
 * read from the stream before the cancellation stay in the buffer (eddy_read_exactly: or in
 * the caller's buffer, counted in *got), and the next call sees them.
 *
 * One bufreader belongs to one task at a time (the stream allows one reader: a second task
 * reading the same stream directly gets -EBUSY). Closing the stream is the caller's business;
 * eddy_bufreader_destroy does not. */
#ifndef EDDY_BUFIO_H
#define EDDY_BUFIO_H

#include <sys/types.h>

#include "base.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Capacity used when eddy_bufreader_init gets neither a buffer nor a capacity. */
#define EDDY_BUFREADER_DEFAULT_CAP 8192

/* A buffered reader. Caller storage; fields marked private are the implementation's. */
typedef struct eddy_bufreader {
    eddy_stream *stream; /* read-only: the stream read from (not owned) */
    size_t cap;          /* read-only: buffer capacity */
    unsigned char *buf;  /* private */
    size_t start, end;   /* private: the buffered bytes are buf[start, end) */
    bool owned;          /* private: buf was malloc'd by init */
} eddy_bufreader;

/* A view of bytes inside a bufreader's buffer, filled by the record readers. */
typedef struct eddy_span {
    const void *data; /* the record; after an error: the first byte buffered */
    size_t len;       /* its length; after an error: how many bytes are buffered */
    size_t sep;       /* eddy_read_until: index of the separator that ended the record */
    size_t safe;      /* after -EMSGSIZE from eddy_read_until: how many of the buffered bytes
                         can be consumed without cutting a separator that may be completed by
                         bytes not yet read (consume these, then search again) */
    uint64_t declared; /* after -EMSGSIZE from eddy_read_frame: the length the header declared */
} eddy_span;

/* A separator for eddy_read_until. */
typedef struct eddy_sep {
    const void *bytes;
    size_t len; /* > 0 */
} eddy_sep;

/* N7: set up br to read s through a buffer of cap bytes: buf if non-NULL (the caller's
 * memory, which must outlive br), else malloc'd here (cap 0: EDDY_BUFREADER_DEFAULT_CAP).
 * Returns 0; -EINVAL if br or s is NULL, or buf is given with cap 0; -ENOMEM. */
EDDY_API EDDY_WUR int eddy_bufreader_init(eddy_bufreader *br, eddy_stream *s, void *buf, size_t cap);
/* Release br's buffer if init allocated it; bytes still buffered are discarded. The stream
 * is not closed. Idempotent; NULL is a no-op. */
EDDY_API void eddy_bufreader_destroy(eddy_bufreader *br);

/* Bytes buffered and not yet consumed (0 for NULL). Never blocks. */
EDDY_API size_t eddy_bufreader_buffered(const eddy_bufreader *br);

/* Read once from the stream into the buffer's free space (moving the buffered bytes to its
 * start first), blocking until at least one byte arrives. Returns the number of bytes added
 * (> 0); 0 at end of stream; -ENOBUFS if the buffer is full; -EINVAL if br is NULL or not
 * initialised; the errors of eddy_stream_read (-ECANCELED/-ETIMEDOUT, -EBADF, -EBUSY,
 * -ECONNRESET, -EPERM, ...). Cancelled: nothing was added. */
EDDY_API EDDY_WUR ssize_t eddy_bufreader_fill(eddy_bufreader *br);

/* Make at least n bytes buffered (reading as needed) and point *data at the buffered bytes,
 * without consuming them. Returns the number buffered: >= n, or fewer (maybe 0) only at end
 * of stream. n == 0 returns what is buffered without reading. -EMSGSIZE if n > capacity;
 * -EINVAL if br or data is NULL; the errors of eddy_bufreader_fill (-ENOBUFS excepted).
 * After an error *data and the count are not set; the bytes read so far stay buffered. */
EDDY_API EDDY_WUR ssize_t eddy_bufreader_peek(eddy_bufreader *br, size_t n, const void **data);

/* Drop the first n buffered bytes (after a peek, or the partial data of a failed record
 * read). Never blocks. Returns 0; -EINVAL if br is NULL or n > eddy_bufreader_buffered. */
EDDY_API EDDY_WUR int eddy_bufreader_consume(eddy_bufreader *br, size_t n);

/* Read up to len bytes into buf: buffered bytes first (without reading the stream when some
 * are buffered), else one stream read (straight into buf when len >= capacity). Returns the
 * count (> 0); 0 at end of stream or for len == 0; -EINVAL if br is NULL, or buf is NULL
 * with len > 0; the errors of eddy_stream_read. Cancelled: nothing was consumed. */
EDDY_API EDDY_WUR ssize_t eddy_bufreader_read(eddy_bufreader *br, void *buf, size_t len);

/* N7: read exactly n bytes into buf (any n: beyond the capacity they pass through). got, if
 * non-NULL, receives the number of bytes stored in buf, also when an error is returned.
 * Returns 0; -EPIPE if the stream ended first (asyncio's IncompleteReadError: the partial
 * bytes are in buf[0, *got) and consumed); -EINVAL if br is NULL, or buf is NULL with n > 0;
 * the errors of eddy_stream_read. On any error buf[0, *got) holds the bytes this call took
 * from the reader, which are consumed; everything else is still buffered or unread. So a
 * cancelled call can be resumed with eddy_read_exactly(br, buf + got, n - got, ...). */
EDDY_API EDDY_WUR int eddy_read_exactly(eddy_bufreader *br, void *buf, size_t n, size_t *got);

/* N7: read up to and including the first separator of seps[0, nseps), waiting for more data
 * as needed. The record ends at the earliest place where some separator ends; if several end
 * there, the longest (so CR LF wins over LF). On success out->data / out->len are the record
 * including its separator, out->sep the separator's index; the record is consumed.
 * max limits the record length, separator included (0 or above the capacity: the capacity).
 * Returns the record length (> 0); 0 at end of stream with nothing buffered (out->len 0);
 * -EMSGSIZE if max bytes arrived without a complete separator (asyncio's LimitOverrunError:
 * out->data / out->len show the buffered bytes, at least max; out->safe how many of them to
 * consume to skip ahead over the long record; nothing consumed); -EPIPE if the stream ended
 * after some bytes but before a separator (out shows them, nothing consumed); -EINVAL if br,
 * seps or out is NULL, nseps is 0, or a separator is empty or NULL; the errors of
 * eddy_stream_read (out shows what is buffered; nothing consumed). */
EDDY_API EDDY_WUR ssize_t eddy_read_until(eddy_bufreader *br, const eddy_sep *seps, size_t nseps,
                                          size_t max, eddy_span *out);

enum {
    EDDY_LINE_CRLF = 1u << 0, /* lines end with CR LF only; a lone LF is data (HTTP, SMTP) */
    EDDY_LINE_KEEP = 1u << 1, /* out->len includes the terminator */
};

/* N7: read one line: up to LF (a CR before it is stripped with it), or with EDDY_LINE_CRLF up
 * to CR LF. out->data / out->len are the line without its terminator unless EDDY_LINE_KEEP;
 * max limits the line length including the terminator, as for eddy_read_until.
 * Returns the number of bytes consumed, terminator included (> 0, also for an empty line);
 * 0 at end of stream with nothing buffered; -EINVAL also for unknown flags; otherwise the
 * returns of eddy_read_until (-EMSGSIZE with out->safe, -EPIPE for a last line without a
 * terminator: nothing consumed, out shows it). */
EDDY_API EDDY_WUR ssize_t eddy_read_line(eddy_bufreader *br, size_t max, unsigned flags, eddy_span *out);

/* N7: read one record ended by the suffix (len > 0), e.g. a NUL or "\r\n.\r\n"; out is the
 * record without the suffix. Returns as eddy_read_line (the count consumed includes the
 * suffix); -EINVAL also for a NULL or empty suffix. */
EDDY_API EDDY_WUR ssize_t eddy_read_suffixed(eddy_bufreader *br, const void *suffix, size_t len,
                                             size_t max, eddy_span *out);

enum {
    EDDY_FRAME_LE = 1u << 0, /* the length prefix is little endian (default: big endian) */
};

/* N7: read one length-prefixed frame: a width-byte (1..8) unsigned length, big endian unless
 * EDDY_FRAME_LE, then that many payload bytes. out->data / out->len are the payload; the
 * frame must fit in the buffer. max is the largest payload accepted (0 or above capacity -
 * width: capacity - width). Returns the bytes consumed, width + payload (> 0); 0 at end of
 * stream before the first header byte; -EMSGSIZE if the declared length exceeds the limit
 * (out->declared holds it; nothing consumed: the stream cannot be resynchronised without
 * skipping width + declared bytes, which usually means closing it) or the capacity is below
 * width (out->declared 0); -EPIPE if the stream ends
 * inside the frame (out shows the buffered bytes; nothing consumed); -EINVAL if br or out is
 * NULL, width is not 1..8 or flags are unknown; the errors of eddy_stream_read (nothing
 * consumed). A cancelled call can simply be made again. */
EDDY_API EDDY_WUR ssize_t eddy_read_frame(eddy_bufreader *br, unsigned width, unsigned flags,
                                          size_t max, eddy_span *out);

/* N7: write len bytes of data as one frame with a width-byte length prefix (as
 * eddy_read_frame reads it), header and payload in one contiguous eddy_stream_writev, so
 * concurrent writers cannot split it. written, if non-NULL, receives the bytes accepted,
 * header included, also on error. Returns 0; -EMSGSIZE if len does not fit in width bytes;
 * -EINVAL if s is NULL, data is NULL with len > 0, width is not 1..8 or flags are unknown;
 * otherwise the returns of eddy_stream_write. */
EDDY_API EDDY_WUR int eddy_write_frame(eddy_stream *s, unsigned width, unsigned flags, const void *data,
                                       size_t len, size_t *written);

#ifdef __cplusplus
}
#endif
#endif
