/* eddy — UDP sockets (N3).
 *
 * A UDP socket is a handle of its own (datagrams have boundaries, so it is not a stream).
 * Like every eddy socket it is non-blocking and close-on-exec. Each blocking call is a
 * cancellation point that suspends only the calling task; a cancelled receive takes no
 * datagram (one not yet received stays queued in the kernel), a cancelled send sent nothing.
 *
 * Concurrency: one receiving task and one sending task at a time (eddy_udp_recv and
 * eddy_udp_recv_many share the receive side, eddy_udp_send and eddy_udp_send_many the send
 * side); a second concurrent call on the same side gets -EBUSY. A receiver and a sender may
 * work at the same time. eddy_udp_close wakes both with -EBADF.
 *
 * No allocation after eddy_udp_open: the batched calls work in caller-supplied arrays. */
#ifndef EDDY_UDP_H
#define EDDY_UDP_H

#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_udp eddy_udp;

/* Open a UDP socket. local (may be NULL) is bound first: a port 0 picks a free port, NULL
 * binds nothing (the kernel picks an address at the first send). peer (may be NULL) is
 * connected: eddy_udp_send with to == NULL goes there, only its datagrams are received, and
 * an ICMP error from it ("port unreachable") is reported by a later send or receive as
 * -ECONNREFUSED. The family is local's, else peer's, else IPv6 (dual-stack) falling back to
 * IPv4; when both are given they must be of one family. An IPv6 socket is dual-stack: it
 * sends to IPv4 addresses too, and IPv4 senders appear as IPv4-mapped ::ffff:a.b.c.d.
 * Returns 0 and *out; -EAFNOSUPPORT for a family that is not IPv4/IPv6 (or IPv6 where the
 * system has none); -EINVAL for NULL out, a family mismatch or a bad address length;
 * -EADDRINUSE; -EADDRNOTAVAIL; -EACCES (privileged port, or a broadcast destination);
 * -ENETUNREACH for an unreachable peer; -EAGAIN (connecting to peer: no route cache entry
 * free); -EMFILE/-ENFILE/-ENOMEM/-ENOBUFS when no socket can be had; -EPERM outside a loop
 * thread. */
#define eddy_udp_open(local, peer, out) eddy__udp_open((local), (peer), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__udp_open(const eddy_sockaddr *local, const eddy_sockaddr *peer,
                                     eddy_udp **out, const char *site);

/* Send one datagram of len bytes (0 is allowed) to `to`, or to the connected peer when to
 * is NULL. Suspends only while the socket's send buffer is full. A datagram is sent whole or
 * not at all. Returns len; -EDESTADDRREQ when to is NULL and the socket is not connected;
 * a connected socket may still send to other addresses; -EMSGSIZE for a datagram larger
 * than the protocol allows; -ECONNREFUSED (an earlier datagram to the
 * connected peer was refused); -ENETUNREACH/-EHOSTUNREACH; -EAFNOSUPPORT/-EINVAL for an
 * address of another family; -ENOBUFS/-ENOMEM; -ECANCELED/-ETIMEDOUT if cancelled (nothing
 * was sent); -EBUSY if another task is sending on s; -EBADF if s is being closed; -EINVAL if
 * s is NULL, or buf is NULL with len > 0; -EPERM outside a task. */
EDDY_API EDDY_WUR ssize_t eddy_udp_send(eddy_udp *s, const eddy_sockaddr *to, const void *buf,
                                        size_t len);

/* Receive one datagram into buf, suspending until one arrives. from (may be NULL) gets the
 * sender's address. Returns the datagram's full length, which is greater than len when the
 * datagram did not fit: then buf holds its first len bytes and the rest is lost (a datagram
 * is consumed whole). Check `n > len` for truncation. A zero-length datagram returns 0.
 * Returns also: -ECONNREFUSED (the connected peer refused an earlier datagram; the socket
 * stays usable); -ECANCELED/-ETIMEDOUT if cancelled (no datagram taken); -EBUSY if another
 * task is receiving on s; -EBADF if s is being closed; -EINVAL if s is NULL, or buf is NULL
 * with len > 0; -EPERM outside a task; -ENOMEM. */
EDDY_API EDDY_WUR ssize_t eddy_udp_recv(eddy_udp *s, eddy_sockaddr *from, void *buf, size_t len);

/* One datagram of a batch. The caller owns the array and every buffer. */
typedef struct eddy_udp_msg {
    void *buf;          /* in: the buffer (recv) or the payload (send) */
    size_t len;         /* in: its size */
    eddy_sockaddr addr; /* recv: the sender; send: the destination, or addr.len == 0 for the
                           connected peer */
    size_t n;           /* out: recv: the datagram's full length (> len when truncated);
                           send: bytes sent */
    bool truncated;     /* out (recv): the datagram was longer than len; its tail is lost */
} eddy_udp_msg;

/* Receive up to count datagrams with as few system calls as possible (recvmmsg), suspending
 * until at least one is there; then takes whatever else is already queued, without waiting.
 * Fills msgs[0..k-1] (addr, n, truncated). Returns k (1..count); 0 for count == 0; otherwise
 * the errors of eddy_udp_recv (an error that comes after some datagrams were received is
 * kept by the kernel and reported by the next call; those datagrams are returned).
 * -EINVAL also for msgs NULL with count > 0 or a NULL buffer with len > 0. */
EDDY_API EDDY_WUR int eddy_udp_recv_many(eddy_udp *s, eddy_udp_msg *msgs, size_t count);

/* Send msgs[0..count-1] in order with as few system calls as possible (sendmmsg), suspending
 * while the send buffer is full until at least one datagram is sent; stops at the first
 * datagram that would have to wait again or fails. Sets msgs[i].n for the sent ones.
 * Returns how many were sent (1..count; the rest were not sent, in order: resend them);
 * 0 for count == 0; the errors of eddy_udp_send when the first datagram fails (a failure of
 * a later one ends the batch early; sending it alone reports the error). */
EDDY_API EDDY_WUR int eddy_udp_send_many(eddy_udp *s, eddy_udp_msg *msgs, size_t count);

/* The address s is bound to (after open with local NULL: the wildcard and port 0 until the
 * first send picks one). Returns 0; -EINVAL for NULL arguments; -ENOBUFS (getsockname found no
 * memory). */
EDDY_API EDDY_WUR int eddy_udp_local_addr(const eddy_udp *s, eddy_sockaddr *out);
/* The connected peer (given to eddy_udp_open). Returns 0; -ENOTCONN if s was opened without
 * one; -EINVAL. */
EDDY_API EDDY_WUR int eddy_udp_peer_addr(const eddy_udp *s, eddy_sockaddr *out);
/* The descriptor (for socket options such as multicast membership); do not close it. -1 for
 * NULL. */
EDDY_API int eddy_udp_fd(const eddy_udp *s);

/* Close s and free it: tasks blocked in a send or receive on s get -EBADF first, and this
 * returns once they have left. Not a cancellation point. Returns 0 or the close error (-EIO;
 * the descriptor is released all the same); s is freed in every case. Exceptions, where s is NOT freed: -EBUSY when called outside a task
 * (callback context) while tasks are inside s; -EBADF for a second close while the first
 * waits. NULL: 0. */
EDDY_API EDDY_WUR int eddy_udp_close(eddy_udp *s);

#ifdef __cplusplus
}
#endif
#endif
