/* eddy — sockets: addresses, TCP connect/listen/accept, listeners (N1, N2).
 *
 * Every socket eddy creates is non-blocking and close-on-exec; accepted sockets come from
 * accept4(SOCK_NONBLOCK|SOCK_CLOEXEC). TCP streams have TCP_NODELAY set (request/response
 * traffic is the common case; Go does the same). Writes never raise SIGPIPE (MSG_NOSIGNAL):
 * a write to a reset peer returns -EPIPE or -ECONNRESET. */
#ifndef EDDY_NET_H
#define EDDY_NET_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "error.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A socket address of any family, with its length. */
typedef struct eddy_sockaddr {
    struct sockaddr_storage ss;
    socklen_t len;
} eddy_sockaddr;

/* Parse a numeric host ("127.0.0.1", "::1", "[::1]", "fe80::1%eth0") and port into *out.
 * NULL or "" host means the IPv6 wildcard "::" (dual-stack where the system allows).
 * Returns 0; -EINVAL if host is not a numeric address or out is NULL. */
EDDY_API EDDY_WUR int eddy_sockaddr_parse(const char *host, uint16_t port, eddy_sockaddr *out);
/* Format "1.2.3.4:80", "[::1]:80", "[fe80::1%eth0]:80" (a scope as its interface name, or
 * its number if no interface has it) or a Unix path ("@name" for the abstract namespace) into
 * buf (always NUL-terminated when len > 0). Returns the length it needed (like snprintf);
 * -EAFNOSUPPORT for an unknown family; -EINVAL for NULL arguments. */
EDDY_API int eddy_sockaddr_format(const eddy_sockaddr *a, char *buf, size_t len);
/* The port of an IPv4/IPv6 address (host order), 0 for other families. */
EDDY_API uint16_t eddy_sockaddr_port(const eddy_sockaddr *a);

/* The local and peer address of a socket stream (or any socket fd via the fd forms).
 * Returns 0; -ENOTSOCK if s has no socket; -EINVAL; the errors of getsockname/getpeername
 * (-ENOTCONN, -ENOBUFS). */
EDDY_API EDDY_WUR int eddy_stream_local_addr(eddy_stream *s, eddy_sockaddr *out);
EDDY_API EDDY_WUR int eddy_stream_peer_addr(eddy_stream *s, eddy_sockaddr *out);

/* X3: the socket factory hook. Every socket eddy opens for a TCP or Unix connection or
 * listener, a UDP endpoint, a protocol-layer connect or the resolver's queries to DNS
 * servers (c-ares's UDP and TCP sockets) comes from
 * h->socket(h->ctx, domain, type, protocol) — type already carries SOCK_NONBLOCK and
 * SOCK_CLOEXEC — which returns a descriptor of that kind or a negative errno (then the
 * eddy call fails with it, as if socket(2) had). So tests inject EMFILE, ENOBUFS or EACCES at
 * exactly the socket they mean, or count sockets, without interposing on libc. Socket pairs
 * and accepted connections do not go through it. The hook belongs to this thread's loop and is
 * dropped when that loop ends; h must stay valid while set. NULL restores socket(2).
 * Returns 0; -EINVAL if h->socket is NULL; -EPERM outside a loop thread. */
typedef struct eddy_socket_hook {
    int (*socket)(void *ctx, int domain, int type, int protocol);
    void *ctx;
} eddy_socket_hook;
EDDY_API EDDY_WUR int eddy_loop_set_socket_hook(const eddy_socket_hook *h);

/* ---- TCP connect ------------------------------------------------------------------------ */

/* Connect a TCP socket to a numeric address. Suspends until connected. A cancelled connect
 * closes its socket (nothing is left behind).
 * Returns 0 and *out (a "tcp" stream); -ECONNREFUSED; -ECONNRESET if the peer accepted and
 * reset the connection before this call saw it complete; -ENETUNREACH/-EHOSTUNREACH;
 * -ETIMEDOUT (the kernel gave up, or a fail-after scope); -ECANCELED; -EAFNOSUPPORT for a
 * family that is not IPv4/IPv6; -EINVAL for NULL arguments; -EMFILE/-ENFILE/-ENOMEM/-ENOBUFS
 * when no socket can be had; -EADDRNOTAVAIL/-EAGAIN when no local port or route entry is
 * free; -ENOSPC when the loop cannot register the socket (epoll's watch limit); -EPERM outside
 * a task. */
#define eddy_tcp_connect_addr(addr, out) eddy__tcp_connect_addr((addr), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__tcp_connect_addr(const eddy_sockaddr *addr, eddy_stream **out,
                                             const char *site);

#define EDDY_CONNECT_STAGGER EDDY_MSEC(250)

/* N1: options of eddy_tcp_connect. NULL gives the defaults of EDDY_TCP_CONNECT_OPTS_INIT; a
 * zero-filled struct means what its zeros say (stagger 0: every attempt at once). Durations
 * as in docs/api.md. */
typedef struct eddy_tcp_connect_opts {
    int64_t stagger;            /* time between starting attempts (RFC 8305 "Connection
                                   Attempt Delay"): 0 = start them all at once; EDDY_FOREVER =
                                   one at a time, the next when the previous fails; negative:
                                   -EINVAL. Default EDDY_CONNECT_STAGGER */
    int family;                 /* AF_UNSPEC (0): both; AF_INET or AF_INET6 only */
    const eddy_sockaddr *local; /* bind to this source address first (port 0: any port);
                                   only addresses of its family are tried. NULL: any */
} eddy_tcp_connect_opts;
/* The defaults, as a plain brace initializer (C and C++):
 *   eddy_tcp_connect_opts o = EDDY_TCP_CONNECT_OPTS_INIT; o.family = AF_INET; */
#define EDDY_TCP_CONNECT_OPTS_INIT {EDDY_CONNECT_STAGGER, AF_UNSPEC, NULL}
/* At most this many resolved addresses are tried (the rest are ignored). */
#define EDDY_CONNECT_MAX_ADDRS 16

/* N1: connect a TCP socket to host:port by name ("example.com", "localhost", or numeric).
 * host is resolved with eddy_resolve; the addresses are tried Happy Eyeballs style (RFC
 * 8305): families interleaved, IPv6 first, one attempt started every o->stagger or as soon as
 * an attempt in flight fails, all inside an internal nursery. The first attempt to connect
 * wins; the others are cancelled and their sockets closed before this returns. With a single
 * address no task is spawned. o may be NULL.
 * Returns 0 and *out (a "tcp" stream); when every attempt failed, the first attempt's error
 * (in the order tried): -ECONNREFUSED, -ECONNRESET (the peer accepted and reset the
 * connection before the attempt saw it complete), -ENETUNREACH/-EHOSTUNREACH, -ETIMEDOUT (the kernel gave
 * up), -EADDRNOTAVAIL/-EADDRINUSE (o->local, or no local port free), -EAGAIN (no route cache
 * entry), -ENOSPC (epoll's watch limit), -EMFILE/-ENFILE/-ENOMEM/-ENOBUFS; the resolver's
 * errors (see eddy_resolve): EDDY_ENONAME for an unknown host, EDDY_ENOADDR when it has no
 * address of o->family (a numeric host of the other family included), EDDY_EDNSTIMEDOUT,
 * EDDY_EDNSUNREACH, EDDY_EDNSFAIL, EDDY_EDNSBADRESP; -EAFNOSUPPORT if no resolved address has a
 * usable family (IPv4/IPv6, that of o->local); -ECANCELED/-ETIMEDOUT if cancelled: every
 * attempt is cancelled and closed, a connection already made too, so nothing is left behind;
 * -EINVAL for NULL/empty host, NULL out, a negative stagger or a bad family; -ENOMEM if no
 * attempt task could be spawned; -EPERM outside a task. */
#define eddy_tcp_connect(host, port, o, out) eddy__tcp_connect((host), (port), (o), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__tcp_connect(const char *host, uint16_t port,
                                        const eddy_tcp_connect_opts *o, eddy_stream **out,
                                        const char *site);

/* ---- listeners -------------------------------------------------------------------------- */

typedef struct eddy_listener eddy_listener;

typedef struct eddy_tcp_listen_opts {
    int backlog;        /* 0 = SOMAXCONN */
    bool reuse_port;    /* SO_REUSEPORT: several listeners (one per loop) share the port */
    bool no_reuse_addr; /* SO_REUSEADDR is on by default (restart while old connections
                           are in TIME_WAIT); set this to turn it off */
    bool v6only;        /* for an IPv6 address: IPV6_V6ONLY (default: dual-stack) */
} eddy_tcp_listen_opts;

/* N2: listen for TCP on host:port. host NULL or "" listens on every address: IPv6 "::"
 * dual-stack, or 0.0.0.0 where IPv6 is unavailable; a numeric address listens there; a name
 * is resolved (eddy_resolve) and the first address that binds is used. port 0 picks a
 * free port (eddy_listener_local_addr tells which). o may be NULL.
 * Returns 0 and *out; -EADDRINUSE; -EACCES (privileged port); -EADDRNOTAVAIL; -EINVAL for
 * NULL out or a negative backlog; the resolver's errors (EDDY_ENONAME, ... see eddy_resolve);
 * -EMFILE/-ENFILE/-ENOMEM/-ENOBUFS; -EPERM
 * outside a loop thread. */
#define eddy_tcp_listen(host, port, o, out) eddy__tcp_listen((host), (port), (o), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__tcp_listen(const char *host, uint16_t port,
                                       const eddy_tcp_listen_opts *o, eddy_listener **out,
                                       const char *site);

/* Adopt a bound, listening socket (any stream family) as a listener; it owns fd afterwards.
 * Returns 0; -EINVAL if fd is not a listening stream socket or out is NULL; -ENOMEM. */
#define eddy_listener_from_fd(fd, out) eddy__listener_from_fd((fd), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__listener_from_fd(int fd, eddy_listener **out, const char *site);

/* Accept one connection, suspending until one arrives. peer (may be NULL) gets its address.
 * Returns 0 and *out; -ECANCELED/-ETIMEDOUT if cancelled (no connection is lost: one not yet
 * taken stays in the backlog); -EMFILE/-ENFILE when out of descriptors (the listener stays
 * usable: back off and retry — eddy_serve does); -ENOBUFS/-ENOMEM; -ENOSPC when the loop
 * cannot register the listener to wait on it (epoll's limit of watches per user, as for
 * eddy_stream_read); -EBADF if the listener is being closed; -EBUSY if another task is
 * accepting on it; -EINVAL; -EPERM outside a task.
 * Connections the peer aborted before accept (ECONNABORTED) are skipped, not reported. */
EDDY_API EDDY_WUR int eddy_listener_accept(eddy_listener *l, eddy_stream **out, eddy_sockaddr *peer);

/* The address the listener is bound to (port 0 resolved). Returns 0; -EINVAL; -ENOBUFS
 * (getsockname found no memory). */
EDDY_API EDDY_WUR int eddy_listener_local_addr(const eddy_listener *l, eddy_sockaddr *out);
/* The listening descriptor (for socket options); do not close it. -1 for NULL. */
EDDY_API int eddy_listener_fd(const eddy_listener *l);

/* Stop listening and free l: a task blocked in eddy_listener_accept gets -EBADF first, and
 * this returns once it has left. A Unix listener created with unlink-on-close removes its
 * path. Returns 0 or the close error (-EIO; the descriptor is released all the same), or the
 * error of removing the path (-EACCES, -EPERM, -EROFS, -EBUSY); l is freed in every case. NULL: 0. Exceptions, where l
 * is NOT freed (as eddy_stream_close): -EBUSY when called outside a task (callback context)
 * while a task is accepting (it cannot wait for it); -EBADF for a second close made while
 * the first still waits. */
EDDY_API EDDY_WUR int eddy_listener_close(eddy_listener *l);

#ifdef __cplusplus
}
#endif
#endif
