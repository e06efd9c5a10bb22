/* eddy io: lockstep stream pairs, connected ends without any buffer (X3).
 *
 * A write is a rendezvous: the writer posts an offer (a pointer into its own buffer, which
 * its frame keeps alive while it waits) and parks until the peer's reads have taken all of
 * it; each read copies straight from the writer's buffer into the reader's. One allocation
 * holds both ends; it is freed when the second end is closed.
 *
 * dir[i] carries what end i writes and end 1-i reads. The stream layer (stream.c) admits one
 * reader and one writer per end at a time, so a direction needs one slot for the task
 * waiting to read and one for the writer parked on its offer. A waker clears the slot before
 * waking (internal.h protocol); whoever ends a writer's wait withdraws its offer at once, so
 * no byte moves after the writer has been told to stop. */
#include <string.h>

#include "eddy/memstream.h"
#include "io/io.h"

typedef struct ldir {
    const unsigned char *offer; /* the parked writer's bytes; NULL: nothing on offer */
    size_t len, took;           /* the offer's length and how much the reader has taken */
    eddy_task *rwait;           /* the reading end's task, waiting for an offer */
    eddy_task *wwait;           /* the writing end's task, parked until its offer is taken */
    bool eof;                   /* the writer shut down or closed: reads give 0 */
    bool rgone;                 /* the reader closed: writes fail with -EPIPE */
    bool reset;                 /* aborted: reads and writes fail with -ECONNRESET */
} ldir;

typedef struct lpair lpair;

typedef struct lend {
    eddy_stream base;
    lpair *p;
    int idx;
} lend;

struct lpair {
    lend end[2];
    ldir dir[2];
    unsigned open; /* ends not yet closed */
};

static const eddy_stream_vt lockstep_vt;

static lend *end_of(eddy_stream *s) { return (lend *)s; }

/* ---- waiting in a slot ----------------------------------------------------------------- */

typedef struct lwait {
    eddy_task **slot;
    ldir *offered; /* a writer's wait: the direction whose offer it withdraws when cancelled */
} lwait;

static void wake_slot(eddy_task **slot, int rc)
{
    eddy_task *t = *slot;
    if (!t) return;
    *slot = NULL;
    eddy__wake(t, rc);
}

/* End the wait of d's writer: its offer goes at once, a reader coming later finds nothing. */
static void release_writer(ldir *d, int rc)
{
    d->offer = NULL;
    wake_slot(&d->wwait, rc);
}

static void slot_cancel(eddy_task *t, void *arg)
{
    (void)t;
    lwait *lw = arg;
    *lw->slot = NULL;
    if (lw->offered) lw->offered->offer = NULL;
}

/* Park the current task in *slot until a waker empties it (its rc) or until cancelled (the
 * cancel code; a writer's offer is withdrawn then). */
static int park_in(eddy_task **slot, ldir *offered, const char *reason, const void *obj)
{
    eddy_task *t = eddy__loop()->current;
    lwait lw = {.slot = slot, .offered = offered};
    *slot = t;
    eddy__wait w = {.reason = reason, .obj = obj, .cancel = slot_cancel, .arg = &lw};
    return eddy__park(&w);
}

/* ---- the vtable ------------------------------------------------------------------------ */

static ssize_t lockstep_read(eddy_stream *s, void *buf, size_t len)
{
    lend *e = end_of(s);
    ldir *d = &e->p->dir[1 - e->idx];
    for (;;) {
        if (d->offer) {
            size_t n = d->len - d->took;
            if (n > len) n = len;
            memcpy(buf, d->offer + d->took, n);
            d->took += n;
            if (d->took == d->len) release_writer(d, 0);
            return (ssize_t)n;
        }
        if (d->reset) return -ECONNRESET;
        if (d->eof) return 0;
        int rc = park_in(&d->rwait, NULL, "lockstep read (no writer)", s);
        if (rc < 0) return rc;
    }
}

/* Blocks until the reader has taken all len bytes. Stopped early (cancelled, closed, the peer
 * gone), it returns what the reader took if that is something, so the stream layer counts
 * it in written and its next call reports why; otherwise the reason. */
static ssize_t lockstep_write(eddy_stream *s, const void *buf, size_t len)
{
    lend *e = end_of(s);
    ldir *d = &e->p->dir[e->idx];
    eddy_task *t = eddy__loop()->current;
    /* Checked before offering: a cancelled call must not let a reader take anything. */
    int rc = eddy__cancel_code(t);
    if (rc) return rc;
    for (;;) {
        if (d->reset) return -ECONNRESET;
        if (d->rgone) return -EPIPE;
        d->offer = buf;
        d->len = len;
        d->took = 0;
        wake_slot(&d->rwait, 0);
        rc = park_in(&d->wwait, d, "lockstep write (peer not reading)", s);
        d->offer = NULL;
        if (d->took) return (ssize_t)d->took;
        if (rc < 0) return rc;
        /* Woken with nothing taken and no error: the peer closed or aborted; the checks at
         * the top say which. */
    }
}

static int lockstep_shutdown_write(eddy_stream *s)
{
    lend *e = end_of(s);
    ldir *d = &e->p->dir[e->idx];
    if (d->reset) return -ENOTCONN; /* as Linux for a socket that was reset */
    d->eof = true;
    wake_slot(&d->rwait, 0);
    return 0;
}

static void lockstep_interrupt(eddy_stream *s)
{
    lend *e = end_of(s);
    lpair *p = e->p;
    wake_slot(&p->dir[1 - e->idx].rwait, -EBADF);
    release_writer(&p->dir[e->idx], -EBADF);
}

static int lockstep_close(eddy_stream *s, bool graceful)
{
    lend *e = end_of(s);
    lpair *p = e->p;
    ldir *out = &p->dir[e->idx], *in = &p->dir[1 - e->idx];
    /* The stream layer has interrupted this end's own tasks: nothing of ours is on offer. */
    out->eof = true;
    in->rgone = true;
    if (!graceful) out->reset = in->reset = true;
    wake_slot(&out->rwait, 0);
    release_writer(in, 0); /* keeps what our reads took; the rest is refused */
    if (--p->open == 0) free(p);
    return 0;
}

static const eddy_stream_vt lockstep_vt = {
    .kind = "lockstep",
    .read = lockstep_read,
    .write = lockstep_write,
    .shutdown_write = lockstep_shutdown_write,
    .interrupt = lockstep_interrupt,
    .close = lockstep_close,
};

int eddy__lockstep_pair(eddy_stream **a, eddy_stream **b, const char *site)
{
    if (a) *a = NULL;
    if (b) *b = NULL;
    if (!a || !b || a == b) return -EINVAL;
    if (!eddy__loop()) return -EPERM;
    lpair *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->open = 2;
    for (int i = 0; i < 2; i++) {
        p->end[i].p = p;
        p->end[i].idx = i;
        eddy__stream_init(&p->end[i].base, &lockstep_vt, site);
    }
    *a = &p->end[0].base;
    *b = &p->end[1].base;
    return 0;
}

size_t eddy_lockstep_pending(const eddy_stream *s)
{
    if (!s || s->vt != &lockstep_vt) return 0;
    const lend *e = (const lend *)s;
    const ldir *d = &e->p->dir[1 - e->idx];
    return d->offer ? d->len - d->took : 0;
}
