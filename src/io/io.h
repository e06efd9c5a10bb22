/* eddy io layer internals: descriptor streams and listeners shared by tcp.c, unix sockets,
 * pipes and the server helper. Never installed. */
#ifndef EDDY_IO_INTERNAL_H
#define EDDY_IO_INTERNAL_H

#include "eddy/dns.h"
#include "eddy/net.h"
#include "eddy/stream.h"
#include "internal.h"
#include "loop/op.h"

/* A stream over one non-blocking descriptor (sockets, pipes, ttys, files). Its reads and
 * writes are operations on io (loop/op.h): the backend waits or submits. */
typedef struct eddy__fdstream {
    eddy_stream base;
    eddy__iofd io;    /* io.fd: the descriptor (-1 once a pipe's write end is shut) */
    int saved_fl;     /* F_GETFL before we set O_NONBLOCK, restored on close (-1 = leave) */
    unsigned flags;   /* EDDY_FD_* */
    bool is_sock;
    bool rhint;       /* a read may find data without waiting: false after a short read, so
                         the next read waits for readiness first (EDDY__OP_POLL_FIRST)
                         instead of paying a read() that returns EAGAIN (level-triggered
                         epoll reports data that is already there at once) */
    bool always_ready; /* a regular file or block device: epoll refuses it (EPERM) and
                          reads never wait, so rhint must never turn false */
    unsigned opflags; /* for every operation: EDDY__OP_TRY for what is neither a socket nor
                         a pipe */
    size_t zc_min;    /* writes of at least this many bytes go zero-copy (0: never) */
} eddy__fdstream;

/* Make a descriptor stream over fd, which must already be non-blocking. kind is the vtable
 * kind shown in reports ("tcp", "unix", "fd"). Returns 0 or -ENOMEM (fd untouched). */
EDDY__HIDDEN int eddy__fdstream_new(int fd, bool is_sock, int saved_fl, unsigned flags,
                                    const eddy_stream_vt *vt, const char *site, eddy_stream **out);
/* The vtable used for sockets of kind tcp/unix/fd (same code, different kind strings). */
extern const eddy_stream_vt eddy__fdstream_vt_tcp EDDY__HIDDEN;
extern const eddy_stream_vt eddy__fdstream_vt_unix EDDY__HIDDEN;
extern const eddy_stream_vt eddy__fdstream_vt_fd EDDY__HIDDEN;

struct eddy_listener {
    eddy__iofd io;           /* io.fd: the listening socket */
    int family;
    void *acceptor;          /* task inside accept */
    void *closer;
    char *unlink_path;       /* Unix listeners with unlink-on-close */
    eddy__handle handle;
};

/* getsockname (peer false) or getpeername of fd into *out. 0 or -errno. */
EDDY__HIDDEN int eddy__fd_addr(int fd, eddy_sockaddr *out, bool peer);

/* socket(2) through the test hook (eddy_loop_set_socket_hook): a descriptor or a negative errno. */
EDDY__HIDDEN int eddy__socket(int domain, int type, int protocol);

/* errno values of accept4 that concern only the connection being accepted: skip and retry. */
EDDY__HIDDEN bool eddy__accept_error_is_transient(int e);

EDDY__HIDDEN int eddy__listener_new(int fd, int family, char *unlink_path, const char *site,
                                    eddy_listener **out);

/* The default resolver behind eddy_resolve (dns_cares.c, or dns_default.c without c-ares):
 * host is neither numeric nor "localhost"; same returns as eddy_resolve. */
EDDY__HIDDEN int eddy__resolve_default(const char *host, uint16_t port, int family,
                                       eddy_sockaddr *out, size_t max);

/* Test hook: how the calling thread's loop builds its c-ares channel, in place of the system's
 * configuration (NULL restores it). Takes effect at the next query: the loop's current channel,
 * if any, is dropped. Returns 0; -EBUSY while a query (abandoned ones included) is in flight;
 * -EPERM outside a loop; -ENOTSUP when eddy is built without c-ares. */
typedef struct eddy__dns_conf {
    const char *resolvconf; /* read instead of /etc/resolv.conf (NULL: /dev/null), by c-ares
                               and for its timeout and attempts (eddy__resolv_options) */
    const char *servers;    /* NULL, or "127.0.0.1:5300,..." replacing resolvconf's servers */
    uint16_t port;          /* UDP and TCP port of servers named without one (0: 53) */
    int timeout_ms, tries;  /* first-try timeout and tries per server, in place of resolvconf's
                               timeout and attempts (0: from resolvconf and $RES_OPTIONS) */
    bool env_hosts;         /* the hosts file named by $CARES_HOSTS instead of /etc/hosts */
} eddy__dns_conf;
EDDY__HIDDEN int eddy__dns_configure(const eddy__dns_conf *conf);
/* Queries the calling thread's loop has in flight in c-ares, abandoned ones included. */
EDDY__HIDDEN size_t eddy__dns_pending(void);
/* For tests: the timeout (ms), tries and server count of the calling thread's loop's c-ares
 * channel, made now if it does not exist yet. Returns 0; the errors of making the channel;
 * -EPERM outside a loop; -ENOTSUP without c-ares. */
EDDY__HIDDEN int eddy__dns_channel_info(int *timeout_ms, int *tries, int *nservers);

/* The lookup timeout and attempts glibc's resolver would use: `options timeout:N attempts:N`
 * from the resolv.conf at path (NULL or unreadable: none), then from env (the value of
 * $RES_OPTIONS, NULL for none), over the defaults 5 s and 2 attempts (dns_conf.c has the
 * rules). Returns 0 and *out; -ENOMEM (a line too long for memory). */
typedef struct eddy__resolv_opts {
    int timeout_ms; /* 1000..30000 */
    int attempts;   /* 1..5 */
} eddy__resolv_opts;
EDDY__HIDDEN int eddy__resolv_options(const char *path, const char *env, eddy__resolv_opts *out);

/* For transports with operations of their own (descriptor passing): enter s as its reader,
 * with exactly the checks and bookkeeping of eddy_stream_read (task, cancellation, closing,
 * -EBUSY reader). 0 or a negative errno; on 0 eddy__stream_end_read must follow. */
EDDY__HIDDEN int eddy__stream_begin_read(eddy_stream *s);
EDDY__HIDDEN void eddy__stream_end_read(eddy_stream *s);

/* The writer turn of eddy_stream_write, for operations that write through a path of their
 * own (eddy_sendfile) and must not interleave with concurrent writers (N8).
 * write_begin: the checks of eddy_stream_write (cancellation, closing, shut down), then wait
 * for the FIFO turn. Returns 0 with the turn held and the caller counted as a user of s
 * (close waits for it), or the errors of eddy_stream_write with nothing held.
 * write_held: write all len bytes with the turn held; *written gets the count, also on
 * error. Returns 0 or the errors of eddy_stream_write.
 * write_end: pass the turn to the next writer and leave s (wakes a waiting close). */
EDDY__HIDDEN int eddy__stream_write_begin(eddy_stream *s);
EDDY__HIDDEN int eddy__stream_write_held(eddy_stream *s, const void *buf, size_t len,
                                         size_t *written);
EDDY__HIDDEN void eddy__stream_write_end(eddy_stream *s);

/* eddy_tcp_connect_addr, bound to local first when local is not NULL (same family as a, else
 * -EAFNOSUPPORT); the errors of bind(2) besides those of eddy_tcp_connect_addr. */
EDDY__HIDDEN int eddy__tcp_connect_from(const eddy_sockaddr *a, const eddy_sockaddr *local,
                                        eddy_stream **out, const char *site);

#endif
