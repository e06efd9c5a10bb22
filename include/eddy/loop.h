/* eddy — the loop: running, time, callback timers, fd watchers, thread-safe calls.
 * Capabilities A1, A9, T3, X1 (virtual clock), X2 (seeded scheduler), I1 (backend choice). */
#ifndef EDDY_LOOP_H
#define EDDY_LOOP_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A custom clock (T3): now() returns monotonic nanoseconds. */
typedef struct eddy_clock {
    int64_t (*now)(void *ctx);
    void *ctx;
} eddy_clock;

enum {
    EDDY_CLOCK_MONOTONIC = 0, /* CLOCK_MONOTONIC (default) */
    EDDY_CLOCK_VIRTUAL = 1,   /* X1: starts at 0, moves only by eddy_clock_jump() or autojump */
    EDDY_CLOCK_CUSTOM = 2,    /* eddy_opts.clock */
};

enum {
    EDDY_OPT_NO_SIGNALS = 1u << 0,   /* B9 opt-out: do not handle SIGINT/SIGTERM */
    EDDY_OPT_FAIL_ON_LEAK = 1u << 1, /* D4 test mode: leaks make eddy_run return -ENOTRECOVERABLE */
    EDDY_OPT_QUIET = 1u << 2,        /* do not print the leak report (still counted) */
};

typedef struct eddy_opts {
    int clock_kind;              /* EDDY_CLOCK_*; env EDDY_CLOCK=virtual overrides MONOTONIC */
    const eddy_clock *clock;     /* for EDDY_CLOCK_CUSTOM */
    int64_t autojump_threshold;  /* virtual clock: jump to the next timer after this much real
                                    time with every task blocked; 0 = at once; EDDY_FOREVER =
                                    never (then only eddy_clock_jump moves it); negative:
                                    -EINVAL */
    uint64_t sched_seed;         /* X2: nonzero permutes ready-queue order reproducibly;
                                    env EDDY_SCHED_SEED */
    size_t stack_size;           /* default task stack size (0 = EDDY_DEFAULT_STACK) */
    unsigned flags;              /* EDDY_OPT_* */
    int poll_interval;           /* poll I/O at least every N task runs (0 = 64) */
    const char *backend;         /* I1: "epoll" or "io_uring" (any case; NULL or "" = env
                                    EDDY_BACKEND, else the default, epoll). A backend that
                                    cannot run here (io_uring refused by the kernel, or not
                                    built in) falls back to epoll; EDDY_DEBUG=1 says why once
                                    per process, eddy_backend_name() tells which runs. */
} eddy_opts;

/* A1: create a loop on this thread, run main(arg) as the root task until it and everything
 * it spawned have finished, check for leaks, return main's status.
 * Returns: main's return value; -EBUSY if a loop already runs on this thread; -ENOMEM if the
 * loop or the root task's stack cannot be allocated; -EMFILE/-ENFILE if the backend's fds
 * cannot be created; -EDEADLK if every task blocked forever (nothing could wake them: no
 * timer, fd, thread or signal) — the tasks are cancelled first so they unwind, and the task
 * tree is printed; -ENOTRECOVERABLE with EDDY_OPT_FAIL_ON_LEAK when handles were left open. */
EDDY_API int eddy_run(int (*main)(void *), void *arg);
/* eddy_run with options (NULL = defaults; a zero-filled eddy_opts is the defaults too). Same
 * returns as eddy_run; -EINVAL for a bad option (unknown backend, CUSTOM clock without a
 * clock, a negative autojump_threshold) or an unknown EDDY_BACKEND (printed on stderr with
 * the values it may take). */
EDDY_API int eddy_run_opts(int (*main)(void *), void *arg, const eddy_opts *opts);

/* The loop running on this thread, or NULL. */
EDDY_API eddy_loop *eddy_loop_current(void);

/* T3: monotonic time in ns, cached once per loop iteration (cheap). 0 outside a loop. */
EDDY_API int64_t eddy_now(void);
/* T3: re-read the clock now and update the cache. */
EDDY_API int64_t eddy_now_fresh(void);

/* X1: advance the virtual clock by ns (>= 0); timers due fire on the next iteration.
 * Returns 0; -EINVAL if the loop's clock is not virtual or ns < 0; -EPERM outside a loop. */
EDDY_API EDDY_WUR int eddy_clock_jump(int64_t ns);

/* ---- A9: callbacks on the loop thread ------------------------------------------------
 * Callbacks run on the loop thread in callback context: they must not block. A blocking
 * call made from a callback returns -EPERM. */

/* A callback timer; storage owned by the caller (no heap, no close-callback puzzles:
 * eddy_timer_stop returns only when the loop no longer references it). */
typedef struct eddy_timer {
    int64_t deadline;
    uint64_t seq;
    size_t heap_index; /* private */
    void (*fn)(void *);
    void *arg;
    const char *site; /* private: creation site, NULL for internal timers */
} eddy_timer;

/* Arm t to call fn(arg) at absolute time deadline (already armed: re-armed = reset).
 * Returns 0; -EPERM outside a loop thread; -EINVAL if fn is NULL; -ENOMEM if the timer heap
 * cannot grow. */
#define eddy_call_at(t, deadline, fn, arg) eddy__call_at((t), (deadline), (fn), (arg), EDDY__SITE)
/* Same, delay ns after eddy_now(), a duration: 0 is due now, EDDY_FOREVER (or any delay that
 * takes the deadline past the clock's range) arms a timer that never fires, pending until
 * stopped. Same returns, and -EINVAL for a negative delay. */
#define eddy_call_later(t, delay, fn, arg) \
    eddy__call_later((t), (delay), (fn), (arg), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__call_at(eddy_timer *t, int64_t deadline, void (*fn)(void *), void *arg,
                                    const char *site);
EDDY_API EDDY_WUR int eddy__call_later(eddy_timer *t, int64_t delay, void (*fn)(void *), void *arg,
                                       const char *site);
/* Disarm t. Returns true if it was armed (its callback will now never run). Safe on a timer
 * that already fired or was never armed (then returns false). */
EDDY_API bool eddy_timer_stop(eddy_timer *t);
/* True while t is armed. */
EDDY_API bool eddy_timer_is_pending(const eddy_timer *t);

/* Run fn(arg) on the loop thread soon (after currently ready work). Node from a per-loop
 * pool: no steady-state allocation. Returns 0; -EPERM outside a loop thread; -EINVAL if fn is
 * NULL; -ENOMEM. */
EDDY_API EDDY_WUR int eddy_call_soon(void (*fn)(void *), void *arg);

/* ---- fd readiness watchers ------------------------------------------------------------ */
enum { EDDY_READ = 1, EDDY_WRITE = 4, EDDY_ERR = 8, EDDY_HUP = 16 };

/* A level-triggered fd watcher, caller-owned. At most one watcher per direction per fd:
 * one reader and one writer may share an fd. */
typedef struct eddy_io {
    int fd;
    unsigned events;
    void (*cb)(struct eddy_io *w, unsigned revents);
    void *data;
    bool active;
    bool unref; /* private: does not keep the loop alive (internal watchers) */
    bool owned; /* private: an eddy-owned descriptor (the backend may keep its registration) */
    const char *site;
    void *be;   /* private: the backend's record of this watcher */
    eddy__handle handle; /* private */
} eddy_io;

/* Start calling cb(w, revents) whenever fd is ready for events (EDDY_READ|EDDY_WRITE);
 * revents may also carry EDDY_ERR/EDDY_HUP. Restarting an active watcher changes its events.
 * Returns 0; -EPERM outside a loop thread; -EINVAL for fd < 0 or no events; -EBUSY if another
 * watcher already watches this fd in that direction; -EBADF, -ENOMEM, -ENOSPC, -EPERM (fd
 * type not pollable, e.g. a regular file) from the backend. */
#define eddy_io_start(w, fd, events, cb, data) \
    eddy__io_start((w), (fd), (events), (cb), (data), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__io_start(eddy_io *w, int fd, unsigned events,
                                     void (*cb)(eddy_io *, unsigned), void *data, const char *site);
/* Stop w (no callback after this returns). Safe on an inactive watcher.
 * Closing an fd that had a watcher or an eddy_wait_fd waiter: stop its watchers, then call
 * eddy_fd_forget(fd) before close(fd). The loop drops kernel interest lazily (a stop and a
 * later restart cost no syscall; the registration is narrowed only when readiness nobody
 * wants is reported), so without the forget a new fd that reuses the number could stay
 * unregistered and its watchers never fire. */
EDDY_API void eddy_io_stop(eddy_io *w);

/* N5 (used by C8): suspend the calling task until fd is ready for events.
 * Returns the ready events (> 0); -ECANCELED/-ETIMEDOUT when cancelled; -EBUSY if another task
 * waits on fd in the same direction; -EPERM outside a task; the errors of eddy_io_start. */
EDDY_API EDDY_WUR int eddy_wait_fd(int fd, unsigned events);
/* N5: tell the loop fd is about to be closed: tasks waiting on it get -EBADF, and the
 * loop's kernel registration of fd is dropped now. Call before close(fd) for every fd that
 * was ever passed to eddy_wait_fd or eddy_io_start (see eddy_io_stop). Returns the number of
 * waiters woken (0 outside a loop or for an unknown fd). */
EDDY_API int eddy_fd_forget(int fd);

/* ---- thread-safe call queue (H3 substrate, used by C9 and A6) --------------------------- */

/* Caller-owned node for eddy_loop_post_ts: no allocation on any path. */
typedef struct eddy_ts_call {
    struct eddy_ts_call *next; /* private (the runtime reads and writes it atomically) */
    void (*fn)(void *);
    void *arg;
} eddy_ts_call;

/* From any thread: run c->fn(c->arg) on loop's thread as a callback. The node must stay valid
 * until the callback starts. Lock-free (MPSC); the loop is woken with one eventfd write at most
 * per sleep. The loop must stay alive until this call returns, not only until the callback
 * runs: hold a ref (eddy_loop_ref) across the call and drop it afterwards, never from inside
 * the posted callback alone (the loop could then end and be freed while this call still reads
 * it). Returns 0; -EINVAL if loop, c or c->fn is NULL; -ESHUTDOWN if the loop has finished
 * (only seen by a caller that holds a ref: eddy_run waits for the last unref). */
EDDY_API int eddy_loop_post_ts(eddy_loop *loop, eddy_ts_call *c);
/* From any thread: like eddy_loop_post_ts (same lifetime rule) with a node that eddy
 * allocates and recycles: the loop hands run nodes back through a per-loop free list, and
 * each calling thread refills a thread-local cache from it (freed when the thread exits), so
 * a steady stream allocates nothing.
 * Returns 0; -EINVAL if loop or fn is NULL; -ENOMEM; -ESHUTDOWN. */
EDDY_API EDDY_WUR int eddy_loop_call_ts(eddy_loop *loop, void (*fn)(void *), void *arg);
/* Keep loop alive while a foreign thread may still post to it (the deadlock detector
 * otherwise ends a loop whose tasks all wait for such posts). Pair each ref with an unref;
 * both are thread-safe. */
EDDY_API void eddy_loop_ref(eddy_loop *loop);
EDDY_API void eddy_loop_unref(eddy_loop *loop);

/* Per-loop statistics (D6 subset). */
struct eddy_loop_stats {
    uint64_t tasks_spawned, tasks_live, switches, polls, timers_fired, ts_calls;
    /* Times a task whose calls kept completing without suspending was made to yield (its
     * cooperative budget of 128 such calls was spent): see eddy_yield. */
    uint64_t coop_yields;
};
EDDY_API void eddy_loop_stats(struct eddy_loop_stats *out);
/* Name of the active backend ("epoll" or "io_uring"), or NULL outside a loop. */
EDDY_API const char *eddy_backend_name(void);
/* I1: can the backend called name (as for eddy_opts.backend) run on this machine? Sets one up
 * and tears it down again, as a loop would at its start. Any thread, inside a loop or not.
 * Returns 0 if it can; -EINVAL for NULL or an unknown name; -ENOTSUP if eddy was built
 * without it (io_uring without liburing); why the kernel refused it: -ENOSYS (no io_uring in
 * this kernel), -EPERM (forbidden: seccomp, kernel.io_uring_disabled), -EOPNOTSUPP (an
 * operation or feature eddy needs is missing: an older kernel), -ENOMEM, -EMFILE/-ENFILE. */
EDDY_API EDDY_WUR int eddy_backend_probe(const char *name);

#ifdef __cplusplus
}
#endif
#endif
