/* eddy: the system-call layer (SQLite's OS-layer idea). Every system call the library makes is
 * written eddy__sys_NAME(...) instead of NAME(...) (scripts/sys-calls.py converts call sites
 * mechanically), so one header decides what a call is:
 *
 *  - built without EDDY_FAULTS (release builds): eddy__sys_read(...) IS read(...), a direct
 *    call, the same machine code as before the layer existed;
 *  - built with EDDY_FAULTS (-DEDDY_FAULTS=ON; the default for Debug builds, which the ASan
 *    configuration is): each call site gets a static record (kind, file, line, function, hit
 *    count) in the ELF section "eddy_sys_sites", and asks eddy__sys_hit() before the real call
 *    whether a test armed a fault for it: fail with an errno, or shorten a read/write.
 *
 * Why macros and per-site records rather than a struct of function pointers: a pointer table
 * costs an indirect call in every build, and it cannot tell two call sites of the same kind
 * apart; the sweep (tests/test_fault_sweep.c) fails one call site at a time, so it needs the
 * site, and the release build should not pay for a test feature at all.
 *
 * The test-side control (eddy__sys_fault_set, counting, site enumeration) is at the end; it
 * exists only with EDDY_FAULTS. Never installed. */
#ifndef EDDY_LOOP_SYS_H
#define EDDY_LOOP_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* The kinds of call, X(ENUM, name). The order is the table's: append, never reorder (the
 * sweep prints names, not numbers, but a test may name a kind by its enum). */
#define EDDY__SYS_KINDS(X)                                                                     \
    X(READ, read) X(WRITE, write) X(READV, readv) X(WRITEV, writev) X(PREAD, pread)             \
    X(RECV, recv) X(RECVFROM, recvfrom) X(RECVMSG, recvmsg) X(SEND, send) X(SENDTO, sendto)     \
    X(SENDMSG, sendmsg) X(SENDFILE, sendfile) X(SPLICE, splice) X(ACCEPT4, accept4)             \
    X(CONNECT, connect) X(SOCKET, socket) X(SOCKETPAIR, socketpair) X(BIND, bind)               \
    X(LISTEN, listen) X(SETSOCKOPT, setsockopt) X(GETSOCKOPT, getsockopt)                       \
    X(GETSOCKNAME, getsockname) X(GETPEERNAME, getpeername) X(SHUTDOWN, shutdown)               \
    X(CLOSE, close) X(PIPE2, pipe2) X(EVENTFD, eventfd) X(EPOLL_CREATE1, epoll_create1)         \
    X(EPOLL_CTL, epoll_ctl) X(EPOLL_WAIT, epoll_wait) X(TIMERFD_CREATE, timerfd_create)         \
    X(TIMERFD_SETTIME, timerfd_settime) X(SIGNALFD, signalfd) X(MMAP, mmap) X(MUNMAP, munmap)   \
    X(MPROTECT, mprotect) X(MADVISE, madvise) X(OPEN, open) X(OPENAT, openat) X(FSTAT, fstat)   \
    X(FCNTL, fcntl) X(DUP, dup) X(UNLINK, unlink) X(POLL, poll) X(WAITID, waitid)               \
    X(WAITPID, waitpid) X(KILL, kill) X(POSIX_SPAWNP, posix_spawnp) X(SYSCALL, syscall)     \
    X(RECVMMSG, recvmmsg) X(SENDMMSG, sendmmsg) X(PWRITE, pwrite) X(PREADV, preadv)            \
    X(PWRITEV, pwritev) X(FSYNC, fsync) X(FDATASYNC, fdatasync) X(STATX, statx)                 \
    X(RENAMEAT, renameat) X(UNLINKAT, unlinkat) X(MKDIRAT, mkdirat)                             \
    X(INOTIFY_INIT1, inotify_init1) X(INOTIFY_ADD_WATCH, inotify_add_watch)                     \
    X(INOTIFY_RM_WATCH, inotify_rm_watch) X(PTHREAD_CREATE, pthread_create)                     \
    X(IO_URING_QUEUE_INIT_PARAMS, io_uring_queue_init_params) X(IO_URING_SUBMIT, io_uring_submit) \
    X(IO_URING_SUBMIT_AND_WAIT, io_uring_submit_and_wait)                                       \
    X(IO_URING_SUBMIT_AND_WAIT_TIMEOUT, io_uring_submit_and_wait_timeout)                       \
    X(IO_URING_SUBMIT_AND_GET_EVENTS, io_uring_submit_and_get_events)                           \
    X(IO_URING_REGISTER_BUF_RING, io_uring_register_buf_ring)                                   \
    X(IO_URING_UNREGISTER_BUF_RING, io_uring_unregister_buf_ring)                               \
    X(IO_URING_GET_PROBE_RING, io_uring_get_probe_ring) X(IO_URING_GET_SQE, io_uring_get_sqe)     \
    EDDY__SYS_CQE_KINDS(X)

/* The io_uring backend's completions (loop/uring.c): an operation submitted as an SQE makes no
 * system call of its own, so its result is a site of its own, one per kind of operation, where
 * the CQE's res is delivered. A fault there completes the operation with -errno without doing
 * it (the SQE becomes a NOP carrying the errno), or does it with half the length (a short
 * count), as the kernel could. Their names are not functions: scripts/sys-calls.py finds no
 * call to rewrite. */
#define EDDY__SYS_CQE_KINDS(X)                                                                 \
    X(CQE_READ, cqe_read) X(CQE_WRITE, cqe_write) X(CQE_READV, cqe_readv)                       \
    X(CQE_WRITEV, cqe_writev) X(CQE_RECV, cqe_recv) X(CQE_SEND, cqe_send)                       \
    X(CQE_RECVMSG, cqe_recvmsg) X(CQE_SENDMSG, cqe_sendmsg) X(CQE_ACCEPT, cqe_accept)           \
    X(CQE_CONNECT, cqe_connect) X(CQE_POLL, cqe_poll) X(CQE_RECV_MULTISHOT, cqe_recv_multishot)

#define EDDY__SYS_ENUM_(E, n) EDDY__SYS_##E,
enum { EDDY__SYS_KINDS(EDDY__SYS_ENUM_) EDDY__SYS_NKINDS };
#undef EDDY__SYS_ENUM_

#ifndef EDDY_FAULTS

/* Direct calls: the layer does not exist in the object code. */
#define eddy__sys_read(...) read(__VA_ARGS__)
#define eddy__sys_write(...) write(__VA_ARGS__)
#define eddy__sys_readv(...) readv(__VA_ARGS__)
#define eddy__sys_writev(...) writev(__VA_ARGS__)
#define eddy__sys_pread(...) pread(__VA_ARGS__)
#define eddy__sys_recv(...) recv(__VA_ARGS__)
#define eddy__sys_recvfrom(...) recvfrom(__VA_ARGS__)
#define eddy__sys_recvmsg(...) recvmsg(__VA_ARGS__)
#define eddy__sys_send(...) send(__VA_ARGS__)
#define eddy__sys_sendto(...) sendto(__VA_ARGS__)
#define eddy__sys_sendmsg(...) sendmsg(__VA_ARGS__)
#define eddy__sys_sendfile(...) sendfile(__VA_ARGS__)
#define eddy__sys_splice(...) splice(__VA_ARGS__)
#define eddy__sys_accept4(...) accept4(__VA_ARGS__)
#define eddy__sys_connect(...) connect(__VA_ARGS__)
#define eddy__sys_socket(...) socket(__VA_ARGS__)
#define eddy__sys_socketpair(...) socketpair(__VA_ARGS__)
#define eddy__sys_bind(...) bind(__VA_ARGS__)
#define eddy__sys_listen(...) listen(__VA_ARGS__)
#define eddy__sys_setsockopt(...) setsockopt(__VA_ARGS__)
#define eddy__sys_getsockopt(...) getsockopt(__VA_ARGS__)
#define eddy__sys_getsockname(...) getsockname(__VA_ARGS__)
#define eddy__sys_getpeername(...) getpeername(__VA_ARGS__)
#define eddy__sys_shutdown(...) shutdown(__VA_ARGS__)
#define eddy__sys_close(...) close(__VA_ARGS__)
#define eddy__sys_pipe2(...) pipe2(__VA_ARGS__)
#define eddy__sys_eventfd(...) eventfd(__VA_ARGS__)
#define eddy__sys_epoll_create1(...) epoll_create1(__VA_ARGS__)
#define eddy__sys_epoll_ctl(...) epoll_ctl(__VA_ARGS__)
#define eddy__sys_epoll_wait(...) epoll_wait(__VA_ARGS__)
#define eddy__sys_timerfd_create(...) timerfd_create(__VA_ARGS__)
#define eddy__sys_timerfd_settime(...) timerfd_settime(__VA_ARGS__)
#define eddy__sys_signalfd(...) signalfd(__VA_ARGS__)
#define eddy__sys_mmap(...) mmap(__VA_ARGS__)
#define eddy__sys_munmap(...) munmap(__VA_ARGS__)
#define eddy__sys_mprotect(...) mprotect(__VA_ARGS__)
#define eddy__sys_madvise(...) madvise(__VA_ARGS__)
#define eddy__sys_open(...) open(__VA_ARGS__)
#define eddy__sys_openat(...) openat(__VA_ARGS__)
#define eddy__sys_fstat(...) fstat(__VA_ARGS__)
#define eddy__sys_fcntl(...) fcntl(__VA_ARGS__)
#define eddy__sys_dup(...) dup(__VA_ARGS__)
#define eddy__sys_unlink(...) unlink(__VA_ARGS__)
#define eddy__sys_poll(...) poll(__VA_ARGS__)
#define eddy__sys_waitid(...) waitid(__VA_ARGS__)
#define eddy__sys_waitpid(...) waitpid(__VA_ARGS__)
#define eddy__sys_kill(...) kill(__VA_ARGS__)
#define eddy__sys_posix_spawnp(...) posix_spawnp(__VA_ARGS__)
#define eddy__sys_syscall(...) syscall(__VA_ARGS__)
#define eddy__sys_recvmmsg(...) recvmmsg(__VA_ARGS__)
#define eddy__sys_sendmmsg(...) sendmmsg(__VA_ARGS__)
#define eddy__sys_pwrite(...) pwrite(__VA_ARGS__)
#define eddy__sys_preadv(...) preadv(__VA_ARGS__)
#define eddy__sys_pwritev(...) pwritev(__VA_ARGS__)
#define eddy__sys_fsync(...) fsync(__VA_ARGS__)
#define eddy__sys_fdatasync(...) fdatasync(__VA_ARGS__)
#define eddy__sys_statx(...) statx(__VA_ARGS__)
#define eddy__sys_renameat(...) renameat(__VA_ARGS__)
#define eddy__sys_unlinkat(...) unlinkat(__VA_ARGS__)
#define eddy__sys_mkdirat(...) mkdirat(__VA_ARGS__)
#define eddy__sys_inotify_init1(...) inotify_init1(__VA_ARGS__)
#define eddy__sys_inotify_add_watch(...) inotify_add_watch(__VA_ARGS__)
#define eddy__sys_inotify_rm_watch(...) inotify_rm_watch(__VA_ARGS__)
#define eddy__sys_pthread_create(...) pthread_create(__VA_ARGS__)
#define eddy__sys_io_uring_queue_init_params(...) io_uring_queue_init_params(__VA_ARGS__)
#define eddy__sys_io_uring_submit(...) io_uring_submit(__VA_ARGS__)
#define eddy__sys_io_uring_submit_and_wait(...) io_uring_submit_and_wait(__VA_ARGS__)
#define eddy__sys_io_uring_submit_and_wait_timeout(...) io_uring_submit_and_wait_timeout(__VA_ARGS__)
#define eddy__sys_io_uring_submit_and_get_events(...) io_uring_submit_and_get_events(__VA_ARGS__)
#define eddy__sys_io_uring_register_buf_ring(...) io_uring_register_buf_ring(__VA_ARGS__)
#define eddy__sys_io_uring_unregister_buf_ring(...) io_uring_unregister_buf_ring(__VA_ARGS__)
#define eddy__sys_io_uring_get_probe_ring(...) io_uring_get_probe_ring(__VA_ARGS__)
#define eddy__sys_io_uring_get_sqe(...) io_uring_get_sqe(__VA_ARGS__)

#else /* EDDY_FAULTS */

/* One call site. Written only through eddy__sys_hit (hits, atomically) after static
 * initialisation; read by the test control. */
typedef struct eddy__sys_site {
    int kind;         /* EDDY__SYS_* */
    int line;
    const char *file; /* __FILE__ of the call */
    const char *func; /* the calling function */
    unsigned hits;    /* calls made here since the last eddy__sys_count_reset */
} eddy__sys_site;

/* What eddy__sys_hit returns besides 0 (make the call) and a positive errno (fail with it). */
#define EDDY__SYS_SHORT (-1)

/* Count a call at site s; 0, an errno to fail it with, or EDDY__SYS_SHORT. Async-signal-safe
 * (the signal dispatcher's handler writes through the layer) and thread-safe. */
int eddy__sys_hit(eddy__sys_site *s) __attribute__((visibility("hidden")));
/* Half of n, at least 1 (0 stays 0): the length a shortened read or write asks for. */
size_t eddy__sys_shorten(size_t n) __attribute__((visibility("hidden")));
/* readv/writev/recvmsg/sendmsg asking for part of the first non-empty buffer only. */
ssize_t eddy__sys_vshort(int kind, int fd, const struct iovec *iov, int cnt, struct msghdr *m,
                         int flags) __attribute__((visibility("hidden")));

/* The site record of this call: one static per expansion, its address also put in the section
 * so the test can list every site linked in, reached or not. The records themselves live in
 * ordinary data; the section holds only pointers, so sanitizer padding cannot skew it. */
#define EDDY__SYS_SITE(K)                                                                      \
    ({                                                                                         \
        static eddy__sys_site eddy__sys_s_ = {EDDY__SYS_##K, __LINE__, __FILE__, __func__, 0};  \
        static eddy__sys_site *const eddy__sys_p_                                              \
            __attribute__((section("eddy_sys_sites"), used)) = &eddy__sys_s_;                  \
        (void)eddy__sys_p_;                                                                    \
        &eddy__sys_s_;                                                                         \
    })

/* A call that can only fail: fail with the armed errno, returning failv. */
#define EDDY__SYS_PLAIN(K, failv, fn, ...)                                                     \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(K));                                   \
        eddy__sys_e_ > 0 ? (errno = eddy__sys_e_, (failv)) : fn(__VA_ARGS__);                   \
    })
/* A read or write whose third argument is the length: it may also be shortened. */
#define EDDY__SYS_LEN3(K, fn, a, b, n, ...)                                                    \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(K));                                   \
        eddy__sys_e_ > 0 ? (errno = eddy__sys_e_, (ssize_t)-1)                                 \
                         : fn((a), (b), eddy__sys_e_ ? eddy__sys_shorten(n) : (n), ##__VA_ARGS__); \
    })

#define eddy__sys_read(fd, b, n) EDDY__SYS_LEN3(READ, read, fd, b, n)
#define eddy__sys_write(fd, b, n) EDDY__SYS_LEN3(WRITE, write, fd, b, n)
#define eddy__sys_pread(fd, b, n, off) EDDY__SYS_LEN3(PREAD, pread, fd, b, n, off)
#define eddy__sys_recv(fd, b, n, fl) EDDY__SYS_LEN3(RECV, recv, fd, b, n, fl)
#define eddy__sys_recvfrom(fd, b, n, fl, a, al) EDDY__SYS_LEN3(RECVFROM, recvfrom, fd, b, n, fl, a, al)
#define eddy__sys_send(fd, b, n, fl) EDDY__SYS_LEN3(SEND, send, fd, b, n, fl)
#define eddy__sys_sendto(fd, b, n, fl, a, al) EDDY__SYS_LEN3(SENDTO, sendto, fd, b, n, fl, a, al)
/* for the batch calls, "short" is fewer datagrams */
#define eddy__sys_recvmmsg(fd, h, n, fl, t) EDDY__SYS_LEN3(RECVMMSG, recvmmsg, fd, h, n, fl, t)
#define eddy__sys_sendmmsg(fd, h, n, fl) EDDY__SYS_LEN3(SENDMMSG, sendmmsg, fd, h, n, fl)
#define eddy__sys_pwrite(fd, b, n, off) EDDY__SYS_LEN3(PWRITE, pwrite, fd, b, n, off)
/* positioned vectored file I/O: short means fewer buffers (at least one) */
#define EDDY__SYS_PVEC(K, fn, fd, iov, cnt, off)                                               \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(K));                                   \
        eddy__sys_e_ > 0 ? (errno = eddy__sys_e_, (ssize_t)-1)                                 \
                         : fn((fd), (iov), eddy__sys_e_ ? (int)eddy__sys_shorten((size_t)(cnt)) \
                                                        : (cnt), (off));                       \
    })
#define eddy__sys_preadv(fd, iov, cnt, off) EDDY__SYS_PVEC(PREADV, preadv, fd, iov, cnt, off)
#define eddy__sys_pwritev(fd, iov, cnt, off) EDDY__SYS_PVEC(PWRITEV, pwritev, fd, iov, cnt, off)
#define eddy__sys_sendfile(o, i, off, n)                                                       \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(SENDFILE));                            \
        eddy__sys_e_ > 0 ? (errno = eddy__sys_e_, (ssize_t)-1)                                 \
                         : sendfile((o), (i), (off), eddy__sys_e_ ? eddy__sys_shorten(n) : (n)); \
    })
#define eddy__sys_splice(fi, oi, fo, oo, n, fl)                                                \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(SPLICE));                              \
        eddy__sys_e_ > 0 ? (errno = eddy__sys_e_, (ssize_t)-1)                                 \
                         : splice((fi), (oi), (fo), (oo),                                      \
                                  eddy__sys_e_ ? eddy__sys_shorten(n) : (n), (fl));             \
    })
/* Vectored calls: shortened by eddy__sys_vshort. */
#define EDDY__SYS_VEC(K, fn, fd, iov, cnt)                                                     \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(K));                                   \
        eddy__sys_e_ > 0  ? (errno = eddy__sys_e_, (ssize_t)-1)                                \
        : eddy__sys_e_ < 0 ? eddy__sys_vshort(EDDY__SYS_##K, (fd), (iov), (cnt), NULL, 0)      \
                           : fn((fd), (iov), (cnt));                                           \
    })
#define EDDY__SYS_MSG(K, fn, fd, m, fl)                                                        \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(K));                                   \
        eddy__sys_e_ > 0  ? (errno = eddy__sys_e_, (ssize_t)-1)                                \
        : eddy__sys_e_ < 0 ? eddy__sys_vshort(EDDY__SYS_##K, (fd), NULL, 0,                    \
                                              (struct msghdr *)(m), (fl))                      \
                           : fn((fd), (m), (fl));                                              \
    })
#define eddy__sys_readv(fd, iov, cnt) EDDY__SYS_VEC(READV, readv, fd, iov, cnt)
#define eddy__sys_writev(fd, iov, cnt) EDDY__SYS_VEC(WRITEV, writev, fd, iov, cnt)
#define eddy__sys_recvmsg(fd, m, fl) EDDY__SYS_MSG(RECVMSG, recvmsg, fd, m, fl)
#define eddy__sys_sendmsg(fd, m, fl) EDDY__SYS_MSG(SENDMSG, sendmsg, fd, m, fl)

/* close(2) on Linux releases the descriptor even when it reports EINTR or EIO, so an injected
 * close failure closes for real and then reports the error: a fault must not invent a leak the
 * kernel would never cause. */
#define eddy__sys_close(fd)                                                                    \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(CLOSE));                               \
        int eddy__sys_r_ = close(fd);                                                          \
        if (eddy__sys_e_ > 0) errno = eddy__sys_e_, eddy__sys_r_ = -1;                         \
        eddy__sys_r_;                                                                          \
    })
/* posix_spawnp returns its error instead of setting errno. */
#define eddy__sys_posix_spawnp(...)                                                            \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(POSIX_SPAWNP));                        \
        eddy__sys_e_ > 0 ? eddy__sys_e_ : posix_spawnp(__VA_ARGS__);                          \
    })
#define eddy__sys_mmap(...) EDDY__SYS_PLAIN(MMAP, MAP_FAILED, mmap, __VA_ARGS__)
#define eddy__sys_syscall(...) EDDY__SYS_PLAIN(SYSCALL, -1L, syscall, __VA_ARGS__)
#define eddy__sys_accept4(...) EDDY__SYS_PLAIN(ACCEPT4, -1, accept4, __VA_ARGS__)
#define eddy__sys_connect(...) EDDY__SYS_PLAIN(CONNECT, -1, connect, __VA_ARGS__)
#define eddy__sys_socket(...) EDDY__SYS_PLAIN(SOCKET, -1, socket, __VA_ARGS__)
#define eddy__sys_socketpair(...) EDDY__SYS_PLAIN(SOCKETPAIR, -1, socketpair, __VA_ARGS__)
#define eddy__sys_bind(...) EDDY__SYS_PLAIN(BIND, -1, bind, __VA_ARGS__)
#define eddy__sys_listen(...) EDDY__SYS_PLAIN(LISTEN, -1, listen, __VA_ARGS__)
#define eddy__sys_setsockopt(...) EDDY__SYS_PLAIN(SETSOCKOPT, -1, setsockopt, __VA_ARGS__)
#define eddy__sys_getsockopt(...) EDDY__SYS_PLAIN(GETSOCKOPT, -1, getsockopt, __VA_ARGS__)
#define eddy__sys_getsockname(...) EDDY__SYS_PLAIN(GETSOCKNAME, -1, getsockname, __VA_ARGS__)
#define eddy__sys_getpeername(...) EDDY__SYS_PLAIN(GETPEERNAME, -1, getpeername, __VA_ARGS__)
#define eddy__sys_shutdown(...) EDDY__SYS_PLAIN(SHUTDOWN, -1, shutdown, __VA_ARGS__)
#define eddy__sys_pipe2(...) EDDY__SYS_PLAIN(PIPE2, -1, pipe2, __VA_ARGS__)
#define eddy__sys_eventfd(...) EDDY__SYS_PLAIN(EVENTFD, -1, eventfd, __VA_ARGS__)
#define eddy__sys_epoll_create1(...) EDDY__SYS_PLAIN(EPOLL_CREATE1, -1, epoll_create1, __VA_ARGS__)
#define eddy__sys_epoll_ctl(...) EDDY__SYS_PLAIN(EPOLL_CTL, -1, epoll_ctl, __VA_ARGS__)
#define eddy__sys_epoll_wait(...) EDDY__SYS_PLAIN(EPOLL_WAIT, -1, epoll_wait, __VA_ARGS__)
#define eddy__sys_timerfd_create(...) EDDY__SYS_PLAIN(TIMERFD_CREATE, -1, timerfd_create, __VA_ARGS__)
#define eddy__sys_timerfd_settime(...) EDDY__SYS_PLAIN(TIMERFD_SETTIME, -1, timerfd_settime, __VA_ARGS__)
#define eddy__sys_signalfd(...) EDDY__SYS_PLAIN(SIGNALFD, -1, signalfd, __VA_ARGS__)
#define eddy__sys_munmap(...) EDDY__SYS_PLAIN(MUNMAP, -1, munmap, __VA_ARGS__)
#define eddy__sys_mprotect(...) EDDY__SYS_PLAIN(MPROTECT, -1, mprotect, __VA_ARGS__)
#define eddy__sys_madvise(...) EDDY__SYS_PLAIN(MADVISE, -1, madvise, __VA_ARGS__)
#define eddy__sys_open(...) EDDY__SYS_PLAIN(OPEN, -1, open, __VA_ARGS__)
#define eddy__sys_openat(...) EDDY__SYS_PLAIN(OPENAT, -1, openat, __VA_ARGS__)
#define eddy__sys_fstat(...) EDDY__SYS_PLAIN(FSTAT, -1, fstat, __VA_ARGS__)
#define eddy__sys_fcntl(...) EDDY__SYS_PLAIN(FCNTL, -1, fcntl, __VA_ARGS__)
#define eddy__sys_dup(...) EDDY__SYS_PLAIN(DUP, -1, dup, __VA_ARGS__)
#define eddy__sys_unlink(...) EDDY__SYS_PLAIN(UNLINK, -1, unlink, __VA_ARGS__)
#define eddy__sys_poll(...) EDDY__SYS_PLAIN(POLL, -1, poll, __VA_ARGS__)
#define eddy__sys_waitid(...) EDDY__SYS_PLAIN(WAITID, -1, waitid, __VA_ARGS__)
#define eddy__sys_waitpid(...) EDDY__SYS_PLAIN(WAITPID, (pid_t)-1, waitpid, __VA_ARGS__)
#define eddy__sys_kill(...) EDDY__SYS_PLAIN(KILL, -1, kill, __VA_ARGS__)
#define eddy__sys_fsync(...) EDDY__SYS_PLAIN(FSYNC, -1, fsync, __VA_ARGS__)
#define eddy__sys_fdatasync(...) EDDY__SYS_PLAIN(FDATASYNC, -1, fdatasync, __VA_ARGS__)
#define eddy__sys_statx(...) EDDY__SYS_PLAIN(STATX, -1, statx, __VA_ARGS__)
#define eddy__sys_renameat(...) EDDY__SYS_PLAIN(RENAMEAT, -1, renameat, __VA_ARGS__)
#define eddy__sys_unlinkat(...) EDDY__SYS_PLAIN(UNLINKAT, -1, unlinkat, __VA_ARGS__)
#define eddy__sys_mkdirat(...) EDDY__SYS_PLAIN(MKDIRAT, -1, mkdirat, __VA_ARGS__)
#define eddy__sys_inotify_init1(...) EDDY__SYS_PLAIN(INOTIFY_INIT1, -1, inotify_init1, __VA_ARGS__)
#define eddy__sys_inotify_add_watch(...) EDDY__SYS_PLAIN(INOTIFY_ADD_WATCH, -1, inotify_add_watch, __VA_ARGS__)
#define eddy__sys_inotify_rm_watch(...) EDDY__SYS_PLAIN(INOTIFY_RM_WATCH, -1, inotify_rm_watch, __VA_ARGS__)
/* pthread_create returns its error instead of setting errno. */
#define eddy__sys_pthread_create(...)                                                          \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(PTHREAD_CREATE));                      \
        eddy__sys_e_ > 0 ? eddy__sys_e_ : pthread_create(__VA_ARGS__);                         \
    })

/* liburing's entry points return a negative errno (the probe: NULL) and leave errno alone.
 * They are the calls that enter the kernel (io_uring_setup, io_uring_enter,
 * io_uring_register); an operation's own result arrives in its CQE, whose sites are the
 * EDDY__SYS_CQE_KINDS (loop/uring.c). Expanded only where liburing.h is included (the
 * io_uring backend). */
#define EDDY__SYS_NEG(K, fn, ...)                                                              \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(K));                                   \
        eddy__sys_e_ > 0 ? -eddy__sys_e_ : fn(__VA_ARGS__);                                    \
    })
#define eddy__sys_io_uring_queue_init_params(...)                                              \
    EDDY__SYS_NEG(IO_URING_QUEUE_INIT_PARAMS, io_uring_queue_init_params, __VA_ARGS__)
#define eddy__sys_io_uring_submit(...) EDDY__SYS_NEG(IO_URING_SUBMIT, io_uring_submit, __VA_ARGS__)
#define eddy__sys_io_uring_submit_and_wait(...)                                                \
    EDDY__SYS_NEG(IO_URING_SUBMIT_AND_WAIT, io_uring_submit_and_wait, __VA_ARGS__)
#define eddy__sys_io_uring_submit_and_wait_timeout(...)                                        \
    EDDY__SYS_NEG(IO_URING_SUBMIT_AND_WAIT_TIMEOUT, io_uring_submit_and_wait_timeout, __VA_ARGS__)
#define eddy__sys_io_uring_submit_and_get_events(...)                                          \
    EDDY__SYS_NEG(IO_URING_SUBMIT_AND_GET_EVENTS, io_uring_submit_and_get_events, __VA_ARGS__)
#define eddy__sys_io_uring_register_buf_ring(...)                                              \
    EDDY__SYS_NEG(IO_URING_REGISTER_BUF_RING, io_uring_register_buf_ring, __VA_ARGS__)
#define eddy__sys_io_uring_unregister_buf_ring(...)                                            \
    EDDY__SYS_NEG(IO_URING_UNREGISTER_BUF_RING, io_uring_unregister_buf_ring, __VA_ARGS__)
#define eddy__sys_io_uring_get_probe_ring(...)                                                 \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(IO_URING_GET_PROBE_RING));             \
        eddy__sys_e_ > 0 ? (errno = eddy__sys_e_, (struct io_uring_probe *)NULL)               \
                         : io_uring_get_probe_ring(__VA_ARGS__);                               \
    })
/* No free SQE: the ring is full (any errno armed means that; the sweep arms EBUSY). */
#define eddy__sys_io_uring_get_sqe(...)                                                        \
    ({                                                                                         \
        int eddy__sys_e_ = eddy__sys_hit(EDDY__SYS_SITE(IO_URING_GET_SQE));                    \
        eddy__sys_e_ > 0 ? (struct io_uring_sqe *)NULL : io_uring_get_sqe(__VA_ARGS__);        \
    })

/* ---- test-side control (tests/test_fault_sweep.c, regression tests) ---------------------- */

/* Which calls fail. A call matches when it is at site (if set), else of kind (if >= 0) in the
 * function func (if set; the calling function's name, stable across edits where a line number
 * is not). The matching calls are numbered from 1 since eddy__sys_fault_set; calls nth ..
 * nth + count - 1 fail with err (an errno, or EDDY__SYS_SHORT for a short read/write).
 * count 0 means 1; UINT32_MAX means every call from nth on. */
typedef struct eddy__sys_fault {
    const eddy__sys_site *site;
    int kind;
    const char *func;
    unsigned nth;
    unsigned count;
    int err;
} eddy__sys_fault;

/* Arm f (copied), or disarm with NULL. Process-wide. */
void eddy__sys_fault_set(const eddy__sys_fault *f) __attribute__((visibility("hidden")));
/* How many calls the armed fault has failed (or shortened) so far. */
unsigned eddy__sys_fault_fired(void) __attribute__((visibility("hidden")));
/* Zero every site's hit count (counting mode: run, then read the sites' hits). */
void eddy__sys_count_reset(void) __attribute__((visibility("hidden")));
/* Every call site linked into the program: *n records. */
eddy__sys_site *const *eddy__sys_sites(size_t *n) __attribute__((visibility("hidden")));
/* fd is a datagram socket (asked directly, not through the layer): the sites that a UDP
 * socket's recvmsg/sendmsg share with a stream's tell them apart with it, because what the
 * kernel can answer differs (ECONNREFUSED; never ECONNRESET, EPIPE or a partial datagram). */
bool eddy__sys_is_dgram(int fd) __attribute__((visibility("hidden")));
/* "read", "accept4", ...; "?" for a bad kind. */
const char *eddy__sys_kind_name(int kind) __attribute__((visibility("hidden")));

#endif /* EDDY_FAULTS */
#endif
