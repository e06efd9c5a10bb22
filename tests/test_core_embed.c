/* Embedding (loop.h, I2): a host loop drives eddy through eddy_loop_fd, eddy_loop_timeout and
 * eddy_loop_step — here a plain poll() loop, as a game loop or a C event loop would; the GLib
 * one is examples/glib_embed.c, run by test_examples. Raw cases, once per backend (the
 * harness sets EDDY_BACKEND): on epoll the descriptor is the epoll fd, on io_uring an eventfd
 * registered with the ring, so each backend's way of waking the host is exercised. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>

#include "test_core_util.h"

static eddy_opts opts_real(void)
{
    eddy_opts o = {.flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_NO_SIGNALS};
    return o;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The host's clock, for a case that gives it to its loop: time that passes only while the
 * host waits in poll (host_turn adds what each wait really took). eddy's timers then measure
 * the host's waits alone, so what eddy_loop_timeout must say is exact however late a loaded
 * machine runs the host between turns (on the monotonic clock, a host delayed 10 ms between
 * the step that put a task to sleep and its next eddy_loop_timeout was told 0). */
static int64_t host_clock_ns;
static int64_t host_clock_now(void *ctx)
{
    (void)ctx;
    return host_clock_ns;
}

/* One turn of the host: wait as eddy says (at most cap_ms), then step. Returns what poll
 * returned. */
static int host_turn(eddy_loop *l, int cap_ms)
{
    int64_t t = eddy_loop_timeout(l);
    EDDY_CHECK(t >= 0);
    int ms = t == EDDY_FOREVER ? cap_ms : (int)((t + 999999) / 1000000);
    if (ms > cap_ms) ms = cap_ms;
    int fd = eddy_loop_fd(l);
    EDDY_CHECK(fd >= 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int64_t w0 = mono_ns();
    int n = poll(&p, 1, ms);
    host_clock_ns += mono_ns() - w0;
    EDDY_CHECK(n >= 0);
    EDDY_OK(eddy_loop_step(l));
    return n;
}

/* The descriptor is quiet: not readable, and eddy asks for no immediate step. A backend may
 * announce its own completions once more after a step (io_uring), so allow a few steps to get
 * there; a host loop that spins would never get there. */
static void check_settles(eddy_loop *l)
{
    int fd = eddy_loop_fd(l);
    for (int k = 0; k < 4; k++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) == 0 && eddy_loop_timeout(l) > 0) return;
        EDDY_OK(eddy_loop_step(l));
    }
    eddy_test_fail(__FILE__, __LINE__, "the loop's descriptor stays readable (or timeout 0) with nothing to do");
}

/* ---- a poll() host runs tasks: sleeps and I/O ---- */

typedef struct pingpong {
    eddy_stream *a, *b;
    int rounds;
    bool done;
} pingpong;

static int echo_side(void *arg)
{
    pingpong *pp = arg;
    char buf[16];
    for (int i = 0; i < pp->rounds; i++) {
        ssize_t n = eddy_stream_read(pp->b, buf, sizeof buf);
        if (n <= 0) return n < 0 ? (int)n : -EPIPE;
        int rc = eddy_stream_write_all(pp->b, buf, (size_t)n);
        if (rc < 0) return rc;
    }
    return 0;
}

static int host_main(void *arg)
{
    pingpong *pp = arg;
    for (int i = 0; i < 3; i++) EDDY_OK(eddy_sleep(EDDY_MSEC(10)));
    int rc = 0;
    EDDY_OK(eddy_socketpair(&pp->a, &pp->b));
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, echo_side, pp));
        for (int i = 0; i < pp->rounds; i++) {
            char msg[8] = {'m', (char)('0' + i % 10)}, back[8];
            EDDY_OK(eddy_stream_write_all(pp->a, msg, 2));
            EDDY_CHECK_EQ(eddy_stream_read(pp->a, back, sizeof back), 2);
            EDDY_CHECK(memcmp(msg, back, 2) == 0);
        }
    }
    EDDY_OK(eddy_stream_close(pp->a));
    EDDY_OK(eddy_stream_close(pp->b));
    pp->done = true;
    return rc == 0 ? 42 : rc;
}

EDDY_TEST_EX(poll_host_runs_tasks_sleeps_and_io, .raw = true)
{
    eddy_clock clk = {.now = host_clock_now};
    host_clock_ns = 0;
    eddy_opts o = opts_real();
    o.clock_kind = EDDY_CLOCK_CUSTOM;
    o.clock = &clk;
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    int fd = eddy_loop_fd(l);
    EDDY_CHECK(fd >= 0);
    EDDY_CHECK_EQ(eddy_loop_fd(l), fd); /* the same for the loop's life */
    pingpong pp = {.rounds = 200};
    eddy_task *t;
    EDDY_OK(eddy_loop_spawn(l, host_main, &pp, .handle = &t));
    int64_t t0 = mono_ns();
    int turns = 0;
    int64_t first_wait = -1;
    while (!pp.done) {
        if (turns == 1) {
            /* The task sleeps now: eddy wants no step before its timer, all 10 ms of it, as
             * the host has not waited since the step that put it to sleep, and the descriptor
             * says nothing (the host really sleeps). */
            first_wait = eddy_loop_timeout(l);
        }
        (void)host_turn(l, 1000);
        EDDY_CHECK(++turns < 100000);
        EDDY_CHECK(mono_ns() - t0 < EDDY_SEC(10));
    }
    EDDY_CHECK_EQ(first_wait, EDDY_MSEC(10));
    /* The three sleeps were real waits of the host: the host clock only moves while it waits. */
    EDDY_CHECK(host_clock_ns >= EDDY_MSEC(30));
    EDDY_CHECK(mono_ns() - t0 >= EDDY_MSEC(30));
    int st = 0;
    EDDY_OK(eddy_loop_run_until(l, t, &st)); /* finished: returns at once */
    EDDY_CHECK_EQ(st, 42);
    check_settles(l);
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

/* ---- what wakes the host ---- */

typedef struct poster {
    eddy_loop *l;
    int pipe_w;   /* >= 0: write a byte there instead of posting */
    int rc;
} poster;

static int cb_runs;
static void count_cb(void *arg)
{
    (void)arg;
    cb_runs++;
}

static void *poster_thread(void *arg)
{
    poster *p = arg;
    /* Let the host block first (not needed for correctness: the descriptor is level-triggered
     * either way; this makes the wake-up the thing under test most of the time). */
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
    if (p->pipe_w >= 0) {
        p->rc = write(p->pipe_w, "x", 1) == 1 ? 0 : -errno;
    } else {
        p->rc = eddy_loop_call_ts(p->l, count_cb, NULL);
        eddy_loop_unref(p->l); /* taken by the host for this thread */
    }
    return NULL;
}

/* Wait for the descriptor, as a host with nothing else to do. The other thread acts after
 * 20 ms; a descriptor that is not woken is only found readable when poll gives up (it looks
 * again at its timeout), so the wait must end long before that. */
static void wait_readable(eddy_loop *l)
{
    EDDY_CHECK_EQ(eddy_loop_timeout(l), EDDY_FOREVER);
    struct pollfd p = {.fd = eddy_loop_fd(l), .events = POLLIN};
    int64_t t0 = mono_ns();
    EDDY_CHECK_EQ(poll(&p, 1, 15000), 1);
    int64_t waited = mono_ns() - t0;
    if (waited > EDDY_SEC(10))
        eddy_test_fail(__FILE__, __LINE__, "the descriptor was not woken (poll slept %lld ms)",
                       (long long)(waited / 1000000));
}

EDDY_TEST_EX(fd_wakes_host_on_post_from_another_thread, .raw = true, .timeout = EDDY_SEC(60))
{
    eddy_opts o = opts_real();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    check_settles(l);
    poster p = {.l = l, .pipe_w = -1};
    eddy_loop_ref(l);
    pthread_t th;
    EDDY_CHECK(pthread_create(&th, NULL, poster_thread, &p) == 0);
    wait_readable(l);
    EDDY_CHECK(pthread_join(th, NULL) == 0);
    EDDY_OK(p.rc);
    EDDY_CHECK_EQ(cb_runs, 0);
    EDDY_OK(eddy_loop_step(l));
    EDDY_CHECK_EQ(cb_runs, 1);
    check_settles(l);
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

static int watcher_hits;
static void pipe_cb(eddy_io *w, unsigned ev)
{
    EDDY_CHECK(ev & EDDY_READ);
    char c;
    EDDY_CHECK_EQ(read(w->fd, &c, 1), 1);
    watcher_hits++;
}

typedef struct reader {
    eddy_stream *s;
    char got;
    bool done;
} reader;

static int read_one(void *arg)
{
    reader *r = arg;
    ssize_t n = eddy_stream_read(r->s, &r->got, 1);
    r->done = true;
    return n == 1 ? 0 : -EIO;
}

/* Readiness and completions reach the host: a watcher started by the host's code between
 * steps (on io_uring its poll request is submitted by eddy_loop_timeout, before the wait), and
 * a task blocked in a stream read. Another thread makes each ready. */
EDDY_TEST_EX(fd_wakes_host_on_io, .raw = true, .timeout = EDDY_SEC(60))
{
    eddy_opts o = opts_real();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    int pfd[2];
    EDDY_CHECK(pipe2(pfd, O_NONBLOCK | O_CLOEXEC) == 0);
    eddy_io w = {0};
    EDDY_OK(eddy_io_start(&w, pfd[0], EDDY_READ, pipe_cb, NULL));
    poster p = {.l = l, .pipe_w = pfd[1]};
    pthread_t th;
    EDDY_CHECK(pthread_create(&th, NULL, poster_thread, &p) == 0);
    wait_readable(l);
    EDDY_CHECK(pthread_join(th, NULL) == 0);
    EDDY_OK(p.rc);
    for (int k = 0; k < 4 && watcher_hits == 0; k++) EDDY_OK(eddy_loop_step(l));
    EDDY_CHECK_EQ(watcher_hits, 1);
    eddy_io_stop(&w);
    (void)eddy_fd_forget(pfd[0]);
    check_settles(l);

    /* A task's read on a socket. */
    int sv[2];
    EDDY_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    reader r = {0};
    EDDY_OK(eddy_fd_stream(sv[0], 0, &r.s));
    eddy_task *t;
    EDDY_OK(eddy_loop_spawn(l, read_one, &r, .handle = &t));
    EDDY_OK(eddy_loop_step(l)); /* the task starts and blocks in its read */
    check_settles(l);
    EDDY_CHECK(!r.done);
    p.pipe_w = sv[1];
    EDDY_CHECK(pthread_create(&th, NULL, poster_thread, &p) == 0);
    wait_readable(l);
    EDDY_CHECK(pthread_join(th, NULL) == 0);
    EDDY_OK(p.rc);
    for (int k = 0; k < 4 && !r.done; k++) EDDY_OK(eddy_loop_step(l));
    EDDY_CHECK(r.done);
    EDDY_CHECK_EQ(r.got, 'x');
    int st = -1;
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_OK(st);
    EDDY_OK(eddy_loop_spawn(l, (int (*)(void *))eddy_stream_close, r.s, .handle = &t));
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_OK(st);
    close(sv[1]);
    close(pfd[0]);
    close(pfd[1]);
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

/* ---- eddy_loop_timeout ---- */

static void noop_cb(void *arg) { (void)arg; }

static void *post_only(void *arg)
{
    poster *p = arg;
    p->rc = eddy_loop_call_ts(p->l, count_cb, NULL);
    eddy_loop_unref(p->l);
    return NULL;
}

EDDY_TEST_EX(timeout_says_how_long_to_sleep, .raw = true)
{
    eddy_opts o = opts_real();
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    EDDY_CHECK_EQ(eddy_loop_timeout(l), EDDY_FOREVER);  /* nothing at all */
    EDDY_OK(eddy_call_soon(noop_cb, NULL));
    EDDY_CHECK_EQ(eddy_loop_timeout(l), 0);             /* a callback is ready */
    EDDY_OK(eddy_loop_step(l));
    EDDY_CHECK_EQ(eddy_loop_timeout(l), EDDY_FOREVER);
    eddy_timer t = {0};
    EDDY_OK(eddy_call_later(&t, EDDY_SEC(5), noop_cb, NULL));
    int64_t w = eddy_loop_timeout(l);
    EDDY_CHECK(w > EDDY_SEC(4) && w <= EDDY_SEC(5));    /* until the timer */
    struct timespec d = {0, 30 * 1000 * 1000};
    nanosleep(&d, NULL);                                /* the host's own time counts */
    int64_t w2 = eddy_loop_timeout(l);
    EDDY_CHECK(w2 <= w - EDDY_MSEC(30));
    EDDY_OK(eddy_loop_stop(l));
    EDDY_CHECK_EQ(eddy_loop_timeout(l), 0);             /* a stop: step now */
    EDDY_OK(eddy_loop_step(l));                         /* ... which meets it */
    EDDY_CHECK(eddy_loop_timeout(l) > EDDY_SEC(4));
    EDDY_CHECK(eddy_timer_stop(&t));
    /* A post from another thread. */
    poster p = {.l = l, .pipe_w = -1};
    eddy_loop_ref(l);
    pthread_t th;
    EDDY_CHECK(pthread_create(&th, NULL, post_only, &p) == 0);
    EDDY_CHECK(pthread_join(th, NULL) == 0);
    EDDY_OK(p.rc);
    EDDY_CHECK_EQ(eddy_loop_timeout(l), 0);
    cb_runs = 0;
    EDDY_OK(eddy_loop_step(l));
    EDDY_CHECK_EQ(cb_runs, 1);
    check_settles(l);
    EDDY_OK(eddy_loop_close(l));

    /* The virtual clock: a pending timer is "step now" (autojump 0), and the step moves the
     * clock to it; with autojump off only the descriptor can bring work. */
    o.clock_kind = EDDY_CLOCK_VIRTUAL;
    EDDY_OK(eddy_loop_open(&l, &o));
    EDDY_OK(eddy_call_later(&t, EDDY_SEC(3600), noop_cb, NULL));
    EDDY_CHECK_EQ(eddy_loop_timeout(l), 0);
    EDDY_OK(eddy_loop_step(l));
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(3600));
    EDDY_CHECK(!eddy_timer_is_pending(&t));
    EDDY_OK(eddy_loop_close(l));
    o.autojump_threshold = EDDY_FOREVER;
    EDDY_OK(eddy_loop_open(&l, &o));
    EDDY_OK(eddy_call_later(&t, EDDY_SEC(1), noop_cb, NULL));
    EDDY_CHECK_EQ(eddy_loop_timeout(l), EDDY_FOREVER);
    EDDY_OK(eddy_clock_jump(EDDY_SEC(1)));
    EDDY_CHECK_EQ(eddy_loop_timeout(l), 0);
    EDDY_OK(eddy_loop_step(l));
    EDDY_CHECK(!eddy_timer_is_pending(&t));
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

/* ---- work left over after a step ---- */

static int yields(void *arg)
{
    int *left = arg;
    for (int i = 0; i < 3; i++) EDDY_OK(eddy_yield());
    (*left)--;
    return 0;
}

/* More ready work than one step runs: the descriptor is readable again, so a host that only
 * waits on it comes back (and eddy_loop_timeout says 0). */
EDDY_TEST_EX(leftover_work_makes_fd_readable, .raw = true)
{
    eddy_opts o = opts_real();
    o.poll_interval = 16;
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    int left = 100;
    for (int i = 0; i < 100; i++) EDDY_OK(eddy_loop_spawn(l, yields, &left));
    int fd = eddy_loop_fd(l);
    int steps = 0;
    while (left > 0) {
        EDDY_OK(eddy_loop_step(l));
        steps++;
        if (left > 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            EDDY_CHECK_EQ(poll(&p, 1, 1000), 1);
            EDDY_CHECK_EQ(eddy_loop_timeout(l), 0);
        }
        EDDY_CHECK(steps < 1000);
    }
    EDDY_CHECK(steps >= 400 / 16);
    check_settles(l);
    EDDY_OK(eddy_loop_close(l));
    return 0;
}

/* A host on the virtual clock: steps alone make time pass (autojump), a task sleeping an hour
 * finishes in a few steps; run and step mix on one loop. */
static int sleeps_hour(void *arg)
{
    (void)arg;
    EDDY_OK(eddy_sleep(EDDY_SEC(3600)));
    return 1;
}

EDDY_TEST_EX(virtual_clock_host_and_mixed_runs, .raw = true)
{
    eddy_opts o = opts_real();
    o.clock_kind = EDDY_CLOCK_VIRTUAL;
    eddy_loop *l;
    EDDY_OK(eddy_loop_open(&l, &o));
    eddy_task *t;
    EDDY_OK(eddy_loop_spawn(l, sleeps_hour, NULL, .handle = &t));
    int turns = 0;
    while (eddy_now() < EDDY_SEC(3600)) {
        (void)host_turn(l, 1000);
        EDDY_CHECK(++turns < 10);
    }
    int st = 0;
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_CHECK_EQ(st, 1);
    EDDY_OK(eddy_loop_spawn(l, sleeps_hour, NULL, .handle = &t));
    EDDY_OK(eddy_loop_step(l)); /* starts it */
    EDDY_OK(eddy_loop_run_until(l, t, &st));
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(7200));
    EDDY_OK(eddy_loop_close(l));
    return 0;
}
