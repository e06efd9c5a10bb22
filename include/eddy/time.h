/* eddy — sleeping and tickers: capabilities T1, T2 (T3 and callback timers: loop.h). */
#ifndef EDDY_TIME_H
#define EDDY_TIME_H

#include "base.h"
#include "loop.h" /* eddy_timer, embedded in eddy_ticker */

#ifdef __cplusplus
extern "C" {
#endif

/* T1: suspend the calling task for ns nanoseconds. 0 is a checkpoint that still yields;
 * EDDY_FOREVER (or any ns beyond the clock's range) sleeps until cancelled (docs/api.md,
 * "Durations").
 * Returns 0; -ECANCELED/-ETIMEDOUT if cancelled first (the sleep is abandoned); -EINVAL for a
 * negative ns (to wait for a time that may have passed, use eddy_sleep_until); -EPERM outside
 * a task (callbacks included); -ENOMEM if the loop's timer heap cannot grow. */
EDDY_API EDDY_WUR int eddy_sleep(int64_t ns);
/* T1: suspend until the absolute loop time deadline (a time already passed: a checkpoint that
 * still yields). Same returns as eddy_sleep, without -EINVAL. */
EDDY_API EDDY_WUR int eddy_sleep_until(int64_t deadline);
/* T1: suspend until cancelled. Returns -ECANCELED/-ETIMEDOUT; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_sleep_forever(void);

/* ---- T2: tickers ----------------------------------------------------------------------
 * A ticker delivers periodic ticks to tasks like a channel would: eddy_ticker_wait blocks
 * until the next tick and hands it to one waiter (FIFO among several waiters). Nothing is
 * allocated per tick: the ticker's single timer is armed only while a task waits, and ticks
 * that fall due while nobody waits are computed from the clock when the next wait comes. */

enum {
    /* Tick k is due at start + k * period, whatever happened to earlier ticks, so there is
     * never accumulated drift. Without it the ticker is fixed-delay: the next tick is due one
     * period after the previous one was delivered (a late consumer shifts every later tick). */
    EDDY_TICK_FIXED_RATE = 1u << 0,
    /* With EDDY_TICK_FIXED_RATE: a consumer that fell behind gets the latest due tick at once
     * and the older undelivered ones are skipped (counted in missed), instead of receiving
     * every missed tick back to back (the default "burst" catch-up). */
    EDDY_TICK_SKIP_MISSED = 1u << 1,
};

/* A ticker. Caller storage; fields marked private are the runtime's. */
typedef struct eddy_ticker {
    int64_t period;      /* read-only: ns between ticks */
    int64_t start;       /* read-only: loop time at eddy_ticker_start */
    int64_t next_due;    /* read-only: loop time at which the next tick is due */
    uint64_t ticks;      /* read-only: number of the last tick delivered (0 = none yet) */
    uint64_t missed;     /* read-only: ticks skipped so far (EDDY_TICK_SKIP_MISSED) */
    unsigned flags;      /* read-only: EDDY_TICK_* */
    unsigned state;      /* private */
    eddy__link waiters;  /* private: blocked eddy_ticker_wait calls, FIFO */
    eddy_timer timer;    /* private: armed only while someone waits */
    eddy_loop *loop;     /* private */
    eddy__handle handle; /* private: leak tracking (a ticker must be stopped) */
} eddy_ticker;

/* T2: start tk (caller storage, zeroed or stopped) ticking every period_ns on this thread's
 * loop, from now (eddy_now()). The first tick is due one period after the start. flags:
 * EDDY_TICK_FIXED_RATE, EDDY_TICK_SKIP_MISSED (only with FIXED_RATE), or 0 (fixed delay).
 * tk must be stopped with eddy_ticker_stop before the loop ends: a running ticker is reported
 * as a leak by eddy_run with its start site.
 * Returns 0; -EINVAL for tk == NULL, period_ns <= 0, unknown flags or SKIP_MISSED without
 * FIXED_RATE; -EBUSY if tk is already running; -EPERM outside a loop thread. */
#define eddy_ticker_start(tk, period_ns, flags) \
    eddy__ticker_start((tk), (period_ns), (flags), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__ticker_start(eddy_ticker *tk, int64_t period_ns, unsigned flags,
                                         const char *site);
/* T2: wait for the next tick of tk and store its number in *tick (tick may be NULL). Fixed
 * rate: the number k of the tick due at start + k * period, so with EDDY_TICK_SKIP_MISSED a
 * jump from k to k + 1 + m means m ticks were skipped (tk->missed counts them all); fixed
 * delay: 1, 2, 3, ... A tick already due is returned at once without switching. Cancellation
 * point: a cancelled wait consumes no tick.
 * Returns 0; -ECANCELED/-ETIMEDOUT if cancelled; -EPIPE if tk is stopped (also when stopped
 * while waiting); -EINVAL for tk == NULL, a ticker never started or started on another loop;
 * -EPERM outside a task (callback context included); -ENOMEM if the timer heap cannot grow. */
EDDY_API EDDY_WUR int eddy_ticker_wait(eddy_ticker *tk, uint64_t *tick);
/* T2: stop tk: its waiters return -EPIPE, later waits too, and its timer is disarmed. Call it
 * on the loop thread that started tk. Idempotent; a no-op on NULL or a never-started (zeroed)
 * ticker. A stopped ticker may be started again. */
EDDY_API void eddy_ticker_stop(eddy_ticker *tk);

#ifdef __cplusplus
}
#endif
#endif
