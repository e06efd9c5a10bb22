/* X3 lockstep stream pairs: streams without a buffer, where a write is a rendezvous with the
 * peer's reads. The tests never sleep to synchronise: helper tasks get their turn through a
 * bounded number of eddy_yield calls, and the virtual clock must not move at all. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "eddy/test.h"

/* A task doing one read or one write on a stream, recording what happened. */
typedef struct op {
    eddy_stream *s;
    const char *data; /* write: the bytes */
    size_t len;       /* write: how many; read: the size asked for (0: sizeof buf) */
    char buf[256];
    ssize_t rc;
    size_t written;
    bool done;
    unsigned *seq;    /* writers: where the next start number is taken from */
    unsigned started; /* writers: the order in which this one called write */
} op;

static int reader(void *arg)
{
    op *o = arg;
    o->rc = eddy_stream_read(o->s, o->buf, o->len ? o->len : sizeof o->buf);
    o->done = true;
    return 0;
}

static int writer(void *arg)
{
    op *o = arg;
    /* Nothing switches between here and the call joining the FIFO of writers. */
    if (o->seq) o->started = (*o->seq)++;
    o->rc = eddy_stream_write(o->s, o->data, o->len, &o->written);
    o->done = true;
    return 0;
}

static int shutter(void *arg)
{
    op *o = arg;
    o->rc = eddy_stream_shutdown_write(o->s);
    o->done = true;
    return 0;
}

/* Give the other tasks plenty of turns (a seeded scheduler may pick them in any order). */
static void let_run(void)
{
    for (int i = 0; i < 50; i++) EDDY_OK(eddy_yield());
}

/* Yield until cond holds, a bounded number of times. */
#define UNTIL(cond)                                                        \
    do {                                                                   \
        for (int u_ = 0; u_ < 1000 && !(cond); u_++) EDDY_OK(eddy_yield()); \
        EDDY_CHECK(cond);                                                  \
    } while (0)

static void pattern(char *buf, size_t n, unsigned seed)
{
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (char)(x >> 16);
    }
}

EDDY_TEST(lockstep_pair_basics_and_bad_arguments)
{
    eddy_stream *a = (eddy_stream *)1, *b = (eddy_stream *)1;
    EDDY_CHECK_EQ(eddy_lockstep_pair(NULL, &b), -EINVAL);
    EDDY_CHECK(b == NULL);
    EDDY_CHECK_EQ(eddy_lockstep_pair(&a, NULL), -EINVAL);
    EDDY_CHECK(a == NULL);
    EDDY_CHECK_EQ(eddy_lockstep_pair(&a, &a), -EINVAL);
    EDDY_CHECK(a == NULL);
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    EDDY_CHECK(a && b && a != b);
    EDDY_CHECK(strcmp(eddy_stream_kind(a), "lockstep") == 0);
    EDDY_CHECK_EQ(eddy_stream_fd(b), -1);
    EDDY_CHECK_EQ(eddy_lockstep_pending(a), 0);
    EDDY_CHECK_EQ(eddy_lockstep_pending(NULL), 0);
    /* Zero-length calls need no peer: nothing to hand over. */
    char buf[4];
    EDDY_OK(eddy_stream_write_all(a, "x", 0));
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, 0), 0);
    /* Only lockstep streams have pending offers. */
    eddy_stream *m1, *m2;
    EDDY_OK(eddy_memstream_pair(&m1, &m2, NULL));
    EDDY_OK(eddy_stream_write_all(m1, "abc", 3));
    EDDY_CHECK_EQ(eddy_lockstep_pending(m2), 0);
    EDDY_CHECK_EQ(eddy_memstream_pending(m2), 3);
    EDDY_CHECK_EQ(eddy_memstream_pending(b), 0);
    EDDY_OK(eddy_stream_close(m1));
    EDDY_OK(eddy_stream_close(m2));
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST_EX(lockstep_pair_outside_loop_eperm, .raw = true)
{
    eddy_stream *a, *b;
    EDDY_CHECK_EQ(eddy_lockstep_pair(&a, &b), -EPERM);
    EDDY_CHECK(a == NULL && b == NULL);
    return 0;
}

EDDY_TEST(lockstep_write_blocks_until_peer_has_read_it_all)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    int64_t t0 = eddy_now();
    op w = {.s = a, .data = "hello world", .len = 11, .rc = 1};
    char buf[32];
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, writer, &w));
        /* Nobody reads: the writer stays inside the write with its whole offer. */
        let_run();
        EDDY_CHECK(!w.done);
        EDDY_CHECK(a->writer != NULL);
        EDDY_CHECK_EQ(eddy_lockstep_pending(b), 11);
        EDDY_CHECK_EQ(eddy_lockstep_pending(a), 0); /* nothing offered the other way */
        EDDY_CHECK_EQ(eddy_stream_read(b, buf, 5), 5);
        EDDY_CHECK(memcmp(buf, "hello", 5) == 0);
        /* Part of it read: still blocked. */
        let_run();
        EDDY_CHECK(!w.done);
        EDDY_CHECK_EQ(eddy_lockstep_pending(b), 6);
        /* The last read takes the rest (no more than the offer, though more was asked). */
        EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 6);
        EDDY_CHECK(memcmp(buf, " world", 6) == 0);
        EDDY_CHECK_EQ(eddy_lockstep_pending(b), 0);
        UNTIL(w.done);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w.rc, 0);
    EDDY_CHECK_EQ(w.written, 11);
    EDDY_CHECK_EQ(eddy_now(), t0); /* moved by task switches alone */
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(lockstep_read_blocks_until_a_writer_comes)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    int64_t t0 = eddy_now();
    op r = {.s = a, .rc = 1};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        let_run();
        EDDY_CHECK(!r.done);
        EDDY_CHECK(a->reader != NULL);
        /* b -> a: the write returns only once the waiting read has taken it all, so the
         * reader has finished its call by then. */
        EDDY_OK(eddy_stream_write_all(b, "xyz", 3));
        EDDY_CHECK(r.done);
        EDDY_CHECK_EQ(r.rc, 3);
        EDDY_CHECK(memcmp(r.buf, "xyz", 3) == 0);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(eddy_now(), t0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(lockstep_many_reads_drain_one_large_write)
{
    enum { N = 100000 };
    static char out[N], in[N];
    pattern(out, N, 7);
    eddy_stream *a, *b;
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    op w = {.s = a, .data = out, .len = N, .rc = 1};
    int rc;
    size_t got = 0, reads = 0;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, writer, &w));
        UNTIL(eddy_lockstep_pending(b) == N);
        while (got < N) {
            /* Sizes 1..97: each read gets exactly what it asked for, bar the last one. */
            size_t ask = 1 + reads * 31 % 97, want = ask < N - got ? ask : N - got;
            ssize_t r = eddy_stream_read(b, in + got, ask);
            EDDY_CHECK_EQ(r, (ssize_t)want);
            got += (size_t)r;
            reads++;
            EDDY_CHECK_EQ(eddy_lockstep_pending(b), N - got);
            if (got < N) EDDY_CHECK(!w.done);
        }
        UNTIL(w.done);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w.rc, 0);
    EDDY_CHECK_EQ(w.written, N);
    EDDY_CHECK(reads > 1000);
    EDDY_CHECK(memcmp(in, out, N) == 0);

    /* And one byte at a time, the other way. */
    op w2 = {.s = b, .data = "abcdef", .len = 6, .rc = 1};
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, writer, &w2));
        for (int i = 0; i < 6; i++) {
            char c;
            EDDY_CHECK_EQ(eddy_stream_read(a, &c, 1), 1);
            EDDY_CHECK_EQ(c, "abcdef"[i]);
            if (i < 5) {
                let_run();
                EDDY_CHECK(!w2.done);
            }
        }
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w2.rc, 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(lockstep_concurrent_writers_fifo_and_contiguous)
{
    /* Three writers of 1000 bytes each: served in the order they called write, one at a time,
     * and a read never gets bytes of two writers (the second's offer comes only after the
     * first's write is done): reads of 700 get 700, then the 300 left, for each writer. */
    enum { NW = 3, LEN = 1000 };
    static char data[NW][LEN];
    eddy_stream *a, *b;
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    unsigned seq = 0;
    op w[NW];
    for (int i = 0; i < NW; i++) {
        memset(data[i], 'A' + i, LEN);
        w[i] = (op){.s = a, .data = data[i], .len = LEN, .rc = 1, .seq = &seq};
    }
    static char in[NW * LEN];
    int rc;
    EDDY_NURSERY(nu, &rc) {
        for (int i = 0; i < NW; i++) EDDY_OK(eddy_spawn(nu, writer, &w[i]));
        UNTIL(seq == NW);
        size_t got = 0;
        for (int k = 0; k < NW; k++) {
            EDDY_CHECK_EQ(eddy_stream_read(b, in + got, 700), 700);
            got += 700;
            EDDY_CHECK_EQ(eddy_stream_read(b, in + got, 700), 300);
            got += 300;
            /* This writer is done (it returns at its next turn); the others still wait. */
            int done = 0;
            let_run();
            for (int i = 0; i < NW; i++) done += w[i].done;
            EDDY_CHECK_EQ(done, k + 1);
        }
    }
    EDDY_CHECK_EQ(rc, 0);
    for (int i = 0; i < NW; i++) {
        EDDY_CHECK_EQ(w[i].rc, 0);
        EDDY_CHECK_EQ(w[i].written, LEN);
        for (size_t j = 0; j < LEN; j++) EDDY_CHECK_EQ(in[w[i].started * LEN + j], 'A' + i);
    }
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

typedef struct vop {
    eddy_stream *s;
    int rc;
    size_t written;
    bool done;
} vop;

static int vwriter(void *arg)
{
    vop *v = arg;
    struct iovec iov[3] = {{"head", 4}, {"", 0}, {"body", 4}};
    v->rc = eddy_stream_writev(v->s, iov, 3, &v->written);
    v->done = true;
    return 0;
}

EDDY_TEST(lockstep_writev_pieces_in_order)
{
    /* Each piece is offered in turn, so a read gets at most one piece; a writer that came
     * after the writev waits for all of it. */
    eddy_stream *a, *b;
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    vop v = {.s = a, .rc = 1};
    op other = {.s = a, .data = "ZZ", .len = 2, .rc = 1};
    char buf[16];
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, vwriter, &v));
        UNTIL(eddy_lockstep_pending(b) == 4);
        EDDY_OK(eddy_spawn(nu, writer, &other));
        let_run();
        EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 4);
        EDDY_CHECK(memcmp(buf, "head", 4) == 0);
        UNTIL(eddy_lockstep_pending(b) == 4);
        EDDY_CHECK(!v.done);
        EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 4);
        EDDY_CHECK(memcmp(buf, "body", 4) == 0);
        UNTIL(eddy_lockstep_pending(b) == 2);
        EDDY_CHECK(v.done && !other.done);
        EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 2);
        EDDY_CHECK(memcmp(buf, "ZZ", 2) == 0);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(v.rc, 0);
    EDDY_CHECK_EQ(v.written, 8);
    EDDY_CHECK_EQ(other.rc, 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(lockstep_cancelled_write_reports_exactly_what_was_read)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    op w = {.s = a, .data = "0123456789", .len = 10, .rc = 1};
    eddy_task *wt;
    char buf[16];
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, writer, &w, .handle = &wt));
        UNTIL(eddy_lockstep_pending(b) == 10);
        EDDY_CHECK_EQ(eddy_stream_read(b, buf, 3), 3);
        eddy_task_cancel(wt);
        /* The offer is withdrawn with the cancellation, before the writer even runs. */
        EDDY_CHECK_EQ(eddy_lockstep_pending(b), 0);
        EDDY_OK(eddy_task_join(wt, NULL));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w.rc, -ECANCELED);
    EDDY_CHECK_EQ(w.written, 3);
    /* The 7 bytes left were never sent: the next write's bytes come next. */
    op r = {.s = b, .rc = 1};
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        UNTIL(b->reader != NULL);
        EDDY_OK(eddy_stream_write_all(a, "z", 1));
        EDDY_CHECK(r.done);
    }
    EDDY_CHECK_EQ(r.rc, 1);
    EDDY_CHECK_EQ(r.buf[0], 'z');

    /* A deadline with no reader at all: nothing written, cancelled exactly at the deadline. */
    int64_t t0 = eddy_now();
    size_t wr = 99;
    int r2 = 1;
    EDDY_FAIL_AFTER(EDDY_SEC(2)) { r2 = eddy_stream_write(a, "abc", 3, &wr); }
    EDDY_CHECK_EQ(r2, -ETIMEDOUT);
    EDDY_CHECK_EQ(wr, 0);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(2));

    /* In a scope cancelled beforehand the write offers nothing, even to a waiting reader. */
    r = (op){.s = b, .rc = 1};
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        UNTIL(b->reader != NULL);
        eddy_cancel_scope cs;
        EDDY_CANCEL_SCOPE(&cs) {
            eddy_cancel_scope_cancel(&cs);
            r2 = eddy_stream_write(a, "abc", 3, &wr);
        }
        EDDY_CHECK_EQ(r2, -ECANCELED);
        EDDY_CHECK_EQ(wr, 0);
        let_run();
        EDDY_CHECK(!r.done);
        EDDY_OK(eddy_stream_write_all(a, "ok", 2));
    }
    EDDY_CHECK_EQ(r.rc, 2);
    EDDY_CHECK(memcmp(r.buf, "ok", 2) == 0);

    /* Cancelled after the reader took everything but before the writer ran: the write
     * succeeded (every byte was delivered) and says so. */
    w = (op){.s = a, .data = "all", .len = 3, .rc = 1};
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, writer, &w, .handle = &wt));
        UNTIL(eddy_lockstep_pending(b) == 3);
        EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 3);
        eddy_task_cancel(wt);
        EDDY_OK(eddy_task_join(wt, NULL));
    }
    EDDY_CHECK_EQ(w.rc, 0);
    EDDY_CHECK_EQ(w.written, 3);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(lockstep_cancelled_read_consumes_nothing)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    char buf[8];
    /* Blocked with no writer, cancelled by a deadline. */
    ssize_t r = 1;
    int64_t t0 = eddy_now();
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { r = eddy_stream_read(b, buf, sizeof buf); }
    EDDY_CHECK_EQ(r, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
    /* Blocked, cancelled from outside. */
    op rd = {.s = b, .rc = 1};
    eddy_task *rt;
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &rd, .handle = &rt));
        UNTIL(b->reader != NULL);
        eddy_task_cancel(rt);
        EDDY_OK(eddy_task_join(rt, NULL));
    }
    EDDY_CHECK_EQ(rd.rc, -ECANCELED);
    EDDY_CHECK(b->reader == NULL);
    /* With a writer offering: a cancelled read takes nothing, the writer keeps waiting. */
    op w = {.s = a, .data = "abcd", .len = 4, .rc = 1};
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, writer, &w));
        UNTIL(eddy_lockstep_pending(b) == 4);
        eddy_cancel_scope cs;
        EDDY_CANCEL_SCOPE(&cs) {
            eddy_cancel_scope_cancel(&cs);
            r = eddy_stream_read(b, buf, sizeof buf);
        }
        EDDY_CHECK_EQ(r, -ECANCELED);
        EDDY_CHECK_EQ(eddy_lockstep_pending(b), 4);
        let_run();
        EDDY_CHECK(!w.done);
        EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 4);
        EDDY_CHECK(memcmp(buf, "abcd", 4) == 0);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w.rc, 0);
    EDDY_CHECK_EQ(w.written, 4);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

/* Half-close from x: once x's last writer is done, y reads 0; y -> x still works unless it
 * was shut before (other_shut: then x reads 0 at once). */
static void half_close(eddy_stream *x, eddy_stream *y, bool other_shut)
{
    op w = {.s = x, .data = "last", .len = 4, .rc = 1}, sh = {.s = x, .rc = 1};
    op r = {.s = x, .rc = 1};
    char buf[8];
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, writer, &w));
        UNTIL(eddy_lockstep_pending(y) == 4);
        /* The shutdown waits for the writer ahead of it, and so for y to read its bytes. */
        EDDY_OK(eddy_spawn(nu, shutter, &sh));
        let_run();
        EDDY_CHECK(!sh.done);
        EDDY_CHECK_EQ(eddy_stream_read(y, buf, sizeof buf), 4);
        EDDY_CHECK(memcmp(buf, "last", 4) == 0);
        UNTIL(sh.done);
        EDDY_CHECK_EQ(sh.rc, 0);
        EDDY_CHECK_EQ(eddy_stream_read(y, buf, sizeof buf), 0);
        EDDY_CHECK_EQ(eddy_stream_read(y, buf, sizeof buf), 0); /* and stays at the end */
        EDDY_CHECK_EQ(eddy_stream_write_all(x, "x", 1), -EPIPE);
        EDDY_OK(eddy_stream_shutdown_write(x)); /* again: 0 */
        if (!other_shut) {
            EDDY_OK(eddy_spawn(nu, reader, &r));
            UNTIL(x->reader != NULL);
            EDDY_OK(eddy_stream_write_all(y, "back", 4));
            EDDY_CHECK(r.done);
        }
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w.rc, 0);
    if (other_shut) {
        EDDY_CHECK_EQ(eddy_stream_read(x, buf, sizeof buf), 0);
    } else {
        EDDY_CHECK_EQ(r.rc, 4);
        EDDY_CHECK(memcmp(r.buf, "back", 4) == 0);
    }
}

/* A reader of y already waiting when x shuts down: woken with 0. */
static void half_close_wakes_reader(eddy_stream *x, eddy_stream *y)
{
    op r = {.s = y, .rc = 1};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        UNTIL(y->reader != NULL);
        EDDY_OK(eddy_stream_shutdown_write(x));
        UNTIL(r.done);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(r.rc, 0);
}

EDDY_TEST(lockstep_shutdown_write_both_ways)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    half_close(a, b, false);
    half_close(b, a, true);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    half_close_wakes_reader(b, a);
    half_close_wakes_reader(a, b);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

/* x closes (gracefully, or aborts) while y has a reader waiting and a writer of whose 10
 * bytes x had read 4. */
static void peer_goes(eddy_stream *x, eddy_stream *y, bool graceful)
{
    op r = {.s = y, .rc = 1}, w = {.s = y, .data = "0123456789", .len = 10, .rc = 1};
    char buf[8];
    int rc;
    int want = graceful ? -EPIPE : -ECONNRESET;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        EDDY_OK(eddy_spawn(nu, writer, &w));
        UNTIL(y->reader != NULL && eddy_lockstep_pending(x) == 10);
        EDDY_CHECK_EQ(eddy_stream_read(x, buf, 4), 4);
        EDDY_CHECK(memcmp(buf, "0123", 4) == 0);
        if (graceful)
            EDDY_OK(eddy_stream_close(x));
        else
            eddy_stream_abort(x);
        UNTIL(r.done && w.done);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(r.rc, graceful ? 0 : -ECONNRESET);
    EDDY_CHECK_EQ(w.rc, want);
    EDDY_CHECK_EQ(w.written, 4);
    /* And so it stays. */
    EDDY_CHECK_EQ(eddy_stream_read(y, buf, sizeof buf), graceful ? 0 : -ECONNRESET);
    size_t wr = 99;
    EDDY_CHECK_EQ(eddy_stream_write(y, "x", 1, &wr), want);
    EDDY_CHECK_EQ(wr, 0);
    EDDY_CHECK_EQ(eddy_stream_shutdown_write(y), graceful ? 0 : -ENOTCONN);
    EDDY_OK(eddy_stream_close(y));
}

EDDY_TEST(lockstep_close_and_abort_seen_from_the_peer_both_ways)
{
    for (int graceful = 0; graceful < 2; graceful++) {
        eddy_stream *a, *b;
        EDDY_OK(eddy_lockstep_pair(&a, &b));
        peer_goes(a, b, graceful);
        EDDY_OK(eddy_lockstep_pair(&a, &b));
        peer_goes(b, a, graceful);
        /* With nobody blocked. */
        EDDY_OK(eddy_lockstep_pair(&a, &b));
        if (graceful)
            EDDY_OK(eddy_stream_close(a));
        else
            eddy_stream_abort(a);
        char c;
        EDDY_CHECK_EQ(eddy_stream_read(b, &c, 1), graceful ? 0 : -ECONNRESET);
        EDDY_CHECK_EQ(eddy_stream_write_all(b, "x", 1), graceful ? -EPIPE : -ECONNRESET);
        eddy_stream_abort(b);
    }
    return 0;
}

/* Closing (or aborting) y while y's own reader and writer are blocked in it: both get -EBADF
 * (the writer keeps in written the 3 bytes x had read), close returns once they are out, and
 * x sees y gone. */
static void close_own(eddy_stream *x, eddy_stream *y, bool graceful)
{
    op r = {.s = y, .rc = 1}, w = {.s = y, .data = "abcdefgh", .len = 8, .rc = 1};
    char buf[8];
    int rc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        EDDY_OK(eddy_spawn(nu, writer, &w));
        UNTIL(y->reader != NULL && eddy_lockstep_pending(x) == 8);
        EDDY_CHECK_EQ(eddy_stream_read(x, buf, 3), 3);
        if (graceful)
            EDDY_OK(eddy_stream_close(y));
        else
            eddy_stream_abort(y);
        EDDY_CHECK(r.done && w.done); /* close waited for them */
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(r.rc, -EBADF);
    EDDY_CHECK_EQ(w.rc, -EBADF);
    EDDY_CHECK_EQ(w.written, 3);
    EDDY_CHECK_EQ(eddy_now(), t0);
    /* The rest of the interrupted write is not offered any more. */
    EDDY_CHECK_EQ(eddy_lockstep_pending(x), 0);
    EDDY_CHECK_EQ(eddy_stream_read(x, buf, sizeof buf), graceful ? 0 : -ECONNRESET);
    EDDY_CHECK_EQ(eddy_stream_write_all(x, "x", 1), graceful ? -EPIPE : -ECONNRESET);
    EDDY_OK(eddy_stream_close(x));
}

EDDY_TEST(lockstep_close_wakes_own_blocked_tasks_with_ebadf)
{
    for (int graceful = 0; graceful < 2; graceful++) {
        eddy_stream *a, *b;
        EDDY_OK(eddy_lockstep_pair(&a, &b));
        close_own(a, b, graceful);
        EDDY_OK(eddy_lockstep_pair(&a, &b));
        close_own(b, a, graceful);
    }
    /* A writer still waiting for its FIFO turn gets -EBADF too, with nothing written. */
    eddy_stream *a, *b;
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    op w1 = {.s = a, .data = "one", .len = 3, .rc = 1}, w2 = {.s = a, .data = "two", .len = 3, .rc = 1};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, writer, &w1));
        UNTIL(eddy_lockstep_pending(b) == 3);
        EDDY_OK(eddy_spawn(nu, writer, &w2));
        let_run();
        EDDY_OK(eddy_stream_close(a));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w1.rc, -EBADF);
    EDDY_CHECK_EQ(w1.written, 0);
    EDDY_CHECK_EQ(w2.rc, -EBADF);
    EDDY_CHECK_EQ(w2.written, 0);
    char c;
    EDDY_CHECK_EQ(eddy_stream_read(b, &c, 1), 0);
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

/* ---- callback context ---- */

typedef struct cb_state {
    eddy_stream *s;
    ssize_t read_rc;
    int write_rc, shut_rc, close_rc, pair_rc, pair_close_rc;
    eddy_event done;
} cb_state;

static void from_callback(void *arg)
{
    cb_state *c = arg;
    char buf[4];
    c->read_rc = eddy_stream_read(c->s, buf, sizeof buf);
    c->write_rc = eddy_stream_write_all(c->s, "x", 1);
    c->shut_rc = eddy_stream_shutdown_write(c->s);
    /* A task is inside s: a callback cannot wait for it to leave. */
    c->close_rc = eddy_stream_close(c->s);
    /* Making (and closing) a pair needs no task. */
    eddy_stream *p, *q;
    c->pair_rc = eddy_lockstep_pair(&p, &q);
    c->pair_close_rc = c->pair_rc ? c->pair_rc : eddy_stream_close(p) | eddy_stream_close(q);
    eddy_event_set(&c->done);
}

EDDY_TEST(lockstep_calls_from_a_callback_eperm)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    op r = {.s = b, .rc = 1};
    cb_state c = {.s = b, .read_rc = 1, .write_rc = 1, .shut_rc = 1, .close_rc = 1, .pair_rc = 1};
    eddy_event_init(&c.done);
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, reader, &r));
        UNTIL(b->reader != NULL);
        EDDY_OK(eddy_call_soon(from_callback, &c));
        EDDY_OK(eddy_event_wait(&c.done));
        EDDY_CHECK_EQ(c.read_rc, -EPERM);
        EDDY_CHECK_EQ(c.write_rc, -EPERM);
        EDDY_CHECK_EQ(c.shut_rc, -EPERM);
        EDDY_CHECK_EQ(c.close_rc, -EBUSY);
        EDDY_CHECK_EQ(c.pair_rc, 0);
        EDDY_CHECK_EQ(c.pair_close_rc, 0);
        /* b is intact: its reader still waits, and gets what a sends. */
        EDDY_CHECK(!r.done);
        EDDY_OK(eddy_stream_write_all(a, "ok", 2));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(r.rc, 2);
    EDDY_CHECK(memcmp(r.buf, "ok", 2) == 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

/* ---- leak tracking ---- */

static int leak_main(void *arg)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_lockstep_pair(&a, &b));
    int rc = eddy_stream_close(a);
    if (arg) rc |= eddy_stream_close(b); /* arg: close both, no leak */
    return rc;
}

EDDY_TEST_EX(lockstep_unclosed_end_is_a_leak, .raw = true, .leaks_memory = true)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_FAIL_ON_LEAK};
    /* The report goes to stderr: capture it to check it names the stream and where it was
     * made. */
    char path[] = "/tmp/eddy_lockstep_leak_XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    unlink(path);
    int saved = dup(2);
    EDDY_CHECK(saved >= 0);
    EDDY_CHECK(dup2(fd, 2) == 2);
    int rc = eddy_run_opts(leak_main, NULL, &o);
    EDDY_CHECK(dup2(saved, 2) == 2);
    close(saved);
    EDDY_CHECK_EQ(rc, -ENOTRECOVERABLE);
    char report[1024] = "";
    ssize_t n = pread(fd, report, sizeof report - 1, 0);
    close(fd);
    EDDY_CHECK(n > 0);
    EDDY_CHECK(strstr(report, "eddy: leak: lockstep created at ") != NULL);
    EDDY_CHECK(strstr(report, "test_lockstep.c") != NULL);
    /* One report: the closed end is not in it. */
    char *first = strstr(report, "eddy: leak:");
    EDDY_CHECK(strstr(first + 1, "eddy: leak:") == NULL);
    /* Both closed: no leak. */
    o.flags |= EDDY_OPT_QUIET;
    EDDY_CHECK_EQ(eddy_run_opts(leak_main, (void *)1, &o), 0);
    return 0;
}

/* ---- the conformance checks ---- */

static int make_lockstep(void *arg, eddy_stream **a, eddy_stream **b)
{
    (void)arg;
    return eddy_lockstep_pair(a, b);
}

static void check_all_pass(void)
{
    EDDY_OK(eddy_check_stream(&(eddy_stream_factory){
        .name = "lockstep", .make = make_lockstep, .kind = "lockstep", .volume = 256 * 1024,
        .flags = EDDY_STREAMTEST_UNBUFFERED, .timeout = EDDY_SEC(60)}));
}

/* The stream contract holds without any buffer: every check passes. */
EDDY_TEST(check_stream_lockstep_pairs)
{
    check_all_pass();
    return 0;
}

EDDY_TEST_EX(check_stream_lockstep_under_a_seeded_scheduler, .sched_seed = 0x10c5, .one_backend = true)
{
    check_all_pass();
    return 0;
}
