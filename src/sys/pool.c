/* eddy sys: the process-wide worker pool (H1's executor).
 *
 * One mutex guards a FIFO of jobs and the worker counts; idle workers wait on a condition
 * variable (CLOCK_MONOTONIC, for the idle timeout). A submit wakes one idle worker that has
 * not already been woken (nwakes counts signals not yet consumed, so a burst of submits does
 * not signal the same sleeper over and over), or starts a worker if none is idle and fewer
 * than the size exist. Workers are detached: nobody joins them, shutdown waits on exit_cv for
 * the count to fall. Once a worker has started, the object that contains this code is pinned
 * (dlopen RTLD_NODELETE) so no worker can outlive its code through dlclose.
 *
 * Interruption (see sys.h): the worker's fast path is two sequentially consistent accesses per
 * bracket (store intr, load cancel; store intr, load kill_started). A canceller marks
 * kill_started, then sends only if the worker is inside (Dekker: one of the two sees the
 * other), holding intr_mu; a worker that sees kill_started passes through intr_mu (so a send
 * in progress has finished) and waits until no instance of the signal is pending for it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sys/pool.h"
#include "loop/sys.h"

typedef struct worker {
    eddy__link link;      /* P.workers */
    pthread_t tid;
    unsigned intr_gen;    /* interrupt signal generation applied to this thread's mask */
} worker;

static struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* idle workers wait here */
    pthread_cond_t exit_cv;  /* broadcast whenever a worker exits */
    eddy__link queue;        /* eddy__job.qlink */
    eddy__link workers;      /* worker.link */
    size_t nqueued;
    int nthreads, nidle, nwakes, nstarting;
    _Atomic int nreturning;  /* workers between a job's end and their next look at the queue:
                                raised without the lock (before the job's finish, which
                                happens before any submit it causes), lowered under it */
    int size;                /* in effect */
    int64_t idle_ns, shutdown_ns;
    int intr_cfg;            /* configured interrupt signal (EDDY_THREADPOOL_DEFAULT, 0, n) */
    bool stopping;           /* a shutdown runs: refuse jobs; workers leave once idle */
    bool dead;               /* process exit ran: refuse jobs for good */
    bool shutdown_busy;
    _Atomic uint64_t jobs_run;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Process exit has begun: every running job is asked to stop (eddy_thread_cancel_requested). */
static _Atomic bool exiting;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic bool pool_inited;
static _Atomic int fail_starts; /* tests */
static __thread worker *tl_worker __attribute__((tls_model("initial-exec")));
static __thread eddy__job *tl_job __attribute__((tls_model("initial-exec")));

/* Interrupt signal state. intr_sig is written under P.mu and read by workers after they see
 * intr_gen change (release/acquire through intr_gen). */
static int intr_sig;                 /* installed signal, 0 if none */
static _Atomic unsigned intr_gen;    /* bumped when a handler is installed */
static bool intr_failed;             /* tried and could not install (disposition not default) */
static _Atomic bool intr_forced_off; /* tests */
static pthread_mutex_t intr_mu = PTHREAD_MUTEX_INITIALIZER;
static __thread volatile sig_atomic_t tl_intr_count __attribute__((tls_model("initial-exec")));

/* ---- settings ---- */

static int cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int default_size(void)
{
    const char *e = getenv("EDDY_THREADPOOL_SIZE");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == '\0' && v >= 1 && v <= EDDY_THREADPOOL_MAX_SIZE) return (int)v;
    }
    int n = cpu_count() + 4;
    return n < 32 ? n : 32;
}

/* ---- fork ---- */

/* The condition variables wait on CLOCK_MONOTONIC (the idle timeout, shutdown deadlines). */
static void init_conds(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&P.work_cv, &ca);
    pthread_cond_init(&P.exit_cv, &ca);
    pthread_condattr_destroy(&ca);
}

static void fork_prepare(void) { pthread_mutex_lock(&P.mu); }
static void fork_parent(void) { pthread_mutex_unlock(&P.mu); }
/* The child has only the forking thread: no worker exists there, queued jobs belong to loops
 * whose tasks cannot be woken from here either way. Forget both; the condition variables may
 * hold the state of waiters that do not exist in the child, so they start over. */
static void fork_child(void)
{
    init_conds();
    for (eddy__link *x; (x = eddy__list_pop_front(&P.workers));) free(eddy__container_of(x, worker, link));
    eddy__list_init(&P.queue);
    P.nqueued = 0;
    P.nthreads = P.nidle = P.nwakes = P.nstarting = 0;
    atomic_store(&P.nreturning, 0);
    P.stopping = P.shutdown_busy = false;
    pthread_mutex_unlock(&P.mu);
    pthread_mutex_init(&intr_mu, NULL); /* a canceller thread may have held it */
}

static void pool_init(void)
{
    init_conds();
    pthread_mutex_lock(&P.mu);
    eddy__list_init(&P.queue);
    eddy__list_init(&P.workers);
    P.size = default_size();
    P.idle_ns = EDDY_SEC(10);
    P.shutdown_ns = EDDY_SEC(1);
    P.intr_cfg = EDDY_THREADPOOL_DEFAULT;
    pthread_mutex_unlock(&P.mu);
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
    atomic_store(&pool_inited, true);
}

static inline void ensure_init(void)
{
    if (eddy__likely(atomic_load_explicit(&pool_inited, memory_order_acquire))) return;
    (void)pthread_once(&init_once, pool_init);
}

/* ---- time ---- */

static struct timespec deadline_ts(int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ns >= EDDY_SEC(1e9)) ns = EDDY_SEC(1e9); /* far enough; keeps tv_sec from overflowing */
    int64_t t = (int64_t)ts.tv_nsec + ns % 1000000000;
    ts.tv_sec += (time_t)(ns / 1000000000 + t / 1000000000);
    ts.tv_nsec = (long)(t % 1000000000);
    return ts;
}

/* ---- dlclose ---- */

static void pin_library(void)
{
    Dl_info di;
    if (dladdr((void *)&pin_library, &di) && di.dli_fname && di.dli_fname[0]) {
        /* Keeps a reference for good (never dlclosed) and marks the object NODELETE. For the
         * main program (static eddy) this is a harmless no-op, or fails harmlessly. */
        void *h = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
        (void)h;
    }
}

/* ---- interrupt signal ---- */

static void intr_handler(int sig)
{
    (void)sig;
    tl_intr_count++;
}

/* P.mu held. */
static bool intr_install_locked(void)
{
    if (intr_sig) return true;
    if (intr_failed || P.intr_cfg == 0) return false;
    int sig = P.intr_cfg == EDDY_THREADPOOL_DEFAULT ? SIGRTMAX - 3 : P.intr_cfg;
    struct sigaction old;
    if (sigaction(sig, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
        intr_failed = true; /* the program uses it: leave it alone */
        return false;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = intr_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: that is the point */
    if (sigaction(sig, &sa, NULL) != 0) {
        intr_failed = true;
        return false;
    }
    intr_sig = sig;
    atomic_fetch_add_explicit(&intr_gen, 1, memory_order_release);
    return true;
}

bool eddy__intr_available(void)
{
    if (atomic_load_explicit(&intr_forced_off, memory_order_relaxed)) return false;
    if (atomic_load_explicit(&intr_gen, memory_order_acquire)) return true;
    ensure_init();
    pthread_mutex_lock(&P.mu);
    bool ok = intr_install_locked();
    pthread_mutex_unlock(&P.mu);
    return ok;
}

void eddy__intr_force_unavailable(bool off) { atomic_store(&intr_forced_off, off); }

/* Worker: apply a newly installed interrupt signal to this thread's mask (workers start with
 * every signal blocked). */
static void worker_sync_mask(worker *w)
{
    unsigned g = atomic_load_explicit(&intr_gen, memory_order_acquire);
    if (eddy__likely(g == w->intr_gen)) return;
    w->intr_gen = g;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, intr_sig);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

enum { I_OUT = 0, I_IN = 1 };

bool eddy__intr_begin(eddy__job *j)
{
    j->worker = pthread_self();
    atomic_store(&j->intr, I_IN);
    if (atomic_load(&j->cancel)) {
        eddy__intr_end(j);
        return false;
    }
    return true;
}

void eddy__intr_end(eddy__job *j)
{
    atomic_store(&j->intr, I_OUT);
    if (eddy__likely(!atomic_load(&j->kill_started))) return;
    /* A canceller may be sending: once we have passed through intr_mu it is done, and a
     * signal it sent is pending for this thread or already handled. Unblocked pending signals
     * are delivered on the way out of any system call, so sigpending itself delivers it. */
    pthread_mutex_lock(&intr_mu);
    pthread_mutex_unlock(&intr_mu);
    int sig = intr_sig;
    if (!sig) return;
    for (;;) {
        sigset_t s;
        if (sigpending(&s) != 0 || !sigismember(&s, sig)) break;
        sched_yield();
    }
}

void eddy__intr_send(eddy__job *j)
{
    if (!intr_sig) return;
    pthread_mutex_lock(&intr_mu);
    atomic_store(&j->kill_started, true); /* "kill started": the worker's end syncs with us */
    if (atomic_load(&j->intr) == I_IN) pthread_kill(j->worker, intr_sig);
    pthread_mutex_unlock(&intr_mu);
}

/* ---- workers ---- */

eddy__job *eddy__pool_current_job(void) { return tl_job; }

bool eddy__pool_exiting(void) { return atomic_load_explicit(&exiting, memory_order_relaxed); }

static bool queue_empty(void) { return eddy__list_empty(&P.queue); }

static eddy__job *queue_pop(void)
{
    eddy__link *x = eddy__list_pop_front(&P.queue);
    if (!x) return NULL;
    P.nqueued--;
    return eddy__container_of(x, eddy__job, qlink);
}

/* P.mu held: the worker leaves (count and list), waking whoever waits for workers to go. */
static void worker_leave(worker *w)
{
    eddy__list_remove(&w->link);
    P.nthreads--;
    pthread_cond_broadcast(&P.exit_cv);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    tl_worker = w;
    pthread_setname_np(pthread_self(), "eddy-pool");
    pthread_mutex_lock(&P.mu);
    for (;;) {
        eddy__job *j;
        while (!(j = queue_pop())) {
            if (P.stopping || P.dead || P.nthreads > P.size || P.idle_ns == 0) goto out;
            P.nidle++;
            int rc;
            if (P.idle_ns == EDDY_FOREVER) {
                rc = pthread_cond_wait(&P.work_cv, &P.mu);
            } else {
                struct timespec ts = deadline_ts(P.idle_ns);
                rc = pthread_cond_timedwait(&P.work_cv, &P.mu, &ts);
            }
            P.nidle--;
            if (P.nwakes > 0) P.nwakes--;
            if (rc == ETIMEDOUT && queue_empty()) goto out;
        }
        atomic_store_explicit(&j->state, EDDY__JS_RUNNING, memory_order_relaxed);
        pthread_mutex_unlock(&P.mu);

        worker_sync_mask(w);
        j->worker = pthread_self();
        tl_job = j;
        j->run(j);
        tl_job = NULL;
        atomic_fetch_add_explicit(&P.jobs_run, 1, memory_order_relaxed);
        /* On our way back to the queue: a submit made as soon as finish has posted (a task
         * that runs jobs back to back) must find us counted, or it would start a worker. */
        atomic_fetch_add_explicit(&P.nreturning, 1, memory_order_relaxed);
        /* finish may hand j back to a task that frees it: nothing reads j afterwards. */
        j->finish(j);
        pthread_mutex_lock(&P.mu); /* the one lock per job: it is also the next pop's */
        atomic_fetch_sub_explicit(&P.nreturning, 1, memory_order_relaxed);
    }
out:
    worker_leave(w);
    pthread_mutex_unlock(&P.mu);
    free(w);
    return NULL;
}

/* Start one worker (P.mu not held; the caller counted it in nthreads). 0 or -EAGAIN. */
static int worker_start(void)
{
    static pthread_once_t pin_once = PTHREAD_ONCE_INIT;
    int f = atomic_load(&fail_starts);
    while (f > 0)
        if (atomic_compare_exchange_weak(&fail_starts, &f, f - 1)) return -EAGAIN;
    worker *w = calloc(1, sizeof *w);
    if (!w) return -EAGAIN;
    pthread_mutex_lock(&P.mu);
    eddy__list_push_back(&P.workers, &w->link);
    pthread_mutex_unlock(&P.mu);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    /* The new thread inherits the creator's mask: block everything around the create, so the
     * worker never runs with the program's signals open, not even for an instruction. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = eddy__sys_pthread_create(&w->tid, &a, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
    if (rc != 0) {
        pthread_mutex_lock(&P.mu);
        eddy__list_remove(&w->link);
        pthread_mutex_unlock(&P.mu);
        free(w);
        return -EAGAIN;
    }
    (void)pthread_once(&pin_once, pin_library);
    return 0;
}

int eddy__pool_submit(eddy__job *j)
{
    ensure_init();
    pthread_mutex_lock(&P.mu);
    if (P.stopping || P.dead) {
        pthread_mutex_unlock(&P.mu);
        return -ESHUTDOWN;
    }
    atomic_store_explicit(&j->state, EDDY__JS_QUEUED, memory_order_relaxed);
    eddy__list_push_back(&P.queue, &j->qlink);
    P.nqueued++;
    bool start = false;
    if (P.nidle > P.nwakes) {
        P.nwakes++;
        pthread_cond_signal(&P.work_cv);
    } else if (P.nthreads < P.size && P.nqueued > (size_t)(P.nwakes + P.nstarting + atomic_load_explicit(&P.nreturning, memory_order_relaxed))) {
        /* Every idle worker has been woken already; they, the workers being started and those
         * returning from a job will take that many queued jobs: start another only for a job
         * beyond those. */
        P.nthreads++;
        P.nstarting++;
        start = true;
    }
    pthread_mutex_unlock(&P.mu);
    if (!start) return 0;
    int rc = worker_start();
    pthread_mutex_lock(&P.mu);
    P.nstarting--;
    if (rc < 0) {
        P.nthreads--;
        pthread_cond_broadcast(&P.exit_cv);
        /* Nobody will ever take j: fail it if it is still ours. */
        if (P.nthreads == 0 && atomic_load_explicit(&j->state, memory_order_relaxed) == EDDY__JS_QUEUED) {
            eddy__list_remove(&j->qlink);
            P.nqueued--;
            atomic_store_explicit(&j->state, EDDY__JS_REMOVED, memory_order_relaxed);
            pthread_mutex_unlock(&P.mu);
            return -EAGAIN;
        }
    }
    pthread_mutex_unlock(&P.mu);
    return 0;
}

bool eddy__pool_remove(eddy__job *j)
{
    bool removed = false;
    pthread_mutex_lock(&P.mu);
    if (atomic_load_explicit(&j->state, memory_order_relaxed) == EDDY__JS_QUEUED) {
        eddy__list_remove(&j->qlink);
        P.nqueued--;
        atomic_store_explicit(&j->state, EDDY__JS_REMOVED, memory_order_relaxed);
        removed = true;
    }
    pthread_mutex_unlock(&P.mu);
    return removed;
}

/* ---- shutdown ---- */

/* P.mu held: wait until no worker is left or the absolute deadline passes. */
static bool wait_workers_locked(int n, const struct timespec *ts)
{
    while (P.nthreads > n) {
        int rc = ts ? pthread_cond_timedwait(&P.exit_cv, &P.mu, ts) : pthread_cond_wait(&P.exit_cv, &P.mu);
        if (rc == ETIMEDOUT) return P.nthreads <= n;
    }
    return true;
}

/* P.mu held: queued jobs will never run. Their finish tells their waiters. */
static void drop_queued_locked(eddy__link *out)
{
    for (eddy__job *j; (j = queue_pop());) {
        atomic_store_explicit(&j->state, EDDY__JS_DROPPED, memory_order_relaxed);
        eddy__list_push_back(out, &j->qlink);
    }
}

int eddy_threadpool_shutdown(int64_t timeout)
{
    if (timeout < 0) return -EINVAL;
    if (eddy__tl_loop) return -EPERM;
    if (tl_worker) return -EDEADLK;
    ensure_init();
    pthread_mutex_lock(&P.mu);
    if (P.shutdown_busy) {
        pthread_mutex_unlock(&P.mu);
        return -EALREADY;
    }
    P.shutdown_busy = true;
    P.stopping = true;
    pthread_cond_broadcast(&P.work_cv);
    struct timespec ts = deadline_ts(timeout);
    bool ok = wait_workers_locked(0, timeout == EDDY_FOREVER ? NULL : &ts);
    eddy__link dropped;
    eddy__list_init(&dropped);
    drop_queued_locked(&dropped);
    P.stopping = false;
    P.shutdown_busy = false;
    pthread_mutex_unlock(&P.mu);
    for (eddy__link *x; (x = eddy__list_pop_front(&dropped));) {
        eddy__job *j = eddy__container_of(x, eddy__job, qlink);
        j->finish(j);
    }
    return ok ? 0 : -ETIMEDOUT;
}

/* Process exit (a destructor: after main returns or exit() is called; thanks to the pin it
 * never runs at dlclose once a worker has started). Queued jobs are forgotten without telling
 * anyone: their loops may be half torn down by now and nothing will look at them again.
 * Running jobs are asked to stop and get shutdown_timeout to do so. */
__attribute__((destructor)) static void pool_at_exit(void)
{
    if (!atomic_load(&pool_inited)) return;
    pthread_mutex_lock(&P.mu);
    P.dead = true;
    for (eddy__job *j; (j = queue_pop());)
        atomic_store_explicit(&j->state, EDDY__JS_DROPPED, memory_order_relaxed);
    atomic_store(&exiting, true);
    pthread_cond_broadcast(&P.work_cv);
    struct timespec ts = deadline_ts(P.shutdown_ns);
    /* exit() called from a job: do not wait for ourselves. */
    (void)wait_workers_locked(tl_worker ? 1 : 0, &ts);
    pthread_mutex_unlock(&P.mu);
}

/* ---- settings and statistics ---- */

int eddy_threadpool_configure(const eddy_threadpool_opts *o)
{
    eddy_threadpool_opts d = EDDY_THREADPOOL_OPTS_INIT;
    if (!o) o = &d;
    if (o->size != EDDY_THREADPOOL_DEFAULT && (o->size < 1 || o->size > EDDY_THREADPOOL_MAX_SIZE))
        return -EINVAL;
    if (o->idle_timeout < 0 || o->shutdown_timeout < 0) return -EINVAL;
    int sig = o->interrupt_signal;
    if (sig != EDDY_THREADPOOL_DEFAULT && sig != 0 &&
        (sig < 1 || sig > SIGRTMAX || sig == SIGKILL || sig == SIGSTOP))
        return -EINVAL;
    ensure_init();
    pthread_mutex_lock(&P.mu);
    if (sig != P.intr_cfg) {
        if (intr_sig) {
            pthread_mutex_unlock(&P.mu);
            return -EBUSY;
        }
        P.intr_cfg = sig;
        intr_failed = false;
    }
    P.size = o->size == EDDY_THREADPOOL_DEFAULT ? default_size() : o->size;
    P.idle_ns = o->idle_timeout;
    P.shutdown_ns = o->shutdown_timeout;
    /* Idle workers re-read the settings: a smaller size or a shorter idle time applies now. */
    pthread_cond_broadcast(&P.work_cv);
    pthread_mutex_unlock(&P.mu);
    return 0;
}

void eddy_threadpool_stats(struct eddy_threadpool_stats *out)
{
    if (!out) return;
    ensure_init();
    pthread_mutex_lock(&P.mu);
    *out = (struct eddy_threadpool_stats){.size = P.size, .threads = P.nthreads, .idle = P.nidle,
                                   .queued = P.nqueued, .jobs_run = atomic_load(&P.jobs_run),
                                   .interrupts = intr_sig != 0};
    pthread_mutex_unlock(&P.mu);
}

int eddy__pool_wait_threads(int n, int64_t timeout)
{
    ensure_init();
    struct timespec ts = deadline_ts(timeout);
    pthread_mutex_lock(&P.mu);
    bool ok = wait_workers_locked(n, timeout == EDDY_FOREVER ? NULL : &ts);
    pthread_mutex_unlock(&P.mu);
    return ok ? 0 : -ETIMEDOUT;
}

void eddy__pool_fail_starts(int n) { atomic_store(&fail_starts, n); }

bool eddy__pool_stopping(void)
{
    ensure_init();
    pthread_mutex_lock(&P.mu);
    bool s = P.stopping;
    pthread_mutex_unlock(&P.mu);
    return s;
}
