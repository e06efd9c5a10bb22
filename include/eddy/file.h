/* eddy — files (F1), change notification (F2), byte-range locks (F3).
 * Capabilities F1, F2, F3.
 *
 * Regular files are always "ready" to epoll, so their operations cannot wait for readiness:
 * each one runs as a blocking system call on the thread pool (thread.h) while the calling
 * task is suspended; an io_uring backend will run the same operations as submissions. Every
 * call here is made from a task and is a cancellation point, except the closes.
 *
 * What cancellation does depends on what the operation touches after the call returns:
 *  - Operations on an open file (read, write, their positional and vectored forms, fsync,
 *    fdatasync, fstat, eddy_dir_read, lock acquires) write into or read from the caller's
 *    memory, or act on a descriptor the file owns, so they WAIT for the worker: a
 *    cancellation interrupts the worker's system call with the pool's interrupt signal
 *    (thread.h), which ends a read or write blocked on a FIFO, a terminal, a socket or a
 *    FUSE/NFS file with EINTR; a read or write on a local regular file or block device is not
 *    interruptible in the kernel, and fsync never is, so those finish first. The call then
 *    returns what happened: the count if bytes moved (report them; the cancellation shows at
 *    the next call), else -ECANCELED/-ETIMEDOUT. Without the interrupt signal (thread.h) they
 *    simply wait.
 *  - Operations on paths (open, stat, lstat, rename, unlink, mkdir, rmdir, eddy_dir_open)
 *    ABANDON: the call returns -ECANCELED/-ETIMEDOUT at once, and the worker finishes the
 *    system call on its own copy of the paths (a hung network mount cannot hold the task).
 *    The operation may therefore still take effect after the call returned -ECANCELED: a
 *    rename may have happened; a file or directory opened that late is closed again.
 *  - An operation cancelled before a worker took it never runs, whichever kind it is.
 *
 * Descriptors are opened O_CLOEXEC. Offsets are int64_t and must be >= 0. */
#ifndef EDDY_FILE_H
#define EDDY_FILE_H

#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- F1: open files ------------------------------------------------------------------- */

/* An open file. It is also a stream (eddy_file_stream): eddy_stream_read/write move through
 * the file position, so eddy_bufreader reads a file by lines. A tracked handle: a file still
 * open when eddy_run returns is reported as a leak with its open site. */
typedef struct eddy_file eddy_file;

/* Open path with open(2) flags (O_CLOEXEC added) and mode for O_CREAT; *out gets the file.
 * Abandoned when cancelled (see above). A FIFO opened here waits for its other end inside the
 * worker, and is read and written by the worker too.
 * Returns 0; the errors of open(2) (-ENOENT, -EACCES, -EEXIST, -EISDIR, -ENOTDIR, -ELOOP,
 * -ENAMETOOLONG, -EMFILE, -ENFILE, -EROFS, ...); -ECANCELED/-ETIMEDOUT; -ENOMEM; -EAGAIN if
 * no worker thread could be started; -EINVAL if path or out is NULL; -EPERM outside a task. */
#define eddy_file_open(path, flags, mode, out) \
    eddy__file_open((path), (flags), (mode), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__file_open(const char *path, int flags, mode_t mode, eddy_file **out,
                                      const char *site);
/* Make a file of an open descriptor fd (any kind the pool can block on: regular files,
 * FIFOs, devices). The file owns fd (closes it) unless flags has EDDY_FD_NOCLOSE (stream.h).
 * Returns 0; -EBADF if fd is not open; -EINVAL if out is NULL or flags has unknown bits;
 * -ENOMEM; -EPERM outside a loop thread. */
#define eddy_file_open_fd(fd, flags, out) eddy__file_open_fd((fd), (flags), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__file_open_fd(int fd, unsigned flags, eddy_file **out, const char *site);

/* Close f: operations other tasks have in flight on it are interrupted (see above) and
 * return -EBADF, then the descriptor is closed on the pool (close(2) may flush to a network
 * file system) and f is freed. Not a cancellation point. The same as
 * eddy_stream_close(eddy_file_stream(f)).
 * Returns 0; -EIO (or another error of close(2)): f is freed anyway; 0 for NULL; -EBUSY
 * outside a task while tasks are inside f (nothing happens); -EBADF for a second close while
 * the first waits. */
EDDY_API EDDY_WUR int eddy_file_close(eddy_file *f);
/* f's descriptor (for fcntl, sendfile, ...; do not close it), or -1 for NULL. */
EDDY_API int eddy_file_fd(const eddy_file *f);
/* f as a stream (the same object: closing either closes both), or NULL for NULL. */
EDDY_API eddy_stream *eddy_file_stream(eddy_file *f);

/* Read up to len bytes at the file position (read(2)) / at offset off (pread(2)) into buf.
 * Any number of tasks may read and write one file at once; each call is one system call.
 * Returns the count (0 at end of file, or for len 0); -ECANCELED/-ETIMEDOUT if cancelled
 * before any byte moved; -EBADF if f is being closed (the count instead if bytes had moved
 * when the close interrupted the call); the errors of read(2)/pread(2) (-EIO,
 * -EISDIR, -EINVAL for a negative offset, -ESPIPE for pread on a FIFO, ...); -EAGAIN if no
 * worker could be started; -EINVAL if f is NULL, or buf is NULL with len > 0; -EPERM outside
 * a task. */
EDDY_API EDDY_WUR ssize_t eddy_file_read(eddy_file *f, void *buf, size_t len);
EDDY_API EDDY_WUR ssize_t eddy_file_pread(eddy_file *f, void *buf, size_t len, int64_t off);
/* Write up to len bytes at the file position (O_APPEND: at the end) / at offset off. One
 * system call: a regular file takes everything unless it fails part-way (-ENOSPC then comes
 * from the next call). Returns the count; the errors of write(2)/pwrite(2) (-ENOSPC, -EIO,
 * -EFBIG, -EDQUOT, -EPIPE on a FIFO without reader: SIGPIPE never fires, -EBADF if f is not open for
 * writing, ...) and as eddy_file_read. */
EDDY_API EDDY_WUR ssize_t eddy_file_write(eddy_file *f, const void *buf, size_t len);
EDDY_API EDDY_WUR ssize_t eddy_file_pwrite(eddy_file *f, const void *buf, size_t len, int64_t off);
/* Vectored forms (readv/writev at the position, preadv/pwritev at off), 0..IOV_MAX pieces.
 * Returns as the plain forms (reads as eddy_file_read, writes as eddy_file_write); -EINVAL also for iovcnt < 0 or > IOV_MAX, or iov NULL with
 * iovcnt > 0. */
EDDY_API EDDY_WUR ssize_t eddy_file_readv(eddy_file *f, const struct iovec *iov, int iovcnt);
EDDY_API EDDY_WUR ssize_t eddy_file_writev(eddy_file *f, const struct iovec *iov, int iovcnt);
EDDY_API EDDY_WUR ssize_t eddy_file_preadv(eddy_file *f, const struct iovec *iov, int iovcnt,
                                           int64_t off);
EDDY_API EDDY_WUR ssize_t eddy_file_pwritev(eddy_file *f, const struct iovec *iov, int iovcnt,
                                            int64_t off);

/* Flush f's data and metadata (fsync) / its data and the metadata needed to read it back
 * (fdatasync) to the device. Waits for the worker when cancelled: the flush is not
 * interruptible, and its outcome is then returned.
 * Returns 0; -EIO, -ENOSPC, -EDQUOT, -EROFS/-EINVAL (a file that cannot be synced); -EBADF
 * if f is being closed; -ECANCELED/-ETIMEDOUT if cancelled before it started; -EAGAIN;
 * -EINVAL if f is NULL; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_file_fsync(eddy_file *f);
EDDY_API EDDY_WUR int eddy_file_fdatasync(eddy_file *f);
/* Fill *st for f (fstat). Returns 0; -EBADF if f is being closed; -ECANCELED/-ETIMEDOUT if
 * cancelled before it started; -ENOMEM/-EOVERFLOW (the errors of fstat(2)); -EAGAIN; -EINVAL
 * if f or st is NULL; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_file_fstat(eddy_file *f, struct stat *st);

/* ---- F1: paths (abandoned when cancelled, see above) ----------------------------------- */

/* stat(2) / lstat(2) of path into *st (written only on success).
 * Returns 0; the errors of stat(2) (-ENOENT, -ENOTDIR, -EACCES, -ELOOP, -ENAMETOOLONG, ...);
 * -ECANCELED/-ETIMEDOUT; -ENOMEM; -EAGAIN; -EINVAL if path or st is NULL; -EPERM outside a
 * task. */
EDDY_API EDDY_WUR int eddy_file_stat(const char *path, struct stat *st);
EDDY_API EDDY_WUR int eddy_file_lstat(const char *path, struct stat *st);
/* rename(2) from to to. Returns 0; the errors of rename(2) (-ENOENT, -EXDEV, -EISDIR,
 * -ENOTEMPTY, -EACCES, -ENOSPC, -EIO, ...); -ECANCELED/-ETIMEDOUT (the rename may still happen); -ENOMEM;
 * -EAGAIN; -EINVAL for NULL paths; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_file_rename(const char *from, const char *to);
/* unlink(2) a file / rmdir(2) an empty directory. Returns 0; their errors (-ENOENT, -EISDIR,
 * -ENOTEMPTY, -EBUSY, ...); as eddy_file_rename otherwise. */
EDDY_API EDDY_WUR int eddy_file_unlink(const char *path);
EDDY_API EDDY_WUR int eddy_file_rmdir(const char *path);
/* mkdir(2) with mode. Returns 0; -EEXIST, -ENOENT, -ENOSPC, -EDQUOT, -EIO and the other errors
 * of mkdir(2); as eddy_file_rename otherwise. */
EDDY_API EDDY_WUR int eddy_file_mkdir(const char *path, mode_t mode);

/* ---- F1: reading directories ---------------------------------------------------------- */

/* An open directory, read entry by entry (a tracked handle, like eddy_file). Entries come in
 * the file system's order, "." and ".." left out; each eddy_dir_read hands out one from a
 * buffer that the pool refills in batches of many entries (one worker round trip per batch,
 * not per entry). */
typedef struct eddy_dir eddy_dir;

typedef struct eddy_dirent {
    uint64_t ino;       /* inode number */
    unsigned char type; /* DT_REG, DT_DIR, DT_LNK, ... (DT_UNKNOWN on some file systems:
                           eddy_file_lstat then tells) */
    char name[256];     /* NUL-terminated, at most NAME_MAX bytes */
} eddy_dirent;

/* Open the directory at path. Abandoned when cancelled (a directory opened too late is closed
 * again). Returns 0; the errors of open(2) with O_DIRECTORY (-ENOENT, -ENOTDIR, -EACCES,
 * -EMFILE, -ENFILE, ...); -ECANCELED/-ETIMEDOUT; -ENOMEM; -EAGAIN; -EINVAL if path or out is NULL;
 * -EPERM outside a task. */
#define eddy_dir_open(path, out) eddy__dir_open((path), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__dir_open(const char *path, eddy_dir **out, const char *site);
/* Next entry into *ent. One reader at a time. A refill of the buffer is waited for when the
 * caller is cancelled (nothing is lost: the next call continues where this one stopped).
 * Returns 1 with an entry; 0 at the end; -ECANCELED/-ETIMEDOUT if cancelled before a refill
 * started;
 * -EBUSY if another task is reading d; -EBADF if d is being closed; the errors of
 * getdents64 (-EIO, -ENOENT if the directory was removed); -EAGAIN; -EINVAL if d or ent is
 * NULL; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_dir_read(eddy_dir *d, eddy_dirent *ent);
/* Close d (waiting for a refill in flight, whose reader then gets -EBADF), free it. Not a
 * cancellation point. Returns 0 (also for NULL); -EBUSY outside a task while a task is
 * reading d (nothing happens). */
EDDY_API EDDY_WUR int eddy_dir_close(eddy_dir *d);

/* ---- F3: byte-range locks ------------------------------------------------------------- */

/* Open file description (OFD) locks: owned by the open file (the eddy_file), not by the
 * process, so two files opened on the same path in one process exclude each other, a lock
 * survives fork with the descriptor, and closing another descriptor of the file does not drop
 * it (the classic POSIX-lock traps). They are advisory and interoperate with F_SETLK locks
 * taken by other processes. Released by eddy_file_unlock or by closing the file.
 *
 * A blocking acquire (without EDDY_LOCK_NB) is cancellable. It is one F_OFD_SETLKW on a pool
 * worker, and a cancellation interrupts that system call with the pool's interrupt signal
 * (thread.h): the kernel queues the waiter and wakes it when the range frees up, so there is
 * no polling delay, no CPU spent while waiting and no starvation by polling rivals. A signal
 * landing just before the worker enters fcntl would be lost, so the canceller sends again
 * (1 ms, doubling to 100 ms) until the worker has left. When the signal is not available
 * (the program uses it, or interrupt_signal is 0), the acquire polls instead: F_OFD_SETLK,
 * then a cancellable sleep from 1 ms doubling to 100 ms, and again. */
enum {
    EDDY_LOCK_SH = 1u << 0, /* shared (read) lock: the file must be open for reading */
    EDDY_LOCK_EX = 1u << 1, /* exclusive (write) lock: the file must be open for writing */
    EDDY_LOCK_NB = 1u << 2, /* do not wait: -EAGAIN if the range is locked by another file */
};

/* Lock bytes [start, start + len) of f (len 0: from start to the end of the file, however
 * far it grows) as how says: exactly one of EDDY_LOCK_SH and EDDY_LOCK_EX, optionally
 * | EDDY_LOCK_NB. A range f already holds is converted (shared <-> exclusive). A cancelled
 * acquire takes nothing, unless the lock was granted before the interruption landed: then it
 * returns 0 and the next blocking call reports the cancellation.
 * Returns 0; -EAGAIN (EDDY_LOCK_NB) if another open file holds a conflicting lock;
 * -ECANCELED/-ETIMEDOUT if cancelled while waiting; -EBADF if f is not open for reading
 * (shared) or writing (exclusive), or is being closed; -ENOLCK if the kernel's lock table is
 * full; -EINVAL for NULL f, bad how, start < 0 or len < 0; -EAGAIN also if no worker could be
 * started; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_file_lock(eddy_file *f, unsigned how, int64_t start, int64_t len);
/* Release f's locks on [start, start + len) (len 0: to the end). Releasing a range that is not
 * locked is not an error. Not a cancellation point (so cleanup code in a cancelled scope can
 * unlock). Returns 0; -EBADF if f is being closed; -EINVAL for NULL f, start < 0 or len < 0;
 * -EAGAIN if no worker could be started; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_file_unlock(eddy_file *f, int64_t start, int64_t len);

/* ---- F2: watching files and directories (inotify) --------------------------------------- */

/* A receiver of change events from watched paths: an inotify instance read on the loop. The
 * kernel queues events (up to /proc/sys/fs/inotify/max_queued_events); when that queue
 * overflows the receiver delivers an event with IN_Q_OVERFLOW in mask (and wd -1), so a
 * consumer knows to rescan instead of missing changes silently. A tracked handle. */
typedef struct eddy_watch eddy_watch;

/* One event. */
typedef struct eddy_watch_event {
    int wd;          /* the watch it concerns (eddy_watch_add's value); -1 for IN_Q_OVERFLOW */
    uint32_t mask;   /* IN_* bits from <sys/inotify.h>: what happened (IN_MODIFY, IN_CREATE,
                        IN_MOVED_FROM, ...), IN_ISDIR, IN_IGNORED once a watch is gone
                        (removed, or its file deleted), IN_Q_OVERFLOW, IN_UNMOUNT */
    uint32_t cookie; /* equal for the IN_MOVED_FROM and IN_MOVED_TO halves of one rename */
    char name[256];  /* for events inside a watched directory: the entry's name; else "" */
} eddy_watch_event;

/* Make a receiver (inotify_init1, close-on-exec). Returns 0; -EMFILE (the per-user instance
 * limit, fs.inotify.max_user_instances, or the descriptor limit); -ENFILE; -ENOMEM; -EINVAL if
 * out is NULL; -EPERM outside a loop thread. */
#define eddy_watch_open(out) eddy__watch_open((out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__watch_open(eddy_watch **out, const char *site);
/* Watch path for the events in mask (IN_* bits; IN_ALL_EVENTS for all; IN_ONLYDIR,
 * IN_DONT_FOLLOW, IN_EXCL_UNLINK, IN_MASK_ADD, IN_ONESHOT modify it). Adding a path already
 * watched updates its mask and returns the same wd. The path lookup runs on the pool (it may
 * touch a slow file system); a cancelled add waits for it and returns its outcome.
 * Returns the watch descriptor (>= 0); -ENOENT, -EACCES, -ENOTDIR (IN_ONLYDIR), -ENOSPC (the
 * per-user watch limit, fs.inotify.max_user_watches) and the other errors of
 * inotify_add_watch; -EINVAL also for NULL w or path, or a mask with no event; -ECANCELED/
 * -ETIMEDOUT if cancelled before it started; -EBADF if w is being closed; -EAGAIN if no
 * worker could be started; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_watch_add(eddy_watch *w, const char *path, uint32_t mask);
/* Stop watching wd; an IN_IGNORED event for it follows. Never blocks. Returns 0; -EINVAL if
 * w is NULL or wd is not a watch of w. */
EDDY_API EDDY_WUR int eddy_watch_remove(eddy_watch *w, int wd);
/* Receive the next event into *ev, waiting for one. One receiver at a time. Cancellation
 * point: a cancelled receive takes no event.
 * Returns 0; -ECANCELED/-ETIMEDOUT; -EBUSY if another task is receiving; -EBADF if w is
 * being closed; -EINVAL if w or ev is NULL; -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_watch_recv(eddy_watch *w, eddy_watch_event *ev);
/* The next event if one is there, without waiting; callable from callbacks. Returns 0;
 * -EAGAIN if none; -EBUSY while a task is inside eddy_watch_recv; -EBADF; -EINVAL. */
EDDY_API EDDY_WUR int eddy_watch_try_recv(eddy_watch *w, eddy_watch_event *ev);
/* The inotify descriptor, readable while events wait (for an EDDY_CLAUSE_FD in eddy_choose,
 * then eddy_watch_try_recv; events already read into w's buffer do not show there: try_recv
 * until -EAGAIN first). -1 for NULL. */
EDDY_API int eddy_watch_fd(const eddy_watch *w);
/* Close w: a task blocked in eddy_watch_recv gets -EBADF; returns once it has left, then the
 * watches go with the descriptor. Not a cancellation point. Returns 0 (also for NULL);
 * -EBUSY outside a task while a task is receiving (nothing happens). */
EDDY_API EDDY_WUR int eddy_watch_close(eddy_watch *w);

#ifdef __cplusplus
}
#endif
#endif
