/* eddy sys: child processes (P1): spawn, wait, kill, close.
 *
 * Spawning is posix_spawnp: glibc runs it with clone(CLONE_VM|CLONE_VFORK), so nothing of the
 * parent is copied, the calling thread waits only until the child has called exec, and an
 * exec failure comes back as the spawn's error. Everything the child gets is set up with file
 * actions and attributes: its stdio (dup2, which also clears close-on-exec on the target),
 * closefrom(3) so it inherits no other descriptor, the working directory, a signal mask without
 * the signals eddy blocked in this thread, SIGPIPE back at its default action.
 *
 * Exit: pidfd_open right after the spawn (the pid cannot be reused before we reap it: eddy is
 * its only reaper) and a readiness watcher on the pidfd while a task waits; reaping with
 * waitid(P_PIDFD). Without pidfd (ENOSYS, or EDDY_PROCESS_NO_PIDFD=1) the process is a
 * "fallback child": its loop subscribes to SIGCHLD through the signal dispatcher before the
 * spawn (sigdisp.c), and each SIGCHLD makes the loop try waitid(P_PID) on each of its own
 * fallback children. Every wait tries to reap before it parks, so an exit that came before
 * the watcher or the subscription is never missed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/io.h"
#include "sys/sys.h"
#include "loop/sys.h"

extern char **environ;

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#define EDDY__P_PIDFD ((idtype_t)3) /* waitid on a pidfd (Linux 5.4) */

enum {
    P_REAPED = 1u << 0,   /* status is final; the pid is no longer ours */
    P_FALLBACK = 1u << 1, /* in the hub's children list, holding a SIGCHLD subscription */
};

static _Atomic bool pidfd_missing;      /* pidfd_open said ENOSYS: use the fallback from now on */
static _Atomic bool pidfd_waitid_missing; /* waitid(P_PIDFD) said EINVAL (Linux 5.3) */

static bool want_pidfd(void)
{
    if (atomic_load_explicit(&pidfd_missing, memory_order_relaxed)) return false;
    const char *e = getenv("EDDY_PROCESS_NO_PIDFD");
    return !(e && *e && strcmp(e, "0") != 0);
}

static bool valid_here(const eddy_process *p)
{
    return p && p->loop && p->loop == eddy__tl_loop;
}

/* ---- reaping ---- */

static void fallback_leave(eddy_process *p)
{
    if (!(p->state & P_FALLBACK)) return;
    p->state &= ~P_FALLBACK;
    eddy__list_remove(&p->link);
    eddy__sig_unsubscribe(p->loop, EDDY__SIGBIT(SIGCHLD), EDDY__SUB_INTERNAL);
}

/* Reap p if it has exited. Returns true once p is reaped (status set). */
static bool reap(eddy_process *p)
{
    if (p->state & P_REAPED) return true;
    siginfo_t si;
    for (;;) {
        memset(&si, 0, sizeof si);
        int r;
        if (p->pidfd >= 0 && !atomic_load_explicit(&pidfd_waitid_missing, memory_order_relaxed))
            r = eddy__sys_waitid(EDDY__P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG);
        else
            r = eddy__sys_waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG);
        if (r == 0) break;
        if (errno == EINTR) continue;
        if (errno == EINVAL && p->pidfd >= 0 && !atomic_load(&pidfd_waitid_missing)) {
            atomic_store(&pidfd_waitid_missing, true);
            continue;
        }
        /* ECHILD: reaped by someone else (a waitpid(-1) of the program, SIGCHLD ignored). */
        si.si_pid = p->pid;
        si.si_code = 0;
        si.si_status = -errno;
        break;
    }
    if (si.si_pid == 0) return false;
    p->status = si.si_code == CLD_EXITED ? si.si_status & 0xff
              : si.si_code == 0         ? si.si_status
                                        : 128 + si.si_status;
    p->state |= P_REAPED;
    fallback_leave(p);
    return true;
}

void eddy__process_sigchld(eddy__sighub *h)
{
    /* Reaping drops each child's SIGCHLD subscription: hold one more so h outlives the walk. */
    h->count[EDDY__SUB_INTERNAL][SIGCHLD - 1]++;
    for (eddy__link *x = h->children.next, *nx; x != &h->children; x = nx) {
        nx = x->next;
        eddy_process *p = eddy__container_of(x, eddy_process, link);
        if (reap(p) && p->waiter) (void)eddy__wake((eddy_task *)p->waiter, 0);
    }
    eddy__sig_unsubscribe(h->loop, EDDY__SIGBIT(SIGCHLD), EDDY__SUB_INTERNAL);
}

static int send_sig(eddy_process *p, int sig)
{
    if (p->state & P_REAPED) return -ESRCH;
    int r = p->pidfd >= 0 ? (int)eddy__sys_syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0)
                          : eddy__sys_kill(p->pid, sig);
    return r < 0 ? -errno : 0;
}

/* ---- waiting for the exit ---- */

typedef struct exit_wait {
    eddy_io io; /* first: the watcher callback gets it */
    eddy_timer tm;
    eddy_task *task;
} exit_wait;

static void ew_ready(eddy_io *w, unsigned revents)
{
    (void)revents;
    (void)eddy__wake(((exit_wait *)w)->task, 0);
}

static void ew_timeout(void *arg) { (void)eddy__wake(((exit_wait *)arg)->task, -ETIME); }

static void ew_stop(eddy_loop *l, exit_wait *e)
{
    if (e->io.active) eddy_io_stop(&e->io);
    (void)eddy__timer_stop(l, &e->tm);
}

static void ew_cancel(eddy_task *t, void *arg) { ew_stop(t->loop, arg); }

/* Park the calling task (p->waiter) until p is reaped (0), the loop time reaches deadline
 * (-ETIME; EDDY_FOREVER: never) or, if cancellable, the task is cancelled (the cancel code).
 * Other negative errno: a watcher or timer could not be set up (-ENOMEM). */
static int wait_exit(eddy_process *p, int64_t deadline, bool cancellable)
{
    eddy_loop *l = p->loop;
    eddy_task *t = l->current;
    for (;;) {
        if (reap(p)) return 0;
        if (deadline != EDDY_FOREVER && deadline <= l->now) return -ETIME;
        exit_wait e;
        memset(&e, 0, sizeof e);
        e.task = t;
        e.tm.heap_index = SIZE_MAX;
        int rc = 0;
        if (p->pidfd >= 0) rc = eddy__io_start(&e.io, p->pidfd, EDDY_READ, ew_ready, &e, p->handle.site);
        if (rc == 0 && deadline != EDDY_FOREVER) rc = eddy__timer_start(l, &e.tm, deadline, ew_timeout, &e);
        if (rc < 0) {
            ew_stop(l, &e);
            return rc;
        }
        eddy__wait w = {.reason = "process exit", .obj = p, .deadline = deadline == EDDY_FOREVER ? 0 : deadline,
                        .cancel = ew_cancel, .arg = &e, .uncancellable = !cancellable};
        /* A fallback child is woken by SIGCHLD, which no watcher of ours stands for: count the
         * wait as something that can still happen, or the loop would call it a deadlock. */
        bool fb = p->pidfd < 0;
        if (fb) l->nwatch_ref++;
        rc = eddy__park(&w);
        if (fb) l->nwatch_ref--;
        ew_stop(l, &e);
        if (rc < 0 && rc != -ETIME) return rc;
    }
}

/* Stop p as a cancelled wait does: SIGTERM (+ SIGCONT), SIGKILL after the grace, reaped.
 * Not cancellable. The calling task is p->waiter. */
static void terminate(eddy_process *p)
{
    if (reap(p)) return;
    if (p->grace > 0) {
        (void)send_sig(p, SIGTERM);
        (void)send_sig(p, SIGCONT); /* a stopped child would never act on the SIGTERM */
        int64_t d;
        if (p->grace == EDDY_FOREVER || __builtin_add_overflow(p->loop->now, p->grace, &d))
            d = EDDY_FOREVER;
        if (wait_exit(p, d, false) == 0) return;
    }
    (void)send_sig(p, SIGKILL);
    (void)wait_exit(p, EDDY_FOREVER, false);
}

/* ---- spawning ---- */

static int stdio_setup(int i, int mode, int fd, int *devnull, int *child, int *own, eddy_stream **st,
                       const char *site)
{
    switch (mode) {
    case EDDY_STDIO_INHERIT:
        return 0;
    case EDDY_STDIO_NULL:
        if (*devnull < 0 && (*devnull = eddy__sys_open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) return -errno;
        *child = *devnull;
        return 0;
    case EDDY_STDIO_FD:
        *child = fd;
        return 0;
    default: { /* EDDY_STDIO_PIPE */
        int pp[2];
        if (eddy__sys_pipe2(pp, O_CLOEXEC) < 0) return -errno;
        /* The child's end stays blocking (programs expect blocking stdio); ours is not. */
        int mine = i == 0 ? pp[1] : pp[0];
        *own = *child = i == 0 ? pp[0] : pp[1];
        int rc = eddy__sys_fcntl(mine, F_SETFL, eddy__sys_fcntl(mine, F_GETFL) | O_NONBLOCK) < 0 ? -errno : 0;
        if (rc == 0)
            rc = i == 0 ? eddy__fd_stream(mine, 0, st, site) /* SIGPIPE rule of writers */
                        : eddy__fdstream_new(mine, false, -1, 0, &eddy__fdstream_vt_fd, site, st);
        if (rc < 0) eddy__sys_close(mine);
        return rc;
    }
    }
}

static int spawn_child(pid_t *pid, const char *const argv[], const eddy_process_opts *o,
                       const int child[3])
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int e = posix_spawn_file_actions_init(&fa);
    if (e) return -e;
    if ((e = posix_spawnattr_init(&at))) {
        posix_spawn_file_actions_destroy(&fa);
        return -e;
    }
    for (int i = 0; i < 3 && !e; i++)
        if (child[i] >= 0) e = posix_spawn_file_actions_adddup2(&fa, child[i], i);
    if (!e && !(o->flags & EDDY_PROCESS_KEEP_FDS)) e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (!e && o->cwd) e = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    short fl = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (o->flags & EDDY_PROCESS_NEW_SESSION)
        fl |= POSIX_SPAWN_SETSID; /* a session leader also leads its own group */
    else if (o->flags & EDDY_PROCESS_NEW_PGROUP)
        fl |= POSIX_SPAWN_SETPGROUP; /* group 0: the child's own pid */
    sigset_t mask, def;
    (void)pthread_sigmask(SIG_SETMASK, NULL, &mask);
    for (uint64_t m = eddy__sig_blocked_here(); m; m &= m - 1) sigdelset(&mask, __builtin_ctzll(m) + 1);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE); /* eddy ignores it; a child must not inherit that (a shell pipeline would never stop) */
    if (!e) e = posix_spawnattr_setflags(&at, fl);
    if (!e) e = posix_spawnattr_setsigmask(&at, &mask);
    if (!e) e = posix_spawnattr_setsigdefault(&at, &def);
    if (!e && (fl & POSIX_SPAWN_SETPGROUP)) e = posix_spawnattr_setpgroup(&at, 0);
    if (!e)
        e = eddy__sys_posix_spawnp(pid, argv[0], &fa, &at, (char *const *)argv,
                         o->env ? (char *const *)o->env : environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return -e;
}

int eddy__process_spawn(eddy_process *p, const char *const argv[], const eddy_process_opts *opts,
                        const char *site)
{
    static const eddy_process_opts dflt = EDDY_PROCESS_OPTS_INIT;
    eddy_loop *l = eddy__tl_loop;
    if (!p || !argv || !argv[0]) return -EINVAL;
    if (!l) return -EPERM;
    const eddy_process_opts *o = opts ? opts : &dflt;
    const int modes[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
    const int fds[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
    if (o->grace < 0) return -EINVAL;
    for (int i = 0; i < 3; i++) {
        if (modes[i] < EDDY_STDIO_INHERIT || modes[i] > EDDY_STDIO_PIPE) return -EINVAL;
        if (modes[i] == EDDY_STDIO_FD && (fds[i] < 0 || eddy__sys_fcntl(fds[i], F_GETFD) < 0)) return -EBADF;
    }
    if (l->current && !l->in_callback) {
        int c = eddy__cancel_code(l->current);
        if (c) return c;
    }
    memset(p, 0, sizeof *p);
    p->pid = -1;
    p->pidfd = -1;

    int child[3] = {-1, -1, -1}, own[3] = {-1, -1, -1}, moved[3] = {-1, -1, -1}, devnull = -1;
    eddy_stream *st[3] = {NULL, NULL, NULL};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = stdio_setup(i, modes[i], fds[i], &devnull, &child[i], &own[i], &st[i], site);
    /* The dup2s run in order 0, 1, 2: a source below 3 that is not its own target could be
     * overwritten by an earlier one (stdout's pipe landing on descriptor 0 in a program that
     * closed its stdin, or stdout and stderr swapped): move such sources above 2 first. */
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (child[i] < 0 || child[i] > 2 || child[i] == i) continue;
        if ((moved[i] = eddy__sys_fcntl(child[i], F_DUPFD_CLOEXEC, 3)) < 0)
            rc = -errno;
        else
            child[i] = moved[i];
    }
    bool fallback = !want_pidfd();
    if (rc == 0 && fallback) rc = eddy__sig_subscribe(l, EDDY__SIGBIT(SIGCHLD), EDDY__SUB_INTERNAL);
    pid_t pid = -1;
    if (rc == 0) {
        rc = spawn_child(&pid, argv, o, child);
        if (rc < 0 && fallback) eddy__sig_unsubscribe(l, EDDY__SIGBIT(SIGCHLD), EDDY__SUB_INTERNAL);
    }
    for (int i = 0; i < 3; i++) {
        if (own[i] >= 0) eddy__sys_close(own[i]);
        if (moved[i] >= 0) eddy__sys_close(moved[i]);
    }
    if (devnull >= 0) eddy__sys_close(devnull);
    if (rc == 0 && !fallback) {
        p->pidfd = (int)eddy__sys_syscall(SYS_pidfd_open, pid, 0); /* always close-on-exec */
        if (p->pidfd < 0) {
            /* No pidfd here (ENOSYS), or none to be had (EMFILE): the child runs already, so
             * watch it the other way. Subscribing after the spawn is safe: every wait reaps
             * before it parks. */
            if (errno == ENOSYS) atomic_store(&pidfd_missing, true);
            fallback = true;
            rc = eddy__sig_subscribe(l, EDDY__SIGBIT(SIGCHLD), EDDY__SUB_INTERNAL);
            if (rc < 0) { /* nothing can observe the child: do not leave it behind */
                (void)eddy__sys_kill(pid, SIGKILL);
                while (eddy__sys_waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
                }
            }
        }
    }
    if (rc < 0) {
        for (int i = 0; i < 3; i++)
            if (st[i]) eddy_stream_abort(st[i]);
        p->pid = -1;
        return rc;
    }
    p->pid = pid;
    p->in = st[0];
    p->out = st[1];
    p->err = st[2];
    p->grace = o->grace;
    p->loop = l;
    if (fallback) {
        p->state |= P_FALLBACK;
        eddy__list_push_back(&l->sighub->children, &p->link);
    }
    eddy__handle_add(l, &p->handle, "process", site);
    return 0;
}

/* ---- the rest of the API ---- */

int eddy_process_wait(eddy_process *p)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    if (!valid_here(p)) return -EINVAL;
    if (p->waiter) return -EBUSY;
    p->waiter = t;
    int rc = eddy__cancel_code(t);
    if (rc == 0) rc = wait_exit(p, EDDY_FOREVER, true);
    if (rc < 0) terminate(p); /* cancelled (or no watcher): stop it and reap it before returning */
    p->waiter = NULL;
    return rc < 0 ? rc : p->status;
}

int eddy_process_try_wait(eddy_process *p)
{
    if (!valid_here(p)) return -EINVAL;
    return reap(p) ? p->status : -EAGAIN;
}

int eddy_process_kill(eddy_process *p, int sig)
{
    if (!valid_here(p) || sig < 0 || sig > EDDY__NSIG) return -EINVAL;
    return send_sig(p, sig);
}

int eddy_process_pid(const eddy_process *p) { return p && p->loop ? p->pid : -1; }

eddy_stream *eddy_process_stdin(eddy_process *p) { return p ? p->in : NULL; }
eddy_stream *eddy_process_stdout(eddy_process *p) { return p ? p->out : NULL; }
eddy_stream *eddy_process_stderr(eddy_process *p) { return p ? p->err : NULL; }

int eddy_process_close(eddy_process *p)
{
    if (!p || !p->loop) return 0;
    eddy_loop *l = p->loop;
    if (l != eddy__tl_loop) return -EINVAL;
    if (p->waiter) return -EBUSY;
    eddy_task *t = l->current;
    bool in_task = t && !l->in_callback;
    if (!in_task && !reap(p)) return -EBUSY;
    eddy_stream **ss[3] = {&p->in, &p->out, &p->err};
    for (int i = 0; i < 3; i++) {
        if (!*ss[i]) continue;
        int rc = eddy_stream_close(*ss[i]);
        if (rc == -EBUSY) return -EBUSY; /* not freed: see eddy_stream_close */
        *ss[i] = NULL;
    }
    if (!reap(p)) {
        p->waiter = t;
        terminate(p);
        p->waiter = NULL;
    }
    fallback_leave(p); /* reaped: already left; not reaped (no memory for a timer): now */
    if (p->pidfd >= 0) {
        (void)eddy_fd_forget(p->pidfd);
        eddy__sys_close(p->pidfd);
        p->pidfd = -1;
    }
    eddy__handle_del(&p->handle);
    p->loop = NULL;
    return 0;
}
