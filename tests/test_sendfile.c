/* eddy_sendfile (N12): sendfile(2) over TCP loopback, offsets and lengths, end of file, bad
 * descriptors, cancellation with a peer that stops reading, the writer turn shared with
 * eddy_stream_write, and the copying fallback (a pipe, a stream without a descriptor). */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/test.h"
#include "test_tcp_util.h"

#define FILE_SIZE (3u * 1024 * 1024 + 777) /* a few MiB, not a multiple of any buffer */
#define BIG (FILE_SIZE * 4)                 /* more than loopback socket buffers hold */

static unsigned char pattern_at(size_t i) { return (unsigned char)((i * 131u + (i >> 13)) & 0xff); }

/* A regular file with FILE_SIZE pattern bytes, already unlinked. */
static int make_file(size_t size)
{
    char path[] = "/tmp/eddy_sendfile_XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    EDDY_CHECK(unlink(path) == 0);
    unsigned char buf[8192];
    for (size_t off = 0; off < size;) {
        size_t n = size - off < sizeof buf ? size - off : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = pattern_at(off + i);
        EDDY_CHECK_EQ(write(fd, buf, n), (ssize_t)n);
        off += n;
    }
    return fd;
}

/* A connected TCP pair over 127.0.0.1. */
/* Reads a stream to its end into a heap buffer; checks it against the pattern. */
typedef struct sink {
    eddy_stream *s;
    unsigned char *buf;
    size_t cap, len;
    int rc;
} sink;

static int sink_task(void *p)
{
    sink *k = p;
    for (;;) {
        if (k->len == k->cap) {
            k->cap = k->cap ? k->cap * 2 : 65536;
            k->buf = realloc(k->buf, k->cap);
            EDDY_CHECK(k->buf != NULL);
        }
        ssize_t n = eddy_stream_read(k->s, k->buf + k->len, k->cap - k->len);
        if (n <= 0) {
            k->rc = (int)n;
            return 0;
        }
        k->len += (size_t)n;
    }
}

static void check_pattern(const unsigned char *buf, size_t len, size_t from)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern_at(from + i))
            eddy_test_fail(__FILE__, __LINE__, "byte %zu differs: %u != %u", i, buf[i],
                           pattern_at(from + i));
}

typedef struct sender {
    eddy_stream *s;
    int fd;
    off_t off;
    size_t len, sent;
    int rc;
    bool close_after;
} sender;

static int sender_task(void *p)
{
    sender *x = p;
    x->rc = eddy_sendfile(x->s, x->fd, x->off, x->len, &x->sent);
    if (x->close_after) EDDY_OK(eddy_stream_close(x->s));
    return 0;
}

/* Send [off, off+len) over TCP while a peer reads; returns what the peer got. */
static void transfer(int fd, off_t off, size_t len, sink *k, sender *x)
{
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    *k = (sink){.s = b};
    *x = (sender){.s = a, .fd = fd, .off = off, .len = len, .close_after = true};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sink_task, k));
        EDDY_OK(eddy_spawn(n, sender_task, x));
    }
    EDDY_OK(rc);
    EDDY_OK(eddy_stream_close(b));
    EDDY_CHECK_EQ(k->rc, 0);
}

EDDY_TEST(sendfile_tcp_whole_file)
{
    int fd = make_file(FILE_SIZE);
    sink k;
    sender x;
    transfer(fd, 0, 0, &k, &x);
    EDDY_OK(x.rc);
    EDDY_CHECK_EQ(x.sent, FILE_SIZE);
    EDDY_CHECK_EQ(k.len, FILE_SIZE);
    check_pattern(k.buf, k.len, 0);
    /* The file position is not used or moved. */
    EDDY_CHECK_EQ(lseek(fd, 0, SEEK_CUR), FILE_SIZE);
    free(k.buf);
    close(fd);
    return 0;
}

EDDY_TEST(sendfile_tcp_offset_and_len)
{
    int fd = make_file(FILE_SIZE);
    EDDY_CHECK_EQ(lseek(fd, 5, SEEK_SET), 5);
    sink k;
    sender x;
    transfer(fd, 12345, 1000001, &k, &x);
    EDDY_OK(x.rc);
    EDDY_CHECK_EQ(x.sent, 1000001);
    EDDY_CHECK_EQ(k.len, 1000001);
    check_pattern(k.buf, k.len, 12345);
    EDDY_CHECK_EQ(lseek(fd, 0, SEEK_CUR), 5);
    free(k.buf);
    /* Offset given, len 0: to the end. */
    transfer(fd, FILE_SIZE - 5000, 0, &k, &x);
    EDDY_OK(x.rc);
    EDDY_CHECK_EQ(x.sent, 5000);
    EDDY_CHECK_EQ(k.len, 5000);
    check_pattern(k.buf, k.len, FILE_SIZE - 5000);
    free(k.buf);
    close(fd);
    return 0;
}

EDDY_TEST(sendfile_past_end_of_file)
{
    int fd = make_file(FILE_SIZE);
    sink k;
    sender x;
    /* len beyond the end: what there is, and rc 0. */
    transfer(fd, FILE_SIZE - 100, 100000, &k, &x);
    EDDY_OK(x.rc);
    EDDY_CHECK_EQ(x.sent, 100);
    EDDY_CHECK_EQ(k.len, 100);
    check_pattern(k.buf, k.len, FILE_SIZE - 100);
    free(k.buf);
    /* offset beyond the end: nothing. */
    transfer(fd, FILE_SIZE + 10, 0, &k, &x);
    EDDY_OK(x.rc);
    EDDY_CHECK_EQ(x.sent, 0);
    EDDY_CHECK_EQ(k.len, 0);
    free(k.buf);
    /* An empty file. */
    int e = make_file(0);
    transfer(e, 0, 0, &k, &x);
    EDDY_OK(x.rc);
    EDDY_CHECK_EQ(x.sent, 0);
    EDDY_CHECK_EQ(k.len, 0);
    free(k.buf);
    close(e);
    close(fd);
    return 0;
}

typedef struct cb_arg {
    sender x;
    eddy_event done; /* a yield is not enough under a seeded scheduler */
} cb_arg;

static void cb_sendfile(void *p)
{
    cb_arg *c = p;
    c->x.rc = eddy_sendfile(c->x.s, c->x.fd, 0, 0, &c->x.sent);
    eddy_event_set(&c->done);
}

EDDY_TEST(sendfile_bad_arguments)
{
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    int file = make_file(100);
    size_t sent = 99;
    EDDY_CHECK_EQ(eddy_sendfile(NULL, file, 0, 0, &sent), -EINVAL);
    EDDY_CHECK_EQ(sent, 0);
    EDDY_CHECK_EQ(eddy_sendfile(a, file, -1, 0, NULL), -EINVAL);
    /* Not a regular file: a pipe, a socket, a directory. */
    int p[2];
    EDDY_CHECK(pipe(p) == 0);
    EDDY_CHECK_EQ(write(p[1], "x", 1), 1);
    EDDY_CHECK_EQ(eddy_sendfile(a, p[0], 0, 0, &sent), -EINVAL);
    EDDY_CHECK_EQ(eddy_sendfile(a, eddy_stream_fd(b), 0, 0, &sent), -EINVAL);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    EDDY_CHECK(dir >= 0);
    EDDY_CHECK_EQ(eddy_sendfile(a, dir, 0, 0, &sent), -EINVAL);
    close(dir);
    /* Not open, or not open for reading. */
    int closed = dup(file);
    close(closed);
    EDDY_CHECK_EQ(eddy_sendfile(a, closed, 0, 0, &sent), -EBADF);
    char path[] = "/tmp/eddy_sendfile_wo_XXXXXX";
    int w = mkstemp(path);
    EDDY_CHECK(w >= 0);
    int wo = open(path, O_WRONLY);
    EDDY_CHECK(wo >= 0);
    unlink(path);
    EDDY_CHECK_EQ(eddy_sendfile(a, wo, 0, 0, &sent), -EBADF);
    close(wo);
    close(w);
    /* Callback context cannot block. */
    cb_arg cb = {.x = {.s = a, .fd = file, .rc = 1}};
    eddy_event_init(&cb.done);
    EDDY_OK(eddy_call_soon(cb_sendfile, &cb));
    EDDY_OK(eddy_event_wait(&cb.done));
    EDDY_CHECK_EQ(cb.x.rc, -EPERM);
    /* After shutdown_write: -EPIPE, nothing sent. */
    EDDY_OK(eddy_stream_shutdown_write(a));
    EDDY_CHECK_EQ(eddy_sendfile(a, file, 0, 0, &sent), -EPIPE);
    EDDY_CHECK_EQ(sent, 0);
    char c;
    EDDY_CHECK_EQ(eddy_stream_read(b, &c, 1), 0); /* nothing arrived from any failed call */
    /* Cancelled before it starts: nothing sent. */
    EDDY_CHECK_EQ(eddy_stream_write_all(b, "y", 1), 0);
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        EDDY_CHECK_EQ(eddy_sendfile(b, file, 0, 0, &sent), -ECANCELED);
        EDDY_CHECK_EQ(sent, 0);
    }
    EDDY_CHECK_EQ(eddy_stream_read(a, &c, 1), 1);
    EDDY_CHECK_EQ(c, 'y');
    EDDY_OK(eddy_stream_shutdown_write(b));
    EDDY_CHECK_EQ(eddy_stream_read(a, &c, 1), 0);
    close(p[0]);
    close(p[1]);
    close(file);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

/* The peer stops reading: the transfer blocks, a scope cancels it, and *sent is exactly what
 * the peer can then read, bytes in order from the offset. */
EDDY_TEST(sendfile_cancel_with_stalled_peer)
{
    int fd = make_file(BIG); /* larger than any socket buffers */
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    size_t sent = 0;
    eddy_cancel_scope cs;
    int rc = 1;
    EDDY_CANCEL_SCOPE(&cs, .timeout = EDDY_SEC(1)) {
        rc = eddy_sendfile(a, fd, 7, 0, &sent);
    }
    EDDY_CHECK(cs.cancelled_caught);
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK(sent > 0);
    EDDY_CHECK(sent < BIG - 7);
    EDDY_OK(eddy_stream_close(a)); /* graceful: what was accepted still arrives */
    sink k = {.s = b};
    EDDY_OK(sink_task(&k));
    EDDY_CHECK_EQ(k.rc, 0);
    EDDY_CHECK_EQ(k.len, sent);
    check_pattern(k.buf, k.len, 7);
    free(k.buf);
    EDDY_OK(eddy_stream_close(b));
    close(fd);
    return 0;
}

/* A fail-after deadline gives -ETIMEDOUT the same way. */
EDDY_TEST(sendfile_fail_after_with_stalled_peer)
{
    int fd = make_file(BIG);
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    size_t sent = 0;
    int rc = 1;
    EDDY_FAIL_AFTER(EDDY_MSEC(500)) { rc = eddy_sendfile(a, fd, 0, 0, &sent); }
    EDDY_CHECK_EQ(rc, -ETIMEDOUT);
    EDDY_CHECK(sent > 0);
    eddy_stream_abort(a);
    eddy_stream_abort(b);
    close(fd);
    return 0;
}

/* The peer goes away: -EPIPE or -ECONNRESET, and no SIGPIPE (the default action would kill
 * this test process). Run once with the default disposition and once with a handler. */
static volatile sig_atomic_t got_sigpipe;
static void on_sigpipe(int sig) { (void)sig; got_sigpipe = 1; }

static void peer_gone(void)
{
    int fd = make_file(FILE_SIZE);
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    eddy_stream_abort(b); /* RST */
    size_t sent = 0;
    int rc = 0;
    /* The first sends may still be accepted before the RST is seen; keep sending. */
    for (int i = 0; i < 100 && rc == 0; i++) rc = eddy_sendfile(a, fd, 0, 0, &sent);
    EDDY_CHECK(rc == -EPIPE || rc == -ECONNRESET);
    rc = eddy_sendfile(a, fd, 0, 0, &sent);
    EDDY_CHECK(rc == -EPIPE || rc == -ECONNRESET);
    EDDY_CHECK_EQ(sent, 0);
    eddy_stream_abort(a);
    close(fd);
}

EDDY_TEST(sendfile_peer_reset_no_sigpipe)
{
    struct sigaction sa;
    EDDY_CHECK(sigaction(SIGPIPE, NULL, &sa) == 0);
    EDDY_CHECK(sa.sa_handler == SIG_DFL);
    peer_gone();
    return 0;
}

EDDY_TEST(sendfile_peer_reset_with_handler)
{
    struct sigaction sa = {.sa_handler = on_sigpipe};
    sigemptyset(&sa.sa_mask);
    EDDY_CHECK(sigaction(SIGPIPE, &sa, NULL) == 0);
    peer_gone();
    EDDY_CHECK_EQ(got_sigpipe, 0);
    /* A SIGPIPE from elsewhere still reaches the handler (nothing left blocked). */
    EDDY_CHECK(raise(SIGPIPE) == 0);
    EDDY_CHECK_EQ(got_sigpipe, 1);
    return 0;
}

/* Writers queued behind a transfer go after it; the transfer goes after writers before it. */
typedef struct writer {
    eddy_stream *s;
    const char *msg;
    int rc;
} writer;

static int writer_task(void *p)
{
    writer *w = p;
    w->rc = eddy_stream_write_all(w->s, w->msg, strlen(w->msg));
    return 0;
}

EDDY_TEST(sendfile_keeps_writer_fifo)
{
    int fd = make_file(BIG);
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    sink k = {.s = b};
    sender x = {.s = a, .fd = fd, .off = 0, .len = 0};
    writer w1 = {.s = a, .msg = "BEFORE"}, w2 = {.s = a, .msg = "AFTER"};
    int rc;
    EDDY_NURSERY(n, &rc) {
        /* Nobody reads yet: the transfer fills the socket and blocks holding the turn. */
        EDDY_OK(eddy_spawn(n, writer_task, &w1));
        EDDY_OK(eddy_spawn(n, sender_task, &x));
        EDDY_OK(eddy_spawn(n, writer_task, &w2));
        EDDY_CHECK(x.sent < BIG);
        EDDY_OK(eddy_spawn(n, sink_task, &k));
        /* The sink reads to EOF: shut down after everyone (FIFO: shutdown queues last). */
        EDDY_OK(eddy_stream_shutdown_write(a));
    }
    EDDY_OK(rc);
    EDDY_OK(x.rc);
    EDDY_OK(w1.rc);
    EDDY_OK(w2.rc);
    EDDY_CHECK_EQ(k.len, 6 + BIG + 5);
    EDDY_CHECK(memcmp(k.buf, "BEFORE", 6) == 0);
    check_pattern(k.buf + 6, BIG, 0);
    EDDY_CHECK(memcmp(k.buf + 6 + BIG, "AFTER", 5) == 0);
    free(k.buf);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    close(fd);
    return 0;
}

/* Closing the stream during a blocked transfer: -EBADF, and close waits for it to leave. */
EDDY_TEST(sendfile_close_during_transfer)
{
    int fd = make_file(BIG);
    eddy_stream *a, *b;
    tcp_pair(&a, &b);
    sender x = {.s = a, .fd = fd, .rc = 1};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sender_task, &x));
        EDDY_CHECK_EQ(x.rc, 1); /* blocked */
        eddy_stream_abort(a);
        EDDY_CHECK_EQ(x.rc, -EBADF);
    }
    EDDY_OK(rc);
    EDDY_CHECK(x.sent > 0);
    eddy_stream_abort(b);
    close(fd);
    return 0;
}

/* ---- the copying fallback ---- */

EDDY_TEST(sendfile_fallback_pipe)
{
    int fd = make_file(FILE_SIZE);
    int p[2];
    EDDY_CHECK(pipe(p) == 0);
    eddy_stream *w, *r;
    EDDY_OK(eddy_fd_stream(p[1], 0, &w));
    EDDY_OK(eddy_fd_stream(p[0], 0, &r));
    sink k = {.s = r};
    sender x = {.s = w, .fd = fd, .off = 3, .len = FILE_SIZE - 10, .close_after = true};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sink_task, &k));
        EDDY_OK(eddy_spawn(n, sender_task, &x));
    }
    EDDY_OK(rc);
    EDDY_OK(x.rc);
    EDDY_CHECK_EQ(x.sent, FILE_SIZE - 10);
    EDDY_CHECK_EQ(k.rc, 0);
    EDDY_CHECK_EQ(k.len, FILE_SIZE - 10);
    check_pattern(k.buf, k.len, 3);
    free(k.buf);
    EDDY_OK(eddy_stream_close(r));
    close(fd);
    return 0;
}

/* Fallback over a pipe whose reader stalls: cancelled, *sent == what the reader then gets. */
EDDY_TEST(sendfile_fallback_cancel)
{
    int fd = make_file(FILE_SIZE);
    int p[2];
    EDDY_CHECK(pipe(p) == 0);
    eddy_stream *w, *r;
    EDDY_OK(eddy_fd_stream(p[1], 0, &w));
    EDDY_OK(eddy_fd_stream(p[0], 0, &r));
    size_t sent = 0;
    int rc = 1;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { rc = eddy_sendfile(w, fd, 0, 0, &sent); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK(sent > 0 && sent < FILE_SIZE);
    EDDY_OK(eddy_stream_close(w));
    sink k = {.s = r};
    EDDY_OK(sink_task(&k));
    EDDY_CHECK_EQ(k.len, sent);
    check_pattern(k.buf, k.len, 0);
    free(k.buf);
    EDDY_OK(eddy_stream_close(r));
    close(fd);
    return 0;
}

/* A stream with no descriptor at all (as memory and TLS streams are): bytes through write. */
typedef struct memsink {
    eddy_stream base;
    unsigned char *buf;
    size_t len, cap;
    size_t max_write; /* accept at most this much per call, to exercise partial writes */
} memsink;

static ssize_t ms_read(eddy_stream *s, void *buf, size_t len)
{
    (void)s, (void)buf, (void)len;
    return 0;
}

static ssize_t ms_write(eddy_stream *s, const void *buf, size_t len)
{
    memsink *m = (memsink *)s;
    if (len > m->max_write) len = m->max_write;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->buf = realloc(m->buf, m->cap);
        EDDY_CHECK(m->buf != NULL);
    }
    memcpy(m->buf + m->len, buf, len);
    m->len += len;
    return (ssize_t)len;
}

static int ms_close(eddy_stream *s, bool graceful)
{
    (void)s, (void)graceful;
    return 0;
}

static const eddy_stream_vt memsink_vt = {.kind = "mem", .read = ms_read, .write = ms_write,
                                          .close = ms_close};

EDDY_TEST(sendfile_fallback_stream_without_fd)
{
    int fd = make_file(FILE_SIZE);
    memsink m = {.max_write = 1000};
    eddy_stream_init(&m.base, &memsink_vt);
    EDDY_CHECK_EQ(eddy_stream_fd(&m.base), -1);
    size_t sent = 0;
    EDDY_OK(eddy_sendfile(&m.base, fd, 100, 2000000, &sent));
    EDDY_CHECK_EQ(sent, 2000000);
    EDDY_CHECK_EQ(m.len, 2000000);
    check_pattern(m.buf, m.len, 100);
    EDDY_OK(eddy_sendfile(&m.base, fd, FILE_SIZE - 1, 0, &sent));
    EDDY_CHECK_EQ(sent, 1);
    EDDY_CHECK_EQ(m.len, 2000001);
    EDDY_CHECK_EQ(m.buf[2000000], pattern_at(FILE_SIZE - 1));
    EDDY_OK(eddy_stream_close(&m.base));
    free(m.buf);
    close(fd);
    return 0;
}

/* The memory streams of the test layer (no descriptor): the copying loop, with a peer that
 * reads in small pieces; then a reset part-way: *sent is what the peer got before it. */
EDDY_TEST(sendfile_memstream)
{
    int fd = make_file(FILE_SIZE);
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.max_read = 1000, .max_write = 777}));
    EDDY_CHECK_EQ(eddy_stream_fd(a), -1);
    sink k = {.s = b};
    sender x = {.s = a, .fd = fd, .off = 11, .len = 0, .close_after = true};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sink_task, &k));
        EDDY_OK(eddy_spawn(n, sender_task, &x));
    }
    EDDY_OK(rc);
    EDDY_OK(x.rc);
    EDDY_CHECK_EQ(x.sent, FILE_SIZE - 11);
    EDDY_CHECK_EQ(k.rc, 0);
    EDDY_CHECK_EQ(k.len, FILE_SIZE - 11);
    check_pattern(k.buf, k.len, 11);
    free(k.buf);
    EDDY_OK(eddy_stream_close(b));

    EDDY_OK(eddy_memstream_pair(&a, &b, &(eddy_memstream_hooks){.reset_after = 100000}));
    k = (sink){.s = b};
    x = (sender){.s = a, .fd = fd, .off = 0, .len = 0};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sink_task, &k));
        EDDY_OK(eddy_spawn(n, sender_task, &x));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(x.rc, -ECONNRESET);
    EDDY_CHECK_EQ(x.sent, 100000);
    EDDY_CHECK_EQ(k.rc, -ECONNRESET);
    EDDY_CHECK_EQ(k.len, 100000);
    check_pattern(k.buf, k.len, 0);
    free(k.buf);
    eddy_stream_abort(a);
    eddy_stream_abort(b);
    close(fd);
    return 0;
}

/* A Unix socket stream takes the sendfile(2) path too. */
EDDY_TEST(sendfile_unix_socketpair)
{
    int fd = make_file(FILE_SIZE);
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    EDDY_CHECK_EQ(strcmp(eddy_stream_kind(a), "unix"), 0);
    sink k = {.s = b};
    sender x = {.s = a, .fd = fd, .off = 1, .len = FILE_SIZE - 2, .close_after = true};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sink_task, &k));
        EDDY_OK(eddy_spawn(n, sender_task, &x));
    }
    EDDY_OK(rc);
    EDDY_OK(x.rc);
    EDDY_CHECK_EQ(k.len, FILE_SIZE - 2);
    check_pattern(k.buf, k.len, 1);
    free(k.buf);
    EDDY_OK(eddy_stream_close(b));
    close(fd);
    return 0;
}
