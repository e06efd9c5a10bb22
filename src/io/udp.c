/* eddy io: UDP sockets (N3). Sends and receives are operations (loop/op.h): a datagram is
 * taken or sent by one call, and a cancelled or interrupted operation either consumed nothing
 * or reports the datagram it got. The batched calls (recvmmsg, sendmmsg) have no operation of
 * their own: they try the system call and wait for readiness on EAGAIN, on every backend. */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/udp.h"
#include "io/io.h"
#include "loop/sys.h"

/* Datagrams per recvmmsg/sendmmsg call: the headers live on the task's stack (no heap), so
 * a batch stays small; 32 already cuts the system calls of a busy socket by 32x. */
#define UDP_BATCH 32

struct eddy_udp {
    eddy__iofd io;       /* io.fd: the socket */
    int family;
    eddy_task *receiver; /* the task inside a receive call, or NULL */
    eddy_task *sender;   /* the task inside a send call, or NULL */
    eddy_task *closer;   /* the task waiting in eddy_udp_close for the others to leave */
    unsigned users;
    bool closing;
    eddy__handle handle;
};

static eddy_task *task_or_null(void)
{
    eddy_loop *l = eddy__loop();
    if (!l || l->in_callback) return NULL;
    return l->current;
}

static bool inet_addr_ok(const eddy_sockaddr *a)
{
    int f = a->ss.ss_family;
    if (f == AF_INET) return a->len >= sizeof(struct sockaddr_in) && a->len <= sizeof a->ss;
    if (f == AF_INET6) return a->len >= sizeof(struct sockaddr_in6) && a->len <= sizeof a->ss;
    return false;
}

static int open_socket(int family, int *fdp)
{
    int fd = eddy__socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fd;
    if (family == AF_INET6) {
        int off = 0; /* dual-stack: an IPv6 socket also talks to IPv4-mapped peers */
        (void)eddy__sys_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    *fdp = fd;
    return 0;
}

int eddy__udp_open(const eddy_sockaddr *local, const eddy_sockaddr *remote, eddy_udp **out,
                   const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    eddy_loop *lp = eddy__loop();
    if (!lp) return -EPERM;
    const eddy_sockaddr *given[2] = {local, remote};
    for (int i = 0; i < 2; i++) {
        if (!given[i]) continue;
        int f = given[i]->ss.ss_family;
        if (f != AF_INET && f != AF_INET6) return -EAFNOSUPPORT;
        if (!inet_addr_ok(given[i])) return -EINVAL;
    }
    if (local && remote && local->ss.ss_family != remote->ss.ss_family) return -EINVAL;
    int family = local ? local->ss.ss_family : remote ? remote->ss.ss_family : AF_INET6;
    int fd = -1;
    int rc = open_socket(family, &fd);
    if (rc == -EAFNOSUPPORT && !local && !remote) {
        family = AF_INET;
        rc = open_socket(family, &fd);
    }
    if (rc < 0) return rc;
    if (local && eddy__sys_bind(fd, (const struct sockaddr *)&local->ss, local->len) < 0) goto fail;
    /* UDP connect only records the remote (no packet is sent): it never blocks. */
    if (remote && eddy__sys_connect(fd, (const struct sockaddr *)&remote->ss, remote->len) < 0) goto fail;
    eddy_udp *u = calloc(1, sizeof *u);
    if (!u) {
        eddy__sys_close(fd);
        return -ENOMEM;
    }
    eddy__iofd_init(&u->io, fd);
    u->family = family;
    eddy__handle_add(lp, &u->handle, "udp", site);
    *out = u;
    return 0;
fail:
    rc = -errno;
    eddy__sys_close(fd);
    return rc;
}

static void leave(eddy_udp *u, eddy_task **side)
{
    *side = NULL;
    u->users--;
    if (u->users == 0 && u->closer) eddy__wake(u->closer, 0);
}

/* Enter one side (receive or send) of u. Returns 0 with *side == t, or a negative errno. */
static int enter(eddy_udp *u, eddy_task **side)
{
    eddy_task *t = task_or_null();
    if (!t) return -EPERM;
    int c = eddy__cancel_code(t);
    if (c) return c;
    if (u->closing) return -EBADF;
    if (*side) return -EBUSY;
    *side = t;
    u->users++;
    /* The cooperative budget (internal.h), registered: a close waits for this call, which
     * after a yield stops if it was cancelled or a close began. */
    if (eddy__coop_spend(t)) {
        c = eddy__cancel_code(t);
        if (c == 0 && u->closing) c = -EBADF;
        if (c) {
            leave(u, side);
            return c;
        }
    }
    return 0;
}

/* Wait until u's socket is ready for events. 0, or why not (cancel code, -EBADF for close). */
static int wait_ready(eddy_udp *u, unsigned events)
{
    int rc = eddy__io_poll(&u->io, events);
    return rc < 0 ? rc : 0;
}

ssize_t eddy_udp_send(eddy_udp *u, const eddy_sockaddr *to, const void *buf, size_t len)
{
    if (!u || (!buf && len)) return -EINVAL;
    int rc = enter(u, &u->sender);
    if (rc < 0) return rc;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr m = {.msg_name = to ? (void *)&to->ss : NULL, .msg_namelen = to ? to->len : 0,
                       .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = eddy__io_sendmsg(&u->io, &m, 0, 0);
    leave(u, &u->sender);
    return n;
}

ssize_t eddy_udp_recv(eddy_udp *u, eddy_sockaddr *from, void *buf, size_t len)
{
    if (!u || (!buf && len)) return -EINVAL;
    int rc = enter(u, &u->receiver);
    if (rc < 0) return rc;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr m = {.msg_name = from ? &from->ss : NULL, .msg_namelen = from ? sizeof from->ss : 0,
                       .msg_iov = &iov, .msg_iovlen = 1};
    /* MSG_TRUNC: return the datagram's real length, so truncation is visible. */
    ssize_t n = eddy__io_recvmsg(&u->io, &m, MSG_TRUNC, 0);
    if (n >= 0 && from) from->len = m.msg_namelen;
    leave(u, &u->receiver);
    return n;
}

static bool msgs_ok(const eddy_udp_msg *m, size_t count)
{
    if (!m && count) return false;
    for (size_t i = 0; i < count; i++)
        if (!m[i].buf && m[i].len) return false;
    return true;
}

int eddy_udp_recv_many(eddy_udp *u, eddy_udp_msg *msgs, size_t count)
{
    if (!u || !msgs_ok(msgs, count)) return -EINVAL;
    int rc = enter(u, &u->receiver);
    if (rc < 0) return rc;
    if (count > INT_MAX) count = INT_MAX;
    size_t got = 0;
    struct mmsghdr h[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    while (got < count) {
        size_t k = count - got < UDP_BATCH ? count - got : UDP_BATCH;
        for (size_t i = 0; i < k; i++) {
            eddy_udp_msg *m = &msgs[got + i];
            iov[i] = (struct iovec){.iov_base = m->buf, .iov_len = m->len};
            h[i].msg_hdr = (struct msghdr){.msg_name = &m->addr.ss, .msg_namelen = sizeof m->addr.ss,
                                           .msg_iov = &iov[i], .msg_iovlen = 1};
            h[i].msg_len = 0;
        }
        int r = eddy__sys_recvmmsg(u->io.fd, h, (unsigned)k, MSG_TRUNC, NULL);
        if (r < 0) {
            int e = errno;
            if (e == EINTR) continue;
            if (got) break; /* keep what we have; the next call sees the condition again */
            if (e != EAGAIN && e != EWOULDBLOCK) {
                rc = -e;
                break;
            }
            if ((rc = wait_ready(u, EDDY_READ)) < 0) break;
            continue;
        }
        for (int i = 0; i < r; i++) {
            eddy_udp_msg *m = &msgs[got + (size_t)i];
            m->addr.len = h[i].msg_hdr.msg_namelen;
            m->n = h[i].msg_len;
            m->truncated = (h[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
        }
        got += (size_t)r;
        if ((size_t)r < k) break; /* the queue is drained */
    }
    leave(u, &u->receiver);
    return got ? (int)got : rc;
}

int eddy_udp_send_many(eddy_udp *u, eddy_udp_msg *msgs, size_t count)
{
    if (!u || !msgs_ok(msgs, count)) return -EINVAL;
    int rc = enter(u, &u->sender);
    if (rc < 0) return rc;
    if (count > INT_MAX) count = INT_MAX;
    size_t sent = 0;
    struct mmsghdr h[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    while (sent < count) {
        size_t k = count - sent < UDP_BATCH ? count - sent : UDP_BATCH;
        for (size_t i = 0; i < k; i++) {
            eddy_udp_msg *m = &msgs[sent + i];
            iov[i] = (struct iovec){.iov_base = m->buf, .iov_len = m->len};
            h[i].msg_hdr = (struct msghdr){.msg_name = m->addr.len ? &m->addr.ss : NULL,
                                           .msg_namelen = m->addr.len, .msg_iov = &iov[i],
                                           .msg_iovlen = 1};
            h[i].msg_len = 0;
        }
        int r = eddy__sys_sendmmsg(u->io.fd, h, (unsigned)k, MSG_NOSIGNAL);
        if (r < 0) {
            int e = errno;
            if (e == EINTR) continue;
            if (sent) break;
            if (e != EAGAIN && e != EWOULDBLOCK) {
                rc = -e;
                break;
            }
            if ((rc = wait_ready(u, EDDY_WRITE)) < 0) break;
            continue;
        }
        for (int i = 0; i < r; i++) msgs[sent + (size_t)i].n = h[i].msg_len;
        sent += (size_t)r;
        if ((size_t)r < k) break; /* the next one would wait or fails: the caller decides */
    }
    leave(u, &u->sender);
    return sent ? (int)sent : rc;
}

int eddy_udp_local_addr(const eddy_udp *u, eddy_sockaddr *out)
{
    if (!u || !out) return -EINVAL;
    return eddy__fd_addr(u->io.fd, out, false);
}

int eddy_udp_peer_addr(const eddy_udp *u, eddy_sockaddr *out)
{
    if (!u || !out) return -EINVAL;
    return eddy__fd_addr(u->io.fd, out, true);
}

int eddy_udp_fd(const eddy_udp *u) { return u ? u->io.fd : -1; }

int eddy_udp_close(eddy_udp *u)
{
    if (!u) return 0;
    if (u->closing) return -EBADF;
    if (u->users) {
        eddy_task *t = task_or_null();
        if (!t) return -EBUSY;
        u->closing = true;
        u->closer = t;
        eddy__iofd_interrupt(&u->io); /* the waiting tasks wake with -EBADF */
        while (u->users) {
            eddy__wait w = {.reason = "udp close", .obj = u, .uncancellable = true};
            (void)eddy__park(&w);
        }
    }
    int rc = eddy__iofd_close(&u->io, false);
    eddy__handle_del(&u->handle);
    free(u);
    return rc;
}
