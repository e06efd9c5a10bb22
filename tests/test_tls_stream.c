/* N10: TLS streams in use, over memory pairs (virtual clock): STARTTLS, close_notify and
 * truncation, close's deadline, abort, cancelled and resumed handshakes, peers that cut the
 * handshake or send garbage, a corrupted record, concurrent readers and writers through key
 * updates, records on the wire, the accessors' edge cases, callback context. */
#include <unistd.h>

#include "eddy/test.h"
#ifdef EDDY_TEST_OPENSSL
#include "tls_util.h"

static eddy_tls_ctx *cc_, *sc_;

static void ctxs(void)
{
    cc_ = tls_client_ctx();
    sc_ = tls_server_ctx_for("server");
}

static void ctxs_close(void)
{
    eddy_tls_ctx_close(cc_);
    eddy_tls_ctx_close(sc_);
}

/* Read exactly n bytes (or fail the test). */
static void read_exact(eddy_stream *s, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = eddy_stream_read(s, (char *)buf + got, n - got);
        if (k <= 0) eddy_test_fail(__FILE__, __LINE__, "read: %zd after %zu of %zu", k, got, n);
        got += (size_t)k;
    }
}

static void expect(eddy_stream *s, const char *text)
{
    char buf[256];
    size_t n = strlen(text);
    read_exact(s, buf, n);
    EDDY_CHECK(memcmp(buf, text, n) == 0);
}

/* ---- STARTTLS ----------------------------------------------------------------------------- */

typedef struct starttls_srv {
    eddy_stream *raw;
    bool borrow;
    int rc;
} starttls_srv;

/* A server that speaks plaintext until STARTTLS, then TLS (and, borrowing, plaintext again
 * after both close_notify alerts). */
static int starttls_server(void *arg)
{
    starttls_srv *j = arg;
    expect(j->raw, "EHLO test\r\n");
    EDDY_OK(eddy_stream_write_all(j->raw, "250 STARTTLS\r\n", 14));
    expect(j->raw, "STARTTLS\r\n");
    EDDY_OK(eddy_stream_write_all(j->raw, "220 go ahead\r\n", 14));
    eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
    o.borrow = j->borrow;
    eddy_stream *tls;
    EDDY_OK(eddy_tls_server(j->raw, sc_, &o, &tls));
    expect(tls, "secret\r\n");
    EDDY_OK(eddy_stream_write_all(tls, "250 ok\r\n", 8));
    char b[4];
    EDDY_CHECK_EQ(eddy_stream_read(tls, b, sizeof b), 0); /* the client's close_notify */
    EDDY_OK(eddy_stream_close(tls));                      /* ours */
    if (j->borrow) {
        /* Plaintext again on the same connection. */
        expect(j->raw, "QUIT\r\n");
        EDDY_OK(eddy_stream_write_all(j->raw, "221 bye\r\n", 9));
        EDDY_OK(eddy_stream_close(j->raw));
    }
    j->rc = 0;
    return 0;
}

static void starttls(bool borrow)
{
    ctxs();
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    starttls_srv sv = {.raw = b, .borrow = borrow, .rc = -1};
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, starttls_server, &sv));
        EDDY_OK(eddy_stream_write_all(a, "EHLO test\r\n", 11));
        expect(a, "250 STARTTLS\r\n");
        EDDY_OK(eddy_stream_write_all(a, "STARTTLS\r\n", 10));
        expect(a, "220 go ahead\r\n");
        eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
        o.borrow = borrow;
        eddy_stream *tls;
        EDDY_OK(eddy_tls_client(a, cc_, "localhost", &o, &tls));
        EDDY_OK(eddy_stream_write_all(tls, "secret\r\n", 8));
        expect(tls, "250 ok\r\n");
        /* Our close_notify, then the server's, before any plaintext. */
        EDDY_OK(eddy_stream_shutdown_write(tls));
        char c[4];
        EDDY_CHECK_EQ(eddy_stream_read(tls, c, sizeof c), 0);
        EDDY_OK(eddy_stream_close(tls)); /* closes a too, unless borrowed */
        if (borrow) {
            EDDY_OK(eddy_stream_write_all(a, "QUIT\r\n", 6));
            expect(a, "221 bye\r\n");
            EDDY_CHECK_EQ(eddy_stream_read(a, c, sizeof c), 0);
            EDDY_OK(eddy_stream_close(a));
        }
    }
    EDDY_OK(nrc);
    EDDY_OK(sv.rc);
    ctxs_close();
}

EDDY_TEST(tls_starttls_upgrade) { starttls(false); return 0; }
EDDY_TEST(tls_starttls_and_back_to_plaintext) { starttls(true); return 0; }

/* ---- the end of a TLS stream --------------------------------------------------------------- */

EDDY_TEST(tls_close_notify_abort_truncation)
{
    ctxs();
    eddy_stream *c, *s;
    char b[8];
    /* close: close_notify, read as the end of the stream. */
    EDDY_OK(tls_mem_pair(NULL, cc_, sc_, &c, &s));
    EDDY_OK(eddy_stream_write_all(c, "bye", 3));
    EDDY_OK(eddy_stream_close(c));
    expect(s, "bye");
    EDDY_CHECK_EQ(eddy_stream_read(s, b, sizeof b), 0);
    EDDY_CHECK_EQ(eddy_stream_read(s, b, sizeof b), 0);
    EDDY_CHECK(eddy_tls_error_detail(s) == NULL);
    /* A closed peer: writes fail, never SIGPIPE. */
    EDDY_CHECK_EQ(eddy_stream_write_all(s, "x", 1), -EPIPE);
    EDDY_OK(eddy_stream_close(s));

    /* abort: no close_notify, the transport reset. */
    EDDY_OK(tls_mem_pair(NULL, cc_, sc_, &c, &s));
    eddy_stream_abort(c);
    EDDY_CHECK_EQ(eddy_stream_read(s, b, sizeof b), -ECONNRESET);
    EDDY_OK(eddy_stream_close(s));

    /* The transport ends cleanly but without close_notify: truncation, read as a reset
     * unless the reader allows it. */
    for (int allow = 0; allow < 2; allow++) {
        eddy_stream *ia, *ib;
        EDDY_OK(eddy_memstream_pair(&ia, &ib, NULL));
        eddy_tls_opts co = EDDY_TLS_OPTS_INIT, so = EDDY_TLS_OPTS_INIT;
        co.borrow = true;
        co.close_timeout = 0; /* send nothing more at close */
        so.allow_truncation = allow;
        EDDY_OK(tls_handshake_pair(ia, ib, cc_, "localhost", &co, sc_, &so, &c, &s, NULL, NULL));
        EDDY_OK(eddy_stream_write_all(c, "partial", 7));
        EDDY_OK(eddy_stream_close(c));  /* no close_notify; ia stays open */
        EDDY_OK(eddy_stream_close(ia)); /* a clean end of the transport */
        expect(s, "partial");
        EDDY_CHECK_EQ(eddy_stream_read(s, b, sizeof b), allow ? 0 : -ECONNRESET);
        EDDY_CHECK_EQ(eddy_stream_read(s, b, sizeof b), allow ? 0 : -ECONNRESET);
        EDDY_CHECK(strcmp(eddy_tls_error_detail(s), "the connection ended without close_notify") == 0);
        EDDY_OK(eddy_stream_close(s));
    }
    ctxs_close();
    return 0;
}

typedef struct wjob {
    eddy_stream *s;
    size_t n;
    size_t written;
    int rc;
    bool done;
} wjob;

static int writer(void *arg)
{
    wjob *j = arg;
    static char junk[1 << 16];
    size_t left = j->n;
    j->rc = 0;
    while (left && j->rc == 0) {
        size_t w = 0, k = left < sizeof junk ? left : sizeof junk;
        j->rc = eddy_stream_write(j->s, junk, k, &w);
        j->written += w;
        left -= w;
    }
    j->done = true;
    return 0;
}

static int cancelled_closer(void *arg)
{
    int rc = -1;
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        rc = eddy_stream_close(arg);
    }
    return rc;
}

static void drain_count(eddy_stream *s, size_t *got, ssize_t *last)
{
    char buf[4096];
    ssize_t k;
    *got = 0;
    while ((k = eddy_stream_read(s, buf, sizeof buf)) > 0) *got += (size_t)k;
    *last = k;
}

EDDY_TEST(tls_close_waits_at_most_close_timeout)
{
    ctxs();
    eddy_stream *c, *s, *ia, *ib;
    EDDY_OK(eddy_memstream_pair(&ia, &ib, &(eddy_memstream_hooks){.capacity = 4096}));
    eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
    o.close_timeout = EDDY_SEC(2);
    EDDY_OK(tls_handshake_pair(ia, ib, cc_, "localhost", &o, sc_, NULL, &c, &s, NULL, NULL));
    /* A writer stuck on a peer that does not read. */
    wjob w = {.s = c, .n = 1 << 20};
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, writer, &w));
        EDDY_CHECK(w.written < w.n);
        int64_t t0 = eddy_now();
        EDDY_OK(eddy_stream_close(c)); /* the record cut by the close cannot go out */
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(2));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(w.rc, -EBADF);
    size_t got;
    ssize_t last;
    drain_count(s, &got, &last);
    EDDY_CHECK(got < w.written);          /* what did not get out is lost ... */
    EDDY_CHECK_EQ(last, -ECONNRESET);     /* ... and the peer knows it */
    EDDY_OK(eddy_stream_close(s));

    /* The same writer, with the peer reading while the close waits: everything the writer
     * reported arrives, then the end of the stream. Close is shielded: a caller whose scope
     * is cancelled still sends close_notify. */
    EDDY_OK(eddy_memstream_pair(&ia, &ib, &(eddy_memstream_hooks){.capacity = 4096}));
    EDDY_OK(tls_handshake_pair(ia, ib, cc_, "localhost", &o, sc_, NULL, &c, &s, NULL, NULL));
    w = (wjob){.s = c, .n = 1 << 20};
    eddy_task *hc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, writer, &w));
        EDDY_OK(eddy_spawn(n, cancelled_closer, c, .handle = &hc));
        for (int i = 0; i < 100 && !w.done; i++) EDDY_OK(eddy_yield());
        EDDY_CHECK(w.done); /* the close woke the writer first */
        drain_count(s, &got, &last);
        int st;
        EDDY_OK(eddy_task_join(hc, &st));
        EDDY_OK(st);
    }
    EDDY_OK(nrc);
    EDDY_CHECK(eddy_now() - t0 < EDDY_SEC(2));
    EDDY_CHECK_EQ(w.rc, -EBADF);
    EDDY_CHECK_EQ(got, w.written);
    EDDY_CHECK_EQ(last, 0);
    EDDY_OK(eddy_stream_close(s));

    /* EDDY_FOREVER: no limit of its own, no shield: the caller's scope bounds the close. */
    EDDY_OK(eddy_memstream_pair(&ia, &ib, &(eddy_memstream_hooks){.capacity = 4096}));
    o.close_timeout = EDDY_FOREVER;
    EDDY_OK(tls_handshake_pair(ia, ib, cc_, "localhost", &o, sc_, NULL, &c, &s, NULL, NULL));
    w = (wjob){.s = c, .n = 1 << 20};
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, writer, &w));
        t0 = eddy_now();
        EDDY_FAIL_AFTER(EDDY_SEC(5)) { EDDY_OK(eddy_stream_close(c)); }
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5));
    }
    EDDY_OK(nrc);
    drain_count(s, &got, &last);
    EDDY_CHECK_EQ(last, -ECONNRESET);
    EDDY_OK(eddy_stream_close(s));

    /* close_timeout 0: nothing more is sent; bytes left unsent abort the transport at once. */
    EDDY_OK(eddy_memstream_pair(&ia, &ib, &(eddy_memstream_hooks){.capacity = 4096}));
    o.close_timeout = 0;
    EDDY_OK(tls_handshake_pair(ia, ib, cc_, "localhost", &o, sc_, NULL, &c, &s, NULL, NULL));
    w = (wjob){.s = c, .n = 1 << 20};
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, writer, &w));
        t0 = eddy_now();
        EDDY_OK(eddy_stream_close(c));
        EDDY_CHECK_EQ(eddy_now(), t0);
    }
    EDDY_OK(nrc);
    drain_count(s, &got, &last);
    EDDY_CHECK_EQ(last, -ECONNRESET);
    EDDY_OK(eddy_stream_close(s));
    ctxs_close();
    return 0;
}

EDDY_TEST(tls_abort_never_blocks)
{
    ctxs();
    eddy_stream *c, *s, *ia, *ib;
    EDDY_OK(eddy_memstream_pair(&ia, &ib, &(eddy_memstream_hooks){.capacity = 4096}));
    EDDY_OK(tls_handshake_pair(ia, ib, cc_, "localhost", NULL, sc_, NULL, &c, &s, NULL, NULL));
    wjob w = {.s = c, .n = 1 << 20};
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, writer, &w));
        int64_t t0 = eddy_now();
        eddy_stream_abort(c);
        EDDY_CHECK_EQ(eddy_now(), t0);
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(w.rc, -EBADF);
    size_t got;
    ssize_t last;
    drain_count(s, &got, &last);
    EDDY_CHECK_EQ(last, -ECONNRESET);
    eddy_stream_abort(s);
    ctxs_close();
    return 0;
}

static void close_cb(void *arg)
{
    int *rc = arg;
    *rc = eddy_stream_close(*(eddy_stream **)(rc + 2));
}

EDDY_TEST(tls_close_from_callback_cannot_send_close_notify)
{
    ctxs();
    eddy_stream *c, *s;
    EDDY_OK(tls_mem_pair(NULL, cc_, sc_, &c, &s));
    EDDY_OK(eddy_stream_write_all(c, "data", 4));
    /* From callback context nothing may block: the inner stream is closed as it is. */
    struct {
        int rc, pad;
        eddy_stream *s;
    } job = {.rc = 1, .s = c};
    EDDY_OK(eddy_call_soon(close_cb, &job));
    while (job.rc == 1) EDDY_OK(eddy_yield());
    EDDY_OK(job.rc);
    expect(s, "data");
    char b[4];
    EDDY_CHECK_EQ(eddy_stream_read(s, b, sizeof b), -ECONNRESET);
    EDDY_OK(eddy_stream_close(s));
    ctxs_close();
    return 0;
}

/* ---- cancelled handshakes ----------------------------------------------------------------- */

typedef struct cli_job {
    eddy_stream *inner;
    eddy_stream *out;
    int64_t limit; /* move on after this long (0: no scope) */
    int rc;
} cli_job;

static int client_task(void *arg)
{
    cli_job *j = arg;
    j->rc = 1;
    if (j->limit) {
        EDDY_MOVE_ON_AFTER(j->limit) { j->rc = eddy_tls_client(j->inner, cc_, "localhost", NULL, &j->out); }
        if (j->rc == 1) j->rc = -ECANCELED;
    } else {
        j->rc = eddy_tls_client(j->inner, cc_, "localhost", NULL, &j->out);
    }
    return 0;
}

/* A client's first flight, as a raw peer receives it: one handshake record. */
static size_t client_hello(unsigned char *buf, size_t cap)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    cli_job j = {.inner = a, .limit = EDDY_SEC(1)};
    size_t n = 0;
    int nrc = 0;
    EDDY_NURSERY(nu, &nrc) {
        EDDY_OK(eddy_spawn(nu, client_task, &j));
        read_exact(b, buf, 5);
        EDDY_CHECK_EQ(buf[0], 22); /* handshake */
        n = 5 + ((size_t)buf[3] << 8 | buf[4]);
        EDDY_CHECK(n <= cap);
        read_exact(b, buf + 5, n - 5);
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(j.rc, -ECANCELED);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return n;
}

EDDY_TEST(tls_handshake_cancelled)
{
    ctxs();
    eddy_stream *a, *b, *out = (eddy_stream *)1;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    /* A server that never answers: the handshake obeys the enclosing scope. */
    int64_t t0 = eddy_now();
    int rc = 1;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(3)) { rc = eddy_tls_client(a, cc_, "localhost", NULL, &out); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(3));
    EDDY_CHECK(out == NULL);
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { rc = eddy_tls_client(a, cc_, "localhost", NULL, &out); }
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    /* Already cancelled: not even the ClientHello goes. */
    char hello[4096];
    size_t pending = eddy_memstream_pending(b);
    EDDY_MOVE_ON_AFTER(0) { rc = eddy_tls_client(a, cc_, "localhost", NULL, &out); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_memstream_pending(b), pending);
    /* The inner stream is still the caller's, and still works (it carried two hellos). */
    ssize_t k = eddy_stream_read(b, hello, sizeof hello);
    EDDY_CHECK(k > 0 && hello[0] == 22);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    /* A server waiting for a ClientHello that never comes. */
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { rc = eddy_tls_server(b, sc_, NULL, &out); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    ctxs_close();
    return 0;
}

typedef struct late_srv {
    eddy_stream *inner, *out;
    int rc;
} late_srv;

static int late_server(void *arg)
{
    late_srv *j = arg;
    EDDY_OK(eddy_sleep(EDDY_SEC(2)));
    j->rc = eddy_tls_server(j->inner, sc_, NULL, &j->out);
    return 0;
}

EDDY_TEST(tls_deferred_handshake_cancelled_then_resumed)
{
    ctxs();
    eddy_stream *a, *b, *c;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    late_srv sv = {.inner = b};
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, late_server, &sv));
        eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
        o.defer_handshake = true;
        EDDY_OK(eddy_tls_client(a, cc_, "localhost", &o, &c));
        EDDY_CHECK(eddy_tls_version(c) == NULL); /* nothing negotiated yet */
        int rc = 1;
        EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { rc = eddy_tls_handshake(c); }
        EDDY_CHECK_EQ(rc, -ECANCELED);
        EDDY_OK(eddy_tls_handshake(c)); /* goes on where it stopped */
        EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(2));
        EDDY_CHECK(strcmp(eddy_tls_version(c), "TLSv1.3") == 0);
    }
    EDDY_OK(nrc);
    EDDY_OK(sv.rc);
    EDDY_OK(eddy_stream_write_all(c, "go", 2));
    expect(sv.out, "go");
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(sv.out));
    /* A deferred handshake also runs in the first read or write. */
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    sv = (late_srv){.inner = b};
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, late_server, &sv));
        eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
        o.defer_handshake = true;
        EDDY_OK(eddy_tls_client(a, cc_, "localhost", &o, &c));
        EDDY_OK(eddy_stream_write_all(c, "implicit", 8));
    }
    EDDY_OK(nrc);
    expect(sv.out, "implicit");
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(sv.out));
    ctxs_close();
    return 0;
}

/* ---- peers that cut the handshake short or do not speak TLS ------------------------------- */

EDDY_TEST(tls_truncated_handshake)
{
    ctxs();
    unsigned char hello[4096];
    size_t n = client_hello(hello, sizeof hello);
    eddy_stream *a, *b, *out;
    int nrc = 0;
    /* Server side: half a ClientHello, then the end. */
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_OK(eddy_stream_write_all(a, hello, n / 2));
    EDDY_OK(eddy_stream_close(a));
    EDDY_CHECK_EQ(eddy_tls_server(b, sc_, NULL, &out), EDDY_ETLS_TRUNCATED);
    EDDY_OK(eddy_stream_close(b));
    /* Server side: the whole ClientHello, then the end. */
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_OK(eddy_stream_write_all(a, hello, n));
    EDDY_OK(eddy_stream_shutdown_write(a));
    EDDY_CHECK_EQ(eddy_tls_server(b, sc_, NULL, &out), EDDY_ETLS_TRUNCATED);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    /* Client side: the server reads the ClientHello and hangs up (or resets). */
    for (int reset = 0; reset < 2; reset++) {
        EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
        cli_job j = {.inner = a};
        EDDY_NURSERY(nu, &nrc) {
            EDDY_OK(eddy_spawn(nu, client_task, &j));
            unsigned char buf[4096];
            EDDY_CHECK(eddy_stream_read(b, buf, sizeof buf) > 0);
            if (reset)
                eddy_stream_abort(b);
            else
                EDDY_OK(eddy_stream_close(b));
        }
        EDDY_OK(nrc);
        EDDY_CHECK_EQ(j.rc, reset ? -ECONNRESET : EDDY_ETLS_TRUNCATED);
        EDDY_OK(eddy_stream_close(a));
    }
    ctxs_close();
    return 0;
}

EDDY_TEST(tls_garbage_instead_of_tls)
{
    ctxs();
    static const struct {
        const char *bytes;
        size_t len;
    } junk[] = {
        {"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 35},
        {"\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab", 16},
        /* a handshake record holding a ClientHello one byte long */
        {"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", 10},
        /* a record far longer than TLS allows */
        {"\x16\x03\x01\xff\xff", 5},
    };
    eddy_stream *a, *b, *out;
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
        EDDY_OK(eddy_stream_write_all(a, junk[i].bytes, junk[i].len));
        EDDY_CHECK_EQ(eddy_tls_server(b, sc_, NULL, &out), EDDY_ETLS_PROTOCOL);
        EDDY_OK(eddy_stream_close(a));
        EDDY_OK(eddy_stream_close(b));
    }
    /* What it was, in words (a deferred handshake keeps the stream to ask). */
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_OK(eddy_stream_write_all(a, junk[0].bytes, junk[0].len));
    eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
    o.defer_handshake = true;
    EDDY_OK(eddy_tls_server(b, sc_, &o, &out));
    EDDY_CHECK_EQ(eddy_tls_handshake(out), EDDY_ETLS_PROTOCOL);
    EDDY_CHECK(strcmp(eddy_tls_error_detail(out), "http request") == 0);
    EDDY_OK(eddy_stream_close(out));
    EDDY_OK(eddy_stream_close(a));
    /* A client answered in plaintext. */
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    cli_job j = {.inner = a};
    int nrc = 0;
    EDDY_NURSERY(nu, &nrc) {
        EDDY_OK(eddy_spawn(nu, client_task, &j));
        unsigned char buf[4096];
        EDDY_CHECK(eddy_stream_read(b, buf, sizeof buf) > 0);
        EDDY_OK(eddy_stream_write_all(b, "HTTP/1.1 400 Bad Request\r\n\r\n", 28));
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(j.rc, EDDY_ETLS_PROTOCOL);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    ctxs_close();
    return 0;
}

EDDY_TEST(tls_corrupt_record_kills_the_stream)
{
    ctxs();
    eddy_stream *ia, *ib, *c, *s;
    EDDY_OK(eddy_memstream_pair(&ia, &ib, NULL));
    eddy_tls_opts co = EDDY_TLS_OPTS_INIT;
    co.borrow = true; /* so the test can write under it */
    EDDY_OK(tls_handshake_pair(ia, ib, cc_, "localhost", &co, sc_, NULL, &c, &s, NULL, NULL));
    EDDY_OK(eddy_stream_write_all(c, "fine", 4));
    expect(s, "fine");
    /* An application-data record that does not authenticate. */
    static const unsigned char bad[] = {0x17, 0x03, 0x03, 0x00, 0x15, 'n', 'o', 't', ' ', 'a', ' ',
                                        'r', 'e', 'a', 'l', ' ', 'r', 'e', 'c', 'o', 'r', 'd', '!',
                                        '!', '!', '!'};
    EDDY_OK(eddy_stream_write_all(ia, bad, sizeof bad));
    char buf[16];
    EDDY_CHECK_EQ(eddy_stream_read(s, buf, sizeof buf), EDDY_ETLS_PROTOCOL);
    EDDY_CHECK(eddy_tls_error_detail(s) != NULL);
    EDDY_CHECK_EQ(eddy_stream_read(s, buf, sizeof buf), EDDY_ETLS_PROTOCOL);
    EDDY_CHECK_EQ(eddy_stream_write_all(s, "x", 1), EDDY_ETLS_PROTOCOL);
    EDDY_OK(eddy_stream_close(s)); /* sends the alert it had queued */
    /* The client hears the server's alert. */
    EDDY_CHECK_EQ(eddy_stream_read(c, buf, sizeof buf), EDDY_ETLS_ALERT);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(ia));
    ctxs_close();
    return 0;
}

/* ---- a reader and a writer on each side, through key updates ------------------------------- */

typedef struct dir {
    eddy_stream *w, *r;
    size_t n;
    uint64_t seed;
    int wrc, rrc;
} dir;

static unsigned char pat(uint64_t seed, size_t i) { return (unsigned char)((i * 2654435761u) >> 7 ^ seed); }

static int bulk_writer(void *arg)
{
    dir *d = arg;
    unsigned char buf[7000];
    size_t off = 0;
    while (off < d->n) {
        size_t k = d->n - off < sizeof buf ? d->n - off : sizeof buf;
        k = k > 1 + off % 6999 ? 1 + off % 6999 : k; /* varied sizes */
        for (size_t i = 0; i < k; i++) buf[i] = pat(d->seed, off + i);
        if ((d->wrc = eddy_stream_write_all(d->w, buf, k)) < 0) return 0;
        off += k;
    }
    return 0;
}

static int bulk_reader(void *arg)
{
    dir *d = arg;
    unsigned char buf[5000];
    size_t off = 0;
    while (off < d->n) {
        ssize_t k = eddy_stream_read(d->r, buf, sizeof buf);
        if (k <= 0) {
            d->rrc = k ? (int)k : -EPIPE;
            return 0;
        }
        for (ssize_t i = 0; i < k; i++)
            if (buf[i] != pat(d->seed, off + (size_t)i)) {
                d->rrc = -EPROTO;
                return 0;
            }
        off += (size_t)k;
    }
    return 0;
}

typedef struct ku {
    eddy_stream *s;
    int n, rc;
} ku;

static int key_updater(void *arg)
{
    ku *k = arg;
    for (int i = 0; i < k->n; i++) {
        if ((k->rc = eddy_tls_key_update(k->s, i % 2 == 0)) < 0) return 0;
        if ((k->rc = eddy_sleep(EDDY_USEC(50))) < 0) return 0;
    }
    return 0;
}

EDDY_TEST(tls_concurrent_readers_writers_through_key_updates)
{
    ctxs();
    /* A small inner buffer so writers block and readers wait, with key updates asked for by
     * both sides (each one makes the peer's next write carry its own update). */
    eddy_stream *c, *s;
    EDDY_OK(tls_mem_pair(&(eddy_memstream_hooks){.capacity = 3000, .write_delay = EDDY_USEC(10)},
                         cc_, sc_, &c, &s));
    dir d1 = {.w = c, .r = s, .n = 3 << 20, .seed = 1}, d2 = {.w = s, .r = c, .n = 3 << 20, .seed = 2};
    ku k1 = {.s = c, .n = 40}, k2 = {.s = s, .n = 40};
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, bulk_writer, &d1));
        EDDY_OK(eddy_spawn(n, bulk_reader, &d1));
        EDDY_OK(eddy_spawn(n, bulk_writer, &d2));
        EDDY_OK(eddy_spawn(n, bulk_reader, &d2));
        EDDY_OK(eddy_spawn(n, key_updater, &k1));
        EDDY_OK(eddy_spawn(n, key_updater, &k2));
    }
    EDDY_OK(nrc);
    EDDY_OK(d1.wrc);
    EDDY_OK(d1.rrc);
    EDDY_OK(d2.wrc);
    EDDY_OK(d2.rrc);
    EDDY_OK(k1.rc);
    EDDY_OK(k2.rc);
    /* The end after key updates is still clean. */
    EDDY_OK(eddy_stream_shutdown_write(c));
    char b;
    EDDY_CHECK_EQ(eddy_stream_read(s, &b, 1), 0);
    EDDY_CHECK_EQ(eddy_tls_key_update(c, false), -EPIPE); /* after shutdown_write */
    EDDY_OK(eddy_tls_key_update(s, true)); /* the other direction is open */
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    ctxs_close();
    return 0;
}

/* ---- records on the wire ------------------------------------------------------------------ */

EDDY_TEST(tls_records_on_the_wire)
{
    ctxs();
    eddy_stream *ia, *ib, *c, *s;
    EDDY_OK(eddy_memstream_pair(&ia, &ib, NULL));
    EDDY_OK(tls_handshake_pair(ia, ib, cc_, "localhost", NULL, sc_, NULL, &c, &s, NULL, NULL));
    EDDY_CHECK(strcmp(eddy_tls_cipher(c), "TLS_AES_256_GCM_SHA384") == 0 ||
               strcmp(eddy_tls_cipher(c), "TLS_AES_128_GCM_SHA256") == 0 ||
               strcmp(eddy_tls_cipher(c), "TLS_CHACHA20_POLY1305_SHA256") == 0);
    const size_t rec = 5 + 1 + 16; /* TLS 1.3: header, content type, tag */
    /* A write of small pieces (a header and a body) is one record... */
    struct iovec v[3] = {{"HEAD", 4}, {"", 0}, {"body!", 5}};
    size_t w;
    EDDY_OK(eddy_stream_writev(c, v, 3, &w));
    EDDY_CHECK_EQ(w, 9);
    EDDY_CHECK_EQ(eddy_memstream_pending(ib), 9 + rec);
    /* ... read in one call, like several records already here. */
    EDDY_OK(eddy_stream_write_all(c, "a", 1));
    EDDY_OK(eddy_stream_write_all(c, "b", 1));
    EDDY_CHECK_EQ(eddy_memstream_pending(ib), 9 + rec + 2 * (1 + rec));
    char buf[64];
    EDDY_CHECK_EQ(eddy_stream_read(s, buf, sizeof buf), 11);
    EDDY_CHECK(memcmp(buf, "HEADbody!ab", 11) == 0);
    /* A big write goes in full records of 16 KiB. */
    static char big[40000];
    EDDY_OK(eddy_stream_write_all(c, big, sizeof big));
    EDDY_CHECK_EQ(eddy_memstream_pending(ib), sizeof big + 3 * rec);
    static char sink[40000];
    read_exact(s, sink, sizeof sink);
    /* A read never returns more than asked, and keeps the rest. */
    EDDY_OK(eddy_stream_write_all(c, "0123456789", 10));
    EDDY_CHECK_EQ(eddy_stream_read(s, buf, 3), 3);
    EDDY_CHECK_EQ(eddy_stream_read(s, buf + 3, sizeof buf), 7);
    EDDY_CHECK(memcmp(buf, "0123456789", 10) == 0);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    ctxs_close();
    return 0;
}

/* ---- accessors and argument checks -------------------------------------------------------- */

EDDY_TEST(tls_accessors)
{
    ctxs();
    eddy_stream *a, *b, *c, *s;
    EDDY_OK(eddy_socketpair(&a, &b));
    int fa = eddy_stream_fd(a);
    EDDY_OK(tls_handshake_pair(a, b, cc_, "localhost", NULL, sc_, NULL, &c, &s, NULL, NULL));
    EDDY_CHECK_EQ(eddy_stream_fd(c), fa);
    EDDY_CHECK(strcmp(eddy_stream_kind(c), "tls") == 0);
    char buf[64];
    int len = eddy_tls_peer_subject(c, buf, sizeof buf);
    EDDY_CHECK(len > 0 && (size_t)len == strlen(buf));
    EDDY_CHECK(strcmp(buf, "CN=localhost,O=eddy tests") == 0);
    EDDY_CHECK_EQ(eddy_tls_peer_subject(c, NULL, 0), len);
    EDDY_CHECK_EQ(eddy_tls_peer_subject(c, buf, 4), len);
    EDDY_CHECK(strcmp(buf, "CN=") == 0);
    EDDY_CHECK_EQ(eddy_tls_peer_subject(c, NULL, 4), -EINVAL);
    EDDY_CHECK_EQ(eddy_tls_peer_subject(s, buf, sizeof buf), -ENOENT); /* no client cert */
    EDDY_CHECK(!eddy_tls_is_resumed(c));
    EDDY_CHECK(eddy_tls_verify_error(c) == NULL);
    EDDY_CHECK(eddy_tls_error_detail(c) == NULL);
    EDDY_CHECK_EQ(eddy_tls_handshake(c), 0);
    /* Not a TLS stream. */
    eddy_stream *m1, *m2;
    EDDY_OK(eddy_memstream_pair(&m1, &m2, NULL));
    eddy_stream *none[] = {NULL, m1};
    for (int i = 0; i < 2; i++) {
        eddy_stream *x = none[i];
        EDDY_CHECK(!eddy_tls_version(x) && !eddy_tls_cipher(x) && !eddy_tls_alpn(x) &&
                   !eddy_tls_server_name(x) && !eddy_tls_is_resumed(x) &&
                   !eddy_tls_verify_error(x) && !eddy_tls_error_detail(x));
        EDDY_CHECK_EQ(eddy_tls_peer_subject(x, buf, sizeof buf), -EINVAL);
        EDDY_CHECK_EQ(eddy_tls_handshake(x), -EINVAL);
        EDDY_CHECK_EQ(eddy_tls_key_update(x, true), -EINVAL);
    }
    EDDY_OK(eddy_stream_close(m1));
    EDDY_OK(eddy_stream_close(m2));
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    ctxs_close();
    return 0;
}

typedef struct cb_job {
    eddy_stream *inner, *tls;
    int client_rc, handshake_rc, key_rc;
    bool ran;
} cb_job;

static void from_callback(void *arg)
{
    cb_job *j = arg;
    eddy_stream *out;
    j->client_rc = eddy_tls_client(j->inner, cc_, "localhost", NULL, &out);
    j->handshake_rc = eddy_tls_handshake(j->tls);
    j->key_rc = eddy_tls_key_update(j->tls, false);
    j->ran = true;
}

EDDY_TEST(tls_callback_context_cannot_block)
{
    ctxs();
    eddy_stream *a, *b, *c, *s;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
    o.defer_handshake = true;
    EDDY_OK(eddy_tls_client(a, cc_, "localhost", &o, &c));
    EDDY_OK(eddy_memstream_pair(&a, &s, NULL));
    cb_job j = {.inner = a, .tls = c};
    EDDY_OK(eddy_call_soon(from_callback, &j));
    while (!j.ran) EDDY_OK(eddy_yield());
    EDDY_CHECK_EQ(j.client_rc, -EPERM);
    EDDY_CHECK_EQ(j.handshake_rc, -EPERM);
    EDDY_CHECK_EQ(j.key_rc, -EPERM);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(s));
    EDDY_OK(eddy_stream_close(c)); /* never handshaken: closes its inner stream */
    EDDY_OK(eddy_stream_close(b));
    ctxs_close();
    return 0;
}

EDDY_TEST(tls_half_close_in_tls12)
{
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    o.max_version = EDDY_TLS_V1_2;
    eddy_tls_cert ck = {.cert_file = tls_file("server.pem"), .key_file = tls_file("server.key")};
    o.certs = &ck;
    o.ncerts = 1;
    cc_ = tls_client_ctx();
    EDDY_OK(eddy_tls_server_ctx_open(&o, &sc_));
    eddy_stream *c, *s;
    EDDY_OK(tls_mem_pair(NULL, cc_, sc_, &c, &s));
    EDDY_CHECK(strcmp(eddy_tls_version(c), "TLSv1.2") == 0);
    EDDY_OK(eddy_stream_write_all(c, "request", 7));
    EDDY_OK(eddy_stream_shutdown_write(c));
    EDDY_OK(eddy_stream_shutdown_write(c));
    EDDY_CHECK_EQ(eddy_stream_write_all(c, "x", 1), -EPIPE);
    expect(s, "request");
    char b[8];
    EDDY_CHECK_EQ(eddy_stream_read(s, b, sizeof b), 0);
    EDDY_OK(eddy_stream_write_all(s, "response", 8));
    EDDY_OK(eddy_stream_close(s));
    expect(c, "response");
    EDDY_CHECK_EQ(eddy_stream_read(c, b, sizeof b), 0);
    EDDY_OK(eddy_stream_close(c));
    ctxs_close();
    return 0;
}

/* Issue 7, bug 10: a TLS stream whose records are already decrypted answers reads without
 * touching its transport, so a reader of it never suspended. The cooperative budget makes it
 * yield every 128 reads: a task beside it gets turns. */
static uint64_t coop_turns;
static bool coop_done;

static int coop_observer(void *arg)
{
    (void)arg;
    while (!coop_done) {
        coop_turns++;
        EDDY_OK(eddy_yield());
    }
    return 0;
}

EDDY_TEST(tls_decrypted_data_does_not_starve_the_loop)
{
    enum { N = 1280 };
    ctxs();
    eddy_stream *c, *s;
    EDDY_OK(tls_mem_pair(NULL, cc_, sc_, &c, &s));
    static char data[N];
    memset(data, 'd', sizeof data);
    EDDY_OK(eddy_stream_write_all(c, data, sizeof data)); /* one record */
    char b;
    EDDY_CHECK_EQ(eddy_stream_read(s, &b, 1), 1); /* decrypts the record */
    int rc;
    uint64_t turns = 0;
    EDDY_NURSERY(n, &rc) {
        coop_done = false;
        EDDY_OK(eddy_spawn(n, coop_observer, NULL));
        uint64_t t0 = coop_turns;
        for (int i = 1; i < N; i++) EDDY_CHECK_EQ(eddy_stream_read(s, &b, 1), 1);
        turns = coop_turns - t0;
        coop_done = true;
    }
    EDDY_OK(rc);
    EDDY_CHECK(turns >= 2); /* about N / 128; none before the budget */
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    ctxs_close();
    return 0;
}
#endif
