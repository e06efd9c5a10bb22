/* eddy sys: eddy_process_run (P2): run a child to completion, feeding its stdin and
 * capturing its stdout and stderr into the caller's buffers.
 *
 * The three pipes are served at the same time by one task each in an internal nursery (cancel
 * on error), so a child that fills one pipe while we still write to another cannot deadlock
 * with us. A reader that fills its buffer reads one byte more to tell "exactly full" from
 * "too much" (-EMSGSIZE), which fails the nursery and cancels the others. On any failure the
 * child (and on cancellation) is stopped the way a cancelled eddy_process_wait stops it, by
 * running that wait in a cancelled scope, after our reading ends are closed (a child blocked writing gets EPIPE or
 * its default SIGPIPE at once instead of waiting out the SIGTERM grace). */
#include "sys/sys.h"

typedef struct feeder {
    eddy_stream *s;
    const void *buf;
    size_t len;
} feeder;

typedef struct reader {
    eddy_stream *s;
    char *buf;
    size_t cap;
    size_t *len;
} reader;

static int feed(void *arg)
{
    feeder *f = arg;
    int rc = eddy_stream_write_all(f->s, f->buf, f->len);
    if (rc == -EPIPE) rc = 0; /* the child stopped reading: its business, not an error */
    if (rc < 0) return rc;
    rc = eddy_stream_shutdown_write(f->s); /* closes the pipe: end of file for the child */
    return rc == -EPIPE ? 0 : rc;
}

static int capture(void *arg)
{
    reader *r = arg;
    for (;;) {
        ssize_t n;
        if (*r->len == r->cap) {
            char more;
            n = eddy_stream_read(r->s, &more, 1);
            return n == 0 ? 0 : n > 0 ? -EMSGSIZE : (int)n;
        }
        n = eddy_stream_read(r->s, r->buf + *r->len, r->cap - *r->len);
        if (n <= 0) return (int)n;
        *r->len += (size_t)n;
    }
}

/* Stop and reap p as a cancelled wait would: the wait, in a scope that expired on entry (the
 * child's own status is of no interest). */
static void stop_child(eddy_process *p)
{
    eddy_cancel_scope cs;
    eddy_cancel_scope_opts o = EDDY_CANCEL_SCOPE_OPTS_INIT;
    o.timeout = 0;
    if (eddy__scope_enter(&cs, o, "eddy_process_run") < 0) return;
    int rc = eddy_process_wait(p);
    (void)rc;
    eddy__scope_exit(&cs, "eddy_process_run");
}

int eddy_process_run(const char *const argv[], const eddy_process_opts *opts, eddy_process_capture *cap)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l || !l->current || l->in_callback) return -EPERM;
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    if (opts) o = *opts;
    bool feeding = cap && cap->input, cap_out = cap && cap->out, cap_err = cap && cap->err;
    if (cap) cap->out_len = cap->err_len = 0;
    if (feeding) o.stdin_mode = EDDY_STDIO_PIPE;
    if (cap_out) o.stdout_mode = EDDY_STDIO_PIPE;
    if (cap_err) o.stderr_mode = EDDY_STDIO_PIPE;
    if ((o.stdin_mode == EDDY_STDIO_PIPE && !feeding) || (o.stdout_mode == EDDY_STDIO_PIPE && !cap_out) ||
        (o.stderr_mode == EDDY_STDIO_PIPE && !cap_err))
        return -EINVAL; /* nobody would drain that pipe */
    eddy_process p;
    int rc = eddy__process_spawn(&p, argv, &o, "eddy_process_run");
    if (rc < 0) return rc;

    feeder f = {p.in, feeding ? cap->input : NULL, feeding ? cap->input_len : 0};
    reader ro = {p.out, cap_out ? cap->out : NULL, cap_out ? cap->out_cap : 0, cap ? &cap->out_len : NULL};
    reader re = {p.err, cap_err ? cap->err : NULL, cap_err ? cap->err_cap : 0, cap ? &cap->err_len : NULL};
    eddy_nursery n;
    int io = eddy__nursery_open(&n, EDDY_CANCEL_ON_ERROR, "eddy_process_run");
    if (io == 0) {
        int sp = 0;
        if (feeding) sp = eddy__spawn(&n, feed, &f, &(eddy_spawn_opts){.name = "process stdin"}, "eddy_process_run");
        if (sp == 0 && cap_out)
            sp = eddy__spawn(&n, capture, &ro, &(eddy_spawn_opts){.name = "process stdout"}, "eddy_process_run");
        if (sp == 0 && cap_err)
            sp = eddy__spawn(&n, capture, &re, &(eddy_spawn_opts){.name = "process stderr"}, "eddy_process_run");
        if (sp < 0) eddy_nursery_cancel(&n);
        io = eddy__nursery_close(&n, "eddy_process_run");
        if (sp < 0) io = sp;
    }
    int status, cancel = eddy__cancel_code(l->current);
    if (io < 0 || cancel) {
        eddy_stream **ends[2] = {&p.out, &p.err};
        for (int i = 0; i < 2; i++)
            if (*ends[i]) {
                /* Failing already (status below): a read end's close has nothing to add. */
                int crc = eddy_stream_close(*ends[i]);
                (void)crc;
                *ends[i] = NULL;
            }
        stop_child(&p);
        status = io < 0 ? io : cancel;
    } else {
        status = eddy_process_wait(&p); /* cancelled now: it stops and reaps the child itself */
    }
    rc = eddy_process_close(&p); /* reaped: only the streams and the pidfd are left */
    return status >= 0 && rc < 0 ? rc : status;
}
