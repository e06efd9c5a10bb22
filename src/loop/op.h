/* eddy internals: the operation layer, the boundary between the io layer and the loop's I/O
 * backend (docs/architecture.md, "The I/O boundary"). Never installed.
 *
 * An operation is one system call a task wants done on a descriptor — read, write, their
 * vectored and socket forms, sendmsg/recvmsg, accept, connect, sendfile, or readiness (poll) —
 * described in an eddy__op that lives in the calling task's frame (no allocation) and run by
 * eddy__op_run, which returns when the operation has completed. The backend decides how:
 *   - epoll (readiness): try the system call; on EAGAIN wait until the descriptor is ready,
 *     then try again;
 *   - io_uring (completion): submit it to the ring, and wake the task on its completion.
 * Cancellation (a cancel scope) and closing (eddy__iofd_interrupt) both end the wait, but an
 * operation the kernel may still be working on is first cancelled in the kernel, and the task
 * waits, uncancellably, for the kernel's answer: eddy__op_run never returns while the kernel
 * may still write into a buffer of the caller's (api.md, "close and cancel return only when
 * the kernel no longer touches the caller's memory").
 *
 * Descriptors come in two kinds:
 *   - owned: made and closed by eddy (streams, listeners, UDP sockets), described by an
 *     eddy__iofd. Its owner closes it through eddy__iofd_release, so a backend may cache what
 *     it told the kernel about the descriptor for as long as it lives (the epoll backend keeps
 *     a registration between messages: no epoll_ctl per message);
 *   - borrowed: the caller's (eddy_wait_fd, eddy_io watchers), which it may close behind the
 *     loop's back with plain close(). A backend keeps nothing about them once the wait or the
 *     watcher ends.
 * Every system call an operation makes goes through eddy__op_syscall (op.c), the one place
 * that makes them. */
#ifndef EDDY_LOOP_OP_H
#define EDDY_LOOP_OP_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "internal.h"

enum eddy__op_kind {
    EDDY__OP_READ,     /* read(2): u.rw */
    EDDY__OP_WRITE,    /* write(2): u.rw */
    EDDY__OP_READV,    /* readv(2): u.v */
    EDDY__OP_WRITEV,   /* writev(2): u.v */
    EDDY__OP_RECV,     /* recv(2): u.rw with u.rw.flags */
    EDDY__OP_SEND,     /* send(2) with MSG_NOSIGNAL | u.rw.flags */
    EDDY__OP_RECVMSG,  /* recvmsg(2): u.msg */
    EDDY__OP_SENDMSG,  /* sendmsg(2) with MSG_NOSIGNAL | u.msg.flags */
    EDDY__OP_ACCEPT,   /* accept4(2) with SOCK_NONBLOCK|SOCK_CLOEXEC: u.acc; result the fd */
    EDDY__OP_CONNECT,  /* connect(2) to completion (SO_ERROR): u.con; result 0 */
    EDDY__OP_SENDFILE, /* sendfile(2) from u.sf.in at *u.sf.off to the socket */
    EDDY__OP_POLL,     /* readiness: u.poll.events; result the ready EDDY_* events */
};

enum {
    /* Wait for readiness before the first attempt: the caller knows the attempt would find
     * nothing (a read after a short read). io_uring: IORING_RECVSEND_POLL_FIRST. */
    EDDY__OP_POLL_FIRST = 1u << 0,
    /* SEND/SENDMSG: zero-copy (io_uring SEND_ZC; epoll MSG_ZEROCOPY with SO_ZEROCOPY set). The
     * operation completes only once the kernel has released the buffer. */
    EDDY__OP_ZEROCOPY = 1u << 1,
    /* The descriptor is not a socket or a pipe (a tty, a character device, a regular file):
     * io_uring would hand its reads and writes to a kernel worker thread (no FMODE_NOWAIT),
     * so a completion backend tries the system call first and waits for readiness on EAGAIN,
     * as the readiness backend always does. */
    EDDY__OP_TRY = 1u << 2,
};

typedef struct eddy__op eddy__op;

/* An owned descriptor and the operations in flight on it (at most one reading and one
 * writing: the owners admit one reader and one writer at a time). */
typedef struct eddy__iofd {
    int fd;
    bool closing;          /* interrupted: every operation on it ends with -EBADF */
    bool zc_on;            /* SO_ZEROCOPY set (epoll's MSG_ZEROCOPY) */
    uint32_t zc_next;      /* MSG_ZEROCOPY sends made so far (the kernel numbers them) */
    eddy__op *inflight[2]; /* [0] reading side (read, recv, accept, poll for input), [1] writing */
} eddy__iofd;

struct eddy__op {
    uint8_t kind;
    uint8_t flags;         /* EDDY__OP_* */
    bool intr;             /* interrupted by eddy__iofd_interrupt or eddy_fd_forget: -EBADF */
    bool done;             /* (completion backends) the kernel's answer has arrived */
    int fd;
    eddy__iofd *owner;     /* NULL: a borrowed descriptor */
    eddy_task *task;
    ssize_t res;           /* the result, once done */
    union {
        struct { void *buf; size_t len; int flags; } rw;
        struct { const struct iovec *iov; int iovcnt; } v;
        struct { struct msghdr *msg; int flags; } msg;
        struct { struct sockaddr *addr; socklen_t *alen; } acc;
        struct { const struct sockaddr *addr; socklen_t alen; bool started; } con;
        struct { int in; off_t *off; size_t len; } sf;
        struct { unsigned events; } poll;
    } u;
    uint32_t zc_seq;       /* epoll MSG_ZEROCOPY: the kernel's number of this send */
    union {                /* the backend's own part */
        eddy_io io;        /* epoll: the readiness watcher a waiting operation uses */
        struct {
            bool notif;         /* SEND_ZC: the buffer-release notice is still due */
            bool sent;          /* SEND_ZC: its first CQE (the bytes sent) has come */
            bool purged;        /* SEND_ZC: cancelled with its buffer held: connection reset */
            bool cancelling;    /* an IORING_OP_ASYNC_CANCEL for it was asked for */
            bool armed;         /* submitted, its completion not yet seen */
            bool queued;        /* in the backend's list of cancels to submit */
            struct eddy__op *next; /* in the backend's list of cancels to submit */
#ifdef EDDY_FAULTS
            int fault;          /* an injected completion result (-errno), 0: none */
            uint8_t undo;       /* a short count made by shrinking the caller's msghdr: */
            size_t undo_val;    /* 1, its msg_iovlen was undo_val; 2, msg_iov[0].iov_len */
#endif
        } ur;
    } be;
};

/* ---- describing an operation (the caller's frame holds it) ---- */
static inline void eddy__op_init(eddy__op *op, int kind, eddy__iofd *f, int fd)
{
    op->kind = (uint8_t)kind;
    op->flags = 0;
    op->intr = false;
    op->done = false;
    op->owner = f;
    op->fd = f ? f->fd : fd;
    op->res = 0;
}

/* Run op for the calling task (not in callback context) until it completes. Returns its
 * result: >= 0 (a count, a descriptor, ready events, 0) or a negative errno — the system
 * call's own error, -EBADF if the descriptor is being closed (its owner's eddy__iofd_interrupt,
 * or eddy_fd_forget for a borrowed one), or the cancel code when the task was cancelled
 * before the operation did anything. An operation that completed although its task was
 * cancelled meanwhile reports its result: no byte read, sent or accepted is ever lost to a
 * cancellation; the cancellation is seen at the task's next checkpoint. -EBUSY if another
 * operation of the same side is in flight on the owned descriptor. */
EDDY__HIDDEN ssize_t eddy__op_run(eddy__op *op);

/* The system call of op, non-blocking, once (EINTR retried): the result or -errno (-EAGAIN:
 * it would block). The one place operations make their system calls. */
EDDY__HIDDEN ssize_t eddy__op_syscall(eddy__op *op);
/* MSG_ZEROCOPY: read fd's error queue for the kernel's notices that sent buffers are released.
 * 1 once send number id (counted from 0 per socket) is among them, 0 if it is not there yet
 * (wait for EDDY_ERR), or -errno. */
EDDY__HIDDEN int eddy__op_zc_reap(int fd, uint32_t id);
/* Take back the pages of every zero-copy send still queued on TCP socket fd: reset the
 * connection (RST to the peer, send queue dropped), after which the kernel's release notices
 * come at once. For an abort, and for a cancelled zero-copy send. */
EDDY__HIDDEN void eddy__op_zc_purge(int fd);
/* The readiness (EDDY_READ or EDDY_WRITE) op waits for when its system call would block. */
EDDY__HIDDEN unsigned eddy__op_events(const eddy__op *op);
/* For backends: the side of the descriptor op uses (0 reading, 1 writing). */
static inline int eddy__op_side(const eddy__op *op)
{
    switch (op->kind) {
    case EDDY__OP_READ: case EDDY__OP_READV: case EDDY__OP_RECV: case EDDY__OP_RECVMSG:
    case EDDY__OP_ACCEPT:
        return 0;
    case EDDY__OP_POLL:
        return (op->u.poll.events & EDDY_READ) ? 0 : 1;
    default:
        return 1;
    }
}

/* ---- owned descriptors ---- */
static inline void eddy__iofd_init(eddy__iofd *f, int fd)
{
    *f = (eddy__iofd){.fd = fd};
}
/* The descriptor is about to be closed: every operation in flight on it ends with -EBADF
 * (after the kernel has let go of it), and every later one fails with -EBADF at once. The
 * owner then waits for its users to leave before eddy__iofd_release. */
EDDY__HIDDEN void eddy__iofd_interrupt(eddy__iofd *f);
/* Only the first half: the operations in flight end with -EBADF, later ones run as usual. For
 * an owner that refuses new operations itself (a stream: eddy_stream_vt.interrupt, which a
 * layered stream such as TLS calls to wake its tasks inside the inner stream, then goes on
 * using it for its goodbye). */
EDDY__HIDDEN void eddy__iofd_interrupt_ops(eddy__iofd *f);
/* Drop what the backend keeps about f's descriptor, right before the owner closes it (no
 * operation may be in flight). Safe outside a loop. */
EDDY__HIDDEN void eddy__iofd_release(eddy__iofd *f);
/* eddy__iofd_release, then close(2) the descriptor (unless keep) and mark f closed (fd -1).
 * Returns 0 or close's error (never EINTR: Linux releases the descriptor anyway). */
EDDY__HIDDEN int eddy__iofd_close(eddy__iofd *f, bool keep);

/* ---- the operations the io layer uses (each an eddy__op_run on a frame-local op) ---- */
EDDY__HIDDEN ssize_t eddy__io_recv(eddy__iofd *f, void *buf, size_t len, unsigned opflags);
EDDY__HIDDEN ssize_t eddy__io_send(eddy__iofd *f, const void *buf, size_t len, unsigned opflags);
EDDY__HIDDEN ssize_t eddy__io_read(eddy__iofd *f, void *buf, size_t len, unsigned opflags);
EDDY__HIDDEN ssize_t eddy__io_write(eddy__iofd *f, const void *buf, size_t len, unsigned opflags);
EDDY__HIDDEN ssize_t eddy__io_readv(eddy__iofd *f, const struct iovec *iov, int n, unsigned opflags);
EDDY__HIDDEN ssize_t eddy__io_writev(eddy__iofd *f, const struct iovec *iov, int n, unsigned opflags);
EDDY__HIDDEN ssize_t eddy__io_recvmsg(eddy__iofd *f, struct msghdr *m, int flags, unsigned opflags);
EDDY__HIDDEN ssize_t eddy__io_sendmsg(eddy__iofd *f, struct msghdr *m, int flags, unsigned opflags);
EDDY__HIDDEN int eddy__io_accept(eddy__iofd *f, struct sockaddr *addr, socklen_t *alen,
                                 unsigned opflags);
EDDY__HIDDEN int eddy__io_connect(eddy__iofd *f, const struct sockaddr *addr, socklen_t alen);
EDDY__HIDDEN ssize_t eddy__io_sendfile(eddy__iofd *f, int in, off_t *off, size_t len);
/* Readiness of an owned descriptor (for system calls with no operation of their own, such as
 * recvmmsg): the ready events, -EBADF when closing, or the cancel code. */
EDDY__HIDDEN int eddy__io_poll(eddy__iofd *f, unsigned events);

/* ---- receive feeds (callback form: the protocol layer's transports) ----
 * While a feed runs, cb gets the bytes arriving on a connected socket as they come: (data, n)
 * with n > 0, valid during the call only; then (NULL, 0) at end of stream or (NULL, -errno) on
 * an error, after which the feed has stopped. The epoll backend reads with one recv into buf
 * per readiness event; io_uring keeps a multishot receive armed into the loop's ring of
 * provided buffers (no buffer per connection). Stopping and starting again loses nothing: bytes
 * the kernel already took for the feed are delivered, in order, after the restart. */
typedef struct eddy__feed {
    int fd;
    void (*cb)(struct eddy__feed *f, const char *data, ssize_t n);
    char *buf;             /* readiness backends: where recv puts the bytes (len bytes) */
    size_t len;
    bool active;
    void *be;              /* the backend's record (io_uring), NULL if none */
    eddy_io io;            /* readiness: the watcher */
} eddy__feed;
/* Start (or restart) f: f->fd, f->cb, f->buf and f->len set. 0 or the errors of
 * eddy_io_start. Callback context or task. */
EDDY__HIDDEN int eddy__feed_start(eddy__feed *f);
/* Pause f: no callback after this returns, until it is started again. */
EDDY__HIDDEN void eddy__feed_stop(eddy__feed *f);
/* End f for good, before its socket closes: bytes taken and not delivered are dropped. */
EDDY__HIDDEN void eddy__feed_close(eddy__feed *f);
/* The readiness implementation (epoll's, and io_uring's without provided buffer rings). */
EDDY__HIDDEN int eddy__feed_start_ready(eddy__feed *f);
EDDY__HIDDEN void eddy__feed_stop_ready(eddy__feed *f);

/* ---- for backends ---- */
/* Call a feed's callback (in callback context). */
static inline void eddy__feed_call(eddy_loop *l, eddy__feed *f, const char *data, ssize_t n)
{
    bool was = l->in_callback;
    l->in_callback = true;
    f->cb(f, data, n);
    l->in_callback = was;
}
/* Wake op's task with its result (a completion backend's answer has arrived). */
static inline void eddy__op_complete(eddy__op *op, ssize_t res)
{
    op->res = res;
    op->done = true;
    if (op->task && op->task->state == EDDY__BLOCKED) (void)eddy__wake(op->task, 0);
}

#endif
