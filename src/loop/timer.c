/* eddy loop: timer store, a 4-ary min-heap keyed by (absolute deadline, arming sequence).
 *
 * Entries carry their deadline next to the timer pointer so sift comparisons stay in the heap
 * array (libev's "cached at" idea); the sequence number, consulted only on equal deadlines,
 * makes equal-deadline timers fire in arming order, which keeps virtual-clock tests and the
 * examples deterministic. Insert and cancel are O(log n); the array grows by doubling, so a
 * steady timer population allocates nothing. */
#include "internal.h"

#define NOT_IN_HEAP SIZE_MAX

static inline bool ent_less(const eddy__heap_ent *a, const eddy__heap_ent *b)
{
    if (a->deadline != b->deadline) return a->deadline < b->deadline;
    return a->t->seq < b->t->seq;
}

static inline void place(eddy_loop *l, size_t i, eddy__heap_ent e)
{
    l->heap[i] = e;
    e.t->heap_index = i;
}

static void sift_up(eddy_loop *l, size_t i, eddy__heap_ent e)
{
    while (i > 0) {
        size_t p = (i - 1) / 4;
        if (!ent_less(&e, &l->heap[p])) break;
        place(l, i, l->heap[p]);
        i = p;
    }
    place(l, i, e);
}

static void sift_down(eddy_loop *l, size_t i, eddy__heap_ent e)
{
    size_t n = l->nheap;
    for (;;) {
        size_t c = 4 * i + 1;
        if (c >= n) break;
        size_t best = c, end = c + 4 < n ? c + 4 : n;
        for (size_t k = c + 1; k < end; k++)
            if (ent_less(&l->heap[k], &l->heap[best])) best = k;
        if (!ent_less(&l->heap[best], &e)) break;
        place(l, i, l->heap[best]);
        i = best;
    }
    place(l, i, e);
}

static void heap_remove_at(eddy_loop *l, size_t i)
{
    eddy_timer *t = l->heap[i].t;
    t->heap_index = NOT_IN_HEAP;
    eddy__heap_ent last = l->heap[--l->nheap];
    if (i == l->nheap) return;
    if (i > 0 && ent_less(&last, &l->heap[(i - 1) / 4]))
        sift_up(l, i, last);
    else
        sift_down(l, i, last);
}

int eddy__timer_start(eddy_loop *l, eddy_timer *t, int64_t deadline, void (*fn)(void *), void *arg)
{
    if (t->heap_index != NOT_IN_HEAP && t->heap_index < l->nheap && l->heap[t->heap_index].t == t)
        heap_remove_at(l, t->heap_index);
    if (l->nheap == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        eddy__heap_ent *h = realloc(l->heap, cap * sizeof *h);
        if (!h) {
            t->heap_index = NOT_IN_HEAP;
            return -ENOMEM;
        }
        l->heap = h;
        l->heap_cap = cap;
    }
    t->deadline = deadline;
    t->seq = l->timer_seq++;
    t->fn = fn;
    t->arg = arg;
    sift_up(l, l->nheap++, (eddy__heap_ent){deadline, t});
    return 0;
}

bool eddy__timer_stop(eddy_loop *l, eddy_timer *t)
{
    size_t i = t->heap_index;
    if (i == NOT_IN_HEAP || i >= l->nheap || l->heap[i].t != t) {
        t->heap_index = NOT_IN_HEAP;
        return false;
    }
    heap_remove_at(l, i);
    return true;
}

int64_t eddy__timers_next(eddy_loop *l)
{
    return l->nheap ? l->heap[0].deadline : EDDY_FOREVER;
}

void eddy__timers_run(eddy_loop *l)
{
    /* Callbacks may arm timers due now; they run on the next pass (no starvation). */
    uint64_t limit = l->timer_seq;
    bool was = l->in_callback;
    l->in_callback = true;
    while (l->nheap && l->heap[0].deadline <= l->now && l->heap[0].t->seq < limit) {
        eddy_timer *t = l->heap[0].t;
        heap_remove_at(l, 0);
        l->stats.timers_fired++;
        t->fn(t->arg);
    }
    l->in_callback = was;
}

/* ---- public callback timers ---- */

int eddy__call_at(eddy_timer *t, int64_t deadline, void (*fn)(void *), void *arg, const char *site)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    if (!fn) return -EINVAL;
    /* The pending test inline, not eddy_timer_is_pending(): under -fPIC a public (interposable)
     * function is called, not inlined, and that call was ~3 ns of a ~20 ns arm (bench_timers). */
    size_t i = t->heap_index;
    if (!(i < l->nheap && l->heap[i].t == t)) t->heap_index = NOT_IN_HEAP;
    t->site = site ? site : "?";
    return eddy__timer_start(l, t, deadline, fn, arg);
}

int eddy__call_later(eddy_timer *t, int64_t delay, void (*fn)(void *), void *arg, const char *site)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    if (delay < 0) return -EINVAL; /* a duration (docs/api.md) */
    return eddy__call_at(t, eddy__time_add(l->now, delay), fn, arg, site);
}

bool eddy_timer_stop(eddy_timer *t)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l || !t) return false;
    return eddy__timer_stop(l, t);
}

bool eddy_timer_is_pending(const eddy_timer *t)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l || !t) return false;
    size_t i = t->heap_index;
    return i < l->nheap && l->heap[i].t == t;
}
