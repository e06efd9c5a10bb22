/* Benchmark 4: schedule and cancel n callback timers.
 *
 * n timers are armed with deadlines drawn uniformly from [now + 1 s, now + 1001 s) (xorshift,
 * fixed seed, the same array for every library), then all n are cancelled in arming order.
 *   eddy: eddy_call_at / eddy_timer_stop on a caller-owned eddy_timer array;
 *   libev: ev_timer_init + ev_timer_start / ev_timer_stop (bench_timers_ev.c);
 *   libuv: uv_timer_start / uv_timer_stop (bench_timers_uv.c).
 * Everything runs in one process, inside eddy's root task (the libev and libuv loops are
 * just data structures here: nothing is polled). Rounds alternate the library order. Figures
 * are ns per timer for start, stop and start+stop. Goal: eddy no slower than libev. */
#include "bench.h"
#include "eddy.h"

void bench_ev_round(const int64_t *off_ns, long n, double *start_ns, double *stop_ns);
void bench_uv_round(const int64_t *off_ns, long n, double *start_ns, double *stop_ns);
void bench_uv_destroy(void);

static void eddy_cb(void *arg) { (void)arg; }

static eddy_timer *ets;

static int eddy_round(const int64_t *off_ns, long n, double *start_ns, double *stop_ns)
{
    int64_t now = eddy_now_fresh();
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        int rc = eddy_call_at(&ets[i], now + off_ns[i], eddy_cb, NULL);
        if (rc < 0) return rc;
    }
    int64_t t1 = bench_now_ns();
    for (long i = 0; i < n; i++)
        if (!eddy_timer_stop(&ets[i])) return -EINVAL;
    int64_t t2 = bench_now_ns();
    *start_ns = (double)(t1 - t0) / (double)n;
    *stop_ns = (double)(t2 - t1) / (double)n;
    return 0;
}

enum { L_EDDY, L_EV, L_UV, NL };
static const char *lib_names[NL] = {"eddy", "libev", "libuv"};

typedef struct tm_arg {
    long n;
    int rounds;
    double start[NL][256], stop[NL][256];
} tm_arg;

static int tm_main(void *p)
{
    tm_arg *a = p;
    long n = a->n;
    int64_t *off = malloc((size_t)n * sizeof *off);
    ets = calloc((size_t)n, sizeof *ets);
    if (!off || !ets) return -ENOMEM;
    uint64_t x = 0x9E3779B97F4A7C15ULL; /* fixed seed */
    for (long i = 0; i < n; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        uint64_t r = x * 0x2545F4914F6CDD1DULL;
        off[i] = EDDY_SEC(1) + (int64_t)(r % (uint64_t)EDDY_SEC(1000));
    }
    double s, t;
    /* Warm-up: grows every library's heap array to n and pages the timers in. */
    if (eddy_round(off, n, &s, &t) < 0) return -1;
    bench_ev_round(off, n, &s, &t);
    bench_uv_round(off, n, &s, &t);
    for (int r = 0; r < a->rounds; r++) {
        for (int i = 0; i < NL; i++) {
            int k = (i + r) % NL; /* rotate which library goes first */
            if (k == L_EDDY) {
                if (eddy_round(off, n, &a->start[k][r], &a->stop[k][r]) < 0) return -1;
            } else if (k == L_EV) {
                bench_ev_round(off, n, &a->start[k][r], &a->stop[k][r]);
            } else {
                bench_uv_round(off, n, &a->start[k][r], &a->stop[k][r]);
            }
        }
    }
    bench_uv_destroy();
    free(ets);
    free(off);
    return 0;
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    static tm_arg a;
    a.rounds = bench_rounds(argc, argv, quick ? 3 : 7);
    a.n = bench_n(argc, argv, quick ? 200000 : 1000000);
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS, .stack_size = 1 << 20};
    int rc = eddy_run_opts(tm_main, &a, &o);
    if (rc != 0) {
        fprintf(stderr, "bench_timers: failed (%d)\n", rc);
        return 1;
    }
    printf("bench=timers\nrounds=%d\ntimers=%ld\n", a.rounds, a.n);
    double both[NL][256];
    for (int k = 0; k < NL; k++) {
        for (int r = 0; r < a.rounds; r++) both[k][r] = a.start[k][r] + a.stop[k][r];
        char key[64];
        snprintf(key, sizeof key, "%s_start_ns", lib_names[k]);
        bench_kv(key, bench_median(a.start[k], a.rounds));
        snprintf(key, sizeof key, "%s_stop_ns", lib_names[k]);
        bench_kv(key, bench_median(a.stop[k], a.rounds));
        snprintf(key, sizeof key, "%s_start_stop_ns", lib_names[k]);
        bench_kv(key, bench_median(both[k], a.rounds));
    }
    bench_kv("ratio_eddy_vs_libev", bench_median_ratio(both[L_EDDY], both[L_EV], a.rounds));
    bench_kv("ratio_eddy_vs_libuv", bench_median_ratio(both[L_EDDY], both[L_UV], a.rounds));
    return 0;
}
