/* run_with_timeout — run a command with a time limit, like coreutils `timeout`.
 *
 *   run_with_timeout [--grace S] SECONDS CMD [ARG...]
 *
 * Runs CMD with this program's stdin, stdout and stderr. If CMD is still running after SECONDS,
 * it gets SIGTERM, then SIGKILL if it is still there S seconds later (default 2). Ctrl-C
 * (SIGINT), SIGTERM or SIGHUP sent to run_with_timeout stop CMD the same way. Durations are
 * decimal seconds ("0.5", "3"); SECONDS 0 means no time limit, as for timeout; --grace 0 sends
 * SIGKILL at once (eddy's rule: a duration of 0 means now; timeout's -k 0 would mean "never").
 *
 * Exit status, following timeout's conventions:
 *   CMD's own status, 128 + N when signal N ended it
 *   124  CMD ran out of time (whether SIGTERM or SIGKILL ended it)
 *   125  run_with_timeout itself failed
 *   126  CMD was found but could not be run
 *   127  CMD was not found
 *   128 + N  run_with_timeout got signal N (130 for Ctrl-C) and stopped CMD
 *   2    bad usage (timeout says 125 there; eddy's examples all use 2); --help: 0
 *
 * Unlike timeout, CMD stays in our process group (timeout --foreground), so a terminal's Ctrl-C
 * reaches it too and it may read the terminal, and only CMD itself is signalled, not processes
 * it started.
 *
 * The eddy parts: eddy_process_spawn and eddy_process_wait inside a cancel scope whose
 * deadline is the time limit (a cancelled wait sends SIGTERM, then SIGKILL after the grace
 * period, and returns only once CMD is reaped), a signal receiver opened before the spawn, and a
 * nursery in which whichever finishes first, CMD or a signal, cancels the other. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy.h"

typedef struct state {
    int64_t limit, grace;     /* EDDY_FOREVER: no limit */
    char **cmd;
    eddy_process proc;
    eddy_signal_receiver rx;
    int status;               /* eddy_process_wait's result */
    bool timed_out;
    int signal;               /* signal that made us stop CMD, or 0 */
    int exit_code;
} state;

static void usage(FILE *to)
{
    fprintf(to, "usage: run_with_timeout [--grace S] SECONDS CMD [ARG...]\n"
                "Run CMD; if it is still running after SECONDS, send it SIGTERM, then SIGKILL\n"
                "S seconds later (default 2). Exit with CMD's status, or 124 if it timed out,\n"
                "125 if run_with_timeout failed, 126 if CMD cannot run, 127 if not found.\n");
}

/* Decimal seconds >= 0 to ns; false for anything else. Beyond ~290 years: no limit. */
static bool parse_seconds(const char *s, int64_t *ns)
{
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || !(d >= 0)) return false; /* also rejects NaN */
    *ns = d >= 9e9 ? EDDY_FOREVER : (int64_t)(d * 1e9 + 0.5);
    return true;
}

static int wait_for_cmd(void *arg)
{
    state *st = arg;
    eddy_cancel_scope cs;
    st->status = -ECANCELED;
    EDDY_CANCEL_SCOPE(&cs, .timeout = st->limit) {
        st->status = eddy_process_wait(&st->proc);
    }
    /* The scope's own deadline, not a signal that cancelled the nursery around it. */
    st->timed_out = st->status < 0 && cs.cancel_called;
    return 0;
}

static int wait_for_signal(void *arg)
{
    state *st = arg;
    int sig = eddy_signal_receive(&st->rx);
    if (sig > 0) st->signal = sig;
    return 0; /* done first: the nursery cancels wait_for_cmd, which stops CMD */
}

static int run(void *arg)
{
    state *st = arg;
    st->exit_code = 125;
    /* Before the spawn, so that a signal arriving at any point is ours to act on. */
    int rc = eddy_signal_open(&st->rx, SIGINT, SIGTERM, SIGHUP);
    if (rc < 0) {
        fprintf(stderr, "run_with_timeout: %s\n", strerror(-rc));
        return 0;
    }
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.grace = st->grace;
    rc = eddy_process_spawn(&st->proc, (const char *const *)st->cmd, &o);
    if (rc < 0) {
        fprintf(stderr, "run_with_timeout: failed to run command '%s': %s\n", st->cmd[0], strerror(-rc));
        st->exit_code = rc == -ENOENT ? 127 : (rc == -EACCES || rc == -ENOEXEC || rc == -EISDIR ||
                                               rc == -ENOTDIR || rc == -ELOOP || rc == -ETXTBSY) ? 126 : 125;
        eddy_signal_close(&st->rx);
        return 0;
    }
    int nrc;
    EDDY_NURSERY_FLAGS(n, &nrc, EDDY_CANCEL_ON_FIRST_DONE) {
        if (eddy_spawn(n, wait_for_cmd, st) < 0 || eddy_spawn(n, wait_for_signal, st) < 0)
            eddy_nursery_cancel(n);
    }
    rc = eddy_process_close(&st->proc); /* reaped already: releases the descriptors */
    eddy_signal_close(&st->rx);
    if (st->status >= 0)
        st->exit_code = st->status; /* it ended by itself: its status, whatever else happened */
    else if (st->timed_out)
        st->exit_code = 124;
    else if (st->signal)
        st->exit_code = 128 + st->signal;
    if (nrc < 0 || rc < 0 || (st->status < 0 && !st->timed_out && !st->signal)) {
        fprintf(stderr, "run_with_timeout: %s\n", strerror(-(nrc < 0 ? nrc : rc < 0 ? rc : st->status)));
        st->exit_code = 125;
    }
    return 0;
}

int main(int argc, char **argv)
{
    state st = {.grace = EDDY_SEC(2)};
    int i = 1;
    if (i < argc && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (i < argc && !strcmp(argv[i], "--grace")) {
        if (i + 1 >= argc || !parse_seconds(argv[i + 1], &st.grace)) {
            fprintf(stderr, "run_with_timeout: invalid grace period '%s'\n", i + 1 < argc ? argv[i + 1] : "");
            usage(stderr);
            return 2;
        }
        i += 2;
    } else if (i < argc && argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2]) {
        fprintf(stderr, "run_with_timeout: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (argc - i < 2) {
        usage(stderr);
        return 2;
    }
    if (!parse_seconds(argv[i], &st.limit)) {
        fprintf(stderr, "run_with_timeout: invalid time interval '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (st.limit == 0) st.limit = EDDY_FOREVER; /* timeout's convention: 0 disables the limit */
    st.cmd = argv + i + 1;
    int rc = eddy_run(run, &st);
    if (rc < 0) {
        fprintf(stderr, "run_with_timeout: %s\n", strerror(-rc));
        return 125;
    }
    return st.exit_code;
}
