/* eddy arch layer: task stacks, pooled per thread, carved from large mappings. */
#ifndef EDDY_ARCH_STACK_H
#define EDDY_ARCH_STACK_H

#include <stdbool.h>
#include <stddef.h>

typedef struct eddy__stack {
    void *lo;      /* lowest usable byte; the guard lies just below */
    size_t size;   /* usable bytes */
    int cls;       /* size class index, -1 = dedicated mapping */
    bool canary;   /* no guard page could be installed: a canary guards the bottom */
} eddy__stack;

/* Get a stack of at least size bytes (rounded up to pages, at least EDDY_MIN_STACK).
 * Returns 0; -ENOMEM if no memory or address space can be had. */
int eddy__stack_get(eddy__stack *s, size_t size);
/* Return a stack to this thread's pool. */
void eddy__stack_put(eddy__stack *s);
/* False if the stack's bottom canary was overwritten (only kept when no guard page could be
 * installed, see guard modes in stack.c). */
bool eddy__stack_canary_ok(const eddy__stack *s);
/* True if addr lies in the guard area below s (or just under it): a stack overflow. */
bool eddy__stack_overflowed_at(const eddy__stack *s, const void *addr);
/* Release this thread's pooled stacks if none is in use and many were made (called when a
 * loop ends, so a burst of 1M tasks does not pin gigabytes). */
void eddy__stack_pool_trim(void);
/* How guards are made in this process: "madvise", "mprotect", or "canary". */
const char *eddy__stack_guard_mode(void);

#endif
