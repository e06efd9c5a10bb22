/* Signals across threads: the signal dispatcher against loops that end while signals arrive
 * (issue 7, bug 6), and a storm of signals over many loops on several threads. Runs under
 * ThreadSanitizer in CI (label "threads").
 *
 * Bug 6: eddy_run's SIGINT/SIGTERM handler used to load a global loop pointer and write to
 * that loop's eventfd, while the loop's thread could be ending it: closing the eventfd (its
 * number free for reuse by anything the program opens next) and freeing the loop. The handler
 * now touches only the dispatcher's own eventfd, inside an in-flight count that the last
 * loop's teardown waits for before closing it. The regression test makes the window wide: this
 * file replaces write(2) for the whole binary (eddy's static library included), and on one
 * thread each write is delayed, so a handler running there is caught between reading the
 * descriptor number and writing to it, while the loop ends and the descriptor numbers are
 * reused. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "eddy/test.h"

/* ---- a slow write(2) on one thread ---- */

static __thread bool tl_slow_writer;
static _Atomic int slow_in_write, slow_write_done;

ssize_t write(int fd, const void *buf, size_t n)
{
    if (tl_slow_writer) {
        atomic_store(&slow_in_write, 1);
        struct timespec ts = {0, 100 * 1000000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
    }
    ssize_t r = syscall(SYS_write, fd, buf, n);
    if (tl_slow_writer) atomic_store(&slow_write_done, 1);
    return r;
}

static void nothing(int sig) { (void)sig; }

static _Atomic bool victim_stop, victim_ready;
static void *victim_thread(void *arg)
{
    tl_slow_writer = arg != NULL;
    sigset_t s;
    sigemptyset(&s);
    pthread_sigmask(SIG_SETMASK, &s, NULL); /* takes any signal sent to it */
    atomic_store(&victim_ready, true);
    while (!atomic_load(&victim_stop)) pause();
    return NULL;
}

static void stop_victim(pthread_t th)
{
    atomic_store(&victim_stop, true);
    do /* again and again: it may be between its check and pause() */
        pthread_kill(th, SIGUSR2);
    while (pthread_tryjoin_np(th, NULL) == EBUSY && sched_yield() == 0);
}

static pthread_t victim;

static int signal_then_end(void *arg)
{
    (void)arg;
    /* SIGTERM to a thread that does not block it: eddy's handler runs there, and stalls in
     * its write. The loop ends meanwhile. */
    if (pthread_kill(victim, SIGTERM) != 0) return -EIO;
    while (!atomic_load(&slow_in_write)) sched_yield();
    return 0;
}

EDDY_TEST_EX(handler_write_never_outlives_loop_teardown, .raw = true)
{
    struct sigaction sa = {.sa_handler = nothing};
    sigemptyset(&sa.sa_mask);
    EDDY_CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
    EDDY_CHECK(pthread_create(&victim, NULL, victim_thread, (void *)1) == 0);
    while (!atomic_load(&victim_ready)) sched_yield(); /* its write is slow from now on */
    eddy_opts o = {0}; /* eddy_run's SIGINT/SIGTERM handling on, real clock */
    EDDY_OK(eddy_run_opts(signal_then_end, NULL, &o));
    /* The loop is gone: its descriptors' numbers are free. Take them all (and more). */
    int efds[16];
    for (int i = 0; i < 16; i++) {
        efds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        EDDY_CHECK(efds[i] >= 0);
    }
    while (!atomic_load(&slow_write_done)) sched_yield();
    for (int i = 0; i < 16; i++) {
        uint64_t v = 0;
        ssize_t r = read(efds[i], &v, sizeof v);
        if (r == (ssize_t)sizeof v)
            eddy_test_fail(__FILE__, __LINE__, "a signal handler wrote %llu into descriptor %d, "
                           "opened after the loop ended", (unsigned long long)v, efds[i]);
        close(efds[i]);
    }
    stop_victim(victim);
    return 0;
}

/* ---- a storm ---- */

enum { LOOP_THREADS = 3, LOOPS_EACH = 60 };

static _Atomic bool storm_stop;
static _Atomic long received, prog_handled;
static _Atomic int loop_failures;
static pthread_t loop_th[LOOP_THREADS];
static _Atomic int loops_started, loops_done;

static void prog_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&prog_handled, 1);
}

static int storm_loop_main(void *arg)
{
    (void)arg;
    eddy_signal_receiver r;
    int rc = eddy_signal_open(&r, SIGUSR1, SIGUSR2);
    if (rc < 0) return rc;
    long got = 0;
    EDDY_MOVE_ON_AFTER(EDDY_MSEC(1)) {
        while ((rc = eddy_signal_receive(&r)) > 0) got++;
    }
    eddy_signal_close(&r);
    atomic_fetch_add(&received, got);
    return rc == -ECANCELED ? 0 : rc;
}

static void *storm_loop_thread(void *arg)
{
    (void)arg;
    atomic_fetch_add(&loops_started, 1);
    for (int i = 0; i < LOOPS_EACH; i++) {
        /* Half of the loops also handle SIGINT/SIGTERM: their hub stays in the dispatcher after
         * the receiver closes, until the loop itself ends. */
        eddy_opts o = {.flags = (i % 2) ? EDDY_OPT_NO_SIGNALS : 0u};
        if (eddy_run_opts(storm_loop_main, NULL, &o) != 0) atomic_fetch_add(&loop_failures, 1);
    }
    /* Stay until the storm is over: it signals this thread by its id, which must not be
     * reused by a new thread meanwhile. */
    atomic_fetch_add(&loops_done, 1);
    while (!atomic_load(&storm_stop)) sched_yield();
    return NULL;
}

static void *storm_thread(void *arg)
{
    pthread_t bystander = *(pthread_t *)arg;
    struct timespec ts = {0, 20 * 1000};
    for (unsigned k = 0; !atomic_load(&storm_stop); k++) {
        kill(getpid(), (k & 1) ? SIGUSR1 : SIGUSR2);        /* the process: any thread */
        pthread_kill(loop_th[k % LOOP_THREADS], SIGUSR2);   /* one loop thread alone */
        pthread_kill(bystander, SIGUSR1);                   /* the handler path */
        nanosleep(&ts, NULL);
    }
    return NULL;
}

EDDY_TEST_EX(signal_storm_over_loops_ending_on_threads, .raw = true, .timeout = EDDY_SEC(60))
{
    /* The program's own handlers: what SIGUSR1/2 do while no receiver is open. */
    struct sigaction sa = {.sa_handler = prog_handler};
    sigemptyset(&sa.sa_mask);
    EDDY_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    EDDY_CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
    int fds = eddy_test_fd_count();
    pthread_t bystander, storm;
    EDDY_CHECK(pthread_create(&bystander, NULL, victim_thread, NULL) == 0);
    for (int i = 0; i < LOOP_THREADS; i++)
        EDDY_CHECK(pthread_create(&loop_th[i], NULL, storm_loop_thread, NULL) == 0);
    while (atomic_load(&loops_started) < LOOP_THREADS) sched_yield();
    EDDY_CHECK(pthread_create(&storm, NULL, storm_thread, &bystander) == 0);
    while (atomic_load(&loops_done) < LOOP_THREADS) sched_yield();
    atomic_store(&storm_stop, true);
    pthread_join(storm, NULL);
    for (int i = 0; i < LOOP_THREADS; i++) pthread_join(loop_th[i], NULL);
    stop_victim(bystander);

    EDDY_CHECK_EQ(atomic_load(&loop_failures), 0);
    EDDY_CHECK(atomic_load(&received) > 0);
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds); /* the dispatcher left with the last loop */
    struct sigaction cur;
    EDDY_CHECK(sigaction(SIGUSR1, NULL, &cur) == 0 && cur.sa_handler == prog_handler);
    EDDY_CHECK(sigaction(SIGUSR2, NULL, &cur) == 0 && cur.sa_handler == prog_handler);
    EDDY_CHECK(sigaction(SIGTERM, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL);
    sigset_t m;
    EDDY_CHECK(pthread_sigmask(SIG_SETMASK, NULL, &m) == 0);
    EDDY_CHECK(!sigismember(&m, SIGUSR1) && !sigismember(&m, SIGUSR2));
    return 0;
}

int main(int argc, char **argv) { return eddy_test_main(argc, argv); }
