/* eddy loop: one loop per core (R4) — eddy_run_workers, eddy_worker_index and eddy_worker_count.
 *
 * Worker 0 runs on the calling thread, workers 1..n-1 on threads of their own; each opens a
 * loop and runs main as its root task, exactly as eddy_run does. Workers share nothing through
 * eddy: a program connects them with its own thread-safe objects (eddy_uqueue, eddy_uevent,
 * eddy_loop_call_ts) and spreads connections over them with SO_REUSEPORT listeners.
 *
 * Cancelling the group (the first failing worker, a thread that could not be started) posts
 * one cancel call to every worker's loop. SIGINT/SIGTERM need no group: every worker's loop
 * subscribes to them through the signal dispatcher (src/sys/sigdisp.c) and cancels its own root. A worker's loop is published in its
 * slot, under the group's mutex, from the moment its root task exists until the loop's exit
 * hooks run (before it is freed): a post made under the mutex therefore always reaches a live
 * loop (the lifetime eddy_loop_post_ts asks for), and a worker published after the group was
 * cancelled cancels itself. The posted node lives in the slot, which outlives every loop. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "loop/sys.h"

enum { MAX_WORKERS = 4096 };

typedef struct worker {
    struct eddy__workers *g;
    int index;
    bool started;          /* a thread of its own was made (index > 0) */
    pthread_t th;
    eddy_loop *loop;       /* g->mu: set while a cancel may be posted to it */
    bool posted;           /* g->mu: the cancel call was posted (once is enough) */
    eddy_ts_call cancel;
    eddy__exit_hook unpublish;
} worker;

struct eddy__workers {
    int n;
    int (*main)(void *);
    void *arg;
    const eddy_opts *loop_opts;
    bool pin;
    int *cpus;             /* pinning: the CPUs the process may run on */
    int ncpus;
    pthread_mutex_t mu;
    bool cancelled;        /* mu */
    bool have_first;       /* mu */
    int first;             /* mu: the first nonzero status, in the order workers ended */
    worker *w;
};

/* On the worker's loop, from its cross-thread queue. */
static void cancel_cb(void *arg)
{
    worker *w = arg;
    (void)w;
    eddy_loop *l = eddy__tl_loop;
    eddy__scope_cancel_code(&l->root_cs, -ECANCELED);
}

void eddy__workers_cancel(struct eddy__workers *g)
{
    pthread_mutex_lock(&g->mu);
    g->cancelled = true;
    for (int i = 0; i < g->n; i++) {
        worker *w = &g->w[i];
        if (w->loop && !w->posted) {
            w->posted = true;
            (void)eddy_loop_post_ts(w->loop, &w->cancel); /* alive: unpublished under mu */
        }
    }
    pthread_mutex_unlock(&g->mu);
}

/* A worker ended with rc (or never started: a thread that could not be made). */
static void record(struct eddy__workers *g, int rc)
{
    pthread_mutex_lock(&g->mu);
    if (rc != 0 && !g->have_first) {
        g->have_first = true;
        g->first = rc;
    }
    pthread_mutex_unlock(&g->mu);
    /* A failure ends the group, as a failing child cancels a nursery's other children. */
    if (rc < 0) eddy__workers_cancel(g);
}

static void unpublish(eddy__exit_hook *h)
{
    worker *w = eddy__container_of(h, worker, unpublish);
    pthread_mutex_lock(&w->g->mu);
    w->loop = NULL;
    pthread_mutex_unlock(&w->g->mu);
}

static void publish(eddy_loop *l, void *arg)
{
    worker *w = arg;
    w->unpublish.fn = unpublish;
    eddy__loop_at_exit(l, &w->unpublish);
    pthread_mutex_lock(&w->g->mu);
    w->loop = l;
    bool cancelled = w->g->cancelled;
    pthread_mutex_unlock(&w->g->mu);
    if (cancelled) eddy__scope_cancel_code(&l->root_cs, -ECANCELED);
}

static int pin_self(struct eddy__workers *g, int index)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(g->cpus[index % g->ncpus], &one);
    return -pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

static void run_worker(worker *w)
{
    struct eddy__workers *g = w->g;
    int rc = g->pin ? pin_self(g, w->index) : 0;
    eddy_loop *l = NULL;
    if (rc == 0) rc = eddy_loop_open(&l, g->loop_opts);
    if (rc == 0) {
        l->worker_index = w->index;
        l->group = g;
        rc = eddy__run_on(l, g->main, g->arg, "eddy_run_workers", publish, w);
    }
    record(g, rc);
}

static void *worker_thread(void *arg)
{
    run_worker(arg);
    return NULL;
}

/* The CPUs this process may run on, in order (the online ones if the mask cannot be read). */
static int cpu_list(int **out)
{
    cpu_set_t set;
    int n = 0;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        n = CPU_COUNT(&set);
    } else {
        CPU_ZERO(&set);
        for (long c = 0; c < online && c < CPU_SETSIZE; c++) CPU_SET((int)c, &set);
        n = online > 0 ? (int)(online < CPU_SETSIZE ? online : CPU_SETSIZE) : 1;
        if (online <= 0) CPU_SET(0, &set);
    }
    int *cpus = malloc((size_t)n * sizeof *cpus);
    if (!cpus) return -ENOMEM;
    int k = 0;
    for (int c = 0; c < CPU_SETSIZE && k < n; c++)
        if (CPU_ISSET(c, &set)) cpus[k++] = c;
    *out = cpus;
    return k;
}

int eddy_run_workers(int n, int (*main_fn)(void *), void *arg)
{
    return eddy_run_workers_with(n, main_fn, arg, NULL);
}

int eddy_run_workers_with(int n, int (*main_fn)(void *), void *arg, const eddy_run_workers_opts *o)
{
    if (!main_fn || n > MAX_WORKERS) return -EINVAL;
    if (eddy__tl_loop) return -EBUSY;
    struct eddy__workers g = {.main = main_fn, .arg = arg, .loop_opts = o ? o->loop : NULL,
                              .pin = o && o->pin_cpus};
    int rc = cpu_list(&g.cpus);
    if (rc < 0) return rc;
    g.ncpus = rc;
    g.n = n > 0 ? n : g.ncpus;
    g.w = calloc((size_t)g.n, sizeof *g.w);
    if (!g.w) {
        free(g.cpus);
        return -ENOMEM;
    }
    pthread_mutex_init(&g.mu, NULL);
    for (int i = 0; i < g.n; i++) {
        g.w[i].g = &g;
        g.w[i].index = i;
        g.w[i].cancel.fn = cancel_cb;
        g.w[i].cancel.arg = &g.w[i];
    }
    cpu_set_t caller_mask;
    bool restore = g.pin && pthread_getaffinity_np(pthread_self(), sizeof caller_mask, &caller_mask) == 0;
    bool all_started = true;
    for (int i = 1; i < g.n; i++) {
        int e = eddy__sys_pthread_create(&g.w[i].th, NULL, worker_thread, &g.w[i]);
        if (e != 0) { /* the ones running are cancelled; worker 0 is not run at all */
            record(&g, -e);
            all_started = false;
            break;
        }
        g.w[i].started = true;
    }
    if (all_started) run_worker(&g.w[0]);
    for (int i = 1; i < g.n; i++)
        if (g.w[i].started) pthread_join(g.w[i].th, NULL);
    if (restore) (void)pthread_setaffinity_np(pthread_self(), sizeof caller_mask, &caller_mask);
    pthread_mutex_destroy(&g.mu);
    free(g.w);
    free(g.cpus);
    return g.have_first ? g.first : 0;
}

int eddy_worker_index(void)
{
    eddy_loop *l = eddy__tl_loop;
    return l ? l->worker_index : -EPERM;
}

int eddy_worker_count(void)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    return l->group ? l->group->n : 1; /* n is set before any worker starts, never changed */
}
