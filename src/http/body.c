/* eddy http client: response bodies — the framing (Content-Length, chunked, until close) read
 * from the connection's buffer or straight into the caller's, under the body time limits, and
 * gzip/deflate content decoding (zlib) as a stream layer over it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/task.h"
#include "http/client.h"

#ifdef EDDY_HAVE_ZLIB
#include <zlib.h>
#endif

/* A read at least this large, with nothing buffered, goes straight into the caller's buffer. */
#define DIRECT_READ 4096

/* ---- reading the connection under the body limits ------------------------------------------ */

/* Read from the connection into dst: each read may wait body_idle, and none past the
 * request's total deadline. */
static ssize_t conn_read(hc_conn *c, void *dst, size_t len)
{
    if (!c->s) return -EBADF;
    int64_t idle_dl = eddy__hc_after(eddy_now(), c->body_idle);
    int64_t dl = idle_dl < c->total_dl ? idle_dl : c->total_dl;
    if (dl == EDDY_FOREVER) return eddy_stream_read(c->s, dst, len);
    eddy_cancel_scope cs;
    int rc = eddy_cancel_scope_enter(&cs);
    if (rc < 0) return rc;
    eddy_cancel_scope_set_deadline(&cs, dl);
    ssize_t n = eddy_stream_read(c->s, dst, len);
    eddy_cancel_scope_exit(&cs);
    if (n >= 0) return n;
    return eddy__hc_timeout_code(&cs, (int)n, idle_dl, c->total_dl, EDDY_EHTTP_BODY_TIMEOUT);
}

/* A failed read: cancellation and time limits consumed nothing and may be tried again;
 * anything else ends the body for good. */
static ssize_t body_fail(hc_conn *c, ssize_t rc)
{
    switch (rc) {
    case -ECANCELED:
    case -ETIMEDOUT:
    case EDDY_EHTTP_BODY_TIMEOUT:
    case EDDY_EHTTP_TOTAL_TIMEOUT:
        return rc;
    default:
        c->body_err = (int)rc;
        c->broken = true;
        return rc;
    }
}

ssize_t eddy__hc_body_read(hc_conn *c, void *buf, size_t len)
{
    if (c->body_err) return c->body_err;
    if (c->body_done || len == 0) return 0;
    char *out = buf;
    for (;;) {
        size_t have = c->end - c->pos;
        if (have && c->body == EDDY__HTTP_BODY_CHUNKED) {
            size_t off = 0, dlen = 0;
            ssize_t k = eddy__http_chunked_decode(&c->chunk, c->buf + c->pos, have, len, &off, &dlen);
            if (k < 0) return body_fail(c, EDDY_EHTTP_BADRESP);
            if (dlen) memcpy(out, c->buf + c->pos + off, dlen);
            c->pos += (size_t)k;
            if (eddy__http_chunked_done(&c->chunk)) c->body_done = true;
            if (dlen) return (ssize_t)dlen;
            if (c->body_done) return 0;
            if (k > 0) continue;
        } else if (have) {
            size_t n = have < len ? have : len;
            if (c->body == EDDY__HTTP_BODY_LENGTH && n > c->left) n = (size_t)c->left;
            memcpy(out, c->buf + c->pos, n);
            c->pos += n;
            if (c->body == EDDY__HTTP_BODY_LENGTH && (c->left -= n) == 0) c->body_done = true;
            return (ssize_t)n;
        }
        /* Need more bytes from the connection. */
        if (c->pos == c->end) c->pos = c->end = c->head_len;
        if (c->end == c->cap) {
            memmove(c->buf + c->head_len, c->buf + c->pos, c->end - c->pos);
            c->end -= c->pos - c->head_len;
            c->pos = c->head_len;
            /* A chunk-size line or trailer longer than the room after the head: the decoder's
             * limits are smaller than the room, so this is a malformed body. */
            if (c->end == c->cap) return body_fail(c, EDDY_EHTTP_BADRESP);
        }
        if (c->body != EDDY__HTTP_BODY_CHUNKED && c->pos == c->end && len >= DIRECT_READ) {
            size_t want = len;
            if (c->body == EDDY__HTTP_BODY_LENGTH && want > c->left) want = (size_t)c->left;
            ssize_t n = conn_read(c, out, want);
            if (n < 0) return body_fail(c, n);
            if (n == 0) {
                if (c->body == EDDY__HTTP_BODY_LENGTH) return body_fail(c, EDDY_EHTTP_TRUNCATED);
                c->body_done = true;
                return 0;
            }
            if (c->body == EDDY__HTTP_BODY_LENGTH && (c->left -= (uint64_t)n) == 0) c->body_done = true;
            return n;
        }
        ssize_t n = conn_read(c, c->buf + c->end, c->cap - c->end);
        if (n < 0) return body_fail(c, n);
        if (n == 0) {
            if (c->body != EDDY__HTTP_BODY_CLOSE) return body_fail(c, EDDY_EHTTP_TRUNCATED);
            c->body_done = true;
            return 0;
        }
        c->end += (size_t)n;
    }
}

bool eddy__hc_body_skip_buffered(hc_conn *c)
{
    if (c->body_err) return false;
    while (!c->body_done) {
        size_t have = c->end - c->pos;
        if (c->body == EDDY__HTTP_BODY_LENGTH) {
            if (c->left > have) return false;
            c->pos += (size_t)c->left;
            c->left = 0;
            c->body_done = true;
        } else if (c->body == EDDY__HTTP_BODY_CHUNKED && have) {
            size_t off, dlen;
            ssize_t k = eddy__http_chunked_decode(&c->chunk, c->buf + c->pos, have, SIZE_MAX, &off, &dlen);
            if (k <= 0) return false;
            c->pos += (size_t)k;
            c->body_done = eddy__http_chunked_done(&c->chunk);
        } else {
            return false;
        }
    }
    return true;
}

/* ---- the body as a stream ------------------------------------------------------------------ */

static ssize_t ro_write(eddy_stream *s, const void *buf, size_t len)
{
    (void)s;
    (void)buf;
    (void)len;
    return -EBADF; /* a response body is read-only */
}

static int ro_shutdown_write(eddy_stream *s)
{
    (void)s;
    return -ENOTSUP;
}

/* A reader inside is woken by the connection's abort (eddy__hc_body_end). */
static void body_interrupt(eddy_stream *s) { (void)s; }

static ssize_t body_stream_read(eddy_stream *s, void *buf, size_t len)
{
    return eddy__hc_body_read(((hc_body *)s)->c, buf, len);
}

static int body_stream_close(eddy_stream *s, bool graceful)
{
    (void)s;
    (void)graceful;
    return 0; /* embedded in the connection */
}

static const eddy_stream_vt body_vt = {.kind = "http-body",
                                       .read = body_stream_read,
                                       .write = ro_write,
                                       .shutdown_write = ro_shutdown_write,
                                       .interrupt = body_interrupt,
                                       .close = body_stream_close};

/* ---- content decoding ---------------------------------------------------------------------- */

#ifdef EDDY_HAVE_ZLIB
struct hc_decoder {
    eddy_stream base;
    hc_conn *c;
    z_stream z;
    bool gzip;       /* else deflate: zlib-wrapped (RFC 9110) or, as some servers send, raw */
    bool started;
    bool member_end; /* the last inflate reached a stream's end */
    bool src_eof;
    int err;
    unsigned char in[16384];
};

static ssize_t dec_fail(hc_decoder *d)
{
    d->err = EDDY_EHTTP_DECODE;
    d->c->broken = true;
    return d->err;
}

static ssize_t dec_read(eddy_stream *s, void *buf, size_t len)
{
    hc_decoder *d = (hc_decoder *)s;
    if (d->err) return d->err;
    for (;;) {
        /* deflate's wrapper is told by its first two bytes */
        size_t need = !d->started && !d->gzip ? 2 : 1;
        if (d->z.avail_in < need && !d->src_eof) {
            if (d->z.avail_in) memmove(d->in, d->z.next_in, d->z.avail_in);
            ssize_t n = eddy__hc_body_read(d->c, d->in + d->z.avail_in, sizeof d->in - d->z.avail_in);
            if (n < 0) return n; /* the body's errors; cancellation lost nothing */
            d->z.next_in = d->in;
            if (n == 0) d->src_eof = true;
            d->z.avail_in += (uInt)n;
            continue;
        }
        if (!d->started) {
            if (d->z.avail_in == 0) return 0; /* an empty body */
            int bits = 15 + 16;
            if (!d->gzip) {
                unsigned b0 = d->z.next_in[0], b1 = d->z.avail_in > 1 ? d->z.next_in[1] : 0;
                bits = (b0 & 0x0f) == 8 && ((b0 << 8) | b1) % 31 == 0 ? 15 : -15;
            }
            if (inflateInit2(&d->z, bits) != Z_OK) return -ENOMEM;
            d->started = true;
        }
        if (d->member_end) {
            if (d->z.avail_in == 0) return 0; /* the end */
            /* gzip: another member follows (RFC 1952 allows several); deflate: trailing
             * bytes after the stream do not decode */
            if (!d->gzip || inflateReset(&d->z) != Z_OK) return dec_fail(d);
            d->member_end = false;
        }
        d->z.next_out = buf;
        d->z.avail_out = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
        uInt before = d->z.avail_out;
        int r = inflate(&d->z, Z_NO_FLUSH);
        size_t produced = before - d->z.avail_out;
        if (r == Z_STREAM_END) d->member_end = true;
        else if (r == Z_BUF_ERROR) {
            if (d->src_eof && d->z.avail_in == 0) return dec_fail(d); /* cut short */
        } else if (r != Z_OK) {
            return dec_fail(d);
        }
        if (produced) return (ssize_t)produced;
        if (d->src_eof && d->z.avail_in == 0 && !d->member_end) return dec_fail(d);
    }
}

static int dec_close(eddy_stream *s, bool graceful)
{
    (void)graceful;
    hc_decoder *d = (hc_decoder *)s;
    if (d->started) inflateEnd(&d->z);
    d->c->dec = NULL;
    free(d);
    return 0;
}

static const eddy_stream_vt dec_vt = {.kind = "http-body",
                                      .read = dec_read,
                                      .write = ro_write,
                                      .shutdown_write = ro_shutdown_write,
                                      .interrupt = body_interrupt,
                                      .close = dec_close};

/* gzip (x-gzip) or deflate as the only content coding: 1 gzip, 2 deflate, 0 other. */
static int coding_of(const hc_conn *c)
{
    const eddy_http_field *f = eddy_http_field_find(c->fields, c->msg.nfields, 0, "Content-Encoding");
    if (!f) return 0;
    size_t i = (size_t)(f - c->fields);
    if (eddy_http_field_find(c->fields, c->msg.nfields, i + 1, "Content-Encoding")) return 0;
    if (eddy_http_str_ieq(f->value, "gzip") || eddy_http_str_ieq(f->value, "x-gzip")) return 1;
    if (eddy_http_str_ieq(f->value, "deflate")) return 2;
    return 0;
}
#endif

int eddy__hc_body_start(hc_conn *c, bool decompress)
{
    eddy__http_msg *m = &c->msg;
    c->body = m->body;
    c->left = m->content_length;
    c->body_done = m->body == EDDY__HTTP_BODY_NONE ||
                   (m->body == EDDY__HTTP_BODY_LENGTH && m->content_length == 0);
    c->body_err = 0;
    eddy__http_chunked_init(&c->chunk, 0, 0);
    eddy_http_client_response *r = &c->resp;
    memset(r, 0, sizeof *r);
    r->status = m->status;
    r->version = m->version;
    r->reason = m->reason;
    r->fields = c->fields;
    r->nfields = m->nfields;
    r->content_length = m->body == EDDY__HTTP_BODY_LENGTH ? (int64_t)m->content_length
                        : m->body == EDDY__HTTP_BODY_NONE ? 0
                                                          : -1;
    r->keep_alive = m->keep_alive;
    r->priv = c;
#ifdef EDDY_HAVE_ZLIB
    int coding = decompress && !c->body_done ? coding_of(c) : 0;
    if (coding) {
        hc_decoder *d = calloc(1, sizeof *d);
        if (!d) return -ENOMEM;
        d->c = c;
        d->gzip = coding == 1;
        c->dec = d;
        eddy__stream_init(&d->base, &dec_vt, "http response body");
        r->body = &d->base;
        r->decoded = true;
        c->stream_open = true;
        return 0;
    }
#else
    (void)decompress;
#endif
    c->bs.c = c;
    eddy__stream_init(&c->bs.base, &body_vt, "http response body");
    r->body = &c->bs.base;
    c->stream_open = true;
    return 0;
}

void eddy__hc_body_end(hc_conn *c)
{
    if (!c->stream_open) return;
    eddy_stream *pub = c->resp.body;
    if (pub->users && c->s) {
        /* Another task is reading the body: aborting the connection under it wakes it (with
         * -EBADF); the close below then waits for it to leave the body stream. */
        eddy_stream_abort(c->s);
        c->s = NULL;
        c->broken = true;
    }
    /* The body view has nothing of its own to flush: its close only detaches it (and waits for a
     * reader woken above), so there is no result to report. */
    int crc = eddy_stream_close(pub);
    (void)crc;
    c->stream_open = false;
    c->resp.body = NULL;
}
