/* eddy_loop_call_ts under stress: several producers that pause now and then (so the loop goes
 * to sleep and must be woken, while others push onto a non-empty queue and do not wake it),
 * and the recycling of its nodes across loops and threads. */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "eddy/test.h"
#include "internal.h"

#define PRODUCERS 4
#define PER_PRODUCER 30000

static struct {
    eddy_loop *loop;
    eddy_cancel_scope cs;
    long seen[PRODUCERS];
    long total, bad;
    _Atomic int rc;
} st;

static void item(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    int p = (int)(v >> 32);
    long i = (long)(v & 0xffffffff);
    if (st.seen[p] != i) st.bad++; /* each producer's calls arrive in order, once */
    st.seen[p] = i + 1;
    if (++st.total == PRODUCERS * PER_PRODUCER) eddy_cancel_scope_cancel(&st.cs);
}

static void *producer(void *arg)
{
    uintptr_t p = (uintptr_t)arg;
    unsigned seed = (unsigned)p * 7919u + 1;
    for (long i = 0; i < PER_PRODUCER; i++) {
        int rc = eddy_loop_call_ts(st.loop, item, (void *)(p << 32 | (uintptr_t)i));
        if (rc != 0) atomic_store(&st.rc, rc);
        /* Now and then stop long enough for the loop to run dry and go to sleep. This is
         * input for the test (the wake-up path), not a wait for anything. */
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 500 == 0) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
    eddy_loop_unref(st.loop);
    return NULL;
}

EDDY_TEST_EX(producers_never_lose_a_wakeup, .real_clock = true, .timeout = EDDY_SEC(60))
{
    st.loop = eddy_loop_current();
    pthread_t th[PRODUCERS];
    for (uintptr_t p = 0; p < PRODUCERS; p++) {
        eddy_loop_ref(st.loop);
        EDDY_OK(pthread_create(&th[p], NULL, producer, (void *)p));
    }
    int rc = 1;
    EDDY_CANCEL_SCOPE(&st.cs) { rc = eddy_sleep_forever(); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    for (int p = 0; p < PRODUCERS; p++) EDDY_OK(pthread_join(th[p], NULL));
    EDDY_CHECK_EQ(atomic_load(&st.rc), 0);
    EDDY_CHECK_EQ(st.bad, 0);
    EDDY_CHECK_EQ(st.total, PRODUCERS * PER_PRODUCER);
    return 0;
}

/* A new loop fed by a new thread reuses the nodes of the loops and threads before it: however
 * many rounds run, the nodes allocated never exceed what one round can have in flight at once
 * (all of its calls: 64 nodes per slab). */
#define ROUND_N 5000
static long round_count;
static eddy_cancel_scope round_cs;

static void round_item(void *arg)
{
    (void)arg;
    if (++round_count == ROUND_N) eddy_cancel_scope_cancel(&round_cs);
}

static void *round_producer(void *arg)
{
    eddy_loop *l = arg;
    for (int i = 0; i < ROUND_N; i++)
        if (eddy_loop_call_ts(l, round_item, NULL) != 0) abort();
    eddy_loop_unref(l);
    return NULL;
}

static int round_main(void *arg)
{
    (void)arg;
    eddy_loop *l = eddy_loop_current();
    round_count = 0;
    eddy_loop_ref(l);
    pthread_t th;
    EDDY_OK(pthread_create(&th, NULL, round_producer, l));
    int rc = 1;
    EDDY_CANCEL_SCOPE(&round_cs) { rc = eddy_sleep_forever(); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_OK(pthread_join(th, NULL)); /* the thread's exit hands its cache on */
    return 0;
}

EDDY_TEST_EX(nodes_are_reused_across_loops_and_threads, .raw = true)
{
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    for (int r = 0; r < 8; r++) {
        EDDY_OK(eddy_run_opts(round_main, NULL, &o));
        EDDY_CHECK_EQ(round_count, ROUND_N);
        EDDY_CHECK(eddy__call_ts_slabs() >= 1);
        EDDY_CHECK(eddy__call_ts_slabs() <= (ROUND_N + 63) / 64);
    }
    return 0;
}
