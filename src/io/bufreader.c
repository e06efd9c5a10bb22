/* eddy io: the buffered reader and framing helpers (N7).
 *
 * The buffer is one fixed block; buffered bytes are buf[start, end). Before each stream read
 * they are moved to the front so the read gets all the free space and a record always lies
 * in one piece (views point straight into the buffer). Record readers never consume on
 * failure, which is what makes them safe to cancel and to call again. */
#include <string.h>

#include "eddy/bufio.h"
#include "io/io.h"

static size_t buffered(const eddy_bufreader *br) { return br->end - br->start; }

static const unsigned char *head(const eddy_bufreader *br) { return br->buf + br->start; }

int eddy_bufreader_init(eddy_bufreader *br, eddy_stream *s, void *buf, size_t cap)
{
    if (!br || !s || (buf && cap == 0)) return -EINVAL;
    bool owned = false;
    if (!buf) {
        if (cap == 0) cap = EDDY_BUFREADER_DEFAULT_CAP;
        buf = malloc(cap);
        if (!buf) return -ENOMEM;
        owned = true;
    }
    *br = (eddy_bufreader){.stream = s, .cap = cap, .buf = buf, .owned = owned};
    return 0;
}

void eddy_bufreader_destroy(eddy_bufreader *br)
{
    if (!br) return;
    if (br->owned) free(br->buf);
    *br = (eddy_bufreader){0};
}

size_t eddy_bufreader_buffered(const eddy_bufreader *br) { return br ? buffered(br) : 0; }

static ssize_t fill(eddy_bufreader *br)
{
    if (br->start) {
        size_t n = buffered(br);
        memmove(br->buf, br->buf + br->start, n);
        br->start = 0;
        br->end = n;
    }
    if (br->end == br->cap) return -ENOBUFS;
    ssize_t n = eddy_stream_read(br->stream, br->buf + br->end, br->cap - br->end);
    if (n > 0) br->end += (size_t)n;
    return n;
}

ssize_t eddy_bufreader_fill(eddy_bufreader *br)
{
    if (!br || !br->buf) return -EINVAL;
    return fill(br);
}

/* Reads that may be answered from the buffer still start with a cancellation check, so
 * every call is a checkpoint whatever the buffer holds. */
static int entry(const eddy_bufreader *br)
{
    if (!br || !br->buf) return -EINVAL;
    return eddy_checkpoint_if_cancelled();
}

/* And they end by spending the task's cooperative budget (internal.h): a reader served from
 * the buffer never suspends. Nothing is touched after it (a view stays valid: it points
 * into the buffer, which only this reader's next call changes). */
static ssize_t spent(ssize_t r)
{
    eddy__coop_spend_current();
    return r;
}

/* Buffer at least n (<= cap) bytes: the count buffered (fewer than n only at end of
 * stream), or a read error with everything read so far kept. */
static ssize_t want(eddy_bufreader *br, size_t n)
{
    while (buffered(br) < n) {
        ssize_t r = fill(br);
        if (r == 0) break;
        if (r < 0) return r;
    }
    return (ssize_t)buffered(br);
}

ssize_t eddy_bufreader_peek(eddy_bufreader *br, size_t n, const void **data)
{
    if (!data) return -EINVAL;
    int rc = entry(br);
    if (rc < 0) return rc;
    if (n > br->cap) return -EMSGSIZE;
    ssize_t r = want(br, n);
    if (r >= 0) *data = head(br);
    return spent(r);
}

static void drop(eddy_bufreader *br, size_t n)
{
    br->start += n;
    if (br->start == br->end) br->start = br->end = 0;
}

int eddy_bufreader_consume(eddy_bufreader *br, size_t n)
{
    if (!br || n > buffered(br)) return -EINVAL;
    drop(br, n);
    return 0;
}

static size_t take(eddy_bufreader *br, void *buf, size_t len)
{
    size_t k = buffered(br);
    if (k > len) k = len;
    if (k) memcpy(buf, head(br), k);
    drop(br, k);
    return k;
}

ssize_t eddy_bufreader_read(eddy_bufreader *br, void *buf, size_t len)
{
    if (!buf && len) return -EINVAL;
    int rc = entry(br);
    if (rc < 0) return rc;
    if (len == 0) return spent(0);
    if (buffered(br)) return spent((ssize_t)take(br, buf, len));
    /* Nothing buffered and the caller wants at least a buffer's worth: skip the copy. The
     * stream's read spends the budget itself. */
    if (len >= br->cap) return eddy_stream_read(br->stream, buf, len);
    ssize_t r = fill(br);
    if (r <= 0) return r;
    return (ssize_t)take(br, buf, len);
}

static int read_exactly(eddy_bufreader *br, void *buf, size_t n, size_t *got)
{
    if (got) *got = 0;
    if (!buf && n) return -EINVAL;
    int rc = entry(br);
    if (rc < 0) return rc;
    unsigned char *p = buf;
    size_t done = take(br, p, n);
    while (done < n) {
        ssize_t r;
        if (n - done >= br->cap) {
            r = eddy_stream_read(br->stream, p + done, n - done);
            if (r > 0) done += (size_t)r;
        } else {
            r = fill(br);
            if (r > 0) done += take(br, p + done, n - done);
        }
        if (r == 0) rc = -EPIPE;
        if (r < 0) rc = (int)r;
        if (rc) break;
    }
    if (got) *got = done;
    return rc;
}

int eddy_read_exactly(eddy_bufreader *br, void *buf, size_t n, size_t *got)
{
    return (int)spent(read_exactly(br, buf, n, got));
}

/* ---- records ---------------------------------------------------------------------------- */

static void show_buffered(const eddy_bufreader *br, eddy_span *out)
{
    out->data = head(br);
    out->len = buffered(br);
}

/* The earliest record end in p[0, lim) at or after position from (the length of a record
 * ending there), or 0; *which gets the separator, the longest of those ending there. */
static size_t find_end(const unsigned char *p, size_t from, size_t lim, const eddy_sep *seps,
                       size_t nseps, size_t *which)
{
    for (size_t e = from + 1; e <= lim; e++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < nseps; i++) {
            size_t l = seps[i].len;
            if (l <= e && memcmp(p + e - l, seps[i].bytes, l) == 0 &&
                (best == SIZE_MAX || l > seps[best].len))
                best = i;
        }
        if (best != SIZE_MAX) {
            *which = best;
            return e;
        }
    }
    return 0;
}

/* How many of p[0, n) can be dropped without cutting the start of a separator off a tail
 * that later bytes could complete. */
static size_t safe_prefix(const unsigned char *p, size_t n, const eddy_sep *seps, size_t nseps)
{
    size_t keep = 0;
    for (size_t i = 0; i < nseps; i++) {
        size_t j = seps[i].len - 1;
        if (j > n) j = n;
        for (; j > keep; j--)
            if (memcmp(p + n - j, seps[i].bytes, j) == 0) {
                keep = j;
                break;
            }
    }
    return n - keep;
}

static ssize_t read_until(eddy_bufreader *br, const eddy_sep *seps, size_t nseps, size_t max,
                          eddy_span *out)
{
    if (!out || !seps || nseps == 0) return -EINVAL;
    *out = (eddy_span){0};
    for (size_t i = 0; i < nseps; i++)
        if (!seps[i].bytes || seps[i].len == 0) return -EINVAL;
    int rc = entry(br);
    if (rc < 0) return rc;
    size_t lim = (max == 0 || max > br->cap) ? br->cap : max;
    /* Record ends before `scanned` were ruled out already: with 1-byte reads a long record
     * would otherwise be searched from its start after every byte. */
    size_t scanned = 0;
    for (;;) {
        size_t avail = buffered(br), upto = avail < lim ? avail : lim;
        size_t which = 0, e = find_end(head(br), scanned, upto, seps, nseps, &which);
        if (e) {
            out->data = head(br);
            out->len = e;
            out->sep = which;
            drop(br, e);
            return (ssize_t)e;
        }
        /* Every record end up to upto is ruled out; a separator that straddles upto ends
         * later and is found on the next round. */
        scanned = upto;
        if (avail >= lim) {
            show_buffered(br, out);
            out->safe = safe_prefix(head(br), lim, seps, nseps);
            return -EMSGSIZE;
        }
        ssize_t r = fill(br);
        if (r <= 0) {
            show_buffered(br, out);
            if (r < 0) return r;
            return out->len ? -EPIPE : 0;
        }
    }
}

ssize_t eddy_read_until(eddy_bufreader *br, const eddy_sep *seps, size_t nseps, size_t max,
                        eddy_span *out)
{
    return spent(read_until(br, seps, nseps, max, out));
}

ssize_t eddy_read_line(eddy_bufreader *br, size_t max, unsigned flags, eddy_span *out)
{
    if (flags & ~(unsigned)(EDDY_LINE_CRLF | EDDY_LINE_KEEP)) return -EINVAL;
    eddy_sep sep = (flags & EDDY_LINE_CRLF) ? (eddy_sep){"\r\n", 2} : (eddy_sep){"\n", 1};
    ssize_t r = eddy_read_until(br, &sep, 1, max, out);
    if (r > 0 && !(flags & EDDY_LINE_KEEP)) {
        out->len -= sep.len;
        if (!(flags & EDDY_LINE_CRLF) && out->len && ((const char *)out->data)[out->len - 1] == '\r')
            out->len--;
    }
    return r;
}

ssize_t eddy_read_suffixed(eddy_bufreader *br, const void *suffix, size_t len, size_t max,
                           eddy_span *out)
{
    if (!suffix || len == 0) return -EINVAL;
    eddy_sep sep = {suffix, len};
    ssize_t r = eddy_read_until(br, &sep, 1, max, out);
    if (r > 0) out->len -= len;
    return r;
}

/* ---- length-prefixed frames ------------------------------------------------------------ */

static uint64_t decode_len(const unsigned char *p, unsigned width, bool le)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++) v = (v << 8) | p[le ? width - 1 - i : i];
    return v;
}

static void encode_len(unsigned char *p, unsigned width, bool le, uint64_t v)
{
    for (unsigned i = 0; i < width; i++, v >>= 8) p[le ? i : width - 1 - i] = (unsigned char)v;
}

static bool frame_args_ok(unsigned width, unsigned flags)
{
    return width >= 1 && width <= 8 && !(flags & ~(unsigned)EDDY_FRAME_LE);
}

static ssize_t read_frame(eddy_bufreader *br, unsigned width, unsigned flags, size_t max,
                          eddy_span *out)
{
    if (!out) return -EINVAL;
    *out = (eddy_span){0};
    if (!frame_args_ok(width, flags)) return -EINVAL;
    int rc = entry(br);
    if (rc < 0) return rc;
    if (br->cap < width) return -EMSGSIZE; /* cannot even hold the header */
    size_t room = br->cap - width;
    if (max == 0 || max > room) max = room;
    ssize_t r = want(br, width);
    if (r < 0 || (size_t)r < width) {
        show_buffered(br, out);
        if (r < 0) return r;
        return out->len ? -EPIPE : 0;
    }
    uint64_t len = decode_len(head(br), width, flags & EDDY_FRAME_LE);
    if (len > max) {
        show_buffered(br, out);
        out->declared = len;
        return -EMSGSIZE;
    }
    size_t total = width + (size_t)len;
    r = want(br, total);
    if (r < 0 || (size_t)r < total) {
        show_buffered(br, out);
        return r < 0 ? r : -EPIPE;
    }
    out->data = head(br) + width;
    out->len = (size_t)len;
    drop(br, total);
    return (ssize_t)total;
}

ssize_t eddy_read_frame(eddy_bufreader *br, unsigned width, unsigned flags, size_t max, eddy_span *out)
{
    return spent(read_frame(br, width, flags, max, out));
}

int eddy_write_frame(eddy_stream *s, unsigned width, unsigned flags, const void *data, size_t len,
                     size_t *written)
{
    if (written) *written = 0;
    if (!s || (!data && len) || !frame_args_ok(width, flags)) return -EINVAL;
    if (width < 8 && (uint64_t)len >> (8 * width)) return -EMSGSIZE;
    unsigned char hdr[8];
    encode_len(hdr, width, flags & EDDY_FRAME_LE, len);
    struct iovec iov[2] = {{hdr, width}, {(void *)(uintptr_t)data, len}};
    return eddy_stream_writev(s, iov, len ? 2 : 1, written);
}
