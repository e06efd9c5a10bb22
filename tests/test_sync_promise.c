/* A6: promises, set from tasks, callbacks and foreign OS threads. */
#include <pthread.h>
#include <semaphore.h>

#include "eddy/test.h"

typedef struct pw {
    eddy_promise *p;
    int rc;
    void *value;
} pw;

static int promise_waiter(void *arg)
{
    pw *w = arg;
    w->rc = eddy_promise_wait(w->p, &w->value);
    return 0;
}

static int promise_setter(void *arg)
{
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    EDDY_OK(eddy_promise_set(arg, (void *)0x1234, 7));
    return 0;
}

EDDY_TEST(promise_set_by_task_wakes_all_waiters)
{
    eddy_promise p;
    EDDY_OK(eddy_promise_init(&p));
    pw a = {.p = &p, .rc = -1}, b = {.p = &p, .rc = -1};
    int rc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, promise_waiter, &a));
        EDDY_OK(eddy_spawn(nu, promise_waiter, &b));
        EDDY_OK(eddy_spawn(nu, promise_setter, &p));
        EDDY_CHECK(!eddy_promise_is_set(&p));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
    EDDY_CHECK_EQ(a.rc, 7);
    EDDY_CHECK_EQ(b.rc, 7);
    EDDY_CHECK(a.value == (void *)0x1234 && b.value == (void *)0x1234);
    EDDY_CHECK(eddy_promise_is_set(&p));
    /* Set once. */
    EDDY_CHECK_EQ(eddy_promise_set(&p, NULL, 0), -EALREADY);
    EDDY_CHECK_EQ(eddy_promise_set_ts(&p, NULL, 0), -EALREADY); /* loop thread: same as set */
    EDDY_CHECK_EQ(eddy_promise_arm_ts(&p), -EALREADY);
    /* Already set: no waiting, even in a cancelled scope; value may be NULL. */
    EDDY_MOVE_ON_AFTER(0) { EDDY_CHECK_EQ(eddy_promise_wait(&p, NULL), 7); }
    /* A negative status is just a status. */
    eddy_promise q;
    EDDY_OK(eddy_promise_init(&q));
    EDDY_OK(eddy_promise_set_ts(&q, NULL, -EIO));
    EDDY_CHECK_EQ(eddy_promise_wait(&q, NULL), -EIO);
    return 0;
}

typedef struct pcb {
    eddy_promise *p;
    int wait_rc, set_rc;
} pcb;

static void promise_cb(void *arg)
{
    pcb *c = arg;
    c->wait_rc = eddy_promise_wait(c->p, NULL);
    c->set_rc = eddy_promise_set(c->p, c, 3);
}

EDDY_TEST(promise_errors_and_callback_set)
{
    eddy_promise p;
    EDDY_CHECK_EQ(eddy_promise_init(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_promise_arm_ts(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_promise_set(NULL, NULL, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_promise_set_ts(NULL, NULL, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_promise_wait(NULL, NULL), -EINVAL);
    EDDY_CHECK(!eddy_promise_is_set(NULL));
    EDDY_OK(eddy_promise_init(&p));
    pcb c = {.p = &p};
    EDDY_OK(eddy_call_soon(promise_cb, &c));
    void *v = NULL;
    EDDY_CHECK_EQ(eddy_promise_wait(&p, &v), 3); /* set by the callback */
    EDDY_CHECK_EQ(c.wait_rc, -EPERM);            /* callbacks cannot wait */
    EDDY_CHECK_EQ(c.set_rc, 0);
    EDDY_CHECK(v == &c);
    /* Armed, then set by a task instead of a thread: the loop ref is dropped anyway (else
     * this test's eddy_run would never return). */
    eddy_promise q;
    EDDY_OK(eddy_promise_init(&q));
    EDDY_OK(eddy_promise_arm_ts(&q));
    EDDY_CHECK_EQ(eddy_promise_arm_ts(&q), -EALREADY);
    EDDY_OK(eddy_promise_set(&q, NULL, 1));
    EDDY_CHECK_EQ(eddy_promise_wait(&q, NULL), 1);
    return 0;
}

static int promise_wait_move_on(void *arg)
{
    pw *w = arg;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { w->rc = eddy_promise_wait(w->p, &w->value); }
    return 0;
}

static int promise_wait_fail(void *arg)
{
    pw *w = arg;
    EDDY_FAIL_AFTER(EDDY_SEC(2)) { w->rc = eddy_promise_wait(w->p, &w->value); }
    return 0;
}

EDDY_TEST(promise_wait_cancelled)
{
    eddy_promise p;
    EDDY_OK(eddy_promise_init(&p));
    pw a = {.p = &p, .rc = 1}, b = {.p = &p, .rc = 1}, c = {.p = &p, .rc = 1};
    eddy_task *tc;
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, promise_wait_move_on, &a));
        EDDY_OK(eddy_spawn(nu, promise_wait_fail, &b));
        EDDY_OK(eddy_spawn(nu, promise_waiter, &c, .handle = &tc));
        eddy_task_cancel(tc);
        EDDY_OK(eddy_task_join(tc, NULL));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(a.rc, -ECANCELED);
    EDDY_CHECK_EQ(b.rc, -ETIMEDOUT);
    EDDY_CHECK_EQ(c.rc, -ECANCELED);
    EDDY_CHECK(a.value == NULL);
    EDDY_OK(eddy_promise_set(&p, NULL, 5)); /* no stale waiters left */
    EDDY_CHECK_EQ(eddy_promise_wait(&p, NULL), 5);
    return 0;
}

static int wait_forever_on_unset(void *arg)
{
    (void)arg;
    eddy_promise p;
    EDDY_OK(eddy_promise_init(&p));
    return eddy_promise_wait(&p, NULL); /* nobody can set it */
}

EDDY_TEST_EX(promise_unarmed_wait_is_a_deadlock, .raw = true)
{
    fprintf(stderr, "# expected deadlock report follows\n");
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_NO_SIGNALS};
    EDDY_CHECK_EQ(eddy_run_opts(wait_forever_on_unset, NULL, &o), -EDEADLK);
    return 0;
}

/* ---- foreign threads ---- */

typedef struct th {
    eddy_promise *p;
    size_t n;
    sem_t go;     /* when use_go: wait for it before setting */
    bool use_go;
    int rc[4];
} th;

static void *set_from_thread(void *arg)
{
    th *t = arg;
    if (t->use_go)
        while (sem_wait(&t->go) != 0) {
        }
    for (size_t i = 0; i < t->n; i++) {
        int rc = eddy_promise_set_ts(&t->p[i], &t->p[i], (int)i);
        if (i < 4) t->rc[i] = rc;
    }
    /* A second set from the thread is refused. */
    if (t->n == 1) t->rc[1] = eddy_promise_set_ts(&t->p[0], NULL, 0);
    return NULL;
}

EDDY_TEST_EX(promise_set_from_thread, .real_clock = true)
{
    eddy_promise p;
    EDDY_OK(eddy_promise_init(&p));
    EDDY_OK(eddy_promise_arm_ts(&p));
    th t = {.p = &p, .n = 1};
    pthread_t tid;
    EDDY_OK(pthread_create(&tid, NULL, set_from_thread, &t));
    void *v = NULL;
    EDDY_CHECK_EQ(eddy_promise_wait(&p, &v), 0);
    EDDY_CHECK(v == &p);
    EDDY_OK(pthread_join(tid, NULL));
    EDDY_CHECK_EQ(t.rc[0], 0);
    EDDY_CHECK_EQ(t.rc[1], -EALREADY);
    EDDY_CHECK(eddy_promise_is_set(&p));
    return 0;
}

EDDY_TEST_EX(promise_set_from_thread_before_wait, .real_clock = true)
{
    eddy_promise p;
    EDDY_OK(eddy_promise_init(&p));
    EDDY_OK(eddy_promise_arm_ts(&p));
    th t = {.p = &p, .n = 1};
    pthread_t tid;
    EDDY_OK(pthread_create(&tid, NULL, set_from_thread, &t));
    EDDY_OK(pthread_join(tid, NULL)); /* the set is posted but not delivered yet */
    EDDY_CHECK_EQ(t.rc[0], 0);
    EDDY_CHECK(!eddy_promise_is_set(&p));
    EDDY_CHECK_EQ(eddy_promise_set(&p, NULL, 1), -EALREADY); /* claimed by the thread */
    EDDY_CHECK_EQ(eddy_promise_wait(&p, NULL), 0);
    EDDY_CHECK(eddy_promise_is_set(&p));
    return 0;
}

EDDY_TEST_EX(promise_set_ts_unarmed_from_thread_refused, .real_clock = true)
{
    eddy_promise p;
    EDDY_OK(eddy_promise_init(&p));
    th t = {.p = &p, .n = 1};
    pthread_t tid;
    EDDY_OK(pthread_create(&tid, NULL, set_from_thread, &t));
    EDDY_OK(pthread_join(tid, NULL));
    EDDY_CHECK_EQ(t.rc[0], -EINVAL);
    EDDY_CHECK(!eddy_promise_is_set(&p));
    EDDY_OK(eddy_promise_set(&p, NULL, 2)); /* still settable on the loop */
    EDDY_CHECK_EQ(eddy_promise_wait(&p, NULL), 2);
    return 0;
}

EDDY_TEST_EX(promise_many_from_one_thread, .real_clock = true)
{
    enum { N = 1000 };
    static eddy_promise p[N];
    for (size_t i = 0; i < N; i++) {
        EDDY_OK(eddy_promise_init(&p[i]));
        EDDY_OK(eddy_promise_arm_ts(&p[i]));
    }
    th t = {.p = p, .n = N};
    pthread_t tid;
    EDDY_OK(pthread_create(&tid, NULL, set_from_thread, &t));
    for (size_t i = 0; i < N; i++) {
        void *v;
        EDDY_CHECK_EQ(eddy_promise_wait(&p[i], &v), (int)i);
        EDDY_CHECK(v == &p[i]);
    }
    EDDY_OK(pthread_join(tid, NULL));
    for (int i = 0; i < 4; i++) EDDY_CHECK_EQ(t.rc[i], 0);
    return 0;
}

EDDY_TEST_EX(promise_cancelled_waiter_then_thread_sets, .real_clock = true)
{
    eddy_promise p;
    EDDY_OK(eddy_promise_init(&p));
    EDDY_OK(eddy_promise_arm_ts(&p));
    th t = {.p = &p, .n = 1, .use_go = true};
    EDDY_OK(sem_init(&t.go, 0, 0));
    pthread_t tid;
    EDDY_OK(pthread_create(&tid, NULL, set_from_thread, &t));
    int r = 1;
    /* The thread is held back, so this wait must time out (after 5 ms of real time). */
    EDDY_FAIL_AFTER(EDDY_MSEC(5)) { r = eddy_promise_wait(&p, NULL); }
    EDDY_CHECK_EQ(r, -ETIMEDOUT);
    EDDY_CHECK(!eddy_promise_is_set(&p));
    /* p outlives the cancelled wait (it is in this frame): let the thread set it. */
    EDDY_OK(sem_post(&t.go));
    EDDY_CHECK_EQ(eddy_promise_wait(&p, NULL), 0);
    EDDY_OK(pthread_join(tid, NULL));
    EDDY_OK(sem_destroy(&t.go));
    return 0;
}

/* A promise belongs to one loop: tasks of another loop cannot wait on it or set it. */
static eddy_promise *foreign;
static int other_wait_rc, other_set_rc, other_arm_rc;

static int other_loop_main(void *arg)
{
    (void)arg;
    other_wait_rc = eddy_promise_wait(foreign, NULL);
    other_set_rc = eddy_promise_set(foreign, NULL, 0);
    other_arm_rc = eddy_promise_arm_ts(foreign);
    return 0;
}

static void *run_other_loop(void *arg)
{
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS};
    *(int *)arg = eddy_run_opts(other_loop_main, NULL, &o);
    return NULL;
}

EDDY_TEST_EX(promise_other_loop_refused, .real_clock = true)
{
    eddy_promise p;
    EDDY_OK(eddy_promise_init(&p));
    foreign = &p;
    int run_rc = 1;
    pthread_t tid;
    EDDY_OK(pthread_create(&tid, NULL, run_other_loop, &run_rc));
    EDDY_OK(pthread_join(tid, NULL));
    EDDY_CHECK_EQ(run_rc, 0);
    EDDY_CHECK_EQ(other_wait_rc, -EINVAL);
    EDDY_CHECK_EQ(other_set_rc, -EPERM);
    EDDY_CHECK_EQ(other_arm_rc, -EPERM);
    EDDY_CHECK_EQ(eddy_promise_arm_ts(&p), 0);
    EDDY_OK(eddy_promise_set(&p, NULL, 0));
    return 0;
}

static void *init_without_loop(void *arg)
{
    *(int *)arg = eddy_promise_init(&(eddy_promise){0});
    return NULL;
}

EDDY_TEST_EX(promise_init_without_loop, .real_clock = true)
{
    int rc = 1;
    pthread_t tid;
    EDDY_OK(pthread_create(&tid, NULL, init_without_loop, &rc));
    EDDY_OK(pthread_join(tid, NULL));
    EDDY_CHECK_EQ(rc, -EPERM);
    return 0;
}

/* Regression (found by TSan): the setting thread is still inside eddy_loop_post_ts when the
 * loop delivers, drops the armed ref and tears down. The loop spins on eddy_yield so it sees
 * the post at once; eddy_run must not free the loop under the thread. */
static eddy_promise *race_p;
static pthread_t race_tid;

static void *race_setter(void *arg)
{
    (void)arg;
    if (eddy_promise_set_ts(race_p, NULL, 0)) {
    }
    return NULL;
}

static int race_main(void *arg)
{
    (void)arg;
    eddy_promise p;
    EDDY_OK(eddy_promise_init(&p));
    EDDY_OK(eddy_promise_arm_ts(&p));
    race_p = &p;
    EDDY_OK(pthread_create(&race_tid, NULL, race_setter, NULL));
    while (!eddy_promise_is_set(&p)) EDDY_OK(eddy_yield());
    return 0;
}

EDDY_TEST_EX(promise_set_ts_races_loop_teardown, .raw = true)
{
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    for (int i = 0; i < 150; i++) {
        EDDY_OK(eddy_run_opts(race_main, NULL, &o));
        EDDY_OK(pthread_join(race_tid, NULL));
    }
    return 0;
}
