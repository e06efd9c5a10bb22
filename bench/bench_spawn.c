/* Benchmark 2: spawn + exit of a trivial task in a nursery, stacks already pooled.
 *
 *   eddy_spawn_ns   ns per eddy_spawn of a task that returns 0 at once (eager start: the
 *                   child runs to completion inside eddy_spawn; its stack goes back to the
 *                   pool on the next switch), measured over N spawns into one nursery,
 *                   after a warm-up that fills the pool;
 *   boost_fiber_ns  anchor: create a boost::context::fiber on a pooled_fixedsize_stack, resume
 *                   it once, let it finish (bench_spawn_boost.cpp).
 * Goal: eddy <= 150 ns. */
#include "bench.h"
#include "eddy.h"

double bench_boost_fiber_spawn_ns(long n);

static int trivial(void *arg)
{
    (void)arg;
    return 0;
}

typedef struct spawn_arg {
    long n;
    double ns;
} spawn_arg;

static int spawn_main(void *p)
{
    spawn_arg *a = p;
    for (int pass = 0; pass < 2; pass++) { /* pass 0 fills the stack pool and caches */
        long n = pass == 0 ? 10000 : a->n;
        eddy_nursery nu;
        int rc = eddy_nursery_open(&nu);
        if (rc < 0) return rc;
        int64_t t0 = bench_now_ns();
        for (long i = 0; i < n && rc == 0; i++) rc = eddy_spawn(&nu, trivial, NULL);
        int rc2 = eddy_nursery_close(&nu);
        int64_t t1 = bench_now_ns();
        if (rc < 0 || rc2 < 0) return rc < 0 ? rc : rc2;
        a->ns = (double)(t1 - t0) / (double)n;
    }
    return 0;
}

static double eddy_spawn_ns(long n)
{
    spawn_arg a = {.n = n};
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS};
    if (eddy_run_opts(spawn_main, &a, &o) != 0) {
        fprintf(stderr, "bench_spawn: eddy_run failed\n");
        exit(1);
    }
    return a.ns;
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    int rounds = bench_rounds(argc, argv, quick ? 3 : 9);
    long n = bench_n(argc, argv, quick ? 200000 : 1000000);
    double e[256], b[256];
    (void)eddy_spawn_ns(n / 10);
    (void)bench_boost_fiber_spawn_ns(n / 10);
    for (int r = 0; r < rounds; r++) {
        if (r % 2) {
            b[r] = bench_boost_fiber_spawn_ns(n);
            e[r] = eddy_spawn_ns(n);
        } else {
            e[r] = eddy_spawn_ns(n);
            b[r] = bench_boost_fiber_spawn_ns(n);
        }
    }
    double me = bench_median(e, rounds), mb = bench_median(b, rounds);
    printf("bench=spawn\nrounds=%d\ntasks=%ld\n", rounds, n);
    bench_kv("eddy_spawn_ns", me);
    bench_kv("boost_fiber_spawn_ns", mb);
    bench_kv("ratio_spawn_vs_boost_fiber", bench_median_ratio(e, b, rounds));
    bench_kv("goal_spawn_ns", 150);
    return 0;
}
