/* eddy sys: blocking portals into a loop (H3).
 *
 * A call is a request in the calling thread's frame: posted to the loop with
 * eddy_loop_post_ts (the node is embedded, nothing is allocated), queued on the loop thread,
 * spawned as a task by the portal's server task, and completed through a futex word the
 * calling thread sleeps on. The waker stores the result, then the word, then wakes: once the
 * caller sees the word its frame may go, and a FUTEX_WAKE on that address afterwards is
 * harmless (it touches no memory).
 *
 * Lifetime. The loop must outlive every post (loop.h): the portal holds a loop reference while
 * it is open, and posts are made under p->mu after checking p->closed; the server sets closed
 * under p->mu before it drops the reference, so no post starts after that, and a post made
 * before is in the loop's queue, whose callback answers -ESHUTDOWN once the server is gone
 * (eddy_run drains the queue before it frees the loop). The portal itself is reference
 * counted: its owner (stop or close) holds one, and each thread inside eddy_portal_call holds
 * one until it has its answer, so a request's callback always finds p alive. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys/pool.h"
#include "loop/sys.h"

typedef struct preq {
    eddy__link link;       /* p->pending (loop thread) */
    eddy_portal *p;
    int (*fn)(void *);
    void *arg;
    int result;
    _Atomic uint32_t done; /* futex word: 1 once result is set */
    eddy_ts_call call;
} preq;

struct eddy_portal {
    pthread_mutex_t mu;
    int refs;              /* mu: the owner's, plus one per thread inside eddy_portal_call */
    bool closed;           /* mu: no more posts */
    bool started;          /* made by eddy_portal_start: owns its thread and loop */
    eddy_loop *loop;
    /* eddy_portal_start */
    pthread_t thread;
    int run_rc;            /* the loop's eddy_run status */
    _Atomic uint32_t ready; /* futex word: 1 loop running, 2 it could not start */
    eddy_ts_call stop_call;
    /* loop thread only */
    bool serving;          /* the server task accepts requests */
    bool stop_requested;
    eddy__link pending;    /* preq waiting to be spawned */
    eddy_flag wake;        /* the server waits on it */
    eddy_nursery *calls;   /* the server's nursery, where call tasks run */
    eddy_task *closer;     /* eddy_portal_close waiting for the server to end */
    bool server_done;
};

static void futex_wait_nonzero(_Atomic uint32_t *w)
{
    while (atomic_load_explicit(w, memory_order_acquire) == 0)
        eddy__sys_syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

static void futex_store_wake(_Atomic uint32_t *w, uint32_t v)
{
    atomic_store_explicit(w, v, memory_order_release);
    eddy__sys_syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void portal_unref(eddy_portal *p)
{
    pthread_mutex_lock(&p->mu);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last) {
        pthread_mutex_destroy(&p->mu);
        free(p);
    }
}

/* Any thread that may answer r: after this the caller may return and r be gone. */
static void answer(preq *r, int rc)
{
    r->result = rc;
    futex_store_wake(&r->done, 1);
}

/* Loop thread: a request has arrived. */
static void req_arrive(void *arg)
{
    preq *r = arg;
    eddy_portal *p = r->p;
    if (!p->serving) {
        answer(r, -ESHUTDOWN);
        return;
    }
    eddy__list_push_back(&p->pending, &r->link);
    eddy_flag_set(&p->wake);
}

/* Loop thread: eddy_portal_stop asks the server to end. */
static void stop_arrive(void *arg)
{
    eddy_portal *p = arg;
    p->stop_requested = true;
    eddy_flag_set(&p->wake);
}

static int call_task(void *arg)
{
    preq *r = arg;
    answer(r, r->fn(r->arg));
    return 0; /* a failing call is its caller's business, not its siblings' */
}

/* The server task: spawn a task per request until stopped (or cancelled), then close the
 * door, cancel the calls still running and wait for them. */
static int serve(eddy_portal *p)
{
    int rc;
    EDDY_NURSERY_FLAGS(n, &rc, EDDY_WAIT_ALL) {
        p->calls = n;
        while (!p->stop_requested) {
            eddy__link *x = eddy__list_pop_front(&p->pending);
            if (x) {
                preq *r = eddy__container_of(x, preq, link);
                int s = eddy_spawn(n, call_task, r, .name = "portal-call");
                if (s < 0) answer(r, s);
                continue;
            }
            eddy_flag_clear(&p->wake);
            if (eddy_flag_wait(&p->wake) < 0) break; /* the server itself was cancelled */
        }
        pthread_mutex_lock(&p->mu);
        p->closed = true;
        pthread_mutex_unlock(&p->mu);
        p->serving = false;
        for (eddy__link *x; (x = eddy__list_pop_front(&p->pending));)
            answer(eddy__container_of(x, preq, link), -ESHUTDOWN);
        eddy_nursery_cancel(n);
    }
    p->calls = NULL;
    /* No post can start any more (closed was set under mu): the loop may end. */
    eddy_loop_unref(p->loop);
    p->server_done = true;
    if (p->closer) eddy__wake(p->closer, 0);
    return rc;
}

static eddy_portal *portal_new(bool started)
{
    eddy_portal *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->refs = 1;
    p->started = started;
    eddy__list_init(&p->pending);
    eddy_flag_init(&p->wake);
    return p;
}

/* ---- a portal on a loop of its own ---- */

static int portal_root(void *arg)
{
    eddy_portal *p = arg;
    p->loop = eddy_loop_current();
    eddy_loop_ref(p->loop);
    p->serving = true;
    eddy_task_set_name(NULL, "portal");
    futex_store_wake(&p->ready, 1);
    return serve(p);
}

static void *portal_thread(void *arg)
{
    eddy_portal *p = arg;
    pthread_setname_np(pthread_self(), "eddy-portal");
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS};
    p->run_rc = eddy_run_opts(portal_root, p, &o);
    /* If the loop never started, nobody else will say so. */
    if (atomic_load_explicit(&p->ready, memory_order_acquire) == 0) futex_store_wake(&p->ready, 2);
    return NULL;
}

int eddy_portal_start(eddy_portal **out)
{
    if (!out) return -EINVAL;
    *out = NULL;
    eddy_portal *p = portal_new(true);
    if (!p) return -ENOMEM;
    /* The loop thread takes signals like any thread of the program: it runs user tasks, and
     * the loop does not handle SIGINT/SIGTERM itself (EDDY_OPT_NO_SIGNALS). */
    if (eddy__sys_pthread_create(&p->thread, NULL, portal_thread, p) != 0) {
        portal_unref(p);
        return -EAGAIN;
    }
    futex_wait_nonzero(&p->ready);
    if (atomic_load_explicit(&p->ready, memory_order_acquire) != 1) {
        pthread_join(p->thread, NULL);
        int rc = p->run_rc < 0 ? p->run_rc : -EAGAIN;
        portal_unref(p);
        return rc;
    }
    *out = p;
    return 0;
}

int eddy_portal_stop(eddy_portal *p)
{
    if (!p || !p->started) return -EINVAL;
    eddy_loop *cur = eddy__tl_loop;
    if (cur) return cur == p->loop ? -EDEADLK : -EPERM;
    pthread_mutex_lock(&p->mu);
    if (!p->closed) {
        p->stop_call.fn = stop_arrive;
        p->stop_call.arg = p;
        (void)eddy_loop_post_ts(p->loop, &p->stop_call);
    }
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    int rc = p->run_rc;
    portal_unref(p);
    return rc;
}

/* ---- a portal into a running loop ---- */

static int serve_task(void *arg) { return serve(arg); }

int eddy_portal_open(eddy_nursery *n, eddy_portal **out)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!n) return -EINVAL;
    eddy_loop *l = eddy__tl_loop;
    if (!l || !l->current || l->in_callback) return -EPERM;
    eddy_portal *p = portal_new(false);
    if (!p) return -ENOMEM;
    p->loop = l;
    p->serving = true;
    eddy_loop_ref(l);
    int rc = eddy_spawn(n, serve_task, p, .name = "portal");
    if (rc < 0) {
        eddy_loop_unref(l);
        portal_unref(p);
        return rc;
    }
    *out = p;
    return 0;
}

int eddy_portal_close(eddy_portal *p)
{
    if (!p || p->started) return -EINVAL;
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (l != p->loop || !t || l->in_callback) return -EPERM;
    if (p->calls && t->nursery == p->calls) return -EDEADLK; /* it would wait for itself */
    if (!p->server_done) {
        p->stop_requested = true;
        eddy_flag_set(&p->wake);
        p->closer = t;
        eddy__wait w = {.reason = "portal close", .obj = p, .uncancellable = true};
        while (!p->server_done) (void)eddy__park(&w);
        p->closer = NULL;
    }
    portal_unref(p);
    return 0;
}

/* ---- calls ---- */

int eddy_portal_call(eddy_portal *p, int (*fn)(void *), void *arg)
{
    if (!p || !fn) return -EINVAL;
    eddy_loop *cur = eddy__tl_loop;
    if (cur) return cur == p->loop ? -EDEADLK : -EPERM;
    preq r = {.p = p, .fn = fn, .arg = arg};
    atomic_init(&r.done, 0);
    r.call.fn = req_arrive;
    r.call.arg = &r;
    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        pthread_mutex_unlock(&p->mu);
        return -ESHUTDOWN;
    }
    p->refs++;
    int rc = eddy_loop_post_ts(p->loop, &r.call);
    pthread_mutex_unlock(&p->mu);
    if (rc == 0) {
        futex_wait_nonzero(&r.done);
        rc = r.result;
    }
    portal_unref(p);
    return rc;
}

eddy_loop *eddy_portal_loop(const eddy_portal *p) { return p ? p->loop : NULL; }
