/* eddy loop: the operation layer (op.h) — running an operation for a task through the
 * backend, the system calls operations make, and owned descriptors.
 *
 * This file is the one place the io layer's descriptor system calls are made (a fault-
 * injection table can wrap eddy__op_syscall and eddy__iofd_close); the backends decide when
 * to make them (epoll: first, then again after readiness) or submit the same operation to the
 * kernel themselves (io_uring). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <linux/errqueue.h> /* after time.h: it uses struct timespec */
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string.h>

#include "loop/op.h"
#include "loop/sys.h"

/* sendfile has no MSG_NOSIGNAL: a send to a closed peer raises SIGPIPE. When the process has
 * a SIGPIPE handler (not SIG_IGN), block the signal around the call and consume the one the
 * call raised, leaving a SIGPIPE that was already pending alone. */
static ssize_t sendfile_nosig(int out, int in, off_t *off, size_t n)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN && !(sa.sa_flags & SA_SIGINFO))
        return eddy__sys_sendfile(out, in, off, n);
    sigset_t pipe_set, old, pend;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    bool was_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE);
    ssize_t r = eddy__sys_sendfile(out, in, off, n);
    int e = errno;
    if (r < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
}

#ifdef EDDY_FAULTS
/* A datagram socket's recvmsg and sendmsg are sites of their own (eddy__sys_is_dgram). */
static ssize_t dgram_msg(eddy__op *op)
{
    if (op->kind == EDDY__OP_RECVMSG) return eddy__sys_recvmsg(op->fd, op->u.msg.msg, op->u.msg.flags);
    return eddy__sys_sendmsg(op->fd, op->u.msg.msg, MSG_NOSIGNAL | op->u.msg.flags);
}
#endif

ssize_t eddy__op_syscall(eddy__op *op)
{
    ssize_t r;
    for (;;) {
        switch (op->kind) {
        case EDDY__OP_READ: r = eddy__sys_read(op->fd, op->u.rw.buf, op->u.rw.len); break;
        case EDDY__OP_WRITE: r = eddy__sys_write(op->fd, op->u.rw.buf, op->u.rw.len); break;
        case EDDY__OP_READV: r = eddy__sys_readv(op->fd, op->u.v.iov, op->u.v.iovcnt); break;
        case EDDY__OP_WRITEV: r = eddy__sys_writev(op->fd, op->u.v.iov, op->u.v.iovcnt); break;
        case EDDY__OP_RECV: r = eddy__sys_recv(op->fd, op->u.rw.buf, op->u.rw.len, op->u.rw.flags); break;
        case EDDY__OP_SEND:
            r = eddy__sys_send(op->fd, op->u.rw.buf, op->u.rw.len, MSG_NOSIGNAL | op->u.rw.flags);
            break;
        case EDDY__OP_RECVMSG:
#ifdef EDDY_FAULTS
            if (eddy__sys_is_dgram(op->fd)) {
                r = dgram_msg(op);
                break;
            }
#endif
            r = eddy__sys_recvmsg(op->fd, op->u.msg.msg, op->u.msg.flags);
            break;
        case EDDY__OP_SENDMSG:
#ifdef EDDY_FAULTS
            if (eddy__sys_is_dgram(op->fd)) {
                r = dgram_msg(op);
                break;
            }
#endif
            r = eddy__sys_sendmsg(op->fd, op->u.msg.msg, MSG_NOSIGNAL | op->u.msg.flags);
            break;
        case EDDY__OP_ACCEPT:
            r = eddy__sys_accept4(op->fd, op->u.acc.addr, op->u.acc.alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
            break;
        case EDDY__OP_CONNECT:
            if (!op->u.con.started) {
                op->u.con.started = true;
                r = eddy__sys_connect(op->fd, op->u.con.addr, op->u.con.alen);
                /* Under way: readiness for writing says it has finished (EINTR too: the
                 * connect goes on in the kernel and must not be made again). */
                if (r < 0 && (errno == EINPROGRESS || errno == EINTR)) return -EAGAIN;
            } else {
                int err = 0;
                socklen_t el = sizeof err;
                if (eddy__sys_getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
                return err ? -err : 0;
            }
            break;
        case EDDY__OP_SENDFILE: r = sendfile_nosig(op->fd, op->u.sf.in, op->u.sf.off, op->u.sf.len); break;
        default: return -EINVAL; /* EDDY__OP_POLL has no system call */
        }
        if (r >= 0) return r;
        if (errno != EINTR) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

unsigned eddy__op_events(const eddy__op *op)
{
    if (op->kind == EDDY__OP_POLL) return op->u.poll.events;
    return eddy__op_side(op) == 0 ? EDDY_READ : EDDY_WRITE;
}

ssize_t eddy__op_run(eddy__op *op)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    eddy__iofd *f = op->owner;
    eddy__op **slot = NULL;
    if (f) {
        if (f->closing) return -EBADF;
        slot = &f->inflight[eddy__op_side(op)];
        if (*slot) return -EBUSY;
        *slot = op;
    }
    op->task = t;
    ssize_t r = l->be->run(l, op);
    if (slot) *slot = NULL;
    return r;
}

/* ---- owned descriptors ---- */

void eddy__iofd_interrupt(eddy__iofd *f)
{
    f->closing = true;
    eddy__iofd_interrupt_ops(f);
}

void eddy__iofd_interrupt_ops(eddy__iofd *f)
{
    eddy_loop *l = eddy__tl_loop;
    for (int i = 0; i < 2; i++)
        if (l && f->inflight[i]) l->be->interrupt(l, f->inflight[i]);
    /* A zero-copy send in flight returns only once the kernel has let go of the caller's
     * pages, which a peer that stopped reading may never make it do: the close would wait for
     * it forever. Take them back (a reset); its writer is being told -EBADF anyway. */
    if (f->inflight[1] && (f->inflight[1]->flags & EDDY__OP_ZEROCOPY) && f->fd >= 0)
        eddy__op_zc_purge(f->fd);
}

void eddy__iofd_release(eddy__iofd *f)
{
    eddy_loop *l = eddy__tl_loop;
    if (l && f->fd >= 0) (void)l->be->forget(l, f->fd);
}

int eddy__iofd_close(eddy__iofd *f, bool keep)
{
    if (f->fd < 0) return 0;
    eddy__iofd_release(f);
    int rc = 0;
    /* Linux releases the descriptor even when close reports EINTR: never retry. */
    if (!keep && eddy__sys_close(f->fd) < 0 && errno != EINTR) rc = -errno;
    f->fd = -1;
    return rc;
}

/* ---- the operations of the io layer ---- */

ssize_t eddy__io_recv(eddy__iofd *f, void *buf, size_t len, unsigned opflags)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_RECV, f, -1);
    op.flags = (uint8_t)opflags;
    op.u.rw.buf = buf;
    op.u.rw.len = len;
    op.u.rw.flags = 0;
    return eddy__op_run(&op);
}

ssize_t eddy__io_send(eddy__iofd *f, const void *buf, size_t len, unsigned opflags)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_SEND, f, -1);
    op.flags = (uint8_t)opflags;
    op.u.rw.buf = (void *)buf;
    op.u.rw.len = len;
    op.u.rw.flags = 0;
    return eddy__op_run(&op);
}

ssize_t eddy__io_read(eddy__iofd *f, void *buf, size_t len, unsigned opflags)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_READ, f, -1);
    op.flags = (uint8_t)opflags;
    op.u.rw.buf = buf;
    op.u.rw.len = len;
    return eddy__op_run(&op);
}

ssize_t eddy__io_write(eddy__iofd *f, const void *buf, size_t len, unsigned opflags)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_WRITE, f, -1);
    op.flags = (uint8_t)opflags;
    op.u.rw.buf = (void *)buf;
    op.u.rw.len = len;
    return eddy__op_run(&op);
}

ssize_t eddy__io_readv(eddy__iofd *f, const struct iovec *iov, int n, unsigned opflags)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_READV, f, -1);
    op.flags = (uint8_t)opflags;
    op.u.v.iov = iov;
    op.u.v.iovcnt = n;
    return eddy__op_run(&op);
}

ssize_t eddy__io_writev(eddy__iofd *f, const struct iovec *iov, int n, unsigned opflags)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_WRITEV, f, -1);
    op.flags = (uint8_t)opflags;
    op.u.v.iov = iov;
    op.u.v.iovcnt = n;
    return eddy__op_run(&op);
}

ssize_t eddy__io_recvmsg(eddy__iofd *f, struct msghdr *m, int flags, unsigned opflags)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_RECVMSG, f, -1);
    op.flags = (uint8_t)opflags;
    op.u.msg.msg = m;
    op.u.msg.flags = flags;
    return eddy__op_run(&op);
}

ssize_t eddy__io_sendmsg(eddy__iofd *f, struct msghdr *m, int flags, unsigned opflags)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_SENDMSG, f, -1);
    op.flags = (uint8_t)opflags;
    op.u.msg.msg = m;
    op.u.msg.flags = flags;
    return eddy__op_run(&op);
}

int eddy__io_accept(eddy__iofd *f, struct sockaddr *addr, socklen_t *alen, unsigned opflags)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_ACCEPT, f, -1);
    op.flags = (uint8_t)opflags;
    op.u.acc.addr = addr;
    op.u.acc.alen = alen;
    return (int)eddy__op_run(&op);
}

int eddy__io_connect(eddy__iofd *f, const struct sockaddr *addr, socklen_t alen)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_CONNECT, f, -1);
    op.u.con.addr = addr;
    op.u.con.alen = alen;
    op.u.con.started = false;
    return (int)eddy__op_run(&op);
}

ssize_t eddy__io_sendfile(eddy__iofd *f, int in, off_t *off, size_t len)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_SENDFILE, f, -1);
    op.u.sf.in = in;
    op.u.sf.off = off;
    op.u.sf.len = len;
    return eddy__op_run(&op);
}

int eddy__io_poll(eddy__iofd *f, unsigned events)
{
    eddy__op op;
    eddy__op_init(&op, EDDY__OP_POLL, f, -1);
    op.u.poll.events = events;
    return (int)eddy__op_run(&op);
}

/* ---- receive feeds ---- */

/* One recv per readiness event: level-triggered polling reports what is left, and a socket
 * with a lot to read cannot starve the others. */
static void feed_readable(eddy_io *w, unsigned revents)
{
    (void)revents;
    eddy__feed *f = eddy__container_of(w, eddy__feed, io);
    ssize_t n = eddy__sys_recv(f->fd, f->buf, f->len, 0);
    if (n > 0) {
        f->cb(f, f->buf, n);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    int err = n < 0 ? -errno : 0;
    eddy__feed_stop(f); /* the end: cb may then free f */
    f->cb(f, NULL, err);
}

int eddy__feed_start_ready(eddy__feed *f)
{
    if (f->io.active) return 0;
    return eddy__io_start(&f->io, f->fd, EDDY_READ, feed_readable, f, "feed");
}

void eddy__feed_stop_ready(eddy__feed *f) { eddy_io_stop(&f->io); }

int eddy__feed_start(eddy__feed *f)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    if (f->active) return 0;
    int rc = l->be->feed_start(l, f);
    if (rc == 0) f->active = true;
    return rc;
}

void eddy__feed_stop(eddy__feed *f)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l || !f->active) return;
    f->active = false;
    l->be->feed_stop(l, f, false);
}

void eddy__feed_close(eddy__feed *f)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return;
    f->active = false;
    l->be->feed_stop(l, f, true);
}

/* ---- zero-copy sends ---- */

void eddy__op_zc_purge(int fd)
{
    /* connect(AF_UNSPEC) is TCP's disconnect: RST to the peer, the send queue dropped. */
    struct sockaddr sa = {.sa_family = AF_UNSPEC};
    (void)eddy__sys_connect(fd, &sa, sizeof sa);
}

int eddy__op_zc_reap(int fd, uint32_t id)
{
    for (;;) {
        char ctl[CMSG_SPACE(sizeof(struct sock_extended_err)) + 64];
        struct msghdr m = {.msg_control = ctl, .msg_controllen = sizeof ctl};
        if (eddy__sys_recvmsg(fd, &m, MSG_ERRQUEUE) < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        }
        bool done = false;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                  (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)))
                continue;
            struct sock_extended_err e;
            memcpy(&e, CMSG_DATA(c), sizeof e);
            if (e.ee_origin != SO_EE_ORIGIN_ZEROCOPY) continue;
            /* Sends ee_info..ee_data (inclusive, 32-bit numbers that wrap) are released. */
            if (id - e.ee_info <= e.ee_data - e.ee_info) done = true;
        }
        if (done) return 1;
    }
}
