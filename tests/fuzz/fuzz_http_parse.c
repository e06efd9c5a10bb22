/* libFuzzer target for the HTTP/1.1 parser (src/http/parse.c), built by scripts/fuzz.sh with
 * clang -fsanitize=fuzzer,address,undefined together with parse.c alone.
 *
 * Besides "no crash, no sanitizer report", each input is checked against properties the
 * server relies on:
 *   - a parsed head lies inside the input, every string of it too, and names are tokens;
 *   - incremental = whole: feeding the same bytes in pieces (sizes taken from the input),
 *     with the scan state carried over as the server does, gives the same result as one
 *     call, and a rejection never turns into an acceptance when more bytes come;
 *   - the chunked decoder gives the same data and the same end, or the same error, whether
 *     it sees the bytes at once or in pieces with small max_data limits.
 * The input is tried as a request, as a response (to GET and to HEAD) and as a chunked body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"

#define CHECK(c)                                                                      \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "fuzz_http_parse: %s:%d: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

#include <stdio.h>

static const eddy__http_limits LIM = {.max_line = 1024, .max_head = 4096, .max_fields = 32};

static bool inside(eddy_http_str s, const char *buf, size_t len)
{
    return s.len == 0 || (s.ptr >= buf && s.ptr + s.len <= buf + len);
}

static ssize_t parse(int kind, const char *buf, size_t len, size_t *scan, eddy_http_field *f,
                     eddy__http_msg *m)
{
    if (kind == 0) return eddy__http_parse_request(buf, len, scan, &LIM, f, m);
    return eddy__http_parse_response(buf, len, scan, &LIM, f, kind == 1 ? EDDY_HTTP_GET : EDDY_HTTP_HEAD, m);
}

static void check_head(int kind, const char *buf, size_t len, ssize_t rc, const eddy__http_msg *m)
{
    if (rc < 0) {
        CHECK(m->error != NULL && m->error_status >= 400 && m->error_status <= 505);
        return;
    }
    if (rc == 0) return;
    CHECK((size_t)rc <= len && (size_t)rc <= LIM.max_head && m->head_len == (size_t)rc);
    CHECK(buf[rc - 1] == '\n' && buf[rc - 2] == '\r' && buf[rc - 3] == '\n' && buf[rc - 4] == '\r');
    CHECK(m->nfields <= LIM.max_fields);
    CHECK(m->version == 10 || m->version == 11);
    for (size_t i = 0; i < m->nfields; i++) {
        CHECK(inside(m->fields[i].name, buf, (size_t)rc) && inside(m->fields[i].value, buf, (size_t)rc));
        CHECK(m->fields[i].name.len > 0);
        for (size_t k = 0; k < m->fields[i].value.len; k++) {
            unsigned char c = (unsigned char)m->fields[i].value.ptr[k];
            CHECK(c == '\t' || c >= 0x20);
            CHECK(c != 0x7f);
        }
    }
    if (kind == 0) {
        CHECK(m->method.len > 0 && inside(m->method, buf, (size_t)rc));
        CHECK(m->target.len > 0 && inside(m->target, buf, (size_t)rc));
        CHECK(m->body == EDDY__HTTP_BODY_NONE || m->body == EDDY__HTTP_BODY_LENGTH ||
              m->body == EDDY__HTTP_BODY_CHUNKED);
        CHECK(m->version == 10 || m->host.ptr != NULL); /* 1.1 has exactly one Host */
    } else {
        CHECK(m->status >= 100 && m->status <= 599);
        if (kind == 2) CHECK(m->body == EDDY__HTTP_BODY_NONE);
    }
    if (m->body == EDDY__HTTP_BODY_LENGTH) CHECK(m->content_length <= (uint64_t)INT64_MAX);
}

/* Feed buf[0, len) in pieces (their sizes from the input's bytes) and compare with one call. */
static void heads(int kind, const uint8_t *data, size_t len)
{
    const char *buf = (const char *)data;
    eddy_http_field f1[32], f2[32];
    eddy__http_msg m1, m2;
    size_t scan = 0;
    ssize_t whole = parse(kind, buf, len, &scan, f1, &m1);
    check_head(kind, buf, len, whole, &m1);
    size_t have = 0, k = 0;
    scan = 0;
    ssize_t r = 0;
    while (have < len) {
        size_t step = 1 + data[k++ % len] % 17;
        have = have + step < len ? have + step : len;
        r = parse(kind, buf, have, &scan, f2, &m2);
        if (r != 0) break;
    }
    if (whole > 0) {
        /* the same head, found as soon as its last byte came */
        CHECK(r == whole && m2.nfields == m1.nfields && m2.body == m1.body);
        CHECK(have >= (size_t)whole);
        for (size_t i = 0; i < m1.nfields; i++)
            CHECK(m1.fields[i].value.len == m2.fields[i].value.len && m1.fields[i].value.ptr == m2.fields[i].value.ptr);
    } else if (whole < 0) {
        /* refused in pieces too (maybe earlier, never accepted) */
        CHECK(r < 0);
    } else {
        CHECK(r == 0);
    }
    if (r < 0) CHECK(whole < 0); /* an early refusal stands with every byte there */
}

/* The chunked decoder over buf at once, then in pieces with max_data limits: same data. */
static void chunked(const uint8_t *data, size_t len)
{
    const char *buf = (const char *)data;
    uint8_t *a = malloc(len + 1), *b = malloc(len + 1);
    eddy__http_chunked d;
    eddy__http_chunked_init(&d, 64, 256);
    size_t pos = 0, na = 0;
    ssize_t ra = 0;
    while (pos < len && !eddy__http_chunked_done(&d)) {
        size_t off, n;
        ra = eddy__http_chunked_decode(&d, buf + pos, len - pos, SIZE_MAX, &off, &n);
        if (ra < 0) break;
        CHECK((size_t)ra <= len - pos && off + n <= (size_t)ra);
        memcpy(a + na, buf + pos + off, n);
        na += n;
        pos += (size_t)ra;
        if (ra == 0) break;
    }
    bool done_a = eddy__http_chunked_done(&d);
    size_t end_a = pos;
    CHECK(d.total == na);

    eddy__http_chunked_init(&d, 64, 256);
    pos = 0;
    size_t nb = 0, have = 0, k = 0;
    ssize_t rb = 0;
    while (!eddy__http_chunked_done(&d)) {
        if (have < len) {
            size_t step = 1 + data[k++ % len] % 11;
            have = have + step < len ? have + step : len;
        }
        size_t off, n, maxd = 1 + data[(k + 3) % len] % 7;
        rb = eddy__http_chunked_decode(&d, buf + pos, have - pos, maxd, &off, &n);
        if (rb < 0) break;
        CHECK(n <= maxd);
        memcpy(b + nb, buf + pos + off, n);
        nb += n;
        pos += (size_t)rb;
        if (rb == 0 && have == len) break;
    }
    CHECK((ra < 0) == (rb < 0));
    if (ra >= 0) {
        CHECK(eddy__http_chunked_done(&d) == done_a);
        CHECK(nb == na && memcmp(a, b, na) == 0);
        if (done_a) CHECK(pos == end_a);
    }
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    heads(0, data, size);
    heads(1, data, size);
    heads(2, data, size);
    chunked(data, size);
    return 0;
}
