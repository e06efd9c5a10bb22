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
    EDDY_OPT_NO_SIGNALS = 1u << 0,   /* B9 opt-out: do not handle SIGINT/SIGTERM (by default
                                        the first cancels the root task — every top-level task
                                        of the loop then running; later ones start
                                        uncancelled — a second one kills the process:
                                        signal.h) */
    EDDY_OPT_FAIL_ON_LEAK = 1u << 1, /* D4 test mode: leaks make eddy_run return -ENOTRECOVERABLE */
    EDDY_OPT_QUIET = 1u << 2,        /* do not print the leak report (still counted) */
    EDDY_OPT_FIFO = 1u << 3,         /* ready tasks run in FIFO order whatever sched_seed and
                                        EDDY_SCHED_SEED say: for code (a test of the order
                                        itself) whose meaning depends on that order */
};

/* Options of eddy_run_opts. Three environment variables (docs/environment.md) apply to every
 * loop: EDDY_CLOCK (monotonic | virtual), EDDY_SCHED_SEED (a number), EDDY_BACKEND (a backend
 * name); names are matched without regard to case, unset or empty means not given. A value
 * that is not valid makes eddy_run print the variable, the value and the valid values on
 * stderr and return -EINVAL. */
/* EDDY_CLOCK=virtual runs a program written for the real clock on the virtual one, so its
 * sleeps and timeouts take no real time (demos, tests of whole programs). While every task
 * waits for time alone, the clock jumps to the next timer at once. While a task waits on a
 * descriptor (a socket, a pipe), a jump could reach the deadline of that very wait before a
 * real peer had time to answer; then the clock jumps only after every task has stayed blocked
 * for min(time to the next timer, EDDY_ENV_VIRTUAL_IO_WAIT) of real time: never faster than
 * the real clock for short gaps, and a peer always gets up to that long to reply. Programs that
 * choose the virtual clock themselves (eddy_opts) keep their own autojump_threshold. */
#define EDDY_ENV_VIRTUAL_IO_WAIT EDDY_SEC(1)

typedef struct eddy_opts {
    int clock_kind;              /* EDDY_CLOCK_*; env EDDY_CLOCK=virtual overrides MONOTONIC */
    const eddy_clock *clock;     /* for EDDY_CLOCK_CUSTOM */
    int64_t autojump_threshold;  /* virtual clock: jump to the next timer after this much real
                                    time with every task blocked; 0 = at once; EDDY_FOREVER =
                                    never (then only eddy_clock_jump moves it); negative:
                                    -EINVAL */
    uint64_t sched_seed;         /* X2: nonzero permutes ready-queue order reproducibly;
                                    0: env EDDY_SCHED_SEED, else FIFO (EDDY_OPT_FIFO pins
                                    FIFO whatever the environment says) */
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
 * it spawned have finished, check for leaks, return main's status. The one-call form of
 * eddy_loop_open, eddy_loop_spawn(main), eddy_loop_run_until and eddy_loop_close (below).
 * Returns: main's return value; -EBUSY if this thread already has a loop (running, or open
 * with eddy_loop_open); -EINVAL if main is NULL; -ENOMEM if the loop or the root task's stack
 * cannot be allocated; -EMFILE/-ENFILE if the backend's fds cannot be created; -ENOMEM/-ENOSPC
 * if the backend cannot register its own wake-up descriptor (ENOSPC: epoll's per-user watch
 * limit, fs.epoll.max_user_watches); -EDEADLK if every task blocked forever (nothing could
 * wake them: no timer, fd, thread or signal) — the tasks are cancelled first so they unwind,
 * and the task tree is printed; -EINTR if a task or callback called eddy_loop_stop before
 * main finished (main and the rest are then cancelled and unwound, as at eddy_loop_close);
 * -ENOTRECOVERABLE with EDDY_OPT_FAIL_ON_LEAK when handles were left open. */
EDDY_API int eddy_run(int (*main)(void *), void *arg);
/* eddy_run with options (NULL = defaults; a zero-filled eddy_opts is the defaults too). Same
 * returns as eddy_run; -EINVAL for a bad option (unknown backend, CUSTOM clock without a
 * clock, a negative autojump_threshold) or a bad environment variable (then also a message on
 * stderr naming it, its value and the valid values). */
EDDY_API int eddy_run_opts(int (*main)(void *), void *arg, const eddy_opts *opts);

/* ---- R4: one loop per core ----------------------------------------------------------------
 * eddy_run_workers runs main(arg) n times at once, each on a thread of its own with a loop of
 * its own (worker 0 on the calling thread), as eddy_run would: tasks never move between
 * workers. Connections are spread over workers by the kernel: each worker opens its own
 * listener on the same port with eddy_tcp_listen_opts.reuse_port (SO_REUSEPORT). Workers talk
 * through the thread-safe objects: eddy_uqueue (chan.h), eddy_uevent, eddy_promise_set_ts
 * (sync.h), eddy_loop_call_ts. The first SIGINT/SIGTERM cancels every worker's root (unless
 * the loops' options say EDDY_OPT_NO_SIGNALS), and so does the first worker whose main fails
 * (returns a negative status), as a failing child cancels a nursery. */
typedef struct eddy_run_workers_opts {
    bool pin_cpus;          /* pin worker i to the i-th CPU the process may run on (wrapping
                               around when there are more workers than CPUs); the calling
                               thread gets its own CPU set back when eddy_run_workers returns */
    const eddy_opts *loop;  /* every worker's loop options (NULL: the defaults) */
} eddy_run_workers_opts;
/* Run n workers (n <= 0: one per CPU the process may run on — its affinity mask, as taskset
 * sets it — or per online CPU if that cannot be read) and return once every one has
 * finished. Returns 0 if every main returned 0, else the first nonzero status in the order the
 * workers ended (a worker's status is what eddy_run would return for it: main's value,
 * -EDEADLK, -ENOTRECOVERABLE, a loop that could not be opened); a thread that could not be
 * made (-EAGAIN) counts as a failed worker — the started ones are cancelled, worker 0 does not
 * run. -EINVAL if main is NULL or n > 4096; -EBUSY if this thread already has a loop; -ENOMEM. */
EDDY_API int eddy_run_workers(int n, int (*main)(void *), void *arg);
/* eddy_run_workers with options (NULL: the defaults, all zero). Same returns; with pin_cpus, a
 * worker that could not be pinned fails with pthread_setaffinity_np's error (-EINVAL). */
EDDY_API int eddy_run_workers_with(int n, int (*main)(void *), void *arg,
                                   const eddy_run_workers_opts *o);
/* The calling loop's worker index, in [0, n) under eddy_run_workers; 0 in any other loop
 * (eddy_run, eddy_loop_open); -EPERM outside a loop. */
EDDY_API int eddy_worker_index(void);
/* The number of workers n of the calling loop's eddy_run_workers (the count it chose when
 * called with n <= 0); 1 in any other loop; -EPERM outside a loop. What a worker compares with
 * to know that every worker has done something (all listen, say). */
EDDY_API int eddy_worker_count(void);

/* The loop of this thread (running, or open with eddy_loop_open), or NULL. */
EDDY_API eddy_loop *eddy_loop_current(void);

/* ---- A1, I2: a loop that outlives its runs ------------------------------------------------
 * eddy_run is one run of a loop made for it. A loop can also be opened, run several times and
 * closed, keeping its tasks, timers, watchers and callbacks from one run to the next — the
 * shape of asyncio's loop (run_until_complete, run_forever, stop, close) and of an embedded
 * loop driven by another event loop (eddy_loop_fd/timeout/step, below).
 *
 * One loop per thread: a loop belongs to the thread that opened it, and is "the loop of this
 * thread" (eddy_loop_current) from open to close, running or not — eddy's calls that take no
 * loop argument (eddy_call_soon, eddy_call_later, eddy_io_start, eddy_now, ...) act on it, so
 * code running between two runs (the host program, a GLib callback) may start timers and
 * watchers and queue callbacks, and they run at the next run. Every call below returns
 * -EPERM when given another thread's loop and -EBADF when given a closed one (or a pointer
 * that never was a loop); the handle of a closed loop is invalid, and a later loop may be
 * given the same address, so a program (a language binding's is_closed) keeps its own closed
 * flag rather than asking eddy about a closed handle.
 *
 * Tasks: a loop's tasks hang under its top-level tasks (eddy_loop_spawn, task.h), which start
 * at the next run; a run either goes on until one of them has finished (eddy_loop_run_until)
 * or until eddy_loop_stop (eddy_loop_run). What a run leaves unfinished — tasks blocked,
 * timers armed, watchers started, callbacks queued — is there for the next run. */

/* Open a loop for the calling thread, with options opts (NULL: the defaults, as for eddy_run:
 * the backend, the clock, the SIGINT/SIGTERM handling — an embedded loop usually passes
 * EDDY_OPT_NO_SIGNALS and leaves the signals to its host). *out receives it; it is this
 * thread's loop until eddy_loop_close. Nothing runs until it is run (or stepped).
 * Returns 0; -EINVAL if out is NULL or for a bad option (as eddy_run_opts); -EBUSY if this
 * thread already has a loop (open, or running in eddy_run); -ENOMEM; -EMFILE/-ENFILE (the
 * backend's descriptors); -ENOSPC (as eddy_run: the backend's wake-up descriptor). */
EDDY_API EDDY_WUR int eddy_loop_open(eddy_loop **out, const eddy_opts *opts);
/* Close l, on its thread, outside its runs: cancel every unfinished task and run the loop
 * until they have unwound (a task's stack holds what it must release, so it is never freed
 * under it), release the top-level tasks nobody joined, run the io layer's per-loop clean-up,
 * wait until no other thread holds a ref (eddy_loop_ref), report what was left open (the leak
 * report: handles, armed timers; EDDY_OPT_QUIET: counted only), restore the signal handling
 * and free everything. Callbacks still queued are dropped (asyncio's close does the same).
 * The handle is invalid afterwards, whatever the return, except for -EINVAL, -EPERM, -EBADF
 * and -EBUSY, which change nothing.
 * Returns 0; -ENOTRECOVERABLE with EDDY_OPT_FAIL_ON_LEAK when handles or timers were left;
 * -EDEADLK if some tasks could not be unwound even when cancelled (they wait, uncancellably,
 * on each other: their stacks are left allocated on purpose; the task tree is printed);
 * -EINVAL if l is NULL; -EPERM from another thread; -EBADF if l is closed; -EBUSY from inside
 * one of l's runs (a task or a callback: asyncio's "cannot close a running loop"). */
EDDY_API EDDY_WUR int eddy_loop_close(eddy_loop *l);

/* Run l (asyncio's run_forever) until eddy_loop_stop is called — from one of its tasks or
 * callbacks, or before this call (then the run is a single iteration that does not wait, as
 * asyncio's). A stop called during the run ends it as soon as the callback or task that
 * called it gives the loop back (returns, or blocks): the tasks and callbacks still queued
 * stay queued for the next run.
 * Returns 0 once stopped; -EDEADLK if nothing could ever stop it: no task, callback, timer,
 * watcher or other thread (eddy_loop_ref) could run again — blocked tasks are cancelled first
 * (the task tree is printed) and the run returns when even they cannot go on; -EINVAL if l is
 * NULL; -EPERM on another thread; -EBADF if l is closed; -EBUSY if l is already running (a
 * nested run from one of its tasks or callbacks). */
EDDY_API EDDY_WUR int eddy_loop_run(eddy_loop *l);
/* Run l until top-level task t (eddy_loop_spawn with .handle) has finished (asyncio's
 * run_until_complete), then store its return value in *status (if status is not NULL) and
 * release t. A t already finished returns at once, running nothing. The other tasks stay as
 * they are, for later runs. When every task blocks forever (a deadlock) they are all
 * cancelled so they unwind (the task tree is printed): t then finishes with its cancel code.
 * Returns 0 (t released); -EINTR if eddy_loop_stop ended the run first (t keeps running at
 * the next run; asyncio's "stopped before the future completed"); -EDEADLK if t could not
 * finish even cancelled (see eddy_loop_close) — in both cases t stays valid; -EINVAL if l or t
 * is NULL, t is not a joinable top-level task of l, or it is already joined or being joined;
 * -EPERM, -EBADF, -EBUSY as for eddy_loop_run. */
EDDY_API EDDY_WUR int eddy_loop_run_until(eddy_loop *l, eddy_task *t, int *status);
/* End l's current run once the calling task or callback gives the loop back, or, called
 * between runs, make the next run (eddy_loop_run, or eddy_loop_run_until with t unfinished) a
 * single iteration that does not wait. Idempotent until that run ends. A step (below) is one
 * iteration anyway: a stop asked before or during it is met by it (and ends it early, as a
 * run). From another thread, post it: eddy_loop_call_ts with a callback that calls
 * eddy_loop_stop.
 * Returns 0; -EINVAL if l is NULL; -EPERM from another thread; -EBADF if l is closed. */
EDDY_API EDDY_WUR int eddy_loop_stop(eddy_loop *l);
/* True while l is inside eddy_loop_run, eddy_loop_run_until, eddy_loop_step or eddy_run;
 * false for NULL. From any thread that knows l is open (a stale answer from another thread
 * is a race the caller must accept). */
EDDY_API bool eddy_loop_is_running(const eddy_loop *l);

/* ---- I2: embedding — another event loop drives eddy (GLib, a game loop, a poll() loop) ----
 * The host waits for eddy_loop_fd to become readable (POLLIN), for at most
 * eddy_loop_timeout, and then calls eddy_loop_step; it does this again for as long as eddy
 * has something to do. Tasks, timers, watchers and callbacks run inside eddy_loop_step, on
 * the host's thread. Like libuv's backend fd and trio's guest mode:
 *
 *   for (;;) {
 *       int64_t t = eddy_loop_timeout(l);                 // ns; EDDY_FOREVER: no limit
 *       struct pollfd p = {.fd = eddy_loop_fd(l), .events = POLLIN};
 *       poll(&p, 1, t == EDDY_FOREVER ? -1 : (int)((t + 999999) / 1000000));
 *       if (eddy_loop_step(l) < 0) break;
 *   }
 *
 * A step never waits and never reports a deadlock: the host may still call into the loop
 * between steps. examples/glib_embed.c runs eddy tasks in a GLib main loop. */

/* The descriptor that becomes readable when l has work: the epoll descriptor (with the
 * loop's wake-up eventfd inside it) on epoll, an eventfd the ring signals on io_uring
 * (registered with the ring at the first call). It stays the same for l's life; l owns it:
 * never read it or close it. Another thread's eddy_loop_post_ts/call_ts makes it readable
 * too. The same test as the loop's own: level-triggered, so after a step it is readable again
 * only if there is more to do.
 * Returns the descriptor (>= 0); -EINVAL if l is NULL; -EPERM from another thread; -EBADF if l
 * is closed; -ENOMEM, -EMFILE/-ENFILE (io_uring: the eventfd could not be made or
 * registered). */
EDDY_API EDDY_WUR int eddy_loop_fd(eddy_loop *l);
/* How long the host may wait for eddy_loop_fd before it calls eddy_loop_step, a duration in
 * nanoseconds: 0 if l has work now (ready tasks or callbacks, posts from other threads, a
 * stop, a due timer), the time to l's next timer, or EDDY_FOREVER if only the descriptor can
 * bring work. On the virtual clock a pending timer gives the autojump threshold (0 by
 * default: the next step moves the clock to it). Call it right before each wait: it also
 * hands the kernel what the loop queued since the last step (io_uring submissions), without
 * which the descriptor would not become readable for them.
 * Returns the duration (>= 0); -EINVAL if l is NULL; -EPERM from another thread; -EBADF if l
 * is closed. */
EDDY_API int64_t eddy_loop_timeout(eddy_loop *l);
/* Run one iteration of l without waiting: take what the backend has (readiness,
 * completions, the descriptor's wake-ups), the calls posted from other threads, due timers,
 * then up to poll_interval ready tasks and callbacks. If work is left over, the descriptor is
 * made readable again, so a host that waits only on the descriptor still comes back.
 * Returns 0; -EINVAL if l is NULL; -EPERM from another thread; -EBADF if l is closed; -EBUSY
 * if l is running (a step from one of its own tasks or callbacks). */
EDDY_API EDDY_WUR int eddy_loop_step(eddy_loop *l);

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

/* Run fn(arg) on the loop thread soon (after currently ready work), callbacks in the order
 * they were posted (a scheduler seed, X2, permutes that order with the rest of the ready
 * queue). Node from a per-loop pool: no steady-state allocation. Returns 0; -EPERM outside a loop thread; -EINVAL if fn is
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
 * waits on fd in the same direction; -EPERM outside a task; the errors of eddy_io_start
 * (-EINVAL, -EBADF, -ENOMEM, -ENOSPC, -EPERM for a descriptor that cannot be polled). */
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
 * allocates and recycles: the loop hands run nodes back through a per-loop free list, each
 * calling thread refills a thread-local cache from it, and nodes are carved from slabs and
 * never returned to malloc (a finished loop's and an exiting thread's nodes serve the next
 * ones), so a steady stream allocates nothing and the memory kept is the process's peak
 * number of these calls in flight at once.
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
 * this kernel, or an older one without an operation or feature eddy needs), -EPERM
 * (forbidden: seccomp, kernel.io_uring_disabled), -ENOMEM, -EMFILE/-ENFILE. */
EDDY_API EDDY_WUR int eddy_backend_probe(const char *name);

#ifdef __cplusplus
}
#endif
#endif
