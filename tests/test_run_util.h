/* Run a program of the build tree as a child process and capture what it does: its stdout,
 * its stderr, its exit status and the real time it took. Shared by the tests of the example
 * programs and of the documentation's programs. The tests using it are raw (no loop in the
 * test process): the child has its own loop, and waitpid here must not block one. */
#ifndef EDDY_TEST_RUN_UTIL_H
#define EDDY_TEST_RUN_UTIL_H

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "eddy/test.h"

typedef struct run {
    char out[16384];
    char err[4096];
    int status;      /* exit status, or 128 + signal */
    double seconds;  /* real time the child took */
} run;

static inline double run_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void run_slurp_fd(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        if (len == cap - 1) break;
    }
    buf[len] = '\0';
}

/* Run dir/argv[0] with the given arguments; virt selects EDDY_CLOCK=virtual. */
static inline void run_program(run *r, const char *dir, bool virt, const char *const *argv)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, argv[0]);
    int out[2];
    EDDY_CHECK(pipe2(out, O_CLOEXEC) == 0);
    /* stderr goes to a memory file, read after exit: two pipes could fill up and deadlock. */
    int errfd = memfd_create("stderr", MFD_CLOEXEC);
    EDDY_CHECK(errfd >= 0);
    double t0 = run_mono();
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(errfd, 2);
        /* The programs must not pick up settings from the test environment, except the
         * backend: the harness names this pass's in EDDY_BACKEND (raw cases), so every
         * program runs on each backend. */
        unsetenv("EDDY_SCHED_SEED");
        if (virt)
            setenv("EDDY_CLOCK", "virtual", 1);
        else
            unsetenv("EDDY_CLOCK");
        execv(path, (char *const *)argv);
        dprintf(2, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(out[1]);
    run_slurp_fd(out[0], r->out, sizeof r->out);
    close(out[0]);
    int ws;
    EDDY_CHECK(waitpid(pid, &ws, 0) == pid);
    r->seconds = run_mono() - t0;
    r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    EDDY_CHECK(lseek(errfd, 0, SEEK_SET) == 0);
    run_slurp_fd(errfd, r->err, sizeof r->err);
    close(errfd);
}

/* Compare whole outputs, printing both on mismatch (a diff by eye is easier than a line). */
#define CHECK_OUTPUT(r, expected)                                                              \
    do {                                                                                       \
        if (strcmp((r)->out, (expected)) != 0)                                                 \
            eddy_test_fail(__FILE__, __LINE__, "output differs\n--- expected\n%s--- got\n%s--- stderr\n%s", \
                           (expected), (r)->out, (r)->err);                                     \
    } while (0)

#endif
