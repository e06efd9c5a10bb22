/* eddy — callback protocols and transports, asyncio Protocol / Twisted style (N9).
 *
 * A protocol is a table of callbacks run on the loop thread, in callback context, for each
 * connection: there is no task and no stack per connection, so a loop can hold very many of
 * them, and protocol code written for asyncio or Twisted ports over directly. Callbacks must
 * not block: a blocking eddy call made from one returns -EPERM. Tasks and protocols coexist:
 * a task starts a server, waits for it (eddy_protocol_server_wait) and closes it.
 *
 * Reading: every transport of a loop reads into one shared receive buffer of
 * EDDY_PROTOCOL_RECV_BUF bytes; data_received gets a pointer into it that is valid only until
 * the callback returns (copy what must be kept). One recv per readiness event: a busy
 * connection cannot starve the others.
 *
 * Writing: eddy_transport_write sends at once and copies into the transport's write buffer
 * only what the kernel did not take. That buffer is the one user-space write buffer of this
 * layer. It is bounded by the protocol obeying pause_writing (called when the buffer grows
 * past the high-water mark; resume_writing once it drains to the low-water mark) and, for a
 * protocol that does not, by a hard limit: a write that would take the buffer past it fails
 * with -ENOBUFS and takes nothing.
 *
 * Lifetime (no close-callback puzzles): a transport is created by the server (one per
 * accepted connection) or by eddy_protocol_connect, and its memory is freed right after its
 * connection_lost callback returns. connection_lost is called exactly once per transport,
 * always from the loop (never from inside eddy_transport_close/abort or any other call), so
 * a callback may close or abort its transport and keep using the pointer until it returns.
 * Between close/abort (or a connection error) and connection_lost, every call on the
 * transport is safe and fails with -EBADF (eddy_transport_user still answers). After
 * connection_lost has returned, the pointer is dangling. The protocol's user data is the
 * protocol's own: free it in connection_lost.
 *
 * Errors passed to connection_lost: 0 for an orderly end (eddy_transport_close,
 * eddy_transport_abort, end of stream both ways, server close); otherwise the negative errno
 * that ended the connection: -ECONNRESET, -EPIPE, -ETIMEDOUT (kernel keepalive/retransmit),
 * -ECONNREFUSED/-ENETUNREACH/-EHOSTUNREACH for a client connect that failed; -EAGAIN/
 * -EADDRNOTAVAIL for a client connect with no local port or route entry free; -ENOMEM when
 * user or kernel memory ran out (a send the kernel refused with ENOBUFS or ENOMEM included);
 * -ENOSPC when the loop could not register the socket (epoll's watch limit). */
#ifndef EDDY_PROTOCOL_H
#define EDDY_PROTOCOL_H

#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Size of the per-loop shared receive buffer: the most one data_received call delivers. */
#define EDDY_PROTOCOL_RECV_BUF 65536

typedef struct eddy_transport eddy_transport;
typedef struct eddy_protocol_server eddy_protocol_server;

/* The callbacks of a protocol; NULL members are skipped (data_received NULL discards data,
 * eof_received NULL behaves as returning false). One table is usually shared by every
 * connection: per-connection state goes in the user pointer. */
typedef struct eddy_protocol {
    /* The connection is up: user is the pointer the factory chose. Not called for a client
     * transport whose connect failed. */
    void (*connection_made)(eddy_transport *t, void *user);
    /* len (> 0) bytes arrived; buf points into the loop's shared receive buffer. */
    void (*data_received)(eddy_transport *t, const void *buf, size_t len);
    /* The peer half-closed (FIN). Reading stops. Return true to keep the write side open
     * (write, then eddy_transport_close or eddy_transport_shutdown_write); false closes the
     * transport (pending writes are flushed first), as asyncio does. */
    bool (*eof_received)(eddy_transport *t);
    /* Last callback; the transport is freed when it returns. err as in the file comment. */
    void (*connection_lost)(eddy_transport *t, int err);
    /* The write buffer passed the high-water mark: stop writing until resume_writing. */
    void (*pause_writing)(eddy_transport *t);
    /* The write buffer drained to the low-water mark. */
    void (*resume_writing)(eddy_transport *t);
} eddy_protocol;

/* Called once per new connection (from the loop, in callback context) to choose its protocol
 * and user data. peer is the remote address. Return 0 after setting *proto (non-NULL) and
 * *user; a negative errno refuses the connection (it is closed; nothing else is called). */
typedef int (*eddy_protocol_factory)(void *arg, const eddy_sockaddr *peer,
                                     const eddy_protocol **proto, void **user);

/* Write-buffer limits of a transport (0 members = the defaults). */
typedef struct eddy_transport_limits {
    size_t high_water;  /* pause_writing when more is buffered (default 64 KiB) */
    size_t low_water;   /* resume_writing at or below this (default high_water / 4) */
    size_t hard_limit;  /* -ENOBUFS beyond this (default 16 * high_water; raised to
                           high_water if set lower) */
} eddy_transport_limits;

/* ---- transports ------------------------------------------------------------------------ */

/* Send len bytes: what the kernel does not take at once is copied into the write buffer and
 * sent when the socket becomes writable, in order. Never blocks. May call pause_writing
 * before returning. len 0 is a no-op.
 * Returns 0 when every byte was taken (sent or buffered); -ENOBUFS if buffering would take
 * the buffer past the hard limit (nothing was taken: the result does not depend on how much
 * the kernel would have accepted, so a single write larger than the hard limit always fails);
 * -EPIPE after eddy_transport_shutdown_write; -EBADF after close/abort or once the connection is
 * lost; -ECONNRESET/-EPIPE/-ETIMEDOUT when the send fails: the connection is then lost and
 * connection_lost(t, that error) follows; -ENOMEM when the kernel refused the send for lack of
 * memory (ENOBUFS or ENOMEM: the connection is lost the same way, with -ENOMEM, so -ENOBUFS
 * always means the hard limit and a transport still usable); -ENOSPC if the write watcher
 * cannot be registered (the connection is aborted, see below); -ENOMEM if the buffer cannot grow — nothing was
 * taken, unless the kernel had already taken part: then, as a hole in the byte stream cannot
 * be repaired, the connection is aborted and connection_lost(t, -ENOMEM) follows — or if the
 * write watcher cannot start (the connection is aborted the same way); -EINVAL for a NULL t,
 * or a NULL buf with len > 0. */
EDDY_API EDDY_WUR int eddy_transport_write(eddy_transport *t, const void *buf, size_t len);

/* Half-close: send FIN once the write buffer has drained; reading continues. Idempotent.
 * When the peer's end of stream was also seen, the transport then closes (connection_lost
 * with 0). Returns 0; -EBADF after close/abort or once lost; -EINVAL for NULL. */
EDDY_API EDDY_WUR int eddy_transport_shutdown_write(eddy_transport *t);

/* Orderly close: stop reading (no more data_received), flush the write buffer, close the
 * socket, then connection_lost(t, 0) from the loop (or the error that ended the flush).
 * A peer that never reads keeps a closing transport alive: abort it, or rely on the server's
 * grace period. A client transport still connecting is closed at once (what was written is
 * dropped; connection_lost(t, 0) without connection_made).
 * Returns 0; -EBADF if already closed or aborted (the only failure, so the result may be
 * ignored); -EINVAL for NULL. */
EDDY_API int eddy_transport_close(eddy_transport *t);

/* Close now: drop the write buffer and reset the connection (RST, SO_LINGER 0), then
 * connection_lost(t, 0) from the loop. Returns 0; -EBADF if already aborted or lost (an
 * abort during an orderly close is allowed and ends it at once); -EINVAL for NULL. */
EDDY_API int eddy_transport_abort(eddy_transport *t);

/* Stop / restart delivering data_received (and eof_received). Pausing costs no syscall when
 * reading resumes within the same loop iteration. Idempotent.
 * Return 0; -EBADF after close/abort or once lost; -EINVAL for NULL; resume_reading also the
 * errors of eddy_io_start (-ENOMEM). */
EDDY_API EDDY_WUR int eddy_transport_pause_reading(eddy_transport *t);
EDDY_API EDDY_WUR int eddy_transport_resume_reading(eddy_transport *t);
/* True while data_received can be called: open, not paused, end of stream not seen. */
EDDY_API bool eddy_transport_is_reading(const eddy_transport *t);

/* The peer's address. Returns 0; -EBADF after close/abort or once lost; -EINVAL. */
EDDY_API EDDY_WUR int eddy_transport_peer_addr(const eddy_transport *t, eddy_sockaddr *out);
/* Bytes in the write buffer (not yet taken by the kernel). 0 for NULL. */
EDDY_API size_t eddy_transport_write_buffered(const eddy_transport *t);
/* The socket (for socket options; never close it or read/write it directly). -1 after
 * close/abort, once lost, or for NULL. */
EDDY_API int eddy_transport_fd(const eddy_transport *t);
/* Change the write-buffer limits (0 members = defaults). May call pause/resume_writing.
 * Returns 0; -EINVAL for NULL or low_water > high_water; -EBADF after close/abort. */
EDDY_API EDDY_WUR int eddy_transport_set_limits(eddy_transport *t, const eddy_transport_limits *l);
/* The user pointer (the factory's, or the last set). Valid until connection_lost returns;
 * NULL for a NULL t. */
EDDY_API void *eddy_transport_user(const eddy_transport *t);
/* Replace the user pointer that callbacks and eddy_transport_user see. Cannot fail; a
 * NULL t is ignored. */
EDDY_API void eddy_transport_set_user(eddy_transport *t, void *user);

/* ---- client ---------------------------------------------------------------------------- */

/* Connect to a numeric TCP address without blocking. factory(arg, addr, ...) is called
 * before this returns, to choose the protocol; once the connection is up, connection_made;
 * if it fails, connection_lost(t, err) (without connection_made): every failure that
 * happens after the transport exists, including an immediate ECONNREFUSED, is reported that
 * way, so a caller has one path for connection errors. Writes made before the connection is
 * up are buffered and sent when it is. Callable from tasks and callbacks.
 * Returns 0 and, if out is not NULL, *out (valid until connection_lost returns);
 * -EAFNOSUPPORT for a family that is not IPv4/IPv6; -EINVAL for NULL addr or factory, or a
 * factory that gave no protocol; the factory's error; -EMFILE/-ENFILE/-ENOBUFS/-ENOMEM when
 * no socket or memory can be had; -EPERM outside a loop thread. */
#define eddy_protocol_connect(addr, factory, arg, out) \
    eddy__protocol_connect((addr), (factory), (arg), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__protocol_connect(const eddy_sockaddr *addr, eddy_protocol_factory factory,
                                             void *arg, eddy_transport **out, const char *site);

/* ---- server ---------------------------------------------------------------------------- */

/* Options of a protocol server. NULL gives the defaults of EDDY_PROTOCOL_SERVER_OPTS_INIT; a
 * zero-filled struct means what its zeros say (grace 0, accept_backoff 0). Durations as in
 * docs/api.md: EDDY_FOREVER is no limit, 0 is now, negative is -EINVAL. */
typedef struct eddy_protocol_server_opts {
    size_t max_conns;       /* 0 = unlimited; at the limit accepting pauses (connections wait
                               in the backlog) until one ends */
    bool abort_clients;     /* on shutdown: abort every transport at once instead of closing */
    int64_t grace;          /* on shutdown without abort_clients: each transport is closed
                               (flush, then close) and aborted if still there after this long:
                               0 = abort what cannot close at once; EDDY_FOREVER = never abort
                               (a peer that never reads then holds the server open); default
                               EDDY_SEC(5) */
    int64_t accept_backoff; /* out of descriptors or memory on accept: stop accepting for this
                               long, then retry: 0 = retry on the next loop iteration;
                               EDDY_FOREVER = only when one of the server's connections ends;
                               default EDDY_MSEC(100) */
    eddy_transport_limits limits; /* for every transport of the server (0 members = defaults) */
} eddy_protocol_server_opts;
/* The defaults, as a plain brace initializer (C and C++):
 *   eddy_protocol_server_opts o = EDDY_PROTOCOL_SERVER_OPTS_INIT; o.max_conns = 100; */
#define EDDY_PROTOCOL_SERVER_OPTS_INIT {0, false, EDDY_SEC(5), EDDY_MSEC(100), {0, 0, 0}}

struct eddy_protocol_server_stats {
    size_t active;            /* transports alive now */
    uint64_t accepted;        /* connections accepted (refused by the factory included) */
    uint64_t accept_errors;   /* accept calls that failed with a resource error */
    int last_accept_error;    /* the last such error (-EMFILE, ...), 0 if none */
};

/* Accept connections on l from the loop, creating a transport per connection with factory.
 * The server does not own l: stop the server before closing l (eddy_listener_close), and do
 * not eddy_listener_accept on l meanwhile. o may be NULL.
 * Out of descriptors (EMFILE/ENFILE) or memory on accept: the server stops watching l for
 * opts.accept_backoff and then retries; the pending connection stays in the backlog and l
 * stays open, so it recovers once descriptors are free again. Other accept errors that
 * concern one connection (ECONNABORTED, ...) are skipped.
 * Returns 0 and *out; -EINVAL for NULL l, factory or out, or a negative grace/backoff;
 * -EBUSY if something else watches l; -ENOMEM; -ENOSPC when the loop cannot register l (epoll's
 * limit of watches per user); -EPERM outside a loop thread. */
#define eddy_protocol_serve(l, factory, arg, o, out) \
    eddy__protocol_serve((l), (factory), (arg), (o), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__protocol_serve(eddy_listener *l, eddy_protocol_factory factory, void *arg,
                                           const eddy_protocol_server_opts *o,
                                           eddy_protocol_server **out, const char *site);

/* Shut s down without waiting: stop accepting, then end every transport by the policy of its
 * options (abort_clients: abort all now; otherwise eddy_transport_close each, and abort what
 * is left after grace). Callable from tasks and callbacks; idempotent. NULL: no-op. */
EDDY_API void eddy_protocol_server_shutdown(eddy_protocol_server *s);

/* Suspend the calling task until s has been stopped (by anyone: a protocol callback, another
 * task) and its last transport is gone. Cancellation point: a cancelled wait leaves s as it
 * was, running.
 * Returns 0; -ECANCELED/-ETIMEDOUT if cancelled; -EPERM outside a task (callbacks included);
 * -EINVAL for NULL. */
EDDY_API EDDY_WUR int eddy_protocol_server_wait(eddy_protocol_server *s);

/* Stop s (as eddy_protocol_server_shutdown) and free it. From a task, returns once every
 * transport is gone: not a cancellation point — it runs in a cancelled scope too, and is
 * bounded by the grace period. From a callback it returns at once and s is freed when its
 * last transport goes. Either way s must not be used afterwards; tasks waiting in
 * eddy_protocol_server_wait return 0 first. Returns 0; -EPERM outside the loop's thread (s
 * untouched); NULL: 0. */
EDDY_API int eddy_protocol_server_close(eddy_protocol_server *s);

/* Counters of s. out zeroed for NULL s. */
EDDY_API void eddy_protocol_server_stats(const eddy_protocol_server *s,
                                         struct eddy_protocol_server_stats *out);

#ifdef __cplusplus
}
#endif
#endif
