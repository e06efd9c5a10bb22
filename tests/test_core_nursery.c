/* Core tests: nurseries (B1, B2), eddy_start (A8), joining and gather (A5). */
#include "test_core_util.h"

typedef struct job {
    int64_t delay;
    int result;
    const char *detail;
    int got; /* what the blocking call returned */
    int done;
} job;

static int run_job(void *arg)
{
    job *j = arg;
    if (j->detail) eddy_task_set_error_detail(j->detail);
    j->got = eddy_sleep(j->delay);
    if (j->got < 0) return j->got;
    j->done = 1;
    return j->result;
}

/* ---- error collection (B2) ---- */

EDDY_TEST(nursery_errors_collects_failures)
{
    job jobs[12];
    eddy_nursery n;
    EDDY_OK(eddy_nursery_open_flags(&n, EDDY_WAIT_ALL));
    for (int i = 0; i < 12; i++) {
        jobs[i] = (job){.delay = EDDY_SEC(i + 1), .result = i == 5 ? 0 : -(i + 1),
                        .detail = i == 2 ? "disk on fire" : NULL};
        char name[16];
        snprintf(name, sizeof name, "job%d", i);
        EDDY_OK(eddy_spawn(&n, run_job, &jobs[i], .name = name));
    }
    int rc = eddy_nursery_close(&n);
    EDDY_CHECK_EQ(rc, -1); /* the first failure */
    for (int i = 0; i < 12; i++) EDDY_CHECK(jobs[i].done); /* WAIT_ALL: nobody cancelled */
    eddy_task_error errs[EDDY_NURSERY_MAX_ERRORS + 2];
    size_t total = eddy_nursery_errors(&n, errs, EDDY_NURSERY_MAX_ERRORS + 2);
    EDDY_CHECK_EQ(total, 11);
    EDDY_CHECK_EQ(errs[0].code, -1);
    EDDY_CHECK(!strcmp(errs[0].name, "job0"));
    EDDY_CHECK(strstr(errs[0].site, "test_core_nursery.c:") != NULL);
    EDDY_CHECK(errs[0].detail == NULL);
    EDDY_CHECK_EQ(errs[2].code, -3);
    EDDY_CHECK(!strcmp(errs[2].detail, "disk on fire"));
    EDDY_CHECK(!strcmp(errs[5].name, "job6")); /* job5 succeeded */
    EDDY_CHECK_EQ(errs[7].code, -9);
    EDDY_CHECK(errs[0].task_id != errs[1].task_id);
    /* Short buffers and no buffer. */
    eddy_task_error one;
    EDDY_CHECK_EQ(eddy_nursery_errors(&n, &one, 1), 11);
    EDDY_CHECK_EQ(one.code, -1);
    EDDY_CHECK_EQ(eddy_nursery_errors(&n, NULL, 0), 11);
    EDDY_CHECK_EQ(eddy_nursery_errors(NULL, &one, 1), 0);
    return 0;
}

EDDY_TEST(first_error_cancels_siblings_and_body)
{
    job fail = {.delay = EDDY_SEC(1), .result = -EIO}, slow = {.delay = EDDY_SEC(100)};
    eddy_nursery n;
    EDDY_OK(eddy_nursery_open(&n));
    EDDY_OK(eddy_spawn(&n, run_job, &slow, .name = "slow"));
    EDDY_OK(eddy_spawn(&n, run_job, &fail, .name = "failing"));
    int64_t t0 = eddy_now();
    EDDY_CHECK_EQ(eddy_sleep(EDDY_SEC(50)), -ECANCELED); /* the body is inside the nursery */
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
    EDDY_CHECK_EQ(eddy_nursery_close(&n), -EIO);
    EDDY_CHECK_EQ(slow.got, -ECANCELED);
    eddy_task_error e;
    EDDY_CHECK_EQ(eddy_nursery_errors(&n, &e, 1), 1); /* the cancelled sibling is not a failure */
    EDDY_CHECK(!strcmp(e.name, "failing"));
    EDDY_OK(eddy_sleep(1)); /* outside the nursery nothing is cancelled */
    return 0;
}

EDDY_TEST(cancel_on_first_done)
{
    job a = {.delay = EDDY_SEC(3)}, b = {.delay = EDDY_SEC(1), .result = 0}, c = {.delay = EDDY_SEC(2)};
    int rc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY_FLAGS(n, &rc, EDDY_CANCEL_ON_FIRST_DONE) {
        EDDY_OK(eddy_spawn(n, run_job, &a));
        EDDY_OK(eddy_spawn(n, run_job, &b));
        EDDY_OK(eddy_spawn(n, run_job, &c));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
    EDDY_CHECK(b.done && !a.done && !c.done);
    EDDY_CHECK_EQ(a.got, -ECANCELED);
    EDDY_CHECK_EQ(c.got, -ECANCELED);
    return 0;
}

static int block_return(job *j, int *status)
{
    EDDY_NURSERY(n, status) {
        EDDY_OK(eddy_spawn(n, run_job, j));
        return 7; /* leaving by return still waits for the child */
    }
    return -1;
}

EDDY_TEST(nursery_block_break_and_return)
{
    job j = {.delay = EDDY_SEC(2)};
    int status = 99;
    int64_t t0 = eddy_now();
    EDDY_CHECK_EQ(block_return(&j, &status), 7);
    EDDY_CHECK(j.done);
    EDDY_CHECK_EQ(status, 0);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(2));
    job k = {.delay = EDDY_SEC(1), .result = -EPIPE};
    int loops = 0;
    for (int i = 0; i < 3; i++) {
        EDDY_NURSERY(n, &status) {
            loops++;
            EDDY_OK(eddy_spawn(n, run_job, &k));
            break; /* leaves the nursery block only */
        }
    }
    EDDY_CHECK_EQ(loops, 3);
    EDDY_CHECK_EQ(status, -EPIPE);
    EDDY_CHECK(k.done);
    return 0;
}

static int nested_parent(void *arg)
{
    job *jobs = arg;
    int rc;
    EDDY_NURSERY(inner, &rc) {
        EDDY_OK(eddy_spawn(inner, run_job, &jobs[0]));
        EDDY_OK(eddy_spawn(inner, run_job, &jobs[1]));
    }
    return rc;
}

EDDY_TEST(nested_nurseries)
{
    /* inner failure cancels only the inner nursery; the outer nursery sees the parent fail */
    job in[2] = {{.delay = EDDY_SEC(1), .result = -EBADMSG}, {.delay = EDDY_SEC(10)}};
    job other = {.delay = EDDY_SEC(5)};
    int rc;
    EDDY_NURSERY_FLAGS(outer, &rc, EDDY_WAIT_ALL) {
        EDDY_OK(eddy_spawn(outer, nested_parent, in, .name = "parent"));
        EDDY_OK(eddy_spawn(outer, run_job, &other));
    }
    EDDY_CHECK_EQ(rc, -EBADMSG);
    EDDY_CHECK_EQ(in[1].got, -ECANCELED);
    EDDY_CHECK(other.done);
    /* cancelling the outer nursery reaches grandchildren */
    job in2[2] = {{.delay = EDDY_SEC(10)}, {.delay = EDDY_SEC(10)}};
    eddy_nursery o;
    EDDY_OK(eddy_nursery_open(&o));
    EDDY_OK(eddy_spawn(&o, nested_parent, in2));
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    eddy_nursery_cancel(&o);
    eddy_nursery_cancel(&o); /* idempotent */
    EDDY_OK(eddy_nursery_close(&o));
    EDDY_CHECK_EQ(in2[0].got, -ECANCELED);
    EDDY_CHECK_EQ(in2[1].got, -ECANCELED);
    eddy_nursery_cancel(&o); /* closed: no-op */
    eddy_nursery_cancel(NULL);
    return 0;
}

/* ---- eddy_start (A8) ---- */

typedef struct starter {
    int64_t before; /* sleep before eddy_started (0 = start during the eager run) */
    int fail;       /* return this before starting (0 = start) */
    bool never;     /* return 0 without starting */
    int again_rc;
    int after;      /* what a sleep after starting returned */
} starter;

static int start_child(void *arg)
{
    starter *s = arg;
    if (s->before) {
        int rc = eddy_sleep(s->before);
        if (rc < 0) return rc;
    }
    if (s->fail) return s->fail;
    if (s->never) return 0;
    EDDY_OK(eddy_started(s));
    s->again_rc = eddy_started(s);
    s->after = eddy_sleep(EDDY_SEC(1));
    return 0;
}

EDDY_TEST(start_delivers_value)
{
    starter eager = {0}, later = {.before = EDDY_SEC(2)}, third = {0};
    int rc;
    EDDY_NURSERY(n, &rc) {
        void *v = NULL;
        EDDY_OK(eddy_start(n, start_child, &eager, &v));
        EDDY_CHECK(v == &eager);
        EDDY_CHECK_EQ(eager.again_rc, -EINVAL);
        int64_t t0 = eddy_now();
        eddy_task *h = NULL;
        EDDY_OK(eddy_start(n, start_child, &later, &v, .name = "later", .handle = &h));
        EDDY_CHECK(v == &later);
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(2));
        EDDY_CHECK(!strcmp(eddy_task_name(h), "later"));
        int st = 1;
        EDDY_OK(eddy_task_join(h, &st));
        EDDY_CHECK_EQ(st, 0);
        EDDY_OK(eddy_start(n, start_child, &third, NULL)); /* value may be NULL */
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(eager.after, 0);
    EDDY_CHECK_EQ(eddy_started(NULL), -EINVAL); /* not started with eddy_start */
    return 0;
}

EDDY_TEST(start_failure_is_returned_not_recorded)
{
    starter f1 = {.fail = -EADDRINUSE}, f2 = {.before = EDDY_SEC(1), .fail = -EACCES},
            never = {.never = true};
    eddy_nursery n;
    EDDY_OK(eddy_nursery_open(&n));
    EDDY_CHECK_EQ(eddy_start(&n, start_child, &f1, NULL), -EADDRINUSE);
    EDDY_CHECK_EQ(eddy_start(&n, start_child, &f2, NULL), -EACCES);
    EDDY_CHECK_EQ(eddy_start(&n, start_child, &never, NULL), -ECHILD);
    EDDY_OK(eddy_sleep(1)); /* the nursery was not cancelled */
    EDDY_OK(eddy_nursery_close(&n));
    EDDY_CHECK_EQ(eddy_nursery_errors(&n, NULL, 0), 0);
    EDDY_CHECK_EQ(eddy_start(&n, start_child, &f1, NULL), -EINVAL); /* closed */
    eddy_nursery m;
    EDDY_OK(eddy_nursery_open(&m));
    EDDY_CHECK_EQ(eddy_start(&m, NULL, NULL, NULL), -EINVAL);
    EDDY_OK(eddy_nursery_close(&m));
    return 0;
}

EDDY_TEST(start_caller_cancelled_while_waiting)
{
    starter slow = {.before = EDDY_SEC(10)};
    int rc;
    EDDY_NURSERY(n, &rc) {
        int64_t t0 = eddy_now();
        EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) {
            EDDY_CHECK_EQ(eddy_start(n, start_child, &slow, NULL), -ECANCELED);
        }
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1)); /* the child was cancelled, not awaited */
        starter slow2 = {.before = EDDY_SEC(10)};
        EDDY_FAIL_AFTER(EDDY_SEC(1)) {
            EDDY_CHECK_EQ(eddy_start(n, start_child, &slow2, NULL), -ETIMEDOUT);
        }
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(eddy_nursery_errors(NULL, NULL, 0), 0);
    return 0;
}

/* ---- joining (A5) ---- */

static eddy_task *self_handle;
static int store_self(void *arg)
{
    (void)arg;
    self_handle = eddy_task_current();
    return eddy_sleep(EDDY_SEC(1));
}

static int join_other(void *arg)
{
    int st;
    return eddy_task_join((eddy_task *)arg, &st);
}

EDDY_TEST(join_status_and_errors)
{
    job a = {.delay = EDDY_SEC(2), .result = 42}, b = {.delay = EDDY_SEC(5), .result = 5};
    eddy_task *ha, *hb;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, run_job, &a, .handle = &ha));
        EDDY_OK(eddy_spawn(n, run_job, &b, .handle = &hb));
        EDDY_OK(eddy_spawn(n, store_self, NULL));
        int st = 0;
        EDDY_CHECK_EQ(eddy_task_join(NULL, &st), -EINVAL);
        EDDY_CHECK_EQ(eddy_task_join(self_handle, &st), -EINVAL); /* not joinable */
        /* a join cancelled by its scope leaves the task joinable */
        EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { EDDY_CHECK_EQ(eddy_task_join(ha, &st), -ECANCELED); }
        EDDY_OK(eddy_task_join(ha, &st));
        EDDY_CHECK_EQ(st, 42);
        /* a second joiner while one waits is refused */
        eddy_nursery m;
        EDDY_OK(eddy_nursery_open(&m));
        EDDY_OK(eddy_spawn(&m, join_other, hb));
        EDDY_CHECK_EQ(eddy_task_join(hb, &st), -EINVAL);
        EDDY_OK(eddy_nursery_close(&m));
    }
    EDDY_CHECK_EQ(rc, 0);
    return 0;
}

static eddy_nursery *busy_n;
static int busy_rc = 1;
static int second_waiter(void *arg)
{
    (void)arg;
    eddy_task *t;
    busy_rc = eddy_nursery_next_done(busy_n, &t);
    if (busy_rc == 0) busy_rc = eddy_task_join(t, NULL);
    return 0;
}

EDDY_TEST(next_done_in_completion_order)
{
    job j[4] = {{.delay = EDDY_SEC(3), .result = 3}, {.delay = EDDY_SEC(1), .result = 1},
                {.delay = EDDY_SEC(4), .result = 4}, {.delay = EDDY_SEC(2), .result = 2}};
    job plain = {.delay = EDDY_SEC(1)}, slow = {.delay = EDDY_SEC(10)};
    int rc;
    EDDY_NURSERY(n, &rc) {
        eddy_task *t;
        EDDY_CHECK_EQ(eddy_nursery_next_done(n, &t), -ENOENT); /* nothing joinable */
        for (int i = 0; i < 4; i++) EDDY_OK(eddy_spawn(n, run_job, &j[i], .handle = &t));
        EDDY_OK(eddy_spawn(n, run_job, &plain)); /* not joinable */
        for (int want = 1; want <= 4; want++) {
            EDDY_OK(eddy_nursery_next_done(n, &t));
            int st;
            EDDY_OK(eddy_task_join(t, &st));
            EDDY_CHECK_EQ(st, want);
            EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(want));
        }
        EDDY_CHECK_EQ(eddy_nursery_next_done(n, &t), -ENOENT);
        EDDY_CHECK_EQ(eddy_nursery_next_done(n, NULL), -EINVAL);
        /* a second task waiting on the same nursery is refused */
        busy_n = n;
        eddy_task *hw;
        EDDY_OK(eddy_spawn(n, run_job, &slow, .handle = &t));
        EDDY_OK(eddy_spawn(n, second_waiter, NULL, .handle = &hw)); /* waits at once (eager) */
        EDDY_CHECK_EQ(eddy_nursery_next_done(n, &t), -EBUSY);
        EDDY_OK(eddy_task_join(hw, NULL));
        EDDY_CHECK_EQ(busy_rc, 0);
        /* cancelled while waiting */
        EDDY_OK(eddy_spawn(n, run_job, &slow, .handle = &t));
        eddy_task *u;
        EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { EDDY_CHECK_EQ(eddy_nursery_next_done(n, &u), -ECANCELED); }
        EDDY_OK(eddy_nursery_next_done(n, &u));
        EDDY_CHECK(u == t);
        /* handed out but never joined: released by close */
    }
    EDDY_CHECK_EQ(rc, 0);
    eddy_nursery c;
    EDDY_OK(eddy_nursery_open(&c));
    EDDY_OK(eddy_nursery_close(&c));
    eddy_task *t;
    EDDY_CHECK_EQ(eddy_nursery_next_done(&c, &t), -EINVAL);
    return 0;
}

/* Issue 7, bug 2: eddy_nursery_close and eddy_nursery_next_done shared one waiter slot. The
 * closer overwrote a child waiting in next_done on the same nursery (never woken: the run
 * ended in -EDEADLK), a cancelled next_done cleared the closer's registration (the closer was
 * never woken), and next_done during a close was refused with -EBUSY although no other task
 * waited in next_done. Each has its own registration now. */
static eddy_nursery *nd_n;
static eddy_event nd_go;
static int nd_rc[3], nd_status[3];

static int nd_child(void *arg)
{
    int i = (int)(intptr_t)arg;
    eddy_task *t;
    nd_rc[i] = 1;
    if (i == 1) {
        EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { nd_rc[i] = eddy_nursery_next_done(nd_n, &t); }
        return 0;
    }
    if (i == 2) EDDY_OK(eddy_event_wait(&nd_go)); /* starts waiting after the close began */
    nd_rc[i] = eddy_nursery_next_done(nd_n, &t);
    if (nd_rc[i] == 0) nd_rc[i] = eddy_task_join(t, &nd_status[i]);
    return 0;
}

static void nd_set_go(void *arg)
{
    (void)arg;
    eddy_event_set(&nd_go);
}

EDDY_TEST(close_while_a_child_waits_in_next_done)
{
    for (int i = 0; i < 3; i++) {
        job j = {.delay = EDDY_SEC(2), .result = 7 + i};
        eddy_nursery n;
        eddy_timer tm = {0};
        eddy_task *h;
        int64_t t0 = eddy_now();
        eddy_event_init(&nd_go);
        nd_n = &n;
        EDDY_OK(eddy_nursery_open(&n));
        EDDY_OK(eddy_spawn(&n, run_job, &j, .handle = &h));
        EDDY_OK(eddy_spawn(&n, nd_child, (void *)(intptr_t)i));
        if (i == 2) EDDY_OK(eddy_call_later(&tm, EDDY_SEC(1), nd_set_go, NULL));
        EDDY_OK(eddy_nursery_close(&n)); /* wakes when the last child is done */
        EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(2));
        if (i == 1) {
            EDDY_CHECK_EQ(nd_rc[i], -ECANCELED); /* and the closer still woke up */
        } else {
            EDDY_CHECK_EQ(nd_rc[i], 0);
            EDDY_CHECK_EQ(nd_status[i], 7 + i);
        }
    }
    return 0;
}

/* The -EBUSY that next_done promises: a second task in next_done, also during a close. */
static int nd_second_rc = 1;
static int nd_second(void *arg)
{
    (void)arg;
    eddy_task *t;
    nd_second_rc = eddy_nursery_next_done(nd_n, &t);
    return 0;
}

static void nd_spawn_second(void *arg)
{
    (void)arg;
    eddy_event_set(&nd_go);
}

static int nd_first_then_second(void *arg)
{
    eddy_nursery *outer = arg;
    EDDY_OK(eddy_event_wait(&nd_go));
    return eddy_spawn(outer, nd_second, NULL);
}

EDDY_TEST(second_next_done_waiter_is_ebusy_during_close)
{
    job j = {.delay = EDDY_SEC(2), .result = 5};
    eddy_nursery n;
    eddy_timer tm = {0};
    eddy_task *h;
    eddy_event_init(&nd_go);
    nd_n = &n;
    EDDY_OK(eddy_nursery_open(&n));
    EDDY_OK(eddy_spawn(&n, run_job, &j, .handle = &h));
    EDDY_OK(eddy_spawn(&n, nd_child, (void *)(intptr_t)0)); /* waits in next_done */
    EDDY_OK(eddy_spawn(&n, nd_first_then_second, &n));
    EDDY_OK(eddy_call_later(&tm, EDDY_SEC(1), nd_spawn_second, NULL));
    EDDY_OK(eddy_nursery_close(&n));
    EDDY_CHECK_EQ(nd_second_rc, -EBUSY);
    EDDY_CHECK_EQ(nd_rc[0], 0);
    EDDY_CHECK_EQ(nd_status[0], 5);
    return 0;
}

EDDY_TEST(unjoined_tasks_released_at_close)
{
    eddy_task *h[5];
    job jobs[5];
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 5; i++)
            {
            jobs[i] = (job){.delay = i};
            EDDY_OK(eddy_spawn(n, run_job, &jobs[i], .handle = &h[i]));
        }
        struct eddy_loop_stats s;
        eddy_loop_stats(&s);
        EDDY_CHECK_EQ(s.tasks_live, 6);
    }
    EDDY_CHECK_EQ(rc, 0);
    struct eddy_loop_stats s;
    eddy_loop_stats(&s);
    EDDY_CHECK_EQ(s.tasks_live, 1);
    return 0;
}

/* A joiner outside the nursery must not have its task freed under it by the nursery's close,
 * whichever of the two runs first (the seeded scheduler tries both orders). */
static eddy_task *outer_h;
static job race_job;
static int outer_status = -1;
static int outside_joiner(void *arg)
{
    (void)arg;
    return eddy_task_join(outer_h, &outer_status);
}

static int joiner_race_main(void *arg)
{
    (void)arg;
    race_job = (job){.delay = EDDY_SEC(1), .result = 42};
    int rc_o, rc_n;
    EDDY_NURSERY(o, &rc_o) {
        EDDY_NURSERY(n, &rc_n) {
            EDDY_OK(eddy_spawn(n, run_job, &race_job, .handle = &outer_h));
            EDDY_OK(eddy_spawn(o, outside_joiner, NULL));
        }
        EDDY_CHECK_EQ(rc_n, 0);
    }
    EDDY_CHECK_EQ(rc_o, 0);
    EDDY_CHECK_EQ(outer_status, 42);
    struct eddy_loop_stats s;
    eddy_loop_stats(&s);
    EDDY_CHECK_EQ(s.tasks_live, 1);
    return 0;
}

EDDY_TEST_EX(join_from_outside_vs_close, .raw = true)
{
    for (uint64_t seed = 0; seed < 24; seed++) {
        eddy_opts o = core_opts();
        o.sched_seed = seed;
        outer_status = -1;
        EDDY_OK(eddy_run_opts(joiner_race_main, NULL, &o));
    }
    return 0;
}

/* ---- gather ---- */

static int sq(void *arg)
{
    int v = (int)(intptr_t)arg;
    int rc = eddy_sleep(EDDY_SEC(v));
    return rc < 0 ? rc : v * v;
}

static int fails_at(void *arg)
{
    int rc = eddy_sleep(EDDY_SEC((intptr_t)arg));
    return rc < 0 ? rc : -ENOSPC;
}

EDDY_TEST(gather_results_and_first_error)
{
    eddy_gather_item it[3] = {{sq, (void *)3, 0}, {sq, (void *)1, 0}, {sq, (void *)2, 0}};
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_gather(it, 3));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(3));
    EDDY_CHECK_EQ(it[0].status, 9);
    EDDY_CHECK_EQ(it[1].status, 1);
    EDDY_CHECK_EQ(it[2].status, 4);
    eddy_gather_item f[3] = {{sq, (void *)5, 0}, {fails_at, (void *)1, 0}, {sq, (void *)0, 0}};
    EDDY_CHECK_EQ(eddy_gather(f, 3), -ENOSPC);
    EDDY_CHECK_EQ(f[0].status, -ECANCELED);
    EDDY_CHECK_EQ(f[1].status, -ENOSPC);
    EDDY_CHECK_EQ(f[2].status, 0);
    EDDY_OK(eddy_gather(NULL, 0));
    EDDY_CHECK_EQ(eddy_gather(NULL, 2), -EINVAL);
    eddy_gather_item bad[2] = {{sq, (void *)1, 0}, {NULL, NULL, 0}};
    EDDY_CHECK_EQ(eddy_gather(bad, 2), -EINVAL);
    EDDY_CHECK_EQ(bad[0].status, -ECANCELED);
    EDDY_CHECK_EQ(bad[1].status, -EINVAL);
    return 0;
}
