/* Tests of the system-layer example programs, run as child processes on the real clock (they
 * start real children and wait for real signals): run_with_timeout's exit statuses and timing,
 * sigwatch's exact output for the signals sent to it. Raw tests: no loop in the test process. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "eddy/test.h"

#define EX_DIR EDDY_BUILD_DIR "/examples/"

typedef struct child {
    pid_t pid;
    int out;       /* its stdout (a pipe) */
    int err;       /* its stderr (a memory file, read at the end) */
    double t0;
    char text[8192], errtext[4096];
    size_t len;
    int status;    /* exit status, or 128 + signal */
    double seconds;
} child;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void start(child *c, const char *const *argv)
{
    char path[512];
    snprintf(path, sizeof path, EX_DIR "%s", argv[0]);
    int p[2];
    EDDY_CHECK(pipe2(p, O_CLOEXEC) == 0);
    c->err = memfd_create("stderr", MFD_CLOEXEC);
    EDDY_CHECK(c->err >= 0);
    c->len = 0;
    c->t0 = mono();
    fflush(stdout);
    c->pid = fork();
    EDDY_CHECK(c->pid >= 0);
    if (c->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        dup2(p[1], 1);
        dup2(c->err, 2);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        unsetenv("EDDY_CLOCK");
        unsetenv("EDDY_SCHED_SEED");
        execv(path, (char *const *)argv);
        dprintf(2, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    c->out = p[0];
}

/* Read the child's stdout until want has appeared in it (or end of file: then false). */
static bool read_until(child *c, const char *want)
{
    while (!strstr(c->text, want)) {
        ssize_t n = read(c->out, c->text + c->len, sizeof c->text - 1 - c->len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        c->len += (size_t)n;
        c->text[c->len] = 0;
    }
    return true;
}

static void finish(child *c)
{
    (void)read_until(c, "\x01never"); /* to end of file */
    close(c->out);
    int ws;
    EDDY_CHECK(waitpid(c->pid, &ws, 0) == c->pid);
    c->seconds = mono() - c->t0;
    c->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    EDDY_CHECK(lseek(c->err, 0, SEEK_SET) == 0);
    ssize_t n = read(c->err, c->errtext, sizeof c->errtext - 1);
    c->errtext[n > 0 ? n : 0] = 0;
    close(c->err);
}

static child c;

#define RUN(...)                                                     \
    do {                                                             \
        memset(&c, 0, sizeof c);                                     \
        start(&c, (const char *const[]){__VA_ARGS__, NULL});         \
        finish(&c);                                                  \
    } while (0)

#define CHECK_RUN(out_, status_)                                                                \
    do {                                                                                        \
        if (strcmp(c.text, (out_)) != 0 || c.status != (status_))                               \
            eddy_test_fail(__FILE__, __LINE__, "status %d (want %d), stdout:\n%s--- stderr:\n%s", \
                           c.status, (status_), c.text, c.errtext);                             \
    } while (0)

/* ---- run_with_timeout ---- */

EDDY_TEST_EX(run_with_timeout_passes_the_status_on, .raw = true)
{
    RUN("run_with_timeout", "10", "sh", "-c", "echo hi; exit 3");
    CHECK_RUN("hi\n", 3);
    EDDY_CHECK(c.seconds < 5);
    RUN("run_with_timeout", "10", "true");
    CHECK_RUN("", 0);
    RUN("run_with_timeout", "0", "sh", "-c", "echo no limit"); /* 0: no time limit */
    CHECK_RUN("no limit\n", 0);
    RUN("run_with_timeout", "10", "sh", "-c", "kill -KILL $$");
    CHECK_RUN("", 137);
    EDDY_CHECK_EQ(c.errtext[0], 0);
    return 0;
}

EDDY_TEST_EX(run_with_timeout_times_out_with_124, .raw = true)
{
    RUN("run_with_timeout", "0.2", "sleep", "10");
    CHECK_RUN("", 124);
    EDDY_CHECK(c.seconds >= 0.2 && c.seconds < 5);
    /* SIGTERM ignored: SIGKILL after the grace period (0.3 s), still 124. */
    RUN("run_with_timeout", "--grace", "0.3", "0.2", "sh", "-c", "trap '' TERM; echo started; exec sleep 10");
    CHECK_RUN("started\n", 124);
    EDDY_CHECK(c.seconds >= 0.5 && c.seconds < 5);
    /* --grace 0: SIGKILL at once. */
    RUN("run_with_timeout", "--grace", "0", "0.2", "sh", "-c", "trap '' TERM; exec sleep 10");
    CHECK_RUN("", 124);
    EDDY_CHECK(c.seconds < 2);
    return 0;
}

EDDY_TEST_EX(run_with_timeout_cannot_run_126_127, .raw = true)
{
    RUN("run_with_timeout", "10", "eddy-no-such-command");
    CHECK_RUN("", 127);
    EDDY_CHECK(strstr(c.errtext, "failed to run command 'eddy-no-such-command': No such file or directory"));
    RUN("run_with_timeout", "10", "/etc/passwd");
    CHECK_RUN("", 126);
    EDDY_CHECK(strstr(c.errtext, "Permission denied"));
    RUN("run_with_timeout", "10", "/");
    CHECK_RUN("", 126);
    return 0;
}

EDDY_TEST_EX(run_with_timeout_usage, .raw = true)
{
    RUN("run_with_timeout", "--help");
    EDDY_CHECK(!strncmp(c.text, "usage: run_with_timeout [--grace S] SECONDS CMD [ARG...]\n", 57));
    EDDY_CHECK_EQ(c.status, 0);
    const char *const bad[][5] = {
        {"run_with_timeout", NULL},
        {"run_with_timeout", "10", NULL},
        {"run_with_timeout", "ten", "true", NULL},
        {"run_with_timeout", "-1", "true", NULL},
        {"run_with_timeout", "--grace", NULL},
        {"run_with_timeout", "--grace", "x", "1", NULL},
        {"run_with_timeout", "--kill-after", "1", "true"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *argv[6] = {0};
        for (int k = 0; k < 4 && bad[i][k]; k++) argv[k] = bad[i][k];
        memset(&c, 0, sizeof c);
        start(&c, argv);
        finish(&c);
        if (c.status != 2 || c.text[0] || !strstr(c.errtext, "usage: run_with_timeout"))
            eddy_test_fail(__FILE__, __LINE__, "case %zu: status %d, stderr %s", i, c.status, c.errtext);
    }
    /* The command's own options are its own: no --help from us. */
    RUN("run_with_timeout", "10", "sh", "-c", "echo $1", "sh", "--help");
    CHECK_RUN("--help\n", 0);
    return 0;
}

/* Ctrl-C (SIGINT) stops the command the same way and exits 130; SIGTERM 143. */
static void signal_run(int sig, const char *grace, const char *script, int want, double min_s)
{
    memset(&c, 0, sizeof c);
    start(&c, (const char *const[]){"run_with_timeout", "--grace", grace, "30", "sh", "-c", script, NULL});
    EDDY_CHECK(read_until(&c, "ready\n"));
    EDDY_CHECK(kill(c.pid, sig) == 0);
    finish(&c);
    if (c.status != want || c.seconds < min_s || c.seconds > 10)
        eddy_test_fail(__FILE__, __LINE__, "signal %d: status %d after %.2f s, stderr %s", sig, c.status,
                       c.seconds, c.errtext);
}

EDDY_TEST_EX(run_with_timeout_ctrl_c_exits_130, .raw = true)
{
    signal_run(SIGINT, "2", "echo ready; exec sleep 30", 130, 0);
    signal_run(SIGTERM, "2", "echo ready; exec sleep 30", 143, 0);
    signal_run(SIGHUP, "2", "echo ready; exec sleep 30", 129, 0);
    /* The command ignores SIGTERM: SIGKILL after the grace, still 130. */
    signal_run(SIGINT, "0.3", "trap '' TERM; echo ready; exec sleep 30", 130, 0.3);
    return 0;
}

/* ---- sigwatch ---- */

/* SigBlk of pid has all of the bits in mask: its receiver is open (it blocks them). */
static bool blocks(pid_t pid, unsigned long long mask)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f) return false;
    unsigned long long blk = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "SigBlk: %llx", &blk) == 1) break;
    fclose(f);
    return (blk & mask) == mask;
}

static void start_sigwatch(void)
{
    memset(&c, 0, sizeof c);
    start(&c, (const char *const[]){"sigwatch", NULL});
    unsigned long long m = 0;
    int sigs[] = {SIGHUP, SIGUSR1, SIGUSR2, SIGINT, SIGTERM};
    for (int i = 0; i < 5; i++) m |= 1ull << (sigs[i] - 1);
    for (int i = 0; i < 10000 && !blocks(c.pid, m); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    EDDY_CHECK(blocks(c.pid, m));
}

/* Send sig and wait for the line it must print. */
static void send_and_see(int sig, const char *line)
{
    EDDY_CHECK(kill(c.pid, sig) == 0);
    char want[64];
    snprintf(want, sizeof want, "%s\n", line);
    if (!read_until(&c, want)) eddy_test_fail(__FILE__, __LINE__, "no '%s' in: %s", line, c.text);
}

EDDY_TEST_EX(sigwatch_prints_each_signal, .raw = true)
{
    start_sigwatch();
    send_and_see(SIGHUP, "SIGHUP");
    send_and_see(SIGUSR1, "SIGUSR1");
    send_and_see(SIGUSR2, "SIGUSR2");
    send_and_see(SIGUSR1, "SIGUSR1\nSIGUSR2\nSIGUSR1");
    send_and_see(SIGHUP, "SIGUSR1\nSIGHUP");
    EDDY_CHECK(kill(c.pid, SIGTERM) == 0);
    finish(&c);
    CHECK_RUN("SIGHUP\nSIGUSR1\nSIGUSR2\nSIGUSR1\nSIGHUP\nstopping\n", 0);
    EDDY_CHECK_EQ(c.errtext[0], 0);
    return 0;
}

EDDY_TEST_EX(sigwatch_stops_on_sigint, .raw = true)
{
    start_sigwatch();
    send_and_see(SIGUSR2, "SIGUSR2");
    EDDY_CHECK(kill(c.pid, SIGINT) == 0);
    finish(&c);
    CHECK_RUN("SIGUSR2\nstopping\n", 0);
    start_sigwatch();
    EDDY_CHECK(kill(c.pid, SIGINT) == 0);
    finish(&c);
    CHECK_RUN("stopping\n", 0);
    return 0;
}

int main(int argc, char **argv) { return eddy_test_main(argc, argv); }
