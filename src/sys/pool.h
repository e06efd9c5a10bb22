/* eddy sys layer internals: the process-wide worker pool (pool.c), the job protocol tasks use
 * to hand work to it and wait (job.c), and the worker interruption used by blocking file
 * operations and lock acquires (pool.c). Never installed.
 *
 * Layers, bottom up:
 *   pool.c  an executor: worker threads, a FIFO of eddy__job, lazy start, idle exit, shutdown
 *           with a deadline, fork and exit handling. It knows nothing of loops or tasks: a
 *           worker calls job->run then job->finish.
 *   job.c   the task side: submit from a task, park, cancellation (dequeue a job not yet
 *           started; else wait for it with the cooperative flag set, or abandon it), the loop
 *           reference that keeps the deadlock detector honest, capacity limiters, and jobs
 *           orphaned by a loop that ended while they ran.
 *   users   eddy_run_in_thread (thread.c), file operations (fileop.c), lock acquires
 *           (lock.c), portals' nothing (they run loops, not jobs). */
#ifndef EDDY_SYS_POOL_H
#define EDDY_SYS_POOL_H

#include <pthread.h>

#include "eddy/sync.h"
#include "eddy/thread.h"
#include "internal.h"

typedef struct eddy__job eddy__job;

/* The calling task, if it may block: NULL in callback context or outside a loop. */
static inline eddy_task *eddy__sys_task(void)
{
    eddy_loop *l = eddy__tl_loop;
    return l && !l->in_callback ? l->current : NULL;
}

/* How a task waits for its job (eddy__job.how). */
enum {
    EDDY__JOB_WAIT = 0,              /* cancelled: set the cooperative flag, wait for the job */
    EDDY__JOB_ABANDON = 1u << 0,     /* cancelled: return at once, the job finishes alone */
    EDDY__JOB_UNCANCELLABLE = 1u << 1, /* not a cancellation point (close) */
    EDDY__JOB_INTERRUPT = 1u << 2,   /* cancelled while waiting: also interrupt the worker's
                                        blocking system call with a signal (see intr below) */
};

/* Job states (eddy__job.state). */
enum {
    EDDY__JS_QUEUED = 1, /* in the pool's queue */
    EDDY__JS_RUNNING,    /* a worker took it */
    EDDY__JS_REMOVED,    /* taken out of the queue by its waiter before it started */
    EDDY__JS_DONE,       /* run finished and the result was posted to the waiter's loop */
    EDDY__JS_ABANDONED,  /* its waiter gave up while it ran */
    EDDY__JS_DROPPED,    /* never run: the pool shut down first (finish is still called) */
};

struct eddy__job {
    /* Filled in by the user of the layer before eddy__job_run. */
    void (*run)(eddy__job *j);     /* worker thread: do the work, set result */
    void (*release)(eddy__job *j); /* EDDY__JOB_ABANDON: free j once nobody uses it (any thread) */
    unsigned how;                  /* EDDY__JOB_* */
    eddy_limiter *limiter;         /* optional: a token is held from submit until run returns */
    int64_t result;                /* set by run */
    bool abandoned;                /* out: eddy__job_run gave j to the layer (do not touch j) */

    /* Private: pool.c. */
    eddy__link qlink;              /* in the pool queue (pool lock) */
    void (*finish)(eddy__job *j);  /* worker, after run (or instead of it when dropped) */
    _Atomic int state;             /* EDDY__JS_* */
    _Atomic int cancel;            /* eddy_thread_cancel_requested */
    _Atomic int intr;              /* interruptible section: see pool.c */
    _Atomic bool kill_started;     /* a canceller decided to interrupt (pool.c) */
    pthread_t worker;              /* valid while state is RUNNING */

    /* Private: job.c. */
    eddy_loop *loop;
    eddy_task *task;               /* the waiting task; NULL once abandoned */
    const eddy__wait *parked;      /* the wait the task is parked on (loop thread) */
    eddy_ts_call call;             /* completion, posted to loop */
    eddy_limiter_token tok;
    eddy_timer intr_timer;         /* re-sends the interrupt while the worker stays blocked */
    int64_t intr_backoff;
    eddy__link alink;              /* abandoned jobs of a loop (loop thread) */
    bool delivered;                /* loop thread: the completion callback has run */
    bool orphaned;                 /* orphan lock: the loop ended while j ran abandoned */
    bool posted;                   /* orphan lock: the worker posted an abandoned completion */
    bool loop_ended;               /* loop thread: exit hook ran before the completion */
};

/* ---- pool.c: the executor ---- */

/* Queue j (run and finish set) and make sure a worker will take it: wake an idle one or start
 * one if fewer than the pool size run. j->state becomes QUEUED.
 * Returns 0; -EAGAIN if no worker exists and none could be started (j is not queued);
 * -ESHUTDOWN while the pool shuts down or after its process-exit shutdown. */
EDDY__HIDDEN int eddy__pool_submit(eddy__job *j);
/* Take j out of the queue if no worker has taken it yet (state QUEUED -> REMOVED).
 * Returns true if j was removed and will never run. */
EDDY__HIDDEN bool eddy__pool_remove(eddy__job *j);

/* Interruption of a worker blocked in a system call (file reads on FIFOs and devices, OFD lock
 * waits). The worker brackets the call: if intr_begin returns false, cancellation was already
 * requested and the call must be skipped (treated as interrupted). intr_send (any thread)
 * sends the pool's interrupt signal to j's worker if it is inside the bracket; the handler
 * does nothing and is installed without SA_RESTART, so the call fails with EINTR (or returns
 * a short count). intr_end waits until a signal sent during the bracket has been delivered,
 * so it can never hit the worker's next job. A signal that lands between intr_begin's check
 * and the system call is lost: the waiter re-sends until the job finishes (job.c). */
EDDY__HIDDEN bool eddy__intr_available(void);
EDDY__HIDDEN bool eddy__intr_begin(eddy__job *j);
EDDY__HIDDEN void eddy__intr_end(eddy__job *j);
EDDY__HIDDEN void eddy__intr_send(eddy__job *j);

/* The job the calling worker thread runs, or NULL on any other thread. */
EDDY__HIDDEN eddy__job *eddy__pool_current_job(void);
/* True once process exit has begun (every running job is asked to stop). */
EDDY__HIDDEN bool eddy__pool_exiting(void);

/* Tests: wait until at most n workers exist, up to timeout ns (real time). 0 or -ETIMEDOUT. */
EDDY__HIDDEN int eddy__pool_wait_threads(int n, int64_t timeout);
/* Tests: make the next n worker starts fail as if pthread_create had (EAGAIN). */
EDDY__HIDDEN void eddy__pool_fail_starts(int n);
/* Tests: true while eddy_threadpool_shutdown runs. */
EDDY__HIDDEN bool eddy__pool_stopping(void);
/* Tests: make eddy__intr_available report false (forced fallbacks) or true again. */
EDDY__HIDDEN void eddy__intr_force_unavailable(bool off);

/* ---- job.c: tasks waiting for jobs ---- */

/* From a task: run j on the pool and wait for it as j->how says. Returns 0 when j ran (its
 * result is in j->result); the cancel code if the caller was cancelled before j started (it
 * never runs) or, with EDDY__JOB_ABANDON, while it ran (then j->abandoned is true and j
 * belongs to the layer, which calls j->release when the worker is done with it); the errors
 * of eddy_limiter_acquire_on_behalf_of while waiting for a limiter token; -EAGAIN if no
 * worker could be started; -ESHUTDOWN if the pool is shutting down or j was dropped by a
 * shutdown before it ran; -EPERM outside a task. */
EDDY__HIDDEN int eddy__job_run(eddy__job *j);
/* Loop thread, while a task waits in eddy__job_run(j): set j's cooperative flag and, for an
 * EDDY__JOB_INTERRUPT job, interrupt its worker's system call (again and again until j
 * completes). What a file's close does to the operations still running on it. */
EDDY__HIDDEN void eddy__job_interrupt(eddy__job *j);

#endif
