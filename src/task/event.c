/* eddy task layer: one-shot event and resettable flag (C3), barrier (C5). */
#include "internal.h"

static void unlink_cancel(eddy_task *t, void *arg)
{
    (void)t;
    eddy__list_remove((eddy__link *)arg);
}

/* Wait on list q until woken; rc from the waker, or the cancel code (then unlinked). */
static int wait_on(eddy__link *q, eddy__waiter *w, const char *reason, const void *obj)
{
    eddy_task *t = eddy__cur();
    w->task = t;
    w->rc = 0;
    eddy__list_push_back(q, &w->link);
    eddy__wait wt = {.reason = reason, .obj = obj, .cancel = unlink_cancel, .arg = &w->link};
    return eddy__park(&wt);
}

static void wake_all(eddy__link *q, int rc)
{
    eddy__link *x;
    while ((x = eddy__list_pop_front(q))) {
        eddy__waiter *w = eddy__container_of(x, eddy__waiter, link);
        w->rc = rc;
        eddy__wake(w->task, rc);
    }
}

static bool in_task(void)
{
    eddy_loop *l = eddy__tl_loop;
    return l && l->current && !l->in_callback;
}

/* ---- event ---- */

void eddy_event_init(eddy_event *e)
{
    e->set = false;
    eddy__list_init(&e->waiters);
}

void eddy_event_set(eddy_event *e)
{
    if (!e || e->set) return;
    e->set = true;
    wake_all(&e->waiters, 0);
}

bool eddy_event_is_set(const eddy_event *e) { return e && e->set; }

int eddy_event_wait(eddy_event *e)
{
    if (!in_task()) return -EPERM;
    if (!e) return -EINVAL;
    if (e->set) return eddy__coop_done(eddy__cur(), 0);
    eddy__waiter w;
    return wait_on(&e->waiters, &w, "event", e);
}

/* ---- flag ---- */

void eddy_flag_init(eddy_flag *f)
{
    f->set = false;
    eddy__list_init(&f->waiters);
}

void eddy_flag_set(eddy_flag *f)
{
    if (!f || f->set) return;
    f->set = true;
    /* Waiters are released by this set even if the flag is cleared before they run. */
    wake_all(&f->waiters, 0);
}

void eddy_flag_clear(eddy_flag *f)
{
    if (f) f->set = false;
}

bool eddy_flag_is_set(const eddy_flag *f) { return f && f->set; }

int eddy_flag_wait(eddy_flag *f)
{
    if (!in_task()) return -EPERM;
    if (!f) return -EINVAL;
    if (f->set) return eddy__coop_done(eddy__cur(), 0);
    eddy__waiter w;
    return wait_on(&f->waiters, &w, "flag", f);
}

/* ---- barrier ---- */

int eddy_barrier_init(eddy_barrier *b, unsigned n)
{
    if (!b || n == 0) return -EINVAL;
    b->parties = n;
    b->count = 0;
    b->broken = false;
    b->cycles = 0;
    eddy__list_init(&b->waiters);
    return 0;
}

typedef struct bwaiter {
    eddy__waiter w;
    eddy_barrier *b;
} bwaiter;

static void barrier_break(eddy_barrier *b)
{
    b->broken = true;
    b->count = 0;
    wake_all(&b->waiters, -EPIPE);
}

/* A waiting participant is being cancelled: it leaves, and the cycle can never complete. */
static void barrier_cancel(eddy_task *t, void *arg)
{
    (void)t;
    bwaiter *bw = arg;
    eddy__list_remove(&bw->w.link);
    barrier_break(bw->b);
}

int eddy_barrier_wait(eddy_barrier *b, unsigned *index)
{
    if (!in_task()) return -EPERM;
    if (!b) return -EINVAL;
    if (b->broken) return -EPIPE;
    eddy_task *t = eddy__cur();
    int rc = eddy__cancel_code(t);
    if (rc) {
        /* Cancelled on arrival: this participant will never arrive, so nobody else could
         * pass either. */
        barrier_break(b);
        return rc;
    }
    unsigned me = b->count++;
    if (index) *index = me;
    if (b->count == b->parties) {
        b->count = 0;
        b->cycles++;
        wake_all(&b->waiters, 0);
        return eddy__coop_done(t, 0);
    }
    bwaiter bw = {.w = {.task = t}, .b = b};
    eddy__list_push_back(&b->waiters, &bw.w.link);
    eddy__wait w = {.reason = "barrier", .obj = b, .cancel = barrier_cancel, .arg = &bw};
    return eddy__park(&w);
}

void eddy_barrier_reset(eddy_barrier *b)
{
    if (!b) return;
    b->count = 0;
    b->broken = false;
    wake_all(&b->waiters, -EPIPE);
}
