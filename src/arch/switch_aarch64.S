/* eddy__ctx_switch for aarch64 (AAPCS64; also fits Apple's ABI, where x18 is not touched).
 *
 * Saves x19-x30 and d8-d15 (the callee-saved set) on the current stack, sp and FPCR in *from;
 * restores from *to. The resume address (x30) is reached with `br` rather than `ret`, for the
 * same return-predictor reason as on x86-64. FPCR holds no sticky flags (those live in FPSR),
 * so it is compared whole and written only when it differs. Unlike the x86-64 switch, which
 * now restores unconditionally, the compare here works on the values still in registers (no
 * reload of a just-stored word, so no store-forwarding stall), while an FPCR write is slow on
 * some cores; without aarch64 hardware to measure on, it stays. */
#if defined(__aarch64__) && !defined(EDDY_USE_UCONTEXT)
    .text
    .p2align 4
    .globl eddy__ctx_switch
    .hidden eddy__ctx_switch
    .type eddy__ctx_switch, %function
eddy__ctx_switch:
    .cfi_startproc
    sub sp, sp, #160
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mov x2, sp
    str x2, [x0]
    mrs x3, fpcr
    str x3, [x0, #8]
    ldr x4, [x1, #8]
    cmp x3, x4
    b.ne 3f
1:  ldr x2, [x1]
    mov sp, x2
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #160
    br x30
3:  msr fpcr, x4
    b 1b
    .cfi_endproc
    .size eddy__ctx_switch, .-eddy__ctx_switch

/* First code a new context runs: x19 = entry, x20 = arg. */
    .p2align 4
    .globl eddy__ctx_entry
    .hidden eddy__ctx_entry
    .type eddy__ctx_entry, %function
eddy__ctx_entry:
    .cfi_startproc
    .cfi_undefined x30
    mov x29, #0
    mov x0, x20
    blr x19
    brk #0
    .cfi_endproc
    .size eddy__ctx_entry, .-eddy__ctx_entry
#endif
#include "cet_note.h" /* assembled on x86-64 too (empty): it must not unmark the library */
    .section .note.GNU-stack, "", %progbits
