/* eddy io: eddy_sendfile (N12). sendfile(2) for plain socket streams, a copying loop for the
 * rest; both under the stream's writer turn, so the file's bytes stay contiguous among
 * concurrent writers. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"

/* One sendfile call moves at most this much (the kernel caps a call at 0x7ffff000 anyway). */
#define DIRECT_MAX ((size_t)1 << 30)
/* A transfer that never has to wait (a fast peer, a pipe with a fast reader) yields through
 * the loop after this many bytes, as the cooperative budget (internal.h) makes other calls do
 * after 128 of them: one call here can move any amount, so it counts bytes instead. */
#define YIELD_EVERY ((size_t)8 << 20)
/* The copying loop's buffer lives on the task's stack: small enough for EDDY_MIN_STACK. */
#define COPY_BUF 4096

/* Streams whose bytes go to their descriptor unchanged. A stream of another kind may report
 * a socket fd too (TLS reports its TCP socket for socket options) but must see the bytes. */
static int direct_socket(eddy_stream *s)
{
    if (s->vt != &eddy__fdstream_vt_tcp && s->vt != &eddy__fdstream_vt_unix &&
        s->vt != &eddy__fdstream_vt_fd)
        return -1;
    eddy__fdstream *f = (eddy__fdstream *)s;
    return f->is_sock ? f->fd : -1;
}

/* sendfile has no MSG_NOSIGNAL: a send to a closed peer raises SIGPIPE. When the process has
 * a SIGPIPE handler (not SIG_IGN), block the signal around the call and consume the one the
 * call raised, leaving a SIGPIPE that was already pending alone. */
static ssize_t sendfile_nosig(int out, int in, off_t *off, size_t n, bool guard)
{
    if (!guard) return sendfile(out, in, off, n);
    sigset_t pipe_set, old, pend;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    bool was_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE);
    ssize_t r = sendfile(out, in, off, n);
    int e = errno;
    if (r < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
}

static bool sigpipe_needs_guard(void)
{
    struct sigaction sa;
    return sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler != SIG_IGN ||
           (sa.sa_flags & SA_SIGINFO);
}

/* Yield after YIELD_EVERY bytes without a wait (the turn held: writers that come meanwhile
 * queue behind). 0 or the cancel code / -EBADF. */
static int pace(eddy_stream *s, size_t *since_wait, size_t n)
{
    *since_wait += n;
    if (*since_wait < YIELD_EVERY) return 0;
    *since_wait = 0;
    eddy_task *t = eddy__cur();
    eddy__coop_yield(t->loop, t);
    int rc = eddy__cancel_code(t);
    if (rc < 0) return rc;
    return s->closing ? -EBADF : 0;
}

/* sendfile until done, an error, or a descriptor pair sendfile cannot do (*fallback). */
static int send_direct(eddy_stream *s, int sock, int file_fd, off_t *off, size_t len,
                       size_t *sent, bool *fallback)
{
    bool guard = sigpipe_needs_guard();
    size_t since_wait = 0;
    for (;;) {
        size_t want = DIRECT_MAX;
        if (len) {
            if (*sent == len) return 0;
            if (len - *sent < want) want = len - *sent;
        }
        if (s->wr_shut) return -EPIPE; /* shut down by a writer queued before us */
        ssize_t n = sendfile_nosig(sock, file_fd, off, want, guard);
        if (n > 0) {
            *sent += (size_t)n;
            int rc = pace(s, &since_wait, (size_t)n);
            if (rc < 0) return rc;
            continue;
        }
        if (n == 0) return 0; /* end of file */
        int e = errno;
        if (e == EINTR) continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            since_wait = 0;
            int rc = eddy_wait_fd(sock, EDDY_WRITE);
            if (rc < 0) return rc;
            if (s->closing) return -EBADF;
            continue;
        }
        if (e == EINVAL || e == ENOSYS) { /* e.g. a file system without splice support */
            *fallback = true;
            return 0;
        }
        return -e;
    }
}

static int send_copy(eddy_stream *s, int file_fd, off_t *off, size_t len, size_t *sent)
{
    char buf[COPY_BUF];
    size_t since_wait = 0;
    for (;;) {
        size_t want = sizeof buf;
        if (len) {
            if (*sent == len) return 0;
            if (len - *sent < want) want = len - *sent;
        }
        ssize_t n = pread(file_fd, buf, want, *off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) return 0;
        size_t w = 0;
        int rc = eddy__stream_write_held(s, buf, (size_t)n, &w);
        *sent += w;
        *off += (off_t)w;
        if (rc < 0) return rc;
        rc = pace(s, &since_wait, w);
        if (rc < 0) return rc;
    }
}

int eddy_sendfile(eddy_stream *s, int file_fd, off_t offset, size_t len, size_t *sent)
{
    size_t dummy;
    if (!sent) sent = &dummy;
    *sent = 0;
    if (!s || offset < 0) return -EINVAL;
    struct stat st;
    if (fstat(file_fd, &st) < 0) return -EBADF;
    if (!S_ISREG(st.st_mode)) return -EINVAL;
    int fl = fcntl(file_fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY) return -EBADF;
    int rc = eddy__stream_write_begin(s);
    if (rc < 0) return rc;
    off_t off = offset;
    bool fallback = true;
    int sock = direct_socket(s);
    if (sock >= 0) {
        fallback = false;
        rc = send_direct(s, sock, file_fd, &off, len, sent, &fallback);
    }
    if (rc == 0 && fallback) rc = send_copy(s, file_fd, &off, len, sent);
    eddy__stream_write_end(s);
    return rc;
}
