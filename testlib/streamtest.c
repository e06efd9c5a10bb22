/* eddy test library: the stream conformance suite (X3), eddy_check_stream — reporting, the
 * byte pattern, the writer and reader tasks the checks use, and the runner. The checks
 * themselves are in streamtest_checks.c.
 *
 * Each check gets a fresh pair from the factory, runs inside the calling task under a
 * fail-after guard, opens its own nursery for the tasks it needs and leaves nothing behind:
 * a failure cancels the nursery, and the runner closes whatever ends the check left open.
 * Bytes are a pattern computed from (seed, offset), so a reader can verify any stretch
 * without keeping a copy of what was written, however large. */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>

#include "streamtest_impl.h"

/* ---- reporting ------------------------------------------------------------------------- */

const char *eddy__st_rcstr(long rc, char *buf, size_t len)
{
    const char *n = rc < 0 ? strerrorname_np((int)-rc) : NULL;
    if (n)
        snprintf(buf, len, "-%s", n);
    else
        snprintf(buf, len, "%ld", rc);
    return buf;
}

/* Report the check's first failure (later ones are mostly its echoes: tasks cancelled because
 * of it) and stop the check's tasks, so that nobody waits for a partner that gave up. */
int eddy__st_fail_code(chk *c, int code, const char *fmt, ...)
{
    if (c->nu) eddy_nursery_cancel(c->nu);
    if (c->err) return code;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "eddy_check_stream: %s: %s: ", c->f->name ? c->f->name : "(unnamed)", c->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    c->err = code;
    return code;
}

/* ---- the byte pattern and sizes -------------------------------------------------------- */

/* Bytes [off, off + n) of the stream named by seed: no period a reordering could hide in
 * (but with PERIODIC, see streamtest_impl.h). */
void eddy__st_fill(uint64_t seed, uint64_t off, unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint64_t pos = seed & PERIODIC ? (off + i) % WCHUNK : off + i;
        uint64_t w = mix64(seed ^ mix64(pos >> 3));
        for (unsigned k = (unsigned)(pos & 7); k < 8 && i < n; k++, i++)
            p[i] = (unsigned char)(w >> (8 * k));
    }
}

/* Index of the first byte of p that is not the pattern, or n. */
size_t eddy__st_mismatch(uint64_t seed, uint64_t off, const unsigned char *p, size_t n)
{
    unsigned char want[256];
    for (size_t i = 0; i < n; i += sizeof want) {
        size_t k = n - i < sizeof want ? n - i : sizeof want;
        eddy__st_fill(seed, off + i, want, k);
        if (memcmp(want, p + i, k) != 0)
            for (size_t j = 0; j < k; j++)
                if (want[j] != p[i + j]) return i + j;
    }
    return n;
}

/* Log-uniform in [1, max]: as many tiny sizes as huge ones. */
size_t eddy__st_rnd_size(uint64_t *s, size_t max)
{
    unsigned bits = 0;
    while (bits < 62 && ((size_t)2 << bits) <= max) bits++;
    size_t lo = (size_t)1 << (rnd(s) % (bits + 1));
    size_t n = lo + (size_t)(rnd(s) % lo);
    return n > max ? max : n;
}

/* ---- writer and reader jobs ------------------------------------------------------------ */


static int write_piece(eddy_stream *s, const unsigned char *b, size_t n, bool v, size_t *w)
{
    if (!v) return eddy_stream_write(s, b, n, w);
    struct iovec iov[3] = {{(void *)b, n / 3}, {(void *)b, 0}, {(void *)(b + n / 3), n - n / 3}};
    return eddy_stream_writev(s, iov, 3, w);
}

/* A stuck writer's body: j->n bytes in one writev of WCHUNK pieces, all from one buffer
 * (the pattern repeats every WCHUNK bytes), so one call holds the writers' turn until the
 * peer has read nearly all of them, or close, abort, cancellation or the peer's end stops it.
 * In several calls, a writer that was suspended but not stuck (its transport's buffer freed
 * up, or it let others run between two pieces) could end its call while a writer or a
 * shutdown_write the check queued behind it waited for the turn: that one went ahead of the
 * next call, legitimately (the FIFO order is per call), and the check mistook it for a
 * failure. With j->writev every other piece is empty. */
static int stuck_body(wjob *j)
{
    chk *c = j->c;
    eddy_stream *s = j->p->s[j->idx];
    size_t pieces = (j->n + WCHUNK - 1) / WCHUNK, cnt = j->writev ? 2 * pieces : pieces;
    unsigned char *buf = malloc(WCHUNK);
    struct iovec *iov = calloc(cnt, sizeof *iov);
    if (!buf || !iov || cnt > INT_MAX) {
        free(buf);
        free(iov);
        return eddy__st_fail_code(c, -ENOMEM, "no memory for a %zu-byte write", j->n);
    }
    eddy__st_fill(j->seed, 0, buf, WCHUNK);
    size_t k = 0;
    for (size_t left = j->n; left;) {
        size_t len = left < WCHUNK ? left : WCHUNK;
        iov[k++] = (struct iovec){buf, len};
        if (j->writev) iov[k++] = (struct iovec){buf, 0};
        left -= len;
    }
    size_t w = 0;
    int rc = eddy_stream_writev(s, iov, (int)k, &w);
    free(iov);
    free(buf);
    if (w > j->n) return fail(c, "writev reported %zu bytes written of %zu", w, j->n);
    j->written = w;
    if (rc == 0 && w != j->n)
        return fail(c, "writev returned 0 after writing %zu of %zu bytes", w, j->n);
    j->rc = rc;
    if (rc < 0 && !j->quiet) return fail(c, "writev of %zu bytes (after %zu): %s", j->n, w, RC(rc));
    return rc;
}

static int writer_body(wjob *j)
{
    chk *c = j->c;
    if (j->stuck) return stuck_body(j);
    eddy_stream *s = j->p->s[j->idx];
    size_t cap = j->rng ? MAX_WRITE : j->chunk ? j->chunk : WCHUNK;
    if (cap > j->n) cap = j->n ? j->n : 1;
    unsigned char *buf = malloc(cap);
    if (!buf) return eddy__st_fail_code(c, -ENOMEM, "no memory for a %zu-byte write buffer", cap);
    unsigned calls = 0;
    while (j->written < j->n) {
        size_t left = j->n - j->written;
        size_t k = left < cap ? left : cap;
        if (j->rng) k = eddy__st_rnd_size(&j->rng, k);
        eddy__st_fill(j->seed, j->off + j->written, buf, k);
        size_t w = 0;
        bool v = j->writev || (j->rng && calls % 4 == 3);
        int rc = write_piece(s, buf, k, v, &w);
        calls++;
        if (w > k) {
            free(buf);
            return fail(c, "%s reported %zu bytes written of %zu", v ? "writev" : "write", w, k);
        }
        j->written += w;
        if (rc == 0 && w != k) {
            free(buf);
            return fail(c, "%s returned 0 after writing %zu of %zu bytes", v ? "writev" : "write",
                        w, k);
        }
        if (rc < 0) {
            free(buf);
            j->rc = rc;
            if (j->quiet) return rc;
            return fail(c, "%s of %zu bytes (after %zu of %zu): %s", v ? "writev" : "write", k,
                        j->written - w, j->n, RC(rc));
        }
    }
    free(buf);
    int then = j->then;
    if (then == THEN_END) then = half_close(c) ? THEN_SHUTDOWN : THEN_CLOSE;
    if (then == THEN_SHUTDOWN) {
        j->then_rc = eddy_stream_shutdown_write(s);
        if (j->then_rc < 0) return fail(c, "shutdown_write after writing: %s", RC(j->then_rc));
    } else if (then == THEN_CLOSE) {
        j->p->s[j->idx] = NULL;
        j->then_rc = eddy_stream_close(s);
        if (j->then_rc < 0) return fail(c, "close after writing: %s", RC(j->then_rc));
    }
    return 0;
}

int eddy__st_writer_task(void *arg)
{
    wjob *j = arg;
    if (j->cancellable) {
        EDDY_CANCEL_SCOPE(&j->cs) { (void)writer_body(j); }
    } else {
        (void)writer_body(j);
    }
    j->done = true;
    return 0;
}

static int reader_body(rjob *j, unsigned char *buf)
{
    chk *c = j->c;
    const char *what = j->what ? j->what : "bytes";
    while (j->got < j->n) {
        size_t k = j->rng ? eddy__st_rnd_size(&j->rng, RBUF) : RBUF;
        if (k > j->n - j->got) k = j->n - j->got;
        ssize_t r = eddy_stream_read(j->s, buf, k);
        if (r < 0)
            return j->rc = fail(c, "read of %s after %zu of %zu: %s", what, j->got, j->n, RC(r));
        if (r == 0)
            return j->rc = fail(c, "end of stream after %zu of %zu %s", j->got, j->n, what);
        if ((size_t)r > k) return j->rc = fail(c, "read of %zu returned %zd", k, r);
        size_t bad = eddy__st_mismatch(j->seed, j->off + j->got, buf, (size_t)r);
        if (bad < (size_t)r)
            return j->rc = fail(c, "%s: byte %zu of %zu is wrong (lost, reordered or foreign)",
                                what, j->got + bad, j->n);
        j->got += (size_t)r;
    }
    if (j->eof) {
        for (int i = 0; i < 2; i++) { /* end of stream stays */
            ssize_t r = eddy_stream_read(j->s, buf, 1);
            if (r != 0)
                return j->rc = fail(c, "read after the %zu %s: want 0 (end of stream), got %s",
                                    j->n, what, RC(r));
        }
    }
    return 0;
}

int eddy__st_reader_task(void *arg)
{
    rjob *j = arg;
    unsigned char *buf = malloc(RBUF);
    if (!buf)
        j->rc = eddy__st_fail_code(j->c, -ENOMEM, "no memory for a read buffer");
    else
        (void)reader_body(j, buf);
    free(buf);
    j->done = true;
    return 0;
}

/* Read exactly n bytes of the pattern (seed, off) from s in the checking task, then end of
 * stream if eof. 0, or the failure (reported). */
int eddy__st_expect(chk *c, eddy_stream *s, uint64_t seed, uint64_t off, size_t n, bool eof,
                  const char *what)
{
    rjob j = {.c = c, .s = s, .seed = seed, .off = off, .n = n, .eof = eof, .what = what};
    return reader_body(&j, c->rbuf);
}

int eddy__st_read1_task(void *arg)
{
    r1job *j = arg;
    if (j->cancellable) {
        EDDY_CANCEL_SCOPE(&j->cs) { j->rc = eddy_stream_read(j->s, j->buf, sizeof j->buf); }
    } else {
        j->rc = eddy_stream_read(j->s, j->buf, sizeof j->buf);
    }
    j->done = true;
    return 0;
}

/* ---- nursery helpers: every check's tasks are gone when it returns --------------------- */

int eddy__st_nopen(chk *c, eddy_nursery *n)
{
    int rc = eddy_nursery_open_flags(n, EDDY_WAIT_ALL);
    if (rc < 0) return eddy__st_fail_code(c, rc, "nursery: %s", RC(rc));
    c->nu = n;
    return 0;
}

void eddy__st_nclose(chk *c, eddy_nursery *n)
{
    c->nu = NULL;
    int rc = eddy_nursery_close(n);
    if (rc < 0 && !c->err)
        (void)eddy__st_fail_code(c, rc, "a task of the check failed: %s", RC(rc));
}

int eddy__st_spawn(chk *c, eddy_nursery *n, int (*fn)(void *), void *arg, eddy_task **h)
{
    int rc = eddy_spawn(n, fn, arg, .name = c->name, .handle = h);
    return rc < 0 ? eddy__st_fail_code(c, rc, "spawn: %s", RC(rc)) : 0;
}

int eddy__st_join(chk *c, eddy_task *t)
{
    int st;
    int rc = eddy_task_join(t, &st);
    return rc < 0 ? eddy__st_fail_code(c, rc, "join: %s", RC(rc)) : 0;
}

int eddy__st_end_close(chk *c, pair *p, int i, bool abort_it)
{
    eddy_stream *s = p->s[i];
    p->s[i] = NULL;
    if (abort_it) {
        eddy_stream_abort(s);
        return 0;
    }
    int rc = eddy_stream_close(s);
    return rc < 0 ? fail(c, "close: %s", RC(rc)) : 0;
}

/* Write until the transport notices the peer is gone: the first write after a close may
 * still be accepted (TCP learns of the close from the RST its bytes provoke). */
int eddy__st_write_until_error(chk *c, eddy_stream *s, const char *why)
{
    memset(c->rbuf, 'x', 4096);
    for (int i = 0; i < 1000; i++) {
        size_t w = 0;
        int rc = eddy_stream_write(s, c->rbuf, 4096, &w);
        if (rc == 0) {
            int y = eddy_yield();
            if (y < 0) return eddy__st_fail_code(c, y, "yield: %s", RC(y));
            continue;
        }
        if (!is_peer_gone(rc))
            return fail(c, "write to a peer that %s: want -EPIPE or -ECONNRESET, got %s", why,
                        RC(rc));
        rc = eddy_stream_write(s, c->rbuf, 1, &w);
        if (!is_peer_gone(rc) || w != 0)
            return fail(c, "second write to a peer that %s: want -EPIPE or -ECONNRESET and "
                           "nothing written, got %s (%zu written)", why, RC(rc), w);
        return 0;
    }
    return fail(c, "1000 writes to a peer that %s all succeeded", why);
}

/* SIGPIPE raised by the last check: a failure if nothing would have stopped it killing us. */
static void sigpipe_check(chk *c, bool watch)
{
    sigset_t pend;
    if (!watch) return;
    if (sigpending(&pend) < 0 || !sigismember(&pend, SIGPIPE)) return;
    struct sigaction sa;
    bool dfl = sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
               sa.sa_handler == SIG_DFL;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGPIPE);
    struct timespec zero = {0, 0};
    (void)sigtimedwait(&one, NULL, &zero);
    if (dfl) (void)fail(c, "SIGPIPE was raised (at its default disposition it kills the process)");
}

int eddy_check_stream(const eddy_stream_factory *f)
{
    if (!f || !f->make || f->timeout < 0) return -EINVAL;
    if (!eddy_task_current()) return -EPERM;
    chk c = {.f = f, .name = "setup", .seed = (f->seed ? f->seed : 0x5eed0fedd1u) & ~PERIODIC,
             .volume = f->volume ? f->volume : 4 * MiB};
    c.rbuf = malloc(RBUF);
    if (!c.rbuf) return -ENOMEM;
    int64_t guard = f->timeout; /* a duration (docs/api.md): 0 now, EDDY_FOREVER none */
    sigset_t pipeset, old, pend;
    sigemptyset(&pipeset);
    sigaddset(&pipeset, SIGPIPE);
    (void)pthread_sigmask(SIG_BLOCK, &pipeset, &old);
    /* A SIGPIPE the caller already had pending is not ours to judge or consume. */
    bool watch = sigpending(&pend) == 0 && !sigismember(&pend, SIGPIPE);
    int first = 0;
    bool stop = false;
    for (size_t i = 0; i < eddy__st_nchecks && !stop; i++) {
        const eddy__st_check *ck = &eddy__st_checks[i];
        if ((ck->how & O_BOUNDED) && (f->flags & EDDY_STREAMTEST_UNBOUNDED)) continue;
        if ((ck->how & O_BUFFERED) && (f->flags & EDDY_STREAMTEST_UNBUFFERED)) continue;
        for (int x = 0; x < 2 && !stop; x++) {
            if (x == 1 && !(ck->how & O_REV)) break;
            if (x == 1 && one_way(&c) && !(ck->how & O_REV_ONEWAY)) break;
            char name[64];
            /* The second run swaps the roles: b writes (or is the end closed), a is the peer. */
            snprintf(name, sizeof name, "%s%s", ck->name, x ? " (ends swapped)" : "");
            c.name = name;
            c.err = 0;
            pair p = {{NULL, NULL}};
            if (!(ck->how & O_NO_PAIR)) {
                int rc = f->make(f->ctx, &p.s[0], &p.s[1]);
                if (rc == 0 && (!p.s[0] || !p.s[1]))
                    rc = eddy__st_fail_code(&c, -EINVAL, "the factory returned 0 without a pair");
                if (rc < 0) {
                    if (!c.err) (void)eddy__st_fail_code(&c, rc, "the factory failed: %s", RC(rc));
                    stop = true; /* nothing more can be checked */
                }
            }
            if (!stop) {
                eddy_cancel_scope cs;
                EDDY_CANCEL_SCOPE(&cs, .timeout = guard, .fail = true) { (void)ck->fn(&c, &p, x); }
                if (cs.cancelled_caught)
                    (void)eddy__st_fail_code(&c, -ETIMEDOUT, "did not finish within %.3g s",
                                             (double)guard / 1e9);
            }
            for (int e = 0; e < 2; e++)
                if (p.s[e]) {
                    int rc = eddy_stream_close(p.s[e]);
                    (void)rc; /* the check's verdict is what counts */
                }
            sigpipe_check(&c, watch);
            if (c.err && !first) first = c.err;
        }
    }
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(c.rbuf);
    return first;
}
