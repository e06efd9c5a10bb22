/* eddy io: Unix domain sockets (N4): names (paths and the abstract namespace), listen,
 * connect, socket pairs, descriptor passing and peer credentials. Streams are descriptor
 * streams of kind "unix"; accept is the generic listener's (tcp.c). */
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "eddy/unix.h"
#include "io/io.h"
#include "loop/sys.h"

/* Descriptors one eddy_unix_recv_fd makes room for: one is expected; the others are there so
 * that a peer attaching a few more does not make the kernel truncate (and so drop) them
 * silently; whatever arrives beyond the first is closed. */
#define RECV_FD_MAX 8

int eddy_sockaddr_unix(const char *name, eddy_sockaddr *out)
{
    if (!out) return -EINVAL;
    memset(out, 0, sizeof *out);
    if (!name || !*name) return -EINVAL;
    struct sockaddr_un *u = (struct sockaddr_un *)&out->ss;
    u->sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (name[0] == '@') {
        /* Abstract: a leading NUL, then exactly n - 1 name bytes (no terminator; the length
         * delimits the name, so it must be passed exactly). */
        if (n > sizeof u->sun_path) return -ENAMETOOLONG;
        if (n == 1) { /* "@": the family alone, which bind turns into a kernel-picked name */
            out->len = (socklen_t)offsetof(struct sockaddr_un, sun_path);
            return 0;
        }
        memcpy(u->sun_path + 1, name + 1, n - 1);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        return 0;
    }
    if (n >= sizeof u->sun_path) return -ENAMETOOLONG;
    memcpy(u->sun_path, name, n + 1);
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

static eddy_task *task_or_null(void)
{
    eddy_loop *l = eddy__loop();
    if (!l || l->in_callback) return NULL;
    return l->current;
}

/* A path holding a socket that refuses connections was left by a process that is gone. */
static void remove_if_stale(const eddy_sockaddr *a, const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) return;
    int fd = eddy__sys_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    if (eddy__sys_connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno == ECONNREFUSED)
        (void)eddy__sys_unlink(path);
    eddy__sys_close(fd);
}

int eddy__unix_listen(const char *name, const eddy_unix_listen_opts *o, eddy_listener **out,
                      const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!eddy__loop()) return -EPERM;
    eddy_unix_listen_opts def = {0};
    if (!o) o = &def;
    if (o->backlog < 0) return -EINVAL;
    eddy_sockaddr a;
    int rc = eddy_sockaddr_unix(name, &a);
    if (rc < 0) return rc;
    bool is_path = name[0] != '@';
    char *unlink_path = NULL;
    if (is_path && o->unlink_on_close && !(unlink_path = strdup(name))) return -ENOMEM;
    if (is_path && o->unlink_stale) remove_if_stale(&a, name);
    int fd = eddy__socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = fd;
        goto fail;
    }
    if (eddy__sys_bind(fd, (const struct sockaddr *)&a.ss, a.len) < 0) {
        rc = -errno;
        goto fail;
    }
    if (eddy__sys_listen(fd, o->backlog > 0 ? o->backlog : SOMAXCONN) < 0) {
        rc = -errno;
        if (is_path) (void)eddy__sys_unlink(name); /* we created the file with bind */
        goto fail;
    }
    rc = eddy__listener_new(fd, AF_UNIX, unlink_path, site, out);
    if (rc == 0) return 0;
    if (is_path) (void)eddy__sys_unlink(name);
fail:
    if (fd >= 0) eddy__sys_close(fd);
    free(unlink_path);
    return rc;
}

int eddy__unix_connect(const char *name, eddy_stream **out, const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    eddy_task *t = task_or_null();
    if (!t) return -EPERM;
    if (!name || strcmp(name, "@") == 0) return -EINVAL;
    eddy_sockaddr a;
    int rc = eddy_sockaddr_unix(name, &a);
    if (rc < 0) return rc;
    int c = eddy__cancel_code(t);
    if (c) return c;
    int fd = eddy__socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fd;
    /* A Unix connect is synchronous: it links to the listener's backlog or fails at once
     * (EAGAIN when the backlog is full: there is no event to wait for). */
    while (eddy__sys_connect(fd, (const struct sockaddr *)&a.ss, a.len) < 0) {
        if (errno == EINTR) continue;
        rc = errno == EWOULDBLOCK ? -EAGAIN : -errno;
        eddy__sys_close(fd);
        return rc;
    }
    rc = eddy__fdstream_new(fd, true, -1, 0, &eddy__fdstream_vt_unix, site, out);
    if (rc < 0) eddy__sys_close(fd);
    return eddy__coop_done(t, rc); /* a Unix connect never suspends */
}

int eddy__socketpair(eddy_stream **a, eddy_stream **b, const char *site)
{
    if (a) *a = NULL;
    if (b) *b = NULL;
    if (!a || !b) return -EINVAL;
    if (!eddy__loop()) return -EPERM;
    int sv[2];
    if (eddy__sys_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
    int rc = eddy__fdstream_new(sv[0], true, -1, 0, &eddy__fdstream_vt_unix, site, a);
    if (rc < 0) {
        eddy__sys_close(sv[0]);
        eddy__sys_close(sv[1]);
        return rc;
    }
    rc = eddy__fdstream_new(sv[1], true, -1, 0, &eddy__fdstream_vt_unix, site, b);
    if (rc < 0) {
        eddy_stream_abort(*a);
        *a = NULL;
        eddy__sys_close(sv[1]);
    }
    return rc;
}

/* The Unix socket under s, or a negative errno. */
static int unix_fd(eddy_stream *s)
{
    if (s->vt != &eddy__fdstream_vt_unix) return -ENOTSOCK;
    int fd = ((eddy__fdstream *)s)->io.fd;
    if (fd < 0) return -EBADF;
    /* eddy_fd_stream gives kind "unix" to any socket that is not TCP: check the family. */
    int dom = 0;
    socklen_t dl = sizeof dom;
    if (eddy__sys_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) < 0 || dom != AF_UNIX) return -ENOTSOCK;
    return fd;
}

int eddy_unix_send_fd(eddy_stream *s, int fd)
{
    if (!s) return -EINVAL;
    int sfd = unix_fd(s);
    if (sfd < 0) return sfd;
    if (fd < 0) return -EBADF;
    int rc = eddy__stream_write_begin(s);
    if (rc < 0) return rc;
    char byte = 0;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    /* A one-byte send on a stream socket is all or nothing. */
    ssize_t n = eddy__io_sendmsg(&((eddy__fdstream *)s)->io, &m, 0, 0);
    rc = n < 0 ? (int)n : 0;
    eddy__stream_write_end(s);
    return rc;
}

/* Take the descriptors out of a received message: the first goes to *first (if it is still
 * -1), every other one is closed. Returns how many there were. */
static int collect_fds(struct msghdr *m, int *first)
{
    int count = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*first < 0)
                *first = fd;
            else
                eddy__sys_close(fd);
            count++;
        }
    }
    return count;
}

int eddy_unix_recv_fd(eddy_stream *s, int *fdp)
{
    if (fdp) *fdp = -1;
    if (!s || !fdp) return -EINVAL;
    int sfd = unix_fd(s);
    if (sfd < 0) return sfd;
    int rc = eddy__stream_begin_read(s);
    if (rc < 0) return rc;
    eddy__fdstream *f = (eddy__fdstream *)s;
    char byte;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(RECV_FD_MAX * sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
    ssize_t n = eddy__io_recvmsg(&f->io, &m, MSG_CMSG_CLOEXEC, 0);
    if (n > 0) {
        int fd = -1;
        (void)collect_fds(&m, &fd);
        if (fd >= 0) {
            *fdp = fd;
            rc = 0;
        } else {
            rc = (m.msg_flags & MSG_CTRUNC) ? -EMSGSIZE : -EBADMSG;
        }
        f->rhint = true;
    } else {
        rc = n == 0 ? -ENODATA : (int)n;
    }
    eddy__stream_end_read(s);
    return rc;
}

int eddy_unix_peer_cred(eddy_stream *s, eddy_unix_cred *out)
{
    if (!s || !out) return -EINVAL;
    int fd = unix_fd(s);
    if (fd < 0) return fd;
    struct ucred uc;
    socklen_t len = sizeof uc;
    if (eddy__sys_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) return -errno;
    *out = (eddy_unix_cred){.pid = uc.pid, .uid = uc.uid, .gid = uc.gid};
    return 0;
}
