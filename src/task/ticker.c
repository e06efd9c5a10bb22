/* eddy task layer: tickers (T2).
 *
 * A ticker is one caller-owned struct: its timer, its FIFO of waiting tasks (each waiter lives
 * in the waiting task's frame) and its leak-tracking handle. The timer is armed only while a
 * task waits, at the due time of the next tick; ticks that fall due while nobody waits are
 * not queued anywhere but computed from the clock at the next wait. A fixed-rate ticker
 * therefore behaves like a timer feeding an unbounded channel (burst catch-up) or a
 * one-slot channel that keeps the newest tick (EDDY_TICK_SKIP_MISSED), without a timer
 * wake-up per tick when nobody listens and without any allocation per tick.
 *
 * Invariant: tk->timer is armed  <=>  tk->waiters is non-empty (and tk is running). */
#include "internal.h"

/* Magic values, so that a garbage (uninitialised) struct is very unlikely to look running. */
#define TK_RUNNING 0x5449434bu /* "TICK" */
#define TK_STOPPED 0x53544f50u /* "STOP" */

typedef struct tick_waiter {
    eddy__link link; /* in tk->waiters */
    eddy_task *task;
    uint64_t tick;   /* set by the waker together with wake rc 0 */
} tick_waiter;

/* start + k * period, saturating at EDDY_FOREVER: a far-future tick is simply never due. */
static int64_t due_at(const eddy_ticker *tk, uint64_t k)
{
    int64_t off;
    if (k > (uint64_t)INT64_MAX || __builtin_mul_overflow((int64_t)k, tk->period, &off))
        return EDDY_FOREVER;
    return eddy__time_add(tk->start, off);
}

/* Hand out the tick due at or before now (precondition: now >= tk->next_due) and compute when
 * the following one is due. Fixed rate keeps every due time on the grid start + k * period,
 * whatever the delivery time was, which is what makes it drift-free. */
static uint64_t take_tick(eddy_ticker *tk, int64_t now)
{
    uint64_t k = tk->ticks + 1;
    if (tk->flags & EDDY_TICK_FIXED_RATE) {
        if (tk->flags & EDDY_TICK_SKIP_MISSED) {
            uint64_t latest = (uint64_t)((now - tk->start) / tk->period);
            if (latest > k) {
                tk->missed += latest - k;
                k = latest;
            }
        }
        tk->next_due = due_at(tk, k + 1);
    } else {
        /* Fixed delay: one period after this delivery. */
        tk->next_due = eddy__time_add(now, tk->period);
    }
    tk->ticks = k;
    return k;
}

static void tick_fire(void *arg);

static int arm(eddy_ticker *tk) { return eddy__timer_start(tk->loop, &tk->timer, tk->next_due, tick_fire, tk); }

/* Timer callback (callback context): serve waiters in FIFO order while ticks are due, then
 * re-arm for the next tick if someone still waits. */
static void tick_fire(void *arg)
{
    eddy_ticker *tk = arg;
    eddy_loop *l = tk->loop;
    while (!eddy__list_empty(&tk->waiters) && l->now >= tk->next_due) {
        tick_waiter *w = eddy__container_of(eddy__list_pop_front(&tk->waiters), tick_waiter, link);
        w->tick = take_tick(tk, l->now);
        eddy__wake(w->task, 0);
    }
    if (eddy__list_empty(&tk->waiters)) return;
    /* Cannot fail: this timer just left the heap, so there is room for it. Should it fail
     * anyway, the remaining waiters get the error rather than waiting forever. */
    int rc = arm(tk);
    if (rc < 0) {
        eddy__link *x;
        while ((x = eddy__list_pop_front(&tk->waiters)) != NULL)
            eddy__wake(eddy__container_of(x, tick_waiter, link)->task, rc);
    }
}

/* A waiter leaves without a tick (cancelled): keep the invariant, timer armed iff waiters. */
static void waiter_leave(eddy_ticker *tk, tick_waiter *w)
{
    eddy__list_remove(&w->link);
    if (eddy__list_empty(&tk->waiters)) eddy__timer_stop(tk->loop, &tk->timer);
}

struct cancel_arg {
    eddy_ticker *tk;
    tick_waiter *w;
};

static void waiter_cancel(eddy_task *t, void *arg)
{
    (void)t;
    struct cancel_arg *c = arg;
    waiter_leave(c->tk, c->w);
}

int eddy__ticker_start(eddy_ticker *tk, int64_t period_ns, unsigned flags, const char *site)
{
    eddy_loop *l = eddy__tl_loop;
    if (!tk || period_ns <= 0) return -EINVAL;
    if (flags & ~(unsigned)(EDDY_TICK_FIXED_RATE | EDDY_TICK_SKIP_MISSED)) return -EINVAL;
    if ((flags & EDDY_TICK_SKIP_MISSED) && !(flags & EDDY_TICK_FIXED_RATE)) return -EINVAL;
    if (!l) return -EPERM;
    if (tk->state == TK_RUNNING && tk->loop == l) return -EBUSY;
    tk->period = period_ns;
    tk->flags = flags;
    tk->start = l->now;
    tk->ticks = 0;
    tk->missed = 0;
    tk->next_due = due_at(tk, 1);
    eddy__list_init(&tk->waiters);
    tk->timer = (eddy_timer){.heap_index = SIZE_MAX, .site = NULL};
    tk->loop = l;
    tk->state = TK_RUNNING;
    eddy__handle_add(l, &tk->handle, "ticker", site);
    return 0;
}

int eddy_ticker_wait(eddy_ticker *tk, uint64_t *tick)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!tk) return -EINVAL;
    if (!t || l->in_callback) return -EPERM;
    if (tk->state == TK_STOPPED) return -EPIPE;
    if (tk->state != TK_RUNNING || tk->loop != l) return -EINVAL;
    /* Level-triggered cancellation wins even over a tick that is already due: the tick stays
     * for the next wait outside the cancelled scope. */
    int rc = eddy__cancel_code(t);
    if (rc) return rc;
    if (eddy__list_empty(&tk->waiters) && l->now >= tk->next_due) {
        uint64_t k = take_tick(tk, l->now);
        if (tick) *tick = k;
        return eddy__coop_done(t, 0);
    }
    tick_waiter w = {.task = t};
    if (eddy__list_empty(&tk->waiters)) {
        rc = arm(tk);
        if (rc < 0) return rc;
    }
    eddy__list_push_back(&tk->waiters, &w.link);
    struct cancel_arg ca = {tk, &w};
    eddy__wait wt = {.reason = "ticker", .obj = tk, .deadline = tk->next_due,
                     .cancel = waiter_cancel, .arg = &ca};
    rc = eddy__park(&wt);
    if (rc < 0) return rc; /* cancelled (waiter_cancel unlinked w) or stopped (stop did) */
    if (tick) *tick = w.tick;
    return 0;
}

void eddy_ticker_stop(eddy_ticker *tk)
{
    if (!tk || tk->state != TK_RUNNING) return;
    tk->state = TK_STOPPED;
    /* Only the loop that started tk can hold its timer or waiters; after that loop ended the
     * leak report has already unlinked the handle and nothing else is left to undo. */
    if (tk->loop == eddy__tl_loop) {
        eddy__timer_stop(tk->loop, &tk->timer);
        eddy__link *x;
        while ((x = eddy__list_pop_front(&tk->waiters)) != NULL)
            eddy__wake(eddy__container_of(x, tick_waiter, link)->task, -EPIPE);
    }
    eddy__handle_del(&tk->handle);
}
