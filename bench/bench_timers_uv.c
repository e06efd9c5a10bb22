/* libuv anchor for bench_timers.c: uv_timer_start / uv_timer_stop over n timers.
 * uv_timer_init (which links the handle into the loop's handle queue) is done once, outside
 * the timed loops: eddy's and libev's timers need no registration step. libuv's timeouts
 * are whole milliseconds; the deadlines span 1000 s so they stay (almost all) distinct. */
#include <stdint.h>
#include <stdlib.h>
#include <uv.h>

#include "bench.h"

static uv_loop_t loop;
static uv_timer_t *ts;
static long nts;

static void uv_cb(uv_timer_t *t) { (void)t; }

void bench_uv_round(const int64_t *off_ns, long n, double *start_ns, double *stop_ns)
{
    if (!ts) {
        ts = calloc((size_t)n, sizeof *ts);
        if (!ts || uv_loop_init(&loop) != 0) {
            fprintf(stderr, "bench_timers: libuv setup failed\n");
            exit(1);
        }
        for (long i = 0; i < n; i++) uv_timer_init(&loop, &ts[i]);
        nts = n;
    }
    uv_update_time(&loop);
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) uv_timer_start(&ts[i], uv_cb, (uint64_t)(off_ns[i] / 1000000), 0);
    int64_t t1 = bench_now_ns();
    for (long i = 0; i < n; i++) uv_timer_stop(&ts[i]);
    int64_t t2 = bench_now_ns();
    *start_ns = (double)(t1 - t0) / (double)n;
    *stop_ns = (double)(t2 - t1) / (double)n;
}

static void uv_closed(uv_handle_t *h) { (void)h; }

void bench_uv_destroy(void)
{
    if (!ts) return;
    for (long i = 0; i < nts; i++) uv_close((uv_handle_t *)&ts[i], uv_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(ts);
    ts = NULL;
}
