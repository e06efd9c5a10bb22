/* eddy: retries with exponential backoff and jitter (W4, include/eddy/retry.h). */
#include <errno.h>
#include <sys/random.h>
#include <time.h>

#include "eddy/retry.h"
#include "eddy/task.h"
#include "eddy/time.h"

/* eddy's own jitter source: xorshift64*, one per thread, seeded from the system. Jitter needs
 * spread, not secrecy. */
static uint64_t own_random(void *ctx)
{
    (void)ctx;
    static __thread uint64_t s;
    if (!s) {
        if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s || !s) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            s = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^ (uintptr_t)&s;
            if (!s) s = 1;
        }
    }
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
}

/* The delay before retry n (1, 2, ...) before jitter: min(base * factor^(n-1), max_delay). */
static int64_t raw_delay(const eddy_backoff *b, uint32_t n)
{
    double d = (double)b->base, cap = (double)b->max_delay;
    for (uint32_t i = 1; i < n && d < cap; i++) d *= b->factor; /* no libm; stops at the cap */
    return d < cap ? (int64_t)d : b->max_delay;
}

static int64_t jittered(const eddy_backoff *b, int64_t d)
{
    if (b->jitter == EDDY_JITTER_NONE || d <= 0) return d;
    uint64_t r = b->random ? b->random(b->random_ctx) : own_random(NULL);
    double u = (double)(r >> 11) * 0x1.0p-53; /* uniform in [0, 1) */
    if (b->jitter == EDDY_JITTER_FULL) return (int64_t)((double)d * u);
    return d / 2 + (int64_t)((double)(d - d / 2) * u);
}

int eddy_retry(int (*fn)(void *arg), void *arg, const eddy_backoff *b)
{
    static const eddy_backoff defaults = EDDY_BACKOFF_INIT;
    if (!b) b = &defaults;
    if (!fn || b->base < 0 || b->max_delay < 0 || b->max_time < 0 || !(b->factor >= 1.0) ||
        b->max_tries == 0 ||
        (b->jitter != EDDY_JITTER_FULL && b->jitter != EDDY_JITTER_EQUAL &&
         b->jitter != EDDY_JITTER_NONE))
        return -EINVAL;
    if (!eddy_task_current()) return -EPERM;
    int64_t start = eddy_now();
    for (uint32_t tries = 1;; tries++) {
        int rc = fn(arg);
        if (rc >= 0) return rc;
        int cancel = eddy_checkpoint_if_cancelled();
        if (cancel) return cancel;
        if (b->retryable && !b->retryable(rc, b->retryable_ctx)) return rc;
        if (b->max_tries != EDDY_RETRY_FOREVER && tries >= b->max_tries) return rc;
        int64_t now = eddy_now(), elapsed = now - start;
        if (b->max_time != EDDY_FOREVER && elapsed >= b->max_time) return rc;
        int64_t d = jittered(b, raw_delay(b, tries));
        if (b->max_time != EDDY_FOREVER && d > b->max_time - elapsed) d = b->max_time - elapsed;
        /* Never a sleep that the caller's deadline would cut: give up with the reason. */
        int64_t wake;
        if (__builtin_add_overflow(now, d, &wake)) wake = EDDY_FOREVER;
        int64_t dl = eddy_effective_deadline();
        if (dl != EDDY_FOREVER && wake >= dl) return rc;
        if (b->on_backoff) b->on_backoff(b->on_backoff_ctx, tries, rc, d);
        int s = eddy_sleep(d);
        if (s < 0) return s;
    }
}
