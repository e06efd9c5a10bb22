/* eddy_process_run (P2): feeding a child's stdin and capturing its output at the same time,
 * size caps, and cancellation at every stage, each case with pidfd and with the SIGCHLD
 * fallback (PROC_TEST). Cancellation cases use a grace of 0 on the virtual clock, so the time
 * a cancelled run takes is exact whatever the child does with SIGTERM. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/test.h"
#include "test_process_util.h"

static char out[1 << 22], err[1 << 21];

static eddy_process_capture capture(const void *in, size_t in_len, size_t out_cap, size_t err_cap)
{
    return (eddy_process_capture){.input = in, .input_len = in_len, .out = out, .out_cap = out_cap,
                                  .err = err, .err_cap = err_cap};
}

PROC_TEST(captures_stdout_stderr_and_status)
{
    eddy_process_capture c = capture(NULL, 0, sizeof out, sizeof err);
    EDDY_CHECK_EQ(eddy_process_run(SH("echo out; echo err >&2; exit 4"), NULL, &c), 4);
    EDDY_CHECK(c.out_len == 4 && !memcmp(out, "out\n", 4));
    EDDY_CHECK(c.err_len == 4 && !memcmp(err, "err\n", 4));
    EDDY_CHECK_EQ(count_children(), 0);
    /* No capture at all: spawn, wait, close. */
    EDDY_CHECK_EQ(eddy_process_run(SH("exit 5"), NULL, NULL), 5);
    EDDY_CHECK_EQ(eddy_process_run(SH("kill -KILL $$"), NULL, NULL), 128 + SIGKILL);
    return 0;
}

/* 3 MiB through cat: cat writes its output while we still feed it, with 64 KiB pipes; both
 * directions must progress together or neither does. */
PROC_TEST(feeds_and_captures_more_than_a_pipe_holds)
{
    static char in[3 << 20];
    for (size_t i = 0; i < sizeof in; i++) in[i] = (char)(i * 2654435761u >> 24);
    eddy_process_capture c = capture(in, sizeof in, sizeof out, sizeof err);
    EDDY_CHECK_EQ(eddy_process_run(ARGV("cat"), NULL, &c), 0);
    EDDY_CHECK_EQ(c.out_len, sizeof in);
    EDDY_CHECK(!memcmp(out, in, sizeof in));
    EDDY_CHECK_EQ(c.err_len, 0);
    /* A child that first fills stderr, then reads all its input, then writes stdout. */
    c = capture(in, 1 << 20, sizeof out, sizeof err);
    EDDY_CHECK_EQ(eddy_process_run(SH("head -c 1000000 /dev/zero >&2; cat"), NULL, &c), 0);
    EDDY_CHECK_EQ(c.err_len, 1000000);
    EDDY_CHECK_EQ(c.out_len, 1 << 20);
    EDDY_CHECK(!memcmp(out, in, 1 << 20));
    return 0;
}

/* Readers slower than the writer: back-pressure, no deadlock, nothing lost. stdout and stderr
 * are read at the same time (reading one to its end first would deadlock: the shell keeps
 * stderr open while it writes to the full stdout). */
typedef struct slow_reader {
    eddy_stream *s;
    size_t got;
} slow_reader;

static int read_slowly(void *arg)
{
    slow_reader *r = arg;
    char buf[4096];
    ssize_t n;
    while ((n = eddy_stream_read(r->s, buf, sizeof buf)) > 0) {
        r->got += (size_t)n;
        int rc = eddy_sleep(EDDY_MSEC(1));
        if (rc < 0) return rc;
    }
    return (int)n;
}

PROC_TEST(slow_readers_do_not_deadlock)
{
    eddy_process_opts o = stdio_opts(EDDY_STDIO_INHERIT, EDDY_STDIO_PIPE, EDDY_STDIO_PIPE);
    eddy_process p;
    SPAWN(&p, SH("head -c 300000 /dev/zero >&2; head -c 400000 /dev/zero; head -c 200000 /dev/zero >&2"), &o);
    slow_reader ro = {eddy_process_stdout(&p), 0}, re = {eddy_process_stderr(&p), 0};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, read_slowly, &ro));
        EDDY_OK(eddy_spawn(n, read_slowly, &re));
    }
    EDDY_OK(rc);
    EDDY_CHECK(re.got == 500000 && ro.got == 400000);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
    EDDY_OK(eddy_process_close(&p));
    return 0;
}

PROC_TEST(size_caps)
{
    /* Exactly full is fine. */
    eddy_process_capture c = capture(NULL, 0, 3, sizeof err);
    EDDY_CHECK_EQ(eddy_process_run(SH("printf abc"), NULL, &c), 0);
    EDDY_CHECK(c.out_len == 3 && !memcmp(out, "abc", 3));
    /* One byte more is -EMSGSIZE, with what fitted kept, and the child stopped and reaped. */
    c = capture(NULL, 0, 3, sizeof err);
    EDDY_CHECK_EQ(eddy_process_run(SH("printf abcd; exec sleep 100"), NULL, &c), -EMSGSIZE);
    EDDY_CHECK(c.out_len == 3 && !memcmp(out, "abc", 3));
    c = capture(NULL, 0, 1000, 10);
    EDDY_CHECK_EQ(eddy_process_run(SH("head -c 100000 /dev/zero >&2"), NULL, &c), -EMSGSIZE);
    EDDY_CHECK(c.err_len == 10 && c.out_len == 0);
    c = capture(NULL, 0, 0, 0); /* capacity 0: no output expected */
    EDDY_CHECK_EQ(eddy_process_run(ARGV("true"), NULL, &c), 0);
    EDDY_CHECK_EQ(eddy_process_run(SH("echo x"), NULL, &c), -EMSGSIZE);
    /* A big producer is stopped at the cap, not run to its end. */
    c = capture(NULL, 0, 100000, 100);
    EDDY_CHECK_EQ(eddy_process_run(ARGV("yes"), NULL, &c), -EMSGSIZE);
    EDDY_CHECK_EQ(c.out_len, 100000);
    EDDY_CHECK_EQ(count_children(), 0);
    return 0;
}

/* A child that does not read its input is not an error. */
PROC_TEST(unread_input_is_not_an_error)
{
    static char in[1 << 20];
    eddy_process_capture c = capture(in, sizeof in, sizeof out, sizeof err);
    EDDY_CHECK_EQ(eddy_process_run(ARGV("true"), NULL, &c), 0);
    EDDY_CHECK_EQ(eddy_process_run(SH("head -c 10 >/dev/null; exit 2"), NULL, &c), 2);
    return 0;
}

PROC_TEST(run_errors)
{
    eddy_process_capture c = capture(NULL, 0, 16, 16);
    EDDY_CHECK_EQ(eddy_process_run(ARGV("eddy-no-such-program"), NULL, &c), -ENOENT);
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.stdin_mode = EDDY_STDIO_PIPE; /* nobody would feed it */
    EDDY_CHECK_EQ(eddy_process_run(ARGV("true"), &o, &c), -EINVAL);
    EDDY_CHECK_EQ(eddy_process_run(ARGV("true"), &o, NULL), -EINVAL);
    o = (eddy_process_opts)EDDY_PROCESS_OPTS_INIT;
    o.stderr_mode = EDDY_STDIO_PIPE;
    c.err = NULL;
    EDDY_CHECK_EQ(eddy_process_run(ARGV("true"), &o, &c), -EINVAL);
    /* opts' other settings apply: stderr to /dev/null, a working directory. */
    o = (eddy_process_opts)EDDY_PROCESS_OPTS_INIT;
    o.stderr_mode = EDDY_STDIO_NULL;
    o.cwd = "/";
    c = capture(NULL, 0, 16, 0);
    c.err = NULL;
    EDDY_CHECK_EQ(eddy_process_run(SH("pwd; echo lost >&2"), &o, &c), 0);
    EDDY_CHECK(c.out_len == 2 && !memcmp(out, "/\n", 2));
    EDDY_CHECK_EQ(eddy_process_run(NULL, NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(count_children(), 0);
    return 0;
}

static int run_outside(void *arg)
{
    (void)arg;
    return eddy_process_run(ARGV("true"), NULL, NULL) == -EPERM ? 0 : 1;
}
EDDY_TEST_EX(run_outside_a_task_is_eperm, .raw = true) { return run_outside(NULL); }

/* ---- cancellation at every stage ---- */

typedef struct stage {
    const char *name;
    const char *const *argv;
    bool feed;        /* give it a big input it never reads */
    int64_t grace;    /* opts.grace */
    int64_t elapsed;  /* how long the cancelled run takes, after the 1 s scope */
} stage;

static void cancel_at(const stage *s, bool fail)
{
    static char in[1 << 20];
    int fds = eddy_test_fd_count();
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.grace = s->grace;
    eddy_process_capture c = capture(s->feed ? in : NULL, s->feed ? sizeof in : 0, sizeof out, sizeof err);
    int64_t t0 = eddy_now();
    int rc = 0;
    if (fail) {
        EDDY_FAIL_AFTER(EDDY_SEC(1)) { rc = eddy_process_run(s->argv, &o, &c); }
    } else {
        EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { rc = eddy_process_run(s->argv, &o, &c); }
    }
    if (rc != (fail ? -ETIMEDOUT : -ECANCELED) || eddy_now() - t0 != EDDY_SEC(1) + s->elapsed)
        eddy_test_fail(__FILE__, __LINE__, "%s: rc %d after %lld ns", s->name, rc, (long long)(eddy_now() - t0));
    EDDY_CHECK_EQ(count_children(), 0);
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
}

PROC_TEST(cancellation_at_every_stage)
{
    const stage stages[] = {
        {"feeding", ARGV("sleep", "100"), true, 0, 0},
        {"reading", SH("echo partial; exec sleep 100"), false, 0, 0},
        {"waiting", SH("exec >&- 2>&-; exec sleep 100"), false, 0, 0},
        /* These children ignore SIGTERM from birth (see below): SIGKILL after the grace. */
        {"grace", SH("exec >&- 2>&-; exec sleep 100"), false, EDDY_SEC(2), EDDY_SEC(2)},
        {"grace while feeding", ARGV("sleep", "100"), true, EDDY_SEC(3), EDDY_SEC(3)},
    };
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
        /* An ignored signal stays ignored across exec: the child cannot race its own trap. */
        signal(SIGTERM, stages[i].grace ? SIG_IGN : SIG_DFL);
        cancel_at(&stages[i], false);
        cancel_at(&stages[i], true);
    }
    signal(SIGTERM, SIG_DFL);
    /* Already cancelled: nothing starts. */
    int rc = 0;
    EDDY_MOVE_ON_AFTER(0) { rc = eddy_process_run(ARGV("true"), NULL, NULL); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(count_children(), 0);
    return 0;
}

/* What was captured before the cancellation is kept. On the real clock: the child must have
 * written before the deadline (a virtual clock could jump to it first). */
PROC_TEST_EX(cancelled_run_keeps_what_it_read, .real_clock = true)
{
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.grace = 0;
    eddy_process_capture c = capture(NULL, 0, sizeof out, sizeof err);
    int rc = 0;
    EDDY_MOVE_ON_AFTER(EDDY_MSEC(300)) { rc = eddy_process_run(SH("echo partial; exec sleep 100"), &o, &c); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK(c.out_len == 8 && !memcmp(out, "partial\n", 8));
    return 0;
}

int main(int argc, char **argv) { return eddy_test_main(argc, argv); }
