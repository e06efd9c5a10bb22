/* eddy sys: eddy_run_in_thread (H1), a user function as a pool job.
 *
 * The job lives in the caller's frame when the call always waits for it; with
 * abandon_on_cancel it is on the heap, since an abandoned job outlives the call. */
#include <string.h>

#include "sys/pool.h"

typedef struct fn_job {
    eddy__job j;
    int (*fn)(void *);
    void *arg;
} fn_job;

static void fn_run(eddy__job *j)
{
    fn_job *f = (fn_job *)j;
    j->result = f->fn(f->arg);
}

static void fn_release(eddy__job *j) { free(j); }

int eddy_run_in_thread_with(int (*fn)(void *), void *arg, const eddy_run_in_thread_opts *o)
{
    if (!fn) return -EINVAL;
    eddy_loop *l = eddy__tl_loop;
    if (!l || !l->current || l->in_callback) return -EPERM;
    bool abandon = o && o->abandon_on_cancel;
    fn_job local, *f = &local;
    if (abandon && !(f = malloc(sizeof *f))) return -ENOMEM;
    f->j.run = fn_run;
    f->j.release = fn_release;
    f->j.how = abandon ? EDDY__JOB_ABANDON : EDDY__JOB_WAIT;
    f->j.limiter = o ? o->limiter : NULL;
    f->j.result = 0;
    f->fn = fn;
    f->arg = arg;
    int rc = eddy__job_run(&f->j);
    if (f->j.abandoned) return rc; /* f is the job layer's now */
    if (rc == 0) rc = (int)f->j.result;
    if (abandon) free(f);
    return rc;
}

int eddy_run_in_thread(int (*fn)(void *), void *arg) { return eddy_run_in_thread_with(fn, arg, NULL); }

int eddy_thread_cancel_requested(void)
{
    eddy__job *j = eddy__pool_current_job();
    if (!j) return 0;
    return atomic_load_explicit(&j->cancel, memory_order_relaxed) || eddy__pool_exiting();
}
