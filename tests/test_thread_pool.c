/* H1: the worker pool and eddy_run_in_thread. Every case runs in its own forked process, so
 * each starts with a fresh, empty pool. Jobs that must stay busy wait on a gate (an
 * eddy_uevent the test sets) and report that they started through a uqueue the test task
 * reads: nothing here sleeps to wait for something. */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "eddy/test.h"
#include "sys/pool.h"

static eddy_uqueue started; /* ints: jobs that began */
static eddy_uevent gate;    /* gated jobs wait for it */

static void setup(void)
{
    EDDY_OK(eddy_uqueue_init(&started, sizeof(int), 1024));
    EDDY_OK(eddy_uevent_init(&gate));
}

static void configure(int size, int64_t idle)
{
    eddy_threadpool_opts o = EDDY_THREADPOOL_OPTS_INIT;
    o.size = size;
    o.idle_timeout = idle;
    EDDY_OK(eddy_threadpool_configure(&o));
}

static struct eddy_threadpool_stats stats(void)
{
    struct eddy_threadpool_stats st;
    eddy_threadpool_stats(&st);
    return st;
}

static int ret42(void *arg)
{
    (void)arg;
    return 42;
}

static int ret_eio(void *arg)
{
    (void)arg;
    return -EIO;
}

static int whoami(void *arg)
{
    *(pthread_t *)arg = pthread_self();
    return 40 + eddy_thread_cancel_requested();
}

/* Report start (its id), wait for the gate, return the id. From a plain thread uqueue and
 * uevent calls block the thread, as a job may. */
static int gated(void *arg)
{
    int id = (int)(intptr_t)arg;
    if (eddy_uqueue_put(&started, &id) != 0) return -EIO;
    if (eddy_uevent_wait(&gate) != 0) return -EIO;
    return id;
}

static int wait_started(void)
{
    int id = -1;
    EDDY_OK(eddy_uqueue_get(&started, &id));
    return id;
}

EDDY_TEST(run_in_thread_returns_the_functions_value)
{
    EDDY_CHECK_EQ(stats().threads, 0); /* lazy: nothing started yet */
    pthread_t who = pthread_self();
    EDDY_CHECK_EQ(eddy_run_in_thread(whoami, &who), 40);
    EDDY_CHECK(!pthread_equal(who, pthread_self()));
    EDDY_CHECK_EQ(stats().threads, 1);
    EDDY_CHECK_EQ(stats().jobs_run, 1);
    EDDY_CHECK_EQ(eddy_run_in_thread(ret_eio, NULL), -EIO); /* negative values pass through */
    /* Back to back: the one worker serves them all (a worker on its way back from a job is
     * not mistaken for a missing one). */
    for (int i = 0; i < 200; i++) EDDY_CHECK_EQ(eddy_run_in_thread_with(ret42, NULL, NULL), 42);
    EDDY_CHECK_EQ(stats().threads, 1);
    EDDY_CHECK_EQ(stats().jobs_run, 202);
    EDDY_CHECK_EQ(eddy_thread_cancel_requested(), 0); /* not a worker */
    return 0;
}

static void cb_try(void *arg) { *(int *)arg = eddy_run_in_thread(ret42, NULL); }

static int count_run(void *arg)
{
    atomic_fetch_add((_Atomic int *)arg, 1);
    return 0;
}

EDDY_TEST(run_in_thread_errors)
{
    EDDY_CHECK_EQ(eddy_run_in_thread(NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_run_in_thread_with(NULL, NULL, &(eddy_run_in_thread_opts){.abandon_on_cancel = true}),
                  -EINVAL);
    int rc = 1;
    EDDY_OK(eddy_test_call_in_callback(cb_try, &rc));
    EDDY_CHECK_EQ(rc, -EPERM); /* callback context */
    /* Cancelled first: the job is never queued. */
    _Atomic int n = 0;
    EDDY_MOVE_ON_AFTER(0) { EDDY_CHECK_EQ(eddy_run_in_thread(count_run, &n), -ECANCELED); }
    EDDY_FAIL_AFTER(0) {
        EDDY_CHECK_EQ(eddy_run_in_thread_with(count_run, &n, &(eddy_run_in_thread_opts){.abandon_on_cancel = true}),
                      -ETIMEDOUT);
    }
    EDDY_CHECK_EQ(atomic_load(&n), 0);
    EDDY_CHECK_EQ(stats().threads, 0);
    /* No worker exists and none can be started. */
    eddy__pool_fail_starts(1);
    EDDY_CHECK_EQ(eddy_run_in_thread(count_run, &n), -EAGAIN);
    EDDY_CHECK_EQ(stats().queued, 0);
    EDDY_CHECK_EQ(eddy_run_in_thread(ret42, NULL), 42); /* and the next one works */
    EDDY_CHECK_EQ(atomic_load(&n), 0);
    return 0;
}

EDDY_TEST_EX(run_in_thread_outside_a_loop, .raw = true)
{
    EDDY_CHECK_EQ(eddy_run_in_thread(ret42, NULL), -EPERM);
    EDDY_CHECK_EQ(eddy_thread_cancel_requested(), 0);
    return 0;
}

static pthread_barrier_t barrier;

static int barrier_job(void *arg)
{
    (void)arg;
    int r = pthread_barrier_wait(&barrier);
    return r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD ? 0 : -EIO;
}

static int run_barrier_job(void *arg)
{
    (void)arg;
    return eddy_run_in_thread(barrier_job, NULL);
}

/* Six jobs that can only finish together: they must run on six workers at once. */
EDDY_TEST(jobs_run_in_parallel)
{
    configure(6, EDDY_SEC(10));
    EDDY_CHECK_EQ(pthread_barrier_init(&barrier, NULL, 6), 0);
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 6; i++) EDDY_OK(eddy_spawn(n, run_barrier_job, NULL));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(stats().threads, 6);
    pthread_barrier_destroy(&barrier);
    return 0;
}

typedef struct gated_run {
    int id, rc;
    eddy_run_in_thread_opts opts;
} gated_run;

static int run_gated(void *arg)
{
    gated_run *g = arg;
    g->rc = eddy_run_in_thread_with(gated, (void *)(intptr_t)g->id, &g->opts);
    return 0;
}

EDDY_TEST(pool_grows_lazily_up_to_its_size)
{
    setup();
    configure(2, EDDY_SEC(10));
    EDDY_CHECK_EQ(stats().size, 2);
    gated_run g[5];
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 5; i++) {
            g[i] = (gated_run){.id = i + 1, .rc = -1};
            EDDY_OK(eddy_spawn(n, run_gated, &g[i]));
        }
        int a = wait_started(), b = wait_started();
        EDDY_CHECK(a != b);
        struct eddy_threadpool_stats st = stats();
        EDDY_CHECK_EQ(st.threads, 2);
        EDDY_CHECK_EQ(st.queued, 3);
        EDDY_CHECK_EQ(st.idle, 0);
        eddy_uevent_set(&gate);
        for (int i = 0; i < 3; i++) (void)wait_started();
    }
    EDDY_CHECK_EQ(rc, 0);
    for (int i = 0; i < 5; i++) EDDY_CHECK_EQ(g[i].rc, i + 1);
    EDDY_CHECK_EQ(stats().threads, 2);
    EDDY_CHECK_EQ(stats().jobs_run, 5);
    return 0;
}

EDDY_TEST_EX(idle_workers_exit_and_restart, .real_clock = true)
{
    configure(8, EDDY_MSEC(20));
    EDDY_CHECK_EQ(pthread_barrier_init(&barrier, NULL, 3), 0);
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 3; i++) EDDY_OK(eddy_spawn(n, run_barrier_job, NULL));
    }
    EDDY_CHECK_EQ(rc, 0);
    /* A wait on the pool's own exit condition (the test may block its loop: nothing else
     * runs here). */
    EDDY_OK(eddy__pool_wait_threads(0, EDDY_SEC(15)));
    EDDY_CHECK_EQ(stats().threads, 0);
    EDDY_CHECK_EQ(eddy_run_in_thread(ret42, NULL), 42);
    configure(8, 0); /* idle 0: a worker leaves as soon as it has nothing to do */
    EDDY_OK(eddy__pool_wait_threads(0, EDDY_SEC(15)));
    EDDY_CHECK_EQ(eddy_run_in_thread(ret42, NULL), 42);
    EDDY_OK(eddy__pool_wait_threads(0, EDDY_SEC(15)));
    /* A smaller size sends the extra idle workers away. */
    configure(8, EDDY_FOREVER);
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 3; i++) EDDY_OK(eddy_spawn(n, run_barrier_job, NULL));
    }
    EDDY_CHECK_EQ(stats().threads, 3);
    configure(1, EDDY_FOREVER);
    EDDY_OK(eddy__pool_wait_threads(1, EDDY_SEC(15)));
    EDDY_CHECK_EQ(stats().threads, 1);
    pthread_barrier_destroy(&barrier);
    return 0;
}

static int cpus(void)
{
    cpu_set_t s;
    EDDY_CHECK(sched_getaffinity(0, sizeof s, &s) == 0);
    return CPU_COUNT(&s);
}

EDDY_TEST(configure_checks_and_defaults)
{
    eddy_threadpool_opts o = EDDY_THREADPOOL_OPTS_INIT;
    o.size = 0;
    EDDY_CHECK_EQ(eddy_threadpool_configure(&o), -EINVAL);
    o.size = EDDY_THREADPOOL_MAX_SIZE + 1;
    EDDY_CHECK_EQ(eddy_threadpool_configure(&o), -EINVAL);
    o.size = -2;
    EDDY_CHECK_EQ(eddy_threadpool_configure(&o), -EINVAL);
    o = (eddy_threadpool_opts)EDDY_THREADPOOL_OPTS_INIT;
    o.idle_timeout = -1;
    EDDY_CHECK_EQ(eddy_threadpool_configure(&o), -EINVAL);
    o = (eddy_threadpool_opts)EDDY_THREADPOOL_OPTS_INIT;
    o.shutdown_timeout = -1;
    EDDY_CHECK_EQ(eddy_threadpool_configure(&o), -EINVAL);
    const int bad_sigs[] = {SIGKILL, SIGSTOP, 9999, -5};
    for (size_t i = 0; i < sizeof bad_sigs / sizeof bad_sigs[0]; i++) {
        o = (eddy_threadpool_opts)EDDY_THREADPOOL_OPTS_INIT;
        o.interrupt_signal = bad_sigs[i];
        EDDY_CHECK_EQ(eddy_threadpool_configure(&o), -EINVAL);
    }
    /* A zero-filled struct means literal zeros: size 0 is invalid. */
    EDDY_CHECK_EQ(eddy_threadpool_configure(&(eddy_threadpool_opts){0}), -EINVAL);
    int def = cpus() + 4 < 32 ? cpus() + 4 : 32;
    EDDY_OK(eddy_threadpool_configure(NULL));
    EDDY_CHECK_EQ(stats().size, def);
    o = (eddy_threadpool_opts)EDDY_THREADPOOL_OPTS_INIT;
    o.size = EDDY_THREADPOOL_MAX_SIZE;
    EDDY_OK(eddy_threadpool_configure(&o));
    EDDY_CHECK_EQ(stats().size, EDDY_THREADPOOL_MAX_SIZE);
    /* The environment gives the default size; garbage in it is ignored. */
    const struct {
        const char *v;
        int size;
    } env[] = {{"3", 3}, {"1", 1}, {"0", def}, {"abc", def}, {"4x", def}, {"2000", def}, {"", def}};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++) {
        EDDY_CHECK_EQ(setenv("EDDY_THREADPOOL_SIZE", env[i].v, 1), 0);
        EDDY_OK(eddy_threadpool_configure(NULL));
        EDDY_CHECK_EQ(stats().size, env[i].size);
    }
    EDDY_CHECK_EQ(unsetenv("EDDY_THREADPOOL_SIZE"), 0);
    eddy_threadpool_stats(NULL); /* harmless */
    return 0;
}

static int run_count(void *arg)
{
    return eddy_run_in_thread(count_run, arg);
}

EDDY_TEST(cancel_before_start_drops_the_job)
{
    setup();
    configure(1, EDDY_SEC(10));
    _Atomic int n = 0;
    gated_run g = {.id = 7, .rc = -1};
    int rc, brc = 0;
    eddy_task *b;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, run_gated, &g));
        EDDY_CHECK_EQ(wait_started(), 7);
        EDDY_OK(eddy_spawn(nu, run_count, &n, .handle = &b)); /* queued behind the gated job */
        EDDY_CHECK_EQ(stats().queued, 1);
        eddy_task_cancel(b);
        EDDY_OK(eddy_task_join(b, &brc));
        EDDY_CHECK_EQ(stats().queued, 0);
        eddy_uevent_set(&gate);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(brc, -ECANCELED);
    EDDY_CHECK_EQ(g.rc, 7);
    EDDY_CHECK_EQ(atomic_load(&n), 0); /* never ran */
    EDDY_CHECK_EQ(stats().jobs_run, 1);
    return 0;
}

static _Atomic int coop_done;

/* Cooperative: run until the waiter is cancelled, then stop early with a value of our own. */
static int coop(void *arg)
{
    (void)arg;
    int one = 1;
    if (eddy_uqueue_put(&started, &one) != 0) return -EIO;
    while (!eddy_thread_cancel_requested()) sched_yield();
    atomic_store(&coop_done, 1);
    return 7;
}

typedef struct coop_run {
    int rc, next;
} coop_run;

static int run_coop(void *arg)
{
    coop_run *c = arg;
    c->rc = eddy_run_in_thread(coop, NULL);
    c->next = eddy_yield(); /* the cancellation is still there for the next blocking call */
    return 0;
}

EDDY_TEST(cancel_while_running_waits_and_sets_the_flag)
{
    setup();
    coop_run c = {.rc = -1, .next = 1};
    eddy_task *t;
    int rc, st = 1;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, run_coop, &c, .handle = &t));
        EDDY_CHECK_EQ(wait_started(), 1);
        eddy_task_cancel(t);
        EDDY_OK(eddy_task_join(t, &st));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(st, 0);
    EDDY_CHECK_EQ(c.rc, 7);                 /* fn's own value */
    EDDY_CHECK_EQ(atomic_load(&coop_done), 1); /* and the call returned after fn did */
    EDDY_CHECK_EQ(c.next, -ECANCELED);
    return 0;
}

static eddy_uqueue finished; /* ints: gated jobs that returned */

static int gated_then_report(void *arg)
{
    int id = gated(arg);
    if (eddy_uqueue_put(&finished, &id) != 0) return -EIO;
    return id;
}

static int run_abandoning(void *arg)
{
    gated_run *g = arg;
    g->opts.abandon_on_cancel = true;
    g->rc = eddy_run_in_thread_with(gated_then_report, (void *)(intptr_t)g->id, &g->opts);
    return 0;
}

EDDY_TEST(abandon_on_cancel_returns_at_once)
{
    setup();
    EDDY_OK(eddy_uqueue_init(&finished, sizeof(int), 16));
    configure(1, EDDY_SEC(10)); /* one worker: its jobs finish in submission order */
    gated_run g = {.id = 3, .rc = 1};
    eddy_task *t;
    int rc, st;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, run_abandoning, &g, .handle = &t));
        EDDY_CHECK_EQ(wait_started(), 3);
        eddy_task_cancel(t);
        EDDY_OK(eddy_task_join(t, &st));
    }
    EDDY_CHECK_EQ(g.rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_uqueue_size(&finished), 0); /* still running */
    eddy_uevent_set(&gate);
    int id;
    EDDY_OK(eddy_uqueue_get(&finished, &id));
    EDDY_CHECK_EQ(id, 3);
    /* The same worker runs this next, after posting the abandoned job's completion: once
     * this returns, the abandoned job has been freed (LeakSanitizer checks). */
    EDDY_CHECK_EQ(eddy_run_in_thread(ret42, NULL), 42);
    EDDY_OK(eddy_uqueue_destroy(&finished));
    return 0;
}

static int run_limited42(void *arg)
{
    gated_run *g = arg;
    g->rc = eddy_run_in_thread_with(ret42, NULL, &g->opts);
    return 0;
}

EDDY_TEST(abandoned_job_keeps_its_limiter_token_until_it_returns)
{
    setup();
    EDDY_OK(eddy_uqueue_init(&finished, sizeof(int), 16));
    eddy_limiter lim;
    EDDY_OK(eddy_limiter_init(&lim, 1));
    gated_run a = {.id = 1, .rc = 1, .opts = {.limiter = &lim}};
    gated_run b = {.id = 2, .rc = 1, .opts = {.limiter = &lim}};
    eddy_task *t;
    int rc, st;
    struct eddy_limiter_stats ls;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, run_abandoning, &a, .handle = &t));
        EDDY_CHECK_EQ(wait_started(), 1);
        eddy_task_cancel(t);
        EDDY_OK(eddy_task_join(t, &st));
        EDDY_CHECK_EQ(a.rc, -ECANCELED);
        eddy_limiter_stats(&lim, &ls);
        EDDY_CHECK_EQ(ls.borrowed, 1); /* the abandoned job still holds it */
        EDDY_OK(eddy_spawn(n, run_limited42, &b));
        eddy_limiter_stats(&lim, &ls);
        EDDY_CHECK_EQ(ls.waiters, 1);
        EDDY_CHECK_EQ(b.rc, 1);
        eddy_uevent_set(&gate); /* the abandoned job returns, its token goes to b */
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(b.rc, 42);
    eddy_limiter_stats(&lim, &ls);
    EDDY_CHECK_EQ(ls.borrowed, 0);
    EDDY_CHECK_EQ(ls.total_acquired, 2);
    int id;
    EDDY_OK(eddy_uqueue_get(&finished, &id));
    EDDY_OK(eddy_uqueue_destroy(&finished));
    return 0;
}

EDDY_TEST(limiter_bounds_concurrent_jobs)
{
    setup();
    configure(8, EDDY_SEC(10));
    eddy_limiter lim;
    EDDY_OK(eddy_limiter_init(&lim, 2));
    gated_run g[6];
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 6; i++) {
            g[i] = (gated_run){.id = i + 1, .rc = -1, .opts = {.limiter = &lim}};
            EDDY_OK(eddy_spawn(n, run_gated, &g[i]));
        }
        (void)wait_started();
        (void)wait_started();
        for (int i = 0; i < 10; i++) EDDY_OK(eddy_yield());
        struct eddy_limiter_stats ls;
        eddy_limiter_stats(&lim, &ls);
        EDDY_CHECK_EQ(ls.borrowed, 2);
        EDDY_CHECK_EQ(ls.waiters, 4);
        EDDY_CHECK_EQ(stats().queued, 0); /* the others wait for a token, not for a worker */
        EDDY_CHECK_EQ(eddy_uqueue_size(&started), 0);
        eddy_uevent_set(&gate);
        for (int i = 0; i < 4; i++) (void)wait_started();
    }
    EDDY_CHECK_EQ(rc, 0);
    for (int i = 0; i < 6; i++) EDDY_CHECK_EQ(g[i].rc, i + 1);
    /* A limiter wait is a cancellation point that takes nothing. */
    eddy_limiter one;
    EDDY_OK(eddy_limiter_init(&one, 1));
    eddy_limiter_token tok;
    EDDY_OK(eddy_limiter_try_acquire(&one, NULL, &tok));
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) {
        EDDY_CHECK_EQ(eddy_run_in_thread_with(ret42, NULL, &(eddy_run_in_thread_opts){.limiter = &one}), -ECANCELED);
    }
    EDDY_OK(eddy_limiter_release(&one));
    EDDY_CHECK_EQ(eddy_run_in_thread_with(ret42, NULL, &(eddy_run_in_thread_opts){.limiter = &one}), 42);
    return 0;
}

/* ---- loops that end while abandoned jobs run ---- */

static eddy_limiter *raw_lim;
static bool raw_release_early;

static int raw_abandon_main(void *arg)
{
    (void)arg;
    eddy_limiter lim; /* dies with this frame: the orphaned job must not touch it */
    EDDY_OK(eddy_limiter_init(&lim, 1));
    raw_lim = &lim;
    gated_run g = {.id = 9, .rc = 1, .opts = {.limiter = &lim}};
    eddy_task *t;
    int rc, st;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, run_abandoning, &g, .handle = &t));
        EDDY_CHECK_EQ(wait_started(), 9);
        eddy_task_cancel(t);
        EDDY_OK(eddy_task_join(t, &st));
    }
    EDDY_CHECK_EQ(g.rc, -ECANCELED);
    /* Either let the job finish while the loop ends (its completion races the exit hook) or
     * after eddy_run has returned. */
    if (raw_release_early) eddy_uevent_set(&gate);
    return 0;
}

EDDY_TEST_EX(loop_ends_while_an_abandoned_job_runs, .raw = true, .timeout = EDDY_SEC(60))
{
    setup();
    EDDY_OK(eddy_uqueue_init(&finished, sizeof(int), 16));
    configure(2, 0); /* workers leave when idle: their exit shows the job was released */
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    for (int i = 0; i < 100; i++) {
        EDDY_OK(eddy_uevent_destroy(&gate));
        EDDY_OK(eddy_uevent_init(&gate));
        raw_release_early = i % 2;
        EDDY_CHECK_EQ(eddy_run_opts(raw_abandon_main, NULL, &o), 0);
        eddy_uevent_set(&gate);
        int id;
        EDDY_OK(eddy_uqueue_get(&finished, &id));
        EDDY_CHECK_EQ(id, 9);
        EDDY_OK(eddy__pool_wait_threads(0, EDDY_SEC(15)));
    }
    EDDY_OK(eddy_uqueue_destroy(&finished));
    return 0;
}

/* ---- shutdown ---- */

static int job_shutdown(void *arg)
{
    (void)arg;
    return eddy_threadpool_shutdown(0);
}

EDDY_TEST(shutdown_refuses_loop_threads_and_workers)
{
    EDDY_CHECK_EQ(eddy_threadpool_shutdown(0), -EPERM);
    EDDY_CHECK_EQ(eddy_run_in_thread(job_shutdown, NULL), -EDEADLK);
    return 0;
}

typedef struct loop_thread {
    pthread_t th;
    int (*main)(void *);
    void *arg;
    int rc;
} loop_thread;

static void *loop_thread_main(void *p)
{
    loop_thread *lt = p;
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    lt->rc = eddy_run_opts(lt->main, lt->arg, &o);
    return NULL;
}

static void loop_thread_start(loop_thread *lt, int (*main)(void *), void *arg)
{
    lt->main = main;
    lt->arg = arg;
    lt->rc = 1;
    EDDY_CHECK_EQ(pthread_create(&lt->th, NULL, loop_thread_main, lt), 0);
}

static int loop_thread_join(loop_thread *lt)
{
    EDDY_CHECK_EQ(pthread_join(lt->th, NULL), 0);
    return lt->rc;
}

static gated_run sd_a, sd_b;

static int shutdown_main(void *arg)
{
    (void)arg;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, run_gated, &sd_a));
        EDDY_OK(eddy_spawn(n, run_limited42, &sd_b)); /* queued behind it: one worker */
    }
    return rc;
}

EDDY_TEST_EX(shutdown_has_a_deadline, .raw = true)
{
    setup();
    EDDY_CHECK_EQ(eddy_threadpool_shutdown(-1), -EINVAL);
    EDDY_OK(eddy_threadpool_shutdown(0)); /* nothing to wait for */
    configure(1, EDDY_FOREVER);
    sd_a = (gated_run){.id = 5, .rc = 1};
    sd_b = (gated_run){.id = 6, .rc = 1};
    loop_thread lt;
    loop_thread_start(&lt, shutdown_main, NULL);
    EDDY_CHECK_EQ(wait_started(), 5);
    while (stats().queued != 1) sched_yield(); /* b is on its way into the queue */
    /* The worker is stuck in a: the deadline passes, b is dropped. */
    EDDY_CHECK_EQ(eddy_threadpool_shutdown(EDDY_MSEC(50)), -ETIMEDOUT);
    EDDY_CHECK_EQ(stats().queued, 0);
    EDDY_CHECK_EQ(stats().threads, 1);
    eddy_uevent_set(&gate);
    EDDY_CHECK_EQ(loop_thread_join(&lt), 0);
    EDDY_CHECK_EQ(sd_a.rc, 5);
    EDDY_CHECK_EQ(sd_b.rc, -ESHUTDOWN);
    /* With nothing stuck, workers leave and the call returns 0; the pool works afterwards. */
    EDDY_OK(eddy_threadpool_shutdown(EDDY_FOREVER));
    EDDY_CHECK_EQ(stats().threads, 0);
    sd_a = (gated_run){.id = 8, .rc = 1};
    loop_thread_start(&lt, run_limited42, &sd_a);
    EDDY_CHECK_EQ(loop_thread_join(&lt), 0);
    EDDY_CHECK_EQ(sd_a.rc, 42);
    return 0;
}

static void *shutdown_forever(void *arg)
{
    *(int *)arg = eddy_threadpool_shutdown(EDDY_FOREVER);
    return NULL;
}

static int submit_while_stopping(void *arg)
{
    int *rc = arg;
    while (!eddy__pool_stopping()) sched_yield();
    *rc = eddy_run_in_thread(ret42, NULL);
    return 0;
}

EDDY_TEST_EX(shutdown_in_progress, .raw = true)
{
    setup();
    configure(1, EDDY_FOREVER);
    sd_a = (gated_run){.id = 4, .rc = 1};
    loop_thread lt;
    loop_thread_start(&lt, run_gated, &sd_a);
    EDDY_CHECK_EQ(wait_started(), 4);
    int first = 1;
    pthread_t th;
    EDDY_CHECK_EQ(pthread_create(&th, NULL, shutdown_forever, &first), 0);
    while (!eddy__pool_stopping()) sched_yield();
    EDDY_CHECK_EQ(eddy_threadpool_shutdown(0), -EALREADY);
    int sub = 1;
    loop_thread lt2;
    loop_thread_start(&lt2, submit_while_stopping, &sub);
    EDDY_CHECK_EQ(loop_thread_join(&lt2), 0);
    EDDY_CHECK_EQ(sub, -ESHUTDOWN);
    eddy_uevent_set(&gate);
    EDDY_CHECK_EQ(pthread_join(th, NULL), 0);
    EDDY_CHECK_EQ(first, 0);
    EDDY_CHECK_EQ(loop_thread_join(&lt), 0);
    EDDY_CHECK_EQ(sd_a.rc, 4);
    return 0;
}

/* ---- fork, exit, dlclose ---- */

static int ret42_main(void *arg)
{
    (void)arg;
    return eddy_run_in_thread(ret42, NULL) == 42 ? 0 : 1;
}

EDDY_TEST_EX(forked_child_starts_with_an_empty_pool, .raw = true)
{
    setup();
    configure(1, EDDY_FOREVER);
    sd_a = (gated_run){.id = 2, .rc = 1};
    loop_thread lt;
    loop_thread_start(&lt, run_gated, &sd_a);
    EDDY_CHECK_EQ(wait_started(), 2);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        struct eddy_threadpool_stats st;
        eddy_threadpool_stats(&st);
        if (st.threads != 0 || st.queued != 0) _exit(2);
#if defined(__SANITIZE_THREAD__)
        _exit(0); /* TSan cannot start threads after a multi-threaded fork */
#endif
        eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS};
        _exit(eddy_run_opts(ret42_main, NULL, &o) == 0 ? 0 : 3);
    }
    int ws;
    EDDY_CHECK_EQ(waitpid(pid, &ws, 0), pid);
    EDDY_CHECK(WIFEXITED(ws));
    EDDY_CHECK_EQ(WEXITSTATUS(ws), 0);
    eddy_uevent_set(&gate);
    EDDY_CHECK_EQ(loop_thread_join(&lt), 0);
    EDDY_CHECK_EQ(sd_a.rc, 2);
    return 0;
}

static int stuck_fd = -1, report_fd = -1;

/* The exit jobs report their start (id 1) first: see abandon_and_return. */
static int stuck_read(void *arg)
{
    (void)arg;
    int one = 1;
    if (eddy_uqueue_put(&started, &one) != 0) return -EIO;
    char c;
    return (int)read(stuck_fd, &c, 1); /* nobody ever writes */
}

static int coop_report(void *arg)
{
    (void)arg;
    int one = 1;
    if (eddy_uqueue_put(&started, &one) != 0) return -EIO;
    while (!eddy_thread_cancel_requested()) sched_yield();
    return write(report_fd, "stopped", 7) == 7 ? 0 : -EIO;
}

static int (*exit_job)(void *);

static int run_exit_job(void *arg)
{
    (void)arg;
    int rc = eddy_run_in_thread_with(exit_job, NULL,
                                     &(eddy_run_in_thread_opts){.abandon_on_cancel = true});
    return rc == -ECANCELED ? 0 : 1;
}

/* Abandon the exit job once it runs on a worker, and return (the process then exits with it
 * still running). Cancelled before a worker took it, the job would be dropped and never run:
 * this used to cancel after 10 ms of real time, and on a loaded machine the worker sometimes
 * had not taken the job by then, so coop_report never wrote "stopped" (and the stuck job's
 * case passed without a stuck job). The cancel now waits for the job's own report. */
static int abandon_and_return(void *arg)
{
    (void)arg;
    eddy_task *t;
    int rc, st, id = 0;
    bool ok = false;
    EDDY_NURSERY(n, &rc) {
        if (eddy_spawn(n, run_exit_job, NULL, .handle = &t) != 0) break;
        ok = eddy_uqueue_get(&started, &id) == 0 && id == 1;
        eddy_task_cancel(t);
        ok = eddy_task_join(t, &st) == 0 && st == 0 && ok;
    }
    return rc == 0 && ok ? 0 : 1;
}

/* A child process whose pool runs job at exit(): returns the seconds exit took, and what the
 * job wrote to report_fd in *out. */
static double child_exit(int (*job)(void *), int64_t shutdown_timeout, char *out, size_t cap)
{
    int stuck[2], rep[2];
    EDDY_CHECK(pipe(stuck) == 0 && pipe(rep) == 0);
    struct timespec t0, t1;
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        close(rep[0]);
        stuck_fd = stuck[0];
        report_fd = rep[1];
        exit_job = job;
        setup();
        eddy_threadpool_opts o = EDDY_THREADPOOL_OPTS_INIT;
        o.shutdown_timeout = shutdown_timeout;
        if (eddy_threadpool_configure(&o) != 0) _exit(2);
        eddy_opts eo = {.flags = EDDY_OPT_NO_SIGNALS};
        if (eddy_run_opts(abandon_and_return, NULL, &eo) != 0) _exit(3);
        exit(0); /* runs the pool's exit handling */
    }
    close(rep[1]);
    int ws;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    EDDY_CHECK_EQ(waitpid(pid, &ws, 0), pid);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    EDDY_CHECK(WIFEXITED(ws));
    EDDY_CHECK_EQ(WEXITSTATUS(ws), 0);
    ssize_t n = read(rep[0], out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    close(rep[0]);
    close(stuck[0]);
    close(stuck[1]);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

EDDY_TEST_EX(process_exit_never_hangs_on_a_stuck_job, .raw = true)
{
    char out[32];
    /* Stuck for good: exit waits shutdown_timeout (100 ms), then leaves. The bound is loose
     * on purpose (a loaded machine); without the deadline the child would never exit. */
    double s = child_exit(stuck_read, EDDY_MSEC(100), out, sizeof out);
    EDDY_CHECK(s < 10.0);
    EDDY_CHECK_EQ(out[0], '\0');
    /* A cooperative job sees the flag at exit and stops, well before a long deadline. */
    s = child_exit(coop_report, EDDY_SEC(60), out, sizeof out);
    EDDY_CHECK(s < 30.0);
    EDDY_CHECK(strcmp(out, "stopped") == 0);
    return 0;
}

static int (*dl_run)(int (*)(void *), void *);
static int (*dl_run_in_thread)(int (*)(void *), void *);

static int dl_main(void *arg)
{
    (void)arg;
    return dl_run_in_thread(ret42, NULL) == 42 ? 0 : 1;
}

static int dl_nothing(void *arg)
{
    (void)arg;
    return 0;
}

/* libeddy.so uses initial-exec TLS (over 4 KiB of it), more than glibc's default surplus for
 * dlopen: the case re-runs itself in a fresh process with a larger surplus. It leaks on
 * purpose: the first library it unloads takes the pointers to its process-wide caches with it
 * (LeakSanitizer then sees those caches as lost). */
static int dlclose_case(void)
{
    const char *lib = EDDY_BUILD_DIR "/libeddy.so";
    /* Without a worker started, dlclose unloads the library as usual. */
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) eddy_test_fail(__FILE__, __LINE__, "dlopen: %s", dlerror());
    dl_run = (int (*)(int (*)(void *), void *))dlsym(h, "eddy_run");
    EDDY_CHECK(dl_run != NULL);
    EDDY_CHECK_EQ(dl_run(dl_nothing, NULL), 0);
    EDDY_CHECK_EQ(dlclose(h), 0);
    EDDY_CHECK(dlopen(lib, RTLD_NOW | RTLD_NOLOAD) == NULL);
    /* With one: it stays, so the worker never runs unmapped code. */
    h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    EDDY_CHECK(h != NULL);
    dl_run = (int (*)(int (*)(void *), void *))dlsym(h, "eddy_run");
    dl_run_in_thread = (int (*)(int (*)(void *), void *))dlsym(h, "eddy_run_in_thread");
    EDDY_CHECK(dl_run && dl_run_in_thread);
    EDDY_CHECK_EQ(dl_run(dl_main, NULL), 0);
    EDDY_CHECK_EQ(dlclose(h), 0);
    void *again = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
    EDDY_CHECK(again != NULL);
    return 0;
}

EDDY_TEST_EX(dlclose_keeps_a_library_whose_pool_started, .raw = true, .leaks_memory = true)
{
    if (getenv("EDDY_TEST_DLCLOSE")) return dlclose_case();
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        setenv("EDDY_TEST_DLCLOSE", "1", 1);
        setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=65536", 1);
        execl("/proc/self/exe", "test_thread_pool", "dlclose_keeps_a_library_whose_pool_started",
              (char *)NULL);
        _exit(127);
    }
    int ws;
    EDDY_CHECK_EQ(waitpid(pid, &ws, 0), pid);
    EDDY_CHECK(WIFEXITED(ws));
    EDDY_CHECK_EQ(WEXITSTATUS(ws), 0);
    return 0;
}

/* ---- the interrupt signal ---- */

EDDY_TEST(interrupt_signal_settings)
{
    struct eddy_threadpool_stats st;
    eddy_threadpool_stats(&st);
    EDDY_CHECK(!st.interrupts); /* installed on first need only */
    EDDY_CHECK(eddy__intr_available());
    eddy_threadpool_stats(&st);
    EDDY_CHECK(st.interrupts);
    struct sigaction sa;
    EDDY_CHECK(sigaction(SIGRTMAX - 3, NULL, &sa) == 0);
    EDDY_CHECK(sa.sa_handler != SIG_DFL && !(sa.sa_flags & SA_RESTART));
    /* Once installed it cannot change; the same value is fine. */
    eddy_threadpool_opts o = EDDY_THREADPOOL_OPTS_INIT;
    o.interrupt_signal = SIGUSR2;
    EDDY_CHECK_EQ(eddy_threadpool_configure(&o), -EBUSY);
    o.interrupt_signal = EDDY_THREADPOOL_DEFAULT;
    EDDY_OK(eddy_threadpool_configure(&o));
    return 0;
}

static void program_handler(int sig) { (void)sig; }

EDDY_TEST(interrupt_signal_left_to_the_program)
{
    /* The program handles the default signal itself: eddy leaves it alone. */
    struct sigaction sa = {.sa_handler = program_handler};
    sigemptyset(&sa.sa_mask);
    EDDY_CHECK(sigaction(SIGRTMAX - 3, &sa, NULL) == 0);
    EDDY_CHECK(!eddy__intr_available());
    struct sigaction now;
    EDDY_CHECK(sigaction(SIGRTMAX - 3, NULL, &now) == 0);
    EDDY_CHECK(now.sa_handler == program_handler);
    /* Another signal may be chosen before the first install. */
    eddy_threadpool_opts o = EDDY_THREADPOOL_OPTS_INIT;
    o.interrupt_signal = SIGUSR2;
    EDDY_OK(eddy_threadpool_configure(&o));
    EDDY_CHECK(eddy__intr_available());
    EDDY_CHECK(sigaction(SIGUSR2, NULL, &now) == 0);
    EDDY_CHECK(now.sa_handler != SIG_DFL);
    return 0;
}

EDDY_TEST(interrupt_signal_off)
{
    eddy_threadpool_opts o = EDDY_THREADPOOL_OPTS_INIT;
    o.interrupt_signal = 0;
    EDDY_OK(eddy_threadpool_configure(&o));
    EDDY_CHECK(!eddy__intr_available());
    struct eddy_threadpool_stats st;
    eddy_threadpool_stats(&st);
    EDDY_CHECK(!st.interrupts);
    struct sigaction now;
    EDDY_CHECK(sigaction(SIGRTMAX - 3, NULL, &now) == 0);
    EDDY_CHECK(now.sa_handler == SIG_DFL);
    return 0;
}
