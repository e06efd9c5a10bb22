/* eddy test library: what the two files of the stream conformance suite share (X3).
 * streamtest.c: reporting, the byte pattern, the writer and reader tasks, nursery helpers and
 * the runner (eddy_check_stream); streamtest_checks.c: the checks and their table.
 * Never installed. */
#ifndef EDDY_STREAMTEST_IMPL_H
#define EDDY_STREAMTEST_IMPL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy.h"
#include "eddy/streamtest.h"

#define EDDY__ST_HIDDEN __attribute__((visibility("hidden")))

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define RBUF (64 * KiB)          /* read buffer of each reader */
#define WCHUNK MiB               /* piece size of the blocking writers */
#define MAX_WRITE (2 * MiB)      /* largest write of the bulk transfer */
#define STUCK_LIMIT ((size_t)256 * MiB) /* a writer that gets this far never blocks */
/* A seed with this bit names a pattern that repeats every WCHUNK bytes: a stuck writer's
 * (start_stuck_writer), which sends STUCK_LIMIT bytes in one call from one WCHUNK buffer.
 * The factory's seed never has it. */
#define PERIODIC ((uint64_t)1 << 63)
#define LEAK_CYCLES 200

typedef struct chk {
    const eddy_stream_factory *f;
    const char *name; /* the check running */
    int err;          /* its first failure */
    eddy_nursery *nu; /* the check's open nursery, if any */
    uint64_t seed;
    size_t volume;
    unsigned char *rbuf; /* the checking task's own read buffer */
} chk;

/* The pair under test; a check that closes an end clears its slot. */
typedef struct pair {
    eddy_stream *s[2];
} pair;

enum { THEN_NONE, THEN_SHUTDOWN, THEN_CLOSE, THEN_END /* shutdown, or close without it */ };

typedef struct wjob {
    chk *c;
    pair *p;
    int idx;          /* the end writing */
    uint64_t seed, off;
    size_t n;         /* bytes to write */
    size_t chunk;     /* bytes per call (0: WCHUNK; the random sizes when rng is set) */
    uint64_t rng;     /* nonzero: random sizes up to MAX_WRITE, every fourth call a writev */
    bool writev;      /* every call is a writev of three pieces (one empty) */
    bool cancellable; /* run inside cs, which the check cancels */
    bool quiet;       /* an error is the expected outcome: record it, do not report */
    bool stuck;       /* n bytes in one call (writev of WCHUNK pieces; seed has PERIODIC) */
    int then;
    eddy_cancel_scope cs;
    size_t written;   /* bytes accepted, over all calls */
    int rc, then_rc;
    bool done;
} wjob;

typedef struct rjob {
    chk *c;
    eddy_stream *s;
    uint64_t seed, off;
    size_t n;
    bool eof;         /* then expect end of stream */
    uint64_t rng;     /* nonzero: random read sizes */
    const char *what; /* names the bytes in reports */
    size_t got;
    int rc;
    bool done;
} rjob;

/* One read, optionally inside a scope the check cancels. */
typedef struct r1job {
    eddy_stream *s;
    unsigned char buf[256];
    bool cancellable;
    eddy_cancel_scope cs;
    ssize_t rc;
    bool done;
} r1job;

/* splitmix64's finaliser: a cheap bijective scramble. */
static inline uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* xorshift64 (*s must start nonzero): reproducible sizes and orders from the seed. */
static inline uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- reporting ---- */

/* rc as "-EPIPE" or "42" in buf. */
EDDY__ST_HIDDEN const char *eddy__st_rcstr(long rc, char *buf, size_t len);
#define RC(rc) eddy__st_rcstr((long)(rc), (char[32]){0}, 32)
/* Report the running check's first failure ("eddy_check_stream: NAME: CHECK: ..."), record
 * code as its result and cancel its nursery. Returns code. */
EDDY__ST_HIDDEN int eddy__st_fail_code(chk *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A failure of the contract. */
#define fail(c, ...) eddy__st_fail_code((c), -EPROTO, __VA_ARGS__)

static inline bool one_way(const chk *c) { return c->f->flags & EDDY_STREAMTEST_ONE_WAY; }
static inline bool half_close(const chk *c)
{
    return !(c->f->flags & EDDY_STREAMTEST_NO_HALF_CLOSE);
}
static inline bool close_flushes(const chk *c)
{
    return c->f->flags & EDDY_STREAMTEST_CLOSE_FLUSHES;
}
static inline bool is_peer_gone(int rc) { return rc == -EPIPE || rc == -ECONNRESET; }

/* ---- the byte pattern and sizes ---- */

/* Bytes [off, off + n) of the stream named by seed: no period a reordering could hide in. */
EDDY__ST_HIDDEN void eddy__st_fill(uint64_t seed, uint64_t off, unsigned char *p, size_t n);
/* Index of the first byte of p that is not the pattern, or n. */
EDDY__ST_HIDDEN size_t eddy__st_mismatch(uint64_t seed, uint64_t off, const unsigned char *p,
                                         size_t n);
/* Log-uniform in [1, max]: as many tiny sizes as huge ones. */
EDDY__ST_HIDDEN size_t eddy__st_rnd_size(uint64_t *s, size_t max);

/* ---- tasks and helpers (each returns 0 or the failure it reported) ---- */

EDDY__ST_HIDDEN int eddy__st_writer_task(void *arg); /* a wjob */
EDDY__ST_HIDDEN int eddy__st_reader_task(void *arg); /* a rjob */
EDDY__ST_HIDDEN int eddy__st_read1_task(void *arg);  /* a r1job */
/* Read exactly n bytes of the pattern (seed, off) from s in the checking task, then end of
 * stream if eof. */
EDDY__ST_HIDDEN int eddy__st_expect(chk *c, eddy_stream *s, uint64_t seed, uint64_t off, size_t n,
                                    bool eof, const char *what);
/* Open the check's nursery (cancelled by a failure); close it, reporting a task's error. */
EDDY__ST_HIDDEN int eddy__st_nopen(chk *c, eddy_nursery *n);
EDDY__ST_HIDDEN void eddy__st_nclose(chk *c, eddy_nursery *n);
/* Spawn fn(arg) in n (h: joinable); join t. */
EDDY__ST_HIDDEN int eddy__st_spawn(chk *c, eddy_nursery *n, int (*fn)(void *), void *arg,
                                   eddy_task **h);
EDDY__ST_HIDDEN int eddy__st_join(chk *c, eddy_task *t);
/* Close (or abort) end i of p and clear its slot. */
EDDY__ST_HIDDEN int eddy__st_end_close(chk *c, pair *p, int i, bool abort_it);
/* Write until the transport notices the peer is gone (why: "closed", "aborted"): the first
 * write after a close may still be accepted; then -EPIPE or -ECONNRESET, twice. */
EDDY__ST_HIDDEN int eddy__st_write_until_error(chk *c, eddy_stream *s, const char *why);

/* ---- the checks ---- */

enum {
    O_FWD = 1u << 0,      /* a writes (or is the subject), b is the peer */
    O_REV = 1u << 1,      /* the same with b and a, when both directions carry bytes */
    O_REV_ONEWAY = 1u << 2, /* the reverse also one way (the check handles it) */
    O_NO_PAIR = 1u << 3,  /* the check makes its own pairs */
    O_BOUNDED = 1u << 4,  /* skipped for EDDY_STREAMTEST_UNBOUNDED */
    O_BUFFERED = 1u << 5, /* skipped for EDDY_STREAMTEST_UNBUFFERED */
};

typedef struct eddy__st_check {
    const char *name;
    int (*fn)(chk *c, pair *p, int x);
    unsigned how;
} eddy__st_check;
/* In the order they run. */
extern const eddy__st_check eddy__st_checks[] EDDY__ST_HIDDEN;
extern const size_t eddy__st_nchecks EDDY__ST_HIDDEN;

#endif
