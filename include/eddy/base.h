/* eddy — common definitions shared by every public header.
 *
 * Conventions (hold for the whole API):
 *  - functions return 0, a count, or a negative errno value; there is no global errno;
 *  - every function that can block is a cancellation point: inside a cancelled cancel
 *    scope it returns -ECANCELED (-ETIMEDOUT for a fail-after scope) without blocking;
 *  - and a scheduling point, even when it need not block: a task whose blocking calls keep
 *    completing at once (an always-ready descriptor, a buffered reader with data, a channel
 *    with room) is made to yield every 128 such calls, so that the loop polls, its clock
 *    moves and timers (deadlines included) fire; see eddy_yield;
 *  - times are int64_t nanoseconds on the loop's monotonic clock (eddy_now());
 *  - a duration (timeout, grace, back-off, sleep) follows one rule, docs/api.md "Durations":
 *    EDDY_FOREVER is no limit, 0 is now (already expired), negative is -EINVAL; options
 *    that are not given are never spelled 0 (NULL options or EDDY_X_OPTS_INIT give the
 *    defaults; a zero-filled options struct means literal zeros).
 */
#ifndef EDDY_BASE_H
#define EDDY_BASE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(EDDY_BUILDING)
#define EDDY_API __attribute__((visibility("default")))
#else
#define EDDY_API
#endif

/* D4: a dropped result of a fallible call is a compiler warning (C's "never awaited"). */
#define EDDY_WUR __attribute__((warn_unused_result))

#define EDDY__STR2(x) #x
#define EDDY__STR(x) EDDY__STR2(x)
/* Creation/spawn site recorded by the macros that wrap creating functions. */
#define EDDY__SITE (__FILE__ ":" EDDY__STR(__LINE__))
#define EDDY__CAT2(a, b) a##b
#define EDDY__CAT(a, b) EDDY__CAT2(a, b)
#define EDDY__UNIQ(p) EDDY__CAT(p, __COUNTER__)

/* Time units: integer or floating seconds (or ms, us) to int64_t nanoseconds. */
#define EDDY_SEC(s) ((int64_t)((s) * 1000000000.0))
#define EDDY_MSEC(ms) ((int64_t)((ms) * 1000000.0))
#define EDDY_USEC(us) ((int64_t)((us) * 1000.0))
#define EDDY_NSEC(ns) ((int64_t)(ns))
/* As a duration: no limit; as a time: no deadline. */
#define EDDY_FOREVER INT64_MAX

/* Intrusive doubly linked list node used inside public structs that callers allocate
 * (nurseries, scopes, timers, sync objects). Private: never touch its fields. */
typedef struct eddy__link {
    struct eddy__link *prev, *next;
} eddy__link;

/* Leak-tracking record embedded in every object with a lifetime (D4; docs/capabilities.md,
 * guarantee "leaks are found at exit"):
 * objects still open when eddy_run() returns are reported with their creation site. */
typedef struct eddy__handle {
    eddy__link link;
    const char *kind;
    const char *site;
} eddy__handle;

typedef struct eddy_loop eddy_loop;
typedef struct eddy_task eddy_task;
typedef struct eddy_nursery eddy_nursery;
typedef struct eddy_cancel_scope eddy_cancel_scope;

#ifdef __cplusplus
}
#endif
#endif
