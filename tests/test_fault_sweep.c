/* The syscall fault sweep (src/loop/sys.h, docs/testing.md "Syscall fault injection").
 *
 * Each scenario (core runtime, TCP, Unix sockets, pipes and descriptor streams, sendfile,
 * protocols, UDP, files, processes, HTTP, TLS, DNS; the stream conformance suite in the full
 * sweep), on each I/O backend (on io_uring the completion sites of loop/uring.c stand for the
 * system calls an SQE replaces), first runs once with every call site
 * counting its calls. Then, for every call site it reached and every errno plausible for that
 * kind of call (plus a short read or write where the call moves bytes), it runs again in a
 * forked child with that one call failing once, and checks:
 *   - no crash (the child exits normally) and no hang (a real-time alarm per run);
 *   - no descriptor left open (the /proc/self/fd count before and after eddy_run);
 *   - no memory leaked (LeakSanitizer, under ASan) and no handle left open (eddy_run runs with
 *     EDDY_OPT_FAIL_ON_LEAK);
 *   - every negative result a public call returned is one the comment above that function in
 *     include/eddy/ headers name (the headers are parsed here: "-EMFILE", "EDDY_ENONAME", ...).
 * A site is one call in the source (kind, file, line, function); the faulted call is its first
 * (and, in the full sweep, also its last) call in the scenario. Each scenario prints how many
 * (site, errno) pairs it tried.
 *
 * ctest runs the bounded sweep (first call of each site, conformance suite left out);
 * `make faults` runs the full one (EDDY_FAULT_SWEEP=full). Without EDDY_FAULTS compiled in
 * (release builds) there is nothing to inject and the cases say so. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "eddy/test.h"
#include "loop/sys.h"

#ifndef EDDY_FAULTS

EDDY_TEST_EX(fault_sweep, .raw = true)
{
    printf("# fault sweep: skipped, this build has no fault injection (EDDY_FAULTS is on in "
           "Debug builds: make test's asan configuration, make faults)\n");
    return 0;
}

#else

#include "dns_fake.h"
#ifdef EDDY_TEST_OPENSSL
#define TLS_UTIL_ON_DEMAND /* made by fault_sweep_tls alone */
#include "tls_util.h"
#endif
#include "fault_sweep_docs.h"
#include "fault_sweep_scenarios.h"

/* ---- the sweep -------------------------------------------------------------------------- */

/* The errnos tried at a kind of call: what the kernel can really return there (for the
 * resource and interruption errors the issue lists) and SHORT for calls that move bytes. */
#define SHORT EDDY__SYS_SHORT

/* Sites where the descriptor's kind rules out what the call's kind allows in general. */
static const struct {
    int kind;
    const char *func;
    int errs[8];
} site_errs[] = {
    /* adding 1 to an eventfd: never blocks (no EINTR), never short; EAGAIN only when the
     * counter is saturated, that is, already readable, so the wake-up is there anyway */
    {EDDY__SYS_WRITE, "ep_wake", {0}}, /* the backends' wake-ups (loop/epoll.c, loop/uring.c) */
    {EDDY__SYS_WRITE, "ur_wake", {0}},
    {EDDY__SYS_WRITE, "ur_fd_of", {0}},  /* io_uring's embedding eventfd (eddy_loop_fd) */
    {EDDY__SYS_WRITE, "ur_flush", {0}},
    {EDDY__SYS_READ, "ur_poll_wait", {EAGAIN}},
    {EDDY__SYS_WRITE, "on_signal", {0}},
    /* draining an eventfd, a timerfd or a signalfd: 8 bytes (or whole siginfo records) or
     * EAGAIN; a shorter buffer would be EINVAL, not a short read */
    {EDDY__SYS_READ, "ep_poll", {EAGAIN}}, /* epoll's wake-up eventfd */
    {EDDY__SYS_READ, "on_timerfd", {EAGAIN}},
    {EDDY__SYS_READ, "drain_sfd_locked", {EAGAIN}},
    {EDDY__SYS_READ, "drain_caught_locked", {EAGAIN}},
    {EDDY__SYS_READ, "refill", {EAGAIN, EINTR}}, /* inotify: whole events only */
    /* a certificate or key file: a regular file (checked with fstat first), never EAGAIN */
    {EDDY__SYS_READ, "eddy__tls_read_file", {EINTR, EIO, SHORT}},
    {EDDY__SYS_WRITE, "put_str", {0}},           /* the stack-overflow message, then abort */
    /* recvmsg/sendmsg on a UDP socket (eddy_udp): as recvfrom/sendto */
    {EDDY__SYS_RECVMSG, "dgram_msg", {EINTR, EAGAIN, ENOMEM, ECONNREFUSED, SHORT}},
    {EDDY__SYS_SENDMSG, "dgram_msg", {EINTR, EAGAIN, ENOBUFS, ENOMEM, ECONNREFUSED}},
    {EDDY__SYS_CQE_RECVMSG, "cqe_fault_dgram", {EINTR, EAGAIN, ENOMEM, ECONNREFUSED, SHORT}},
    {EDDY__SYS_CQE_SENDMSG, "cqe_fault_dgram", {EINTR, EAGAIN, ENOBUFS, ENOMEM, ECONNREFUSED}},
    /* files on the pool's blocking threads */
    {EDDY__SYS_READ, "eddy__fop_exec", {EIO, SHORT}},
    {EDDY__SYS_READV, "eddy__fop_exec", {EIO, SHORT}},
    {EDDY__SYS_WRITE, "eddy__fop_exec", {ENOSPC, EIO, SHORT}},
    {EDDY__SYS_WRITEV, "eddy__fop_exec", {ENOSPC, EIO, SHORT}},
    {EDDY__SYS_SYSCALL, "eddy__fop_exec", {EIO, ENOENT}},  /* getdents64 */
    {EDDY__SYS_SYSCALL, "futex_wait_nonzero", {EINTR, EAGAIN}}, /* futex wait: spurious */
    {EDDY__SYS_SYSCALL, "futex_store_wake", {0}},               /* futex wake cannot fail */
};

static int plausible(int kind, const char *func, int *out)
{
    for (size_t i = 0; i < sizeof site_errs / sizeof site_errs[0]; i++) {
        if (site_errs[i].kind != kind || strcmp(site_errs[i].func, func)) continue;
        int n = 0;
        while (n < 8 && site_errs[i].errs[n]) out[n] = site_errs[i].errs[n], n++;
        return n;
    }
    static const struct {
        int kind;
        int errs[8];
    } t[] = {
        /* read/write here are on pipes, eventfds, timerfds and files: sockets use recv/send */
        {EDDY__SYS_READ, {EINTR, EAGAIN, SHORT}},
        {EDDY__SYS_READV, {EINTR, EAGAIN, SHORT}},
        {EDDY__SYS_PREAD, {EINTR, EIO, SHORT}},
        {EDDY__SYS_RECV, {EINTR, EAGAIN, ENOMEM, ECONNRESET, SHORT}},
        /* recvfrom/sendto are UDP's (eddy_udp, the resolver's queries): an ICMP error is
         * ECONNREFUSED, and a datagram is never sent in part */
        {EDDY__SYS_RECVFROM, {EINTR, EAGAIN, ENOMEM, ECONNREFUSED, SHORT}},
        {EDDY__SYS_RECVMSG, {EINTR, EAGAIN, ENOMEM, ECONNRESET, SHORT}},
        {EDDY__SYS_WRITE, {EINTR, EAGAIN, EPIPE, SHORT}},
        {EDDY__SYS_WRITEV, {EINTR, EAGAIN, EPIPE, SHORT}},
        {EDDY__SYS_SEND, {EINTR, EAGAIN, ENOBUFS, ENOMEM, EPIPE, ECONNRESET, SHORT}},
        {EDDY__SYS_SENDTO, {EINTR, EAGAIN, ENOBUFS, ENOMEM, ECONNREFUSED}},
        {EDDY__SYS_SENDMSG, {EINTR, EAGAIN, ENOBUFS, ENOMEM, EPIPE, ECONNRESET, SHORT}},
        {EDDY__SYS_RECVMMSG, {EINTR, EAGAIN, ENOMEM, ECONNREFUSED, SHORT}},
        {EDDY__SYS_SENDMMSG, {EINTR, EAGAIN, ENOBUFS, ENOMEM, SHORT}},
        {EDDY__SYS_SENDFILE, {EINTR, EAGAIN, ENOMEM, EPIPE, ECONNRESET, SHORT}},
        {EDDY__SYS_SPLICE, {EINTR, EAGAIN, ENOMEM, EPIPE, SHORT}},
        {EDDY__SYS_ACCEPT4, {EINTR, EAGAIN, EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED}},
        {EDDY__SYS_CONNECT, {EAGAIN, ECONNREFUSED, ENOBUFS, ENOMEM}},
        {EDDY__SYS_SOCKET, {EMFILE, ENFILE, ENOBUFS, ENOMEM}},
        {EDDY__SYS_SOCKETPAIR, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_PIPE2, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_EVENTFD, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_EPOLL_CREATE1, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_TIMERFD_CREATE, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_SIGNALFD, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_OPEN, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_OPENAT, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_DUP, {EMFILE}},
        {EDDY__SYS_BIND, {EADDRINUSE, ENOMEM}},
        {EDDY__SYS_LISTEN, {EADDRINUSE}},
        {EDDY__SYS_SETSOCKOPT, {ENOMEM, ENOBUFS}},
        {EDDY__SYS_GETSOCKNAME, {ENOBUFS}},
        {EDDY__SYS_GETPEERNAME, {ENOBUFS, ENOTCONN}},
        {EDDY__SYS_SHUTDOWN, {ENOTCONN}},
        {EDDY__SYS_CLOSE, {EINTR, EIO}},
        {EDDY__SYS_EPOLL_CTL, {ENOMEM, ENOSPC}},
        {EDDY__SYS_EPOLL_WAIT, {EINTR}},
        {EDDY__SYS_MMAP, {ENOMEM}},
        {EDDY__SYS_MPROTECT, {ENOMEM}},
        {EDDY__SYS_MADVISE, {ENOMEM}},
        {EDDY__SYS_FSTAT, {ENOMEM}},
        {EDDY__SYS_POLL, {EINTR, ENOMEM}},
        {EDDY__SYS_WAITID, {EINTR}},
        {EDDY__SYS_WAITPID, {EINTR}},
        {EDDY__SYS_POSIX_SPAWNP, {ENOMEM, EAGAIN}},
        /* files and directories, on the worker pool */
        {EDDY__SYS_PWRITE, {ENOSPC, EIO, SHORT}},
        {EDDY__SYS_PREADV, {EIO, SHORT}},
        {EDDY__SYS_PWRITEV, {ENOSPC, EIO, SHORT}},
        {EDDY__SYS_FSYNC, {EIO, ENOSPC}},
        {EDDY__SYS_FDATASYNC, {EIO, ENOSPC}},
        {EDDY__SYS_STATX, {ENOMEM}},
        {EDDY__SYS_RENAMEAT, {ENOSPC, EIO}},
        {EDDY__SYS_UNLINKAT, {EIO, EBUSY}},
        {EDDY__SYS_MKDIRAT, {ENOSPC, EIO}},
        {EDDY__SYS_INOTIFY_INIT1, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_INOTIFY_ADD_WATCH, {ENOSPC, ENOMEM}},
        {EDDY__SYS_PTHREAD_CREATE, {EAGAIN}},
        /* the io_uring backend's kernel entries (liburing returns -errno) */
        {EDDY__SYS_IO_URING_QUEUE_INIT_PARAMS, {ENOMEM, EMFILE, EPERM, ENOSYS}},
        {EDDY__SYS_IO_URING_SUBMIT, {EINTR, EAGAIN, EBUSY, ENOMEM}},
        {EDDY__SYS_IO_URING_SUBMIT_AND_WAIT, {EINTR, EAGAIN, EBUSY, ENOMEM}},
        {EDDY__SYS_IO_URING_SUBMIT_AND_WAIT_TIMEOUT, {EINTR, EAGAIN, EBUSY, ENOMEM}},
        {EDDY__SYS_IO_URING_SUBMIT_AND_GET_EVENTS, {EINTR, EAGAIN, EBUSY, ENOMEM}},
        {EDDY__SYS_IO_URING_REGISTER_BUF_RING, {ENOMEM, EINVAL}},
        {EDDY__SYS_IO_URING_GET_PROBE_RING, {ENOMEM}},
        {EDDY__SYS_IO_URING_GET_SQE, {EBUSY}}, /* the submission ring is full */
        /* io_uring completions (the CQE's res): what the kernel's own handlers return there.
         * An interrupted blocking operation in the kernel's workers completes with -EINTR
         * (-ERESTARTSYS cannot restart a queued request); -EAGAIN is the answer of older
         * kernels for a descriptor with O_NONBLOCK. */
        {EDDY__SYS_CQE_READ, {EINTR, EAGAIN, SHORT}},
        {EDDY__SYS_CQE_WRITE, {EINTR, EAGAIN, EPIPE, SHORT}},
        {EDDY__SYS_CQE_READV, {EINTR, EAGAIN, SHORT}},
        {EDDY__SYS_CQE_WRITEV, {EINTR, EAGAIN, EPIPE, SHORT}},
        {EDDY__SYS_CQE_RECV, {EINTR, EAGAIN, ENOMEM, ECONNRESET, SHORT}},
        {EDDY__SYS_CQE_SEND, {EINTR, EAGAIN, ENOBUFS, ENOMEM, EPIPE, ECONNRESET, SHORT}},
        {EDDY__SYS_CQE_RECVMSG, {EINTR, EAGAIN, ENOMEM, ECONNRESET, SHORT}},
        {EDDY__SYS_CQE_SENDMSG, {EINTR, EAGAIN, ENOBUFS, ENOMEM, EPIPE, ECONNRESET, SHORT}},
        {EDDY__SYS_CQE_ACCEPT, {EINTR, EAGAIN, EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED}},
        /* eddy's sockets are non-blocking: a connect never sleeps, so never EINTR */
        {EDDY__SYS_CQE_CONNECT, {ECONNREFUSED, ENOBUFS, ENOMEM}},
        {EDDY__SYS_CQE_POLL, {ENOMEM}},
        {EDDY__SYS_CQE_RECV_MULTISHOT, {EINTR, ENOMEM, ECONNRESET}},
        {EDDY__SYS_SYSCALL, {ENOMEM, EMFILE}},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (t[i].kind != kind) continue;
        int n = 0;
        while (n < 8 && t[i].errs[n]) out[n] = t[i].errs[n], n++;
        return n;
    }
    return 0; /* getsockopt, fcntl, munmap, kill, timerfd_settime, unlink: nothing the kernel
                 returns for the valid arguments eddy passes */
}

static const char *err_name(int e)
{
    return e == SHORT ? "short" : code_name(-e) + 1;
}

static int mult = 1;

/* What one run found wrong, or NULL. */
static const char *verdict(int st, bool baseline, char *why, size_t len)
{
    if (WIFSIGNALED(st)) {
        if (WTERMSIG(st) == SIGALRM) return "hang (no progress before the alarm)";
        snprintf(why, len, "crash (signal %d, %s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
        return why;
    }
    if (WEXITSTATUS(st) == 3) return "memory leaked (LeakSanitizer report above)";
    if (WEXITSTATUS(st) != 0) {
        snprintf(why, len, "child exit status %d", WEXITSTATUS(st));
        return why;
    }
    if (rep->undocumented) return rep->first;
    if (rep->fds_after != rep->fds_before) {
        snprintf(why, len, "descriptor leak (%d open before eddy_run, %d after)", rep->fds_before,
                 rep->fds_after);
        return why;
    }
    if (rep->run_rc == -EDEADLK) return "eddy_run: -EDEADLK (tasks blocked forever)";
    if (rep->run_rc == -ENOTRECOVERABLE) return "eddy_run: handles left open (leak report above)";
    if (rep->run_rc < 0) {
        int c = rep->run_rc;
        rep->run_rc = 0;
        if (doc_check("eddy_run", c, __LINE__) < 0 && rep->undocumented) return rep->first;
    }
    if (baseline && rep->run_rc != 0) {
        snprintf(why, len, "the scenario fails without any fault (%d)", rep->run_rc);
        return why;
    }
    return NULL;
}

/* Run sc once in a child, with fault f armed (NULL: counting only). Returns the wait status;
 * the child's stderr goes to errfd. n > 1 (counting only): run sc[0 .. n), each in its own
 * eddy_run, full-only ones left out, and count the sites any of them reached: the bounded
 * sweep's earlier scenarios, in one child with one leak check rather than one each (which
 * made them the sweep's largest cost after the pairs). */
static int run_child(const scenario *sc, size_t n, const eddy__sys_fault *f, int errfd)
{
    memset(rep, 0, sizeof *rep);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        dup2(errfd, 2);
        alarm((unsigned)(10 * mult * n));
        rep->fds_before = eddy_test_fd_count();
        eddy_opts o = {.flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_NO_SIGNALS};
        eddy__sys_count_reset();
        eddy__sys_fault_set(f);
        for (size_t j = 0; j < n; j++)
            if (n == 1 || !sc[j].full_only) rep->run_rc = eddy_run_opts(sc[j].main, NULL, &o);
        eddy__sys_fault_set(NULL);
        rep->fired = eddy__sys_fault_fired();
        rep->fds_after = eddy_test_fd_count();
        int code = 0;
#if defined(__SANITIZE_ADDRESS__)
        if (__lsan_do_recoverable_leak_check()) code = 3;
#endif
        if (!f) { /* the counts go to the parent through the shared page after rep */
            size_t n;
            eddy__sys_site *const *s = eddy__sys_sites(&n);
            unsigned *hits = (unsigned *)(rep + 1);
            for (size_t i = 0; i < n && i < 4000; i++) hits[i] = s[i]->hits;
        }
        fflush(stderr);
        _exit(code);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) EDDY_CHECK(errno == EINTR);
    return st;
}

/* Print what the failed child wrote (its leak report, eddy's own messages). */
static void dump_err(int errfd)
{
    char buf[4096];
    ssize_t n = pread(errfd, buf, sizeof buf - 1, 0);
    if (n <= 0) return;
    buf[n] = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        printf("#     %s\n", line);
}

typedef struct totals {
    unsigned pairs, failed, unfired, reached, linked;
} totals;

/* sc is scenarios[idx]. The bounded sweep fails a site only in the first scenario that
 * reaches it (the loop's own sites, reached by all of them, are failed in "core"): earlier
 * scenarios are run once each, counting, to know which sites they took. The full sweep fails
 * every site in every scenario that reaches it. */
static void sweep(const scenario *sc, size_t idx, bool full, totals *t)
{
    size_t nsites;
    eddy__sys_site *const *sites = eddy__sys_sites(&nsites);
    EDDY_CHECK(nsites > 0 && nsites <= 4000);
    int errfd = memfd_create("fault-sweep-stderr", MFD_CLOEXEC);
    EDDY_CHECK(errfd >= 0);
    char why[200];

    /* counting run: which sites the scenario reaches, and how often */
    int st = run_child(sc, 1, NULL, errfd);
    const char *bad = verdict(st, true, why, sizeof why);
    if (bad) {
        printf("# %s: the scenario fails with no fault: %s\n", sc->name, bad);
        dump_err(errfd);
        EDDY_CHECK(!"scenario broken without faults");
    }
    unsigned *hits = malloc(nsites * sizeof *hits);
    bool *before = calloc(nsites, sizeof *before);
    EDDY_CHECK(hits != NULL && before != NULL);
    memcpy(hits, rep + 1, nsites * sizeof *hits);
    if (!full && idx > 0) {
        st = run_child(scenarios, idx, NULL, errfd);
        EDDY_CHECK(WIFEXITED(st));
        const unsigned *h = (const unsigned *)(rep + 1);
        for (size_t i = 0; i < nsites; i++) before[i] = h[i] > 0;
    }

    unsigned pairs = 0, failed = 0, unfired = 0, reached = 0, shared = 0;
    for (size_t i = 0; i < nsites; i++) {
        if (!hits[i]) continue;
        reached++;
        if (before[i]) {
            shared++;
            continue;
        }
        int errs[8];
        int ne = plausible(sites[i]->kind, sites[i]->func, errs);
        unsigned nths[2] = {1, hits[i]};
        int nn = full && hits[i] > 1 ? 2 : 1;
        for (int k = 0; k < nn; k++) {
            for (int e = 0; e < ne; e++) {
                eddy__sys_fault f = {.site = sites[i], .kind = -1, .nth = nths[k], .err = errs[e]};
                if (ftruncate(errfd, 0) != 0 || lseek(errfd, 0, SEEK_SET) != 0) EDDY_CHECK(0);
                st = run_child(sc, 1, &f, errfd);
                pairs++;
                if (!rep->fired && WIFEXITED(st)) unfired++;
                bad = verdict(st, false, why, sizeof why);
                if (!bad) continue;
                failed++;
                printf("# FAIL %s: %s() at %s:%d in %s(), call %u of %u, %s: %s\n", sc->name,
                       eddy__sys_kind_name(sites[i]->kind), strrchr(sites[i]->file, '/') + 1,
                       sites[i]->line, sites[i]->func, nths[k], hits[i], err_name(errs[e]), bad);
                dump_err(errfd);
            }
        }
    }
    printf("# fault sweep %s%s: %u call sites reached (of %zu linked; %u already swept in an "
           "earlier scenario), %u (site, errno) pairs tried, %u failed, %u where the fault did "
           "not fire (the run took another path)\n",
           sc->name, full ? " (full)" : "", reached, nsites, shared, pairs, failed, unfired);
    t->pairs += pairs, t->failed += failed, t->unfired += unfired, t->reached += reached;
    t->linked = (unsigned)nsites;
    free(hits);
    free(before);
    close(errfd);
}

static int sweep_named(const char *only)
{
    const char *e = getenv("EDDY_TEST_TIMEOUT");
    if (e && atoi(e) > 0) mult = atoi(e);
    const char *m = getenv("EDDY_FAULT_SWEEP");
    bool full = m && !strcmp(m, "full");
    parse_headers();
    if (!rep) {
        rep = mmap(NULL, sizeof *rep + 4000 * sizeof(unsigned), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        EDDY_CHECK(rep != MAP_FAILED);
    }
    totals t = {0};
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        if (strcmp(scenarios[i].name, only)) continue;
        if (scenarios[i].full_only && !full) {
            printf("# fault sweep %s: in the full sweep only (make faults)\n", only);
            return 0;
        }
        sweep(&scenarios[i], i, full, &t);
    }
    fflush(stdout);
    EDDY_CHECK_EQ(t.failed, 0u);
    return 0;
}

/* The header parser itself: a known function's codes are found, and an undocumented code is
 * caught (so the sweep's fourth check can fail). */
EDDY_TEST_EX(fault_sweep_docs_parsed, .raw = true)
{
    parse_headers();
    EDDY_CHECK(ndocs > 100);
    report r = {0};
    rep = &r;
    EDDY_CHECK_EQ(doc_check("eddy_listener_accept", -EMFILE, __LINE__), -EMFILE);
    EDDY_CHECK_EQ(doc_check("eddy_tcp_connect", EDDY_ENONAME, __LINE__), EDDY_ENONAME);
    EDDY_CHECK_EQ(doc_check("eddy_spawn", -ENOMEM, __LINE__), -ENOMEM);
    EDDY_CHECK_EQ(doc_check("eddy_stream_writev", -ECANCELED, __LINE__), -ECANCELED); /* "Same returns as" */
    EDDY_CHECK_EQ(doc_check("eddy_udp_send_many", -ENOBUFS, __LINE__), -ENOBUFS);     /* "the errors of" */
    EDDY_CHECK_EQ(doc_check("connection_lost", -ECONNRESET, __LINE__), -ECONNRESET);
    /* found by the sweep: the context constructors named only -ENOENT/-EACCES/... for the
     * errors of opening a certificate file (the tls scenario failed open() with EMFILE) */
    EDDY_CHECK_EQ(doc_check("eddy_tls_client_ctx_open", -EMFILE, __LINE__), -EMFILE);
    EDDY_CHECK_EQ(doc_check("eddy_tls_server_ctx_open", -ENFILE, __LINE__), -ENFILE);
    EDDY_CHECK_EQ(doc_check("eddy_tls_server_ctx_open", -EIO, __LINE__), -EIO);
    /* "Same ... returns as eddy_tls_client", a macro for the declared eddy__tls_client */
    EDDY_CHECK_EQ(doc_check("eddy__tls_server", -ECONNRESET, __LINE__), -ECONNRESET);
    /* found by the sweep: epoll_ctl's ENOSPC (too many watches) while accepting */
    EDDY_CHECK_EQ(doc_check("eddy_listener_accept", -ENOSPC, __LINE__), -ENOSPC);
    EDDY_CHECK_EQ(doc_check("eddy_protocol_serve", -ENOSPC, __LINE__), -ENOSPC);
    /* found by the sweep: a handshake whose flight could not go out (-ENOBUFS) */
    EDDY_CHECK_EQ(doc_check("eddy__tls_client", -ENOBUFS, __LINE__), -ENOBUFS);
    EDDY_CHECK_EQ(r.undocumented, 0);
    EDDY_CHECK_EQ(doc_check("eddy_listener_accept", -EXDEV, __LINE__), -EXDEV);
    EDDY_CHECK_EQ(r.undocumented, 1);
    rep = NULL;
    return 0;
}

/* The per-site table (site_errs) names sites by kind and calling function: a function renamed
 * or a call moved would silently drop its entry back to the kind's general list. Every entry
 * must match a call site linked into this program. */
EDDY_TEST_EX(fault_sweep_site_table_matches, .raw = true, .one_backend = true)
{
    size_t n;
    eddy__sys_site *const *s = eddy__sys_sites(&n);
    int stale = 0;
    for (size_t i = 0; i < sizeof site_errs / sizeof site_errs[0]; i++) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = s[j]->kind == site_errs[i].kind && !strcmp(s[j]->func, site_errs[i].func);
        if (!found) {
            printf("# site_errs: no %s() call in a function %s() is linked (renamed? moved?)\n",
                   eddy__sys_kind_name(site_errs[i].kind), site_errs[i].func);
            stale++;
        }
    }
    EDDY_CHECK_EQ(stale, 0);
    return 0;
}

/* The control itself: the Nth call of a kind fails with the errno asked, once, and a short
 * read is short. */
EDDY_TEST_EX(fault_control_nth_call, .raw = true)
{
    int p[2];
    EDDY_CHECK(pipe(p) == 0);
    EDDY_CHECK(write(p[1], "abcdef", 6) == 6);
    eddy__sys_fault f = {.kind = EDDY__SYS_READ, .nth = 2, .err = EMFILE};
    eddy__sys_fault_set(&f);
    char b[8];
    EDDY_CHECK_EQ(eddy__sys_read(p[0], b, 1), 1);
    errno = 0;
    EDDY_CHECK_EQ(eddy__sys_read(p[0], b, 1), -1);
    EDDY_CHECK_EQ(errno, EMFILE);
    EDDY_CHECK_EQ(eddy__sys_read(p[0], b, 1), 1);
    EDDY_CHECK_EQ(eddy__sys_fault_fired(), 1u);
    f = (eddy__sys_fault){.kind = EDDY__SYS_READ, .nth = 1, .err = EDDY__SYS_SHORT};
    eddy__sys_fault_set(&f);
    EDDY_CHECK_EQ(eddy__sys_read(p[0], b, 3), 1);
    eddy__sys_fault_set(NULL);
    EDDY_CHECK_EQ(eddy__sys_read(p[0], b, 8), 3); /* "def": nothing lost on the way */
    close(p[0]);
    close(p[1]);
    return 0;
}

EDDY_TEST_EX(fault_sweep_core, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("core"); }
EDDY_TEST_EX(fault_sweep_tcp, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("tcp"); }
EDDY_TEST_EX(fault_sweep_unix, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("unix"); }
EDDY_TEST_EX(fault_sweep_pipe, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("pipe"); }
EDDY_TEST_EX(fault_sweep_sendfile, .raw = true, .timeout = EDDY_FOREVER)
{
    return sweep_named("sendfile");
}
EDDY_TEST_EX(fault_sweep_protocol, .raw = true, .timeout = EDDY_FOREVER)
{
    return sweep_named("protocol");
}
EDDY_TEST_EX(fault_sweep_udp, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("udp"); }
EDDY_TEST_EX(fault_sweep_files, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("files"); }
EDDY_TEST_EX(fault_sweep_process, .raw = true, .timeout = EDDY_FOREVER)
{
    return sweep_named("process");
}
EDDY_TEST_EX(fault_sweep_http, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("http"); }
EDDY_TEST_EX(fault_sweep_tls, .raw = true, .timeout = EDDY_FOREVER)
{
#ifdef EDDY_TEST_OPENSSL
    tls__make_certs();
    int rc = sweep_named("tls"); /* (a failure leaves the certificates' directory behind) */
    tls__cleanup();
    return rc;
#else
    printf("# fault sweep tls: skipped, built without OpenSSL\n");
    return 0;
#endif
}
EDDY_TEST_EX(fault_sweep_dns, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("dns"); }
EDDY_TEST_EX(fault_sweep_conformance, .raw = true, .timeout = EDDY_FOREVER)
{
    return sweep_named("conformance");
}

#endif
