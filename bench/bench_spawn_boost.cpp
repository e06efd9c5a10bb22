// Boost.Context anchor for bench_spawn.c: create a fiber on a pooled stack, run it to
// completion, n times. ns per fiber.
#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <cstdint>
#include <ctime>

namespace ctx = boost::context;

static int64_t now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

extern "C" double bench_boost_fiber_spawn_ns(long n)
{
    static ctx::pooled_fixedsize_stack pool(64 * 1024);
    long sink = 0;
    // Warm the pool.
    for (int i = 0; i < 1000; i++) {
        ctx::fiber f{std::allocator_arg, pool, [&sink](ctx::fiber &&m) {
                         sink++;
                         return std::move(m);
                     }};
        f = std::move(f).resume();
    }
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        ctx::fiber f{std::allocator_arg, pool, [&sink](ctx::fiber &&m) {
                         sink++;
                         return std::move(m);
                     }};
        f = std::move(f).resume(); // runs to completion; the stack returns to the pool
    }
    int64_t t1 = now_ns();
    if (sink < 0) return -1;
    return double(t1 - t0) / double(n);
}
