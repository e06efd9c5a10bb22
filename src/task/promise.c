/* eddy task layer: promises (A6), settable from any thread.
 *
 * state is a bit set, changed only with atomics because a foreign thread reads and claims it
 * (GCC's __atomic builtins on a plain int: the public struct has no _Atomic, so the header
 * compiles as C++; the code is what stdatomic.h's seq_cst calls would give):
 *   ARMED   — a loop ref is held for a foreign setter (taken by arm_ts on the loop thread);
 *   CLAIMED — some setter won the right to set (value/status are being or have been written);
 *   DONE    — the result was delivered on the loop thread: waiters may read value/status.
 * A foreign setter writes value/status after claiming and before posting p->ts; the post's
 * atomic push and the loop's atomic take of the queue order those writes before deliver()
 * reads them. The ARMED ref is dropped exactly once: by deliver() when the promise is set on the
 * loop thread, or by the foreign setter after eddy_loop_post_ts has returned (successfully or
 * not). Not inside the posted call: the loop could then finish and free itself while the
 * setter is still inside post_ts (see there). */
#include "internal.h"

enum { ARMED = 1, CLAIMED = 2, DONE = 4 };

int eddy_promise_init(eddy_promise *p)
{
    if (!p) return -EINVAL;
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    p->loop = l;
    __atomic_store_n(&p->state, 0, __ATOMIC_RELAXED); /* not yet shared */
    p->status = 0;
    p->value = NULL;
    eddy__list_init(&p->waiters);
    p->ts = (eddy_ts_call){.fn = NULL};
    return 0;
}

int eddy_promise_arm_ts(eddy_promise *p)
{
    if (!p) return -EINVAL;
    if (eddy__tl_loop != p->loop) return -EPERM;
    int s = 0;
    /* Only a fresh promise can be armed; foreign threads cannot claim an unarmed one, so
     * nothing else changes state concurrently here. */
    if (!__atomic_compare_exchange_n(&p->state, &s, ARMED, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST))
        return -EALREADY;
    eddy_loop_ref(p->loop);
    return 0;
}

/* On the loop thread: publish the result and wake the waiters. Returns the state before. */
static int deliver(eddy_promise *p)
{
    int s = __atomic_fetch_or(&p->state, DONE, __ATOMIC_SEQ_CST);
    eddy__link *x;
    while ((x = eddy__list_pop_front(&p->waiters))) {
        eddy__waiter *w = eddy__container_of(x, eddy__waiter, link);
        eddy__wake(w->task, 0);
    }
    return s;
}

/* Posted by a foreign setter, which drops the ARMED ref itself. p may be freed by a woken
 * waiter once this returns, so nothing reads p after deliver. */
static void deliver_cb(void *arg) { (void)deliver(arg); }

static void wait_cancel(eddy_task *t, void *arg)
{
    (void)t;
    eddy__list_remove((eddy__link *)arg);
}

/* Claim the right to set; false if someone already did. */
static bool claim(eddy_promise *p, int *old)
{
    int s = __atomic_load_n(&p->state, __ATOMIC_SEQ_CST);
    do {
        if (s & CLAIMED) return false;
    } while (!__atomic_compare_exchange_n(&p->state, &s, s | CLAIMED, true, __ATOMIC_SEQ_CST,
                                          __ATOMIC_SEQ_CST));
    *old = s;
    return true;
}

int eddy_promise_set(eddy_promise *p, void *value, int status)
{
    if (!p) return -EINVAL;
    if (eddy__tl_loop != p->loop) return -EPERM;
    int s;
    if (!claim(p, &s)) return -EALREADY;
    p->value = value;
    p->status = status;
    if (deliver(p) & ARMED) eddy_loop_unref(p->loop);
    return 0;
}

int eddy_promise_set_ts(eddy_promise *p, void *value, int status)
{
    if (!p) return -EINVAL;
    eddy_loop *l = p->loop;
    if (eddy__tl_loop == l) return eddy_promise_set(p, value, status);
    int s = __atomic_load_n(&p->state, __ATOMIC_SEQ_CST);
    if (s & CLAIMED) return -EALREADY;
    /* Unarmed: no ref keeps the loop alive for us, it may already be gone. */
    if (!(s & ARMED)) return -EINVAL;
    if (!claim(p, &s)) return -EALREADY;
    p->value = value;
    p->status = status;
    p->ts.fn = deliver_cb;
    p->ts.arg = p;
    /* The ARMED ref keeps l valid through the post; it is ours to drop once post_ts has
     * returned. p itself may be gone by then (delivered and freed), so only l is used. On
     * failure the loop finished before we came and nobody delivers. Dropping the ref before
     * the loop has delivered is fine: until it drains p->ts, the pending post alone keeps the
     * deadlock check from firing. */
    int rc = eddy_loop_post_ts(l, &p->ts);
    eddy_loop_unref(l);
    return rc < 0 ? rc : 0;
}

int eddy_promise_wait(eddy_promise *p, void **value)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    if (!p || p->loop != l) return -EINVAL;
    if (!(__atomic_load_n(&p->state, __ATOMIC_SEQ_CST) & DONE)) {
        eddy__waiter w = {.task = t};
        eddy__list_push_back(&p->waiters, &w.link);
        eddy__wait wt = {.reason = "promise", .obj = p, .cancel = wait_cancel, .arg = &w.link};
        int rc = eddy__park(&wt);
        if (rc < 0) return rc;
    }
    if (value) *value = p->value;
    return eddy__coop_done(t, p->status); /* after a wait: spends from a full budget */
}

bool eddy_promise_is_set(const eddy_promise *p)
{
    return p && (__atomic_load_n(&p->state, __ATOMIC_SEQ_CST) & DONE);
}
