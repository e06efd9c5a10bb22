/* eddy io: eddy_sendfile (N12). sendfile(2) for plain socket streams, a copying loop for the
 * rest; both under the stream's writer turn, so the file's bytes stay contiguous among
 * concurrent writers. */
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"
#include "loop/sys.h"

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
static eddy__fdstream *direct_socket(eddy_stream *s)
{
    if (s->vt != &eddy__fdstream_vt_tcp && s->vt != &eddy__fdstream_vt_unix &&
        s->vt != &eddy__fdstream_vt_fd)
        return NULL;
    eddy__fdstream *f = (eddy__fdstream *)s;
    return f->is_sock ? f : NULL;
}

/* Yield after YIELD_EVERY bytes (the turn held: writers that come meanwhile queue behind), so
 * a transfer that never has to wait cannot starve the loop. 0 or the cancel code / -EBADF. */
static int pace(eddy_stream *s, size_t *since, size_t n)
{
    *since += n;
    if (*since < YIELD_EVERY) return 0;
    *since = 0;
    eddy_task *t = eddy__cur();
    eddy__coop_yield(t->loop, t);
    int rc = eddy__cancel_code(t);
    if (rc < 0) return rc;
    return s->closing ? -EBADF : 0;
}

/* sendfile until done, an error, or a descriptor pair sendfile cannot do (*fallback). Each
 * call is an operation (loop/op.h): it waits for the socket when it is full. */
static int send_direct(eddy_stream *s, eddy__fdstream *f, int file_fd, off_t *off, size_t len,
                       size_t *sent, bool *fallback)
{
    size_t since = 0;
    for (;;) {
        size_t want = DIRECT_MAX;
        if (len) {
            if (*sent == len) return 0;
            if (len - *sent < want) want = len - *sent;
        }
        if (s->wr_shut) return -EPIPE; /* shut down by a writer queued before us */
        ssize_t n = eddy__io_sendfile(&f->io, file_fd, off, want);
        if (n > 0) {
            *sent += (size_t)n;
            int rc = pace(s, &since, (size_t)n);
            if (rc < 0) return rc;
            continue;
        }
        if (n == 0) return 0; /* end of file */
        if (n == -EINVAL || n == -ENOSYS) { /* e.g. a file system without splice support */
            *fallback = true;
            return 0;
        }
        return s->closing ? -EBADF : (int)n;
    }
}

static int send_copy(eddy_stream *s, int file_fd, off_t *off, size_t len, size_t *sent)
{
    char buf[COPY_BUF];
    size_t since = 0;
    for (;;) {
        size_t want = sizeof buf;
        if (len) {
            if (*sent == len) return 0;
            if (len - *sent < want) want = len - *sent;
        }
        ssize_t n = eddy__sys_pread(file_fd, buf, want, *off);
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
        rc = pace(s, &since, w);
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
    if (eddy__sys_fstat(file_fd, &st) < 0) return -EBADF;
    if (!S_ISREG(st.st_mode)) return -EINVAL;
    int fl = eddy__sys_fcntl(file_fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY) return -EBADF;
    int rc = eddy__stream_write_begin(s);
    if (rc < 0) return rc;
    off_t off = offset;
    bool fallback = true;
    eddy__fdstream *f = direct_socket(s);
    if (f) {
        fallback = false;
        rc = send_direct(s, f, file_fd, &off, len, sent, &fallback);
    }
    if (rc == 0 && fallback) rc = send_copy(s, file_fd, &off, len, sent);
    eddy__stream_write_end(s);
    return rc;
}
