/* eddy — test support (X4): EDDY_TEST cases, each run in a fresh process and a fresh runtime
 * with the virtual clock (autojump), leak checking and a per-test real-time limit. The runner
 * (link libeddy_test) prints TAP and a final "N passed, N failed" line.
 *
 *   EDDY_TEST(sleep_is_virtual) {
 *       int64_t t0 = eddy_now();
 *       EDDY_CHECK(eddy_sleep(EDDY_SEC(5)) == 0);
 *       EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5));
 *       return 0;
 *   }
 */
#ifndef EDDY_TEST_H
#define EDDY_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "../eddy.h"
#include "streamtest.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_test_opts {
    bool real_clock;     /* run on the monotonic clock instead of the virtual one */
    bool no_fork;        /* run in the runner's process (for tests of process-wide state) */
    bool raw;            /* call fn(NULL) directly, without eddy_run (for tests of eddy_run) */
    int64_t timeout;     /* real-time limit of the case, a duration (docs/api.md): default
                            EDDY_SEC(20) when not given; EDDY_FOREVER: none; 0: already
                            over. The environment variable EDDY_TEST_TIMEOUT multiplies it */
    uint64_t sched_seed; /* X2 */
    size_t stack_size;
    bool leaks_memory;   /* leaks on purpose (a leak-report test): skip the LeakSanitizer check
                            that fails other tests under ASan */
    bool one_backend;    /* run on the first backend only, not once per backend: for a case
                            that puts no descriptor through the loop (memory streams, a
                            million sleeping tasks), where a second run would only cost time */
} eddy_test_opts;

typedef struct eddy_test_case {
    const char *name;
    int (*fn)(void *);
    const char *file;
    int line;
    eddy_test_opts opts;
    struct eddy_test_case *next;
} eddy_test_case;

void eddy_test_register(eddy_test_case *c);
/* Run the registered tests. Arguments: substrings selecting tests by name; -l lists them.
 * Returns 0 if every selected test passed. With EDDY_FD_REPORT set in the environment it only
 * prints the process's open descriptors ("0 1 2\n", ascending) and exits 0: a test spawns its
 * own binary that way to see what a child inherits. */
int eddy_test_main(int argc, char **argv);
/* Print a failed check and end the test (the test process exits with status 1). */
__attribute__((noreturn)) void eddy_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The number of descriptors open in this process (what /proc/self/fd lists, less the one
 * used to list it), for tests that check nothing is left behind. -errno if /proc cannot be
 * read. */
int eddy_test_fd_count(void);

/* EDDY_TEST_EX(name, .real_clock = true, .timeout = EDDY_SEC(60)) { ... }: a case with
 * options (eddy_test_opts as designated initializers; the limit is preset to 20 s, so the
 * override-init warning is silenced for the one declaration that overrides it). */
#define EDDY_TEST_EX(tname, ...)                                                          \
    static int tname(void *);                                                             \
    __attribute__((constructor)) static void eddy__test_reg_##tname(void)                 \
    {                                                                                     \
        _Pragma("GCC diagnostic push")                                                    \
        _Pragma("GCC diagnostic ignored \"-Woverride-init\"")                            \
        static eddy_test_case c = {#tname, tname, __FILE__, __LINE__,                     \
                                   {.timeout = EDDY_SEC(20), __VA_ARGS__}, NULL};         \
        _Pragma("GCC diagnostic pop")                                                     \
        eddy_test_register(&c);                                                           \
    }                                                                                     \
    static int tname(void *eddy_test_arg __attribute__((unused)))
#define EDDY_TEST(tname) EDDY_TEST_EX(tname, .timeout = EDDY_SEC(20))

#define EDDY_CHECK(cond)                                                   \
    do {                                                                   \
        if (!(cond)) eddy_test_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
    } while (0)
#define EDDY_CHECK_EQ(a, b)                                                                   \
    do {                                                                                      \
        long long eddy__a = (long long)(a), eddy__b = (long long)(b);                         \
        if (eddy__a != eddy__b)                                                               \
            eddy_test_fail(__FILE__, __LINE__, "%s == %s failed: %lld != %lld", #a, #b, eddy__a, \
                           eddy__b);                                                          \
    } while (0)
/* Assert a result, consuming it (fallible calls are warn_unused_result). */
#define EDDY_OK(expr) EDDY_CHECK_EQ((expr), 0)

#ifdef __cplusplus
}
#endif
#endif
