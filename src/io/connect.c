/* eddy io: TCP connect by name with Happy Eyeballs (N1, RFC 8305).
 *
 * The caller's task resolves the name, orders the addresses (families interleaved, IPv6
 * first) and opens a nursery; it spawns one attempt task per address, the next one after the
 * stagger delay or as soon as an attempt in flight fails. The first attempt that connects
 * publishes its stream and cancels the nursery, which cancels the other attempts (each closes
 * its own socket on the way out) and wakes the caller. All of the race's state lives in the
 * caller's frame; attempt tasks only point into it, and the nursery guarantees none of them
 * outlives the call. */
#include <string.h>
#include <sys/socket.h>

#include "io/io.h"

typedef struct race {
    eddy_sockaddr addrs[EDDY_CONNECT_MAX_ADDRS];
    int errs[EDDY_CONNECT_MAX_ADDRS]; /* each attempt's failure, 0 while pending/succeeded */
    size_t n;
    size_t failures;                  /* attempts failed so far */
    const eddy_sockaddr *local;
    eddy_stream *winner;
    eddy_nursery nursery;
    eddy_task *waiter;                /* the caller, parked between two starts */
    const char *site;
} race;

typedef struct attempt_arg {
    race *r;
    size_t i;
} attempt_arg;

static int attempt(void *p)
{
    /* Spawn is eager: copy the argument (the caller's loop variable) before the first block. */
    attempt_arg a = *(attempt_arg *)p;
    race *r = a.r;
    eddy_stream *s = NULL;
    int rc = eddy__tcp_connect_from(&r->addrs[a.i], r->local, &s, r->site);
    if (rc == 0) {
        if (r->winner) {
            /* Connected in the same iteration as the winner: this one is surplus. */
            eddy_stream_abort(s);
        } else {
            r->winner = s;
            eddy_nursery_cancel(&r->nursery); /* also wakes the caller */
        }
        return 0;
    }
    /* Failures are the race's data, not the nursery's: returning them would make
     * eddy_nursery_close report them as if the whole connect had failed. */
    r->errs[a.i] = rc;
    r->failures++;
    if (r->waiter) eddy__wake(r->waiter, 0);
    return 0;
}

static void clear_waiter(eddy_task *t, void *arg)
{
    (void)t;
    ((race *)arg)->waiter = NULL;
}

/* Wait until the stagger delay has passed (0: at once; EDDY_FOREVER: never), an attempt failed
 * after `failures` were seen, or a winner cancelled the nursery (then this returns at once,
 * level-triggered). */
static void wait_next_start(race *r, int64_t stagger, size_t failures)
{
    EDDY_MOVE_ON_AFTER(stagger) {
        while (!r->winner && r->failures == failures) {
            r->waiter = eddy_task_current();
            eddy__wait w = {.reason = "connect stagger", .obj = r, .cancel = clear_waiter, .arg = r};
            int rc = eddy__park(&w);
            r->waiter = NULL;
            if (rc < 0) break;
        }
    }
}

/* RFC 8305 section 4: alternate the families, starting with IPv6 (the first family count is
 * one). Keeps the resolver's order within each family; drops families that cannot be used. */
static size_t interleave(const eddy_sockaddr *in, size_t n, const eddy_sockaddr *local,
                         eddy_sockaddr *out)
{
    size_t i6 = 0, i4 = 0, k = 0;
    for (;;) {
        while (i6 < n && in[i6].ss.ss_family != AF_INET6) i6++;
        while (i4 < n && in[i4].ss.ss_family != AF_INET) i4++;
        if (i6 >= n && i4 >= n) break;
        if (i6 < n && (!local || local->ss.ss_family == AF_INET6)) out[k++] = in[i6];
        if (i4 < n && (!local || local->ss.ss_family == AF_INET)) out[k++] = in[i4];
        i6++;
        i4++;
    }
    return k;
}

/* The error to report when every attempt failed: the first one tried that is not a
 * cancellation (an attempt cancelled while a later one failed says nothing about the host). */
static int race_error(const race *r)
{
    int fallback = 0;
    for (size_t i = 0; i < r->n; i++) {
        int e = r->errs[i];
        if (e == 0) continue;
        if (e != -ECANCELED) return e;
        if (!fallback) fallback = e;
    }
    return fallback ? fallback : -ECONNREFUSED;
}

int eddy__tcp_connect(const char *host, uint16_t port, const eddy_tcp_connect_opts *o,
                      eddy_stream **out, const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!host || !*host) return -EINVAL;
    static const eddy_tcp_connect_opts def = EDDY_TCP_CONNECT_OPTS_INIT;
    if (!o) o = &def;
    if (o->stagger < 0) return -EINVAL;
    if (o->family != AF_UNSPEC && o->family != AF_INET && o->family != AF_INET6) return -EINVAL;
    if (!eddy_task_current()) return -EPERM;
    int64_t stagger = o->stagger;

    race r;
    r.n = 0;
    r.failures = 0;
    r.local = o->local;
    r.winner = NULL;
    r.waiter = NULL;
    r.site = site;
    {
        eddy_sockaddr got[EDDY_CONNECT_MAX_ADDRS];
        int n = eddy_resolve(host, port, o->family, got, EDDY_CONNECT_MAX_ADDRS);
        if (n < 0) return n;
        r.n = interleave(got, (size_t)n, o->local, r.addrs);
    }
    if (r.n == 0) return -EAFNOSUPPORT;
    if (r.n == 1) return eddy__tcp_connect_from(&r.addrs[0], r.local, out, site);
    memset(r.errs, 0, sizeof r.errs);

    int rc = eddy_nursery_open_flags(&r.nursery, EDDY_WAIT_ALL);
    if (rc < 0) return rc;
    size_t started = 0;
    int spawn_err = 0;
    for (size_t i = 0; i < r.n && !r.winner; i++) {
        if (eddy_checkpoint_if_cancelled() < 0) break; /* a winner or the caller's scope */
        attempt_arg a = {.r = &r, .i = i};
        size_t seen = r.failures;
        rc = eddy__spawn_from(&r.nursery, attempt, &a, &(eddy_spawn_opts){.name = "connect-attempt"},
                              site, EDDY__STACK_FROM_LOOP);
        if (rc < 0) {
            /* Out of memory for a stack: the attempts in flight may still win. */
            spawn_err = rc;
            break;
        }
        started++;
        if (i + 1 < r.n) wait_next_start(&r, stagger, seen);
    }
    /* Not a cancellation point: waits for the losers to close their sockets. The attempts
     * always return 0 (failures are in r.errs), so there is no status to look at. */
    int nrc = eddy_nursery_close(&r.nursery);
    (void)nrc;

    int c = eddy_checkpoint_if_cancelled();
    if (c < 0) {
        if (r.winner) eddy_stream_abort(r.winner);
        return c;
    }
    if (r.winner) {
        *out = r.winner;
        return 0;
    }
    if (started == 0) return spawn_err;
    return race_error(&r);
}
