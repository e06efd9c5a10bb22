/* eddy__ctx_switch for x86-64 System V.
 *
 * Saves rbp, rbx, r12-r15 and the resume address on the current stack, the stack pointer and
 * FP control words in *from; restores the same from *to. The resume address is popped and
 * reached with an indirect jmp rather than `ret`: a `ret` into another stack misses the return
 * stack buffer and measured ~5x slower here. MXCSR is restored only when its control bits
 * differ (any inexact double op sets sticky flags, so a plain compare would always differ),
 * keeping the current sticky flags; the x87 control word likewise only when it differs. */
#if defined(__x86_64__) && !defined(EDDY_USE_UCONTEXT)
    .text
    .p2align 4
    .globl eddy__ctx_switch
    .hidden eddy__ctx_switch
    .type eddy__ctx_switch, @function
eddy__ctx_switch:
    .cfi_startproc
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
    movl 8(%rdi), %eax
    xorl 8(%rsi), %eax
    testl $0xffc0, %eax
    jnz 3f
1:  movzwl 12(%rdi), %eax
    cmpw 12(%rsi), %ax
    jne 4f
2:  popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    popq %rcx
    jmpq *%rcx
3:  movl 8(%rdi), %eax
    andl $0x3f, %eax
    movl 8(%rsi), %edx
    andl $0xffc0, %edx
    orl %edx, %eax
    movl %eax, -8(%rsp)
    ldmxcsr -8(%rsp)
    jmp 1b
4:  fldcw 12(%rsi)
    jmp 2b
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
    movq %r13, %rdi
    callq *%r12
    ud2
    .cfi_endproc
    .size eddy__ctx_entry, .-eddy__ctx_entry
#endif
    .section .note.GNU-stack, "", @progbits
