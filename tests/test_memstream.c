/* X3 memory stream pairs (with the evil hooks), and eddy_stream_writev (N8) over them. */
#include <string.h>

#include "eddy/test.h"

/* A task doing one read or one write on a stream, recording what happened and when. */
typedef struct op {
    eddy_stream *s;
    const char *data; /* write: the bytes */
    size_t len;
    char buf[256];
    ssize_t rc;
    size_t written;
    int64_t at;
} op;

static int reader(void *arg)
{
    op *o = arg;
    o->rc = eddy_stream_read(o->s, o->buf, o->len ? o->len : sizeof o->buf);
    o->at = eddy_now();
    return 0;
}

static int writer(void *arg)
{
    op *o = arg;
    o->rc = eddy_stream_write(o->s, o->data, o->len, &o->written);
    o->at = eddy_now();
    return 0;
}

/* Read exactly n bytes (the stream may deliver them in pieces). */
static void read_n(eddy_stream *s, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = eddy_stream_read(s, buf + got, n - got);
        EDDY_CHECK(r > 0);
        got += (size_t)r;
    }
}

EDDY_TEST(mem_pair_moves_bytes_both_ways)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_CHECK(strcmp(eddy_stream_kind(a), "mem") == 0);
    EDDY_CHECK_EQ(eddy_stream_fd(a), -1);
    EDDY_OK(eddy_stream_write_all(a, "hello", 5));
    EDDY_CHECK_EQ(eddy_memstream_pending(b), 5);
    EDDY_CHECK_EQ(eddy_memstream_pending(a), 0);
    char buf[16];
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "hello", 5) == 0);
    EDDY_OK(eddy_stream_write_all(b, "back", 4));
    EDDY_CHECK_EQ(eddy_stream_read(a, buf, 2), 2); /* a short read leaves the rest */
    EDDY_CHECK(memcmp(buf, "ba", 2) == 0);
    EDDY_CHECK_EQ(eddy_stream_read(a, buf, sizeof buf), 2);
    EDDY_CHECK(memcmp(buf, "ck", 2) == 0);
    EDDY_CHECK_EQ(eddy_memstream_pending(NULL), 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_pair_ring_wraps)
{
    /* Many writes and reads of sizes that do not divide the capacity: the ring wraps. */
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.capacity = 7}));
    char out[5], in[5];
    for (int i = 0; i < 50; i++) {
        for (int j = 0; j < 5; j++) out[j] = (char)(i * 5 + j);
        EDDY_OK(eddy_stream_write_all(a, out, 5));
        read_n(b, in, 5);
        EDDY_CHECK(memcmp(in, out, 5) == 0);
    }
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_pair_bad_arguments)
{
    eddy_stream *a = (eddy_stream *)1, *b = (eddy_stream *)1;
    EDDY_CHECK_EQ(eddy_memstream_pair(NULL, &b, NULL), -EINVAL);
    EDDY_CHECK(b == NULL);
    EDDY_CHECK_EQ(eddy_memstream_pair(&a, NULL, NULL), -EINVAL);
    EDDY_CHECK(a == NULL);
    EDDY_CHECK_EQ(eddy_memstream_pair(&a, &a, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.read_delay = -1}), -EINVAL);
    EDDY_CHECK_EQ(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.write_delay = -1}), -EINVAL);
    EDDY_CHECK(a == NULL && b == NULL);
    EDDY_CHECK_EQ(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.capacity = SIZE_MAX / 2 + 1}),
                  -ENOMEM);
    return 0;
}

EDDY_TEST_EX(mem_pair_outside_loop_eperm, .raw = true)
{
    eddy_stream *a, *b;
    EDDY_CHECK_EQ(eddy_memstream_pair(&a, &b, NULL), -EPERM);
    EDDY_CHECK(a == NULL && b == NULL);
    return 0;
}

EDDY_TEST(mem_read_blocks_until_data)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    op r = {.s = b};
    int rc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        EDDY_OK(eddy_sleep(EDDY_SEC(3)));
        EDDY_CHECK_EQ(r.at, 0); /* still waiting */
        EDDY_OK(eddy_stream_write_all(a, "abc", 3));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(r.rc, 3);
    EDDY_CHECK(memcmp(r.buf, "abc", 3) == 0);
    EDDY_CHECK_EQ(r.at - t0, EDDY_SEC(3));
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_cancelled_read_consumes_nothing)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    char buf[8];
    ssize_t r = 1;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { r = eddy_stream_read(b, buf, sizeof buf); }
    EDDY_CHECK_EQ(r, -ECANCELED);
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { r = eddy_stream_read(b, buf, sizeof buf); }
    EDDY_CHECK_EQ(r, -ETIMEDOUT);
    EDDY_OK(eddy_stream_write_all(a, "xy", 2));
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 2);
    EDDY_CHECK(memcmp(buf, "xy", 2) == 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_writer_blocks_on_full_buffer_and_is_cancellable)
{
    /* A peer that never reads: the writer is stuck at the capacity, memory does not grow,
     * and cancelling the writer reports exactly the bytes the peer will get. */
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.capacity = 16}));
    char big[1000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
    op w = {.s = a, .data = big, .len = sizeof big, .rc = 1};
    eddy_task *wt;
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, writer, &w, .handle = &wt));
        EDDY_OK(eddy_sleep(EDDY_SEC(60)));
        EDDY_CHECK_EQ(w.rc, 1); /* still blocked */
        EDDY_CHECK_EQ(eddy_memstream_pending(b), 16);
        eddy_task_cancel(wt);
        EDDY_OK(eddy_task_join(wt, NULL));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w.rc, -ECANCELED);
    EDDY_CHECK_EQ(w.written, 16);
    EDDY_CHECK_EQ(eddy_memstream_pending(b), 16);
    char buf[32];
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 16);
    EDDY_CHECK(memcmp(buf, big, 16) == 0);
    /* The stream still works after the cancelled write. */
    EDDY_OK(eddy_stream_write_all(a, "z", 1));
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 1);
    EDDY_CHECK_EQ(buf[0], 'z');
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_backpressure_resumes_as_peer_reads)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.capacity = 10}));
    char big[100];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)i;
    op w = {.s = a, .data = big, .len = sizeof big, .rc = 1};
    char in[100];
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, writer, &w));
        size_t got = 0;
        while (got < sizeof in) {
            EDDY_CHECK(eddy_memstream_pending(b) <= 10);
            ssize_t r = eddy_stream_read(b, in + got, 3);
            EDDY_CHECK(r > 0 && r <= 3);
            got += (size_t)r;
        }
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w.rc, 0);
    EDDY_CHECK_EQ(w.written, 100);
    EDDY_CHECK(memcmp(in, big, 100) == 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_shutdown_write_is_half_close)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_OK(eddy_stream_write_all(a, "last", 4));
    EDDY_OK(eddy_stream_shutdown_write(a));
    EDDY_OK(eddy_stream_shutdown_write(a)); /* again: 0 */
    EDDY_CHECK_EQ(eddy_stream_write_all(a, "x", 1), -EPIPE);
    char buf[8];
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 4);
    EDDY_CHECK(memcmp(buf, "last", 4) == 0);
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 0);
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 0); /* stays at end */
    /* The other direction still works. */
    EDDY_OK(eddy_stream_write_all(b, "reply", 5));
    EDDY_CHECK_EQ(eddy_stream_read(a, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "reply", 5) == 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_shutdown_wakes_blocked_reader)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    op r = {.s = b, .rc = 1};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_OK(eddy_stream_shutdown_write(a));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_close_is_eof_then_epipe_for_peer)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_OK(eddy_stream_write_all(a, "bye", 3));
    EDDY_OK(eddy_stream_write_all(b, "unread", 6)); /* a never reads it */
    EDDY_OK(eddy_stream_close(a));
    char buf[8];
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 3);
    EDDY_CHECK(memcmp(buf, "bye", 3) == 0);
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 0);
    size_t wr = 99;
    EDDY_CHECK_EQ(eddy_stream_write(b, "more", 4, &wr), -EPIPE);
    EDDY_CHECK_EQ(wr, 0);
    EDDY_OK(eddy_stream_shutdown_write(b));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_peer_close_wakes_blocked_reader_and_writer)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.capacity = 4}));
    op r = {.s = b, .rc = 1}, w = {.s = b, .data = "0123456789", .len = 10, .rc = 1};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        EDDY_OK(eddy_spawn(nu, writer, &w)); /* fills a's inbound 4 bytes, then blocks */
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK_EQ(r.rc, 1);
        EDDY_CHECK_EQ(w.rc, 1);
        EDDY_OK(eddy_stream_close(a));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_CHECK_EQ(w.rc, -EPIPE);
    EDDY_CHECK_EQ(w.written, 4);
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_abort_resets_peer)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_OK(eddy_stream_write_all(a, "lost", 4));
    eddy_stream_abort(a);
    char buf[8];
    EDDY_CHECK_EQ(eddy_memstream_pending(b), 0); /* RST: unread data is dropped */
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), -ECONNRESET);
    EDDY_CHECK_EQ(eddy_stream_write_all(b, "x", 1), -ECONNRESET);
    EDDY_CHECK_EQ(eddy_stream_shutdown_write(b), -ENOTCONN);
    eddy_stream_abort(b);
    return 0;
}

EDDY_TEST(mem_abort_wakes_blocked_peer)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.capacity = 2}));
    op r = {.s = b, .rc = 1}, w = {.s = b, .data = "abcdef", .len = 6, .rc = 1};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        EDDY_OK(eddy_spawn(nu, writer, &w));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        eddy_stream_abort(a);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(r.rc, -ECONNRESET);
    EDDY_CHECK_EQ(w.rc, -ECONNRESET);
    EDDY_CHECK_EQ(w.written, 2);
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_close_wakes_own_reader_writer_and_delays_with_ebadf)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.capacity = 2}));
    op r = {.s = b, .rc = 1}, w = {.s = b, .data = "abcdef", .len = 6, .rc = 1};
    int rc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        EDDY_OK(eddy_spawn(nu, writer, &w));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_OK(eddy_stream_close(b)); /* returns once both have left b */
        EDDY_CHECK_EQ(r.rc, -EBADF);
        EDDY_CHECK_EQ(w.rc, -EBADF);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w.written, 2);
    /* b is gone: a gets the 2 bytes b's writer had written, then a graceful end. */
    char buf[4];
    EDDY_CHECK_EQ(eddy_stream_read(a, buf, sizeof buf), 2);
    EDDY_CHECK(memcmp(buf, "ab", 2) == 0);
    EDDY_CHECK_EQ(eddy_stream_read(a, buf, sizeof buf), 0);
    EDDY_OK(eddy_stream_close(a));

    /* Tasks sleeping out a hook delay are woken by close too, not left to finish it. */
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.read_delay = EDDY_SEC(100),
                                                                 .write_delay = EDDY_SEC(100)}));
    r = (op){.s = b, .rc = 1};
    w = (op){.s = b, .data = "abc", .len = 3, .rc = 1};
    t0 = eddy_now();
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        EDDY_OK(eddy_spawn(nu, writer, &w));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_OK(eddy_stream_close(b));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(r.rc, -EBADF);
    EDDY_CHECK_EQ(w.rc, -EBADF);
    EDDY_CHECK_EQ(w.written, 0);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
    EDDY_OK(eddy_stream_close(a));
    return 0;
}

EDDY_TEST(mem_hook_one_byte_reads)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.max_read = 1}));
    EDDY_OK(eddy_stream_write_all(a, "abc", 3));
    char buf[8];
    for (int i = 0; i < 3; i++) {
        EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 1);
        EDDY_CHECK_EQ(buf[0], "abc"[i]);
    }
    /* Only reads are limited: the other end is symmetric (same hooks). */
    EDDY_OK(eddy_stream_write_all(b, "xy", 2));
    EDDY_CHECK_EQ(eddy_stream_read(a, buf, sizeof buf), 1);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_hook_short_writes_and_delays)
{
    /* Writes accept 4 bytes per piece and each piece waits 2 s; reads wait 1 s. */
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.max_write = 4,
                                                                 .write_delay = EDDY_SEC(2),
                                                                 .read_delay = EDDY_SEC(1)}));
    int64_t t0 = eddy_now();
    size_t wr = 0;
    EDDY_OK(eddy_stream_write(a, "0123456789", 10, &wr));
    EDDY_CHECK_EQ(wr, 10);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(6)); /* pieces of 4, 4, 2 */
    char buf[16];
    t0 = eddy_now();
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 10);
    EDDY_CHECK(memcmp(buf, "0123456789", 10) == 0);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
    /* A delay is a cancellation point: a cancelled delayed read takes nothing. */
    EDDY_OK(eddy_stream_write_all(a, "q", 1));
    ssize_t r = 1;
    EDDY_MOVE_ON_AFTER(EDDY_MSEC(500)) { r = eddy_stream_read(b, buf, sizeof buf); }
    EDDY_CHECK_EQ(r, -ECANCELED);
    EDDY_CHECK_EQ(eddy_memstream_pending(b), 1);
    /* And a cancelled delayed write has written nothing. */
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { r = eddy_stream_write(a, "zz", 2, &wr); }
    EDDY_CHECK_EQ(r, -ECANCELED);
    EDDY_CHECK_EQ(wr, 0);
    EDDY_CHECK_EQ(eddy_memstream_pending(b), 1);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_hook_reset_after_k_bytes)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.reset_after = 7}));
    EDDY_OK(eddy_stream_write_all(b, "ab", 2)); /* counts: both directions */
    size_t wr = 0;
    EDDY_CHECK_EQ(eddy_stream_write(a, "0123456789", 10, &wr), -ECONNRESET);
    EDDY_CHECK_EQ(wr, 5);
    char buf[16];
    /* Bytes written before the reset are still delivered, then the reset shows. */
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "01234", 5) == 0);
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), -ECONNRESET);
    EDDY_CHECK_EQ(eddy_stream_read(a, buf, sizeof buf), 2);
    EDDY_CHECK_EQ(eddy_stream_read(a, buf, sizeof buf), -ECONNRESET);
    EDDY_CHECK_EQ(eddy_stream_write_all(a, "x", 1), -ECONNRESET);
    EDDY_CHECK_EQ(eddy_stream_write_all(b, "x", 1), -ECONNRESET);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(mem_reset_mid_read_and_mid_write)
{
    /* a's reader waits for data, a's writer is blocked on a full buffer; b then reads, the
     * writer goes on and reaches the reset count: the writer's call and the waiting read
     * both end with -ECONNRESET, and b still gets every byte written before the reset. */
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.capacity = 4, .reset_after = 6}));
    op r = {.s = a, .rc = 1}, w = {.s = a, .data = "01234567", .len = 8, .rc = 1};
    char buf[8];
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        EDDY_OK(eddy_spawn(nu, writer, &w));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK_EQ(w.rc, 1);
        EDDY_CHECK_EQ(eddy_memstream_pending(b), 4);
        EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 4);
        EDDY_CHECK(memcmp(buf, "0123", 4) == 0);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w.rc, -ECONNRESET);
    EDDY_CHECK_EQ(w.written, 6);
    EDDY_CHECK_EQ(r.rc, -ECONNRESET);
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 2);
    EDDY_CHECK(memcmp(buf, "45", 2) == 0);
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), -ECONNRESET);
    EDDY_CHECK_EQ(eddy_stream_shutdown_write(b), -ENOTCONN);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

/* N8 over a memory stream: writers that must wait for space and write in small pieces are
 * still served in FIFO order, each call's bytes contiguous. */
typedef struct fifo_w {
    eddy_stream *s;
    char c;
    bool vec;
    int rc;
} fifo_w;

static int fifo_writer(void *arg)
{
    fifo_w *f = arg;
    char block[100];
    memset(block, f->c, sizeof block);
    if (f->vec) {
        struct iovec iov[3] = {{block, 30}, {block + 30, 0}, {block + 30, 70}};
        size_t wr = 0;
        f->rc = eddy_stream_writev(f->s, iov, 3, &wr);
        if (wr != 100) f->rc = -EIO;
    } else {
        f->rc = eddy_stream_write_all(f->s, block, sizeof block);
    }
    return 0;
}

EDDY_TEST(mem_concurrent_writers_fifo_and_contiguous)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.capacity = 16, .max_write = 7,
                                                                 .max_read = 5}));
    fifo_w f[4] = {{a, 'A', false, 1}, {a, 'B', true, 1}, {a, 'C', false, 1}, {a, 'D', true, 1}};
    char in[400];
    int rc;
    EDDY_NURSERY(nu, &rc) {
        for (int i = 0; i < 4; i++) EDDY_OK(eddy_spawn(nu, fifo_writer, &f[i]));
        read_n(b, in, sizeof in);
    }
    EDDY_CHECK_EQ(rc, 0);
    for (int i = 0; i < 4; i++) {
        EDDY_CHECK_EQ(f[i].rc, 0);
        for (int j = 0; j < 100; j++) EDDY_CHECK_EQ(in[i * 100 + j], 'A' + i);
    }
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(stream_writev_arguments_and_errors)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.capacity = 4}));
    size_t wr = 99;
    struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
    EDDY_CHECK_EQ(eddy_stream_writev(NULL, iov, 2, &wr), -EINVAL);
    EDDY_CHECK_EQ(wr, 0);
    EDDY_CHECK_EQ(eddy_stream_writev(a, NULL, 1, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_stream_writev(a, iov, -1, NULL), -EINVAL);
    struct iovec bad[1] = {{NULL, 3}};
    EDDY_CHECK_EQ(eddy_stream_writev(a, bad, 1, NULL), -EINVAL);
    EDDY_OK(eddy_stream_writev(a, NULL, 0, &wr)); /* nothing to write */
    EDDY_CHECK_EQ(wr, 0);
    EDDY_OK(eddy_stream_writev(a, iov, 2, &wr));
    EDDY_CHECK_EQ(wr, 4);
    char buf[8];
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 4);
    EDDY_CHECK(memcmp(buf, "abcd", 4) == 0);
    /* Cancelled part-way (the peer does not read): written counts what the peer will get. */
    struct iovec more[2] = {{"012", 3}, {"3456", 4}};
    int r = 1;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { r = eddy_stream_writev(a, more, 2, &wr); }
    EDDY_CHECK_EQ(r, -ECANCELED);
    EDDY_CHECK_EQ(wr, 4);
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 4);
    EDDY_CHECK(memcmp(buf, "0123", 4) == 0);
    /* Cancelled before starting: nothing written. */
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        r = eddy_stream_writev(a, more, 2, &wr);
    }
    EDDY_CHECK_EQ(r, -ECANCELED);
    EDDY_CHECK_EQ(wr, 0);
    EDDY_OK(eddy_stream_shutdown_write(a));
    EDDY_CHECK_EQ(eddy_stream_writev(a, iov, 2, &wr), -EPIPE);
    EDDY_OK(eddy_stream_close(b));
    EDDY_CHECK_EQ(eddy_stream_writev(a, iov, 2, &wr), -EPIPE);
    EDDY_OK(eddy_stream_close(a));
    return 0;
}

static int leak_main(void *arg)
{
    (void)arg;
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    return eddy_stream_close(a); /* b never closed */
}

EDDY_TEST_EX(mem_unclosed_end_is_a_leak, .raw = true, .leaks_memory = true)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_QUIET};
    EDDY_CHECK_EQ(eddy_run_opts(leak_main, NULL, &o), -ENOTRECOVERABLE);
    return 0;
}

/* ---- the conformance checks (eddy_check_stream, eddy/streamtest.h) ---------------------- *
 * test_stream_conformance.c runs them over every transport; these cases keep the memory
 * pair's own and the checker's failure reports next to the memory pair's tests. */

static int make_mem(void *arg, eddy_stream **a, eddy_stream **b)
{
    return eddy_memstream_pair(a, b, (const eddy_memstream_hooks *)arg);
}

/* Each check's fail-after guard for memory pairs (the kernel's get EDDY_FOREVER: on the virtual
 * clock a guard could be jumped to while the kernel still delivers). */
#define GUARD EDDY_SEC(60)

static int check(const char *name, int (*make)(void *, eddy_stream **, eddy_stream **), void *arg,
                 unsigned flags, int64_t timeout)
{
    return eddy_check_stream(&(eddy_stream_factory){.name = name, .make = make, .ctx = arg,
                                                    .flags = flags, .volume = 256 * 1024,
                                                    .timeout = timeout});
}

EDDY_TEST(check_stream_memory_pairs)
{
    EDDY_OK(check("mem", make_mem, NULL, 0, GUARD));
    eddy_memstream_hooks evil = {.capacity = 100, .max_read = 7, .max_write = 5};
    EDDY_OK(check("mem evil", make_mem, &evil, 0, GUARD));
    eddy_memstream_hooks slow = {.capacity = 4096, .read_delay = EDDY_MSEC(1), .write_delay = EDDY_MSEC(1)};
    EDDY_OK(check("mem slow", make_mem, &slow, 0, GUARD));
    return 0;
}

static int make_unix(void *arg, eddy_stream **a, eddy_stream **b)
{
    (void)arg;
    return eddy_socketpair(a, b);
}

static int make_tcp(void *arg, eddy_stream **a, eddy_stream **b)
{
    (void)arg;
    eddy_listener *l;
    eddy_sockaddr addr;
    int rc = eddy_tcp_listen("127.0.0.1", 0, NULL, &l);
    if (rc < 0) return rc;
    rc = eddy_listener_local_addr(l, &addr);
    if (rc == 0) rc = eddy_tcp_connect_addr(&addr, a);
    if (rc == 0 && (rc = eddy_listener_accept(l, b, NULL)) < 0) eddy_stream_abort(*a);
    int crc = eddy_listener_close(l);
    if (rc == 0 && crc < 0) {
        eddy_stream_abort(*a);
        eddy_stream_abort(*b);
        rc = crc;
    }
    return rc;
}

EDDY_TEST(check_stream_socket_pairs)
{
    /* No guard timer for kernel transports on the virtual clock (see streamtest.h). */
    EDDY_OK(check("unix", make_unix, NULL, EDDY_STREAMTEST_NO_RESET, EDDY_FOREVER));
    EDDY_OK(check("tcp", make_tcp, NULL, 0, EDDY_FOREVER));
    return 0;
}

/* A factory whose pairs are broken (the first end is already shut down): the checks must say
 * so rather than pass or hang. */
static int make_broken(void *arg, eddy_stream **a, eddy_stream **b)
{
    (void)arg;
    int rc = eddy_memstream_pair(a, b, NULL);
    if (rc == 0 && (rc = eddy_stream_shutdown_write(*a)) < 0) {
        eddy_stream_abort(*a);
        eddy_stream_abort(*b);
    }
    return rc;
}

static int make_fails(void *arg, eddy_stream **a, eddy_stream **b)
{
    (void)arg;
    *a = *b = NULL;
    return -EMFILE;
}

static int make_nothing(void *arg, eddy_stream **a, eddy_stream **b)
{
    (void)arg;
    *a = *b = NULL;
    return 0;
}

/* A read woken by its delay's timer and cancelled before it ran goes on to wait for data in a
 * scope that is already cancelled: that wait must leave nothing behind (issue 7, bug 3: every
 * cancelled exit of the park runs its cancel hook), or the next write wakes whatever the
 * reader waits on next. The cancel is armed by a second task after the read's delay timer, at
 * the same time, so it fires right after it in the same pass: the reader is ready, not blocked,
 * when its scope is cancelled. */
static eddy_cancel_scope *rp_cs;
static eddy_stream *rp_b;
static eddy_event rp_ev;
static bool rp_set_by_writer;
static eddy_timer rp_tm;

static void rp_cancel(void *arg)
{
    (void)arg;
    eddy_cancel_scope_cancel(rp_cs);
}

static int rp_arm(void *arg)
{
    (void)arg;
    EDDY_OK(eddy_yield()); /* the reader is now in its delay */
    return eddy_call_later(&rp_tm, EDDY_SEC(1), rp_cancel, NULL);
}

static int rp_writer(void *arg)
{
    (void)arg;
    EDDY_OK(eddy_yield()); /* the reader is now in eddy_event_wait */
    EDDY_OK(eddy_stream_write_all(rp_b, "x", 1)); /* a stale wait would wake the reader here */
    EDDY_OK(eddy_yield());
    rp_set_by_writer = true;
    eddy_event_set(&rp_ev);
    return 0;
}

EDDY_TEST(read_cancelled_between_delay_and_wait_leaves_no_waiter)
{
    eddy_stream *a;
    EDDY_OK(eddy_memstream_pair(&a, &rp_b, &(eddy_memstream_hooks){.read_delay = EDDY_SEC(1)}));
    eddy_cancel_scope cs;
    rp_cs = &cs;
    eddy_event_init(&rp_ev);
    char c;
    ssize_t n = 1;
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, rp_arm, NULL));
        EDDY_CANCEL_SCOPE(&cs) { n = eddy_stream_read(a, &c, 1); }
        EDDY_CHECK_EQ(n, -ECANCELED);
        EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(1));
        EDDY_OK(eddy_spawn(nu, rp_writer, NULL));
        EDDY_OK(eddy_event_wait(&rp_ev));
        EDDY_CHECK(rp_set_by_writer); /* woken by the event, not by the write */
    }
    EDDY_OK(rc);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(rp_b));
    return 0;
}

EDDY_TEST(check_stream_reports_failures)
{
    EDDY_CHECK_EQ(check("shut down at birth (expected to fail)", make_broken, NULL, 0, GUARD), -EPROTO);
    EDDY_CHECK_EQ(check("failing factory (expected to fail)", make_fails, NULL, 0, GUARD), -EMFILE);
    EDDY_CHECK_EQ(check("empty factory (expected to fail)", make_nothing, NULL, 0, GUARD), -EINVAL);
    EDDY_CHECK_EQ(check("no factory", NULL, NULL, 0, GUARD), -EINVAL);
    return 0;
}

EDDY_TEST_EX(check_stream_outside_task_eperm, .raw = true)
{
    EDDY_CHECK_EQ(check("mem", make_mem, NULL, 0, GUARD), -EPERM);
    return 0;
}

/* The checks synchronise on the stream's state, not on the order tasks happen to run in. */
EDDY_TEST_EX(check_stream_under_seeded_schedulers, .sched_seed = 0x5eed, .one_backend = true)
{
    EDDY_OK(check("mem", make_mem, NULL, 0, GUARD));
    eddy_memstream_hooks evil = {.capacity = 64, .max_read = 3, .max_write = 2};
    EDDY_OK(check("mem evil", make_mem, &evil, 0, GUARD));
    EDDY_OK(check("unix", make_unix, NULL, EDDY_STREAMTEST_NO_RESET, EDDY_FOREVER));
    return 0;
}
