/* C9 eddy_uqueue / eddy_uevent: tasks and plain OS threads on the same objects. */
#include <pthread.h>
#include <string.h>

#include "eddy/test.h"

/* ---- single-thread parts (virtual clock) ---- */

EDDY_TEST(uqueue_init_errors)
{
    eddy_uqueue q;
    EDDY_CHECK_EQ(eddy_uqueue_init(NULL, 4, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_uqueue_init(&q, 0, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_uqueue_init(&q, 4, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_uqueue_init(&q, SIZE_MAX / 2, 4), -EINVAL);
    EDDY_CHECK_EQ(eddy_uqueue_destroy(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_uevent_init(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_uevent_destroy(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_uevent_wait(NULL), -EINVAL);
    EDDY_CHECK(!eddy_uevent_is_set(NULL));
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 2));
    int v = 0;
    EDDY_CHECK_EQ(eddy_uqueue_put(NULL, &v), -EINVAL);
    EDDY_CHECK_EQ(eddy_uqueue_put(&q, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_uqueue_get(&q, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_uqueue_try_put(&q, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_uqueue_try_get(NULL, &v), -EINVAL);
    EDDY_OK(eddy_uqueue_destroy(&q));
    EDDY_CHECK_EQ(eddy_uqueue_destroy(&q), -EINVAL);
    EDDY_CHECK_EQ(eddy_uqueue_size(&q), 0);
    return 0;
}

EDDY_TEST(uqueue_try_and_close_single_task)
{
    eddy_uqueue q;
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 2));
    int v;
    EDDY_CHECK_EQ(eddy_uqueue_try_get(&q, &v), -EAGAIN);
    EDDY_OK(eddy_uqueue_put(&q, &(int){1}));
    EDDY_OK(eddy_uqueue_try_put(&q, &(int){2}));
    EDDY_CHECK_EQ(eddy_uqueue_try_put(&q, &(int){3}), -EAGAIN);
    EDDY_CHECK_EQ(eddy_uqueue_size(&q), 2);
    EDDY_OK(eddy_uqueue_get(&q, &v));
    EDDY_CHECK_EQ(v, 1);
    EDDY_OK(eddy_uqueue_put(&q, &(int){3})); /* wraps */
    eddy_uqueue_shutdown(&q);
    eddy_uqueue_shutdown(&q); /* idempotent */
    EDDY_CHECK_EQ(eddy_uqueue_put(&q, &(int){4}), -EPIPE);
    EDDY_CHECK_EQ(eddy_uqueue_try_put(&q, &(int){4}), -EPIPE);
    EDDY_OK(eddy_uqueue_try_get(&q, &v));
    EDDY_CHECK_EQ(v, 2);
    EDDY_OK(eddy_uqueue_get(&q, &v));
    EDDY_CHECK_EQ(v, 3);
    EDDY_CHECK_EQ(eddy_uqueue_get(&q, &v), -EPIPE);
    EDDY_CHECK_EQ(eddy_uqueue_try_get(&q, &v), -EPIPE);
    EDDY_OK(eddy_uqueue_destroy(&q));
    return 0;
}

typedef struct {
    eddy_uqueue *q;
    eddy_uevent *ev;
    int value, rc;
    bool done;
    eddy_cancel_scope *cs;
} uop;

static int task_get(void *p)
{
    uop *a = p;
    if (a->cs) {
        EDDY_CANCEL_SCOPE(a->cs) { a->rc = eddy_uqueue_get(a->q, &a->value); }
    } else {
        a->rc = eddy_uqueue_get(a->q, &a->value);
    }
    a->done = true;
    return 0;
}

static int task_put(void *p)
{
    uop *a = p;
    if (a->cs) {
        EDDY_CANCEL_SCOPE(a->cs) { a->rc = eddy_uqueue_put(a->q, &a->value); }
    } else {
        a->rc = eddy_uqueue_put(a->q, &a->value);
    }
    a->done = true;
    return 0;
}

static int task_ev_wait(void *p)
{
    uop *a = p;
    if (a->cs) {
        EDDY_CANCEL_SCOPE(a->cs) { a->rc = eddy_uevent_wait(a->ev); }
    } else {
        a->rc = eddy_uevent_wait(a->ev);
    }
    a->done = true;
    return 0;
}

EDDY_TEST(uqueue_tasks_same_loop_fifo_and_handoff)
{
    eddy_uqueue q;
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 1));
    uop g[3];
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 3; i++) {
            g[i] = (uop){.q = &q, .value = -1};
            EDDY_OK(eddy_spawn(n, task_get, &g[i]));
        }
        for (int i = 0; i < 3; i++) EDDY_OK(eddy_uqueue_put(&q, &(int){i}));
    }
    for (int i = 0; i < 3; i++) {
        EDDY_CHECK_EQ(g[i].rc, 0);
        EDDY_CHECK_EQ(g[i].value, i);
    }
    EDDY_OK(eddy_uqueue_put(&q, &(int){-1}));
    uop p[3];
    int v;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 3; i++) {
            p[i] = (uop){.q = &q, .value = 10 + i};
            EDDY_OK(eddy_spawn(n, task_put, &p[i]));
        }
        EDDY_OK(eddy_uqueue_get(&q, &v));
        EDDY_CHECK_EQ(v, -1);
        for (int i = 0; i < 3; i++) {
            EDDY_OK(eddy_uqueue_get(&q, &v));
            EDDY_CHECK_EQ(v, 10 + i);
        }
    }
    for (int i = 0; i < 3; i++) EDDY_CHECK_EQ(p[i].rc, 0);
    EDDY_OK(eddy_uqueue_destroy(&q));
    return 0;
}

EDDY_TEST(uqueue_task_cancel_and_close_and_busy)
{
    eddy_uqueue q;
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 1));
    eddy_cancel_scope cs;
    uop g = {.q = &q, .cs = &cs, .value = -1};
    int rc, v;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, task_get, &g));
        EDDY_CHECK_EQ(eddy_uqueue_destroy(&q), -EBUSY);
        eddy_cancel_scope_cancel(&cs);
        EDDY_OK(eddy_uqueue_try_put(&q, &(int){5})); /* not taken by the cancelled getter */
    }
    EDDY_CHECK_EQ(g.rc, -ECANCELED);
    EDDY_CHECK_EQ(g.value, -1);
    EDDY_CHECK_EQ(eddy_uqueue_size(&q), 1);
    /* served and then cancelled before running: success */
    uop p = {.q = &q, .cs = &cs, .value = 6};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, task_put, &p));
        EDDY_OK(eddy_uqueue_get(&q, &v));
        EDDY_CHECK_EQ(v, 5);
        eddy_cancel_scope_cancel(&cs);
    }
    EDDY_CHECK_EQ(p.rc, 0);
    EDDY_OK(eddy_uqueue_get(&q, &v));
    EDDY_CHECK_EQ(v, 6);
    /* close wakes blocked task getters and putters */
    uop g2 = {.q = &q};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, task_get, &g2));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        eddy_uqueue_shutdown(&q);
    }
    EDDY_CHECK_EQ(g2.rc, -EPIPE);
    EDDY_OK(eddy_uqueue_destroy(&q));
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 1));
    EDDY_OK(eddy_uqueue_put(&q, &(int){1}));
    uop p2 = {.q = &q, .value = 2};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, task_put, &p2));
        eddy_uqueue_shutdown(&q);
    }
    EDDY_CHECK_EQ(p2.rc, -EPIPE);
    EDDY_OK(eddy_uqueue_get(&q, &v));
    EDDY_CHECK_EQ(v, 1);
    EDDY_CHECK_EQ(eddy_uqueue_get(&q, &v), -EPIPE);
    /* precancelled: nothing happens even though it could */
    EDDY_FAIL_AT(eddy_now()) {
        EDDY_CHECK_EQ(eddy_uqueue_get(&q, &v), -ETIMEDOUT);
        EDDY_CHECK_EQ(eddy_uqueue_put(&q, &v), -ETIMEDOUT);
    }
    EDDY_OK(eddy_uqueue_destroy(&q));
    return 0;
}

EDDY_TEST(uevent_tasks)
{
    eddy_uevent ev;
    EDDY_OK(eddy_uevent_init(&ev));
    EDDY_CHECK(!eddy_uevent_is_set(&ev));
    eddy_cancel_scope cs;
    uop a = {.ev = &ev}, b = {.ev = &ev}, c = {.ev = &ev, .cs = &cs};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, task_ev_wait, &a));
        EDDY_OK(eddy_spawn(n, task_ev_wait, &b));
        EDDY_OK(eddy_spawn(n, task_ev_wait, &c));
        EDDY_CHECK_EQ(eddy_uevent_destroy(&ev), -EBUSY);
        eddy_cancel_scope_cancel(&cs);
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK(c.done && !a.done && !b.done);
        eddy_uevent_set(&ev);
        eddy_uevent_set(&ev);
    }
    EDDY_CHECK_EQ(a.rc, 0);
    EDDY_CHECK_EQ(b.rc, 0);
    EDDY_CHECK_EQ(c.rc, -ECANCELED);
    EDDY_CHECK(eddy_uevent_is_set(&ev));
    EDDY_OK(eddy_uevent_wait(&ev)); /* already set */
    EDDY_OK(eddy_uevent_destroy(&ev));
    return 0;
}

typedef struct {
    eddy_uqueue *q;
    eddy_uevent *ev;
    int rc_get, rc_put, rc_wait, rc_try;
} ucb;

static void uq_callback(void *p)
{
    ucb *a = p;
    int v;
    a->rc_get = eddy_uqueue_get(a->q, &v);
    a->rc_put = eddy_uqueue_put(a->q, &v);
    a->rc_wait = eddy_uevent_wait(a->ev);
    a->rc_try = eddy_uqueue_try_put(a->q, &(int){7});
    eddy_uevent_set(a->ev);
}

EDDY_TEST(uqueue_callback_context_eperm)
{
    eddy_uqueue q;
    eddy_uevent ev;
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 1));
    EDDY_OK(eddy_uevent_init(&ev));
    ucb a = {.q = &q, .ev = &ev};
    EDDY_OK(eddy_call_soon(uq_callback, &a));
    EDDY_OK(eddy_uevent_wait(&ev));
    EDDY_CHECK_EQ(a.rc_get, -EPERM);
    EDDY_CHECK_EQ(a.rc_put, -EPERM);
    EDDY_CHECK_EQ(a.rc_wait, -EPERM);
    EDDY_CHECK_EQ(a.rc_try, 0);
    int v;
    EDDY_OK(eddy_uqueue_get(&q, &v));
    EDDY_CHECK_EQ(v, 7);
    EDDY_OK(eddy_uqueue_destroy(&q));
    EDDY_OK(eddy_uevent_destroy(&ev));
    return 0;
}

/* ---- with real OS threads ---- */

#define N_ITEMS 5000

typedef struct {
    eddy_uqueue *q;
    eddy_uevent *done;
    int from, count;
    long sum;
    int rc;
} thr_arg;

static void *thread_producer(void *p)
{
    thr_arg *a = p;
    for (int i = a->from; i < a->from + a->count; i++) {
        int rc = eddy_uqueue_put(a->q, &i);
        if (rc) {
            a->rc = rc;
            break;
        }
    }
    if (a->done) eddy_uevent_set(a->done);
    return NULL;
}

/* Gets in order (single consumer) until -EPIPE; checks the sequence. */
static void *thread_consumer(void *p)
{
    thr_arg *a = p;
    int expect = a->from, v, rc;
    while ((rc = eddy_uqueue_get(a->q, &v)) == 0) {
        if (v != expect) {
            a->rc = -EILSEQ;
            break;
        }
        expect++;
        a->sum += v;
    }
    a->count = expect - a->from;
    if (a->done) eddy_uevent_set(a->done);
    if (!a->rc && rc != -EPIPE) a->rc = rc;
    return NULL;
}

EDDY_TEST_EX(uqueue_thread_to_task, .real_clock = true)
{
    eddy_uqueue q;
    eddy_uevent done;
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 4));
    EDDY_OK(eddy_uevent_init(&done));
    thr_arg a = {.q = &q, .done = &done, .from = 0, .count = N_ITEMS};
    pthread_t th;
    EDDY_OK(pthread_create(&th, NULL, thread_producer, &a));
    for (int i = 0; i < N_ITEMS; i++) {
        int v;
        EDDY_OK(eddy_uqueue_get(&q, &v));
        EDDY_CHECK_EQ(v, i);
    }
    EDDY_OK(eddy_uevent_wait(&done));
    EDDY_OK(pthread_join(th, NULL));
    EDDY_CHECK_EQ(a.rc, 0);
    EDDY_OK(eddy_uqueue_destroy(&q));
    EDDY_OK(eddy_uevent_destroy(&done));
    return 0;
}

EDDY_TEST_EX(uqueue_task_to_thread_and_close, .real_clock = true)
{
    eddy_uqueue q;
    eddy_uevent done;
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 3));
    EDDY_OK(eddy_uevent_init(&done));
    thr_arg a = {.q = &q, .done = &done, .from = 0};
    pthread_t th;
    EDDY_OK(pthread_create(&th, NULL, thread_consumer, &a));
    for (int i = 0; i < N_ITEMS; i++) EDDY_OK(eddy_uqueue_put(&q, &i));
    eddy_uqueue_shutdown(&q); /* the thread drains, then gets -EPIPE */
    EDDY_OK(eddy_uevent_wait(&done));
    EDDY_OK(pthread_join(th, NULL));
    EDDY_CHECK_EQ(a.rc, 0);
    EDDY_CHECK_EQ(a.count, N_ITEMS);
    EDDY_OK(eddy_uqueue_destroy(&q));
    EDDY_OK(eddy_uevent_destroy(&done));
    return 0;
}

static void *thread_close_later(void *p)
{
    thr_arg *a = p;
    int rc = eddy_uevent_wait(a->done); /* a plain thread blocks on the condvar */
    a->rc = rc;
    eddy_uqueue_shutdown(a->q);
    return NULL;
}

EDDY_TEST_EX(uqueue_thread_close_wakes_task_and_thread_waits_event, .real_clock = true)
{
    eddy_uqueue q;
    eddy_uevent go;
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 1));
    EDDY_OK(eddy_uevent_init(&go));
    thr_arg a = {.q = &q, .done = &go, .rc = 1};
    pthread_t th;
    EDDY_OK(pthread_create(&th, NULL, thread_close_later, &a));
    eddy_uevent_set(&go); /* task sets, thread wakes and closes */
    int v;
    EDDY_CHECK_EQ(eddy_uqueue_get(&q, &v), -EPIPE); /* the task blocks until the thread closes */
    EDDY_OK(pthread_join(th, NULL));
    EDDY_CHECK_EQ(a.rc, 0);
    EDDY_OK(eddy_uqueue_destroy(&q));
    EDDY_OK(eddy_uevent_destroy(&go));
    return 0;
}

/* A task gets with a very short deadline on each try while a thread produces: many gets are
 * cancelled, some of them racing with the thread's hand-off. Every number must arrive exactly
 * once and in order. Then the reverse: task puts with short deadlines, thread consumes. */
EDDY_TEST_EX(uqueue_cancel_race_with_threads, .real_clock = true)
{
    eddy_uqueue q;
    eddy_uevent done;
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 2));
    EDDY_OK(eddy_uevent_init(&done));
    thr_arg a = {.q = &q, .done = &done, .from = 0, .count = N_ITEMS};
    pthread_t th;
    EDDY_OK(pthread_create(&th, NULL, thread_producer, &a));
    int cancels = 0;
    for (int i = 0; i < N_ITEMS;) {
        int v = -1, rc = -1;
        /* every 7th try waits without a deadline, so the loop always makes progress */
        EDDY_MOVE_ON_AFTER(i % 7 ? EDDY_USEC(i % 7) : EDDY_FOREVER) { rc = eddy_uqueue_get(&q, &v); }
        if (rc == -ECANCELED) {
            cancels++;
            continue;
        }
        EDDY_OK(rc);
        EDDY_CHECK_EQ(v, i);
        i++;
    }
    EDDY_OK(eddy_uevent_wait(&done));
    EDDY_OK(pthread_join(th, NULL));
    EDDY_CHECK_EQ(a.rc, 0);
    EDDY_CHECK_EQ(eddy_uqueue_size(&q), 0);

    eddy_uevent done2;
    EDDY_OK(eddy_uevent_init(&done2));
    thr_arg b = {.q = &q, .done = &done2, .from = 0};
    EDDY_OK(pthread_create(&th, NULL, thread_consumer, &b));
    for (int i = 0; i < N_ITEMS;) {
        int rc = -1;
        EDDY_MOVE_ON_AFTER(i % 5 ? EDDY_USEC(i % 5) : EDDY_FOREVER) { rc = eddy_uqueue_put(&q, &i); }
        if (rc == -ECANCELED) {
            cancels++;
            continue;
        }
        EDDY_OK(rc);
        i++;
    }
    eddy_uqueue_shutdown(&q);
    EDDY_OK(eddy_uevent_wait(&done2));
    EDDY_OK(pthread_join(th, NULL));
    EDDY_CHECK_EQ(b.rc, 0);
    EDDY_CHECK_EQ(b.count, N_ITEMS);
    printf("# %d cancelled operations\n", cancels);
    EDDY_OK(eddy_uqueue_destroy(&q));
    EDDY_OK(eddy_uevent_destroy(&done));
    EDDY_OK(eddy_uevent_destroy(&done2));
    return 0;
}

/* Several producer threads and consumer tasks plus a consumer thread on one queue. */
#define MIX_PRODUCERS 3
#define MIX_PER 5000

typedef struct {
    eddy_uqueue *q;
    long sum;
    int count;
} mix_consumer;

static int mix_task_consumer(void *p)
{
    mix_consumer *c = p;
    int v, rc;
    while ((rc = eddy_uqueue_get(c->q, &v)) == 0) {
        c->sum += v;
        c->count++;
        if (c->count % 64 == 0) EDDY_OK(eddy_yield());
    }
    return rc == -EPIPE ? 0 : rc;
}

static void *mix_thread_consumer(void *p)
{
    mix_consumer *c = p;
    int v;
    while (eddy_uqueue_get(c->q, &v) == 0) {
        c->sum += v;
        c->count++;
    }
    return NULL;
}

EDDY_TEST_EX(uqueue_many_threads_and_tasks, .real_clock = true)
{
    eddy_uqueue q;
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 8));
    pthread_t prod[MIX_PRODUCERS], cons;
    thr_arg pa[MIX_PRODUCERS];
    mix_consumer tc[2] = {{.q = &q}, {.q = &q}}, thc = {.q = &q};
    EDDY_OK(pthread_create(&cons, NULL, mix_thread_consumer, &thc));
    for (int i = 0; i < MIX_PRODUCERS; i++) {
        pa[i] = (thr_arg){.q = &q, .from = i * MIX_PER, .count = MIX_PER};
        EDDY_OK(pthread_create(&prod[i], NULL, thread_producer, &pa[i]));
    }
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, mix_task_consumer, &tc[0]));
        EDDY_OK(eddy_spawn(n, mix_task_consumer, &tc[1]));
        /* the main task also produces */
        for (int i = 0; i < MIX_PER; i++) EDDY_OK(eddy_uqueue_put(&q, &(int){MIX_PRODUCERS * MIX_PER + i}));
        /* joining a producer blocks the loop briefly: they only need the consumers, and the
         * thread consumer keeps draining even while the loop is blocked */
        for (int i = 0; i < MIX_PRODUCERS; i++) EDDY_OK(pthread_join(prod[i], NULL));
        eddy_uqueue_shutdown(&q);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_OK(pthread_join(cons, NULL));
    long total = (long)(MIX_PRODUCERS + 1) * MIX_PER;
    EDDY_CHECK_EQ(tc[0].count + tc[1].count + thc.count, total);
    EDDY_CHECK_EQ(tc[0].sum + tc[1].sum + thc.sum, total * (total - 1) / 2);
    for (int i = 0; i < MIX_PRODUCERS; i++) EDDY_CHECK_EQ(pa[i].rc, 0);
    EDDY_OK(eddy_uqueue_destroy(&q));
    return 0;
}

/* Tasks on two loops (two OS threads each running eddy_run) talk through one uqueue. */
static eddy_uqueue xq;

static int loop_b_main(void *p)
{
    (void)p;
    long sum = 0;
    int v, rc, n = 0;
    while ((rc = eddy_uqueue_get(&xq, &v)) == 0) {
        sum += v;
        n++;
    }
    return (rc == -EPIPE && n == N_ITEMS && sum == (long)N_ITEMS * (N_ITEMS - 1) / 2) ? 0 : -EILSEQ;
}

static void *loop_b_thread(void *p)
{
    *(int *)p = eddy_run(loop_b_main, NULL);
    return NULL;
}

EDDY_TEST_EX(uqueue_between_two_loops, .real_clock = true)
{
    EDDY_OK(eddy_uqueue_init(&xq, sizeof(int), 4));
    int brc = 1;
    pthread_t th;
    EDDY_OK(pthread_create(&th, NULL, loop_b_thread, &brc));
    for (int i = 0; i < N_ITEMS; i++) EDDY_OK(eddy_uqueue_put(&xq, &i));
    eddy_uqueue_shutdown(&xq);
    EDDY_OK(pthread_join(th, NULL));
    EDDY_CHECK_EQ(brc, 0);
    EDDY_OK(eddy_uqueue_destroy(&xq));
    return 0;
}

/* Deterministic version of the race above: a plain thread serves a blocked task (the element
 * is copied and the wake-up posted to the loop), then the task's scope is cancelled before
 * the posted wake-up runs. The operation happened, so the task must report success. */
static void *thread_put_one(void *p)
{
    thr_arg *a = p;
    a->rc = eddy_uqueue_put(a->q, &a->from);
    return NULL;
}

static void *thread_get_one(void *p)
{
    thr_arg *a = p;
    a->rc = eddy_uqueue_get(a->q, &a->from);
    return NULL;
}

static void *thread_set_event(void *p)
{
    eddy_uevent_set(p);
    return NULL;
}

EDDY_TEST_EX(uqueue_served_by_thread_then_cancelled_reports_success, .real_clock = true)
{
    eddy_uqueue q;
    EDDY_OK(eddy_uqueue_init(&q, sizeof(int), 1));
    eddy_cancel_scope cs;
    uop g = {.q = &q, .cs = &cs, .value = -1};
    thr_arg a = {.q = &q, .from = 77, .rc = 1};
    pthread_t th;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, task_get, &g)); /* blocks: empty */
        EDDY_OK(pthread_create(&th, NULL, thread_put_one, &a));
        EDDY_OK(pthread_join(th, NULL)); /* served: DONE, wake-up posted, not yet run */
        EDDY_CHECK_EQ(a.rc, 0);
        eddy_cancel_scope_cancel(&cs);
    }
    EDDY_CHECK_EQ(g.rc, 0);
    EDDY_CHECK_EQ(g.value, 77);
    EDDY_CHECK_EQ(eddy_uqueue_size(&q), 0);
    /* the same for a blocked putter served by a thread's get */
    EDDY_OK(eddy_uqueue_put(&q, &(int){1}));
    uop p = {.q = &q, .cs = &cs, .value = 2};
    a = (thr_arg){.q = &q, .from = -1, .rc = 1};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, task_put, &p)); /* blocks: full */
        EDDY_OK(pthread_create(&th, NULL, thread_get_one, &a));
        EDDY_OK(pthread_join(th, NULL));
        EDDY_CHECK_EQ(a.rc, 0);
        EDDY_CHECK_EQ(a.from, 1);
        eddy_cancel_scope_cancel(&cs);
    }
    EDDY_CHECK_EQ(p.rc, 0);
    int v;
    EDDY_OK(eddy_uqueue_try_get(&q, &v));
    EDDY_CHECK_EQ(v, 2);
    /* and an event set by a thread */
    eddy_uevent ev;
    EDDY_OK(eddy_uevent_init(&ev));
    uop w = {.ev = &ev, .cs = &cs};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, task_ev_wait, &w));
        EDDY_OK(pthread_create(&th, NULL, thread_set_event, &ev));
        EDDY_OK(pthread_join(th, NULL));
        eddy_cancel_scope_cancel(&cs);
    }
    EDDY_CHECK_EQ(w.rc, 0);
    EDDY_OK(eddy_uevent_destroy(&ev));
    EDDY_OK(eddy_uqueue_destroy(&q));
    return 0;
}
