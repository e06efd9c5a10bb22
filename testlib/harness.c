/* eddy test harness (X4): registry, forked runner with a real-time limit, TAP output.
 *
 * Each test runs in a child process so a crash, an abort (including eddy's own fatal checks)
 * or a hang fails that test alone; the child runs the test as eddy_run's main task on the
 * virtual clock with autojump, EDDY_OPT_FAIL_ON_LEAK and EDDY_OPT_NO_SIGNALS, once per
 * backend that can run on the machine (epoll; io_uring when built with liburing and allowed
 * by the kernel; EDDY_TEST_BACKENDS picks some). */
#include "eddy/test.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

static eddy_test_case *head, **tail = &head;

void eddy_test_register(eddy_test_case *c)
{
    c->next = NULL;
    *tail = c;
    tail = &c->next;
}

void eddy_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "# %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    _exit(1);
}

/* Every case runs once per backend that can run here (eddy_backend_probe), or per backend
 * named in EDDY_TEST_BACKENDS (comma-separated, e.g. "io_uring"). A named backend must run:
 * CI names both, so a machine that refuses io_uring fails the run instead of quietly testing
 * half. */
static const char *const all_backends[] = {"epoll", "io_uring"};
#define NALL (sizeof all_backends / sizeof all_backends[0])
static const char *backends[NALL];
static size_t nb;

/* Fills backends[]; returns -1 after a message if EDDY_TEST_BACKENDS names no backend or one
 * that cannot run here. */
static int pick_backends(void)
{
    const char *want = getenv("EDDY_TEST_BACKENDS");
    for (size_t i = 0; i < NALL; i++) {
        if (want && *want) {
            const char *p = strstr(want, all_backends[i]);
            size_t n = strlen(all_backends[i]);
            bool named = p && (p == want || p[-1] == ',') && (p[n] == '\0' || p[n] == ',');
            if (!named) continue;
        }
        int rc = eddy_backend_probe(all_backends[i]);
        if (rc < 0 && want && *want) {
            fprintf(stderr, "EDDY_TEST_BACKENDS=\"%s\": backend %s cannot run here (%s)\n", want,
                    all_backends[i], strerror(-rc));
            return -1;
        }
        if (rc < 0) {
            /* Said once per binary, so a run without io_uring shows why it has half the cases. */
            printf("# backend %s: not run here (%s)\n", all_backends[i], strerror(-rc));
            continue;
        }
        backends[nb++] = all_backends[i];
    }
    if (nb == 0) {
        fprintf(stderr, "EDDY_TEST_BACKENDS=\"%s\": no backend to run (epoll, io_uring)\n",
                want ? want : "");
        return -1;
    }
    return 0;
}

/* The per-test real-time limit: a duration (docs/api.md). EDDY_FOREVER: none; 0: already
 * over (the child gets SIGALRM at once); otherwise limit * mult, as SIGALRM. A negative
 * limit cannot be set, so the case fails as if it had timed out, with a word why. */
static void arm_limit(int64_t limit, int mult)
{
    if (limit == EDDY_FOREVER) return;
    if (limit < 0) {
        fprintf(stderr, "# negative .timeout in EDDY_TEST_EX: not a duration\n");
        raise(SIGALRM);
    }
    int64_t ns;
    if (__builtin_mul_overflow(limit, (int64_t)mult, &ns)) return; /* beyond any run: none */
    if (ns == 0) raise(SIGALRM);
    struct itimerval it = {{0, 0}, {(time_t)(ns / 1000000000), (suseconds_t)(ns % 1000000000 / 1000)}};
    if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0) it.it_value.tv_usec = 1;
    (void)setitimer(ITIMER_REAL, &it, NULL);
}

static int run_in_process(eddy_test_case *c, const char *backend)
{
    if (c->opts.raw) {
        /* A raw case makes its own loops: the environment names this pass's backend to them
         * (a program's own eddy_opts.backend still wins). */
        char *saved = getenv("EDDY_BACKEND") ? strdup(getenv("EDDY_BACKEND")) : NULL;
        setenv("EDDY_BACKEND", backend, 1);
        int rc = c->fn(NULL);
        if (saved) {
            setenv("EDDY_BACKEND", saved, 1);
            free(saved);
        } else {
            unsetenv("EDDY_BACKEND");
        }
        return rc;
    }
    eddy_opts o = {
        .clock_kind = c->opts.real_clock ? EDDY_CLOCK_MONOTONIC : EDDY_CLOCK_VIRTUAL,
        .autojump_threshold = 0,
        .flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_NO_SIGNALS,
        .sched_seed = c->opts.sched_seed,
        .stack_size = c->opts.stack_size,
        .backend = backend,
    };
    return eddy_run_opts(c->fn, NULL, &o);
}

static bool selected(eddy_test_case *c, int argc, char **argv)
{
    bool any = false;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;
        any = true;
        if (strstr(c->name, argv[i])) return true;
    }
    return !any;
}

/* EDDY_FD_REPORT in the environment: this is a test binary spawned by a test of its own to
 * see what a child inherits. Print the open descriptors (without the one used to list them),
 * ascending, space-separated, and leave. */
static void fd_report_if_asked(void)
{
    if (!getenv("EDDY_FD_REPORT")) return;
    DIR *d = opendir("/proc/self/fd");
    if (!d) _exit(3);
    bool open_fd[1024] = {false};
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d)) continue;
        if (fd < 0 || fd >= 1024) _exit(4);
        open_fd[fd] = true;
    }
    closedir(d);
    for (int fd = 0, n = 0; fd < 1024; fd++)
        if (open_fd[fd]) printf("%s%d", n++ ? " " : "", fd);
    printf("\n");
    fflush(stdout);
    _exit(0);
}

int eddy_test_main(int argc, char **argv)
{
    fd_report_if_asked();
    int mult = 1;
    const char *e = getenv("EDDY_TEST_TIMEOUT");
    if (e && atoi(e) > 0) mult = atoi(e);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-l")) {
            for (eddy_test_case *c = head; c; c = c->next) printf("%s\n", c->name);
            return 0;
        }
    printf("TAP version 13\n");
    if (pick_backends() < 0) return 2;
    int total = 0;
    for (eddy_test_case *c = head; c; c = c->next)
        if (selected(c, argc, argv)) total += c->opts.one_backend ? 1 : (int)nb;
    printf("1..%d\n", total);
    fflush(stdout);
    int passed = 0, failed = 0, n = 0;
    for (eddy_test_case *c = head; c; c = c->next) {
        if (!selected(c, argc, argv)) continue;
        for (size_t b = 0; b < (c->opts.one_backend ? 1 : nb); b++) {
            n++;
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            int ok;
            char why[96] = "";
            if (c->opts.no_fork) {
                int rc = run_in_process(c, backends[b]);
                ok = rc == 0;
                if (!ok) snprintf(why, sizeof why, "returned %d (%s)", rc, strerror(rc < 0 ? -rc : rc));
            } else {
                fflush(stdout);
                fflush(stderr);
                pid_t pid = fork();
                if (pid < 0) {
                    ok = 0;
                    snprintf(why, sizeof why, "fork: %s", strerror(errno));
                } else if (pid == 0) {
                    arm_limit(c->opts.timeout, mult);
                    int rc = run_in_process(c, backends[b]);
#if defined(__SANITIZE_ADDRESS__)
                    /* The child leaves with _exit, which skips LeakSanitizer's atexit check:
                     * run it here, so a test that leaks memory fails under ASan. */
                    if (rc == 0 && !c->opts.leaks_memory && __lsan_do_recoverable_leak_check()) {
                        fprintf(stderr, "# %s leaked memory (LeakSanitizer report above)\n", c->name);
                        rc = -ENOTRECOVERABLE;
                    }
#endif
                    fflush(stdout);
                    if (rc != 0)
                        fprintf(stderr, "# %s returned %d (%s)\n", c->name, rc, strerror(rc < 0 ? -rc : rc));
                    fflush(stderr);
                    _exit(rc == 0 ? 0 : 1);
                } else {
                    int st = 0;
                    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
                    }
                    ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
                    if (!ok) {
                        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
                            snprintf(why, sizeof why, "timed out");
                        else if (WIFSIGNALED(st))
                            snprintf(why, sizeof why, "killed by signal %d (%s)", WTERMSIG(st),
                                     strsignal(WTERMSIG(st)));
                        else
                            snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(st));
                    }
                }
            }
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            if (ok) {
                passed++;
                printf("ok %d - %s [%s] (%.1f ms)\n", n, c->name, backends[b], ms);
            } else {
                failed++;
                printf("not ok %d - %s [%s] %s (%s:%d)\n", n, c->name, backends[b], why, c->file, c->line);
            }
            fflush(stdout);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

__attribute__((weak)) int main(int argc, char **argv) { return eddy_test_main(argc, argv); }

int eddy_test_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -errno;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* opendir's own descriptor */
}
