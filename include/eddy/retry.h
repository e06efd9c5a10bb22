/* eddy — retries with exponential backoff (W4), after Python's `backoff` library.
 *
 *   static int fetch(void *arg) { ... return 0 or a negative errno ... }
 *   eddy_backoff b = EDDY_BACKOFF_INIT;          // 100 ms, x2, up to 10 s, full jitter, 5 tries
 *   b.retryable = eddy_http_client_retryable;    // which errors are worth another try
 *   rc = eddy_retry(fetch, &state, &b);
 *
 * eddy_retry calls fn(arg) until it succeeds (returns >= 0), fails with an error the
 * classifier calls permanent, or the budget is spent (max_tries calls, max_time since the
 * first call). Between calls it sleeps, before the n-th retry (n = 1, 2, ...):
 *
 *     d = min(base * factor^(n-1), max_delay)        then jitter:
 *     EDDY_JITTER_FULL   uniform in [0, d]          ("full jitter", backoff.full_jitter)
 *     EDDY_JITTER_EQUAL  d/2 + uniform in [0, d/2]
 *     EDDY_JITTER_NONE   d
 *
 * and never past max_time: the last sleep is cut to what is left of it (as backoff does).
 * In backoff's terms, base and factor here are backoff.expo's factor and base:
 * backoff.on_exception(backoff.expo, base=2, factor=0.1, max_value=10, jitter=full_jitter)
 * is {.base = EDDY_MSEC(100), .factor = 2, .max_delay = EDDY_SEC(10)}.
 *
 * Deadlines. A retry is a blocking call like any other: its sleeps are cancellation points
 * of the caller's scopes. It also never starts a sleep that would end past the caller's
 * effective deadline (eddy_effective_deadline: the earliest deadline of the enclosing
 * scopes): it gives up at once and returns the last error instead, so that a caller with a
 * 2 s budget learns why its attempts failed, not merely that time ran out. A call of fn that
 * returns while the caller is being cancelled ends the retries with the cancel code.
 *
 * Durations follow docs/api.md: EDDY_FOREVER is no limit, 0 is "none at all" (max_time 0:
 * one call and no retry; max_delay 0: no sleeping), negative is -EINVAL. */
#ifndef EDDY_RETRY_H
#define EDDY_RETRY_H

#include <stdint.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    EDDY_JITTER_FULL = 0,  /* uniform in [0, d] */
    EDDY_JITTER_EQUAL = 1, /* d/2 + uniform in [0, d/2] */
    EDDY_JITTER_NONE = 2,  /* exactly d */
};

/* max_tries without a limit. */
#define EDDY_RETRY_FOREVER UINT32_MAX

/* The policy. Start from EDDY_BACKOFF_INIT; a zero-filled struct means literal zeros (no
 * delay, and max_tries 0 is -EINVAL). */
typedef struct eddy_backoff {
    int64_t base;       /* the delay before the first retry, before jitter. INIT: 100 ms */
    double factor;      /* each retry's delay is the previous one's times this (>= 1).
                           INIT: 2 */
    int64_t max_delay;  /* no delay above this, before jitter. INIT: 10 s */
    int jitter;         /* EDDY_JITTER_*. INIT: EDDY_JITTER_FULL */
    uint32_t max_tries; /* calls of fn in all, the first included (1: no retry);
                           EDDY_RETRY_FOREVER: no limit. INIT: 5 */
    int64_t max_time;   /* no retry starts later than this after the first call, and no sleep
                           ends later. INIT: EDDY_FOREVER */
    /* Is this error worth another try? NULL: every error is. (An error while the caller is
     * being cancelled is never retried.) */
    bool (*retryable)(int err, void *ctx);
    void *retryable_ctx;
    /* The jitter's randomness: a uniform 64-bit value per call (a seeded generator makes
     * retries reproducible). NULL: a generator of eddy's, seeded from the system. */
    uint64_t (*random)(void *ctx);
    void *random_ctx;
    /* Told before each sleep: the try that failed (1 = the first call), its error, and how
     * long it will sleep (backoff's on_backoff). NULL: nothing. Must not block. */
    void (*on_backoff)(void *ctx, uint32_t tries, int err, int64_t delay);
    void *on_backoff_ctx;
} eddy_backoff;
#define EDDY_BACKOFF_INIT                                                                      \
    {EDDY_MSEC(100), 2.0, EDDY_SEC(10), EDDY_JITTER_FULL, 5, EDDY_FOREVER, NULL, NULL, NULL, \
     NULL, NULL, NULL}

/* W4: call fn(arg) until it returns >= 0, with the backoff of b between failed calls (see
 * above). b may be NULL (EDDY_BACKOFF_INIT).
 * Returns what fn returned last: its success value (>= 0), or its last error — when the
 * classifier calls it permanent, after max_tries calls, when max_time is spent, or when the
 * next sleep would end past the caller's deadline; -ECANCELED/-ETIMEDOUT if the caller's scope
 * was cancelled (during a sleep or a call of fn); -EINVAL for NULL fn, a negative duration, a
 * factor below 1 (or not a number), an unknown jitter or max_tries 0; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_retry(int (*fn)(void *arg), void *arg, const eddy_backoff *b);

#ifdef __cplusplus
}
#endif
#endif
