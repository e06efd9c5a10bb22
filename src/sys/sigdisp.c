/* eddy sys: the process-wide signal dispatcher (G1) and eddy_run's SIGINT/SIGTERM handling.
 *
 * One dispatcher per process, shared by every loop. A loop subscribes to signals through its
 * hub (sys.h): receivers and the SIGCHLD fallback of the process layer ("blocking" kinds), and
 * eddy_run's handling ("builtin"). The dispatcher keeps, under one mutex:
 *  - a sigaction handler on every signal some loop wants. It runs only in a thread that does
 *    not block the signal, and touches nothing but atomics and the dispatcher's eventfd:
 *    it sets the signal's bit in `caught` and writes the eventfd, inside an in-flight count
 *    that teardown waits for before closing the eventfd (never a loop's descriptor: that was
 *    issue 7's bug 6, a handler writing to the eventfd of a loop another thread was freeing,
 *    whose number could already belong to someone else);
 *  - one signalfd over the signals of blocking subscriptions. Each loop blocks those signals
 *    in its own thread and watches the signalfd, so it also reads signals sent to its thread
 *    alone (a signalfd read returns the process's pending signals and the reader's own);
 *  - the list of hubs. Whoever reads a signal (a loop's signalfd or eventfd watcher, or a
 *    loop that notices `caught` at the top of its iteration) delivers it under the mutex to
 *    every hub that wants it: a bit in that loop's sig_pending and a wake-up. A hub is
 *    unlinked under the mutex before its loop can be freed, so delivery never touches a dead
 *    loop, and the loop acts on its bits on its own thread (eddy__signals_check).
 *
 * eddy_run's handling is not blocked: signal.h explains that the second SIGINT/SIGTERM must
 * kill the process even while the loop is stuck in a task, which only a handler can do; it is
 * counted process-wide in builtin_hits (by the handler, or by the delivery of a signal read
 * from the signalfd when a receiver elsewhere made it blocked). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "sys/sys.h"
#include "loop/sys.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static eddy__link hubs = {&hubs, &hubs}; /* mu */
static size_t nhubs;                     /* mu */
static int sfd = -1;                     /* mu: the signalfd (created at the first blocking
                                            subscription, closed with the dispatcher) */
static uint64_t sfd_mask;                /* mu: signals in sfd's mask */
static uint64_t installed;               /* mu: signals with on_signal installed */
static struct sigaction prev[EDDY__NSIG + 1]; /* mu: their dispositions before */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* Shared with the handler: atomics only. */
static _Atomic int efd = -1;             /* eventfd the handler writes; -1: no dispatcher */
static _Atomic int in_handler;           /* handlers between loading efd and their write */
static _Atomic uint64_t caught;          /* signals the handler took, not yet delivered */
static _Atomic uint64_t builtin_mask;    /* signals eddy_run's handling acts on somewhere */
static _Atomic int builtin_hits;         /* of those, arrivals since no loop handled them */

static inline int lowest_sig(uint64_t m) { return __builtin_ctzll(m) + 1; }

static void set_of(uint64_t m, sigset_t *s)
{
    sigemptyset(s);
    for (; m; m &= m - 1) sigaddset(s, lowest_sig(m));
}

/* The default action of sig, now, on this thread: the second SIGINT/SIGTERM. Async-signal-safe. */
static void die_by(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    (void)sigaction(sig, &dfl, NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    (void)raise(sig);                          /* pending if blocked here (in the handler it is) */
    (void)pthread_sigmask(SIG_UNBLOCK, &s, NULL); /* ... and delivered now */
    _exit(128 + sig);                          /* not reached: the default action terminates */
}

static void on_signal(int sig)
{
    int saved = errno;
    uint64_t bit = EDDY__SIGBIT(sig);
    if ((atomic_load(&builtin_mask) & bit) && atomic_fetch_add(&builtin_hits, 1) >= 1) die_by(sig);
    atomic_fetch_or(&caught, bit);
    /* Dekker with teardown_locked: the count is raised before efd is read, and teardown
     * clears efd before reading the count, so either it waits for this write or we see -1. */
    atomic_fetch_add(&in_handler, 1);
    int fd = atomic_load(&efd);
    if (fd >= 0) {
        uint64_t one = 1;
        ssize_t r = eddy__sys_write(fd, &one, sizeof one);
        (void)r; /* EAGAIN: the counter is saturated, the loops are being woken anyway */
    }
    atomic_fetch_sub(&in_handler, 1);
    errno = saved;
}

/* ---- delivery (under mu) ---- */

/* sig arrived: the handler already counted builtin arrivals it took (count false). */
static void deliver_locked(int sig, bool count)
{
    uint64_t bit = EDDY__SIGBIT(sig);
    if (count && (atomic_load(&builtin_mask) & bit) && atomic_fetch_add(&builtin_hits, 1) >= 1)
        die_by(sig);
    for (eddy__link *x = hubs.next; x != &hubs; x = x->next) {
        eddy__sighub *h = eddy__container_of(x, eddy__sighub, node);
        if (!(h->want & bit)) continue;
        atomic_fetch_or(&h->loop->sig_pending, bit);
        eddy__loop_wake(h->loop); /* alive: its hub is linked, and unlinking takes mu */
    }
}

static void drain_sfd_locked(void)
{
    if (sfd < 0) return;
    struct signalfd_siginfo si[8];
    for (;;) {
        ssize_t n = eddy__sys_read(sfd, si, sizeof si);
        if (n < 0 && errno == EINTR) continue;
        if (n < (ssize_t)sizeof si[0]) return; /* EAGAIN: nothing pending for us */
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) deliver_locked((int)si[i].ssi_signo, true);
        if ((size_t)n < sizeof si) return;
    }
}

static void drain_caught_locked(void)
{
    int fd = atomic_load(&efd);
    uint64_t v;
    if (fd >= 0 && eddy__sys_read(fd, &v, sizeof v) < 0) { /* EAGAIN: already read */
    }
    for (uint64_t m = atomic_exchange(&caught, 0); m; m &= m - 1) deliver_locked(lowest_sig(m), false);
}

static void efd_ready(eddy_io *w, unsigned revents)
{
    (void)w;
    (void)revents;
    pthread_mutex_lock(&mu);
    drain_caught_locked();
    pthread_mutex_unlock(&mu);
}

static void sfd_ready(eddy_io *w, unsigned revents)
{
    (void)w;
    (void)revents;
    pthread_mutex_lock(&mu);
    drain_sfd_locked();
    pthread_mutex_unlock(&mu);
}

/* ---- configuration (under mu) ---- */

/* Make the handlers, the signalfd's mask and builtin_mask match the hubs. Returns 0, or
 * -errno if the signalfd had to be created and could not be (then nothing changed). */
static int reconfigure_locked(void)
{
    uint64_t want = 0, block = 0, bi = 0;
    for (eddy__link *x = hubs.next; x != &hubs; x = x->next) {
        eddy__sighub *h = eddy__container_of(x, eddy__sighub, node);
        want |= h->want;
        block |= h->block;
        bi |= h->builtin_eff;
    }
    if (block != sfd_mask) {
        sigset_t s;
        set_of(block, &s);
        if (sfd < 0) {
            int fd = eddy__sys_signalfd(-1, &s, SFD_CLOEXEC | SFD_NONBLOCK);
            if (fd < 0) return -errno;
            sfd = fd;
        } else {
            (void)eddy__sys_signalfd(sfd, &s, 0); /* same fd, new mask: cannot fail for a valid set */
        }
        sfd_mask = block;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask); /* nesting is harmless: the handler only does atomics and a write */
    sa.sa_flags = SA_RESTART;
    for (uint64_t m = want & ~installed; m; m &= m - 1) {
        int s = lowest_sig(m);
        int fl = sa.sa_flags;
        if (s == SIGCHLD) sa.sa_flags |= SA_NOCLDSTOP; /* exits only; never SA_NOCLDWAIT */
        (void)sigaction(s, &sa, &prev[s]); /* the signal was validated by its subscriber */
        sa.sa_flags = fl;
    }
    for (uint64_t m = installed & ~want; m; m &= m - 1) {
        int s = lowest_sig(m);
        (void)sigaction(s, &prev[s], NULL);
    }
    installed = want;
    if (!bi) atomic_store(&builtin_hits, 0); /* no loop handles them: a next eddy_run starts fresh */
    atomic_store(&builtin_mask, bi);
    return 0;
}

/* The last hub is gone (handlers already restored): close the descriptors. */
static void teardown_locked(void)
{
    int fd = atomic_exchange(&efd, -1);
    if (fd >= 0) {
        while (atomic_load(&in_handler) > 0) sched_yield(); /* a handler mid-write */
        eddy__sys_close(fd);
    }
    if (sfd >= 0) eddy__sys_close(sfd);
    sfd = -1;
    sfd_mask = 0;
    atomic_store(&caught, 0);
}

/* fork() while another thread holds mu would leave it locked forever in the child. The child
 * also has only the forking thread: its loops are gone (and a loop of the forking thread
 * cannot go on in a copy of the process), so the child gets the signals back. */
static void atfork_prepare(void) { pthread_mutex_lock(&mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&mu); }
static void atfork_child(void)
{
    for (uint64_t m = installed; m; m &= m - 1) (void)sigaction(lowest_sig(m), &prev[lowest_sig(m)], NULL);
    eddy_loop *l = eddy__tl_loop;
    if (l && l->sighub) {
        sigset_t s;
        set_of(l->sighub->blocked, &s);
        (void)pthread_sigmask(SIG_UNBLOCK, &s, NULL);
        l->sighub = NULL; /* its memory stays, unreachable: no one may unlink it from hubs */
    }
    eddy__list_init(&hubs);
    nhubs = 0;
    installed = sfd_mask = 0;
    sfd = -1; /* close-on-exec, like efd: left to the exec or the exit */
    atomic_store(&efd, -1);
    atomic_store(&caught, 0);
    atomic_store(&builtin_mask, 0);
    atomic_store(&builtin_hits, 0);
    atomic_store(&in_handler, 0);
    pthread_mutex_unlock(&mu);
}
static void atfork_register(void) { (void)pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

/* ---- subscriptions (loop thread) ---- */

static void compute(const eddy__sighub *h, uint64_t *want, uint64_t *block, uint64_t *bi)
{
    *want = *block = *bi = 0;
    for (int i = 0; i < EDDY__NSIG; i++) {
        uint64_t bit = UINT64_C(1) << i;
        bool recv = h->count[EDDY__SUB_RECV][i] > 0, in = h->count[EDDY__SUB_INTERNAL][i] > 0;
        bool b = h->count[EDDY__SUB_BUILTIN][i] > 0;
        if (recv || in || b) *want |= bit;
        if (recv || in) *block |= bit;
        if (b && !recv) *bi |= bit; /* a receiver of SIGINT takes it from eddy_run */
    }
}

static void stop_watch(eddy_io *w)
{
    if (!w->active) return;
    int fd = w->fd;
    eddy_io_stop(w);
    (void)eddy_fd_forget(fd); /* the dispatcher may close fd next */
}

/* Bring the hub, the dispatcher and this thread's mask in line with h's counts. Frees h (and
 * clears l->sighub) when nothing is subscribed any more. Growing can fail: returns -errno and
 * the caller reverts its counts and calls again, which only shrinks and cannot fail. */
static int apply(eddy_loop *l, eddy__sighub *h)
{
    uint64_t want, block, bi;
    compute(h, &want, &block, &bi);
    bool empty = want == 0;
    uint64_t add = block & ~h->block, drop = h->block & ~block;
    if (empty) stop_watch(&h->efd_io);
    if (!block) stop_watch(&h->sfd_io);

    (void)pthread_once(&atfork_once, atfork_register); /* not under mu: fork takes locks too */
    pthread_mutex_lock(&mu);
    int rc = 0;
    if (!empty && atomic_load(&efd) < 0) {
        int fd = eddy__sys_eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            rc = -errno;
        else
            atomic_store(&efd, fd);
    }
    if (rc == 0) {
        /* Consume what is pending of signals this thread stops blocking while they are still
         * subscribed, so a queued one is delivered rather than handed to a restored default. */
        if (drop) drain_sfd_locked();
        uint64_t ow = h->want, ob = h->block, obi = h->builtin_eff;
        bool was = eddy__linked(&h->node);
        h->want = want;
        h->block = block;
        h->builtin_eff = bi;
        if (!empty && !was) {
            eddy__list_push_back(&hubs, &h->node);
            nhubs++;
        } else if (empty && was) {
            eddy__list_remove(&h->node);
            nhubs--;
        }
        rc = reconfigure_locked();
        if (rc < 0) {
            h->want = ow;
            h->block = ob;
            h->builtin_eff = obi;
            if (eddy__linked(&h->node) && !was) {
                eddy__list_remove(&h->node);
                nhubs--;
            }
            (void)reconfigure_locked();
        }
    }
    if (nhubs == 0) teardown_locked();
    int fd_e = atomic_load(&efd), fd_s = sfd;
    pthread_mutex_unlock(&mu);
    if (rc < 0) return rc;

    sigset_t s, old;
    if (add) {
        set_of(add, &s);
        (void)pthread_sigmask(SIG_BLOCK, &s, &old);
        for (uint64_t m = add; m; m &= m - 1)
            if (!sigismember(&old, lowest_sig(m))) h->blocked |= m & -m;
    }
    if (drop & h->blocked) {
        set_of(drop & h->blocked, &s);
        (void)pthread_sigmask(SIG_UNBLOCK, &s, NULL);
        h->blocked &= ~drop;
    }
    if (empty) {
        l->sighub = NULL;
        free(h);
        return 0;
    }
    if (!h->efd_io.active && (rc = eddy_io_start(&h->efd_io, fd_e, EDDY_READ, efd_ready, h)) < 0)
        return rc;
    if (block && !h->sfd_io.active && (rc = eddy_io_start(&h->sfd_io, fd_s, EDDY_READ, sfd_ready, h)) < 0)
        return rc;
    return 0;
}

static void count_add(eddy__sighub *h, uint64_t sigs, int kind, int d)
{
    for (uint64_t m = sigs; m; m &= m - 1) h->count[kind][lowest_sig(m) - 1] += (uint16_t)d;
}

int eddy__sig_subscribe(eddy_loop *l, uint64_t sigs, int kind)
{
    eddy__sighub *h = l->sighub;
    if (h) {
        for (uint64_t m = sigs; m; m &= m - 1)
            if (h->count[kind][lowest_sig(m) - 1] == UINT16_MAX) return -ENOMEM;
    } else {
        h = calloc(1, sizeof *h);
        if (!h) return -ENOMEM;
        h->loop = l;
        eddy__list_init(&h->receivers);
        eddy__list_init(&h->children);
        h->node.next = h->node.prev = NULL;
        h->efd_io.unref = h->sfd_io.unref = true; /* internal: they keep no loop alive */
        l->sighub = h;
    }
    count_add(h, sigs, kind, 1);
    int rc = apply(l, h);
    if (rc < 0) {
        count_add(h, sigs, kind, -1);
        (void)apply(l, h);
    }
    return rc;
}

void eddy__sig_unsubscribe(eddy_loop *l, uint64_t sigs, int kind)
{
    eddy__sighub *h = l->sighub;
    if (!h) return;
    for (uint64_t m = sigs; m; m &= m - 1)
        if (h->count[kind][lowest_sig(m) - 1] > 0) h->count[kind][lowest_sig(m) - 1]--;
    (void)apply(l, h);
}

uint64_t eddy__sig_blocked_here(void)
{
    eddy_loop *l = eddy__tl_loop;
    return l && l->sighub ? l->sighub->blocked : 0;
}

bool eddy__signal_receivable(int sig)
{
    if (sig < 1 || sig > EDDY__NSIG) return false;
    switch (sig) {
    case SIGKILL: case SIGSTOP: case SIGPIPE: case SIGSEGV: case SIGBUS: case SIGFPE:
    case SIGILL: case SIGTRAP: case SIGSYS:
        return false;
    default:
        break;
    }
    if (sig > SIGSYS && sig < SIGRTMIN) return false; /* reserved by the C library's threads */
    return sig <= SIGRTMAX;
}

/* ---- the loop side (loop thread) ---- */

static void dispatch(eddy_loop *l, eddy__sighub *h, int sig)
{
    uint64_t bit = EDDY__SIGBIT(sig);
    if ((h->builtin_eff & bit) && !h->root_cancelled) {
        h->root_cancelled = true; /* the first: unwind gracefully (a second one kills) */
        /* The loop's top-level tasks (eddy_run's main among them), each by its own scope, not
         * the root scope: a loop that outlives its runs stays usable, and tasks spawned after
         * the signal start uncancelled (a deadlock cancels the same way, loop.c). */
        eddy__loop_cancel_tasks(l);
    }
    if (h->count[EDDY__SUB_RECV][sig - 1]) eddy__sigrecv_deliver(h, sig);
    if (sig == SIGCHLD && !eddy__list_empty(&h->children)) eddy__process_sigchld(h);
}

void eddy__signals_check(eddy_loop *l)
{
    if (!l->sighub) return;
    /* Signals the handler took: normally the eventfd watcher delivers them, but a loop that
     * always has ready tasks does not poll, so look here too (a relaxed load per iteration). */
    if (atomic_load_explicit(&caught, memory_order_relaxed)) {
        pthread_mutex_lock(&mu);
        drain_caught_locked();
        pthread_mutex_unlock(&mu);
    }
    if (!atomic_load_explicit(&l->sig_pending, memory_order_relaxed)) return;
    for (uint64_t m = atomic_exchange(&l->sig_pending, 0); m; m &= m - 1) {
        eddy__sighub *h = l->sighub; /* reaping a fallback child may have ended the hub */
        if (!h) return;
        dispatch(l, h, lowest_sig(m));
    }
}

void eddy__sig_poll(eddy_loop *l)
{
    if (!l->sighub) return;
    pthread_mutex_lock(&mu);
    drain_sfd_locked();
    drain_caught_locked();
    pthread_mutex_unlock(&mu);
    eddy__signals_check(l);
}

int eddy__signals_install(eddy_loop *l)
{
    int rc = eddy__sig_subscribe(l, EDDY__SIGBIT(SIGINT) | EDDY__SIGBIT(SIGTERM), EDDY__SUB_BUILTIN);
    if (rc == 0) l->sighub->root_cancelled = false;
    return rc;
}

void eddy__signals_restore(eddy_loop *l)
{
    eddy__sighub *h = l->sighub;
    if (!h) return;
    /* eddy_run's own subscription, and those of receivers or processes left open (reported as
     * leaks already): the loop is about to be freed, so its hub must leave the dispatcher. */
    memset(h->count, 0, sizeof h->count);
    (void)apply(l, h);
}

/* ---- names ---- */

#define RT(n) "RTMIN+" #n
static const char *const rt_names[] = {
    "RTMIN", RT(1),  RT(2),  RT(3),  RT(4),  RT(5),  RT(6),  RT(7),  RT(8),  RT(9),  RT(10),
    RT(11),  RT(12), RT(13), RT(14), RT(15), RT(16), RT(17), RT(18), RT(19), RT(20), RT(21),
    RT(22),  RT(23), RT(24), RT(25), RT(26), RT(27), RT(28), RT(29), RT(30), RT(31), RT(32),
};

const char *eddy_signal_name(int sig)
{
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
        if (sig == SIGRTMAX) return "RTMAX";
        size_t k = (size_t)(sig - SIGRTMIN);
        return k < sizeof rt_names / sizeof rt_names[0] ? rt_names[k] : NULL;
    }
    return sigabbrev_np(sig);
}
