/* R3/N12: zero-copy sends (eddy_stream_set_zerocopy): MSG_ZEROCOPY on epoll, SEND_ZC on
 * io_uring. A zero-copy write returns only once the kernel has let go of the buffer, loses and
 * duplicates nothing under cancellation, and is refused by streams that cannot do it. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/memstream.h"
#include "eddy/test.h"
#include "test_tcp_util.h"

static unsigned char *pattern(size_t len, unsigned seed)
{
    unsigned char *p = malloc(len);
    EDDY_CHECK(p != NULL);
    for (size_t i = 0; i < len; i++) p[i] = (unsigned char)((i * 7 + seed + i / 251) & 0xff);
    return p;
}

typedef struct sink {
    eddy_stream *s;
    unsigned char *buf;
    size_t len, cap;
    int64_t delay;  /* sleep between reads: a slow reader */
    ssize_t rc;
} sink;

static int sink_task(void *arg)
{
    sink *k = arg;
    for (;;) {
        if (k->delay) EDDY_OK(eddy_sleep(k->delay));
        size_t room = k->cap - k->len;
        if (room > 65536) room = 65536;
        ssize_t n = eddy_stream_read(k->s, k->buf + k->len, room);
        if (n <= 0) {
            k->rc = n;
            return 0;
        }
        k->len += (size_t)n;
    }
}

EDDY_TEST(zerocopy_refused_where_it_cannot_be)
{
    EDDY_CHECK_EQ(eddy_stream_set_zerocopy(NULL, 4096), -EINVAL);
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b)); /* Unix: no zero-copy */
    EDDY_CHECK_EQ(eddy_stream_set_zerocopy(a, 4096), -ENOTSUP);
    eddy_stream_abort(a);
    eddy_stream_abort(b);
    EDDY_OK(eddy_pipe(&a, &b));
    EDDY_CHECK_EQ(eddy_stream_set_zerocopy(b, 4096), -ENOTSUP);
    eddy_stream_abort(a);
    eddy_stream_abort(b);
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_CHECK_EQ(eddy_stream_set_zerocopy(a, 4096), -ENOTSUP);
    eddy_stream_abort(a);
    eddy_stream_abort(b);
    return 0;
}

/* Large writes and writevs arrive intact; the buffer is the caller's again when the call
 * returns: overwritten at once, the receiver still gets what was written. On epoll the notice
 * was taken off the error queue before the call returned (nothing is left there). */
EDDY_TEST(zerocopy_writes_arrive_and_release_the_buffer)
{
    enum { N = 4, LEN = 256 * 1024 };
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    EDDY_OK(eddy_stream_set_zerocopy(a, 16 * 1024));
    EDDY_OK(eddy_stream_set_zerocopy(a, 16 * 1024)); /* again: fine */
    unsigned char *want = malloc((size_t)N * LEN + 100);
    sink k = {.s = b, .cap = (size_t)N * LEN + 100};
    k.buf = malloc(k.cap);
    int rc;
    size_t off = 0;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sink_task, &k));
        unsigned char *buf = pattern(LEN, 1);
        for (int i = 0; i < N; i++) {
            for (size_t j = 0; j < LEN; j += 4096) buf[j] = (unsigned char)(i + 1);
            memcpy(want + off, buf, LEN);
            if (i % 2 == 0) {
                EDDY_OK(eddy_stream_write_all(a, buf, LEN));
            } else {
                struct iovec iov[2] = {{buf, 100}, {buf + 100, LEN - 100}};
                size_t w = 0;
                EDDY_OK(eddy_stream_writev(a, iov, 2, &w));
                EDDY_CHECK_EQ(w, (size_t)LEN);
            }
            off += LEN;
            memset(buf, 0xEE, LEN); /* ours again */
            if (!strcmp(eddy_backend_name(), "epoll")) {
                char ctl[256];
                struct msghdr m = {.msg_control = ctl, .msg_controllen = sizeof ctl};
                EDDY_CHECK(recvmsg(eddy_stream_fd(a), &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0 &&
                           errno == EAGAIN);
            }
        }
        EDDY_OK(eddy_stream_write_all(a, "tail", 4)); /* small: copied */
        memcpy(want + off, "tail", 4);
        off += 4;
        EDDY_OK(eddy_stream_shutdown_write(a));
        free(buf);
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(k.rc, 0);
    EDDY_CHECK_EQ(k.len, off);
    EDDY_CHECK(memcmp(k.buf, want, off) == 0);
    EDDY_OK(eddy_stream_set_zerocopy(a, 0)); /* off */
    free(want);
    free(k.buf);
    eddy_stream_abort(a);
    eddy_stream_abort(b);
    return 0;
}

/* A zero-copy write to a reader that does not read, cancelled by its deadline: the kernel
 * holds the pages of bytes it queued, so the cancel resets the connection to get them back
 * (without that, the write would never return). The write reports the cancel; the reader gets
 * a prefix of the bytes (at least what written counts) and then the reset. */
typedef struct zc_writer {
    eddy_stream *s;
    const unsigned char *buf;
    size_t len, written;
    int rc;
} zc_writer;

static int zc_writer_task(void *arg)
{
    zc_writer *w = arg;
    EDDY_MOVE_ON_AFTER(EDDY_MSEC(50)) { w->rc = eddy_stream_write(w->s, w->buf, w->len, &w->written); }
    return 0;
}

EDDY_TEST(zerocopy_write_cancelled_resets_and_returns)
{
    enum { LEN = 32 << 20 };
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    EDDY_OK(eddy_stream_set_zerocopy(a, 4096));
    unsigned char *buf = pattern(LEN, 3);
    zc_writer w = {.s = a, .buf = buf, .len = LEN, .rc = 1};
    sink k = {.s = b, .cap = LEN};
    k.buf = malloc(k.cap);
    int rc;
    EDDY_NURSERY(n, &rc) {
        /* Nobody reads until the write has given up at its deadline: the sockets fill. */
        EDDY_OK(eddy_spawn(n, zc_writer_task, &w));
        while (w.rc == 1) EDDY_OK(eddy_sleep(EDDY_MSEC(5)));
        EDDY_CHECK_EQ(w.rc, -ECANCELED);
        EDDY_CHECK(w.written < (size_t)LEN);
        EDDY_OK(eddy_spawn(n, sink_task, &k));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(k.rc, -ECONNRESET);
    EDDY_CHECK(k.len >= w.written && k.len < (size_t)LEN);
    EDDY_CHECK(memcmp(k.buf, buf, k.len) == 0);
    free(buf);
    free(k.buf);
    eddy_stream_abort(a);
    eddy_stream_abort(b);
    return 0;
}

/* A zero-copy write cancelled before the kernel took any byte (the send queue was already full
 * from a plain write) ends as any write does: the stream is intact, and everything written
 * arrives. */
EDDY_TEST(zerocopy_write_cancelled_before_sending_keeps_the_stream)
{
    enum { LEN = 1 << 20 };
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    unsigned char *buf = pattern(LEN, 9);
    /* Fill the queues with copied writes until one would block: its deadline cancels it. */
    size_t filled = 0;
    for (;;) {
        size_t w = 0;
        int wr = 1;
        EDDY_MOVE_ON_AFTER(EDDY_MSEC(10)) { wr = eddy_stream_write(a, buf, 65536, &w); }
        filled += w;
        if (wr != 0) {
            EDDY_CHECK_EQ(wr, -ECANCELED);
            break;
        }
    }
    EDDY_OK(eddy_stream_set_zerocopy(a, 4096));
    zc_writer w = {.s = a, .buf = buf, .len = LEN, .rc = 1};
    EDDY_OK(zc_writer_task(&w));
    EDDY_CHECK_EQ(w.rc, -ECANCELED);
    EDDY_CHECK_EQ(w.written, 0u);
    /* The stream still works: the tail goes (zero-copy), then everything is read back. */
    EDDY_OK(eddy_stream_set_zerocopy(a, 0));
    sink k = {.s = b, .cap = filled + 100};
    k.buf = malloc(k.cap);
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sink_task, &k));
        EDDY_OK(eddy_stream_write_all(a, "tail", 4));
        EDDY_OK(eddy_stream_shutdown_write(a));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(k.rc, 0);
    EDDY_CHECK_EQ(k.len, filled + 4);
    EDDY_CHECK(memcmp(k.buf + filled, "tail", 4) == 0);
    free(buf);
    free(k.buf);
    eddy_stream_abort(a);
    eddy_stream_abort(b);
    return 0;
}

/* Closing the stream under a blocked zero-copy write ends it with -EBADF; close returns once
 * the writer has left. */
EDDY_TEST(zerocopy_write_interrupted_by_close)
{
    enum { LEN = 16 << 20 };
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    EDDY_OK(eddy_stream_set_zerocopy(a, 4096));
    unsigned char *buf = pattern(LEN, 5);
    zc_writer w = {.s = a, .buf = buf, .len = LEN, .rc = 1};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, zc_writer_task, &w));
        EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
        EDDY_CHECK_EQ(w.rc, 1); /* blocked: nobody reads */
        eddy_stream_abort(a);
        EDDY_CHECK_EQ(w.rc, -EBADF);
    }
    EDDY_OK(rc);
    EDDY_CHECK(w.written > 0 && w.written < (size_t)LEN);
    free(buf);
    eddy_stream_abort(b);
    return 0;
}

/* A graceful close under a zero-copy write to a peer that does not read: the kernel would hold
 * the writer's pages until the peer reads, so without a reset the close (which waits for the
 * writer) would never return. It resets: the writer gets -EBADF, the close returns, the peer
 * sees the reset after a prefix of the bytes. */
static int zc_writer_forever_task(void *arg)
{
    zc_writer *w = arg;
    w->rc = eddy_stream_write(w->s, w->buf, w->len, &w->written);
    return 0;
}

EDDY_TEST(zerocopy_graceful_close_under_a_stalled_write_returns)
{
    enum { LEN = 16 << 20 };
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    EDDY_OK(eddy_stream_set_zerocopy(a, 4096));
    unsigned char *buf = pattern(LEN, 7);
    zc_writer w = {.s = a, .buf = buf, .len = LEN, .rc = 1};
    sink k = {.s = b, .cap = LEN};
    k.buf = malloc(k.cap);
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, zc_writer_forever_task, &w));
        EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
        EDDY_CHECK_EQ(w.rc, 1); /* blocked: nobody reads */
        EDDY_OK(eddy_stream_close(a));
        EDDY_CHECK_EQ(w.rc, -EBADF);
        EDDY_OK(eddy_spawn(n, sink_task, &k));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(k.rc, -ECONNRESET);
    EDDY_CHECK(k.len < (size_t)LEN && memcmp(k.buf, buf, k.len) == 0);
    free(buf);
    free(k.buf);
    eddy_stream_abort(b);
    return 0;
}
