/* Core tests: eddy_run itself (A1): options, nesting, deadlock detection, leak reports (D4),
 * signals (B9), the seeded scheduler (X2) and eddy_dump (D3). */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>

#include "test_core_util.h"

static int ret0(void *arg)
{
    (void)arg;
    return 0;
}

static int ret_arg(void *arg) { return (int)(intptr_t)arg; }

static int nested_run(void *arg)
{
    (void)arg;
    EDDY_CHECK_EQ(eddy_run(ret0, NULL), -EBUSY);
    eddy_opts o = core_opts();
    EDDY_CHECK_EQ(eddy_run_opts(ret0, NULL, &o), -EBUSY);
    return 0;
}

EDDY_TEST_EX(run_options_and_errors, .raw = true)
{
    eddy_opts o = core_opts();
    EDDY_CHECK_EQ(eddy_run_opts(ret_arg, (void *)(intptr_t)-EXDEV, &o), -EXDEV); /* main's status */
    EDDY_CHECK_EQ(eddy_run_opts(ret_arg, (void *)(intptr_t)3, &o), 3);
    EDDY_CHECK_EQ(eddy_run_opts(NULL, NULL, &o), -EINVAL);
    o.clock_kind = 9;
    EDDY_CHECK_EQ(eddy_run_opts(ret0, NULL, &o), -EINVAL);
    o = core_opts();
    o.backend = "nope";
    EDDY_CHECK_EQ(eddy_run_opts(ret0, NULL, &o), -EINVAL);
    o.backend = "epoll";
    EDDY_OK(eddy_run_opts(nested_run, NULL, &o));
    o = core_opts();
    o.stack_size = 256 * 1024;
    o.poll_interval = 3;
    EDDY_OK(eddy_run_opts(ret0, NULL, &o));
    EDDY_OK(eddy_run_opts(ret0, NULL, NULL)); /* defaults (signals installed and restored) */
    EDDY_OK(eddy_run(ret0, NULL));
    EDDY_CHECK(eddy_loop_current() == NULL);
    return 0;
}

/* ---- deadlock detection ---- */

static int unwound;
static int sleeps_forever(void *arg)
{
    (void)arg;
    int rc = eddy_sleep_forever();
    if (rc == -ECANCELED) unwound++; /* the detector cancels everything so tasks unwind */
    return rc;
}

static int deadlock_main(void *arg)
{
    (void)arg;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sleeps_forever, NULL, .name = "stuck-child"));
        if (eddy_sleep_forever() == -ECANCELED) unwound++;
    }
    printf("unwound %d\n", unwound);
    return 0;
}

static int deadlock_child(void *arg)
{
    eddy_opts o = core_opts();
    o.flags |= (unsigned)(intptr_t)arg;
    int rc = eddy_run_opts(deadlock_main, NULL, &o);
    printf("run %d\n", rc);
    return 0;
}

EDDY_TEST_EX(deadlock_is_detected_and_tasks_unwind, .raw = true)
{
    unsigned variants[2] = {EDDY_OPT_NO_SIGNALS, 0};
    for (int i = 0; i < 2; i++) {
        char out[8192];
        int st = core_run_child(deadlock_child, (void *)(intptr_t)variants[i], out, sizeof out);
        EDDY_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        char want[32];
        snprintf(want, sizeof want, "run %d", -EDEADLK);
        if (!strstr(out, want) || !strstr(out, "deadlock") || !strstr(out, "stuck-child") ||
            !strstr(out, "sleep forever") || !strstr(out, "unwound 2"))
            eddy_test_fail(__FILE__, __LINE__, "unexpected output: %s", out);
    }
    return 0;
}

/* Virtual clock with autojump disabled: a pending timer alone cannot fire, so a task
 * waiting for it is deadlocked too. */
static int sleeps_long(void *arg)
{
    (void)arg;
    return eddy_sleep(EDDY_SEC(5)) == -ECANCELED ? 0 : -EPROTO;
}

EDDY_TEST_EX(deadlock_with_autojump_off, .raw = true)
{
    eddy_opts o = core_opts();
    o.autojump_threshold = EDDY_FOREVER;
    o.flags |= EDDY_OPT_QUIET;
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    int rc = eddy_run_opts(sleeps_long, NULL, &o);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    EDDY_CHECK_EQ(rc, -EDEADLK);
    return 0;
}

/* Issue 7, bug 1: a duration of EDDY_FOREVER is "no limit" everywhere. eddy_sleep, a ticker's
 * period and eddy_call_later's delay used to saturate to EDDY_FOREVER - 1 (or, call_later,
 * to overflow into the past), which the virtual clock jumps to like any deadline: the sleep
 * ended, the ticker ticked and the callback ran. Alone in a loop they must be a deadlock. */
static eddy_event forever_ev;
static void forever_set(void *arg)
{
    (void)arg;
    eddy_event_set(&forever_ev);
}

static int forever_main(void *arg)
{
    int rc = -EPROTO, which = (int)(intptr_t)arg;
    /* eddy_now() > 0, so that now + EDDY_FOREVER is out of range (case 3 stays at 0, where a
     * timer at EDDY_FOREVER itself kept the loop waiting in epoll_wait forever). */
    if (which != 3) EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    switch (which) {
    case 0:
    case 3:
        rc = eddy_sleep(EDDY_FOREVER);
        break;
    case 1: {
        eddy_ticker tk = {0};
        EDDY_OK(eddy_ticker_start(&tk, EDDY_FOREVER, 0));
        rc = eddy_ticker_wait(&tk, NULL);
        eddy_ticker_stop(&tk);
        break;
    }
    case 2: {
        eddy_timer t = {0};
        eddy_event_init(&forever_ev);
        EDDY_OK(eddy_call_later(&t, EDDY_FOREVER, forever_set, NULL));
        rc = eddy_event_wait(&forever_ev);
        (void)eddy_timer_stop(&t);
        break;
    }
    }
    return rc == -ECANCELED ? 0 : -EPROTO;
}

EDDY_TEST_EX(forever_durations_never_end_on_the_virtual_clock, .raw = true)
{
    for (int i = 0; i < 4; i++) {
        eddy_opts o = core_opts();
        o.flags |= EDDY_OPT_QUIET;
        fflush(stderr);
        int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        int rc = eddy_run_opts(forever_main, (void *)(intptr_t)i, &o);
        dup2(saved, 2);
        close(saved);
        close(devnull);
        if (rc != -EDEADLK) eddy_test_fail(__FILE__, __LINE__, "case %d: run %d", i, rc);
    }
    return 0;
}

/* Issue 7, bug 7: eddy_run gave every thread that ran a loop a 64 KiB alternate signal stack
 * (for the stack-overflow report) and never released it: a thread that ran a loop and exited
 * leaked it, and its signal state was left changed. ASan hid that (it installs its own
 * alternate stack on every thread, which eddy then uses as it is). Now the stack lives as
 * long as the thread's loop: each thread below must find its alternate stack as it was before
 * its loop, and neither the heap nor the stacks' mappings may grow with the number of threads. */
static int altstack_ok_threads;

static bool same_altstack(const stack_t *a, const stack_t *b)
{
    if ((a->ss_flags & SS_DISABLE) != (b->ss_flags & SS_DISABLE)) return false;
    return (a->ss_flags & SS_DISABLE) || (a->ss_sp == b->ss_sp && a->ss_size == b->ss_size);
}

static void *altstack_thread(void *arg)
{
    (void)arg;
    stack_t before, after;
    EDDY_OK(sigaltstack(NULL, &before));
    eddy_opts o = core_opts();
    EDDY_OK(eddy_run_opts(ret0, NULL, &o));
    EDDY_OK(sigaltstack(NULL, &after));
    if (same_altstack(&before, &after)) __atomic_add_fetch(&altstack_ok_threads, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Mappings shaped like eddy's alternate stacks (a page with no access, then 64 KiB read-write
 * right above it): counting every mapping would also count what a sanitizer maps per thread. */
static int count_altstack_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE), prev_end = 0;
    bool prev_guard = false;
    int n = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3) continue;
        if (prev_guard && lo == prev_end && hi - lo == 64 * 1024 && !strncmp(perms, "rw", 2)) n++;
        prev_guard = hi - lo == page && !strncmp(perms, "---", 3);
        prev_end = hi;
    }
    fclose(f);
    return n;
}

static void run_threads(int n)
{
    for (int i = 0; i < n; i++) {
        pthread_t t;
        EDDY_OK(pthread_create(&t, NULL, altstack_thread, NULL));
        EDDY_OK(pthread_join(t, NULL));
    }
}

EDDY_TEST_EX(altstack_released_when_the_loop_ends, .raw = true)
{
    enum { N = 200 };
    /* This thread too: its state after a loop is its state before. */
    stack_t before, after;
    EDDY_OK(sigaltstack(NULL, &before));
    eddy_opts o = core_opts();
    EDDY_OK(eddy_run_opts(ret0, NULL, &o));
    EDDY_OK(sigaltstack(NULL, &after));
    EDDY_CHECK(same_altstack(&before, &after));
    run_threads(4); /* thread stacks, arenas and pools settle */
    altstack_ok_threads = 0;
    size_t heap0 = mallinfo2().uordblks;
    int maps0 = count_altstack_maps();
    run_threads(N);
    size_t heap1 = mallinfo2().uordblks;
    int maps1 = count_altstack_maps();
    EDDY_CHECK_EQ(altstack_ok_threads, N);
    /* 64 KiB per thread would be 12.5 MiB; allow a little noise. */
    if (heap1 > heap0 + 256 * 1024)
        eddy_test_fail(__FILE__, __LINE__, "heap grew by %zu bytes over %d loop threads",
                       heap1 - heap0, N);
    if (maps1 > maps0)
        eddy_test_fail(__FILE__, __LINE__, "alternate stacks mapped: %d before, %d after %d "
                       "loop threads", maps0, maps1, N);
    return 0;
}

/* Regression (docs/api.md, "Durations"): a negative autojump_threshold meant "never"; a duration
 * is never negative now (EDDY_FOREVER says never, as in deadlock_with_autojump_off). */
EDDY_TEST_EX(negative_autojump_threshold_is_einval, .raw = true)
{
    eddy_opts o = core_opts();
    o.autojump_threshold = -1;
    EDDY_CHECK_EQ(eddy_run_opts(sleeps_long, NULL, &o), -EINVAL);
    o.autojump_threshold = INT64_MIN;
    EDDY_CHECK_EQ(eddy_run_opts(sleeps_long, NULL, &o), -EINVAL);
    return 0;
}

/* Durations (docs/api.md): eddy_sleep(0) is a checkpoint, a negative one is -EINVAL (it was a
 * checkpoint too), EDDY_FOREVER sleeps until cancelled. */
EDDY_TEST(sleep_durations)
{
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_sleep(0));
    EDDY_CHECK_EQ(eddy_sleep(-1), -EINVAL);
    EDDY_CHECK_EQ(eddy_sleep(INT64_MIN), -EINVAL);
    EDDY_CHECK_EQ(eddy_now(), t0);
    int rc = 1;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(7)) rc = eddy_sleep(EDDY_FOREVER);
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(7));
    EDDY_OK(eddy_sleep_until(t0)); /* a time already passed: a checkpoint, not an error */
    return 0;
}

/* ---- leak reports (D4) ---- */

static eddy_timer leaked_timer;
static eddy_io leaked_io;
static int leak_fds[2];
static int leak_line;
static void never(void *arg) { (void)arg; }
static void never_io(eddy_io *w, unsigned ev) { (void)w; (void)ev; }

static int leaks_timer(void *arg)
{
    (void)arg;
    leak_line = __LINE__; EDDY_OK(eddy_call_later(&leaked_timer, EDDY_SEC(100), never, NULL));
    return 0;
}

static int leaks_watcher(void *arg)
{
    (void)arg;
    EDDY_OK(pipe(leak_fds));
    leak_line = __LINE__; EDDY_OK(eddy_io_start(&leaked_io, leak_fds[0], EDDY_READ, never_io, NULL));
    return 0;
}

typedef struct leak_case {
    int (*fn)(void *);
    unsigned flags;
} leak_case;

static int leak_child(void *arg)
{
    leak_case *c = arg;
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_NO_SIGNALS | c->flags};
    int rc = eddy_run_opts(c->fn, NULL, &o);
    printf("run %d line %d\n", rc, leak_line);
    return 0;
}

EDDY_TEST_EX(leaks_are_reported_with_their_site, .raw = true)
{
    leak_case cases[] = {
        {leaks_timer, EDDY_OPT_FAIL_ON_LEAK},
        {leaks_watcher, EDDY_OPT_FAIL_ON_LEAK},
        {leaks_timer, 0},
        {leaks_watcher, EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_QUIET},
    };
    for (int i = 0; i < 4; i++) {
        char out[4096];
        int st = core_run_child(leak_child, &cases[i], out, sizeof out);
        EDDY_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        int rc = 1, line = 0;
        const char *p = strstr(out, "run ");
        EDDY_CHECK(p && sscanf(p, "run %d line %d", &rc, &line) == 2);
        EDDY_CHECK_EQ(rc, (cases[i].flags & EDDY_OPT_FAIL_ON_LEAK) ? -ENOTRECOVERABLE : 0);
        char site[64];
        snprintf(site, sizeof site, "test_core_run.c:%d", line);
        bool quiet = cases[i].flags & EDDY_OPT_QUIET;
        if (quiet ? strstr(out, "leak") != NULL : (!strstr(out, "eddy: leak:") || !strstr(out, site)))
            eddy_test_fail(__FILE__, __LINE__, "case %d: %s", i, out);
    }
    return 0;
}

/* ---- signals (B9) ---- */

typedef struct sig_case {
    unsigned flags;
    bool stuck; /* after the first signal, block in a long shield */
} sig_case;

static int sig_main(void *arg)
{
    sig_case *c = arg;
    printf("ready\n");
    fflush(stdout);
    int rc = eddy_sleep(EDDY_SEC(100));
    printf("cancelled %d\n", rc);
    if (c->stuck) {
        printf("stuck\n");
        fflush(stdout);
        EDDY_SHIELD(EDDY_SEC(100)) { rc = eddy_sleep(EDDY_SEC(100)); }
        printf("unstuck %d\n", rc);
        return 0;
    }
    EDDY_SHIELD(EDDY_SEC(10)) { rc = eddy_sleep(EDDY_MSEC(1)); } /* cleanup still works */
    printf("cleaned %d then %d\n", rc, eddy_yield());
    fflush(stdout);
    return 0;
}

/* Fork a loop on the real clock; send sig when it prints "ready" (and again on "stuck");
 * return the wait status and the output. */
static int run_sig_child(sig_case *c, int sig, char *out, size_t len)
{
    int p[2];
    EDDY_OK(pipe(p));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        dup2(p[1], 2);
        eddy_opts o = {.flags = c->flags};
        int rc = eddy_run_opts(sig_main, c, &o);
        printf("run %d\n", rc);
        fflush(stdout);
        _exit(0);
    }
    close(p[1]);
    size_t got = 0;
    int sent = 0;
    for (;;) {
        ssize_t r = read(p[0], out + got, len - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        out[got] = 0;
        if (sent == 0 && strstr(out, "ready")) {
            kill(pid, sig);
            sent = 1;
        }
        if (sent == 1 && strstr(out, "stuck\n")) {
            kill(pid, sig);
            sent = 2;
        }
    }
    out[got] = 0;
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return st;
}

EDDY_TEST_EX(sigint_cancels_root_gracefully, .raw = true)
{
#if defined(__SANITIZE_THREAD__)
    /* Under ThreadSanitizer (gcc 12's libtsan) a forked child sometimes never ran eddy's
     * handler for the SIGINT/SIGTERM sent to it, on both backends, and the case hung: 7 of
     * about 180 runs of it (8 children each). What was ruled out and seen (2026-12-06):
     *  - Not a wait TSan cannot interrupt. TSan runs a handler at once only inside a call it
     *    intercepts as blocking, and otherwise queues the signal for the thread's next
     *    intercepted call; io_uring's io_uring_enter is a raw system call, so that would
     *    explain io_uring alone. But epoll children hang too, asleep in epoll_wait, which TSan
     *    intercepts as blocking; and io_uring children still hung when an experiment moved
     *    their wait into poll() on the ring's eventfd (also intercepted as blocking).
     *  - gdb on hung children: eddy's handler never ran (sigdisp.c's builtin_hits and caught
     *    0, its eventfd open, SIGINT and SIGTERM in its installed mask and in the kernel's
     *    SigCgt: TSan's wrapper); nothing pending in the kernel (SigPnd 0); the only other
     *    thread is TSan's background thread, with SIGINT blocked; and the loop thread's
     *    interrupted poll() shows -ERESTART_RESTARTBLOCK: the signal was delivered to it,
     *    inside the blocking call, and TSan's wrapper did not pass it on.
     * So the signal is lost inside TSan's own signal handling in a grandchild forked from a
     * forked process, below anything eddy can change. The test crosses no thread: the release
     * and ASan configurations run it. */
    printf("# skipped: ThreadSanitizer does not reliably deliver a handled signal after fork\n");
    return 0;
#endif
    char out[4096];
    sig_case graceful = {0};
    int sigs[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        int st = run_sig_child(&graceful, sigs[i], out, sizeof out);
        char want[64];
        snprintf(want, sizeof want, "cancelled %d", -ECANCELED);
        if (!WIFEXITED(st) || !strstr(out, want) || !strstr(out, "cleaned 0 then -125") ||
            !strstr(out, "run 0"))
            eddy_test_fail(__FILE__, __LINE__, "signal %d, status 0x%x: %s", sigs[i], st, out);
    }
    /* a second signal while shutdown is stuck kills the process */
    sig_case stuck = {.stuck = true};
    int st = run_sig_child(&stuck, SIGINT, out, sizeof out);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGINT || strstr(out, "unstuck"))
        eddy_test_fail(__FILE__, __LINE__, "status 0x%x: %s", st, out);
    /* opting out: the signal keeps its default action */
    sig_case optout = {.flags = EDDY_OPT_NO_SIGNALS};
    st = run_sig_child(&optout, SIGINT, out, sizeof out);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGINT || strstr(out, "cancelled"))
        eddy_test_fail(__FILE__, __LINE__, "status 0x%x: %s", st, out);
    return 0;
}

/* ---- seeded scheduler (X2) ---- */

static char strace_buf[256];
static size_t nstrace;

static int tracer(void *arg)
{
    for (int i = 0; i < 6; i++) {
        strace_buf[nstrace++] = (char)(intptr_t)arg;
        EDDY_OK(i % 3 == 2 ? eddy_sleep(1) : eddy_yield());
    }
    return 0;
}

static int trace_main(void *arg)
{
    (void)arg;
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (char c = 'a'; c <= 'e'; c++) EDDY_OK(eddy_spawn(n, tracer, (void *)(intptr_t)c));
    }
    strace_buf[nstrace] = 0;
    return rc;
}

static void trace_with_seed(uint64_t seed, char *out)
{
    eddy_opts o = core_opts();
    o.sched_seed = seed;
    nstrace = 0;
    EDDY_OK(eddy_run_opts(trace_main, NULL, &o));
    strcpy(out, strace_buf);
}

EDDY_TEST_EX(seeded_scheduler_is_reproducible, .raw = true)
{
    unsetenv("EDDY_SCHED_SEED");
    char fifo[256], a[256], b[256];
    trace_with_seed(0, fifo);
    EDDY_CHECK(!strncmp(fifo, "abcde", 5)); /* eager spawn order */
    trace_with_seed(0, a);
    EDDY_CHECK(!strcmp(fifo, a));
    int differing = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        trace_with_seed(seed, a);
        trace_with_seed(seed, b);
        EDDY_CHECK(!strcmp(a, b)); /* same seed, same interleaving */
        EDDY_CHECK_EQ(strlen(a), 30);
        if (strcmp(a, fifo)) differing++;
    }
    EDDY_CHECK(differing >= 4); /* seeds permute the order */
    setenv("EDDY_SCHED_SEED", "5", 1); /* the environment supplies a seed */
    trace_with_seed(0, a);
    unsetenv("EDDY_SCHED_SEED");
    trace_with_seed(5, b);
    EDDY_CHECK(!strcmp(a, b));
    return 0;
}

EDDY_TEST_EX(seeded_test_option, .sched_seed = 12345)
{
    nstrace = 0;
    EDDY_OK(trace_main(NULL));
    EDDY_CHECK_EQ(strlen(strace_buf), 30);
    return 0;
}

/* EDDY_OPT_FIFO: the order a test of the order itself relies on, whatever the environment
 * (the CI runs the whole suite under EDDY_SCHED_SEED=1, 2 and 3). */
EDDY_TEST_EX(fifo_flag_overrides_the_seed, .raw = true)
{
    char fifo[256], pinned[256];
    unsetenv("EDDY_SCHED_SEED");
    trace_with_seed(0, fifo);
    setenv("EDDY_SCHED_SEED", "5", 1);
    eddy_opts o = core_opts();
    o.flags |= EDDY_OPT_FIFO;
    o.sched_seed = 7; /* beats an explicit seed too */
    nstrace = 0;
    EDDY_OK(eddy_run_opts(trace_main, NULL, &o));
    strcpy(pinned, strace_buf);
    unsetenv("EDDY_SCHED_SEED");
    EDDY_CHECK(!strcmp(fifo, pinned));
    return 0;
}

/* ---- environment variables ---- */

static const char *env_name, *env_value;

/* On the virtual clock (which starts at 0) sleep 100 s, which takes no real time. */
static int env_clock_main(void *arg)
{
    (void)arg;
    bool virt = eddy_now() == 0;
    if (virt) EDDY_OK(eddy_sleep(EDDY_SEC(100)));
    printf("%s now=%lld backend=%s\n", virt ? "virtual" : "real", (long long)eddy_now(),
           eddy_backend_name());
    return 0;
}

/* In a child: set env_name=env_value, run a loop on the default (monotonic) clock. */
static int env_child(void *arg)
{
    (void)arg;
    setenv(env_name, env_value, 1);
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS};
    int rc = eddy_run_opts(env_clock_main, NULL, &o);
    printf("rc=%d\n", rc);
    return 0;
}

static void run_with_env(const char *name, const char *value, char *out, size_t len)
{
    env_name = name;
    env_value = value;
    int st = core_run_child(env_child, NULL, out, len);
    EDDY_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A bad value fails eddy_run with -EINVAL and says which variable, which value, and what is
 * valid, instead of a bare "Invalid argument" or being silently ignored. */
EDDY_TEST_EX(environment_bad_values_are_named, .raw = true)
{
    static const struct {
        const char *name, *value, *valid;
    } bad[] = {
        {"EDDY_BACKEND", "bogus", "use one of: epoll, io_uring (any case), or leave it unset"},
        {"EDDY_CLOCK", "VIRTAUL", "use one of: monotonic, virtual (any case), or leave it unset"},
        {"EDDY_CLOCK", " virtual", "use one of: monotonic, virtual"},
        {"EDDY_SCHED_SEED", "abc", "use an unsigned integer (decimal or 0x hex"},
        {"EDDY_SCHED_SEED", "-1", "use an unsigned integer"},
        {"EDDY_SCHED_SEED", "12x", "use an unsigned integer"},
        {"EDDY_SCHED_SEED", "99999999999999999999999", "use an unsigned integer"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[1024], want[256];
        run_with_env(bad[i].name, bad[i].value, out, sizeof out);
        snprintf(want, sizeof want, "eddy: %s=\"%s\" is not valid; %s", bad[i].name, bad[i].value,
                 bad[i].valid);
        if (!strstr(out, want) || !strstr(out, "rc=-22\n") || strstr(out, "now="))
            eddy_test_fail(__FILE__, __LINE__, "want \"%s\" and rc=-22, got: %s", want, out);
    }
    return 0;
}

/* Names are matched without regard to case; empty is unset; numbers may be hex. */
EDDY_TEST_EX(environment_values_ignore_case, .raw = true)
{
    char out[1024];
    run_with_env("EDDY_CLOCK", "VIRTUAL", out, sizeof out); /* the virtual clock: no waiting */
    /* (on this pass's backend: the harness names it in EDDY_BACKEND) */
    if (!strstr(out, "virtual now=100000000000 backend=") || !strstr(out, "\nrc=0\n"))
        eddy_test_fail(__FILE__, __LINE__, "EDDY_CLOCK=VIRTUAL: %s", out);
    run_with_env("EDDY_CLOCK", "Virtual", out, sizeof out);
    EDDY_CHECK(strstr(out, "virtual now=100000000000 ") != NULL);
    run_with_env("EDDY_BACKEND", "EPoll", out, sizeof out);
    EDDY_CHECK(strstr(out, "backend=epoll\nrc=0\n") != NULL);
    run_with_env("EDDY_SCHED_SEED", "0x10", out, sizeof out);
    EDDY_CHECK(strstr(out, "rc=0\n") != NULL);
    run_with_env("EDDY_CLOCK", "", out, sizeof out); /* empty: unset, the real clock */
    EDDY_CHECK(strstr(out, "real now=") != NULL && strstr(out, "rc=0\n") != NULL);
    run_with_env("EDDY_CLOCK", "monotonic", out, sizeof out);
    EDDY_CHECK(strstr(out, "real now=") != NULL && strstr(out, "rc=0\n") != NULL);
    /* The program's own option takes a name in any case too. */
    eddy_opts o = core_opts();
    o.backend = "EPOLL";
    EDDY_OK(eddy_run_opts(ret0, NULL, &o));
    return 0;
}

/* The test runner's own variable is checked the same way. */
static int runner_with_bad_timeout(void *arg)
{
    (void)arg;
    setenv("EDDY_TEST_TIMEOUT", "soon", 1);
    char *argv[] = {"runner", "no-such-test", NULL};
    return eddy_test_main(2, argv);
}

EDDY_TEST_EX(environment_test_timeout_is_checked, .raw = true)
{
    char out[512];
    int st = core_run_child(runner_with_bad_timeout, NULL, out, sizeof out);
    EDDY_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    if (!strstr(out, "EDDY_TEST_TIMEOUT=\"soon\" is not valid; use a whole number 1..1000"))
        eddy_test_fail(__FILE__, __LINE__, "got: %s", out);
    return 0;
}

/* ---- eddy_dump (D3) ---- */

static int sleepy(void *arg)
{
    (void)arg;
    return eddy_sleep(EDDY_SEC(5));
}

static bool json_balanced(const char *s)
{
    int depth = 0;
    bool in_str = false;
    for (; *s; s++) {
        if (in_str) {
            if (*s == '\\' && s[1]) s++;
            else if (*s == '"') in_str = false;
            continue;
        }
        if (*s == '"') in_str = true;
        else if (*s == '{' || *s == '[') depth++;
        else if (*s == '}' || *s == ']') {
            if (--depth < 0) return false;
        }
    }
    return depth == 0 && !in_str;
}

static char *cb_dump;
static size_t cb_dump_len;
static void dump_cb(void *arg)
{
    (void)arg;
    FILE *f = open_memstream(&cb_dump, &cb_dump_len);
    EDDY_OK(eddy_dump(f, EDDY_DUMP_TREE));
    fclose(f);
}

EDDY_TEST(dump_text_and_json)
{
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sleepy, NULL, .name = "sleepy \"1\""));
        EDDY_MOVE_ON_AFTER(EDDY_SEC(30)) {
            char *buf = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&buf, &len);
            EDDY_OK(eddy_dump(f, EDDY_DUMP_TREE));
            fclose(f);
            if (!strstr(buf, "sleepy \"1\"") || !strstr(buf, "blocked: sleep deadline=+5.000s") ||
                !strstr(buf, "test_core_run.c:") || !strstr(buf, "nursery at") ||
                !strstr(buf, "\"main\" running") || !strstr(buf, "cancel scope at") ||
                !strstr(buf, "deadline=+30.000s") || !strstr(buf, eddy_backend_name()))
                eddy_test_fail(__FILE__, __LINE__, "dump: %s", buf);
            free(buf);
            buf = NULL;
            f = open_memstream(&buf, &len);
            EDDY_OK(eddy_dump(f, EDDY_DUMP_JSON));
            fclose(f);
            if (!json_balanced(buf) || !strstr(buf, "\"tree\":") ||
                !strstr(buf, "\"name\":\"sleepy \\\"1\\\"\"") || !strstr(buf, "\"state\":\"blocked\"") ||
                !strstr(buf, "\"wait\":\"sleep deadline=+5.000s\"") || !strstr(buf, "\"site\":\"") ||
                !strstr(buf, "\"kind\":\"nursery\"") || !strstr(buf, "\"tasks\":2"))
                eddy_test_fail(__FILE__, __LINE__, "json: %s", buf);
            free(buf);
        }
    }
    EDDY_CHECK_EQ(rc, 0);
    /* from a callback */
    EDDY_OK(eddy_call_soon(dump_cb, NULL));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK(cb_dump && strstr(cb_dump, "eddy loop"));
    free(cb_dump);
    /* errors */
    EDDY_CHECK_EQ(eddy_dump(NULL, EDDY_DUMP_TREE), -EINVAL);
    EDDY_CHECK_EQ(eddy_dump(stderr, 1u << 7), -EINVAL);
    FILE *full = fopen("/dev/full", "w");
    EDDY_CHECK(full != NULL);
    EDDY_CHECK_EQ(eddy_dump(full, EDDY_DUMP_TREE), -EIO);
    fclose(full);
    return 0;
}
