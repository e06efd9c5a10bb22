/* eddy_stream_readv (R3): scatter reads on TCP and Unix sockets (recvmsg), pipes (readv(2)) and
 * memory streams (first non-empty piece only), its argument checks, end of stream, cancellation
 * with no byte consumed, and a close under a waiting reader. */
#include <limits.h>
#include <string.h>
#include <sys/uio.h>

#include "eddy/memstream.h"
#include "eddy/test.h"
#include "test_tcp_util.h"

/* Read exactly `want` bytes through readv into hdr (4 bytes), an empty piece, body and
 * spare, looping over short reads; the pieces are filled in order. */
static void scatter_roundtrip(eddy_stream *w, eddy_stream *r)
{
    static const char msg[] = "HEAD" "the body of the frame, then more";
    const size_t want = sizeof msg - 1;
    EDDY_OK(eddy_stream_write_all(w, msg, want));
    char hdr[4], body[20], spare[64];
    memset(spare, 0, sizeof spare);
    size_t got = 0;
    while (got < want) {
        /* Rebuild the pieces past what was read so far. */
        struct iovec all[4] = {{hdr, sizeof hdr}, {NULL, 0}, {body, sizeof body}, {spare, sizeof spare}};
        struct iovec iov[4];
        int k = 0;
        size_t skip = got;
        for (int i = 0; i < 4; i++) {
            if (all[i].iov_len == 0) { /* the empty piece stays while nothing is skipped */
                if (skip == 0) iov[k++] = all[i];
                continue;
            }
            if (skip >= all[i].iov_len) {
                skip -= all[i].iov_len;
                continue;
            }
            iov[k].iov_base = (char *)all[i].iov_base + skip;
            iov[k].iov_len = all[i].iov_len - skip;
            skip = 0;
            k++;
        }
        ssize_t n = eddy_stream_readv(r, iov, k);
        EDDY_CHECK(n > 0);
        got += (size_t)n;
    }
    EDDY_CHECK_EQ(got, want);
    EDDY_CHECK(memcmp(hdr, "HEAD", 4) == 0);
    EDDY_CHECK(memcmp(body, msg + 4, sizeof body) == 0);
    EDDY_CHECK(memcmp(spare, msg + 4 + sizeof body, want - 4 - sizeof body) == 0);
}

EDDY_TEST(readv_tcp_fills_pieces_in_order)
{
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    scatter_roundtrip(a, b);
    scatter_roundtrip(b, a);
    /* End of stream: 0. */
    EDDY_OK(eddy_stream_shutdown_write(a));
    char x[8], y[8];
    struct iovec iov[2] = {{x, sizeof x}, {y, sizeof y}};
    EDDY_CHECK_EQ(eddy_stream_readv(b, iov, 2), 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(readv_unix_and_pipe)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    scatter_roundtrip(a, b);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    EDDY_OK(eddy_pipe(&a, &b)); /* a reads, b writes: readv(2) */
    scatter_roundtrip(b, a);
    EDDY_OK(eddy_stream_close(b));
    char x[4];
    struct iovec iov[1] = {{x, sizeof x}};
    EDDY_CHECK_EQ(eddy_stream_readv(a, iov, 1), 0);
    EDDY_OK(eddy_stream_close(a));
    return 0;
}

/* A transport without a scatter read fills the first non-empty piece only. */
EDDY_TEST_EX(readv_memstream_fills_first_piece, .one_backend = true)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_OK(eddy_stream_write_all(a, "abcdefgh", 8));
    char p[3], q[16];
    struct iovec iov[3] = {{NULL, 0}, {p, sizeof p}, {q, sizeof q}};
    EDDY_CHECK_EQ(eddy_stream_readv(b, iov, 3), 3);
    EDDY_CHECK(memcmp(p, "abc", 3) == 0);
    struct iovec rest[1] = {{q, sizeof q}};
    EDDY_CHECK_EQ(eddy_stream_readv(b, rest, 1), 5);
    EDDY_CHECK(memcmp(q, "defgh", 5) == 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(readv_bad_arguments)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    char x[4];
    struct iovec iov[2] = {{x, sizeof x}, {NULL, 1}};
    EDDY_CHECK_EQ(eddy_stream_readv(NULL, iov, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_stream_readv(b, iov, -1), -EINVAL);
    EDDY_CHECK_EQ(eddy_stream_readv(b, iov, IOV_MAX + 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_stream_readv(b, NULL, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_stream_readv(b, iov, 2), -EINVAL); /* NULL base, length 1 */
    /* Nothing to fill: a checkpoint, 0 at once (nothing was written). */
    struct iovec none[2] = {{x, 0}, {NULL, 0}};
    EDDY_CHECK_EQ(eddy_stream_readv(b, none, 2), 0);
    EDDY_CHECK_EQ(eddy_stream_readv(b, NULL, 0), 0);
    /* ... which a cancelled caller hears about. */
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        EDDY_CHECK_EQ(eddy_stream_readv(b, none, 2), -ECANCELED);
    }
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

/* A readv cancelled while it waits consumes nothing: the bytes written afterwards are all
 * read by the next call. */
EDDY_TEST(readv_cancelled_consumes_nothing)
{
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    char x[4], y[16];
    struct iovec iov[2] = {{x, sizeof x}, {y, sizeof y}};
    ssize_t n = 1;
    EDDY_MOVE_ON_AFTER(EDDY_MSEC(10)) { n = eddy_stream_readv(b, iov, 2); }
    EDDY_CHECK_EQ(n, -ECANCELED);
    EDDY_OK(eddy_stream_write_all(a, "0123456789", 10));
    size_t got = 0;
    char all[10];
    while (got < 10) {
        struct iovec one[1] = {{all + got, 10 - got}};
        n = eddy_stream_readv(b, one, 1);
        EDDY_CHECK(n > 0);
        got += (size_t)n;
    }
    EDDY_CHECK(memcmp(all, "0123456789", 10) == 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

typedef struct waiter {
    eddy_stream *s;
    ssize_t n;
} waiter;

static int readv_task(void *arg)
{
    waiter *w = arg;
    char x[8], y[8];
    struct iovec iov[2] = {{x, sizeof x}, {y, sizeof y}};
    w->n = eddy_stream_readv(w->s, iov, 2);
    return 0;
}

/* Closing the stream under a waiting readv ends it with -EBADF; close returns after it left. */
EDDY_TEST(readv_interrupted_by_close)
{
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    waiter w = {.s = b, .n = 1};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, readv_task, &w));
        EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
        EDDY_CHECK_EQ(w.n, 1); /* still waiting */
        EDDY_OK(eddy_stream_close(b));
        EDDY_CHECK_EQ(w.n, -EBADF);
    }
    EDDY_OK(rc);
    EDDY_OK(eddy_stream_close(a));
    return 0;
}
