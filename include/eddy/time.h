/* eddy — sleeping and tickers. SPEC rows T1, T2 (T3 and callback timers: loop.h). */
#ifndef EDDY_TIME_H
#define EDDY_TIME_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* T1: suspend the calling task for ns nanoseconds (ns <= 0: a checkpoint that still yields).
 * Returns 0; -ECANCELED/-ETIMEDOUT if cancelled first (the sleep is abandoned);
 * -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_sleep(int64_t ns);
/* T1: suspend until the absolute loop time deadline. Same returns as eddy_sleep. */
EDDY_API EDDY_WUR int eddy_sleep_until(int64_t deadline);
/* T1: suspend until cancelled. Returns -ECANCELED/-ETIMEDOUT; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_sleep_forever(void);

#ifdef __cplusplus
}
#endif
#endif
