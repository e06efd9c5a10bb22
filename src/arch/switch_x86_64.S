/* eddy__ctx_switch for x86-64 System V.
 *
 * Saves rbp, rbx, r12-r15 and the resume address on the current stack, the stack pointer and
 * FP control words in *from; restores the same from *to. The resume address is popped and
 * reached with an indirect jmp rather than `ret`: a `ret` into another stack misses the return
 * stack buffer and measured ~5x slower here. MXCSR and the x87 control word are restored
 * unconditionally, as Boost.Context does: an unchanged ldmxcsr/fldcw is cheap on current cores,
 * while the previous compare-then-restore re-read the just-stored values and stalled on store
 * forwarding (Zen 3 VM, bench_switch alternating builds: 6.5-6.7 ns per switch with the
 * compare, 4.8-5.6 ns without; a standalone harness gave 10.4-10.7 against 8.3). The
 * whole MXCSR travels with the context, so the sticky exception flags are per task too (as
 * with swapcontext), not accumulated across tasks.
 *
 * CET (Intel Control-flow Enforcement), when the compiler targets it (-fcf-protection, which
 * defines __CET__; Ubuntu's gcc does by default):
 *  - indirect branch tracking (IBT): both entry points start with endbr64 (eddy__ctx_entry is
 *    reached by an indirect jmp); the jmp to a resume address, which is the instruction after
 *    a call and has no endbr64, is `notrack`, as glibc's longjmp does. The object carries the
 *    IBT bit in its .note.gnu.property (cet_note.h), so a library built with -fcf-protection
 *    stays IBT-marked.
 *  - shadow stacks (SHSTK): not supported, and not claimed. A task switch changes stacks
 *    without the matching ret, so it would need one shadow stack per task and a switch with
 *    rstorssp/saveprevssp (as Boost.Context has under BOOST_USE_CET); one thread-wide shadow
 *    stack would fault at the first ret in another task. Without the SHSTK bit here, the linker
 *    (which ANDs the bits of every object) leaves it off the whole program, so the kernel never
 *    enables shadow stacks for a program that links eddy. */
#if defined(__x86_64__) && !defined(EDDY_USE_UCONTEXT)
#if defined(__CET__) && (__CET__ & 1)
#define EDDY_ENDBR endbr64
#define EDDY_NOTRACK notrack
#else
#define EDDY_ENDBR
#define EDDY_NOTRACK
#endif
    .text
    .p2align 4
    .globl eddy__ctx_switch
    .hidden eddy__ctx_switch
    .type eddy__ctx_switch, @function
eddy__ctx_switch:
    .cfi_startproc
    EDDY_ENDBR
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    stmxcsr 8(%rdi)
    fnstcw 12(%rdi)
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    ldmxcsr 8(%rsi)
    fldcw 12(%rsi)
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    popq %rcx
    EDDY_NOTRACK jmpq *%rcx
    .cfi_endproc
    .size eddy__ctx_switch, .-eddy__ctx_switch

/* First code a new context runs: r12 = entry, r13 = arg (placed by eddy__ctx_make). The stack
 * is 16-byte aligned here, as a call requires. */
    .p2align 4
    .globl eddy__ctx_entry
    .hidden eddy__ctx_entry
    .type eddy__ctx_entry, @function
eddy__ctx_entry:
    .cfi_startproc
    .cfi_undefined rip
    EDDY_ENDBR
    movq %r13, %rdi
    callq *%r12
    ud2
    .cfi_endproc
    .size eddy__ctx_entry, .-eddy__ctx_entry

#endif
#include "cet_note.h"
    .section .note.GNU-stack, "", @progbits
