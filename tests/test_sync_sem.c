/* C2: bounded semaphore and capacity limiter. */
#include "eddy/test.h"

/* ---- semaphore ---- */

EDDY_TEST(sem_basic_and_bounds)
{
    eddy_sem s;
    struct eddy_sem_stats st;
    EDDY_CHECK_EQ(eddy_sem_init(&s, 3, 2), -EINVAL); /* initial > max */
    EDDY_CHECK_EQ(eddy_sem_init(&s, 0, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_sem_init(NULL, 0, 1), -EINVAL);
    EDDY_OK(eddy_sem_init(&s, 2, 2));
    EDDY_CHECK_EQ(eddy_sem_release(&s), -EOVERFLOW);
    EDDY_OK(eddy_sem_acquire(&s));
    EDDY_OK(eddy_sem_try_acquire(&s));
    EDDY_CHECK_EQ(eddy_sem_try_acquire(&s), -EAGAIN);
    eddy_sem_stats(&s, &st);
    EDDY_CHECK_EQ(st.value, 0);
    EDDY_CHECK_EQ(st.max, 2);
    EDDY_CHECK_EQ(st.waiters, 0);
    EDDY_CHECK_EQ(st.total_acquired, 2);
    EDDY_OK(eddy_sem_release(&s));
    EDDY_OK(eddy_sem_release(&s));
    EDDY_CHECK_EQ(eddy_sem_release(&s), -EOVERFLOW);
    EDDY_CHECK_EQ(s.value, 2);
    EDDY_CHECK_EQ(eddy_sem_acquire(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_sem_try_acquire(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_sem_release(NULL), -EINVAL);
    eddy_sem_stats(NULL, &st);
    EDDY_CHECK_EQ(st.max, 0);
    return 0;
}

typedef struct semuser {
    eddy_sem *s;
    int id, rc;
    int *log, *n;
} semuser;

static int sem_user(void *arg)
{
    semuser *u = arg;
    u->rc = eddy_sem_acquire(u->s);
    if (u->rc < 0) return 0;
    u->log[(*u->n)++] = u->id;
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    EDDY_OK(eddy_sem_release(u->s));
    return 0;
}

EDDY_TEST(sem_fifo_handoff_and_concurrency_bound)
{
    eddy_sem s;
    EDDY_OK(eddy_sem_init(&s, 2, 2));
    int log[5], n = 0, rc;
    semuser u[5];
    int64_t t0 = eddy_now();
    EDDY_NURSERY(nu, &rc) {
        for (int i = 0; i < 5; i++) {
            u[i] = (semuser){.s = &s, .id = i, .log = log, .n = &n};
            EDDY_OK(eddy_spawn(nu, sem_user, &u[i]));
        }
        EDDY_CHECK_EQ(n, 2);
        EDDY_CHECK_EQ(s.nwaiters, 3);
        EDDY_OK(eddy_sleep(EDDY_MSEC(1500)));
        /* At 1 s two units were handed to waiters 2 and 3 directly: the value stayed 0. */
        EDDY_CHECK_EQ(n, 4);
        EDDY_CHECK_EQ(s.value, 0);
        EDDY_CHECK_EQ(eddy_sem_try_acquire(&s), -EAGAIN);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(3)); /* 5 users, 2 at a time, 1 s each */
    for (int i = 0; i < 5; i++) EDDY_CHECK_EQ(log[i], i);
    struct eddy_sem_stats st;
    eddy_sem_stats(&s, &st);
    EDDY_CHECK_EQ(st.total_acquired, 5);
    EDDY_CHECK_EQ(st.value, 2);
    return 0;
}

static int sem_acquire_move_on(void *arg)
{
    semuser *u = arg;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { u->rc = eddy_sem_acquire(u->s); }
    return 0;
}

static int sem_acquire_once(void *arg)
{
    semuser *u = arg;
    u->rc = eddy_sem_acquire(u->s);
    return 0;
}

EDDY_TEST(sem_acquire_cancelled)
{
    eddy_sem s;
    EDDY_OK(eddy_sem_init(&s, 0, 1));
    semuser a = {.s = &s}, b = {.s = &s, .rc = 1};
    eddy_task *tb;
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, sem_acquire_move_on, &a));
        EDDY_OK(eddy_spawn(nu, sem_acquire_once, &b, .handle = &tb));
        EDDY_CHECK_EQ(s.nwaiters, 2);
        EDDY_OK(eddy_sleep(EDDY_SEC(2)));
        EDDY_CHECK_EQ(a.rc, -ECANCELED);
        EDDY_CHECK_EQ(s.nwaiters, 1);
        eddy_task_cancel(tb);
        EDDY_OK(eddy_task_join(tb, NULL));
        EDDY_CHECK_EQ(b.rc, -ECANCELED);
        EDDY_CHECK_EQ(s.nwaiters, 0);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(s.value, 0); /* nothing was taken or lost */
    EDDY_CHECK_EQ(s.total_acquired, 0);
    EDDY_OK(eddy_sem_release(&s));
    EDDY_CHECK_EQ(s.value, 1);
    return 0;
}

static int cb_acquire_rc = 1;

static void sem_release_cb(void *arg)
{
    cb_acquire_rc = eddy_sem_acquire(arg); /* may not wait in a callback */
    if (eddy_sem_release(arg)) {
    }
}

EDDY_TEST(sem_release_from_callback_and_eperm)
{
    eddy_sem s;
    EDDY_OK(eddy_sem_init(&s, 0, 1));
    EDDY_OK(eddy_call_soon(sem_release_cb, &s));
    EDDY_OK(eddy_sem_acquire(&s)); /* woken by the callback's hand-off */
    EDDY_CHECK_EQ(cb_acquire_rc, -EPERM);
    EDDY_CHECK_EQ(s.value, 0);
    EDDY_CHECK_EQ(s.total_acquired, 1);
    return 0;
}

/* ---- limiter ---- */

EDDY_TEST(limiter_basic_and_borrower_errors)
{
    eddy_limiter l;
    eddy_limiter_token t1, t2, t3;
    struct eddy_limiter_stats st;
    int job_a, job_b;
    EDDY_CHECK_EQ(eddy_limiter_init(&l, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_limiter_init(NULL, 1), -EINVAL);
    EDDY_OK(eddy_limiter_init(&l, 2));
    EDDY_CHECK(!eddy_limiter_holds(&l, NULL));
    EDDY_CHECK_EQ(eddy_limiter_release(&l), -EPERM); /* holds none */
    EDDY_OK(eddy_limiter_acquire(&l, &t1));
    EDDY_CHECK(eddy_limiter_holds(&l, NULL));
    EDDY_CHECK(eddy_limiter_holds(&l, eddy_task_current()));
    EDDY_CHECK_EQ(eddy_limiter_acquire(&l, &t2), -EDEADLK); /* one token per borrower */
    EDDY_CHECK_EQ(eddy_limiter_try_acquire(&l, NULL, &t2), -EDEADLK);
    EDDY_OK(eddy_limiter_acquire_on_behalf_of(&l, &job_a, &t2));
    EDDY_CHECK_EQ(eddy_limiter_acquire_on_behalf_of(&l, &job_a, &t3), -EDEADLK);
    EDDY_CHECK_EQ(eddy_limiter_try_acquire(&l, &job_b, &t3), -EAGAIN); /* full */
    eddy_limiter_stats(&l, &st);
    EDDY_CHECK_EQ(st.total, 2);
    EDDY_CHECK_EQ(st.borrowed, 2);
    EDDY_CHECK_EQ(st.available, 0);
    EDDY_CHECK_EQ(st.waiters, 0);
    EDDY_CHECK_EQ(st.total_acquired, 2);
    EDDY_CHECK_EQ(eddy_limiter_release_on_behalf_of(&l, &job_b), -EPERM);
    EDDY_OK(eddy_limiter_release_on_behalf_of(&l, &job_a));
    EDDY_CHECK_EQ(eddy_limiter_release_on_behalf_of(&l, &job_a), -EPERM); /* twice */
    EDDY_OK(eddy_limiter_try_acquire(&l, &job_b, &t3));
    EDDY_OK(eddy_limiter_release_on_behalf_of(&l, &job_b));
    EDDY_OK(eddy_limiter_release(&l));
    EDDY_CHECK_EQ(eddy_limiter_release(&l), -EPERM);
    EDDY_CHECK_EQ(l.borrowed, 0);
    /* argument errors */
    EDDY_CHECK_EQ(eddy_limiter_acquire(NULL, &t1), -EINVAL);
    EDDY_CHECK_EQ(eddy_limiter_acquire(&l, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_limiter_acquire_on_behalf_of(&l, NULL, &t1), -EINVAL);
    EDDY_CHECK_EQ(eddy_limiter_try_acquire(NULL, &job_a, &t1), -EINVAL);
    EDDY_CHECK_EQ(eddy_limiter_release(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_limiter_release_on_behalf_of(&l, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_limiter_set_total(&l, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_limiter_set_total(NULL, 1), -EINVAL);
    EDDY_CHECK(!eddy_limiter_holds(NULL, &job_a));
    return 0;
}

typedef struct luser {
    eddy_limiter *l;
    eddy_limiter_token tok;
    int id, rc;
    int *log, *n;
} luser;

static int limiter_user(void *arg)
{
    luser *u = arg;
    u->rc = eddy_limiter_acquire(u->l, &u->tok);
    if (u->rc < 0) return 0;
    u->log[(*u->n)++] = u->id;
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    EDDY_OK(eddy_limiter_release(u->l));
    return 0;
}

EDDY_TEST(limiter_fifo_and_set_total)
{
    eddy_limiter l;
    EDDY_OK(eddy_limiter_init(&l, 1));
    int log[4], n = 0, rc;
    luser u[4];
    int64_t t0 = eddy_now();
    EDDY_NURSERY(nu, &rc) {
        for (int i = 0; i < 4; i++) {
            u[i] = (luser){.l = &l, .id = i, .log = log, .n = &n};
            EDDY_OK(eddy_spawn(nu, limiter_user, &u[i]));
        }
        EDDY_CHECK_EQ(n, 1);
        EDDY_CHECK_EQ(l.nwaiters, 3);
        /* A waiting borrower cannot queue a second time. */
        eddy_limiter_token extra;
        EDDY_CHECK_EQ(eddy_limiter_try_acquire(&l, NULL, &extra), -EAGAIN);
        EDDY_OK(eddy_limiter_set_total(&l, 3)); /* raising hands two tokens out now */
        EDDY_CHECK_EQ(l.nwaiters, 1);
        EDDY_CHECK_EQ(l.borrowed, 3);
        EDDY_OK(eddy_sleep(EDDY_MSEC(10)));
        EDDY_CHECK_EQ(n, 3);
        EDDY_OK(eddy_limiter_set_total(&l, 1)); /* lowering takes nothing back */
        EDDY_CHECK_EQ(l.borrowed, 3);
        struct eddy_limiter_stats st;
        eddy_limiter_stats(&l, &st);
        EDDY_CHECK_EQ(st.available, 0);
    }
    EDDY_CHECK_EQ(rc, 0);
    /* 0 and 1,2 ran 0..1 s; the last could start only when borrowed fell below 1: at 1 s
     * all three released, so it ran 1..2 s. */
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(2));
    for (int i = 0; i < 4; i++) EDDY_CHECK_EQ(log[i], i);
    EDDY_CHECK_EQ(l.total_acquired, 4);
    EDDY_CHECK_EQ(l.borrowed, 0);
    return 0;
}

static int limiter_waiter_for(void *arg)
{
    luser *u = arg;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { u->rc = eddy_limiter_acquire_on_behalf_of(u->l, u, &u->tok); }
    return 0;
}

EDDY_TEST(limiter_acquire_cancelled_and_waiting_borrower_deadlk)
{
    eddy_limiter l;
    EDDY_OK(eddy_limiter_init(&l, 1));
    eddy_limiter_token mine, dup;
    luser a = {.l = &l};
    int rc;
    EDDY_OK(eddy_limiter_acquire(&l, &mine));
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, limiter_waiter_for, &a));
        EDDY_CHECK_EQ(l.nwaiters, 1);
        /* a waits on behalf of &a: the same borrower cannot be queued again. */
        EDDY_CHECK_EQ(eddy_limiter_try_acquire(&l, &a, &dup), -EDEADLK);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(a.rc, -ECANCELED);
    EDDY_CHECK_EQ(l.nwaiters, 0);
    EDDY_CHECK_EQ(l.borrowed, 1);
    EDDY_CHECK(!eddy_limiter_holds(&l, &a));
    EDDY_OK(eddy_limiter_release(&l));
    return 0;
}

typedef struct lcb {
    eddy_limiter *l;
    eddy_limiter_token tok;
    int acq, rel, try_cur;
    eddy_event done;
} lcb;

static void limiter_cb(void *arg)
{
    lcb *c = arg;
    c->acq = eddy_limiter_acquire(c->l, &c->tok);
    c->try_cur = eddy_limiter_try_acquire(c->l, NULL, &c->tok);
    c->rel = eddy_limiter_release(c->l);
    eddy_event_set(&c->done);
}

EDDY_TEST(limiter_eperm_in_callback)
{
    eddy_limiter l;
    EDDY_OK(eddy_limiter_init(&l, 1));
    lcb c = {.l = &l};
    eddy_event_init(&c.done);
    EDDY_OK(eddy_call_soon(limiter_cb, &c));
    EDDY_OK(eddy_event_wait(&c.done));
    EDDY_CHECK_EQ(c.acq, -EPERM);
    EDDY_CHECK_EQ(c.try_cur, -EPERM);
    EDDY_CHECK_EQ(c.rel, -EPERM);
    return 0;
}
