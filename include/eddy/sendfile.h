/* eddy — sending a file over a stream (N12).
 *
 * eddy_sendfile moves bytes of a regular file to a stream without passing them through user
 * space when the stream is a plain socket (sendfile(2)); every other stream (pipes, memory
 * streams, later TLS, which must see the bytes to encrypt them) gets a copying loop through a
 * small buffer on the caller's stack. Either way the transfer holds the stream's writer turn
 * from start to end: concurrent eddy_stream_write calls go before or after it, never into
 * the middle (N8). */
#ifndef EDDY_SENDFILE_H
#define EDDY_SENDFILE_H

#include <sys/types.h>

#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Send len bytes of the regular file file_fd, starting at offset, to s; len 0 means up to
 * the end of the file. The file position of file_fd is neither used nor changed (pread
 * semantics), so several transfers may share one descriptor. If the file ends before
 * offset + len (or offset is past its end), what there is gets sent and the call returns 0:
 * *sent tells how many bytes that was.
 *
 * Cancellation point: a cancelled call (or one that fails part-way) has sent exactly *sent
 * bytes, all of them accepted by the transport and contiguous from offset; none is lost or
 * sent twice, so a retry can continue at offset + *sent. sent may be NULL.
 *
 * Returns 0; -ECANCELED/-ETIMEDOUT if cancelled (while waiting for the writer turn or
 * part-way); -EINVAL if s is NULL, offset is negative, or file_fd is not a regular file (a
 * pipe, socket, directory); -EBADF if file_fd is not open or not open for reading, or s is
 * being closed; -EPIPE after eddy_stream_shutdown_write or when the peer has closed;
 * -ECONNRESET; -ENOBUFS/-ENOMEM when the kernel has no memory for the data; -ENOSPC when the
 * loop cannot register the stream's descriptor to wait for room; -EIO and the other errors of
 * reading the file; -EPERM outside a task. SIGPIPE never fires. */
EDDY_API EDDY_WUR int eddy_sendfile(eddy_stream *s, int file_fd, off_t offset, size_t len,
                                    size_t *sent);

#ifdef __cplusplus
}
#endif
#endif
