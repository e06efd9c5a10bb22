/* eddy task layer: task mutex (C1) and the condition variable built on it (C4).
 *
 * Hand-off: unlock never leaves the mutex free while tasks wait; it makes the first waiter
 * the owner, unlinks it and makes it ready with rc 0 in one step. A cancellation that
 * arrives after that finds the task READY, not BLOCKED, so it cannot touch it (see
 * wake_if_cancelled in scope.c): the lock returns 0 and the task owns the mutex. A
 * cancellation that arrives before it finds the waiter still linked and unlinks it; nothing
 * else changed, so a cancelled lock leaves the mutex as it was. */
#include <stdio.h>

#include "internal.h"

void eddy_mutex_init(eddy_mutex *m)
{
    m->owner = NULL;
    m->owner_id = 0;
    m->site = NULL;
    eddy__list_init(&m->waiters);
    m->nwaiters = 0;
}

bool eddy_mutex_is_locked(const eddy_mutex *m) { return m && m->owner; }

static void take(eddy_mutex *m, eddy_task *t, const char *site)
{
    m->owner = t;
    m->owner_id = t->id;
    m->site = site;
}

typedef struct mwaiter {
    eddy__waiter w;
    eddy_mutex *m;
    const char *site;
} mwaiter;

static void lock_cancel(eddy_task *t, void *arg)
{
    (void)t;
    mwaiter *mw = arg;
    eddy__list_remove(&mw->w.link);
    mw->m->nwaiters--;
}

#ifndef NDEBUG
/* Debug builds: is the task that owns m still alive? Tasks are found through their own
 * scopes in the loop's scope tree (a finished task's scope is detached before it is freed),
 * so this reads no freed memory; ids tell apart a new task that reuses the same stack. Only
 * run when a lock has to wait, so its O(scopes) cost stays off the uncontended path. */
static bool owner_alive(eddy_loop *l, const eddy_mutex *m)
{
    eddy_cancel_scope *root = &l->root_cs, *x = root;
    const eddy_cancel_scope *own = &m->owner->own; /* address only: not dereferenced */
    for (;;) {
        if (x == own) return m->owner->id == m->owner_id;
        if (!eddy__list_empty(&x->children)) {
            x = eddy__container_of(x->children.next, eddy_cancel_scope, sibling);
            continue;
        }
        for (;;) {
            if (x == root) return false;
            eddy_cancel_scope *p = x->parent;
            if (x->sibling.next != &p->children) {
                x = eddy__container_of(x->sibling.next, eddy_cancel_scope, sibling);
                break;
            }
            x = p;
        }
    }
}
#endif

/* Lock for t; uncancellable is used by eddy_cond_wait to get the mutex back after a
 * cancellation (only a hand-off ends that wait). */
static int lock_impl(eddy_loop *l, eddy_task *t, eddy_mutex *m, const char *site,
                     bool uncancellable)
{
    if (!m->owner) {
        take(m, t, site);
        return eddy__coop_done(t, 0);
    }
    if (m->owner == t && m->owner_id == t->id) return -EDEADLK;
#ifndef NDEBUG
    if (!owner_alive(l, m)) {
        fprintf(stderr,
                "eddy: mutex %p locked at %s by task id %llu is still held, but that task has "
                "finished: it returned without unlocking it\n",
                (void *)m, m->site ? m->site : "?", (unsigned long long)m->owner_id);
        return -EOWNERDEAD;
    }
#else
    (void)l;
#endif
    mwaiter mw = {.w = {.task = t}, .m = m, .site = site};
    eddy__list_push_back(&m->waiters, &mw.w.link);
    m->nwaiters++;
    eddy__wait w = {.reason = "mutex", .obj = m, .cancel = lock_cancel, .arg = &mw,
                    .uncancellable = uncancellable};
    int rc = eddy__park(&w);
    if (rc < 0) return rc; /* cancelled: lock_cancel unlinked us, the mutex is untouched */
    return 0;              /* the unlocker made us the owner */
}

int eddy__mutex_lock(eddy_mutex *m, const char *site)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    if (!m) return -EINVAL;
    return lock_impl(l, t, m, site, false);
}

int(eddy_mutex_lock)(eddy_mutex *m) { return eddy__mutex_lock(m, "?"); }

int eddy_mutex_try_lock(eddy_mutex *m)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    if (!m) return -EINVAL;
    if (m->owner) return m->owner == t && m->owner_id == t->id ? -EDEADLK : -EBUSY;
    take(m, t, "trylock");
    return 0;
}

/* Pass m to the first waiter or free it. The caller checked ownership. */
static void release(eddy_mutex *m)
{
    eddy__link *x = eddy__list_pop_front(&m->waiters);
    if (!x) {
        m->owner = NULL;
        m->owner_id = 0;
        m->site = NULL;
        return;
    }
    m->nwaiters--;
    mwaiter *mw = eddy__container_of(x, mwaiter, w.link);
    take(m, mw->w.task, mw->site);
    eddy__wake(mw->w.task, 0);
}

int eddy_mutex_unlock(eddy_mutex *m)
{
    if (!m) return -EINVAL;
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback || m->owner != t || m->owner_id != t->id) return -EPERM;
    release(m);
    return 0;
}

/* ---- C4: condition variable ---- */

void eddy_cond_init(eddy_cond *c)
{
    eddy__list_init(&c->waiters);
    c->nwaiters = 0;
}

typedef struct cwaiter {
    eddy__waiter w;
    eddy_cond *c;
} cwaiter;

static void cond_cancel(eddy_task *t, void *arg)
{
    (void)t;
    cwaiter *cw = arg;
    eddy__list_remove(&cw->w.link);
    cw->c->nwaiters--;
}

int eddy_cond_wait(eddy_cond *c, eddy_mutex *m)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    if (!c || !m) return -EINVAL;
    if (m->owner != t || m->owner_id != t->id) return -EPERM;
    /* Already cancelled: report it without letting go of the mutex at all. */
    int rc = eddy__cancel_code(t);
    if (rc) return rc;
    const char *site = m->site;
    cwaiter cw = {.w = {.task = t}, .c = c};
    eddy__list_push_back(&c->waiters, &cw.w.link);
    c->nwaiters++;
    release(m);
    eddy__wait w = {.reason = "cond", .obj = c, .cancel = cond_cancel, .arg = &cw};
    rc = eddy__park(&w);
    /* Get the mutex back whatever happened, ignoring cancellation (bpo-33638): the caller
     * must be able to rely on holding it when this returns. */
    int lrc = lock_impl(l, t, m, site, true);
    return lrc < 0 ? lrc : rc;
}

size_t eddy_cond_signal(eddy_cond *c)
{
    if (!c) return 0;
    eddy__link *x = eddy__list_pop_front(&c->waiters);
    if (!x) return 0;
    c->nwaiters--;
    eddy__wake(eddy__container_of(x, cwaiter, w.link)->w.task, 0);
    return 1;
}

size_t eddy_cond_broadcast(eddy_cond *c)
{
    size_t n = 0;
    while (eddy_cond_signal(c)) n++;
    return n;
}
