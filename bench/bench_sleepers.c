/* Benchmark 3: one million concurrent sleeping tasks.
 *
 * The root task reads its resident set (/proc/self/statm) and page-table size (VmPTE in
 * /proc/self/status), spawns N tasks that each call eddy_sleep(1 hour), reads them again while
 * all N sleep, then cancels the nursery and closes it. Reported per round (median of rounds):
 *   rss_per_task_kib      (RSS after - RSS before) / N; goal <= 4.5 KiB;
 *   pte_per_task_bytes    page tables per task (not in RSS, but memory all the same);
 *   vm_per_task_kib       address space per task (VmSize after - before) / N: the stack
 *                         reservation plus its guard page, which costs no memory until touched;
 *   spawn_ns              ns per spawn while creating them (fresh stacks: includes carving
 *                         stacks, guard pages and the first-touch page fault);
 *   teardown_ns           ns per task to cancel and reap them.
 * The anchor is the page: a stackful task that keeps its frame on its own stack touches at
 * least one 4 KiB page, so rss_per_task_kib / page_kib says how close eddy is to that floor.
 * Each round is a fresh eddy_run (the stack pool is trimmed when a run ends).
 * --stack=BYTES spawns the tasks with that stack size instead of the default
 * (EDDY_DEFAULT_STACK), to compare what a larger or smaller default costs. */
#include <unistd.h>

#include "bench.h"
#include "eddy.h"

static long statm_resident_pages(void)
{
    long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
    fclose(f);
    return res;
}

static long status_kib(const char *key)
{
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = atol(line + kl + 1);
            break;
        }
    fclose(f);
    return v;
}

static int sleeper(void *arg)
{
    (void)arg;
    int rc = eddy_sleep(EDDY_SEC(3600));
    return rc == -ECANCELED ? 0 : rc;
}

typedef struct sl_arg {
    long n;
    size_t stack; /* 0: the default */
    double rss_kib, pte_bytes, vm_kib, spawn_ns, teardown_ns;
} sl_arg;

static int sl_main(void *p)
{
    sl_arg *a = p;
    long ps = sysconf(_SC_PAGESIZE);
    long r0 = statm_resident_pages(), pte0 = status_kib("VmPTE"), vm0 = status_kib("VmSize");
    eddy_nursery nu;
    int rc = eddy_nursery_open(&nu);
    if (rc < 0) return rc;
    int64_t t0 = bench_now_ns();
    long spawned = 0;
    for (; spawned < a->n; spawned++)
        if ((rc = eddy_spawn(&nu, sleeper, NULL, .stack_size = a->stack)) < 0) break;
    int64_t t1 = bench_now_ns();
    long r1 = statm_resident_pages(), pte1 = status_kib("VmPTE"), vm1 = status_kib("VmSize");
    eddy_nursery_cancel(&nu);
    int rc2 = eddy_nursery_close(&nu);
    int64_t t2 = bench_now_ns();
    if (rc < 0 || rc2 < 0) {
        fprintf(stderr, "bench_sleepers: spawned %ld of %ld: %s\n", spawned, a->n,
                strerror(-(rc < 0 ? rc : rc2)));
        return rc < 0 ? rc : rc2;
    }
    a->rss_kib = (double)(r1 - r0) * (double)ps / 1024.0 / (double)a->n;
    a->pte_bytes = (double)(pte1 - pte0) * 1024.0 / (double)a->n;
    a->vm_kib = (double)(vm1 - vm0) / (double)a->n;
    a->spawn_ns = (double)(t1 - t0) / (double)a->n;
    a->teardown_ns = (double)(t2 - t1) / (double)a->n;
    return 0;
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    int rounds = bench_rounds(argc, argv, 1);
    long n = bench_n(argc, argv, quick ? 100000 : 1000000);
    size_t stack = 0;
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--stack=", 8)) stack = (size_t)atol(argv[i] + 8);
    double rss[256], pte[256], vm[256], sp[256], td[256];
    for (int r = 0; r < rounds; r++) {
        sl_arg a = {.n = n, .stack = stack};
        eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS};
        int rc = eddy_run_opts(sl_main, &a, &o);
        if (rc != 0) {
            fprintf(stderr, "bench_sleepers: eddy_run: %s\n", strerror(-rc));
            return 1;
        }
        rss[r] = a.rss_kib;
        pte[r] = a.pte_bytes;
        vm[r] = a.vm_kib;
        sp[r] = a.spawn_ns;
        td[r] = a.teardown_ns;
    }
    double m = bench_median(rss, rounds);
    double page_kib = (double)sysconf(_SC_PAGESIZE) / 1024.0;
    printf("bench=sleepers\nrounds=%d\ntasks=%ld\nstack_bytes=%zu\n", rounds, n,
           stack ? stack : (size_t)EDDY_DEFAULT_STACK);
    bench_kv("rss_per_task_kib", m);
    bench_kv("pte_per_task_bytes", bench_median(pte, rounds));
    bench_kv("vm_per_task_kib", bench_median(vm, rounds));
    bench_kv("spawn_ns", bench_median(sp, rounds));
    bench_kv("teardown_ns", bench_median(td, rounds));
    bench_kv("page_kib", page_kib);
    bench_kv("ratio_rss_vs_page", m / page_kib);
    bench_kv("goal_rss_per_task_kib", 4.5);
    return 0;
}
