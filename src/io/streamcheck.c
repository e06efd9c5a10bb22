/* eddy io: the stream conformance checks (X3). Each check gets a fresh pair from the
 * factory and reports the first thing that broke the contract of stream.h. Helper tasks are
 * spawned into a nursery local to the check; a failing check cancels them before it returns,
 * so no check can hang on a task it started. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "eddy/memstream.h"
#include "io/io.h"

typedef struct ctx {
    eddy_stream *a, *b;
    char *why;
    size_t whylen;
} ctx;

__attribute__((format(printf, 2, 3))) static int fail(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, c->whylen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Read exactly n bytes: 0, -EPIPE at an early end, or the read error. */
static int read_n(eddy_stream *s, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = eddy_stream_read(s, (char *)buf + got, n - got);
        if (r == 0) return -EPIPE;
        if (r < 0) return (int)r;
        got += (size_t)r;
    }
    return 0;
}

static int expect(ctx *c, eddy_stream *s, const char *want, const char *what)
{
    char buf[16];
    size_t n = strlen(want);
    int rc = read_n(s, buf, n);
    if (rc < 0) return fail(c, "%s: reading %zu bytes gave %d", what, n, rc);
    if (memcmp(buf, want, n) != 0) return fail(c, "%s: read the wrong bytes", what);
    return 0;
}

static int expect_eof(ctx *c, eddy_stream *s, const char *what)
{
    char buf[4];
    ssize_t r = eddy_stream_read(s, buf, sizeof buf);
    return r == 0 ? 0 : fail(c, "%s: a read gave %zd instead of end of stream", what, r);
}

/* Only for a write that a task already waiting in a read takes (see transfer below). */
static int write_ok(ctx *c, eddy_stream *s, const char *data, const char *what)
{
    int rc = eddy_stream_write_all(s, data, strlen(data));
    return rc == 0 ? 0 : fail(c, "%s: write gave %d", what, rc);
}

/* ---- helper tasks ---- */

typedef struct job {
    eddy_stream *s;
    unsigned char *buf;
    size_t len;
    ssize_t rc;
    bool done;
    unsigned *seq; /* writers: where the next start number is taken from */
    unsigned started; /* writers: the order in which this one called write */
} job;

static int write_job(void *arg)
{
    job *j = arg;
    /* Nothing switches between here and the write joining the FIFO of writers, so this is the
     * order the stream must serve them in. */
    if (j->seq) j->started = (*j->seq)++;
    j->rc = eddy_stream_write_all(j->s, j->buf, j->len);
    j->done = true;
    return 0;
}

static int read_job(void *arg)
{
    job *j = arg;
    j->rc = eddy_stream_read(j->s, j->buf, j->len);
    j->done = true;
    return 0;
}

/* Let the spawned reader r get inside a read of s: spawning need not run the child at once
 * (a seeded scheduler reorders ready tasks). */
static int reader_inside(ctx *c, eddy_stream *s, const job *r)
{
    for (int i = 0; i < 1000 && !s->reader && !r->done; i++) {
        int rc = eddy_yield();
        if (rc < 0) return fail(c, "yield: %d", rc);
    }
    if (r->done) return fail(c, "a read with nothing sent returned %zd", r->rc);
    if (!s->reader) return fail(c, "the reader task never started reading");
    return 0;
}

/* Run body(c, n, data) inside a nursery; if it fails, cancel the helpers it spawned. */
static int with_nursery(ctx *c, int (*body)(ctx *, eddy_nursery *, void *), void *data)
{
    eddy_nursery n;
    int rc = eddy_nursery_open(&n);
    if (rc < 0) return fail(c, "nursery: %d", rc);
    int r = body(c, &n, data);
    if (r < 0) eddy_nursery_cancel(&n);
    rc = eddy_nursery_close(&n);
    if (r == 0 && rc < 0) return fail(c, "a helper task failed: %d", rc);
    return r;
}

/* A write made by a helper task while the checking task reads, so that the checks hold for
 * a transport without any buffer (eddy_lockstep_pair), where a write returns only once the
 * peer has read it: one task writing and then reading its own bytes would wait forever. */
typedef enum { THEN_NOTHING, THEN_SHUTDOWN, THEN_CLOSE } then_what;

typedef struct sender {
    eddy_stream **s; /* the end written to; THEN_CLOSE sets it to NULL */
    const char *data;
    then_what then;
    int rc;          /* the write's result */
    int then_rc;     /* the shutdown's or close's result */
    int after_rc;    /* THEN_SHUTDOWN: a write after the shutdown (must be -EPIPE) */
    eddy_nursery *n; /* cancelled when a step fails: the reader would wait for nothing */
} sender;

static int send_job(void *arg)
{
    sender *x = arg;
    x->rc = eddy_stream_write_all(*x->s, x->data, strlen(x->data));
    if (x->rc < 0) {
        eddy_nursery_cancel(x->n);
        return 0;
    }
    if (x->then == THEN_NOTHING) return 0;
    if (x->then == THEN_SHUTDOWN) {
        x->then_rc = eddy_stream_shutdown_write(*x->s);
        if (x->then_rc == 0) x->after_rc = eddy_stream_write_all(*x->s, "x", 1);
    } else {
        x->then_rc = eddy_stream_close(*x->s);
        *x->s = NULL;
    }
    if (x->then_rc != 0) eddy_nursery_cancel(x->n);
    return 0;
}

typedef struct transfer_arg {
    sender *x;
    eddy_stream *peer;
    const char *what;
} transfer_arg;

static int transfer_body(ctx *c, eddy_nursery *n, void *data)
{
    transfer_arg *t = data;
    t->x->n = n;
    int rc = eddy_spawn(n, send_job, t->x);
    if (rc < 0) return fail(c, "spawn: %d", rc);
    if (expect(c, t->peer, t->x->data, t->what) < 0) return -1;
    return t->x->then == THEN_NOTHING ? 0 : expect_eof(c, t->peer, t->what);
}

/* x's data written to *x->s (then x->then) while peer reads it (and then end of stream). */
static int transfer(ctx *c, sender *x, eddy_stream *peer, const char *what)
{
    x->rc = x->then_rc = x->after_rc = 1;
    transfer_arg t = {.x = x, .peer = peer, .what = what};
    int r = with_nursery(c, transfer_body, &t);
    /* The writer's failure is the cause when the reader then failed too. */
    if (x->rc < 0) return fail(c, "%s: write gave %d", what, x->rc);
    if (x->then_rc < 0) return fail(c, "%s: %s gave %d", what,
                                    x->then == THEN_CLOSE ? "close" : "shutdown_write", x->then_rc);
    if (r < 0) return -1;
    if (x->rc != 0) return fail(c, "%s: the writer did not run", what);
    return 0;
}

static int send_to(ctx *c, eddy_stream **s, eddy_stream *peer, const char *data, const char *what)
{
    sender x = {.s = s, .data = data};
    return transfer(c, &x, peer, what);
}

/* ---- the checks ---- */

static int chk_roundtrip(ctx *c)
{
    if (send_to(c, &c->a, c->b, "ping", "a to b") < 0) return -1;
    return send_to(c, &c->b, c->a, "pong", "b to a");
}

static int chk_zero_length(ctx *c)
{
    char buf[1];
    ssize_t r = eddy_stream_read(c->b, buf, 0);
    if (r != 0) return fail(c, "read of 0 bytes gave %zd", r);
    int rc = eddy_stream_write_all(c->a, buf, 0);
    if (rc != 0) return fail(c, "write of 0 bytes gave %d", rc);
    return send_to(c, &c->a, c->b, "z", "after zero-length calls");
}

enum { BULK = 1 << 20 };

static int bulk_body(ctx *c, eddy_nursery *n, void *data)
{
    job *w = data;
    int rc = eddy_spawn(n, write_job, w);
    if (rc < 0) return fail(c, "spawn: %d", rc);
    unsigned char *in = malloc(BULK);
    if (!in) return fail(c, "out of memory");
    rc = read_n(c->b, in, BULK);
    int r = 0;
    if (rc < 0)
        r = fail(c, "reading the bulk data gave %d", rc);
    else if (memcmp(in, w->buf, BULK) != 0)
        r = fail(c, "the bulk data arrived changed or out of order");
    free(in);
    return r;
}

static int chk_bulk(ctx *c)
{
    job w = {.s = c->a, .len = BULK};
    w.buf = malloc(BULK);
    if (!w.buf) return fail(c, "out of memory");
    uint32_t x = 12345;
    for (size_t i = 0; i < BULK; i++) {
        x = x * 1103515245u + 12345u;
        w.buf[i] = (unsigned char)(x >> 16);
    }
    int r = with_nursery(c, bulk_body, &w);
    if (r == 0 && w.rc != 0) r = fail(c, "the bulk writer got %zd", w.rc);
    free(w.buf);
    return r;
}

static int chk_half_close(ctx *c)
{
    sender x = {.s = &c->a, .data = "last", .then = THEN_SHUTDOWN};
    if (transfer(c, &x, c->b, "data before shutdown") < 0) return -1;
    if (x.after_rc != -EPIPE) return fail(c, "a write after shutdown_write gave %d, not -EPIPE", x.after_rc);
    if (expect_eof(c, c->b, "still after shutdown") < 0) return -1;
    return send_to(c, &c->b, c->a, "back", "the other direction after shutdown");
}

static int chk_close_is_eof(ctx *c)
{
    sender x = {.s = &c->a, .data = "bye", .then = THEN_CLOSE};
    if (transfer(c, &x, c->b, "data before close") < 0) return -1;
    return expect_eof(c, c->b, "after the peer closed");
}

static int chk_write_to_closed_peer(ctx *c)
{
    int rc = eddy_stream_close(c->a);
    c->a = NULL;
    if (rc != 0) return fail(c, "close gave %d", rc);
    /* A socket may accept a write or two before the peer's reset comes back. */
    for (int i = 0; i < 1000; i++) {
        rc = eddy_stream_write_all(c->b, "x", 1);
        if (rc == -EPIPE || rc == -ECONNRESET) return 0;
        if (rc != 0) return fail(c, "writing to a closed peer gave %d", rc);
        rc = eddy_yield();
        if (rc < 0) return fail(c, "yield: %d", rc);
    }
    return fail(c, "1000 writes to a closed peer succeeded");
}

static int busy_body(ctx *c, eddy_nursery *n, void *data)
{
    job *r = data;
    int rc = eddy_spawn(n, read_job, r);
    if (rc < 0) return fail(c, "spawn: %d", rc);
    if (reader_inside(c, c->b, r) < 0) return -1;
    char buf[1];
    ssize_t x = eddy_stream_read(c->b, buf, 1);
    if (x != -EBUSY) return fail(c, "a second concurrent reader got %zd, not -EBUSY", x);
    return write_ok(c, c->a, "q", "to the waiting reader");
}

static int chk_one_reader(ctx *c)
{
    unsigned char buf[8];
    job r = {.s = c->b, .buf = buf, .len = sizeof buf};
    if (with_nursery(c, busy_body, &r) < 0) return -1;
    if (r.rc != 1 || buf[0] != 'q') return fail(c, "the waiting reader got %zd", r.rc);
    return 0;
}

static int close_body(ctx *c, eddy_nursery *n, void *data)
{
    job *r = data;
    int rc = eddy_spawn(n, read_job, r);
    if (rc < 0) return fail(c, "spawn: %d", rc);
    if (reader_inside(c, c->b, r) < 0) return -1;
    rc = eddy_stream_close(c->b);
    c->b = NULL;
    if (rc != 0) return fail(c, "close with a blocked reader gave %d", rc);
    if (!r->done) return fail(c, "close returned while the reader was still inside");
    return 0;
}

static int chk_close_wakes_reader(ctx *c)
{
    unsigned char buf[8];
    job r = {.s = c->b, .buf = buf, .len = sizeof buf};
    if (with_nursery(c, close_body, &r) < 0) return -1;
    if (r.rc != -EBADF) return fail(c, "the reader woken by close got %zd, not -EBADF", r.rc);
    return 0;
}

static int cancel_body(ctx *c, eddy_nursery *n, void *data)
{
    job *r = data;
    eddy_task *t;
    int rc = eddy_spawn(n, read_job, r, .handle = &t);
    if (rc < 0) return fail(c, "spawn: %d", rc);
    if (reader_inside(c, c->b, r) < 0) return -1;
    eddy_task_cancel(t);
    rc = eddy_task_join(t, NULL);
    if (rc < 0) return fail(c, "join: %d", rc);
    if (r->rc != -ECANCELED) return fail(c, "a cancelled blocked read gave %zd", r->rc);
    return 0;
}

static int chk_cancelled_read(ctx *c)
{
    char buf[8];
    ssize_t r = 1;
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        r = eddy_stream_read(c->b, buf, sizeof buf);
    }
    if (r != -ECANCELED) return fail(c, "a read in a cancelled scope gave %zd", r);
    unsigned char jb[8];
    job j = {.s = c->b, .buf = jb, .len = sizeof jb};
    if (with_nursery(c, cancel_body, &j) < 0) return -1;
    return send_to(c, &c->a, c->b, "kept", "after the cancelled reads");
}

enum { NW = 3, WLEN = 100000 };

typedef struct fifo {
    job w[NW];
    unsigned seq;
} fifo;

static int fifo_body(ctx *c, eddy_nursery *n, void *data)
{
    fifo *f = data;
    for (int i = 0; i < NW; i++) {
        int rc = eddy_spawn(n, write_job, &f->w[i]);
        if (rc < 0) return fail(c, "spawn: %d", rc);
    }
    unsigned char *in = malloc((size_t)NW * WLEN);
    if (!in) return fail(c, "out of memory");
    int r = 0, rc = read_n(c->b, in, (size_t)NW * WLEN);
    if (rc < 0) r = fail(c, "reading the writers' bytes gave %d", rc);
    char want[NW]; /* the letter of the k-th writer to start */
    for (int i = 0; i < NW; i++) want[f->w[i].started % NW] = (char)('A' + i);
    for (size_t i = 0; r == 0 && i < (size_t)NW * WLEN; i++)
        if (in[i] != want[i / WLEN])
            r = fail(c, "byte %zu is '%c': writers not served whole and in FIFO order", i, in[i]);
    free(in);
    return r;
}

static int chk_fifo_writers(ctx *c)
{
    fifo f = {.seq = 0};
    int r = 0;
    for (int i = 0; i < NW; i++) {
        f.w[i] = (job){.s = c->a, .len = WLEN, .seq = &f.seq};
        f.w[i].buf = malloc(WLEN);
        if (!f.w[i].buf) r = fail(c, "out of memory");
        else memset(f.w[i].buf, 'A' + i, WLEN);
    }
    if (r == 0) r = with_nursery(c, fifo_body, &f);
    for (int i = 0; i < NW; i++) {
        if (r == 0 && f.w[i].rc != 0) r = fail(c, "writer %d got %zd", i, f.w[i].rc);
        free(f.w[i].buf);
    }
    return r;
}

static const struct {
    const char *name;
    int (*fn)(ctx *);
} checks[] = {
    {"roundtrip", chk_roundtrip},
    {"zero_length", chk_zero_length},
    {"bulk", chk_bulk},
    {"half_close", chk_half_close},
    {"close_is_eof", chk_close_is_eof},
    {"write_to_closed_peer", chk_write_to_closed_peer},
    {"one_reader", chk_one_reader},
    {"close_wakes_reader", chk_close_wakes_reader},
    {"cancelled_read", chk_cancelled_read},
    {"fifo_writers", chk_fifo_writers},
};

int eddy_check_stream(eddy_stream_pair_fn make, void *arg, eddy_check_report *report)
{
    eddy_check_report local;
    eddy_check_report *rep = report ? report : &local;
    *rep = (eddy_check_report){0};
    if (!make) return -EINVAL;
    if (!eddy_current()) return -EPERM;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        char why[160] = "";
        ctx c = {.why = why, .whylen = sizeof why};
        int rc = make(arg, &c.a, &c.b);
        if (rc < 0) return rc;
        if (!c.a || !c.b) {
            eddy_stream_abort(c.a);
            eddy_stream_abort(c.b);
            return -EINVAL;
        }
        rep->run++;
        if (checks[i].fn(&c) < 0) {
            if (rep->failed++ == 0) snprintf(rep->first, sizeof rep->first, "%s: %s", checks[i].name, why);
        }
        eddy_stream_abort(c.a);
        eddy_stream_abort(c.b);
    }
    return rep->failed ? -EPROTO : 0;
}
