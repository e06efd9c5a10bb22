/* eddy — Unix domain sockets (N4): listen/connect on a path or a Linux abstract name,
 * descriptor passing, socket pairs, peer credentials.
 *
 * Names: a path names a socket file; a name starting with '@' is in Linux's abstract
 * namespace ("@eddy-42" is the abstract name "eddy-42": no file, gone when the last socket
 * closes, scoped to the network namespace). Unix streams are "unix" eddy_streams: every
 * stream call works on them, and eddy_listener_accept / eddy_listener_close on the listener.
 * Every socket is non-blocking and close-on-exec; received descriptors are close-on-exec. */
#ifndef EDDY_UNIX_H
#define EDDY_UNIX_H

#include <sys/types.h>

#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill *out with the Unix address for name (a path, or '@' + an abstract name). "@" alone
 * gives the unnamed address (the family only): bound, as by eddy_unix_listen("@"), the
 * kernel gives it a unique abstract name; it cannot be connected to.
 * Returns 0; -ENAMETOOLONG if the name does not fit sun_path (107 bytes for a path, 107
 * after the '@' for an abstract name); -EINVAL for NULL arguments or "". */
EDDY_API EDDY_WUR int eddy_sockaddr_unix(const char *name, eddy_sockaddr *out);

typedef struct eddy_unix_listen_opts {
    int backlog;          /* 0 = SOMAXCONN */
    bool unlink_on_close; /* eddy_listener_close removes the socket file (path names only; the
                             path is kept as given, so a relative one is relative to the
                             working directory at close time) */
    bool unlink_stale;    /* before binding, remove a socket file left at the path by an
                             earlier process, but only if it is a socket and nobody listens
                             on it: a probe connect is refused (a live listener sees the
                             probe as a connection that closes at once) */
} eddy_unix_listen_opts;

/* Listen for stream connections on name (see eddy_sockaddr_unix; "@" binds a unique abstract
 * name the kernel picks: eddy_listener_local_addr tells it). o may be NULL. Accept with
 * eddy_listener_accept ("unix" streams), close with eddy_listener_close.
 * Returns 0 and *out; -EADDRINUSE if the path exists (and was not a stale socket removed by
 * unlink_stale) or the abstract name is taken; -ENAMETOOLONG; -ENOENT/-ENOTDIR/-EACCES/
 * -EROFS from the path's directory; -EINVAL for NULL out, a NULL or empty name or a negative
 * backlog; -EMFILE/-ENFILE/-ENOMEM/-ENOBUFS; -EPERM outside a loop thread. */
#define eddy_unix_listen(name, o, out) eddy__unix_listen((name), (o), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__unix_listen(const char *name, const eddy_unix_listen_opts *o,
                                        eddy_listener **out, const char *site);

/* Connect a stream to the listener at name. A Unix connect completes at once or fails; it
 * never suspends (a cancelled caller gets the cancel code before anything is made).
 * Returns 0 and *out (a "unix" stream); -ENOENT (no such path); -ECONNREFUSED (nobody listens
 * there, or no such abstract name); -EACCES; -EAGAIN when the listener's backlog is full
 * (retry later: non-blocking Unix sockets have no readiness event for that); -ENAMETOOLONG;
 * -EINVAL for NULL arguments, "" or "@"; -ECANCELED/-ETIMEDOUT if cancelled;
 * -EMFILE/-ENFILE/-ENOMEM/-ENOBUFS; -EPERM outside a task. */
#define eddy_unix_connect(name, out) eddy__unix_connect((name), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__unix_connect(const char *name, eddy_stream **out, const char *site);

/* Two connected "unix" streams (socketpair): bytes written to one are read from the other.
 * Both pointers get a stream or, on failure, NULL. Returns 0; -EINVAL for NULL arguments;
 * -EMFILE/-ENFILE/-ENOMEM; -EPERM outside a loop thread. */
#define eddy_socketpair(a, b) eddy__socketpair((a), (b), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__socketpair(eddy_stream **a, eddy_stream **b, const char *site);

/* Send a duplicate of descriptor fd to the peer (SCM_RIGHTS) with one byte of data (0). The
 * caller keeps fd. It is a write: it takes its FIFO turn among the stream's writers, so it
 * never lands inside another writer's bytes. Suspends while the socket buffer is full.
 * Returns 0; -EBADF if fd is not an open descriptor or s is being closed; -ENOTSOCK if s is
 * not a Unix stream; -EPIPE if s was shut down for writing or the peer has closed;
 * -ECONNRESET; -ETOOMANYREFS (descriptors in flight exceed the kernel's limit); -ENOMEM/
 * -ENOBUFS; -ECANCELED/-ETIMEDOUT if cancelled (nothing was sent); -EINVAL for NULL s;
 * -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_unix_send_fd(eddy_stream *s, int fd);

/* Receive a descriptor sent with eddy_unix_send_fd: reads exactly one byte and the
 * descriptor attached to it, suspending until the byte arrives. It is a read (one reader at a
 * time). *fd gets the new descriptor (close-on-exec; the caller owns it) or -1.
 * Descriptors beyond the first that a peer attached to the byte are closed, not leaked (also
 * when the kernel had to truncate the control data).
 * Returns 0; -EBADMSG if the byte carried no descriptor (the peer wrote plain data there; the
 * byte is consumed); -EMSGSIZE if descriptors were attached but none could be received
 * (MSG_CTRUNC: the process is out of descriptors); -ENODATA at end of stream (the peer closed
 * or shut down writing before sending one); -ENOTSOCK if s is not a Unix stream;
 * -ECONNRESET; -EBUSY if another task is reading s; -EBADF if s is being closed;
 * -ECANCELED/-ETIMEDOUT if cancelled (nothing consumed); -EINVAL for NULL arguments;
 * -ENOMEM (the kernel's receive; the byte is not consumed); -ENOSPC when the loop cannot
 * register the socket to wait; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_unix_recv_fd(eddy_stream *s, int *fd);

/* The credentials of the process at the other end of a Unix stream (SO_PEERCRED: as they
 * were when it connected or made the pair). */
typedef struct eddy_unix_cred {
    pid_t pid;
    uid_t uid;
    gid_t gid;
} eddy_unix_cred;
/* Returns 0; -ENOTSOCK if s is not a Unix stream; -EINVAL for NULL arguments; the errors of
 * getsockopt (-ENOTCONN). */
EDDY_API EDDY_WUR int eddy_unix_peer_cred(eddy_stream *s, eddy_unix_cred *out);

#ifdef __cplusplus
}
#endif
#endif
