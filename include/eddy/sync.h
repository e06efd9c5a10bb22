/* eddy — synchronization primitives for tasks of one loop, and promises.
 * Capabilities C1 (mutex), C2 (semaphore, capacity limiter), C3 (event, flag), C4 (condition),
 * C5 (barrier), A6 (promise), C9 (eddy_uevent, the event shared with other threads).
 *
 * Common rules:
 *  - Every object is caller storage (a struct you declare, usually on a task's stack or in a
 *    longer-lived struct) and, except eddy_uevent, owns nothing: there is no destroy call and
 *    nothing to leak. An object must not be moved or go out of scope while a task waits on it.
 *  - Except for eddy_promise_set_ts and the eddy_uevent calls, every function must be called
 *    on the thread of the loop whose tasks use the object; objects are not shared between
 *    loops.
 *  - Every wait is a cancellation point, but only when it actually has to wait: a lock, an
 *    acquire or an event wait that can complete at once does so and returns 0 even inside a
 *    cancelled scope (like eddy_task_join of a finished task); call
 *    eddy_checkpoint_if_cancelled() in loops that might otherwise never block. When a wait is
 *    cancelled it returns -ECANCELED (-ETIMEDOUT inside a fail-after scope) and leaves the
 *    object exactly as if the call had never been made. Deadlines come from the enclosing
 *    cancel scopes (EDDY_FAIL_AFTER, EDDY_MOVE_ON_AFTER, ...): no call takes a timeout.
 *  - Waiters are served in FIFO order. Where a resource is released to a waiter (mutex
 *    unlock, semaphore release, limiter release) it is handed over directly: the waiter owns
 *    it from the moment of the release, before it even runs, so no other task can barge in,
 *    and a cancellation arriving after the hand-off does not take it away (the wait returns 0;
 *    the next blocking call then reports the cancellation).
 *  - Calls that wait return -EPERM outside a task (in callback context or without a loop). */
#ifndef EDDY_SYNC_H
#define EDDY_SYNC_H

#include <pthread.h>

#include "base.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- C1: mutex ------------------------------------------------------------------------- */

/* A task mutex (not a pthread mutex: it suspends the task, never the thread). Owned by the
 * task that locked it; only that task may unlock it. Not recursive. */
typedef struct eddy_mutex {
    eddy_task *owner;   /* private: NULL when unlocked */
    uint64_t owner_id;  /* private: the owner's task id (task memory is reused) */
    const char *site;   /* private: where the owner locked it */
    eddy__link waiters; /* private: FIFO of waiting tasks */
    size_t nwaiters;    /* read-only: tasks waiting to lock */
} eddy_mutex;

/* Static initializer: eddy_mutex m = EDDY_MUTEX_INIT(m); */
#define EDDY_MUTEX_INIT(m) {NULL, 0, NULL, {&(m).waiters, &(m).waiters}, 0}

/* Initialize m, unlocked. Cannot fail. */
EDDY_API void eddy_mutex_init(eddy_mutex *m);

/* Lock m, waiting in FIFO order while another task holds it. On success the calling task owns
 * m. Cancellation point while it waits; a cancelled lock leaves m untouched (it is not owned
 * by the caller unless ownership had already been handed over, then it returns 0).
 * Returns 0; -EDEADLK if the calling task already holds m; -ECANCELED/-ETIMEDOUT if cancelled
 * while waiting; -EPERM outside a task; -EINVAL if m is NULL; in debug builds (NDEBUG not
 * defined) -EOWNERDEAD, with a report on stderr naming the lock site, if m is held by a task
 * that has finished without unlocking it (m then stays unusable: that is a bug to fix). */
#define eddy_mutex_lock(m) eddy__mutex_lock((m), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__mutex_lock(eddy_mutex *m, const char *site);
/* Function form of eddy_mutex_lock (lock site unknown). Same returns. */
EDDY_API EDDY_WUR int(eddy_mutex_lock)(eddy_mutex *m);

/* Lock m if nobody holds it; never waits, never a cancellation point.
 * Returns 0; -EBUSY if another task holds m (or it is being handed over to a waiter);
 * -EDEADLK if the calling task holds it; -EPERM outside a task; -EINVAL if m is NULL. */
EDDY_API EDDY_WUR int eddy_mutex_try_lock(eddy_mutex *m);

/* Unlock m, handing it directly to the first waiter if there is one. Never blocks.
 * Returns 0; -EPERM if the caller is not the task that holds m (including an unlocked m and
 * callback context); -EINVAL if m is NULL. Errors are misuse only, so the result may be
 * ignored. */
EDDY_API int eddy_mutex_unlock(eddy_mutex *m);

/* True while some task holds m. */
EDDY_API bool eddy_mutex_is_locked(const eddy_mutex *m);

/* ---- C2: counting semaphore ------------------------------------------------------------ */

/* A bounded counting semaphore: value in [0, max]. */
typedef struct eddy_sem {
    unsigned value;          /* read-only */
    unsigned max;            /* read-only */
    size_t nwaiters;         /* read-only */
    uint64_t total_acquired; /* read-only: successful acquires since init */
    eddy__link waiters;      /* private */
} eddy_sem;

struct eddy_sem_stats {
    unsigned value, max;
    size_t waiters;
    uint64_t total_acquired;
};

/* Initialize s with value initial and bound max.
 * Returns 0; -EINVAL if s is NULL, max is 0 or initial > max. */
EDDY_API EDDY_WUR int eddy_sem_init(eddy_sem *s, unsigned initial, unsigned max);
/* Take one unit, waiting in FIFO order while the value is 0. Cancellation point while it
 * waits (a cancelled acquire takes nothing).
 * Returns 0; -ECANCELED/-ETIMEDOUT if cancelled while waiting; -EPERM outside a task;
 * -EINVAL if s is NULL. */
EDDY_API EDDY_WUR int eddy_sem_acquire(eddy_sem *s);
/* Take one unit if one is free now; never waits. Callable from callbacks.
 * Returns 0; -EAGAIN if none is free; -EINVAL if s is NULL. */
EDDY_API EDDY_WUR int eddy_sem_try_acquire(eddy_sem *s);
/* Give one unit back: to the first waiter if any (hand-off), else to the value. Never
 * blocks; callable from callbacks.
 * Returns 0; -EOVERFLOW if the value is already max (nothing changes); -EINVAL if s is NULL. */
EDDY_API EDDY_WUR int eddy_sem_release(eddy_sem *s);
/* Fill *out with s's statistics. */
EDDY_API void eddy_sem_stats(const eddy_sem *s, struct eddy_sem_stats *out);

/* ---- C2: capacity limiter -------------------------------------------------------------- */

/* A capacity limiter (trio CapacityLimiter): total tokens, each held by a "borrower" (a task,
 * or any pointer that identifies a piece of work, e.g. a thread-pool job). A borrower holds
 * at most one token, and only the borrower that holds a token can give it back. The set of
 * borrowers is an intrusive list of tokens in caller storage, so acquire and release cost
 * O(tokens held + waiters): meant for pools of modest size (thread offload, connection pools);
 * use eddy_sem for a plain count. */
typedef struct eddy_limiter_token {
    eddy__link link;      /* private */
    const void *borrower; /* private */
} eddy_limiter_token;

typedef struct eddy_limiter {
    size_t total;            /* read-only: see eddy_limiter_set_total */
    size_t borrowed;         /* read-only: tokens held */
    size_t nwaiters;         /* read-only */
    uint64_t total_acquired; /* read-only */
    eddy__link holders;      /* private: held tokens */
    eddy__link waiters;      /* private */
} eddy_limiter;

struct eddy_limiter_stats {
    size_t total, borrowed, available, waiters;
    uint64_t total_acquired;
};

/* Initialize l with total tokens. Returns 0; -EINVAL if l is NULL or total is 0. */
EDDY_API EDDY_WUR int eddy_limiter_init(eddy_limiter *l, size_t total);
/* Take a token for the calling task, waiting in FIFO order while none is free. tok is caller
 * storage that records the loan: it must stay valid until the token is released. Cancellation
 * point while it waits (a cancelled acquire takes nothing).
 * Returns 0; -EDEADLK if the borrower already holds (or waits for) a token of l;
 * -ECANCELED/-ETIMEDOUT if cancelled while waiting; -EPERM outside a task; -EINVAL if l or
 * tok is NULL. */
EDDY_API EDDY_WUR int eddy_limiter_acquire(eddy_limiter *l, eddy_limiter_token *tok);
/* The same for borrower (any non-NULL pointer identifying the holder; the calling task waits).
 * Returns as eddy_limiter_acquire; -EINVAL also if borrower is NULL. */
EDDY_API EDDY_WUR int eddy_limiter_acquire_on_behalf_of(eddy_limiter *l, const void *borrower,
                                                        eddy_limiter_token *tok);
/* Take a token for borrower (NULL = the calling task) if one is free now; never waits.
 * Returns 0; -EAGAIN if none is free (or others wait first); -EDEADLK if borrower holds or
 * waits for one; -EPERM if borrower is NULL outside a task; -EINVAL if l or tok is NULL. */
EDDY_API EDDY_WUR int eddy_limiter_try_acquire(eddy_limiter *l, const void *borrower,
                                               eddy_limiter_token *tok);
/* Give back the calling task's token (hand-off to the first waiter if the limiter is not over
 * its total). Never blocks.
 * Returns 0; -EPERM if the calling task holds no token of l (or outside a task); -EINVAL if l
 * is NULL. */
EDDY_API EDDY_WUR int eddy_limiter_release(eddy_limiter *l);
/* Give back borrower's token. Callable from callbacks.
 * Returns 0; -EPERM if borrower holds no token of l; -EINVAL if l or borrower is NULL. */
EDDY_API EDDY_WUR int eddy_limiter_release_on_behalf_of(eddy_limiter *l, const void *borrower);
/* Change the number of tokens. Raising it hands the new tokens to waiters at once; lowering
 * it below what is borrowed takes nothing back: new acquires wait until enough are released.
 * Returns 0; -EINVAL if l is NULL or total is 0. */
EDDY_API EDDY_WUR int eddy_limiter_set_total(eddy_limiter *l, size_t total);
/* True if borrower (NULL = the calling task) holds a token of l. */
EDDY_API bool eddy_limiter_holds(const eddy_limiter *l, const void *borrower);
EDDY_API void eddy_limiter_stats(const eddy_limiter *l, struct eddy_limiter_stats *out);

/* ---- C3: event (one-shot) and flag (resettable) ---------------------------------------- */

/* One-shot event: starts unset, eddy_event_set sets it forever. */
typedef struct eddy_event {
    bool set;           /* read-only */
    eddy__link waiters; /* private */
} eddy_event;
#define EDDY_EVENT_INIT(e) {false, {&(e).waiters, &(e).waiters}}

EDDY_API void eddy_event_init(eddy_event *e);
/* Set e and wake every waiter. Idempotent; callable from callbacks. */
EDDY_API void eddy_event_set(eddy_event *e);
EDDY_API bool eddy_event_is_set(const eddy_event *e);
/* Wait until e is set (returns at once if it is). Cancellation point while it waits.
 * Returns 0; -ECANCELED/-ETIMEDOUT if cancelled while waiting; -EPERM outside a task;
 * -EINVAL if e is NULL. */
EDDY_API EDDY_WUR int eddy_event_wait(eddy_event *e);

/* Resettable flag, separately named so that a reset cannot be mistaken for a one-shot event:
 * a waiter is released by a set that happens while it waits, even if the flag is cleared
 * again before the waiter runs (no lost wake-up). */
typedef struct eddy_flag {
    bool set;           /* read-only */
    eddy__link waiters; /* private */
} eddy_flag;
#define EDDY_FLAG_INIT(f) {false, {&(f).waiters, &(f).waiters}}

EDDY_API void eddy_flag_init(eddy_flag *f);
/* Set f and wake every waiter. Idempotent; callable from callbacks. */
EDDY_API void eddy_flag_set(eddy_flag *f);
/* Clear f: later waits block until the next set. */
EDDY_API void eddy_flag_clear(eddy_flag *f);
EDDY_API bool eddy_flag_is_set(const eddy_flag *f);
/* Wait until f is set (returns at once if it is). Returns as eddy_event_wait. */
EDDY_API EDDY_WUR int eddy_flag_wait(eddy_flag *f);

/* ---- C4: condition variable ------------------------------------------------------------ */

typedef struct eddy_cond {
    eddy__link waiters; /* private */
    size_t nwaiters;    /* read-only */
} eddy_cond;
#define EDDY_COND_INIT(c) {{&(c).waiters, &(c).waiters}, 0}

EDDY_API void eddy_cond_init(eddy_cond *c);
/* Atomically unlock m (held by the caller) and wait for a signal, then lock m again.
 * Cancellation point. Whatever happens, m is held by the caller again when this returns
 * (except -EPERM/-EINVAL, where it was never released): on cancellation m is re-acquired
 * without regard to cancellation before -ECANCELED/-ETIMEDOUT is returned, so the caller's
 * unlock is always right (the asyncio bpo-33638 pitfall). Spurious wake-ups do not happen, but
 * another task may change the state before the waiter runs: re-check the predicate in a loop.
 * Returns 0 when signalled; -ECANCELED/-ETIMEDOUT if cancelled (m held again); -EPERM if the
 * caller does not hold m or outside a task; -EINVAL if c or m is NULL; in debug builds
 * -EOWNERDEAD as eddy_mutex_lock (m is then not held). */
EDDY_API EDDY_WUR int eddy_cond_wait(eddy_cond *c, eddy_mutex *m);
/* Wake the first waiter / every waiter. Holding the mutex is not required. Return the number
 * of waiters woken. */
EDDY_API size_t eddy_cond_signal(eddy_cond *c);
EDDY_API size_t eddy_cond_broadcast(eddy_cond *c);

/* ---- C5: barrier ----------------------------------------------------------------------- */

/* A cyclic barrier for n participants. If a participant is cancelled in eddy_barrier_wait
 * (asyncio BrokenBarrierError semantics) the barrier breaks: every current and future waiter
 * gets -EPIPE until eddy_barrier_reset. */
typedef struct eddy_barrier {
    unsigned parties;   /* read-only */
    unsigned count;     /* read-only: participants waiting now */
    bool broken;        /* read-only */
    uint64_t cycles;    /* read-only: times the barrier has been passed */
    eddy__link waiters; /* private */
} eddy_barrier;

/* Initialize b for n participants. Returns 0; -EINVAL if b is NULL or n is 0. */
EDDY_API EDDY_WUR int eddy_barrier_init(eddy_barrier *b, unsigned n);
/* Arrive and wait until n participants have arrived. *index (if not NULL) receives the
 * arrival order 0..n-1: exactly one participant per cycle gets n-1, the last one, which
 * releases the others (pthread's SERIAL_THREAD; e.g. it does the per-cycle work).
 * Cancellation point: a participant that is cancelled here (also when it calls this inside an
 * already cancelled scope) breaks the barrier and gets -ECANCELED/-ETIMEDOUT; the others get
 * -EPIPE.
 * Returns 0; -EPIPE if the barrier is or becomes broken, or is reset while waiting;
 * -ECANCELED/-ETIMEDOUT if cancelled; -EPERM outside a task; -EINVAL if b is NULL. */
EDDY_API EDDY_WUR int eddy_barrier_wait(eddy_barrier *b, unsigned *index);
/* Repair b: current waiters get -EPIPE (they started a cycle that will never complete), the
 * count goes back to 0 and the barrier is no longer broken. */
EDDY_API void eddy_barrier_reset(eddy_barrier *b);

/* ---- A6: promise ----------------------------------------------------------------------- */

/* A single-assignment result (value pointer + int status) awaited by tasks of one loop and
 * set once, by a task or callback of that loop or by any other OS thread.
 *
 * Thread contract (the loop must not end, nor declare a deadlock, while a foreign thread is
 * still going to set the promise, and the thread must not touch a loop that has ended):
 *   1. On the loop thread: eddy_promise_init(p), then eddy_promise_arm_ts(p) BEFORE handing
 *      p to the thread. Arming takes one loop reference (eddy_loop_ref) on the thread's
 *      behalf; it is dropped exactly once, on the loop thread, when the promise is set (by
 *      anyone), so it cannot leak as long as the promise does get set.
 *   2. The thread calls eddy_promise_set_ts(p, value, status) exactly once. It posts an
 *      eddy_ts_call embedded in p (no allocation); the loop delivers the result to waiters.
 *   3. p must stay valid until the result is delivered (eddy_promise_is_set(p) is true on the
 *      loop thread). If a waiter can be cancelled, keep p outside the cancelled frame (e.g. in
 *      the parent or in a struct shared with the thread) and let the thread finish.
 * An armed promise that is never set keeps its loop alive: eddy_run does not return. A waiter
 * does not ref the loop itself: a wait on an unarmed promise that nobody can set is reported
 * as a deadlock by eddy_run, as it should. */
typedef struct eddy_promise {
    eddy_loop *loop;    /* private: the loop it belongs to */
    int state;          /* private (the runtime changes it atomically: see promise.c) */
    int status;         /* private until set */
    void *value;        /* private until set */
    eddy__link waiters; /* private */
    eddy_ts_call ts;    /* private: node posted by eddy_promise_set_ts */
} eddy_promise;

/* Initialize p for the calling thread's loop. Returns 0; -EPERM without a loop on this
 * thread; -EINVAL if p is NULL. */
EDDY_API EDDY_WUR int eddy_promise_init(eddy_promise *p);
/* Declare that another thread will call eddy_promise_set_ts (see the contract above).
 * Loop thread only. Returns 0; -EALREADY if p is already armed or set; -EPERM if not called
 * on p's loop thread; -EINVAL if p is NULL. */
EDDY_API EDDY_WUR int eddy_promise_arm_ts(eddy_promise *p);
/* Set p from a task or callback of its loop: wake every waiter with (value, status).
 * Returns 0; -EALREADY if p was already set (or a set from a thread is in flight); -EPERM if
 * not called on p's loop thread; -EINVAL if p is NULL. */
EDDY_API EDDY_WUR int eddy_promise_set(eddy_promise *p, void *value, int status);
/* Set p from any thread. On p's loop thread it is eddy_promise_set. From another thread p
 * must be armed; the result reaches waiters when the loop runs the posted call.
 * Returns 0; -EALREADY if p was already set; -EINVAL if p is NULL, or the call comes from
 * another thread and p is not armed (nothing happens: the loop may be gone); -ESHUTDOWN if
 * the loop has already finished (its root task returned): the result is dropped. */
EDDY_API EDDY_WUR int eddy_promise_set_ts(eddy_promise *p, void *value, int status);
/* Wait until p is set; *value (if not NULL) receives the value. Cancellation point while it
 * waits; obeys the enclosing scopes' deadlines. Any number of tasks may wait.
 * Returns the status given to set (which may itself be negative: check eddy_promise_is_set
 * if a setter may use -ECANCELED or -ETIMEDOUT); -ECANCELED/-ETIMEDOUT if cancelled before
 * the result arrived; -EPERM outside a task; -EINVAL if p is NULL or belongs to another
 * loop. */
EDDY_API EDDY_WUR int eddy_promise_wait(eddy_promise *p, void **value);
/* True once the result has been delivered on the loop thread (a set from another thread
 * counts once the loop has run its posted call). */
EDDY_API bool eddy_promise_is_set(const eddy_promise *p);

/* ---- C9: universal event ---------------------------------------------------------------- */

/* A one-shot event settable from any thread or task, waitable from both: curio's universal
 * event, the companion of eddy_uqueue (chan.h), with the same rules: a task waits
 * cooperatively (a set from another thread wakes it through eddy_loop_post_ts), a plain OS
 * thread blocks on a pthread condition variable; a task's wait is a cancellation point, a
 * thread's is not; tasks are woken before threads. Unlike the other objects of this header
 * it owns pthread objects, so it has a destroy, and it is not a tracked handle (it may
 * outlive a loop). */
typedef struct eddy_uevent {
    pthread_mutex_t mu;  /* private */
    pthread_cond_t cv;   /* private */
    bool set;            /* private */
    unsigned thread_waiters, tasks_inside; /* private */
    eddy__link task_waiters;               /* private */
} eddy_uevent;

/* Returns 0 (cannot fail on Linux; kept fallible for other platforms); -EINVAL for NULL. */
EDDY_API EDDY_WUR int eddy_uevent_init(eddy_uevent *ev);
/* Returns 0; -EBUSY if a task or thread is still inside eddy_uevent_wait (as for uqueue). */
EDDY_API EDDY_WUR int eddy_uevent_destroy(eddy_uevent *ev);
/* Set ev and wake every waiter; later waits return at once. Idempotent; any context. */
EDDY_API void eddy_uevent_set(eddy_uevent *ev);
EDDY_API bool eddy_uevent_is_set(eddy_uevent *ev);
/* Wait until ev is set. Returns 0; -ECANCELED/-ETIMEDOUT (task only); -EPERM in callback
 * context; -EINVAL. */
EDDY_API EDDY_WUR int eddy_uevent_wait(eddy_uevent *ev);

#ifdef __cplusplus
}
#endif
#endif
