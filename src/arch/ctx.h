/* eddy arch layer: saved execution contexts and the switch between them.
 *
 * A context is what eddy__ctx_switch saves: the stack pointer (the callee-saved registers and
 * the resume address are pushed on the stack being left), plus the FP control words, which the
 * ABIs make callee-saved. x86-64 saves and restores MXCSR and the x87 control word on every
 * switch (measured cheaper than comparing first: see switch_x86_64.S); aarch64 writes FPCR
 * only when it differs (a register compare there, no reload; an FPCR write can be costly on
 * some cores, and no aarch64 hardware was at hand to measure). */
#ifndef EDDY_ARCH_CTX_H
#define EDDY_ARCH_CTX_H

#include <stddef.h>
#include <stdint.h>

#if defined(EDDY_USE_UCONTEXT) || !(defined(__x86_64__) || defined(__aarch64__))
#define EDDY__UCONTEXT 1
#include <ucontext.h>
typedef struct eddy__ctx {
    ucontext_t uc;
} eddy__ctx;
#define EDDY__ARCH_NAME "ucontext"
#elif defined(__x86_64__)
typedef struct eddy__ctx {
    void *sp;         /* offset 0 */
    uint32_t mxcsr;   /* offset 8 */
    uint16_t fpucw;   /* offset 12 */
} eddy__ctx;
#define EDDY__ARCH_NAME "x86_64"
#else
typedef struct eddy__ctx {
    void *sp;         /* offset 0 */
    uint64_t fpcr;    /* offset 8 */
} eddy__ctx;
#define EDDY__ARCH_NAME "aarch64"
#endif

/* Save the current context into from and resume to. Returns when something switches back
 * to from. */
void eddy__ctx_switch(eddy__ctx *from, eddy__ctx *to);

/* Prepare c so that switching to it calls entry(arg) on the stack [lo, lo+size). entry must
 * never return (it switches away for good instead). */
void eddy__ctx_make(eddy__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg);

#endif
