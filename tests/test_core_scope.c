/* Core tests: cancel scopes, deadlines, shields (B3-B7), task cancel, scope misuse, and the
 * asyncio cancellation races as conformance tests (docs/capabilities.md, guarantee
 * "cancellation cannot be swallowed or raced"). */
#include <fcntl.h>

#include "test_core_util.h"

EDDY_TEST(move_on_and_fail_after_relative)
{
    int64_t t0 = eddy_now();
    int rc = 1;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(2)) { rc = eddy_sleep(EDDY_SEC(10)); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(2));
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { rc = eddy_sleep(EDDY_SEC(10)); }
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(3));
    /* finishing in time leaves the block normally */
    EDDY_FAIL_AFTER(EDDY_SEC(5)) { rc = eddy_sleep(EDDY_SEC(1)); }
    EDDY_CHECK_EQ(rc, 0);
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs, .timeout = EDDY_SEC(5)) { EDDY_OK(eddy_sleep(EDDY_SEC(1))); }
    EDDY_CHECK(!cs.cancelled_caught && !cs.cancel_called);
    EDDY_CANCEL_SCOPE(&cs, .timeout = EDDY_SEC(1)) { rc = eddy_sleep(EDDY_SEC(5)); }
    EDDY_CHECK(cs.cancelled_caught && cs.cancel_called);
    /* a huge timeout does not overflow into the past (negative ones: see
     * bad_block_scope_options_abort_with_site) */
    EDDY_MOVE_ON_AFTER(INT64_MAX - 1) { EDDY_OK(eddy_sleep(EDDY_SEC(1))); }
    int64_t t1 = eddy_now();
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { rc = eddy_sleep(INT64_MAX); } /* "forever", cancellable */
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t1, EDDY_SEC(1));
    EDDY_MOVE_ON_AFTER(0) { EDDY_CHECK_EQ(eddy_yield(), -ECANCELED); } /* 0: expired, as trio */
    EDDY_MOVE_ON_AFTER(EDDY_FOREVER) { EDDY_OK(eddy_yield()); } /* no timeout */
    return 0;
}

EDDY_TEST(move_on_and_fail_at_absolute)
{
    int rc = 1;
    EDDY_MOVE_ON_AT(EDDY_SEC(3)) { rc = eddy_sleep(EDDY_SEC(10)); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(3));
    EDDY_FAIL_AT(EDDY_SEC(4)) { rc = eddy_sleep_until(EDDY_SEC(100)); }
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(4));
    /* a deadline already passed: calls fail at once, without blocking */
    EDDY_FAIL_AT(EDDY_SEC(1)) { rc = eddy_sleep(EDDY_SEC(1)); }
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(4));
    /* deadline and timeout both given: the earlier wins */
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs, .deadline = EDDY_SEC(10), .timeout = EDDY_SEC(2)) {
        EDDY_CHECK_EQ(cs.deadline, EDDY_SEC(6));
        rc = eddy_sleep(EDDY_SEC(100));
    }
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(6));
    EDDY_CANCEL_SCOPE(&cs, .deadline = EDDY_SEC(7), .timeout = EDDY_SEC(2)) { rc = eddy_sleep(EDDY_SEC(100)); }
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(7));
    return 0;
}

static int wait_cancel_child(void *arg)
{
    int *out = arg;
    *out = eddy_sleep(EDDY_SEC(100));
    return 0;
}

EDDY_TEST(cancellation_is_level_triggered)
{
    int p[2];
    EDDY_OK(pipe(p));
    eddy_cancel_scope cs;
    int child_rc = 1;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        eddy_cancel_scope_cancel(&cs); /* idempotent */
        for (int i = 0; i < 3; i++) {
            EDDY_CHECK_EQ(eddy_sleep(EDDY_SEC(1)), -ECANCELED);
            EDDY_CHECK_EQ(eddy_sleep(0), -ECANCELED);
            EDDY_CHECK_EQ(eddy_sleep_until(0), -ECANCELED);
            EDDY_CHECK_EQ(eddy_yield(), -ECANCELED);
            EDDY_CHECK_EQ(eddy_checkpoint_if_cancelled(), -ECANCELED);
            EDDY_CHECK_EQ(eddy_sleep_forever(), -ECANCELED);
            EDDY_CHECK_EQ(eddy_wait_fd(p[0], EDDY_READ), -ECANCELED);
            /* nested non-shielded scopes and nurseries see it too */
            EDDY_MOVE_ON_AFTER(EDDY_SEC(100)) { EDDY_CHECK_EQ(eddy_yield(), -ECANCELED); }
            int rc;
            EDDY_NURSERY(n, &rc) {
                EDDY_OK(eddy_spawn(n, wait_cancel_child, &child_rc));
                EDDY_CHECK_EQ(child_rc, -ECANCELED);
            }
            EDDY_CHECK_EQ(rc, 0); /* cancelled children are not failures */
        }
        EDDY_CHECK_EQ(eddy_now(), 0); /* nothing ever blocked */
    }
    EDDY_CHECK(cs.cancelled_caught);
    EDDY_OK(eddy_yield());
    EDDY_OK(eddy_sleep(1));
    close(p[0]);
    close(p[1]);
    return 0;
}

EDDY_TEST(nested_scopes_which_code_wins)
{
    int rc = 1;
    /* the scope whose deadline passes first decides */
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) {
        EDDY_FAIL_AFTER(EDDY_SEC(2)) { rc = eddy_sleep(EDDY_SEC(10)); }
    }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_MOVE_ON_AFTER(EDDY_SEC(2)) {
        EDDY_FAIL_AFTER(EDDY_SEC(1)) { rc = eddy_sleep(EDDY_SEC(10)); }
        /* left the expired inner scope: the outer one is still running */
        EDDY_OK(eddy_sleep(EDDY_SEC(0.5)));
        rc = eddy_sleep(EDDY_SEC(10));
    }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    /* both cancelled at once: the innermost cancelled scope's code is returned (documented) */
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) {
        EDDY_FAIL_AFTER(EDDY_SEC(1)) { rc = eddy_sleep(EDDY_SEC(10)); }
    }
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    eddy_cancel_scope outer;
    EDDY_CANCEL_SCOPE(&outer) {
        EDDY_FAIL_AFTER(EDDY_SEC(1)) {
            eddy_cancel_scope_cancel(&outer);
            rc = eddy_sleep(EDDY_SEC(10));
        }
    }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    return 0;
}

EDDY_TEST(shield_blocks_outer_cancel_within_grace)
{
    eddy_cancel_scope outer;
    int a = 1, b = 1, c = 1, d = 1;
    int64_t t0 = eddy_now();
    EDDY_CANCEL_SCOPE(&outer) {
        eddy_cancel_scope_cancel(&outer);
        EDDY_SHIELD(EDDY_SEC(5)) {
            a = eddy_sleep(EDDY_SEC(1));         /* cleanup work completes */
            EDDY_CHECK_EQ(eddy_effective_deadline(), t0 + EDDY_SEC(5));
            b = eddy_sleep(EDDY_SEC(10));        /* but is bounded by the grace deadline */
            c = eddy_yield();                    /* level-triggered in the shield as well */
        }
        d = eddy_yield(); /* outside the shield the outer cancellation is still in force */
    }
    EDDY_CHECK_EQ(a, 0);
    EDDY_CHECK_EQ(b, -ETIMEDOUT);
    EDDY_CHECK_EQ(c, -ETIMEDOUT);
    EDDY_CHECK_EQ(d, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5));
    /* a shield needs a deadline */
    eddy_cancel_scope s;
    EDDY_CHECK_EQ(eddy_cancel_scope_enter(&s, .shield = true), -EINVAL);
    EDDY_CHECK_EQ(eddy_cancel_scope_enter(&s, .shield = true, .timeout = EDDY_FOREVER), -EINVAL);
    EDDY_CHECK_EQ(eddy_cancel_scope_enter(NULL), -EINVAL);
    EDDY_OK(eddy_cancel_scope_enter(&s, .shield = true, .deadline = EDDY_FOREVER - 1));
    EDDY_CHECK(eddy_cancel_scope_current() == &s);
    eddy_cancel_scope_exit(&s);
    EDDY_CHECK(eddy_cancel_scope_current() != &s);
    /* the function forms of the site-recording macros */
    EDDY_OK(eddy_cancel_scope_enter(&s));
    (eddy_cancel_scope_exit)(&s);
    eddy_nursery n;
    EDDY_OK(eddy_nursery_open(&n));
    EDDY_OK((eddy_nursery_close)(&n));
    EDDY_CHECK_EQ((eddy_nursery_close)(&n), -EINVAL);
    return 0;
}

static int shielded_child(void *arg)
{
    int *out = arg;
    int rc = eddy_sleep(EDDY_SEC(100));
    if (rc != -ECANCELED) return -EPROTO;
    EDDY_SHIELD(EDDY_SEC(3)) { out[0] = eddy_sleep(EDDY_SEC(2)); }
    out[1] = eddy_sleep(1);
    return rc;
}

EDDY_TEST(shield_in_cancelled_child)
{
    int out[2] = {1, 1}, rc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, shielded_child, out));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        eddy_nursery_cancel(n);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(out[0], 0);
    EDDY_CHECK_EQ(out[1], -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(3));
    return 0;
}

EDDY_TEST(effective_deadline)
{
    EDDY_CHECK_EQ(eddy_effective_deadline(), EDDY_FOREVER);
    EDDY_MOVE_ON_AT(EDDY_SEC(10)) {
        EDDY_CHECK_EQ(eddy_effective_deadline(), EDDY_SEC(10));
        EDDY_FAIL_AT(EDDY_SEC(20)) { EDDY_CHECK_EQ(eddy_effective_deadline(), EDDY_SEC(10)); }
        EDDY_FAIL_AT(EDDY_SEC(5)) { EDDY_CHECK_EQ(eddy_effective_deadline(), EDDY_SEC(5)); }
        EDDY_SHIELD(EDDY_SEC(30)) { EDDY_CHECK_EQ(eddy_effective_deadline(), EDDY_SEC(30)); }
        eddy_cancel_scope cs;
        EDDY_CANCEL_SCOPE(&cs) {
            EDDY_OK(eddy_sleep(EDDY_SEC(1)));
            eddy_cancel_scope_cancel(&cs);
            EDDY_CHECK(eddy_effective_deadline() <= eddy_now());
        }
    }
    return 0;
}

typedef struct blocked {
    eddy_cancel_scope cs;
    int64_t deadline;
    int rc;
    int64_t woke_at;
    bool entered;
} blocked;

static int block_in_scope(void *arg)
{
    blocked *b = arg;
    EDDY_CANCEL_SCOPE(&b->cs, .deadline = b->deadline) {
        b->entered = true;
        b->rc = eddy_sleep(EDDY_SEC(1000));
        b->woke_at = eddy_now();
    }
    return 0;
}

EDDY_TEST(set_deadline_while_blocked_and_cancel_from_other_task)
{
    blocked shorten = {.deadline = EDDY_SEC(10)}, extend = {.deadline = EDDY_SEC(2)},
            remove = {.deadline = EDDY_SEC(3)}, past = {.deadline = EDDY_SEC(50)},
            other = {.deadline = EDDY_FOREVER};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, block_in_scope, &shorten));
        EDDY_OK(eddy_spawn(n, block_in_scope, &extend));
        EDDY_OK(eddy_spawn(n, block_in_scope, &remove));
        EDDY_OK(eddy_spawn(n, block_in_scope, &past));
        EDDY_OK(eddy_spawn(n, block_in_scope, &other));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        eddy_cancel_scope_set_deadline(&shorten.cs, EDDY_SEC(4));
        eddy_cancel_scope_set_deadline(&extend.cs, EDDY_SEC(6));
        eddy_cancel_scope_set_deadline(&remove.cs, EDDY_FOREVER);
        eddy_cancel_scope_set_deadline(&past.cs, EDDY_SEC(1)); /* already passed: now */
        eddy_cancel_scope_set_deadline(NULL, 5);                /* no-op */
        EDDY_OK(eddy_sleep(EDDY_SEC(7)));
        EDDY_CHECK_EQ(remove.woke_at, 0); /* still blocked */
        eddy_cancel_scope_cancel(&remove.cs); /* cancel a scope entered by another task */
        eddy_cancel_scope_cancel(&other.cs);
        eddy_cancel_scope_cancel(NULL);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(shorten.woke_at, EDDY_SEC(4));
    EDDY_CHECK_EQ(extend.woke_at, EDDY_SEC(6));
    EDDY_CHECK_EQ(past.woke_at, EDDY_SEC(1));
    EDDY_CHECK_EQ(remove.woke_at, EDDY_SEC(8));
    EDDY_CHECK_EQ(other.woke_at, EDDY_SEC(8));
    blocked *all[] = {&shorten, &extend, &remove, &past, &other};
    for (int i = 0; i < 5; i++) {
        EDDY_CHECK_EQ(all[i]->rc, -ECANCELED);
        EDDY_CHECK(all[i]->cs.cancelled_caught);
    }
    return 0;
}

static int grandchild(void *arg)
{
    int *rc = arg;
    *rc = eddy_sleep(EDDY_SEC(100));
    return *rc;
}

static int cancellable_parent(void *arg)
{
    int *rcs = arg;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, grandchild, &rcs[0]));
        rcs[1] = eddy_sleep(EDDY_SEC(100));
    }
    return rcs[1];
}

static int ret_zero_after_1s(void *arg)
{
    (void)arg;
    return eddy_sleep(EDDY_SEC(1));
}

EDDY_TEST(task_cancel)
{
    int rcs[2] = {1, 1}, sib = 1, rc;
    eddy_task *h, *done;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, cancellable_parent, rcs, .handle = &h));
        EDDY_OK(eddy_spawn(n, grandchild, &sib));
        EDDY_OK(eddy_spawn(n, ret_zero_after_1s, NULL, .handle = &done));
        EDDY_OK(eddy_sleep(EDDY_SEC(2)));
        eddy_task_cancel(done); /* finished: no-op */
        eddy_task_cancel(NULL);
        eddy_task_cancel(h);
        eddy_task_cancel(h);
        int st;
        EDDY_OK(eddy_task_join(h, &st));
        EDDY_CHECK_EQ(st, -ECANCELED);
        EDDY_OK(eddy_task_join(done, &st));
        EDDY_CHECK_EQ(eddy_nursery_errors(n, NULL, 0), 0); /* a cancelled task did not fail */
        EDDY_OK(eddy_yield()); /* and its siblings were not cancelled */
        EDDY_CHECK_EQ(sib, 1);
        eddy_nursery_cancel(n);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(rcs[0], -ECANCELED);
    EDDY_CHECK_EQ(rcs[1], -ECANCELED);
    EDDY_CHECK_EQ(sib, -ECANCELED);
    return 0;
}

/* ---- asyncio cancellation races, in C (guarantee "cancellation cannot be raced") ------ */

/* cpython#86296: wait_for() swallowed an outside cancel when the awaited operation completed
 * in the same loop iteration. Here the operation (a sleep until d), the outside cancel
 * (eddy_task_cancel at d) and, in one variant, the timeout (a fail-at-d scope) all land in
 * the same iteration, in every order: the operation may report success, but the cancel
 * stays in force: the task's next checkpoint returns -ECANCELED and it ends cancelled. */
typedef struct waitfor {
    int64_t d, timeout;
    int op, after, after_sleep;
} waitfor;

static int waitfor_task(void *arg)
{
    waitfor *w = arg;
    EDDY_FAIL_AT(w->timeout) { w->op = eddy_sleep_until(w->d); }
    w->after = eddy_checkpoint_if_cancelled();
    w->after_sleep = eddy_sleep(EDDY_SEC(1));
    return w->after_sleep;
}

static void cancel_task_cb(void *arg) { eddy_task_cancel(*(eddy_task **)arg); }

EDDY_TEST(race_cpython_86296_wait_for_cannot_swallow_cancel)
{
    for (int variant = 0; variant < 4; variant++) {
        int64_t d = eddy_now() + EDDY_SEC(1);
        waitfor w = {.d = d, .timeout = variant >= 2 ? d : d + EDDY_SEC(5)};
        eddy_task *h = NULL;
        eddy_timer tm = {0};
        int rc;
        EDDY_NURSERY(n, &rc) {
            if (variant % 2 == 0) EDDY_OK(eddy_call_at(&tm, d, cancel_task_cb, &h)); /* cancel first */
            EDDY_OK(eddy_spawn(n, waitfor_task, &w, .handle = &h));
            if (variant % 2 == 1) EDDY_OK(eddy_call_at(&tm, d, cancel_task_cb, &h)); /* op first */
            int st = 0;
            EDDY_OK(eddy_task_join(h, &st));
            EDDY_CHECK_EQ(st, -ECANCELED);
        }
        EDDY_CHECK_EQ(rc, 0);
        if (variant == 1) EDDY_CHECK_EQ(w.op, 0); /* the operation completed first... */
        if (variant == 0) EDDY_CHECK_EQ(w.op, -ECANCELED);
        EDDY_CHECK(w.op == 0 || w.op == -ECANCELED || w.op == -ETIMEDOUT);
        EDDY_CHECK_EQ(w.after, -ECANCELED); /* ...but the cancel was not swallowed */
        EDDY_CHECK_EQ(w.after_sleep, -ECANCELED);
        EDDY_CHECK_EQ(eddy_now(), d);
    }
    return 0;
}

/* cpython#116720: an outside cancellation of the task running a TaskGroup was lost when a
 * child failed at the same moment. Here: parent P runs a nursery whose child fails with -EIO
 * at d while P is cancelled from outside at d, in both orders. The child's real failure is
 * reported when it happened, and P stays cancelled after the nursery closes. */
typedef struct tg_race {
    int close_rc, after;
    size_t nerrors;
} tg_race;

static int fail_at_1s(void *arg)
{
    (void)arg;
    int rc = eddy_sleep(EDDY_SEC(1));
    return rc < 0 ? rc : -EIO;
}

static int tg_parent(void *arg)
{
    tg_race *r = arg;
    eddy_nursery n;
    EDDY_OK(eddy_nursery_open(&n));
    EDDY_OK(eddy_spawn(&n, fail_at_1s, NULL));
    if (eddy_sleep(EDDY_SEC(100))) {}
    r->close_rc = eddy_nursery_close(&n);
    r->nerrors = eddy_nursery_errors(&n, NULL, 0);
    r->after = eddy_yield();
    return r->after;
}

EDDY_TEST(race_cpython_116720_taskgroup_keeps_outside_cancel)
{
    for (int order = 0; order < 2; order++) {
        int64_t d = eddy_now() + EDDY_SEC(1);
        tg_race r = {1, 1, 99};
        eddy_task *h = NULL;
        eddy_timer tm = {0};
        int rc;
        EDDY_NURSERY(n, &rc) {
            if (order == 0) EDDY_OK(eddy_call_at(&tm, d, cancel_task_cb, &h));
            EDDY_OK(eddy_spawn(n, tg_parent, &r, .handle = &h));
            if (order == 1) EDDY_OK(eddy_call_at(&tm, d, cancel_task_cb, &h));
            int st;
            EDDY_OK(eddy_task_join(h, &st));
            EDDY_CHECK_EQ(st, -ECANCELED);
        }
        EDDY_CHECK_EQ(rc, 0);
        EDDY_CHECK_EQ(r.after, -ECANCELED); /* the outside cancel is never lost */
        if (order == 0) {                   /* cancelled before the child could fail */
            EDDY_CHECK_EQ(r.close_rc, 0);
            EDDY_CHECK_EQ(r.nerrors, 0);
        } else { /* the child failed first: its error is kept */
            EDDY_CHECK_EQ(r.close_rc, -EIO);
            EDDY_CHECK_EQ(r.nerrors, 1);
        }
    }
    return 0;
}

/* cpython#108951 (TaskGroup.cancel) and its follow-ups gh-155433 (an outside cancellation
 * lost after the group cancelled itself) and gh-155418 (an eager child cancelling the group
 * before its first suspension hung the group). */
typedef struct self_cancel {
    int close_rc, after;
} self_cancel;

static void cancel_nursery_cb(void *arg) { eddy_nursery_cancel(arg); }

static int self_cancelling_parent(void *arg)
{
    self_cancel *r = arg;
    eddy_nursery n;
    eddy_timer tm = {0};
    EDDY_OK(eddy_nursery_open(&n));
    EDDY_OK(eddy_spawn(&n, grandchild, &r->after));
    EDDY_OK(eddy_call_later(&tm, EDDY_SEC(1), cancel_nursery_cb, &n)); /* group.cancel() at d */
    if (eddy_sleep(EDDY_SEC(100))) {}
    r->close_rc = eddy_nursery_close(&n);
    r->after = eddy_yield();
    return r->after;
}

static int cancels_group_eagerly(void *arg)
{
    eddy_nursery_cancel(arg); /* before its first suspension */
    return eddy_sleep_forever();
}

EDDY_TEST(race_cpython_108951_group_cancel_keeps_outside_cancel)
{
    for (int order = 0; order < 2; order++) {
        self_cancel r = {1, 1};
        eddy_task *h = NULL;
        eddy_timer tm = {0};
        int rc;
        EDDY_NURSERY(n, &rc) {
            if (order == 0) EDDY_OK(eddy_call_later(&tm, EDDY_SEC(1), cancel_task_cb, &h));
            EDDY_OK(eddy_spawn(n, self_cancelling_parent, &r, .handle = &h));
            if (order == 1) EDDY_OK(eddy_call_later(&tm, EDDY_SEC(1), cancel_task_cb, &h));
            int st;
            EDDY_OK(eddy_task_join(h, &st));
            EDDY_CHECK_EQ(st, -ECANCELED);
        }
        EDDY_CHECK_EQ(rc, 0);
        EDDY_CHECK_EQ(r.close_rc, 0);       /* the group's own cancel is quiet */
        EDDY_CHECK_EQ(r.after, -ECANCELED); /* the outside one is not dropped */
    }
    /* the group cancelled by an eager child before it ever suspended does not hang */
    int64_t t0 = eddy_now();
    eddy_nursery g;
    EDDY_OK(eddy_nursery_open(&g));
    EDDY_OK(eddy_spawn(&g, cancels_group_eagerly, &g));
    EDDY_OK(eddy_spawn(&g, grandchild, &(int){0})); /* spawned into a cancelled group */
    EDDY_OK(eddy_nursery_close(&g));
    EDDY_CHECK_EQ(eddy_now(), t0);
    EDDY_OK(eddy_yield());
    return 0;
}

/* ---- misuse aborts, naming both sites ---- */

static eddy_cancel_scope shared_cs;
static eddy_nursery shared_n;
static int enter_line, exit_line;

static int enters_scope(void *arg)
{
    (void)arg;
    enter_line = __LINE__; EDDY_OK(eddy_cancel_scope_enter(&shared_cs));
    if (eddy_sleep(EDDY_SEC(10))) {}
    eddy_cancel_scope_exit(&shared_cs);
    return 0;
}

static int opens_nursery(void *arg)
{
    (void)arg;
    enter_line = __LINE__; EDDY_OK(eddy_nursery_open(&shared_n));
    if (eddy_sleep(EDDY_SEC(10))) {}
    return eddy_nursery_close(&shared_n);
}

static int enters_scope_and_returns(void *arg)
{
    (void)arg;
    static eddy_cancel_scope cs;
    EDDY_OK(eddy_cancel_scope_enter(&cs));
    return 0;
}

#define SHOW_LINES() (fprintf(stderr, "lines %d %d\n", enter_line, exit_line), fflush(stderr))

static int misuse_main(void *arg)
{
    int kind = (int)(intptr_t)arg;
    int rc;
    EDDY_NURSERY(n, &rc) {
        if (kind == 0) {
            EDDY_OK(eddy_spawn(n, enters_scope, NULL, .name = "enterer"));
            exit_line = __LINE__; SHOW_LINES(); eddy_cancel_scope_exit(&shared_cs);
        } else if (kind == 1) {
            EDDY_OK(eddy_spawn(n, opens_nursery, NULL, .name = "opener"));
            exit_line = __LINE__; SHOW_LINES(); rc = eddy_nursery_close(&shared_n);
        } else if (kind == 2) {
            eddy_cancel_scope a, b;
            enter_line = __LINE__; EDDY_OK(eddy_cancel_scope_enter(&a));
            EDDY_OK(eddy_cancel_scope_enter(&b));
            exit_line = __LINE__; SHOW_LINES(); eddy_cancel_scope_exit(&a);
        } else {
            EDDY_OK(eddy_spawn(n, enters_scope_and_returns, NULL));
        }
    }
    return rc;
}

static int misuse_child(void *arg)
{
    eddy_opts o = core_opts();
    return eddy_run_opts(misuse_main, arg, &o);
}

EDDY_TEST_EX(misuse_aborts_with_both_sites, .raw = true)
{
    for (int kind = 0; kind < 4; kind++) {
        char out[8192], a[64], b[64];
        int st = core_run_child(misuse_child, (void *)(intptr_t)kind, out, sizeof out);
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
            eddy_test_fail(__FILE__, __LINE__, "kind %d: status 0x%x: %s", kind, st, out);
        EDDY_CHECK(strstr(out, "eddy: fatal:") != NULL);
        if (kind == 3) {
            EDDY_CHECK(strstr(out, "never left") != NULL);
            continue;
        }
        /* the child printed the lines of the enter and of the bad exit */
        const char *ln = strstr(out, "lines ");
        int el = 0, xl = 0;
        EDDY_CHECK(ln && sscanf(ln, "lines %d %d", &el, &xl) == 2);
        snprintf(a, sizeof a, "test_core_scope.c:%d", el);
        snprintf(b, sizeof b, "test_core_scope.c:%d", xl);
        if (!strstr(out, a) || !strstr(out, b))
            eddy_test_fail(__FILE__, __LINE__, "kind %d: want %s and %s in: %s", kind, a, b, out);
        if (kind == 0) EDDY_CHECK(strstr(out, "'enterer'") != NULL);
        if (kind == 1) EDDY_CHECK(strstr(out, "'opener'") != NULL);
        if (kind == 2) EDDY_CHECK(strstr(out, "innermost first") != NULL);
    }
    return 0;
}

/* Regression: EDDY_MOVE_ON_AFTER(0) and EDDY_MOVE_ON_AT(0) on the virtual clock (which starts
 * at 0) meant "no deadline", because 0 in the options struct means "not given". A zero
 * timeout is already expired (trio's move_on_after(0)), and time 0 is a time. */
EDDY_TEST(zero_timeout_and_deadline_zero_are_expired)
{
    EDDY_CHECK_EQ(eddy_now(), 0);
    int rc = 1;
    EDDY_MOVE_ON_AT(0) rc = eddy_sleep(EDDY_SEC(1));
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_MOVE_ON_AFTER(0) rc = eddy_sleep(EDDY_SEC(1));
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_FAIL_AFTER(0) rc = eddy_sleep(EDDY_SEC(1));
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_FAIL_AT(0) rc = eddy_sleep(EDDY_SEC(1));
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_SHIELD(0) rc = eddy_sleep(EDDY_SEC(1));
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_CHECK_EQ(eddy_now(), 0); /* nothing slept */
    return 0;
}

/* Regression (docs/api.md, "Durations"): in the options 0 meant "not given", so .timeout = 0 and
 * .deadline = 0 were no limit while EDDY_MOVE_ON_AFTER(0) was expired. One rule now: 0 is now,
 * EDDY_FOREVER is none, and what is not given is EDDY_FOREVER. */
EDDY_TEST(scope_options_zero_is_now_forever_is_none)
{
    int rc = 1;
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs, .timeout = 0) rc = eddy_sleep(EDDY_SEC(1));
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK(cs.cancelled_caught);
    EDDY_CANCEL_SCOPE(&cs, .deadline = 0, .fail = true) rc = eddy_sleep(EDDY_SEC(1));
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_CHECK_EQ(eddy_now(), 0);
    /* not given, or EDDY_FOREVER: no limit */
    EDDY_CANCEL_SCOPE(&cs) rc = eddy_sleep(EDDY_SEC(1));
    EDDY_OK(rc);
    EDDY_CHECK(!cs.cancelled_caught);
    EDDY_CANCEL_SCOPE(&cs, .timeout = EDDY_FOREVER, .deadline = EDDY_FOREVER)
        rc = eddy_sleep(EDDY_SEC(1));
    EDDY_OK(rc);
    EDDY_CHECK(!cs.cancelled_caught);
    EDDY_MOVE_ON_AFTER(EDDY_FOREVER) rc = eddy_sleep(EDDY_SEC(1));
    EDDY_OK(rc);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(3));
    /* a given field keeps the other's default: the deadline alone limits */
    EDDY_CANCEL_SCOPE(&cs, .deadline = EDDY_SEC(4)) rc = eddy_sleep(EDDY_SEC(10));
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(4));
    /* a negative timeout is not a duration */
    EDDY_CHECK_EQ(eddy_cancel_scope_enter(&cs, .timeout = -1), -EINVAL);
    EDDY_CHECK_EQ(eddy_cancel_scope_enter(&cs, .timeout = -EDDY_SEC(1), .deadline = 0), -EINVAL);
    /* the function form: NULL options are the defaults, INIT the same spelled out */
    EDDY_OK(eddy_cancel_scope_enter_with(&cs, NULL));
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    eddy_cancel_scope_exit(&cs);
    EDDY_CHECK(!cs.cancelled_caught);
    eddy_cancel_scope_opts o = EDDY_CANCEL_SCOPE_OPTS_INIT;
    o.timeout = EDDY_SEC(1);
    o.fail = true;
    EDDY_OK(eddy_cancel_scope_enter_with(&cs, &o));
    EDDY_CHECK_EQ(eddy_sleep(EDDY_SEC(5)), -ETIMEDOUT);
    eddy_cancel_scope_exit(&cs);
    EDDY_CHECK(cs.cancelled_caught);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(6));
    o = (eddy_cancel_scope_opts){0}; /* zero-filled: deadline 0 and timeout 0, expired */
    EDDY_OK(eddy_cancel_scope_enter_with(&cs, &o));
    EDDY_CHECK_EQ(eddy_sleep(EDDY_SEC(1)), -ECANCELED);
    eddy_cancel_scope_exit(&cs);
    o = (eddy_cancel_scope_opts)EDDY_CANCEL_SCOPE_OPTS_INIT;
    o.timeout = -1;
    EDDY_CHECK_EQ(eddy_cancel_scope_enter_with(&cs, &o), -EINVAL);
    o.timeout = EDDY_FOREVER;
    o.shield = true;
    EDDY_CHECK_EQ(eddy_cancel_scope_enter_with(&cs, &o), -EINVAL);
    EDDY_CHECK_EQ(eddy_cancel_scope_enter_with(NULL, NULL), -EINVAL);
    return 0;
}

/* A block scope cannot return -EINVAL, and skipping its block would hide the mistake: bad
 * options there (a negative timeout, a shield without a limit) stop the program with the
 * site and the reason. */
static int bad_block_main(void *arg)
{
    int kind = (int)(intptr_t)arg;
    int rc = 0;
    printf("line %d\n", __LINE__ + 2);
    fflush(stdout);
    if (kind == 0) EDDY_MOVE_ON_AFTER(-1) rc = eddy_sleep(1);
    eddy_cancel_scope cs;
    printf("line %d\n", __LINE__ + 2);
    fflush(stdout);
    if (kind == 1) EDDY_CANCEL_SCOPE(&cs, .shield = true) rc = eddy_sleep(1);
    return rc;
}

static int bad_block_child(void *arg)
{
    eddy_opts o = core_opts();
    return eddy_run_opts(bad_block_main, arg, &o);
}

EDDY_TEST_EX(bad_block_scope_options_abort_with_site, .raw = true)
{
    for (int kind = 0; kind < 2; kind++) {
        char out[8192], want[64];
        int st = core_run_child(bad_block_child, (void *)(intptr_t)kind, out, sizeof out);
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
            eddy_test_fail(__FILE__, __LINE__, "kind %d: status 0x%x: %s", kind, st, out);
        int l0 = 0, l1 = 0;
        const char *ln = strstr(out, "line ");
        EDDY_CHECK(ln && sscanf(ln, "line %d\nline %d", &l0, &l1) >= 1);
        snprintf(want, sizeof want, "test_core_scope.c:%d", kind == 0 ? l0 : l1);
        if (!strstr(out, want)) eddy_test_fail(__FILE__, __LINE__, "want %s in: %s", want, out);
        EDDY_CHECK(strstr(out, kind == 0 ? "negative timeout" : "shield without") != NULL);
    }
    return 0;
}
