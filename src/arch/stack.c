/* eddy arch layer: task stacks.
 *
 * Why regions: a stock kernel allows 65530 mappings per process (vm.max_map_count). One mapping
 * per stack plus a PROT_NONE guard (which splits it) stops at ~32k stacks, far short of the 1M
 * concurrent tasks eddy must run. So stacks are carved from regions of up to 256 slots, each
 * slot = [guard page][stack], reserved with MAP_NORESERVE (only touched pages cost memory).
 *
 * Guards, best first:
 *  - "madvise": MADV_GUARD_INSTALL (Linux 6.13+) marks the guard page in the page tables
 *    without splitting the mapping: 1M guarded stacks cost ~4k mappings;
 *  - "mprotect": PROT_NONE pages, each splitting its region (+2 mappings), used until a quarter
 *    of vm.max_map_count is spent; after that new slots get canaries;
 *  - "canary": a magic word at the bottom of the stack, checked when the task ends.
 *
 * Pools are per thread (no locking); a stack freed on another thread's loop is impossible
 * because tasks never migrate. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "stack.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "eddy/task.h"
#include "loop/sys.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define EDDY__HAVE_VALGRIND 1
#endif
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define SLOTS_PER_REGION 256
#define REGION_MAX_BYTES ((size_t)64 << 20)
#define NCLASSES 8
#define CANARY 0xedd7ca7a5bad1deaULL
#define KEEP_SLOTS 1024 /* pool size kept warm across loops */

enum { GUARD_UNKNOWN, GUARD_MADV, GUARD_MPROTECT, GUARD_CANARY };
static _Atomic int guard_mode = GUARD_UNKNOWN;
static _Atomic long mprotect_budget = -1; /* guards left before canary-only */

typedef struct region {
    struct region *next;
    char *base;
    size_t bytes;
    size_t slot_bytes;
    size_t nslots, carved;
    bool guarded; /* every slot's guard was installed when the region was made */
} region;

typedef struct free_slot {
    struct free_slot *next;
    bool canary;
} free_slot;

/* The free-list node sits at the very top of the stack: memory the task already touched. */
static free_slot *slot_node(void *lo, size_t size)
{
    return (free_slot *)((char *)lo + size - sizeof(free_slot));
}

typedef struct size_class {
    size_t size; /* usable bytes; 0 = unused class */
    region *regions;
    free_slot *free;
    size_t nfree, carved_total;
} size_class;

static __thread size_class classes[NCLASSES];
static __thread size_t in_use;

static size_t page_size(void)
{
    /* Atomic: loops starting on two threads at once both fill it in (same value). */
    static _Atomic size_t ps;
    size_t v = atomic_load_explicit(&ps, memory_order_relaxed);
    if (!v) atomic_store_explicit(&ps, v = (size_t)sysconf(_SC_PAGESIZE), memory_order_relaxed);
    return v;
}

const char *eddy__stack_guard_mode(void)
{
    switch (atomic_load(&guard_mode)) {
    case GUARD_MADV: return "madvise";
    case GUARD_MPROTECT: return "mprotect";
    case GUARD_CANARY: return "canary";
    default: return "unknown";
    }
}

static long read_max_map_count(void)
{
    long v = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = 65530;
        fclose(f);
    }
    return v;
}

/* Returns true if a guard was installed for the page at g. */
static bool install_guard(char *g)
{
    size_t ps = page_size();
    int mode = atomic_load(&guard_mode);
    if (mode == GUARD_UNKNOWN || mode == GUARD_MADV) {
        if (eddy__sys_madvise(g, ps, MADV_GUARD_INSTALL) == 0) {
            atomic_store(&guard_mode, GUARD_MADV);
            return true;
        }
        if (mode == GUARD_MADV) return false; /* worked before: transient failure */
        long budget = read_max_map_count() / 4 / 2;
        long expect = -1;
        atomic_compare_exchange_strong(&mprotect_budget, &expect, budget);
        int m = GUARD_UNKNOWN;
        atomic_compare_exchange_strong(&guard_mode, &m, GUARD_MPROTECT);
    }
    if (atomic_fetch_sub(&mprotect_budget, 1) > 0) {
        if (eddy__sys_mprotect(g, ps, PROT_NONE) == 0) return true;
    }
    return false;
}

/* Install the guards of all slots of a fresh region with one process_madvise call instead of
 * one madvise per slot (Linux 6.13+ takes MADV_GUARD_INSTALL for the caller's own process):
 * measured ~40% cheaper per guard, and a spawn that carves a new slot then makes no syscall.
 * The pidfd is opened per region (not cached) so a forked child never targets its parent.
 * Returns false (the caller installs guards one by one) if anything is unsupported. */
static _Atomic bool batch_unsupported;
static __thread struct iovec guard_iov[SLOTS_PER_REGION];

static bool guard_region_batch(region *r)
{
#if defined(SYS_process_madvise) && defined(SYS_pidfd_open)
    int mode = atomic_load(&guard_mode);
    if ((mode != GUARD_UNKNOWN && mode != GUARD_MADV) || atomic_load(&batch_unsupported)) return false;
    size_t ps = page_size();
    int pfd = (int)eddy__sys_syscall(SYS_pidfd_open, getpid(), 0);
    if (pfd < 0) {
        atomic_store(&batch_unsupported, true);
        return false;
    }
    for (size_t i = 0; i < r->nslots; i++)
        guard_iov[i] = (struct iovec){r->base + i * r->slot_bytes, ps};
    long rc = eddy__sys_syscall(SYS_process_madvise, pfd, guard_iov, r->nslots, MADV_GUARD_INSTALL, 0u);
    eddy__sys_close(pfd);
    if (rc != (long)(r->nslots * ps)) {
        /* Unsupported (EINVAL/ENOSYS/EPERM): never again. A partial install is redone slot by
         * slot (installing a guard twice is harmless). */
        if (rc < 0) atomic_store(&batch_unsupported, true);
        return false;
    }
    atomic_store(&guard_mode, GUARD_MADV);
    return true;
#else
    (void)r;
    return false;
#endif
}

static size_class *class_for(size_t size)
{
    for (int i = 0; i < NCLASSES; i++)
        if (classes[i].size == size) return &classes[i];
    for (int i = 0; i < NCLASSES; i++)
        if (classes[i].size == 0) {
            classes[i].size = size;
            return &classes[i];
        }
    return NULL;
}

static void pool_arm_exit(void);

static region *new_region(size_class *c)
{
    size_t ps = page_size();
    size_t slot = c->size + ps;
    size_t n = REGION_MAX_BYTES / slot;
    if (n > SLOTS_PER_REGION) n = SLOTS_PER_REGION;
    if (n < 1) n = 1;
    region *r = malloc(sizeof *r);
    if (!r) return NULL;
    pool_arm_exit();
    /* Under a small RLIMIT_AS or a full address space, shrink the region before giving up. */
    for (;; n /= 2) {
        void *p = eddy__sys_mmap(NULL, n * slot, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (p != MAP_FAILED) {
            r->base = p;
            break;
        }
        if (n == 1) {
            free(r);
            return NULL;
        }
    }
    r->bytes = n * slot;
    r->slot_bytes = slot;
    r->nslots = n;
    r->carved = 0;
    r->guarded = guard_region_batch(r);
    r->next = c->regions;
    c->regions = r;
    return r;
}

int eddy__stack_get(eddy__stack *s, size_t size)
{
    size_t ps = page_size();
    if (size < EDDY_MIN_STACK) size = EDDY_MIN_STACK;
    size = (size + ps - 1) & ~(ps - 1);
    size_class *c = class_for(size);
    if (!c) {
        /* More distinct sizes than classes: a dedicated mapping with an mprotect guard. */
        char *p = eddy__sys_mmap(NULL, size + ps, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (p == MAP_FAILED) return -ENOMEM;
        s->canary = eddy__sys_mprotect(p, ps, PROT_NONE) != 0;
        if (s->canary) *(uint64_t *)(p + ps) = CANARY;
        s->lo = p + ps;
        s->size = size;
        s->cls = -1;
        in_use++;
        return 0;
    }
    if (c->free) {
        free_slot *f = c->free;
        c->free = f->next;
        c->nfree--;
        s->lo = (char *)f + sizeof(free_slot) - size;
        s->canary = f->canary;
        s->size = size;
        s->cls = (int)(c - classes);
        in_use++;
        return 0;
    }
    region *r = c->regions;
    if (!r || r->carved == r->nslots) {
        r = new_region(c);
        if (!r) return -ENOMEM;
    }
    char *slot = r->base + r->carved * r->slot_bytes;
    r->carved++;
    c->carved_total++;
    s->canary = r->guarded ? false : !install_guard(slot);
    if (s->canary) *(uint64_t *)(slot + ps) = CANARY;
#ifdef EDDY__HAVE_VALGRIND
    VALGRIND_STACK_REGISTER(slot + ps, slot + ps + size);
#endif
    s->lo = slot + ps;
    s->size = size;
    s->cls = (int)(c - classes);
    in_use++;
    return 0;
}

void eddy__stack_put(eddy__stack *s)
{
    in_use--;
    if (s->cls < 0) {
        eddy__sys_munmap((char *)s->lo - page_size(), s->size + page_size());
        return;
    }
    size_class *c = &classes[s->cls];
    free_slot *f = slot_node(s->lo, s->size);
    f->canary = s->canary;
    f->next = c->free;
    c->free = f;
    c->nfree++;
}

bool eddy__stack_canary_ok(const eddy__stack *s)
{
    /* Only slots without a guard carry a canary; reading the bottom word of a guarded slot
     * would fault a page in for nothing. */
    if (!s->canary) return true;
    uint64_t v;
    __builtin_memcpy(&v, s->lo, sizeof v);
    return v == CANARY;
}

bool eddy__stack_overflowed_at(const eddy__stack *s, const void *addr)
{
    uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)s->lo;
    return a < lo && a >= lo - page_size() - 64 * 1024;
}

static void release_class(size_class *c)
{
    for (region *r = c->regions, *n; r; r = n) {
        n = r->next;
        eddy__sys_munmap(r->base, r->bytes);
        free(r);
    }
    c->regions = NULL;
    c->free = NULL;
    c->nfree = 0;
    c->carved_total = 0;
}

void eddy__stack_pool_trim(void)
{
    if (in_use != 0) return;
    for (int i = 0; i < NCLASSES; i++) {
        size_class *c = &classes[i];
        if (c->carved_total > KEEP_SLOTS) release_class(c);
    }
}

/* The pool is per thread: a thread that ran a loop and exits must give its regions back, or
 * every short-lived loop thread would leak its stacks' address space and touched pages.
 * (Key destructors run before glibc frees the thread's TLS, so the pool is still there.) */
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static bool pool_key_ok;

static void pool_dtor(void *unused)
{
    (void)unused;
    if (in_use != 0) return; /* a stack still in use (cannot happen once its loop ended) */
    for (int i = 0; i < NCLASSES; i++) release_class(&classes[i]);
}

static void pool_key_init(void) { pool_key_ok = pthread_key_create(&pool_key, pool_dtor) == 0; }

/* Called when this thread makes its first region: arm the thread-exit release. */
static void pool_arm_exit(void)
{
    (void)pthread_once(&pool_once, pool_key_init);
    if (pool_key_ok && !pthread_getspecific(pool_key)) (void)pthread_setspecific(pool_key, (void *)1);
}

