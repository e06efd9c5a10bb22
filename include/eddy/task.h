/* eddy — tasks, nurseries and cancel scopes.
 * Capabilities A2, A4, A5, A7, A8, B1–B7. */
#ifndef EDDY_TASK_H
#define EDDY_TASK_H

#include "base.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The stack every task gets unless its spawn (eddy_spawn_opts.stack_size), its server
 * (eddy_serve_opts.stack_size) or its loop (eddy_opts.stack_size) asks for another size.
 * 256 KiB, so ordinary C (a 64 KiB buffer on the stack, a few nested calls of libraries
 * that do the same) runs in a task as it would on a thread. Stacks are reserved with
 * MAP_NORESERVE and cost only the pages a task touches: a sleeping task costs one 4 KiB page
 * whatever the size; the size costs address space (1M tasks reserve ~260 GiB of the 128 TiB
 * an x86-64 or aarch64 process has) and page tables (~0.5 KiB per task, against ~0.13 KiB
 * at 64 KiB). Under vm.overcommit_memory=2 (strict accounting), which ignores MAP_NORESERVE,
 * every stack counts in full: use smaller stacks there. */
#ifndef EDDY_DEFAULT_STACK
#define EDDY_DEFAULT_STACK (256 * 1024)
#endif
#define EDDY_MIN_STACK (16 * 1024)
#define EDDY_TASK_NAME_MAX 32
#define EDDY_NURSERY_MAX_ERRORS 8

/* ---- cancel scopes (B3–B7) ------------------------------------------------------------- */

enum {
    EDDY_SCOPE_SHIELD = 1u << 0, /* B5: outer cancellation does not reach inside */
    EDDY_SCOPE_FAIL = 1u << 1,   /* B6: deadline expiry makes calls return -ETIMEDOUT */
    EDDY__SCOPE_TASK = 1u << 4,  /* private kinds */
    EDDY__SCOPE_NURSERY = 1u << 5,
    EDDY__SCOPE_ROOT = 1u << 6,
};

/* A cancel scope: a lexical block with an absolute deadline that can be cancelled. Caller
 * storage (usually the stack of the task that enters it). Fields marked private are the
 * runtime's. */
struct eddy_cancel_scope {
    bool cancel_called;    /* read-only: the scope was cancelled (explicitly or by deadline) */
    bool cancelled_caught; /* read-only, valid after exit: it was cancelled while active */
    unsigned flags;        /* EDDY_SCOPE_* */
    int code;              /* private: -ECANCELED or -ETIMEDOUT once cancelled */
    int64_t deadline;      /* absolute ns, EDDY_FOREVER = none; see eddy_cancel_scope_set_deadline */
    struct eddy_cancel_scope *parent; /* private */
    eddy__link children;              /* private: nested scopes */
    eddy__link sibling;               /* private: in parent->children */
    eddy_task *owner;                 /* private: task that entered it */
    const char *site;                 /* private: where it was entered */
    eddy_timer timer;                 /* private: deadline timer */
    /* private caches for the O(1) cancellation check: some scope on the path up to the first
     * shield is cancelled; the earliest deadline on that path. Kept current by the subtree
     * walks of cancel and set_deadline. */
    bool eff_cancelled;
    int64_t eff_deadline;
};

/* Options of a cancel scope. Durations follow docs/api.md ("Durations"): EDDY_FOREVER is no
 * limit, 0 is "already expired", a negative timeout is -EINVAL. Fields not given are
 * EDDY_FOREVER: start from EDDY_CANCEL_SCOPE_OPTS_INIT (the block macros and
 * eddy_cancel_scope_enter do it for you). A zero-filled struct is a deadline at time 0 and a
 * timeout of 0: a scope cancelled on entry. */
typedef struct eddy_cancel_scope_opts {
    int64_t deadline; /* absolute time (eddy_now()'s clock, 0 included); EDDY_FOREVER: none */
    int64_t timeout;  /* relative to entry: 0 = expired at once; EDDY_FOREVER: none; both
                         deadline and timeout given: the earlier wins */
    bool fail;        /* -ETIMEDOUT instead of -ECANCELED when the deadline passes */
    bool shield;      /* B5; a shield must have a deadline or timeout (cleanup cannot hang) */
} eddy_cancel_scope_opts;
/* No deadline, no timeout, not failing, not shielded. A plain brace initializer (C and C++). */
#define EDDY_CANCEL_SCOPE_OPTS_INIT {EDDY_FOREVER, EDDY_FOREVER, false, false}

/* Enter cs (caller storage) in the calling task with options o (NULL: the defaults of
 * EDDY_CANCEL_SCOPE_OPTS_INIT). Every enter needs an exit (eddy_cancel_scope_exit) in the same
 * task, innermost first; the block macros below do that for you, including on return/break.
 * Returns 0; -EPERM outside a task; -EINVAL for NULL cs, a negative timeout or a shield
 * without deadline or timeout. */
EDDY_API EDDY_WUR int eddy_cancel_scope_enter_with(eddy_cancel_scope *cs,
                                                   const eddy_cancel_scope_opts *o);
/* The same with the options as designated initializers, the others not given (GNU C):
 *   eddy_cancel_scope_enter(&cs, .timeout = EDDY_SEC(1)); ... eddy_cancel_scope_exit(&cs);
 * Records the entry site for misuse reports and eddy_dump. */
#define eddy_cancel_scope_enter(cs, ...) \
    eddy__scope_enter((cs), EDDY__SCOPE_OPTS(__VA_ARGS__), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__scope_enter(eddy_cancel_scope *cs, eddy_cancel_scope_opts o,
                                        const char *site);
/* Private: the options of the macros, with what is not given preset to EDDY_FOREVER. In C the
 * presets are overridden by the caller's designated initializers on purpose, so the
 * override-init warning (-Wextra) is silenced for this one declaration (a GNU statement
 * expression). In C++ a private type whose members default to the presets converts to the
 * options (designated initializers need C++20; eddy_cancel_scope_enter(&cs) works in any). */
#ifdef __cplusplus
}
extern "C++" struct eddy__cxx_scope_opts {
    int64_t deadline = EDDY_FOREVER;
    int64_t timeout = EDDY_FOREVER;
    bool fail = false;
    bool shield = false;
    operator eddy_cancel_scope_opts() const { return {deadline, timeout, fail, shield}; }
};
extern "C" {
#define EDDY__SCOPE_OPTS(...) (eddy__cxx_scope_opts{__VA_ARGS__})
#else
#define EDDY__SCOPE_OPTS(...)                                                                  \
    __extension__({                                                                            \
        _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Woverride-init\"")  \
        eddy_cancel_scope_opts eddy__so = {.deadline = EDDY_FOREVER, .timeout = EDDY_FOREVER,  \
                                           __VA_ARGS__};                                       \
        _Pragma("GCC diagnostic pop") eddy__so;                                                \
    })
#endif
/* Leave cs. Sets cs->cancelled_caught. Leaving from another task than entered it, or not
 * innermost first, is a programming error: eddy prints both sites and aborts (docs/capabilities.md, guarantee "scopes cannot leak
 * across tasks"). */
EDDY_API void eddy_cancel_scope_exit(eddy_cancel_scope *cs);
#define eddy_cancel_scope_exit(cs) eddy__scope_exit((cs), EDDY__SITE)
EDDY_API void eddy__scope_exit(eddy_cancel_scope *cs, const char *site);
/* B4: cancel cs (a state change, never an error at the canceller): every blocking call inside
 * it, in nested non-shielded scopes and in tasks of nurseries opened inside it, returns
 * -ECANCELED (-ETIMEDOUT for a fail scope) until they leave it. Idempotent. When several
 * enclosing scopes are cancelled, calls return the code of the innermost cancelled one. */
EDDY_API void eddy_cancel_scope_cancel(eddy_cancel_scope *cs);
/* Change the absolute deadline of an entered scope (EDDY_FOREVER removes it). */
EDDY_API void eddy_cancel_scope_set_deadline(eddy_cancel_scope *cs, int64_t deadline);
/* The innermost scope of the calling task (NULL outside a task). */
EDDY_API eddy_cancel_scope *eddy_cancel_scope_current(void);
/* B7: the earliest deadline over the calling task's enclosing scopes up to the first shield
 * (EDDY_FOREVER if none; eddy_now() or earlier if already cancelled). */
EDDY_API int64_t eddy_effective_deadline(void);

EDDY_API void eddy__scope_cleanup(eddy_cancel_scope **csp);

/* Block form: for-loop trick + cleanup attribute; leaving the block any way (end, break,
 * return, goto) exits the scope. Outside a task (-EPERM) the block is skipped. Options that
 * enter cannot accept (a negative timeout, a shield without deadline or timeout) are a
 * programming error: eddy prints the site and the reason and aborts, rather than skip the
 * block without a word. */
EDDY_API eddy_cancel_scope *eddy__scope_block_enter(eddy_cancel_scope *cs,
                                                    eddy_cancel_scope_opts o, const char *site);
#define EDDY__SCOPE_BLOCK(csp, u, ...) EDDY__SCOPE_BLOCK_(csp, u, __VA_ARGS__)
#define EDDY__SCOPE_BLOCK_(csp, u, ...)                                                         \
    for (eddy_cancel_scope *u##_p __attribute__((cleanup(eddy__scope_cleanup))) =             \
             eddy__scope_block_enter((csp), EDDY__SCOPE_OPTS(__VA_ARGS__), EDDY__SITE);       \
         u##_p != NULL; eddy__scope_cleanup(&u##_p))
#define EDDY__ANON_SCOPE(u, ...) EDDY__ANON_SCOPE_(u, __VA_ARGS__)
#define EDDY__ANON_SCOPE_(u, ...)                                                               \
    for (eddy_cancel_scope u##_s,                                                              \
         *u##_p __attribute__((cleanup(eddy__scope_cleanup))) =                                \
             eddy__scope_block_enter(&u##_s, EDDY__SCOPE_OPTS(__VA_ARGS__), EDDY__SITE);       \
         u##_p != NULL; eddy__scope_cleanup(&u##_p))

/* B4: EDDY_CANCEL_SCOPE(&cs, .timeout = EDDY_SEC(1)) { ... }  then read cs.cancelled_caught.
 * Options as eddy_cancel_scope_opts, as designated initializers; what is not given is not
 * limited (EDDY_CANCEL_SCOPE(&cs) { ... } is a scope to cancel by hand). */
#define EDDY_CANCEL_SCOPE(csp, ...) EDDY__SCOPE_BLOCK(csp, EDDY__UNIQ(eddy__cs), __VA_ARGS__)
/* B6: blocking calls inside return -ECANCELED once ns have passed since entry; leave quietly.
 * 0 is already expired (trio's move_on_after(0)); EDDY_FOREVER means no deadline; negative
 * is a programming error (see the block form above). The _AT forms take any absolute time,
 * 0 included (the virtual clock starts at 0), EDDY_FOREVER for none. */
#define EDDY_MOVE_ON_AFTER(ns) EDDY__ANON_SCOPE(EDDY__UNIQ(eddy__mo), .timeout = (ns))
#define EDDY_MOVE_ON_AT(t) EDDY__ANON_SCOPE(EDDY__UNIQ(eddy__ma), .deadline = (t))
/* B6: blocking calls inside return -ETIMEDOUT once the deadline passes. */
#define EDDY_FAIL_AFTER(ns) EDDY__ANON_SCOPE(EDDY__UNIQ(eddy__fa), .timeout = (ns), .fail = true)
#define EDDY_FAIL_AT(t) EDDY__ANON_SCOPE(EDDY__UNIQ(eddy__ft), .deadline = (t), .fail = true)
/* B5: shielded from outer cancellation, bounded by grace_ns (calls then get -ETIMEDOUT);
 * grace_ns must be a real limit (not EDDY_FOREVER, not negative). */
#define EDDY_SHIELD(grace_ns) \
    EDDY__ANON_SCOPE(EDDY__UNIQ(eddy__sh), .timeout = (grace_ns), .shield = true, .fail = true)

/* ---- nurseries (B1, B2) ---------------------------------------------------------------- */

enum {
    EDDY_CANCEL_ON_ERROR = 1u << 0,      /* a failing child cancels its siblings (default) */
    EDDY_CANCEL_ON_FIRST_DONE = 1u << 1, /* the first child to finish (any status) cancels the rest */
    EDDY_WAIT_ALL = 1u << 2,             /* only wait; failures do not cancel siblings */
};

/* B2: one failed child. */
typedef struct eddy_task_error {
    int code;                        /* negative errno the task returned */
    uint64_t task_id;
    char name[EDDY_TASK_NAME_MAX];   /* task name at exit */
    const char *site;                /* spawn site "file:line" */
    const char *detail;              /* optional static string set by eddy_task_set_error_detail */
} eddy_task_error;

struct eddy_nursery {
    eddy_cancel_scope cs;  /* private */
    unsigned flags;
    int first_error;       /* private */
    size_t nerrors;        /* failures so far (may exceed EDDY_NURSERY_MAX_ERRORS) */
    eddy_task_error errors[EDDY_NURSERY_MAX_ERRORS];
    eddy__link children;   /* private: live tasks */
    eddy__link done;       /* private: finished joinable tasks, in completion order */
    size_t nlive;          /* private */
    eddy_task *closer;     /* private: the task in eddy_nursery_close */
    eddy_task *next_waiter; /* private: the task in eddy_nursery_next_done */
    const char *site;      /* private */
    int *status_out;       /* private: EDDY_NURSERY's status pointer */
    int state;             /* private: 0 unopened, 1 open, 2 closing, 3 closed */
};

/* Open n (caller storage, usually the stack) in the calling task, with EDDY_CANCEL_ON_ERROR.
 * The nursery is also a cancel scope around the code up to eddy_nursery_close: a failing
 * child cancels the parent's blocking calls there too (trio).
 * Returns 0; -EPERM outside a task. */
#define eddy_nursery_open(n) eddy__nursery_open((n), EDDY_CANCEL_ON_ERROR, EDDY__SITE)
#define eddy_nursery_open_flags(n, flags) eddy__nursery_open((n), (flags), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__nursery_open(eddy_nursery *n, unsigned flags, const char *site);
/* Wait for every child (not a cancellation point: cancel the scope instead), free finished
 * unjoined tasks, leave the nursery's scope. Returns 0 or the first child error (children
 * cancelled by the nursery itself do not count); -EINVAL if n is not open. Must be called by
 * the task that opened n, innermost scope first: otherwise eddy prints both sites and aborts. */
EDDY_API EDDY_WUR int eddy_nursery_close(eddy_nursery *n);
#define eddy_nursery_close(n) eddy__nursery_close((n), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__nursery_close(eddy_nursery *n, const char *site);
/* B2: copy up to len error records (first failures first); returns how many failed in all. */
EDDY_API size_t eddy_nursery_errors(const eddy_nursery *n, eddy_task_error *out, size_t len);
/* Cancel every child and the body of the nursery. */
EDDY_API void eddy_nursery_cancel(eddy_nursery *n);

EDDY_API void eddy__nursery_cleanup(eddy_nursery **np);
EDDY_API eddy_nursery *eddy__nursery_block_open(eddy_nursery *n, unsigned flags, int *statusp,
                                                const char *site);
/* B1: EDDY_NURSERY(n, &rc) { eddy_spawn(n, ...); }  — leaving the block (end, break, return)
 * waits for every child and stores eddy_nursery_close's result in *statusp (-EPERM and the
 * block skipped outside a task). */
#define EDDY__NURSERY_BLOCK(n, statusp, flags, u) EDDY__NURSERY_BLOCK_(n, statusp, flags, u)
#define EDDY__NURSERY_BLOCK_(n, statusp, flags, u)                                              \
    for (eddy_nursery u##_s,                                                                   \
         *n __attribute__((cleanup(eddy__nursery_cleanup))) =                                  \
             eddy__nursery_block_open(&u##_s, (flags), (statusp), EDDY__SITE);                 \
         n != NULL; eddy__nursery_cleanup(&n))
#define EDDY_NURSERY(n, statusp) \
    EDDY__NURSERY_BLOCK(n, statusp, EDDY_CANCEL_ON_ERROR, EDDY__UNIQ(eddy__nu))
#define EDDY_NURSERY_FLAGS(n, statusp, flags) \
    EDDY__NURSERY_BLOCK(n, statusp, flags, EDDY__UNIQ(eddy__nu))


/* ---- spawning (A2, A8) ----------------------------------------------------------------- */

typedef struct eddy_spawn_opts {
    const char *name;     /* copied (truncated to EDDY_TASK_NAME_MAX-1); default "task-<id>" */
    size_t stack_size;    /* 0 = loop default; rounded up to pages, at least EDDY_MIN_STACK */
    eddy_task **handle;   /* non-NULL: the task is joinable and *handle receives it; it stays
                             valid until eddy_task_join or eddy_nursery_close */
} eddy_spawn_opts;

/* Spawn fn(arg) as a child of nursery n. The child runs at once until it first blocks
 * (eager, A8), then the spawner continues. Its int return is its status: negative errno is a
 * failure recorded in n (and cancelling siblings per n's flags), except the cancel code that
 * applies to the child when it returns (-ECANCELED/-ETIMEDOUT from n's cancellation, from
 * eddy_task_cancel or from a scope above n): a cancelled child has not failed.
 * Returns 0; -ENOMEM if no stack can be had (never aborts); -EINVAL if n is not open (closed
 * or never opened) or fn is NULL; -EPERM outside a task. */
#define eddy_spawn(n, fn, arg, ...) \
    eddy__spawn((n), (fn), (arg), EDDY__SPAWN_OPTS(__VA_ARGS__), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__spawn(eddy_nursery *n, int (*fn)(void *), void *arg,
                                  const eddy_spawn_opts *o, const char *site);
/* Function forms of eddy_spawn (site unknown): without options, and with options o (NULL:
 * the defaults). Same returns. */
EDDY_API EDDY_WUR int(eddy_spawn)(eddy_nursery *n, int (*fn)(void *), void *arg);
EDDY_API EDDY_WUR int eddy_spawn_with(eddy_nursery *n, int (*fn)(void *), void *arg,
                                      const eddy_spawn_opts *o);

/* A8: spawn fn(arg) in n and wait until it calls eddy_started(value) (e.g. once it listens);
 * *value (if value != NULL) receives that value. A failure before eddy_started is returned
 * here and not recorded in n. If the caller is cancelled while waiting, the child is cancelled
 * too and eddy_start waits for it to start or exit.
 * Returns 0; the child's negative status if it failed before starting; -ECHILD if it returned
 * 0 without calling eddy_started; -ECANCELED/-ETIMEDOUT if the caller was cancelled; the
 * errors of eddy_spawn. */
#define eddy_start(n, fn, arg, value, ...) \
    eddy__start((n), (fn), (arg), (value), EDDY__SPAWN_OPTS(__VA_ARGS__), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__start(eddy_nursery *n, int (*fn)(void *), void *arg, void **value,
                                  const eddy_spawn_opts *o, const char *site);
/* Function form of eddy_start (site unknown; o NULL: the defaults). Same returns. */
EDDY_API EDDY_WUR int eddy_start_with(eddy_nursery *n, int (*fn)(void *), void *arg, void **value,
                                      const eddy_spawn_opts *o);

/* Private: the options of eddy_spawn / eddy_start, given as designated initializers. In C a
 * compound literal; in C++ a temporary of a private type whose members default to zero
 * (designated initializers need C++20, or none: eddy_spawn(n, fn, arg)), alive until the call
 * returns. */
#ifdef __cplusplus
}
extern "C++" struct eddy__cxx_spawn_opts {
    const char *name = nullptr;
    size_t stack_size = 0;
    eddy_task **handle = nullptr;
    eddy_spawn_opts o_ = {};
    const eddy_spawn_opts *ptr_()
    {
        o_.name = name;
        o_.stack_size = stack_size;
        o_.handle = handle;
        return &o_;
    }
};
extern "C" {
#define EDDY__SPAWN_OPTS(...) (eddy__cxx_spawn_opts{__VA_ARGS__}.ptr_())
#else
#define EDDY__SPAWN_OPTS(...) (&(eddy_spawn_opts){__VA_ARGS__})
#endif
/* Called by a task started with eddy_start. Returns 0; -EINVAL if the task was not started
 * with eddy_start or already called it. */
EDDY_API int eddy_started(void *value);

/* A1, I2: a top-level task of loop l (asyncio's create_task; eddy_run's main is one): fn(arg)
 * is queued to start at l's next run or step (not eagerly, unlike eddy_spawn), with no
 * nursery: its scope hangs under the loop's root scope. Callable on l's thread from anywhere:
 * between runs (the host program), from a callback, or from a task of l. With .handle the
 * task is joinable: eddy_loop_run_until(l, t, &status) runs the loop until it has finished,
 * or a task of l joins it with eddy_task_join; either releases it (so does eddy_loop_close).
 * Without .handle it is released when it finishes, and a failure (a negative status other
 * than its cancel code) is printed on stderr unless l has EDDY_OPT_QUIET, as asyncio logs
 * an exception nobody retrieved. eddy_loop_close cancels the tasks still running.
 * Returns 0; -EINVAL if l or fn is NULL; -EPERM on another thread; -EBADF if l is closed;
 * -ENOMEM if no stack can be had. */
#define eddy_loop_spawn(l, fn, arg, ...) \
    eddy__loop_spawn((l), (fn), (arg), EDDY__SPAWN_OPTS(__VA_ARGS__), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__loop_spawn(eddy_loop *l, int (*fn)(void *), void *arg,
                                       const eddy_spawn_opts *o, const char *site);
/* Function form of eddy_loop_spawn (site unknown; o NULL: the defaults). Same returns. */
EDDY_API EDDY_WUR int eddy_loop_spawn_with(eddy_loop *l, int (*fn)(void *), void *arg,
                                           const eddy_spawn_opts *o);

/* ---- joining (A5) ---------------------------------------------------------------------- */

/* Wait for joinable task t (spawned with .handle) to finish; *status gets its return value and
 * t is released (the handle becomes invalid). Returns 0; -EINVAL if t is NULL, not joinable or
 * already being joined; -ECANCELED/-ETIMEDOUT if the caller is cancelled (t stays joinable);
 * -EPERM outside a task. A joiner may be outside t's nursery: if that nursery closes first,
 * t stays valid until the woken joiner has taken its status. */
EDDY_API EDDY_WUR int eddy_task_join(eddy_task *t, int *status);
/* A5 as_completed: wait for the next joinable child of n to finish, in completion order, and
 * return it in *t (join it to get its status and release it). Returns 0; -ENOENT when n has no
 * unreturned joinable children left; -ECANCELED/-ETIMEDOUT if cancelled; -EINVAL if n is not
 * open or t is NULL; -EBUSY if another task already waits in eddy_nursery_next_done on n;
 * -EPERM outside a task. A child of n may wait here while n's parent waits in its close. */
EDDY_API EDDY_WUR int eddy_nursery_next_done(eddy_nursery *n, eddy_task **t);

/* A5 gather: run every item concurrently in an internal nursery (cancel on error) and write
 * each status into items[i].status. No heap. Returns 0 or the first failure; -EPERM outside a
 * task; -EINVAL if items is NULL with n > 0 or an item's fn is NULL (nothing after it runs);
 * -ENOMEM if a task could not be spawned (already spawned ones are cancelled and awaited;
 * unstarted items get status -ECANCELED). */
typedef struct eddy_gather_item {
    int (*fn)(void *);
    void *arg;
    int status;
} eddy_gather_item;
EDDY_API EDDY_WUR int eddy_gather(eddy_gather_item *items, size_t n);

/* ---- the current task (A4, A7) --------------------------------------------------------- */

/* Fairness without calling eddy_yield: every blocking call (reads and writes, accept, channel
 * and queue operations, locks, waits, ...) that completes without suspending spends one unit
 * of its task's cooperative budget, which holds 128 and is refilled whenever the task
 * suspends. The call that spends the last unit yields through the loop (I/O polled, the clock
 * refreshed, due timers fired, other ready tasks run) before it returns; calls on streams,
 * sockets and listeners do so before they start, and then report a cancellation or close that
 * came meanwhile (having done nothing), the others after they completed (their result
 * stands). So a reader of an always-ready source under EDDY_MOVE_ON_AFTER sees its deadline.
 * struct eddy_loop_stats.coop_yields counts these yields. */
/* A4: let other ready tasks and I/O polling run. Cancellation point.
 * Returns 0; -ECANCELED/-ETIMEDOUT if cancelled; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_yield(void);
/* A4: 0, or -ECANCELED/-ETIMEDOUT if the calling task is inside a cancelled scope; never
 * switches. -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_checkpoint_if_cancelled(void);

/* A7 */
EDDY_API eddy_task *eddy_task_current(void);                 /* NULL in callback context */
EDDY_API uint64_t eddy_task_id(const eddy_task *t);     /* NULL = current; ids start at 1 */
EDDY_API const char *eddy_task_name(const eddy_task *t); /* NULL = current */
EDDY_API void eddy_task_set_name(eddy_task *t, const char *name); /* NULL = current */
/* B2: a static string shown with this task's error record (why it failed). */
EDDY_API void eddy_task_set_error_detail(const char *detail);
/* B3: cancel t's own scope (t and everything it spawned). No-op on a finished task. */
EDDY_API void eddy_task_cancel(eddy_task *t);

/* A7: task-local values, copied into children at spawn (contextvar-like), and per-loop
 * variables (trio RunVar), both keyed by eddy_key. */
#define EDDY_MAX_KEYS 16
typedef int eddy_key;
/* Allocate a process-wide key. Returns the key (>= 0); -EAGAIN when EDDY_MAX_KEYS are taken. */
EDDY_API EDDY_WUR int eddy_key_create(void);
EDDY_API void *eddy_key_get(eddy_key k);               /* NULL if unset or bad key */
EDDY_API EDDY_WUR int eddy_key_set(eddy_key k, void *v); /* 0; -EINVAL; -EPERM outside a task */
EDDY_API void *eddy_loopvar_get(eddy_key k);
EDDY_API EDDY_WUR int eddy_loopvar_set(eddy_key k, void *v); /* 0; -EINVAL; -EPERM no loop */

#ifdef __cplusplus
}
#endif
#endif
