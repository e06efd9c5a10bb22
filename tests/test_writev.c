/* eddy_stream_writev on descriptor streams, which gather the pieces into one sendmsg/writev
 * per call: windows of many pieces, empty pieces, partial writes resumed mid-piece, a peer
 * that reads slowly, cancellation reporting the exact count, pipes (writev(2)). */
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "eddy/test.h"

#define NPIECES 40

/* Pieces of varied sizes (some empty) over one pattern buffer; returns the total. */
static size_t make_pieces(struct iovec *iov, unsigned char *pat, size_t patlen, size_t big)
{
    for (size_t i = 0; i < patlen; i++) pat[i] = (unsigned char)(i * 7 + i / 251);
    size_t off = 0;
    for (int i = 0; i < NPIECES; i++) {
        size_t len = (i % 5 == 3) ? 0 : (i % 7 == 0 ? big : (size_t)(i * 37 % 1000 + 1));
        if (off + len > patlen) len = patlen - off;
        iov[i].iov_base = pat + off;
        iov[i].iov_len = len;
        off += len;
    }
    return off;
}

typedef struct reader {
    eddy_stream *s;
    unsigned char *buf;
    size_t want, got;
    size_t chunk;
    int64_t pause; /* between reads, on the virtual clock */
} reader;

static int read_task(void *arg)
{
    reader *r = arg;
    while (r->got < r->want) {
        size_t n = r->want - r->got;
        if (n > r->chunk) n = r->chunk;
        ssize_t k = eddy_stream_read(r->s, r->buf + r->got, n);
        if (k <= 0) return k < 0 ? (int)k : -EPIPE;
        r->got += (size_t)k;
        if (r->pause) {
            int rc = eddy_sleep(r->pause);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

static void roundtrip(eddy_stream *w, eddy_stream *rd, size_t big, size_t chunk, int64_t pause)
{
    static unsigned char pat[4 << 20], got[4 << 20];
    struct iovec iov[NPIECES];
    size_t total = make_pieces(iov, pat, sizeof pat, big);
    reader r = {.s = rd, .buf = got, .want = total, .chunk = chunk, .pause = pause};
    int rc = 0;
    size_t written = 0;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, read_task, &r));
        EDDY_OK(eddy_stream_writev(w, iov, NPIECES, &written));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(written, total);
    EDDY_CHECK_EQ(r.got, total);
    EDDY_CHECK(memcmp(got, pat, total) == 0);
}

EDDY_TEST(writev_socketpair_many_pieces_slow_reader)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    roundtrip(a, b, 1000, 65536, 0);            /* small: one or two sendmsg */
    roundtrip(a, b, 300000, 4096, EDDY_MSEC(1)); /* big pieces, a reader that trickles */
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST_EX(writev_tcp_big_pieces, .real_clock = true)
{
    eddy_listener *l;
    eddy_sockaddr addr;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    EDDY_OK(eddy_listener_local_addr(l, &addr));
    eddy_stream *c, *s;
    EDDY_OK(eddy_tcp_connect_addr(&addr, &c));
    EDDY_OK(eddy_listener_accept(l, &s, NULL));
    roundtrip(c, s, 200000, 100000, 0);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

EDDY_TEST(writev_pipe_uses_writev)
{
    eddy_stream *rd, *wr;
    EDDY_OK(eddy_pipe(&rd, &wr));
    roundtrip(wr, rd, 100000, 8192, 0);
    EDDY_OK(eddy_stream_close(wr));
    EDDY_OK(eddy_stream_close(rd));
    return 0;
}

/* A writev cancelled while the peer does not read reports exactly what went out, and the
 * peer then reads exactly that prefix of the concatenated pieces. */
EDDY_TEST(writev_cancelled_reports_exact_count)
{
    static unsigned char pat[4 << 20], got[4 << 20];
    struct iovec iov[NPIECES];
    size_t total = make_pieces(iov, pat, sizeof pat, 500000);
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    size_t written = 0;
    int rc = 1;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) rc = eddy_stream_writev(a, iov, NPIECES, &written);
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK(written > 0 && written < total);
    EDDY_OK(eddy_stream_shutdown_write(a));
    reader r = {.s = b, .buf = got, .want = sizeof got, .chunk = 65536};
    EDDY_CHECK_EQ(read_task(&r), -EPIPE); /* end of stream after the prefix */
    EDDY_CHECK_EQ(r.got, written);
    EDDY_CHECK(memcmp(got, pat, written) == 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

/* Only empty pieces, or none: 0 and nothing written; after shutdown -EPIPE. */
EDDY_TEST(writev_empty_and_after_shutdown)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    char x = 'x';
    struct iovec e[3] = {{&x, 0}, {NULL, 0}, {&x, 0}};
    size_t w = 99;
    EDDY_OK(eddy_stream_writev(a, e, 3, &w));
    EDDY_CHECK_EQ(w, 0);
    EDDY_OK(eddy_stream_writev(a, NULL, 0, &w));
    EDDY_OK(eddy_stream_shutdown_write(a));
    struct iovec one = {&x, 1};
    EDDY_CHECK_EQ(eddy_stream_writev(a, &one, 1, &w), -EPIPE);
    EDDY_CHECK_EQ(w, 0);
    char buf[4];
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

