/* eddy sys: tasks handing jobs to the pool and waiting for them (see sys.h).
 *
 * A waiting task holds a loop reference for its job from submit until the worker has posted
 * the completion (the worker drops it after eddy_loop_post_ts returns, as the post contract
 * asks), so the deadlock detector knows a thread may still wake the task.
 *
 * State races are settled by one CAS on j->state: the worker's RUNNING -> DONE against the
 * waiter's RUNNING -> ABANDONED; a job not yet started is taken back under the pool lock
 * (QUEUED -> REMOVED) and never runs.
 *
 * Abandoned jobs outlive the call that submitted them, and possibly the loop. Each loop keeps
 * its abandoned, still running jobs on a list; a job keeps its loop reference while it runs
 * abandoned (a limiter token it holds may be what another task waits for, so the loop is not
 * deadlocked). The worker that finishes one takes orphan_mu and, unless the loop has ended,
 * posts a completion (which releases the limiter token and frees the job) while holding it;
 * the loop's exit hook takes orphan_mu too and marks every job not yet posted as orphaned,
 * dropping its reference for it, so eddy_run never waits for an abandoned job, and the worker
 * of an orphaned job frees it without touching the loop. A completion posted before the exit
 * hook ran is delivered by eddy_run's last drain; it then frees the job and leaves the limiter
 * alone (it belonged to tasks that have all finished). */
#include <string.h>

#include "sys/pool.h"

typedef struct job_loop {
    eddy__exit_hook hook;
    eddy__link abandoned; /* eddy__job.alink: abandoned jobs not yet completed */
} job_loop;

static __thread job_loop *tl_jl;
static pthread_mutex_t orphan_mu = PTHREAD_MUTEX_INITIALIZER;

static void jl_end(eddy__exit_hook *h)
{
    job_loop *jl = eddy__container_of(h, job_loop, hook);
    eddy_loop *l = eddy__tl_loop;
    for (eddy__link *x; (x = eddy__list_pop_front(&jl->abandoned));) {
        eddy__job *j = eddy__container_of(x, eddy__job, alink);
        pthread_mutex_lock(&orphan_mu);
        bool posted = j->posted;
        if (!posted) j->orphaned = true;
        pthread_mutex_unlock(&orphan_mu);
        if (posted)
            j->loop_ended = true; /* its completion runs in eddy_run's last drain */
        else
            eddy_loop_unref(l); /* the job's reference: its worker will not touch l again */
    }
    if (tl_jl == jl) tl_jl = NULL;
    free(jl);
}

static job_loop *jl_get(eddy_loop *l)
{
    if (tl_jl) return tl_jl;
    job_loop *jl = calloc(1, sizeof *jl);
    if (!jl) return NULL;
    eddy__list_init(&jl->abandoned);
    jl->hook.fn = jl_end;
    eddy__loop_at_exit(l, &jl->hook);
    tl_jl = jl;
    return jl;
}

/* Loop thread: give back j's limiter token. It holds one (taken in eddy__job_run) that only
 * this layer gives back, so the release cannot fail. */
static void lim_release(eddy__job *j)
{
    if (j->limiter) {
        int rc = eddy_limiter_release_on_behalf_of(j->limiter, j);
        (void)rc;
    }
}

/* Loop thread: the job's result is in (or it was dropped by a shutdown). */
static void job_done_cb(void *arg)
{
    eddy__job *j = arg;
    j->delivered = true;
    lim_release(j);
    eddy_task *t = j->task;
    if (t->state == EDDY__BLOCKED && t->wait == j->parked) eddy__wake(t, 0);
}

/* Loop thread: an abandoned job has finished. */
static void job_abandoned_cb(void *arg)
{
    eddy__job *j = arg;
    eddy__list_remove(&j->alink); /* unlinked already if the exit hook ran */
    if (!j->loop_ended) lim_release(j);
    j->release(j);
}

/* Worker (or the thread of a shutdown that dropped j): hand the outcome to the loop. */
static void job_finish(eddy__job *j)
{
    eddy_loop *l = j->loop;
    int s = EDDY__JS_RUNNING;
    if (atomic_load(&j->state) == EDDY__JS_DROPPED ||
        atomic_compare_exchange_strong(&j->state, &s, EDDY__JS_DONE)) {
        j->call.fn = job_done_cb;
        j->call.arg = j;
        /* Cannot fail: the waiting task keeps the loop from finishing. After the post the
         * task may return and j be gone: only l is used. */
        (void)eddy_loop_post_ts(l, &j->call);
        eddy_loop_unref(l);
        return;
    }
    pthread_mutex_lock(&orphan_mu);
    if (j->orphaned) {
        pthread_mutex_unlock(&orphan_mu);
        j->release(j);
        return;
    }
    j->posted = true;
    j->call.fn = job_abandoned_cb;
    j->call.arg = j;
    /* The loop is alive: our reference is only dropped below, and its exit hook (which would
     * orphan j) waits for orphan_mu. */
    (void)eddy_loop_post_ts(l, &j->call);
    pthread_mutex_unlock(&orphan_mu);
    eddy_loop_unref(l);
}

/* Loop thread: interrupt j's worker again while it stays blocked. The first signal nearly
 * always hits the system call; a later one covers a signal that landed just before it. */
static void intr_tick(void *arg)
{
    eddy__job *j = arg;
    if (j->delivered) return;
    eddy__intr_send(j);
    if (j->intr_backoff < EDDY_MSEC(100)) j->intr_backoff *= 2;
    (void)eddy__timer_start(j->loop, &j->intr_timer, j->loop->now + j->intr_backoff, intr_tick, j);
}

void eddy__job_interrupt(eddy__job *j)
{
    atomic_store(&j->cancel, 1);
    if (!(j->how & EDDY__JOB_INTERRUPT) || j->delivered || j->intr_timer.heap_index != SIZE_MAX) return;
    j->intr_backoff = EDDY_MSEC(1);
    eddy__intr_send(j);
    (void)eddy__timer_start(j->loop, &j->intr_timer, j->loop->now + j->intr_backoff, intr_tick, j);
}

static int outcome(eddy__job *j)
{
    return atomic_load_explicit(&j->state, memory_order_relaxed) == EDDY__JS_DROPPED ? -ESHUTDOWN : 0;
}

int eddy__job_run(eddy__job *j)
{
    j->abandoned = false;
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    bool cancellable = !(j->how & EDDY__JOB_UNCANCELLABLE);
    if (cancellable) {
        int c = eddy__cancel_code(t);
        if (c) return c;
    }
    /* Abandoning needs the loop's list: make sure of it before anything can be abandoned. */
    if ((j->how & EDDY__JOB_ABANDON) && !jl_get(l)) return -ENOMEM;
    j->delivered = false;
    j->orphaned = j->posted = j->loop_ended = false;
    atomic_init(&j->cancel, 0);
    atomic_init(&j->intr, 0);
    atomic_init(&j->kill_started, false);
    j->loop = l;
    j->task = t;
    j->finish = job_finish;
    j->intr_timer.heap_index = SIZE_MAX;
    j->intr_timer.site = NULL;
    eddy__list_init(&j->alink);
    if (j->limiter) {
        int rc = eddy_limiter_acquire_on_behalf_of(j->limiter, j, &j->tok);
        if (rc < 0) return rc;
    }
    eddy_loop_ref(l);
    int rc = eddy__pool_submit(j);
    if (rc < 0) {
        eddy_loop_unref(l);
        lim_release(j);
        return rc;
    }
    eddy__wait w = {.reason = "thread", .obj = j, .uncancellable = !cancellable};
    j->parked = &w;
    rc = eddy__park(&w);
    if (eddy__likely(j->delivered)) {
        /* Armed if something (a close) interrupted the worker. */
        if (eddy__unlikely(j->intr_timer.heap_index != SIZE_MAX)) eddy__timer_stop(l, &j->intr_timer);
        return outcome(j);
    }

    /* Cancelled. Not started yet: it never will. */
    if (eddy__pool_remove(j)) {
        eddy__timer_stop(l, &j->intr_timer);
        eddy_loop_unref(l);
        lim_release(j);
        return rc;
    }
    if (j->how & EDDY__JOB_ABANDON) {
        atomic_store(&j->cancel, 1);
        int s = EDDY__JS_RUNNING;
        if (atomic_compare_exchange_strong(&j->state, &s, EDDY__JS_ABANDONED)) {
            eddy__timer_stop(l, &j->intr_timer);
            j->task = NULL;
            j->abandoned = true;
            eddy__list_push_back(&tl_jl->abandoned, &j->alink);
            return rc;
        }
        /* Finished meanwhile: its completion is on the way. */
    } else {
        eddy__job_interrupt(j); /* the cooperative flag, and the signal if the job takes one */
    }
    while (!j->delivered) {
        eddy__wait w2 = {.reason = "thread (cancelled)", .obj = j, .uncancellable = true};
        j->parked = &w2;
        (void)eddy__park(&w2);
    }
    eddy__timer_stop(l, &j->intr_timer);
    return outcome(j);
}
