/* libev anchor for bench_timers.c: ev_timer_start / ev_timer_stop over n timers. */
#include <ev.h>
#include <stdint.h>
#include <stdlib.h>

#include "bench.h"

static struct ev_loop *loop;
static ev_timer *ws;

static void bench_ev_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l;
    (void)w;
    (void)revents;
}

void bench_ev_round(const int64_t *off_ns, long n, double *start_ns, double *stop_ns)
{
    if (!loop) loop = ev_loop_new(EVFLAG_AUTO);
    if (!ws) ws = calloc((size_t)n, sizeof *ws);
    if (!loop || !ws) {
        fprintf(stderr, "bench_timers: libev setup failed\n");
        exit(1);
    }
    ev_now_update(loop);
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        /* ev_timer_init is a field-setting macro: the same work eddy_call_at does with its
         * fn/arg arguments, so it is inside the timed loop. */
        ev_timer_init(&ws[i], bench_ev_cb, (double)off_ns[i] * 1e-9, 0.);
        ev_timer_start(loop, &ws[i]);
    }
    int64_t t1 = bench_now_ns();
    for (long i = 0; i < n; i++) ev_timer_stop(loop, &ws[i]);
    int64_t t2 = bench_now_ns();
    *start_ns = (double)(t1 - t0) / (double)n;
    *stop_ns = (double)(t2 - t1) / (double)n;
}
