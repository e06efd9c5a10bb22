/* eddy task layer: eddy_queue (C6), asyncio.Queue with a required bound and 3.13 shutdown.
 *
 * Storage is one heap block allocated at init: a ring (FIFO), a stack (LIFO) or a binary
 * min-heap (priority; a put sequence number per slot makes equal elements come out in put
 * order), plus one scratch slot for heap swaps. Like channels, a blocked waiter is served by
 * whoever makes its operation possible (a put copies straight into a blocked getter's buffer;
 * a get moves the first blocked putter's element into the freed slot) before it is woken, so
 * woken waiters never retry and a cancelled waiter has done nothing (the cancel hook only
 * unlinks; a served waiter is no longer blocked, so a cancel cannot reach it). */
#include <stdalign.h>
#include <string.h>

#include "internal.h"

#define INITIAL_UNBOUNDED 16

static inline unsigned char *slot(eddy_queue *q, size_t i) { return q->buf + i * q->stride; }
static inline bool is_prio(const eddy_queue *q) { return q->flags & EDDY_QUEUE_PRIORITY; }

/* ---- storage ---------------------------------------------------------------------------- */

static bool prio_less(eddy_queue *q, size_t i, size_t j)
{
    int c = q->cmp(slot(q, i), slot(q, j));
    return c < 0 || (c == 0 && q->seq[i] < q->seq[j]);
}

static void prio_swap(eddy_queue *q, size_t i, size_t j)
{
    unsigned char *tmp = slot(q, q->cap);
    memcpy(tmp, slot(q, i), q->elem_size);
    memcpy(slot(q, i), slot(q, j), q->elem_size);
    memcpy(slot(q, j), tmp, q->elem_size);
    uint64_t s = q->seq[i];
    q->seq[i] = q->seq[j];
    q->seq[j] = s;
}

static int grow(eddy_queue *q)
{
    size_t ncap = q->cap * 2;
    if (ncap < q->cap || ncap + 1 > SIZE_MAX / q->stride) return -ENOMEM;
    if (is_prio(q)) {
        uint64_t *s = realloc(q->seq, ncap * sizeof *s);
        if (!s) return -ENOMEM;
        q->seq = s;
    }
    unsigned char *b = realloc(q->buf, (ncap + 1) * q->stride);
    if (!b) return -ENOMEM;
    q->buf = b;
    if (!is_prio(q) && !(q->flags & EDDY_QUEUE_LIFO) && q->head + q->count > q->cap) {
        /* Unwrap the ring: the part that wrapped to the front moves behind the old end. */
        size_t wrapped = q->head + q->count - q->cap;
        memcpy(slot(q, q->cap), slot(q, 0), wrapped * q->stride);
    }
    q->cap = ncap;
    return 0;
}

static int store_push(eddy_queue *q, const void *elem)
{
    if (q->count == q->cap) {
        int rc = grow(q); /* only unbounded queues get here */
        if (rc < 0) return rc;
    }
    if (is_prio(q)) {
        size_t i = q->count++;
        memcpy(slot(q, i), elem, q->elem_size);
        q->seq[i] = q->next_seq++;
        while (i > 0 && prio_less(q, i, (i - 1) / 2)) {
            prio_swap(q, i, (i - 1) / 2);
            i = (i - 1) / 2;
        }
    } else if (q->flags & EDDY_QUEUE_LIFO) {
        memcpy(slot(q, q->count++), elem, q->elem_size);
    } else {
        memcpy(slot(q, (q->head + q->count) % q->cap), elem, q->elem_size);
        q->count++;
    }
    return 0;
}

static void store_pop(eddy_queue *q, void *out)
{
    if (is_prio(q)) {
        memcpy(out, slot(q, 0), q->elem_size);
        size_t n = --q->count;
        if (n) {
            memcpy(slot(q, 0), slot(q, n), q->elem_size);
            q->seq[0] = q->seq[n];
        }
        for (size_t i = 0;;) {
            size_t l = 2 * i + 1, r = l + 1, m = i;
            if (l < n && prio_less(q, l, m)) m = l;
            if (r < n && prio_less(q, r, m)) m = r;
            if (m == i) break;
            prio_swap(q, i, m);
            i = m;
        }
    } else if (q->flags & EDDY_QUEUE_LIFO) {
        memcpy(out, slot(q, --q->count), q->elem_size);
    } else {
        memcpy(out, slot(q, q->head), q->elem_size);
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
}

/* ---- waiters ---------------------------------------------------------------------------- */

static eddy__waiter *pop_waiter(eddy__link *head)
{
    eddy__link *x = eddy__list_pop_front(head);
    return x ? eddy__container_of(x, eddy__waiter, link) : NULL;
}

static void wake_all(eddy__link *head, int rc)
{
    eddy__waiter *w;
    while ((w = pop_waiter(head))) eddy__wake(w->task, rc);
}

static void waiter_cancel(eddy_task *t, void *arg)
{
    (void)t;
    eddy__list_remove(&((eddy__waiter *)arg)->link);
}

static int block_on(eddy__link *head, eddy_task *t, void *data, const char *reason, eddy_queue *q)
{
    eddy__waiter w = {.task = t, .data = data};
    eddy__list_push_back(head, &w.link);
    eddy__wait wt = {.reason = reason, .obj = q, .cancel = waiter_cancel, .arg = &w};
    return eddy__park(&wt);
}

/* The current task if it may block (cancellation checked into *rc), else NULL. */
static eddy_task *blocking_task(int *rc)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l || !l->current || l->in_callback) {
        *rc = -EPERM;
        return NULL;
    }
    *rc = eddy__cancel_code(l->current);
    return *rc ? NULL : l->current;
}

/* ---- operations ------------------------------------------------------------------------- */

int eddy__queue_init(eddy_queue *q, size_t elem_size, size_t maxsize, unsigned flags,
                     eddy_queue_cmp cmp, const char *site)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    if (!q || elem_size == 0) return -EINVAL;
    if (flags & ~(unsigned)(EDDY_QUEUE_LIFO | EDDY_QUEUE_PRIORITY | EDDY_QUEUE_UNBOUNDED))
        return -EINVAL;
    if ((flags & EDDY_QUEUE_LIFO) && (flags & EDDY_QUEUE_PRIORITY)) return -EINVAL;
    if ((flags & EDDY_QUEUE_PRIORITY) && !cmp) return -EINVAL;
    bool unbounded = flags & EDDY_QUEUE_UNBOUNDED;
    if (unbounded ? maxsize != 0 : maxsize == 0) return -EINVAL;
    size_t cap = unbounded ? INITIAL_UNBOUNDED : maxsize;
    size_t stride = elem_size;
    if (flags & EDDY_QUEUE_PRIORITY) {
        /* The comparator gets pointers into the heap: keep every slot aligned. */
        size_t a = alignof(max_align_t);
        if (elem_size > SIZE_MAX - a) return -EINVAL;
        stride = (elem_size + a - 1) / a * a;
    }
    if (cap >= SIZE_MAX / stride) return -EINVAL;
    memset(q, 0, sizeof *q);
    q->buf = malloc((cap + 1) * stride);
    if (!q->buf) return -ENOMEM;
    if (flags & EDDY_QUEUE_PRIORITY) {
        if (cap > SIZE_MAX / sizeof(uint64_t) || !(q->seq = malloc(cap * sizeof(uint64_t)))) {
            free(q->buf);
            q->buf = NULL;
            return -ENOMEM;
        }
    }
    q->elem_size = elem_size;
    q->stride = stride;
    q->cap = cap;
    q->maxsize = maxsize;
    q->flags = flags;
    q->cmp = cmp;
    eddy__list_init(&q->putters);
    eddy__list_init(&q->getters);
    eddy__list_init(&q->joiners);
    eddy__handle_add(l, &q->handle, "queue", site);
    return 0;
}

int eddy_queue_destroy(eddy_queue *q)
{
    if (!q || !q->buf) return -EINVAL;
    if (!eddy__list_empty(&q->putters) || !eddy__list_empty(&q->getters) ||
        !eddy__list_empty(&q->joiners))
        return -EBUSY;
    free(q->buf);
    free(q->seq);
    q->buf = NULL;
    q->seq = NULL;
    q->count = 0;
    eddy__handle_del(&q->handle);
    return 0;
}

static int put_now(eddy_queue *q, const void *elem)
{
    if (q->shut) return -EPIPE;
    eddy__waiter *g = pop_waiter(&q->getters);
    if (g) { /* getters wait only on an empty queue: this element is next whatever the kind */
        memcpy(g->data, elem, q->elem_size);
        q->unfinished++;
        eddy__wake(g->task, 0);
        return 0;
    }
    if (q->count < q->cap || (q->flags & EDDY_QUEUE_UNBOUNDED)) {
        int rc = store_push(q, elem);
        if (rc < 0) return rc;
        q->unfinished++;
        return 0;
    }
    return -EAGAIN;
}

static int get_now(eddy_queue *q, void *out)
{
    if (q->count) {
        store_pop(q, out);
        eddy__waiter *p = pop_waiter(&q->putters);
        if (p) { /* the slot just freed is theirs (cannot fail: no growth needed) */
            (void)store_push(q, p->data);
            q->unfinished++;
            eddy__wake(p->task, 0);
        }
        return 0;
    }
    return q->shut ? -EPIPE : -EAGAIN;
}

int eddy_queue_put(eddy_queue *q, const void *elem)
{
    if (!q || !q->buf || !elem) return -EINVAL;
    int rc;
    eddy_task *t = blocking_task(&rc);
    if (!t) return rc;
    rc = put_now(q, elem);
    if (rc != -EAGAIN) return eddy__coop_done(t, rc);
    return block_on(&q->putters, t, (void *)elem, "queue put", q);
}

int eddy_queue_try_put(eddy_queue *q, const void *elem)
{
    if (!q || !q->buf || !elem) return -EINVAL;
    return put_now(q, elem);
}

int eddy_queue_get(eddy_queue *q, void *out)
{
    if (!q || !q->buf || !out) return -EINVAL;
    int rc;
    eddy_task *t = blocking_task(&rc);
    if (!t) return rc;
    rc = get_now(q, out);
    if (rc != -EAGAIN) return eddy__coop_done(t, rc);
    return block_on(&q->getters, t, out, "queue get", q);
}

int eddy_queue_try_get(eddy_queue *q, void *out)
{
    if (!q || !q->buf || !out) return -EINVAL;
    return get_now(q, out);
}

int eddy_queue_task_done(eddy_queue *q)
{
    if (!q || !q->buf || q->unfinished == 0) return -EINVAL;
    if (--q->unfinished == 0) wake_all(&q->joiners, 0);
    return 0;
}

int eddy_queue_join(eddy_queue *q)
{
    if (!q || !q->buf) return -EINVAL;
    int rc;
    eddy_task *t = blocking_task(&rc);
    if (!t) return rc;
    if (q->unfinished == 0) return eddy__coop_done(t, 0);
    return block_on(&q->joiners, t, NULL, "queue join", q);
}

void eddy_queue_shutdown(eddy_queue *q, bool immediate)
{
    if (!q || !q->buf) return;
    q->shut = 1;
    if (immediate && q->count) {
        /* Discard through the scratch slot; each discarded element counts as done. */
        while (q->count) {
            store_pop(q, slot(q, q->cap));
            if (q->unfinished) q->unfinished--;
        }
        if (q->unfinished == 0) wake_all(&q->joiners, 0);
    }
    wake_all(&q->putters, -EPIPE);
    if (q->count == 0) wake_all(&q->getters, -EPIPE);
}

size_t eddy_queue_size(const eddy_queue *q) { return q && q->buf ? q->count : 0; }

size_t eddy_queue_maxsize(const eddy_queue *q) { return q ? q->maxsize : 0; }
