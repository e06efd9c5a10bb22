/* Core test: one million concurrent tasks (issue requirement), each on its own default-size
 * guarded stack, all sleeping until the same virtual deadline, in one nursery. Checks the
 * mapping count stays far below vm.max_map_count and reports resident memory per task. */
#include "arch/stack.h"
#include "test_core_util.h"

#define NTASKS (CORE_SANITIZED ? 100000L : 1000000L)

static long statm_resident_pages(void)
{
    long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res;
}

static long count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    long n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        if (c == '\n') n++;
    fclose(f);
    return n;
}

static int64_t deadline;
static long finished;

static int sleeper(void *arg)
{
    (void)arg;
    int rc = eddy_sleep_until(deadline);
    if (rc < 0) return rc;
    finished++;
    return 0;
}

EDDY_TEST_EX(one_million_sleeping_tasks, .timeout = EDDY_SEC(300), .one_backend = true)
{
    deadline = eddy_now() + EDDY_SEC(10);
    long ps = sysconf(_SC_PAGESIZE);
    long res0 = statm_resident_pages();
    long max_maps = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &max_maps) != 1) max_maps = 65530;
        fclose(f);
    }
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (long i = 0; i < NTASKS; i++) {
            int s = eddy_spawn(n, sleeper, NULL);
            if (s != 0) eddy_test_fail(__FILE__, __LINE__, "spawn %ld failed: %d", i, s);
        }
        struct eddy_loop_stats st;
        eddy_loop_stats(&st);
        EDDY_CHECK_EQ(st.tasks_live, NTASKS + 1);
        long res1 = statm_resident_pages();
        long maps = count_maps();
        double per_task = (double)(res1 - res0) * (double)ps / (double)NTASKS;
        printf("# %ld tasks alive: %.0f bytes (%.2f KiB) resident per task, %ld mappings "
               "(vm.max_map_count %ld), guard mode %s\n",
               NTASKS, per_task, per_task / 1024, maps, max_maps, eddy__stack_guard_mode());
        fflush(stdout);
        EDDY_CHECK(maps > 0 && maps < max_maps / 4);
        EDDY_CHECK_EQ(finished, 0);
#if !CORE_SANITIZED
        EDDY_CHECK(per_task <= 4.5 * 1024);
#endif
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(finished, NTASKS);
    EDDY_CHECK_EQ(eddy_now(), deadline);
    return 0;
}
