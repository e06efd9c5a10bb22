/* Shared helpers for the core test files (tests/test_core_*.c). */
#ifndef EDDY_TEST_CORE_UTIL_H
#define EDDY_TEST_CORE_UTIL_H

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/test.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CORE_SANITIZED 1
#else
#define CORE_SANITIZED 0
#endif

/* True when an aarch64 build runs under user-mode qemu on an x86 host (cross-testing): qemu
 * does not model RLIMIT_AS for the guest or deliver guard-page faults to its handlers. */
static inline bool core_emulated(void)
{
#if defined(__aarch64__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[256];
    bool x86 = false;
    while (!x86 && fgets(line, sizeof line, f)) x86 = strncmp(line, "vendor_id", 9) == 0;
    fclose(f);
    return x86;
#else
    return false;
#endif
}

/* Run fn() in a forked child whose stderr (and stdout) go to a pipe; collect up to len-1 bytes
 * of that output in buf and return the raw wait status. The child exits with fn's value. */
static inline int core_run_child(int (*fn)(void *), void *arg, char *buf, size_t len)
{
    int p[2];
    if (pipe(p) != 0) eddy_test_fail(__FILE__, __LINE__, "pipe failed");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) eddy_test_fail(__FILE__, __LINE__, "fork failed");
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        dup2(p[1], 1);
        close(p[1]);
        int rc = fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(rc < 0 ? 100 + (-rc % 100) : rc);
    }
    close(p[1]);
    size_t got = 0;
    for (;;) {
        char tmp[512];
        ssize_t r = read(p[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        for (ssize_t i = 0; i < r && got + 1 < len; i++) buf[got++] = tmp[i];
    }
    buf[got] = 0;
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return st;
}

/* n frames of about 1 KiB each: a stack's worth of ordinary C (the stack tests), or with
 * n = 1 << 20 a gibibyte, past any stack (the overflow tests). */
static __attribute__((noinline, unused)) int core_recurse(int n)
{
    volatile char buf[1024];
    buf[0] = (char)n;
    buf[sizeof buf - 1] = (char)n;
    if (n == 0) return buf[0];
    return core_recurse(n - 1) + buf[sizeof buf - 1];
}

/* Run fn in a child that must die of a stack overflow, its output into out (len bytes), and
 * check that it died of it. False, after a skip line, where guard-page faults are not
 * delivered (user-mode emulation): the caller returns 0 then. */
static inline bool core_overflow_child(int (*fn)(void *), char *out, size_t len)
{
    if (core_emulated()) {
        printf("# skipped: user-mode emulation does not deliver guard-page faults\n");
        return false;
    }
    int st = core_run_child(fn, NULL, out, len);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        eddy_test_fail(__FILE__, __LINE__, "the child did not die of its overflow: %s", out);
    return true;
}

/* Exit code core_run_child gives a child whose fn returned the negative errno e. */
#define CORE_EXIT_OF(e) (100 + ((e) % 100))

static inline eddy_opts core_opts(void)
{
    return (eddy_opts){.clock_kind = EDDY_CLOCK_VIRTUAL,
                       .flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_NO_SIGNALS};
}

#endif
