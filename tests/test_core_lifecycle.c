/* The loop's lifecycle (loop.h, "a loop that outlives its runs"): open, top-level tasks,
 * run, run_until, stop, repeated runs keeping timers, watchers, callbacks and tasks, close
 * (unwinding, leak report), eddy_run built on them, and every error: a closed loop, another
 * thread's loop, nested runs. The cases are raw: each makes its own loops (the harness names
 * the pass's backend in EDDY_BACKEND, which eddy_loop_open reads). */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>

#include "internal.h" /* eddy__park: an uncancellable wait nobody ends */
#include "test_core_util.h"

static eddy_opts vopts(void)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL,
                   .flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_NO_SIGNALS};
    return o;
}

static int sleep_then_7(void *arg)
{
    (void)arg;
    EDDY_CHECK(eddy_loop_is_running(eddy_loop_current()));
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    return 7;
}

EDDY_TEST_EX(open_run_until_close, .raw = true)
{
    eddy_opts o = vopts();
    eddy_loop *l;
    EDDY_CHECK(eddy_loop_current() == NULL);
    EDDY_OK(eddy_loop_open(&l, &o));
    EDDY_CHECK(eddy_loop_current() == l);
    EDDY_CHECK(!eddy_loop_is_running(l));
    EDDY_CHECK(eddy_backend_name() != NULL);
    EDDY_CHECK_EQ(eddy_worker_index(), 0); /* not a worker: index 0 of 1 */
    EDDY_CHECK_EQ(eddy_worker_count(), 1);
    eddy_task *t;
    EDDY_OK(eddy_loop_spawn(l, sleep_then_7, NULL, .handle = &t, .name = "seven"));
    EDDY_CHECK_EQ(eddy_now(), 0);
    int st = 0;
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_CHECK_EQ(st, 7);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(1));
    EDDY_CHECK(!eddy_loop_is_running(l));
    EDDY_OK(eddy_loop_close(l));
    EDDY_CHECK(eddy_loop_current() == NULL);
    EDDY_CHECK(!eddy_loop_is_running(NULL));
    /* Another loop on the same thread once the first is closed; options NULL are defaults. */
    EDDY_OK(eddy_loop_open(&l, NULL));
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

/* ---- what a run leaves stays for the next one ---- */

static struct {
    int ticks, timer_fired, io_fired, soon_ran;
    bool unwound;
} S;

static int ticker(void *arg)
{
    (void)arg;
    for (;;) {
        int rc = eddy_sleep(EDDY_SEC(1));
        if (rc < 0) {
            S.unwound = rc == -ECANCELED;
            return rc;
        }
        S.ticks++;
    }
}

static void stop_cb(void *arg) { EDDY_OK(eddy_loop_stop(arg)); }

static void timer_cb(void *arg)
{
    S.timer_fired++;
    EDDY_OK(eddy_loop_stop(arg));
}

static void soon_cb(void *arg)
{
    (void)arg;
    S.soon_ran++;
}

static void io_cb(eddy_io *w, unsigned ev)
{
    (void)ev;
    char c;
    EDDY_CHECK_EQ(read(w->fd, &c, 1), 1);
    S.io_fired++;
    EDDY_OK(eddy_loop_stop(eddy_loop_current()));
}

EDDY_TEST_EX(runs_keep_timers_watchers_callbacks_tasks, .raw = true)
{
    eddy_opts o = vopts();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    int p[2];
    EDDY_CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    /* Set up between runs, from the host's code: the loop is this thread's loop. */
    eddy_io w = {0};
    EDDY_OK(eddy_io_start(&w, p[0], EDDY_READ, io_cb, NULL));
    eddy_timer tm, stop_t;
    EDDY_OK(eddy_call_later(&tm, EDDY_SEC(10), timer_cb, l));
    EDDY_OK(eddy_call_later(&stop_t, EDDY_MSEC(3500), stop_cb, l));
    EDDY_OK(eddy_loop_spawn(l, ticker, NULL, .name = "ticker"));
    /* Run 1: until the 3.5 s timer stops it. */
    EDDY_OK(eddy_loop_run(l));
    EDDY_CHECK_EQ(eddy_now(), EDDY_MSEC(3500));
    EDDY_CHECK_EQ(S.ticks, 3);
    EDDY_CHECK_EQ(S.timer_fired, 0);
    EDDY_CHECK(eddy_timer_is_pending(&tm));
    /* Between runs: a callback and data for the watcher. */
    EDDY_OK(eddy_call_soon(soon_cb, NULL));
    EDDY_CHECK_EQ(write(p[1], "x", 1), 1);
    EDDY_CHECK_EQ(S.soon_ran, 0);
    /* Run 2: the watcher's callback (the poll comes first in an iteration) stops it before
     * the queued callback's turn; no time passed. */
    EDDY_OK(eddy_loop_run(l));
    EDDY_CHECK_EQ(S.io_fired, 1);
    EDDY_CHECK_EQ(S.soon_ran, 0);
    EDDY_CHECK_EQ(eddy_now(), EDDY_MSEC(3500));
    /* Run 3: the callback runs, the ticker goes on, the 10 s timer stops it. */
    EDDY_OK(eddy_loop_run(l));
    EDDY_CHECK_EQ(S.soon_ran, 1);
    EDDY_CHECK_EQ(S.timer_fired, 1);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(10));
    EDDY_CHECK_EQ(S.ticks, 9); /* its 10 s wake-up is due, but the stop came first */
    eddy_io_stop(&w);
    (void)eddy_fd_forget(p[0]);
    close(p[0]);
    close(p[1]);
    /* Close cancels the ticker, which unwinds through its cancel path. */
    EDDY_CHECK(!S.unwound);
    EDDY_OK(eddy_loop_close(l));
    EDDY_CHECK(S.unwound);
    return 0;
}

/* A watcher stopped while the backend still has its poll in flight, and the loop closed before
 * that poll's last completion: io_uring freed such a record only at that completion, so it
 * leaked (found by LeakSanitizer in the ASan build; eddy_loop_open's signal subscription
 * leaves one at every close). */
EDDY_TEST_EX(close_right_after_a_watcher_stops, .raw = true)
{
    eddy_opts o = vopts();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    int p[2];
    EDDY_CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    eddy_io w = {0};
    EDDY_OK(eddy_io_start(&w, p[0], EDDY_READ, io_cb, NULL));
    EDDY_OK(eddy_loop_step(l)); /* the poll is in the kernel now */
    eddy_io_stop(&w);
    (void)eddy_fd_forget(p[0]);
    EDDY_OK(eddy_loop_close(l));
    EDDY_CHECK_EQ(S.io_fired, 0);
    close(p[0]);
    close(p[1]);
    return 0;
}

/* ---- stop ---- */

static int order[16], norder;
static void mark(int v) { order[norder++] = v; }
static void mark_cb(void *arg) { mark((int)(intptr_t)arg); }

static void queue_two_cb(void *arg)
{
    (void)arg;
    mark(1);
    EDDY_OK(eddy_call_soon(mark_cb, (void *)(intptr_t)2));
}

static void stop_then_queue_cb(void *arg)
{
    mark(3);
    EDDY_OK(eddy_call_soon(mark_cb, (void *)(intptr_t)5)); /* queued behind 4 */
    EDDY_OK(eddy_loop_stop(arg));
    EDDY_OK(eddy_loop_stop(arg)); /* idempotent */
}

static int stopping_task(void *arg)
{
    mark(6);
    EDDY_OK(eddy_loop_stop(arg));
    EDDY_OK(eddy_yield()); /* gives the loop back: the run ends here */
    mark(8);
    return 0;
}

static int other_task(void *arg)
{
    (void)arg;
    mark(7);
    return 0;
}

EDDY_TEST_EX(stop_before_during_and_from_a_task, .raw = true)
{
    eddy_opts o = vopts();
    /* What a stop lets run is stated in queue order (asyncio's: the callbacks already queued
     * when the iteration began run, the ones they queue wait), so the checks need the FIFO
     * queue whatever EDDY_SCHED_SEED says. */
    o.flags |= EDDY_OPT_FIFO;
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    /* Before the run: one iteration that does not wait (a 1 h timer stays armed). */
    eddy_timer far;
    EDDY_OK(eddy_call_later(&far, EDDY_SEC(3600), soon_cb, NULL));
    EDDY_OK(eddy_call_soon(queue_two_cb, NULL));
    EDDY_OK(eddy_loop_stop(l));
    EDDY_OK(eddy_loop_run(l));
    EDDY_CHECK_EQ(norder, 2);
    EDDY_CHECK_EQ(eddy_now(), 0);
    /* From a callback: what is still queued waits for the next run. */
    EDDY_OK(eddy_call_soon(stop_then_queue_cb, l));
    EDDY_OK(eddy_call_soon(mark_cb, (void *)(intptr_t)4));
    EDDY_OK(eddy_loop_run(l));
    EDDY_CHECK_EQ(norder, 3);
    EDDY_CHECK_EQ(order[2], 3);
    /* From a task: other ready tasks wait too. */
    EDDY_OK(eddy_loop_spawn(l, stopping_task, l));
    EDDY_OK(eddy_loop_spawn(l, other_task, NULL));
    EDDY_OK(eddy_call_soon(stop_cb, l)); /* the next run: runs 4, 5, 6 first */
    EDDY_OK(eddy_loop_run(l));
    EDDY_CHECK_EQ(norder, 6);
    EDDY_CHECK_EQ(order[3], 4);
    EDDY_CHECK_EQ(order[4], 5);
    EDDY_CHECK_EQ(order[5], 6);
    EDDY_OK(eddy_call_soon(stop_cb, l));
    EDDY_OK(eddy_loop_run(l)); /* other_task, then the stop queued for the last run */
    EDDY_CHECK_EQ(norder, 7);
    EDDY_CHECK_EQ(order[6], 7);
    EDDY_OK(eddy_loop_run(l)); /* the stopping task resumes, then this one's stop */
    EDDY_CHECK_EQ(norder, 8);
    EDDY_CHECK_EQ(order[7], 8);
    EDDY_CHECK(eddy_timer_stop(&far));
    EDDY_CHECK_EQ(eddy_now(), 0);
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

/* From another thread a stop is posted (asyncio's call_soon_threadsafe(loop.stop)): the run
 * that waits for nothing else (no task, no timer: the thread's ref is what keeps it from being
 * a deadlock) wakes, stops, and the loop runs again normally. */
typedef struct stopper {
    eddy_loop *l;
    int rc;
} stopper;

static void *posts_a_stop(void *arg)
{
    stopper *s = arg;
    s->rc = eddy_loop_call_ts(s->l, stop_cb, s->l);
    eddy_loop_unref(s->l);
    return NULL;
}

EDDY_TEST_EX(stop_posted_from_another_thread, .raw = true)
{
    eddy_opts o = vopts();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    for (int round = 0; round < 2; round++) {
        stopper s = {.l = l, .rc = 1};
        eddy_loop_ref(l); /* for the poster, dropped by it once its post has returned */
        pthread_t th;
        EDDY_CHECK(pthread_create(&th, NULL, posts_a_stop, &s) == 0);
        if (round == 1) EDDY_CHECK(pthread_join(th, NULL) == 0); /* posted between runs */
        EDDY_OK(eddy_loop_run(l));
        if (round == 0) EDDY_CHECK(pthread_join(th, NULL) == 0); /* posted as the run starts or waits */
        EDDY_OK(s.rc);
        EDDY_CHECK_EQ(eddy_now(), 0);
    }
    eddy_task *t;
    EDDY_OK(eddy_loop_spawn(l, sleep_then_7, NULL, .handle = &t));
    int st = 0;
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_CHECK_EQ(st, 7);
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

static int sleeps_then_9(void *arg)
{
    (void)arg;
    EDDY_OK(eddy_sleep(EDDY_SEC(5)));
    return 9;
}

/* asyncio's "event loop stopped before the future completed": t stays valid and finishes in
 * a later run. */
EDDY_TEST_EX(run_until_stopped_first_then_resumed, .raw = true)
{
    eddy_opts o = vopts();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    eddy_task *t;
    EDDY_OK(eddy_loop_spawn(l, sleeps_then_9, NULL, .handle = &t));
    eddy_timer s;
    EDDY_OK(eddy_call_later(&s, EDDY_SEC(2), stop_cb, l));
    int st = -1;
    EDDY_CHECK_EQ(eddy_loop_run_until(l, t, &st), -EINTR);
    EDDY_CHECK_EQ(st, -1);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(2));
    /* Stopped before the run: one iteration, and t is not finished after it. */
    EDDY_OK(eddy_loop_stop(l));
    EDDY_CHECK_EQ(eddy_loop_run_until(l, t, &st), -EINTR);
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_CHECK_EQ(st, 9);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(5));
    /* Released: a second wait is refused. (t is freed: only the check of the first call's
     * effects is safe; a new task shows the NULL and foreign-loop errors.) */
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

/* ---- top-level tasks ---- */

static eddy_task *joined_top;

static int joins_the_other(void *arg)
{
    (void)arg;
    int st = 0;
    EDDY_OK(eddy_task_join(joined_top, &st));
    return st + 1;
}

static void spawn_from_cb(void *arg)
{
    EDDY_OK(eddy_loop_spawn(eddy_loop_current(), sleeps_then_9, NULL, .handle = (eddy_task **)arg));
}

static int spawns_top(void *arg)
{
    eddy_task **out = arg;
    EDDY_OK(eddy_loop_spawn(eddy_loop_current(), sleeps_then_9, NULL, .handle = out));
    return 0;
}

EDDY_TEST_EX(top_level_tasks_join_and_spawn_anywhere, .raw = true)
{
    eddy_opts o = vopts();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    /* A task joins another top-level task; run_until refuses a task being joined. */
    eddy_task *j;
    EDDY_OK(eddy_loop_spawn(l, sleeps_then_9, NULL, .handle = &joined_top));
    EDDY_OK(eddy_loop_spawn(l, joins_the_other, NULL, .handle = &j));
    EDDY_OK(eddy_call_soon(stop_cb, l));
    EDDY_OK(eddy_loop_run(l)); /* both started: the joiner waits */
    EDDY_CHECK_EQ(eddy_loop_run_until(l, joined_top, NULL), -EINVAL);
    int st = 0;
    EDDY_OK(eddy_loop_run_until(l, j, &st));
    EDDY_CHECK_EQ(st, 10);
    /* Spawned from a callback and from a task: they start at the next iteration. */
    eddy_task *a = NULL, *b = NULL, *c;
    EDDY_OK(eddy_call_soon(spawn_from_cb, &a));
    EDDY_OK(eddy_loop_spawn(l, spawns_top, &b, .handle = &c));
    EDDY_OK(eddy_loop_run_until(l, c, &st));
    EDDY_CHECK_EQ(st, 0);
    EDDY_CHECK(a != NULL && b != NULL);
    EDDY_OK(eddy_loop_run_until(l, a, &st));
    EDDY_CHECK_EQ(st, 9);
    EDDY_OK(eddy_loop_run_until(l, b, &st)); /* already finished: returns at once */
    EDDY_CHECK_EQ(st, 9);
    /* Function form, and a joinable task nobody joins: released by close. */
    eddy_task *never;
    EDDY_OK(eddy_loop_spawn_with(l, sleeps_then_9, NULL, &(eddy_spawn_opts){.handle = &never}));
    EDDY_OK(eddy_loop_spawn_with(l, sleeps_then_9, NULL, NULL));
    eddy_timer stop_at_6s = {0}; /* lives as long as it is armed (a compound literal inside
                                    EDDY_OK's block would end with that block) */
    EDDY_OK(eddy_call_later(&stop_at_6s, EDDY_SEC(6), stop_cb, l));
    EDDY_OK(eddy_loop_run(l));
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

/* A top-level task nobody joins that fails is reported, as asyncio logs an exception nobody
 * retrieved; cancelled ones are not; EDDY_OPT_QUIET silences it. */
static int fails_eio(void *arg)
{
    (void)arg;
    eddy_task_set_name(NULL, "breaker");
    return -EIO;
}

static int blocks_forever(void *arg)
{
    (void)arg;
    eddy_event ev;
    eddy_event_init(&ev);
    return eddy_event_wait(&ev);
}

static int unjoined_failures(void *arg)
{
    eddy_opts o = vopts();
    o.flags |= (unsigned)(intptr_t)arg;
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    EDDY_OK(eddy_loop_spawn(l, fails_eio, NULL));
    EDDY_OK(eddy_loop_spawn(l, blocks_forever, NULL, .name = "blocker"));
    EDDY_OK(eddy_call_soon(stop_cb, l));
    EDDY_OK(eddy_loop_run(l));
    EDDY_OK(eddy_loop_close(l)); /* the blocker is cancelled: not a failure */
    return 0;
}

EDDY_TEST_EX(unjoined_top_level_failure_is_reported, .raw = true)
{
    char out[4096];
    int ws = core_run_child(unjoined_failures, NULL, out, sizeof out);
    EDDY_CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    if (!strstr(out, "eddy: task 'breaker' spawned at ") || !strstr(out, "failed:") ||
        strstr(out, "blocker"))
        eddy_test_fail(__FILE__, __LINE__, "stderr: %s", out);
    ws = core_run_child(unjoined_failures, (void *)(intptr_t)EDDY_OPT_QUIET, out, sizeof out);
    EDDY_CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    EDDY_CHECK_EQ(strlen(out), 0);
    return 0;
}

/* ---- deadlocks ---- */

static int run_forever_deadlocks(void *arg)
{
    (void)arg;
    eddy_opts o = vopts();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    /* Nothing at all: a run that could never be stopped. */
    EDDY_CHECK_EQ(eddy_loop_run(l), -EDEADLK);
    /* A blocked task: cancelled, unwound, then the run ends. */
    EDDY_OK(eddy_loop_spawn(l, blocks_forever, NULL, .name = "stuck"));
    EDDY_CHECK_EQ(eddy_loop_run(l), -EDEADLK);
    /* run_until: the task it waits for finishes cancelled. */
    eddy_task *t;
    EDDY_OK(eddy_loop_spawn(l, blocks_forever, NULL, .handle = &t, .name = "stuck2"));
    int st = 0;
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_CHECK_EQ(st, -ECANCELED);
    /* The loop is still good: a later task is not cancelled. */
    EDDY_OK(eddy_loop_spawn(l, sleeps_then_9, NULL, .handle = &t));
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_CHECK_EQ(st, 9);
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

EDDY_TEST_EX(run_forever_reports_deadlock, .raw = true)
{
    char out[8192];
    int ws = core_run_child(run_forever_deadlocks, NULL, out, sizeof out);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) eddy_test_fail(__FILE__, __LINE__, "child: %s", out);
    if (!strstr(out, "eddy: deadlock") || !strstr(out, "stuck") || !strstr(out, "stuck2"))
        eddy_test_fail(__FILE__, __LINE__, "stderr: %s", out);
    return 0;
}

/* ---- close ---- */

static int leaves_timer(void *arg)
{
    unsigned flags = (unsigned)(intptr_t)arg;
    eddy_opts o = vopts();
    o.flags |= flags;
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    static eddy_timer t;
    EDDY_OK(eddy_call_later(&t, EDDY_SEC(1), soon_cb, NULL));
    int rc = eddy_loop_close(l);
    return rc == 0 ? 0 : rc == -ENOTRECOVERABLE ? 3 : 4;
}

EDDY_TEST_EX(close_reports_leaks, .raw = true)
{
    char out[4096];
    int ws = core_run_child(leaves_timer, NULL, out, sizeof out);
    EDDY_CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 3);
    if (!strstr(out, "eddy: leak: timer armed at") || !strstr(out, "test_core_lifecycle.c:"))
        eddy_test_fail(__FILE__, __LINE__, "stderr: %s", out);
    ws = core_run_child(leaves_timer, (void *)(intptr_t)EDDY_OPT_QUIET, out, sizeof out);
    EDDY_CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 3);
    EDDY_CHECK_EQ(strlen(out), 0);
    return 0;
}

/* ---- errors ---- */

static int nested_in_task(void *arg)
{
    eddy_loop *l = arg;
    EDDY_CHECK_EQ(eddy_loop_run(l), -EBUSY);
    EDDY_CHECK_EQ(eddy_loop_run_until(l, NULL, NULL), -EBUSY); /* busy before the arguments */
    EDDY_CHECK_EQ(eddy_loop_step(l), -EBUSY);
    EDDY_CHECK_EQ(eddy_loop_close(l), -EBUSY);
    eddy_loop *l2;
    EDDY_CHECK_EQ(eddy_loop_open(&l2, NULL), -EBUSY);
    EDDY_CHECK_EQ(eddy_run(sleep_then_7, NULL), -EBUSY);
    EDDY_CHECK_EQ(eddy_run_workers(2, sleep_then_7, NULL), -EBUSY);
    return 0;
}

static void nested_in_cb(void *arg)
{
    eddy_loop *l = arg;
    EDDY_CHECK(eddy_loop_is_running(l));
    EDDY_CHECK_EQ(eddy_loop_run(l), -EBUSY);
    EDDY_CHECK_EQ(eddy_loop_step(l), -EBUSY);
    EDDY_CHECK_EQ(eddy_loop_close(l), -EBUSY);
    EDDY_OK(eddy_loop_stop(l));
}

typedef struct other {
    eddy_loop *l;
    int run, run_until, step, stop, spawn, fd, close;
    int64_t timeout;
    bool running;
} other;

static void *on_other_thread(void *arg)
{
    other *x = arg;
    x->run = eddy_loop_run(x->l);
    x->run_until = eddy_loop_run_until(x->l, NULL, NULL);
    x->step = eddy_loop_step(x->l);
    x->stop = eddy_loop_stop(x->l);
    x->spawn = eddy_loop_spawn(x->l, sleep_then_7, NULL);
    x->fd = eddy_loop_fd(x->l);
    x->timeout = eddy_loop_timeout(x->l);
    x->close = eddy_loop_close(x->l);
    x->running = eddy_loop_is_running(x->l);
    return NULL;
}

static void check_all_fail(eddy_loop *l, int want)
{
    EDDY_CHECK_EQ(eddy_loop_run(l), want);
    eddy_task *t = (eddy_task *)l; /* never dereferenced: the loop is checked first */
    EDDY_CHECK_EQ(eddy_loop_run_until(l, t, NULL), want);
    EDDY_CHECK_EQ(eddy_loop_step(l), want);
    EDDY_CHECK_EQ(eddy_loop_stop(l), want);
    EDDY_CHECK_EQ(eddy_loop_spawn(l, sleep_then_7, NULL), want);
    EDDY_CHECK_EQ(eddy_loop_fd(l), want);
    EDDY_CHECK_EQ(eddy_loop_timeout(l), want);
    EDDY_CHECK_EQ(eddy_loop_close(l), want);
}

static int in_another_loop(void *arg)
{
    (void)arg;
    return 5;
}

EDDY_TEST_EX(lifecycle_errors, .raw = true)
{
    eddy_opts o = vopts();
    EDDY_CHECK_EQ(eddy_loop_open(NULL, &o), -EINVAL);
    eddy_loop *l;
    eddy_opts bad = o;
    bad.autojump_threshold = -1;
    EDDY_CHECK_EQ(eddy_loop_open(&l, &bad), -EINVAL);
    bad = o;
    bad.backend = "kqueue";
    EDDY_CHECK_EQ(eddy_loop_open(&l, &bad), -EINVAL);
    bad = o;
    bad.clock_kind = EDDY_CLOCK_CUSTOM;
    EDDY_CHECK_EQ(eddy_loop_open(&l, &bad), -EINVAL);
    EDDY_CHECK(eddy_loop_current() == NULL);
    check_all_fail(NULL, -EINVAL);

    EDDY_OK(eddy_loop_open(&l, &o));
    eddy_loop *l2;
    EDDY_CHECK_EQ(eddy_loop_open(&l2, &o), -EBUSY);          /* one loop per thread */
    EDDY_CHECK_EQ(eddy_run(sleep_then_7, NULL), -EBUSY);     /* eddy_run needs the thread */
    EDDY_CHECK_EQ(eddy_loop_spawn(l, NULL, NULL), -EINVAL);
    /* Nested runs, from a task and from a callback. */
    eddy_task *t;
    EDDY_OK(eddy_loop_spawn(l, nested_in_task, l, .handle = &t));
    int st = -1;
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_CHECK_EQ(st, 0);
    EDDY_OK(eddy_call_soon(nested_in_cb, l));
    EDDY_OK(eddy_loop_run(l));
    /* run_until's task must be a joinable top-level task of this loop, not yet joined. */
    EDDY_CHECK_EQ(eddy_loop_run_until(l, NULL, &st), -EINVAL);
    eddy_task *a;
    EDDY_OK(eddy_loop_spawn(l, sleep_then_7, NULL, .handle = &a));
    EDDY_OK(eddy_loop_run_until(l, a, &st));
    EDDY_CHECK_EQ(st, 7);
    /* Another thread may neither run, step, stop, spawn, ask, nor close it. */
    other x = {.l = l};
    pthread_t th;
    EDDY_CHECK(pthread_create(&th, NULL, on_other_thread, &x) == 0);
    EDDY_CHECK(pthread_join(th, NULL) == 0);
    EDDY_CHECK_EQ(x.run, -EPERM);
    EDDY_CHECK_EQ(x.run_until, -EPERM);
    EDDY_CHECK_EQ(x.step, -EPERM);
    EDDY_CHECK_EQ(x.stop, -EPERM);
    EDDY_CHECK_EQ(x.spawn, -EPERM);
    EDDY_CHECK_EQ(x.fd, -EPERM);
    EDDY_CHECK_EQ(x.timeout, -EPERM);
    EDDY_CHECK_EQ(x.close, -EPERM);
    EDDY_CHECK(!x.running);
    EDDY_OK(eddy_loop_close(l));
    /* A closed loop: every call says so, and nothing is touched. */
    check_all_fail(l, -EBADF);
    EDDY_CHECK(eddy_loop_current() == NULL);
    /* eddy_run works again on this thread, and a task of another loop is refused. */
    EDDY_CHECK_EQ(eddy_run(in_another_loop, NULL), 5);
    EDDY_OK(eddy_loop_open(&l, &o));
    eddy_loop *fake = (eddy_loop *)&o;
    check_all_fail(fake, -EBADF);
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

/* ---- what run_until may wait for ---- */

static eddy_task *nursery_child;

/* A top-level task whose nursery holds a joinable child; it stops the run and joins the child,
 * so between runs the child is a live joinable task that is not top-level. */
static int holds_a_child(void *arg)
{
    int rc = 0, st = -1;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sleep_then_7, NULL, .handle = &nursery_child));
        EDDY_OK(eddy_loop_stop(arg));
        EDDY_OK(eddy_task_join(nursery_child, &st));
    }
    return rc < 0 ? rc : st;
}

static eddy_task *joined_by_run;

static int joins_a_run_until_task(void *arg)
{
    (void)arg;
    int st = 0;
    return eddy_task_join(joined_by_run, &st); /* run_until joins it: refused */
}

typedef struct foreign {
    pthread_barrier_t made, checked;
    eddy_task *t;
    int run_rc, st, close_rc;
} foreign;

/* Another thread's loop and one of its top-level tasks, alive while the main thread tries to
 * wait for that task in its own loop. */
static void *foreign_loop(void *arg)
{
    foreign *f = arg;
    eddy_opts o = vopts();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    EDDY_OK(eddy_loop_spawn(l, sleep_then_7, NULL, .handle = &f->t));
    (void)pthread_barrier_wait(&f->made);
    (void)pthread_barrier_wait(&f->checked);
    f->run_rc = eddy_loop_run_until(l, f->t, &f->st);
    f->close_rc = eddy_loop_close(l);
    return NULL;
}

EDDY_TEST_EX(run_until_refuses_tasks_it_cannot_wait_for, .raw = true)
{
    eddy_opts o = vopts();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    /* A nursery's child: joinable, but not top-level (its nursery waits for it). */
    eddy_task *holder;
    EDDY_OK(eddy_loop_spawn(l, holds_a_child, l, .handle = &holder));
    EDDY_OK(eddy_loop_run(l));
    EDDY_CHECK(nursery_child != NULL);
    int st = -1;
    EDDY_CHECK_EQ(eddy_loop_run_until(l, nursery_child, &st), -EINVAL);
    EDDY_CHECK_EQ(st, -1);
    EDDY_OK(eddy_loop_run_until(l, holder, &st)); /* the refusal changed nothing */
    EDDY_CHECK_EQ(st, 7);
    /* While run_until waits for a task, a task of the loop may not join it. */
    eddy_task *joiner;
    EDDY_OK(eddy_loop_spawn(l, sleep_then_7, NULL, .handle = &joined_by_run));
    EDDY_OK(eddy_loop_spawn(l, joins_a_run_until_task, NULL, .handle = &joiner));
    EDDY_OK(eddy_loop_run_until(l, joined_by_run, &st));
    EDDY_CHECK_EQ(st, 7);
    EDDY_OK(eddy_loop_run_until(l, joiner, &st)); /* finished already: returns at once */
    EDDY_CHECK_EQ(st, -EINVAL);
    /* Another loop's task (that loop is alive, on its own thread). */
    foreign f = {0};
    EDDY_CHECK_EQ(pthread_barrier_init(&f.made, NULL, 2), 0);
    EDDY_CHECK_EQ(pthread_barrier_init(&f.checked, NULL, 2), 0);
    pthread_t th;
    EDDY_CHECK(pthread_create(&th, NULL, foreign_loop, &f) == 0);
    (void)pthread_barrier_wait(&f.made);
    EDDY_CHECK_EQ(eddy_loop_run_until(l, f.t, &st), -EINVAL);
    (void)pthread_barrier_wait(&f.checked);
    EDDY_CHECK(pthread_join(th, NULL) == 0);
    pthread_barrier_destroy(&f.made);
    pthread_barrier_destroy(&f.checked);
    EDDY_OK(f.run_rc); /* still that loop's to wait for */
    EDDY_CHECK_EQ(f.st, 7);
    EDDY_OK(f.close_rc);
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

/* ---- tasks that even cancellation cannot unblock ---- */

static int parks_for_good(void *arg)
{
    (void)arg;
    eddy__wait w = {.reason = "test: nobody wakes this", .uncancellable = true};
    return eddy__park(&w);
}

static int abandons_a_task(void *arg)
{
    (void)arg;
    eddy_opts o = vopts();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    eddy_task *t;
    EDDY_OK(eddy_loop_spawn(l, parks_for_good, NULL, .handle = &t, .name = "unwakeable"));
    int st = -1;
    /* Cancelled, still blocked: the run gives up, and t stays valid (not released). */
    if (eddy_loop_run_until(l, t, &st) != -EDEADLK || st != -1) return 10;
    if (eddy_loop_run_until(l, t, &st) != -EDEADLK || st != -1) return 11; /* again: the same */
    if (eddy_loop_run(l) != -EDEADLK) return 12;
    if (eddy_loop_is_running(l)) return 13;
    /* Close cannot unwind it either: it says so, and the loop is gone all the same. */
    if (eddy_loop_close(l) != -EDEADLK) return 14;
    if (eddy_loop_current() != NULL) return 15;
    return 0;
}

/* The child process leaves the abandoned task's stack and record allocated on purpose (and
 * exits with _exit, so no leak checker runs there). */
EDDY_TEST_EX(uncancellable_tasks_are_abandoned, .raw = true)
{
    char out[8192];
    int ws = core_run_child(abandons_a_task, NULL, out, sizeof out);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        eddy_test_fail(__FILE__, __LINE__, "child exit %d: %s", WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, out);
    if (!strstr(out, "eddy: deadlock") || !strstr(out, "unwakeable"))
        eddy_test_fail(__FILE__, __LINE__, "stderr: %s", out);
    return 0;
}

/* ---- SIGINT/SIGTERM reach a loop between runs ---- */

static int sleeps_for_good(void *arg)
{
    int *got = arg;
    *got = eddy_sleep(EDDY_FOREVER);
    return *got;
}

/* The loop's default options subscribe it to SIGTERM. One arriving between steps makes the
 * host's descriptor readable (the dispatcher's eventfd is in the loop's set), and the next
 * step cancels the loop's tasks: the sleeping one ends with -ECANCELED in that very step (a
 * deadlock would cancel it too, but only in a blocking run, never in a step). A task spawned
 * afterwards is not cancelled: the signal cancels the top-level tasks there are, not the root
 * scope (which stayed cancelled for good before, so the loop could run nothing more). The host
 * asks for the descriptor before the signal, or only after it: on io_uring the descriptor is
 * an eventfd registered at that first call, which no completion queued before it had signalled
 * (the second order hung until the registration announced them). */
static void sigterm_between_steps(bool fd_first)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_FAIL_ON_LEAK};
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    int got = 1;
    eddy_task *t;
    EDDY_OK(eddy_loop_spawn(l, sleeps_for_good, &got, .handle = &t));
    EDDY_OK(eddy_loop_step(l));
    EDDY_CHECK_EQ(got, 1);
    struct pollfd p = {.fd = fd_first ? eddy_loop_fd(l) : -1, .events = POLLIN};
    EDDY_OK(eddy_loop_step(l));
    EDDY_CHECK_EQ(got, 1); /* nothing ends a sleep of EDDY_FOREVER */
    EDDY_CHECK_EQ(raise(SIGTERM), 0); /* this thread does not block it: the handler ran */
    if (!fd_first) p.fd = eddy_loop_fd(l);
    EDDY_CHECK(p.fd >= 0);
    EDDY_CHECK_EQ(poll(&p, 1, 10000), 1); /* 10 s: only a descriptor nobody signals waits */
    EDDY_OK(eddy_loop_step(l));
    EDDY_CHECK_EQ(got, -ECANCELED);
    int st = 0;
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_CHECK_EQ(st, -ECANCELED);
    /* The signal cancelled the tasks there were, not the loop: a task spawned now runs. */
    EDDY_OK(eddy_loop_spawn(l, sleep_then_7, NULL, .handle = &t));
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_CHECK_EQ(st, 7);
    EDDY_OK(eddy_loop_close(l));
}

EDDY_TEST_EX(sigterm_between_steps_cancels_the_tasks, .raw = true)
{
    sigterm_between_steps(true);
    sigterm_between_steps(false);
    return 0;
}

/* eddy_run is one run of a loop: a stop ends it (-EINTR) with main cancelled and unwound. */
static int main_stops(void *arg)
{
    (void)arg;
    EDDY_OK(eddy_loop_stop(eddy_loop_current()));
    int rc = eddy_sleep(EDDY_SEC(1)); /* gives the loop back; close cancels it */
    S.unwound = rc == -ECANCELED;
    return rc;
}

EDDY_TEST_EX(eddy_run_stopped_is_eintr, .raw = true)
{
    eddy_opts o = vopts();
    S.unwound = false;
    EDDY_CHECK_EQ(eddy_run_opts(main_stops, NULL, &o), -EINTR);
    EDDY_CHECK(S.unwound);
    EDDY_CHECK_EQ(eddy_worker_index(), -EPERM);
    EDDY_CHECK_EQ(eddy_worker_count(), -EPERM);
    return 0;
}

static int index_is_0(void *arg)
{
    (void)arg;
    return eddy_worker_index();
}

EDDY_TEST(worker_index_is_0_under_eddy_run)
{
    EDDY_CHECK_EQ(eddy_worker_index(), 0);
    EDDY_CHECK_EQ(eddy_worker_count(), 1);
    eddy_task *t = NULL;
    EDDY_OK(eddy_loop_spawn(eddy_loop_current(), index_is_0, NULL, .handle = &t));
    int st = -1;
    EDDY_OK(eddy_task_join(t, &st));
    EDDY_CHECK_EQ(st, 0);
    return 0;
}
