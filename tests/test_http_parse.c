/* Tests of the HTTP/1.1 message parser (src/http/parse.c): request and response heads,
 * incremental parsing, every rejection in parse.h's list, and the chunked decoder. The parser
 * is pure, so these run without a loop (.raw). */
#include <string.h>

#include "eddy/test.h"
#include "http/parse.h"

#define RAW(name) EDDY_TEST_EX(name, .raw = true)

static const eddy__http_limits LIM = {.max_line = 256, .max_head = 1024, .max_fields = 8};

typedef struct parsed {
    eddy__http_msg m;
    eddy_http_field fields[64];
    ssize_t rc;
} parsed;

static ssize_t req(parsed *p, const char *s)
{
    size_t scan = 0;
    return p->rc = eddy__http_parse_request(s, strlen(s), &scan, &LIM, p->fields, &p->m);
}

static ssize_t resp(parsed *p, const char *s, int method)
{
    size_t scan = 0;
    return p->rc = eddy__http_parse_response(s, strlen(s), &scan, &LIM, p->fields, method, &p->m);
}

static bool str_is(eddy_http_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

RAW(request_simple)
{
    parsed p;
    const char *s = "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nX-Pad:  v  v \t\r\n\r\nNEXT";
    EDDY_CHECK_EQ(req(&p, s), strlen(s) - 4);
    EDDY_CHECK(str_is(p.m.method, "GET"));
    EDDY_CHECK_EQ(p.m.method_id, EDDY_HTTP_GET);
    EDDY_CHECK(str_is(p.m.target, "/a?b=c"));
    EDDY_CHECK_EQ(p.m.version, 11);
    EDDY_CHECK_EQ(p.m.nfields, 3);
    EDDY_CHECK(str_is(p.m.fields[0].name, "Host"));
    EDDY_CHECK(str_is(p.m.fields[0].value, "example.com"));
    EDDY_CHECK(str_is(p.m.host, "example.com"));
    EDDY_CHECK(str_is(p.m.fields[1].value, ""));
    EDDY_CHECK(str_is(p.m.fields[2].value, "v  v")); /* inner whitespace kept, outer trimmed */
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_NONE);
    EDDY_CHECK(p.m.keep_alive);
    EDDY_CHECK(!p.m.expect_continue);
    /* zero-copy: the strings point into the buffer */
    EDDY_CHECK(p.m.target.ptr == s + 4);
    return 0;
}

RAW(request_methods_and_forms)
{
    parsed p;
    EDDY_CHECK(req(&p, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    EDDY_CHECK_EQ(p.m.method_id, EDDY_HTTP_OPTIONS);
    EDDY_CHECK(req(&p, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n") > 0);
    EDDY_CHECK_EQ(p.m.method_id, EDDY_HTTP_CONNECT);
    EDDY_CHECK(req(&p, "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n") > 0);
    EDDY_CHECK(req(&p, "GET HTTPS://example.com HTTP/1.1\r\nHost: e\r\n\r\n") > 0);
    EDDY_CHECK(req(&p, "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    EDDY_CHECK_EQ(p.m.method_id, EDDY_HTTP_OTHER);
    EDDY_CHECK(str_is(p.m.method, "PURGE"));
    EDDY_CHECK(req(&p, "get / HTTP/1.1\r\nHost: a\r\n\r\n") > 0); /* a token, not GET */
    EDDY_CHECK_EQ(p.m.method_id, EDDY_HTTP_OTHER);
    const char *ids[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    int want[] = {EDDY_HTTP_GET, EDDY_HTTP_HEAD, EDDY_HTTP_POST, EDDY_HTTP_PUT, EDDY_HTTP_DELETE,
                  EDDY_HTTP_CONNECT, EDDY_HTTP_OPTIONS, EDDY_HTTP_TRACE, EDDY_HTTP_PATCH};
    for (int i = 0; i < 9; i++) EDDY_CHECK_EQ(eddy__http_method_id(ids[i], strlen(ids[i])), want[i]);
    return 0;
}

RAW(request_versions_and_persistence)
{
    parsed p;
    EDDY_CHECK(req(&p, "GET / HTTP/1.0\r\n\r\n") > 0); /* no Host needed in 1.0 */
    EDDY_CHECK_EQ(p.m.version, 10);
    EDDY_CHECK(!p.m.keep_alive);
    EDDY_CHECK(req(&p, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
    EDDY_CHECK(p.m.keep_alive);
    EDDY_CHECK(req(&p, "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n") > 0);
    EDDY_CHECK(!p.m.keep_alive);
    EDDY_CHECK(req(&p, "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n") > 0);
    EDDY_CHECK(p.m.upgrade && p.m.keep_alive);
    EDDY_CHECK(req(&p, "GET / HTTP/1.2\r\nHost: a\r\n\r\n") > 0); /* a later 1.x minor: 1.1 */
    EDDY_CHECK_EQ(p.m.version, 11);
    /* Expect: 100-continue is honoured in 1.1 and ignored in 1.0 (RFC 9110 10.1.1) */
    EDDY_CHECK(req(&p, "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n") > 0);
    EDDY_CHECK(p.m.expect_continue);
    EDDY_CHECK(req(&p, "PUT / HTTP/1.0\r\nExpect: whatever\r\nContent-Length: 1\r\n\r\n") > 0);
    EDDY_CHECK(!p.m.expect_continue);
    return 0;
}

RAW(request_body_framing)
{
    parsed p;
    EDDY_CHECK(req(&p, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n") > 0);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_LENGTH);
    EDDY_CHECK_EQ(p.m.content_length, 42);
    EDDY_CHECK(req(&p, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n") > 0);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_LENGTH);
    EDDY_CHECK_EQ(p.m.content_length, 0);
    /* identical duplicates, in one line or several, are one value (RFC 9110 8.6) */
    EDDY_CHECK(req(&p, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7 , 7\r\ncontent-length: 7\r\n\r\n") > 0);
    EDDY_CHECK_EQ(p.m.content_length, 7);
    EDDY_CHECK(req(&p, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n") > 0);
    EDDY_CHECK_EQ(p.m.content_length, 9223372036854775807ull);
    EDDY_CHECK(req(&p, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n") > 0);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_CHUNKED);
    return 0;
}

RAW(request_leading_empty_lines_skipped)
{
    parsed p;
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    EDDY_CHECK_EQ(req(&p, s), strlen(s));
    EDDY_CHECK(str_is(p.m.method, "GET"));
    EDDY_CHECK_EQ(req(&p, "\r\n"), 0);
    EDDY_CHECK_EQ(req(&p, "\r\n\r"), 0);
    return 0;
}

/* Feeding a head one byte at a time: 0 until the last byte, then the same result as at once;
 * the scan position only moves forward. */
RAW(request_incremental)
{
    const char *s = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n5\r\n";
    size_t head = strlen(s) - 3, scan = 0, last = 0;
    parsed p;
    for (size_t n = 0; n < head; n++) {
        EDDY_CHECK_EQ(eddy__http_parse_request(s, n, &scan, &LIM, p.fields, &p.m), 0);
        EDDY_CHECK(scan >= last && scan <= n);
        last = scan;
    }
    EDDY_CHECK_EQ(eddy__http_parse_request(s, strlen(s), &scan, &LIM, p.fields, &p.m), head);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_CHUNKED);
    EDDY_CHECK(str_is(p.m.fields[2].value, "y"));
    return 0;
}

typedef struct reject {
    const char *in;
    size_t len;
    ssize_t rc;
    int status;
    const char *error;
} reject;

/* Every rejection of parse.h's list, with its status and description. */
#define R(s, rc, st, e) {s, sizeof(s) - 1, rc, st, e}
static const reject REJECTS[] = {
    /* request line */
    R("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", -EBADMSG, 400, "invalid method"),
    R(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", -EBADMSG, 400, "invalid method"),
    R("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", -EBADMSG, 400, "invalid request target"),
    R("GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n", -EBADMSG, 400, "invalid request target"),
    R("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", -EBADMSG, 400, "invalid request target"),
    R("GET /\r\nHost: a\r\n\r\n", -EBADMSG, 400, "invalid request target"),
    R("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", -EBADMSG, 400, "malformed request line"),
    R("GET / HTTP/1.10\r\nHost: a\r\n\r\n", -EBADMSG, 400, "malformed request line"),
    R("GET / http/1.1\r\nHost: a\r\n\r\n", -EBADMSG, 400, "malformed HTTP version"),
    R("GET / HTTP/1.x\r\nHost: a\r\n\r\n", -EBADMSG, 400, "malformed HTTP version"),
    R("GET / HTTP/2.0\r\nHost: a\r\n\r\n", -ENOTSUP, 505, "unsupported HTTP version"),
    R("GET / HTTP/0.9\r\nHost: a\r\n\r\n", -ENOTSUP, 505, "unsupported HTTP version"),
    R("GET foo HTTP/1.1\r\nHost: a\r\n\r\n", -EBADMSG, 400, "request target form not allowed"),
    R("GET * HTTP/1.1\r\nHost: a\r\n\r\n", -EBADMSG, 400, "request target form not allowed"),
    R("GET ftp://x/ HTTP/1.1\r\nHost: a\r\n\r\n", -EBADMSG, 400, "request target form not allowed"),
    R("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", -EBADMSG, 400, "request target form not allowed"),
    /* line endings */
    R("GET / HTTP/1.1\nHost: a\r\n\r\n", -EBADMSG, 400, "bare LF"),
    R("GET / HTTP/1.1\r\nHost: a\n\r\n", -EBADMSG, 400, "bare LF"),
    R("GET / HTTP/1.1\r\nHost: a\r\n\n", -EBADMSG, 400, "bare LF"),
    R("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", -EBADMSG, 400, "bare LF"),
    R("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", -EBADMSG, 400, "bare CR"),
    R("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n", -EBADMSG, 400, "bare CR"),
    /* field lines */
    R("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", -EBADMSG, 400, "obs-fold or whitespace before a field"),
    R("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", -EBADMSG, 400, "obs-fold or whitespace before a field"),
    R("GET / HTTP/1.1\r\n Host: a\r\n\r\n", -EBADMSG, 400, "obs-fold or whitespace before a field"),
    R("GET / HTTP/1.1\r\nHost : a\r\n\r\n", -EBADMSG, 400, "whitespace before colon"),
    R("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", -EBADMSG, 400, "whitespace before colon"),
    R("GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", -EBADMSG, 400, "empty field name"),
    R("GET / HTTP/1.1\r\nHo\"st: a\r\n\r\n", -EBADMSG, 400, "invalid field name"),
    R("GET / HTTP/1.1\r\nHost: a\r\nX@Y: b\r\n\r\n", -EBADMSG, 400, "invalid field name"),
    R("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", -EBADMSG, 400, "invalid field name"),
    R("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", -EBADMSG, 400, "invalid character in field value"),
    R("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", -EBADMSG, 400, "invalid character in field value"),
    R("GET / HTTP/1.1\r\nHost: a\r\nX: a\x00z\r\n\r\n", -EBADMSG, 400, "invalid character in field value"),
    /* Host */
    R("GET / HTTP/1.1\r\n\r\n", -EBADMSG, 400, "missing Host"),
    R("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", -EBADMSG, 400, "several Host fields"),
    R("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -EBADMSG, 400, "invalid Host"),
    R("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", -EBADMSG, 400, "invalid Host"),
    R("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", -EBADMSG, 400, "invalid Host"),
    /* Content-Length */
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", -EBADMSG, 400, "conflicting Content-Length"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", -EBADMSG, 400, "conflicting Content-Length"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n", -EBADMSG, 400, "conflicting Content-Length"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", -EBADMSG, 400, "empty Content-Length"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", -EBADMSG, 400, "empty Content-Length"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", -EBADMSG, 400, "invalid Content-Length"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", -EBADMSG, 400, "invalid Content-Length"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n", -EBADMSG, 400, "invalid Content-Length"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", -EBADMSG, 400, "invalid Content-Length"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", -EBADMSG, 400, "invalid Content-Length"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", -EBADMSG, 400, "Content-Length too large"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", -EBADMSG, 400, "Content-Length too large"),
    /* Transfer-Encoding */
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG, 400, "both Content-Length and Transfer-Encoding"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", -EBADMSG, 400, "both Content-Length and Transfer-Encoding"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", -EBADMSG, 400, "chunked is not the final coding"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", -EBADMSG, 400, "chunked is not the final coding"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", -EBADMSG, 400, "chunked is not the final coding"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", -EBADMSG, 400, "chunked more than once"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG, 400, "chunked more than once"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -ENOTSUP, 501, "unsupported transfer coding"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", -EBADMSG, 400, "invalid Transfer-Encoding"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", -EBADMSG, 400, "invalid Transfer-Encoding"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", -EBADMSG, 400, "invalid Transfer-Encoding"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", -EBADMSG, 400, "invalid Transfer-Encoding"),
    R("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG, 400, "Transfer-Encoding in HTTP/1.0"),
    /* Expect */
    R("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", -EBADMSG, 417, "unsupported expectation"),
    {NULL, 0, 0, 0, NULL},
};

RAW(request_rejections)
{
    for (const reject *r = REJECTS; r->in; r++) {
        size_t len = r->len; /* sizeof: one case embeds a NUL */
        parsed p;
        size_t scan = 0;
        p.rc = eddy__http_parse_request(r->in, len, &scan, &LIM, p.fields, &p.m);
        if (p.rc != r->rc || p.m.error_status != r->status || !p.m.error ||
            strcmp(p.m.error, r->error) != 0) {
            fprintf(stderr, "case %d: %zd %d '%s', expected %zd %d '%s'\n", (int)(r - REJECTS), p.rc,
                    p.m.error_status, p.m.error ? p.m.error : "(null)", r->rc, r->status, r->error);
            EDDY_CHECK(!"rejection");
        }
    }
    return 0;
}

RAW(request_limits)
{
    eddy__http_limits lim = {.max_line = 32, .max_head = 64, .max_fields = 2};
    parsed p;
    size_t scan = 0;
    /* a request line of exactly max_line bytes passes; one more is 414, also before its CRLF */
    const char *ok = "GET /aaaaaaaaaaaaaaaa HTTP/1.0\r\n\r\n"; /* 30 + 2 */
    EDDY_CHECK_EQ(eddy__http_parse_request(ok, strlen(ok), &scan, &lim, p.fields, &p.m), strlen(ok));
    const char *lng = "GET /aaaaaaaaaaaaaaaaa HTTP/1.0\r\n\r\n";
    scan = 0;
    EDDY_CHECK_EQ(eddy__http_parse_request(lng, strlen(lng), &scan, &lim, p.fields, &p.m), -EMSGSIZE);
    EDDY_CHECK_EQ(p.m.error_status, 414);
    scan = 0;
    EDDY_CHECK_EQ(eddy__http_parse_request(lng, 32, &scan, &lim, p.fields, &p.m), -EMSGSIZE);
    EDDY_CHECK_EQ(p.m.error_status, 414);
    scan = 0;
    EDDY_CHECK_EQ(eddy__http_parse_request(lng, 31, &scan, &lim, p.fields, &p.m), 0);
    /* empty lines before the request line count against it */
    char crlfs[40];
    for (int i = 0; i < 40; i += 2) memcpy(crlfs + i, "\r\n", 2);
    scan = 0;
    EDDY_CHECK_EQ(eddy__http_parse_request(crlfs, 40, &scan, &lim, p.fields, &p.m), -EMSGSIZE);
    EDDY_CHECK_EQ(p.m.error_status, 414);
    /* the whole head: 431 once it cannot fit, complete or not */
    const char *big = "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789012345678901234567890123456789\r\n\r\n";
    scan = 0;
    EDDY_CHECK_EQ(eddy__http_parse_request(big, strlen(big), &scan, &lim, p.fields, &p.m), -EMSGSIZE);
    EDDY_CHECK_EQ(p.m.error_status, 431);
    scan = 0;
    EDDY_CHECK_EQ(eddy__http_parse_request(big, 64, &scan, &lim, p.fields, &p.m), -EMSGSIZE);
    EDDY_CHECK_EQ(p.m.error_status, 431);
    scan = 0;
    EDDY_CHECK_EQ(eddy__http_parse_request(big, 63, &scan, &lim, p.fields, &p.m), 0);
    /* field count */
    const char *many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    scan = 0;
    EDDY_CHECK_EQ(eddy__http_parse_request(many, strlen(many), &scan, &lim, p.fields, &p.m), -EMSGSIZE);
    EDDY_CHECK_EQ(p.m.error_status, 431);
    EDDY_CHECK(strcmp(p.m.error, "too many fields") == 0);
    return 0;
}

/* A foreign protocol is refused at its first bytes, without waiting for a CRLF. */
RAW(request_foreign_protocol_refused_early)
{
    parsed p;
    size_t scan = 0;
    const char tls[] = "\x16\x03\x01\x02\x00\x01";
    EDDY_CHECK_EQ(eddy__http_parse_request(tls, 3, &scan, &LIM, p.fields, &p.m), -EBADMSG);
    EDDY_CHECK_EQ(p.m.error_status, 400);
    scan = 0;
    EDDY_CHECK_EQ(eddy__http_parse_request("GET", 3, &scan, &LIM, p.fields, &p.m), 0);
    scan = 0;
    EDDY_CHECK_EQ(eddy__http_parse_request(" ", 1, &scan, &LIM, p.fields, &p.m), -EBADMSG);
    return 0;
}

RAW(response_heads)
{
    parsed p;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    EDDY_CHECK_EQ(resp(&p, s, EDDY_HTTP_GET), strlen(s) - 3);
    EDDY_CHECK_EQ(p.m.status, 200);
    EDDY_CHECK(str_is(p.m.reason, "OK"));
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_LENGTH);
    EDDY_CHECK_EQ(p.m.content_length, 3);
    EDDY_CHECK(p.m.keep_alive);
    /* no reason phrase at all; an empty one; one with obs-text */
    EDDY_CHECK(resp(&p, "HTTP/1.1 204\r\n\r\n", EDDY_HTTP_GET) > 0);
    EDDY_CHECK_EQ(p.m.status, 204);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_NONE);
    EDDY_CHECK(resp(&p, "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", EDDY_HTTP_GET) > 0);
    EDDY_CHECK_EQ(p.m.reason.len, 0);
    EDDY_CHECK(resp(&p, "HTTP/1.1 200 Tr\xe8s bien\r\nContent-Length: 0\r\n\r\n", EDDY_HTTP_GET) > 0);
    /* RFC 9112 6.3: HEAD, 1xx, 204, 304 have no body whatever the fields say */
    EDDY_CHECK(resp(&p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", EDDY_HTTP_HEAD) > 0);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_NONE);
    EDDY_CHECK(resp(&p, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", EDDY_HTTP_GET) > 0);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_NONE);
    EDDY_CHECK(resp(&p, "HTTP/1.1 100 Continue\r\n\r\n", EDDY_HTTP_PUT) > 0);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_NONE);
    EDDY_CHECK(resp(&p, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", EDDY_HTTP_GET) > 0);
    EDDY_CHECK(p.m.upgrade);
    EDDY_CHECK(resp(&p, "HTTP/1.1 200 Connection established\r\n\r\n", EDDY_HTTP_CONNECT) > 0);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_TUNNEL);
    EDDY_CHECK(resp(&p, "HTTP/1.1 407 Proxy\r\nContent-Length: 0\r\n\r\n", EDDY_HTTP_CONNECT) > 0);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_LENGTH);
    EDDY_CHECK(resp(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", EDDY_HTTP_GET) > 0);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_CHUNKED);
    /* neither: read until the connection closes, which ends persistence */
    EDDY_CHECK(resp(&p, "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", EDDY_HTTP_GET) > 0);
    EDDY_CHECK_EQ(p.m.body, EDDY__HTTP_BODY_CLOSE);
    EDDY_CHECK(!p.m.keep_alive);
    EDDY_CHECK(resp(&p, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", EDDY_HTTP_GET) > 0);
    EDDY_CHECK(p.m.keep_alive && p.m.version == 10);
    EDDY_CHECK(resp(&p, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", EDDY_HTTP_GET) > 0);
    EDDY_CHECK(!p.m.keep_alive);
    return 0;
}

RAW(response_rejections)
{
    static const struct {
        const char *in;
        ssize_t rc;
        const char *error;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG, "both Content-Length and Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", -EBADMSG, "conflicting Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", -ENOTSUP, "unsupported transfer coding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", -EBADMSG, "chunked more than once"},
        {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG, "Transfer-Encoding in HTTP/1.0"},
        {"HTTP/1.1 600 Weird\r\n\r\n", -EBADMSG, "status code out of range"},
        {"HTTP/1.1 099 Weird\r\n\r\n", -EBADMSG, "status code out of range"},
        {"HTTP/1.1 20 OK\r\n\r\n", -EBADMSG, "malformed status code"},
        {"HTTP/1.1 2000 OK\r\n\r\n", -EBADMSG, "malformed status line"},
        {"HTTP/1.1  200 OK\r\n\r\n", -EBADMSG, "malformed status code"},
        {"HTTP/1.1 200 O\x01K\r\n\r\n", -EBADMSG, "malformed status line"},
        {"HTTP/2 200 OK\r\n\r\n", -EBADMSG, "malformed status line"},
        {"HTTP/2.0 200 OK\r\n\r\n", -ENOTSUP, "unsupported HTTP version"},
        {"\r\nHTTP/1.1 200 OK\r\n\r\n", -EBADMSG, "malformed status line"},
        {"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", -EBADMSG, "obs-fold or whitespace before a field"},
        {"HTTP/1.1 200 OK\r\nX : a\r\n\r\n", -EBADMSG, "whitespace before colon"},
        {"HTTP/1.1 200 OK\nX: a\r\n\r\n", -EBADMSG, "bare LF"},
        {"SSH-2.0-OpenSSH", -EBADMSG, "malformed status line"},
        {NULL, 0, NULL},
    };
    for (int i = 0; cases[i].in; i++) {
        parsed p;
        resp(&p, cases[i].in, EDDY_HTTP_GET);
        if (p.rc != cases[i].rc || p.m.error_status != 502 || strcmp(p.m.error, cases[i].error) != 0) {
            fprintf(stderr, "case %d: %zd %d '%s'\n", i, p.rc, p.m.error_status, p.m.error);
            EDDY_CHECK(!"response rejection");
        }
    }
    return 0;
}

/* ---- chunked ---- */

/* Decode all of in (at most step bytes offered per call); the data goes to out. Returns the
 * decoder's last result (bytes consumed overall, or the error). */
static ssize_t dechunk(const char *in, size_t len, size_t step, char *out, size_t *outlen,
                       eddy__http_chunked *d)
{
    eddy__http_chunked_init(d, 64, 128);
    size_t pos = 0, avail = 0;
    *outlen = 0;
    while (!eddy__http_chunked_done(d)) {
        if (avail < len) avail = avail + step < len ? avail + step : len;
        size_t off, n;
        ssize_t rc = eddy__http_chunked_decode(d, in + pos, avail - pos, SIZE_MAX, &off, &n);
        if (rc < 0) return rc;
        memcpy(out + *outlen, in + pos + off, n);
        *outlen += n;
        pos += (size_t)rc;
        if (rc == 0 && avail == len) break; /* needs bytes that will never come */
    }
    return (ssize_t)pos;
}

RAW(chunked_decoding)
{
    const char *body = "5\r\nhello\r\n1;a=b ; c = \"q\\\"x\";d\r\n,\r\nB \t;e\r\n 0123456789\r\n"
                       "000\r\nTrailer-One: v\r\nT2:\r\n\r\nNEXT";
    size_t len = strlen(body) - 4;
    for (size_t step = 1; step <= len; step = step * 2 + 1) {
        char out[64];
        size_t n;
        eddy__http_chunked d;
        EDDY_CHECK_EQ(dechunk(body, strlen(body), step, out, &n, &d), len);
        EDDY_CHECK(eddy__http_chunked_done(&d));
        EDDY_CHECK_EQ(n, 17);
        EDDY_CHECK(memcmp(out, "hello, 0123456789", 17) == 0);
        EDDY_CHECK_EQ(d.total, 17);
    }
    /* max_data limits what one call takes, in the middle of a chunk */
    eddy__http_chunked d;
    eddy__http_chunked_init(&d, 0, 0);
    size_t off, n;
    EDDY_CHECK_EQ(eddy__http_chunked_decode(&d, "5\r\nhello\r\n", 10, 2, &off, &n), 5);
    EDDY_CHECK_EQ(off, 3);
    EDDY_CHECK_EQ(n, 2);
    EDDY_CHECK_EQ(eddy__http_chunked_decode(&d, "llo\r\n", 5, 0, &off, &n), 0);
    EDDY_CHECK_EQ(eddy__http_chunked_decode(&d, "llo\r\n", 5, 10, &off, &n), 3);
    EDDY_CHECK_EQ(n, 3);
    /* the largest size that fits in 64 bits is a size, not an error */
    eddy__http_chunked_init(&d, 0, 0);
    EDDY_CHECK_EQ(eddy__http_chunked_decode(&d, "ffffffffffffffff\r\nab", 20, SIZE_MAX, &off, &n), 20);
    EDDY_CHECK_EQ(n, 2);
    EDDY_CHECK_EQ(d.left, UINT64_MAX - 2);
    return 0;
}

RAW(chunked_rejections)
{
    static const struct {
        const char *in;
        ssize_t rc;
        const char *error;
    } cases[] = {
        {"\r\n", -EBADMSG, "invalid chunk size"},
        {"g\r\n", -EBADMSG, "invalid chunk size"},
        {"-5\r\n", -EBADMSG, "invalid chunk size"},
        {"0x5\r\n", -EBADMSG, "invalid chunk size"},
        {"5 \r\nhello\r\n0\r\n\r\n", -EBADMSG, "invalid chunk size"},
        {" 5\r\nhello\r\n0\r\n\r\n", -EBADMSG, "invalid chunk size"},
        {"5z\r\n", -EBADMSG, "invalid chunk size"},
        {"10000000000000000\r\n", -EBADMSG, "chunk size overflow"},
        {"5\nhello", -EBADMSG, "invalid chunk size"},
        {"5\rhello", -EBADMSG, "bare CR in chunk size line"},
        {"5\r\nhelloX\r\n", -EBADMSG, "chunk data not followed by CRLF"},
        {"5\r\nhello\rX", -EBADMSG, "chunk data not followed by CRLF"},
        {"5\r\nhello\n0\r\n\r\n", -EBADMSG, "chunk data not followed by CRLF"},
        {"5;\r\n", -EBADMSG, "invalid chunk extension"},
        {"5;=x\r\n", -EBADMSG, "invalid chunk extension"},
        {"5;a=\r\n", -EBADMSG, "invalid chunk extension"},
        {"5;a=\"x\r\n", -EBADMSG, "invalid chunk extension"},
        {"5;a b\r\n", -EBADMSG, "invalid chunk extension"},
        {"5;a=b c\r\n", -EBADMSG, "invalid chunk extension"},
        {"5;a\x01\r\n", -EBADMSG, "invalid chunk extension"},
        {"0\r\n Folded: x\r\n\r\n", -EBADMSG, "obs-fold in trailer"},
        {"0\r\nBad Name: x\r\n\r\n", -EBADMSG, "invalid trailer field name"},
        {"0\r\n:x\r\n\r\n", -EBADMSG, "invalid trailer field name"},
        {"0\r\nX: a\x01\r\n\r\n", -EBADMSG, "invalid character in trailer"},
        {"0\r\nX: a\rb\r\n\r\n", -EBADMSG, "bare CR in trailer"},
        {"0\r\n\rX", -EBADMSG, "bare CR after trailers"},
        {"1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", -EMSGSIZE, "chunk size line too long"},
        {"0\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", -EMSGSIZE, "trailer section too long"},
        {NULL, 0, NULL},
    };
    for (int i = 0; cases[i].in; i++) {
        char out[64];
        size_t n;
        eddy__http_chunked d;
        for (size_t step = 1; step <= 64; step *= 4) {
            ssize_t rc = dechunk(cases[i].in, strlen(cases[i].in), step, out, &n, &d);
            if (rc != cases[i].rc || !d.error || strcmp(d.error, cases[i].error) != 0) {
                fprintf(stderr, "case %d step %zu: %zd '%s'\n", i, step, rc, d.error ? d.error : "(null)");
                EDDY_CHECK(!"chunked rejection");
            }
        }
    }
    return 0;
}

RAW(shared_helpers)
{
    eddy_http_field f[] = {{{"Host", 4}, {"a", 1}}, {{"X-Y", 3}, {"1", 1}}, {{"x-y", 3}, {"2", 1}}};
    const eddy_http_field *x = eddy_http_field_find(f, 3, 0, "X-y");
    EDDY_CHECK(x == &f[1]);
    EDDY_CHECK(eddy_http_field_find(f, 3, 2, "x-Y") == &f[2]);
    EDDY_CHECK(eddy_http_field_find(f, 3, 3, "x-y") == NULL);
    EDDY_CHECK(eddy_http_field_find(f, 3, 0, "Hos") == NULL);
    EDDY_CHECK(eddy_http_field_find(NULL, 3, 0, "Host") == NULL);
    EDDY_CHECK(eddy_http_str_ieq((eddy_http_str){"KeeP", 4}, "keep"));
    EDDY_CHECK(!eddy_http_str_ieq((eddy_http_str){"KeeP", 4}, "keeps"));
    EDDY_CHECK(!eddy_http_str_ieq((eddy_http_str){"KeeP", 4}, "kee"));
    EDDY_CHECK(eddy_http_str_ieq((eddy_http_str){NULL, 0}, ""));
    const char *v = " foo ,, Bar\t, baz";
    EDDY_CHECK(eddy_http_list_has((eddy_http_str){v, strlen(v)}, "bar"));
    EDDY_CHECK(eddy_http_list_has((eddy_http_str){v, strlen(v)}, "BAZ"));
    EDDY_CHECK(!eddy_http_list_has((eddy_http_str){v, strlen(v)}, "ba"));
    EDDY_CHECK(!eddy_http_list_has((eddy_http_str){v, strlen(v)}, ""));
    return 0;
}

