/* Benchmark 1: task switch cost.
 *
 *   eddy_yield  two eddy tasks ping-ponging with eddy_yield(): ns per hand-off (one yield =
 *               queue self + pick next + one context switch, the whole public path);
 *   eddy_raw    eddy__ctx_switch alone (internal, from src/arch/ctx.h), two contexts;
 *   asm_ret     a minimal hand-written switch (callee-saved regs, swap sp, ret);
 *   asm_jmp     the same ending in pop+indirect jmp instead of ret;
 *   boost_fctx  Boost.Context jump_fcontext ping-pong (bench_switch_boost.cpp);
 *   boost_fiber boost::context::fiber resume ping-pong.
 *
 * All figures are ns per single switch (one direction). Rounds alternate the variants; the
 * median per variant is printed, then ratios (median over rounds of the per-round ratio) of
 * eddy against the faster of the two minimal assembly switches and against jump_fcontext. */
#include <stdlib.h>
#include <string.h>

#include "arch/ctx.h"
#include "bench.h"
#include "eddy.h"

double bench_boost_fcontext_ns(long switches);
double bench_boost_fiber_ns(long switches);

/* ---- a minimal assembly switch (ours, for the anchor) ---------------------------------- */
/* void bench_sw_ret(void **save_sp, void *load_sp): push the callee-saved registers, store sp,
 * load the other sp, pop, return into the other context. bench_sw_jmp ends with pop + jmp. */
void bench_sw_ret(void **save_sp, void *load_sp);
void bench_sw_jmp(void **save_sp, void *load_sp);
void bench_sw_entry(void);

#if defined(__x86_64__)
__asm__(".text\n"
        ".p2align 4\n"
        ".globl bench_sw_ret\n"
        ".type bench_sw_ret,@function\n"
        "bench_sw_ret:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size bench_sw_ret,.-bench_sw_ret\n"
        ".p2align 4\n"
        ".globl bench_sw_jmp\n"
        ".type bench_sw_jmp,@function\n"
        "bench_sw_jmp:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  popq %rcx\n"
        "  jmpq *%rcx\n"
        ".size bench_sw_jmp,.-bench_sw_jmp\n"
        /* First code of a new context: r12 = fn, r13 = arg. */
        ".p2align 4\n"
        ".globl bench_sw_entry\n"
        ".type bench_sw_entry,@function\n"
        "bench_sw_entry:\n"
        "  movq %r13, %rdi\n"
        "  callq *%r12\n"
        "  ud2\n"
        ".size bench_sw_entry,.-bench_sw_entry\n");

static void *sw_make(void *stack, size_t size, void (*fn)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 7 * 8); /* r15 r14 r13 r12 rbx rbp ret */
    memset(sp, 0, 7 * 8);
    sp[2] = (uint64_t)(uintptr_t)arg;
    sp[3] = (uint64_t)(uintptr_t)fn;
    sp[6] = (uint64_t)(uintptr_t)bench_sw_entry;
    return sp;
}
#elif defined(__aarch64__)
#define SW_SAVE                                                                              \
    "  sub sp, sp, #160\n"                                                                   \
    "  stp x19, x20, [sp, #0]\n  stp x21, x22, [sp, #16]\n  stp x23, x24, [sp, #32]\n"      \
    "  stp x25, x26, [sp, #48]\n  stp x27, x28, [sp, #64]\n  stp x29, x30, [sp, #80]\n"     \
    "  stp d8, d9, [sp, #96]\n  stp d10, d11, [sp, #112]\n  stp d12, d13, [sp, #128]\n"     \
    "  stp d14, d15, [sp, #144]\n"                                                           \
    "  mov x2, sp\n  str x2, [x0]\n  mov sp, x1\n"                                           \
    "  ldp x19, x20, [sp, #0]\n  ldp x21, x22, [sp, #16]\n  ldp x23, x24, [sp, #32]\n"      \
    "  ldp x25, x26, [sp, #48]\n  ldp x27, x28, [sp, #64]\n  ldp x29, x30, [sp, #80]\n"     \
    "  ldp d8, d9, [sp, #96]\n  ldp d10, d11, [sp, #112]\n  ldp d12, d13, [sp, #128]\n"     \
    "  ldp d14, d15, [sp, #144]\n"                                                           \
    "  add sp, sp, #160\n"
__asm__(".text\n"
        ".p2align 4\n"
        ".globl bench_sw_ret\n"
        ".type bench_sw_ret,%function\n"
        "bench_sw_ret:\n" SW_SAVE "  ret\n"
        ".size bench_sw_ret,.-bench_sw_ret\n"
        ".p2align 4\n"
        ".globl bench_sw_jmp\n"
        ".type bench_sw_jmp,%function\n"
        "bench_sw_jmp:\n" SW_SAVE "  br x30\n"
        ".size bench_sw_jmp,.-bench_sw_jmp\n"
        /* First code of a new context: x19 = fn, x20 = arg. */
        ".p2align 4\n"
        ".globl bench_sw_entry\n"
        ".type bench_sw_entry,%function\n"
        "bench_sw_entry:\n"
        "  mov x0, x20\n"
        "  blr x19\n"
        "  brk #0\n"
        ".size bench_sw_entry,.-bench_sw_entry\n");

static void *sw_make(void *stack, size_t size, void (*fn)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 160);
    memset(sp, 0, 160);
    sp[0] = (uint64_t)(uintptr_t)fn;             /* x19 */
    sp[1] = (uint64_t)(uintptr_t)arg;            /* x20 */
    sp[11] = (uint64_t)(uintptr_t)bench_sw_entry; /* x30 */
    return sp;
}
#else
#error "bench_switch needs x86-64 or aarch64"
#endif

#define STACK_SIZE (64 * 1024)

typedef struct sw_pair {
    void *main_sp, *co_sp;
    long n; /* round trips */
    void (*sw)(void **, void *);
} sw_pair;

static void sw_co(void *p)
{
    sw_pair *s = p;
    for (;;) s->sw(&s->co_sp, s->main_sp);
}

/* ns per switch for one of our assembly switches. */
static double asm_switch_ns(void (*sw)(void **, void *), long switches)
{
    static char *stack;
    if (!stack) stack = aligned_alloc(64, STACK_SIZE);
    sw_pair s = {.n = switches / 2, .sw = sw};
    s.co_sp = sw_make(stack, STACK_SIZE, sw_co, &s);
    sw(&s.main_sp, s.co_sp); /* warm-up: enter the coroutine once */
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < s.n; i++) sw(&s.main_sp, s.co_sp);
    int64_t t1 = bench_now_ns();
    return (double)(t1 - t0) / (double)(2 * s.n);
}

/* ---- eddy's raw context switch ---------------------------------------------------------- */
static eddy__ctx raw_main, raw_co;

static void raw_co_fn(void *p)
{
    (void)p;
    for (;;) eddy__ctx_switch(&raw_co, &raw_main);
}

static double eddy_raw_ns(long switches)
{
    static char *stack;
    if (!stack) stack = aligned_alloc(64, STACK_SIZE);
    eddy__ctx_make(&raw_co, stack, STACK_SIZE, raw_co_fn, NULL);
    eddy__ctx_switch(&raw_main, &raw_co);
    long n = switches / 2;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) eddy__ctx_switch(&raw_main, &raw_co);
    int64_t t1 = bench_now_ns();
    return (double)(t1 - t0) / (double)(2 * n);
}

/* ---- eddy tasks ping-ponging with eddy_yield ------------------------------------------- */
typedef struct yield_arg {
    long n;
    double ns;
} yield_arg;

static int yielder(void *p)
{
    long n = *(long *)p;
    for (long i = 0; i < n; i++)
        if (eddy_yield() < 0) return -1;
    return 0;
}

static int yield_main(void *p)
{
    yield_arg *a = p;
    long per_task = a->n / 2;
    /* Warm-up round so both stacks come from the pool and are paged in. */
    for (int pass = 0; pass < 2; pass++) {
        long n = pass == 0 ? 1000 : per_task;
        eddy_nursery nu;
        int rc = eddy_nursery_open(&nu);
        if (rc < 0) return rc;
        int64_t t0 = bench_now_ns();
        rc = eddy_spawn(&nu, yielder, &n);
        if (rc == 0) rc = eddy_spawn(&nu, yielder, &n);
        int rc2 = eddy_nursery_close(&nu);
        int64_t t1 = bench_now_ns();
        if (rc < 0 || rc2 < 0) return rc < 0 ? rc : rc2;
        /* Hand-offs: each yield switches once to the other task. */
        a->ns = (double)(t1 - t0) / (double)(2 * n);
    }
    return 0;
}

static double eddy_yield_ns(long switches)
{
    yield_arg a = {.n = switches};
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS};
    if (eddy_run_opts(yield_main, &a, &o) != 0) {
        fprintf(stderr, "bench_switch: eddy_run failed\n");
        exit(1);
    }
    return a.ns;
}

enum { V_YIELD, V_RAW, V_ASM_RET, V_ASM_JMP, V_BOOST_FCTX, V_BOOST_FIBER, NV };
static const char *names[NV] = {"eddy_yield_ns", "eddy_raw_switch_ns", "asm_ret_switch_ns",
                                "asm_jmp_switch_ns", "boost_fcontext_ns", "boost_fiber_ns"};

static double run_variant(int v, long n)
{
    switch (v) {
    case V_YIELD: return eddy_yield_ns(n);
    case V_RAW: return eddy_raw_ns(n);
    case V_ASM_RET: return asm_switch_ns(bench_sw_ret, n);
    case V_ASM_JMP: return asm_switch_ns(bench_sw_jmp, n);
    case V_BOOST_FCTX: return bench_boost_fcontext_ns(n);
    default: return bench_boost_fiber_ns(n);
    }
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    int rounds = bench_rounds(argc, argv, quick ? 3 : 9);
    long n = bench_n(argc, argv, quick ? 400000 : 2000000);
    double v[NV][256];
    for (int k = 0; k < NV; k++) (void)run_variant(k, n / 10); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        /* Alternate the order every round so no variant always runs first. */
        for (int i = 0; i < NV; i++) {
            int k = r % 2 ? NV - 1 - i : i;
            v[k][r] = run_variant(k, n);
        }
    }
    printf("bench=switch\nrounds=%d\nswitches=%ld\n", rounds, n);
    double med[NV];
    for (int k = 0; k < NV; k++) {
        med[k] = bench_median(v[k], rounds);
        bench_kv(names[k], med[k]);
    }
    double best[256];
    for (int r = 0; r < rounds; r++)
        best[r] = v[V_ASM_RET][r] < v[V_ASM_JMP][r] ? v[V_ASM_RET][r] : v[V_ASM_JMP][r];
    bench_kv("asm_best_switch_ns", bench_median(best, rounds));
    /* Ratios: median over rounds of the per-round ratio. */
    bench_kv("ratio_yield_vs_asm", bench_median_ratio(v[V_YIELD], best, rounds));
    bench_kv("ratio_raw_vs_asm", bench_median_ratio(v[V_RAW], best, rounds));
    bench_kv("ratio_yield_vs_boost_fcontext", bench_median_ratio(v[V_YIELD], v[V_BOOST_FCTX], rounds));
    bench_kv("ratio_raw_vs_boost_fcontext", bench_median_ratio(v[V_RAW], v[V_BOOST_FCTX], rounds));
    return 0;
}
