/* Child processes (P1): spawn, stdio, wait, cancellation, kill, close.
 *
 * Every case runs twice: with pidfd (the default) and with the SIGCHLD fallback forced by
 * EDDY_PROCESS_NO_PIDFD=1 (PROC_TEST below), and checks that the process really uses the
 * mechanism of its run. Real programs (sh, cat, sleep...) are the children. Cases whose
 * outcome depends on how fast a real child reacts to a signal run on the real clock; the
 * others run on the virtual clock, where a wait with no timer beside it simply blocks until
 * the kernel reports the exit, and grace periods jump. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/test.h"
#include "test_process_util.h"

static int run_status(const char *const argv[])
{
    eddy_process p;
    SPAWN(&p, argv, NULL);
    int st = eddy_process_wait(&p);
    int pid = eddy_process_pid(&p);
    EDDY_OK(eddy_process_close(&p));
    EDDY_CHECK(pid_gone(pid));
    return st;
}

/* ---- exit statuses ---- */

PROC_TEST(exit_status_and_signals)
{
    EDDY_CHECK_EQ(run_status(ARGV("true")), 0);
    EDDY_CHECK_EQ(run_status(ARGV("false")), 1);
    EDDY_CHECK_EQ(run_status(SH("exit 3")), 3);
    EDDY_CHECK_EQ(run_status(SH("exit 255")), 255);
    EDDY_CHECK_EQ(run_status(SH("kill -KILL $$")), 128 + SIGKILL);
    EDDY_CHECK_EQ(run_status(SH("kill -TERM $$")), 128 + SIGTERM);
    EDDY_CHECK_EQ(count_children(), 0);
    return 0;
}

PROC_TEST(wait_again_and_try_wait)
{
    eddy_process p;
    eddy_process_opts o = stdio_opts(EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT, EDDY_STDIO_INHERIT);
    SPAWN(&p, SH("read x; exit 7"), &o);
    EDDY_CHECK_EQ(eddy_process_try_wait(&p), -EAGAIN);
    EDDY_OK(eddy_process_kill(&p, 0)); /* alive */
    EDDY_OK(eddy_stream_write_all(eddy_process_stdin(&p), "go\n", 3));
    EDDY_CHECK_EQ(eddy_process_wait(&p), 7);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 7);
    EDDY_CHECK_EQ(eddy_process_try_wait(&p), 7);
    EDDY_CHECK_EQ(eddy_process_kill(&p, SIGTERM), -ESRCH);
    EDDY_CHECK_EQ(eddy_process_kill(&p, 0), -ESRCH);
    EDDY_CHECK(eddy_process_pid(&p) > 0);
    EDDY_OK(eddy_process_close(&p));
    EDDY_CHECK_EQ(eddy_process_pid(&p), -1);
    EDDY_OK(eddy_process_close(&p)); /* closed: 0 */
    return 0;
}

/* try_wait reaps a child that has exited, without any wait. */
PROC_TEST_EX(try_wait_reaps, .real_clock = true)
{
    eddy_process p;
    SPAWN(&p, ARGV("true"), NULL);
    int st;
    while ((st = eddy_process_try_wait(&p)) == -EAGAIN) EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
    EDDY_CHECK_EQ(st, 0);
    EDDY_CHECK(pid_gone(eddy_process_pid(&p)));
    EDDY_OK(eddy_process_close(&p));
    return 0;
}

/* Concurrent children, each waited for by its own task: with the fallback, one SIGCHLD may
 * stand for several exits. */
static int wait_one(void *arg)
{
    int n = (int)(intptr_t)arg;
    char script[32];
    snprintf(script, sizeof script, "exit %d", n);
    eddy_process p;
    SPAWN(&p, SH(script), NULL);
    int st = eddy_process_wait(&p);
    EDDY_OK(eddy_process_close(&p));
    return st == n ? 0 : -EPROTO;
}

PROC_TEST(many_children_at_once)
{
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 20; i++) EDDY_OK(eddy_spawn(n, wait_one, (void *)(intptr_t)i));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(count_children(), 0);
    return 0;
}

/* eddy never waits for "any child": a child the program forked itself stays the program's. */
PROC_TEST(children_of_the_program_are_not_taken)
{
    pid_t mine = fork();
    EDDY_CHECK(mine >= 0);
    if (mine == 0) _exit(42);
    EDDY_CHECK_EQ(run_status(SH("exit 1")), 1);
    EDDY_CHECK_EQ(run_status(ARGV("true")), 0); /* its SIGCHLD came and went meanwhile */
    int st;
    EDDY_CHECK_EQ(waitpid(mine, &st, 0), mine);
    EDDY_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42);
    return 0;
}

/* A program that reaps children behind eddy's back makes eddy's wait say -ECHILD. */
PROC_TEST_EX(a_child_reaped_elsewhere_is_echild, .real_clock = true)
{
    eddy_process p;
    SPAWN(&p, ARGV("true"), NULL);
    int st;
    EDDY_CHECK_EQ(waitpid(eddy_process_pid(&p), &st, 0), eddy_process_pid(&p));
    EDDY_CHECK_EQ(eddy_process_wait(&p), -ECHILD);
    EDDY_OK(eddy_process_close(&p));
    return 0;
}

/* ---- spawn errors ---- */

PROC_TEST(spawn_errors)
{
    eddy_process p;
    int fds = eddy_test_fd_count();
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ARGV("eddy-no-such-program"), NULL), -ENOENT);
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ARGV("/nonexistent/prog"), NULL), -ENOENT);
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ARGV("/etc/passwd"), NULL), -EACCES);
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ARGV("/"), NULL), -EACCES);
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ARGV("/etc/passwd/x"), NULL), -ENOTDIR);
    /* Executable, but no format the kernel knows (and no shebang). */
    char path[] = "/tmp/eddy-noexec-XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    EDDY_CHECK(write(fd, "\x01\x02\x03\x04garbage", 11) == 11);
    close(fd);
    EDDY_CHECK(chmod(path, 0700) == 0);
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ARGV(path), NULL), -ENOEXEC);
    unlink(path);
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.cwd = "/nonexistent-dir";
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ARGV("true"), &o), -ENOENT);
    o = (eddy_process_opts)EDDY_PROCESS_OPTS_INIT;
    o.stdout_mode = 7;
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ARGV("true"), &o), -EINVAL);
    o.stdout_mode = EDDY_STDIO_FD;
    o.stdout_fd = 1000;
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ARGV("true"), &o), -EBADF);
    o.stdout_fd = -1;
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ARGV("true"), &o), -EBADF);
    o = (eddy_process_opts)EDDY_PROCESS_OPTS_INIT;
    o.grace = -1;
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ARGV("true"), &o), -EINVAL);
    EDDY_CHECK_EQ(eddy_process_spawn(NULL, ARGV("true"), NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_process_spawn(&p, NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_process_spawn(&p, ((const char *const[]){NULL}), NULL), -EINVAL);
    /* A cancelled task starts nothing. */
    int rc = 0;
    EDDY_MOVE_ON_AFTER(0) { rc = eddy_process_spawn(&p, ARGV("true"), NULL); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(count_children(), 0);
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
    /* Failed spawns leave the dispatcher as they found it (fallback: no SIGCHLD handler). */
    struct sigaction cur;
    EDDY_CHECK(sigaction(SIGCHLD, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL);
    return 0;
}

static int spawn_outside(void *arg)
{
    (void)arg;
    eddy_process p;
    return eddy_process_spawn(&p, ARGV("true"), NULL) == -EPERM ? 0 : 1;
}
EDDY_TEST_EX(spawn_outside_a_loop_is_eperm, .raw = true) { return spawn_outside(NULL); }

PROC_TEST(calls_on_an_unspawned_process)
{
    eddy_process p;
    memset(&p, 0, sizeof p);
    EDDY_CHECK_EQ(eddy_process_wait(&p), -EINVAL);
    EDDY_CHECK_EQ(eddy_process_wait(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_process_try_wait(&p), -EINVAL);
    EDDY_CHECK_EQ(eddy_process_kill(&p, SIGTERM), -EINVAL);
    EDDY_CHECK_EQ(eddy_process_pid(&p), -1);
    EDDY_CHECK_EQ(eddy_process_pid(NULL), -1);
    EDDY_CHECK(eddy_process_stdin(NULL) == NULL && eddy_process_stdout(&p) == NULL);
    EDDY_OK(eddy_process_close(&p));
    EDDY_OK(eddy_process_close(NULL));
    SPAWN(&p, SH("read x"), &(eddy_process_opts){.stdin_mode = EDDY_STDIO_PIPE});
    EDDY_CHECK(eddy_process_stdout(&p) == NULL && eddy_process_stderr(&p) == NULL);
    EDDY_CHECK_EQ(eddy_process_kill(&p, -1), -EINVAL);
    EDDY_CHECK_EQ(eddy_process_kill(&p, 65), -EINVAL);
    EDDY_OK(eddy_process_close(&p)); /* grace 0 (zero-filled opts): SIGKILL at once */
    return 0;
}

/* ---- stdio ---- */

PROC_TEST(pipes_both_ways)
{
    eddy_process_opts o = stdio_opts(EDDY_STDIO_PIPE, EDDY_STDIO_PIPE, EDDY_STDIO_PIPE);
    eddy_process p;
    SPAWN(&p, SH("cat; echo done >&2"), &o);
    EDDY_CHECK(!strcmp(eddy_stream_kind(eddy_process_stdout(&p)), "fd"));
    EDDY_OK(eddy_stream_write_all(eddy_process_stdin(&p), "hello\nworld\n", 12));
    EDDY_OK(eddy_stream_shutdown_write(eddy_process_stdin(&p))); /* end of file for cat */
    char out[64], err[64];
    EDDY_CHECK_EQ(read_all(eddy_process_stdout(&p), out, sizeof out), 12);
    EDDY_CHECK(!strcmp(out, "hello\nworld\n"));
    EDDY_CHECK_EQ(read_all(eddy_process_stderr(&p), err, sizeof err), 5);
    EDDY_CHECK(!strcmp(err, "done\n"));
    EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
    EDDY_OK(eddy_process_close(&p));
    return 0;
}

PROC_TEST(bufreader_reads_a_childs_lines)
{
    eddy_process_opts o = stdio_opts(EDDY_STDIO_INHERIT, EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT);
    eddy_process p;
    SPAWN(&p, SH("printf 'one\\ntwo\\nthree\\n'"), &o);
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, eddy_process_stdout(&p), NULL, 64));
    const char *want[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        eddy_span s;
        EDDY_CHECK_EQ(eddy_read_line(&br, 64, 0, &s), (ssize_t)strlen(want[i]) + 1);
        EDDY_CHECK(s.len == strlen(want[i]) && !memcmp(s.data, want[i], s.len));
    }
    eddy_span s;
    EDDY_CHECK_EQ(eddy_read_line(&br, 64, 0, &s), 0); /* end of stream */
    eddy_bufreader_destroy(&br);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
    EDDY_OK(eddy_process_close(&p));
    return 0;
}

PROC_TEST(stdio_null_and_given_fds)
{
    int pp[2];
    EDDY_CHECK(pipe2(pp, O_CLOEXEC) == 0);
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.stdin_mode = EDDY_STDIO_NULL;
    o.stdout_mode = EDDY_STDIO_FD;
    o.stdout_fd = pp[1];
    o.stderr_mode = EDDY_STDIO_FD;
    o.stderr_fd = pp[1];
    eddy_process p;
    SPAWN(&p, SH("readlink /proc/$$/fd/0; cat; echo err >&2"), &o);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
    EDDY_OK(eddy_process_close(&p));
    EDDY_CHECK(fcntl(pp[1], F_GETFD) == FD_CLOEXEC); /* the caller's fd is left as it was */
    close(pp[1]);
    char buf[128];
    ssize_t n = read(pp[0], buf, sizeof buf - 1);
    close(pp[0]);
    EDDY_CHECK(n > 0);
    buf[n] = 0;
    EDDY_CHECK(!strcmp(buf, "/dev/null\nerr\n"));
    return 0;
}

/* Stdio sources that are themselves 0, 1 or 2 but not their own target would be overwritten
 * by an earlier dup2 in the child: stdout and stderr swapped, and our 0 given as stdout. */
PROC_TEST(stdio_sources_among_0_1_2)
{
    int save1 = dup(1), save2 = dup(2), a[2], b[2];
    EDDY_CHECK(save1 >= 0 && save2 >= 0 && pipe2(a, O_CLOEXEC) == 0 && pipe2(b, O_CLOEXEC) == 0);
    fflush(stdout);
    fflush(stderr);
    dup2(a[1], 1);
    dup2(b[1], 2);
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.stdout_mode = o.stderr_mode = EDDY_STDIO_FD;
    o.stdout_fd = 2;
    o.stderr_fd = 1;
    eddy_process p;
    int rc = eddy_process_spawn(&p, SH("echo out; echo err >&2"), &o);
    dup2(save1, 1);
    dup2(save2, 2);
    EDDY_OK(rc);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
    EDDY_OK(eddy_process_close(&p));
    close(a[1]);
    close(b[1]);
    char buf[64];
    ssize_t n = read(a[0], buf, sizeof buf);
    EDDY_CHECK(n == 4 && !memcmp(buf, "err\n", 4)); /* stderr went to our 1 */
    n = read(b[0], buf, sizeof buf);
    EDDY_CHECK(n == 4 && !memcmp(buf, "out\n", 4)); /* stdout to our 2 */
    close(a[0]);
    close(b[0]);

    /* Our descriptor 0 given as the child's stdout, while its stdin is /dev/null (dup2'd
     * onto 0 first). */
    EDDY_CHECK(pipe2(a, O_CLOEXEC) == 0);
    int save0 = dup(0);
    dup2(a[1], 0);
    close(a[1]);
    o = (eddy_process_opts)EDDY_PROCESS_OPTS_INIT;
    o.stdin_mode = EDDY_STDIO_NULL;
    o.stdout_mode = EDDY_STDIO_FD;
    o.stdout_fd = 0;
    rc = eddy_process_spawn(&p, SH("cat; echo out"), &o);
    dup2(save0, 0);
    close(save0);
    close(save1);
    close(save2);
    EDDY_OK(rc);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
    EDDY_OK(eddy_process_close(&p));
    n = read(a[0], buf, sizeof buf);
    EDDY_CHECK(n == 4 && !memcmp(buf, "out\n", 4));
    close(a[0]);
    return 0;
}

/* A child inherits nothing but its stdio: not eddy's descriptors (epoll, eventfd, pidfd,
 * signalfd: close-on-exec) and not the program's own inheritable ones (closed unless
 * EDDY_PROCESS_KEEP_FDS). The child is this test binary, which with EDDY_FD_REPORT set lists
 * its descriptors and exits (eddy_test_main). */
static uint64_t child_fds(unsigned flags)
{
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    EDDY_CHECK(n > 0);
    self[n] = 0;
    eddy_process_opts o = stdio_opts(EDDY_STDIO_INHERIT, EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT);
    o.flags = flags;
    o.env = ARGV("EDDY_FD_REPORT=1");
    eddy_process p;
    SPAWN(&p, ARGV(self), &o);
    char out[1024];
    read_all(eddy_process_stdout(&p), out, sizeof out);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
    EDDY_OK(eddy_process_close(&p));
    uint64_t seen = 0;
    for (char *t = strtok(out, " \n"); t; t = strtok(NULL, " \n")) {
        int fd = atoi(t);
        if (fd < 64) seen |= 1ull << fd; /* higher: inherited by this test from its runner */
    }
    return seen;
}

PROC_TEST(a_child_inherits_only_its_stdio)
{
    eddy_signal_receiver r; /* the dispatcher's descriptors exist too */
    EDDY_OK(eddy_signal_open(&r, SIGUSR1));
    int leaky = dup(2); /* inheritable */
    EDDY_CHECK(leaky > 2 && leaky < 64);
    uint64_t cloexec = 0;
    for (int fd = 3; fd < 64; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && (fl & FD_CLOEXEC)) cloexec |= 1ull << fd;
    }
    EDDY_CHECK(cloexec != 0); /* eddy's own: the loop's, the dispatcher's */
    uint64_t seen = child_fds(0);
    if (seen != 0x7) eddy_test_fail(__FILE__, __LINE__, "child fds %llx", (unsigned long long)seen);
    /* With KEEP_FDS the program's inheritable descriptors pass (leaky, and any this test
     * process inherited itself); eddy's, close-on-exec, never do. */
    seen = child_fds(EDDY_PROCESS_KEEP_FDS);
    if ((seen & (0x7 | 1ull << leaky)) != (0x7 | 1ull << leaky) || (seen & cloexec))
        eddy_test_fail(__FILE__, __LINE__, "child fds %llx, ours close-on-exec %llx", (unsigned long long)seen,
                       (unsigned long long)cloexec);
    close(leaky);
    eddy_signal_close(&r);
    return 0;
}

PROC_TEST(env_and_cwd)
{
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.stdout_mode = EDDY_STDIO_PIPE;
    o.env = ARGV("FOO=bar baz", "EMPTY=");
    o.cwd = "/proc";
    eddy_process p;
    /* No PATH in the child's environment: "sh" is still found through eddy's own PATH. */
    SPAWN(&p, SH("echo \"$FOO|${EMPTY-unset}|${HOME-nohome}\"; pwd"), &o);
    char out[128];
    read_all(eddy_process_stdout(&p), out, sizeof out);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
    EDDY_OK(eddy_process_close(&p));
    if (strcmp(out, "bar baz||nohome\n/proc\n")) eddy_test_fail(__FILE__, __LINE__, "%s", out);
    return 0;
}

/* Fields 5 and 6 of /proc/PID/stat (process group, session) as the child sees them. */
static void group_and_session(unsigned flags, int *pid, int *pgrp, int *sid)
{
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.stdout_mode = EDDY_STDIO_PIPE;
    o.flags = flags;
    eddy_process p;
    SPAWN(&p, SH("read a b c d pg s rest < /proc/$$/stat; echo $pg $s"), &o);
    char out[64];
    read_all(eddy_process_stdout(&p), out, sizeof out);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
    *pid = eddy_process_pid(&p);
    EDDY_OK(eddy_process_close(&p));
    EDDY_CHECK(sscanf(out, "%d %d", pgrp, sid) == 2);
}

PROC_TEST(new_session_and_process_group)
{
    int pid, pg, sid;
    group_and_session(0, &pid, &pg, &sid);
    EDDY_CHECK(pg == getpgrp() && sid == getsid(0));
    group_and_session(EDDY_PROCESS_NEW_PGROUP, &pid, &pg, &sid);
    EDDY_CHECK(pg == pid && sid == getsid(0));
    group_and_session(EDDY_PROCESS_NEW_SESSION, &pid, &pg, &sid);
    EDDY_CHECK(pg == pid && sid == pid);
    group_and_session(EDDY_PROCESS_NEW_SESSION | EDDY_PROCESS_NEW_PGROUP, &pid, &pg, &sid);
    EDDY_CHECK(pg == pid && sid == pid);
    return 0;
}

/* The child's signals: nothing blocked that eddy blocked here (a receiver is open), SIGPIPE at
 * its default action (eddy ignores it), so `yes | head -1` ends quietly. */
PROC_TEST(child_signal_mask_and_sigpipe)
{
    eddy_signal_receiver r;
    EDDY_OK(eddy_signal_open(&r, SIGUSR1, SIGTERM));
    EDDY_CHECK(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
    eddy_process_opts o = stdio_opts(EDDY_STDIO_INHERIT, EDDY_STDIO_PIPE, EDDY_STDIO_PIPE);
    eddy_process p;
    SPAWN(&p, SH("grep -E '^Sig(Blk|Ign)' /proc/self/status; yes | head -1"), &o);
    char out[256], err[256];
    read_all(eddy_process_stdout(&p), out, sizeof out);
    read_all(eddy_process_stderr(&p), err, sizeof err);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
    EDDY_OK(eddy_process_close(&p));
    eddy_signal_close(&r);
    unsigned long long blk = 1, ign = 1;
    const char *b = strstr(out, "SigBlk:"), *i = strstr(out, "SigIgn:");
    EDDY_CHECK(b && i && sscanf(b, "SigBlk: %llx", &blk) == 1 && sscanf(i, "SigIgn: %llx", &ign) == 1);
    EDDY_CHECK_EQ(blk, 0);
    EDDY_CHECK(!(ign & (1ull << (SIGPIPE - 1))));
    EDDY_CHECK(strstr(out, "y\n") != NULL);
    if (err[0]) eddy_test_fail(__FILE__, __LINE__, "stderr: %s", err);
    return 0;
}

/* ---- cancellation and termination ---- */

/* Reads "ready" from p's stdout: the child has set up what it meant to before going on. */
static void wait_ready(eddy_process *p)
{
    char buf[8];
    size_t got = 0;
    while (got < 6) {
        ssize_t n = eddy_stream_read(eddy_process_stdout(p), buf + got, 6 - got);
        EDDY_CHECK(n > 0);
        got += (size_t)n;
    }
    EDDY_CHECK(!memcmp(buf, "ready\n", 6));
}

static const char *const *const ignores_term = SH("trap '' TERM; echo ready; exec sleep 100");

/* SIGTERM ignored: SIGKILL once the grace has passed, exactly (virtual clock), and reaped
 * before the wait returns. */
static void cancel_after(int64_t grace, int64_t expect_elapsed)
{
    eddy_process_opts o = stdio_opts(EDDY_STDIO_INHERIT, EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT);
    if (grace >= 0) o.grace = grace;
    eddy_process p;
    SPAWN(&p, ignores_term, &o);
    wait_ready(&p);
    int64_t t0 = eddy_now();
    int rc = 0;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { rc = eddy_process_wait(&p); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t0, expect_elapsed);
    EDDY_CHECK(pid_gone(eddy_process_pid(&p))); /* reaped: no zombie */
    EDDY_CHECK_EQ(eddy_process_try_wait(&p), 128 + SIGKILL);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 128 + SIGKILL);
    EDDY_OK(eddy_process_close(&p));
}

PROC_TEST(ignored_sigterm_is_followed_by_sigkill_after_the_grace)
{
    cancel_after(-1, EDDY_SEC(1) + EDDY_SEC(5)); /* the default: 5 s */
    cancel_after(EDDY_SEC(2), EDDY_SEC(3));
    cancel_after(0, EDDY_SEC(1)); /* 0: SIGKILL at once */
    EDDY_CHECK_EQ(count_children(), 0);
    return 0;
}

/* A fail-after scope: the same, with -ETIMEDOUT. */
PROC_TEST(fail_after_gives_etimedout)
{
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.grace = 0;
    eddy_process p;
    SPAWN(&p, ARGV("sleep", "100"), &o);
    int rc = 0;
    EDDY_FAIL_AFTER(EDDY_SEC(2)) { rc = eddy_process_wait(&p); }
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_CHECK_EQ(eddy_process_try_wait(&p), 128 + SIGKILL);
    EDDY_OK(eddy_process_close(&p));
    return 0;
}

/* SIGTERM honoured: the child ends by it well within the grace period, also when it was
 * stopped (a stopped child would never act on SIGTERM: it gets SIGCONT too). */
static void cancel_sleeper(bool stopped)
{
    eddy_process p;
    SPAWN(&p, ARGV("sleep", "100"), NULL);
    if (stopped) EDDY_OK(eddy_process_kill(&p, SIGSTOP));
    int64_t t0 = eddy_now();
    int rc = 0;
    EDDY_MOVE_ON_AFTER(EDDY_MSEC(20)) { rc = eddy_process_wait(&p); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK(eddy_now_fresh() - t0 < EDDY_SEC(4));
    EDDY_CHECK_EQ(eddy_process_try_wait(&p), 128 + SIGTERM);
    EDDY_CHECK_EQ(eddy_process_wait(&p), 128 + SIGTERM);
    EDDY_OK(eddy_process_close(&p));
}

PROC_TEST_EX(sigterm_ends_a_cooperative_child, .real_clock = true)
{
    cancel_sleeper(false);
    cancel_sleeper(true);
    return 0;
}

/* Cancelled while already cancelled, and after the child already exited. */
PROC_TEST(wait_in_a_cancelled_scope)
{
    eddy_process p;
    SPAWN(&p, ARGV("true"), NULL);
    int rc = 0;
    EDDY_MOVE_ON_AFTER(0) { rc = eddy_process_wait(&p); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK(pid_gone(eddy_process_pid(&p)));
    int st = eddy_process_wait(&p);
    EDDY_CHECK(st == 0 || st == 128 + SIGTERM || st == 128 + SIGKILL); /* it raced the signal */
    EDDY_OK(eddy_process_close(&p));
    return 0;
}

static int waiter_task(void *arg) { return eddy_process_wait(arg) == 3 ? 0 : -EPROTO; }
static int busy_rc[2] = {1, 1};
static void from_callback(void *arg)
{
    busy_rc[0] = eddy_process_wait(arg);
    busy_rc[1] = eddy_process_close(arg);
}

PROC_TEST(one_waiter_and_no_close_under_it)
{
    eddy_process_opts o = stdio_opts(EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT, EDDY_STDIO_INHERIT);
    eddy_process p;
    SPAWN(&p, SH("read x; exit 3"), &o);
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, waiter_task, &p));
        EDDY_CHECK_EQ(eddy_process_wait(&p), -EBUSY);
        EDDY_CHECK_EQ(eddy_process_close(&p), -EBUSY);
        EDDY_OK(eddy_call_soon(from_callback, &p));
        EDDY_OK(eddy_yield());
        EDDY_CHECK_EQ(busy_rc[0], -EPERM);
        EDDY_CHECK_EQ(busy_rc[1], -EBUSY); /* a waiter */
        EDDY_OK(eddy_stream_write_all(eddy_process_stdin(&p), "\n", 1));
    }
    EDDY_OK(rc);
    EDDY_OK(eddy_call_soon(from_callback, &p)); /* reaped now: close works from a callback */
    EDDY_OK(eddy_yield());
    EDDY_CHECK_EQ(busy_rc[1], 0);
    return 0;
}

/* close of a running child outside a task cannot wait: -EBUSY, nothing changed. */
static void close_from_callback(void *arg) { busy_rc[1] = eddy_process_close(arg); }
PROC_TEST(close_outside_a_task_needs_a_reaped_child)
{
    eddy_process p;
    SPAWN(&p, ARGV("sleep", "100"), &(eddy_process_opts){.stdout_mode = EDDY_STDIO_PIPE});
    EDDY_OK(eddy_call_soon(close_from_callback, &p));
    EDDY_OK(eddy_yield());
    EDDY_CHECK_EQ(busy_rc[1], -EBUSY);
    EDDY_CHECK(eddy_process_stdout(&p) != NULL);
    EDDY_OK(eddy_process_close(&p)); /* in a task: grace 0, SIGKILL */
    return 0;
}

/* close stops a running child the way cancellation does, and leaves nothing behind. */
PROC_TEST(close_stops_and_reaps_a_running_child)
{
    int fds = eddy_test_fd_count();
    eddy_process_opts o = stdio_opts(EDDY_STDIO_PIPE, EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT);
    eddy_process p;
    SPAWN(&p, ignores_term, &o);
    wait_ready(&p);
    int pid = eddy_process_pid(&p);
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_process_close(&p));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5)); /* SIGTERM ignored: SIGKILL after the grace */
    EDDY_CHECK(pid_gone(pid));
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
    EDDY_CHECK_EQ(count_children(), 0);
    return 0;
}

/* Closing wakes a task blocked reading the child's output with -EBADF. */
static int blocked_reader(void *arg)
{
    char c;
    return eddy_stream_read(eddy_process_stdout(arg), &c, 1) == -EBADF ? 0 : -EPROTO;
}

PROC_TEST(close_wakes_a_reader)
{
    eddy_process_opts o = stdio_opts(EDDY_STDIO_INHERIT, EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT);
    o.grace = 0;
    eddy_process p;
    SPAWN(&p, ARGV("sleep", "100"), &o);
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, blocked_reader, &p));
        EDDY_OK(eddy_process_close(&p));
    }
    EDDY_OK(rc);
    return 0;
}

/* ---- leaks ---- */

static int leak_line;
static int leaks_a_process(void *arg)
{
    static eddy_process p;
    (void)arg;
    leak_line = __LINE__; EDDY_OK(eddy_process_spawn(&p, ARGV("true"), NULL));
    return 0;
}

EDDY_TEST_EX(an_unclosed_process_is_a_leak, .raw = true)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_QUIET};
    EDDY_CHECK_EQ(eddy_run_opts(leaks_a_process, NULL, &o), -ENOTRECOVERABLE);
    return 0;
}

int main(int argc, char **argv) { return eddy_test_main(argc, argv); }
