/* The example programs of the thread pool and files: to_thread_demo (real sleeps on worker
 * threads, so checked with bounds: about 1 s, not 4, and the ticker kept ticking) and
 * tail_follow (driven step by step: each change to the file is made only after the program
 * has printed the previous one, so the expected output is exact). Raw tests: the programs run
 * as child processes with their own loops. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "eddy/test.h"
#include "test_sys_util.h"

#define EX_DIR EDDY_BUILD_DIR "/examples/"

typedef struct child {
    pid_t pid;
    int fd[2];              /* stdout, stderr of the child */
    char buf[2][16384];
    size_t len[2], seen[2]; /* bytes received, bytes already matched */
} child;

static void start(child *c, const char *const *argv)
{
    memset(c, 0, sizeof *c);
    char path[512];
    snprintf(path, sizeof path, EX_DIR "%s", argv[0]);
    int out[2], err[2];
    EDDY_CHECK(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0);
    c->pid = fork();
    EDDY_CHECK(c->pid >= 0);
    if (c->pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        unsetenv("EDDY_CLOCK");
        unsetenv("EDDY_SCHED_SEED");
        unsetenv("EDDY_THREADPOOL_SIZE");
        execv(path, (char *const *)argv);
        dprintf(2, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    c->fd[0] = out[0];
    c->fd[1] = err[0];
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read whatever the child writes, until stream `which` holds want after what was matched
 * before (or, want NULL, until both streams end). Waits on the pipes; the 30 s guard only
 * turns a hang into a failure. */
static void pump(child *c, int which, const char *want)
{
    double deadline = mono() + 30;
    size_t wl = want ? strlen(want) : 0;
    for (;;) {
        if (want && c->len[which] >= c->seen[which] + wl) {
            if (memcmp(c->buf[which] + c->seen[which], want, wl) != 0)
                eddy_test_fail(__FILE__, __LINE__, "%s: want '%s' after %zu bytes\n--- got\n%.*s",
                               which ? "stderr" : "stdout", want, c->seen[which], (int)c->len[which],
                               c->buf[which]);
            c->seen[which] += wl;
            return;
        }
        struct pollfd p[2] = {{c->fd[0], POLLIN, 0}, {c->fd[1], POLLIN, 0}};
        int open = (c->fd[0] >= 0) + (c->fd[1] >= 0);
        if (!open) {
            if (!want) return;
            eddy_test_fail(__FILE__, __LINE__, "the child ended before writing '%s'\n--- stdout\n%.*s--- stderr\n%.*s",
                           want, (int)c->len[0], c->buf[0], (int)c->len[1], c->buf[1]);
        }
        int left = (int)((deadline - mono()) * 1000);
        if (left <= 0)
            eddy_test_fail(__FILE__, __LINE__, "no '%s' within 30 s\n--- stdout\n%.*s--- stderr\n%.*s",
                           want ? want : "(end)", (int)c->len[0], c->buf[0], (int)c->len[1], c->buf[1]);
        int n = poll(p, 2, left);
        EDDY_CHECK(n >= 0 || errno == EINTR);
        for (int i = 0; i < 2; i++) {
            if (c->fd[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            size_t room = sizeof c->buf[i] - 1 - c->len[i];
            EDDY_CHECK(room > 0);
            ssize_t r = read(c->fd[i], c->buf[i] + c->len[i], room);
            if (r <= 0) {
                close(c->fd[i]);
                c->fd[i] = -1;
            } else {
                c->len[i] += (size_t)r;
                c->buf[i][c->len[i]] = '\0';
            }
        }
    }
}

static int finish(child *c)
{
    pump(c, 0, NULL);
    int ws;
    EDDY_CHECK_EQ(waitpid(c->pid, &ws, 0), c->pid);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* ---- to_thread_demo ---- */

EDDY_TEST_EX(to_thread_demo_runs_jobs_side_by_side, .raw = true, .timeout = EDDY_SEC(60))
{
    static child c;
    double t0 = mono();
    start(&c, (const char *const[]){"to_thread_demo", NULL});
    EDDY_CHECK_EQ(finish(&c), 0);
    double wall = mono() - t0;
    EDDY_CHECK_EQ(c.len[1], 0); /* nothing on stderr */
    /* Every line is a tick, a job or the summary; count them. */
    int ticks = 0, jobs = 0, summary = 0, last_tick = 0;
    double total = -1;
    int reported = -1;
    for (char *line = strtok(c.buf[0], "\n"); line; line = strtok(NULL, "\n")) {
        int n, id;
        double at;
        if (sscanf(line, "tick %d at %lf s", &n, &at) == 2) {
            EDDY_CHECK_EQ(n, last_tick + 1);
            last_tick = n;
            ticks++;
        } else if (sscanf(line, "job %d finished at %lf s", &id, &at) == 2) {
            EDDY_CHECK(id >= 1 && id <= 4);
            jobs++;
        } else if (sscanf(line, "4 blocking jobs of 1 s each took %lf s in all; the loop ticked %d times meanwhile",
                          &total, &reported) == 2) {
            summary++;
        } else {
            eddy_test_fail(__FILE__, __LINE__, "unexpected line: %s", line);
        }
    }
    EDDY_CHECK_EQ(jobs, 4);
    EDDY_CHECK_EQ(summary, 1);
    EDDY_CHECK_EQ(reported, ticks);
    /* Side by side: about one job's time, never four (bounds loose for a loaded machine). */
    EDDY_CHECK(total >= 0.99);
    EDDY_CHECK(total < 3.5);
    EDDY_CHECK(wall < 4.0);
    /* The loop stayed live: it ticked through the second, at most once per 100 ms. */
    EDDY_CHECK(ticks >= 5);
    EDDY_CHECK(ticks <= (int)(total * 10) + 1);
    return 0;
}

/* ---- tail_follow ---- */

static char dir[64], logp[96], rot[96];

static void tmp(void)
{
    sys_tmpdir(dir, sizeof dir, "tail");
    snprintf(logp, sizeof logp, "%s/log", dir);
    snprintf(rot, sizeof rot, "%s/log.1", dir);
}

static void rm_tmp(void) { sys_rm_tmpdir(dir); }

static void put(const char *path, int flags, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0600);
    EDDY_CHECK(fd >= 0);
    EDDY_CHECK_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static char msg[512];

static const char *said(const char *fmt)
{
    snprintf(msg, sizeof msg, fmt, logp);
    return msg;
}

EDDY_TEST_EX(tail_follow_follows_appends_truncation_rotation_and_deletion, .raw = true, .timeout = EDDY_SEC(60))
{
    tmp();
    static child c;
    put(logp, O_CREAT, "one\ntwo\n");
    start(&c, (const char *const[]){"tail_follow", logp, NULL});
    pump(&c, 0, "one\ntwo\n");
    put(logp, O_APPEND, "three\n");
    pump(&c, 0, "three\n");
    /* Truncated, then shorter content: printed again from the start. */
    put(logp, O_TRUNC, "4\n");
    pump(&c, 1, said("tail_follow: %s: file truncated\n"));
    pump(&c, 0, "4\n");
    /* Rotation: the old file's last lines come first, then the new file. */
    put(logp, O_APPEND, "five\n");
    pump(&c, 0, "five\n");
    EDDY_CHECK(rename(logp, rot) == 0);
    put(rot, O_APPEND, "five-b\n");
    put(logp, O_CREAT | O_EXCL, "six\n");
    pump(&c, 0, "five-b\nsix\n");
    pump(&c, 1, said("tail_follow: '%s' has been replaced;  following new file\n"));
    put(rot, O_APPEND, "old, not followed any more\n");
    put(logp, O_APPEND, "6b\n");
    pump(&c, 0, "6b\n");
    /* Deleted, then back. */
    EDDY_CHECK(unlink(logp) == 0);
    pump(&c, 1, said("tail_follow: '%s' has become inaccessible: No such file or directory\n"));
    put(logp, O_CREAT | O_EXCL, "seven\n");
    pump(&c, 1, said("tail_follow: '%s' has appeared;  following new file\n"));
    pump(&c, 0, "seven\n");
    /* SIGTERM ends it cleanly. */
    EDDY_CHECK(kill(c.pid, SIGTERM) == 0);
    EDDY_CHECK_EQ(finish(&c), 0);
    EDDY_CHECK_EQ(c.len[0], c.seen[0]); /* nothing else on stdout */
    EDDY_CHECK_EQ(c.len[1], c.seen[1]);
    rm_tmp();
    return 0;
}

EDDY_TEST_EX(tail_follow_waits_for_a_file_that_appears_later, .raw = true, .timeout = EDDY_SEC(60))
{
    tmp();
    static child c;
    start(&c, (const char *const[]){"tail_follow", logp, NULL});
    pump(&c, 1, said("tail_follow: cannot open '%s' for reading: No such file or directory\n"));
    /* Created under another name and renamed into place, as editors and log writers do. */
    put(rot, O_CREAT, "hello\n");
    EDDY_CHECK(rename(rot, logp) == 0);
    pump(&c, 1, said("tail_follow: '%s' has appeared;  following new file\n"));
    pump(&c, 0, "hello\n");
    put(logp, O_APPEND, "world\n");
    pump(&c, 0, "world\n");
    EDDY_CHECK(kill(c.pid, SIGINT) == 0);
    EDDY_CHECK_EQ(finish(&c), 0);
    rm_tmp();
    return 0;
}

EDDY_TEST_EX(tail_follow_usage_errors, .raw = true)
{
    static child c;
    start(&c, (const char *const[]){"tail_follow", NULL});
    EDDY_CHECK_EQ(finish(&c), 1);
    EDDY_CHECK(strcmp(c.buf[1], "usage: tail_follow FILE\n") == 0);
    start(&c, (const char *const[]){"tail_follow", "/nonexistent-dir/x", NULL});
    EDDY_CHECK_EQ(finish(&c), 1);
    EDDY_CHECK(strcmp(c.buf[1], "tail_follow: cannot watch '/nonexistent-dir': No such file or directory\n") == 0);
    return 0;
}
