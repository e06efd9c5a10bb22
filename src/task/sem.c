/* eddy task layer: bounded semaphore and capacity limiter (C2).
 *
 * Both hand a released unit directly to the first waiter (the waiter is unlinked and made
 * ready with rc 0 in the same step), so a free unit never coexists with waiters and nobody
 * barges in; a cancellation that comes after the hand-off finds the task READY and leaves
 * it alone (see mutex.c). */
#include "internal.h"

typedef struct swaiter {
    eddy__waiter w;
    size_t *nwaiters;
    eddy_limiter_token *tok; /* limiter only: the loan to record on hand-off */
} swaiter;

static void swaiter_cancel(eddy_task *t, void *arg)
{
    (void)t;
    swaiter *sw = arg;
    eddy__list_remove(&sw->w.link);
    (*sw->nwaiters)--;
}

/* Queue the current task on q and wait for a hand-off. */
static int wait_handoff(eddy__link *q, size_t *nwaiters, eddy_limiter_token *tok,
                        const char *reason, const void *obj)
{
    eddy_task *t = eddy__cur();
    swaiter sw = {.w = {.task = t}, .nwaiters = nwaiters, .tok = tok};
    eddy__list_push_back(q, &sw.w.link);
    (*nwaiters)++;
    eddy__wait w = {.reason = reason, .obj = obj, .cancel = swaiter_cancel, .arg = &sw};
    return eddy__park(&w);
}

/* Pop the first waiter of q (NULL if none); the caller completes the hand-off. */
static swaiter *pop_waiter(eddy__link *q, size_t *nwaiters)
{
    eddy__link *x = eddy__list_pop_front(q);
    if (!x) return NULL;
    (*nwaiters)--;
    return eddy__container_of(x, swaiter, w.link);
}

static bool in_task(void)
{
    eddy_loop *l = eddy__tl_loop;
    return l && l->current && !l->in_callback;
}

/* ---- semaphore ---- */

int eddy_sem_init(eddy_sem *s, unsigned initial, unsigned max)
{
    if (!s || max == 0 || initial > max) return -EINVAL;
    s->value = initial;
    s->max = max;
    s->nwaiters = 0;
    s->total_acquired = 0;
    eddy__list_init(&s->waiters);
    return 0;
}

int eddy_sem_acquire(eddy_sem *s)
{
    if (!in_task()) return -EPERM;
    if (!s) return -EINVAL;
    if (s->value > 0) {
        s->value--;
        s->total_acquired++;
        return eddy__coop_done(eddy__cur(), 0);
    }
    /* On success the releaser counted the hand-off. */
    return wait_handoff(&s->waiters, &s->nwaiters, NULL, "sem", s);
}

int eddy_sem_try_acquire(eddy_sem *s)
{
    if (!s) return -EINVAL;
    if (s->value == 0) return -EAGAIN;
    s->value--;
    s->total_acquired++;
    return 0;
}

int eddy_sem_release(eddy_sem *s)
{
    if (!s) return -EINVAL;
    swaiter *sw = pop_waiter(&s->waiters, &s->nwaiters);
    if (sw) {
        s->total_acquired++;
        eddy__wake(sw->w.task, 0);
        return 0;
    }
    if (s->value >= s->max) return -EOVERFLOW;
    s->value++;
    return 0;
}

void eddy_sem_stats(const eddy_sem *s, struct eddy_sem_stats *out)
{
    if (!out) return;
    if (!s) {
        *out = (struct eddy_sem_stats){0};
        return;
    }
    *out = (struct eddy_sem_stats){.value = s->value, .max = s->max, .waiters = s->nwaiters,
                            .total_acquired = s->total_acquired};
}

/* ---- capacity limiter ---- */

int eddy_limiter_init(eddy_limiter *l, size_t total)
{
    if (!l || total == 0) return -EINVAL;
    l->total = total;
    l->borrowed = 0;
    l->nwaiters = 0;
    l->total_acquired = 0;
    eddy__list_init(&l->holders);
    eddy__list_init(&l->waiters);
    return 0;
}

static eddy_limiter_token *find_holder(const eddy_limiter *l, const void *borrower)
{
    for (eddy__link *x = l->holders.next; x != &l->holders; x = x->next) {
        eddy_limiter_token *tok = eddy__container_of(x, eddy_limiter_token, link);
        if (tok->borrower == borrower) return tok;
    }
    return NULL;
}

static bool is_waiting(const eddy_limiter *l, const void *borrower)
{
    for (eddy__link *x = l->waiters.next; x != &l->waiters; x = x->next)
        if (eddy__container_of(x, swaiter, w.link)->tok->borrower == borrower) return true;
    return false;
}

static void lend(eddy_limiter *l, eddy_limiter_token *tok)
{
    eddy__list_push_back(&l->holders, &tok->link);
    l->borrowed++;
    l->total_acquired++;
}

/* Hand free tokens to waiters while there are both. */
static void hand_out(eddy_limiter *l)
{
    while (l->borrowed < l->total) {
        swaiter *sw = pop_waiter(&l->waiters, &l->nwaiters);
        if (!sw) return;
        lend(l, sw->tok);
        eddy__wake(sw->w.task, 0);
    }
}

static int limiter_acquire(eddy_limiter *l, const void *borrower, eddy_limiter_token *tok,
                           bool wait)
{
    if (!l || !tok) return -EINVAL;
    if (find_holder(l, borrower) || is_waiting(l, borrower)) return -EDEADLK;
    tok->borrower = borrower;
    if (l->borrowed < l->total && l->nwaiters == 0) {
        lend(l, tok);
        return wait ? eddy__coop_done(eddy__cur(), 0) : 0;
    }
    if (!wait) return -EAGAIN;
    eddy__list_init(&tok->link);
    /* On success the releaser already lent tok on our behalf (hand-off). */
    return wait_handoff(&l->waiters, &l->nwaiters, tok, "limiter", l);
}

int eddy_limiter_acquire(eddy_limiter *l, eddy_limiter_token *tok)
{
    if (!in_task()) return -EPERM;
    return limiter_acquire(l, eddy__cur(), tok, true);
}

int eddy_limiter_acquire_on_behalf_of(eddy_limiter *l, const void *borrower,
                                      eddy_limiter_token *tok)
{
    if (!in_task()) return -EPERM;
    if (!borrower) return -EINVAL;
    return limiter_acquire(l, borrower, tok, true);
}

int eddy_limiter_try_acquire(eddy_limiter *l, const void *borrower, eddy_limiter_token *tok)
{
    if (!borrower) {
        if (!in_task()) return -EPERM;
        borrower = eddy__cur();
    }
    return limiter_acquire(l, borrower, tok, false);
}

int eddy_limiter_release_on_behalf_of(eddy_limiter *l, const void *borrower)
{
    if (!l || !borrower) return -EINVAL;
    eddy_limiter_token *tok = find_holder(l, borrower);
    if (!tok) return -EPERM;
    eddy__list_remove(&tok->link);
    l->borrowed--;
    hand_out(l);
    return 0;
}

int eddy_limiter_release(eddy_limiter *l)
{
    if (!l) return -EINVAL;
    if (!in_task()) return -EPERM;
    return eddy_limiter_release_on_behalf_of(l, eddy__cur());
}

int eddy_limiter_set_total(eddy_limiter *l, size_t total)
{
    if (!l || total == 0) return -EINVAL;
    l->total = total;
    hand_out(l);
    return 0;
}

bool eddy_limiter_holds(const eddy_limiter *l, const void *borrower)
{
    if (!l) return false;
    if (!borrower) borrower = eddy__cur();
    return borrower && find_holder(l, borrower) != NULL;
}

void eddy_limiter_stats(const eddy_limiter *l, struct eddy_limiter_stats *out)
{
    if (!out) return;
    if (!l) {
        *out = (struct eddy_limiter_stats){0};
        return;
    }
    *out = (struct eddy_limiter_stats){.total = l->total, .borrowed = l->borrowed,
                                .available = l->borrowed < l->total ? l->total - l->borrowed : 0,
                                .waiters = l->nwaiters, .total_acquired = l->total_acquired};
}
