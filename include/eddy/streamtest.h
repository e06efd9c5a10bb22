/* eddy — the stream conformance suite (X3), in the test library (link libeddy_test).
 *
 * Every eddy_stream implementation must behave the same way: the contracts of stream.h are
 * the transport's contract too. eddy_check_stream runs a battery of checks against pairs of
 * connected streams made by a factory, so the built-in transports (TCP, Unix sockets, pipes,
 * descriptor streams, memory pairs) and a library user's own stream (a TLS or framing layer
 * stacked on another stream) are held to the same rules:
 *
 *   static int make(void *ctx, eddy_stream **a, eddy_stream **b)
 *   {
 *       return eddy_memstream_pair(a, b, NULL);
 *   }
 *   EDDY_TEST(mem_conforms)
 *   {
 *       eddy_stream_factory f = EDDY_STREAM_FACTORY_INIT;
 *       f.name = "mem";
 *       f.make = make;
 *       EDDY_OK(eddy_check_stream(&f));
 *       return 0;
 *   }
 */
#ifndef EDDY_STREAMTEST_H
#define EDDY_STREAMTEST_H

#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a transport cannot do; a zeroed set means "everything TCP does". */
enum {
    /* Bytes go from a to b only (a pipe: a is the write end, b the read end). The checks of
     * the reverse direction are skipped and every check runs in that orientation only. */
    EDDY_STREAMTEST_ONE_WAY = 1u << 0,
    /* eddy_stream_shutdown_write is not supported: it must return -ENOTSUP and leave the
     * stream usable; end-of-stream is then signalled by closing. */
    EDDY_STREAMTEST_NO_HALF_CLOSE = 1u << 1,
    /* An abort cannot always be told from a close (Unix sockets, pipes): the peer's read
     * may give 0 instead of -ECONNRESET. */
    EDDY_STREAMTEST_NO_RESET = 1u << 2,
    /* Writes never block (no bounded buffer between the ends): the checks that need a
     * writer stuck on a full buffer (cancelled_write and the *_blocked_write ones) are
     * skipped. Without this flag a writer that gets 256 MiB into a peer that does not read
     * without blocking is a failure. */
    EDDY_STREAMTEST_UNBOUNDED = 1u << 3,
    /* No buffer at all (eddy_lockstep_pair): a write returns only once the peer has read
     * it. close_unread (which needs one byte to wait unread) is skipped, and the leak cycles
     * make and close pairs without moving bytes through them. */
    EDDY_STREAMTEST_UNBUFFERED = 1u << 4,
    /* A graceful close and shutdown_write have bytes of their own to get through a bounded
     * buffer (a layer with its own framing over another stream: TLS sends the tail of a
     * cancelled write and close_notify through its inner stream), so with a writer stuck on
     * a full buffer they return only once the peer reads. close_blocked_write and
     * shutdown_after_cancelled then read from the peer while the close or the shutdown
     * waits, instead of after it returned; they check the same bytes and results. */
    EDDY_STREAMTEST_CLOSE_FLUSHES = 1u << 5,
};

typedef struct eddy_stream_factory {
    const char *name; /* shown in every failure report */
    /* Make a connected pair: what *a writes *b reads and, unless EDDY_STREAMTEST_ONE_WAY,
     * the other way round. Called from the checking task (it may block); each pair is closed
     * by the checks. Returns 0 or a negative errno (the checks stop and return it). */
    int (*make)(void *ctx, eddy_stream **a, eddy_stream **b);
    void *ctx;
    unsigned flags;     /* EDDY_STREAMTEST_* */
    const char *kind;   /* eddy_stream_kind of both ends must be this; NULL: any non-empty */
    size_t volume;      /* bytes sent each way by the bulk transfer; 0: 4 MiB */
    int64_t timeout;    /* each check runs in a fail-after scope of this long (a duration,
                           docs/api.md: 0 is now, so every check that blocks times out);
                           EDDY_FOREVER: none (for kernel transports on the virtual clock,
                           where a guard timer could be jumped to while the kernel still
                           delivers: a hang is then left to the caller's own limit);
                           EDDY_STREAM_FACTORY_INIT: EDDY_SEC(60) */
    uint64_t seed;      /* varies the transfer sizes and the byte pattern; 0: a fixed one */
} eddy_stream_factory;
/* A factory with every option at its default (timeout 60 s, the others zero): set name and
 * make (and what your transport needs) after it. A plain brace initializer (C and C++). */
#define EDDY_STREAM_FACTORY_INIT {NULL, NULL, NULL, 0, NULL, 0, EDDY_SEC(60), 0}

/* X3: check that the streams f makes keep the stream contract. Runs in the calling task,
 * each check on a fresh pair, and continues after a failure so that one report names every
 * check that failed (one line each on stderr: "eddy_check_stream: NAME: CHECK: what"):
 *   kind_fd          eddy_stream_kind is a non-empty string (f->kind if given);
 *                    eddy_stream_fd is -1 or an open descriptor, distinct for the two ends
 *   zero_length      reads and writes of 0 bytes return 0 at once and move nothing
 *   transfer         f->volume bytes each way at once, in writes and writev calls of random
 *                    sizes up to 2 MiB and reads of random sizes, arrive intact and in order
 *   eof_after_close  after a graceful close the peer reads every byte, then 0, again 0
 *   close_unread     a graceful close by an end that left bytes unread still delivers what
 *                    it wrote; the peer then reads 0 or -ECONNRESET (sockets reset then)
 *   half_close       shutdown_write waits for the writer ahead of it, the peer reads its
 *                    bytes then 0, a later write gives -EPIPE, the other direction still
 *                    works (or -ENOTSUP and a usable stream with NO_HALF_CLOSE)
 *   closed_peer      writes to a peer that closed give -EPIPE or -ECONNRESET (again on the
 *                    next write), never SIGPIPE; a read gives 0 or -ECONNRESET
 *   abort            the peer of an aborted stream reads -ECONNRESET (0 allowed with
 *                    NO_RESET), and its writes fail with -EPIPE or -ECONNRESET
 *   writers_fifo     four concurrent writers (one with writev) each arrive contiguous, in
 *                    the order they called (N8)
 *   busy_reader      a second concurrent reader gets -EBUSY; the first still gets the data
 *   cancelled_read   a read cancelled while blocked, or called in a cancelled scope with
 *                    data waiting, consumes nothing: the data is read intact afterwards
 *   cancelled_write  a writer (writev) cancelled part-way reports in written exactly the
 *                    bytes the peer reads before the next write's; a writer and a
 *                    shutdown_write cancelled while queued behind it do nothing
 *   shutdown_after_cancelled
 *                    a shutdown_write queued behind a writer that is then cancelled goes
 *                    ahead: the peer reads exactly the writer's reported bytes, then 0
 *   cancel_storm     eight writers, cancelled at random moments while a reader drains the
 *                    stream: it holds exactly each one's reported bytes, in call order
 *   close_blocked_read, abort_blocked_read
 *                    closing (in a cancelled scope: not a cancellation point) or aborting a
 *                    stream another task is blocked reading wakes it with -EBADF and
 *                    returns only after it left
 *   close_racing_data, close_racing_eof, close_racing_reset
 *                    a blocked reader woken by data, by the peer's close or by its abort,
 *                    whose stream is closed before it ran, gets -EBADF
 *   close_blocked_write, abort_blocked_write
 *                    the same for a writer stuck on a full buffer (and a shutdown_write
 *                    queued behind it); after the close the peer reads exactly the bytes
 *                    the writer reported, then 0
 * (A writer "stuck on a full buffer" writes 256 MiB in one writev call, which cannot end
 * before the peer reads; what a check queues behind it waits for that call, whether the
 * writer is blocked yet or only suspended while the transport's buffer still grows.)
 *   close_racing_write_peer_close, close_racing_write_peer_abort
 *                    a writer stuck on a full buffer, woken by the peer's close or abort,
 *                    whose stream is closed before it ran, gets -EBADF
 *   peer_closed_blocked_write, peer_aborted_blocked_write
 *                    a writer stuck on a full buffer wakes with -EPIPE or -ECONNRESET when
 *                    the peer closes or aborts
 *   peer_aborted_blocked_read
 *                    a reader waiting for data wakes with -ECONNRESET (0 allowed with
 *                    NO_RESET) when the peer aborts
 *   callback         read, write, writev and shutdown_write from callback context give
 *                    -EPERM; close there while a task is inside gives -EBUSY; the stream
 *                    is untouched
 *   abort_from_callback
 *                    an abort from callback context while a task reads takes effect at
 *                    once: the reader wakes with -EBADF, the stream is freed once it left,
 *                    the peer sees the abort as in "abort"
 *   leaks            200 pair create/use/close (and abort) cycles leave the number of open
 *                    descriptors (/proc/self/fd, when mounted) and of allocated heap bytes
 *                    (mallinfo2; ignored by allocators that do not report it) unchanged
 * Checks that work in both directions run a second time with the ends swapped (reported as
 * "CHECK (ends swapped)"). Only a check's first failure is reported: the rest are mostly its
 * echoes. SIGPIPE is blocked while the checks run; one raised at the default disposition
 * (which would have killed the process) is a failure, one raised while the process ignores
 * or handles it is discarded.
 * Returns 0 if every check passed; otherwise the first failure: -EPROTO for behaviour that
 * breaks the contract (wrong bytes, a wrong count or error code, a writer that never blocks,
 * a leak), -ETIMEDOUT for a check that did not finish within f->timeout, or the error of
 * f->make (the checks stop there: nothing more can be checked); -ENOMEM if the checks'
 * buffers or tasks cannot be had; -EINVAL for NULL f or f->make, a negative f->timeout, or a
 * make that returned 0
 * without two streams (the checks stop); -EPERM outside a task
 * (callback context included). A check that hangs in eddy_stream_close (an implementation whose
 * interrupt does not wake a blocked task) cannot be ended by the timeout: close is not a
 * cancellation point. */
EDDY_WUR int eddy_check_stream(const eddy_stream_factory *f);

#ifdef __cplusplus
}
#endif
#endif
