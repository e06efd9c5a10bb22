/* eddy internals shared by the loop and task layers. Never installed.
 *
 * Blocking protocol (every blocking primitive is built on it):
 *   1. put a waiter for the current task on the object's wait list (eddy__waitq or own list);
 *   2. rc = eddy__park(&wait);
 *   3. rc is the cancel code after wait.cancel has undone step 1, or what the waker passed to
 *      eddy__wake after unlinking the waiter itself (a primitive's own errors are negative too).
 * eddy__park checks cancellation first (level-triggered) and never suspends if cancelled.
 * Either way a cancelled park runs wait.cancel exactly once, before it returns: when the task
 * was already cancelled on arrival, and when a cancel scope wakes it while parked. So a caller
 * has nothing to undo by hand on any path; the hook must work in both cases (it may run before
 * the task ever suspended). A waker's wake is final: a task made ready by it is no longer
 * blocked, so a cancellation that comes before it runs cannot reach it (see scope.c). */
#ifndef EDDY_INTERNAL_H
#define EDDY_INTERNAL_H

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "arch/ctx.h"
#include "arch/stack.h"
#include "eddy.h"

#define EDDY__HIDDEN __attribute__((visibility("hidden")))
#define eddy__likely(x) __builtin_expect(!!(x), 1)
#define eddy__unlikely(x) __builtin_expect(!!(x), 0)
#define eddy__container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

/* ---- circular doubly linked lists ------------------------------------------------------ */
static inline void eddy__list_init(eddy__link *h) { h->prev = h->next = h; }
static inline bool eddy__list_empty(const eddy__link *h) { return h->next == h; }
static inline bool eddy__linked(const eddy__link *l) { return l->next != NULL && l->next != l; }
static inline void eddy__list_insert_before(eddy__link *pos, eddy__link *l)
{
    l->next = pos;
    l->prev = pos->prev;
    pos->prev->next = l;
    pos->prev = l;
}
static inline void eddy__list_push_back(eddy__link *h, eddy__link *l) { eddy__list_insert_before(h, l); }
static inline void eddy__list_push_front(eddy__link *h, eddy__link *l) { eddy__list_insert_before(h->next, l); }
static inline void eddy__list_remove(eddy__link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->next = l->prev = l; /* self-linked = unlinked; removing twice is harmless */
}
static inline eddy__link *eddy__list_pop_front(eddy__link *h)
{
    if (eddy__list_empty(h)) return NULL;
    eddy__link *l = h->next;
    eddy__list_remove(l);
    return l;
}

/* ---- time arithmetic ------------------------------------------------------------------ */
/* The time d (a duration, >= 0) after t, saturating at EDDY_FOREVER: a deadline past the
 * clock's range is "never". Every "time + duration" in the tree goes through this (a plain
 * add overflows into the past: signed overflow is undefined, and "t + d < t" checks get folded
 * away by the compiler). A negative d gives a time before t, down to INT64_MIN. */
static inline int64_t eddy__time_add(int64_t t, int64_t d)
{
    int64_t r;
    if (__builtin_add_overflow(t, d, &r)) return d > 0 ? EDDY_FOREVER : INT64_MIN;
    return r;
}

/* ---- run queue items ------------------------------------------------------------------- */
/* A ready-queue entry: either a task (fn == NULL) or a callback. */
typedef struct eddy__work {
    eddy__link link;
    void (*fn)(struct eddy__work *);
} eddy__work;

/* ---- waits ----------------------------------------------------------------------------- */
typedef struct eddy__wait {
    const char *reason;  /* shown by eddy_dump: "sleep", "mutex", "chan recv", ... */
    const void *obj;     /* the object waited on, shown as ch=0x... */
    int64_t deadline;    /* for eddy_dump only (EDDY_FOREVER/0 = none) */
    /* Called when cancellation wakes the task, before it runs: unlink from the object. */
    void (*cancel)(eddy_task *t, void *arg);
    void *arg;
    bool uncancellable;  /* nursery close and similar: only an explicit wake ends it */
} eddy__wait;

/* Generic FIFO wait queue for sync primitives. */
typedef struct eddy__waitq {
    eddy__link head;
} eddy__waitq;
typedef struct eddy__waiter {
    eddy__link link;
    eddy_task *task;
    void *data; /* primitive-specific (e.g. where a channel copies an element) */
    int rc;
} eddy__waiter;

enum { EDDY__READY = 1, EDDY__RUNNING, EDDY__BLOCKED, EDDY__DONE };
enum {
    EDDY__T_JOINABLE = 1u << 0,
    EDDY__T_JOINED = 1u << 1,    /* a joiner waits or joined (or eddy_loop_run_until waits) */
    EDDY__T_PRESTART = 1u << 2,  /* started by eddy_start, eddy_started not yet called */
    EDDY__T_ROOT = 1u << 3,      /* a top-level task of its loop (eddy_loop_spawn): no nursery */
    EDDY__T_HANDED = 1u << 4,    /* returned by eddy_nursery_next_done, not yet joined */
};

typedef struct eddy__start_rec eddy__start_rec;

/* Where a task's stack size is set, so a stack overflow names the option that fixes it (the
 * user never wrote the spawn of a server's handler or of eddy_run's main task). */
enum {
    EDDY__STACK_FROM_SPAWN = 0, /* eddy_spawn/eddy_start: eddy_spawn_opts.stack_size */
    EDDY__STACK_FROM_SERVE,     /* an eddy_serve handler: eddy_serve_opts.stack_size */
    EDDY__STACK_FROM_RUN,       /* eddy_run's main task: eddy_opts.stack_size */
    EDDY__STACK_FROM_LOOP,      /* a task the library spawns with the loop's default
                                   (eddy_gather, connect attempts, eddy_process_run's
                                   readers): eddy_opts.stack_size */
    EDDY__STACK_FROM_HTTP,      /* a connection or request task of eddy_http_serve:
                                   eddy_http_serve_opts.stack_size */
};

/* A task. Lives at the top of its own stack: spawning allocates nothing else. */
struct eddy_task {
    eddy__ctx ctx;
    eddy__work work;              /* ready-queue entry (fn == NULL) */
    eddy_loop *loop;
    int (*fn)(void *);
    void *arg;
    int status;
    int wake_rc;
    uint8_t state;
    uint8_t flags;
    uint8_t stack_from;           /* EDDY__STACK_FROM_*: for the overflow message */
    int coop;                     /* cooperative budget left (see eddy__coop_spend) */
    eddy_cancel_scope own;        /* the task's own scope (eddy_task_cancel) */
    eddy_cancel_scope *cs;        /* innermost scope */
    eddy_nursery *nursery;
    eddy__link nlink;             /* in nursery->children, later nursery->done */
    const eddy__wait *wait;
    eddy_task *joiner;
    eddy__start_rec *start;
    uint64_t id;
    int64_t spawned_at;
    const char *site;
    const char *error_detail;
    eddy__stack stack;
    void *keys[EDDY_MAX_KEYS];
    char name[EDDY_TASK_NAME_MAX];
#if defined(__SANITIZE_ADDRESS__)
    void *asan_fake;
#endif
#if defined(__SANITIZE_THREAD__)
    void *tsan_fiber;
#endif
};

/* ---- the I/O backend table (I1) -------------------------------------------------------
 * A backend owns everything the loop tells the kernel about I/O: its state lives behind
 * l->be_data, private to its file (epoll.c, uring.c), and the rest of the runtime reaches it
 * only through this table. Tasks reach it through the operation layer (loop/op.h), callbacks
 * through eddy_io watchers (loop/io.c). */
typedef struct eddy__op eddy__op;
struct eddy__feed;
typedef struct eddy__backend {
    const char *name;
    /* Set up l->be_data. 0, or a negative errno with *why saying what failed (a static
     * string): the loop then falls back to the next backend (loop.c). */
    int (*init)(eddy_loop *l, const char **why);
    void (*destroy)(eddy_loop *l);
    /* Wait up to timeout_ns (-1 = forever, 0 = do not wait) for readiness and completions
     * and dispatch them: wake the tasks whose operations completed, run the watchers'
     * callbacks. Returns how many events it dispatched, or a negative errno. */
    int (*poll)(eddy_loop *l, int64_t timeout_ns);
    /* From any thread: make the current (or next) poll return. */
    void (*wake)(eddy_loop *l);
    /* A descriptor that polls readable whenever poll would find work: what a foreign event
     * loop waits on to drive this one (embedding: eddy_loop_fd). Made on the first call if
     * the backend needs one of its own; a negative errno if that fails. */
    int (*fd)(eddy_loop *l);
    /* Hand the kernel what the backend queued without telling it yet (io_uring: submit the
     * SQEs), without waiting or dispatching: called when the loop's thread stops running it,
     * before a host waits on fd. NULL if nothing is ever queued (epoll). */
    void (*flush)(eddy_loop *l);
    /* Watchers (eddy_io, callback form): start w, or change the events of a started w, to
     * events (w->fd, w->cb set). 0; -EBUSY if another watcher has that direction of the
     * descriptor; the kernel's refusal (-EPERM for a regular file, -EBADF, -ENOMEM). */
    int (*watch)(eddy_loop *l, eddy_io *w, unsigned events);
    /* Stop w: no callback after this returns. */
    void (*unwatch)(eddy_loop *l, eddy_io *w);
    /* Operations (task form; loop/op.h): run op for op->task until it completes. */
    ssize_t (*run)(eddy_loop *l, eddy__op *op);
    /* op's descriptor is being closed: make op end with -EBADF (once the kernel is done). */
    void (*interrupt)(eddy_loop *l, eddy__op *op);
    /* fd is about to be closed: interrupt borrowed waits on it (eddy_wait_fd: -EBADF) and
     * drop anything kept about it. Returns the number of waits interrupted. */
    int (*forget)(eddy_loop *l, int fd);
    /* Receive feeds (loop/op.h): start, pause (final: for good, the socket is closing). */
    int (*feed_start)(eddy_loop *l, struct eddy__feed *f);
    void (*feed_stop)(eddy_loop *l, struct eddy__feed *f, bool final);
} eddy__backend;

extern const eddy__backend eddy__backend_epoll EDDY__HIDDEN;
/* backend.c: pick l->be from asked (eddy_opts.backend, NULL = not given) and EDDY_BACKEND
 * (0, or -EINVAL for an unknown name: the environment's is reported on stderr); set it up,
 * falling back to epoll when the chosen backend cannot run here (0 or epoll's error). */
EDDY__HIDDEN int eddy__backend_choose(eddy_loop *l, const char *asked);
EDDY__HIDDEN int eddy__backend_init(eddy_loop *l);
/* A debug line on stderr when EDDY_DEBUG=1 ("eddy: debug: ..."). */
EDDY__HIDDEN void eddy__debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#ifdef EDDY_HAVE_URING
extern const eddy__backend eddy__backend_uring EDDY__HIDDEN;
#endif

typedef struct eddy__heap_ent {
    int64_t deadline;
    eddy_timer *t;
} eddy__heap_ent;

/* Run once when the loop ends: after the root task has finished (or the loop gave up on a
 * deadlock), before the leak check, on the loop thread in scheduler context. For per-loop state
 * created lazily by a layer above (the io layer's c-ares channel): that state must release its
 * watchers and timers before they would be reported as leaks. Caller-owned node; hooks run
 * last-registered first; a module that ends its state early unlinks its node itself. */
typedef struct eddy__exit_hook {
    eddy__link link;
    void (*fn)(struct eddy__exit_hook *h);
} eddy__exit_hook;

typedef struct eddy__soon {
    eddy__work work;
    void (*fn)(void *);
    void *arg;
    struct eddy__soon *next_free;
} eddy__soon;

struct eddy_loop {
    eddy__ctx sched_ctx;          /* the OS thread's own stack: polls, timers, callbacks */
#if defined(__SANITIZE_ADDRESS__)
    void *sched_asan_fake;
    const void *sched_stack_bottom;
    size_t sched_stack_size;
#endif
#if defined(__SANITIZE_THREAD__)
    void *sched_tsan_fiber;
#endif
    eddy_task *current;           /* running task, NULL in scheduler/callback context */
    eddy_task *dead;              /* finished task whose stack is freed after the switch */
    eddy_cancel_scope root_cs;    /* every task's scopes hang under it */
    eddy__link ready;
    size_t nready;
    int budget, poll_interval;

    /* lifecycle (lifecycle.c): the loop outlives its runs (eddy_loop_open ... close) */
    eddy__link tops;              /* top-level tasks (eddy_loop_spawn) not yet released */
    size_t ntops_live;            /* of those, the ones not finished */
    _Atomic bool running;         /* inside eddy_loop_run, run_until or step */
    bool stop_req;                /* eddy_loop_stop: the run ends after this iteration */
    bool blocking;                /* this run may wait in the backend (not a step) */
    bool deadlocked;              /* this run found a deadlock and cancelled the tasks */
    bool run_over;                /* this run cannot go on (deadlock): it returns */
    bool abandoned;               /* tasks even cancellation could not unblock: left as they
                                     are, their stacks leaked on purpose */
    eddy__link reg_link;          /* in the process's list of open loops */
    int worker_index;             /* eddy_worker_index (workers.c); 0 otherwise */
    struct eddy__workers *group;  /* eddy_run_workers' group, NULL otherwise */

    /* time */
    int64_t now;
    int clock_kind;
    int64_t vnow;
    int64_t autojump;
    /* Virtual clock from EDDY_CLOCK=virtual: while a task waits on a descriptor, autojump
     * first waits this much real time (ns) for the I/O, 0 = not applied (see poll_once). */
    int64_t autojump_io;
    int64_t idle_since;           /* real time (ns) every task has been blocked since, or 0 */
    eddy_clock clock;

    /* timers: 4-ary min-heap on (deadline, seq) */
    eddy__heap_ent *heap;
    size_t nheap, heap_cap;
    uint64_t timer_seq;

    /* backend: its state is its own (be_data), see eddy__backend */
    const eddy__backend *be;
    void *be_data;
    size_t nwatch_ref;            /* watchers and operations in flight that keep the loop alive */

    /* cross-thread. Each group sits on a cache line of its own (the loop is allocated 64-byte
     * aligned), so what producers write and what the loop writes on every iteration never
     * share a line: producers CAS ts_head and read finished; the loop writes sleeping and
     * wake_pending once per poll and producers read them only when they found the queue
     * empty; ts_free moves once per drain. */
    _Alignas(64) _Atomic(eddy_ts_call *) ts_head; /* MPSC stack, reversed when drained */
    _Atomic bool finished;
    _Alignas(64) _Atomic int sleeping;
    _Atomic int wake_pending;
    _Alignas(64) _Atomic long ext_refs;
    _Atomic int ts_busy;          /* foreign threads inside eddy_loop_unref: teardown waits for 0 */
    /* eddy_loop_call_ts nodes (loop.c) the loop has run: pushed a drain's worth at a time,
     * taken whole by callers. */
    _Alignas(64) _Atomic(struct eddy__call_node *) ts_free;

    /* callbacks */
    _Alignas(64) eddy__soon *soon_free;
    size_t nsoon_blocks;
    void **soon_blocks;
    bool in_callback;

    /* handles & bookkeeping */
    eddy__link handles;
    eddy__link exit_hooks;        /* eddy__exit_hook, run at the end of eddy_run */
    size_t ntasks;
    uint64_t next_task_id;
    uint64_t rng;
    unsigned opt_flags;
    size_t default_stack;
    void *loopvars[EDDY_MAX_KEYS];
    struct eddy_loop_stats stats;
    /* Signals (src/sys/sigdisp.c): the dispatcher sets a bit (1 << (sig - 1)) for each signal
     * this loop subscribed to, under its mutex, then wakes the loop; the loop takes them in
     * eddy__signals_check. sighub is this loop's subscription record (NULL: none). */
    _Atomic uint64_t sig_pending;
    struct eddy__sighub *sighub;
};

/* initial-exec: in libeddy.so a plain __thread access calls __tls_get_addr on every use. */
extern __thread eddy_loop *eddy__tl_loop EDDY__HIDDEN __attribute__((tls_model("initial-exec")));

/* ---- loop internals -------------------------------------------------------------------- */
static inline void eddy__ready_task(eddy_loop *l, eddy_task *t, bool front)
{
    t->state = EDDY__READY;
    if (front)
        eddy__list_push_front(&l->ready, &t->work.link);
    else
        eddy__list_push_back(&l->ready, &t->work.link);
    l->nready++;
}
/* Switch away from the current task to whatever runs next (the current task must already be
 * queued, blocked or dead). */
EDDY__HIDDEN void eddy__schedule(eddy_loop *l);
EDDY__HIDDEN void eddy__after_switch(eddy_loop *l);
/* The rest of eddy_yield once t (current, not in a callback) passed its cancellation check:
 * queue t, run the next ready item. Returns 0. */
EDDY__HIDDEN int eddy__yield(eddy_loop *l, eddy_task *t);
EDDY__HIDDEN void eddy__switch_to(eddy_loop *l, eddy__ctx *from, eddy_task *from_task,
                                  eddy_task *to_task, bool from_dying);
EDDY__HIDDEN int64_t eddy__clock_read(eddy_loop *l);
EDDY__HIDDEN int eddy__timer_start(eddy_loop *l, eddy_timer *t, int64_t deadline,
                                   void (*fn)(void *), void *arg);
EDDY__HIDDEN bool eddy__timer_stop(eddy_loop *l, eddy_timer *t);
EDDY__HIDDEN void eddy__timers_run(eddy_loop *l);
EDDY__HIDDEN int64_t eddy__timers_next(eddy_loop *l);
/* Call a watcher's callback for revents (in callback context). For backends. */
static inline void eddy__io_call(eddy_loop *l, eddy_io *w, unsigned revents)
{
    bool was = l->in_callback;
    l->in_callback = true;
    w->cb(w, revents);
    l->in_callback = was;
}
EDDY__HIDDEN void eddy__ts_drain(eddy_loop *l);
EDDY__HIDDEN void eddy__ts_free_nodes(eddy_loop *l);
/* One iteration of the scheduler (loop.c): poll the backend (waiting only when l->blocking),
 * then cross-thread calls, signals, due timers and up to poll_interval ready items. Sets
 * l->run_over when a blocking run found that nothing could ever happen again. */
EDDY__HIDDEN void eddy__loop_iterate(eddy_loop *l);
/* How long the loop would wait in its next poll (0: not at all; -1: until woken). */
EDDY__HIDDEN int64_t eddy__loop_sleep_for(eddy_loop *l);
/* Cancel every unfinished top-level task (loop.c). */
EDDY__HIDDEN void eddy__loop_cancel_tasks(eddy_loop *l);
/* A top-level task (no nursery) has finished: called on its stack as it exits (lifecycle.c). */
EDDY__HIDDEN void eddy__loop_task_exit(eddy_task *t);
/* eddy_run's body on l, a loop just opened on this thread: spawn main_fn(arg) as the root
 * task "main" (site: its spawn site), call ready(l, ctx) if given, run until main has
 * finished, close l. Returns as eddy_run. */
EDDY__HIDDEN int eddy__run_on(eddy_loop *l, int (*main_fn)(void *), void *arg, const char *site,
                              void (*ready)(eddy_loop *l, void *ctx), void *ctx);
/* eddy_run_workers' group (workers.c): cancel every worker's root, from any thread. */
EDDY__HIDDEN void eddy__workers_cancel(struct eddy__workers *g);
/* Slabs of eddy_loop_call_ts nodes allocated so far in the process (tests). */
EDDY__HIDDEN size_t eddy__call_ts_slabs(void);
EDDY__HIDDEN void eddy__handle_add(eddy_loop *l, eddy__handle *h, const char *kind, const char *site);
EDDY__HIDDEN void eddy__handle_del(eddy__handle *h);
static inline void eddy__loop_at_exit(eddy_loop *l, eddy__exit_hook *h)
{
    eddy__list_push_front(&l->exit_hooks, &h->link);
}
/* Test hook (NULL outside tests): called on the loop thread in every iteration that is about to
 * wait in the backend, right before the loop announces its sleep to other threads. A test
 * makes a foreign thread act exactly there (the last eddy_loop_unref, in
 * tests/test_core_loop.c), where nothing else can put it on purpose. */
extern void (*eddy__before_sleep_hook)(eddy_loop *l) EDDY__HIDDEN;
/* Wake l from another thread if it sleeps (or is about to) in the backend poll. The caller
 * must know l stays alive for the call (see eddy_loop_post_ts). */
EDDY__HIDDEN void eddy__loop_wake(eddy_loop *l);
/* eddy_run's SIGINT/SIGTERM handling (src/sys/sigdisp.c): subscribe l at start (0 or a
 * negative errno), act on pending signals once per iteration, and drop every subscription of
 * l before it is freed. */
EDDY__HIDDEN int eddy__signals_install(eddy_loop *l);
EDDY__HIDDEN void eddy__signals_check(eddy_loop *l);
EDDY__HIDDEN void eddy__signals_restore(eddy_loop *l);

/* ---- task internals -------------------------------------------------------------------- */
static inline eddy_loop *eddy__loop(void) { return eddy__tl_loop; }
static inline eddy_task *eddy__cur(void)
{
    eddy_loop *l = eddy__tl_loop;
    return l ? l->current : NULL;
}
/* Suspend the current task until eddy__wake. See the protocol at the top. Returns -EPERM
 * outside a task (callback context included). */
EDDY__HIDDEN int eddy__park(const eddy__wait *w);
/* Make a blocked task ready; its eddy__park returns rc. Returns false if t was not blocked. */
EDDY__HIDDEN bool eddy__wake(eddy_task *t, int rc);
/* 0 or the cancel code that applies to t now. */
EDDY__HIDDEN int eddy__cancel_code_slow(eddy_task *t);
static inline int eddy__cancel_code(eddy_task *t)
{
    const eddy_cancel_scope *in = t->cs;
    /* Fast path, taken by every checkpoint of a task that is not cancelled. */
    if (eddy__likely(!in->eff_cancelled && in->eff_deadline > t->loop->now)) return 0;
    return eddy__cancel_code_slow(t);
}
EDDY__HIDDEN void eddy__scope_attach(eddy_cancel_scope *cs, eddy_cancel_scope *parent,
                                     eddy_task *owner, unsigned flags, const char *site);
EDDY__HIDDEN void eddy__scope_detach(eddy_cancel_scope *cs);
EDDY__HIDDEN void eddy__scope_cancel_code(eddy_cancel_scope *cs, int code);
EDDY__HIDDEN void eddy__task_exit_to_nursery(eddy_task *t);
EDDY__HIDDEN void eddy__task_release(eddy_task *t);
EDDY__HIDDEN int eddy__task_new(eddy_loop *l, eddy_nursery *n, int (*fn)(void *), void *arg,
                                const eddy_spawn_opts *o, const char *site, eddy_task **out);
/* eddy__spawn for the library's own spawns: stack_from (EDDY__STACK_FROM_*) says which option
 * sets the child's stack size, site is the user's call that led to the spawn. */
EDDY__HIDDEN int eddy__spawn_from(eddy_nursery *n, int (*fn)(void *), void *arg,
                                  const eddy_spawn_opts *o, const char *site, int stack_from);
/* eddy__serve for the library's own servers (the HTTP server): stack_from (EDDY__STACK_FROM_*)
 * and site are what a handler's stack overflow names. */
EDDY__HIDDEN int eddy__serve_from(eddy_listener *l, eddy_conn_handler handler, void *arg,
                                  const eddy_serve_opts *o, const char *site, int stack_from);
EDDY__HIDDEN const char *eddy__state_name(const eddy_task *t);
EDDY__HIDDEN void eddy__fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* The stack-overflow report for this thread's loop: install when a loop starts, release when
 * it ends (the alternate signal stack is freed with the thread's last loop). */
EDDY__HIDDEN void eddy__overflow_handler_install(void);
/* Environment variables (src/loop/env.c). Each returns 1 if var is set to a valid value
 * (stored in *index / *out), 0 if it is unset or empty, -EINVAL after printing to stderr what
 * is wrong and what is valid. eddy__env_choice matches names without regard to case;
 * eddy__env_u64 takes decimal or 0x hex, meaning says what the number is for. */
EDDY__HIDDEN int eddy__env_choice(const char *var, const char *const *names, size_t n, size_t *index);
EDDY__HIDDEN int eddy__env_u64(const char *var, const char *meaning, uint64_t *out);
/* The index of v among names (no regard to case): true and *index set, or false. */
EDDY__HIDDEN bool eddy__name_index(const char *v, const char *const *names, size_t n, size_t *index);
/* The stack overflow message for t (async-signal-safe), into b (len bytes, terminated). */
EDDY__HIDDEN void eddy__overflow_text(char *b, size_t len, const eddy_task *t);
EDDY__HIDDEN void eddy__overflow_handler_release(void);

/* ---- the cooperative budget ------------------------------------------------------------
 * A blocking-style call that completes without suspending (a read from an always-ready
 * descriptor, a memory stream or a buffered reader with data, a write to a fast peer, a
 * channel with room, an uncontended mutex, ...) spends one unit of the calling task's budget;
 * a task's budget is refilled whenever it suspends (eddy__park). When a call spends the last
 * unit, the task yields through the scheduler, which polls I/O, refreshes the clock and fires
 * due timers before it runs again: so a task whose I/O never blocks neither starves the other
 * tasks and the loop nor escapes its own deadline (trio makes every call a checkpoint; Tokio
 * forces a yield after 128 ready operations, as here).
 * Where the call spends, so that nothing it reports can be lost and nothing it touches can
 * be freed meanwhile: calls on an object that registers the tasks inside it (streams: the
 * stream layer's read and write entries, for every kind of stream; UDP sockets; listeners)
 * spend once registered, before doing anything, and a cancellation or a close that came
 * during the yield stops the call there (a close waits for registered tasks); every other
 * call (channels, queues, the sync primitives, the buffered reader, ...) spends when it has
 * completed, right before it returns, and touches its object no more after that. The yield
 * is not a cancellation point by itself: it runs even in a cancelled scope and reports
 * nothing. */
enum { EDDY__COOP_BUDGET = 128 };
EDDY__HIDDEN void eddy__coop_yield(eddy_loop *l, eddy_task *t);
/* Spend one unit of t's budget (t current, not in callback context). True if that was the
 * last: t must now call eddy__coop_yield, which refills it (eddy__coop_spend does both; the
 * budget never goes below zero, so "== 0" is the test: one subtract and branch on x86-64). */
static inline bool eddy__coop_spent(eddy_task *t) { return eddy__unlikely(--t->coop == 0); }
/* Spend one unit of t's budget. True if that was the last: t has just yielded through the
 * scheduler (and has a full budget again). */
static inline bool eddy__coop_spend(eddy_task *t)
{
    if (!eddy__coop_spent(t)) return false;
    eddy__coop_yield(t->loop, t);
    return true;
}
/* The return of a call that completed without suspending: spend, then give back rc (the call
 * touches nothing after this). */
static inline int eddy__coop_done(eddy_task *t, int rc)
{
    (void)eddy__coop_spend(t);
    return rc;
}
/* eddy__coop_spend for the calling task, if there is one that may block: none in callback
 * context or outside a loop (for calls that are also legal there). */
static inline void eddy__coop_spend_current(void)
{
    eddy_loop *l = eddy__tl_loop;
    if (l && l->current && !l->in_callback) (void)eddy__coop_spend(l->current);
}

/* Wait queue helpers. */
static inline void eddy__waitq_init(eddy__waitq *q) { eddy__list_init(&q->head); }
static inline bool eddy__waitq_empty(const eddy__waitq *q) { return eddy__list_empty(&q->head); }
/* Park the current task on q until woken by eddy__waitq_wake_*; returns the wake rc or the
 * cancel code (then w is already unlinked). */
EDDY__HIDDEN int eddy__waitq_wait(eddy__waitq *q, eddy__waiter *w, const char *reason,
                                  const void *obj);
/* Unlink and wake the first waiter with rc; returns it (NULL if none). */
EDDY__HIDDEN eddy__waiter *eddy__waitq_wake_one(eddy__waitq *q, int rc);
EDDY__HIDDEN size_t eddy__waitq_wake_all(eddy__waitq *q, int rc);

#endif
