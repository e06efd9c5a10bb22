/* eddy http: one exchange of the server: reading the request body, writing the response, the
 * exchange as a stream, and the end of an exchange after its handler returned. See httpd.h for
 * how the two tasks of a connection share the buffers. */
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "eddy/sendfile.h"
#include "http/httpd.h"
#include "io/io.h"

/* Responses up to this body size are copied into out[] to go out with the rest of a batch;
 * larger bodies are written from the caller's memory. */
#define COPY_MAX 4096
/* Room a head needs in out[] besides the handler's fields and the Server name. */
#define HEAD_SLACK 160

/* ---- the Date field, formatted once per second ------------------------------------------- */

static __thread struct {
    int64_t next; /* eddy_now() at which the second changes */
    char str[29]; /* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7) */
} date_cache;

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

static const char *http_date(void)
{
    int64_t now = eddy_now();
    if (now < date_cache.next && date_cache.str[0]) return date_cache.str;
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char *p = date_cache.str;
    memcpy(p, days + 3 * tm.tm_wday, 3);
    memcpy(p + 3, ", ", 2);
    put2(p + 5, tm.tm_mday);
    p[7] = ' ';
    memcpy(p + 8, months + 3 * tm.tm_mon, 3);
    p[11] = ' ';
    int y = tm.tm_year + 1900;
    put2(p + 12, y / 100 % 100);
    put2(p + 14, y % 100);
    p[16] = ' ';
    put2(p + 17, tm.tm_hour);
    p[19] = ':';
    put2(p + 20, tm.tm_min);
    p[22] = ':';
    put2(p + 23, tm.tm_sec);
    memcpy(p + 25, " GMT", 4);
    date_cache.next = now + (1000000000 - ts.tv_nsec);
    return date_cache.str;
}

/* ---- status lines and heads --------------------------------------------------------------- */

/* The reason phrase of status and its length. */
static const char *reason_of(int status, size_t *len);

const char *eddy_http_reason(int status)
{
    size_t n;
    return reason_of(status, &n);
}

#define R(s) return *len = sizeof(s) - 1, s
static const char *reason_of(int status, size_t *len)
{
    switch (status) {
    case 100: R("Continue");
    case 101: R("Switching Protocols");
    case 103: R("Early Hints");
    case 200: R("OK");
    case 201: R("Created");
    case 202: R("Accepted");
    case 203: R("Non-Authoritative Information");
    case 204: R("No Content");
    case 205: R("Reset Content");
    case 206: R("Partial Content");
    case 300: R("Multiple Choices");
    case 301: R("Moved Permanently");
    case 302: R("Found");
    case 303: R("See Other");
    case 304: R("Not Modified");
    case 307: R("Temporary Redirect");
    case 308: R("Permanent Redirect");
    case 400: R("Bad Request");
    case 401: R("Unauthorized");
    case 402: R("Payment Required");
    case 403: R("Forbidden");
    case 404: R("Not Found");
    case 405: R("Method Not Allowed");
    case 406: R("Not Acceptable");
    case 407: R("Proxy Authentication Required");
    case 408: R("Request Timeout");
    case 409: R("Conflict");
    case 410: R("Gone");
    case 411: R("Length Required");
    case 412: R("Precondition Failed");
    case 413: R("Content Too Large");
    case 414: R("URI Too Long");
    case 415: R("Unsupported Media Type");
    case 416: R("Range Not Satisfiable");
    case 417: R("Expectation Failed");
    case 421: R("Misdirected Request");
    case 422: R("Unprocessable Content");
    case 425: R("Too Early");
    case 426: R("Upgrade Required");
    case 428: R("Precondition Required");
    case 429: R("Too Many Requests");
    case 431: R("Request Header Fields Too Large");
    case 451: R("Unavailable For Legal Reasons");
    case 500: R("Internal Server Error");
    case 501: R("Not Implemented");
    case 502: R("Bad Gateway");
    case 503: R("Service Unavailable");
    case 504: R("Gateway Timeout");
    case 505: R("HTTP Version Not Supported");
    default: R("");
    }
}
#undef R

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
#define PUTS(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static char *put_hex(char *p, uint64_t v)
{
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

/* Upper bound of compose_head's output. */
static size_t head_max(const conn *c) { return HEAD_SLACK + c->server_name_len + c->res.hdr_len; }

static bool bodyless_status(int st) { return st < 200 || st == 204 || st == 304; }

/* The head of c->res, ending with the empty line. */
static size_t compose_head(conn *c, char *dst)
{
    struct eddy_http_response *r = &c->res;
    char *p = PUTS(dst, "HTTP/1.1 ");
    *p++ = (char)('0' + r->status / 100);
    *p++ = (char)('0' + r->status / 10 % 10);
    *p++ = (char)('0' + r->status % 10);
    *p++ = ' ';
    size_t rl;
    const char *reason = reason_of(r->status, &rl);
    p = put(p, reason, rl);
    p = PUTS(p, "\r\n");
    if (!r->user_date) {
        p = PUTS(p, "Date: ");
        p = put(p, http_date(), 29);
        p = PUTS(p, "\r\n");
    }
    if (c->server_name_len) {
        p = PUTS(p, "Server: ");
        p = put(p, c->srv->opts.server_name, c->server_name_len);
        p = PUTS(p, "\r\n");
    }
    p = put(p, r->hdr, r->hdr_len);
    if (!bodyless_status(r->status)) {
        if (r->length >= 0) {
            p = PUTS(p, "Content-Length: ");
            p = put_u64(p, (uint64_t)r->length);
            p = PUTS(p, "\r\n");
        } else if (r->length == EDDY_HTTP_CHUNKED) {
            p = PUTS(p, "Transfer-Encoding: chunked\r\n");
        }
    }
    if (!r->user_connection) {
        if (r->close) p = PUTS(p, "Connection: close\r\n");
        else if (c->req.version == 10) p = PUTS(p, "Connection: keep-alive\r\n");
    }
    p = PUTS(p, "\r\n");
    return (size_t)(p - dst);
}

/* ---- writing -------------------------------------------------------------------------------- */

static bool gone_error(int e)
{
    return e == -EPIPE || e == -ECONNRESET || e == -ENOTCONN || e == -ESHUTDOWN;
}

int eddy__httpd_write(conn *c, const struct iovec *iov, int n, bool own_deadline)
{
    struct iovec v[8];
    int k = 0;
    bool with_out = c->out_len && !c->flushing;
    if (with_out) v[k++] = (struct iovec){c->out, c->out_len};
    for (int i = 0; i < n; i++)
        if (iov[i].iov_len) v[k++] = iov[i];
    if (k == 0) return 0;
    c->flushing = true;
    int rc = 0;
    int first = 0;
    if (!own_deadline && k == 1) { /* C's flush of out[]: the plain write is the shorter path */
        rc = eddy_stream_write(c->s, v[0].iov_base, v[0].iov_len, NULL);
        goto done;
    }
    for (;;) {
        size_t w = 0;
        if (own_deadline) {
            eddy_cancel_scope cs;
            int64_t dl = eddy__httpd_after(eddy_now(), c->srv->opts.idle_timeout);
            rc = eddy_cancel_scope_enter(&cs, .deadline = dl);
            if (rc == 0) {
                rc = eddy_stream_writev(c->s, v + first, k - first, &w);
                eddy_cancel_scope_exit(&cs);
                /* No byte taken for idle_timeout: give up. Progress renews the deadline, so a
                 * slow but steady client still gets a large body. */
                if (rc < 0 && cs.cancel_called && w == 0) rc = -ETIMEDOUT;
                else if (rc < 0 && cs.cancel_called) rc = 1;
            }
        } else {
            rc = eddy_stream_writev(c->s, v + first, k - first, &w);
        }
        if (rc <= 0) break;
        /* partly written under our own deadline: drop what went out and go on */
        while (w) {
            size_t t = w < v[first].iov_len ? w : v[first].iov_len;
            v[first].iov_base = (char *)v[first].iov_base + t;
            v[first].iov_len -= t;
            w -= t;
            if (v[first].iov_len == 0) first++;
        }
    }
done:
    if (with_out) c->out_len = 0;
    c->flushing = false;
    if (rc < 0) {
        c->broken = true;
        if (gone_error(rc)) eddy__httpd_client_gone(c);
    }
    return rc;
}

/* Whether output may be appended to out[] now instead of being written: nobody is writing,
 * and C will flush it soon (H still runs inside C's spawn call, or H is ending, or this is
 * C). */
static bool may_defer(const conn *c, bool final)
{
    return !c->flushing && (c->in_spawn || final || eddy__cur() == c->ctask);
}

/* Emit head (composed from c->res when with_head), then pieces, deferred if allowed and small. */
static int emit(conn *c, bool with_head, const struct iovec *pieces, int n, bool final)
{
    size_t need = with_head ? head_max(c) : 0, plen = 0;
    for (int i = 0; i < n; i++) plen += pieces[i].iov_len;
    if (may_defer(c, final) && plen <= COPY_MAX) {
        if (c->out_cap - c->out_len < need + plen) {
            int rc = eddy__httpd_write(c, NULL, 0, true); /* make room */
            if (rc < 0) return rc;
        }
        if (c->out_cap - c->out_len >= need + plen && !c->flushing) {
            if (with_head) c->out_len += compose_head(c, c->out + c->out_len);
            for (int i = 0; i < n; i++) {
                if (pieces[i].iov_len) memcpy(c->out + c->out_len, pieces[i].iov_base, pieces[i].iov_len);
                c->out_len += pieces[i].iov_len;
            }
            return 0;
        }
    }
    char head[HEAD_SLACK + 256 + EDDY_HTTP_RESPONSE_HEADERS_MAX];
    struct iovec v[6];
    int k = 0;
    if (with_head) v[k++] = (struct iovec){head, compose_head(c, head)};
    for (int i = 0; i < n && k < 6; i++) v[k++] = pieces[i];
    return eddy__httpd_write(c, v, k, true);
}

/* ---- the response ------------------------------------------------------------------------- */

void eddy__httpd_exchange_reset(conn *c)
{
    struct eddy_http_response *r = &c->res;
    r->c = c;
    r->state = RS_NONE;
    r->status = 0;
    r->length = 0;
    r->written = 0;
    r->no_body = false;
    r->user_date = r->user_connection = r->close = r->sent_100 = false;
    r->content_type = NULL;
    r->hdr_len = 0;
    c->body_done = c->body_touched = c->waiting_body = false;
    c->body_err = c->body_status = 0;
    c->body_reader = c->data_waiter = NULL;
    c->bs.open = false;
}

/* tchar (RFC 9110 5.6.2), as a bit set over ASCII */
static bool tchar(unsigned char ch)
{
    static const uint64_t lo = 0x03ff6cfa00000000ull; /* ! # $ % & ' * + - . 0-9 */
    static const uint64_t hi = 0x57ffffffc7fffffeull; /* A-Z ^ _ ` a-z | ~ */
    return ch < 64 ? (lo >> ch) & 1 : ch < 128 ? (hi >> (ch - 64)) & 1 : false;
}

/* The length of name if it is a token, else 0. */
static size_t token_len(const char *s)
{
    size_t i = 0;
    while (tchar((unsigned char)s[i])) i++;
    return s[i] ? 0 : i;
}

/* The length of a field value that cannot split a response (no CR, LF, NUL or other control
 * byte), or -1. */
static ssize_t safe_value(const char *s)
{
    size_t i = 0;
    for (;; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != 0x7f) continue;
        if (ch == '\t') continue;
        return ch ? -1 : (ssize_t)i;
    }
}

int eddy_http_response_header(eddy_http_response *res, const char *name, const char *value)
{
    if (!res || !name || !value) return -EINVAL;
    size_t nl = token_len(name);
    ssize_t vl = safe_value(value);
    if (!nl || vl < 0) return -EINVAL;
    if (res->state != RS_NONE) return -EALREADY;
    eddy_http_str n = {name, nl};
    /* the fields the server writes itself, told apart by length first */
    switch (nl) {
    case 4:
        if (eddy_http_str_ieq(n, "date")) res->user_date = true;
        break;
    case 10:
        if (eddy_http_str_ieq(n, "connection")) {
            res->user_connection = true;
            if (eddy_http_list_has((eddy_http_str){value, (size_t)vl}, "close")) res->close = true;
        }
        break;
    case 14:
        if (eddy_http_str_ieq(n, "content-length")) return -EINVAL;
        break;
    case 17:
        if (eddy_http_str_ieq(n, "transfer-encoding")) return -EINVAL;
        break;
    }
    if (res->hdr_len + nl + 2 + (size_t)vl + 2 > sizeof res->hdr) return -ENOBUFS;
    char *p = res->hdr + res->hdr_len;
    p = put(p, name, nl);
    p = PUTS(p, ": ");
    p = put(p, value, (size_t)vl);
    p = PUTS(p, "\r\n");
    res->hdr_len = (size_t)(p - res->hdr);
    return 0;
}

/* Whether the connection must close after this response: the client's wish, a shutdown, an
 * earlier decision, a body that ends with the connection. */
static bool must_close(const conn *c)
{
    return !c->req.keep_alive || c->close_after || c->srv->state != SRV_SERVING ||
           c->res.close;
}

static int decide(eddy_http_response *res, int status, int64_t length)
{
    conn *c = res->c;
    res->status = status;
    res->no_body = c->req.method_id == EDDY_HTTP_HEAD || bodyless_status(status);
    if (length == EDDY_HTTP_CHUNKED && c->req.version == 10) length = -2; /* delimited by close */
    res->length = length;
    res->close = must_close(c) || length == -2;
    res->state = RS_STARTED;
    return 0;
}

static bool status_ok(int status) { return status >= 200 && status <= 599; }

int eddy_http_response_send(eddy_http_response *res, int status, const char *content_type,
                            const void *body, size_t len)
{
    if (!res || !status_ok(status) || (!body && len)) return -EINVAL;
    if (len && (status == 204 || status == 304)) return -EINVAL;
    if (res->state != RS_NONE) return -EALREADY;
    if (content_type) { /* eddy_http_response_header's work, the name being known */
        ssize_t tl = safe_value(content_type);
        if (tl < 0) return -EINVAL;
        if (res->hdr_len + 16 + (size_t)tl > sizeof res->hdr) return -ENOBUFS;
        char *p = PUTS(res->hdr + res->hdr_len, "Content-Type: ");
        p = put(p, content_type, (size_t)tl);
        p = PUTS(p, "\r\n");
        res->hdr_len = (size_t)(p - res->hdr);
    }
    decide(res, status, (int64_t)len);
    conn *c = res->c;
    res->written = len;
    res->state = RS_DONE;
    struct iovec b = {(void *)body, res->no_body ? 0 : len};
    return emit(c, true, &b, 1, false);
}

int eddy_http_response_start(eddy_http_response *res, int status, int64_t length)
{
    if (!res || !status_ok(status) || length < EDDY_HTTP_CHUNKED) return -EINVAL;
    if (length > 0 && (status == 204 || status == 304)) return -EINVAL;
    if (res->state != RS_NONE) return -EALREADY;
    return decide(res, status, length);
}

bool eddy_http_response_started(const eddy_http_response *res) { return res && res->state != RS_NONE; }

int eddy_http_response_write(eddy_http_response *res, const void *buf, size_t len)
{
    if (!res || (!buf && len)) return -EINVAL;
    if (res->state == RS_NONE) (void)decide(res, 200, EDDY_HTTP_CHUNKED);
    if (res->state == RS_DONE) return -EALREADY;
    conn *c = res->c;
    if (c->broken) return -EPIPE;
    if (res->length >= 0 && res->written + len > (uint64_t)res->length) return -EMSGSIZE;
    bool head = res->state == RS_STARTED;
    if (len == 0 && !head) return 0; /* an empty chunk would end the body */
    res->state = RS_BODY;
    res->written += len;
    if (res->no_body) len = 0;
    char size[24], *p = size;
    struct iovec v[3];
    int k = 0;
    if (len && res->length == EDDY_HTTP_CHUNKED) {
        p = put_hex(p, len);
        p = PUTS(p, "\r\n");
        v[k++] = (struct iovec){size, (size_t)(p - size)};
    }
    v[k++] = (struct iovec){(void *)buf, len};
    if (len && res->length == EDDY_HTTP_CHUNKED) v[k++] = (struct iovec){"\r\n", 2};
    /* Streaming: never deferred, the bytes go out now (with whatever out[] holds). */
    char hb[HEAD_SLACK + 256 + EDDY_HTTP_RESPONSE_HEADERS_MAX];
    struct iovec all[4];
    int n = 0;
    if (head) all[n++] = (struct iovec){hb, compose_head(c, hb)};
    for (int i = 0; i < k; i++) all[n++] = v[i];
    return eddy__httpd_write(c, all, n, true);
}

int eddy_http_response_end(eddy_http_response *res)
{
    if (!res || res->state == RS_NONE) return -EINVAL;
    if (res->state == RS_DONE) return 0;
    conn *c = res->c;
    bool head = res->state == RS_STARTED;
    res->state = RS_DONE;
    if (res->length >= 0 && res->written < (uint64_t)res->length && !res->no_body) {
        c->broken = true; /* the client was promised more: only closing can end it */
        return -EPIPE;
    }
    struct iovec last = {"0\r\n\r\n", 5};
    bool chunked = res->length == EDDY_HTTP_CHUNKED && !res->no_body;
    if (!head && !chunked) return 0;
    return emit(c, head, &last, chunked ? 1 : 0, false);
}

int eddy_http_response_sendfile(eddy_http_response *res, int fd, off_t offset, size_t len)
{
    if (!res || offset < 0) return -EINVAL;
    if (res->state == RS_NONE || res->state == RS_DONE || res->length < 0) return -EINVAL;
    conn *c = res->c;
    if (c->broken) return -EPIPE;
    if (res->written + len > (uint64_t)res->length) return -EMSGSIZE;
    bool head = res->state == RS_STARTED;
    res->state = RS_BODY;
    res->written += len;
    if (head || c->out_len) {
        int rc = emit(c, head, NULL, 0, false);
        if (rc < 0) return rc;
        if (c->out_len) rc = eddy__httpd_write(c, NULL, 0, true); /* deferred head: out first */
        if (rc < 0) return rc;
    }
    if (res->no_body || len == 0) return 0;
    /* In slices, each under a fresh idle deadline: progress keeps a slow client going. */
    size_t done = 0;
    int rc = 0;
    while (done < len) {
        size_t want = len - done, sent = 0;
        eddy_cancel_scope cs;
        int64_t dl = eddy__httpd_after(eddy_now(), c->srv->opts.idle_timeout);
        rc = eddy_cancel_scope_enter(&cs, .deadline = dl);
        if (rc < 0) break;
        rc = eddy_sendfile(c->s, fd, offset + (off_t)done, want, &sent);
        eddy_cancel_scope_exit(&cs);
        done += sent;
        if (rc == 0 && sent < want) {
            rc = -EPIPE; /* the file is shorter than promised */
            break;
        }
        if (rc < 0 && cs.cancel_called && sent > 0) continue;
        if (rc < 0 && cs.cancel_called) rc = -ETIMEDOUT;
        if (rc < 0) break;
    }
    if (rc < 0) {
        c->broken = true;
        if (gone_error(rc)) eddy__httpd_client_gone(c);
    }
    return rc;
}

/* ---- the request body ----------------------------------------------------------------------- */

static void body_fail(conn *c, int err, int status)
{
    c->body_err = err;
    c->body_status = status;
    c->body_done = true;
}

/* Take up to len body bytes from the buffer into dst (NULL: drop them). */
static ssize_t body_take(conn *c, char *dst, size_t len)
{
    size_t got = 0, before = c->pos;
    if (c->body == EDDY__HTTP_BODY_LENGTH) {
        size_t n = c->end - c->pos;
        if (n > c->body_left) n = (size_t)c->body_left;
        if (n > len) n = len;
        if (dst) memcpy(dst, c->buf + c->pos, n);
        c->pos += n;
        c->body_left -= n;
        got = n;
        if (c->body_left == 0) c->body_done = true;
    } else if (c->body == EDDY__HTTP_BODY_CHUNKED) {
        while (got < len && c->pos < c->end && !c->body_done) {
            size_t off, n;
            ssize_t r = eddy__http_chunked_decode(&c->chunk, c->buf + c->pos, c->end - c->pos,
                                                  len - got, &off, &n);
            if (r < 0) {
                body_fail(c, -EBADMSG, 400);
                return -EBADMSG;
            }
            if (dst) memcpy(dst + got, c->buf + c->pos + off, n);
            c->pos += (size_t)r;
            got += n;
            if (eddy__http_chunked_done(&c->chunk)) c->body_done = true;
            if (c->chunk.total > c->srv->opts.max_body) {
                body_fail(c, -EMSGSIZE, 413);
                return -EMSGSIZE;
            }
            if (r == 0) break;
        }
    } else {
        c->body_done = true;
    }
    /* C may be parked for lack of room: it has some now. */
    if (c->pos != before && c->c_parked) eddy__wake(c->ctask, 0);
    return (ssize_t)got;
}

static void clear_waiter(eddy_task *t, void *arg)
{
    (void)t;
    ((conn *)arg)->data_waiter = NULL;
}

/* More input for a body reader that is not C: wait for C's next read. */
static int body_wait(conn *c)
{
    if (c->eof) return c->rd_err < 0 ? (int)c->rd_err : -EPIPE;
    c->data_waiter = eddy__cur();
    c->waiting_body = true;
    if (c->c_parked) eddy__wake(c->ctask, 0); /* C parked while the buffer was full */
    eddy__wait w = {.reason = "http: request body", .obj = c, .cancel = clear_waiter, .arg = c};
    int rc = eddy__park(&w);
    c->data_waiter = NULL;
    /* waiting_body stays set if the wait was cut: a timeout now means 408, not 503 */
    if (rc >= 0) c->waiting_body = false;
    return rc < 0 ? rc : 0;
}

ssize_t eddy_http_request_read(eddy_http_request *req, void *buf, size_t len)
{
    if (!req || (!buf && len)) return -EINVAL;
    conn *c = req->conn;
    eddy_task *t = eddy__cur();
    if (!t || eddy__loop()->in_callback) return -EPERM;
    int cc = eddy__cancel_code(t);
    if (cc) return cc;
    if (c->body_reader) return -EBUSY;
    c->body_touched = true;
    if (c->body_err) return c->body_err;
    if (c->body_done || len == 0) return 0;
    c->body_reader = t;
    ssize_t rc = 0;
    struct eddy_http_response *r = &c->res;
    if (c->req.expect_continue && !r->sent_100 && r->state == RS_NONE && c->pos == c->end) {
        /* The client waits for this before it sends the body: out now, not deferred. (If
         * body bytes are here already, it did not wait: RFC 9110 10.1.1 lets us omit it.) */
        r->sent_100 = true;
        struct iovec v = {"HTTP/1.1 100 Continue\r\n\r\n", 25};
        rc = eddy__httpd_write(c, &v, 1, true);
    }
    while (rc == 0) {
        rc = body_take(c, buf, len);
        if (rc != 0 || c->body_done) break;
        if (t == c->ctask) {
            rc = eddy__httpd_read(c, eddy__httpd_after(eddy_now(), c->srv->opts.header_timeout), false);
            if (rc > 0) rc = 0;
            else if (rc == 0) rc = -EPIPE;
        } else {
            rc = body_wait(c);
        }
        if (rc < 0 && rc != eddy__cancel_code(t)) {
            /* The connection failed under the body: final. (A cancellation is not.) */
            body_fail(c, c->eof && c->rd_err == 0 ? -EPIPE : (int)rc, 0);
            rc = c->body_err;
        }
    }
    c->body_reader = NULL;
    return rc;
}

int eddy__httpd_discard_body(conn *c, uint64_t max)
{
    uint64_t taken = 0;
    while (!c->body_done) {
        ssize_t n = body_take(c, NULL, SIZE_MAX);
        if (n < 0) return (int)n;
        taken += (uint64_t)n;
        if (c->body_done) break;
        if (c->pos < c->end) continue;
        if (taken > max || c->eof) return -EMSGSIZE;
        n = eddy__httpd_read(c, eddy__httpd_after(eddy_now(), c->srv->opts.header_timeout), false);
        if (n <= 0) return n < 0 ? (int)n : -EPIPE;
    }
    return c->body_err;
}

/* ---- the exchange as a stream -------------------------------------------------------------- */

static ssize_t bs_read(eddy_stream *s, void *buf, size_t len)
{
    body_stream *b = (body_stream *)s;
    return eddy_http_request_read(&b->c->req, buf, len);
}

static ssize_t bs_write(eddy_stream *s, const void *buf, size_t len)
{
    body_stream *b = (body_stream *)s;
    int rc = eddy_http_response_write(&b->c->res, buf, len);
    return rc < 0 ? rc : (ssize_t)len;
}

static int bs_shutdown_write(eddy_stream *s)
{
    body_stream *b = (body_stream *)s;
    struct eddy_http_response *r = &b->c->res;
    if (r->state == RS_NONE) (void)decide(r, 200, EDDY_HTTP_CHUNKED);
    return eddy_http_response_end(r);
}

static void bs_interrupt(eddy_stream *s)
{
    body_stream *b = (body_stream *)s;
    if (b->c->data_waiter) eddy__wake(b->c->data_waiter, -EBADF);
}

static int bs_close(eddy_stream *s, bool graceful)
{
    (void)graceful;
    ((body_stream *)s)->open = false; /* embedded in the connection: nothing to free */
    return 0;
}

static const eddy_stream_vt bs_vt = {.kind = "http", .read = bs_read, .write = bs_write,
                                     .shutdown_write = bs_shutdown_write,
                                     .interrupt = bs_interrupt, .close = bs_close};

eddy_stream *eddy_http_request_stream(eddy_http_request *req)
{
    if (!req) return NULL;
    conn *c = req->conn;
    if (!c->bs.open) {
        eddy__stream_init(&c->bs.base, &bs_vt, "http exchange");
        c->bs.c = c;
        c->bs.open = true;
    }
    return &c->bs.base;
}

/* ---- the end of an exchange ---------------------------------------------------------------- */

void eddy__httpd_simple_response(conn *c, int status, bool close)
{
    struct eddy_http_response *r = &c->res;
    r->hdr_len = 0;
    r->user_date = r->user_connection = false;
    int hrc = eddy_http_response_header(r, "Content-Type", "text/plain"); /* cannot fail */
    (void)hrc;
    const char *reason = eddy_http_reason(status);
    size_t rl = strlen(reason);
    char body[64];
    memcpy(body, reason, rl);
    body[rl] = '\n';
    if (close) c->close_after = true;
    decide(r, status, (int64_t)rl + 1);
    r->written = rl + 1;
    r->state = RS_DONE;
    struct iovec b = {body, r->no_body ? 0 : rl + 1};
    (void)emit(c, true, &b, 1, true);
}

void eddy__httpd_finish(conn *c, int rc, bool deadline_hit)
{
    eddy_http_server *srv = c->srv;
    struct eddy_http_response *r = &c->res;
    /* The exchange's own stream view only detaches from the connection: it has nothing to
     * flush, and its result says nothing the response state below does not. */
    if (c->bs.open) {
        int crc = eddy_stream_close(&c->bs.base);
        (void)crc;
    }
    int cc = eddy_checkpoint_if_cancelled();
    bool cancel_rc = rc == -ECANCELED || rc == -ETIMEDOUT;
    if (deadline_hit && r->state != RS_DONE) srv->stats.timeouts++;
    if (rc < 0 && !cancel_rc && c->body_status == 0) {
        srv->stats.handler_errors++;
        srv->stats.last_handler_error = rc;
    }
    if (c->client_gone) {
        srv->stats.disconnects++;
        c->broken = true;
        return;
    }
    if (cc < 0 || c->broken) { /* cancelled from outside (shutdown's end), or output broken */
        c->broken = true;
        return;
    }
    if (r->state == RS_NONE) {
        int st;
        if (deadline_hit) st = c->waiting_body ? 408 : 503;
        else if (c->body_status) st = c->body_status;
        else st = 500;
        if (rc >= 0 && !deadline_hit && !c->body_status) {
            srv->stats.handler_errors++; /* returned without responding */
            srv->stats.last_handler_error = -EPROTO;
        }
        /* after a timeout or a body error the connection's input is in an unknown state */
        eddy__httpd_simple_response(c, st, deadline_hit || c->body_status != 0);
        return;
    }
    if (r->state != RS_DONE) {
        /* Ended for the handler: a chunked body, a started head with no body, a body that was
         * all written. A response short of its Content-Length is cut (end marks it broken). */
        if (rc >= 0 && !deadline_hit && eddy_http_response_end(r) == 0) return;
        c->broken = true; /* a response cut short: only closing tells the client */
    }
}
