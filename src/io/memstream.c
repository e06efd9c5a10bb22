/* eddy io: in-memory stream pairs with hostile-network hooks (X3).
 *
 * One allocation holds both ends and both directions' ring buffers; it is freed when the
 * second end is closed. dir[i] carries the bytes end i writes and end 1-i reads. The stream
 * layer (stream.c) lets at most one task read and one task write each end at a time, so every
 * wait needs only one slot per direction: the reader waiting for data, the writer waiting for
 * space, and per end the task sleeping out a read or write delay. Each slot's task is parked
 * with the protocol of internal.h; a waker clears the slot before waking it. */
#include <string.h>

#include "eddy/memstream.h"
#include "io/io.h"

typedef struct mdir {
    unsigned char *buf;
    size_t cap, head, len; /* ring: len bytes from head */
    eddy_task *rwait;      /* the reading end's task, waiting for data */
    eddy_task *wwait;      /* the writing end's task, waiting for space */
    bool eof;              /* the writer shut down or closed: read 0 after the data */
    bool rgone;            /* the reader closed: writes fail with -EPIPE */
    bool reset;            /* reads -ECONNRESET after the data left; writes -ECONNRESET */
} mdir;

typedef struct mpair mpair;

typedef struct mend {
    eddy_stream base;
    mpair *p;
    int idx;
    eddy_task *rdelay, *wdelay; /* this end's tasks sleeping out a hook delay */
} mend;

struct mpair {
    mend end[2];
    mdir dir[2];
    eddy_memstream_hooks h;
    uint64_t written; /* both directions, for h.reset_after */
    unsigned open;    /* ends not yet closed */
};

static const eddy_stream_vt mem_vt;

static mend *end_of(eddy_stream *s) { return (mend *)s; }

/* ---- waiting in a slot ----------------------------------------------------------------- */

typedef struct mwait {
    eddy_task **slot;
    eddy_timer tm;
} mwait;

static void wake_slot(eddy_task **slot, int rc)
{
    eddy_task *t = *slot;
    if (!t) return;
    *slot = NULL;
    eddy__wake(t, rc);
}

static void slot_timeout(void *arg) { wake_slot(((mwait *)arg)->slot, 0); }

static void slot_cancel(eddy_task *t, void *arg)
{
    mwait *mw = arg;
    *mw->slot = NULL;
    (void)eddy__timer_stop(t->loop, &mw->tm);
}

/* Park the current task in *slot until a waker empties the slot, until deadline (if not
 * EDDY_FOREVER; then 0 is returned), or until cancelled (the cancel code). */
static int park_in(eddy_task **slot, int64_t deadline, const char *reason, const void *obj)
{
    eddy_loop *l = eddy__loop();
    eddy_task *t = l->current;
    mwait mw = {.slot = slot};
    mw.tm.heap_index = SIZE_MAX;
    mw.tm.site = NULL;
    if (deadline != EDDY_FOREVER) {
        int rc = eddy__timer_start(l, &mw.tm, deadline, slot_timeout, &mw);
        if (rc < 0) return rc;
    }
    *slot = t;
    eddy__wait w = {.reason = reason, .obj = obj, .deadline = deadline == EDDY_FOREVER ? 0 : deadline,
                    .cancel = slot_cancel, .arg = &mw};
    int rc = eddy__park(&w);
    (void)eddy__timer_stop(l, &mw.tm); /* woken by a waker before the deadline */
    return rc;
}

/* A hook delay: sleep that close can interrupt (-EBADF), unlike a plain eddy_sleep. */
static int delay(eddy_stream *s, eddy_task **slot, int64_t ns, const char *reason)
{
    if (ns <= 0) return 0;
    int rc = park_in(slot, eddy__time_add(eddy__loop()->now, ns), reason, s);
    if (rc < 0) return rc;
    return s->closing ? -EBADF : 0;
}

/* ---- the ring buffers ------------------------------------------------------------------ */

static size_t ring_take(mdir *d, void *out, size_t n)
{
    if (n > d->len) n = d->len;
    size_t first = d->cap - d->head;
    if (first > n) first = n;
    memcpy(out, d->buf + d->head, first);
    memcpy((char *)out + first, d->buf, n - first);
    d->head = (d->head + n) % d->cap;
    d->len -= n;
    return n;
}

static size_t ring_put(mdir *d, const void *in, size_t n)
{
    size_t space = d->cap - d->len;
    if (n > space) n = space;
    size_t tail = (d->head + d->len) % d->cap;
    size_t first = d->cap - tail;
    if (first > n) first = n;
    memcpy(d->buf + tail, in, first);
    memcpy(d->buf, (const char *)in + first, n - first);
    d->len += n;
    return n;
}

static void ring_drop(mdir *d)
{
    d->head = d->len = 0;
}

static void wake_dir(mdir *d)
{
    wake_slot(&d->rwait, 0);
    wake_slot(&d->wwait, 0);
}

/* The injected reset: data already written stays readable, everything after fails. */
static void reset_pair(mpair *p)
{
    for (int i = 0; i < 2; i++) {
        p->dir[i].reset = true;
        wake_dir(&p->dir[i]);
    }
}

/* ---- the vtable ------------------------------------------------------------------------ */

static ssize_t mem_read(eddy_stream *s, void *buf, size_t len)
{
    mend *e = end_of(s);
    mpair *p = e->p;
    int rc = delay(s, &e->rdelay, p->h.read_delay, "mem read delay");
    if (rc < 0) return rc;
    mdir *d = &p->dir[1 - e->idx];
    for (;;) {
        if (d->len) {
            if (p->h.max_read && len > p->h.max_read) len = p->h.max_read;
            size_t n = ring_take(d, buf, len);
            wake_slot(&d->wwait, 0); /* space for a blocked writer */
            return (ssize_t)n;
        }
        if (d->reset) return -ECONNRESET;
        if (d->eof) return 0;
        rc = park_in(&d->rwait, EDDY_FOREVER, "mem read", s);
        if (rc < 0) return rc;
    }
}

static ssize_t mem_write(eddy_stream *s, const void *buf, size_t len)
{
    mend *e = end_of(s);
    mpair *p = e->p;
    int rc = delay(s, &e->wdelay, p->h.write_delay, "mem write delay");
    if (rc < 0) return rc;
    mdir *d = &p->dir[e->idx];
    for (;;) {
        if (d->reset) return -ECONNRESET;
        if (d->rgone) return -EPIPE;
        if (d->len < d->cap) {
            if (p->h.max_write && len > p->h.max_write) len = p->h.max_write;
            /* Before the reset, at least one byte is left to the limit (else it happened). */
            if (p->h.reset_after && len > p->h.reset_after - p->written)
                len = (size_t)(p->h.reset_after - p->written);
            size_t n = ring_put(d, buf, len);
            p->written += n;
            wake_slot(&d->rwait, 0);
            if (p->h.reset_after && p->written >= p->h.reset_after) reset_pair(p);
            return (ssize_t)n;
        }
        rc = park_in(&d->wwait, EDDY_FOREVER, "mem write (peer buffer full)", s);
        if (rc < 0) return rc;
    }
}

static int mem_shutdown_write(eddy_stream *s)
{
    mend *e = end_of(s);
    mdir *d = &e->p->dir[e->idx];
    if (d->reset) return -ENOTCONN; /* as Linux for a socket that was reset */
    d->eof = true;
    wake_slot(&d->rwait, 0);
    return 0;
}

static void mem_interrupt(eddy_stream *s)
{
    mend *e = end_of(s);
    mpair *p = e->p;
    wake_slot(&p->dir[1 - e->idx].rwait, -EBADF);
    wake_slot(&p->dir[e->idx].wwait, -EBADF);
    wake_slot(&e->rdelay, -EBADF);
    wake_slot(&e->wdelay, -EBADF);
}

static int mem_close(eddy_stream *s, bool graceful)
{
    mend *e = end_of(s);
    mpair *p = e->p;
    mdir *out = &p->dir[e->idx], *in = &p->dir[1 - e->idx];
    if (graceful) {
        out->eof = true; /* the peer reads what is left, then 0 */
    } else {
        /* RST: what the peer has not read yet is lost, and so is the connection. */
        ring_drop(out);
        out->reset = true;
        in->reset = true;
    }
    /* Nobody will read what the peer sent us: drop it and fail the peer's writes. */
    in->rgone = true;
    ring_drop(in);
    wake_dir(out);
    wake_dir(in);
    if (--p->open == 0) free(p);
    return 0;
}

static const eddy_stream_vt mem_vt = {
    .kind = "mem",
    .read = mem_read,
    .write = mem_write,
    .shutdown_write = mem_shutdown_write,
    .interrupt = mem_interrupt,
    .close = mem_close,
};

int eddy__memstream_pair(eddy_stream **a, eddy_stream **b, const eddy_memstream_hooks *hooks,
                         const char *site)
{
    if (a) *a = NULL;
    if (b) *b = NULL;
    if (!a || !b || a == b) return -EINVAL;
    eddy_memstream_hooks h = hooks ? *hooks : (eddy_memstream_hooks){0};
    if (h.read_delay < 0 || h.write_delay < 0) return -EINVAL;
    if (!eddy__loop()) return -EPERM;
    if (h.capacity == 0) h.capacity = EDDY_MEMSTREAM_DEFAULT_CAP;
    size_t total;
    if (__builtin_mul_overflow(h.capacity, (size_t)2, &total) ||
        __builtin_add_overflow(total, sizeof(mpair), &total))
        return -ENOMEM;
    mpair *p = calloc(1, total);
    if (!p) return -ENOMEM;
    p->h = h;
    p->open = 2;
    unsigned char *bufs = (unsigned char *)(p + 1);
    for (int i = 0; i < 2; i++) {
        p->dir[i].buf = bufs + (size_t)i * h.capacity;
        p->dir[i].cap = h.capacity;
        p->end[i].p = p;
        p->end[i].idx = i;
        eddy__stream_init(&p->end[i].base, &mem_vt, site);
    }
    *a = &p->end[0].base;
    *b = &p->end[1].base;
    return 0;
}

size_t eddy_memstream_pending(const eddy_stream *s)
{
    if (!s || s->vt != &mem_vt) return 0;
    const mend *e = (const mend *)s;
    return e->p->dir[1 - e->idx].len;
}
