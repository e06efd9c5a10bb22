/* Shared helpers for eddy's benchmarks: a monotonic clock, medians, key=value output.
 *
 * Every benchmark measures eddy and an anchor in the same process, alternating rounds
 * (A B A B ...) so that the VM's slow drifts hit both sides alike, and prints the median of
 * the rounds. Output is one `key=value` per line so scripts/bench.sh can aggregate it. */
#ifndef EDDY_BENCH_H
#define EDDY_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts a copy). */
static inline double bench_median(const double *v, int n)
{
    double tmp[256];
    if (n <= 0 || n > 256) return 0;
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, bench_cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* Median over rounds of the per-round ratio a[r] / b[r]: both sides of a round ran back to
 * back, so the ratio cancels the machine's slow drifts better than a ratio of medians. */
static inline double bench_median_ratio(const double *a, const double *b, int n)
{
    double q[256];
    if (n <= 0 || n > 256) return 0;
    for (int i = 0; i < n; i++) q[i] = b[i] > 0 ? a[i] / b[i] : 0;
    return bench_median(q, n);
}

/* "--quick" anywhere on the command line: fewer rounds and iterations (CI smoke runs). */
static inline int bench_quick(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--quick")) return 1;
    return 0;
}

/* Optional "--rounds=N" override. */
static inline int bench_rounds(int argc, char **argv, int dflt)
{
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--rounds=", 9)) {
            int r = atoi(argv[i] + 9);
            if (r > 0 && r <= 256) return r;
        }
    return dflt;
}

/* Optional "--n=N" override of the benchmark's size (iterations, tasks, timers, items). */
static inline long bench_n(int argc, char **argv, long dflt)
{
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--n=", 4)) {
            long n = atol(argv[i] + 4);
            if (n > 0) return n;
        }
    return dflt;
}

/* Optional "--only=NAME": run just that variant (for instruction counts under callgrind, see
 * scripts/bench_icount.sh). NULL when not given. */
static inline const char *bench_only(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--only=", 7)) return argv[i] + 7;
    return NULL;
}

static inline void bench_kv(const char *key, double v) { printf("%s=%.2f\n", key, v); }

/* Keep the compiler from discarding a computed value. */
#define BENCH_SINK(x) __asm__ volatile("" : : "r"(x) : "memory")

#endif
