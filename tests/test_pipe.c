/* P3: pipes, descriptor streams and stdio streams. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "eddy/test.h"

static void read_exact(eddy_stream *s, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = eddy_stream_read(s, buf + got, len - got);
        EDDY_CHECK(n > 0);
        got += (size_t)n;
    }
}

EDDY_TEST(pipe_roundtrip)
{
    eddy_stream *rd, *wr;
    EDDY_OK(eddy_pipe(&rd, &wr));
    EDDY_CHECK(strcmp(eddy_stream_kind(rd), "fd") == 0);
    int rfd = eddy_stream_fd(rd), wfd = eddy_stream_fd(wr);
    EDDY_CHECK(rfd >= 0 && wfd >= 0);
    EDDY_CHECK(fcntl(rfd, F_GETFL) & O_NONBLOCK);
    EDDY_CHECK(fcntl(wfd, F_GETFL) & O_NONBLOCK);
    EDDY_CHECK(fcntl(rfd, F_GETFD) & FD_CLOEXEC);
    EDDY_CHECK(fcntl(wfd, F_GETFD) & FD_CLOEXEC);
    EDDY_OK(eddy_stream_write_all(wr, "through", 7));
    char buf[16];
    EDDY_CHECK_EQ(eddy_stream_read(rd, buf, sizeof buf), 7);
    EDDY_CHECK(memcmp(buf, "through", 7) == 0);
    EDDY_OK(eddy_stream_close(rd));
    EDDY_OK(eddy_stream_close(wr));
    /* Closed for real: the numbers are free again. */
    EDDY_CHECK(fcntl(rfd, F_GETFD) < 0 && errno == EBADF);
    EDDY_CHECK(fcntl(wfd, F_GETFD) < 0 && errno == EBADF);
    return 0;
}

EDDY_TEST(pipe_shutdown_write_gives_eof)
{
    eddy_stream *rd, *wr;
    EDDY_OK(eddy_pipe(&rd, &wr));
    EDDY_OK(eddy_stream_write_all(wr, "abc", 3));
    EDDY_OK(eddy_stream_shutdown_write(wr));
    EDDY_OK(eddy_stream_shutdown_write(wr)); /* again: still 0 */
    EDDY_CHECK_EQ(eddy_stream_fd(wr), -1);   /* a pipe half-closes by closing its end */
    char buf[8];
    EDDY_CHECK_EQ(eddy_stream_read(rd, buf, sizeof buf), 3);
    EDDY_CHECK(memcmp(buf, "abc", 3) == 0);
    EDDY_CHECK_EQ(eddy_stream_read(rd, buf, sizeof buf), 0);
    EDDY_CHECK_EQ(eddy_stream_write_all(wr, "x", 1), -EPIPE);
    EDDY_OK(eddy_stream_close(wr));
    EDDY_OK(eddy_stream_close(rd));
    return 0;
}

EDDY_TEST(pipe_write_after_reader_gone_is_epipe)
{
    eddy_stream *rd, *wr;
    EDDY_OK(eddy_pipe(&rd, &wr));
    EDDY_OK(eddy_stream_close(rd));
    size_t written = 9;
    EDDY_CHECK_EQ(eddy_stream_write(wr, "lost", 4, &written), -EPIPE);
    EDDY_CHECK_EQ(written, 0);
    /* We are alive, so SIGPIPE did not kill us: it is ignored, as documented. */
    struct sigaction sa;
    EDDY_CHECK(sigaction(SIGPIPE, NULL, &sa) == 0);
    EDDY_CHECK(sa.sa_handler == SIG_IGN);
    EDDY_OK(eddy_stream_close(wr));
    return 0;
}

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

/* A SIGPIPE handler the application installed is left alone (and called). */
EDDY_TEST(pipe_keeps_application_sigpipe_handler)
{
    struct sigaction sa = {.sa_handler = on_sigpipe};
    sigemptyset(&sa.sa_mask);
    EDDY_CHECK(sigaction(SIGPIPE, &sa, NULL) == 0);
    eddy_stream *rd, *wr;
    EDDY_OK(eddy_pipe(&rd, &wr));
    EDDY_OK(eddy_stream_close(rd));
    EDDY_CHECK_EQ(eddy_stream_write_all(wr, "x", 1), -EPIPE);
    EDDY_CHECK_EQ(sigpipes, 1);
    struct sigaction now;
    EDDY_CHECK(sigaction(SIGPIPE, NULL, &now) == 0);
    EDDY_CHECK(now.sa_handler == on_sigpipe);
    EDDY_OK(eddy_stream_close(wr));
    return 0;
}

typedef struct prd {
    eddy_stream *s;
    ssize_t rc;
    int64_t at;
    char buf[16];
} prd;

static int pipe_reader(void *arg)
{
    prd *r = arg;
    r->rc = eddy_stream_read(r->s, r->buf, sizeof r->buf);
    r->at = eddy_now();
    return 0;
}

EDDY_TEST(pipe_read_waits_for_data)
{
    eddy_stream *rd, *wr;
    EDDY_OK(eddy_pipe(&rd, &wr));
    prd r = {.s = rd, .rc = 99};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, pipe_reader, &r));
        EDDY_OK(eddy_sleep(EDDY_SEC(4)));
        EDDY_CHECK_EQ(r.rc, 99);
        EDDY_OK(eddy_stream_write_all(wr, "late", 4));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(r.rc, 4);
    EDDY_CHECK_EQ(r.at, EDDY_SEC(4));
    EDDY_CHECK(memcmp(r.buf, "late", 4) == 0);
    EDDY_OK(eddy_stream_close(rd));
    EDDY_OK(eddy_stream_close(wr));
    return 0;
}

typedef struct pwr {
    eddy_stream *s;
    const char *buf;
    size_t len, written;
    int rc;
} pwr;

static int pipe_writer_move_on(void *arg)
{
    pwr *w = arg;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { w->rc = eddy_stream_write(w->s, w->buf, w->len, &w->written); }
    return 0;
}

/* A write larger than the pipe blocks (back-pressure); cancelled part-way it reports exactly
 * the bytes the reader then finds. */
EDDY_TEST(pipe_cancelled_write_reports_what_went_through)
{
    eddy_stream *rd, *wr;
    EDDY_OK(eddy_pipe(&rd, &wr));
    enum { BIG = 1 << 20 };
    char *big = malloc(BIG), *in = malloc(BIG);
    EDDY_CHECK(big && in);
    for (size_t i = 0; i < BIG; i++) big[i] = (char)(i * 7);
    pwr w = {.s = wr, .buf = big, .len = BIG, .rc = 99};
    int rc;
    EDDY_NURSERY(nu, &rc) { EDDY_OK(eddy_spawn(nu, pipe_writer_move_on, &w)); }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(w.rc, -ECANCELED);
    EDDY_CHECK(w.written > 0 && w.written < BIG);
    EDDY_OK(eddy_stream_shutdown_write(wr));
    read_exact(rd, in, w.written);
    EDDY_CHECK(memcmp(in, big, w.written) == 0);
    EDDY_CHECK_EQ(eddy_stream_read(rd, in, 1), 0); /* and not a byte more */
    free(big);
    free(in);
    EDDY_OK(eddy_stream_close(rd));
    EDDY_OK(eddy_stream_close(wr));
    return 0;
}

EDDY_TEST(pipe_errors)
{
    eddy_stream *rd = (eddy_stream *)1, *wr = (eddy_stream *)1;
    EDDY_CHECK_EQ(eddy_pipe(NULL, &wr), -EINVAL);
    EDDY_CHECK(wr == NULL);
    EDDY_CHECK_EQ(eddy_pipe(&rd, NULL), -EINVAL);
    EDDY_CHECK(rd == NULL);
    /* Out of descriptors. */
    struct rlimit old, low;
    EDDY_CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    int probe = dup(0);
    EDDY_CHECK(probe >= 0);
    close(probe);
    low = old;
    low.rlim_cur = (rlim_t)probe + 1; /* room for one more descriptor, not two */
    EDDY_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    int rc = eddy_pipe(&rd, &wr);
    EDDY_CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    EDDY_CHECK_EQ(rc, -EMFILE);
    EDDY_CHECK(rd == NULL && wr == NULL);
    return 0;
}

EDDY_TEST(fd_stream_restores_flags)
{
    int p[2];
    EDDY_CHECK(pipe2(p, O_CLOEXEC) == 0); /* blocking */
    eddy_stream *r, *w;
    EDDY_OK(eddy_fd_stream(p[0], EDDY_FD_NOCLOSE, &r));
    EDDY_OK(eddy_fd_stream(p[1], 0, &w));
    EDDY_CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    EDDY_CHECK(fcntl(p[1], F_GETFL) & O_NONBLOCK);
    EDDY_OK(eddy_stream_write_all(w, "q", 1));
    char c;
    EDDY_CHECK_EQ(eddy_stream_read(r, &c, 1), 1);
    EDDY_CHECK_EQ(c, 'q');
    EDDY_OK(eddy_stream_close(r));
    int fl = fcntl(p[0], F_GETFL);
    EDDY_CHECK(fl >= 0);             /* EDDY_FD_NOCLOSE: still open */
    EDDY_CHECK(!(fl & O_NONBLOCK));  /* and blocking again */
    EDDY_OK(eddy_stream_close(w));
    EDDY_CHECK(fcntl(p[1], F_GETFL) < 0 && errno == EBADF); /* owned: closed */
    close(p[0]);
    /* A descriptor that was already non-blocking stays so. */
    EDDY_CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
    EDDY_OK(eddy_fd_stream(p[0], EDDY_FD_NOCLOSE, &r));
    EDDY_OK(eddy_stream_close(r));
    EDDY_CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    close(p[0]);
    close(p[1]);
    return 0;
}

EDDY_TEST(fd_stream_errors)
{
    eddy_stream *s = (eddy_stream *)1;
    int fd = dup(0);
    EDDY_CHECK(fd >= 0);
    close(fd);
    EDDY_CHECK_EQ(eddy_fd_stream(fd, 0, &s), -EBADF);
    EDDY_CHECK(s == NULL);
    EDDY_CHECK_EQ(eddy_fd_stream(-1, 0, &s), -EBADF);
    EDDY_CHECK_EQ(eddy_fd_stream(0, 0, NULL), -EINVAL);
    return 0;
}

/* Half-close needs a write-only descriptor the stream owns. */
EDDY_TEST(fd_stream_shutdown_write_not_supported)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    EDDY_CHECK(fd >= 0);
    eddy_stream *s;
    EDDY_OK(eddy_fd_stream(fd, 0, &s));
    EDDY_CHECK_EQ(eddy_stream_shutdown_write(s), -ENOTSUP);
    EDDY_OK(eddy_stream_write_all(s, "void", 4)); /* still writable */
    EDDY_OK(eddy_stream_close(s));
    int p[2];
    EDDY_CHECK(pipe2(p, O_CLOEXEC) == 0);
    EDDY_OK(eddy_fd_stream(p[1], EDDY_FD_NOCLOSE, &s)); /* borrowed: not ours to close */
    EDDY_CHECK_EQ(eddy_stream_shutdown_write(s), -ENOTSUP);
    EDDY_OK(eddy_stream_close(s));
    EDDY_OK(eddy_fd_stream(p[0], 0, &s)); /* a read end */
    EDDY_CHECK_EQ(eddy_stream_shutdown_write(s), -ENOTSUP);
    EDDY_OK(eddy_stream_close(s));
    close(p[1]);
    return 0;
}

/* Regular files are always ready: reads go straight to the kernel. */
EDDY_TEST(fd_stream_regular_file)
{
    char path[] = "/tmp/eddy-pipe-XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    EDDY_CHECK(unlink(path) == 0);
    eddy_stream *s;
    EDDY_OK(eddy_fd_stream(fd, 0, &s));
    EDDY_OK(eddy_stream_write_all(s, "file data", 9));
    EDDY_CHECK(lseek(fd, 0, SEEK_SET) == 0);
    char buf[16];
    EDDY_CHECK_EQ(eddy_stream_read(s, buf, sizeof buf), 9);
    EDDY_CHECK(memcmp(buf, "file data", 9) == 0);
    EDDY_CHECK_EQ(eddy_stream_read(s, buf, sizeof buf), 0);
    EDDY_OK(eddy_stream_close(s));
    return 0;
}

/* eddy_stdio over pipes put in place of descriptors 0 and 1. */
EDDY_TEST(stdio_streams)
{
    fflush(stdout);
    int saved0 = dup(0), saved1 = dup(1);
    EDDY_CHECK(saved0 >= 0 && saved1 >= 0);
    int pin[2], pout[2];
    EDDY_CHECK(pipe2(pin, O_CLOEXEC) == 0 && pipe2(pout, O_CLOEXEC) == 0);
    EDDY_CHECK(dup2(pin[0], 0) == 0 && dup2(pout[1], 1) == 1);
    eddy_stream *in, *out;
    EDDY_OK(eddy_stdio(&in, &out));
    EDDY_CHECK(fcntl(0, F_GETFL) & O_NONBLOCK);
    EDDY_CHECK_EQ(write(pin[1], "in", 2), 2);
    char buf[8];
    EDDY_CHECK_EQ(eddy_stream_read(in, buf, sizeof buf), 2);
    EDDY_CHECK(memcmp(buf, "in", 2) == 0);
    EDDY_OK(eddy_stream_write_all(out, "out", 3));
    EDDY_CHECK_EQ(read(pout[0], buf, sizeof buf), 3);
    EDDY_CHECK(memcmp(buf, "out", 3) == 0);
    EDDY_CHECK_EQ(eddy_stream_shutdown_write(out), -ENOTSUP); /* stdout is borrowed */
    EDDY_OK(eddy_stream_close(in));
    EDDY_OK(eddy_stream_close(out));
    /* Still open, blocking again. */
    EDDY_CHECK(!(fcntl(0, F_GETFL) & O_NONBLOCK));
    EDDY_CHECK(!(fcntl(1, F_GETFL) & O_NONBLOCK));
    /* Either may be NULL. */
    EDDY_OK(eddy_stdio(NULL, &out));
    EDDY_OK(eddy_stream_close(out));
    EDDY_OK(eddy_stdio(NULL, NULL));
    /* Standard output closed: the input stream already made is closed again. */
    close(1);
    in = out = (eddy_stream *)1;
    EDDY_CHECK_EQ(eddy_stdio(&in, &out), -EBADF);
    EDDY_CHECK(in == (eddy_stream *)1 && out == (eddy_stream *)1); /* untouched */
    EDDY_CHECK(!(fcntl(0, F_GETFL) & O_NONBLOCK));                  /* and restored */
    EDDY_CHECK(dup2(saved0, 0) == 0 && dup2(saved1, 1) == 1);
    close(saved0);
    close(saved1);
    close(pin[0]);
    close(pin[1]);
    close(pout[0]);
    close(pout[1]);
    return 0;
}

static int outside(void *arg)
{
    (void)arg;
    eddy_stream *a, *b;
    EDDY_CHECK_EQ(eddy_pipe(&a, &b), -EPERM);
    EDDY_CHECK_EQ(eddy_fd_stream(0, EDDY_FD_NOCLOSE, &a), -EPERM);
    EDDY_CHECK_EQ(eddy_stdio(&a, &b), -EPERM);
    return 0;
}

EDDY_TEST_EX(pipe_outside_loop, .raw = true) { return outside(eddy_test_arg); }

static int leaks_pipe(void *arg)
{
    eddy_stream **s = arg;
    EDDY_OK(eddy_pipe(&s[0], &s[1]));
    return 0; /* not closed */
}

EDDY_TEST_EX(pipe_leak_is_reported, .raw = true)
{
    static eddy_stream *s[2];
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL,
                   .flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_QUIET};
    EDDY_CHECK_EQ(eddy_run_opts(leaks_pipe, s, &o), -ENOTRECOVERABLE);
    EDDY_CHECK(s[0] && s[1]);
    return 0;
}
