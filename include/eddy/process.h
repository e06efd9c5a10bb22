/* eddy — child processes (P1, P2).
 *
 * eddy_process_spawn starts a program with posix_spawn (glibc runs it with
 * clone(CLONE_VM|CLONE_VFORK): no copy of the parent's memory, and an exec failure comes back
 * as an error from the spawn itself). The child inherits nothing but what the options give it:
 * its three standard descriptors (each inherited, /dev/null, a descriptor of the caller's, or
 * a pipe whose other end the parent gets as an eddy_stream), the environment and working
 * directory, and the spawning thread's signal mask without the signals eddy blocked there
 * (signal.h); SIGPIPE is reset to its default action and every other descriptor is closed
 * (unless EDDY_PROCESS_KEEP_FDS).
 *
 * The child's exit is observed through a pidfd (pidfd_open, Linux 5.3) watched by the loop.
 * On kernels without pidfd, eddy falls back to SIGCHLD through the signal dispatcher
 * (signal.h), each loop reaping only its own children with waitid(P_PID, pid): eddy never
 * waits for "any child", so an embedding program's own children are never taken from it.
 * Conversely, a program that reaps every child itself (waitpid(-1) in a SIGCHLD handler, or
 * SIGCHLD set to SIG_IGN, which makes the kernel reap them) takes eddy's too: eddy_process_wait
 * then returns -ECHILD. Setting EDDY_PROCESS_NO_PIDFD=1 in the environment forces the fallback
 * (tests run every case both ways).
 *
 * Lifetime: an eddy_process is caller storage, valid from a successful spawn until
 * eddy_process_close, which releases everything (the pipes still open, the pidfd) and makes
 * sure no child or zombie is left behind. A process not closed when eddy_run returns is
 * reported as a leak with its spawn site. Every call must be made on the thread of the loop
 * that spawned the process. */
#ifndef EDDY_PROCESS_H
#define EDDY_PROCESS_H

#include "base.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a child gets as one of its standard descriptors. */
enum {
    EDDY_STDIO_INHERIT = 0, /* the parent's own descriptor 0, 1 or 2 */
    EDDY_STDIO_NULL = 1,    /* /dev/null */
    EDDY_STDIO_FD = 2,      /* the caller's descriptor in stdin_fd/stdout_fd/stderr_fd (not
                               closed, not changed: the child gets a duplicate) */
    EDDY_STDIO_PIPE = 3,    /* a new pipe; the parent's end is eddy_process_stdin/stdout/stderr */
};

enum {
    EDDY_PROCESS_NEW_SESSION = 1u << 0, /* setsid() in the child: no controlling terminal */
    EDDY_PROCESS_NEW_PGROUP = 1u << 1,  /* the child leads a new process group */
    EDDY_PROCESS_KEEP_FDS = 1u << 2,    /* do not close the child's descriptors >= 3 (those
                                           the program left without FD_CLOEXEC pass on) */
};

/* Options. Start from EDDY_PROCESS_OPTS_INIT (or pass NULL for all defaults); a zero-filled
 * struct means literal zeros, so a grace of 0 there means "SIGKILL at once". */
typedef struct eddy_process_opts {
    int64_t grace;              /* ns between SIGTERM and SIGKILL when a wait is cancelled or
                                   the process is closed while running (default 5 s; 0: SIGKILL
                                   at once; EDDY_FOREVER: SIGTERM only, wait as long as it takes) */
    int stdin_mode, stdout_mode, stderr_mode; /* EDDY_STDIO_* (default INHERIT) */
    int stdin_fd, stdout_fd, stderr_fd;       /* for EDDY_STDIO_FD */
    const char *const *env;     /* the whole environment, NULL-terminated "NAME=value" strings;
                                   NULL: the parent's (environ) */
    const char *cwd;            /* working directory; NULL: the parent's */
    unsigned flags;             /* EDDY_PROCESS_* */
} eddy_process_opts;

/* The defaults, as a plain brace initializer (C and C++): grace 5 s, everything else 0. */
#define EDDY_PROCESS_OPTS_INIT {INT64_C(5000000000), 0, 0, 0, 0, 0, 0, 0, 0, 0}

/* A child process. Caller storage; every field is private (use the accessors). */
typedef struct eddy_process {
    int pid;                      /* private: eddy_process_pid */
    int pidfd;                    /* private: -1 in the SIGCHLD fallback */
    int status;                   /* private: the wait result once reaped */
    unsigned state;               /* private */
    int64_t grace;                /* private */
    eddy_stream *in, *out, *err;  /* private: the parent's pipe ends (eddy_process_stdin ...) */
    void *waiter;                 /* private: the task in eddy_process_wait */
    eddy__link link;              /* private: in the loop's list of fallback children */
    eddy_loop *loop;              /* private: NULL before spawn and after close */
    eddy__handle handle;          /* private: leak tracking */
} eddy_process;

/* Start argv[0] with arguments argv (NULL-terminated; argv[0] is also the child's argv[0]).
 * A name without a slash is searched in the PATH of eddy's own environment (not opts->env),
 * as posix_spawnp and execvp do. On success *p is a running process and, for each stdio set
 * to EDDY_STDIO_PIPE, p owns a stream: the parent's writing end of the child's stdin, the
 * reading ends of its stdout/stderr (descriptor streams: eddy_bufreader reads a child's lines).
 * Cancellation point: in a cancelled task nothing is started. Not otherwise blocking (the
 * calling thread waits only until the child has called exec).
 * Returns 0; -ENOENT (no such program, or opts->cwd does not exist), -EACCES (not executable,
 * or a directory in the way is not searchable), -ENOEXEC (not a format the kernel runs),
 * -ENOTDIR, -ELOOP, -ENAMETOOLONG, -E2BIG (arguments too long), -ETXTBSY: exec failed, nothing
 * is left running; -EAGAIN (process limit), -ENOMEM; -EMFILE/-ENFILE (the pipes or /dev/null
 * could not be opened); -EINVAL if p or argv is NULL, argv[0] is NULL, a stdio mode is
 * unknown, or opts->grace is negative; -EBADF if an EDDY_STDIO_FD descriptor is not open;
 * -ECANCELED/-ETIMEDOUT if the calling task is cancelled; -EPERM outside a loop thread. */
#define eddy_process_spawn(p, argv, opts) eddy__process_spawn((p), (argv), (opts), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__process_spawn(eddy_process *p, const char *const argv[],
                                          const eddy_process_opts *opts, const char *site);

/* Wait for the child to exit and reap it. Returns its exit code (0-255), or 128 + the signal
 * number if a signal ended it (the shell's convention: 137 for SIGKILL); once reaped, later
 * calls return the same value at once (unless cancelled).
 * Cancellation: when the calling task is cancelled, the child gets SIGTERM (and SIGCONT, should
 * it be stopped), then SIGKILL once opts->grace has passed, and is reaped before the call
 * returns -ECANCELED/-ETIMEDOUT (trio's run_process); the status it ended with is what later
 * calls return. This termination is not itself cancellable: it lasts at most the grace period
 * plus the time the kernel needs to end a killed process.
 * Returns the status (>= 0); -ECANCELED/-ETIMEDOUT (the child is reaped); -ENOMEM/-ENOSPC if
 * the loop cannot watch for the child's exit (it is then stopped and reaped as a cancelled
 * wait stops it, and later calls return its status); -ECHILD if something else reaped the
 * child (see above); -EBUSY if another task is waiting for p; -EINVAL if p is
 * NULL, not spawned, closed, or spawned on another loop; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_process_wait(eddy_process *p);

/* The status eddy_process_wait would return, without waiting: reaps the child if it has
 * exited. Not a cancellation point; callable from callbacks.
 * Returns the status (>= 0); -EAGAIN while the child runs; -ECHILD as eddy_process_wait;
 * -EINVAL as eddy_process_wait. */
EDDY_API EDDY_WUR int eddy_process_try_wait(eddy_process *p);

/* Send sig to the child (through its pidfd, so never to a process that reused the pid).
 * sig 0 only checks that the child has not been reaped. Returns 0; -ESRCH once the child has
 * been reaped (by a wait, or because it had already exited and was reaped by try_wait);
 * -EINVAL if sig is not a signal number or p is not a spawned process of this loop; -EPERM
 * from the kernel. Signalling a child that exited but was not reaped yet succeeds and does
 * nothing. */
EDDY_API EDDY_WUR int eddy_process_kill(eddy_process *p, int sig);

/* The child's process id (> 0), or -1 if p is NULL or not spawned. Stays valid after reaping,
 * until close, but then names no process of ours. */
EDDY_API int eddy_process_pid(const eddy_process *p);

/* p's end of the child's stdin/stdout/stderr pipe, or NULL if that descriptor is not a pipe
 * (or p is NULL). The stream belongs to p: eddy_process_close closes it. To send end-of-file
 * to the child, eddy_stream_shutdown_write the stdin stream (it closes the pipe). Do not
 * close or abort these streams yourself. */
EDDY_API eddy_stream *eddy_process_stdin(eddy_process *p);
EDDY_API eddy_stream *eddy_process_stdout(eddy_process *p);
EDDY_API eddy_stream *eddy_process_stderr(eddy_process *p);

/* Release p: close the pipe streams it still owns (tasks inside them get -EBADF, as with
 * eddy_stream_close), then, if the child has not been reaped, stop it as a cancelled wait
 * would (SIGTERM, SIGKILL after the grace period) and reap it, and release the pidfd. Not a
 * cancellation point; returns once no child, zombie or descriptor of p is left. p is invalid
 * afterwards. NULL or a never-spawned (zero-filled) process: 0.
 * Returns 0; -EBUSY (p left as it was, except for streams already closed) when a task is
 * waiting for p in eddy_process_wait, when called outside a task while the child still runs
 * (waiting for it needs a task), or when a stream's close could not finish (see
 * eddy_stream_close); -EINVAL if p belongs to another loop. */
EDDY_API EDDY_WUR int eddy_process_close(eddy_process *p);

/* ---- run and capture (P2) ------------------------------------------------------------- */

/* What eddy_process_run feeds and captures. Buffers are the caller's; eddy never allocates. */
typedef struct eddy_process_capture {
    const void *input;  /* written to the child's stdin (a pipe), which is then closed; NULL:
                           stdin as opts say (input_len ignored) */
    size_t input_len;
    char *out;          /* stdout is captured here (a pipe); NULL: as opts say */
    size_t out_cap;     /* bytes out can take */
    size_t out_len;     /* set: bytes captured, also on error */
    char *err;          /* stderr likewise */
    size_t err_cap;
    size_t err_len;
} eddy_process_capture;

/* Run argv to completion (eddy_process_spawn with opts, then wait): feed cap->input to its
 * stdin and capture its stdout and stderr into cap->out and cap->err, all at the same time, so
 * a child that writes more than a pipe holds before reading its input cannot deadlock with us.
 * Bytes are not NUL-terminated. A child that exits without reading all its input is not an
 * error (trio's run_process): the rest is discarded. The call returns when the child has
 * exited and both captured outputs have reached end-of-file (a grandchild holding them open
 * keeps it waiting; cancel it to stop). cap may be NULL (spawn, wait, close).
 * Returns the child's status as eddy_process_wait (>= 0, whatever it is: check it);
 * -EMSGSIZE if the child wrote more than out_cap (or err_cap) bytes: the first out_cap bytes
 * are kept in out (out_len == out_cap) and the child is stopped as a cancelled wait would stop
 * it and reaped; -ECANCELED/-ETIMEDOUT if cancelled: likewise stopped and reaped, the bytes
 * captured so far kept; the errors of eddy_process_spawn (nothing ran); -EINVAL also if opts
 * sets a stdio to EDDY_STDIO_PIPE that cap does not feed or capture (nobody would drain it);
 * read and write errors of the pipes (-EIO...), after which the child is stopped the same
 * way; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_process_run(const char *const argv[], const eddy_process_opts *opts,
                                       eddy_process_capture *cap);

#ifdef __cplusplus
}
#endif
#endif
