/* eddy task layer: sleeping (T1). The timer lives in the sleeping task's frame. */
#include "internal.h"

static void sleep_fire(void *arg) { eddy__wake((eddy_task *)arg, 0); }

static void sleep_cancel(eddy_task *t, void *arg) { eddy__timer_stop(t->loop, (eddy_timer *)arg); }

int eddy_sleep_until(int64_t deadline)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    int c = eddy__cancel_code(t);
    if (c) return c;
    if (deadline <= l->now) return eddy_yield();
    eddy_timer tm;
    tm.heap_index = SIZE_MAX;
    tm.site = NULL;
    int rc = eddy__timer_start(l, &tm, deadline, sleep_fire, t);
    if (rc < 0) return rc;
    eddy__wait w = {.reason = "sleep", .deadline = deadline, .cancel = sleep_cancel, .arg = &tm};
    return eddy__park(&w); /* cancelled: sleep_cancel stopped the timer */
}

int eddy_sleep(int64_t ns)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l || !l->current) return -EPERM;
    if (ns < 0) return -EINVAL; /* a duration (docs/api.md); eddy_sleep_until takes times */
    if (ns == 0) return eddy_yield();
    return eddy_sleep_until(eddy__time_add(l->now, ns)); /* EDDY_FOREVER: until cancelled */
}

int eddy_sleep_forever(void)
{
    eddy_task *t = eddy__cur();
    if (!t) return -EPERM;
    eddy__wait w = {.reason = "sleep forever"};
    int rc;
    while ((rc = eddy__park(&w)) >= 0) {
    }
    return rc;
}
