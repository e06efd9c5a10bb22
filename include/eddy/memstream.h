/* eddy — in-memory stream pairs for tests (X3).
 *
 * eddy_memstream_pair makes two connected eddy_streams, like a socketpair but without the
 * kernel: what one end writes the other reads. Each direction has a fixed-size buffer, so a
 * writer whose peer does not read blocks (back-pressure, N8) and memory stays bounded. The
 * ends follow TCP's end-of-stream rules: eddy_stream_shutdown_write or a graceful close makes
 * the peer read 0 after the data; writing to a peer that closed gives -EPIPE; an abort (or an
 * injected reset) gives the peer -ECONNRESET.
 *
 * "Evil" hooks make the pair behave like a hostile network for the code under test: reads that
 * deliver one byte at a time, writes that accept a few bytes per call, virtual-clock delays on
 * every read and write, and a connection reset after a given number of bytes. Delays use
 * eddy_sleep, so under the test runner's virtual clock they cost no real time.
 *
 * eddy_lockstep_pair makes a pair with no buffer at all, for tests that must know exactly
 * when bytes move: every write waits for the peer's reads.
 *
 * Every wait inside a memory stream (for data, for buffer space, for a delay) is a
 * cancellation point of the eddy_stream call that made it; the stream calls' contracts
 * (stream.h) hold unchanged: a cancelled read consumed nothing, a cancelled write reports in
 * its written count exactly the bytes the peer will read. */
#ifndef EDDY_MEMSTREAM_H
#define EDDY_MEMSTREAM_H

#include "base.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default capacity of each direction's buffer. */
#define EDDY_MEMSTREAM_DEFAULT_CAP (64 * 1024)

/* Behaviour of a pair; zeroed fields mean "normal" (no delay, default capacity, no limits).
 * The same hooks apply to both ends. Delays are durations (docs/api.md): negative is
 * -EINVAL, EDDY_FOREVER blocks until cancelled. */
typedef struct eddy_memstream_hooks {
    size_t capacity;     /* bytes buffered per direction; 0: EDDY_MEMSTREAM_DEFAULT_CAP */
    size_t max_read;     /* a read delivers at most this many bytes (1: 1-byte reads); 0: any */
    size_t max_write;    /* a write call accepts at most this many bytes; 0: any. Whole
                            eddy_stream_write_all calls still complete, in more pieces. */
    int64_t read_delay;  /* each read sleeps this long first (virtual clock under tests) */
    int64_t write_delay; /* each write piece sleeps this long before its bytes are accepted */
    /* Reset the connection once this many bytes in total (both directions) have been
     * written; 0: never. The write that reaches the count accepts bytes up to it, later ones
     * fail. After the reset every read on either end returns the bytes that were already
     * written towards it, then -ECONNRESET; every write returns -ECONNRESET. */
    uint64_t reset_after;
} eddy_memstream_hooks;

/* X3: make a connected pair of memory streams in *a and *b (kind "mem"). hooks may be NULL
 * (all defaults); it is copied. Each end is closed (or aborted) on its own with
 * eddy_stream_close / eddy_stream_abort; the memory is freed when both are. Call on a loop
 * thread (the ends are leak-tracked like any stream).
 * End of a connection, seen from the peer: after eddy_stream_close it reads the bytes still
 * buffered towards it, then 0, and its writes fail with -EPIPE (bytes it had sent that the
 * closed end never read are dropped; unlike TCP this sends no reset); after
 * eddy_stream_abort its reads and writes fail with -ECONNRESET at once (unread bytes towards
 * it are dropped) and eddy_stream_shutdown_write gives -ENOTCONN, as after a reset hook.
 * Returns 0; -EINVAL if a or b is NULL, a == b, or a delay is negative; -ENOMEM; -EPERM
 * outside a loop thread. *a and *b are NULL on failure. */
/* (Variadic so that a compound literal with several fields can be passed as the hooks.) */
#define eddy_memstream_pair(a, b, ...) eddy__memstream_pair((a), (b), (__VA_ARGS__), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__memstream_pair(eddy_stream **a, eddy_stream **b,
                                           const eddy_memstream_hooks *hooks, const char *site);

/* Bytes written by s's peer that s has not read yet (what a read would find at once), or 0
 * if s is NULL or not a memory stream. For tests that check memory stays bounded. */
EDDY_API size_t eddy_memstream_pending(const eddy_stream *s);

/* X3: make a connected pair of streams with no buffer at all in *a and *b (kind "lockstep",
 * after trio's lockstep_stream_pair), so that a test can say exactly which task is blocked in
 * which call and when bytes move. A write is a rendezvous: it blocks until the peer's reads
 * have taken every byte of it. A read returns min(len, what the blocked writer still offers),
 * copied straight from the writer's buffer; with no writer it blocks. So a read never gets
 * bytes of two write calls (or of two pieces of one eddy_stream_writev). Concurrent writers
 * on one end are served FIFO, each call's bytes contiguous (stream.h).
 * What the stream calls leave behind: a cancelled (or closed, -EBADF) write reports in
 * written exactly the bytes the peer's reads took, and the peer reads none of the rest; a
 * cancelled read consumed nothing (the writer stays blocked, offering all it did before).
 * End of a connection, seen from the peer: after eddy_stream_shutdown_write or
 * eddy_stream_close its reads return 0 (nothing can be pending: a writer still blocked would
 * have been woken with -EBADF by the close), and after a close its writes fail with -EPIPE,
 * a write it had blocked keeping in written what the closed end had read; after
 * eddy_stream_abort its reads and writes fail with -ECONNRESET and eddy_stream_shutdown_write
 * with -ENOTCONN. Each end is closed on its own; the pair's one allocation is freed when both
 * are. Returns 0; -EINVAL if a or b is NULL or a == b; -ENOMEM; -EPERM outside a loop
 * thread. *a and *b are NULL on failure. */
#define eddy_lockstep_pair(a, b) eddy__lockstep_pair((a), (b), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__lockstep_pair(eddy_stream **a, eddy_stream **b, const char *site);

/* The bytes a writer blocked on s's peer still offers (what a read of s would get at once),
 * or 0 if no writer is blocked, or s is NULL or not a lockstep stream. For tests that check
 * when bytes move. */
EDDY_API size_t eddy_lockstep_pending(const eddy_stream *s);

#ifdef __cplusplus
}
#endif
#endif
