/* eddy — queues and channels: capabilities C6 (eddy_queue), C7 (eddy_chan), C8 (eddy_choose),
 * C9 (eddy_uqueue; its companion eddy_uevent is in sync.h).
 *
 * Common rules:
 *  - every blocking call is a cancellation point: it checks for cancellation first (it returns
 *    -ECANCELED, or -ETIMEDOUT in a fail-after scope, without doing anything even if the
 *    operation could complete at once), and a call cancelled while blocked has done nothing:
 *    an element being sent was not delivered and an element being received was not taken.
 *    There are no timeout parameters: deadlines come from enclosing cancel scopes (B6);
 *  - blocking calls return -EPERM outside a task (including callback context); the try_*
 *    variants never block and also work from loop callbacks;
 *  - blocked senders, receivers, putters and getters are served in FIFO order, and an element
 *    is handed over by the task that makes the operation possible (copied into or out of the
 *    waiter's buffer before the waiter runs), so a woken waiter never has to retry;
 *  - elements are copied (fixed size, libdill-style): the caller's buffer can be reused as
 *    soon as the call returns;
 *  - eddy_queue and eddy_chan belong to the loop they were made on; eddy_uqueue (and
 *    eddy_uevent, sync.h) are the objects that may be shared with other threads.
 */
#ifndef EDDY_CHAN_H
#define EDDY_CHAN_H
#include <pthread.h>

#include "base.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== C6: eddy_queue =======================================================================
 * An asyncio.Queue-like queue of fixed-size elements in caller-owned storage (the struct) with
 * element storage allocated once at init. Kinds: FIFO (default), LIFO, priority (smallest
 * first by a comparator; equal elements come out in put order). */

enum {
    EDDY_QUEUE_FIFO = 0,
    EDDY_QUEUE_LIFO = 1u << 0,
    EDDY_QUEUE_PRIORITY = 1u << 1,  /* set by eddy_queue_init_priority */
    EDDY_QUEUE_UNBOUNDED = 1u << 2, /* no maxsize (maxsize must be 0): put never blocks, but
                                       the storage grows on put (-ENOMEM possible) */
};

/* qsort-style comparator: < 0 if a comes out before b. */
typedef int (*eddy_queue_cmp)(const void *a, const void *b);

typedef struct eddy_queue {
    /* all private */
    unsigned char *buf;   /* ring (FIFO), stack (LIFO) or binary heap (priority) + 1 scratch */
    uint64_t *seq;        /* priority: put order of each heap slot (stable ordering) */
    size_t elem_size, stride, cap, maxsize, head, count, unfinished;
    uint64_t next_seq;
    eddy_queue_cmp cmp;
    unsigned flags;
    int shut;             /* 0 open, 1 shut down */
    eddy__link putters, getters, joiners;
    eddy__handle handle;
} eddy_queue;

/* Open q for elements of elem_size bytes (> 0) holding at most maxsize elements (> 0), or
 * unbounded with EDDY_QUEUE_UNBOUNDED and maxsize 0. flags: EDDY_QUEUE_FIFO or EDDY_QUEUE_LIFO,
 * optionally | EDDY_QUEUE_UNBOUNDED. The queue is a tracked handle: not destroying it is
 * reported as a leak at eddy_run exit.
 * Returns 0; -EINVAL (elem_size 0, maxsize 0 without UNBOUNDED, maxsize != 0 with it, unknown
 * or conflicting flags, priority without a comparator, size overflow); -ENOMEM; -EPERM outside
 * a loop thread. */
#define eddy_queue_init(q, elem_size, maxsize, flags) \
    eddy__queue_init((q), (elem_size), (maxsize), (flags), NULL, EDDY__SITE)
/* Same, a priority queue ordered by cmp (flags may add EDDY_QUEUE_UNBOUNDED). */
#define eddy_queue_init_priority(q, elem_size, maxsize, cmp, flags) \
    eddy__queue_init((q), (elem_size), (maxsize), (flags) | EDDY_QUEUE_PRIORITY, (cmp), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__queue_init(eddy_queue *q, size_t elem_size, size_t maxsize,
                                       unsigned flags, eddy_queue_cmp cmp, const char *site);
/* Free q's storage (queued elements are dropped). Returns 0; -EBUSY if a task is still
 * blocked on q (nothing is freed: shut it down or cancel those tasks first); -EINVAL if q is
 * not initialised (or already destroyed). */
EDDY_API EDDY_WUR int eddy_queue_destroy(eddy_queue *q);

/* Copy *elem into q, waiting while q is full. Counts one unfinished task (see task_done).
 * Returns 0; -EPIPE once q is shut down (also wakes a blocked put; elem not added);
 * -ECANCELED/-ETIMEDOUT if cancelled (elem not added); -ENOMEM (unbounded queue could not
 * grow); -EPERM outside a task; -EINVAL for NULL arguments. */
EDDY_API EDDY_WUR int eddy_queue_put(eddy_queue *q, const void *elem);
/* Like put, never blocks. Returns 0; -EAGAIN if full; -EPIPE; -ENOMEM; -EINVAL. */
EDDY_API EDDY_WUR int eddy_queue_try_put(eddy_queue *q, const void *elem);
/* Move the next element into *out, waiting while q is empty.
 * Returns 0; -EPIPE if q is shut down and empty (after a plain shutdown remaining elements are
 * still returned first); -ECANCELED/-ETIMEDOUT if cancelled (nothing taken); -EPERM outside a
 * task; -EINVAL for NULL arguments. */
EDDY_API EDDY_WUR int eddy_queue_get(eddy_queue *q, void *out);
/* Like get, never blocks. Returns 0; -EAGAIN if empty; -EPIPE if shut down and empty; -EINVAL. */
EDDY_API EDDY_WUR int eddy_queue_try_get(eddy_queue *q, void *out);
/* Mark one element taken by get as processed; when every put element is processed, join
 * returns. Returns 0; -EINVAL if called more times than elements were put (or q is NULL). */
EDDY_API EDDY_WUR int eddy_queue_task_done(eddy_queue *q);
/* Wait until every element ever put has been marked done by task_done (returns at once if
 * none is unfinished). Returns 0; -ECANCELED/-ETIMEDOUT; -EPERM outside a task; -EINVAL. */
EDDY_API EDDY_WUR int eddy_queue_join(eddy_queue *q);
/* Python 3.13 Queue.shutdown: from now on put returns -EPIPE (blocked putters are woken with
 * it) and get returns -EPIPE once q is empty (blocked getters are woken with it). With
 * immediate, queued elements are discarded at once, each discarded element counts as done
 * (joiners are released when nothing is unfinished) and get returns -EPIPE at once.
 * Idempotent (a later immediate shutdown still discards). Safe from callbacks. */
EDDY_API void eddy_queue_shutdown(eddy_queue *q, bool immediate);
EDDY_API size_t eddy_queue_size(const eddy_queue *q);
/* maxsize given at init (0 = unbounded). */
EDDY_API size_t eddy_queue_maxsize(const eddy_queue *q);

/* ==== C7: eddy_chan ========================================================================
 * A channel of fixed-size elements with capacity >= 0 (0 = rendezvous: a send completes only
 * when a receiver takes the element). The shared channel state (with its buffer) is allocated
 * once by eddy_chan_open; the user holds it only through end handles:
 *
 *   eddy_chan_tx tx; eddy_chan_rx rx;
 *   eddy_chan_open(&tx, &rx, sizeof(int), 8);
 *   eddy_chan_tx tx2; eddy_chan_clone_send(&tx, &tx2);   // a second sender, closed on its own
 *
 * Each handle (the originals and every clone) is closed exactly once with eddy_chan_close_send
 * / eddy_chan_close_recv (trio's memory channels): receivers get -EPIPE once every send handle
 * is closed and the buffer is drained; senders get -EPIPE once every receive handle is closed
 * (blocked ones are woken with it, buffered elements are then dropped). Using a closed handle
 * gives -EBADF, and tasks blocked through a handle when it is closed are woken with -EBADF.
 * Handles are small caller-owned structs; do not copy them (copies share one reference), clone.
 * The state is freed when the last handle of both ends is closed; until then it is a tracked
 * handle ("channel"), so a channel with a handle never closed is reported as a leak. */

typedef struct eddy_chan eddy_chan; /* private, shared by the handles */
typedef struct eddy_chan_tx {
    eddy_chan *ch; /* NULL once closed */
} eddy_chan_tx;
typedef struct eddy_chan_rx {
    eddy_chan *ch; /* NULL once closed */
} eddy_chan_rx;

/* Open a channel of elem_size-byte elements (0 allowed: pure signals) with room for capacity
 * buffered elements; *tx and *rx receive the first send and receive handles.
 * Returns 0; -EINVAL (NULL handles, size overflow); -ENOMEM; -EPERM outside a loop thread. */
#define eddy_chan_open(tx, rx, elem_size, capacity) \
    eddy__chan_open((tx), (rx), (elem_size), (capacity), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__chan_open(eddy_chan_tx *tx, eddy_chan_rx *rx, size_t elem_size,
                                      size_t capacity, const char *site);
/* A new send (receive) handle on the same channel, closed independently.
 * Returns 0; -EBADF if the source handle is closed; -EINVAL for NULL. */
EDDY_API EDDY_WUR int eddy_chan_clone_send(const eddy_chan_tx *tx, eddy_chan_tx *out);
EDDY_API EDDY_WUR int eddy_chan_clone_recv(const eddy_chan_rx *rx, eddy_chan_rx *out);
/* Close one handle (it becomes NULL). Never blocks. Tasks blocked through this very handle get
 * -EBADF. Closing the last send handle wakes blocked receivers with -EPIPE; closing the last
 * receive handle wakes blocked senders with -EPIPE and drops buffered elements.
 * Returns 0; -EBADF if already closed; -EINVAL for NULL. */
EDDY_API int eddy_chan_close_send(eddy_chan_tx *tx);
EDDY_API int eddy_chan_close_recv(eddy_chan_rx *rx);

/* Copy *elem into the channel: to a waiting receiver, else into the buffer, else wait.
 * Returns 0 (the element was delivered or buffered); -EPIPE if every receive handle is closed
 * (also while blocked; the element is not delivered); -EBADF if tx is closed (also while
 * blocked); -ECANCELED/-ETIMEDOUT if cancelled (not delivered); -EPERM outside a task; -EINVAL
 * for NULL tx, or NULL elem with a nonzero element size. */
EDDY_API EDDY_WUR int eddy_chan_send(eddy_chan_tx *tx, const void *elem);
/* Like send, never blocks. Returns 0; -EAGAIN if it would block; -EPIPE; -EBADF; -EINVAL. */
EDDY_API EDDY_WUR int eddy_chan_try_send(eddy_chan_tx *tx, const void *elem);
/* Receive the next element into *elem, waiting if there is none.
 * Returns 0; -EPIPE when every send handle is closed and nothing is buffered; -EBADF if rx is
 * closed (also while blocked); -ECANCELED/-ETIMEDOUT if cancelled (nothing taken); -EPERM
 * outside a task; -EINVAL for NULL rx, or NULL elem with a nonzero element size. */
EDDY_API EDDY_WUR int eddy_chan_recv(eddy_chan_rx *rx, void *elem);
/* Like recv, never blocks. Returns 0; -EAGAIN; -EPIPE; -EBADF; -EINVAL. */
EDDY_API EDDY_WUR int eddy_chan_try_recv(eddy_chan_rx *rx, void *elem);
/* Buffered elements (0 for a closed handle). */
EDDY_API size_t eddy_chan_size(const eddy_chan_rx *rx);

/* ==== C8: eddy_choose ======================================================================
 * Wait for several operations and complete exactly one of them, atomically: the others have
 * done nothing. Clauses are checked in array order; when several are ready at once the first
 * wins (deterministic priority, like libdill; shuffle the array for fairness). */

enum {
    EDDY_CLAUSE_SEND = 1, /* .tx, .elem (copied from) */
    EDDY_CLAUSE_RECV,     /* .rx, .elem (copied to) */
    EDDY_CLAUSE_FD,       /* .fd, .events (EDDY_READ|EDDY_WRITE); rc = ready events (> 0) */
    EDDY_CLAUSE_DEADLINE, /* .deadline: absolute time on eddy_now()'s clock; rc = 0 */
};
enum { EDDY_CHOOSE_NOWAIT = 1u << 0 };

struct eddy__choice;
/* Private: a channel waiter (an element's way into or out of a blocked task). */
typedef struct eddy__chan_waiter {
    eddy__link link;
    eddy_task *task;
    void *buf;
    const void *end;             /* the handle it waits through (close of that handle: -EBADF) */
    struct eddy__choice *choice; /* NULL for plain send/recv */
    size_t idx;
} eddy__chan_waiter;

typedef struct eddy_clause {
    int op;             /* EDDY_CLAUSE_* */
    eddy_chan_tx *tx;
    eddy_chan_rx *rx;
    void *elem;
    int fd;
    unsigned events;
    int64_t deadline;
    int rc;             /* out, for the clause that completed: 0, or the ready fd events, or
                           -EPIPE (the other end is closed: nothing was sent/received), or
                           -EBADF (this clause's own handle was closed while waiting) */
    struct {            /* private: the clause's registration while blocked */
        struct eddy__choice *choice;
        union {
            eddy__chan_waiter w;
            eddy_io io;
            eddy_timer tm;
        } u;
    } priv_;
} eddy_clause;

/* A clause of each kind, every other field zero: eddy_clause c[] = {EDDY_CLAUSE_RECV(&rx, &v),
 * EDDY_CLAUSE_DEADLINE(eddy_now() + EDDY_SEC(1))}. Plain function calls (C and C++). */
#define EDDY_CLAUSE_SEND(t, p) eddy__clause(EDDY_CLAUSE_SEND, (t), NULL, (void *)(p), 0, 0, 0)
#define EDDY_CLAUSE_RECV(r, p) eddy__clause(EDDY_CLAUSE_RECV, NULL, (r), (p), 0, 0, 0)
#define EDDY_CLAUSE_FD(f, ev) eddy__clause(EDDY_CLAUSE_FD, NULL, NULL, NULL, (f), (ev), 0)
#define EDDY_CLAUSE_DEADLINE(d) eddy__clause(EDDY_CLAUSE_DEADLINE, NULL, NULL, NULL, 0, 0, (d))
static inline eddy_clause eddy__clause(int op, eddy_chan_tx *tx, eddy_chan_rx *rx, void *elem,
                                       int fd, unsigned events, int64_t deadline)
{
    eddy_clause c;
    __builtin_memset(&c, 0, sizeof c);
    c.op = op;
    c.tx = tx;
    c.rx = rx;
    c.elem = elem;
    c.fd = fd;
    c.events = events;
    c.deadline = deadline;
    return c;
}

/* Complete exactly one of the n clauses, waiting until one can complete (or, with
 * EDDY_CHOOSE_NOWAIT, only if one can complete at once). Returns the index i (>= 0) of the
 * completed clause, with its result in clauses[i].rc: 0 for a send/recv that transferred an
 * element or a deadline that passed, the ready events (> 0) for an fd clause, -EPIPE for a
 * send/recv clause whose channel is closed at the other end (recv: and drained), or -EBADF
 * for a send/recv clause whose own handle another task closed while it waited — a closed
 * channel completes its clause, like Go's closed-channel receive, so the caller knows which.
 * The clause array is the registration storage while blocked: keep it alive and unchanged
 * until eddy_choose returns.
 * Errors (nothing completed): -EAGAIN (NOWAIT and nothing ready); -ECANCELED/-ETIMEDOUT if
 * cancelled (checked first; not with NOWAIT, which never blocks); -EBADF if a clause uses a
 * closed channel handle; -EINVAL (n == 0 without NOWAIT, NULL clauses, unknown op, NULL
 * handle, NULL elem with a nonzero element size, fd < 0, no events, unknown flags); -EBUSY if
 * another watcher waits on a clause's fd in that direction (or two clauses do); -EPERM outside
 * a task (without NOWAIT); -ENOMEM (fd table or timer heap could not grow). */
EDDY_API EDDY_WUR int eddy_choose(eddy_clause *clauses, size_t n, unsigned flags);

/* ==== C9: eddy_uqueue =====================================================================
 * curio's "universal" queue (its event, eddy_uevent, is in sync.h): usable at once from tasks
 * on any loop (they wait cooperatively; a wake-up from another thread goes through
 * eddy_loop_post_ts) and from plain OS threads (they block on a pthread condition variable).
 * Calls made from a task are cancellation points with the usual guarantee (a cancelled put
 * did not add, a cancelled get took nothing; if the element had already been handed over the
 * call reports success). Calls from a plain thread are not cancellable. Blocking calls return
 * -EPERM in loop callback context (the loop thread must not block). They are not tracked
 * handles (they may outlive a loop or have none): destroy them yourself. Tasks are served
 * before threads when both wait. */

typedef struct eddy_uqueue {
    /* all private */
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    unsigned char *buf;
    size_t elem_size, cap, head, count;
    unsigned thread_getters, thread_putters, tasks_inside;
    bool closed;
    eddy__link task_getters, task_putters;
} eddy_uqueue;

/* Set up q for elements of elem_size bytes (> 0) with capacity cap (> 0). Any thread.
 * Returns 0; -EINVAL; -ENOMEM. */
EDDY_API EDDY_WUR int eddy_uqueue_init(eddy_uqueue *q, size_t elem_size, size_t cap);
/* Free q. Returns 0; -EBUSY if a task or thread is still inside a blocking call on it,
 * including one already woken (e.g. by shutdown) that has not returned yet (nothing freed):
 * destroy after the users are done (e.g. after their nursery closed or threads joined). */
EDDY_API EDDY_WUR int eddy_uqueue_destroy(eddy_uqueue *q);
/* Copy *elem in, waiting while full. Returns 0; -EPIPE after eddy_uqueue_shutdown (blocked
 * putters are woken with it; elem not added); -ECANCELED/-ETIMEDOUT (task only, elem not
 * added); -EPERM in callback context; -EINVAL. */
EDDY_API EDDY_WUR int eddy_uqueue_put(eddy_uqueue *q, const void *elem);
/* Take the next element, waiting while empty. Returns 0; -EPIPE once shut down and drained;
 * -ECANCELED/-ETIMEDOUT (task only, nothing taken); -EPERM in callback context; -EINVAL. */
EDDY_API EDDY_WUR int eddy_uqueue_get(eddy_uqueue *q, void *out);
/* Never block; any context. Return 0; -EAGAIN; -EPIPE; -EINVAL. */
EDDY_API EDDY_WUR int eddy_uqueue_try_put(eddy_uqueue *q, const void *elem);
EDDY_API EDDY_WUR int eddy_uqueue_try_get(eddy_uqueue *q, void *out);
/* No more puts (-EPIPE); gets drain what is left, then get -EPIPE. Wakes every waiter that can
 * no longer complete. Idempotent; any thread. */
EDDY_API void eddy_uqueue_shutdown(eddy_uqueue *q);
EDDY_API size_t eddy_uqueue_size(eddy_uqueue *q);

#ifdef __cplusplus
}
#endif
#endif
