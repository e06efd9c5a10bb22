/* C6 eddy_queue. */
#include <string.h>

#include "eddy/test.h"

typedef struct {
    eddy_queue *q;
    int value;
    int rc;
    bool done;
    int64_t t_done;
    eddy_cancel_scope *cs;
} qop;

static int putter(void *p)
{
    qop *a = p;
    a->rc = eddy_queue_put(a->q, &a->value);
    a->done = true;
    a->t_done = eddy_now();
    return 0;
}

static int getter(void *p)
{
    qop *a = p;
    a->rc = eddy_queue_get(a->q, &a->value);
    a->done = true;
    a->t_done = eddy_now();
    return 0;
}

static int joiner(void *p)
{
    qop *a = p;
    a->rc = eddy_queue_join(a->q);
    a->done = true;
    a->t_done = eddy_now();
    return 0;
}

static int scoped_putter(void *p)
{
    qop *a = p;
    EDDY_CANCEL_SCOPE(a->cs) { a->rc = eddy_queue_put(a->q, &a->value); }
    a->done = true;
    return 0;
}

static int scoped_getter(void *p)
{
    qop *a = p;
    EDDY_CANCEL_SCOPE(a->cs) { a->rc = eddy_queue_get(a->q, &a->value); }
    a->done = true;
    return 0;
}

static int icmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

EDDY_TEST_EX(queue_init_outside_loop_eperm, .raw = true)
{
    eddy_queue q;
    EDDY_CHECK_EQ(eddy_queue_init(&q, sizeof(int), 4, EDDY_QUEUE_FIFO), -EPERM);
    return 0;
}

EDDY_TEST(queue_init_errors)
{
    eddy_queue q;
    EDDY_CHECK_EQ(eddy_queue_init(NULL, sizeof(int), 4, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_init(&q, 0, 4, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_init(&q, sizeof(int), 0, 0), -EINVAL); /* maxsize is required */
    EDDY_CHECK_EQ(eddy_queue_init(&q, sizeof(int), 4, EDDY_QUEUE_UNBOUNDED), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_init(&q, sizeof(int), 4, 1u << 9), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_init(&q, sizeof(int), 4, EDDY_QUEUE_PRIORITY), -EINVAL); /* no cmp */
    EDDY_CHECK_EQ(eddy_queue_init_priority(&q, sizeof(int), 4, icmp, EDDY_QUEUE_LIFO), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_init_priority(&q, sizeof(int), 4, NULL, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_init(&q, SIZE_MAX / 2, 4, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_destroy(NULL), -EINVAL);
    EDDY_OK(eddy_queue_init(&q, sizeof(int), 4, 0));
    EDDY_OK(eddy_queue_destroy(&q));
    EDDY_CHECK_EQ(eddy_queue_destroy(&q), -EINVAL);
    /* a closed queue rejects everything */
    int v = 0;
    EDDY_CHECK_EQ(eddy_queue_put(&q, &v), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_get(&q, &v), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_try_put(&q, &v), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_try_get(&q, &v), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_task_done(&q), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_join(&q), -EINVAL);
    EDDY_CHECK_EQ(eddy_queue_size(&q), 0);
    return 0;
}

static int queue_leak_main(void *p)
{
    (void)p;
    static eddy_queue q;
    return eddy_queue_init(&q, sizeof(int), 1, 0);
}

EDDY_TEST_EX(queue_unclosed_is_a_leak, .raw = true)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_QUIET};
    EDDY_CHECK_EQ(eddy_run_opts(queue_leak_main, NULL, &o), -ENOTRECOVERABLE);
    return 0;
}

EDDY_TEST(queue_fifo_lifo_order_and_try)
{
    for (int kind = 0; kind < 2; kind++) {
        eddy_queue q;
        EDDY_OK(eddy_queue_init(&q, sizeof(int), 3, kind ? EDDY_QUEUE_LIFO : EDDY_QUEUE_FIFO));
        EDDY_CHECK_EQ(eddy_queue_maxsize(&q), 3);
        int v;
        EDDY_CHECK_EQ(eddy_queue_try_get(&q, &v), -EAGAIN);
        for (int r = 0; r < 3; r++) { /* several rounds: the ring wraps */
            EDDY_OK(eddy_queue_put(&q, &(int){1}));
            EDDY_OK(eddy_queue_try_put(&q, &(int){2}));
            EDDY_OK(eddy_queue_put(&q, &(int){3}));
            EDDY_CHECK_EQ(eddy_queue_try_put(&q, &(int){4}), -EAGAIN);
            EDDY_CHECK_EQ(eddy_queue_size(&q), 3);
            for (int i = 0; i < 3; i++) {
                EDDY_OK(i ? eddy_queue_get(&q, &v) : eddy_queue_try_get(&q, &v));
                EDDY_CHECK_EQ(v, kind ? 3 - i : i + 1);
                EDDY_OK(eddy_queue_task_done(&q));
            }
            EDDY_OK(eddy_queue_put(&q, &(int){9})); /* shift the ring */
            EDDY_OK(eddy_queue_get(&q, &v));
            EDDY_OK(eddy_queue_task_done(&q));
        }
        EDDY_CHECK_EQ(eddy_queue_task_done(&q), -EINVAL);
        EDDY_CHECK_EQ(eddy_queue_put(&q, NULL), -EINVAL);
        EDDY_CHECK_EQ(eddy_queue_get(&q, NULL), -EINVAL);
        EDDY_OK(eddy_queue_destroy(&q));
    }
    return 0;
}

typedef struct {
    int prio;
    int id;
} job;

static int job_cmp(const void *a, const void *b)
{
    const job *x = a, *y = b;
    return (x->prio > y->prio) - (x->prio < y->prio);
}

EDDY_TEST(queue_priority_order_stable)
{
    eddy_queue q;
    EDDY_OK(eddy_queue_init_priority(&q, sizeof(job), 32, job_cmp, 0));
    int prios[] = {5, 1, 3, 1, 5, 0, 3, 3, 9, 1, 2, 7, 0, 4, 4, 8};
    for (int i = 0; i < 16; i++) EDDY_OK(eddy_queue_put(&q, &(job){prios[i], i}));
    job prev = {-1, -1};
    for (int i = 0; i < 16; i++) {
        job j;
        EDDY_OK(eddy_queue_get(&q, &j));
        EDDY_CHECK(j.prio >= prev.prio);
        if (j.prio == prev.prio) EDDY_CHECK(j.id > prev.id); /* equal: put order */
        prev = j;
    }
    EDDY_OK(eddy_queue_destroy(&q));
    /* unbounded priority queue grows and stays ordered */
    EDDY_OK(eddy_queue_init_priority(&q, sizeof(int), 0, icmp, EDDY_QUEUE_UNBOUNDED));
    EDDY_CHECK_EQ(eddy_queue_maxsize(&q), 0);
    for (int i = 0; i < 100; i++) EDDY_OK(eddy_queue_try_put(&q, &(int){(i * 37) % 100}));
    for (int i = 0; i < 100; i++) {
        int v;
        EDDY_OK(eddy_queue_get(&q, &v));
        EDDY_CHECK_EQ(v, i);
    }
    EDDY_OK(eddy_queue_destroy(&q));
    return 0;
}

EDDY_TEST(queue_unbounded_fifo_grows_across_wrap)
{
    eddy_queue q;
    EDDY_OK(eddy_queue_init(&q, sizeof(int), 0, EDDY_QUEUE_UNBOUNDED));
    int next_in = 0, next_out = 0, v;
    for (int i = 0; i < 10; i++, next_in++) EDDY_OK(eddy_queue_put(&q, &next_in));
    for (int i = 0; i < 7; i++) {
        EDDY_OK(eddy_queue_get(&q, &v));
        EDDY_CHECK_EQ(v, next_out++);
    }
    for (int i = 0; i < 200; i++, next_in++) EDDY_OK(eddy_queue_put(&q, &next_in)); /* wraps, grows */
    EDDY_CHECK_EQ(eddy_queue_size(&q), 203);
    while (next_out < next_in) {
        EDDY_OK(eddy_queue_get(&q, &v));
        EDDY_CHECK_EQ(v, next_out++);
    }
    EDDY_OK(eddy_queue_destroy(&q));
    return 0;
}

EDDY_TEST(queue_blocked_putters_and_getters_fifo)
{
    eddy_queue q;
    EDDY_OK(eddy_queue_init(&q, sizeof(int), 1, 0));
    EDDY_OK(eddy_queue_put(&q, &(int){-1}));
    qop p[3];
    int rc, v;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 3; i++) {
            p[i] = (qop){.q = &q, .value = i};
            EDDY_OK(eddy_spawn(n, putter, &p[i]));
            EDDY_CHECK(!p[i].done);
        }
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        for (int i = -1; i < 3; i++) {
            EDDY_OK(eddy_queue_get(&q, &v));
            EDDY_CHECK_EQ(v, i);
        }
    }
    for (int i = 0; i < 3; i++) EDDY_CHECK_EQ(p[i].rc, 0);
    qop g[3];
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 3; i++) {
            g[i] = (qop){.q = &q};
            EDDY_OK(eddy_spawn(n, getter, &g[i]));
        }
        for (int i = 0; i < 3; i++) EDDY_OK(eddy_queue_try_put(&q, &(int){10 + i}));
    }
    for (int i = 0; i < 3; i++) {
        EDDY_CHECK_EQ(g[i].rc, 0);
        EDDY_CHECK_EQ(g[i].value, 10 + i);
    }
    for (int i = 0; i < 7; i++) EDDY_OK(eddy_queue_task_done(&q));
    EDDY_CHECK_EQ(eddy_queue_task_done(&q), -EINVAL);
    EDDY_OK(eddy_queue_destroy(&q));
    return 0;
}

EDDY_TEST(queue_join_task_done)
{
    eddy_queue q;
    EDDY_OK(eddy_queue_init(&q, sizeof(int), 4, 0));
    EDDY_OK(eddy_queue_join(&q)); /* nothing unfinished */
    EDDY_OK(eddy_queue_put(&q, &(int){1}));
    EDDY_OK(eddy_queue_put(&q, &(int){2}));
    qop j = {.q = &q};
    int rc, v;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, joiner, &j));
        EDDY_OK(eddy_queue_get(&q, &v));
        EDDY_OK(eddy_queue_get(&q, &v));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK(!j.done); /* got but not done */
        EDDY_OK(eddy_queue_task_done(&q));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK(!j.done);
        EDDY_OK(eddy_queue_task_done(&q));
    }
    EDDY_CHECK_EQ(j.rc, 0);
    EDDY_CHECK_EQ(j.t_done, EDDY_SEC(2));
    EDDY_CHECK_EQ(eddy_queue_task_done(&q), -EINVAL);
    /* join is a cancellation point */
    EDDY_OK(eddy_queue_put(&q, &(int){3}));
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { EDDY_CHECK_EQ(eddy_queue_join(&q), -ETIMEDOUT); }
    EDDY_OK(eddy_queue_get(&q, &v));
    EDDY_OK(eddy_queue_task_done(&q));
    EDDY_OK(eddy_queue_destroy(&q));
    return 0;
}

EDDY_TEST(queue_shutdown_drains_then_epipe)
{
    eddy_queue q;
    EDDY_OK(eddy_queue_init(&q, sizeof(int), 2, 0));
    EDDY_OK(eddy_queue_put(&q, &(int){1}));
    EDDY_OK(eddy_queue_put(&q, &(int){2}));
    qop p = {.q = &q, .value = 3};
    int rc, v;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, putter, &p)); /* blocked: full */
        eddy_queue_shutdown(&q, false);
    }
    EDDY_CHECK_EQ(p.rc, -EPIPE);
    EDDY_CHECK_EQ(eddy_queue_put(&q, &(int){4}), -EPIPE);
    EDDY_CHECK_EQ(eddy_queue_try_put(&q, &(int){4}), -EPIPE);
    EDDY_OK(eddy_queue_get(&q, &v));
    EDDY_CHECK_EQ(v, 1);
    EDDY_OK(eddy_queue_try_get(&q, &v));
    EDDY_CHECK_EQ(v, 2);
    EDDY_CHECK_EQ(eddy_queue_get(&q, &v), -EPIPE);
    EDDY_CHECK_EQ(eddy_queue_try_get(&q, &v), -EPIPE);
    eddy_queue_shutdown(&q, false); /* idempotent */
    EDDY_OK(eddy_queue_destroy(&q));
    /* blocked getters are woken */
    EDDY_OK(eddy_queue_init(&q, sizeof(int), 2, 0));
    qop g = {.q = &q};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, getter, &g));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        eddy_queue_shutdown(&q, false);
    }
    EDDY_CHECK_EQ(g.rc, -EPIPE);
    EDDY_CHECK_EQ(g.t_done, EDDY_SEC(1));
    EDDY_OK(eddy_queue_destroy(&q));
    return 0;
}

EDDY_TEST(queue_shutdown_immediate)
{
    eddy_queue q;
    EDDY_OK(eddy_queue_init(&q, sizeof(int), 4, 0));
    for (int i = 0; i < 3; i++) EDDY_OK(eddy_queue_put(&q, &i));
    int v, rc;
    EDDY_OK(eddy_queue_get(&q, &v)); /* taken, not done: still unfinished after shutdown */
    qop j = {.q = &q};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, joiner, &j));
        eddy_queue_shutdown(&q, true);
        EDDY_CHECK_EQ(eddy_queue_size(&q), 0);
        EDDY_CHECK_EQ(eddy_queue_get(&q, &v), -EPIPE); /* discarded: -EPIPE at once */
        EDDY_OK(eddy_yield());
        EDDY_CHECK(!j.done);
        EDDY_OK(eddy_queue_task_done(&q)); /* the one we took */
    }
    EDDY_CHECK_EQ(j.rc, 0);
    EDDY_CHECK_EQ(eddy_queue_task_done(&q), -EINVAL);
    EDDY_OK(eddy_queue_destroy(&q));
    /* joiner released at once when every element was discarded; priority storage too */
    EDDY_OK(eddy_queue_init_priority(&q, sizeof(int), 4, icmp, 0));
    for (int i = 0; i < 4; i++) EDDY_OK(eddy_queue_put(&q, &i));
    j = (qop){.q = &q};
    qop p = {.q = &q, .value = 9};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, joiner, &j));
        EDDY_OK(eddy_spawn(n, putter, &p));
        eddy_queue_shutdown(&q, true);
    }
    EDDY_CHECK_EQ(j.rc, 0);
    EDDY_CHECK_EQ(p.rc, -EPIPE);
    EDDY_OK(eddy_queue_destroy(&q));
    return 0;
}

EDDY_TEST(queue_destroy_busy)
{
    eddy_queue q;
    EDDY_OK(eddy_queue_init(&q, sizeof(int), 1, 0));
    qop g = {.q = &q};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, getter, &g));
        EDDY_CHECK_EQ(eddy_queue_destroy(&q), -EBUSY);
        eddy_queue_shutdown(&q, false);
    }
    EDDY_CHECK_EQ(g.rc, -EPIPE);
    EDDY_OK(eddy_queue_destroy(&q));
    return 0;
}

EDDY_TEST(queue_cancel_blocked_put_get)
{
    eddy_queue q;
    EDDY_OK(eddy_queue_init(&q, sizeof(int), 1, 0));
    EDDY_OK(eddy_queue_put(&q, &(int){1}));
    eddy_cancel_scope cs;
    qop p = {.q = &q, .value = 2, .cs = &cs};
    int rc, v;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, scoped_putter, &p));
        eddy_cancel_scope_cancel(&cs);
    }
    EDDY_CHECK_EQ(p.rc, -ECANCELED);
    EDDY_OK(eddy_queue_get(&q, &v));
    EDDY_CHECK_EQ(v, 1);
    EDDY_CHECK_EQ(eddy_queue_try_get(&q, &v), -EAGAIN); /* 2 was not added */
    EDDY_OK(eddy_queue_task_done(&q));
    EDDY_CHECK_EQ(eddy_queue_task_done(&q), -EINVAL); /* and not counted */
    /* served, then cancelled before running: success */
    EDDY_OK(eddy_queue_put(&q, &(int){1}));
    p = (qop){.q = &q, .value = 2, .cs = &cs};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, scoped_putter, &p));
        EDDY_OK(eddy_queue_get(&q, &v));
        eddy_cancel_scope_cancel(&cs);
    }
    EDDY_CHECK_EQ(p.rc, 0);
    EDDY_OK(eddy_queue_get(&q, &v));
    EDDY_CHECK_EQ(v, 2);
    qop g = {.q = &q, .cs = &cs};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, scoped_getter, &g));
        eddy_cancel_scope_cancel(&cs);
        EDDY_OK(eddy_queue_put(&q, &(int){3}));
    }
    EDDY_CHECK_EQ(g.rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_queue_size(&q), 1);
    EDDY_OK(eddy_queue_get(&q, &v));
    EDDY_CHECK_EQ(v, 3);
    for (int i = 0; i < 3; i++) EDDY_OK(eddy_queue_task_done(&q));
    EDDY_OK(eddy_queue_destroy(&q));
    return 0;
}

#define QSEQ_N 300
typedef struct {
    eddy_queue *q;
    int cancels;
    int seen[QSEQ_N];
} qseq;

static int qseq_producer(void *p)
{
    qseq *a = p;
    for (int i = 0; i < QSEQ_N; i++) {
        for (;;) {
            int rc = -1;
            EDDY_MOVE_ON_AFTER(EDDY_MSEC(1 + i % 2)) { rc = eddy_queue_put(a->q, &i); }
            if (rc == 0) break;
            EDDY_CHECK_EQ(rc, -ECANCELED);
            a->cancels++;
        }
    }
    eddy_queue_shutdown(a->q, false);
    return 0;
}

static int qseq_consumer(void *p)
{
    qseq *a = p;
    int expect = 0;
    for (;;) {
        int v = -1, rc = -1;
        EDDY_MOVE_ON_AFTER(EDDY_MSEC(1 + expect % 3)) { rc = eddy_queue_get(a->q, &v); }
        if (rc == -EPIPE) break;
        if (rc == -ECANCELED) {
            a->cancels++;
            continue;
        }
        EDDY_CHECK_EQ(rc, 0);
        EDDY_CHECK_EQ(v, expect);
        a->seen[v]++;
        expect++;
        EDDY_OK(eddy_queue_task_done(a->q));
        if (expect % 4 == 0) EDDY_OK(eddy_sleep(EDDY_MSEC(expect % 7)));
    }
    EDDY_CHECK_EQ(expect, QSEQ_N);
    return 0;
}

EDDY_TEST(queue_cancel_sequence_nothing_lost_or_duplicated)
{
    eddy_queue q;
    EDDY_OK(eddy_queue_init(&q, sizeof(int), 2, 0));
    static qseq a;
    a.q = &q;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, qseq_producer, &a));
        EDDY_OK(eddy_spawn(n, qseq_consumer, &a));
    }
    EDDY_CHECK_EQ(rc, 0);
    for (int i = 0; i < QSEQ_N; i++) EDDY_CHECK_EQ(a.seen[i], 1);
    EDDY_CHECK(a.cancels > 10);
    EDDY_OK(eddy_queue_join(&q));
    EDDY_OK(eddy_queue_destroy(&q));
    return 0;
}

typedef struct {
    eddy_queue *q;
    int rc_put, rc_try, rc_join;
} qcb;

static void queue_cb(void *p)
{
    qcb *a = p;
    a->rc_put = eddy_queue_put(a->q, &(int){5});
    a->rc_join = eddy_queue_join(a->q);
    a->rc_try = eddy_queue_try_put(a->q, &(int){6});
}

EDDY_TEST(queue_blocking_calls_need_a_task)
{
    eddy_queue q;
    EDDY_OK(eddy_queue_init(&q, sizeof(int), 1, 0));
    qcb a = {.q = &q, 1, 1, 1};
    EDDY_OK(eddy_call_soon(queue_cb, &a));
    int got;
    EDDY_OK(eddy_queue_get(&q, &got)); /* the callback's try_put hands off to us */
    EDDY_CHECK_EQ(got, 6);
    EDDY_CHECK_EQ(a.rc_put, -EPERM);
    EDDY_CHECK_EQ(a.rc_join, -EPERM);
    EDDY_CHECK_EQ(a.rc_try, 0);
    EDDY_OK(eddy_queue_task_done(&q));
    eddy_cancel_scope cs;
    int v;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        EDDY_CHECK_EQ(eddy_queue_put(&q, &(int){1}), -ECANCELED); /* could complete: no */
        EDDY_OK(eddy_queue_try_put(&q, &(int){1}));
        EDDY_CHECK_EQ(eddy_queue_get(&q, &v), -ECANCELED);
        EDDY_CHECK_EQ(eddy_queue_join(&q), -ECANCELED);
    }
    EDDY_CHECK_EQ(eddy_queue_size(&q), 1);
    EDDY_OK(eddy_queue_get(&q, &v));
    EDDY_OK(eddy_queue_task_done(&q));
    EDDY_OK(eddy_queue_destroy(&q));
    return 0;
}
