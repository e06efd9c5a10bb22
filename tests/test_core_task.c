/* Core tests: tasks and switching (A2-A4, A7, A8), FP control, stacks (overflow, ENOMEM). */
#include <fenv.h>
#include <stdint.h>
#include <sys/resource.h>

#include "arch/stack.h"
#include "test_core_util.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

/* ---- eager spawn order (A8) ---- */

static char trace[64];
static size_t ntrace;
static void tr(char c) { trace[ntrace++] = c; }

static int order_child(void *arg)
{
    char c = (char)(intptr_t)arg;
    tr(c);
    EDDY_OK(eddy_yield());
    tr((char)(c - 'a' + 'A'));
    return 0;
}

EDDY_TEST(spawn_is_eager_and_spawner_resumes_first)
{
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, order_child, (void *)(intptr_t)'a'));
        tr('1');
        EDDY_OK(eddy_spawn(n, order_child, (void *)(intptr_t)'b'));
        tr('2');
        EDDY_OK(eddy_spawn(n, order_child, (void *)(intptr_t)'c'));
        tr('3');
    }
    EDDY_CHECK_EQ(rc, 0);
    trace[ntrace] = 0;
    EDDY_CHECK(!strcmp(trace, "a1b2c3ABC"));
    return 0;
}

static int ret_val(void *arg) { return (int)(intptr_t)arg; }

static eddy_nursery *cb_nursery;
static int cb_spawn_rc = 1, cb_yield_rc = 1, cb_sleep_rc = 1, cb_scope_rc = 1, cb_open_rc = 1;
static void spawn_from_callback(void *arg)
{
    (void)arg;
    cb_spawn_rc = eddy_spawn(cb_nursery, ret_val, NULL);
    cb_yield_rc = eddy_yield();
    cb_sleep_rc = eddy_sleep(1);
    eddy_cancel_scope cs;
    cb_scope_rc = eddy_cancel_scope_enter(&cs);
    eddy_nursery n;
    cb_open_rc = eddy_nursery_open(&n);
}

EDDY_TEST(spawn_errors)
{
    eddy_nursery never = {0}, closed;
    EDDY_CHECK_EQ(eddy_spawn(&never, ret_val, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_spawn((eddy_nursery *)NULL, ret_val, NULL), -EINVAL);
    EDDY_OK(eddy_nursery_open(&closed));
    EDDY_CHECK_EQ(eddy_spawn(&closed, NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ((eddy_spawn)(&closed, NULL, NULL), -EINVAL);
    EDDY_OK((eddy_spawn)(&closed, ret_val, NULL)); /* function form works */
    cb_nursery = &closed;
    EDDY_OK(eddy_call_soon(spawn_from_callback, NULL));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(cb_spawn_rc, -EPERM);
    EDDY_CHECK_EQ(cb_yield_rc, -EPERM);
    EDDY_CHECK_EQ(cb_sleep_rc, -EPERM);
    EDDY_CHECK_EQ(cb_scope_rc, -EPERM);
    EDDY_CHECK_EQ(cb_open_rc, -EPERM);
    EDDY_OK(eddy_nursery_close(&closed));
    EDDY_CHECK_EQ(eddy_spawn(&closed, ret_val, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_nursery_close(&closed), -EINVAL); /* closing twice */
    return 0;
}

EDDY_TEST_EX(outside_a_loop_is_eperm, .raw = true)
{
    eddy_nursery n = {0};
    EDDY_CHECK_EQ(eddy_spawn(&n, ret_val, NULL), -EPERM);
    EDDY_CHECK_EQ(eddy_nursery_open(&n), -EPERM);
    EDDY_CHECK_EQ(eddy_yield(), -EPERM);
    EDDY_CHECK_EQ(eddy_checkpoint_if_cancelled(), -EPERM);
    EDDY_CHECK_EQ(eddy_sleep(1), -EPERM);
    EDDY_CHECK_EQ(eddy_sleep_until(1), -EPERM);
    EDDY_CHECK_EQ(eddy_sleep_forever(), -EPERM);
    EDDY_CHECK_EQ(eddy_wait_fd(0, EDDY_READ), -EPERM);
    EDDY_CHECK_EQ(eddy_clock_jump(1), -EPERM);
    EDDY_CHECK_EQ(eddy_call_soon(NULL, NULL), -EPERM);
    eddy_timer t = {0};
    EDDY_CHECK_EQ(eddy_call_later(&t, 1, NULL, NULL), -EPERM);
    EDDY_CHECK(!eddy_timer_stop(&t));
    EDDY_CHECK(!eddy_timer_is_pending(&t));
    eddy_gather_item g = {ret_val, NULL, 0};
    EDDY_CHECK_EQ(eddy_gather(&g, 1), -EPERM);
    EDDY_CHECK_EQ(eddy_started(NULL), -EINVAL);
    EDDY_CHECK(eddy_task_current() == NULL);
    EDDY_CHECK(eddy_cancel_scope_current() == NULL);
    EDDY_CHECK(eddy_loop_current() == NULL);
    EDDY_CHECK(eddy_task_name(NULL) == NULL);
    EDDY_CHECK_EQ(eddy_task_id(NULL), 0);
    EDDY_CHECK_EQ(eddy_now(), 0);
    EDDY_CHECK_EQ(eddy_now_fresh(), 0);
    EDDY_CHECK_EQ(eddy_effective_deadline(), EDDY_FOREVER);
    EDDY_CHECK(eddy_backend_name() == NULL);
    struct eddy_loop_stats s = {.polls = 7};
    eddy_loop_stats(&s);
    EDDY_CHECK_EQ(s.polls, 0);
    EDDY_CHECK_EQ(eddy_dump(stderr, EDDY_DUMP_TREE), -EPERM);
    int k = eddy_key_create();
    EDDY_CHECK(k >= 0);
    EDDY_CHECK_EQ(eddy_key_set(k, &k), -EPERM);
    EDDY_CHECK(eddy_key_get(k) == NULL);
    EDDY_CHECK_EQ(eddy_loopvar_set(k, &k), -EPERM);
    EDDY_CHECK(eddy_loopvar_get(k) == NULL);
    eddy_task_set_name(NULL, "x");   /* no-ops, no crash */
    eddy_task_set_error_detail("x");
    eddy_task_cancel(NULL);
    return 0;
}

/* ---- yield (A4) ---- */

static int fair_got;
static int fair_waiter(void *arg)
{
    int fd = *(int *)arg;
    int rc = eddy_wait_fd(fd, EDDY_READ);
    EDDY_CHECK(rc > 0 && (rc & EDDY_READ));
    fair_got = 1;
    return 0;
}

static int fair_spinner(void *arg)
{
    long *count = arg;
    while (!fair_got) {
        EDDY_OK(eddy_yield());
        if (++*count > 100000) return -EDEADLK;
    }
    return 0;
}

EDDY_TEST(yield_spinner_does_not_starve_io)
{
    int p[2];
    EDDY_OK(pipe(p));
    EDDY_CHECK_EQ(write(p[1], "x", 1), 1);
    long count = 0;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, fair_waiter, &p[0]));
        EDDY_OK(eddy_spawn(n, fair_spinner, &count));
    }
    EDDY_CHECK_EQ(rc, 0);
    /* The default poll interval is 64 task runs: the event is seen within about that many. */
    EDDY_CHECK(count > 0 && count <= 2 * 64 + 4);
    close(p[0]);
    close(p[1]);
    return 0;
}

static int soon_ran;
static void set_flag(void *arg) { *(int *)arg = 1; }

EDDY_TEST(yield_alone_and_cancelled)
{
    for (int i = 0; i < 1000; i++) EDDY_OK(eddy_yield());
    /* A callback queued behind a yielding task runs within one budget. */
    soon_ran = 0;
    EDDY_OK(eddy_call_soon(set_flag, &soon_ran));
    int spins = 0;
    while (!soon_ran && spins < 100000) {
        EDDY_OK(eddy_yield());
        spins++;
    }
    EDDY_CHECK(soon_ran && spins <= 64 + 2);
    EDDY_OK(eddy_checkpoint_if_cancelled());
    eddy_cancel_scope cs;
    EDDY_OK(eddy_cancel_scope_enter(&cs));
    eddy_cancel_scope_cancel(&cs);
    EDDY_CHECK_EQ(eddy_yield(), -ECANCELED);
    EDDY_CHECK_EQ(eddy_checkpoint_if_cancelled(), -ECANCELED);
    eddy_cancel_scope_exit(&cs);
    EDDY_CHECK(cs.cancelled_caught);
    EDDY_OK(eddy_yield());
    return 0;
}

/* ---- names, ids, current (A7) ---- */

static int name_child(void *arg)
{
    uint64_t *id = arg;
    *id = eddy_task_id(NULL);
    EDDY_CHECK(eddy_task_current() != NULL);
    EDDY_CHECK_EQ(eddy_task_id(eddy_task_current()), *id);
    return eddy_sleep(10);
}

static eddy_task *cb_current = (eddy_task *)1;
static const char *cb_name = "unset";
static void current_cb(void *arg)
{
    (void)arg;
    cb_current = eddy_task_current();
    cb_name = eddy_task_name(NULL);
}

static void current_io_cb(eddy_io *w, unsigned ev)
{
    (void)ev;
    cb_current = eddy_task_current();
    eddy_io_stop(w);
}

EDDY_TEST(names_ids_and_current)
{
    EDDY_CHECK_EQ(eddy_task_id(NULL), 1);
    EDDY_CHECK(!strcmp(eddy_task_name(NULL), "main"));
    EDDY_CHECK(!strcmp(eddy_task_name(eddy_task_current()), "main"));
    uint64_t id1 = 0, id2 = 0;
    eddy_task *h1, *h2;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, name_child, &id1, .handle = &h1));
        EDDY_OK(eddy_spawn(n, name_child, &id2, .handle = &h2,
                           .name = "a-very-long-task-name-that-will-be-truncated"));
        EDDY_CHECK_EQ(id1, 2);
        EDDY_CHECK_EQ(id2, 3);
        EDDY_CHECK(!strcmp(eddy_task_name(h1), "task-2"));
        EDDY_CHECK_EQ(strlen(eddy_task_name(h2)), EDDY_TASK_NAME_MAX - 1);
        EDDY_CHECK(!strncmp(eddy_task_name(h2), "a-very-long-task-name", 21));
        eddy_task_set_name(h1, "renamed");
        EDDY_CHECK(!strcmp(eddy_task_name(h1), "renamed"));
        eddy_task_set_name(h1, NULL);
        EDDY_CHECK(!strcmp(eddy_task_name(h1), "task-2"));
        int st;
        EDDY_OK(eddy_task_join(h1, &st));
        EDDY_OK(eddy_task_join(h2, &st));
    }
    EDDY_CHECK_EQ(rc, 0);
    eddy_task_set_name(NULL, "main2");
    EDDY_CHECK(!strcmp(eddy_task_name(NULL), "main2"));
    /* Callback context: no current task. */
    EDDY_OK(eddy_call_soon(current_cb, NULL));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK(cb_current == NULL);
    EDDY_CHECK(cb_name == NULL);
    cb_current = (eddy_task *)1;
    eddy_timer t = {0};
    EDDY_OK(eddy_call_later(&t, 5, current_cb, NULL));
    EDDY_OK(eddy_sleep(10));
    EDDY_CHECK(cb_current == NULL);
    cb_current = (eddy_task *)1;
    int p[2];
    EDDY_OK(pipe(p));
    EDDY_CHECK_EQ(write(p[1], "x", 1), 1);
    eddy_io w = {0};
    EDDY_OK(eddy_io_start(&w, p[0], EDDY_READ, current_io_cb, NULL));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK(cb_current == NULL);
    close(p[0]);
    close(p[1]);
    struct eddy_loop_stats s;
    eddy_loop_stats(&s);
    EDDY_CHECK_EQ(s.tasks_spawned, 3);
    EDDY_CHECK_EQ(s.tasks_live, 1);
    const char *be = eddy_backend_name();
    EDDY_CHECK(be && (!strcmp(be, "epoll") || !strcmp(be, "io_uring")));
    EDDY_CHECK(eddy_loop_current() != NULL);
    eddy_loop_stats(NULL); /* no crash */
    return 0;
}

/* ---- task-local and loop-local values (A7) ---- */

static eddy_key key_a, key_b;
static int tls_child(void *arg)
{
    (void)arg;
    EDDY_CHECK_EQ(*(int *)eddy_key_get(key_a), 1);
    EDDY_CHECK(eddy_key_get(key_b) == NULL);
    static int other = 2;
    EDDY_OK(eddy_key_set(key_a, &other)); /* the child's copy only */
    EDDY_OK(eddy_sleep(5));
    EDDY_CHECK_EQ(*(int *)eddy_key_get(key_a), 2);
    EDDY_CHECK_EQ(*(int *)eddy_loopvar_get(key_a), 7);
    return 0;
}

static void *cb_tls = (void *)1;
static int cb_tls_rc;
static void tls_cb(void *arg)
{
    (void)arg;
    cb_tls = eddy_key_get(key_a);
    cb_tls_rc = eddy_key_set(key_a, NULL);
}

EDDY_TEST(task_keys_copied_into_children)
{
    key_a = eddy_key_create();
    key_b = eddy_key_create();
    EDDY_CHECK(key_a >= 0 && key_b > key_a);
    static int one = 1, seven = 7;
    EDDY_CHECK(eddy_key_get(key_a) == NULL);
    EDDY_OK(eddy_key_set(key_a, &one));
    EDDY_OK(eddy_loopvar_set(key_a, &seven));
    EDDY_CHECK_EQ(eddy_key_set(-1, &one), -EINVAL);
    EDDY_CHECK_EQ(eddy_key_set(key_b + 1, &one), -EINVAL); /* not created yet */
    EDDY_CHECK_EQ(eddy_loopvar_set(EDDY_MAX_KEYS, &one), -EINVAL);
    EDDY_CHECK(eddy_key_get(EDDY_MAX_KEYS) == NULL);
    EDDY_CHECK(eddy_loopvar_get(-3) == NULL);
    int rc;
    EDDY_NURSERY(n, &rc) { EDDY_OK(eddy_spawn(n, tls_child, NULL)); }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(*(int *)eddy_key_get(key_a), 1); /* the parent kept its value */
    EDDY_OK(eddy_call_soon(tls_cb, NULL));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK(cb_tls == NULL);
    EDDY_CHECK_EQ(cb_tls_rc, -EPERM);
    /* EDDY_MAX_KEYS keys per process, then -EAGAIN. */
    int k;
    while ((k = eddy_key_create()) >= 0) {
    }
    EDDY_CHECK_EQ(k, -EAGAIN);
    EDDY_CHECK_EQ(eddy_key_create(), -EAGAIN);
    return 0;
}

/* ---- FP control words are per task ---- */

/* Rounding mode get/set without libm (the test binaries do not link it): what fesetround
 * does, on the control registers directly. */
#if defined(__x86_64__)
static unsigned mx_round(void) { return (_mm_getcsr() >> 13) & 3; }
static int my_getround(void)
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw & 0xc00; /* FE_* values are the x87 RC bits */
}
static int my_setround(int mode)
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    cw = (unsigned short)((cw & ~0xc00) | mode);
    __asm__ volatile("fldcw %0" ::"m"(cw));
    _mm_setcsr((_mm_getcsr() & ~0x6000u) | ((unsigned)mode << 3));
    return 0;
}
static unsigned mx_of(int mode) { return (unsigned)mode >> 10; }
#define FTZ_DAZ 0x8040u
static unsigned ftz_bits(void) { return _mm_getcsr() & FTZ_DAZ; }
static void ftz_on(void) { _mm_setcsr(_mm_getcsr() | FTZ_DAZ); }
#elif defined(__aarch64__)
static uint64_t fpcr_get(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
}
static void fpcr_set(uint64_t v) { __asm__ volatile("msr fpcr, %0" ::"r"(v)); }
static int my_getround(void) { return (int)(fpcr_get() & (3u << 22)); } /* FE_* = RMode bits */
static int my_setround(int mode)
{
    fpcr_set((fpcr_get() & ~(uint64_t)(3u << 22)) | (uint64_t)mode);
    return 0;
}
#define FZ_BIT (1ull << 24)
static unsigned ftz_bits(void) { return (fpcr_get() & FZ_BIT) ? 1 : 0; }
static void ftz_on(void) { fpcr_set(fpcr_get() | FZ_BIT); }
#else
#error "add the rounding-mode accessors for this target"
#endif
#define fegetround my_getround
#define fesetround my_setround

static int cb_round = -1;
static void round_cb(void *arg)
{
    (void)arg;
    cb_round = fegetround();
}

static int fp_task(void *arg)
{
    int mode = (int)(intptr_t)arg;
    EDDY_OK(fesetround(mode));
    if (mode == FE_UPWARD) ftz_on();
    volatile double one = 1.0, three = 3.0;
    double first = one / three;
    for (int i = 0; i < 50; i++) {
        EDDY_OK(i % 10 == 5 ? eddy_sleep(1) : eddy_yield());
        EDDY_CHECK_EQ(fegetround(), mode);
#if defined(__x86_64__)
        EDDY_CHECK_EQ(mx_round(), mx_of(mode));
#endif
        EDDY_CHECK_EQ(ftz_bits() != 0, mode == FE_UPWARD);
        double again = one / three;
        EDDY_CHECK(again == first);
    }
    return 0;
}

EDDY_TEST(fp_control_is_per_task)
{
    volatile double one = 1.0, three = 3.0;
    double nearest = one / three;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, fp_task, (void *)(intptr_t)FE_DOWNWARD));
        EDDY_OK(eddy_spawn(n, fp_task, (void *)(intptr_t)FE_UPWARD));
        EDDY_OK(eddy_spawn(n, fp_task, (void *)(intptr_t)FE_TOWARDZERO));
        EDDY_OK(eddy_spawn(n, fp_task, (void *)(intptr_t)FE_TONEAREST));
        for (int i = 0; i < 20; i++) {
            EDDY_OK(eddy_yield());
            EDDY_CHECK_EQ(fegetround(), FE_TONEAREST);
            EDDY_CHECK_EQ(ftz_bits(), 0);
            EDDY_CHECK(one / three == nearest);
        }
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(fegetround(), FE_TONEAREST);
    /* A task's mode does not leak into callbacks either (they run on the loop's stack). */
    EDDY_OK(fesetround(FE_UPWARD));
    EDDY_OK(eddy_call_soon(round_cb, NULL));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(fegetround(), FE_UPWARD);
    EDDY_CHECK_EQ(cb_round, FE_TONEAREST);
    EDDY_OK(fesetround(FE_TONEAREST));
    return 0;
}

/* ---- stacks ---- */

static int __attribute__((noinline)) recurse(int n)
{
    volatile char buf[1024];
    buf[0] = (char)n;
    buf[sizeof buf - 1] = (char)n;
    if (n == 0) return buf[0];
    return recurse(n - 1) + buf[sizeof buf - 1];
}

static int big_stack_task(void *arg)
{
    (void)arg;
    return recurse(150) > 1000000 ? -EIO : 0; /* ~150 KiB of frames */
}

EDDY_TEST(custom_stack_size)
{
    int rc;
    EDDY_NURSERY(n, &rc) { EDDY_OK(eddy_spawn(n, big_stack_task, NULL, .stack_size = 512 * 1024)); }
    EDDY_CHECK_EQ(rc, 0);
    return 0;
}

static int overflow_task(void *arg)
{
    (void)arg;
    return recurse(1 << 20) == 7 ? -EIO : 0;
}

static int sleeper(void *arg)
{
    (void)arg;
    return eddy_sleep_forever();
}

static int overflow_main(void *arg)
{
    (void)arg;
    int rc;
    EDDY_NURSERY(n, &rc) {
        fprintf(stderr, "guard=%s\n", eddy__stack_guard_mode());
        fflush(stderr);
        /* land in the middle of a second 256-slot region: every slot is guarded */
        for (int i = 0; i < 300; i++) EDDY_OK(eddy_spawn(n, sleeper, NULL));
        EDDY_OK(eddy_spawn(n, overflow_task, NULL, .name = "deep-diver"));
    }
    return rc;
}

static int overflow_child(void *arg)
{
    (void)arg;
    eddy_opts o = core_opts();
    return eddy_run_opts(overflow_main, NULL, &o);
}

EDDY_TEST_EX(stack_overflow_names_the_task, .raw = true)
{
    if (core_emulated()) {
        printf("# skipped: user-mode emulation does not deliver guard-page faults\n");
        return 0;
    }
    char out[4096];
    int st = core_run_child(overflow_child, NULL, out, sizeof out);
    if (!strstr(out, "stack overflow") || !strstr(out, "deep-diver"))
        eddy_test_fail(__FILE__, __LINE__, "unexpected output: %s", out);
    EDDY_CHECK(strstr(out, "test_core_task.c:") != NULL); /* the spawn site */
    EDDY_CHECK(strstr(out, "guard=madvise") != NULL);
#if !CORE_SANITIZED
    EDDY_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
#else
    EDDY_CHECK(!WIFEXITED(st) || WEXITSTATUS(st) != 0);
#endif
    return 0;
}

static long vm_bytes(void)
{
    long size = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld", &size) != 1) size = 0;
        fclose(f);
    }
    return size * sysconf(_SC_PAGESIZE);
}

static int enomem_main(void *arg)
{
    (void)arg;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0) return -EIO;
    rl.rlim_cur = (rlim_t)vm_bytes() + (64u << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0) return -EIO;
    eddy_nursery n;
    EDDY_OK(eddy_nursery_open(&n));
    int rc = 0;
    long spawned = 0;
    while (spawned < 100000 && (rc = eddy_spawn(&n, sleeper, NULL)) == 0)
        spawned++;
    printf("spawned %ld before %d\n", spawned, rc);
    EDDY_CHECK_EQ(rc, -ENOMEM);
    EDDY_CHECK(spawned > 100);
    EDDY_CHECK_EQ(eddy_spawn(&n, ret_val, NULL), -ENOMEM); /* still clean */
    eddy_nursery_cancel(&n);
    EDDY_OK(eddy_nursery_close(&n));
    return 0;
}

static int enomem_child(void *arg)
{
    (void)arg;
    eddy_opts o = core_opts();
    int rc = eddy_run_opts(enomem_main, NULL, &o);
    printf("eddy_run returned %d\n", rc);
    return rc;
}

EDDY_TEST_EX(spawn_enomem_under_rlimit_as, .raw = true)
{
    if (core_emulated()) {
        printf("# skipped: user-mode emulation does not apply RLIMIT_AS to the guest\n");
        return 0;
    }
    if (CORE_SANITIZED) {
        printf("# skipped: sanitizers reserve more address space than any small RLIMIT_AS\n");
        return 0;
    }
    char out[4096];
    int st = core_run_child(enomem_child, NULL, out, sizeof out);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        eddy_test_fail(__FILE__, __LINE__, "child failed (status 0x%x): %s", st, out);
    EDDY_CHECK(strstr(out, "eddy_run returned 0") != NULL);
    return 0;
}

/* ---- the stack pool gives memory back after a burst ---- */

static int burst_main(void *arg)
{
    (void)arg;
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 3000; i++) EDDY_OK(eddy_spawn(n, sleeper, NULL));
        eddy_nursery_cancel(n);
    }
    return rc;
}

EDDY_TEST_EX(stack_pool_trimmed_after_burst, .raw = true)
{
    eddy_opts o = core_opts();
    EDDY_OK(eddy_run_opts(ret_val, NULL, &o));
    long before = vm_bytes();
    EDDY_OK(eddy_run_opts(burst_main, NULL, &o));
    long after = vm_bytes();
    /* 3000 stacks of 64 KiB are ~200 MiB of address space: a burst must not pin them */
    EDDY_CHECK(after - before < 64L << 20);
    EDDY_OK(eddy_run_opts(burst_main, NULL, &o)); /* and the pool works again afterwards */
    EDDY_OK(eddy_run_opts(ret_val, NULL, &o));
    return 0;
}

/* ---- frames survive switches (and ASan, told of every switch, sees no false errors) ---- */

static int __attribute__((noinline)) frame_user(int id, int depth)
{
    volatile unsigned char buf[6000];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(id + i);
    int rc = depth ? frame_user(id, depth - 1) : 0;
    for (int k = 0; k < 5 && rc == 0; k++) {
        rc = eddy_yield();
        for (size_t i = 0; i < sizeof buf; i += 97)
            if (buf[i] != (unsigned char)(id + i)) return -EIO;
    }
    return rc;
}

static int frame_task(void *arg) { return frame_user((int)(intptr_t)arg, 3); }

EDDY_TEST(stack_frames_survive_switches)
{
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 16; i++) EDDY_OK(eddy_spawn(n, frame_task, (void *)(intptr_t)i));
    }
    EDDY_CHECK_EQ(rc, 0);
    return 0;
}

/* ---- the park protocol (internal.h) ---- */

#include "internal.h"

/* Issue 7, bug 3: eddy__park left by two paths on cancellation. A task cancelled while parked
 * had its wait's cancel hook run (it unlinks the waiter); a task already cancelled when it
 * came to park returned the cancel code without it, so every caller undid its registration by
 * hand. The hook now runs on every cancelled exit, once; never for a wake or an uncancellable
 * wait. */
static int hook_calls;
static void count_hook(eddy_task *t, void *arg)
{
    EDDY_CHECK(t == eddy_task_current() || t->state == EDDY__BLOCKED);
    *(int *)arg += 1;
}

static void wake_with_5(void *arg) { EDDY_CHECK(eddy__wake(arg, 5)); }

EDDY_TEST(park_runs_the_cancel_hook_on_every_cancelled_exit)
{
    eddy__wait w = {.reason = "test", .cancel = count_hook, .arg = &hook_calls};
    EDDY_MOVE_ON_AFTER(0) { EDDY_CHECK_EQ(eddy__park(&w), -ECANCELED); } /* before parking */
    EDDY_CHECK_EQ(hook_calls, 1);
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { EDDY_CHECK_EQ(eddy__park(&w), -ETIMEDOUT); } /* while parked */
    EDDY_CHECK_EQ(hook_calls, 2);
    eddy_timer tm = {0};
    EDDY_OK(eddy_call_later(&tm, EDDY_SEC(1), wake_with_5, eddy_task_current()));
    EDDY_CHECK_EQ(eddy__park(&w), 5); /* woken: no hook */
    EDDY_CHECK_EQ(hook_calls, 2);
    eddy__wait u = w;
    u.uncancellable = true;
    EDDY_MOVE_ON_AFTER(0) {
        EDDY_OK(eddy_call_later(&tm, EDDY_SEC(1), wake_with_5, eddy_task_current()));
        EDDY_CHECK_EQ(eddy__park(&u), 5); /* only the wake ends it */
    }
    EDDY_CHECK_EQ(hook_calls, 2);
    return 0;
}
