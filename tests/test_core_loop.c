/* Core tests: the loop's callback layer (A9), timers (T1-T3), fd watchers and eddy_wait_fd
 * (N5), the thread-safe call queue (H3 substrate) and the clocks (X1, T3). */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sched.h>
#include <semaphore.h>
#include <time.h>

#include "test_core_util.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* The harness's test processes end with _exit, so LeakSanitizer never runs by itself: tests
 * about memory ownership ask for a check. */
#define CHECK_NO_LEAKS() EDDY_CHECK_EQ(__lsan_do_recoverable_leak_check(), 0)
#else
#define CHECK_NO_LEAKS() ((void)0)
#endif

static char log_buf[128];
static size_t nlog;
static void log_c(void *arg) { log_buf[nlog++] = (char)(intptr_t)arg; }

static void soon_nested(void *arg)
{
    log_c(arg);
    EDDY_OK(eddy_call_soon(log_c, (void *)(intptr_t)'z')); /* runs after what is queued */
}

EDDY_TEST(call_soon_runs_in_order)
{
    EDDY_OK(eddy_call_soon(log_c, (void *)(intptr_t)'a'));
    EDDY_OK(eddy_call_soon(soon_nested, (void *)(intptr_t)'b'));
    EDDY_OK(eddy_call_soon(log_c, (void *)(intptr_t)'c'));
    EDDY_CHECK_EQ(nlog, 0); /* not run until the task lets the loop run */
    EDDY_OK(eddy_sleep(1));
    log_buf[nlog] = 0;
    EDDY_CHECK(!strcmp(log_buf, "abcz"));
    EDDY_CHECK_EQ(eddy_call_soon(NULL, NULL), -EINVAL);
    /* many: the node pool grows past one block, then is reused without allocating */
    nlog = 0;
    for (int i = 0; i < 100; i++) EDDY_OK(eddy_call_soon(log_c, (void *)(intptr_t)'x'));
    EDDY_OK(eddy_yield());
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(nlog, 100);
    return 0;
}

typedef struct fired {
    int n;
    int64_t at[8];
    char order[16];
} fired;
static fired F;
static void on_timer(void *arg)
{
    F.at[F.n] = eddy_now();
    F.order[F.n++] = (char)(intptr_t)arg;
}

EDDY_TEST(callback_timers)
{
    eddy_timer a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
    EDDY_CHECK(!eddy_timer_is_pending(&a));
    EDDY_CHECK(!eddy_timer_stop(&a)); /* never armed */
    EDDY_OK(eddy_call_later(&a, EDDY_SEC(3), on_timer, (void *)(intptr_t)'a'));
    EDDY_OK(eddy_call_at(&b, EDDY_SEC(2), on_timer, (void *)(intptr_t)'b'));
    EDDY_OK(eddy_call_at(&c, EDDY_SEC(2), on_timer, (void *)(intptr_t)'c')); /* same deadline */
    EDDY_OK(eddy_call_at(&d, EDDY_SEC(1), on_timer, (void *)(intptr_t)'d'));
    EDDY_OK(eddy_call_at(&e, EDDY_SEC(1), on_timer, (void *)(intptr_t)'e'));
    EDDY_CHECK(eddy_timer_is_pending(&a));
    EDDY_CHECK(eddy_timer_stop(&d));  /* armed: now never runs */
    EDDY_CHECK(!eddy_timer_stop(&d)); /* second cancel */
    EDDY_CHECK(!eddy_timer_is_pending(&d));
    EDDY_OK(eddy_call_at(&a, EDDY_SEC(2), on_timer, (void *)(intptr_t)'A')); /* re-arm = reset */
    EDDY_CHECK_EQ(eddy_call_at(&d, 5, NULL, NULL), -EINVAL);
    EDDY_OK(eddy_sleep(EDDY_SEC(10)));
    F.order[F.n] = 0;
    EDDY_CHECK(!strcmp(F.order, "ebcA")); /* equal deadlines fire in arming order */
    EDDY_CHECK_EQ(F.at[0], EDDY_SEC(1));
    EDDY_CHECK_EQ(F.at[1], EDDY_SEC(2));
    EDDY_CHECK_EQ(F.at[3], EDDY_SEC(2));
    EDDY_CHECK(!eddy_timer_stop(&a)); /* already fired */
    EDDY_CHECK(!eddy_timer_is_pending(&a));
    /* a timer in the past fires on the next iteration */
    F.n = 0;
    EDDY_OK(eddy_call_at(&a, 0, on_timer, (void *)(intptr_t)'p'));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(F.n, 1);
    struct eddy_loop_stats s;
    eddy_loop_stats(&s);
    EDDY_CHECK(s.timers_fired >= 5);
    return 0;
}

/* Issue 7, bug 1: eddy_call_later added the delay to eddy_now() unchecked, so EDDY_FOREVER
 * (or any delay past the clock's range) overflowed into a deadline in the past and fired at
 * once. A deadline past the clock's range is "never": armed, pending, cancellable. */
static int forever_fired;
static void forever_cb(void *arg)
{
    (void)arg;
    forever_fired++;
}

EDDY_TEST(call_later_forever_never_fires)
{
    eddy_timer a = {0}, b = {0};
    EDDY_OK(eddy_call_later(&a, EDDY_FOREVER, forever_cb, NULL));
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    /* now > 0: now + (FOREVER - 1) is past the range too */
    EDDY_OK(eddy_call_later(&b, EDDY_FOREVER - 1, forever_cb, NULL));
    EDDY_OK(eddy_sleep(EDDY_SEC(3600)));
    EDDY_CHECK_EQ(forever_fired, 0);
    EDDY_CHECK(eddy_timer_is_pending(&a));
    EDDY_CHECK(eddy_timer_is_pending(&b));
    EDDY_CHECK(eddy_timer_stop(&a));
    EDDY_CHECK(eddy_timer_stop(&b));
    /* A delay is a duration: 0 is now, negative is -EINVAL (and arms nothing). */
    EDDY_CHECK_EQ(eddy_call_later(&a, -1, forever_cb, NULL), -EINVAL);
    EDDY_CHECK(!eddy_timer_is_pending(&a));
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_call_later(&a, 0, forever_cb, NULL));
    EDDY_OK(eddy_sleep(1)); /* the loop's next iteration */
    EDDY_CHECK_EQ(forever_fired, 1);
    EDDY_CHECK(eddy_now() - t0 <= 1);
    return 0;
}

/* The same overflow in eddy_clock_jump: a jump past the clock's range stops at its end, where
 * "never" (EDDY_FOREVER) is still in the future. */
EDDY_TEST(clock_jump_saturates)
{
    eddy_timer a = {0};
    EDDY_OK(eddy_call_later(&a, EDDY_FOREVER, forever_cb, NULL));
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    EDDY_OK(eddy_clock_jump(EDDY_FOREVER));
    EDDY_CHECK_EQ(eddy_now(), EDDY_FOREVER - 1);
    EDDY_OK(eddy_clock_jump(EDDY_SEC(1)));
    EDDY_CHECK_EQ(eddy_now(), EDDY_FOREVER - 1);
    EDDY_OK(eddy_yield());
    EDDY_CHECK_EQ(forever_fired, 0);
    EDDY_CHECK(eddy_timer_stop(&a));
    return 0;
}

/* A timer callback that re-arms itself (a periodic timer), stopped by a count. */
static eddy_timer periodic;
static int ticks;
static void tick(void *arg)
{
    (void)arg;
    if (++ticks < 5) EDDY_OK(eddy_call_later(&periodic, EDDY_MSEC(100), tick, NULL));
}

EDDY_TEST(timer_rearms_from_its_callback)
{
    EDDY_OK(eddy_call_later(&periodic, EDDY_MSEC(100), tick, NULL));
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    EDDY_CHECK_EQ(ticks, 5);
    EDDY_CHECK(!eddy_timer_is_pending(&periodic));
    return 0;
}

/* ---- fd watchers ---- */

typedef struct watch {
    int calls;
    unsigned last;
    bool stop;
} watch;

static void on_io(eddy_io *w, unsigned ev)
{
    watch *s = w->data;
    s->calls++;
    s->last = ev;
    if (s->stop) eddy_io_stop(w);
}

EDDY_TEST(fd_watchers)
{
    int p[2];
    EDDY_OK(pipe2(p, O_NONBLOCK));
    eddy_io r = {0}, w = {0}, r2 = {0};
    watch rs = {.stop = true}, ws = {.stop = true}, r2s = {0};
    EDDY_CHECK_EQ(eddy_io_start(&r, -1, EDDY_READ, on_io, &rs), -EINVAL);
    EDDY_CHECK_EQ(eddy_io_start(&r, p[0], 0, on_io, &rs), -EINVAL);
    EDDY_CHECK_EQ(eddy_io_start(&r, p[0], EDDY_ERR, on_io, &rs), -EINVAL);
    EDDY_CHECK_EQ(eddy_io_start(&r, p[0], EDDY_READ, NULL, &rs), -EINVAL);
    EDDY_OK(eddy_io_start(&r, p[0], EDDY_READ, on_io, &rs));
    EDDY_CHECK_EQ(eddy_io_start(&r2, p[0], EDDY_READ, on_io, &r2s), -EBUSY);
    EDDY_OK(eddy_io_start(&w, p[1], EDDY_WRITE, on_io, &ws));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(rs.calls, 0); /* nothing to read */
    EDDY_CHECK_EQ(ws.calls, 1); /* writable at once */
    EDDY_CHECK(ws.last & EDDY_WRITE);
    EDDY_CHECK(!w.active);
    EDDY_CHECK_EQ(write(p[1], "hi", 2), 2);
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(rs.calls, 1);
    EDDY_CHECK(rs.last & EDDY_READ);
    EDDY_CHECK(!r.active);
    eddy_io_stop(&r); /* stopping an inactive watcher is harmless */
    eddy_io_stop(NULL);
    /* level-triggered: an unstopped watcher is called every iteration until drained */
    EDDY_OK(eddy_io_start(&r2, p[0], EDDY_READ, on_io, &r2s));
    EDDY_OK(eddy_yield());
    EDDY_OK(eddy_sleep(1));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK(r2s.calls >= 2);
    char buf[8];
    EDDY_CHECK_EQ(read(p[0], buf, sizeof buf), 2);
    int before = r2s.calls;
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(r2s.calls, before);
    /* restarting changes the events; the writer's end closing gives HUP */
    close(p[1]);
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK(r2s.last & (EDDY_HUP | EDDY_READ));
    eddy_io_stop(&r2);
    EDDY_CHECK_EQ(eddy_fd_forget(p[0]), 0);
    close(p[0]);
    /* a closed fd is refused */
    EDDY_CHECK_EQ(eddy_io_start(&r, p[0], EDDY_READ, on_io, &rs), -EBADF);
    EDDY_CHECK(!r.active);
    return 0;
}

EDDY_TEST(fd_watcher_regular_file_is_eperm)
{
    char path[] = "/tmp/eddy-core-XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    unlink(path);
    eddy_io w = {0};
    watch s = {0};
    EDDY_CHECK_EQ(eddy_io_start(&w, fd, EDDY_READ, on_io, &s), -EPERM);
    EDDY_CHECK(!w.active);
    EDDY_CHECK_EQ(eddy_wait_fd(fd, EDDY_READ), -EPERM);
    close(fd);
    return 0;
}

EDDY_TEST(reader_and_writer_share_an_fd)
{
    int sv[2];
    EDDY_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    eddy_io r = {0}, w = {0}, w2 = {0};
    watch rs = {.stop = true}, ws = {.stop = true};
    EDDY_OK(eddy_io_start(&r, sv[0], EDDY_READ, on_io, &rs));
    EDDY_OK(eddy_io_start(&w, sv[0], EDDY_WRITE, on_io, &ws));
    EDDY_CHECK_EQ(eddy_io_start(&w2, sv[0], EDDY_WRITE | EDDY_READ, on_io, &ws), -EBUSY);
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(ws.calls, 1);
    EDDY_CHECK_EQ(rs.calls, 0);
    EDDY_CHECK(r.active);
    EDDY_CHECK_EQ(write(sv[1], "x", 1), 1);
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(rs.calls, 1);
    EDDY_CHECK(rs.last & EDDY_READ);
    EDDY_CHECK(!(rs.last & EDDY_WRITE)); /* only the directions the watcher asked for */
    /* one watcher for both directions, then narrowed by restarting */
    watch bs = {0};
    EDDY_OK(eddy_io_start(&w2, sv[0], EDDY_READ | EDDY_WRITE, on_io, &bs));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK(bs.last & EDDY_WRITE);
    EDDY_OK(eddy_io_start(&w2, sv[0], EDDY_WRITE, on_io, &bs)); /* no longer reads */
    EDDY_OK(eddy_io_start(&r, sv[0], EDDY_READ, on_io, &rs));  /* so a reader may join */
    eddy_io_stop(&w2);
    eddy_io_stop(&r);
    EDDY_CHECK_EQ(eddy_fd_forget(sv[0]), 0);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* Regression: one watcher of both directions on an fd that is writable but has nothing to
 * read was never called (dispatch called it only as the reader, and skipped it as the writer
 * because it was the same watcher). c-ares's TCP connects hung on this. */
EDDY_TEST(both_directions_watcher_called_when_only_writable)
{
    int sv[2];
    EDDY_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    eddy_io b = {0};
    watch bs = {.stop = true};
    EDDY_OK(eddy_io_start(&b, sv[0], EDDY_READ | EDDY_WRITE, on_io, &bs));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(bs.calls, 1);
    EDDY_CHECK(bs.last & EDDY_WRITE);
    EDDY_CHECK(!(bs.last & EDDY_READ));
    /* readable and writable at once: called once, with both */
    EDDY_CHECK_EQ(write(sv[1], "x", 1), 1);
    EDDY_OK(eddy_io_start(&b, sv[0], EDDY_READ | EDDY_WRITE, on_io, &bs));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(bs.calls, 2);
    EDDY_CHECK((bs.last & (EDDY_READ | EDDY_WRITE)) == (EDDY_READ | EDDY_WRITE));
    eddy_io_stop(&b);
    EDDY_CHECK_EQ(eddy_fd_forget(sv[0]), 0);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* A stopped watcher's kernel registration lingers (so a task that waits again costs no
 * epoll_ctl); readiness that nobody wants must narrow it, not wake the loop forever. */
EDDY_TEST(lingering_registration_does_not_spin)
{
    int sv[2];
    EDDY_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    eddy_io r = {0};
    watch rs = {.stop = true};
    EDDY_OK(eddy_io_start(&r, sv[0], EDDY_READ, on_io, &rs));
    EDDY_CHECK_EQ(write(sv[1], "a", 1), 1);
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(rs.calls, 1); /* called once, then stopped itself: the byte is still unread */
    struct eddy_loop_stats a, b;
    eddy_loop_stats(&a);
    EDDY_OK(eddy_sleep(EDDY_SEC(10)));
    eddy_loop_stats(&b);
    EDDY_CHECK_EQ(rs.calls, 1);
    EDDY_CHECK(b.polls - a.polls <= 4); /* one report of the unwanted readiness, then quiet */
    /* and a new wait on the fd still sees the data */
    EDDY_CHECK(eddy_wait_fd(sv[0], EDDY_READ) & EDDY_READ);
    EDDY_CHECK_EQ(eddy_fd_forget(sv[0]), 0);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* io_stop, eddy_fd_forget, close, and the number reused by a new fd: the new watcher works
 * even though the old registration's removal was deferred. */
EDDY_TEST(fd_number_reuse_after_forget)
{
    int p[2], q[2];
    for (int round = 0; round < 3; round++) {
        EDDY_OK(pipe2(p, O_NONBLOCK));
        eddy_io r = {0};
        watch rs = {0};
        EDDY_OK(eddy_io_start(&r, p[0], EDDY_READ, on_io, &rs));
        eddy_io_stop(&r);
        EDDY_CHECK_EQ(eddy_fd_forget(p[0]), 0);
        close(p[0]);
        close(p[1]);
        EDDY_OK(pipe2(q, O_NONBLOCK));
        EDDY_CHECK_EQ(q[0], p[0]); /* same numbers */
        EDDY_CHECK_EQ(write(q[1], "x", 1), 1);
        rs.stop = true;
        EDDY_OK(eddy_io_start(&r, q[0], EDDY_READ, on_io, &rs));
        EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { EDDY_CHECK(eddy_wait_fd(q[1], EDDY_WRITE) > 0); }
        EDDY_OK(eddy_sleep(1));
        EDDY_CHECK_EQ(rs.calls, 1);
        EDDY_CHECK_EQ(eddy_fd_forget(q[0]), 0);
        EDDY_CHECK_EQ(eddy_fd_forget(q[1]), 0); /* it had an eddy_wait_fd waiter */
        close(q[0]);
        close(q[1]);
    }
    return 0;
}

/* ---- eddy_wait_fd and eddy_fd_forget ---- */

static int wait_result;
static int waits_readable(void *arg)
{
    int *fdp = arg;
    wait_result = eddy_wait_fd(*fdp, EDDY_READ);
    return 0;
}

EDDY_TEST(wait_fd_and_forget)
{
    int p[2];
    EDDY_OK(pipe2(p, O_NONBLOCK));
    int rc = eddy_wait_fd(p[1], EDDY_WRITE);
    EDDY_CHECK(rc > 0 && (rc & EDDY_WRITE));
    eddy_task *h, *h2;
    int st;
    eddy_nursery n;
    EDDY_OK(eddy_nursery_open(&n));
    EDDY_OK(eddy_spawn(&n, waits_readable, &p[0], .handle = &h));
    EDDY_CHECK_EQ(eddy_wait_fd(p[0], EDDY_READ), -EBUSY); /* one waiter per direction */
    EDDY_CHECK_EQ(write(p[1], "x", 1), 1);
    EDDY_OK(eddy_task_join(h, &st));
    EDDY_CHECK(wait_result > 0 && (wait_result & EDDY_READ));
    /* forget wakes the waiter with -EBADF */
    char c;
    EDDY_CHECK_EQ(read(p[0], &c, 1), 1);
    EDDY_OK(eddy_spawn(&n, waits_readable, &p[0], .handle = &h2));
    EDDY_CHECK_EQ(eddy_fd_forget(p[0]), 1);
    EDDY_CHECK_EQ(eddy_fd_forget(p[0]), 0);
    EDDY_CHECK_EQ(eddy_fd_forget(-1), 0);
    EDDY_CHECK_EQ(eddy_fd_forget(100000), 0);
    EDDY_OK(eddy_task_join(h2, &st));
    EDDY_CHECK_EQ(wait_result, -EBADF);
    /* cancelled while waiting: the watcher is gone afterwards (no leak) */
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { EDDY_CHECK_EQ(eddy_wait_fd(p[0], EDDY_READ), -ECANCELED); }
    EDDY_CHECK_EQ(eddy_wait_fd(-1, EDDY_READ), -EINVAL);
    EDDY_CHECK_EQ(eddy_wait_fd(p[0], 0), -EINVAL);
    EDDY_OK(eddy_nursery_close(&n));
    close(p[0]);
    close(p[1]);
    return 0;
}

/* ---- the thread-safe call queue ---- */

typedef struct ts_state {
    eddy_loop *loop;
    eddy_cancel_scope cs;
    _Atomic int count;
    int on_loop_thread;
    pthread_t loop_thread;
    eddy_ts_call nodes[50];
    int bad_rc[3];
} ts_state;

#define TS_N 1000

static void ts_cb(void *arg)
{
    ts_state *s = arg;
    if (pthread_equal(pthread_self(), s->loop_thread) && eddy_task_current() == NULL) s->on_loop_thread++;
    if (atomic_fetch_add(&s->count, 1) + 1 == TS_N + 50) eddy_cancel_scope_cancel(&s->cs);
}

static void *ts_thread(void *arg)
{
    ts_state *s = arg;
    for (int i = 0; i < TS_N; i++) {
        int rc;
        while ((rc = eddy_loop_call_ts(s->loop, ts_cb, s)) == -ENOMEM) sched_yield();
        if (rc != 0) s->bad_rc[0] = rc;
        if (i % 20 == 0) {
            s->nodes[i / 20] = (eddy_ts_call){.fn = ts_cb, .arg = s};
            if (eddy_loop_post_ts(s->loop, &s->nodes[i / 20]) != 0) s->bad_rc[1] = -1;
        }
    }
    s->bad_rc[2] = eddy_loop_post_ts(s->loop, NULL);
    eddy_loop_unref(s->loop);
    return NULL;
}

EDDY_TEST_EX(call_ts_from_a_thread, .real_clock = true)
{
    static ts_state s;
    s.loop = eddy_loop_current();
    s.loop_thread = pthread_self();
    EDDY_CHECK(s.loop != NULL);
    eddy_loop_ref(s.loop); /* the loop stays alive while the thread may post */
    pthread_t th;
    EDDY_OK(pthread_create(&th, NULL, ts_thread, &s));
    int rc = 1;
    EDDY_CANCEL_SCOPE(&s.cs) { rc = eddy_sleep_forever(); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_OK(pthread_join(th, NULL));
    EDDY_CHECK_EQ(atomic_load(&s.count), TS_N + 50);
    EDDY_CHECK_EQ(s.on_loop_thread, TS_N + 50);
    EDDY_CHECK_EQ(s.bad_rc[0], 0);
    EDDY_CHECK_EQ(s.bad_rc[1], 0);
    EDDY_CHECK_EQ(s.bad_rc[2], -EINVAL);
    EDDY_CHECK_EQ(eddy_loop_call_ts(NULL, ts_cb, &s), -EINVAL);
    EDDY_CHECK_EQ(eddy_loop_call_ts(s.loop, NULL, &s), -EINVAL);
    eddy_loop_ref(NULL);
    eddy_loop_unref(NULL);
    struct eddy_loop_stats st;
    eddy_loop_stats(&st);
    EDDY_CHECK_EQ(st.ts_calls, TS_N + 50);
    return 0;
}

/* After the loop finished, a thread still holding a ref gets -ESHUTDOWN; eddy_run waits for
 * its unref before freeing the loop. */
static _Atomic int shutdown_rc;
static void nop(void *arg) { (void)arg; }
static void *late_poster(void *arg)
{
    eddy_loop *l = arg;
    int rc;
    while ((rc = eddy_loop_call_ts(l, nop, NULL)) == 0) sched_yield();
    atomic_store(&shutdown_rc, rc);
    eddy_loop_unref(l);
    return NULL;
}

static pthread_t late_th;
static int shutdown_main(void *arg)
{
    (void)arg;
    eddy_loop *l = eddy_loop_current();
    eddy_loop_ref(l);
    EDDY_OK(pthread_create(&late_th, NULL, late_poster, l));
    EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
    return 0;
}

EDDY_TEST_EX(post_after_finish_is_eshutdown, .raw = true)
{
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    EDDY_OK(eddy_run_opts(shutdown_main, NULL, &o));
    EDDY_OK(pthread_join(late_th, NULL));
    EDDY_CHECK_EQ(atomic_load(&shutdown_rc), -ESHUTDOWN);
    return 0;
}

/* eddy_loop_call_ts recycles its nodes (the loop hands them back, the thread caches them):
 * a long stream from one thread must arrive complete, once each and in order, while nodes
 * go round between the thread and the loop. ASan's leak check covers the thread's cache,
 * which its exit hands on to the process-wide free list. */
#define RECYCLE_N 200000
typedef struct recycle_state {
    eddy_loop *loop;
    eddy_cancel_scope cs;
    long next, bad;
} recycle_state;

static recycle_state recycle;
static void recycle_item(void *arg)
{
    recycle_state *s = &recycle;
    if ((long)(uintptr_t)arg != s->next) s->bad++;
    if (++s->next == RECYCLE_N) eddy_cancel_scope_cancel(&s->cs);
}

static void *recycle_thread(void *arg)
{
    recycle_state *s = arg;
    for (long i = 0; i < RECYCLE_N; i++) {
        int rc;
        while ((rc = eddy_loop_call_ts(s->loop, recycle_item, (void *)(uintptr_t)i)) == -ENOMEM)
            sched_yield();
        if (rc != 0) s->bad = 1000000 + i;
    }
    eddy_loop_unref(s->loop); /* after the last call returned, as post_ts requires */
    return NULL;
}

EDDY_TEST_EX(call_ts_recycled_nodes_arrive_once_in_order, .real_clock = true)
{
    recycle_state *s = &recycle;
    s->loop = eddy_loop_current();
    eddy_loop_ref(s->loop);
    pthread_t th;
    EDDY_OK(pthread_create(&th, NULL, recycle_thread, s));
    int rc = 1;
    EDDY_CANCEL_SCOPE(&s->cs) { rc = eddy_sleep_forever(); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_OK(pthread_join(th, NULL));
    EDDY_CHECK_EQ(s->bad, 0);
    EDDY_CHECK_EQ(s->next, RECYCLE_N);
    CHECK_NO_LEAKS(); /* the thread's cache went back to the free list at its exit */
    return 0;
}

/* A thread's node cache outlives the loop it was filled from: after that loop has finished
 * and freed itself, the same thread calls into a new loop with the cached nodes. They are the
 * thread's own memory by then (ASan would report a use after free otherwise), and the
 * thread's exit hands them on (else a leak report). */
#define CACHE_N 1000
static struct {
    eddy_loop *loop;
    eddy_cancel_scope cs;
    long count, target;
    sem_t go, posted, drained;
    int bad;
} cl;

static void cl_item(void *arg)
{
    (void)arg;
    if (++cl.count == cl.target) eddy_cancel_scope_cancel(&cl.cs);
}

static void *cl_thread(void *arg)
{
    (void)arg;
    for (int round = 0; round < 2; round++) {
        while (sem_wait(&cl.go) != 0) {
        }
        for (int i = 0; i < CACHE_N; i++)
            if (eddy_loop_call_ts(cl.loop, cl_item, NULL) != 0) cl.bad++;
        if (sem_post(&cl.posted) != 0) cl.bad++;
        /* The loop has run them all in one drain and handed the nodes back in one batch: this
         * call takes the batch into the thread's cache, which still holds CACHE_N - 1 nodes
         * when the loop ends. */
        while (sem_wait(&cl.drained) != 0) {
        }
        if (eddy_loop_call_ts(cl.loop, cl_item, NULL) != 0) cl.bad++;
        eddy_loop_unref(cl.loop);
    }
    return NULL;
}

static int cl_sleep_until(long target)
{
    int rc = 1;
    cl.target = target;
    EDDY_CANCEL_SCOPE(&cl.cs)
    {
        if (cl.count < target) rc = eddy_sleep_forever();
    }
    return rc;
}

static int cl_main(void *arg)
{
    (void)arg;
    cl.loop = eddy_loop_current();
    cl.count = 0;
    eddy_loop_ref(cl.loop); /* the thread's, dropped by it */
    EDDY_OK(sem_post(&cl.go));
    /* Hold the loop thread itself (no eddy wait) so that nothing is drained before the thread
     * has posted all of them: then one drain runs them all. */
    while (sem_wait(&cl.posted) != 0) {
    }
    EDDY_CHECK_EQ(cl_sleep_until(CACHE_N), -ECANCELED);
    /* Woken after the drain that ran the last item, so its nodes are back on the free list. */
    EDDY_OK(sem_post(&cl.drained));
    EDDY_CHECK_EQ(cl_sleep_until(CACHE_N + 1), -ECANCELED);
    return 0;
}

EDDY_TEST_EX(call_ts_cache_outlives_its_loop, .raw = true)
{
    EDDY_OK(sem_init(&cl.go, 0, 0));
    EDDY_OK(sem_init(&cl.posted, 0, 0));
    EDDY_OK(sem_init(&cl.drained, 0, 0));
    pthread_t th;
    EDDY_OK(pthread_create(&th, NULL, cl_thread, NULL));
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    for (int round = 0; round < 2; round++) {
        EDDY_OK(eddy_run_opts(cl_main, NULL, &o));
        EDDY_CHECK_EQ(cl.count, CACHE_N + 1);
    }
    EDDY_OK(pthread_join(th, NULL));
    EDDY_CHECK_EQ(cl.bad, 0);
    CHECK_NO_LEAKS(); /* both loops' lists and the thread's cache went back to the free list */
    return 0;
}

/* ---- clocks ---- */

/* Issue 7, bug 4: the deadlock check read ext_refs before the loop announced its sleep
 * (sleeping = 1), and the re-check after the announcement looked only at the thread-safe
 * queue and signals. A foreign thread's last eddy_loop_unref landing in between found the loop
 * not yet asleep (so wrote no wake-up) while the loop had seen the ref (so found no deadlock):
 * it slept in epoll_wait(-1) forever instead of reporting the deadlock. The thread here unrefs
 * in a loop (ref/unref pairs, each of which can wake the loop), then drops its last ref from
 * inside that window, which a test hook opens on purpose. Before the fix the run hung until
 * the harness's time limit. */
#include "internal.h" /* eddy__before_sleep_hook */

static sem_t lu_go, lu_done;
static atomic_int lu_stage;

static void lu_hook(eddy_loop *l)
{
    (void)l;
    int one = 1;
    if (!atomic_compare_exchange_strong(&lu_stage, &one, 2)) return;
    sem_post(&lu_go);
    while (sem_wait(&lu_done) < 0) {
    }
}

static void lu_nop(void *arg) { (void)arg; }

static void *lu_thread(void *p)
{
    eddy_loop *l = p;
    for (int i = 0; i < 2000; i++) {
        eddy_loop_ref(l);
        eddy_loop_unref(l);
    }
    atomic_store(&lu_stage, 1);
    /* The loop may be asleep: wake it, so it comes round to its next sleep and the hook. */
    EDDY_OK(eddy_loop_call_ts(l, lu_nop, NULL));
    while (sem_wait(&lu_go) < 0) {
    }
    eddy_loop_unref(l); /* the last ref, between the loop's check and its sleep */
    sem_post(&lu_done);
    return NULL;
}

static int lu_main(void *arg)
{
    eddy_loop *l = eddy_loop_current();
    eddy_loop_ref(l);
    EDDY_OK(pthread_create(arg, NULL, lu_thread, l));
    return eddy_sleep_forever() == -ECANCELED ? 0 : -EPROTO;
}

EDDY_TEST_EX(deadlock_seen_after_the_last_foreign_unref, .raw = true, .timeout = EDDY_SEC(10))
{
    sem_init(&lu_go, 0, 0);
    sem_init(&lu_done, 0, 0);
    eddy__before_sleep_hook = lu_hook;
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_QUIET};
    pthread_t th;
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2); /* the deadlock report */
    int rc = eddy_run_opts(lu_main, &th, &o);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    eddy__before_sleep_hook = NULL;
    EDDY_CHECK_EQ(rc, -EDEADLK);
    EDDY_CHECK_EQ(atomic_load(&lu_stage), 2); /* the unref did land in the window */
    EDDY_OK(pthread_join(th, NULL));
    return 0;
}

EDDY_TEST(virtual_clock_and_jump)
{
    EDDY_CHECK_EQ(eddy_now(), 0);
    EDDY_CHECK_EQ(eddy_now_fresh(), 0);
    struct timespec r0, r1;
    clock_gettime(CLOCK_MONOTONIC, &r0);
    EDDY_OK(eddy_sleep(EDDY_SEC(3600))); /* autojump: no real hour */
    clock_gettime(CLOCK_MONOTONIC, &r1);
    EDDY_CHECK(r1.tv_sec - r0.tv_sec < 5);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(3600));
    eddy_timer t = {0};
    F.n = 0;
    EDDY_OK(eddy_call_later(&t, EDDY_SEC(3), on_timer, (void *)(intptr_t)'j'));
    EDDY_OK(eddy_clock_jump(EDDY_SEC(5)));
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(3605));
    EDDY_CHECK_EQ(F.n, 0); /* fires on the next iteration */
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(F.n, 1);
    EDDY_CHECK_EQ(F.at[0], EDDY_SEC(3605));
    EDDY_OK(eddy_clock_jump(0));
    EDDY_CHECK_EQ(eddy_clock_jump(-1), -EINVAL);
    return 0;
}

EDDY_TEST_EX(real_clock, .real_clock = true)
{
    EDDY_CHECK_EQ(eddy_clock_jump(EDDY_SEC(1)), -EINVAL);
    int64_t a = eddy_now(), b = eddy_now_fresh();
    EDDY_CHECK(a > 0 && b >= a);
    EDDY_CHECK_EQ(eddy_now(), b);
    EDDY_OK(eddy_sleep(EDDY_MSEC(2)));
    EDDY_CHECK(eddy_now() - b >= EDDY_MSEC(2));
    return 0;
}

static int64_t custom_base;
static int64_t custom_now(void *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return *(int64_t *)ctx + (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int custom_main(void *arg)
{
    (void)arg;
    EDDY_CHECK(eddy_now() >= custom_base);
    int64_t t0 = eddy_now_fresh();
    EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
    EDDY_CHECK(eddy_now() - t0 >= EDDY_MSEC(1));
    EDDY_CHECK_EQ(eddy_clock_jump(1), -EINVAL);
    return 0;
}

EDDY_TEST_EX(custom_clock, .raw = true)
{
    custom_base = (int64_t)1 << 50;
    eddy_clock c = {custom_now, &custom_base};
    eddy_opts o = {.clock_kind = EDDY_CLOCK_CUSTOM, .clock = &c, .flags = EDDY_OPT_NO_SIGNALS};
    EDDY_OK(eddy_run_opts(custom_main, NULL, &o));
    o.clock = NULL;
    EDDY_CHECK_EQ(eddy_run_opts(custom_main, NULL, &o), -EINVAL);
    eddy_clock none = {NULL, NULL};
    o.clock = &none;
    EDDY_CHECK_EQ(eddy_run_opts(custom_main, NULL, &o), -EINVAL);
    return 0;
}

/* A timer armed for "now" from a timer callback is due at once: the virtual clock must not
 * wait out the real-time autojump threshold before running it. */
static eddy_timer due_a, due_b;
static eddy_cancel_scope *due_cs;
static void due_second(void *arg)
{
    (void)arg;
    eddy_cancel_scope_cancel(due_cs);
}
static void due_first(void *arg)
{
    (void)arg;
    EDDY_OK(eddy_call_at(&due_b, eddy_now(), due_second, NULL));
}

static int due_main(void *arg)
{
    (void)arg;
    eddy_cancel_scope cs;
    due_cs = &cs;
    EDDY_OK(eddy_call_at(&due_a, 0, due_first, NULL));
    int rc = 1;
    EDDY_CANCEL_SCOPE(&cs) { rc = eddy_sleep(EDDY_SEC(100)); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now(), 0);
    return 0;
}

EDDY_TEST_EX(virtual_clock_runs_due_timers_without_waiting, .raw = true)
{
    eddy_opts o = core_opts();
    o.autojump_threshold = EDDY_SEC(30); /* real time */
    struct timespec r0, r1;
    clock_gettime(CLOCK_MONOTONIC, &r0);
    EDDY_OK(eddy_run_opts(due_main, NULL, &o));
    clock_gettime(CLOCK_MONOTONIC, &r1);
    EDDY_CHECK(r1.tv_sec - r0.tv_sec < 10);
    return 0;
}

/* A read callback that starts a watcher on a much higher fd grows the loop's fd table
 * (realloc) while the dispatcher still has to call the same fd's writer: the dispatcher
 * must not keep a pointer into the old table (ASan: heap-use-after-free before the fix). */
typedef struct grow {
    int high_fd;
    eddy_io high;
    watch hs;
    int writer_calls;
} grow;

static grow G;
static void grow_reader(eddy_io *w, unsigned ev)
{
    (void)ev;
    eddy_io_stop(w);
    EDDY_OK(eddy_io_start(&G.high, G.high_fd, EDDY_WRITE, on_io, &G.hs));
}

static void grow_writer(eddy_io *w, unsigned ev)
{
    (void)ev;
    G.writer_calls++;
    eddy_io_stop(w);
}

EDDY_TEST(watcher_started_from_a_callback_grows_the_table)
{
    int sv[2], p[2];
    EDDY_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    EDDY_OK(pipe2(p, O_NONBLOCK));
    G.high_fd = 900;
    EDDY_CHECK_EQ(dup2(p[1], G.high_fd), G.high_fd);
    G.hs.stop = true;
    EDDY_CHECK_EQ(write(sv[1], "x", 1), 1); /* sv[0] readable and writable */
    eddy_io r = {0}, w = {0};
    EDDY_OK(eddy_io_start(&r, sv[0], EDDY_READ, grow_reader, NULL));
    EDDY_OK(eddy_io_start(&w, sv[0], EDDY_WRITE, grow_writer, NULL));
    EDDY_OK(eddy_sleep(1));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(G.writer_calls, 1);
    EDDY_CHECK_EQ(G.hs.calls, 1);
    int fds[] = {sv[0], sv[1], p[0], p[1], G.high_fd};
    for (int i = 0; i < 5; i++) {
        EDDY_CHECK_EQ(eddy_fd_forget(fds[i]), 0);
        close(fds[i]);
    }
    return 0;
}
