/* eddy arch layer: building a fresh context on a new stack (the switch itself is assembly, or
 * ucontext when built with EDDY_USE_UCONTEXT or on other targets). */
#include "ctx.h"

#include <string.h>

#if defined(EDDY__UCONTEXT)

/* makecontext passes only int arguments: split the two pointers into 32-bit halves. */
static void uc_trampoline(unsigned f_hi, unsigned f_lo, unsigned a_hi, unsigned a_lo)
{
    void (*entry)(void *) =
        (void (*)(void *))(uintptr_t)(((uint64_t)f_hi << 32) | (uint64_t)f_lo);
    void *arg = (void *)(uintptr_t)(((uint64_t)a_hi << 32) | (uint64_t)a_lo);
    entry(arg);
    __builtin_trap(); /* entry never returns */
}

void eddy__ctx_make(eddy__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
    uint64_t f = (uint64_t)(uintptr_t)entry, a = (uint64_t)(uintptr_t)arg;
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = lo;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL;
    makecontext(&c->uc, (void (*)(void))uc_trampoline, 4, (unsigned)(f >> 32), (unsigned)f,
                (unsigned)(a >> 32), (unsigned)a);
}

void eddy__ctx_switch(eddy__ctx *from, eddy__ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}

#elif defined(__x86_64__)

extern void eddy__ctx_entry(void);

void eddy__ctx_make(eddy__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    /* Frame popped by eddy__ctx_switch: r15 r14 r13 r12 rbx rbp, then the resume address.
     * After the 7 pops rsp == top (16-aligned), as eddy__ctx_entry's call needs. */
    uint64_t *sp = (uint64_t *)(top - 7 * 8);
    sp[0] = 0;                           /* r15 */
    sp[1] = 0;                           /* r14 */
    sp[2] = (uint64_t)(uintptr_t)arg;    /* r13 */
    sp[3] = (uint64_t)(uintptr_t)entry;  /* r12 */
    sp[4] = 0;                           /* rbx */
    sp[5] = 0;                           /* rbp: ends frame-pointer walks */
    sp[6] = (uint64_t)(uintptr_t)eddy__ctx_entry;
    c->sp = sp;
    c->mxcsr = 0x1f80; /* ABI defaults: all exceptions masked, round to nearest */
    c->fpucw = 0x037f;
}

#else /* aarch64 */

extern void eddy__ctx_entry(void);

void eddy__ctx_make(eddy__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 160);
    memset(sp, 0, 160);
    sp[0] = (uint64_t)(uintptr_t)entry;          /* x19 */
    sp[1] = (uint64_t)(uintptr_t)arg;            /* x20 */
    sp[11] = (uint64_t)(uintptr_t)eddy__ctx_entry; /* x30 */
    c->sp = sp;
    c->fpcr = 0;
}

#endif
