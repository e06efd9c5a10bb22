/* eddy io: streams over non-blocking descriptors (P3), shared by TCP and Unix sockets.
 *
 * Reads and writes are operations (loop/op.h): on epoll they try the system call first and
 * wait for readiness only on EAGAIN, on io_uring they are submitted to the ring. A read after
 * a short read waits first (see rhint): on a socket a short read means the receive queue was
 * drained, so the next read() would almost always be a wasted EAGAIN. */
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/io.h"
#include "loop/sys.h"

static eddy__fdstream *fds_of(eddy_stream *s) { return (eddy__fdstream *)s; }

static ssize_t fds_read(eddy_stream *s, void *buf, size_t len)
{
    eddy__fdstream *f = fds_of(s);
    unsigned first = (f->rhint ? 0 : EDDY__OP_POLL_FIRST) | f->opflags;
    ssize_t n = f->is_sock ? eddy__io_recv(&f->io, buf, len, first)
                           : eddy__io_read(&f->io, buf, len, first);
    /* A short read drained the receive queue: the next one waits first. */
    f->rhint = !(n > 0 && (size_t)n < len) || f->always_ready;
    return n;
}

static ssize_t fds_readv(eddy_stream *s, const struct iovec *iov, int iovcnt)
{
    eddy__fdstream *f = fds_of(s);
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++) len += iov[i].iov_len;
    unsigned first = (f->rhint ? 0 : EDDY__OP_POLL_FIRST) | f->opflags;
    ssize_t n;
    if (f->is_sock) {
        struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
        n = eddy__io_recvmsg(&f->io, &mh, 0, first);
    } else {
        n = eddy__io_readv(&f->io, iov, iovcnt, first);
    }
    f->rhint = !(n > 0 && (size_t)n < len) || f->always_ready;
    return n;
}

static unsigned zc_flag(const eddy__fdstream *f, size_t len)
{
    return f->zc_min && len >= f->zc_min ? EDDY__OP_ZEROCOPY : 0;
}

static ssize_t fds_write(eddy_stream *s, const void *buf, size_t len)
{
    eddy__fdstream *f = fds_of(s);
    if (f->is_sock) return eddy__io_send(&f->io, buf, len, zc_flag(f, len));
    return eddy__io_write(&f->io, buf, len, f->opflags);
}

static ssize_t fds_writev(eddy_stream *s, const struct iovec *iov, int iovcnt)
{
    eddy__fdstream *f = fds_of(s);
    if (!f->is_sock) return eddy__io_writev(&f->io, iov, iovcnt, f->opflags);
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++) len += iov[i].iov_len;
    struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
    return eddy__io_sendmsg(&f->io, &mh, 0, zc_flag(f, len));
}

static int fds_shutdown_write(eddy_stream *s)
{
    eddy__fdstream *f = fds_of(s);
    if (f->is_sock) return eddy__sys_shutdown(f->io.fd, SHUT_WR) < 0 ? -errno : 0;
    /* A pipe or FIFO write end signals end-of-stream only by being closed; a descriptor open
     * for reading too (a tty) cannot half-close. */
    int fl = eddy__sys_fcntl(f->io.fd, F_GETFL);
    if (fl < 0) return -errno;
    if ((fl & O_ACCMODE) != O_WRONLY) return -ENOTSUP;
    if (f->flags & EDDY_FD_NOCLOSE) return -ENOTSUP; /* borrowed: not ours to close */
    if (f->saved_fl >= 0) (void)eddy__sys_fcntl(f->io.fd, F_SETFL, f->saved_fl);
    /* The writer turn is ours and a write end has no reader: nothing is in flight on it. */
    (void)eddy__iofd_close(&f->io, false);
    return 0;
}

static void fds_interrupt(eddy_stream *s)
{
    /* The tasks inside get -EBADF (a zero-copy write in flight: after a reset, see op.c). The
     * descriptor stays usable: the stream layer refuses new calls once close has begun, and a
     * layered stream (TLS) interrupts its inner stream to wake its own tasks there, then
     * writes its goodbye through it. */
    eddy__iofd_interrupt_ops(&fds_of(s)->io);
}

static int fds_close(eddy_stream *s, bool graceful)
{
    eddy__fdstream *f = fds_of(s);
    int rc = 0;
    if (f->io.fd >= 0) {
        if (!graceful && f->is_sock) {
            /* Linger 0: close sends RST and drops unsent data. */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            (void)eddy__sys_setsockopt(f->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        if (f->saved_fl >= 0) (void)eddy__sys_fcntl(f->io.fd, F_SETFL, f->saved_fl);
        rc = eddy__iofd_close(&f->io, f->flags & EDDY_FD_NOCLOSE);
    }
    free(f);
    return rc;
}

static int fds_fd(eddy_stream *s) { return fds_of(s)->io.fd; }

#define FDSTREAM_VT(name, k)                                                                 \
    const eddy_stream_vt name = {.kind = k, .read = fds_read, .write = fds_write,          \
                                 .shutdown_write = fds_shutdown_write,                     \
                                 .interrupt = fds_interrupt, .close = fds_close, .fd = fds_fd,   \
                                 .writev = fds_writev, .readv = fds_readv}
FDSTREAM_VT(eddy__fdstream_vt_tcp, "tcp");
FDSTREAM_VT(eddy__fdstream_vt_unix, "unix");
FDSTREAM_VT(eddy__fdstream_vt_fd, "fd");

int eddy__fdstream_new(int fd, bool is_sock, int saved_fl, unsigned flags, const eddy_stream_vt *vt,
                       const char *site, eddy_stream **out)
{
    eddy__fdstream *f = malloc(sizeof *f);
    if (!f) return -ENOMEM;
    eddy__iofd_init(&f->io, fd);
    f->is_sock = is_sock;
    f->zc_min = 0;
    f->saved_fl = saved_fl;
    f->flags = flags;
    f->rhint = true;
    f->always_ready = false;
    f->opflags = 0;
    eddy__stream_init(&f->base, vt, site);
    *out = &f->base;
    return 0;
}

/* Pipes raise SIGPIPE on a write after the reader left; sockets avoid it per call with
 * MSG_NOSIGNAL. Ignore it process-wide, but only if nobody installed a handler. */
static void ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO)) {
        struct sigaction ign = {.sa_handler = SIG_IGN};
        sigemptyset(&ign.sa_mask);
        (void)sigaction(SIGPIPE, &ign, NULL);
    }
}

int eddy__fd_stream(int fd, unsigned flags, eddy_stream **out, const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!eddy__loop()) return -EPERM;
    int fl = eddy__sys_fcntl(fd, F_GETFL);
    if (fl < 0) return -EBADF;
    struct stat st;
    if (eddy__sys_fstat(fd, &st) < 0) return -errno;
    bool sock = S_ISSOCK(st.st_mode);
    if (!sock) ignore_sigpipe();
    if (!(fl & O_NONBLOCK) && eddy__sys_fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    int rc = eddy__fdstream_new(fd, sock, (fl & O_NONBLOCK) ? -1 : fl, flags,
                                sock ? &eddy__fdstream_vt_unix : &eddy__fdstream_vt_fd, site, out);
    if (rc < 0 && !(fl & O_NONBLOCK)) (void)eddy__sys_fcntl(fd, F_SETFL, fl);
    if (rc == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
        ((eddy__fdstream *)*out)->always_ready = true;
    if (rc == 0 && !sock && !S_ISFIFO(st.st_mode)) ((eddy__fdstream *)*out)->opflags = EDDY__OP_TRY;
    if (rc == 0 && sock) {
        /* Name the kind after the socket's family so reports say "tcp" for TCP sockets. */
        int dom = 0;
        socklen_t dl = sizeof dom;
        if (eddy__sys_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) == 0 && (dom == AF_INET || dom == AF_INET6))
            (*out)->vt = &eddy__fdstream_vt_tcp;
        (*out)->handle.kind = (*out)->vt->kind;
    }
    return rc;
}

int eddy_stream_set_zerocopy(eddy_stream *s, size_t min_bytes)
{
    if (!s) return -EINVAL;
    if (s->vt != &eddy__fdstream_vt_tcp) return -ENOTSUP;
    if (s->closing) return -EBADF;
    eddy__fdstream *f = fds_of(s);
    if (min_bytes && !f->io.zc_on) {
        /* MSG_ZEROCOPY needs it (the epoll backend); io_uring's SEND_ZC does not, but a
         * loop may run either, and it costs nothing until a send asks for zero-copy. */
        int one = 1;
        if (eddy__sys_setsockopt(f->io.fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) < 0) return -errno;
        f->io.zc_on = true;
    }
    f->zc_min = min_bytes;
    return 0;
}

int eddy_stdio(eddy_stream **in, eddy_stream **out)
{
    eddy_stream *i = NULL, *o = NULL;
    int rc;
    if (in && (rc = eddy__fd_stream(0, EDDY_FD_NOCLOSE, &i, "stdin")) < 0) return rc;
    if (out && (rc = eddy__fd_stream(1, EDDY_FD_NOCLOSE, &o, "stdout")) < 0) {
        if (i) {
            /* Made just now, no task inside, borrowed (NOCLOSE): the close frees it and can
             * fail only in restoring fd 0's flags, which would not change what we report. */
            int crc = eddy_stream_close(i);
            (void)crc;
        }
        return rc;
    }
    if (in) *in = i;
    if (out) *out = o;
    return 0;
}
