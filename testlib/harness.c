/* eddy test harness (X4): registry, forked runner with a real-time limit, TAP output.
 *
 * Each test runs in a child process so a crash, an abort (including eddy's own fatal checks)
 * or a hang fails that test alone; the child runs the test as eddy_run's main task on the
 * virtual clock with autojump, EDDY_OPT_FAIL_ON_LEAK and EDDY_OPT_NO_SIGNALS, once per
 * compiled backend. */
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

static const char *backends[] = {"epoll"};

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
    if (c->opts.raw) return c->fn(NULL);
    eddy_opts o = {
        .clock_kind = c->opts.real_clock ? EDDY_CLOCK_MONOTONIC : EDDY_CLOCK_VIRTUAL,
        .autojump_threshold = 0,
        .flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_NO_SIGNALS | (c->opts.fifo ? EDDY_OPT_FIFO : 0),
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
    if (e && *e) {
        /* Like eddy_run's variables: a bad value is named, never silently ignored. */
        char *end;
        long m = strtol(e, &end, 10);
        if (*e < '1' || *e > '9' || *end || m > 1000) {
            fprintf(stderr, "eddy_test: EDDY_TEST_TIMEOUT=\"%s\" is not valid; use a whole "
                            "number 1..1000 (it multiplies every test's time limit), or leave "
                            "it unset\n", e);
            return 2;
        }
        mult = (int)m;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-l")) {
            for (eddy_test_case *c = head; c; c = c->next) printf("%s\n", c->name);
            return 0;
        }
    size_t nb = sizeof backends / sizeof backends[0];
    int total = 0;
    for (eddy_test_case *c = head; c; c = c->next)
        if (selected(c, argc, argv)) total += (int)nb;
    printf("TAP version 13\n1..%d\n", total);
    fflush(stdout);
    int passed = 0, failed = 0, n = 0;
    for (eddy_test_case *c = head; c; c = c->next) {
        if (!selected(c, argc, argv)) continue;
        for (size_t b = 0; b < nb; b++) {
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

typedef struct in_callback {
    void (*fn)(void *);
    void *arg;
    eddy_event ran;
} in_callback;

static void in_callback_run(void *p)
{
    in_callback *c = p;
    c->fn(c->arg);
    eddy_event_set(&c->ran);
}

int eddy_test_call_in_callback(void (*fn)(void *), void *arg)
{
    if (!eddy_task_current()) return -EPERM;
    in_callback c = {fn, arg, {0}};
    eddy_event_init(&c.ran);
    int rc = eddy_call_soon(in_callback_run, &c);
    if (rc < 0) return rc;
    /* c lives in this frame until the callback has run: shielded, so a cancellation of the
     * test cannot return first. */
    eddy_cancel_scope cs;
    eddy_cancel_scope_opts o = EDDY_CANCEL_SCOPE_OPTS_INIT;
    o.shield = true;
    o.fail = true; /* -ETIMEDOUT after 10 s */
    o.timeout = EDDY_SEC(10);
    rc = eddy_cancel_scope_enter_with(&cs, &o);
    if (rc < 0) return rc;
    rc = eddy_event_wait(&c.ran);
    eddy_cancel_scope_exit(&cs);
    return rc;
}

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
