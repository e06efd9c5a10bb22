/* T2 tickers: exact tick times on the virtual clock, drift-freedom, missed-tick policies,
 * cancellation, stop, several waiters, error paths and the leak report. */
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "eddy/test.h"

#define P EDDY_MSEC(100)

/* Tick k of a fixed-rate ticker arrives exactly at start + k * period. */
EDDY_TEST(ticker_fixed_rate_exact_times)
{
    eddy_ticker tk = {0};
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_ticker_start(&tk, P, EDDY_TICK_FIXED_RATE));
    EDDY_CHECK_EQ(tk.start, t0);
    EDDY_CHECK_EQ(tk.next_due, t0 + P);
    for (uint64_t k = 1; k <= 5; k++) {
        uint64_t tick = 0;
        EDDY_OK(eddy_ticker_wait(&tk, &tick));
        EDDY_CHECK_EQ(tick, k);
        EDDY_CHECK_EQ(tk.ticks, k);
        EDDY_CHECK_EQ(eddy_now() - t0, (int64_t)k * P);
    }
    EDDY_CHECK_EQ(tk.missed, 0);
    /* The timer is armed only while someone waits. */
    EDDY_CHECK(!eddy_timer_is_pending(&tk.timer));
    eddy_ticker_stop(&tk);
    return 0;
}

/* A task that holds the loop for 3 ms out of every 9 (simulated CPU work: the virtual clock
 * moves while nothing else can run), so ticks are often delivered late. */
static int noise(void *arg)
{
    int *late_jumps = arg;
    for (;;) {
        int rc = eddy_sleep(EDDY_MSEC(6));
        if (rc < 0) return rc == -ECANCELED ? 0 : rc;
        EDDY_OK(eddy_clock_jump(EDDY_MSEC(3)));
        (*late_jumps)++;
    }
}

struct drift_result {
    int64_t last;      /* time of tick 1000 relative to start */
    int late;          /* ticks delivered after their due time */
    int64_t max_late;  /* worst lateness (fixed rate) */
};

static int run_1000(unsigned flags, struct drift_result *res)
{
    const int64_t p = EDDY_MSEC(10);
    int jumps = 0, rc;
    *res = (struct drift_result){0};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, noise, &jumps, .name = "noise"));
        eddy_ticker tk = {0};
        int64_t t0 = eddy_now();
        EDDY_OK(eddy_ticker_start(&tk, p, flags));
        for (uint64_t k = 1; k <= 1000; k++) {
            uint64_t tick = 0;
            /* Fixed delay: due one period after the previous tick was handed over, which is
             * when this task was woken, not when it ran: under a permuted scheduler (a seed)
             * the noise task may jump the clock in between. The ticker says when. */
            int64_t handed_due = tk.next_due;
            EDDY_OK(eddy_ticker_wait(&tk, &tick));
            EDDY_CHECK_EQ(tick, k);
            int64_t now = eddy_now();
            int64_t due = (flags & EDDY_TICK_FIXED_RATE) ? t0 + (int64_t)k * p : handed_due;
            EDDY_CHECK(now >= due); /* never early */
            if (now > due) res->late++;
            if (now - due > res->max_late) res->max_late = now - due;
        }
        res->last = eddy_now() - t0;
        eddy_ticker_stop(&tk);
        eddy_nursery_cancel(n);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK(jumps > 0);
    return 0;
}

/* 1000 ticks under a loop that is often busy when a tick falls due: each fixed-rate tick is
 * at most one busy stretch late and the lateness never accumulates (tick 1000 is within
 * 3 ms of 10 s), while a fixed-delay ticker under the same load drifts by the sum of its
 * delays. */
EDDY_TEST(ticker_no_drift_over_1000_ticks)
{
    struct drift_result fr, fd;
    EDDY_OK(run_1000(EDDY_TICK_FIXED_RATE, &fr));
    EDDY_CHECK(fr.late > 100);                  /* the load really made ticks late */
    EDDY_CHECK(fr.max_late <= EDDY_MSEC(3));    /* ... by one busy stretch at most */
    EDDY_CHECK(fr.last >= EDDY_SEC(10) && fr.last <= EDDY_SEC(10) + EDDY_MSEC(3));
    EDDY_OK(run_1000(0, &fd));
    EDDY_CHECK(fd.late > 100);
    EDDY_CHECK(fd.last > EDDY_SEC(10) + EDDY_MSEC(100)); /* drift accumulated */
    return 0;
}

/* The consumer sleeps 3.5 periods after tick 1: ticks 2 and 3 are skipped, tick 4 (the
 * latest due) comes at once, and tick 5 is back on the grid. */
EDDY_TEST(ticker_skip_missed)
{
    eddy_ticker tk = {0};
    int64_t t0 = eddy_now();
    uint64_t tick = 0;
    EDDY_OK(eddy_ticker_start(&tk, P, EDDY_TICK_FIXED_RATE | EDDY_TICK_SKIP_MISSED));
    EDDY_OK(eddy_ticker_wait(&tk, &tick));
    EDDY_CHECK_EQ(tick, 1);
    EDDY_OK(eddy_sleep(P * 7 / 2));
    EDDY_CHECK_EQ(eddy_now() - t0, P * 9 / 2);
    EDDY_OK(eddy_ticker_wait(&tk, &tick));
    EDDY_CHECK_EQ(tick, 4);
    EDDY_CHECK_EQ(tk.missed, 2);
    EDDY_CHECK_EQ(eddy_now() - t0, P * 9 / 2); /* no wait: it was already due */
    EDDY_OK(eddy_ticker_wait(&tk, &tick));
    EDDY_CHECK_EQ(tick, 5);
    EDDY_CHECK_EQ(eddy_now() - t0, 5 * P);
    EDDY_CHECK_EQ(tk.missed, 2);
    eddy_ticker_stop(&tk);
    return 0;
}

/* Fixed rate without SKIP_MISSED: the missed ticks are delivered back to back (burst). */
EDDY_TEST(ticker_fixed_rate_burst_catch_up)
{
    eddy_ticker tk = {0};
    int64_t t0 = eddy_now();
    uint64_t tick = 0;
    EDDY_OK(eddy_ticker_start(&tk, P, EDDY_TICK_FIXED_RATE));
    EDDY_OK(eddy_ticker_wait(&tk, &tick));
    EDDY_OK(eddy_sleep(P * 7 / 2));
    for (uint64_t k = 2; k <= 4; k++) {
        EDDY_OK(eddy_ticker_wait(&tk, &tick));
        EDDY_CHECK_EQ(tick, k);
        EDDY_CHECK_EQ(eddy_now() - t0, P * 9 / 2);
    }
    EDDY_OK(eddy_ticker_wait(&tk, &tick));
    EDDY_CHECK_EQ(tick, 5);
    EDDY_CHECK_EQ(eddy_now() - t0, 5 * P);
    EDDY_CHECK_EQ(tk.missed, 0);
    eddy_ticker_stop(&tk);
    return 0;
}

/* Fixed delay (no flags): a late consumer shifts every later tick. */
EDDY_TEST(ticker_fixed_delay_shifts)
{
    eddy_ticker tk = {0};
    int64_t t0 = eddy_now();
    uint64_t tick = 0;
    EDDY_OK(eddy_ticker_start(&tk, P, 0));
    EDDY_OK(eddy_ticker_wait(&tk, &tick));
    EDDY_CHECK_EQ(tick, 1);
    EDDY_CHECK_EQ(eddy_now() - t0, P);
    EDDY_OK(eddy_sleep(P * 7 / 2));
    EDDY_OK(eddy_ticker_wait(&tk, &tick));
    EDDY_CHECK_EQ(tick, 2);
    EDDY_CHECK_EQ(eddy_now() - t0, P * 9 / 2);
    EDDY_OK(eddy_ticker_wait(&tk, NULL)); /* tick may be NULL */
    EDDY_CHECK_EQ(tk.ticks, 3);
    EDDY_CHECK_EQ(eddy_now() - t0, P * 11 / 2);
    eddy_ticker_stop(&tk);
    return 0;
}

/* A wait cancelled by its scope returns -ECANCELED, consumes no tick and leaves no timer
 * armed; the next wait outside the scope gets the next tick on time. */
EDDY_TEST(ticker_wait_cancelled)
{
    eddy_ticker tk = {0};
    int64_t t0 = eddy_now();
    uint64_t tick = 0;
    EDDY_OK(eddy_ticker_start(&tk, P, EDDY_TICK_FIXED_RATE));
    int rc = 1;
    EDDY_MOVE_ON_AFTER(P * 3 / 2) {
        EDDY_OK(eddy_ticker_wait(&tk, &tick));
        EDDY_CHECK_EQ(tick, 1);
        rc = eddy_ticker_wait(&tk, &tick);
    }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t0, P * 3 / 2);
    EDDY_CHECK_EQ(tk.ticks, 1);
    EDDY_CHECK(!eddy_timer_is_pending(&tk.timer));
    EDDY_FAIL_AFTER(P / 4) {
        rc = eddy_ticker_wait(&tk, &tick);
    }
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_OK(eddy_ticker_wait(&tk, &tick));
    EDDY_CHECK_EQ(tick, 2);
    EDDY_CHECK_EQ(eddy_now() - t0, 2 * P);
    eddy_ticker_stop(&tk);
    return 0;
}

/* Level-triggered: inside a cancelled scope even a tick that is already due is not taken. */
EDDY_TEST(ticker_cancelled_scope_keeps_due_tick)
{
    eddy_ticker tk = {0};
    uint64_t tick = 0;
    EDDY_OK(eddy_ticker_start(&tk, P, EDDY_TICK_FIXED_RATE));
    EDDY_OK(eddy_sleep(P));
    eddy_cancel_scope cs;
    int rc = 1;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        rc = eddy_ticker_wait(&tk, &tick);
    }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(tk.ticks, 0);
    EDDY_OK(eddy_ticker_wait(&tk, &tick));
    EDDY_CHECK_EQ(tick, 1);
    eddy_ticker_stop(&tk);
    return 0;
}

struct waiter_arg {
    eddy_ticker *tk;
    int rc;
    int64_t at;
};

static int wait_once(void *arg)
{
    struct waiter_arg *a = arg;
    uint64_t tick;
    a->rc = eddy_ticker_wait(a->tk, &tick);
    a->at = eddy_now();
    return 0;
}

/* Stopping a ticker wakes its waiters with -EPIPE; later waits get -EPIPE too; stop is
 * idempotent and a stopped ticker can be started again. */
EDDY_TEST(ticker_stop_wakes_waiter_with_epipe)
{
    eddy_ticker tk = {0};
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_ticker_start(&tk, P, EDDY_TICK_FIXED_RATE));
    struct waiter_arg a = {.tk = &tk, .rc = 1}, b = {.tk = &tk, .rc = 1};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, wait_once, &a, .name = "waiter-a"));
        EDDY_OK(eddy_spawn(n, wait_once, &b, .name = "waiter-b"));
        EDDY_OK(eddy_sleep(P / 2));
        eddy_ticker_stop(&tk);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(a.rc, -EPIPE);
    EDDY_CHECK_EQ(b.rc, -EPIPE);
    EDDY_CHECK_EQ(a.at - t0, P / 2);
    EDDY_CHECK(!eddy_timer_is_pending(&tk.timer));
    uint64_t tick = 77;
    EDDY_CHECK_EQ(eddy_ticker_wait(&tk, &tick), -EPIPE);
    EDDY_CHECK_EQ(tick, 77);
    eddy_ticker_stop(&tk);
    eddy_ticker_stop(&tk);
    /* Restart: a fresh start from now. */
    EDDY_OK(eddy_ticker_start(&tk, P, 0));
    EDDY_OK(eddy_ticker_wait(&tk, &tick));
    EDDY_CHECK_EQ(tick, 1);
    EDDY_CHECK_EQ(eddy_now() - t0, P / 2 + P);
    eddy_ticker_stop(&tk);
    return 0;
}

struct fifo_arg {
    eddy_ticker *tk;
    char who;
    char *log;
    size_t *len;
};

static int take_three(void *arg)
{
    struct fifo_arg *a = arg;
    for (int i = 0; i < 3; i++) {
        uint64_t tick;
        int rc = eddy_ticker_wait(a->tk, &tick);
        if (rc < 0) return rc;
        a->log[(*a->len)++] = a->who;
        a->log[(*a->len)++] = (char)('0' + tick);
    }
    return 0;
}

/* Several waiters share the ticks like channel receivers: one tick each, FIFO. */
EDDY_TEST(ticker_waiters_take_turns)
{
    eddy_ticker tk = {0};
    char log[32] = {0};
    size_t len = 0;
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_ticker_start(&tk, P, EDDY_TICK_FIXED_RATE));
    struct fifo_arg a = {&tk, 'A', log, &len}, b = {&tk, 'B', log, &len};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, take_three, &a));
        EDDY_OK(eddy_spawn(n, take_three, &b));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK(strcmp(log, "A1B2A3B4A5B6") == 0);
    EDDY_CHECK_EQ(eddy_now() - t0, 6 * P);
    eddy_ticker_stop(&tk);
    return 0;
}

/* The dump shows a task blocked on a ticker with the reason "ticker". */
EDDY_TEST(ticker_wait_shows_in_dump)
{
    eddy_ticker tk = {0};
    EDDY_OK(eddy_ticker_start(&tk, P, EDDY_TICK_FIXED_RATE));
    struct waiter_arg a = {.tk = &tk, .rc = 1};
    char *buf = NULL;
    size_t sz = 0;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, wait_once, &a, .name = "tick-waiter"));
        FILE *f = open_memstream(&buf, &sz);
        EDDY_CHECK(f != NULL);
        EDDY_OK(eddy_dump(f, EDDY_DUMP_TREE));
        fclose(f);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(a.rc, 0);
    EDDY_CHECK(buf && strstr(buf, "ticker") != NULL);
    free(buf);
    eddy_ticker_stop(&tk);
    return 0;
}


struct cb_arg {
    int rc;
    eddy_ticker *tk;
    eddy_event done; /* the callback ran (whatever order the scheduler picks) */
};

static void cb_wait(void *arg)
{
    struct cb_arg *a = arg;
    a->rc = eddy_ticker_wait(a->tk, NULL);
    eddy_event_set(&a->done);
}

EDDY_TEST(ticker_error_paths)
{
    eddy_ticker tk = {0};
    EDDY_CHECK_EQ(eddy_ticker_start(NULL, P, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_ticker_start(&tk, 0, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_ticker_start(&tk, -P, EDDY_TICK_FIXED_RATE), -EINVAL);
    EDDY_CHECK_EQ(eddy_ticker_start(&tk, P, 1u << 7), -EINVAL);
    EDDY_CHECK_EQ(eddy_ticker_start(&tk, P, EDDY_TICK_SKIP_MISSED), -EINVAL);
    /* Never started: wait is refused, stop is a no-op. */
    EDDY_CHECK_EQ(eddy_ticker_wait(&tk, NULL), -EINVAL);
    eddy_ticker_stop(&tk);
    eddy_ticker_stop(NULL);
    EDDY_CHECK_EQ(eddy_ticker_wait(NULL, NULL), -EINVAL);
    EDDY_OK(eddy_ticker_start(&tk, P, EDDY_TICK_FIXED_RATE));
    EDDY_CHECK_EQ(eddy_ticker_start(&tk, P, 0), -EBUSY);
    /* Callback context is not a task: -EPERM, and the ticker is untouched. */
    struct cb_arg a = {.rc = 1, .tk = &tk};
    eddy_event_init(&a.done);
    EDDY_OK(eddy_call_soon(cb_wait, &a));
    EDDY_OK(eddy_event_wait(&a.done));
    EDDY_CHECK_EQ(a.rc, -EPERM);
    EDDY_CHECK_EQ(tk.ticks, 0);
    EDDY_CHECK(!eddy_timer_is_pending(&tk.timer));
    eddy_ticker_stop(&tk);
    return 0;
}

/* No heap growth per tick: the heap in use is the same after 1000 ticks (waited
 * for, already due, and skipped) as after the first one, which may grow the timer heap. */
EDDY_TEST(ticker_no_allocation_per_tick)
{
    eddy_ticker tk = {0};
    EDDY_OK(eddy_ticker_start(&tk, P, EDDY_TICK_FIXED_RATE | EDDY_TICK_SKIP_MISSED));
    EDDY_OK(eddy_ticker_wait(&tk, NULL));
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 1000; i++) {
        EDDY_OK(eddy_ticker_wait(&tk, NULL));
        if (i % 100 == 0) EDDY_OK(eddy_sleep(P * 5 / 2)); /* fall behind now and then */
    }
    EDDY_CHECK_EQ(mallinfo2().uordblks, before);
    EDDY_CHECK(tk.missed > 0);
    eddy_ticker_stop(&tk);
    return 0;
}

/* A huge period saturates instead of overflowing: the tick is simply never due. */
EDDY_TEST(ticker_huge_period)
{
    eddy_ticker tk = {0};
    EDDY_OK(eddy_ticker_start(&tk, INT64_MAX, EDDY_TICK_FIXED_RATE));
    EDDY_CHECK(tk.next_due > eddy_now());
    int rc = 1;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) {
        rc = eddy_ticker_wait(&tk, NULL);
    }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    eddy_ticker_stop(&tk);
    return 0;
}

/* Outside any loop there is no clock to tick on and no task to block. */
EDDY_TEST_EX(ticker_outside_loop, .raw = true)
{
    eddy_ticker tk = {0};
    EDDY_CHECK_EQ(eddy_ticker_start(&tk, P, EDDY_TICK_FIXED_RATE), -EPERM);
    EDDY_CHECK_EQ(eddy_ticker_wait(&tk, NULL), -EPERM);
    eddy_ticker_stop(&tk);
    return 0;
}

static int start_and_forget(void *arg)
{
    eddy_ticker *tk = arg;
    return eddy_ticker_start(tk, P, EDDY_TICK_FIXED_RATE);
}

static int start_and_stop(void *arg)
{
    eddy_ticker *tk = arg;
    int rc = eddy_ticker_start(tk, P, EDDY_TICK_FIXED_RATE);
    if (rc < 0) return rc;
    rc = eddy_ticker_wait(tk, NULL);
    eddy_ticker_stop(tk);
    return rc;
}

/* A ticker left running when the loop ends is a leak: eddy_run fails in test mode and the
 * report names the kind and the site of eddy_ticker_start. (One eddy_run per test: each raw
 * test has a process of its own.) */
EDDY_TEST_EX(ticker_unstopped_is_a_leak, .raw = true)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL,
                   .flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_NO_SIGNALS};
    eddy_ticker tk = {0};
    fflush(stderr);
    int saved = dup(2), mfd = memfd_create("leak", 0);
    EDDY_CHECK(saved >= 0 && mfd >= 0);
    dup2(mfd, 2);
    int rc = eddy_run_opts(start_and_forget, &tk, &o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char rep[1024] = {0};
    EDDY_CHECK(pread(mfd, rep, sizeof rep - 1, 0) > 0);
    close(mfd);
    EDDY_CHECK_EQ(rc, -ENOTRECOVERABLE);
    EDDY_CHECK(strstr(rep, "ticker created at") != NULL);
    EDDY_CHECK(strstr(rep, "test_ticker.c") != NULL);
    eddy_ticker_stop(&tk); /* after the loop: harmless */
    return 0;
}

/* The control: the same program with the ticker stopped ends cleanly. */
EDDY_TEST_EX(ticker_stopped_is_not_a_leak, .raw = true)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL,
                   .flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_NO_SIGNALS};
    eddy_ticker tk = {0};
    EDDY_CHECK_EQ(eddy_run_opts(start_and_stop, &tk, &o), 0);
    EDDY_CHECK_EQ(tk.ticks, 1);
    return 0;
}
