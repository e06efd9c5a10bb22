/* eddy test library: the checks of the stream conformance suite (X3), and their table. Each
 * gets a fresh pair (unless O_NO_PAIR) and the index x of the end that writes (or is closed);
 * it returns 0 or its first failure, and leaves no task behind. */
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>

#include "streamtest_impl.h"

static int check_kind_fd(chk *c, pair *p, int x)
{
    (void)x;
    int fds[2];
    for (int i = 0; i < 2; i++) {
        const char *k = eddy_stream_kind(p->s[i]);
        if (!k || !*k) return fail(c, "end %c: kind is %s", 'a' + i, k ? "empty" : "NULL");
        if (c->f->kind && strcmp(k, c->f->kind) != 0)
            return fail(c, "end %c: kind \"%s\", want \"%s\"", 'a' + i, k, c->f->kind);
        fds[i] = eddy_stream_fd(p->s[i]);
        if (fds[i] < -1) return fail(c, "end %c: fd %d", 'a' + i, fds[i]);
        if (fds[i] >= 0 && fcntl(fds[i], F_GETFD) < 0)
            return fail(c, "end %c: fd %d is not an open descriptor", 'a' + i, fds[i]);
    }
    if (fds[0] >= 0 && fds[0] == fds[1]) return fail(c, "both ends have fd %d", fds[0]);
    return 0;
}

static int check_zero_length(chk *c, pair *p, int x)
{
    eddy_stream *w = p->s[x], *r = p->s[1 - x];
    ssize_t n = eddy_stream_read(r, c->rbuf, 0);
    if (n != 0) return fail(c, "read of 0 bytes with nothing sent: %s", RC(n));
    size_t wr = 1;
    int rc = eddy_stream_write(w, c->rbuf, 0, &wr);
    if (rc != 0 || wr != 0) return fail(c, "write of 0 bytes: %s, %zu written", RC(rc), wr);
    wr = 1;
    rc = eddy_stream_writev(w, NULL, 0, &wr);
    if (rc != 0 || wr != 0) return fail(c, "writev of no pieces: %s, %zu written", RC(rc), wr);
    struct iovec empty = {c->rbuf, 0};
    rc = eddy_stream_writev(w, &empty, 1, &wr);
    if (rc != 0 || wr != 0) return fail(c, "writev of an empty piece: %s, %zu written", RC(rc), wr);
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    wjob wj = {.c = c, .p = p, .idx = x, .seed = c->seed + 10, .n = 3};
    if (eddy__st_spawn(c, &nu, eddy__st_writer_task, &wj, NULL) < 0) goto out;
    n = eddy_stream_read(r, c->rbuf, 0);
    if (n != 0) {
        (void)fail(c, "read of 0 bytes with data sent: %s", RC(n));
        goto out;
    }
    (void)eddy__st_expect(c, r, wj.seed, 0, 3, false, "bytes after the empty calls");
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int check_transfer(chk *c, pair *p, int x)
{
    (void)x;
    bool hc = half_close(c);
    wjob w[2];
    rjob r[2];
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    int dirs = one_way(c) ? 1 : 2;
    for (int d = 0; d < dirs; d++) {
        uint64_t seed = c->seed + 20 + (uint64_t)d;
        w[d] = (wjob){.c = c, .p = p, .idx = d, .seed = seed, .n = c->volume,
                      .rng = mix64(seed) | 1, .then = hc ? THEN_SHUTDOWN : THEN_NONE};
        r[d] = (rjob){.c = c,
                      .s = p->s[1 - d],
                      .seed = seed,
                      .n = c->volume,
                      .eof = hc,
                      .rng = mix64(seed + 1) | 1,
                      .what = d ? "bytes from b to a" : "bytes from a to b"};
        if (eddy__st_spawn(c, &nu, eddy__st_writer_task, &w[d], NULL) < 0) break;
        if (eddy__st_spawn(c, &nu, eddy__st_reader_task, &r[d], NULL) < 0) break;
    }
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int check_eof_after_close(chk *c, pair *p, int x)
{
    size_t n = c->volume < 256 * KiB ? c->volume : 256 * KiB;
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    wjob wj = {.c = c, .p = p, .idx = x, .seed = c->seed + 30, .n = n, .then = THEN_CLOSE};
    if (eddy__st_spawn(c, &nu, eddy__st_writer_task, &wj, NULL) == 0)
        (void)eddy__st_expect(c, p->s[1 - x], wj.seed, 0, n, true, "bytes before the close");
    eddy__st_nclose(c, &nu);
    return c->err;
}

/* A graceful close by an end that has not read what its peer sent: what it wrote is still
 * delivered. (TCP and Unix sockets then give -ECONNRESET instead of the end of stream: a
 * close with unread data resets the connection.) */
static int check_close_unread(chk *c, pair *p, int x)
{
    if (one_way(c)) return 0;
    int y = 1 - x;
    const size_t n = 1000;
    unsigned char in = 'u'; /* x never reads it (one byte: fits any buffer) */
    int rc = eddy_stream_write_all(p->s[y], &in, 1);
    if (rc < 0) return fail(c, "write: %s", RC(rc));
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    wjob wj = {.c = c, .p = p, .idx = x, .seed = c->seed + 36, .n = n, .then = THEN_CLOSE};
    if (eddy__st_spawn(c, &nu, eddy__st_writer_task, &wj, NULL) < 0) goto out;
    if (eddy__st_expect(c, p->s[y], wj.seed, 0, n, false, "bytes before a close with unread data") <
        0)
        goto out;
    ssize_t k = eddy_stream_read(p->s[y], c->rbuf, 1);
    if (k != 0 && k != -ECONNRESET)
        (void)fail(c, "read after the bytes: want 0 or -ECONNRESET, got %s", RC(k));
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int check_half_close(chk *c, pair *p, int x)
{
    eddy_stream *w = p->s[x], *r = p->s[1 - x];
    if (!half_close(c)) {
        int rc = eddy_stream_shutdown_write(w);
        if (rc != -ENOTSUP)
            return fail(c, "shutdown_write (NO_HALF_CLOSE): want -ENOTSUP, got %s", RC(rc));
        eddy_nursery nu;
        if (eddy__st_nopen(c, &nu) < 0) return c->err;
        wjob wj = {.c = c, .p = p, .idx = x, .seed = c->seed + 40, .n = 5};
        if (eddy__st_spawn(c, &nu, eddy__st_writer_task, &wj, NULL) == 0)
            (void)eddy__st_expect(c, r, wj.seed, 0, 5, false, "bytes after the refused shutdown");
        eddy__st_nclose(c, &nu);
        return c->err;
    }
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    /* A writer (stuck on the buffer, when the transport has one) ahead of the shutdown: its
     * bytes go first, then the end of stream. One call: the FIFO order is per call. */
    wjob wj = {.c = c, .p = p, .idx = x, .seed = c->seed + 41, .n = c->volume, .chunk = c->volume};
    rjob rj = {.c = c, .s = r, .seed = wj.seed, .n = wj.n, .eof = true,
               .what = "bytes written before the shutdown"};
    if (eddy__st_spawn(c, &nu, eddy__st_writer_task, &wj, NULL) < 0 ||
        eddy__st_spawn(c, &nu, eddy__st_reader_task, &rj, NULL) < 0)
        goto out;
    int rc = eddy_stream_shutdown_write(w);
    if (rc != 0) {
        (void)fail(c, "shutdown_write: %s", RC(rc));
        goto out;
    }
    if (!wj.done) {
        (void)fail(c, "shutdown_write returned before the writer ahead of it finished");
        goto out;
    }
    if ((rc = eddy_stream_shutdown_write(w)) != 0) {
        (void)fail(c, "second shutdown_write: want 0, got %s", RC(rc));
        goto out;
    }
    size_t wr = 1;
    rc = eddy_stream_write(w, "x", 1, &wr);
    if (rc != -EPIPE || wr != 0) {
        (void)fail(c, "write after shutdown_write: want -EPIPE and 0 written, got %s, %zu", RC(rc),
                   wr);
        goto out;
    }
out:
    eddy__st_nclose(c, &nu);
    if (c->err || one_way(c)) return c->err;
    /* The other direction is unaffected, and can be shut down in turn. */
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    wjob back = {.c = c, .p = p, .idx = 1 - x, .seed = c->seed + 42, .n = 64 * KiB,
                 .then = THEN_SHUTDOWN};
    if (eddy__st_spawn(c, &nu, eddy__st_writer_task, &back, NULL) == 0)
        (void)eddy__st_expect(c, w, back.seed, 0, back.n, true,
                              "bytes sent back after the shutdown");
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int check_closed_peer(chk *c, pair *p, int x)
{
    if (eddy__st_end_close(c, p, 1 - x, false) < 0) return c->err;
    eddy_stream *w = p->s[x];
    if (eddy__st_write_until_error(c, w, "closed") < 0 || one_way(c)) return c->err;
    for (int i = 0; i < 2; i++) {
        ssize_t n = eddy_stream_read(w, c->rbuf, 16);
        if (n != 0 && n != -ECONNRESET)
            return fail(c, "read from a peer that closed: want 0 or -ECONNRESET, got %s", RC(n));
    }
    return 0;
}

/* x was aborted: its peer sees the reset. One way, aborting the reader leaves a writer to
 * notice. */
static int peer_sees_abort(chk *c, pair *p, int x)
{
    eddy_stream *y = p->s[1 - x];
    if (one_way(c) && x == 1) return eddy__st_write_until_error(c, y, "aborted");
    bool soft = c->f->flags & EDDY_STREAMTEST_NO_RESET;
    ssize_t n = eddy_stream_read(y, c->rbuf, 16);
    if (n != -ECONNRESET && !(soft && n == 0))
        return fail(c, "read from an aborted peer: want -ECONNRESET%s, got %s",
                    soft ? " or 0" : "", RC(n));
    n = eddy_stream_read(y, c->rbuf, 16);
    if (n != 0 && n != -ECONNRESET)
        return fail(c, "second read from an aborted peer: want 0 or -ECONNRESET, got %s", RC(n));
    if (one_way(c)) return 0;
    return eddy__st_write_until_error(c, y, "aborted");
}

static int check_abort(chk *c, pair *p, int x)
{
    if (eddy__st_end_close(c, p, x, true) < 0) return c->err;
    return peer_sees_abort(c, p, x);
}

static int check_writers_fifo(chk *c, pair *p, int x)
{
    enum { K = 4 };
    size_t sz = c->volume / 8;
    if (sz > MiB) sz = MiB;
    if (sz == 0) sz = 1;
    wjob w[K];
    char what[K][48];
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    for (int i = 0; i < K; i++) {
        /* One call each (chunk = sz): only a whole call is promised to stay contiguous. */
        w[i] = (wjob){.c = c, .p = p, .idx = x, .seed = c->seed + 50 + (uint64_t)i, .n = sz,
                      .chunk = sz, .writev = i == 2};
        if (eddy__st_spawn(c, &nu, eddy__st_writer_task, &w[i], NULL) < 0) goto out;
    }
    for (int i = 0; i < K; i++) {
        snprintf(what[i], sizeof what[i], "bytes of writer %d of %d (in call order)", i + 1, K);
        if (eddy__st_expect(c, p->s[1 - x], w[i].seed, 0, sz, false, what[i]) < 0) goto out;
    }
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int check_busy_reader(chk *c, pair *p, int x)
{
    eddy_stream *w = p->s[x], *r = p->s[1 - x];
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    r1job rj = {.s = r};
    if (eddy__st_spawn(c, &nu, eddy__st_read1_task, &rj, NULL) < 0) goto out;
    if (rj.done) {
        (void)fail(c, "a read with nothing sent returned %s", RC(rj.rc));
        goto out;
    }
    ssize_t n = eddy_stream_read(r, c->rbuf, 1);
    if (n != -EBUSY) {
        (void)fail(c, "second concurrent read: want -EBUSY, got %s", RC(n));
        goto out;
    }
    int rc = eddy_stream_write_all(w, "k", 1);
    if (rc < 0) {
        (void)fail(c, "write: %s", RC(rc));
        goto out;
    }
    eddy__st_nclose(c, &nu);
    if (rj.rc != 1 || rj.buf[0] != 'k')
        return fail(c, "the first reader got %s instead of the byte", RC(rj.rc));
    return c->err;
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int check_cancelled_read(chk *c, pair *p, int x)
{
    eddy_stream *r = p->s[1 - x];
    const size_t n = 4096;
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    /* 1. Cancelled while blocked with nothing sent. */
    r1job r1 = {.s = r, .cancellable = true};
    eddy_task *h;
    if (eddy__st_spawn(c, &nu, eddy__st_read1_task, &r1, &h) < 0) goto out;
    eddy_cancel_scope_cancel(&r1.cs);
    if (eddy__st_join(c, h) < 0) goto out;
    if (r1.rc != -ECANCELED) {
        (void)fail(c, "read cancelled while blocked: want -ECANCELED, got %s", RC(r1.rc));
        goto out;
    }
    /* 2. Cancelled in the same turn as the data arrives: it returns the data or nothing. */
    r1job r2 = {.s = r, .cancellable = true};
    wjob wj = {.c = c, .p = p, .idx = x, .seed = c->seed + 60, .n = n};
    if (eddy__st_spawn(c, &nu, eddy__st_read1_task, &r2, &h) < 0 ||
        eddy__st_spawn(c, &nu, eddy__st_writer_task, &wj, NULL) < 0)
        goto out;
    eddy_cancel_scope_cancel(&r2.cs);
    if (eddy__st_join(c, h) < 0) goto out;
    size_t got = 0;
    if (r2.rc > 0) {
        got = (size_t)r2.rc;
        if (got > n || eddy__st_mismatch(wj.seed, 0, r2.buf, got) < got) {
            (void)fail(c, "a read cancelled as data arrived returned %zu wrong bytes", got);
            goto out;
        }
    } else if (r2.rc != -ECANCELED) {
        (void)fail(c, "read cancelled as data arrived: want -ECANCELED or data, got %s", RC(r2.rc));
        goto out;
    }
    /* 3. In a cancelled scope with data waiting: level-triggered, nothing consumed. */
    {
        ssize_t k = 1;
        eddy_cancel_scope cs;
        EDDY_CANCEL_SCOPE(&cs) {
            eddy_cancel_scope_cancel(&cs);
            k = eddy_stream_read(r, c->rbuf, RBUF);
        }
        if (k != -ECANCELED) {
            (void)fail(c, "read in a cancelled scope: want -ECANCELED, got %s", RC(k));
            goto out;
        }
    }
    (void)eddy__st_expect(c, r, wj.seed, got, n - got, false,
                          "bytes sent around the cancelled reads");
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

/* Reads everything up to the end of stream into buf (cap bytes; more is a failure). */
typedef struct sink {
    chk *c;
    eddy_stream *s;
    unsigned char *buf;
    size_t cap, len;
    uint64_t rng;
} sink;

static int sink_task(void *arg)
{
    sink *k = arg;
    for (;;) {
        size_t want = eddy__st_rnd_size(&k->rng, RBUF);
        if (want > k->cap - k->len) want = k->cap - k->len;
        ssize_t r = eddy_stream_read(k->s, k->buf + k->len, want ? want : 1);
        if (r == 0) return 0;
        if (r < 0) return fail(k->c, "read after %zu bytes: %s", k->len, RC(r)), 0;
        if (!want) return fail(k->c, "more bytes than were reported written"), 0;
        k->len += (size_t)r;
    }
}

/* Writers cancelled at random moments while a reader drains the stream: the stream holds
 * exactly each writer's reported bytes, whole calls in call order, nothing else. */
static int check_cancel_storm(chk *c, pair *p, int x)
{
    enum { K = 8 };
    size_t sz = c->volume / 16;
    if (sz > 256 * KiB) sz = 256 * KiB;
    if (sz == 0) sz = 1;
    wjob w[K];
    sink k = {.c = c, .s = p->s[1 - x], .cap = K * sz, .rng = mix64(c->seed + 111) | 1};
    if (!(k.buf = malloc(k.cap)))
        return eddy__st_fail_code(c, -ENOMEM, "no memory for %zu bytes", k.cap);
    eddy_task *h[K];
    uint64_t rng = mix64(c->seed + 112) | 1;
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) goto done;
    if (eddy__st_spawn(c, &nu, sink_task, &k, NULL) < 0) goto out;
    for (int i = 0; i < K; i++) {
        w[i] = (wjob){.c = c, .p = p, .idx = x, .seed = c->seed + 120 + (uint64_t)i, .n = sz,
                      .chunk = sz, .writev = i % 3 == 1, .cancellable = true, .quiet = true};
        if (eddy__st_spawn(c, &nu, eddy__st_writer_task, &w[i], &h[i]) < 0) goto out;
    }
    int order[K];
    for (int i = 0; i < K; i++) order[i] = i;
    for (int i = K - 1; i > 0; i--) {
        int j = (int)(rnd(&rng) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < K; i++) {
        eddy_cancel_scope_cancel(&w[order[i]].cs);
        for (int y = (int)(rnd(&rng) % 32); y > 0; y--) /* the reader makes progress */
            if (eddy_yield() < 0) goto out;
    }
    for (int i = 0; i < K; i++)
        if (eddy__st_join(c, h[i]) < 0) goto out;
    for (int i = 0; i < K; i++)
        if (w[i].rc != 0 && w[i].rc != -ECANCELED) {
            (void)fail(c, "writer %d: want 0 or -ECANCELED, got %s", i + 1, RC(w[i].rc));
            goto out;
        } else if (w[i].rc == 0 && w[i].written != sz) {
            (void)fail(c, "writer %d returned 0 after %zu of %zu bytes", i + 1, w[i].written, sz);
            goto out;
        }
    int rc =
        half_close(c) ? eddy_stream_shutdown_write(p->s[x]) : eddy__st_end_close(c, p, x, false);
    if (rc < 0) {
        (void)fail(c, "ending the stream: %s", RC(rc));
        goto out;
    }
out:
    eddy__st_nclose(c, &nu);
    if (c->err) goto done;
    size_t off = 0;
    for (int i = 0; i < K; i++) {
        size_t n = w[i].written;
        if (off + n > k.len) {
            (void)fail(c, "%zu bytes arrived, the writers reported more", k.len);
            goto done;
        }
        size_t bad = eddy__st_mismatch(w[i].seed, 0, k.buf + off, n);
        if (bad < n) {
            (void)fail(c, "writer %d's %zu reported bytes: byte %zu is wrong", i + 1, n, bad);
            goto done;
        }
        off += n;
    }
    if (off != k.len) (void)fail(c, "%zu bytes arrived, the writers reported %zu", k.len, off);
done:
    free(k.buf);
    return c->err;
}

/* Start a writer of STUCK_LIMIT bytes in one call, which blocks on a peer that does not read. */
static int start_stuck_writer(chk *c, eddy_nursery *nu, wjob *j, eddy_task **h)
{
    /* Not done when the spawn returned means suspended inside its one call, not necessarily
     * blocked on the full buffer yet: that one call is what keeps whatever the check queues
     * behind it waiting (stuck_body). */
    j->stuck = true;
    j->seed |= PERIODIC;
    if (eddy__st_spawn(c, nu, eddy__st_writer_task, j, h) < 0) return c->err;
    if (j->done) {
        if (j->rc == 0)
            return fail(c, "%zu bytes written to a peer that does not read without blocking "
                           "(a transport without a bounded buffer must say "
                           "EDDY_STREAMTEST_UNBOUNDED)", j->written);
        return c->err ? c->err : fail(c, "write: %s", RC(j->rc));
    }
    return 0;
}

typedef struct shjob {
    eddy_stream *s;
    eddy_cancel_scope cs;
    int rc;
} shjob;

static int shutdown_task(void *arg)
{
    shjob *j = arg;
    j->rc = 1;
    EDDY_CANCEL_SCOPE(&j->cs) { j->rc = eddy_stream_shutdown_write(j->s); }
    return 0;
}

/* A shutdown queued behind a writer stuck on the buffer; the writer is cancelled: the
 * shutdown goes ahead, and the peer reads exactly the writer's reported bytes, then 0. */
static int check_shutdown_after_cancelled(chk *c, pair *p, int x)
{
    if (!half_close(c)) return 0;
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    wjob w = {.c = c, .p = p, .idx = x, .seed = c->seed + 75, .n = STUCK_LIMIT,
              .cancellable = true, .quiet = true};
    shjob sj = {.s = p->s[x]};
    eddy_task *hw, *hs;
    if (start_stuck_writer(c, &nu, &w, &hw) < 0) goto out;
    if (eddy__st_spawn(c, &nu, shutdown_task, &sj, &hs) < 0) goto out;
    eddy_cancel_scope_cancel(&w.cs);
    if (eddy__st_join(c, hw) < 0) goto out;
    if (w.rc != -ECANCELED) {
        (void)fail(c, "writer cancelled part-way: want -ECANCELED, got %s", RC(w.rc));
        goto out;
    }
    /* The shutdown returns once its bytes are through: with CLOSE_FLUSHES, only after the
     * peer read them. */
    bool flushes = close_flushes(c);
    if (!flushes && eddy__st_join(c, hs) < 0) goto out;
    if (eddy__st_expect(c, p->s[1 - x], w.seed, 0, w.written, true,
                        "bytes of the cancelled writer ahead of the shutdown") < 0)
        goto out;
    if (flushes && eddy__st_join(c, hs) < 0) goto out;
    if (sj.rc != 0) (void)fail(c, "shutdown_write queued behind the cancelled writer: %s", RC(sj.rc));
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int check_cancelled_write(chk *c, pair *p, int x)
{
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    wjob w1 = {.c = c, .p = p, .idx = x, .seed = c->seed + 70, .n = STUCK_LIMIT,
               .writev = true, .cancellable = true, .quiet = true};
    wjob w2 = {.c = c, .p = p, .idx = x, .seed = c->seed + 71, .n = 16, .cancellable = true,
               .quiet = true};
    wjob w3 = {.c = c, .p = p, .idx = x, .seed = c->seed + 72, .n = 64, .then = THEN_END};
    eddy_task *h1, *h2;
    if (start_stuck_writer(c, &nu, &w1, &h1) < 0) goto out;
    /* A second writer queued behind it, cancelled before its turn: writes nothing. */
    if (eddy__st_spawn(c, &nu, eddy__st_writer_task, &w2, &h2) < 0) goto out;
    eddy_cancel_scope_cancel(&w2.cs);
    if (eddy__st_join(c, h2) < 0) goto out;
    if (w2.rc != -ECANCELED || w2.written != 0) {
        (void)fail(c, "writer cancelled while queued: want -ECANCELED and 0 written, got %s, %zu",
                   RC(w2.rc), w2.written);
        goto out;
    }
    /* A shutdown queued behind it, cancelled: the stream stays open for writing (the last
     * write below would otherwise fail with -EPIPE). */
    if (half_close(c)) {
        shjob sj = {.s = p->s[x]};
        eddy_task *hs;
        if (eddy__st_spawn(c, &nu, shutdown_task, &sj, &hs) < 0) goto out;
        eddy_cancel_scope_cancel(&sj.cs);
        if (eddy__st_join(c, hs) < 0) goto out;
        if (sj.rc != -ECANCELED) {
            (void)fail(c, "shutdown_write cancelled while queued: want -ECANCELED, got %s",
                       RC(sj.rc));
            goto out;
        }
    }
    eddy_cancel_scope_cancel(&w1.cs);
    if (eddy__st_join(c, h1) < 0) goto out;
    if (w1.rc != -ECANCELED) {
        (void)fail(c, "writer cancelled part-way: want -ECANCELED, got %s", RC(w1.rc));
        goto out;
    }
    /* Exactly the reported bytes, then the next write's. */
    if (eddy__st_spawn(c, &nu, eddy__st_writer_task, &w3, NULL) < 0) goto out;
    if (eddy__st_expect(c, p->s[1 - x], w1.seed, 0, w1.written, false,
               "bytes the cancelled write reported") < 0)
        goto out;
    (void)eddy__st_expect(c, p->s[1 - x], w3.seed, 0, w3.n, true,
                          "bytes of the write after the cancelled one");
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int blocked_read_closed(chk *c, pair *p, int x, bool abort_it)
{
    int y = 1 - x;
    const char *how = abort_it ? "abort" : "close";
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    r1job rj = {.s = p->s[y]};
    if (eddy__st_spawn(c, &nu, eddy__st_read1_task, &rj, NULL) < 0) goto out;
    if (rj.done) {
        (void)fail(c, "a read with nothing sent returned %s", RC(rj.rc));
        goto out;
    }
    /* Not a cancellation point: in a cancelled scope it still waits for the reader. */
    eddy_cancel_scope cs;
    int crc = 0;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        crc = eddy__st_end_close(c, p, y, abort_it);
    }
    if (crc < 0) goto out;
    if (!rj.done) {
        (void)fail(c, "%s returned while a reader was still inside the stream", how);
        goto out;
    }
    if (rj.rc != -EBADF)
        (void)fail(c, "read blocked during %s: want -EBADF, got %s", how, RC(rj.rc));
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

/* A blocked reader is woken (by data, the peer's close or its abort) and its stream closed
 * before the reader ran: the close comes first, as the reader was still inside the stream
 * when it began, whatever woke it. */
enum { RACE_DATA, RACE_EOF, RACE_RESET };

static int close_racing(chk *c, pair *p, int x, int what)
{
    static const char *const names[] = {"data", "the peer's close", "the peer's abort"};
    int y = 1 - x;
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    r1job rj = {.s = p->s[y]};
    if (eddy__st_spawn(c, &nu, eddy__st_read1_task, &rj, NULL) < 0) goto out;
    if (rj.done) {
        (void)fail(c, "a read with nothing sent returned %s", RC(rj.rc));
        goto out;
    }
    int rc = 0;
    if (what == RACE_DATA)
        rc = eddy_stream_write_all(p->s[x], "r", 1);
    else
        rc = eddy__st_end_close(c, p, x, what == RACE_RESET);
    if (rc < 0) {
        (void)fail(c, "%s: %s", what == RACE_DATA ? "write" : "close", RC(rc));
        goto out;
    }
    if (rj.done) goto out; /* the write waited (a delay) and the reader had its byte: no race */
    if (eddy__st_end_close(c, p, y, false) < 0) goto out;
    if (rj.rc != -EBADF)
        (void)fail(c, "read woken by %s, then closed before it ran: want -EBADF, got %s",
                   names[what], RC(rj.rc));
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int check_close_racing_data(chk *c, pair *p, int x)
{
    return close_racing(c, p, x, RACE_DATA);
}
static int check_close_racing_eof(chk *c, pair *p, int x)
{
    return close_racing(c, p, x, RACE_EOF);
}
static int check_close_racing_reset(chk *c, pair *p, int x)
{
    return close_racing(c, p, x, RACE_RESET);
}

static int check_close_blocked_read(chk *c, pair *p, int x)
{
    return blocked_read_closed(c, p, x, false);
}
static int check_abort_blocked_read(chk *c, pair *p, int x)
{
    return blocked_read_closed(c, p, x, true);
}

/* A writer stuck on a full buffer is woken by the peer's close or abort, and its own stream
 * closed before it ran: -EBADF, as for a reader. */
static int close_racing_write(chk *c, pair *p, int x, bool peer_abort)
{
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    wjob wj = {.c = c, .p = p, .idx = x, .seed = c->seed + 85, .n = STUCK_LIMIT, .quiet = true};
    if (start_stuck_writer(c, &nu, &wj, NULL) < 0) goto out;
    if (eddy__st_end_close(c, p, 1 - x, peer_abort) < 0) goto out;
    if (wj.done) goto out; /* it ran before the close: no race to judge */
    if (eddy__st_end_close(c, p, x, false) < 0) goto out;
    if (wj.rc != -EBADF)
        (void)fail(c,
                   "write woken by the peer's %s, then closed before it ran: want -EBADF, got %s",
                   peer_abort ? "abort" : "close", RC(wj.rc));
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int check_close_racing_peer_close(chk *c, pair *p, int x)
{
    return close_racing_write(c, p, x, false);
}
static int check_close_racing_peer_abort(chk *c, pair *p, int x)
{
    return close_racing_write(c, p, x, true);
}

typedef struct cljob {
    chk *c;
    pair *p;
    int x;
    int rc;
} cljob;

static int close_task(void *arg)
{
    cljob *j = arg;
    j->rc = eddy__st_end_close(j->c, j->p, j->x, false);
    return 0;
}

/* CLOSE_FLUSHES: close x in a task of its own while the peer does not read yet. Returns once
 * the close has woken the tasks inside x (they have left it) and waits for the peer; *h is
 * the closing task, to join after reading. */
static int start_flushing_close(chk *c, eddy_nursery *nu, pair *p, int x, wjob *wj, cljob *j,
                                eddy_task **h)
{
    *j = (cljob){.c = c, .p = p, .x = x};
    if (eddy__st_spawn(c, nu, close_task, j, h) < 0) return c->err;
    for (int i = 0; i < 1000 && !wj->done; i++) {
        int rc = eddy_yield();
        if (rc < 0) return eddy__st_fail_code(c, rc, "yield: %s", RC(rc));
    }
    if (!wj->done) return fail(c, "close did not wake the writer within 1000 yields");
    return 0;
}

static int check_close_blocked_write(chk *c, pair *p, int x)
{
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    wjob wj = {.c = c, .p = p, .idx = x, .seed = c->seed + 80, .n = STUCK_LIMIT, .quiet = true};
    shjob sj = {.s = p->s[x]}; /* a shutdown queued behind the writer */
    eddy_stream *peer = p->s[1 - x];
    if (start_stuck_writer(c, &nu, &wj, NULL) < 0) goto out;
    if (half_close(c) && eddy__st_spawn(c, &nu, shutdown_task, &sj, NULL) < 0) goto out;
    if (close_flushes(c)) {
        /* The close waits for the peer to take the rest: read it meanwhile. */
        cljob cj;
        eddy_task *hc;
        if (start_flushing_close(c, &nu, p, x, &wj, &cj, &hc) < 0) goto out;
        if (eddy__st_expect(c, peer, wj.seed, 0, wj.written, true,
                            "bytes the write interrupted by close reported") < 0 ||
            eddy__st_join(c, hc) < 0 || cj.rc < 0)
            goto out;
    } else if (eddy__st_end_close(c, p, x, false) < 0) {
        goto out;
    }
    if (!wj.done) {
        (void)fail(c, "close returned while a writer was still inside the stream");
        goto out;
    }
    if (wj.rc != -EBADF) {
        (void)fail(c, "write blocked during close: want -EBADF, got %s", RC(wj.rc));
        goto out;
    }
    if (half_close(c) && sj.rc != -EBADF) {
        (void)fail(c, "shutdown_write queued during close: want -EBADF, got %s", RC(sj.rc));
        goto out;
    }
    /* A graceful close still delivers what was accepted: exactly the reported bytes. */
    if (!close_flushes(c))
        (void)eddy__st_expect(c, peer, wj.seed, 0, wj.written, true,
                              "bytes the write interrupted by close reported");
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

/* The peer goes away while x's writer is stuck on the full buffer: the writer must wake. */
static int stuck_writer_peer_gone(chk *c, pair *p, int x, bool abort_it)
{
    const char *how = abort_it ? "aborted" : "closed";
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    wjob wj = {.c = c, .p = p, .idx = x, .seed = c->seed + 90, .n = STUCK_LIMIT, .quiet = true};
    eddy_task *h;
    if (start_stuck_writer(c, &nu, &wj, &h) < 0) goto out;
    if (eddy__st_end_close(c, p, 1 - x, abort_it) < 0 || eddy__st_join(c, h) < 0) goto out;
    if (!is_peer_gone(wj.rc))
        (void)fail(c, "write blocked when the peer %s: want -EPIPE or -ECONNRESET, got %s", how,
                   RC(wj.rc));
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int check_peer_closed_blocked_write(chk *c, pair *p, int x)
{
    return stuck_writer_peer_gone(c, p, x, false);
}

static int check_peer_aborted_blocked_write(chk *c, pair *p, int x)
{
    return stuck_writer_peer_gone(c, p, x, true);
}

/* x is aborted while y's reader waits for data: the reader must wake. */
static int check_peer_aborted_blocked_read(chk *c, pair *p, int x)
{
    bool soft = c->f->flags & EDDY_STREAMTEST_NO_RESET;
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    r1job rj = {.s = p->s[1 - x]};
    eddy_task *h;
    if (eddy__st_spawn(c, &nu, eddy__st_read1_task, &rj, &h) < 0) goto out;
    if (rj.done) {
        (void)fail(c, "a read with nothing sent returned %s", RC(rj.rc));
        goto out;
    }
    if (eddy__st_end_close(c, p, x, true) < 0 || eddy__st_join(c, h) < 0) goto out;
    if (rj.rc != -ECONNRESET && !(soft && rj.rc == 0))
        (void)fail(c, "read blocked when the peer aborted: want -ECONNRESET%s, got %s",
                   soft ? " or 0" : "", RC(rj.rc));
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int check_abort_blocked_write(chk *c, pair *p, int x)
{
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    wjob wj = {.c = c, .p = p, .idx = x, .seed = c->seed + 95, .n = STUCK_LIMIT, .quiet = true};
    if (start_stuck_writer(c, &nu, &wj, NULL) < 0) goto out;
    if (eddy__st_end_close(c, p, x, true) < 0) goto out;
    if (!wj.done) {
        (void)fail(c, "abort returned while a writer was still inside the stream");
        goto out;
    }
    if (wj.rc != -EBADF)
        (void)fail(c, "write blocked during abort: want -EBADF, got %s", RC(wj.rc));
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

typedef struct cbjob {
    pair *p;
    int x;
    bool ran;
    ssize_t read1, read0;
    int write, writev, shutdown, close;
    size_t written, writev_written;
} cbjob;

static void from_callback(void *arg)
{
    cbjob *j = arg;
    eddy_stream *w = j->p->s[j->x], *r = j->p->s[1 - j->x];
    char b[1] = {'c'};
    struct iovec iov = {b, 1};
    j->read1 = eddy_stream_read(r, b, 1);
    j->read0 = eddy_stream_read(r, b, 0);
    j->write = eddy_stream_write(w, b, 1, &j->written);
    j->writev = eddy_stream_writev(w, &iov, 1, &j->writev_written);
    j->shutdown = eddy_stream_shutdown_write(w);
    j->close = eddy_stream_close(r); /* a task is reading r: refused, r left intact */
    j->ran = true;
}

static int check_callback(chk *c, pair *p, int x)
{
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    r1job rj = {.s = p->s[1 - x]};
    cbjob cb = {.p = p, .x = x, .written = 1, .writev_written = 1};
    if (eddy__st_spawn(c, &nu, eddy__st_read1_task, &rj, NULL) < 0) goto out;
    int rc = eddy_call_soon(from_callback, &cb);
    if (rc < 0) {
        (void)eddy__st_fail_code(c, rc, "eddy_call_soon: %s", RC(rc));
        goto out;
    }
    for (int i = 0; i < 1000 && !cb.ran; i++)
        if ((rc = eddy_yield()) < 0) break;
    /* The queued callback holds &cb, in this frame: it must have run before the check
     * returns, also when the check's guard cancelled the yields above (a guard of 0 does). */
    if (!cb.ran)
        EDDY_SHIELD(EDDY_SEC(1)) {
            for (int i = 0; i < 1000 && !cb.ran; i++)
                if (eddy_yield() < 0) break;
        }
    if (!cb.ran) {
        fprintf(stderr, "eddy_check_stream: %s: callback: eddy_call_soon's callback never ran; "
                        "it points into a frame that is going away\n", c->name);
        abort();
    }
    if (cb.close != -EBUSY) p->s[1 - x] = NULL; /* the callback closed it: do not touch it */
    if (rc < 0) {
        (void)eddy__st_fail_code(c, rc, "yield: %s", RC(rc));
        goto out;
    }
    if (cb.read1 != -EPERM)
        (void)fail(c, "read from a callback: want -EPERM, got %s", RC(cb.read1));
    if (cb.read0 != -EPERM)
        (void)fail(c, "read of 0 bytes from a callback: want -EPERM, got %s", RC(cb.read0));
    if (cb.write != -EPERM || cb.written != 0)
        (void)fail(c, "write from a callback: want -EPERM and 0 written, got %s, %zu",
                   RC(cb.write), cb.written);
    if (cb.writev != -EPERM || cb.writev_written != 0)
        (void)fail(c, "writev from a callback: want -EPERM and 0 written, got %s, %zu",
                   RC(cb.writev), cb.writev_written);
    if (cb.shutdown != -EPERM)
        (void)fail(c, "shutdown_write from a callback: want -EPERM, got %s", RC(cb.shutdown));
    if (cb.close != -EBUSY) {
        (void)fail(c, "close from a callback while a task reads: want -EBUSY, got %s",
                   RC(cb.close));
        goto out;
    }
    if (c->err) goto out;
    /* Nothing the callback tried had an effect: the blocked reader gets the next byte. */
    if ((rc = eddy_stream_write_all(p->s[x], "n", 1)) < 0) {
        (void)fail(c, "write after the callback: %s", RC(rc));
        goto out;
    }
    eddy__st_nclose(c, &nu);
    if (rj.rc != 1 || rj.buf[0] != 'n')
        return fail(c, "the reader got %s%s instead of the byte written after the callback",
                    RC(rj.rc), rj.rc == 1 ? " wrong byte" : "");
    return c->err;
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

/* An abort from a callback while a task reads the stream: the callback cannot wait for the
 * reader to leave, but the abort still takes effect at once: the reader wakes with -EBADF, the
 * stream is freed when it has left (the leak check reports it otherwise) and the peer sees the
 * abort. (It used to do nothing at all: the abort dropped the close path's -EBUSY.) */
typedef struct abjob {
    eddy_stream *s;
    bool ran;
} abjob;

static void abort_from_callback(void *arg)
{
    abjob *j = arg;
    eddy_stream_abort(j->s);
    j->ran = true;
}

static int check_abort_from_callback(chk *c, pair *p, int x)
{
    int y = one_way(c) ? 1 : x; /* the end aborted, with a task reading it */
    eddy_nursery nu;
    if (eddy__st_nopen(c, &nu) < 0) return c->err;
    r1job rj = {.s = p->s[y]};
    eddy_task *h;
    if (eddy__st_spawn(c, &nu, eddy__st_read1_task, &rj, &h) < 0) goto out;
    if (rj.done) {
        (void)fail(c, "a read with nothing sent returned %s", RC(rj.rc));
        goto out;
    }
    abjob aj = {.s = p->s[y]};
    int rc = eddy_call_soon(abort_from_callback, &aj);
    if (rc < 0) {
        (void)eddy__st_fail_code(c, rc, "eddy_call_soon: %s", RC(rc));
        goto out;
    }
    p->s[y] = NULL; /* the abort ends it, whatever happens next */
    if (eddy__st_join(c, h) < 0) goto out;
    if (!aj.ran || rj.rc != -EBADF) {
        (void)fail(c, "read blocked when a callback aborted its stream: want -EBADF, got %s",
                   RC(rj.rc));
        goto out;
    }
    eddy__st_nclose(c, &nu);
    if (c->err) return c->err;
    return peer_sees_abort(c, p, y);
out:
    eddy__st_nclose(c, &nu);
    return c->err;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* One pair made, used both ways and closed, in one of four orders. */
static int leak_cycle(chk *c, int i)
{
    pair p = {{NULL, NULL}};
    int rc = c->f->make(c->f->ctx, &p.s[0], &p.s[1]);
    if (rc < 0) return eddy__st_fail_code(c, rc, "factory (cycle %d): %s", i, RC(rc));
    int dirs = one_way(c) ? 1 : 2;
    if (c->f->flags & EDDY_STREAMTEST_UNBUFFERED) dirs = 0; /* a write would wait for a reader */
    for (int d = 0; d < dirs && !c->err; d++) {
        unsigned char b = (unsigned char)i;
        if ((rc = eddy_stream_write_all(p.s[d], &b, 1)) < 0) {
            (void)fail(c, "cycle %d: write: %s", i, RC(rc));
            break;
        }
        ssize_t n = eddy_stream_read(p.s[1 - d], &b, 1);
        if (n != 1 || b != (unsigned char)i) (void)fail(c, "cycle %d: read: %s", i, RC(n));
    }
    int first = i % 2;
    (void)eddy__st_end_close(c, &p, first, i % 4 == 2 || i % 4 == 3);
    (void)eddy__st_end_close(c, &p, 1 - first, i % 4 == 3);
    return c->err;
}

static int check_leaks(chk *c, pair *p, int x)
{
    (void)p;
    (void)x;
    for (int i = 0; i < 4; i++) /* lazily grown tables (the loop's fd table, pools) settle */
        if (leak_cycle(c, i) < 0) return c->err;
    int fd0 = count_fds();
    size_t m0 = mallinfo2().uordblks;
    for (int i = 0; i < LEAK_CYCLES; i++)
        if (leak_cycle(c, i) < 0) return c->err;
    int fd1 = count_fds();
    size_t m1 = mallinfo2().uordblks;
    if (fd0 >= 0 && fd1 != fd0)
        return fail(c, "%d open descriptors before %d cycles, %d after", fd0, LEAK_CYCLES, fd1);
    /* A leaked object per cycle is at least 16 bytes: 200 of them are well above noise. */
    if (m1 > m0 && m1 - m0 >= 16 * LEAK_CYCLES)
        return fail(c, "heap grew by %zu bytes over %d cycles", m1 - m0, LEAK_CYCLES);
    return 0;
}

const eddy__st_check eddy__st_checks[] = {
    {"kind_fd", check_kind_fd, O_FWD},
    {"zero_length", check_zero_length, O_FWD | O_REV},
    {"transfer", check_transfer, O_FWD},
    {"eof_after_close", check_eof_after_close, O_FWD | O_REV},
    {"close_unread", check_close_unread, O_FWD | O_REV | O_BUFFERED},
    {"half_close", check_half_close, O_FWD | O_REV},
    {"closed_peer", check_closed_peer, O_FWD | O_REV},
    {"abort", check_abort, O_FWD | O_REV | O_REV_ONEWAY},
    {"writers_fifo", check_writers_fifo, O_FWD | O_REV},
    {"busy_reader", check_busy_reader, O_FWD | O_REV},
    {"cancelled_read", check_cancelled_read, O_FWD | O_REV},
    {"cancelled_write", check_cancelled_write, O_FWD | O_REV | O_BOUNDED},
    {"shutdown_after_cancelled", check_shutdown_after_cancelled, O_FWD | O_REV | O_BOUNDED},
    {"cancel_storm", check_cancel_storm, O_FWD | O_REV},
    {"close_blocked_read", check_close_blocked_read, O_FWD | O_REV},
    {"close_racing_data", check_close_racing_data, O_FWD | O_REV},
    {"close_racing_eof", check_close_racing_eof, O_FWD | O_REV},
    {"close_racing_reset", check_close_racing_reset, O_FWD | O_REV},
    {"abort_blocked_read", check_abort_blocked_read, O_FWD | O_REV},
    {"close_blocked_write", check_close_blocked_write, O_FWD | O_REV | O_BOUNDED},
    {"abort_blocked_write", check_abort_blocked_write, O_FWD | O_REV | O_BOUNDED},
    {"close_racing_write_peer_close", check_close_racing_peer_close, O_FWD | O_REV | O_BOUNDED},
    {"close_racing_write_peer_abort", check_close_racing_peer_abort, O_FWD | O_REV | O_BOUNDED},
    {"peer_closed_blocked_write", check_peer_closed_blocked_write, O_FWD | O_REV | O_BOUNDED},
    {"peer_aborted_blocked_write", check_peer_aborted_blocked_write, O_FWD | O_REV | O_BOUNDED},
    {"peer_aborted_blocked_read", check_peer_aborted_blocked_read, O_FWD | O_REV},
    {"callback", check_callback, O_FWD | O_REV},
    {"abort_from_callback", check_abort_from_callback, O_FWD | O_REV},
    {"leaks", check_leaks, O_FWD | O_NO_PAIR},
};
const size_t eddy__st_nchecks = sizeof eddy__st_checks / sizeof eddy__st_checks[0];
