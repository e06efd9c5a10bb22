// Boost.Context anchors for bench_switch.c: jump_fcontext (the raw assembly switch Boost's
// higher layers are built on) and boost::context::fiber (its public API). ns per switch.
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <cstdint>
#include <cstdlib>
#include <ctime>

namespace ctx = boost::context;
namespace det = boost::context::detail;

static int64_t now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

static void fctx_co(det::transfer_t t)
{
    for (;;) t = det::jump_fcontext(t.fctx, nullptr);
}

extern "C" double bench_boost_fcontext_ns(long switches)
{
    const std::size_t size = 64 * 1024;
    static void *stack = std::aligned_alloc(64, size);
    det::fcontext_t co = det::make_fcontext(static_cast<char *>(stack) + size, size, fctx_co);
    det::transfer_t t = det::jump_fcontext(co, nullptr); // warm-up: enter once
    long n = switches / 2;
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) t = det::jump_fcontext(t.fctx, nullptr);
    int64_t t1 = now_ns();
    return double(t1 - t0) / double(2 * n);
}

extern "C" double bench_boost_fiber_ns(long switches)
{
    long n = switches / 2;
    ctx::fiber f{std::allocator_arg, ctx::fixedsize_stack(64 * 1024), [](ctx::fiber &&m) {
                     for (;;) m = std::move(m).resume();
                     return std::move(m);
                 }};
    f = std::move(f).resume(); // warm-up
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) f = std::move(f).resume();
    int64_t t1 = now_ns();
    return double(t1 - t0) / double(2 * n);
    // f's destructor unwinds the fiber (forced_unwind) and frees its stack.
}
