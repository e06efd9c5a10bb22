/* eddy — the stream interface (N6, N8) and descriptor streams (P3).
 *
 * One vtable, implemented by TCP and Unix sockets, pipes and stdio (eddy_fd_stream), the
 * in-memory pair of the test layer and, later, TLS. Every operation is a blocking call made
 * from a task: a cancellation point that suspends only the calling task.
 *
 * Ownership: a stream is created by a constructor (eddy_fd_stream, eddy_tcp_connect,
 * eddy_listener_accept, ...) and released by exactly one eddy_stream_close or
 * eddy_stream_abort, which free it (see each for exactly when). A stream still open when
 * eddy_run returns is reported as a leak with its creation site.
 *
 * Concurrency on one stream: one reader at a time (a second concurrent read gets -EBUSY, as
 * trio's BusyResourceError: interleaved readers would see arbitrary pieces); any number of
 * writers, served in FIFO order, each eddy_stream_write_all's bytes kept contiguous (N8).
 * Closing a stream that other tasks are reading or writing wakes them with -EBADF and returns
 * once they have left the stream. */
#ifndef EDDY_STREAM_H
#define EDDY_STREAM_H

#include <sys/types.h>
#include <sys/uio.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_stream eddy_stream;

/* What an implementation provides. Each blocking op is called from a task, with the stream's
 * bookkeeping (busy reader, FIFO writers, closed flag) already handled by the public calls. */
typedef struct eddy_stream_vt {
    const char *kind; /* "tcp", "unix", "fd", "mem": shown in leak reports and eddy_dump */
    /* Read up to len (> 0) bytes, blocking until at least one is available: the count, 0 at
     * end of stream, or a negative errno (the cancel code when cancelled). */
    ssize_t (*read)(eddy_stream *s, void *buf, size_t len);
    /* Write up to len (> 0) bytes, blocking until at least one is accepted: the count or a
     * negative errno. Nothing was written when it returns an error. */
    ssize_t (*write)(eddy_stream *s, const void *buf, size_t len);
    /* Send end-of-stream to the peer (FIN); reads stay possible. 0 or a negative errno. */
    int (*shutdown_write)(eddy_stream *s);
    /* Wake every task blocked inside read/write of s with -EBADF (close is coming). */
    void (*interrupt)(eddy_stream *s);
    /* Release everything and free s. graceful: normal close (queued data still goes out);
     * otherwise abort (TCP: RST). Returns 0 or the close error (the stream is freed anyway). */
    int (*close)(eddy_stream *s, bool graceful);
    /* The underlying descriptor, or -1 (optional: NULL means none). */
    int (*fd)(eddy_stream *s);
    /* Optional gather write: like write, over iovcnt (1..16) non-empty pieces in one call
     * (one sendmsg for a frame's header and payload). NULL: eddy_stream_writev calls write
     * once per piece. */
    ssize_t (*writev)(eddy_stream *s, const struct iovec *iov, int iovcnt);
    /* Optional scatter read: like read, into iovcnt (1..IOV_MAX) pieces with at least one
     * byte in all, filled in order. NULL: eddy_stream_readv reads into its first non-empty
     * piece only. */
    ssize_t (*readv)(eddy_stream *s, const struct iovec *iov, int iovcnt);
} eddy_stream_vt;

/* The part every stream starts with. Implementations embed it first; fields are private. */
struct eddy_stream {
    const eddy_stream_vt *vt;
    eddy__link writers;  /* writers waiting for their FIFO turn */
    void *reader;        /* the task inside read, or NULL */
    void *writer;        /* the task inside write, or NULL */
    void *closer;        /* the task waiting in close for readers/writers to leave */
    unsigned users;      /* tasks inside a read or write */
    bool closing;
    bool aborting;       /* an abort was asked for: the close that ends s resets */
    bool wr_shut;
    eddy__handle handle;
};

/* For implementations: initialise the common part (registers the leak-tracking handle).
 * Call on the loop thread. */
#define eddy_stream_init(s, vt) eddy__stream_init((s), (vt), EDDY__SITE)
EDDY_API void eddy__stream_init(eddy_stream *s, const eddy_stream_vt *vt, const char *site);

/* N6: read up to len bytes into buf, suspending until at least one byte is there.
 * Returns the count (> 0); 0 at end of stream (or for len == 0); -EBUSY if another task is
 * reading this stream; -EBADF if the stream is being closed (also when data, end of stream
 * or an error woke the read just before the close, on every transport); -ECANCELED/
 * -ETIMEDOUT if cancelled (no byte was consumed); -EPERM outside a task; -EINVAL if s or buf is NULL; the
 * transport's errors (-ECONNRESET, -ETIMEDOUT from TCP keep-alive, -EIO, -ENOMEM from the
 * kernel's receive, ...); -ENOMEM/-ENOSPC when the loop cannot register the descriptor to wait
 * for data (epoll's watch limit). */
EDDY_API EDDY_WUR ssize_t eddy_stream_read(eddy_stream *s, void *buf, size_t len);

/* R3: eddy_stream_read into the iovcnt pieces of iov (a scatter read: one system call for a
 * frame's header and payload buffers, say), filled in order, suspending until at least one
 * byte is there. Returns the count over all pieces (> 0); 0 at end of stream, or when the
 * pieces hold no byte at all (then only a checkpoint, as eddy_stream_read with len 0); the
 * errors of eddy_stream_read; -EINVAL also for iovcnt < 0 or > IOV_MAX, iov NULL with
 * iovcnt > 0, or a piece with a NULL base and a non-zero length. A transport without a scatter
 * read (memory streams) fills the first non-empty piece only: a short read, as any read may
 * be. Cancellation: -ECANCELED/-ETIMEDOUT with no byte consumed. */
EDDY_API EDDY_WUR ssize_t eddy_stream_readv(eddy_stream *s, const struct iovec *iov, int iovcnt);

/* N8: write all len bytes, suspending until the transport has accepted them (no user-space
 * queue: back-pressure reaches the writer). Concurrent writers are served FIFO and each
 * call's bytes stay contiguous. If written is non-NULL it receives how many bytes were
 * accepted, also when an error is returned: a cancelled write loses no byte it reported.
 * Returns 0; -ECANCELED/-ETIMEDOUT if cancelled (while waiting for its turn or part-way);
 * -EPIPE after eddy_stream_shutdown_write or when the peer has closed; -ECONNRESET; -EBADF if
 * the stream is being closed (also when the peer's close or reset woke the write just before
 * the close); -ENOBUFS/-ENOMEM when the kernel has no memory for the data (the bytes counted
 * in written were accepted, the rest were not); -ENOSPC when the loop cannot register the
 * descriptor to wait for room; -EPERM outside a task; -EINVAL if s is NULL, or buf is NULL
 * with len > 0. SIGPIPE never fires. */
EDDY_API EDDY_WUR int eddy_stream_write(eddy_stream *s, const void *buf, size_t len, size_t *written);
/* eddy_stream_write without the count. Same returns. */
EDDY_API EDDY_WUR int eddy_stream_write_all(eddy_stream *s, const void *buf, size_t len);
/* N8: eddy_stream_write of the iovcnt pieces of iov as one contiguous write: concurrent
 * writers cannot come between the pieces (a frame header and its payload, without copying
 * them together). written counts the bytes accepted over all pieces. Same returns as
 * eddy_stream_write; -EINVAL also for iovcnt < 0, iov NULL with iovcnt > 0, or a piece with
 * a NULL base and a non-zero length. */
EDDY_API EDDY_WUR int eddy_stream_writev(eddy_stream *s, const struct iovec *iov, int iovcnt,
                                         size_t *written);

/* Half-close: the peer reads end-of-stream; this side can still read. Waits for writers
 * ahead of it (FIFO) so their bytes go first. Returns 0 (also when already shut);
 * -ENOTSUP if the transport cannot half-close (a read-write tty); -ECANCELED/-ETIMEDOUT if
 * cancelled while waiting for writers; -EBADF while closing; -EINVAL; transport errors
 * (-ENOTCONN). */
EDDY_API EDDY_WUR int eddy_stream_shutdown_write(eddy_stream *s);

/* B8: graceful close: data already written is still delivered (TCP: FIN after it). A socket
 * (TCP, Unix) that still holds unread incoming data resets the connection instead (the
 * kernel's rule): the peer reads what had arrived, then -ECONNRESET, and on a real network
 * bytes still in flight may be lost; read to end of stream first for a clean close. Tasks
 * blocked on s are woken with -EBADF first; returns once none of them touches s and the
 * kernel no longer holds the caller's memory. Not a cancellation point.
 * When s is gone: on return, for 0 and for the transport's close error (-EIO): s is freed in
 * both cases (an eddy_stream_abort made while this close waited for the tasks inside turns it
 * into an abort). Only two results leave s alive, which is why the result must be read:
 * -EBUSY when called outside a task (callback context) while tasks are inside s (it cannot
 * wait for them; s is untouched: close it from a task, or abort it); -EBADF when a close or
 * an abort of s is already under way (that one ends s; this call changed nothing). NULL: 0. */
EDDY_API EDDY_WUR int eddy_stream_close(eddy_stream *s);
/* B8: abort: discard unsent data and reset the connection (TCP: RST). Always takes effect,
 * and s must not be used after it. From a task, as eddy_stream_close: tasks blocked on s get
 * -EBADF, and s is freed before this returns, once they have left. From a callback while
 * tasks are inside s (a callback cannot wait): s is marked aborted, those tasks are woken
 * with -EBADF (a read or write they start later is refused the same way), and the last of
 * them to leave s frees it. During a close of s that waits for the tasks inside, it turns
 * that close into an abort (the close frees s). NULL: no-op. */
EDDY_API void eddy_stream_abort(eddy_stream *s);

/* R3/N12: zero-copy sends for the large writes of a TCP stream: a write (or a piece of a
 * writev) of at least min_bytes goes from the caller's buffer itself — io_uring SEND_ZC, or
 * MSG_ZEROCOPY on epoll — and returns only once the kernel has let go of the buffer (its
 * completion notice has come), so the buffer may be reused as soon as the call returns, as
 * with any write. 0 turns it off (the default). It pays for large writes to a real network
 * device (tens of KiB and up); on loopback the kernel copies anyway, and the notice costs a
 * little (docs/benchmarks.md has the figures). A kernel without it sends by copying.
 * A zero-copy write waits for the peer to acknowledge its bytes (their pages are the
 * kernel's until then), and TCP can take queued bytes back only by resetting the connection.
 * So cancelling a write whose bytes are still held resets the connection (the peer sees
 * ECONNRESET after what it had already received), the write returns the cancel code, and
 * written counts only the pieces released before it — the peer may have got some of the rest;
 * a write cancelled before the kernel took any byte ends as any other, the stream intact.
 * For the same reason a close (or abort) of s made while a zero-copy write is in progress
 * resets the connection: the writer returns -EBADF at once, as any interrupted writer does,
 * and bytes still queued in the kernel, of this write or earlier ones, are dropped — a close
 * must not wait for a peer that may never read.
 * Returns 0; -EINVAL if s is NULL; -ENOTSUP for a stream that is not TCP; -EBADF while it is
 * being closed; the error of setsockopt(SO_ZEROCOPY) (a kernel older than 4.14: -ENOPROTOOPT). */
EDDY_API EDDY_WUR int eddy_stream_set_zerocopy(eddy_stream *s, size_t min_bytes);

/* The descriptor under s, or -1 (memory streams, NULL). For socket options and sendfile;
 * do not close it. */
EDDY_API int eddy_stream_fd(eddy_stream *s);
/* The implementation's kind string ("tcp", "unix", "fd", "mem", ...). */
EDDY_API const char *eddy_stream_kind(const eddy_stream *s);

/* ---- P3: descriptors as streams -------------------------------------------------------- */

enum {
    EDDY_FD_NOCLOSE = 1u << 0, /* closing the stream leaves fd open (stdio, borrowed fds) */
};

/* Wrap an open descriptor (pipe, socket, tty, character device, regular file) as a stream.
 * Sets O_NONBLOCK and restores the previous flags when the stream is closed; the stream owns
 * fd (closes it) unless EDDY_FD_NOCLOSE. Regular files are always ready (reads and writes go
 * straight to the kernel; use the file layer for asynchronous file I/O). Writing to a pipe
 * whose reader is gone gives -EPIPE: SIGPIPE is set to ignored if it was at its default.
 * Returns 0 and *out; -EBADF if fd is not open; -EINVAL if out is NULL; -ENOMEM; -EPERM
 * outside a loop thread. */
#define eddy_fd_stream(fd, flags, out) eddy__fd_stream((fd), (flags), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__fd_stream(int fd, unsigned flags, eddy_stream **out, const char *site);

/* P3: a new pipe (pipe2 with O_CLOEXEC|O_NONBLOCK) as two "fd" streams: bytes written to
 * *wr are read from *rd. eddy_stream_shutdown_write(*wr) closes the write end, so *rd reads
 * end-of-stream once the bytes before it are read; writing to *wr after *rd is closed gives
 * -EPIPE (never SIGPIPE, see eddy_fd_stream). Both pointers get a stream or, on failure, NULL.
 * Returns 0; -EINVAL for NULL arguments; -EMFILE/-ENFILE; -ENOMEM; -EPERM outside a loop
 * thread. */
#define eddy_pipe(rd, wr) eddy__pipe((rd), (wr), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__pipe(eddy_stream **rd, eddy_stream **wr, const char *site);

/* P3: standard input and output as streams (EDDY_FD_NOCLOSE: closing them leaves 0 and 1
 * open, their flags restored). Either pointer may be NULL. Returns 0; the errors of
 * eddy_fd_stream (a stream already made is closed again on failure). */
EDDY_API EDDY_WUR int eddy_stdio(eddy_stream **in, eddy_stream **out);

#ifdef __cplusplus
}
#endif
#endif
