/* eddy loop: the loop's lifecycle (A1, I2) — open, top-level tasks, run, run until a task has
 * finished, stop, step (embedding), close — and eddy_run, the one-call form built on them.
 *
 * A loop belongs to the thread that opened it and is that thread's loop (eddy__tl_loop) from
 * open to close, running or not: the calls that take no loop argument act on it between runs
 * too. A run is a sequence of scheduler iterations (eddy__loop_iterate, loop.c) that ends when
 * its condition holds after an iteration: the task it waits for has finished, or
 * eddy_loop_stop was called; a step is one iteration that does not wait. Everything else —
 * tasks, timers, watchers, queued callbacks — simply stays in the loop between runs.
 *
 * Between runs the loop counts as asleep for other threads (l->sleeping): a post from another
 * thread writes the wake-up eventfd, so that a host waiting on eddy_loop_fd wakes, and the
 * next run or step reads it away. A run or step that ends with work left over writes it
 * itself, for the same reason.
 *
 * Errors for a handle that is not this thread's loop: such a pointer is never dereferenced
 * (it may be freed); a process-wide list of open loops, searched only on that error path,
 * tells another thread's loop (-EPERM) from a closed one (-EBADF). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "internal.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

/* ---- the open loops, for the errors of a foreign handle ---- */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static eddy__link reg = {&reg, &reg};

/* 0 if l is this thread's loop; -EINVAL for NULL; -EPERM for another thread's open loop;
 * -EBADF for anything else (closed, never opened). */
static int check(const eddy_loop *l)
{
    if (eddy__likely(l && l == eddy__tl_loop)) return 0;
    if (!l) return -EINVAL;
    bool open = false;
    pthread_mutex_lock(&reg_mu);
    for (eddy__link *x = reg.next; x != &reg && !open; x = x->next)
        open = eddy__container_of(x, eddy_loop, reg_link) == l;
    pthread_mutex_unlock(&reg_mu);
    return open ? -EPERM : -EBADF;
}

/* ---- open ---- */

static int parse_opts(eddy_loop *l, const eddy_opts *o)
{
    eddy_opts d = {0};
    if (!o) o = &d;
    l->clock_kind = o->clock_kind;
    /* A duration (docs/api.md): EDDY_FOREVER is "never", kept internally as -1. */
    if (o->autojump_threshold < 0) return -EINVAL;
    l->autojump = o->autojump_threshold == EDDY_FOREVER ? -1 : o->autojump_threshold;
    l->opt_flags = o->flags;
    l->poll_interval = o->poll_interval > 0 ? o->poll_interval : 64;
    l->default_stack = o->stack_size ? o->stack_size : EDDY_DEFAULT_STACK;
    if (l->clock_kind == EDDY_CLOCK_CUSTOM) {
        if (!o->clock || !o->clock->now) return -EINVAL;
        l->clock = *o->clock;
    } else if (l->clock_kind != EDDY_CLOCK_MONOTONIC && l->clock_kind != EDDY_CLOCK_VIRTUAL) {
        return -EINVAL;
    }

    /* The environment (src/loop/env.c): every variable is checked whether or not it applies,
     * so a bad value is reported by any program, not only by the ones it would affect. */
    static const char *const clocks[] = {"monotonic", "virtual"};
    size_t ci = 0;
    int rc = eddy__env_choice("EDDY_CLOCK", clocks, 2, &ci);
    if (rc < 0) return rc;
    /* It overrides the default clock only: a program that chose the virtual or a custom
     * clock itself keeps it. */
    if (rc > 0 && ci == 1 && l->clock_kind == EDDY_CLOCK_MONOTONIC) {
        /* A program written for the real clock, run on the virtual one (to run its sleeps
         * and timeouts at once in a demo or a test): autojump, but give pending I/O real
         * time first (loop.c, poll_timeout). The program set no autojump threshold. */
        l->clock_kind = EDDY_CLOCK_VIRTUAL;
        l->autojump = 0;
        l->autojump_io = EDDY_ENV_VIRTUAL_IO_WAIT;
    }

    uint64_t seed = 0;
    rc = eddy__env_u64("EDDY_SCHED_SEED",
                       "an unsigned integer (decimal or 0x hex; 0 keeps the FIFO order)", &seed);
    if (rc < 0) return rc;
    if (o->sched_seed) seed = o->sched_seed;
    if (l->opt_flags & EDDY_OPT_FIFO) seed = 0;
    if (seed) l->rng = seed * 0x9E3779B97F4A7C15ULL | 1;

    /* EDDY_BACKEND is checked (and reported) in backend.c, likewise for every program. */
    return eddy__backend_choose(l, o->backend);
}

static void loop_free(eddy_loop *l)
{
    if (l->be) l->be->destroy(l);
    for (size_t i = 0; i < l->nsoon_blocks; i++) free(l->soon_blocks[i]);
    eddy__ts_free_nodes(l);
    free(l->soon_blocks);
    free(l->heap);
    free(l);
}

int eddy_loop_open(eddy_loop **out, const eddy_opts *opts)
{
    if (!out) return -EINVAL;
    if (eddy__tl_loop) return -EBUSY;
    /* 64-byte aligned: the cross-thread fields sit on cache lines of their own. */
    eddy_loop *l = aligned_alloc(64, (sizeof *l + 63) & ~(size_t)63);
    if (!l) return -ENOMEM;
    memset(l, 0, sizeof *l);
    eddy__list_init(&l->ready);
    eddy__list_init(&l->handles);
    eddy__list_init(&l->exit_hooks);
    eddy__list_init(&l->tops);
    int rc = parse_opts(l, opts);
    if (rc == 0) rc = eddy__backend_init(l);
    if (rc < 0) {
        l->be = NULL; /* set up nothing, or destroyed what it had made */
        loop_free(l);
        return rc;
    }
    eddy__tl_loop = l;
    l->now = eddy__clock_read(l);
    l->next_task_id = 1;
#if defined(__SANITIZE_THREAD__)
    l->sched_tsan_fiber = __tsan_get_current_fiber();
#endif
    eddy__overflow_handler_install();
    eddy__scope_attach(&l->root_cs, NULL, NULL, EDDY__SCOPE_ROOT, "eddy_loop_open");
    if (!(l->opt_flags & EDDY_OPT_NO_SIGNALS)) (void)eddy__signals_install(l);
    atomic_store(&l->sleeping, 1); /* not running: posts must write the eventfd */
    pthread_mutex_lock(&reg_mu);
    eddy__list_push_back(&reg, &l->reg_link);
    pthread_mutex_unlock(&reg_mu);
    *out = l;
    return 0;
}

/* ---- top-level tasks ---- */

int eddy__loop_spawn(eddy_loop *l, int (*fn)(void *), void *arg, const eddy_spawn_opts *o,
                     const char *site)
{
    int rc = check(l);
    if (rc < 0) return rc;
    if (!fn) return -EINVAL;
    eddy_task *t;
    rc = eddy__task_new(l, NULL, fn, arg, o, site, &t);
    if (rc < 0) return rc;
    t->flags |= EDDY__T_ROOT;
    if (o && o->handle) {
        t->flags |= EDDY__T_JOINABLE;
        *o->handle = t;
    }
    eddy__list_push_back(&l->tops, &t->nlink);
    l->ntops_live++;
    eddy__ready_task(l, t, false);
    return 0;
}

int eddy_loop_spawn_with(eddy_loop *l, int (*fn)(void *), void *arg, const eddy_spawn_opts *o)
{
    return eddy__loop_spawn(l, fn, arg, o, "?");
}

void eddy__loop_task_exit(eddy_task *t)
{
    eddy_loop *l = t->loop;
    l->ntops_live--;
    if (t->flags & EDDY__T_JOINABLE) {
        if (t->joiner) eddy__wake(t->joiner, 0);
        return; /* stays in l->tops until joined (eddy_task_join, run_until) or closed */
    }
    eddy__list_remove(&t->nlink);
    if (t->status < 0 && !(l->opt_flags & EDDY_OPT_QUIET)) {
        int cc = eddy__cancel_code_slow(t);
        if (!(cc != 0 && t->status == cc))
            fprintf(stderr, "eddy: task '%s' spawned at %s failed: %s (nobody joined it)\n",
                    eddy_task_name(t), t->site, eddy_strerror(t->status));
    }
}

static void release_top(eddy_task *t)
{
    t->flags |= EDDY__T_JOINED;
    eddy__list_remove(&t->nlink);
    eddy__task_release(t);
}

/* ---- runs ---- */

static void run_enter(eddy_loop *l, bool blocking)
{
    atomic_store(&l->running, true);
    l->blocking = blocking;
    l->deadlocked = false;
    l->run_over = false;
    atomic_store(&l->sleeping, 0);
}

static void run_leave(eddy_loop *l)
{
    l->blocking = false;
    l->run_over = false;
    atomic_store(&l->running, false);
    /* The host may wait on eddy_loop_fd now: hand the kernel what is queued (io_uring), and
     * make the descriptor readable if there is work it would not otherwise announce. */
    if (l->be->flush) l->be->flush(l);
    atomic_store(&l->sleeping, 1);
    if ((l->nready || atomic_load(&l->ts_head)) && !atomic_exchange(&l->wake_pending, 1))
        l->be->wake(l);
}

static int run_check(eddy_loop *l)
{
    int rc = check(l);
    if (rc < 0) return rc;
    return atomic_load(&l->running) ? -EBUSY : 0;
}

int eddy_loop_run(eddy_loop *l)
{
    int rc = run_check(l);
    if (rc < 0) return rc;
    run_enter(l, true);
    for (;;) {
        eddy__loop_iterate(l);
        if (l->run_over) {
            rc = -EDEADLK;
            break;
        }
        if (l->stop_req) {
            l->stop_req = false;
            break;
        }
    }
    run_leave(l);
    return rc;
}

int eddy_loop_run_until(eddy_loop *l, eddy_task *t, int *status)
{
    int rc = run_check(l);
    if (rc < 0) return rc;
    if (!t || t->loop != l || !(t->flags & EDDY__T_ROOT) || !(t->flags & EDDY__T_JOINABLE) ||
        (t->flags & EDDY__T_JOINED) || t->joiner)
        return -EINVAL;
    if (t->state != EDDY__DONE) {
        t->flags |= EDDY__T_JOINED; /* eddy_task_join: -EINVAL meanwhile */
        run_enter(l, true);
        for (;;) {
            eddy__loop_iterate(l);
            if (t->state == EDDY__DONE) break;
            if (l->run_over) {
                rc = -EDEADLK;
                break;
            }
            if (l->stop_req) {
                l->stop_req = false;
                rc = -EINTR;
                break;
            }
        }
        run_leave(l);
        t->flags &= ~EDDY__T_JOINED;
        if (rc < 0) return rc;
    }
    if (status) *status = t->status;
    release_top(t);
    return 0;
}

int eddy_loop_stop(eddy_loop *l)
{
    int rc = check(l);
    if (rc < 0) return rc;
    l->stop_req = true;
    /* From a task: no direct hand-off to the next ready task, back to the scheduler. */
    if (atomic_load_explicit(&l->running, memory_order_relaxed)) l->budget = 0;
    return 0;
}

bool eddy_loop_is_running(const eddy_loop *l) { return l && atomic_load(&l->running); }

/* ---- embedding ---- */

int eddy_loop_fd(eddy_loop *l)
{
    int rc = check(l);
    if (rc < 0) return rc;
    return l->be->fd(l);
}

int64_t eddy_loop_timeout(eddy_loop *l)
{
    int rc = check(l);
    if (rc < 0) return rc;
    if (l->be->flush) l->be->flush(l);
    /* The host's time has passed since the last step: measure from now, not from then. */
    l->now = eddy__clock_read(l);
    if (atomic_load(&l->sig_pending)) return 0;
    int64_t t = eddy__loop_sleep_for(l);
    return t < 0 ? EDDY_FOREVER : t;
}

int eddy_loop_step(eddy_loop *l)
{
    int rc = run_check(l);
    if (rc < 0) return rc;
    run_enter(l, false);
    eddy__loop_iterate(l);
    l->stop_req = false; /* a step is one iteration: a stop asked before or during it is met */
    run_leave(l);
    return 0;
}

/* ---- close ---- */

static size_t leak_report(eddy_loop *l)
{
    size_t n = 0;
    bool quiet = l->opt_flags & EDDY_OPT_QUIET;
    for (eddy__link *x = l->handles.next; x != &l->handles;) {
        eddy__handle *h = eddy__container_of(x, eddy__handle, link);
        x = x->next;
        if (!quiet) fprintf(stderr, "eddy: leak: %s created at %s is still open\n", h->kind, h->site);
        eddy__list_remove(&h->link);
        n++;
    }
    while (l->nheap) {
        eddy_timer *t = l->heap[0].t;
        if (!quiet)
            fprintf(stderr, "eddy: leak: timer armed at %s is still pending\n",
                    t->site ? t->site : "(internal)");
        eddy__timer_stop(l, t);
        n++;
    }
    return n;
}

int eddy_loop_close(eddy_loop *l)
{
    int rc = run_check(l);
    if (rc < 0) return rc;
    /* Unwind what still runs: cancelled, the tasks release what their frames hold. */
    if (l->ntops_live > 0 && !l->abandoned) {
        eddy__loop_cancel_tasks(l);
        run_enter(l, true);
        while (l->ntops_live > 0 && !l->run_over) {
            eddy__loop_iterate(l);
            l->stop_req = false; /* a stop from an unwinding task ends nothing here */
        }
        run_leave(l);
    }
    if (l->abandoned) rc = -EDEADLK;
    /* Joinable top-level tasks nobody joined; abandoned ones keep their stacks (leaked). */
    for (eddy__link *x; (x = eddy__list_pop_front(&l->tops));) {
        eddy_task *t = eddy__container_of(x, eddy_task, nlink);
        if (t->state == EDDY__DONE) eddy__task_release(t);
    }
    for (eddy__link *x; (x = eddy__list_pop_front(&l->exit_hooks));) {
        eddy__exit_hook *h = eddy__container_of(x, eddy__exit_hook, link);
        h->fn(h);
    }
    atomic_store(&l->finished, true);
    /* Threads holding a ref may still post (and get -ESHUTDOWN): the memory must outlive
     * them, so wait for the last unref. */
    while (atomic_load(&l->ext_refs) > 0) {
        atomic_store(&l->sleeping, 1);
        if (atomic_load(&l->ext_refs) > 0) (void)l->be->poll(l, -1);
        atomic_store(&l->sleeping, 0);
        atomic_store(&l->wake_pending, 0);
        eddy__ts_drain(l);
    }
    /* The last unref may still be inside wake_loop, reading l: wait it out (see
     * eddy_loop_post_ts for why posts need no such wait). */
    while (atomic_load(&l->ts_busy) > 0) sched_yield();
    eddy__ts_drain(l);
    size_t leaks = leak_report(l);
    if (leaks && (l->opt_flags & EDDY_OPT_FAIL_ON_LEAK) && rc == 0) rc = -ENOTRECOVERABLE;
    eddy__signals_restore(l);
    eddy__scope_detach(&l->root_cs);
    pthread_mutex_lock(&reg_mu);
    eddy__list_remove(&l->reg_link);
    pthread_mutex_unlock(&reg_mu);
    eddy__tl_loop = NULL;
    loop_free(l);
    eddy__overflow_handler_release();
    eddy__stack_pool_trim();
    return rc;
}

/* ---- eddy_run ---- */

int eddy_run(int (*main_fn)(void *), void *arg)
{
    return eddy_run_opts(main_fn, arg, NULL);
}

int eddy_run_opts(int (*main_fn)(void *), void *arg, const eddy_opts *opts)
{
    if (eddy__tl_loop) return -EBUSY;
    if (!main_fn) return -EINVAL;
    eddy_loop *l;
    int rc = eddy_loop_open(&l, opts);
    if (rc < 0) return rc;
    return eddy__run_on(l, main_fn, arg, "eddy_run", NULL, NULL);
}

int eddy__run_on(eddy_loop *l, int (*main_fn)(void *), void *arg, const char *site,
                 void (*ready)(eddy_loop *l, void *ctx), void *ctx)
{
    eddy_task *t;
    int rc = eddy__loop_spawn(l, main_fn, arg, &(eddy_spawn_opts){.name = "main", .handle = &t}, site);
    if (rc == 0) {
        t->stack_from = EDDY__STACK_FROM_RUN; /* an overflow names eddy_opts.stack_size */
        if (ready) ready(l, ctx);
        int status = 0;
        rc = eddy_loop_run_until(l, t, &status);
        if (rc == 0) rc = l->deadlocked ? -EDEADLK : status;
    }
    int crc = eddy_loop_close(l);
    if (crc < 0 && rc >= 0) rc = crc;
    return rc;
}
