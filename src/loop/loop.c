/* eddy loop: the scheduler, time, callbacks and the thread-safe call queue (the loop's
 * lifecycle — open, run, step, close, eddy_run — is in lifecycle.c).
 *
 * Shape of one iteration (scheduler context = the OS thread's own stack):
 *   poll the backend (timeout 0 if work is ready, else until the next timer), refresh the
 *   cached time, drain cross-thread calls, act on signals, fire due timers, then run up to
 *   poll_interval ready items. Tasks hand the CPU directly to the next ready task
 *   (eddy__schedule) instead of bouncing through the scheduler, so a task-to-task hand-off
 *   is one context switch; they return to the scheduler when the budget is spent, the queue is
 *   empty or a callback is next. The budget is what guarantees I/O is polled at least every
 *   poll_interval task runs, whatever the tasks do. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
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

__thread eddy_loop *eddy__tl_loop __attribute__((tls_model("initial-exec")));
void (*eddy__before_sleep_hook)(eddy_loop *l);

void eddy__fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("eddy: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (eddy__tl_loop) eddy_dump(stderr, EDDY_DUMP_TREE);
    abort();
}

/* ---- time ---- */

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t eddy__clock_read(eddy_loop *l)
{
    switch (l->clock_kind) {
    case EDDY_CLOCK_VIRTUAL: return l->vnow;
    case EDDY_CLOCK_CUSTOM: return l->clock.now(l->clock.ctx);
    default: return real_ns();
    }
}

int64_t eddy_now(void)
{
    eddy_loop *l = eddy__tl_loop;
    return l ? l->now : 0;
}

int64_t eddy_now_fresh(void)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return 0;
    l->now = eddy__clock_read(l);
    return l->now;
}

int eddy_clock_jump(int64_t ns)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    if (l->clock_kind != EDDY_CLOCK_VIRTUAL || ns < 0) return -EINVAL;
    /* Stops at the end of the range, where EDDY_FOREVER ("never") is still in the future. */
    l->vnow = eddy__time_add(l->vnow, ns);
    if (l->vnow == EDDY_FOREVER) l->vnow = EDDY_FOREVER - 1;
    l->now = l->vnow;
    return 0;
}

/* ---- ready queue and switching ---- */

static void push_work(eddy_loop *l, eddy__work *w)
{
    eddy__list_push_back(&l->ready, &w->link);
    l->nready++;
}

/* xorshift64*: the seeded scheduler's only source of randomness (X2). */
static uint64_t rng_next(eddy_loop *l)
{
    uint64_t x = l->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    l->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The next ready item without removing it: the head, or with a seed a reproducible pick
 * among the first few (bounded walk, so seeded runs stay O(1) per step). */
static eddy__link *peek_ready(eddy_loop *l)
{
    if (eddy__list_empty(&l->ready)) return NULL;
    eddy__link *x = l->ready.next;
    if (l->rng) {
        size_t span = l->nready < 8 ? l->nready : 8;
        size_t k = (size_t)(rng_next(l) % span);
        while (k--) x = x->next;
    }
    return x;
}

static eddy__link *pop_ready(eddy_loop *l)
{
    eddy__link *x = peek_ready(l);
    if (x) {
        eddy__list_remove(x);
        l->nready--;
    }
    return x;
}

void eddy__after_switch(eddy_loop *l)
{
    eddy_task *d = l->dead;
    if (eddy__unlikely(d != NULL)) {
        l->dead = NULL;
        eddy__task_release(d);
    }
}

static inline __attribute__((always_inline)) void switch_to(eddy_loop *l, eddy__ctx *from,
                                                            eddy_task *from_task,
                                                            eddy_task *to_task, bool from_dying)
{
    eddy__ctx *to = to_task ? &to_task->ctx : &l->sched_ctx;
    if (to_task) to_task->state = EDDY__RUNNING;
    l->current = to_task;
    l->stats.switches++;
#if defined(__SANITIZE_ADDRESS__)
    void **fake = from_dying ? NULL : (from_task ? &from_task->asan_fake : &l->sched_asan_fake);
    if (to_task)
        __sanitizer_start_switch_fiber(fake, to_task->stack.lo, to_task->stack.size);
    else
        __sanitizer_start_switch_fiber(fake, l->sched_stack_bottom, l->sched_stack_size);
#else
    (void)from_dying;
#endif
#if defined(__SANITIZE_THREAD__)
    __tsan_switch_to_fiber(to_task ? to_task->tsan_fiber : l->sched_tsan_fiber, 0);
#endif
    eddy__ctx_switch(from, to);
    /* Resumed: we are from_task (or the scheduler) again. */
#if defined(__SANITIZE_ADDRESS__)
    const void *bottom;
    size_t size;
    __sanitizer_finish_switch_fiber(from_task ? from_task->asan_fake : l->sched_asan_fake, &bottom,
                                    &size);
#else
    (void)from_task;
#endif
    eddy__after_switch(l);
}

void eddy__switch_to(eddy_loop *l, eddy__ctx *from, eddy_task *from_task, eddy_task *to_task,
                     bool from_dying)
{
    switch_to(l, from, from_task, to_task, from_dying);
}

void eddy__schedule(eddy_loop *l)
{
    eddy_task *self = l->current;
    bool dying = self->state == EDDY__DONE;
    eddy_task *next = NULL;
    if (l->budget > 0) {
        eddy__link *x = peek_ready(l);
        if (x) {
            eddy__work *w = eddy__container_of(x, eddy__work, link);
            if (w->fn == NULL) {
                eddy__list_remove(x);
                l->nready--;
                l->budget--;
                next = eddy__container_of(w, eddy_task, work);
            }
        }
    }
    if (next == self) { /* yielded with nothing else to run */
        self->state = EDDY__RUNNING;
        return;
    }
    switch_to(l, &self->ctx, self, next, dying);
}

/* eddy_yield after its checks (t is current, not in a callback, not cancelled). The common
 * case is handled here in one piece: budget left, no seeded scheduler, and a task (not a
 * callback) at the head of the queue. Then queueing self and taking the head is the same as
 * what eddy__schedule would do after eddy__ready_task (self goes to the back, the head
 * comes off, nready is unchanged, one unit of budget is spent) without the re-derivation of
 * self, the dying test or the peek through the seeded path. Everything else (a callback next,
 * budget spent so the scheduler must poll, a seed that must draw from its generator exactly
 * as before) takes the general path. */
int eddy__yield(eddy_loop *l, eddy_task *t)
{
    if (eddy__likely(l->budget > 0 && !l->rng)) {
        eddy__link *x = l->ready.next;
        if (x == &l->ready) { /* alone: as eddy__schedule, spend budget and go on */
            l->budget--;
            return 0;
        }
        eddy__work *w = eddy__container_of(x, eddy__work, link);
        if (eddy__likely(w->fn == NULL)) {
            eddy__list_remove(x);
            t->state = EDDY__READY;
            eddy__list_push_back(&l->ready, &t->work.link);
            l->budget--;
            switch_to(l, &t->ctx, t, eddy__container_of(w, eddy_task, work), false);
            return 0;
        }
    }
    eddy__ready_task(l, t, false);
    eddy__schedule(l);
    return 0;
}

/* ---- callbacks: eddy_call_soon ---- */

static void soon_run(eddy__work *w)
{
    eddy__soon *s = (eddy__soon *)w;
    eddy_loop *l = eddy__tl_loop;
    void (*fn)(void *) = s->fn;
    void *arg = s->arg;
    s->next_free = l->soon_free;
    l->soon_free = s;
    fn(arg);
}

int eddy_call_soon(void (*fn)(void *), void *arg)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    if (!fn) return -EINVAL;
    if (!l->soon_free) {
        enum { N = 64 };
        void **blocks = realloc(l->soon_blocks, (l->nsoon_blocks + 1) * sizeof *blocks);
        if (!blocks) return -ENOMEM;
        l->soon_blocks = blocks;
        eddy__soon *b = malloc(N * sizeof *b);
        if (!b) return -ENOMEM;
        blocks[l->nsoon_blocks++] = b;
        for (int i = 0; i < N; i++) {
            b[i].next_free = l->soon_free;
            l->soon_free = &b[i];
        }
    }
    eddy__soon *s = l->soon_free;
    l->soon_free = s->next_free;
    s->work.fn = soon_run;
    s->fn = fn;
    s->arg = arg;
    push_work(l, &s->work);
    return 0;
}

/* ---- the thread-safe call queue ----
 * Producers push onto a lock-free stack (one CAS); the loop takes the whole stack with one
 * exchange and reverses it into FIFO order. The eventfd is written only when the loop is
 * (about to be) asleep and no wake is already pending: a busy loop costs producers one CAS. */

static void wake_loop(eddy_loop *l)
{
    if (atomic_load(&l->sleeping) && !atomic_exchange(&l->wake_pending, 1)) l->be->wake(l);
}

void eddy__loop_wake(eddy_loop *l) { wake_loop(l); }

/* Lifetime, and why no counter brackets the hot path. The contract (loop.h) is that the poster
 * keeps l alive until post_ts *returns*: it holds a ref (eddy_loop_ref) across the call, or it
 * is otherwise known that eddy_run has not returned (the loop thread itself; a uqueue server,
 * which posts under the object mutex that the woken task must take before dropping its ref).
 * A ref dropped by the posted callback itself is not enough: once c is pushed the loop may run
 * it, drop the last ref and free l while we still read l->sleeping in wake_loop (the race TSan
 * found with eddy_promise_set_ts, which now unrefs after this returns).
 *
 * Why the ref suffices, as a memory-ordering argument: every access this function makes to l
 * is sequenced before the poster's eddy_loop_unref, whose decrement of ext_refs is a seq_cst
 * (so release) RMW. eddy_run frees l only after an acquire load of ext_refs has read 0, and
 * that load reads either this poster's decrement or a later RMW in its release sequence (every
 * other ref/unref is an RMW too), so the decrement synchronizes with it and all of our reads of
 * l happen before loop_free. The 0 read is not an older 0 from before our ref existed: a ref
 * is taken on the loop thread before teardown, or while another ref is held that is dropped
 * only after it (happens-before), so by coherence the load cannot read a value that precedes
 * our increment in ext_refs' modification order.
 *
 * What the unref itself touches after its decrement (wake_loop) is covered by the ts_busy
 * bracket there: its increment is sequenced before the decrement that teardown has observed,
 * so teardown's later load of ts_busy cannot miss it (coherence again), and it waits for the
 * matching release decrement. That bracket costs two RMWs per unref, off the hot path; here it
 * cost two per post (measured: post_ts ~1.9x the libuv anchor without it, ~1.0 with it). */
/* Push c and wake the loop if needed. l is alive and not NULL, c->fn is set. */
static inline __attribute__((always_inline)) void ts_push(eddy_loop *l, eddy_ts_call *c)
{
    eddy_ts_call *head = atomic_load_explicit(&l->ts_head, memory_order_relaxed);
    do {
        __atomic_store_n(&c->next, head, __ATOMIC_RELAXED);
    } while (!atomic_compare_exchange_weak(&l->ts_head, &head, c));
    /* Only the call that found the queue empty has to see that the loop wakes up: a later one
     * lands in the same stack, which stays non-empty until a drain takes both. (The loop
     * publishes sleeping before its last look at ts_head and the pusher reads sleeping after
     * its CAS, both seq_cst: the first pusher either is seen by that look or sees sleeping.)
     * Under load this keeps producers off the line the loop writes every iteration. */
    if (!head) wake_loop(l);
}

int eddy_loop_post_ts(eddy_loop *l, eddy_ts_call *c)
{
    if (!l || !c || !c->fn) return -EINVAL;
    if (atomic_load(&l->finished)) return -ESHUTDOWN;
    ts_push(l, c);
    return 0;
}

/* ---- eddy_loop_call_ts: recycled nodes ----
 * A node's life: a calling thread takes it from its thread-local cache and posts it; the loop
 * runs it and links it into a batch local to the drain; at the end of the drain the loop
 * pushes the whole batch onto the loop's free stack l->ts_free with one CAS; a caller whose
 * cache is empty takes that whole stack into its cache with one exchange, else the whole
 * process-wide stack g_free, else carves a new slab of nodes. Pushing with CAS and taking
 * everything with an exchange is ABA-safe: nobody ever pops a single node, so no one reads a
 * node's next link from a node another thread may have taken meanwhile (the push only checks
 * that the head is still the one it linked to, which is all it relies on). The push is a
 * release and the take an acquire, so the loop's last reads of a node (fn, arg) happen before
 * the caller rewrites it.
 *
 * Nodes come in slabs (one malloc per SLAB_NODES, contiguous like a caller's own array of
 * nodes) and are never given back to malloc: a node belongs to no loop once taken, so a cache
 * filled from a loop that has since finished is as good for any other loop; when a loop ends
 * its free stack, and when a thread exits its cache (pthread key destructor), goes to g_free
 * for the next thread or loop. So the memory kept is the process's peak number of call_ts
 * nodes in flight at once, and a steady stream (or a new loop, or a new producer thread)
 * allocates nothing: before, a producer running ahead of the loop malloc'd and the loop's end
 * freed every node it had in flight (~440 instructions per call under callgrind, against ~60
 * with recycled ones). The slabs stay reachable from slab_list (for leak checkers). */
/* 32 bytes, two to a cache line (slabs are 64-byte aligned): c.fn is call_node_run, the mark
 * the drain knows call_ts nodes by, c.arg the caller's argument, fn the caller's function;
 * c.next links the queue while posted and the free lists (a cache, a drain's batch,
 * l->ts_free, g_free) while free. */
typedef struct eddy__call_node {
    eddy_ts_call c;
    void (*fn)(void *);
} call_node;
/* c is the first member: a node and its eddy_ts_call have the same address. */
static inline eddy_ts_call *as_call(call_node *h) { return (eddy_ts_call *)h; }
#define NEXT_FREE(h) ((call_node *)(h)->c.next)

enum { SLAB_NODES = 64 };
typedef struct call_slab {
    call_node nodes[SLAB_NODES];
    struct call_slab *next;
} call_slab;

static _Atomic(call_node *) g_free;
static _Atomic(call_slab *) slab_list;
static _Atomic size_t nslabs;

size_t eddy__call_ts_slabs(void) { return atomic_load(&nslabs); }

typedef struct call_cache {
    call_node *list;
    bool armed; /* registered with cache_key, so the thread's exit hands the list on */
} call_cache;

static __thread call_cache tl_cache __attribute__((tls_model("initial-exec")));
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_key_ok;

/* Push the list first..last onto a free stack (one CAS for the whole list). */
static void stack_push(_Atomic(call_node *) *top, call_node *first, call_node *last)
{
    call_node *head = atomic_load_explicit(top, memory_order_relaxed);
    do {
        last->c.next = as_call(head);
    } while (!atomic_compare_exchange_weak_explicit(top, &head, first, memory_order_release,
                                                    memory_order_relaxed));
}

/* A whole list (NULL-terminated) to g_free. */
static void give_back(call_node *h)
{
    if (!h) return;
    call_node *last = h;
    while (last->c.next) last = NEXT_FREE(last);
    stack_push(&g_free, h, last);
}

static void cache_dtor(void *p)
{
    call_cache *cc = p;
    call_node *h = cc->list;
    cc->list = NULL;
    cc->armed = false; /* a later call_ts in another key's destructor re-registers */
    give_back(h);
}

static void cache_key_init(void) { cache_key_ok = pthread_key_create(&cache_key, cache_dtor) == 0; }

/* Make sure this thread's exit hands its cache on. False if it cannot be arranged (no key):
 * then the thread keeps no cache and its nodes go straight back to g_free. */
static bool cache_arm(call_cache *cc)
{
    if (eddy__likely(cc->armed)) return true;
    (void)pthread_once(&cache_once, cache_key_init);
    if (!cache_key_ok || pthread_setspecific(cache_key, cc) != 0) return false;
    cc->armed = true;
    return true;
}

/* Cache empty: refill from l's free stack, g_free or a new slab; return one node. */
static __attribute__((noinline)) call_node *node_refill(eddy_loop *l)
{
    call_cache *cc = &tl_cache;
    bool armed = cache_arm(cc);
    call_node *h = NULL;
    /* A plain load first: an empty stack costs no RMW on a line another thread writes. */
    if (atomic_load_explicit(&l->ts_free, memory_order_relaxed))
        h = atomic_exchange_explicit(&l->ts_free, NULL, memory_order_acquire);
    if (!h && atomic_load_explicit(&g_free, memory_order_relaxed))
        h = atomic_exchange_explicit(&g_free, NULL, memory_order_acquire);
    if (!h) {
        call_slab *s = aligned_alloc(64, (sizeof *s + 63) & ~(size_t)63);
        if (!s) return NULL;
        call_slab *top = atomic_load_explicit(&slab_list, memory_order_relaxed);
        do {
            s->next = top;
        } while (!atomic_compare_exchange_weak_explicit(&slab_list, &top, s, memory_order_release,
                                                        memory_order_relaxed));
        atomic_fetch_add_explicit(&nslabs, 1, memory_order_relaxed);
        for (int i = 0; i < SLAB_NODES - 1; i++) s->nodes[i].c.next = as_call(&s->nodes[i + 1]);
        s->nodes[SLAB_NODES - 1].c.next = NULL;
        h = &s->nodes[0];
    }
    if (armed) {
        cc->list = NEXT_FREE(h);
    } else {
        give_back(NEXT_FREE(h));
    }
    return h;
}

static inline call_node *node_get(eddy_loop *l)
{
    call_cache *cc = &tl_cache;
    call_node *h = cc->list;
    if (eddy__likely(h != NULL)) {
        cc->list = NEXT_FREE(h);
        return h;
    }
    return node_refill(l);
}

static void node_put_local(call_node *h)
{
    call_cache *cc = &tl_cache;
    if (cc->armed) {
        h->c.next = as_call(cc->list);
        cc->list = h;
    } else {
        h->c.next = NULL;
        give_back(h);
    }
}

/* The mark of a call_ts node (its eddy_ts_call function): eddy__ts_drain, the only code that
 * runs posted calls, recognises it and runs the node's own function inline, collecting the
 * node for recycling. Never called. */
static void call_node_run(void *p)
{
    (void)p;
    eddy__fatal("a call_ts node was run outside the loop's drain");
}

int eddy_loop_call_ts(eddy_loop *l, void (*fn)(void *), void *arg)
{
    if (!l || !fn) return -EINVAL;
    call_node *h = node_get(l);
    if (!h) return -ENOMEM;
    h->fn = fn;
    h->c.fn = call_node_run;
    h->c.arg = arg;
    if (eddy__unlikely(atomic_load(&l->finished))) {
        node_put_local(h);
        return -ESHUTDOWN;
    }
    ts_push(l, &h->c);
    return 0;
}

void eddy_loop_ref(eddy_loop *l)
{
    if (l) atomic_fetch_add(&l->ext_refs, 1);
}

void eddy_loop_unref(eddy_loop *l)
{
    if (!l) return;
    /* Not the last reference: someone else keeps l alive and the deadlock check cannot apply
     * yet, so one CAS and no wake-up (this is on every pool job's path). */
    long r = atomic_load_explicit(&l->ext_refs, memory_order_relaxed);
    while (r > 1)
        if (atomic_compare_exchange_weak(&l->ext_refs, &r, r - 1)) return;
    atomic_fetch_add(&l->ts_busy, 1); /* l must outlive wake_loop: see eddy_loop_post_ts */
    atomic_fetch_sub(&l->ext_refs, 1);
    wake_loop(l); /* the deadlock check may now apply */
    atomic_fetch_sub(&l->ts_busy, 1);
}

void eddy__ts_drain(eddy_loop *l)
{
    if (!atomic_load_explicit(&l->ts_head, memory_order_relaxed)) return;
    eddy_ts_call *c = atomic_exchange(&l->ts_head, NULL), *rev = NULL;
    while (c) {
        eddy_ts_call *n = __atomic_load_n(&c->next, __ATOMIC_RELAXED);
        __atomic_store_n(&c->next, rev, __ATOMIC_RELAXED);
        rev = c;
        c = n;
    }
    bool was = l->in_callback;
    l->in_callback = true;
    /* call_ts nodes run here are collected in locals and handed back in one push at the end:
     * no store per call to a line that producers read. */
    call_node *first = NULL, *last = NULL;
    uint64_t ncalls = 0;
    while (rev) {
        eddy_ts_call *n = __atomic_load_n(&rev->next, __ATOMIC_RELAXED);
        ncalls++;
        if (rev->fn == call_node_run) {
            call_node *h = (call_node *)rev;
            void (*fn)(void *) = h->fn;
            void *arg = rev->arg;
            h->c.next = as_call(first);
            if (!first) last = h;
            first = h;
            fn(arg); /* the node is not reused before the push below */
        } else {
            rev->fn(rev->arg); /* may reuse rev: next was read first */
        }
        rev = n;
    }
    l->stats.ts_calls += ncalls;
    l->in_callback = was;
    if (first) stack_push(&l->ts_free, first, last);
}

/* ---- handles (leak tracking) ---- */

void eddy__handle_add(eddy_loop *l, eddy__handle *h, const char *kind, const char *site)
{
    h->kind = kind;
    h->site = site ? site : "?";
    eddy__list_push_back(&l->handles, &h->link);
}

void eddy__handle_del(eddy__handle *h)
{
    if (h->link.next) eddy__list_remove(&h->link);
}

/* Loop teardown (lifecycle.c): the call_ts nodes the loop still holds. Nobody can take from
 * ts_free any more: every caller held a ref, all dropped. The nodes serve other loops and
 * threads from now on. */
void eddy__ts_free_nodes(eddy_loop *l)
{
    give_back(atomic_exchange_explicit(&l->ts_free, NULL, memory_order_acquire));
}

/* ---- the scheduler ---- */

/* Nothing can ever make progress: no ready work, no timer, no fd, no other thread, no signal. */
static bool nothing_can_happen(eddy_loop *l)
{
    if (l->nready || l->nwatch_ref || atomic_load(&l->ext_refs) > 0) return false;
    if (atomic_load(&l->ts_head)) return false;
    /* A timer at EDDY_FOREVER never fires (a sleep or call_later of EDDY_FOREVER). */
    if (eddy__timers_next(l) != EDDY_FOREVER && !(l->clock_kind == EDDY_CLOCK_VIRTUAL && l->autojump < 0))
        return false;
    return true;
}

/* Cancel every unfinished top-level task (and so everything it spawned), each by its own
 * scope: the root scope stays as it was, so tasks spawned later start uncancelled. */
void eddy__loop_cancel_tasks(eddy_loop *l)
{
    for (eddy__link *x = l->tops.next; x != &l->tops; x = x->next) {
        eddy_task *t = eddy__container_of(x, eddy_task, nlink);
        if (t->state != EDDY__DONE) eddy__scope_cancel_code(&t->own, -ECANCELED);
    }
}

/* Nothing can happen, so this run would wait forever. The first time, with tasks blocked,
 * cancel them so they unwind and release what they hold; if nothing can happen even then
 * (or there is no task to cancel), the run is over. */
static void handle_deadlock(eddy_loop *l)
{
    if (!l->deadlocked && l->ntops_live > 0) {
        l->deadlocked = true;
        fprintf(stderr, "eddy: deadlock: every task is blocked and nothing can wake them\n");
        eddy_dump(stderr, EDDY_DUMP_TREE);
        eddy__loop_cancel_tasks(l);
        return;
    }
    l->deadlocked = true;
    l->run_over = true;
    if (l->ntops_live > 0) l->abandoned = true; /* even cancellation could not unblock them */
}

/* Autojump while a descriptor is watched, for a program put on the virtual clock by
 * EDDY_CLOCK=virtual: it talks to real peers, and a reply takes real time. Jumping at once
 * to the next timer (usually the deadline of the very read that waits for the reply) would
 * fail the read with a false timeout. So time moves at least as fast as real time, and a gap
 * longer than the threshold is skipped once the threshold has passed with every task still
 * blocked: the I/O gets min(gap, threshold) of real time to complete (trio's MockClock
 * autojump_threshold, applied only while I/O is pending). Returns the real time (ns) the poll
 * may still wait before the jump is due (0: due now); *limit receives that wait in total. */
static int64_t io_jump_wait(eddy_loop *l, int64_t next, int64_t *limit)
{
    int64_t rnow = real_ns();
    if (!l->idle_since) l->idle_since = rnow;
    int64_t gap = next - l->vnow;
    *limit = gap < l->autojump_io ? gap : l->autojump_io;
    int64_t left = *limit - (rnow - l->idle_since);
    return left > 0 ? left : 0;
}

/* The poll's timeout: 0 if anything is ready, else until the next timer (-1: none). *io_wait
 * (may be NULL) is set when the EDDY_CLOCK=virtual rule for pending I/O applies (below). */
static int64_t poll_timeout(eddy_loop *l, bool *io_wait)
{
    if (io_wait) *io_wait = false;
    if (l->nready || l->stop_req) return 0;
    int64_t next = eddy__timers_next(l);
    if (l->clock_kind == EDDY_CLOCK_VIRTUAL) {
        if (next == EDDY_FOREVER) return -1;
        if (next <= l->vnow) return 0; /* already due (armed by a timer callback) */
        if (l->autojump_io > 0 && l->nwatch_ref > 0) {
            int64_t limit;
            if (io_wait) *io_wait = true;
            return io_jump_wait(l, next, &limit);
        }
        return l->autojump < 0 ? -1 : l->autojump;
    }
    if (next == EDDY_FOREVER) return -1;
    return next - l->now < 0 ? 0 : next - l->now;
}

int64_t eddy__loop_sleep_for(eddy_loop *l)
{
    if (atomic_load(&l->ts_head)) return 0;
    return poll_timeout(l, NULL);
}

static void poll_once(eddy_loop *l)
{
    bool virt = l->clock_kind == EDDY_CLOCK_VIRTUAL;
    /* A step never waits, and always polls: the host woke it because the backend's descriptor
     * was readable, which only a poll clears. */
    bool io_wait = false; /* the EDDY_CLOCK=virtual rule for pending I/O applies */
    int64_t timeout = l->blocking ? poll_timeout(l, &io_wait) : 0;
    int n = 0;
    if (timeout == 0 && l->nwatch_ref == 0 && l->blocking) {
        /* Only internal fds (wake-up eventfd): check their sources directly, no syscall. */
    } else {
        if (eddy__unlikely(eddy__before_sleep_hook != NULL)) eddy__before_sleep_hook(l);
        /* Announce the sleep first, then look at everything another thread can change: a
         * thread that changes one of them and then reads `sleeping` (post_ts, unref, the
         * signal handler, all seq_cst) either sees it set and writes the eventfd, or its
         * change is seen here. That includes the deadlock check, which reads ext_refs: made
         * before the announcement, the last foreign eddy_loop_unref could land in between,
         * find the loop awake (no eventfd write) after the loop had seen its ref (no
         * deadlock), and the loop slept forever. A deadlock implies no ready work, no fd and
         * no timer, so it is only ever found on this path (and never by a step: the host may
         * still call into the loop between steps). */
        atomic_store(&l->sleeping, 1);
        if (l->blocking && l->nready == 0 && nothing_can_happen(l)) {
            atomic_store(&l->sleeping, 0);
            handle_deadlock(l);
            return;
        }
        if (atomic_load(&l->ts_head) || atomic_load(&l->sig_pending)) timeout = 0;
        n = l->be->poll(l, timeout);
        atomic_store(&l->sleeping, 0);
        atomic_store(&l->wake_pending, 0);
        l->stats.polls++;
    }
    if (virt && !l->stop_req) {
        /* (An iteration asked not to wait — a stop came first — lets no virtual time pass.)
         * Autojump (X1): every task is still blocked after the poll — nothing happened
         * within the threshold, or (threshold 0) the events only ran callbacks that woke no
         * task — so move virtual time to the next timer. Requiring "no event at all" with
         * threshold 0 froze virtual time whenever an fd stayed ready (a writable socket, a
         * level-triggered watcher not drained) and sleeps never ended. */
        int64_t next = eddy__timers_next(l);
        if (l->nready || atomic_load(&l->ts_head)) {
            l->idle_since = 0; /* something happened: a new idle stretch starts later */
        } else if (io_wait) {
            /* Pending I/O: jump only once its real-time allowance is spent (see above). */
            int64_t limit;
            if (next != EDDY_FOREVER && next > l->vnow && io_jump_wait(l, next, &limit) == 0) {
                l->vnow = next;
                l->idle_since = 0;
            }
        } else if ((n == 0 || l->autojump == 0) && l->autojump >= 0 && next != EDDY_FOREVER &&
                   next > l->vnow) {
            l->vnow = next;
            l->idle_since = 0;
        }
    }
    l->now = eddy__clock_read(l);
}

void eddy__loop_iterate(eddy_loop *l)
{
    /* A stop asked before this iteration makes it the run's only one; a stop asked during it
     * ends it as soon as the callback or task that asked gives the loop back. */
    bool stop_before = l->stop_req;
    poll_once(l);
    if (l->run_over) return;
    eddy__ts_drain(l);
    eddy__signals_check(l);
    eddy__timers_run(l);
    l->budget = l->poll_interval;
    while (l->budget > 0) {
        if (eddy__unlikely(l->stop_req) && !stop_before) break;
        eddy__link *x = pop_ready(l);
        if (!x) break;
        l->budget--;
        eddy__work *w = eddy__container_of(x, eddy__work, link);
        if (w->fn) {
            l->in_callback = true;
            w->fn(w);
            l->in_callback = false;
        } else {
            eddy__switch_to(l, &l->sched_ctx, NULL, eddy__container_of(w, eddy_task, work), false);
        }
    }
}

eddy_loop *eddy_loop_current(void) { return eddy__tl_loop; }

void eddy_loop_stats(struct eddy_loop_stats *out)
{
    eddy_loop *l = eddy__tl_loop;
    if (!out) return;
    if (!l) {
        *out = (struct eddy_loop_stats){0};
        return;
    }
    *out = l->stats;
    out->tasks_live = l->ntasks;
}

const char *eddy_backend_name(void)
{
    eddy_loop *l = eddy__tl_loop;
    return l ? l->be->name : NULL;
}
