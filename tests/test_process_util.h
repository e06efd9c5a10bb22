/* Shared helpers for the process tests (tests/test_process*.c). */
#ifndef EDDY_TEST_PROCESS_UTIL_H
#define EDDY_TEST_PROCESS_UTIL_H

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/test.h"

/* PROC_TEST(name) { ... } defines the case twice: name_pidfd, and name_fallback with the
 * SIGCHLD fallback forced (EDDY_PROCESS_NO_PIDFD=1; each case runs in its own process). */
static bool fallback_run; /* which of the two this run is */

#define PROC_TEST_EX(name, ...)                                                               \
    static int name##_body(void);                                                             \
    EDDY_TEST_EX(name##_pidfd, __VA_ARGS__)                                                   \
    {                                                                                         \
        unsetenv("EDDY_PROCESS_NO_PIDFD");                                                    \
        fallback_run = false;                                                                 \
        return name##_body();                                                                 \
    }                                                                                         \
    EDDY_TEST_EX(name##_fallback, __VA_ARGS__)                                                \
    {                                                                                         \
        setenv("EDDY_PROCESS_NO_PIDFD", "1", 1);                                              \
        fallback_run = true;                                                                  \
        return name##_body();                                                                 \
    }                                                                                         \
    static int name##_body(void)
#define PROC_TEST(name) PROC_TEST_EX(name, .timeout = EDDY_SEC(20))

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define SH(script) ARGV("sh", "-c", script)

/* Spawn and check the mechanism matches the run (pidfd, or none in the fallback). */
#define SPAWN(p, argv, opts)                                                                   \
    do {                                                                                       \
        EDDY_OK(eddy_process_spawn((p), (argv), (opts)));                                      \
        EDDY_CHECK(fallback_run ? (p)->pidfd < 0 : (p)->pidfd >= 0);                           \
    } while (0)

static inline bool pid_gone(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", pid);
    return access(path, F_OK) != 0;
}

/* The children of every thread of this process, as /proc lists them (zombies included). */
static inline int count_children(void)
{
    char path[96], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)gettid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0; /* kernel without CONFIG_PROC_CHILDREN: nothing to check */
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    int c = 0;
    for (ssize_t i = 0; i < n; i++) c += buf[i] == ' ';
    return c;
}

/* Read s to end of stream into buf (NUL-terminated); returns the length. */
static inline size_t read_all(eddy_stream *s, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t n = eddy_stream_read(s, buf + len, cap - 1 - len);
        EDDY_CHECK(n >= 0);
        if (n == 0) break;
        len += (size_t)n;
        EDDY_CHECK(len < cap - 1);
    }
    buf[len] = 0;
    return len;
}

/* Default options with the given stdio modes (EDDY_STDIO_*). */
static inline eddy_process_opts stdio_opts(int in, int out, int err)
{
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.stdin_mode = in;
    o.stdout_mode = out;
    o.stderr_mode = err;
    return o;
}

#endif
