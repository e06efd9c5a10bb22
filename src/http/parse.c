/* eddy http: the HTTP/1.1 message parser (see parse.h for the contract and the list of
 * rejections).
 *
 * A head is parsed in two steps. The scan (find_head) runs as bytes arrive: it looks for the
 * empty line that ends the head with memchr over the new bytes only, checks that every LF
 * ends a CRLF, and enforces the length limits, so an over-long or obviously foreign head is
 * refused before it is complete. Once the head is complete, parse_fields goes over it once,
 * validating every byte against the RFC 9112 grammar and noting the fields that decide
 * framing and persistence. Nothing is copied: results point into the caller's buffer.
 *
 * Strictness: everything a lenient parser could read in two ways is refused rather than
 * repaired (obs-fold, bare CR or LF, whitespace before a colon, duplicate Content-Length
 * values that differ even in spelling, Transfer-Encoding lists a downstream parser might
 * read differently, chunk sizes with junk or trailing whitespace). */
#include <string.h>

#include "http/parse.h"

/* Character classes (RFC 9110 section 5.6.2, RFC 9112). */
enum {
    C_TCHAR = 1,  /* token characters */
    C_VCHAR = 2,  /* 0x21..0x7E */
    C_FVAL = 4,   /* field-value characters: HTAB, SP, VCHAR, obs-text (0x80..0xFF) */
    C_HEX = 8,
    C_HOST = 16,  /* uri-host [":" port]: unreserved, pct-encoded, sub-delims, ":", "[", "]" */
    C_QDTEXT = 32, /* quoted-string text: HTAB, SP, 0x21, 0x23..0x5B, 0x5D..0x7E, obs-text */
};

static unsigned char ctab[256];
static bool ctab_ready;

/* Built once, on first use: a table written out by hand would be 256 unreadable numbers. */
static void ctab_init(void)
{
    for (int c = 0; c < 256; c++) {
        unsigned char v = 0;
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (alnum || (c && strchr("!#$%&'*+-.^_`|~", c))) v |= C_TCHAR;
        if (c >= 0x21 && c <= 0x7e) v |= C_VCHAR;
        if (c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80) v |= C_FVAL;
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= C_HEX;
        if (alnum || (c && strchr("-._~%!$&'()*+,;=:[]", c))) v |= C_HOST;
        if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
            (c >= 0x5d && c <= 0x7e) || c >= 0x80)
            v |= C_QDTEXT;
        ctab[c] = v;
    }
    __atomic_store_n(&ctab_ready, true, __ATOMIC_RELEASE);
}

static inline void ctab_ensure(void)
{
    /* Racing first calls on two threads both build the same table: harmless. */
    if (__builtin_expect(!__atomic_load_n(&ctab_ready, __ATOMIC_ACQUIRE), 0)) ctab_init();
}

#define IS(c, cls) (ctab[(unsigned char)(c)] & (cls))

static inline unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static bool ieq(const char *p, size_t n, const char *lit)
{
    for (size_t i = 0; i < n; i++)
        if (!lit[i] || lower((unsigned char)p[i]) != (unsigned char)lit[i]) return false;
    return lit[n] == '\0';
}

/* ---- public helpers (shared with the server and the client) ----------------------------- */

bool eddy_http_str_ieq(eddy_http_str s, const char *lit)
{
    if (!lit) return false;
    for (size_t i = 0; i < s.len; i++)
        if (!lit[i] || lower((unsigned char)s.ptr[i]) != lower((unsigned char)lit[i])) return false;
    return lit[s.len] == '\0';
}

const eddy_http_field *eddy_http_field_find(const eddy_http_field *fields, size_t n, size_t from,
                                            const char *name)
{
    if (!fields || !name) return NULL;
    for (size_t i = from; i < n; i++)
        if (eddy_http_str_ieq(fields[i].name, name)) return &fields[i];
    return NULL;
}

bool eddy_http_list_has(eddy_http_str v, const char *token)
{
    if (!token) return false;
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ',')) i++;
        size_t s = i;
        while (i < v.len && v.ptr[i] != ',') i++;
        size_t e = i;
        while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t')) e--;
        if (e > s && eddy_http_str_ieq((eddy_http_str){v.ptr + s, e - s}, token)) return true;
    }
    return false;
}

int eddy__http_method_id(const char *p, size_t n)
{
    switch (n) {
    case 3:
        if (!memcmp(p, "GET", 3)) return EDDY_HTTP_GET;
        if (!memcmp(p, "PUT", 3)) return EDDY_HTTP_PUT;
        break;
    case 4:
        if (!memcmp(p, "POST", 4)) return EDDY_HTTP_POST;
        if (!memcmp(p, "HEAD", 4)) return EDDY_HTTP_HEAD;
        break;
    case 5:
        if (!memcmp(p, "PATCH", 5)) return EDDY_HTTP_PATCH;
        if (!memcmp(p, "TRACE", 5)) return EDDY_HTTP_TRACE;
        break;
    case 6:
        if (!memcmp(p, "DELETE", 6)) return EDDY_HTTP_DELETE;
        break;
    case 7:
        if (!memcmp(p, "OPTIONS", 7)) return EDDY_HTTP_OPTIONS;
        if (!memcmp(p, "CONNECT", 7)) return EDDY_HTTP_CONNECT;
        break;
    }
    return EDDY_HTTP_OTHER;
}

/* ---- heads ------------------------------------------------------------------------------- */

static ssize_t fail(eddy__http_msg *m, ssize_t rc, int status, const char *why)
{
    m->error_status = status;
    m->error = why;
    return rc;
}

#define BAD(m, why) fail((m), -EBADMSG, (m)->is_response ? 502 : 400, (why))

/* What parse_fields learns about the framing fields on its way. */
typedef struct framing {
    eddy_http_str cl;       /* the first Content-Length element; all must equal it */
    bool has_cl;
    bool has_te;
    unsigned te_chunked;    /* how many times "chunked" appears */
    bool te_last_chunked;   /* the last coding seen is chunked */
    bool te_other;          /* a coding other than chunked */
    bool conn_close, conn_keep_alive, conn_upgrade;
    unsigned hosts;
    bool expect_other;      /* an expectation other than 100-continue */
} framing;

/* Scan for the end of the head; see the top of the file. p is where the start line begins
 * (after skipped empty lines). Returns the head length, 0 (incomplete), or an error. */
static ssize_t find_head(const char *buf, size_t len, size_t p, size_t *scan,
                         const eddy__http_limits *lim, eddy__http_msg *m, bool response)
{
    size_t i = *scan > p ? *scan : p;
    /* *scan is the index after the last LF checked: past p, the start line is complete. */
    bool line_done = *scan > p;
    while (i < len) {
        const char *lf = memchr(buf + i, '\n', len - i);
        if (!lf) break;
        size_t at = (size_t)(lf - buf);
        if (at == p || buf[at - 1] != '\r') return fail(m, -EBADMSG, response ? 502 : 400, "bare LF");
        if (!line_done) {
            if (at + 1 - p > lim->max_line)
                return fail(m, -EMSGSIZE, response ? 502 : 414, "start line too long");
            line_done = true;
        } else if (buf[at - 2] == '\n') { /* "\n\r\n": an empty line ends the head */
            size_t head = at + 1;
            if (head > lim->max_head) return fail(m, -EMSGSIZE, response ? 502 : 431, "head too long");
            *scan = head;
            return (ssize_t)head;
        }
        i = at + 1;
        *scan = i;
    }
    if (!line_done && len - p >= lim->max_line)
        return fail(m, -EMSGSIZE, response ? 502 : 414, "start line too long");
    if (len >= lim->max_head) return fail(m, -EMSGSIZE, response ? 502 : 431, "head too long");
    /* Refuse a foreign protocol (a TLS hello, binary junk) at its first bytes instead of
     * waiting for a head that may never end: a start line begins with a token (request) or
     * "HTTP/" (response). Only the first few bytes are looked at, so this stays O(1); it is
     * made whether or not the start line is complete, so the answer does not depend on how
     * the bytes were split into reads. */
    size_t n = len - p < 8 ? len - p : 8;
    if (response) {
        if (memcmp(buf + p, "HTTP/", n < 5 ? n : 5) != 0)
            return fail(m, -EBADMSG, 502, "malformed status line");
    } else {
        for (size_t k = 0; k < n && buf[p + k] != ' '; k++)
            if (!IS(buf[p + k], C_TCHAR)) return fail(m, -EBADMSG, 400, "invalid method");
        if (n && buf[p] == ' ') return fail(m, -EBADMSG, 400, "invalid method");
    }
    return 0;
}

/* Parse "HTTP/d.d" at s (8 bytes available); sets m->version. */
static ssize_t parse_version(const char *s, eddy__http_msg *m, bool response)
{
    if (memcmp(s, "HTTP/", 5) != 0 || !(s[5] >= '0' && s[5] <= '9') || s[6] != '.' ||
        !(s[7] >= '0' && s[7] <= '9'))
        return fail(m, -EBADMSG, response ? 502 : 400, "malformed HTTP version");
    if (s[5] != '1') return fail(m, -ENOTSUP, response ? 502 : 505, "unsupported HTTP version");
    m->version = s[7] == '0' ? 10 : 11; /* 1.2 and later minors: the highest we speak */
    return 0;
}

/* Elements of a comma-separated list value, each trimmed; empty elements are reported (as
 * length 0) so the framing fields can refuse them. Returns false when done. */
static bool next_elem(eddy_http_str v, size_t *i, eddy_http_str *out)
{
    if (*i > v.len) return false;
    size_t s = *i;
    while (*i < v.len && v.ptr[*i] != ',') (*i)++;
    size_t e = *i;
    (*i)++; /* past the comma (or past the end: the next call stops) */
    while (s < e && (v.ptr[s] == ' ' || v.ptr[s] == '\t')) s++;
    while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t')) e--;
    *out = (eddy_http_str){v.ptr + s, e - s};
    return true;
}

static bool all_tchar(eddy_http_str s)
{
    if (!s.len) return false;
    for (size_t i = 0; i < s.len; i++)
        if (!IS(s.ptr[i], C_TCHAR)) return false;
    return true;
}

static ssize_t note_content_length(framing *f, eddy_http_str v, eddy__http_msg *m)
{
    size_t i = 0;
    eddy_http_str e;
    while (next_elem(v, &i, &e)) {
        if (!e.len) return BAD(m, "empty Content-Length");
        uint64_t n = 0;
        for (size_t k = 0; k < e.len; k++) {
            unsigned d = (unsigned char)e.ptr[k] - '0';
            if (d > 9) return BAD(m, "invalid Content-Length");
            if (n > (uint64_t)(INT64_MAX - d) / 10) return BAD(m, "Content-Length too large");
            n = n * 10 + d;
        }
        if (!f->has_cl) {
            f->has_cl = true;
            f->cl = e;
            m->content_length = n;
        } else if (e.len != f->cl.len || memcmp(e.ptr, f->cl.ptr, e.len) != 0) {
            return BAD(m, "conflicting Content-Length");
        }
    }
    return 0;
}

static ssize_t note_transfer_encoding(framing *f, eddy_http_str v, eddy__http_msg *m)
{
    f->has_te = true;
    size_t i = 0;
    eddy_http_str e;
    while (next_elem(v, &i, &e)) {
        if (!all_tchar(e)) return BAD(m, "invalid Transfer-Encoding");
        if (ieq(e.ptr, e.len, "chunked")) {
            f->te_chunked++;
            f->te_last_chunked = true;
        } else {
            f->te_other = true;
            f->te_last_chunked = false;
        }
    }
    return 0;
}

static void note_connection(framing *f, eddy_http_str v)
{
    size_t i = 0;
    eddy_http_str e;
    while (next_elem(v, &i, &e)) {
        if (ieq(e.ptr, e.len, "close")) f->conn_close = true;
        else if (ieq(e.ptr, e.len, "keep-alive")) f->conn_keep_alive = true;
        else if (ieq(e.ptr, e.len, "upgrade")) f->conn_upgrade = true;
    }
}

/* A field that decides framing, persistence or routing: note it (or refuse it). */
static ssize_t note_field(framing *f, const eddy_http_field *fl, eddy__http_msg *m)
{
    const char *n = fl->name.ptr;
    switch (fl->name.len) {
    case 4:
        if (ieq(n, 4, "host")) {
            if (f->hosts++ == 0) m->host = fl->value;
            for (size_t k = 0; k < fl->value.len; k++)
                if (!IS(fl->value.ptr[k], C_HOST)) return BAD(m, "invalid Host");
        }
        break;
    case 6:
        if (ieq(n, 6, "expect")) {
            if (ieq(fl->value.ptr, fl->value.len, "100-continue")) m->expect_continue = true;
            else f->expect_other = true;
        }
        break;
    case 10:
        if (ieq(n, 10, "connection")) note_connection(f, fl->value);
        break;
    case 14:
        if (ieq(n, 14, "content-length")) return note_content_length(f, fl->value, m);
        break;
    case 17:
        if (ieq(n, 17, "transfer-encoding")) return note_transfer_encoding(f, fl->value, m);
        break;
    }
    return 0;
}

/* Field lines from q up to the head's final CRLF at end - 2. */
static ssize_t parse_fields(const char *buf, size_t q, size_t end, const eddy__http_limits *lim,
                            eddy__http_msg *m, framing *f)
{
    while (q < end - 2) {
        char c = buf[q];
        if (c == ' ' || c == '\t') return BAD(m, "obs-fold or whitespace before a field");
        size_t ns = q;
        while (IS(buf[q], C_TCHAR)) q++;
        if (buf[q] != ':') {
            if (buf[q] == ' ' || buf[q] == '\t') return BAD(m, "whitespace before colon");
            return BAD(m, q == ns ? "empty field name" : "invalid field name");
        }
        if (q == ns) return BAD(m, "empty field name");
        size_t ne = q++;
        while (buf[q] == ' ' || buf[q] == '\t') q++;
        size_t vs = q;
        /* four at a time while all are value characters: the line ends with CR, which stops it */
        while (ctab[(unsigned char)buf[q]] & ctab[(unsigned char)buf[q + 1]] & ctab[(unsigned char)buf[q + 2]] &
               ctab[(unsigned char)buf[q + 3]] & C_FVAL)
            q += 4;
        while (IS(buf[q], C_FVAL)) q++;
        if (buf[q] != '\r') return BAD(m, "invalid character in field value");
        if (buf[q + 1] != '\n') return BAD(m, "bare CR");
        size_t ve = q;
        while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t')) ve--;
        q += 2;
        if (m->nfields == lim->max_fields)
            return fail(m, -EMSGSIZE, m->is_response ? 502 : 431, "too many fields");
        eddy_http_field *fl = &m->fields[m->nfields++];
        fl->name = (eddy_http_str){buf + ns, ne - ns};
        fl->value = (eddy_http_str){buf + vs, ve - vs};
        ssize_t rc = note_field(f, fl, m);
        if (rc < 0) return rc;
    }
    return 0;
}

static void msg_reset(eddy__http_msg *m, eddy_http_field *fields, bool response)
{
    memset(m, 0, sizeof *m);
    m->fields = fields;
    m->is_response = response;
}

/* The request-target's form must fit the method (RFC 9112 section 3.2). */
static bool target_form_ok(const eddy__http_msg *m)
{
    const char *t = m->target.ptr;
    size_t n = m->target.len;
    if (m->method_id == EDDY_HTTP_CONNECT) return t[0] != '/'; /* authority-form */
    if (t[0] == '/') return true;                              /* origin-form */
    if (n == 1 && t[0] == '*') return m->method_id == EDDY_HTTP_OPTIONS;
    /* absolute-form: only the http and https schemes mean anything to an HTTP server */
    return (n > 7 && ieq(t, 7, "http://")) || (n > 8 && ieq(t, 8, "https://"));
}

ssize_t eddy__http_parse_request(const char *buf, size_t len, size_t *scan,
                                 const eddy__http_limits *lim, eddy_http_field *fields,
                                 eddy__http_msg *m)
{
    ctab_ensure();
    msg_reset(m, fields, false);
    /* RFC 9112 section 2.2: ignore empty lines before the request line (clients that add a
     * CRLF after a body); they count against the request line's limit. */
    size_t p = 0;
    while (p + 1 < len && buf[p] == '\r' && buf[p + 1] == '\n') p += 2;
    if (p >= lim->max_line) return fail(m, -EMSGSIZE, 414, "start line too long");
    if (p < len && buf[p] == '\n') return fail(m, -EBADMSG, 400, "bare LF");
    if (p == len || (p + 1 == len && buf[p] == '\r')) return 0;
    ssize_t head = find_head(buf, len, p, scan, lim, m, false);
    if (head <= 0) return head;
    size_t end = (size_t)head, q = p;

    /* request-line = method SP request-target SP HTTP-version CRLF */
    while (IS(buf[q], C_TCHAR)) q++;
    if (q == p || buf[q] != ' ') return fail(m, -EBADMSG, 400, "invalid method");
    m->method = (eddy_http_str){buf + p, q - p};
    m->method_id = eddy__http_method_id(buf + p, q - p);
    size_t ts = ++q;
    while (IS(buf[q], C_VCHAR)) q++;
    if (q == ts || buf[q] != ' ') return fail(m, -EBADMSG, 400, "invalid request target");
    m->target = (eddy_http_str){buf + ts, q - ts};
    q++;
    if (end - q < 10 || buf[q + 8] != '\r' || buf[q + 9] != '\n')
        return fail(m, -EBADMSG, 400, "malformed request line");
    ssize_t rc = parse_version(buf + q, m, false);
    if (rc < 0) return rc;
    if (!target_form_ok(m)) return fail(m, -EBADMSG, 400, "request target form not allowed");
    q += 10;

    framing f = {0};
    rc = parse_fields(buf, q, end, lim, m, &f);
    if (rc < 0) return rc;

    if (f.has_te && f.has_cl) return fail(m, -EBADMSG, 400, "both Content-Length and Transfer-Encoding");
    if (f.has_te) {
        if (m->version == 10) return fail(m, -EBADMSG, 400, "Transfer-Encoding in HTTP/1.0");
        if (f.te_chunked > 1) return fail(m, -EBADMSG, 400, "chunked more than once");
        if (!f.te_last_chunked) return fail(m, -EBADMSG, 400, "chunked is not the final coding");
        if (f.te_other) return fail(m, -ENOTSUP, 501, "unsupported transfer coding");
        m->body = EDDY__HTTP_BODY_CHUNKED;
    } else if (f.has_cl) {
        m->body = EDDY__HTTP_BODY_LENGTH;
    }
    if (m->version == 11 && f.hosts == 0) return fail(m, -EBADMSG, 400, "missing Host");
    if (f.hosts > 1) return fail(m, -EBADMSG, 400, "several Host fields");
    if (m->version == 10) m->expect_continue = false; /* RFC 9110 10.1.1: ignored in 1.0 */
    else if (f.expect_other) return fail(m, -EBADMSG, 417, "unsupported expectation");
    m->keep_alive = !f.conn_close && (m->version == 11 || f.conn_keep_alive);
    m->upgrade = f.conn_upgrade;
    m->head_len = end;
    return head;
}

ssize_t eddy__http_parse_response(const char *buf, size_t len, size_t *scan,
                                  const eddy__http_limits *lim, eddy_http_field *fields,
                                  int method_id, eddy__http_msg *m)
{
    ctab_ensure();
    msg_reset(m, fields, true);
    if (len == 0) return 0;
    ssize_t head = find_head(buf, len, 0, scan, lim, m, true);
    if (head <= 0) return head;
    size_t end = (size_t)head, q = 0;

    /* status-line = HTTP-version SP status-code [SP reason-phrase] CRLF */
    if (end < 14 || buf[8] != ' ') return BAD(m, "malformed status line");
    ssize_t rc = parse_version(buf, m, true);
    if (rc < 0) return rc;
    q = 9;
    int st = 0;
    for (int k = 0; k < 3; k++) {
        unsigned d = (unsigned char)buf[q + k] - '0';
        if (d > 9) return BAD(m, "malformed status code");
        st = st * 10 + (int)d;
    }
    if (st < 100 || st > 599) return BAD(m, "status code out of range");
    m->status = st;
    q += 3;
    if (buf[q] == ' ') {
        size_t rs = ++q;
        while (buf[q] == '\t' || buf[q] == ' ' || IS(buf[q], C_VCHAR) || (unsigned char)buf[q] >= 0x80)
            q++;
        m->reason = (eddy_http_str){buf + rs, q - rs};
    }
    if (buf[q] != '\r' || buf[q + 1] != '\n') return BAD(m, "malformed status line");
    q += 2;

    framing f = {0};
    rc = parse_fields(buf, q, end, lim, m, &f);
    if (rc < 0) return rc;

    if (f.has_te && f.has_cl) return BAD(m, "both Content-Length and Transfer-Encoding");
    if (f.has_te && m->version == 10) return BAD(m, "Transfer-Encoding in HTTP/1.0");
    if (f.has_te && f.te_chunked > 1) return BAD(m, "chunked more than once");
    if (f.has_te && f.te_other) return fail(m, -ENOTSUP, 502, "unsupported transfer coding");
    m->keep_alive = !f.conn_close && (m->version == 11 || f.conn_keep_alive);
    m->upgrade = f.conn_upgrade;
    if (method_id == EDDY_HTTP_HEAD || st < 200 || st == 204 || st == 304) {
        m->body = EDDY__HTTP_BODY_NONE;
    } else if (method_id == EDDY_HTTP_CONNECT && st < 300) {
        m->body = EDDY__HTTP_BODY_TUNNEL;
    } else if (f.has_te) {
        /* te_other is refused above, so this is "chunked" alone */
        m->body = EDDY__HTTP_BODY_CHUNKED;
    } else if (f.has_cl) {
        m->body = EDDY__HTTP_BODY_LENGTH;
    } else {
        m->body = EDDY__HTTP_BODY_CLOSE;
        m->keep_alive = false;
    }
    m->head_len = end;
    return head;
}

/* ---- chunked bodies ------------------------------------------------------------------------ */

enum {
    K_SIZE = 0,      /* chunk-size hex digits */
    K_SIZE_WS,       /* whitespace after the size: only ";" may follow */
    K_EXT_START,     /* after ";": BWS, then an extension name */
    K_EXT_NAME,
    K_EXT_AFTER_NAME, /* BWS after a name: "=" or ";" */
    K_EXT_VAL_START, /* after "=": BWS, then a token or a quoted string */
    K_EXT_TOKEN,
    K_EXT_AFTER_VAL, /* BWS after a value: only ";" may follow */
    K_EXT_QUOTED,
    K_EXT_QESC,
    K_EXT_AFTER_QVAL,
    K_SIZE_LF,       /* CR seen at the end of the size line */
    K_DATA,
    K_DATA_CR,
    K_DATA_LF,
    K_TR_START,      /* the start of a trailer line, or the final CRLF */
    K_TR_NAME,
    K_TR_VALUE,
    K_TR_LF,
    K_END_LF,
    K_DONE,
};

void eddy__http_chunked_init(eddy__http_chunked *d, size_t max_line, size_t max_trailer)
{
    memset(d, 0, sizeof *d);
    d->max_line = max_line;
    d->max_trailer = max_trailer;
}

bool eddy__http_chunked_done(const eddy__http_chunked *d) { return d->state == K_DONE; }

static ssize_t cfail(eddy__http_chunked *d, ssize_t rc, const char *why)
{
    d->error = why;
    return rc;
}

ssize_t eddy__http_chunked_decode(eddy__http_chunked *d, const char *in, size_t len,
                                  size_t max_data, size_t *data_off, size_t *data_len)
{
    ctab_ensure();
    size_t max_line = d->max_line ? d->max_line : 4096;
    size_t max_trailer = d->max_trailer ? d->max_trailer : 8192;
    *data_off = 0;
    *data_len = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)in[i];
        unsigned st = d->state;
        if (st == K_DATA) {
            size_t n = len - i;
            if (n > d->left) n = (size_t)d->left;
            if (n > max_data) n = max_data;
            if (n == 0) return (ssize_t)i; /* the caller wants no more data now */
            *data_off = i;
            *data_len = n;
            d->left -= n;
            d->total += n;
            if (d->left == 0) d->state = K_DATA_CR;
            return (ssize_t)(i + n);
        }
        if (st == K_DONE) return (ssize_t)i;
        i++;
        if (st < K_DATA) {
            if (++d->line > max_line) return cfail(d, -EMSGSIZE, "chunk size line too long");
        } else if (st >= K_TR_START) {
            if (++d->line > max_trailer) return cfail(d, -EMSGSIZE, "trailer section too long");
        }
        bool ws = c == ' ' || c == '\t';
        switch (st) {
        case K_SIZE:
            if (IS(c, C_HEX)) {
                if (d->left > (UINT64_MAX >> 4)) return cfail(d, -EBADMSG, "chunk size overflow");
                unsigned v = c <= '9' ? (unsigned)(c - '0') : (unsigned)(lower(c) - 'a' + 10);
                d->left = d->left << 4 | v;
                d->digits = true;
            } else if (!d->digits) {
                return cfail(d, -EBADMSG, "invalid chunk size");
            } else if (c == ';') {
                d->state = K_EXT_START;
            } else if (ws) {
                d->state = K_SIZE_WS;
            } else if (c == '\r') {
                d->state = K_SIZE_LF;
            } else {
                return cfail(d, -EBADMSG, "invalid chunk size");
            }
            break;
        case K_SIZE_WS:
            if (c == ';') d->state = K_EXT_START;
            else if (!ws) return cfail(d, -EBADMSG, "invalid chunk size");
            break;
        case K_EXT_START:
            if (IS(c, C_TCHAR)) d->state = K_EXT_NAME;
            else if (!ws) return cfail(d, -EBADMSG, "invalid chunk extension");
            break;
        case K_EXT_NAME:
            if (IS(c, C_TCHAR)) break;
            if (c == '=') d->state = K_EXT_VAL_START;
            else if (c == ';') d->state = K_EXT_START;
            else if (ws) d->state = K_EXT_AFTER_NAME;
            else if (c == '\r') d->state = K_SIZE_LF;
            else return cfail(d, -EBADMSG, "invalid chunk extension");
            break;
        case K_EXT_AFTER_NAME:
            if (c == '=') d->state = K_EXT_VAL_START;
            else if (c == ';') d->state = K_EXT_START;
            else if (!ws) return cfail(d, -EBADMSG, "invalid chunk extension");
            break;
        case K_EXT_VAL_START:
            if (c == '"') d->state = K_EXT_QUOTED;
            else if (IS(c, C_TCHAR)) d->state = K_EXT_TOKEN;
            else if (!ws) return cfail(d, -EBADMSG, "invalid chunk extension");
            break;
        case K_EXT_TOKEN:
            if (IS(c, C_TCHAR)) break;
            if (c == ';') d->state = K_EXT_START;
            else if (ws) d->state = K_EXT_AFTER_VAL;
            else if (c == '\r') d->state = K_SIZE_LF;
            else return cfail(d, -EBADMSG, "invalid chunk extension");
            break;
        case K_EXT_AFTER_VAL:
            if (c == ';') d->state = K_EXT_START;
            else if (!ws) return cfail(d, -EBADMSG, "invalid chunk extension");
            break;
        case K_EXT_QUOTED:
            if (c == '"') d->state = K_EXT_AFTER_QVAL;
            else if (c == '\\') d->state = K_EXT_QESC;
            else if (!IS(c, C_QDTEXT)) return cfail(d, -EBADMSG, "invalid chunk extension");
            break;
        case K_EXT_QESC:
            if (!IS(c, C_FVAL)) return cfail(d, -EBADMSG, "invalid chunk extension");
            d->state = K_EXT_QUOTED;
            break;
        case K_EXT_AFTER_QVAL:
            if (c == ';') d->state = K_EXT_START;
            else if (ws) d->state = K_EXT_AFTER_VAL;
            else if (c == '\r') d->state = K_SIZE_LF;
            else return cfail(d, -EBADMSG, "invalid chunk extension");
            break;
        case K_SIZE_LF:
            if (c != '\n') return cfail(d, -EBADMSG, "bare CR in chunk size line");
            d->line = 0;
            d->state = d->left ? K_DATA : K_TR_START;
            break;
        case K_DATA_CR:
            if (c != '\r') return cfail(d, -EBADMSG, "chunk data not followed by CRLF");
            d->state = K_DATA_LF;
            break;
        case K_DATA_LF:
            if (c != '\n') return cfail(d, -EBADMSG, "chunk data not followed by CRLF");
            d->state = K_SIZE;
            d->digits = false;
            d->line = 0;
            break;
        case K_TR_START:
            if (c == '\r') d->state = K_END_LF;
            else if (IS(c, C_TCHAR)) d->state = K_TR_NAME;
            else if (ws) return cfail(d, -EBADMSG, "obs-fold in trailer");
            else return cfail(d, -EBADMSG, "invalid trailer field name");
            break;
        case K_TR_NAME:
            if (c == ':') d->state = K_TR_VALUE;
            else if (!IS(c, C_TCHAR)) return cfail(d, -EBADMSG, "invalid trailer field name");
            break;
        case K_TR_VALUE:
            if (c == '\r') d->state = K_TR_LF;
            else if (!IS(c, C_FVAL)) return cfail(d, -EBADMSG, "invalid character in trailer");
            break;
        case K_TR_LF:
            if (c != '\n') return cfail(d, -EBADMSG, "bare CR in trailer");
            d->state = K_TR_START;
            break;
        case K_END_LF:
            if (c != '\n') return cfail(d, -EBADMSG, "bare CR after trailers");
            d->state = K_DONE;
            return (ssize_t)i;
        }
    }
    return (ssize_t)i;
}
