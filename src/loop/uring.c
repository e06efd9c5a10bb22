/* eddy loop backend: io_uring (R2), with liburing. Completion: an operation (loop/op.h) is an
 * SQE whose CQE wakes the task; the loop submits everything queued and reaps completions in
 * one io_uring_enter per iteration, waiting for its next timer with the ring's own timeout
 * (IORING_ENTER_EXT_ARG), never a timerfd.
 *
 * What each part is made of:
 *   - operations: read, write, readv, writev, recv, send (SEND_ZC when asked), recvmsg,
 *     sendmsg, accept, connect and poll are native SQEs. sendfile has no opcode (splice
 *     through a pipe would cost a pipe and two linked SQEs per chunk): it is tried, and on
 *     EAGAIN waits with a poll SQE, as on epoll. An operation a kernel answers with -EAGAIN
 *     (older kernels on O_NONBLOCK descriptors) does the same;
 *   - cancellation: a cancelled or interrupted operation gets an IORING_OP_ASYNC_CANCEL, and
 *     its task then waits, uncancellably, for the operation's CQE: the kernel's last word on a
 *     buffer in the task's frame comes before the call returns;
 *   - watchers (eddy_io) and eddy_wait_fd: a one-shot poll SQE, re-armed after every event
 *     while the watcher lasts — a one-shot poll completes at once on a descriptor that is
 *     still ready, so this is level-triggered like epoll. A watcher's poll lives in a record
 *     of this file, not in the watcher, because the kernel may answer after eddy_io_stop has
 *     returned and the caller has freed the watcher;
 *   - cross-thread wake-up: a read SQE on an eventfd, re-armed after each wake;
 *   - the ring is set up SINGLE_ISSUER | DEFER_TASKRUN (completions are posted only when the
 *     loop enters the ring, so none is processed behind its back) when the kernel has them.
 *
 * The probe at loop start (ur_init) refuses the ring — and the loop falls back to epoll — when
 * io_uring is missing or lacks an operation or feature used here (ENOSYS), or is forbidden
 * (EPERM: seccomp, kernel.io_uring_disabled). eddy__uring_probe_hook lets tests force each
 * case. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

#include "loop/op.h"
#include "loop/uring.h"
#include "loop/sys.h"

enum {
    SQ_ENTRIES = 1024,
    CQ_ENTRIES = 8192,
    POLL_SLAB = 64,  /* records per slab (watchers' polls, feeds) */
};

/* user_data: a pointer (8-aligned) with a tag in the low bits, or a bare tag. */
enum { TAG_OP = 0, TAG_POLL = 1, TAG_WAKE = 2, TAG_IGNORE = 3, TAG_FEED = 4, TAG_MASK = 7 };

/* A watcher's poll request. */
typedef struct ur_poll {
    eddy_io *w;            /* NULL once the watcher has stopped: the last CQE frees the record */
    unsigned events;       /* EDDY_READ|EDDY_WRITE armed for */
    bool armed;            /* a poll SQE is in flight */
    bool in_cb;            /* its watcher's callback is running (dispatch frees or re-arms) */
    bool pending;          /* in ur_state.rearm */
    struct ur_poll *next;  /* free list */
    struct ur_poll *pend;  /* ur_state.rearm */
} ur_poll;

/* Who waits on a borrowed descriptor, per direction: a watcher (eddy_io *) or an
 * eddy_wait_fd (eddy__op * | 1). For -EBUSY, and for eddy_fd_forget to find the waits. */
typedef struct ur_fd {
    uintptr_t r, w;
} ur_fd;

typedef struct ur_state {
    struct io_uring ring;
    bool ring_ok;
    bool poll_first;       /* IORING_RECVSEND_POLL_FIRST is understood (5.19) */
    bool skip_success;     /* IOSQE_CQE_SKIP_SUCCESS (5.17): no CQE for a cancel that worked */
    bool send_zc;          /* IORING_OP_SEND_ZC / SENDMSG_ZC (6.0) */
    int wakefd;
    uint64_t wakebuf;
    int notifyfd;          /* embedding (eddy_loop_fd): an eventfd registered with the ring,
                              which signals it when completions are due; -1 until asked for */
    ur_fd *fds;
    size_t cap;
    ur_poll *free_polls;
    void **slabs;          /* the memory of the ur_poll records */
    size_t nslabs;
    /* What could not get an SQE when it wanted one (the kernel refused more work until
     * completions were reaped), submitted first thing at the next poll. */
    eddy__op *cancels;     /* operations to cancel (be.ur.next) */
    ur_poll *rearm;        /* watchers' polls to arm (pend) */
    bool wake_unarmed;     /* the eventfd read */
    /* Receive feeds: the ring of provided buffers (set up at the first feed), feed records,
     * and the feeds restarted with bytes taken while they were paused. */
    int bufs_state;        /* 0 not tried, 1 ready, -1 unavailable (feeds use readiness) */
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    char *bufs;
    struct ur_feed *free_feeds;
    void **fslabs;         /* the memory of the ur_feed records */
    size_t nfslabs;
    struct ur_feed *ready_feeds;
    struct ur_feed *rearm_feeds; /* armed: wanted, but no SQE could be had (or no buffer) */
} ur_state;

static ur_state *st_of(eddy_loop *l) { return l->be_data; }

/* ---- set-up and the probe ---- */

#define OP(x) {IORING_OP_##x, #x, "no IORING_OP_" #x}
static const struct {
    int op;
    const char *name, *why;
} needed_ops[] = {
    OP(READ),    OP(WRITE),   OP(READV),    OP(WRITEV),  OP(RECV),     OP(SEND),
    OP(RECVMSG), OP(SENDMSG), OP(ACCEPT),   OP(CONNECT), OP(POLL_ADD), OP(POLL_REMOVE),
    OP(ASYNC_CANCEL),
};
#undef OP

/* kernel.io_uring_disabled (Linux 6.6): 2 = nobody may make a ring, 1 = only root and the
 * group io_uring_group (the set-up then fails with EPERM by itself), 0 or missing = allowed. */
static int disabled_by_sysctl(const char *path)
{
    int fd = eddy__sys_open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char c = '0';
    ssize_t n = eddy__sys_read(fd, &c, 1);
    eddy__sys_close(fd);
    return n == 1 && c == '2';
}

static void ur_destroy(eddy_loop *l);
static void bufs_destroy(ur_state *s);
static void feeds_destroy(ur_state *s);

/* ThreadSanitizer does not see the ring's mappings: liburing maps and unmaps them with raw
 * system calls. A ring closed on one thread and one opened next on another (eddy_run_workers,
 * loops on short-lived threads) can get the same addresses, and the new ring's first writes
 * would look like a race with the old ring's last ones. The kernel orders them (the unmap
 * comes before the map); this tells TSan so, keyed by the mappings' addresses: the closing
 * thread releases them, the opening thread acquires them. */
static void tsan_ring_handoff(struct io_uring *r, bool opening)
{
#if defined(__SANITIZE_THREAD__)
    void *maps[] = {r->sq.ring_ptr, r->cq.ring_ptr, r->sq.sqes};
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        if (!maps[i]) continue;
        if (opening)
            __tsan_acquire(maps[i]);
        else
            __tsan_release(maps[i]);
    }
#else
    (void)r;
    (void)opening;
#endif
}

static int probe(ur_state *s, const char **why)
{
    const eddy__uring_probe *h = eddy__uring_probe_hook;
    if (disabled_by_sysctl(h && h->sysctl_path ? h->sysctl_path : "/proc/sys/kernel/io_uring_disabled")) {
        *why = "kernel.io_uring_disabled=2";
        return -EPERM;
    }
    struct io_uring_params p;
    /* Newest set-up first, then what older kernels accept (EINVAL for a flag they lack):
     * SINGLE_ISSUER and DEFER_TASKRUN came with 6.1, COOP_TASKRUN with 5.19. */
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0] && rc == -EINVAL; i++) {
        memset(&p, 0, sizeof p);
        p.flags = tries[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
        p.cq_entries = CQ_ENTRIES;
        rc = h && h->setup_err ? h->setup_err : eddy__sys_io_uring_queue_init_params(SQ_ENTRIES, &s->ring, &p);
    }
    if (rc < 0) {
        *why = "io_uring_setup";
        return rc;
    }
    s->ring_ok = true;
    tsan_ring_handoff(&s->ring, true);
    unsigned feat = p.features;
    if (h && h->no_ext_arg) feat &= ~(unsigned)IORING_FEAT_EXT_ARG;
    /* The loop's timeout without a timer SQE (5.11), no lost completions (5.5), and sockets
     * polled inside the kernel rather than by a blocked worker thread (5.7). */
    if (!(feat & IORING_FEAT_EXT_ARG) || !(feat & IORING_FEAT_NODROP) || !(feat & IORING_FEAT_FAST_POLL)) {
        *why = "kernel too old (IORING_FEAT_EXT_ARG, NODROP, FAST_POLL)";
        return -ENOSYS;
    }
    struct io_uring_probe *pr = eddy__sys_io_uring_get_probe_ring(&s->ring);
    if (!pr) {
        *why = "IORING_REGISTER_PROBE";
        return -ENOSYS;
    }
    rc = 0;
    for (size_t i = 0; i < sizeof needed_ops / sizeof needed_ops[0]; i++) {
        if (!io_uring_opcode_supported(pr, needed_ops[i].op) ||
            (h && h->drop_op && !strcmp(h->drop_op, needed_ops[i].name))) {
            *why = needed_ops[i].why;
            rc = -ENOSYS; /* as the kernel says of a system call it lacks (-EOPNOTSUPP would be
                           * -ENOTSUP, "not built in") */
            break;
        }
    }
    /* Came with 5.19 alongside IORING_OP_SOCKET, which has no feature bit of its own. */
    s->poll_first = io_uring_opcode_supported(pr, IORING_OP_SOCKET);
    s->send_zc = io_uring_opcode_supported(pr, IORING_OP_SEND_ZC) &&
                 io_uring_opcode_supported(pr, IORING_OP_SENDMSG_ZC);
    s->skip_success = feat & IORING_FEAT_CQE_SKIP;
    io_uring_free_probe(pr);
    return rc;
}

static void arm_wake(ur_state *s);

static int ur_init(eddy_loop *l, const char **why)
{
    ur_state *s = calloc(1, sizeof *s);
    if (!s) {
        *why = "out of memory";
        return -ENOMEM;
    }
    s->wakefd = -1;
    s->notifyfd = -1;
    l->be_data = s;
    int rc = probe(s, why);
    if (rc == 0 && (s->wakefd = eddy__sys_eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        rc = -errno;
        *why = "eventfd";
    }
    if (rc < 0) {
        ur_destroy(l);
        return rc;
    }
    arm_wake(s);
    return 0;
}

static void ur_destroy(eddy_loop *l)
{
    ur_state *s = st_of(l);
    if (!s) return;
    /* The ring goes with everything still in flight in it (the kernel cancels it); only the
     * records of watchers stopped without their final CQE are left to free. */
    bufs_destroy(s);
    if (s->ring_ok) {
        tsan_ring_handoff(&s->ring, false);
        io_uring_queue_exit(&s->ring);
    }
    feeds_destroy(s);
    if (s->wakefd >= 0) eddy__sys_close(s->wakefd);
    if (s->notifyfd >= 0) eddy__sys_close(s->notifyfd);
    for (size_t i = 0; i < s->nslabs; i++) free(s->slabs[i]);
    free(s->slabs);
    free(s->fds);
    free(s);
    l->be_data = NULL;
}

/* Embedding: the ring's own descriptor will not do, because with DEFER_TASKRUN the kernel
 * queues completions as work for the loop's thread and wakes nobody who polls the ring
 * (measured on Linux 6.18: a poll() on the ring fd slept through a completed recv). An
 * eventfd registered with the ring is signalled for that work too, so it is the descriptor
 * the host waits on; ur_poll_wait reads it empty before it reaps. */
static int ur_fd_of(eddy_loop *l)
{
    ur_state *s = st_of(l);
    if (s->notifyfd >= 0) return s->notifyfd;
    int fd = eddy__sys_eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return -errno;
    int rc = io_uring_register_eventfd(&s->ring, fd);
    if (rc < 0) {
        eddy__sys_close(fd);
        return rc;
    }
    s->notifyfd = fd;
    /* Completions that were already queued as task work when the eventfd was registered
     * signalled nobody: announce them now. At worst the host makes one step for nothing. */
    uint64_t one = 1;
    ssize_t w = eddy__sys_write(fd, &one, sizeof one);
    (void)w;
    return fd;
}

static void flush_pending(ur_state *s);
static void feeds_rearm(ur_state *s);

/* The loop's thread leaves the loop (the end of a run or step, eddy_loop_timeout): what it
 * queued must reach the kernel before a host sleeps on the descriptor. Feeds restarted with
 * data in hand have nothing for the kernel to complete: the descriptor says so itself. */
static void ur_flush(eddy_loop *l)
{
    ur_state *s = st_of(l);
    if (s->cancels || s->rearm || s->wake_unarmed) flush_pending(s);
    if (s->rearm_feeds) feeds_rearm(s);
    (void)eddy__sys_io_uring_submit(&s->ring);
    if (s->ready_feeds && s->notifyfd >= 0) {
        uint64_t one = 1;
        ssize_t w = eddy__sys_write(s->notifyfd, &one, sizeof one);
        (void)w;
    }
}

/* ---- submission ---- */

/* A free SQE, submitting what is queued if the ring is full. NULL only if even that fails
 * (the kernel refuses more work until completions are reaped: the caller retries later). */
static struct io_uring_sqe *sqe_get(ur_state *s)
{
    struct io_uring_sqe *q = eddy__sys_io_uring_get_sqe(&s->ring);
    if (eddy__unlikely(!q)) {
        (void)eddy__sys_io_uring_submit(&s->ring);
        q = eddy__sys_io_uring_get_sqe(&s->ring);
    }
    return q;
}

/* A request whose success needs no CQE (cancels, poll removals). */
static void fire_and_forget(ur_state *s, struct io_uring_sqe *q)
{
    io_uring_sqe_set_data64(q, TAG_IGNORE);
    if (s->skip_success) q->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

static void arm_wake(ur_state *s)
{
    struct io_uring_sqe *q = sqe_get(s);
    s->wake_unarmed = !q;
    if (!q) return;
    io_uring_prep_read(q, s->wakefd, &s->wakebuf, sizeof s->wakebuf, 0);
    io_uring_sqe_set_data64(q, TAG_WAKE);
}

static void ur_wake(eddy_loop *l)
{
    /* Async-signal-safe (the SIGINT handler calls it). EAGAIN: saturated, awake anyway. */
    uint64_t one = 1;
    ssize_t r = eddy__sys_write(st_of(l)->wakefd, &one, sizeof one);
    (void)r;
}

static void prep_cancel(ur_state *s, struct io_uring_sqe *q, eddy__op *op)
{
    io_uring_prep_cancel64(q, (uint64_t)(uintptr_t)op | TAG_OP, 0);
    fire_and_forget(s, q);
}

/* Ask the kernel to cancel op (in flight, its CQE not yet seen). */
static void cancel_op(eddy_loop *l, eddy__op *op)
{
    ur_state *s = st_of(l);
    if (op->be.ur.cancelling || !op->be.ur.armed) return;
    op->be.ur.cancelling = true;
    struct io_uring_sqe *q = sqe_get(s);
    if (q) {
        prep_cancel(s, q, op);
    } else {
        op->be.ur.queued = true;
        op->be.ur.next = s->cancels;
        s->cancels = op;
    }
}

/* op's CQE has come: it must not stay in the list of cancels to submit (its frame goes). */
static void unqueue_cancel(ur_state *s, eddy__op *op)
{
    if (!op->be.ur.queued) return;
    for (eddy__op **pp = &s->cancels; *pp; pp = &(*pp)->be.ur.next)
        if (*pp == op) {
            *pp = op->be.ur.next;
            break;
        }
    op->be.ur.queued = false;
}

static bool poll_arm(ur_state *s, ur_poll *p);
static void poll_release(ur_state *s, ur_poll *p);

static void flush_pending(ur_state *s)
{
    struct io_uring_sqe *q;
    while (s->cancels && (q = sqe_get(s))) {
        eddy__op *op = s->cancels;
        s->cancels = op->be.ur.next;
        op->be.ur.queued = false;
        prep_cancel(s, q, op);
    }
    while (s->rearm) {
        ur_poll *p = s->rearm;
        s->rearm = p->pend;
        p->pending = false;
        if (!p->w) {
            if (!p->armed && !p->in_cb) poll_release(s, p);
            continue;
        }
        if (!p->armed && !poll_arm(s, p)) break; /* still full: put back by poll_arm */
    }
    if (s->wake_unarmed) arm_wake(s);
}

/* ---- the table of borrowed waits ---- */

static int reserve(ur_state *s, int fd)
{
    if ((size_t)fd < s->cap) return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap <= (size_t)fd) cap *= 2;
    ur_fd *f = realloc(s->fds, cap * sizeof *f);
    if (!f) return -ENOMEM;
    for (size_t i = s->cap; i < cap; i++) f[i] = (ur_fd){0};
    s->fds = f;
    s->cap = cap;
    return 0;
}

/* What epoll says of a descriptor it cannot watch, checked here (a poll SQE on a regular file
 * would complete at once, forever): -EBADF if fd is not open, -EPERM for a regular file or a
 * directory. */
static int pollable(int fd)
{
    struct stat st;
    if (eddy__sys_fstat(fd, &st) < 0) return -errno;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) return -EPERM;
    return 0;
}

/* Enter who (a watcher or a tagged op) in fd's slots for events. */
static int table_add(ur_state *s, int fd, unsigned events, uintptr_t who)
{
    int rc = reserve(s, fd);
    if (rc < 0) return rc;
    ur_fd *f = &s->fds[fd];
    if (((events & EDDY_READ) && f->r && f->r != who) || ((events & EDDY_WRITE) && f->w && f->w != who))
        return -EBUSY;
    if (f->r == who) f->r = 0;
    if (f->w == who) f->w = 0;
    if (events & EDDY_READ) f->r = who;
    if (events & EDDY_WRITE) f->w = who;
    return 0;
}

static void table_del(ur_state *s, int fd, uintptr_t who)
{
    if (fd < 0 || (size_t)fd >= s->cap) return;
    ur_fd *f = &s->fds[fd];
    if (f->r == who) f->r = 0;
    if (f->w == who) f->w = 0;
}

static unsigned to_poll(unsigned events)
{
    unsigned m = 0;
    if (events & EDDY_READ) m |= POLLIN | POLLRDHUP;
    if (events & EDDY_WRITE) m |= POLLOUT;
    return m;
}

static unsigned from_poll(unsigned revents)
{
    unsigned r = 0;
    if (revents & (POLLIN | POLLRDHUP | POLLPRI)) r |= EDDY_READ;
    if (revents & POLLOUT) r |= EDDY_WRITE;
    if (revents & (POLLERR | POLLNVAL)) r |= EDDY_ERR | EDDY_READ | EDDY_WRITE;
    if (revents & POLLHUP) r |= EDDY_HUP | EDDY_READ | EDDY_WRITE;
    return r;
}

/* ---- watchers ---- */

/* Records come in slabs, freed with the ring: one whose watcher stopped may still wait for
 * its last CQE when the loop ends (the kernel drops the request with the ring). */

static ur_poll *poll_new(ur_state *s)
{
    if (!s->free_polls) {
        void **slabs = realloc(s->slabs, (s->nslabs + 1) * sizeof *slabs);
        if (!slabs) return NULL;
        s->slabs = slabs;
        ur_poll *b = malloc(POLL_SLAB * sizeof *b);
        if (!b) return NULL;
        slabs[s->nslabs++] = b;
        for (int i = 0; i < POLL_SLAB; i++) {
            b[i].next = s->free_polls;
            s->free_polls = &b[i];
        }
    }
    ur_poll *p = s->free_polls;
    s->free_polls = p->next;
    *p = (ur_poll){0};
    return p;
}

static void poll_release(ur_state *s, ur_poll *p)
{
    p->next = s->free_polls;
    s->free_polls = p;
}

/* Submit p's poll. False if no SQE could be had: p then waits in the rearm list. */
static bool poll_arm(ur_state *s, ur_poll *p)
{
    struct io_uring_sqe *q = sqe_get(s);
    if (!q) {
        if (!p->pending) {
            p->pending = true;
            p->pend = s->rearm;
            s->rearm = p;
        }
        return false;
    }
    io_uring_prep_poll_add(q, p->w->fd, to_poll(p->events));
    io_uring_sqe_set_data64(q, (uint64_t)(uintptr_t)p | TAG_POLL);
    p->armed = true;
    return true;
}

/* Detach p from its watcher; the kernel's request goes, and with its last CQE the record. */
static void poll_drop(ur_state *s, ur_poll *p)
{
    p->w = NULL;
    if (p->armed) {
        struct io_uring_sqe *q = sqe_get(s);
        if (q) { /* else the poll fires once more, finds no watcher and frees the record */
            io_uring_prep_poll_remove(q, (uint64_t)(uintptr_t)p | TAG_POLL);
            fire_and_forget(s, q);
        }
    } else if (!p->in_cb && !p->pending) {
        poll_release(s, p);
    }
}

static int ur_watch(eddy_loop *l, eddy_io *w, unsigned events)
{
    ur_state *s = st_of(l);
    ur_poll *p = w->be;
    if (!p) {
        int rc = pollable(w->fd);
        if (rc < 0) return rc;
    }
    int rc = table_add(s, w->fd, events, (uintptr_t)w);
    if (rc < 0) return rc;
    w->events = events;
    if (p && p->events == events) return 0;
    ur_poll *np = poll_new(s);
    if (!np) {
        table_del(s, w->fd, (uintptr_t)w);
        if (p) (void)table_add(s, w->fd, p->events, (uintptr_t)w);
        return -ENOMEM;
    }
    if (p) poll_drop(s, p);
    np->w = w;
    np->events = events;
    w->be = np;
    (void)poll_arm(s, np);
    return 0;
}

static void ur_unwatch(eddy_loop *l, eddy_io *w)
{
    ur_state *s = st_of(l);
    table_del(s, w->fd, (uintptr_t)w);
    ur_poll *p = w->be;
    w->be = NULL;
    if (p) poll_drop(s, p);
}

static void dispatch_poll(eddy_loop *l, ur_poll *p, int res)
{
    ur_state *s = st_of(l);
    p->armed = false;
    eddy_io *w = p->w;
    if (!w) { /* stopped: this was the request's last CQE */
        poll_release(s, p);
        return;
    }
    unsigned r = res < 0 ? EDDY_ERR | EDDY_READ | EDDY_WRITE : from_poll((unsigned)res);
    unsigned extra = r & (EDDY_ERR | EDDY_HUP);
    p->in_cb = true;
    eddy__io_call(l, w, (r & w->events) | extra);
    p->in_cb = false;
    if (!p->w) {
        if (!p->pending) poll_release(s, p);
    } else if (!p->armed) { /* level-triggered: still ready, it completes again at once */
        (void)poll_arm(s, p);
    }
}

/* ---- operations ---- */

/* What eddy_dump shows a task waiting in an operation for (a table: this runs for every
 * operation). */
static const char *reason_of(const eddy__op *op)
{
    static const char *const by_kind[] = {
        [EDDY__OP_READ] = "io_uring read",     [EDDY__OP_WRITE] = "io_uring write",
        [EDDY__OP_READV] = "io_uring read",    [EDDY__OP_WRITEV] = "io_uring write",
        [EDDY__OP_RECV] = "io_uring read",     [EDDY__OP_SEND] = "io_uring write",
        [EDDY__OP_RECVMSG] = "io_uring read",  [EDDY__OP_SENDMSG] = "io_uring write",
        [EDDY__OP_ACCEPT] = "io_uring accept", [EDDY__OP_CONNECT] = "io_uring connect",
        [EDDY__OP_SENDFILE] = "io_uring write",
    };
    if (op->kind == EDDY__OP_POLL) return (op->u.poll.events & EDDY_WRITE) ? "wait writable" : "wait readable";
    return by_kind[op->kind];
}

static void prep(ur_state *s, struct io_uring_sqe *q, eddy__op *op)
{
    int fd = op->fd;
    bool zc = (op->flags & EDDY__OP_ZEROCOPY) && s->send_zc;
    switch (op->kind) {
    case EDDY__OP_READ: io_uring_prep_read(q, fd, op->u.rw.buf, (unsigned)op->u.rw.len, (uint64_t)-1); break;
    case EDDY__OP_WRITE: io_uring_prep_write(q, fd, op->u.rw.buf, (unsigned)op->u.rw.len, (uint64_t)-1); break;
    case EDDY__OP_READV: io_uring_prep_readv(q, fd, op->u.v.iov, (unsigned)op->u.v.iovcnt, (uint64_t)-1); break;
    case EDDY__OP_WRITEV: io_uring_prep_writev(q, fd, op->u.v.iov, (unsigned)op->u.v.iovcnt, (uint64_t)-1); break;
    case EDDY__OP_RECV: io_uring_prep_recv(q, fd, op->u.rw.buf, op->u.rw.len, op->u.rw.flags); break;
    case EDDY__OP_SEND:
        if (zc)
            io_uring_prep_send_zc(q, fd, op->u.rw.buf, op->u.rw.len, MSG_NOSIGNAL | op->u.rw.flags, 0);
        else
            io_uring_prep_send(q, fd, op->u.rw.buf, op->u.rw.len, MSG_NOSIGNAL | op->u.rw.flags);
        break;
    case EDDY__OP_RECVMSG: io_uring_prep_recvmsg(q, fd, op->u.msg.msg, (unsigned)op->u.msg.flags); break;
    case EDDY__OP_SENDMSG:
        if (zc)
            io_uring_prep_sendmsg_zc(q, fd, op->u.msg.msg, MSG_NOSIGNAL | (unsigned)op->u.msg.flags);
        else
            io_uring_prep_sendmsg(q, fd, op->u.msg.msg, MSG_NOSIGNAL | (unsigned)op->u.msg.flags);
        break;
    case EDDY__OP_ACCEPT:
        io_uring_prep_accept(q, fd, op->u.acc.addr, op->u.acc.alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
    case EDDY__OP_CONNECT: io_uring_prep_connect(q, fd, op->u.con.addr, op->u.con.alen); break;
    case EDDY__OP_POLL: io_uring_prep_poll_add(q, fd, to_poll(op->u.poll.events)); break;
    }
    if ((op->flags & EDDY__OP_POLL_FIRST) && s->poll_first &&
        (op->kind == EDDY__OP_RECV || op->kind == EDDY__OP_SEND || op->kind == EDDY__OP_RECVMSG ||
         op->kind == EDDY__OP_SENDMSG))
        q->ioprio |= IORING_RECVSEND_POLL_FIRST;
    op->be.ur.notif = zc;
    op->be.ur.sent = false;
    op->be.ur.purged = false;
    io_uring_sqe_set_data64(q, (uint64_t)(uintptr_t)op | TAG_OP);
}

#ifdef EDDY_FAULTS
/* A datagram socket's recvmsg and sendmsg are sites of their own (eddy__sys_is_dgram). */
static int cqe_fault_dgram(const eddy__op *op)
{
    if (op->kind == EDDY__OP_RECVMSG) return eddy__sys_hit(EDDY__SYS_SITE(CQE_RECVMSG));
    return eddy__sys_hit(EDDY__SYS_SITE(CQE_SENDMSG));
}

/* The completion sites (loop/sys.h, EDDY__SYS_CQE_KINDS): one per kind of operation. */
static int cqe_fault(const eddy__op *op)
{
    if ((op->kind == EDDY__OP_RECVMSG || op->kind == EDDY__OP_SENDMSG) && eddy__sys_is_dgram(op->fd))
        return cqe_fault_dgram(op);
    switch (op->kind) {
    case EDDY__OP_READ: return eddy__sys_hit(EDDY__SYS_SITE(CQE_READ));
    case EDDY__OP_WRITE: return eddy__sys_hit(EDDY__SYS_SITE(CQE_WRITE));
    case EDDY__OP_READV: return eddy__sys_hit(EDDY__SYS_SITE(CQE_READV));
    case EDDY__OP_WRITEV: return eddy__sys_hit(EDDY__SYS_SITE(CQE_WRITEV));
    case EDDY__OP_RECV: return eddy__sys_hit(EDDY__SYS_SITE(CQE_RECV));
    case EDDY__OP_SEND: return eddy__sys_hit(EDDY__SYS_SITE(CQE_SEND));
    case EDDY__OP_RECVMSG: return eddy__sys_hit(EDDY__SYS_SITE(CQE_RECVMSG));
    case EDDY__OP_SENDMSG: return eddy__sys_hit(EDDY__SYS_SITE(CQE_SENDMSG));
    case EDDY__OP_ACCEPT: return eddy__sys_hit(EDDY__SYS_SITE(CQE_ACCEPT));
    case EDDY__OP_CONNECT: return eddy__sys_hit(EDDY__SYS_SITE(CQE_CONNECT));
    case EDDY__OP_POLL: return eddy__sys_hit(EDDY__SYS_SITE(CQE_POLL));
    }
    return 0;
}

/* After prep: a fault armed for this completion turns the SQE into a NOP whose completion
 * delivers -errno (the operation is not done, as when the kernel fails it), or halves what the
 * operation moves (a short count): the length of a read, write, recv or send; fewer buffers of
 * a readv or writev (a single buffer becomes a read or write of half of it); for recvmsg and
 * sendmsg, the caller's msghdr shrunk until the completion (dispatch_op puts it back). */
static void fault_prep(struct io_uring_sqe *q, eddy__op *op)
{
    op->be.ur.fault = 0;
    op->be.ur.undo = 0;
    int e = cqe_fault(op);
    if (!e) return;
    if (e > 0) {
        uint64_t ud = q->user_data;
        io_uring_prep_nop(q);
        io_uring_sqe_set_data64(q, ud);
        op->be.ur.notif = false;
        op->be.ur.fault = -e;
        return;
    }
    struct msghdr *m;
    switch (op->kind) {
    case EDDY__OP_READ: case EDDY__OP_WRITE: case EDDY__OP_RECV: case EDDY__OP_SEND:
        q->len = (unsigned)eddy__sys_shorten(q->len);
        break;
    case EDDY__OP_READV: case EDDY__OP_WRITEV:
        if (op->u.v.iovcnt > 1) {
            q->len = (unsigned)eddy__sys_shorten(q->len);
        } else if (op->u.v.iovcnt == 1) {
            unsigned n = (unsigned)eddy__sys_shorten(op->u.v.iov[0].iov_len);
            void *b = op->u.v.iov[0].iov_base;
            if (op->kind == EDDY__OP_READV) io_uring_prep_read(q, op->fd, b, n, (uint64_t)-1);
            else io_uring_prep_write(q, op->fd, b, n, (uint64_t)-1);
            io_uring_sqe_set_data64(q, (uint64_t)(uintptr_t)op | TAG_OP);
        }
        break;
    case EDDY__OP_RECVMSG: case EDDY__OP_SENDMSG:
        m = op->u.msg.msg;
        if (m->msg_iovlen > 1) {
            op->be.ur.undo = 1, op->be.ur.undo_val = m->msg_iovlen;
            m->msg_iovlen = 1;
        } else if (m->msg_iovlen == 1) {
            op->be.ur.undo = 2, op->be.ur.undo_val = m->msg_iov[0].iov_len;
            m->msg_iov[0].iov_len = eddy__sys_shorten(m->msg_iov[0].iov_len);
        }
        break;
    }
}

/* The completion's result as the operation sees it, the caller's msghdr restored. */
static int fault_res(eddy__op *op, int res)
{
    if (op->be.ur.undo == 1) op->u.msg.msg->msg_iovlen = op->be.ur.undo_val;
    if (op->be.ur.undo == 2) op->u.msg.msg->msg_iov[0].iov_len = op->be.ur.undo_val;
    op->be.ur.undo = 0;
    if (op->be.ur.fault) res = op->be.ur.fault;
    op->be.ur.fault = 0;
    return res;
}
#endif

static void op_cancel_hook(eddy_task *t, void *arg)
{
    cancel_op(t->loop, arg);
}

/* Submit op and wait for its CQE (uncancellably once cancelled: see the top of the file).
 * Returns the park's code: 0, or the cancel code if a cancellation ended the wait. */
static int submit_wait(eddy_loop *l, eddy__op *op)
{
    ur_state *s = st_of(l);
    struct io_uring_sqe *q;
    while (!(q = sqe_get(s))) {
        /* The kernel takes no more until completions are reaped, which the scheduler does:
         * give it a turn (not a cancellation point: nothing was submitted yet). */
        eddy__coop_yield(l, op->task);
    }
    prep(s, q, op);
#ifdef EDDY_FAULTS
    fault_prep(q, op);
#endif
    op->done = false;
    op->be.ur.cancelling = false;
    op->be.ur.queued = false;
    op->be.ur.armed = true;
    l->nwatch_ref++;
    eddy__wait w = {.reason = reason_of(op), .obj = (const void *)(intptr_t)op->fd,
                    .cancel = op_cancel_hook, .arg = op};
    int rc = eddy__park(&w);
    while (!op->done) {
        if (rc < 0 && op->be.ur.sent && op->res > 0 && op->be.ur.notif && !op->be.ur.purged) {
            /* A cancelled SEND_ZC whose bytes are sent but whose pages the kernel still holds
             * (the peer has not acknowledged them): TCP gives them back only by a reset. */
            op->be.ur.purged = true;
            eddy__op_zc_purge(op->fd);
        }
        eddy__wait u = {.reason = op->be.ur.notif ? "zero-copy send" : "io_uring cancel",
                        .obj = (const void *)(intptr_t)op->fd, .uncancellable = true};
        (void)eddy__park(&u);
    }
    l->nwatch_ref--;
    unqueue_cancel(s, op);
    return rc;
}

/* The readiness path, for what has no SQE of its own (sendfile) or came back -EAGAIN: try
 * the system call, wait with a poll SQE when it would block. */
static ssize_t readiness_run(eddy_loop *l, eddy__op *op, bool attempt)
{
    for (;;) {
        if (attempt) {
            ssize_t r = eddy__op_syscall(op);
            if (r != -EAGAIN) return r;
        }
        attempt = true;
        /* The wait is an operation of its own; while it lasts it stands in op's slot, so that
         * the descriptor's close interrupts it. */
        eddy__op w;
        eddy__op_init(&w, EDDY__OP_POLL, NULL, op->fd);
        w.owner = op->owner;
        w.task = op->task;
        w.u.poll.events = eddy__op_events(op);
        eddy__op **slot = op->owner ? &op->owner->inflight[eddy__op_side(op)] : NULL;
        if (slot) *slot = &w;
        int rc = submit_wait(l, &w);
        if (slot) *slot = op;
        if (op->intr || w.intr) return -EBADF;
        if (rc < 0 && w.res < 0) return rc;
        if (w.res < 0) return w.res; /* the poll itself failed (EBADF) */
    }
}

static ssize_t ur_run(eddy_loop *l, eddy__op *op)
{
    ur_state *s = st_of(l);
    if (op->kind == EDDY__OP_SENDFILE || (op->flags & EDDY__OP_TRY))
        return readiness_run(l, op, !(op->flags & EDDY__OP_POLL_FIRST));
    uintptr_t who = (uintptr_t)op | 1;
    if (!op->owner && op->kind == EDDY__OP_POLL) {
        int rc = pollable(op->fd);
        if (rc == 0) rc = table_add(s, op->fd, op->u.poll.events, who);
        if (rc < 0) return rc;
    }
    int rc;
    ssize_t r;
    do {
        rc = submit_wait(l, op);
        r = op->res;
        /* -EINTR: a signal interrupted the operation where the kernel was doing it (an
         * io_uring request cannot be restarted as a system call is): nothing was moved, so
         * it is submitted again, as the readiness path retries a call that returned EINTR. */
    } while (eddy__unlikely(r == -EINTR) && rc == 0 && !op->intr && !op->be.ur.purged);
    /* The usual end, first: done, not cancelled, not interrupted, not a poll. */
    if (eddy__likely(rc == 0 && r >= 0 && !op->intr && !op->be.ur.purged && op->kind != EDDY__OP_POLL))
        return r;
    if (!op->owner && op->kind == EDDY__OP_POLL) table_del(s, op->fd, who);
    if (op->be.ur.purged) return rc; /* the bytes went with the reset (see submit_wait) */
    if (op->intr) return r >= 0 && op->kind != EDDY__OP_POLL ? r : -EBADF;
    if (r == -ECANCELED || (rc < 0 && r < 0)) return rc < 0 ? rc : -ECANCELED;
    if (r == -EAGAIN || (op->kind == EDDY__OP_CONNECT && r == -EINPROGRESS)) {
        /* An older kernel's answer for an O_NONBLOCK descriptor: wait, try, as epoll does. */
        if (op->kind == EDDY__OP_CONNECT) op->u.con.started = true;
        return readiness_run(l, op, op->kind != EDDY__OP_CONNECT);
    }
    if (op->kind == EDDY__OP_POLL && r >= 0) return (ssize_t)from_poll((unsigned)r);
    return r;
}

static void ur_interrupt(eddy_loop *l, eddy__op *op)
{
    op->intr = true;
    if (!op->done) cancel_op(l, op);
}

static int ur_forget(eddy_loop *l, int fd)
{
    ur_state *s = st_of(l);
    if (fd < 0 || (size_t)fd >= s->cap) return 0;
    ur_fd *f = &s->fds[fd];
    uintptr_t ws[2] = {f->r, f->w != f->r ? f->w : 0};
    int n = 0;
    for (int i = 0; i < 2; i++)
        if (ws[i] & 1) {
            /* Out of the table now (its task leaves it when the kernel's answer comes): the
             * number is free for a descriptor opened after the close that follows. */
            table_del(s, fd, ws[i]);
            ur_interrupt(l, (eddy__op *)(ws[i] & ~(uintptr_t)1));
            n++;
        }
    return n;
}

/* ---- receive feeds: a multishot recv into the loop's ring of provided buffers ---- */

enum { FEED_BUFS = 64, FEED_BUF = 64 * 1024, FEED_BGID = 0 };

typedef struct ur_feed {
    struct ur_feed *next;  /* free list, ready_feeds (first: the slab's link) */
    eddy__feed *f;         /* NULL once closed: the last CQE frees the record */
    bool armed;            /* a multishot recv is in flight (until a CQE without F_MORE) */
    bool want;             /* started */
    bool cancelling;
    bool on_ready, on_rearm;
    bool live;             /* allocated (not on the free list) */
    struct ur_feed *rnext; /* rearm_feeds */
    /* Completions taken while paused (or behind those), delivered after the restart. */
    struct { int res; int bid; } *pend;
    uint32_t npend, pend_head, pend_cap;
#ifdef EDDY_FAULTS
    int fault; /* the injected result of the NOP armed in its place (feed_arm), 0: none */
#endif
} ur_feed;

static int bufs_setup(ur_state *s)
{
    s->bufs_state = -1;
    size_t ring_bytes = FEED_BUFS * sizeof(struct io_uring_buf);
    void *r = eddy__sys_mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) return -errno;
    /* Only the pages the kernel writes become resident: a 64-byte message costs one page of
     * one buffer, whatever the buffer's size. */
    char *b = eddy__sys_mmap(NULL, (size_t)FEED_BUFS * FEED_BUF, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (b == MAP_FAILED) {
        int e = errno;
        eddy__sys_munmap(r, ring_bytes);
        return -e;
    }
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)r, .ring_entries = FEED_BUFS,
                                   .bgid = FEED_BGID};
    int rc = eddy__sys_io_uring_register_buf_ring(&s->ring, &reg, 0); /* 5.19 */
    if (rc < 0) {
        eddy__sys_munmap(b, (size_t)FEED_BUFS * FEED_BUF);
        eddy__sys_munmap(r, ring_bytes);
        return rc;
    }
    s->br = r;
    s->br_bytes = ring_bytes;
    s->bufs = b;
    io_uring_buf_ring_init(s->br);
    for (int i = 0; i < FEED_BUFS; i++)
        io_uring_buf_ring_add(s->br, b + (size_t)i * FEED_BUF, FEED_BUF, (unsigned short)i,
                              io_uring_buf_ring_mask(FEED_BUFS), i);
    io_uring_buf_ring_advance(s->br, FEED_BUFS);
    s->bufs_state = 1;
    return 0;
}

static void bufs_destroy(ur_state *s)
{
    if (s->bufs_state != 1) return;
    if (s->ring_ok) (void)eddy__sys_io_uring_unregister_buf_ring(&s->ring, FEED_BGID);
    eddy__sys_munmap(s->bufs, (size_t)FEED_BUFS * FEED_BUF);
    eddy__sys_munmap(s->br, s->br_bytes);
    s->bufs_state = 0;
}

static void feeds_destroy(ur_state *s)
{
    for (size_t i = 0; i < s->nfslabs; i++) {
        ur_feed *b = s->fslabs[i];
        for (int k = 0; k < POLL_SLAB; k++)
            if (b[k].live) free(b[k].pend);
        free(b);
    }
    free(s->fslabs);
}

/* Give buffer bid back to the kernel. */
static void buf_put(ur_state *s, int bid)
{
    if (bid < 0) return;
    io_uring_buf_ring_add(s->br, s->bufs + (size_t)bid * FEED_BUF, FEED_BUF, (unsigned short)bid,
                          io_uring_buf_ring_mask(FEED_BUFS), 0);
    io_uring_buf_ring_advance(s->br, 1);
}

static void feed_rearm_later(ur_state *s, ur_feed *r)
{
    if (r->on_rearm) return;
    r->on_rearm = true;
    r->rnext = s->rearm_feeds;
    s->rearm_feeds = r;
}

static bool feed_arm(ur_state *s, ur_feed *r)
{
    struct io_uring_sqe *q = sqe_get(s);
    if (!q) {
        feed_rearm_later(s, r);
        return false;
    }
    io_uring_prep_recv_multishot(q, r->f->fd, NULL, 0, 0);
    q->flags |= IOSQE_BUFFER_SELECT;
    q->buf_group = FEED_BGID;
#ifdef EDDY_FAULTS
    /* The completion site of a feed (loop/sys.h): the multishot recv ends at once with -errno
     * (a NOP carries it), as the kernel ends one on an error. */
    int e = eddy__sys_hit(EDDY__SYS_SITE(CQE_RECV_MULTISHOT));
    if (e > 0) io_uring_prep_nop(q), r->fault = -e;
#endif
    io_uring_sqe_set_data64(q, (uint64_t)(uintptr_t)r | TAG_FEED);
    r->armed = true;
    r->cancelling = false;
    return true;
}

static void feed_cancel(ur_state *s, ur_feed *r)
{
    if (!r->armed || r->cancelling) return;
    struct io_uring_sqe *q = sqe_get(s);
    if (!q) return; /* it goes on; its completions are kept (paused) or dropped (closed) */
    r->cancelling = true;
    io_uring_prep_cancel64(q, (uint64_t)(uintptr_t)r | TAG_FEED, 0);
    fire_and_forget(s, q);
}

static void feed_release(ur_state *s, ur_feed *r)
{
    while (r->pend_head < r->npend) buf_put(s, r->pend[r->pend_head++].bid);
    free(r->pend);
    r->pend = NULL;
    r->live = false;
    r->next = s->free_feeds;
    s->free_feeds = r;
}

static void feed_push(ur_feed *r, int res, int bid)
{
    if (r->npend == r->pend_cap) {
        if (r->pend_head) { /* slide what is left to the front */
            memmove(r->pend, r->pend + r->pend_head, (r->npend - r->pend_head) * sizeof *r->pend);
            r->npend -= r->pend_head;
            r->pend_head = 0;
        }
        if (r->npend == r->pend_cap) {
            uint32_t cap = r->pend_cap ? r->pend_cap * 2 : 8;
            void *np = realloc(r->pend, cap * sizeof *r->pend);
            if (!np) eddy__fatal("io_uring: no memory to keep received data of a paused feed");
            r->pend = np;
            r->pend_cap = cap;
        }
    }
    r->pend[r->npend].res = res;
    r->pend[r->npend].bid = bid;
    r->npend++;
}

/* Hand one completion to the feed's callback. False if the feed ended or went away. */
static bool feed_deliver(eddy_loop *l, ur_state *s, ur_feed *r, int res, int bid)
{
    eddy__feed *f = r->f;
    if (res > 0) {
        eddy__feed_call(l, f, s->bufs + (size_t)bid * FEED_BUF, res);
        buf_put(s, bid);
        return r->f != NULL;
    }
    buf_put(s, bid);
    /* End of stream or an error: the feed is over (as with readiness). */
    r->want = false;
    f->active = false;
    l->nwatch_ref--;
    feed_cancel(s, r);
    eddy__feed_call(l, f, NULL, res);
    return false;
}

static void feed_cqe(eddy_loop *l, ur_state *s, ur_feed *r, int res, unsigned flags)
{
    if (!(flags & IORING_CQE_F_MORE)) r->armed = false;
    int bid = (flags & IORING_CQE_F_BUFFER) ? (int)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
    if (!r->f) { /* closed */
        buf_put(s, bid);
        if (!r->armed) feed_release(s, r);
        return;
    }
    if (res == -ECANCELED || res == -ENOBUFS || res == -EINTR) {
        /* Paused, or out of buffers (each comes back as its data is delivered), or
         * interrupted by a signal (nothing was received): arm again once the buffers or the
         * restart are there. */
        buf_put(s, bid);
        if (r->want && !r->armed) feed_rearm_later(s, r);
        return;
    }
    if (!r->want || r->pend_head < r->npend) { /* paused, or older bytes still wait */
        feed_push(r, res, bid);
        if (res <= 0) r->armed = false; /* the kernel ended the multishot */
        return;
    }
    if (feed_deliver(l, s, r, res, bid) && r->want && !r->armed) (void)feed_arm(s, r);
}

static void feeds_rearm(ur_state *s)
{
    ur_feed *fl = s->rearm_feeds;
    s->rearm_feeds = NULL;
    while (fl) {
        ur_feed *r = fl;
        fl = r->rnext;
        r->on_rearm = false;
        if (r->f && r->want && !r->armed && r->pend_head == r->npend)
            (void)feed_arm(s, r);
        else if (!r->f && !r->armed && !r->on_ready)
            feed_release(s, r);
    }
}

/* After a restart: what was taken while paused, in order, then the multishot again. */
static void feeds_ready(eddy_loop *l, ur_state *s)
{
    ur_feed *list = s->ready_feeds;
    s->ready_feeds = NULL;
    while (list) {
        ur_feed *r = list;
        list = r->next;
        r->on_ready = false;
        while (r->f && r->want && r->pend_head < r->npend) {
            int res = r->pend[r->pend_head].res, bid = r->pend[r->pend_head].bid;
            r->pend_head++;
            if (!feed_deliver(l, s, r, res, bid)) break;
        }
        if (r->f && r->want && r->pend_head == r->npend && !r->armed) (void)feed_arm(s, r);
        if (!r->f && !r->armed) feed_release(s, r);
    }
}

static int ur_feed_start(eddy_loop *l, eddy__feed *f)
{
    ur_state *s = st_of(l);
    if (s->bufs_state == 0) (void)bufs_setup(s);
    if (s->bufs_state < 0) return eddy__feed_start_ready(f);
    ur_feed *r = f->be;
    if (!r) {
        if (!s->free_feeds) {
            ur_feed *b = malloc(POLL_SLAB * sizeof *b);
            void **slabs = b ? realloc(s->fslabs, (s->nfslabs + 1) * sizeof *slabs) : NULL;
            if (!slabs) {
                free(b);
                return -ENOMEM;
            }
            s->fslabs = slabs;
            slabs[s->nfslabs++] = b;
            for (int i = 0; i < POLL_SLAB; i++) {
                b[i].live = false;
                b[i].next = s->free_feeds;
                s->free_feeds = &b[i];
            }
        }
        r = s->free_feeds;
        s->free_feeds = r->next;
        *r = (ur_feed){.f = f, .live = true};
        f->be = r;
    }
    r->want = true;
    l->nwatch_ref++;
    if (r->pend_head < r->npend) {
        if (!r->on_ready) {
            r->on_ready = true;
            r->next = s->ready_feeds;
            s->ready_feeds = r;
        }
    } else if (!r->armed) {
        (void)feed_arm(s, r);
    }
    return 0;
}

static void ur_feed_stop(eddy_loop *l, eddy__feed *f, bool final)
{
    ur_state *s = st_of(l);
    ur_feed *r = f->be;
    if (!r) {
        eddy__feed_stop_ready(f);
        return;
    }
    if (r->want) l->nwatch_ref--;
    r->want = false;
    feed_cancel(s, r);
    if (!final) return;
    r->f = NULL;
    f->be = NULL;
    while (r->pend_head < r->npend) buf_put(s, r->pend[r->pend_head++].bid);
    if (!r->armed && !r->on_ready && !r->on_rearm) feed_release(s, r);
}

/* ---- polling ---- */

static void dispatch_op(eddy__op *op, struct io_uring_cqe *cqe)
{
#ifdef EDDY_FAULTS
    /* the CQ ring is mapped writable, and this entry is ours until io_uring_cqe_seen */
    if (!(cqe->flags & IORING_CQE_F_NOTIF)) cqe->res = fault_res(op, cqe->res);
#endif
    if (cqe->flags & IORING_CQE_F_NOTIF) { /* SEND_ZC: the kernel let go of the buffer */
        op->be.ur.notif = false;
        op->be.ur.armed = false;
        eddy__op_complete(op, op->res);
        return;
    }
    if (op->be.ur.notif && (cqe->flags & IORING_CQE_F_MORE)) {
        op->res = cqe->res; /* sent; the buffer is still the kernel's until the notice */
        op->be.ur.sent = true;
        /* A task that asked for a cancel meanwhile decides now whether to reset (submit_wait). */
        if (op->be.ur.cancelling && op->task && op->task->state == EDDY__BLOCKED)
            (void)eddy__wake(op->task, 0);
        return;
    }
    op->be.ur.armed = false;
    eddy__op_complete(op, cqe->res);
}

static int ur_poll_wait(eddy_loop *l, int64_t timeout_ns)
{
    ur_state *s = st_of(l);
    if (s->cancels || s->rearm || s->wake_unarmed) flush_pending(s);
    if (eddy__unlikely(s->notifyfd >= 0)) {
        /* Emptied before reaping: a completion after this signals it again. */
        uint64_t v;
        ssize_t r = eddy__sys_read(s->notifyfd, &v, sizeof v);
        (void)r;
    }
    if (s->rearm_feeds) feeds_rearm(s);
    if (s->ready_feeds) timeout_ns = 0; /* feeds restarted with data in hand: deliver it now */
    int rc;
    if (timeout_ns == 0) {
        rc = eddy__sys_io_uring_submit_and_get_events(&s->ring);
    } else if (timeout_ns < 0) {
        rc = eddy__sys_io_uring_submit_and_wait(&s->ring, 1);
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
                                       .tv_nsec = timeout_ns % 1000000000};
        struct io_uring_cqe *cqe;
        rc = eddy__sys_io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) return rc;
    int n = 0;
    struct io_uring_cqe *cqe;
    /* One CQE at a time: a callback may queue SQEs (never reap), and a long batch must not
     * hold completions the kernel could post into freed slots. */
    while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
        uint64_t ud = cqe->user_data;
        int res = cqe->res;
        switch (ud & TAG_MASK) {
        case TAG_OP:
            dispatch_op((eddy__op *)(uintptr_t)ud, cqe);
            io_uring_cqe_seen(&s->ring, cqe);
            break;
        case TAG_POLL:
            io_uring_cqe_seen(&s->ring, cqe);
            dispatch_poll(l, (ur_poll *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK), res);
            break;
        case TAG_WAKE:
            io_uring_cqe_seen(&s->ring, cqe);
            arm_wake(s);
            break;
        case TAG_FEED: {
            unsigned flags = cqe->flags;
            io_uring_cqe_seen(&s->ring, cqe);
#ifdef EDDY_FAULTS
            ur_feed *fr = (ur_feed *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);
            if (fr->fault) res = fr->fault, flags = 0, fr->fault = 0;
#endif
            feed_cqe(l, s, (ur_feed *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK), res, flags);
            break;
        }
        default: /* TAG_IGNORE: a cancel or a poll removal that did not find its target */
            io_uring_cqe_seen(&s->ring, cqe);
            break;
        }
        n++;
    }
    if (s->ready_feeds) feeds_ready(l, s);
    return n;
}

const eddy__backend eddy__backend_uring = {
    .name = "io_uring",
    .init = ur_init,
    .destroy = ur_destroy,
    .poll = ur_poll_wait,
    .wake = ur_wake,
    .fd = ur_fd_of,
    .flush = ur_flush,
    .watch = ur_watch,
    .unwatch = ur_unwatch,
    .run = ur_run,
    .interrupt = ur_interrupt,
    .forget = ur_forget,
    .feed_start = ur_feed_start,
    .feed_stop = ur_feed_stop,
};
