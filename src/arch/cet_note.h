/* Included at the end of every assembly file of src/arch. On x86-64 built for CET
 * (-fcf-protection: __CET__ bit 0 = indirect branch tracking), mark the object IBT-compatible.
 *
 * The linker ANDs the feature bits of every object it links, so one object without the note
 * (the other architecture's switch, assembled empty; an assembly file of eddy's without it)
 * would unmark the whole library. SHSTK (shadow stacks) is deliberately left out: eddy's
 * context switch is not shadow-stack-safe (switch_x86_64.S says why), so the program must not
 * run with shadow stacks enabled. */
#if defined(__x86_64__) && defined(__CET__) && (__CET__ & 1)
    .section .note.gnu.property, "a"
    .p2align 3
    .long 4             /* name size */
    .long 16            /* descriptor size */
    .long 5             /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz "GNU"
    .long 0xc0000002    /* GNU_PROPERTY_X86_FEATURE_1_AND */
    .long 4             /* its size */
    .long 1             /* GNU_PROPERTY_X86_FEATURE_1_IBT */
    .p2align 3
#endif
