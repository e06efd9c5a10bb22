/* C3 event and flag, C5 barrier. */
#include "eddy/test.h"

/* ---- event ---- */

typedef struct ew {
    eddy_event *e;
    eddy_flag *f;
    int rc;
    int64_t at;
} ew;

static int event_waiter(void *arg)
{
    ew *w = arg;
    w->rc = eddy_event_wait(w->e);
    w->at = eddy_now();
    return 0;
}

EDDY_TEST(event_wakes_all_waiters_once)
{
    eddy_event e = EDDY_EVENT_INIT(e);
    ew w[3];
    int rc;
    int64_t t0 = eddy_now();
    EDDY_CHECK(!eddy_event_is_set(&e));
    EDDY_NURSERY(nu, &rc) {
        for (int i = 0; i < 3; i++) {
            w[i] = (ew){.e = &e, .rc = 1};
            EDDY_OK(eddy_spawn(nu, event_waiter, &w[i]));
        }
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK_EQ(w[0].rc, 1);
        eddy_event_set(&e);
        eddy_event_set(&e); /* idempotent */
    }
    EDDY_CHECK_EQ(rc, 0);
    for (int i = 0; i < 3; i++) {
        EDDY_CHECK_EQ(w[i].rc, 0);
        EDDY_CHECK_EQ(w[i].at - t0, EDDY_SEC(1));
    }
    EDDY_CHECK(eddy_event_is_set(&e));
    EDDY_OK(eddy_event_wait(&e)); /* already set: at once */
    EDDY_CHECK_EQ(eddy_event_wait(NULL), -EINVAL);
    EDDY_CHECK(!eddy_event_is_set(NULL));
    eddy_event_set(NULL); /* harmless */
    return 0;
}

static int event_wait_move_on(void *arg)
{
    ew *w = arg;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(2)) { w->rc = eddy_event_wait(w->e); }
    return 0;
}

static int event_wait_fail(void *arg)
{
    ew *w = arg;
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { w->rc = eddy_event_wait(w->e); }
    return 0;
}

EDDY_TEST(event_wait_cancelled)
{
    eddy_event e;
    eddy_event_init(&e);
    ew a = {.e = &e, .rc = 1}, b = {.e = &e, .rc = 1}, c = {.e = &e, .rc = 1};
    eddy_task *tc;
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, event_wait_move_on, &a));
        EDDY_OK(eddy_spawn(nu, event_wait_fail, &b));
        EDDY_OK(eddy_spawn(nu, event_waiter, &c, .handle = &tc));
        eddy_task_cancel(tc);
        EDDY_OK(eddy_task_join(tc, NULL));
        EDDY_CHECK_EQ(c.rc, -ECANCELED);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(a.rc, -ECANCELED);
    EDDY_CHECK_EQ(b.rc, -ETIMEDOUT);
    EDDY_CHECK(eddy_event_is_set(&e) == false);
    eddy_event_set(&e); /* no waiter left linked: nothing to touch */
    return 0;
}

typedef struct cbwait {
    eddy_event *e;
    eddy_flag *f;
    int erc, frc;
} cbwait;

static void wait_in_callback(void *arg)
{
    cbwait *c = arg;
    c->erc = eddy_event_wait(c->e);
    c->frc = eddy_flag_wait(c->f);
    eddy_event_set(c->e); /* setting is allowed in callbacks */
}

EDDY_TEST(event_flag_eperm_in_callback)
{
    eddy_event e;
    eddy_flag f;
    eddy_event_init(&e);
    eddy_flag_init(&f);
    cbwait c = {.e = &e, .f = &f};
    EDDY_OK(eddy_call_soon(wait_in_callback, &c));
    EDDY_OK(eddy_event_wait(&e));
    EDDY_CHECK_EQ(c.erc, -EPERM);
    EDDY_CHECK_EQ(c.frc, -EPERM);
    return 0;
}

/* ---- flag ---- */

static int flag_waiter(void *arg)
{
    ew *w = arg;
    w->rc = eddy_flag_wait(w->f);
    w->at = eddy_now();
    return 0;
}

EDDY_TEST(flag_set_clear_wait)
{
    eddy_flag f = EDDY_FLAG_INIT(f);
    ew w = {.f = &f, .rc = 1}, w2 = {.f = &f, .rc = 1};
    int rc;
    int64_t t0 = eddy_now();
    EDDY_CHECK(!eddy_flag_is_set(&f));
    eddy_flag_set(&f);
    EDDY_CHECK(eddy_flag_is_set(&f));
    EDDY_OK(eddy_flag_wait(&f));
    eddy_flag_clear(&f);
    EDDY_CHECK(!eddy_flag_is_set(&f));
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, flag_waiter, &w));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK_EQ(w.rc, 1);
        /* Set and clear before the waiter runs: it is released anyway (no lost wake-up). */
        eddy_flag_set(&f);
        eddy_flag_clear(&f);
        /* A later waiter blocks again until the next set. */
        EDDY_OK(eddy_spawn(nu, flag_waiter, &w2));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK_EQ(w2.rc, 1);
        eddy_flag_set(&f);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(w.rc, 0);
    EDDY_CHECK_EQ(w.at - t0, EDDY_SEC(1));
    EDDY_CHECK_EQ(w2.rc, 0);
    EDDY_CHECK_EQ(w2.at - t0, EDDY_SEC(2));
    EDDY_CHECK_EQ(eddy_flag_wait(NULL), -EINVAL);
    EDDY_CHECK(!eddy_flag_is_set(NULL));
    eddy_flag_set(NULL);
    eddy_flag_clear(NULL);
    return 0;
}

EDDY_TEST(flag_wait_cancelled)
{
    eddy_flag f;
    eddy_flag_init(&f);
    int r = 1;
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { r = eddy_flag_wait(&f); }
    EDDY_CHECK_EQ(r, -ETIMEDOUT);
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { r = eddy_flag_wait(&f); }
    EDDY_CHECK_EQ(r, -ECANCELED);
    eddy_flag_set(&f);
    return 0;
}

/* ---- barrier ---- */

typedef struct bp {
    eddy_barrier *b;
    int rounds;
    int rc[3];
    unsigned idx[3];
    int64_t delay;
    int *shared;
} bp;

static int participant(void *arg)
{
    bp *p = arg;
    for (int r = 0; r < p->rounds; r++) {
        EDDY_OK(eddy_sleep(p->delay));
        p->rc[r] = eddy_barrier_wait(p->b, &p->idx[r]);
        if (p->rc[r] < 0) return 0;
        if (p->idx[r] == p->b->parties - 1) (*p->shared)++; /* the per-cycle work, once */
    }
    return 0;
}

EDDY_TEST(barrier_cycles_and_last_participant)
{
    eddy_barrier b;
    EDDY_CHECK_EQ(eddy_barrier_init(&b, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_barrier_init(NULL, 2), -EINVAL);
    EDDY_OK(eddy_barrier_init(&b, 3));
    bp p[3];
    int shared = 0, rc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(nu, &rc) {
        for (int i = 0; i < 3; i++) {
            p[i] = (bp){.b = &b, .rounds = 3, .delay = EDDY_SEC(i + 1), .shared = &shared};
            EDDY_OK(eddy_spawn(nu, participant, &p[i]));
        }
    }
    EDDY_CHECK_EQ(rc, 0);
    /* Each round waits for the slowest (3 s). */
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(9));
    EDDY_CHECK_EQ(shared, 3);
    EDDY_CHECK_EQ(b.cycles, 3);
    for (int r = 0; r < 3; r++) {
        unsigned seen = 0;
        for (int i = 0; i < 3; i++) {
            EDDY_CHECK_EQ(p[i].rc[r], 0);
            seen |= 1u << p[i].idx[r];
        }
        EDDY_CHECK_EQ(seen, 7); /* indices 0, 1, 2 each once */
        EDDY_CHECK_EQ(p[2].idx[r], 2); /* the slowest arrives last */
    }
    /* n = 1: everyone is last, nobody waits. */
    eddy_barrier one;
    unsigned idx = 9;
    EDDY_OK(eddy_barrier_init(&one, 1));
    EDDY_OK(eddy_barrier_wait(&one, &idx));
    EDDY_CHECK_EQ(idx, 0);
    EDDY_OK(eddy_barrier_wait(&one, NULL));
    EDDY_CHECK_EQ(eddy_barrier_wait(NULL, NULL), -EINVAL);
    return 0;
}

static int barrier_wait_move_on(void *arg)
{
    bp *p = arg;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { p->rc[0] = eddy_barrier_wait(p->b, NULL); }
    return 0;
}

static int barrier_wait_plain(void *arg)
{
    bp *p = arg;
    p->rc[0] = eddy_barrier_wait(p->b, NULL);
    return 0;
}

EDDY_TEST(barrier_breaks_when_waiter_cancelled_and_reset_repairs)
{
    eddy_barrier b;
    EDDY_OK(eddy_barrier_init(&b, 3));
    bp a = {.b = &b, .rc = {1}}, c = {.b = &b, .rc = {1}};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, barrier_wait_plain, &c));
        EDDY_OK(eddy_spawn(nu, barrier_wait_move_on, &a));
        EDDY_CHECK_EQ(b.count, 2);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(a.rc[0], -ECANCELED); /* the cancelled one */
    EDDY_CHECK_EQ(c.rc[0], -EPIPE);     /* the one left waiting */
    EDDY_CHECK(b.broken);
    EDDY_CHECK_EQ(eddy_barrier_wait(&b, NULL), -EPIPE); /* future waiters too */
    eddy_barrier_reset(&b);
    EDDY_CHECK(!b.broken);
    EDDY_CHECK_EQ(b.count, 0);
    /* Repaired: a full cycle passes. */
    bp x = {.b = &b, .rc = {1}}, y = {.b = &b, .rc = {1}};
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, barrier_wait_plain, &x));
        EDDY_OK(eddy_spawn(nu, barrier_wait_plain, &y));
        EDDY_OK(eddy_barrier_wait(&b, NULL));
    }
    EDDY_CHECK_EQ(x.rc[0], 0);
    EDDY_CHECK_EQ(y.rc[0], 0);
    return 0;
}

EDDY_TEST(barrier_task_cancel_and_cancelled_arrival)
{
    eddy_barrier b;
    EDDY_OK(eddy_barrier_init(&b, 3));
    bp a = {.b = &b, .rc = {1}}, c = {.b = &b, .rc = {1}};
    eddy_task *ta;
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, barrier_wait_plain, &c));
        EDDY_OK(eddy_spawn(nu, barrier_wait_plain, &a, .handle = &ta));
        eddy_task_cancel(ta);
        EDDY_OK(eddy_task_join(ta, NULL));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(a.rc[0], -ECANCELED);
    EDDY_CHECK_EQ(c.rc[0], -EPIPE);
    eddy_barrier_reset(&b);
    /* Arriving inside an already cancelled scope breaks it too: that participant is gone. */
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, barrier_wait_plain, &c));
        EDDY_MOVE_ON_AFTER(0) { EDDY_CHECK_EQ(eddy_barrier_wait(&b, NULL), -ECANCELED); }
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(c.rc[0], -EPIPE);
    /* reset while someone waits: that waiter gets -EPIPE, the barrier is usable again. */
    eddy_barrier_reset(&b);
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, barrier_wait_plain, &c));
        eddy_barrier_reset(&b);
    }
    EDDY_CHECK_EQ(c.rc[0], -EPIPE);
    EDDY_CHECK(!b.broken);
    eddy_barrier_reset(NULL);
    return 0;
}

static void barrier_cb(void *arg)
{
    bp *p = arg;
    p->rc[0] = eddy_barrier_wait(p->b, NULL);
}

EDDY_TEST(barrier_eperm_in_callback)
{
    eddy_barrier b;
    EDDY_OK(eddy_barrier_init(&b, 2));
    bp p = {.b = &b, .rc = {1}};
    EDDY_OK(eddy_call_soon(barrier_cb, &p));
    EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
    EDDY_CHECK_EQ(p.rc[0], -EPERM);
    EDDY_CHECK_EQ(b.count, 0);
    return 0;
}
