/* N7 buffered reader and framing, over memory streams with hostile hooks (X3). */
#include <string.h>

#include "eddy/test.h"

#if defined(__SANITIZE_ADDRESS__)
/* Let an impossible malloc return NULL under ASan too, so the -ENOMEM path is tested there. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

/* Pairs used below: `in` is what the bufreader reads, `out` what the test writes into. */
typedef struct pipe2 {
    eddy_stream *out, *in;
} pipe2;

static pipe2 mkpair(const eddy_memstream_hooks *h)
{
    pipe2 p;
    EDDY_OK(eddy_memstream_pair(&p.out, &p.in, h));
    return p;
}

static void closepair(pipe2 p)
{
    EDDY_OK(eddy_stream_close(p.out));
    EDDY_OK(eddy_stream_close(p.in));
}

static const eddy_memstream_hooks one_byte = {.max_read = 1};

/* A task that writes its bytes, optionally after a delay, then optionally shuts down. */
typedef struct feed {
    eddy_stream *s;
    const void *data;
    size_t len;
    int64_t after;
    bool shut;
    int rc;
} feed;

static int feeder(void *arg)
{
    feed *f = arg;
    f->rc = eddy_sleep(f->after);
    if (f->rc == 0) f->rc = eddy_stream_write_all(f->s, f->data, f->len);
    if (f->rc == 0 && f->shut) f->rc = eddy_stream_shutdown_write(f->s);
    return 0;
}

static bool span_is(const eddy_span *sp, const char *s)
{
    return sp->len == strlen(s) && memcmp(sp->data, s, sp->len) == 0;
}

/* ---- init / destroy / buffered --------------------------------------------------------- */

EDDY_TEST(bufreader_init_and_destroy)
{
    pipe2 p = mkpair(NULL);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 0));
    EDDY_CHECK_EQ(br.cap, EDDY_BUFREADER_DEFAULT_CAP);
    EDDY_CHECK(br.stream == p.in);
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 0);
    eddy_bufreader_destroy(&br); /* frees the malloc'd buffer: the leak check would tell */
    eddy_bufreader_destroy(&br); /* idempotent */
    eddy_bufreader_destroy(NULL);
    EDDY_CHECK_EQ(eddy_bufreader_buffered(NULL), 0);

    char mine[16];
    EDDY_OK(eddy_bufreader_init(&br, p.in, mine, sizeof mine));
    EDDY_CHECK_EQ(br.cap, 16);
    EDDY_OK(eddy_stream_write_all(p.out, "abc", 3));
    EDDY_CHECK_EQ(eddy_bufreader_fill(&br), 3);
    EDDY_CHECK(memcmp(mine, "abc", 3) == 0); /* the caller's memory is the buffer */
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 3);
    eddy_bufreader_destroy(&br); /* does not free caller memory, discards the 3 bytes */

    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 5)); /* small malloc'd buffer */
    EDDY_CHECK_EQ(br.cap, 5);
    eddy_bufreader_destroy(&br);

    EDDY_CHECK_EQ(eddy_bufreader_init(NULL, p.in, NULL, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_bufreader_init(&br, NULL, NULL, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_bufreader_init(&br, p.in, mine, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_bufreader_init(&br, p.in, NULL, SIZE_MAX), -ENOMEM);
    /* The stream is still open and usable: destroy never closes it. */
    closepair(p);
    return 0;
}

/* ---- fill / peek / consume ------------------------------------------------------------- */

EDDY_TEST(bufreader_fill_peek_consume)
{
    pipe2 p = mkpair(&one_byte);
    char mem[8];
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, mem, sizeof mem));
    EDDY_OK(eddy_stream_write_all(p.out, "0123456789", 10));
    EDDY_CHECK_EQ(eddy_bufreader_fill(&br), 1); /* one read of the stream */
    const void *d = NULL;
    EDDY_CHECK_EQ(eddy_bufreader_peek(&br, 5, &d), 5); /* reads until 5 are there */
    EDDY_CHECK(memcmp(d, "01234", 5) == 0);
    EDDY_CHECK_EQ(eddy_bufreader_peek(&br, 0, &d), 5); /* what is there, no read */
    EDDY_CHECK_EQ(eddy_bufreader_peek(&br, 9, &d), -EMSGSIZE);
    EDDY_CHECK_EQ(eddy_bufreader_peek(&br, 1, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_bufreader_consume(&br, 6), -EINVAL);
    EDDY_OK(eddy_bufreader_consume(&br, 2));
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 3);
    /* Peek beyond the free tail: the buffered bytes move to the front. */
    EDDY_CHECK_EQ(eddy_bufreader_peek(&br, 8, &d), 8);
    EDDY_CHECK(memcmp(d, "23456789", 8) == 0);
    EDDY_CHECK_EQ(eddy_bufreader_fill(&br), -ENOBUFS); /* full */
    EDDY_OK(eddy_bufreader_consume(&br, 8));
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 0);
    EDDY_CHECK_EQ(eddy_bufreader_consume(NULL, 0), -EINVAL);
    /* End of stream: peek returns what there is. */
    EDDY_OK(eddy_stream_write_all(p.out, "xy", 2));
    EDDY_OK(eddy_stream_shutdown_write(p.out));
    EDDY_CHECK_EQ(eddy_bufreader_peek(&br, 4, &d), 2);
    EDDY_CHECK(memcmp(d, "xy", 2) == 0);
    EDDY_CHECK_EQ(eddy_bufreader_fill(&br), 0);
    EDDY_CHECK_EQ(eddy_bufreader_fill(NULL), -EINVAL);
    eddy_bufreader_destroy(&br);
    EDDY_CHECK_EQ(eddy_bufreader_fill(&br), -EINVAL); /* finished */
    closepair(p);
    return 0;
}

EDDY_TEST(bufreader_peek_cancelled_keeps_bytes)
{
    pipe2 p = mkpair(&one_byte);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 16));
    EDDY_OK(eddy_stream_write_all(p.out, "abc", 3));
    const void *d = NULL;
    ssize_t r = 1;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { r = eddy_bufreader_peek(&br, 5, &d); }
    EDDY_CHECK_EQ(r, -ECANCELED);
    EDDY_CHECK(d == NULL);
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 3);
    EDDY_OK(eddy_stream_write_all(p.out, "de", 2));
    EDDY_CHECK_EQ(eddy_bufreader_peek(&br, 5, &d), 5);
    EDDY_CHECK(memcmp(d, "abcde", 5) == 0);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

/* ---- read ------------------------------------------------------------------------------ */

EDDY_TEST(bufreader_read_serves_buffer_first)
{
    pipe2 p = mkpair(NULL);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 8));
    char buf[32];
    EDDY_CHECK_EQ(eddy_bufreader_read(&br, buf, 0), 0);
    EDDY_CHECK_EQ(eddy_bufreader_read(&br, NULL, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_bufreader_read(NULL, buf, 1), -EINVAL);
    EDDY_OK(eddy_stream_write_all(p.out, "hello world", 11));
    EDDY_CHECK_EQ(eddy_bufreader_read(&br, buf, 3), 3); /* fills 8, hands out 3 */
    EDDY_CHECK(memcmp(buf, "hel", 3) == 0);
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 5);
    EDDY_CHECK_EQ(eddy_memstream_pending(p.in), 3);
    /* Buffered bytes are returned without reading more, even if more were asked for. */
    EDDY_CHECK_EQ(eddy_bufreader_read(&br, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "lo wo", 5) == 0);
    EDDY_CHECK_EQ(eddy_memstream_pending(p.in), 3);
    /* Empty buffer and a large request: straight from the stream. */
    EDDY_CHECK_EQ(eddy_bufreader_read(&br, buf, sizeof buf), 3);
    EDDY_CHECK(memcmp(buf, "rld", 3) == 0);
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 0);
    /* Cancelled: nothing consumed, even with data already buffered it is a checkpoint. */
    EDDY_OK(eddy_stream_write_all(p.out, "Z", 1));
    EDDY_CHECK_EQ(eddy_bufreader_fill(&br), 1);
    ssize_t r = 1;
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        r = eddy_bufreader_read(&br, buf, 1);
    }
    EDDY_CHECK_EQ(r, -ECANCELED);
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 1);
    EDDY_CHECK_EQ(eddy_bufreader_read(&br, buf, 1), 1);
    EDDY_CHECK_EQ(buf[0], 'Z');
    EDDY_OK(eddy_stream_close(p.out));
    EDDY_CHECK_EQ(eddy_bufreader_read(&br, buf, 1), 0); /* end of stream */
    EDDY_CHECK_EQ(eddy_bufreader_read(&br, buf, sizeof buf), 0);
    eddy_bufreader_destroy(&br);
    EDDY_OK(eddy_stream_close(p.in));
    return 0;
}

/* ---- read_exactly ---------------------------------------------------------------------- */

EDDY_TEST(read_exactly_with_one_byte_reads)
{
    pipe2 p = mkpair(&one_byte);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 4));
    char msg[64];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (char)(i * 7);
    EDDY_OK(eddy_stream_write_all(p.out, msg, sizeof msg));
    char buf[64];
    size_t got = 99;
    EDDY_OK(eddy_read_exactly(&br, buf, 3, &got)); /* below the capacity */
    EDDY_CHECK_EQ(got, 3);
    EDDY_OK(eddy_read_exactly(&br, buf + 3, 40, &got)); /* above: passes through */
    EDDY_CHECK_EQ(got, 40);
    EDDY_OK(eddy_read_exactly(&br, buf + 43, 21, NULL));
    EDDY_CHECK(memcmp(buf, msg, 64) == 0);
    EDDY_OK(eddy_read_exactly(&br, buf, 0, &got));
    EDDY_CHECK_EQ(got, 0);
    EDDY_CHECK_EQ(eddy_read_exactly(&br, NULL, 1, &got), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_exactly(NULL, buf, 1, &got), -EINVAL);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(read_exactly_eof_early_is_epipe_with_partial)
{
    pipe2 p = mkpair(&(eddy_memstream_hooks){.max_read = 3});
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 16));
    EDDY_OK(eddy_stream_write_all(p.out, "abcdefg", 7));
    EDDY_OK(eddy_stream_shutdown_write(p.out));
    char buf[10];
    size_t got = 0;
    EDDY_CHECK_EQ(eddy_read_exactly(&br, buf, 10, &got), -EPIPE);
    EDDY_CHECK_EQ(got, 7);
    EDDY_CHECK(memcmp(buf, "abcdefg", 7) == 0);
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 0); /* consumed: they are in buf */
    EDDY_CHECK_EQ(eddy_read_exactly(&br, buf, 1, &got), -EPIPE);
    EDDY_CHECK_EQ(got, 0);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(read_exactly_cancelled_keeps_partial_bytes)
{
    pipe2 p = mkpair(&one_byte);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 8));
    char buf[32];
    size_t got = 0;
    int rc = 1;
    /* Below the capacity and above it: either way the bytes already read are in buf. */
    for (int round = 0; round < 2; round++) {
        size_t n = round ? 20 : 6;
        EDDY_OK(eddy_stream_write_all(p.out, "0123456789abcdefghij", n - 2));
        EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { rc = eddy_read_exactly(&br, buf, n, &got); }
        EDDY_CHECK_EQ(rc, -ECANCELED);
        EDDY_CHECK_EQ(got, n - 2);
        EDDY_CHECK(memcmp(buf, "0123456789abcdefghij", n - 2) == 0);
        /* Resume with the rest. */
        EDDY_OK(eddy_stream_write_all(p.out, "XY", 2));
        size_t more = 0;
        EDDY_OK(eddy_read_exactly(&br, buf + got, n - got, &more));
        EDDY_CHECK_EQ(more, 2);
        EDDY_CHECK(memcmp(buf + n - 2, "XY", 2) == 0);
    }
    /* A call in a cancelled scope takes nothing, even when the bytes are buffered. */
    EDDY_OK(eddy_stream_write_all(p.out, "q", 1));
    EDDY_CHECK_EQ(eddy_bufreader_fill(&br), 1);
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        rc = eddy_read_exactly(&br, buf, 1, &got);
    }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(got, 0);
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 1);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(read_exactly_transport_errors)
{
    pipe2 p = mkpair(&(eddy_memstream_hooks){.reset_after = 5, .max_read = 2});
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 8));
    size_t wr = 0;
    EDDY_CHECK_EQ(eddy_stream_write(p.out, "0123456789", 10, &wr), -ECONNRESET);
    EDDY_CHECK_EQ(wr, 5);
    char buf[10];
    size_t got = 0;
    EDDY_CHECK_EQ(eddy_read_exactly(&br, buf, 10, &got), -ECONNRESET);
    EDDY_CHECK_EQ(got, 5);
    EDDY_CHECK(memcmp(buf, "01234", 5) == 0);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

/* ---- read_until ------------------------------------------------------------------------ */

EDDY_TEST(read_until_separators)
{
    pipe2 p = mkpair(&one_byte);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 64));
    static const eddy_sep seps[] = {{"\n", 1}, {"\r\n", 2}, {"END", 3}};
    EDDY_OK(eddy_stream_write_all(p.out, "one\r\ntwo\nthreeENDfour", 21));
    eddy_span sp;
    EDDY_CHECK_EQ(eddy_read_until(&br, seps, 3, 0, &sp), 5);
    EDDY_CHECK(span_is(&sp, "one\r\n"));
    EDDY_CHECK_EQ(sp.sep, 1); /* "\n" and "\r\n" end together: the longer one */
    EDDY_CHECK_EQ(eddy_read_until(&br, seps, 3, 0, &sp), 4);
    EDDY_CHECK(span_is(&sp, "two\n"));
    EDDY_CHECK_EQ(sp.sep, 0);
    EDDY_CHECK_EQ(eddy_read_until(&br, seps, 3, 0, &sp), 8);
    EDDY_CHECK(span_is(&sp, "threeEND"));
    EDDY_CHECK_EQ(sp.sep, 2);
    /* The stream ends inside a record: -EPIPE, the partial record stays buffered. */
    EDDY_OK(eddy_stream_shutdown_write(p.out));
    EDDY_CHECK_EQ(eddy_read_until(&br, seps, 3, 0, &sp), -EPIPE);
    EDDY_CHECK(span_is(&sp, "four"));
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 4);
    EDDY_CHECK_EQ(eddy_read_until(&br, seps, 3, 0, &sp), -EPIPE); /* again: the same */
    EDDY_CHECK(span_is(&sp, "four"));
    EDDY_OK(eddy_bufreader_consume(&br, sp.len));
    /* Clean end: 0. */
    EDDY_CHECK_EQ(eddy_read_until(&br, seps, 3, 0, &sp), 0);
    EDDY_CHECK_EQ(sp.len, 0);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(read_until_earliest_end_wins)
{
    pipe2 p = mkpair(NULL);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 64));
    /* "bcd" starts first but "c" ends first. */
    static const eddy_sep seps[] = {{"bcd", 3}, {"c", 1}};
    EDDY_OK(eddy_stream_write_all(p.out, "abcde", 5));
    eddy_span sp;
    EDDY_CHECK_EQ(eddy_read_until(&br, seps, 2, 0, &sp), 3);
    EDDY_CHECK(span_is(&sp, "abc"));
    EDDY_CHECK_EQ(sp.sep, 1);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(read_until_bad_arguments)
{
    pipe2 p = mkpair(NULL);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 64));
    eddy_span sp;
    eddy_sep ok = {"\n", 1}, empty = {"", 0}, nul = {NULL, 1};
    EDDY_CHECK_EQ(eddy_read_until(NULL, &ok, 1, 0, &sp), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_until(&br, NULL, 1, 0, &sp), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_until(&br, &ok, 0, 0, &sp), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_until(&br, &ok, 1, 0, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_until(&br, &empty, 1, 0, &sp), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_until(&br, &nul, 1, 0, &sp), -EINVAL);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(read_until_limit_keeps_data_retrievable)
{
    pipe2 p = mkpair(&one_byte);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 32));
    static const eddy_sep crlf = {"\r\n", 2};
    /* 10 bytes limit; the record is 14 bytes, with the CR exactly at the limit. */
    EDDY_OK(eddy_stream_write_all(p.out, "abcdefghi\r\nrest\r\n", 17));
    eddy_span sp;
    EDDY_CHECK_EQ(eddy_read_until(&br, &crlf, 1, 10, &sp), -EMSGSIZE);
    EDDY_CHECK_EQ(sp.len, 10);
    EDDY_CHECK(memcmp(sp.data, "abcdefghi\r", 10) == 0);
    EDDY_CHECK_EQ(sp.safe, 9); /* the CR may start a separator: keep it */
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 10);
    /* Again: the same answer, nothing lost. */
    EDDY_CHECK_EQ(eddy_read_until(&br, &crlf, 1, 10, &sp), -EMSGSIZE);
    EDDY_CHECK_EQ(sp.safe, 9);
    /* Skip the safe part, then the rest of the record is readable with its separator. */
    EDDY_OK(eddy_bufreader_consume(&br, sp.safe));
    EDDY_CHECK_EQ(eddy_read_until(&br, &crlf, 1, 10, &sp), 2);
    EDDY_CHECK(span_is(&sp, "\r\n"));
    EDDY_CHECK_EQ(eddy_read_until(&br, &crlf, 1, 10, &sp), 6);
    EDDY_CHECK(span_is(&sp, "rest\r\n"));
    /* A limit above the capacity is the capacity. */
    char big[40];
    memset(big, 'x', sizeof big);
    EDDY_OK(eddy_stream_write_all(p.out, big, sizeof big));
    EDDY_CHECK_EQ(eddy_read_until(&br, &crlf, 1, 1000, &sp), -EMSGSIZE);
    EDDY_CHECK_EQ(sp.len, 32);
    EDDY_CHECK_EQ(sp.safe, 32);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(read_until_cancelled_and_reset)
{
    pipe2 p = mkpair(&(eddy_memstream_hooks){.max_read = 1, .reset_after = 9});
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 32));
    static const eddy_sep lf = {"\n", 1};
    EDDY_OK(eddy_stream_write_all(p.out, "par", 3));
    eddy_span sp;
    ssize_t r = 1;
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { r = eddy_read_until(&br, &lf, 1, 0, &sp); }
    EDDY_CHECK_EQ(r, -ETIMEDOUT);
    EDDY_CHECK(span_is(&sp, "par")); /* read, kept, shown */
    /* The rest arrives later: the same call now completes the record. */
    feed f = {.s = p.out, .data = "tial\n", .len = 5, .after = EDDY_SEC(2)};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, feeder, &f));
        EDDY_CHECK_EQ(eddy_read_until(&br, &lf, 1, 0, &sp), 8);
        EDDY_CHECK(span_is(&sp, "partial\n"));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(f.rc, 0);
    /* Reset in the middle of a record: the transport error, the partial bytes shown. */
    size_t wr;
    EDDY_CHECK_EQ(eddy_stream_write(p.out, "xyz", 3, &wr), -ECONNRESET);
    EDDY_CHECK_EQ(wr, 1);
    EDDY_CHECK_EQ(eddy_read_until(&br, &lf, 1, 0, &sp), -ECONNRESET);
    EDDY_CHECK(span_is(&sp, "x"));
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

/* ---- read_line / read_suffixed --------------------------------------------------------- */

EDDY_TEST(read_line_terminators)
{
    pipe2 p = mkpair(&one_byte);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 64));
    const char *text = "plain\nwin\r\n\nkeep\r\nhttp\nstill\r\nlast";
    EDDY_OK(eddy_stream_write_all(p.out, text, strlen(text)));
    EDDY_OK(eddy_stream_shutdown_write(p.out));
    eddy_span sp;
    EDDY_CHECK_EQ(eddy_read_line(&br, 0, 0, &sp), 6);
    EDDY_CHECK(span_is(&sp, "plain"));
    EDDY_CHECK_EQ(eddy_read_line(&br, 0, 0, &sp), 5);
    EDDY_CHECK(span_is(&sp, "win")); /* CR LF stripped */
    EDDY_CHECK_EQ(eddy_read_line(&br, 0, 0, &sp), 1);
    EDDY_CHECK(span_is(&sp, "")); /* an empty line is not the end */
    EDDY_CHECK_EQ(eddy_read_line(&br, 0, EDDY_LINE_KEEP, &sp), 6);
    EDDY_CHECK(span_is(&sp, "keep\r\n"));
    /* CRLF mode: a lone LF is data. */
    EDDY_CHECK_EQ(eddy_read_line(&br, 0, EDDY_LINE_CRLF, &sp), 12);
    EDDY_CHECK(span_is(&sp, "http\nstill"));
    EDDY_CHECK_EQ(eddy_read_line(&br, 0, EDDY_LINE_CRLF, &sp), -EPIPE);
    EDDY_CHECK(span_is(&sp, "last"));
    EDDY_OK(eddy_bufreader_consume(&br, sp.len));
    EDDY_CHECK_EQ(eddy_read_line(&br, 0, 0, &sp), 0);
    EDDY_CHECK_EQ(eddy_read_line(&br, 0, 4, &sp), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_line(NULL, 0, 0, &sp), -EINVAL);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(read_line_over_limit_then_rest_of_line)
{
    pipe2 p = mkpair(&one_byte);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 16));
    const char *text = "0123456789abcdefghijklmnop\nnext\n";
    feed f = {.s = p.out, .data = text, .len = strlen(text)};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, feeder, &f));
        eddy_span sp;
        EDDY_CHECK_EQ(eddy_read_line(&br, 8, 0, &sp), -EMSGSIZE);
        EDDY_CHECK_EQ(sp.len, 8);
        EDDY_CHECK(memcmp(sp.data, "01234567", 8) == 0);
        EDDY_CHECK_EQ(sp.safe, 8);
        /* Drain the long line piece by piece: the partial data, then the rest. */
        char line[64];
        size_t n = 0;
        for (;;) {
            ssize_t r = eddy_read_line(&br, 8, 0, &sp);
            if (r > 0) {
                memcpy(line + n, sp.data, sp.len);
                n += sp.len;
                break;
            }
            EDDY_CHECK_EQ(r, -EMSGSIZE);
            memcpy(line + n, sp.data, sp.safe);
            n += sp.safe;
            EDDY_OK(eddy_bufreader_consume(&br, sp.safe));
        }
        EDDY_CHECK_EQ(n, 26);
        EDDY_CHECK(memcmp(line, text, 26) == 0);
        EDDY_CHECK_EQ(eddy_read_line(&br, 8, 0, &sp), 5);
        EDDY_CHECK(span_is(&sp, "next"));
    }
    EDDY_CHECK_EQ(rc, 0);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(read_suffixed_records)
{
    pipe2 p = mkpair(&(eddy_memstream_hooks){.max_read = 2});
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 64));
    EDDY_OK(eddy_stream_write_all(p.out, "line1\r\nmore\r\n.\r\nnext\0z", 22));
    eddy_span sp;
    EDDY_CHECK_EQ(eddy_read_suffixed(&br, "\r\n.\r\n", 5, 0, &sp), 16);
    EDDY_CHECK(span_is(&sp, "line1\r\nmore"));
    EDDY_CHECK_EQ(eddy_read_suffixed(&br, "", 1, 0, &sp), 5); /* NUL-terminated */
    EDDY_CHECK(span_is(&sp, "next"));
    EDDY_OK(eddy_stream_shutdown_write(p.out));
    EDDY_CHECK_EQ(eddy_read_suffixed(&br, "\0", 1, 0, &sp), -EPIPE);
    EDDY_CHECK(span_is(&sp, "z"));
    EDDY_CHECK_EQ(eddy_read_suffixed(&br, "ab", 2, 1, &sp), -EMSGSIZE); /* limit 1 */
    EDDY_CHECK_EQ(sp.safe, 1);
    EDDY_CHECK_EQ(eddy_read_suffixed(&br, NULL, 1, 0, &sp), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_suffixed(&br, "x", 0, 0, &sp), -EINVAL);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

/* ---- length-prefixed frames ------------------------------------------------------------ */

EDDY_TEST(frames_every_width_and_endianness)
{
    pipe2 p = mkpair(&(eddy_memstream_hooks){.max_read = 1, .max_write = 3});
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 300));
    char payload[260];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (char)(i ^ 0x5a);
    for (unsigned width = 1; width <= 8; width++) {
        for (int le = 0; le < 2; le++) {
            unsigned fl = le ? EDDY_FRAME_LE : 0;
            size_t len = width == 1 ? 255 : 258; /* uses more than one length byte */
            size_t wr = 0;
            EDDY_OK(eddy_write_frame(p.out, width, fl, payload, len, &wr));
            EDDY_CHECK_EQ(wr, width + len);
            /* The header's bytes, as on the wire. */
            const void *d;
            EDDY_CHECK_EQ(eddy_bufreader_peek(&br, width, &d), (ssize_t)width);
            const unsigned char *h = d;
            for (unsigned i = 0; i < width; i++) {
                unsigned shift = 8 * (le ? i : width - 1 - i);
                EDDY_CHECK_EQ(h[i], shift < 64 ? (len >> shift) & 0xff : 0);
            }
            eddy_span sp;
            EDDY_CHECK_EQ(eddy_read_frame(&br, width, fl, 0, &sp), (ssize_t)(width + len));
            EDDY_CHECK_EQ(sp.len, len);
            EDDY_CHECK(memcmp(sp.data, payload, len) == 0);
            /* An empty frame. */
            EDDY_OK(eddy_write_frame(p.out, width, fl, NULL, 0, NULL));
            EDDY_CHECK_EQ(eddy_read_frame(&br, width, fl, 0, &sp), (ssize_t)width);
            EDDY_CHECK_EQ(sp.len, 0);
        }
    }
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 0);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(frame_header_decoding_of_known_bytes)
{
    pipe2 p = mkpair(NULL);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 64));
    /* 3-byte big endian 0x000005, 2-byte little endian 0x0003, 8-byte big endian 1. */
    const unsigned char wire[] = {0, 0, 5, 'h', 'e', 'l', 'l', 'o', 3, 0, 'a', 'b', 'c',
                                  0, 0, 0, 0, 0, 0, 0, 1, '!'};
    EDDY_OK(eddy_stream_write_all(p.out, wire, sizeof wire));
    eddy_span sp;
    EDDY_CHECK_EQ(eddy_read_frame(&br, 3, 0, 0, &sp), 8);
    EDDY_CHECK(span_is(&sp, "hello"));
    EDDY_CHECK_EQ(eddy_read_frame(&br, 2, EDDY_FRAME_LE, 0, &sp), 5);
    EDDY_CHECK(span_is(&sp, "abc"));
    EDDY_CHECK_EQ(eddy_read_frame(&br, 8, 0, 0, &sp), 9);
    EDDY_CHECK(span_is(&sp, "!"));
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(frame_too_large_is_emsgsize)
{
    pipe2 p = mkpair(NULL);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 16));
    eddy_span sp;
    /* Over the caller's limit. */
    EDDY_OK(eddy_write_frame(p.out, 2, 0, "0123456789", 10, NULL));
    EDDY_CHECK_EQ(eddy_read_frame(&br, 2, 0, 8, &sp), -EMSGSIZE);
    EDDY_CHECK_EQ(sp.declared, 10);
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), sp.len); /* nothing consumed */
    EDDY_CHECK(sp.len >= 2);
    /* Within the limit it reads fine. */
    EDDY_CHECK_EQ(eddy_read_frame(&br, 2, 0, 10, &sp), 12);
    EDDY_CHECK(span_is(&sp, "0123456789"));
    /* Over what the buffer can hold (16 - 4): a hostile 4-byte length. */
    const unsigned char huge[] = {0xff, 0xff, 0xff, 0xf0};
    EDDY_OK(eddy_stream_write_all(p.out, huge, 4));
    EDDY_CHECK_EQ(eddy_read_frame(&br, 4, 0, 0, &sp), -EMSGSIZE);
    EDDY_CHECK_EQ(sp.declared, 0xfffffff0u);
    EDDY_OK(eddy_bufreader_consume(&br, 4));
    EDDY_OK(eddy_write_frame(p.out, 4, EDDY_FRAME_LE, "0123456789abc", 13, NULL));
    EDDY_CHECK_EQ(eddy_read_frame(&br, 4, EDDY_FRAME_LE, 1000, &sp), -EMSGSIZE);
    EDDY_CHECK_EQ(sp.declared, 13);
    /* A buffer smaller than the header. */
    eddy_bufreader tiny;
    char t[2];
    EDDY_OK(eddy_bufreader_init(&tiny, p.in, t, sizeof t));
    EDDY_CHECK_EQ(eddy_read_frame(&tiny, 4, 0, 0, &sp), -EMSGSIZE);
    eddy_bufreader_destroy(&tiny);
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(frame_eof_mid_frame_is_epipe)
{
    pipe2 p = mkpair(&one_byte);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 32));
    eddy_span sp;
    /* One whole frame, then a header cut short. */
    EDDY_OK(eddy_write_frame(p.out, 2, 0, "ok", 2, NULL));
    EDDY_OK(eddy_stream_write_all(p.out, "\0", 1));
    EDDY_OK(eddy_stream_shutdown_write(p.out));
    EDDY_CHECK_EQ(eddy_read_frame(&br, 2, 0, 0, &sp), 4);
    EDDY_CHECK(span_is(&sp, "ok"));
    EDDY_CHECK_EQ(eddy_read_frame(&br, 2, 0, 0, &sp), -EPIPE);
    EDDY_CHECK_EQ(sp.len, 1);
    eddy_bufreader_destroy(&br);
    closepair(p);

    /* A payload cut short. */
    p = mkpair(&one_byte);
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 32));
    EDDY_OK(eddy_stream_write_all(p.out, "\x00\x05hel", 5));
    EDDY_OK(eddy_stream_close(p.out));
    EDDY_CHECK_EQ(eddy_read_frame(&br, 2, 0, 0, &sp), -EPIPE);
    EDDY_CHECK_EQ(sp.len, 5);
    EDDY_CHECK(memcmp(sp.data, "\x00\x05hel", 5) == 0);
    EDDY_OK(eddy_bufreader_consume(&br, 5));
    EDDY_CHECK_EQ(eddy_read_frame(&br, 2, 0, 0, &sp), 0); /* clean end */
    eddy_bufreader_destroy(&br);
    EDDY_OK(eddy_stream_close(p.in));
    return 0;
}

EDDY_TEST(frame_cancelled_then_retried)
{
    pipe2 p = mkpair(&one_byte);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 32));
    EDDY_OK(eddy_stream_write_all(p.out, "\x03" "ab", 3));
    eddy_span sp;
    ssize_t r = 1;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { r = eddy_read_frame(&br, 1, 0, 0, &sp); }
    EDDY_CHECK_EQ(r, -ECANCELED);
    EDDY_CHECK_EQ(sp.len, 3);
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 3);
    EDDY_OK(eddy_stream_write_all(p.out, "c", 1));
    EDDY_CHECK_EQ(eddy_read_frame(&br, 1, 0, 0, &sp), 4);
    EDDY_CHECK(span_is(&sp, "abc"));
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(frame_bad_arguments)
{
    pipe2 p = mkpair(NULL);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 32));
    eddy_span sp;
    EDDY_CHECK_EQ(eddy_read_frame(&br, 0, 0, 0, &sp), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_frame(&br, 9, 0, 0, &sp), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_frame(&br, 2, 8, 0, &sp), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_frame(&br, 2, 0, 0, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_read_frame(NULL, 2, 0, 0, &sp), -EINVAL);
    size_t wr = 9;
    EDDY_CHECK_EQ(eddy_write_frame(NULL, 2, 0, "x", 1, &wr), -EINVAL);
    EDDY_CHECK_EQ(wr, 0);
    EDDY_CHECK_EQ(eddy_write_frame(p.out, 0, 0, "x", 1, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_write_frame(p.out, 9, 0, "x", 1, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_write_frame(p.out, 2, 2, "x", 1, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_write_frame(p.out, 2, 0, NULL, 1, NULL), -EINVAL);
    /* A length that does not fit the prefix. */
    static char big[65536];
    EDDY_CHECK_EQ(eddy_write_frame(p.out, 1, 0, big, 256, NULL), -EMSGSIZE);
    EDDY_CHECK_EQ(eddy_write_frame(p.out, 2, EDDY_FRAME_LE, big, 65536, NULL), -EMSGSIZE);
    EDDY_CHECK_EQ(eddy_memstream_pending(p.in), 0); /* nothing was written */
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

/* Frames written by concurrent tasks arrive whole (N8 through eddy_stream_writev), even
 * when the peer buffer is tiny and writes are accepted a few bytes at a time. */
typedef struct fw {
    eddy_stream *s;
    char c;
    int rc;
} fw;

static int frame_writer(void *arg)
{
    fw *f = arg;
    char payload[50];
    memset(payload, f->c, sizeof payload);
    for (int i = 0; i < 3 && f->rc == 0; i++) f->rc = eddy_write_frame(f->s, 2, 0, payload, sizeof payload, NULL);
    return 0;
}

EDDY_TEST(frames_from_concurrent_writers_stay_whole)
{
    pipe2 p = mkpair(&(eddy_memstream_hooks){.capacity = 8, .max_write = 3, .max_read = 5});
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 64));
    fw f[3] = {{p.out, 'a', 0}, {p.out, 'b', 0}, {p.out, 'c', 0}};
    int rc, seen[3] = {0};
    EDDY_NURSERY(nu, &rc) {
        for (int i = 0; i < 3; i++) EDDY_OK(eddy_spawn(nu, frame_writer, &f[i]));
        for (int n = 0; n < 9; n++) {
            eddy_span sp;
            EDDY_CHECK_EQ(eddy_read_frame(&br, 2, 0, 0, &sp), 52);
            const char *d = sp.data;
            EDDY_CHECK(d[0] >= 'a' && d[0] <= 'c');
            for (size_t j = 0; j < sp.len; j++) EDDY_CHECK_EQ(d[j], d[0]);
            seen[d[0] - 'a']++;
        }
    }
    EDDY_CHECK_EQ(rc, 0);
    for (int i = 0; i < 3; i++) {
        EDDY_CHECK_EQ(f[i].rc, 0);
        EDDY_CHECK_EQ(seen[i], 3);
    }
    eddy_bufreader_destroy(&br);
    closepair(p);
    return 0;
}

EDDY_TEST(write_frame_to_closed_peer_is_epipe)
{
    pipe2 p = mkpair(NULL);
    EDDY_OK(eddy_stream_close(p.in));
    size_t wr = 9;
    EDDY_CHECK_EQ(eddy_write_frame(p.out, 4, 0, "abc", 3, &wr), -EPIPE);
    EDDY_CHECK_EQ(wr, 0);
    EDDY_OK(eddy_stream_close(p.out));
    return 0;
}

/* ---- the reader and the stream's rules ------------------------------------------------- */

typedef struct lr {
    eddy_bufreader *br;
    ssize_t rc;
    eddy_span sp;
} lr;

static int line_reader(void *arg)
{
    lr *l = arg;
    l->rc = eddy_read_line(l->br, 0, 0, &l->sp);
    return 0;
}

EDDY_TEST(bufreader_stream_closed_while_reading_is_ebadf)
{
    pipe2 p = mkpair(&one_byte);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, p.in, NULL, 32));
    EDDY_OK(eddy_stream_write_all(p.out, "half", 4));
    lr l = {.br = &br, .rc = 1};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, line_reader, &l));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        /* A second reader of the same stream is refused while the first waits. */
        eddy_span sp;
        EDDY_CHECK_EQ(eddy_read_line(&br, 0, 0, &sp), -EBUSY);
        EDDY_OK(eddy_stream_close(p.in));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(l.rc, -EBADF);
    EDDY_CHECK(span_is(&l.sp, "half")); /* still in the buffer */
    EDDY_CHECK_EQ(eddy_bufreader_buffered(&br), 4);
    eddy_bufreader_destroy(&br);
    EDDY_OK(eddy_stream_close(p.out));
    return 0;
}

EDDY_TEST_EX(bufreader_outside_task_eperm, .raw = true)
{
    /* No loop at all: the reader's calls are checkpoints and refuse. */
    static char mem[8];
    eddy_bufreader br = {0};
    eddy_stream *fake = (eddy_stream *)mem; /* never touched: the check comes first */
    EDDY_OK(eddy_bufreader_init(&br, fake, mem, sizeof mem));
    char buf[4];
    const void *d;
    eddy_span sp;
    size_t got;
    EDDY_CHECK_EQ(eddy_bufreader_read(&br, buf, 1), -EPERM);
    EDDY_CHECK_EQ(eddy_bufreader_peek(&br, 1, &d), -EPERM);
    EDDY_CHECK_EQ(eddy_read_exactly(&br, buf, 1, &got), -EPERM);
    EDDY_CHECK_EQ(eddy_read_line(&br, 0, 0, &sp), -EPERM);
    EDDY_CHECK_EQ(eddy_read_frame(&br, 1, 0, 0, &sp), -EPERM);
    eddy_bufreader_destroy(&br);
    return 0;
}

/* ---- over other kinds of stream -------------------------------------------------------- */

EDDY_TEST(bufreader_over_pipe_and_socketpair)
{
    eddy_stream *rd, *wr;
    for (int kind = 0; kind < 2; kind++) {
        if (kind == 0)
            EDDY_OK(eddy_pipe(&rd, &wr));
        else
            EDDY_OK(eddy_socketpair(&wr, &rd));
        eddy_bufreader br;
        EDDY_OK(eddy_bufreader_init(&br, rd, NULL, 64));
        EDDY_OK(eddy_write_frame(wr, 4, 0, "framed", 6, NULL));
        EDDY_OK(eddy_stream_write_all(wr, "GET / HTTP/1.1\r\nHost: x\r\n\r\ntail", 31));
        EDDY_OK(eddy_stream_shutdown_write(wr));
        eddy_span sp;
        EDDY_CHECK_EQ(eddy_read_frame(&br, 4, 0, 0, &sp), 10);
        EDDY_CHECK(span_is(&sp, "framed"));
        EDDY_CHECK_EQ(eddy_read_line(&br, 0, EDDY_LINE_CRLF, &sp), 16);
        EDDY_CHECK(span_is(&sp, "GET / HTTP/1.1"));
        EDDY_CHECK_EQ(eddy_read_line(&br, 0, EDDY_LINE_CRLF, &sp), 9);
        EDDY_CHECK(span_is(&sp, "Host: x"));
        EDDY_CHECK_EQ(eddy_read_line(&br, 0, EDDY_LINE_CRLF, &sp), 2);
        EDDY_CHECK(span_is(&sp, ""));
        char buf[8];
        size_t got;
        EDDY_CHECK_EQ(eddy_read_exactly(&br, buf, 8, &got), -EPIPE);
        EDDY_CHECK_EQ(got, 4);
        EDDY_CHECK(memcmp(buf, "tail", 4) == 0);
        eddy_bufreader_destroy(&br);
        EDDY_OK(eddy_stream_close(rd));
        EDDY_OK(eddy_stream_close(wr));
    }
    return 0;
}
