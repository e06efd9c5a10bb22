/* Differential test of the HTTP/1.1 request parser against a second, independent one: Python's
 * h11 (Debian python3-h11), run as a child process (tests/http_h11_oracle.py).
 *
 * Inputs: hand-written requests (valid ones and smuggling attempts), the fuzz seeds, and
 * several thousand deterministic mutations of them (bytes replaced, inserted or dropped with
 * the characters that matter to HTTP framing, field lines duplicated or added from a list of
 * smuggling classics). For each input, both parsers' view of its first request is compared:
 *   - both accept it: the same method, target, header fields (names as sent, values without
 *     surrounding whitespace; Content-Length and Transfer-Encoding are compared through the
 *     body, as h11 rewrites their values) and the same body bytes;
 *   - h11 accepts and eddy waits for more bytes: a framing disagreement, always a failure;
 *   - h11 refuses it: eddy must refuse it too, except for the few refusals of h11 that are
 *     no framing matter and that RFC 9112 lets a server accept (BENIGN below).
 * eddy refusing what h11 accepts is fine (eddy is stricter: obs-fold, control characters,
 * odd chunk sizes); the test prints how often that happens, by eddy's reason. */
#include <sys/stat.h>

#include "http/parse.h"
#include "http_proc_util.h"

#define MAXIN 4096

typedef struct input {
    size_t len;
    char data[MAXIN];
} input;

static input *inputs;
static size_t ninputs, cap_inputs;

static void add(const char *data, size_t len)
{
    if (len == 0 || len > MAXIN) return;
    if (ninputs == cap_inputs) {
        cap_inputs = cap_inputs ? cap_inputs * 2 : 1024;
        inputs = realloc(inputs, cap_inputs * sizeof *inputs);
        EDDY_CHECK(inputs != NULL);
    }
    inputs[ninputs].len = len;
    memcpy(inputs[ninputs].data, data, len);
    ninputs++;
}

#define ADD(lit) add(lit, sizeof(lit) - 1)

static const char *const BASES[] = {
    "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "GET /a/b?x=1 HTTP/1.1\r\nHost: h:8\r\nUser-Agent: t/1\r\nAccept: */*\r\nX-E:\r\n\r\n",
    "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    "PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nxyz",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "DELETE /r HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    "GET http://example.com/p HTTP/1.1\r\nHost: example.com\r\n\r\n",
};

static const char *const SMUGGLE[] = {
    "Content-Length: 5\r\n", "Content-Length: 0\r\n", "Content-Length: 6\r\n",
    "Content-Length: 5, 5\r\n", "Content-Length: 5,6\r\n", "Content-Length : 5\r\n",
    "Content-Length:\t5\r\n", "Content-Length: +5\r\n", "Content-Length: 05\r\n",
    "Transfer-Encoding: chunked\r\n", "Transfer-Encoding: Chunked\r\n",
    "Transfer-Encoding: gzip\r\n", "Transfer-Encoding: chunked, chunked\r\n",
    "Transfer-Encoding: gzip, chunked\r\n", "Transfer-Encoding: chunked , identity\r\n",
    "Transfer-Encoding:\tchunked\r\n", "Transfer-Encoding : chunked\r\n", "Transfer-Encoding: \r\n",
    "Transfer-Encoding: xchunked\r\n", " Transfer-Encoding: chunked\r\n", "X: a\r\n b\r\n",
    "Host: b\r\n", "Host: \r\n", "X-Y: z\r\n", "\r\n", "Connection: close\r\n",
};

static const char INTERESTING[] = " \t\r\n:,;0159aAfF\x00\x7f\x80\"=x-/";

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33) % n;
}

static void mutate(const char *base, size_t len)
{
    char buf[MAXIN];
    memcpy(buf, base, len);
    int k = 1 + (int)rnd(3);
    for (int i = 0; i < k && len > 2 && len < MAXIN - 64; i++) {
        size_t at = rnd((uint32_t)len);
        switch (rnd(6)) {
        case 0: buf[at] = INTERESTING[rnd(sizeof INTERESTING - 1)]; break;
        case 1:
            memmove(buf + at + 1, buf + at, len - at);
            buf[at] = INTERESTING[rnd(sizeof INTERESTING - 1)];
            len++;
            break;
        case 2:
            memmove(buf + at, buf + at + 1, len - at - 1);
            len--;
            break;
        case 3: { /* a smuggling field line after the request line */
            const char *s = SMUGGLE[rnd(sizeof SMUGGLE / sizeof SMUGGLE[0])];
            char *eol = memchr(buf, '\n', len);
            size_t pos = eol ? (size_t)(eol - buf) + 1 : 0, sl = strlen(s);
            memmove(buf + pos + sl, buf + pos, len - pos);
            memcpy(buf + pos, s, sl);
            len += sl;
            break;
        }
        case 4: { /* duplicate a line */
            char *ls = memchr(buf, '\n', len);
            if (!ls) break;
            size_t s = (size_t)(ls - buf) + 1;
            char *le = memchr(buf + s, '\n', len - s);
            if (!le) break;
            size_t e = (size_t)(le - buf) + 1;
            if (len + (e - s) >= MAXIN) break;
            memmove(buf + e + (e - s), buf + e, len - e);
            memcpy(buf + e, buf + s, e - s);
            len += e - s;
            break;
        }
        default:
            if (buf[at] >= 'a' && buf[at] <= 'z') buf[at] = (char)(buf[at] - 32);
            else if (buf[at] >= 'A' && buf[at] <= 'Z') buf[at] = (char)(buf[at] + 32);
            break;
        }
    }
    add(buf, len);
}

static void gather(void)
{
    /* hand-written smuggling vectors */
    ADD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    ADD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n");
    ADD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
    ADD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n");
    ADD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  chunked\r\n\r\n0\r\n\r\n");
    ADD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n");
    ADD("POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    ADD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n");
    ADD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n");
    ADD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n");
    ADD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n");
    ADD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n");
    ADD("GET / HTTP/1.1\nHost: a\n\n");
    ADD("GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n");
    ADD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    ADD("GET / HTTP/1.1\r\n\r\n");
    ADD("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    ADD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n");
    for (size_t i = 0; i < sizeof BASES / sizeof BASES[0]; i++) add(BASES[i], strlen(BASES[i]));
    /* the fuzz seeds that are requests */
    const char *dir = EDDY_SOURCE_DIR "/tests/fuzz/corpus/http_parse";
    char out[16384];
    EDDY_CHECK_EQ(sh(out, sizeof out, "ls %s", dir), 0);
    for (char *name = strtok(out, "\n"); name; name = strtok(NULL, "\n")) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "rb");
        char b[MAXIN];
        size_t n = fread(b, 1, sizeof b, f);
        fclose(f);
        add(b, n);
    }
    for (int i = 0; i < 6000; i++) {
        const char *b = BASES[rnd(sizeof BASES / sizeof BASES[0])];
        mutate(b, strlen(b));
    }
}

/* ---- eddy's view of an input ---- */

typedef struct view {
    int kind; /* 0 ok, 1 refused, 2 incomplete */
    const char *error;
    eddy__http_msg m;
    eddy_http_field f[64];
    char body[MAXIN];
    size_t body_len;
} view;

static void eddy_view(const input *in, view *v)
{
    static const eddy__http_limits lim = {.max_line = 65536, .max_head = 65536, .max_fields = 64};
    size_t scan = 0;
    ssize_t h = eddy__http_parse_request(in->data, in->len, &scan, &lim, v->f, &v->m);
    v->body_len = 0;
    v->error = NULL;
    if (h < 0) {
        v->kind = 1;
        v->error = v->m.error;
        return;
    }
    if (h == 0) {
        v->kind = 2;
        return;
    }
    const char *p = in->data + h;
    size_t left = in->len - (size_t)h;
    v->kind = 0;
    if (v->m.body == EDDY__HTTP_BODY_LENGTH) {
        if (v->m.content_length > left) {
            v->kind = 2;
            return;
        }
        memcpy(v->body, p, (size_t)v->m.content_length);
        v->body_len = (size_t)v->m.content_length;
    } else if (v->m.body == EDDY__HTTP_BODY_CHUNKED) {
        eddy__http_chunked d;
        eddy__http_chunked_init(&d, 0, 0);
        while (!eddy__http_chunked_done(&d)) {
            size_t off, n;
            ssize_t r = eddy__http_chunked_decode(&d, p, left, SIZE_MAX, &off, &n);
            if (r < 0) {
                v->kind = 1;
                v->error = d.error;
                return;
            }
            memcpy(v->body + v->body_len, p + off, n);
            v->body_len += n;
            p += r;
            left -= (size_t)r;
            if (r == 0) break;
        }
        if (!eddy__http_chunked_done(&d)) v->kind = 2;
    }
}

/* ---- comparison ---- */

/* h11 refusals eddy may answer differently: not about where a message ends, and allowed by
 * RFC 9112 (section 2.2: a server SHOULD ignore empty lines before the request line). */
static const char *const BENIGN[] = {"no request line received"};

static size_t unhex(const char *h, char *out)
{
    if (!strcmp(h, "-")) return 0;
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    return n;
}

static bool same(eddy_http_str s, const char *b, size_t n) { return s.len == n && memcmp(s.ptr, b, n) == 0; }

static bool framing_field(eddy_http_str name)
{
    return eddy_http_str_ieq(name, "content-length") || eddy_http_str_ieq(name, "transfer-encoding");
}

/* Compare one h11 line with eddy's view; false on a disagreement (printed). */
static bool compare(size_t idx, char *line, const view *v, int *stricter)
{
    const input *in = &inputs[idx];
    if (!strncmp(line, "incomplete", 10)) {
        if (v->kind == 0) {
            /* h11 wants more where eddy saw a whole request: only a refusal-free framing
             * difference would do that; none is allowed */
            fprintf(stderr, "input %zu: h11 incomplete, eddy complete\n", idx);
            return false;
        }
        return true;
    }
    if (!strncmp(line, "error ", 6)) {
        if (v->kind == 1) return true;
        for (size_t i = 0; i < sizeof BENIGN / sizeof BENIGN[0]; i++)
            if (strstr(line + 6, BENIGN[i])) return true;
        if (v->kind == 2) return true; /* eddy waits for more: it has not accepted anything */
        fprintf(stderr, "input %zu: h11 refused (%s), eddy accepted: %.*s\n", idx, line + 6, (int)in->len, in->data);
        return false;
    }
    /* h11 accepted */
    if (v->kind == 1) {
        (*stricter)++;
        return true;
    }
    if (v->kind == 2) {
        fprintf(stderr, "input %zu: h11 accepted, eddy incomplete: %.*s\n", idx, (int)in->len, in->data);
        return false;
    }
    char *tok[200];
    int nt = 0;
    for (char *t = strtok(line, " \n"); t && nt < 200; t = strtok(NULL, " \n")) tok[nt++] = t;
    EDDY_CHECK(nt >= 5);
    static char a[MAXIN], b[MAXIN];
    size_t n = unhex(tok[1], a);
    bool ok = same(v->m.method, a, n);
    n = unhex(tok[2], a);
    ok = ok && same(v->m.target, a, n);
    n = unhex(tok[3], a);
    ok = ok && n == v->body_len && memcmp(a, v->body, n) == 0;
    /* fields, framing ones aside */
    int hn = atoi(tok[4]);
    size_t ei = 0;
    for (int i = 0; ok && i < hn; i++) {
        size_t nl = unhex(tok[5 + 2 * i], a), vl = unhex(tok[6 + 2 * i], b);
        if (framing_field((eddy_http_str){a, nl})) continue;
        while (ei < v->m.nfields && framing_field(v->f[ei].name)) ei++;
        ok = ei < v->m.nfields && same(v->f[ei].name, a, nl) && same(v->f[ei].value, b, vl);
        ei++;
    }
    while (ok && ei < v->m.nfields && framing_field(v->f[ei].name)) ei++;
    ok = ok && ei == v->m.nfields;
    if (!ok) fprintf(stderr, "input %zu: both accepted, different requests: %.*s\n", idx, (int)in->len, in->data);
    return ok;
}

EDDY_TEST_EX(http_parser_agrees_with_h11, .raw = true, .timeout = EDDY_SEC(120))
{
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char out[64];
    EDDY_CHECK_EQ(sh(out, sizeof out, "%s -c 'import h11; print(h11.__version__)'", py), 0);
    gather();
    char dir[] = "/tmp/eddy-h11-XXXXXX";
    EDDY_CHECK(mkdtemp(dir) != NULL);
    char inpath[64], outpath[64];
    snprintf(inpath, sizeof inpath, "%s/in", dir);
    snprintf(outpath, sizeof outpath, "%s/out", dir);
    FILE *f = fopen(inpath, "wb");
    for (size_t i = 0; i < ninputs; i++) {
        uint32_t n = htonl((uint32_t)inputs[i].len);
        fwrite(&n, 4, 1, f);
        fwrite(inputs[i].data, 1, inputs[i].len, f);
    }
    fclose(f);
    EDDY_CHECK_EQ(sh(NULL, 0, "%s " EDDY_SOURCE_DIR "/tests/http_h11_oracle.py %s %s", py, inpath, outpath), 0);
    FILE *r = fopen(outpath, "r");
    EDDY_CHECK(r != NULL);
    static char line[1 << 17];
    static view v;
    size_t i = 0;
    int bad = 0, both = 0, refused_both = 0, stricter = 0;
    while (fgets(line, sizeof line, r)) {
        EDDY_CHECK(i < ninputs);
        eddy_view(&inputs[i], &v);
        if (!strncmp(line, "ok ", 3) && v.kind == 0) both++;
        if (!strncmp(line, "error ", 6) && v.kind == 1) refused_both++;
        if (!compare(i, line, &v, &stricter)) bad++;
        i++;
    }
    fclose(r);
    EDDY_CHECK_EQ(i, ninputs);
    fprintf(stderr, "h11 differential: %zu inputs: %d accepted by both and equal, %d refused by both, "
                    "%d refused by eddy only (stricter), %d disagreements\n",
            ninputs, both, refused_both, stricter, bad);
    EDDY_CHECK_EQ(bad, 0);
    EDDY_CHECK(both > 500 && refused_both > 500); /* the corpus exercises both sides */
    EDDY_CHECK_EQ(sh(NULL, 0, "rm -rf %s", dir), 0);
    free(inputs);
    return 0;
}
