/* eddy io: the public stream calls (N6, N8): argument checks, the cancellation check every
 * blocking call starts with, one-reader and FIFO-writer bookkeeping, and close that waits
 * for the tasks still inside the stream. Implementations (fdstream.c, memstream.c, ...) only
 * move bytes. */
#include <limits.h>

#include "io/io.h"

void eddy__stream_init(eddy_stream *s, const eddy_stream_vt *vt, const char *site)
{
    s->vt = vt;
    eddy__list_init(&s->writers);
    s->reader = s->writer = s->closer = NULL;
    s->users = 0;
    s->closing = false;
    s->aborting = false;
    s->wr_shut = false;
    s->handle = (eddy__handle){0};
    eddy_loop *l = eddy__loop();
    if (l) eddy__handle_add(l, &s->handle, vt->kind, site);
}

/* The calling task, if it may block: NULL in callback context or outside a loop. */
static eddy_task *task_or_null(void)
{
    eddy_loop *l = eddy__loop();
    if (!l || l->in_callback) return NULL;
    return l->current;
}

static int finish_close(eddy_stream *s);

/* Aborted from a callback while tasks were inside (do_close): nobody waits to free s, so the
 * last task out does. An abort reports nothing (its contract: s is gone). */
static __attribute__((noinline, cold)) void last_out_of_aborted(eddy_stream *s)
{
    (void)finish_close(s);
}

/* A task leaves s. Callers touch s no more after this: the last task out of an aborted
 * stream frees it. */
static inline void leave(eddy_stream *s)
{
    if (--s->users) return;
    if (s->closer)
        eddy__wake(s->closer, 0);
    else if (eddy__unlikely(s->closing))
        last_out_of_aborted(s);
}

/* The cooperative budget (internal.h) for a call on s, made by t once it is registered inside
 * s (a close waits for it). When t has just yielded, a cancellation or a close that came
 * meanwhile ends the call before it has done anything. 0 or that error. */
static __attribute__((noinline, cold)) int after_yield(eddy_stream *s, eddy_task *t)
{
    int c = eddy__cancel_code(t);
    return c ? c : s->closing ? -EBADF : 0;
}

static inline int coop_point(eddy_stream *s, eddy_task *t)
{
    if (eddy__likely(!eddy__coop_spend(t))) return 0;
    return after_yield(s, t);
}

/* Register t in s as its reader: 0, or why not (then nothing is registered). The caller
 * then spends t's budget. */
static inline __attribute__((always_inline)) int enter_read(eddy_stream *s, eddy_task *t)
{
    int c = eddy__cancel_code(t);
    if (c) return c;
    if (s->closing) return -EBADF;
    if (s->reader) return -EBUSY;
    s->reader = t;
    s->users++;
    return 0;
}

/* The read itself, t registered as the reader; leaves s. */
static inline __attribute__((always_inline)) ssize_t read_inside(eddy_stream *s, void *buf,
                                                                 size_t len)
{
    ssize_t n = s->vt->read(s, buf, len);
    /* closing can only have begun while the read was suspended: it was inside when close
     * came, so it reports -EBADF whatever woke it first (data, end of stream, a reset: a
     * memory stream's or a layered stream's read would return that; a descriptor's is
     * woken with -EBADF by close). */
    if (s->closing) n = -EBADF;
    eddy__stream_end_read(s);
    return n;
}

/* A read whose entry spent the last of t's budget: yield first, registered. Out of line (once
 * in 128 reads), so that the per-message path keeps its registers for itself. */
static __attribute__((noinline, cold)) ssize_t read_after_yield(eddy_stream *s, eddy_task *t,
                                                              void *buf, size_t len)
{
    eddy__coop_yield(t->loop, t);
    int c = after_yield(s, t);
    if (c < 0) {
        eddy__stream_end_read(s);
        return c;
    }
    return read_inside(s, buf, len);
}

ssize_t eddy_stream_read(eddy_stream *s, void *buf, size_t len)
{
    if (!s || (!buf && len)) return -EINVAL;
    if (len == 0) { /* still a checkpoint: a cancelled caller hears about it */
        eddy_task *t = task_or_null();
        if (!t) return -EPERM;
        int c = eddy__cancel_code(t);
        if (c == 0 && s->closing) c = -EBADF;
        if (c == 0) (void)eddy__coop_spend(t); /* last: s is not touched after a yield */
        return c;
    }
    eddy_task *t = task_or_null();
    if (!t) return -EPERM;
    int rc = enter_read(s, t);
    if (rc < 0) return rc;
    if (eddy__coop_spent(t)) return read_after_yield(s, t, buf, len);
    return read_inside(s, buf, len);
}

ssize_t eddy_stream_readv(eddy_stream *s, const struct iovec *iov, int iovcnt)
{
    if (!s || iovcnt < 0 || iovcnt > IOV_MAX || (!iov && iovcnt > 0)) return -EINVAL;
    int first = -1;
    for (int i = 0; i < iovcnt; i++) {
        if (!iov[i].iov_base && iov[i].iov_len) return -EINVAL;
        if (first < 0 && iov[i].iov_len) first = i;
    }
    if (first < 0) return eddy_stream_read(s, NULL, 0); /* nothing to fill: a checkpoint */
    int rc = eddy__stream_begin_read(s);
    if (rc < 0) return rc;
    ssize_t n = s->vt->readv ? s->vt->readv(s, iov + first, iovcnt - first)
                             : s->vt->read(s, iov[first].iov_base, iov[first].iov_len);
    if (s->closing) n = -EBADF; /* as in eddy_stream_read */
    eddy__stream_end_read(s);
    return n;
}

static void pass_turn(eddy_stream *s);

/* Wait for this writer's FIFO turn. Returns 0 with s->writer == t, or a negative errno. */
static int take_turn(eddy_stream *s, eddy_task *t)
{
    if (!s->writer && eddy__list_empty(&s->writers)) {
        s->writer = t;
        return 0;
    }
    eddy__waiter w;
    int rc = eddy__waitq_wait((eddy__waitq *)(void *)&s->writers, &w, "stream write turn", s);
    if (rc < 0) return rc;
    /* The previous writer handed the turn over (s->writer == t). Cancellation that arrived
     * after the hand-off still applies: level-triggered, the call must not start writing. */
    int c = eddy__cancel_code(t);
    if (c == 0 && s->closing) c = -EBADF;
    if (c) pass_turn(s); /* to the next writer in line: this one gives up */
    return c;
}

static void pass_turn(eddy_stream *s)
{
    eddy__link *x = eddy__list_pop_front(&s->writers);
    if (!x) {
        s->writer = NULL;
        return;
    }
    eddy__waiter *w = eddy__container_of(x, eddy__waiter, link);
    s->writer = w->task;
    eddy__wake(w->task, 0);
}

/* The checks every write-side call starts with: the calling task, or NULL with *rcp set. */
static eddy_task *write_checks(eddy_stream *s, int *rcp)
{
    eddy_task *t = task_or_null();
    int c = !t ? -EPERM : eddy__cancel_code(t);
    if (c == 0 && s->closing) c = -EBADF;
    *rcp = c;
    return c ? NULL : t;
}

int eddy__stream_write_begin(eddy_stream *s)
{
    int rc;
    eddy_task *t = write_checks(s, &rc);
    if (!t) return rc;
    if (s->wr_shut) return -EPIPE;
    s->users++;
    rc = take_turn(s, t);
    if (rc < 0) {
        leave(s);
        return rc;
    }
    /* With the turn held: writers that come during a yield still queue behind this one. */
    if ((rc = coop_point(s, t)) < 0) eddy__stream_write_end(s);
    return rc;
}

void eddy__stream_write_end(eddy_stream *s)
{
    pass_turn(s);
    leave(s);
}

int eddy__stream_write_held(eddy_stream *s, const void *buf, size_t len, size_t *written)
{
    size_t done = 0;
    const char *p = buf;
    int rc = 0;
    while (done < len) {
        if (s->wr_shut) { /* shut down by a writer that went before us */
            rc = -EPIPE;
            break;
        }
        ssize_t n = s->vt->write(s, p + done, len - done);
        if (n < 0) {
            /* Closing began while it was suspended: -EBADF whatever woke it first (the peer's
             * close or reset: a memory stream's write reports that, a descriptor's is woken
             * with -EBADF by close), as eddy_stream_read does. */
            rc = s->closing ? -EBADF : (int)n;
            break;
        }
        done += (size_t)n;
        if (s->closing && done < len) {
            rc = -EBADF;
            break;
        }
    }
    *written = done;
    return rc;
}

int eddy_stream_write(eddy_stream *s, const void *buf, size_t len, size_t *written)
{
    if (written) *written = 0;
    if (!s || (!buf && len)) return -EINVAL;
    int rc = eddy__stream_write_begin(s);
    if (rc < 0) return rc;
    size_t done;
    rc = eddy__stream_write_held(s, buf, len, &done);
    if (written) *written = done;
    eddy__stream_write_end(s);
    return rc;
}

int eddy_stream_write_all(eddy_stream *s, const void *buf, size_t len)
{
    return eddy_stream_write(s, buf, len, NULL);
}

#define GATHER_WINDOW 16

/* eddy_stream_writev's bytes, the turn held: through the transport's gather write in windows
 * of up to GATHER_WINDOW non-empty pieces (the caller's array is const, so a partly written
 * piece is resumed from a copy on the stack), or piece by piece through its plain write. */
static int gather_held(eddy_stream *s, const struct iovec *iov, int iovcnt, size_t *written)
{
    size_t total = 0, off = 0; /* off: bytes of iov[i] already written */
    int i = 0, rc = 0;
    for (;;) {
        while (i < iovcnt && iov[i].iov_len == off) {
            i++;
            off = 0;
        }
        if (i == iovcnt) break;
        if (s->wr_shut) {
            rc = -EPIPE;
            break;
        }
        if (s->closing) {
            rc = -EBADF;
            break;
        }
        struct iovec win[GATHER_WINDOW];
        int k = 0, cap = s->vt->writev ? GATHER_WINDOW : 1;
        for (int j = i; j < iovcnt && k < cap; j++) {
            size_t o = j == i ? off : 0;
            if (iov[j].iov_len == o) continue;
            win[k].iov_base = (char *)iov[j].iov_base + o;
            win[k].iov_len = iov[j].iov_len - o;
            k++;
        }
        ssize_t n = s->vt->writev ? s->vt->writev(s, win, k)
                                  : s->vt->write(s, win[0].iov_base, win[0].iov_len);
        if (n < 0) {
            rc = s->closing ? -EBADF : (int)n; /* as in eddy__stream_write_held */
            break;
        }
        total += (size_t)n;
        for (size_t left = (size_t)n; left;) {
            size_t avail = iov[i].iov_len - off;
            if (left < avail) {
                off += left;
                left = 0;
            } else {
                left -= avail;
                i++;
                off = 0;
            }
        }
    }
    *written = total;
    return rc;
}

int eddy_stream_writev(eddy_stream *s, const struct iovec *iov, int iovcnt, size_t *written)
{
    if (written) *written = 0;
    if (!s || iovcnt < 0 || (!iov && iovcnt > 0)) return -EINVAL;
    for (int i = 0; i < iovcnt; i++)
        if (!iov[i].iov_base && iov[i].iov_len) return -EINVAL;
    int rc = eddy__stream_write_begin(s);
    if (rc < 0) return rc;
    /* One turn for all the pieces: no other writer's bytes can come between them. */
    size_t total = 0;
    rc = gather_held(s, iov, iovcnt, &total);
    if (written) *written = total;
    eddy__stream_write_end(s);
    return rc;
}

int eddy_stream_shutdown_write(eddy_stream *s)
{
    if (!s) return -EINVAL;
    int rc;
    if (!write_checks(s, &rc)) return rc;
    if (s->wr_shut) return 0;
    if (!s->vt->shutdown_write) return -ENOTSUP;
    if ((rc = eddy__stream_write_begin(s)) < 0) return rc; /* writers queued before us go first */
    if (!s->wr_shut && (rc = s->vt->shutdown_write(s)) == 0) s->wr_shut = true;
    eddy__stream_write_end(s);
    return rc;
}

/* Release s through its transport (an abort if one was asked for at any point) and free it. */
static int finish_close(eddy_stream *s)
{
    eddy__handle_del(&s->handle);
    return s->vt->close(s, !s->aborting);
}

static int do_close(eddy_stream *s, bool graceful)
{
    if (!s) return 0;
    if (!graceful) s->aborting = true; /* an abort always takes effect, also on a close under way */
    if (s->closing) return -EBADF;     /* a close or abort is under way: that one ends s */
    if (s->users) {
        eddy_task *t = task_or_null();
        /* Callback context cannot wait for the tasks inside s: a close is refused and leaves
         * s intact; an abort goes ahead and leaves the freeing to the last task out. */
        if (!t && graceful) return -EBUSY;
        s->closing = true;
        /* Queued writers give up with -EBADF; the ones inside the transport are woken by it. */
        eddy__waitq_wake_all((eddy__waitq *)(void *)&s->writers, -EBADF);
        if (s->vt->interrupt) s->vt->interrupt(s);
        if (!t) return 0; /* see leave() */
        s->closer = t;
        while (s->users) {
            eddy__wait w = {.reason = "stream close", .obj = s, .uncancellable = true};
            (void)eddy__park(&w);
        }
        s->closer = NULL;
    }
    s->closing = true;
    return finish_close(s);
}

int eddy_stream_close(eddy_stream *s) { return do_close(s, true); }

void eddy_stream_abort(eddy_stream *s) { (void)do_close(s, false); }

int eddy_stream_fd(eddy_stream *s)
{
    if (!s || !s->vt->fd) return -1;
    return s->vt->fd(s);
}

const char *eddy_stream_kind(const eddy_stream *s) { return s ? s->vt->kind : NULL; }

/* ---- for transports with operations of their own (unix.c: descriptor passing) ---- */

int eddy__stream_begin_read(eddy_stream *s)
{
    eddy_task *t = task_or_null();
    if (!t) return -EPERM;
    int rc = enter_read(s, t);
    if (rc < 0) return rc;
    if ((rc = coop_point(s, t)) < 0) eddy__stream_end_read(s);
    return rc;
}

void eddy__stream_end_read(eddy_stream *s)
{
    s->reader = NULL;
    leave(s);
}

