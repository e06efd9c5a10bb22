/* eddy task layer: curio-style universal queue and event (C9), shared by tasks on any loop
 * and plain OS threads.
 *
 * One pthread mutex guards each object. OS threads wait on condition variables. Tasks wait
 * on an intrusive list of uwaiters (in their frames); whoever serves a task waiter does the
 * whole operation for it under the mutex (copies the element, unlinks it, marks it DONE with
 * its result) and then wakes it: directly with eddy__wake when the waker runs on the waiter's
 * own loop thread, else by posting the waiter's embedded eddy_ts_call to that loop
 * (eddy_loop_post_ts: lock-free, no allocation), whose callback wakes the task.
 *
 * Cancellation: the cancel hook takes the mutex and unlinks the waiter only if it is still
 * PENDING. If a server got there first (DONE), the operation has happened, so the call
 * reports the server's result instead of the cancel code (nothing lost, nothing duplicated),
 * after waiting (uncancellably, briefly) for the posted callback: the eddy_ts_call node lives
 * in the waiter, so the frame must outlive its delivery.
 *
 * Lifetime: tasks_inside counts tasks inside a blocking call (they may still take the mutex);
 * destroy refuses while it or a thread waiter count is nonzero. A posted callback touches only
 * the waiter, never the object. While waiting, a task holds a loop ref (eddy_loop_ref) so the
 * deadlock detector knows another thread may still wake it. */
#include <string.h>

#include "internal.h"

enum { UW_PENDING, UW_DONE, UW_CANCELLED };

typedef struct uwaiter {
    eddy__link link;
    eddy_task *task;
    eddy_loop *loop;
    pthread_mutex_t *mu;
    void *buf;
    const eddy__wait *parked; /* loop thread only: the wait the task is parked on */
    int state;                /* under *mu */
    int rc;                   /* under *mu; read by the posted callback after the post */
    bool cb_ran;              /* loop thread only */
    eddy_ts_call call;
} uwaiter;

static void uw_posted(void *arg)
{
    uwaiter *w = arg;
    w->cb_ran = true;
    eddy_task *t = w->task;
    if (t->state == EDDY__BLOCKED && t->wait == w->parked) eddy__wake(t, w->rc);
}

/* Serve w with rc; *mu held; w linked. */
static void uw_complete(uwaiter *w, int rc)
{
    eddy__list_remove(&w->link);
    w->state = UW_DONE;
    w->rc = rc;
    if (w->loop == eddy__tl_loop) {
        /* Same loop thread: the waiter is parked (it linked itself and parked without a
         * switch in between), wake it now. */
        w->cb_ran = true;
        eddy__wake(w->task, rc);
    } else {
        /* Cannot fail: a loop with a blocked task has not finished. The loop also outlives
         * the call, as post_ts requires: the waiter's loop ref is dropped only after the
         * woken task has taken *mu, which we hold until we are out of post_ts. */
        (void)eddy_loop_post_ts(w->loop, &w->call);
    }
}

static uwaiter *first_waiter(eddy__link *head)
{
    return eddy__list_empty(head) ? NULL : eddy__container_of(head->next, uwaiter, link);
}

static void uw_cancel(eddy_task *t, void *arg)
{
    (void)t;
    uwaiter *w = arg;
    pthread_mutex_lock(w->mu);
    if (w->state == UW_PENDING) {
        eddy__list_remove(&w->link);
        w->state = UW_CANCELLED;
    }
    pthread_mutex_unlock(w->mu);
}

/* Called with *mu held by the current task t, which must wait on list; returns with *mu
 * released. The result is the server's rc, or the cancel code if nobody served it. */
static int task_wait(pthread_mutex_t *mu, unsigned *inside, eddy__link *list, eddy_task *t,
                     void *buf, const char *reason, const void *obj)
{
    uwaiter w = {.task = t, .loop = t->loop, .mu = mu, .buf = buf, .state = UW_PENDING};
    w.call.fn = uw_posted;
    w.call.arg = &w;
    eddy__wait wt = {.reason = reason, .obj = obj, .cancel = uw_cancel, .arg = &w};
    w.parked = &wt;
    eddy__list_push_back(list, &w.link);
    (*inside)++;
    eddy_loop_ref(w.loop);
    pthread_mutex_unlock(mu);

    int rc = eddy__park(&wt);

    pthread_mutex_lock(mu);
    int state = w.state, served_rc = w.rc;
    (*inside)--;
    pthread_mutex_unlock(mu); /* the object may be destroyed from here on */

    if (state == UW_DONE) {
        rc = served_rc; /* the operation happened even if a cancel woke us first */
        eddy__wait w2 = {.reason = reason, .obj = obj, .uncancellable = true};
        while (!w.cb_ran) {
            w.parked = &w2;
            (void)eddy__park(&w2);
        }
    }
    eddy_loop_unref(w.loop);
    return rc;
}

/* 1: the caller is a task that may block (cancel code checked into *rc); 0: a plain thread;
 * -1: must not block here (*rc = -EPERM) or cancelled (*rc = code). */
static int caller_kind(eddy_task **t, int *rc)
{
    eddy_loop *l = eddy__tl_loop;
    *rc = 0;
    if (!l) return 0;
    if (!l->current || l->in_callback) {
        *rc = -EPERM;
        return -1;
    }
    *t = l->current;
    *rc = eddy__cancel_code(*t);
    return *rc ? -1 : 1;
}

/* ---- queue ------------------------------------------------------------------------------ */

static inline unsigned char *uslot(eddy_uqueue *q, size_t i) { return q->buf + i * q->elem_size; }

int eddy_uqueue_init(eddy_uqueue *q, size_t elem_size, size_t cap)
{
    if (!q || elem_size == 0 || cap == 0 || cap > SIZE_MAX / elem_size) return -EINVAL;
    memset(q, 0, sizeof *q);
    q->buf = malloc(cap * elem_size);
    if (!q->buf) return -ENOMEM;
    q->elem_size = elem_size;
    q->cap = cap;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    eddy__list_init(&q->task_getters);
    eddy__list_init(&q->task_putters);
    return 0;
}

int eddy_uqueue_destroy(eddy_uqueue *q)
{
    if (!q || !q->buf) return -EINVAL;
    pthread_mutex_lock(&q->mu);
    bool busy = q->tasks_inside || q->thread_getters || q->thread_putters;
    pthread_mutex_unlock(&q->mu);
    if (busy) return -EBUSY;
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    pthread_mutex_destroy(&q->mu);
    free(q->buf);
    q->buf = NULL;
    return 0;
}

/* *mu held. 0, -EAGAIN or -EPIPE. */
static int uq_put_now(eddy_uqueue *q, const void *elem)
{
    if (q->closed) return -EPIPE;
    uwaiter *g = first_waiter(&q->task_getters);
    if (g) { /* task getters wait only on an empty queue */
        memcpy(g->buf, elem, q->elem_size);
        uw_complete(g, 0);
        return 0;
    }
    if (q->count == q->cap) return -EAGAIN;
    memcpy(uslot(q, (q->head + q->count) % q->cap), elem, q->elem_size);
    q->count++;
    if (q->thread_getters) pthread_cond_signal(&q->not_empty);
    return 0;
}

static int uq_get_now(eddy_uqueue *q, void *out)
{
    if (q->count == 0) return q->closed ? -EPIPE : -EAGAIN;
    memcpy(out, uslot(q, q->head), q->elem_size);
    q->head = (q->head + 1) % q->cap;
    q->count--;
    uwaiter *p = first_waiter(&q->task_putters);
    if (p) { /* task putters wait only on a full queue: the freed slot is theirs */
        memcpy(uslot(q, (q->head + q->count) % q->cap), p->buf, q->elem_size);
        q->count++;
        uw_complete(p, 0);
    } else if (q->thread_putters) {
        pthread_cond_signal(&q->not_full);
    }
    return 0;
}

int eddy_uqueue_put(eddy_uqueue *q, const void *elem)
{
    if (!q || !q->buf || !elem) return -EINVAL;
    eddy_task *t = NULL;
    int rc, kind = caller_kind(&t, &rc);
    if (kind < 0) return rc;
    pthread_mutex_lock(&q->mu);
    rc = uq_put_now(q, elem);
    if (rc == -EAGAIN && kind == 1)
        return task_wait(&q->mu, &q->tasks_inside, &q->task_putters, t, (void *)elem,
                         "uqueue put", q);
    if (kind == 1) {
        pthread_mutex_unlock(&q->mu);
        return eddy__coop_done(t, rc);
    }
    while (rc == -EAGAIN) {
        q->thread_putters++;
        pthread_cond_wait(&q->not_full, &q->mu);
        q->thread_putters--;
        rc = uq_put_now(q, elem);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int eddy_uqueue_get(eddy_uqueue *q, void *out)
{
    if (!q || !q->buf || !out) return -EINVAL;
    eddy_task *t = NULL;
    int rc, kind = caller_kind(&t, &rc);
    if (kind < 0) return rc;
    pthread_mutex_lock(&q->mu);
    rc = uq_get_now(q, out);
    if (rc == -EAGAIN && kind == 1)
        return task_wait(&q->mu, &q->tasks_inside, &q->task_getters, t, out, "uqueue get", q);
    if (kind == 1) {
        pthread_mutex_unlock(&q->mu);
        return eddy__coop_done(t, rc);
    }
    while (rc == -EAGAIN) {
        q->thread_getters++;
        pthread_cond_wait(&q->not_empty, &q->mu);
        q->thread_getters--;
        rc = uq_get_now(q, out);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int eddy_uqueue_try_put(eddy_uqueue *q, const void *elem)
{
    if (!q || !q->buf || !elem) return -EINVAL;
    pthread_mutex_lock(&q->mu);
    int rc = uq_put_now(q, elem);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int eddy_uqueue_try_get(eddy_uqueue *q, void *out)
{
    if (!q || !q->buf || !out) return -EINVAL;
    pthread_mutex_lock(&q->mu);
    int rc = uq_get_now(q, out);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void eddy_uqueue_shutdown(eddy_uqueue *q)
{
    if (!q || !q->buf) return;
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    uwaiter *w;
    while ((w = first_waiter(&q->task_putters))) uw_complete(w, -EPIPE);
    while ((w = first_waiter(&q->task_getters))) uw_complete(w, -EPIPE); /* queue is empty */
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}

size_t eddy_uqueue_size(eddy_uqueue *q)
{
    if (!q || !q->buf) return 0;
    pthread_mutex_lock(&q->mu);
    size_t n = q->count;
    pthread_mutex_unlock(&q->mu);
    return n;
}

/* ---- event ------------------------------------------------------------------------------ */

int eddy_uevent_init(eddy_uevent *ev)
{
    if (!ev) return -EINVAL;
    memset(ev, 0, sizeof *ev);
    pthread_mutex_init(&ev->mu, NULL);
    pthread_cond_init(&ev->cv, NULL);
    eddy__list_init(&ev->task_waiters);
    return 0;
}

int eddy_uevent_destroy(eddy_uevent *ev)
{
    if (!ev) return -EINVAL;
    pthread_mutex_lock(&ev->mu);
    bool busy = ev->tasks_inside || ev->thread_waiters;
    pthread_mutex_unlock(&ev->mu);
    if (busy) return -EBUSY;
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->mu);
    return 0;
}

void eddy_uevent_set(eddy_uevent *ev)
{
    if (!ev) return;
    pthread_mutex_lock(&ev->mu);
    ev->set = true;
    uwaiter *w;
    while ((w = first_waiter(&ev->task_waiters))) uw_complete(w, 0);
    pthread_cond_broadcast(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
}

bool eddy_uevent_is_set(eddy_uevent *ev)
{
    if (!ev) return false;
    pthread_mutex_lock(&ev->mu);
    bool s = ev->set;
    pthread_mutex_unlock(&ev->mu);
    return s;
}

int eddy_uevent_wait(eddy_uevent *ev)
{
    if (!ev) return -EINVAL;
    eddy_task *t = NULL;
    int rc, kind = caller_kind(&t, &rc);
    if (kind < 0) return rc;
    pthread_mutex_lock(&ev->mu);
    if (!ev->set && kind == 1)
        return task_wait(&ev->mu, &ev->tasks_inside, &ev->task_waiters, t, NULL, "uevent", ev);
    if (kind == 1) {
        pthread_mutex_unlock(&ev->mu);
        return eddy__coop_done(t, 0);
    }
    while (!ev->set) {
        ev->thread_waiters++;
        pthread_cond_wait(&ev->cv, &ev->mu);
        ev->thread_waiters--;
    }
    pthread_mutex_unlock(&ev->mu);
    return 0;
}
