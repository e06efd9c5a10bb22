/* eddy — blocking work on a thread pool (H1) and blocking portals into a loop (H3).
 * Capabilities H1, H3. The thread-safe call queue under both is eddy_loop_call_ts (loop.h).
 *
 * The pool is process-wide and shared by every loop. It starts no thread until the first job
 * and grows one worker at a time, up to its size, only when no idle worker can take a job;
 * a worker exits after idle_timeout without work. Workers block every signal except the
 * pool's interrupt signal (below), so signals meant for the program never land there.
 *
 * Process lifetime (what the pool does at the edges):
 *  - exit: when the process exits (exit() or a return from main), queued jobs that have not
 *    started are dropped, every running job gets eddy_thread_cancel_requested() == 1, and exit
 *    waits up to shutdown_timeout (default 1 s) for them; a worker still inside a job after
 *    that is left running and dies with the process. Exit therefore never hangs on a stuck
 *    job, but such a job may run while other exit-time destructors run: make long jobs poll
 *    eddy_thread_cancel_requested(). _exit() and signals end workers without waiting.
 *  - fork: only the forking thread exists in the child. There the pool starts empty: jobs
 *    queued or running in the parent at the time of the fork do not run in the child, and a
 *    task of the child waiting for one never completes; fork with jobs in flight only to
 *    exec (eddy_process spawns without forking the whole process). New jobs in the child
 *    start new workers.
 *  - dlclose: once the pool has started a worker, the library that contains eddy is marked
 *    not-unloadable (RTLD_NODELETE), so a worker can never run code that has been unmapped;
 *    dlclose then leaves it loaded.
 *
 * Interrupt signal: blocking file reads and writes, and lock acquires, are cancelled by
 * interrupting the worker's system call with a signal (a handler that does nothing, without
 * SA_RESTART). By default SIGRTMAX - 3; installed the first time it is needed, and only if
 * the signal's disposition is still the default: otherwise (or with interrupt_signal = 0)
 * those operations fall back as file.h says for each (lock acquires poll, reads wait). */
#ifndef EDDY_THREAD_H
#define EDDY_THREAD_H

#include "base.h"
#include "sync.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- H1: the pool ---------------------------------------------------------------------- */

#define EDDY_THREADPOOL_DEFAULT (-1)
#define EDDY_THREADPOOL_MAX_SIZE 1024

/* Pool settings. Start from EDDY_THREADPOOL_OPTS_INIT; a zero-filled struct means literal
 * zeros (size 0 is invalid, a 0 idle_timeout makes workers exit as soon as they are idle). */
typedef struct eddy_threadpool_opts {
    int size;                 /* most workers at once, 1..EDDY_THREADPOOL_MAX_SIZE;
                                 EDDY_THREADPOOL_DEFAULT: the environment variable
                                 EDDY_THREADPOOL_SIZE if set and valid, else
                                 min(32, online CPUs + 4) */
    int64_t idle_timeout;     /* a worker exits after this long without a job (ns, >= 0;
                                 EDDY_FOREVER: never) */
    int64_t shutdown_timeout; /* how long process exit waits for running jobs (ns, >= 0) */
    int interrupt_signal;     /* signal that interrupts a blocked worker (see above);
                                 EDDY_THREADPOOL_DEFAULT: SIGRTMAX - 3; 0: never interrupt */
} eddy_threadpool_opts;
#define EDDY_THREADPOOL_OPTS_INIT \
    {EDDY_THREADPOOL_DEFAULT, EDDY_SEC(10), EDDY_SEC(1), EDDY_THREADPOOL_DEFAULT}

/* Change the pool's settings (NULL: back to the defaults). Any thread, any time: a smaller
 * size takes effect as workers finish their jobs, a new idle_timeout when workers next wait.
 * Returns 0; -EINVAL for a size outside 1..EDDY_THREADPOOL_MAX_SIZE (other than
 * EDDY_THREADPOOL_DEFAULT), a negative timeout, or an interrupt_signal that is not 0, the
 * default or a valid signal number other than SIGKILL/SIGSTOP; -EBUSY to change the
 * interrupt signal after it has been installed (nothing is changed). */
EDDY_API EDDY_WUR int eddy_threadpool_configure(const eddy_threadpool_opts *opts);

/* Statistics (used by its tag: the function eddy_threadpool_stats has the name). */
struct eddy_threadpool_stats {
    int size;             /* the size in effect */
    int threads;          /* workers alive */
    int idle;             /* workers waiting for a job */
    size_t queued;        /* jobs waiting for a worker */
    uint64_t jobs_run;    /* jobs finished since the process started */
    bool interrupts;      /* the interrupt signal is installed */
};
/* Fill *out (nothing for NULL). Any thread. */
EDDY_API void eddy_threadpool_stats(struct eddy_threadpool_stats *out);

/* Stop the pool: no new jobs are accepted while it runs, workers finish the queued and
 * running jobs and exit, and the call waits up to timeout ns (EDDY_FOREVER: no limit) for
 * all of them. Jobs still queued at the deadline are dropped: their callers get -ESHUTDOWN.
 * Afterwards the pool is usable again (workers restart lazily); a worker stuck in a job past
 * the deadline exits when its job returns. Not on a loop thread (it blocks the OS thread).
 * Returns 0; -ETIMEDOUT if workers were still running jobs at the deadline; -EINVAL for a
 * negative timeout; -EPERM on a loop thread; -EDEADLK from a pool worker (it would wait for
 * itself); -EALREADY while another shutdown runs. */
EDDY_API EDDY_WUR int eddy_threadpool_shutdown(int64_t timeout);

/* ---- H1: running blocking functions ---------------------------------------------------- */

typedef struct eddy_run_in_thread_opts {
    /* false (default, trio's to_thread.run_sync): when the calling task is cancelled, the
     * call still waits for fn to return, and eddy_thread_cancel_requested() becomes nonzero
     * inside fn so cooperative code can stop early. true: the call returns the cancel code at
     * once; fn keeps running and its result is discarded when it returns. */
    bool abandon_on_cancel;
    /* Optional: one token of this limiter is held by each job from before it is queued until
     * fn returns (abandoned jobs included), bounding how many jobs of this caller run or wait
     * in the pool at once. The limiter belongs to the caller's loop and must stay valid until
     * every such job has returned or the loop has ended. */
    eddy_limiter *limiter;
} eddy_run_in_thread_opts;

/* H1: run fn(arg) on a worker of the process-wide pool and return its int. The calling task
 * is suspended (the loop keeps running); a cancellation point. If the task is cancelled
 * before a worker takes the job, the job is dropped and never runs. If it is cancelled while
 * fn runs, the call waits for fn to return (fn's value is returned, and
 * eddy_thread_cancel_requested() is nonzero inside fn from the moment of the cancellation);
 * the cancellation is then seen by the task's next blocking call. fn must not call blocking
 * eddy functions (there is no loop on a worker); eddy_portal_call reaches a loop from there.
 * Returns fn's return value; -ECANCELED/-ETIMEDOUT if cancelled before fn started; -EAGAIN
 * if no worker thread exists and none could be created; -ESHUTDOWN while the pool shuts
 * down (eddy_threadpool_shutdown, or process exit); -EINVAL if fn is NULL; -EPERM outside a
 * task (callback context included). */
EDDY_API EDDY_WUR int eddy_run_in_thread(int (*fn)(void *), void *arg);

/* eddy_run_in_thread with options (NULL: the defaults). With abandon_on_cancel, a
 * cancellation while fn runs returns -ECANCELED/-ETIMEDOUT at once: fn runs on, arg must stay
 * valid until fn returns, and its result is discarded. With a limiter, the wait for a token
 * comes first (cancelling it takes nothing).
 * Returns as eddy_run_in_thread, and -ECANCELED/-ETIMEDOUT if cancelled while waiting for a
 * limiter token or (abandon_on_cancel) while fn runs; -ENOMEM (abandon_on_cancel: such a
 * job is allocated, since it may outlive the call). Each job borrows its token in its own
 * name, so one task may run several jobs under the same limiter at once. */
EDDY_API EDDY_WUR int eddy_run_in_thread_with(int (*fn)(void *), void *arg,
                                              const eddy_run_in_thread_opts *opts);

/* Inside a function running on the pool: nonzero once the task that waits for it was
 * cancelled (or abandoned it, or the process is exiting). 0 on any other thread. */
EDDY_API int eddy_thread_cancel_requested(void);

/* ---- H3: portals ----------------------------------------------------------------------- */

/* A way into a loop from other OS threads: eddy_portal_call runs a function as a task on the
 * portal's loop and blocks the calling thread until that task returns (anyio's blocking
 * portal). Either the portal runs its own loop on a background thread (eddy_portal_start /
 * eddy_portal_stop), or it serves an existing loop from a task in a nursery of that loop
 * (eddy_portal_open / eddy_portal_close). Calls run concurrently, each as its own task named
 * "portal-call", in a nursery of the portal. */
typedef struct eddy_portal eddy_portal;

/* Start a loop on a new thread with a portal into it; *p receives the portal. Any thread
 * (also a task: it does not block for long). The loop runs without SIGINT/SIGTERM handling.
 * Returns 0; -EINVAL if p is NULL; -ENOMEM; -EAGAIN if the thread cannot be created; the
 * errors of eddy_run when the loop cannot start (-EMFILE, -ENFILE). */
EDDY_API EDDY_WUR int eddy_portal_start(eddy_portal **p);
/* Stop a portal made by eddy_portal_start: calls not yet started get -ESHUTDOWN, running
 * ones are cancelled (their functions see their blocking calls return -ECANCELED) and waited
 * for, the loop ends and its thread is joined; then p is freed. Blocks the calling thread.
 * Returns 0, or the loop's eddy_run status if it failed (-EDEADLK ...; p is freed anyway);
 * -EINVAL if p is NULL or was made by eddy_portal_open; -EDEADLK if called on the portal's
 * own loop thread (nothing happens); -EPERM on the thread of another loop (it must not block:
 * run the stop on the pool with eddy_run_in_thread). */
EDDY_API EDDY_WUR int eddy_portal_stop(eddy_portal *p);

/* From a task: make a portal into the calling task's loop, served by a task spawned in n
 * (named "portal"). The loop cannot end while the portal is open (its server task keeps the
 * nursery open and holds a loop reference): close it with eddy_portal_close before n's block
 * ends. If n is cancelled the server stops early: later calls get -ESHUTDOWN.
 * Returns 0; -EINVAL if p or n is NULL; -EPERM outside a task; -ENOMEM; the errors of
 * eddy_spawn (-EINVAL if n is not open). */
EDDY_API EDDY_WUR int eddy_portal_open(eddy_nursery *n, eddy_portal **p);
/* From a task of p's loop: stop accepting calls (later ones get -ESHUTDOWN), cancel the calls
 * still running and wait for them, end the server task, free p. Not a cancellation point.
 * Returns 0; -EINVAL if p is NULL or was made by eddy_portal_start; -EPERM if not called
 * from a task of p's loop; -EDEADLK from a function running in a call of p (it would wait for
 * itself; nothing happens). */
EDDY_API EDDY_WUR int eddy_portal_close(eddy_portal *p);

/* From any thread that does not run p's loop: run fn(arg) as a task on p's loop and block
 * until it returns. fn may use every blocking eddy call; a failure it returns does not affect
 * other calls. Returns fn's return value; -ESHUTDOWN if the portal is stopped or closed (or
 * its loop has ended) before fn started; -ECANCELED (or another code fn returns) if the
 * portal was stopped while fn ran; -ENOMEM if the task could not be spawned; -EINVAL if p or
 * fn is NULL; -EDEADLK on p's own loop thread (it would wait for itself); -EPERM on the
 * thread of another loop (blocking it is not allowed: run the call on the pool). */
EDDY_API EDDY_WUR int eddy_portal_call(eddy_portal *p, int (*fn)(void *), void *arg);

/* The loop a portal serves (for eddy_loop_call_ts), or NULL for NULL. */
EDDY_API eddy_loop *eddy_portal_loop(const eddy_portal *p);

#ifdef __cplusplus
}
#endif
#endif
