/* Signal receivers (G1) and eddy_run's SIGINT/SIGTERM on the signal dispatcher (B9).
 *
 * Most cases run in the harness (a forked child, virtual clock, EDDY_OPT_NO_SIGNALS) and send
 * signals to their own process: the receiver blocks them in the loop's thread, so the signalfd
 * path is taken; cases with a second thread that does not block them take the handler path.
 * Cases of eddy_run's own handling run eddy_run in a forked child. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/test.h"
#include "test_core_util.h"

static void send_self(int sig) { EDDY_CHECK(kill(getpid(), sig) == 0); }

/* Let the loop poll its descriptors once: a wait on a descriptor that never becomes ready,
 * for 1 ns of virtual time (a plain sleep would not do: a loop with no watcher but its own
 * internal ones skips the poll when the virtual clock can jump at once). */
static void let_loop_poll(void)
{
    int fd = eventfd(0, EFD_CLOEXEC);
    EDDY_CHECK(fd >= 0);
    int rc = 0;
    EDDY_MOVE_ON_AFTER(1) { rc = eddy_wait_fd(fd, EDDY_READ); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    (void)eddy_fd_forget(fd);
    close(fd);
}

EDDY_TEST(receive_a_signal_sent_to_the_process)
{
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1, SIGUSR2));
    EDDY_CHECK_EQ(r.mask, (1u << (SIGUSR1 - 1)) | (1u << (SIGUSR2 - 1)));
    send_self(SIGUSR1);
    EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGUSR1);
    send_self(SIGUSR2);
    EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGUSR2);
    EDDY_CHECK_EQ(eddy_signal_try_receive(&r), 0);
    send_self(SIGUSR1); /* arrived, not yet read by the loop: try_receive reads it */
    EDDY_CHECK_EQ(eddy_signal_try_receive(&r), SIGUSR1);
    eddy_signal_close(&r);
    return 0;
}

/* raise() targets the calling thread alone: only a signalfd read by that thread sees it. */
EDDY_TEST(receive_a_signal_raised_in_the_loop_thread)
{
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGHUP));
    EDDY_CHECK(raise(SIGHUP) == 0);
    EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGHUP);
    eddy_signal_close(&r);
    return 0;
}

EDDY_TEST(arrivals_coalesce_and_keep_their_order)
{
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1, SIGUSR2, SIGHUP, SIGUSR1));
    send_self(SIGUSR2);
    let_loop_poll();
    send_self(SIGUSR1);
    let_loop_poll();
    send_self(SIGUSR2); /* already queued: coalesced with the first */
    let_loop_poll();
    send_self(SIGHUP);
    let_loop_poll();
    EDDY_CHECK_EQ(eddy_signal_try_receive(&r), SIGUSR2);
    EDDY_CHECK_EQ(eddy_signal_try_receive(&r), SIGUSR1);
    EDDY_CHECK_EQ(eddy_signal_try_receive(&r), SIGHUP);
    EDDY_CHECK_EQ(eddy_signal_try_receive(&r), 0);
    send_self(SIGUSR2); /* taken out: the next arrival queues again */
    EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGUSR2);
    eddy_signal_close(&r);
    return 0;
}

EDDY_TEST(every_receiver_of_a_signal_gets_it)
{
    eddy_signal_receiver a, b, c;
    EDDY_OK(eddy_signal_open(&a, SIGUSR1));
    EDDY_OK(eddy_signal_open(&b, SIGUSR1, SIGUSR2));
    EDDY_OK(eddy_signal_open(&c, SIGUSR2));
    send_self(SIGUSR1);
    EDDY_CHECK_EQ(eddy_signal_receive(&a), SIGUSR1);
    EDDY_CHECK_EQ(eddy_signal_receive(&b), SIGUSR1);
    EDDY_CHECK_EQ(eddy_signal_try_receive(&c), 0);
    /* Closing one receiver of SIGUSR1 keeps the other subscribed. */
    eddy_signal_close(&a);
    send_self(SIGUSR1);
    EDDY_CHECK_EQ(eddy_signal_receive(&b), SIGUSR1);
    eddy_signal_close(&b);
    eddy_signal_close(&c);
    return 0;
}

typedef struct waiter_arg {
    eddy_signal_receiver *r;
    int got;
} waiter_arg;

static int waiter(void *arg)
{
    waiter_arg *w = arg;
    w->got = eddy_signal_receive(w->r);
    return 0;
}

EDDY_TEST(waiting_tasks_take_turns)
{
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1, SIGUSR2));
    waiter_arg w1 = {&r, 0}, w2 = {&r, 0};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, waiter, &w1));
        EDDY_OK(eddy_spawn(n, waiter, &w2));
        send_self(SIGUSR2);
        for (int i = 0; i < 100 && !w1.got; i++) EDDY_OK(eddy_yield()); /* any scheduler seed */
        EDDY_CHECK_EQ(w1.got, SIGUSR2); /* first come, first served */
        EDDY_CHECK_EQ(w2.got, 0);
        send_self(SIGUSR1);
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(w2.got, SIGUSR1);
    eddy_signal_close(&r);
    return 0;
}

/* No timer and no fd of the task's own: a receiver wait is not a deadlock, and the signal
 * (sent by another thread a little later) ends it. */
static void *send_later(void *arg)
{
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
    kill(getpid(), (int)(intptr_t)arg);
    return NULL;
}

EDDY_TEST_EX(a_receiver_wait_is_not_a_deadlock, .real_clock = true)
{
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1));
    pthread_t th;
    EDDY_CHECK(pthread_create(&th, NULL, send_later, (void *)(intptr_t)SIGUSR1) == 0);
    EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGUSR1);
    pthread_join(th, NULL);
    eddy_signal_close(&r);
    return 0;
}

EDDY_TEST(cancelled_receive_loses_nothing)
{
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1));
    int64_t t0 = eddy_now();
    int rc = 0;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(3)) { rc = eddy_signal_receive(&r); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(3));
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { rc = eddy_signal_receive(&r); }
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    /* Cancelled with a signal already queued: the signal stays for the next call. */
    send_self(SIGUSR1);
    let_loop_poll();
    EDDY_MOVE_ON_AFTER(0) { rc = eddy_signal_receive(&r); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGUSR1);
    eddy_signal_close(&r);
    return 0;
}

static int closer(void *arg)
{
    eddy_signal_close(arg);
    return 0;
}

EDDY_TEST(close_wakes_waiters_with_ebadf)
{
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1));
    waiter_arg w1 = {&r, 0}, w2 = {&r, 0};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, waiter, &w1));
        EDDY_OK(eddy_spawn(n, waiter, &w2));
        EDDY_OK(eddy_spawn(n, closer, &r));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(w1.got, -EBADF);
    EDDY_CHECK_EQ(w2.got, -EBADF);
    EDDY_CHECK(r.loop == NULL);
    eddy_signal_close(&r); /* twice: harmless */
    EDDY_CHECK_EQ(eddy_signal_receive(&r), -EINVAL);
    EDDY_CHECK_EQ(eddy_signal_try_receive(&r), -EINVAL);
    return 0;
}

static int in_callback_rc = 1;
static void receive_from_callback(void *arg) { in_callback_rc = eddy_signal_receive(arg); }

EDDY_TEST(open_and_receive_errors)
{
    eddy_signal_receiver r;
    memset(&r, 0, sizeof r);
    EDDY_CHECK_EQ(eddy_signal_open(NULL, SIGUSR1), -EINVAL);
    EDDY_CHECK_EQ(eddy__signal_open(&r, NULL, 1, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy__signal_open(&r, (int[]){SIGUSR1}, 0, NULL), -EINVAL);
    int bad[] = {0, -1, 65, SIGKILL, SIGSTOP, SIGPIPE, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, 32, 33};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EDDY_CHECK_EQ(eddy_signal_open(&r, SIGUSR1, bad[i]), -EINVAL);
        EDDY_CHECK(r.loop == NULL); /* nothing was opened */
    }
    EDDY_CHECK_EQ(eddy_signal_receive(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_signal_receive(&r), -EINVAL);
    EDDY_CHECK_EQ(eddy_signal_try_receive(NULL), -EINVAL);
    eddy_signal_close(NULL);
    eddy_signal_close(&r);
    /* Real-time signals, SIGCHLD and SIGINT are fine. */
    EDDY_OK(eddy_signal_open(&r, SIGRTMIN, SIGRTMAX, SIGCHLD, SIGINT));
    send_self(SIGRTMAX);
    EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGRTMAX);
    eddy_signal_close(&r);
    return 0;
}

EDDY_TEST(receive_outside_a_task_is_eperm)
{
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1));
    EDDY_OK(eddy_call_soon(receive_from_callback, &r));
    EDDY_OK(eddy_yield());
    EDDY_CHECK_EQ(in_callback_rc, -EPERM);
    eddy_signal_close(&r);
    return 0;
}

static int open_outside_loop(void *arg)
{
    (void)arg;
    eddy_signal_receiver r;
    return eddy_signal_open(&r, SIGUSR1) == -EPERM ? 0 : 1;
}

EDDY_TEST_EX(open_outside_a_loop_is_eperm, .raw = true) { return open_outside_loop(NULL); }

/* The disposition and the thread's mask come back when the last receiver closes, and a
 * signal that arrived while subscribed but was never received is not handed to the restored
 * disposition afterwards. */
static _Atomic int usr1_handled;
static void count_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&usr1_handled, 1);
}

EDDY_TEST(close_restores_disposition_and_mask)
{
    struct sigaction sa = {.sa_handler = count_usr1};
    sigemptyset(&sa.sa_mask);
    EDDY_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    sigset_t before, during, after;
    EDDY_CHECK(pthread_sigmask(SIG_SETMASK, NULL, &before) == 0);
    int fds = eddy_test_fd_count();

    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1));
    EDDY_CHECK(pthread_sigmask(SIG_SETMASK, NULL, &during) == 0);
    EDDY_CHECK(sigismember(&during, SIGUSR1) && !sigismember(&before, SIGUSR1));
    struct sigaction cur;
    EDDY_CHECK(sigaction(SIGUSR1, NULL, &cur) == 0 && cur.sa_handler != count_usr1);
    send_self(SIGUSR1);
    EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGUSR1);
    send_self(SIGUSR1); /* pending, never received */
    eddy_signal_close(&r);

    EDDY_CHECK(pthread_sigmask(SIG_SETMASK, NULL, &after) == 0);
    EDDY_CHECK(!sigismember(&after, SIGUSR1));
    EDDY_CHECK(sigaction(SIGUSR1, NULL, &cur) == 0 && cur.sa_handler == count_usr1);
    EDDY_CHECK_EQ(atomic_load(&usr1_handled), 0);
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds); /* the dispatcher's descriptors are gone */
    send_self(SIGUSR1);
    EDDY_CHECK_EQ(atomic_load(&usr1_handled), 1);
    return 0;
}

/* A signal the thread already blocked before the receiver stays blocked after it. */
EDDY_TEST(a_signal_blocked_before_stays_blocked)
{
    sigset_t s, now;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    EDDY_CHECK(pthread_sigmask(SIG_BLOCK, &s, NULL) == 0);
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR2));
    send_self(SIGUSR2);
    EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGUSR2);
    eddy_signal_close(&r);
    EDDY_CHECK(pthread_sigmask(SIG_SETMASK, NULL, &now) == 0);
    EDDY_CHECK(sigismember(&now, SIGUSR2));
    return 0;
}

/* ---- the handler path: a thread that does not block the signal ---- */

static _Atomic int helper_stop;
static void *unblocked_helper(void *arg)
{
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    while (!atomic_load(&helper_stop)) pause();
    return NULL;
}
static void nothing(int sig) { (void)sig; }

EDDY_TEST_EX(a_thread_that_does_not_block_hands_it_over, .real_clock = true)
{
    struct sigaction sa = {.sa_handler = nothing};
    sigemptyset(&sa.sa_mask);
    EDDY_CHECK(sigaction(SIGUSR2, &sa, NULL) == 0); /* to stop the helper at the end */
    pthread_t th;
    EDDY_CHECK(pthread_create(&th, NULL, unblocked_helper, NULL) == 0);
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1));
    /* Sent to the process: the loop thread blocks SIGUSR1 and the helper does not, so the
     * kernel picks the helper, but the loop's signalfd read may dequeue it first; either way
     * it arrives. */
    for (int i = 0; i < 3; i++) {
        send_self(SIGUSR1);
        EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGUSR1);
    }
    /* Sent to the helper alone: only its handler can take it (the loop's signalfd read sees
     * the process's pending signals and the loop thread's own, never another thread's). */
    for (int i = 0; i < 3; i++) {
        EDDY_CHECK(pthread_kill(th, SIGUSR1) == 0);
        EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGUSR1);
    }
    eddy_signal_close(&r);
    atomic_store(&helper_stop, 1);
    do /* again and again: it may be between its check and pause() */
        pthread_kill(th, SIGUSR2);
    while (pthread_tryjoin_np(th, NULL) == EBUSY && sched_yield() == 0);
    return 0;
}

/* A loop that always has a ready task never polls; a task waiting on a receiver still gets
 * its signal (the wait counts as a watcher, so the loop polls between task runs). */
static _Atomic bool spin_stop;
static int spinner(void *arg)
{
    (void)arg;
    while (!atomic_load(&spin_stop))
        if (eddy_yield() < 0) return 0;
    return 0;
}

EDDY_TEST(a_busy_loop_still_delivers)
{
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1));
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, spinner, NULL));
        send_self(SIGUSR1);
        EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGUSR1);
        atomic_store(&spin_stop, true);
    }
    EDDY_OK(rc);
    eddy_signal_close(&r);
    return 0;
}

/* A receiver left open is reported as a leak with its open site, and the loop still leaves
 * the dispatcher (the disposition comes back). */
static int leaky_line;
static int leaks_a_receiver(void *arg)
{
    static eddy_signal_receiver r;
    (void)arg;
    leaky_line = __LINE__; EDDY_OK(eddy_signal_open(&r, SIGUSR1));
    return 0;
}

static int leak_child(void *arg)
{
    (void)arg;
    eddy_opts o = core_opts();
    int rc = eddy_run_opts(leaks_a_receiver, NULL, &o);
    struct sigaction cur;
    sigaction(SIGUSR1, NULL, &cur);
    sigset_t m;
    pthread_sigmask(SIG_SETMASK, NULL, &m);
    printf("run %d line %d default %d blocked %d\n", rc, leaky_line, cur.sa_handler == SIG_DFL,
           sigismember(&m, SIGUSR1));
    return 0;
}

EDDY_TEST_EX(an_open_receiver_is_a_leak, .raw = true)
{
    char out[2048], want[128];
    int st = core_run_child(leak_child, NULL, out, sizeof out);
    EDDY_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *p = strstr(out, "run ");
    int rc = 0, line = 0, dfl = 0, blocked = 1;
    if (!p || sscanf(p, "run %d line %d default %d blocked %d", &rc, &line, &dfl, &blocked) != 4)
        eddy_test_fail(__FILE__, __LINE__, "output: %s", out);
    EDDY_CHECK_EQ(rc, -ENOTRECOVERABLE);
    EDDY_CHECK(dfl == 1 && blocked == 0); /* the disposition and the mask came back */
    snprintf(want, sizeof want, "eddy: leak: signal receiver created at %s:%d", __FILE__, line);
    if (!strstr(out, want)) eddy_test_fail(__FILE__, __LINE__, "output: %s", out);
    return 0;
}

static int receive_one_usr1(void *arg)
{
    (void)arg;
    eddy_signal_receiver r;
    int rc = eddy_signal_open(&r, SIGUSR1);
    if (rc < 0) return rc;
    kill(getpid(), SIGUSR1);
    rc = eddy_signal_receive(&r);
    eddy_signal_close(&r);
    return rc == SIGUSR1 ? 0 : -EPROTO;
}

/* fork() from a loop with a receiver open: the child (one thread, no loop that can go on)
 * gets the default disposition and an unblocked mask back, and a loop it starts on a new
 * thread has a dispatcher of its own. */
static void *child_loop_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)eddy_run_opts(receive_one_usr1, NULL, &(eddy_opts){.flags = EDDY_OPT_NO_SIGNALS});
}

EDDY_TEST(a_forked_child_gets_the_signals_back)
{
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        struct sigaction cur;
        sigset_t m;
        sigaction(SIGUSR1, NULL, &cur);
        pthread_sigmask(SIG_SETMASK, NULL, &m);
        if (cur.sa_handler != SIG_DFL || sigismember(&m, SIGUSR1)) _exit(1);
#if defined(__SANITIZE_THREAD__)
        _exit(0); /* ThreadSanitizer refuses new threads after a fork (its own thread runs) */
#endif
        pthread_t th;
        void *rc = (void *)1;
        if (pthread_create(&th, NULL, child_loop_thread, NULL) != 0 || pthread_join(th, &rc) != 0) _exit(2);
        _exit(rc == NULL ? 0 : 3);
    }
    int st;
    EDDY_CHECK_EQ(waitpid(pid, &st, 0), pid);
    EDDY_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    send_self(SIGUSR1); /* the parent's dispatcher is untouched */
    EDDY_CHECK_EQ(eddy_signal_receive(&r), SIGUSR1);
    eddy_signal_close(&r);
    return 0;
}

EDDY_TEST(signal_names)
{
    EDDY_CHECK(!strcmp(eddy_signal_name(SIGHUP), "HUP"));
    EDDY_CHECK(!strcmp(eddy_signal_name(SIGUSR2), "USR2"));
    EDDY_CHECK(!strcmp(eddy_signal_name(SIGRTMIN), "RTMIN"));
    EDDY_CHECK(!strcmp(eddy_signal_name(SIGRTMIN + 3), "RTMIN+3"));
    EDDY_CHECK(!strcmp(eddy_signal_name(SIGRTMAX), "RTMAX"));
    EDDY_CHECK(eddy_signal_name(0) == NULL);
    EDDY_CHECK(eddy_signal_name(65) == NULL);
    EDDY_CHECK(eddy_signal_name(-3) == NULL);
    return 0;
}

/* ---- eddy_run's SIGINT/SIGTERM, with receivers beside it ---- */

static int print_and_flush(const char *s)
{
    fputs(s, stdout);
    fflush(stdout);
    return 0;
}

/* A receiver of SIGINT takes it from eddy_run's handling: the root is not cancelled, and a
 * second SIGINT does not kill. */
static int sigint_receiver_main(void *arg)
{
    (void)arg;
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGINT));
    for (int i = 0; i < 3; i++) {
        raise(SIGINT);
        if (eddy_signal_receive(&r) != SIGINT) return 1;
    }
    eddy_signal_close(&r);
    int rc = eddy_sleep(EDDY_MSEC(1)); /* not cancelled */
    printf("slept %d\n", rc);
    /* Closed: eddy_run's handling is back. */
    raise(SIGTERM);
    rc = eddy_sleep(EDDY_SEC(100));
    printf("then %d\n", rc);
    return 0;
}

static int run_with_signals(void *arg)
{
    eddy_opts o = {0};
    int rc = eddy_run_opts((int (*)(void *))arg, NULL, &o);
    printf("run %d\n", rc);
    return 0;
}

EDDY_TEST_EX(a_sigint_receiver_takes_it_from_eddy_run, .raw = true)
{
    char out[1024], want[64];
    int st = core_run_child(run_with_signals, (void *)sigint_receiver_main, out, sizeof out);
    snprintf(want, sizeof want, "slept 0\nthen %d\nrun 0\n", -ECANCELED);
    if (!WIFEXITED(st) || strcmp(out, want) != 0)
        eddy_test_fail(__FILE__, __LINE__, "status 0x%x, output: %s", st, out);
    return 0;
}

/* The second SIGINT kills the process even while a task never yields (the loop never gets to
 * look at its signals): only a handler can do that. The task blocks the thread in nanosleep
 * rather than spinning, which is as stuck for the loop, and lets ThreadSanitizer deliver the
 * signal (it holds asynchronous signals until the thread enters an intercepted call). */
static int spins_forever_main(void *arg)
{
    (void)arg;
    print_and_flush("ready\n");
    for (;;) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Wait until sig is pending neither for process pid nor for its main thread. */
static bool wait_delivered(pid_t pid, int sig)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    for (int i = 0; i < 20000; i++) {
        FILE *f = fopen(path, "re");
        if (!f) return false;
        unsigned long long shd = 0, own = 0;
        while (fgets(line, sizeof line, f)) {
            (void)sscanf(line, "ShdPnd: %llx", &shd);
            (void)sscanf(line, "SigPnd: %llx", &own);
        }
        fclose(f);
        if (!((shd | own) & (1ull << (sig - 1)))) return true;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

EDDY_TEST_EX(second_sigint_kills_a_stuck_loop, .raw = true)
{
    int p[2];
    EDDY_CHECK(pipe(p) == 0);
    fflush(stdout);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a test that failed or timed out */
        dup2(p[1], 1);
        close(p[0]);
        eddy_opts o = {0};
        _exit(eddy_run_opts(spins_forever_main, NULL, &o) == 0 ? 0 : 1);
    }
    close(p[1]);
    char buf[16];
    EDDY_CHECK(read(p[0], buf, 6) == 6);
    EDDY_CHECK(kill(pid, SIGINT) == 0);
    /* Two signals pending at once merge into one: wait until the first has been taken (it is
     * no longer pending in /proc) before sending the second. */
    EDDY_CHECK(wait_delivered(pid, SIGINT));
    EDDY_CHECK(kill(pid, SIGINT) == 0);
    int st;
    EDDY_CHECK(waitpid(pid, &st, 0) == pid);
    close(p[0]);
    EDDY_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
    return 0;
}

/* Two loops on two threads, both handling SIGTERM: one signal cancels both roots. */
static int waits_for_cancel(void *arg)
{
    atomic_fetch_add((_Atomic int *)arg, 1);
    int rc = eddy_sleep(EDDY_SEC(100));
    return rc == -ECANCELED ? 0 : 1;
}

static _Atomic int loops_ready;
static void *loop_thread(void *arg)
{
    (void)arg;
    eddy_opts o = {0};
    return (void *)(intptr_t)eddy_run_opts(waits_for_cancel, &loops_ready, &o);
}

static int two_loops_child(void *arg)
{
    (void)arg;
    pthread_t a, b;
    pthread_create(&a, NULL, loop_thread, NULL);
    pthread_create(&b, NULL, loop_thread, NULL);
    while (atomic_load(&loops_ready) < 2) sched_yield();
    kill(getpid(), SIGTERM);
    void *ra, *rb;
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    printf("loops %d %d\n", (int)(intptr_t)ra, (int)(intptr_t)rb);
    return 0;
}

EDDY_TEST_EX(one_sigterm_cancels_every_loop, .raw = true)
{
    char out[512];
    int st = core_run_child(two_loops_child, NULL, out, sizeof out);
    if (!WIFEXITED(st) || strcmp(out, "loops 0 0\n") != 0)
        eddy_test_fail(__FILE__, __LINE__, "status 0x%x, output: %s", st, out);
    return 0;
}

int main(int argc, char **argv) { return eddy_test_main(argc, argv); }
