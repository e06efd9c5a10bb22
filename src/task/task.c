/* eddy task layer: task creation, entry and exit, parking, spawning, task-local values.
 *
 * A task's struct lives at the top of its own stack, so spawning from the pool allocates
 * nothing: take a stack, build the struct and a first frame in it, switch. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "loop/sys.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

/* ---- parking ---- */

/* Cancelled on arrival: the same exit as a cancellation while parked (wake_if_cancelled in
 * scope.c), the caller's registration undone, so callers have one path to handle. Out of line:
 * the common path of a park has no call to make. */
static __attribute__((noinline, cold)) int park_cancelled(eddy_task *t, const eddy__wait *w, int c)
{
    if (w->cancel) w->cancel(t, w->arg);
    return c;
}

int eddy__park(const eddy__wait *w)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    if (!w->uncancellable) {
        int c = eddy__cancel_code(t);
        if (c) return park_cancelled(t, w, c);
    }
    t->wait = w;
    t->state = EDDY__BLOCKED;
    eddy__schedule(l);
    t->wait = NULL;
    t->coop = EDDY__COOP_BUDGET; /* it suspended: the loop had its turn */
    return t->wake_rc;
}

void eddy__coop_yield(eddy_loop *l, eddy_task *t)
{
    t->coop = EDDY__COOP_BUDGET;
    l->stats.coop_yields++;
    eddy__ready_task(l, t, false);
    /* No budget left for the direct hand-off to the next ready task: eddy__schedule goes to
     * the scheduler, which polls, refreshes the time and runs due timers first. */
    l->budget = 0;
    eddy__schedule(l);
}

bool eddy__wake(eddy_task *t, int rc)
{
    if (t->state != EDDY__BLOCKED) return false;
    t->wake_rc = rc;
    eddy__ready_task(t->loop, t, false);
    return true;
}

/* ---- wait queues ---- */

static void waitq_cancel(eddy_task *t, void *arg)
{
    (void)t;
    eddy__list_remove(&((eddy__waiter *)arg)->link);
}

int eddy__waitq_wait(eddy__waitq *q, eddy__waiter *w, const char *reason, const void *obj)
{
    eddy_task *t = eddy__cur();
    if (!t) return -EPERM;
    w->task = t;
    w->rc = 0;
    eddy__list_push_back(&q->head, &w->link);
    eddy__wait wt = {.reason = reason, .obj = obj, .cancel = waitq_cancel, .arg = w};
    return eddy__park(&wt);
}

eddy__waiter *eddy__waitq_wake_one(eddy__waitq *q, int rc)
{
    eddy__link *x = eddy__list_pop_front(&q->head);
    if (!x) return NULL;
    eddy__waiter *w = eddy__container_of(x, eddy__waiter, link);
    w->rc = rc;
    eddy__wake(w->task, rc);
    return w;
}

size_t eddy__waitq_wake_all(eddy__waitq *q, int rc)
{
    size_t n = 0;
    while (eddy__waitq_wake_one(q, rc)) n++;
    return n;
}

/* ---- task lifecycle ---- */

static void task_entry(void *p);

int eddy__task_new(eddy_loop *l, eddy_nursery *n, int (*fn)(void *), void *arg,
                   const eddy_spawn_opts *o, const char *site, eddy_task **out)
{
    eddy__stack st;
    size_t want = o && o->stack_size ? o->stack_size : l->default_stack;
    if (eddy__stack_get(&st, want) < 0) return -ENOMEM;
#if defined(__SANITIZE_ADDRESS__)
    /* A pooled stack still carries the redzones of its previous task's frames, which never
     * returned (the task switched away for good): clear them for the new task. */
    __asan_unpoison_memory_region(st.lo, st.size);
#endif
    /* Colour the top of each stack by a few cache lines: stacks are 4 KiB-multiples apart, so
     * without it every task's frames sit at the same page offset and loads of one task alias
     * stores of the previous one (4K aliasing stalls store forwarding): measured 31 -> 25 ns
     * per yield hand-off. */
    uintptr_t top = (uintptr_t)st.lo + st.size - (size_t)((l->next_task_id * 7) % 16) * 64;
    eddy_task *t = (eddy_task *)((top - sizeof(eddy_task)) & ~(uintptr_t)63);
    memset(t, 0, sizeof *t);
    t->stack = st;
    t->loop = l;
    t->fn = fn;
    t->arg = arg;
    t->site = site;
    t->id = l->next_task_id++;
    t->spawned_at = l->now;
    t->coop = EDDY__COOP_BUDGET;
    t->nursery = n;
    if (o && o->name) {
        strncpy(t->name, o->name, sizeof t->name - 1);
    }
    eddy__ctx_make(&t->ctx, st.lo, (size_t)((char *)t - (char *)st.lo), task_entry, t);
#if defined(__SANITIZE_THREAD__)
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    eddy_cancel_scope *parent = n ? &n->cs : &l->root_cs;
    eddy__scope_attach(&t->own, parent, t, EDDY__SCOPE_TASK, site);
    t->cs = &t->own;
    eddy_task *cur = l->current;
    if (cur) memcpy(t->keys, cur->keys, sizeof t->keys);
    if (n) {
        eddy__list_push_back(&n->children, &t->nlink);
        n->nlive++;
    } else {
        eddy__list_init(&t->nlink);
    }
    l->ntasks++;
    l->stats.tasks_spawned++;
    *out = t;
    return 0;
}

void eddy__task_release(eddy_task *t)
{
    eddy_loop *l = t->loop;
    if (!eddy__stack_canary_ok(&t->stack)) {
        char msg[512];
        eddy__overflow_text(msg, sizeof msg, t);
        eddy__fatal("%s (the canary at the bottom of the stack was overwritten)", msg);
    }
#if defined(__SANITIZE_THREAD__)
    __tsan_destroy_fiber(t->tsan_fiber);
#endif
    l->ntasks--;
    eddy__stack st = t->stack;
    eddy__stack_put(&st);
}

static void task_entry(void *p)
{
    eddy_task *t = p;
    eddy_loop *l = t->loop;
#if defined(__SANITIZE_ADDRESS__)
    const void *bottom;
    size_t size;
    __sanitizer_finish_switch_fiber(NULL, &bottom, &size);
    if (!l->sched_stack_bottom) {
        /* The loop's first task is started by the scheduler (tasks exist only once one runs):
         * learn the scheduler's stack for switching back. */
        l->sched_stack_bottom = bottom;
        l->sched_stack_size = size;
    }
#endif
    eddy__after_switch(l);
    t->status = t->fn(t->arg);
    if (t->cs != &t->own)
        eddy__fatal("task '%s' spawned at %s returned inside a cancel scope entered at %s that it "
                    "never left",
                    eddy_task_name(t), t->site, t->cs->site);
    eddy__scope_detach(&t->own);
    t->state = EDDY__DONE;
    if (t->nursery)
        eddy__task_exit_to_nursery(t);
    else
        eddy__loop_task_exit(t); /* a top-level task (eddy_loop_spawn) */
    if (!(t->flags & EDDY__T_JOINABLE)) l->dead = t; /* freed by whoever runs next */
    eddy__schedule(l);
    __builtin_trap(); /* a finished task is never resumed */
}

/* ---- spawning ---- */

int eddy__spawn(eddy_nursery *n, int (*fn)(void *), void *arg, const eddy_spawn_opts *o,
                const char *site)
{
    return eddy__spawn_from(n, fn, arg, o, site, EDDY__STACK_FROM_SPAWN);
}

int eddy__spawn_from(eddy_nursery *n, int (*fn)(void *), void *arg, const eddy_spawn_opts *o,
                     const char *site, int stack_from)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *cur = l ? l->current : NULL;
    if (!cur || l->in_callback) return -EPERM;
    if (!n || !fn || (n->state != 1 && n->state != 2)) return -EINVAL;
    eddy_task *t;
    int rc = eddy__task_new(l, n, fn, arg, o, site, &t);
    if (rc < 0) return rc;
    t->stack_from = (uint8_t)stack_from;
    if (o && o->handle) {
        t->flags |= EDDY__T_JOINABLE;
        *o->handle = t;
    }
    /* A8: run the child now, until it first blocks; the spawner resumes right after. */
    eddy__ready_task(l, cur, true);
    eddy__switch_to(l, &cur->ctx, cur, t, false);
    return 0;
}

int(eddy_spawn)(eddy_nursery *n, int (*fn)(void *), void *arg)
{
    return eddy__spawn(n, fn, arg, NULL, "?");
}

int eddy_spawn_with(eddy_nursery *n, int (*fn)(void *), void *arg, const eddy_spawn_opts *o)
{
    return eddy__spawn(n, fn, arg, o, "?");
}

/* ---- the current task ---- */

int eddy_yield(void)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    int c = eddy__cancel_code(t);
    if (c) return c;
    return eddy__yield(l, t);
}

int eddy_checkpoint_if_cancelled(void)
{
    eddy_task *t = eddy__cur();
    if (!t) return -EPERM;
    return eddy__cancel_code(t);
}

eddy_task *eddy_task_current(void)
{
    eddy_loop *l = eddy__tl_loop;
    return l && !l->in_callback ? l->current : NULL;
}

uint64_t eddy_task_id(const eddy_task *t)
{
    if (!t) t = eddy__cur();
    return t ? t->id : 0;
}

const char *eddy_task_name(const eddy_task *t)
{
    if (!t) t = eddy__cur();
    if (!t) return NULL;
    if (!t->name[0]) { /* default name formatted lazily: spawn stays free of snprintf */
        eddy_task *m = (eddy_task *)t;
        snprintf(m->name, sizeof m->name, "task-%llu", (unsigned long long)t->id);
    }
    return t->name;
}

void eddy_task_set_name(eddy_task *t, const char *name)
{
    if (!t) t = eddy__cur();
    if (!t) return;
    memset(t->name, 0, sizeof t->name);
    if (name) strncpy(t->name, name, sizeof t->name - 1);
}

void eddy_task_set_error_detail(const char *detail)
{
    eddy_task *t = eddy__cur();
    if (t) t->error_detail = detail;
}

void eddy_task_cancel(eddy_task *t)
{
    if (t && t->state != EDDY__DONE) eddy_cancel_scope_cancel(&t->own);
}

const char *eddy__state_name(const eddy_task *t)
{
    switch (t->state) {
    case EDDY__READY: return "ready";
    case EDDY__RUNNING: return "running";
    case EDDY__BLOCKED: return "blocked";
    case EDDY__DONE: return "done";
    default: return "?";
    }
}

/* ---- task-local and loop-local values (A7) ---- */

static _Atomic int nkeys;

int eddy_key_create(void)
{
    int k = atomic_fetch_add(&nkeys, 1);
    if (k >= EDDY_MAX_KEYS) {
        atomic_fetch_sub(&nkeys, 1);
        return -EAGAIN;
    }
    return k;
}

static bool key_ok(eddy_key k) { return k >= 0 && k < atomic_load(&nkeys); }

void *eddy_key_get(eddy_key k)
{
    eddy_task *t = eddy__cur();
    return t && key_ok(k) ? t->keys[k] : NULL;
}

int eddy_key_set(eddy_key k, void *v)
{
    if (!key_ok(k)) return -EINVAL;
    eddy_task *t = eddy__cur();
    if (!t) return -EPERM;
    t->keys[k] = v;
    return 0;
}

void *eddy_loopvar_get(eddy_key k)
{
    eddy_loop *l = eddy__tl_loop;
    return l && key_ok(k) ? l->loopvars[k] : NULL;
}

int eddy_loopvar_set(eddy_key k, void *v)
{
    if (!key_ok(k)) return -EINVAL;
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    l->loopvars[k] = v;
    return 0;
}

/* ---- stack overflow reporting ----
 * A fault in the guard below the running task's stack is an overflow: name the task and its
 * spawn site (with write(2): we are in a signal handler on the alternate stack), then let
 * the previous handler (the default, or a sanitizer's) take the fault. */

static struct sigaction prev_segv, prev_bus;
static _Atomic int handler_installed;

static void put_str(const char *s)
{
    ssize_t r = eddy__sys_write(2, s, strlen(s));
    (void)r;
}

/* Append s to the buffer b of len bytes holding *at bytes (truncating, always terminated). */
static void cat(char *b, size_t len, size_t *at, const char *s)
{
    while (*s && *at + 1 < len) b[(*at)++] = *s++;
    b[*at] = 0;
}

static void cat_u64(char *b, size_t len, size_t *at, uint64_t v)
{
    char d[24];
    int i = 23;
    d[i] = 0;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    cat(b, len, at, d + i);
}

/* The stack overflow message for t: which task, where the user's code started it, and the
 * option that gives it a larger stack there. Safe in a signal handler (no stdio, no malloc):
 * the fault handler runs on the alternate stack of a thread whose task just overflowed. */
void eddy__overflow_text(char *b, size_t len, const eddy_task *t)
{
    size_t at = 0;
    const char *site = t->site ? t->site : "?";
    b[0] = 0;
    cat(b, len, &at, "stack overflow in task '");
    cat(b, len, &at, t->name[0] ? t->name : "(unnamed)");
    cat(b, len, &at, "' (id ");
    cat_u64(b, len, &at, t->id);
    cat(b, len, &at, ")");
    switch (t->stack_from) {
    case EDDY__STACK_FROM_SERVE:
        cat(b, len, &at, ", a connection handler of the eddy_serve called at ");
        cat(b, len, &at, site);
        break;
    case EDDY__STACK_FROM_RUN:
        cat(b, len, &at, ", the main task of eddy_run");
        break;
    case EDDY__STACK_FROM_HTTP: /* site: where the task that called eddy_http_serve was spawned */
        cat(b, len, &at, ", a connection or request task of the eddy_http_serve called by the task "
                         "spawned at ");
        cat(b, len, &at, site);
        break;
    case EDDY__STACK_FROM_LOOP: /* site: the user's call ("file:line") or the function's name */
        cat(b, len, &at, strchr(site, ':') ? ", spawned by the library for the call at "
                                           : ", spawned by ");
        cat(b, len, &at, site);
        break;
    default:
        cat(b, len, &at, " spawned at ");
        cat(b, len, &at, site);
        break;
    }
    cat(b, len, &at, ": its stack is ");
    cat_u64(b, len, &at, t->stack.size);
    cat(b, len, &at, " bytes; ");
    switch (t->stack_from) {
    case EDDY__STACK_FROM_SERVE:
        cat(b, len, &at, "give that eddy_serve call a larger eddy_serve_opts.stack_size");
        break;
    case EDDY__STACK_FROM_RUN:
        cat(b, len, &at, "call eddy_run_opts with a larger eddy_opts.stack_size");
        break;
    case EDDY__STACK_FROM_HTTP:
        cat(b, len, &at, "give that eddy_http_serve call a larger eddy_http_serve_opts.stack_size");
        break;
    case EDDY__STACK_FROM_LOOP:
        cat(b, len, &at, "raise the loop's default with eddy_opts.stack_size (eddy_run_opts)");
        break;
    default:
        cat(b, len, &at, "spawn it with a larger eddy_spawn_opts.stack_size (or raise every "
                         "task's default with eddy_opts.stack_size)");
        break;
    }
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (t && eddy__stack_overflowed_at(&t->stack, si->si_addr)) {
        char msg[512];
        eddy__overflow_text(msg, sizeof msg, t);
        put_str("eddy: ");
        put_str(msg);
        put_str("\n");
    }
    struct sigaction *prev = sig == SIGSEGV ? &prev_segv : &prev_bus;
    if (prev->sa_flags & SA_SIGINFO && prev->sa_sigaction) {
        prev->sa_sigaction(sig, si, uc);
        return;
    }
    if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL); /* returning re-executes the fault under the default action */
}

/* Each loop thread needs an alternate signal stack: the overflowing stack cannot run the
 * handler. It lives as long as the thread's loops: the first loop on a thread maps it (with a
 * guard page below, so a handler that overflowed it would fault rather than write over other
 * memory) and the end of the last one removes and unmaps it, because a thread may exit right
 * after its loop and nothing frees an alternate stack with the thread. A stack the program
 * (or a sanitizer) already set is used as it is and left alone. */
enum { ALTSTACK_SIZE = 64 * 1024 };
static __thread struct {
    unsigned loops;  /* loops running on this thread */
    char *map;       /* our mapping (guard page + stack), NULL if the stack is not ours */
    size_t map_len;
} altstack;

static void altstack_acquire(void)
{
    if (altstack.loops++ > 0 || altstack.map) return;
    stack_t old;
    if (sigaltstack(NULL, &old) != 0 || !(old.ss_flags & SS_DISABLE)) return; /* one is set */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = page + ALTSTACK_SIZE;
    char *m = eddy__sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (m == MAP_FAILED) return; /* no report on overflow, the loop runs all the same */
    stack_t ss = {.ss_sp = m + page, .ss_size = ALTSTACK_SIZE};
    if (eddy__sys_mprotect(m, page, PROT_NONE) != 0 || sigaltstack(&ss, NULL) != 0) {
        eddy__sys_munmap(m, len);
        return;
    }
    altstack.map = m;
    altstack.map_len = len;
}

void eddy__overflow_handler_release(void)
{
    if (altstack.loops == 0 || --altstack.loops > 0 || !altstack.map) return;
    char *m = altstack.map;
    size_t page = altstack.map_len - ALTSTACK_SIZE;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == m + page && !(cur.ss_flags & SS_DISABLE)) {
        stack_t off = {.ss_flags = SS_DISABLE};
        /* Fails only while running on it (EPERM), which a loop's end never is: then keep it
         * rather than unmap a stack in use. */
        if (sigaltstack(&off, NULL) != 0) return;
    }
    altstack.map = NULL;
    eddy__sys_munmap(m, altstack.map_len);
}

void eddy__overflow_handler_install(void)
{
    altstack_acquire();
    int expect = 0;
    if (!atomic_compare_exchange_strong(&handler_installed, &expect, 1)) return;
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
    sigaction(SIGBUS, &sa, &prev_bus);
}
