/* N4: Unix domain sockets — paths and abstract names, socket pairs, descriptor passing,
 * peer credentials. Abstract names carry the pid so parallel runs never collide. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "eddy/test.h"

/* A fresh private directory for socket files; the test removes what it made. */
static void tmpdir(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/eddy-unix-XXXXXX");
    EDDY_CHECK(mkdtemp(buf) != NULL);
}

static void abstract_name(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "@eddy-test-%d-%s", (int)getpid(), tag);
}

static void exchange(eddy_stream *a, eddy_stream *b)
{
    char buf[16];
    EDDY_OK(eddy_stream_write_all(a, "ping", 4));
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 4);
    EDDY_CHECK(memcmp(buf, "ping", 4) == 0);
    EDDY_OK(eddy_stream_write_all(b, "pong!", 5));
    EDDY_CHECK_EQ(eddy_stream_read(a, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "pong!", 5) == 0);
}

EDDY_TEST(unix_path_listen_connect_accept)
{
    char dir[64], path[96], buf[128];
    tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/s", dir);
    eddy_listener *l;
    EDDY_OK(eddy_unix_listen(path, &(eddy_unix_listen_opts){.unlink_on_close = true}, &l));
    struct stat st;
    EDDY_CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    eddy_sockaddr la;
    EDDY_OK(eddy_listener_local_addr(l, &la));
    EDDY_CHECK_EQ(la.ss.ss_family, AF_UNIX);
    EDDY_CHECK(eddy_sockaddr_format(&la, buf, sizeof buf) > 0);
    EDDY_CHECK(strcmp(buf, path) == 0);

    eddy_stream *c, *s;
    EDDY_OK(eddy_unix_connect(path, &c));
    EDDY_CHECK(strcmp(eddy_stream_kind(c), "unix") == 0);
    eddy_sockaddr peer;
    EDDY_OK(eddy_listener_accept(l, &s, &peer));
    EDDY_CHECK(strcmp(eddy_stream_kind(s), "unix") == 0);
    EDDY_CHECK(eddy_sockaddr_format(&peer, buf, sizeof buf) > 0);
    EDDY_CHECK(strcmp(buf, "(unnamed)") == 0); /* the client did not bind */
    exchange(c, s);
    EDDY_OK(eddy_stream_peer_addr(c, &peer));
    EDDY_CHECK(eddy_sockaddr_format(&peer, buf, sizeof buf) > 0);
    EDDY_CHECK(strcmp(buf, path) == 0);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK(access(path, F_OK) < 0 && errno == ENOENT); /* unlink-on-close */
    EDDY_CHECK(rmdir(dir) == 0);
    return 0;
}

EDDY_TEST(unix_path_kept_without_unlink_on_close)
{
    char dir[64], path[96];
    tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/s", dir);
    eddy_listener *l, *l2;
    EDDY_OK(eddy_unix_listen(path, NULL, &l));
    /* Taken while it listens, stale-removal or not. */
    EDDY_CHECK_EQ(eddy_unix_listen(path, NULL, &l2), -EADDRINUSE);
    EDDY_CHECK_EQ(eddy_unix_listen(path, &(eddy_unix_listen_opts){.unlink_stale = true}, &l2),
                  -EADDRINUSE);
    EDDY_CHECK(l2 == NULL);
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK(access(path, F_OK) == 0); /* left behind: stale now */
    eddy_stream *c;
    EDDY_CHECK_EQ(eddy_unix_connect(path, &c), -ECONNREFUSED);
    EDDY_CHECK(c == NULL);
    EDDY_CHECK_EQ(eddy_unix_listen(path, NULL, &l), -EADDRINUSE);
    /* unlink_stale takes the path over. */
    eddy_unix_listen_opts take = {.unlink_stale = true, .unlink_on_close = true};
    EDDY_OK(eddy_unix_listen(path, &take, &l));
    EDDY_OK(eddy_unix_connect(path, &c));
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_listener_close(l));
    /* A regular file is never removed. */
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    EDDY_CHECK(fd >= 0);
    close(fd);
    EDDY_CHECK_EQ(eddy_unix_listen(path, &(eddy_unix_listen_opts){.unlink_stale = true}, &l),
                  -EADDRINUSE);
    EDDY_CHECK(access(path, F_OK) == 0);
    EDDY_CHECK_EQ(eddy_unix_connect(path, &c), -ECONNREFUSED); /* not a socket */
    EDDY_CHECK(unlink(path) == 0);
    EDDY_CHECK_EQ(eddy_unix_connect(path, &c), -ENOENT);
    EDDY_CHECK(rmdir(dir) == 0);
    return 0;
}

EDDY_TEST(unix_abstract_namespace)
{
    char name[80], buf[128];
    abstract_name(name, sizeof name, "abs");
    eddy_listener *l, *l2;
    /* unlink_on_close has nothing to remove for an abstract name. */
    EDDY_OK(eddy_unix_listen(name, &(eddy_unix_listen_opts){.unlink_on_close = true}, &l));
    EDDY_CHECK_EQ(eddy_unix_listen(name, NULL, &l2), -EADDRINUSE);
    eddy_sockaddr la;
    EDDY_OK(eddy_listener_local_addr(l, &la));
    EDDY_CHECK(eddy_sockaddr_format(&la, buf, sizeof buf) > 0);
    EDDY_CHECK(strcmp(buf, name) == 0);
    /* The name is exactly the bytes after '@': a prefix is another name. */
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%.*s", (int)strlen(name) - 1, name);
    eddy_stream *c, *s;
    EDDY_CHECK_EQ(eddy_unix_connect(prefix, &c), -ECONNREFUSED);
    EDDY_OK(eddy_unix_connect(name, &c));
    EDDY_OK(eddy_listener_accept(l, &s, NULL));
    exchange(c, s);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK_EQ(eddy_unix_connect(name, &c), -ECONNREFUSED); /* gone with the listener */
    return 0;
}

/* "@": the kernel picks a unique abstract name. */
EDDY_TEST(unix_abstract_autobind)
{
    eddy_listener *l;
    EDDY_OK(eddy_unix_listen("@", NULL, &l));
    eddy_sockaddr la;
    char name[128];
    EDDY_OK(eddy_listener_local_addr(l, &la));
    EDDY_CHECK(eddy_sockaddr_format(&la, name, sizeof name) > 1);
    EDDY_CHECK_EQ(name[0], '@');
    eddy_stream *c, *s;
    EDDY_OK(eddy_unix_connect(name, &c));
    EDDY_OK(eddy_listener_accept(l, &s, NULL));
    exchange(s, c);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

EDDY_TEST(unix_name_errors)
{
    eddy_sockaddr a;
    char longp[200];
    memset(longp, 'p', sizeof longp);
    /* sun_path is 108 bytes: a path keeps its NUL, an abstract name does not need one. */
    longp[0] = '/';
    longp[108] = 0;
    EDDY_CHECK_EQ(eddy_sockaddr_unix(longp, &a), -ENAMETOOLONG);
    longp[107] = 0; /* 107 bytes: the longest path */
    EDDY_OK(eddy_sockaddr_unix(longp, &a));
    EDDY_CHECK_EQ(a.len, offsetof(struct sockaddr_un, sun_path) + 108);
    longp[0] = '@';
    longp[107] = longp[108] = 'p';
    longp[109] = 0; /* '@' + 108 bytes */
    EDDY_CHECK_EQ(eddy_sockaddr_unix(longp, &a), -ENAMETOOLONG);
    longp[108] = 0; /* '@' + 107 bytes: the longest abstract name */
    EDDY_OK(eddy_sockaddr_unix(longp, &a));
    EDDY_CHECK_EQ(a.len, offsetof(struct sockaddr_un, sun_path) + 108);
    eddy_listener *l0;
    EDDY_OK(eddy_unix_listen(longp, NULL, &l0)); /* the kernel agrees it fits */
    EDDY_OK(eddy_listener_close(l0));
    EDDY_OK(eddy_sockaddr_unix("@", &a)); /* unnamed: for autobind */
    EDDY_CHECK_EQ(a.len, offsetof(struct sockaddr_un, sun_path));
    EDDY_CHECK_EQ(eddy_sockaddr_unix("", &a), -EINVAL);
    EDDY_CHECK_EQ(eddy_sockaddr_unix(NULL, &a), -EINVAL);
    EDDY_CHECK_EQ(eddy_sockaddr_unix("/x", NULL), -EINVAL);

    eddy_listener *l;
    eddy_stream *c;
    memset(longp, 'p', sizeof longp);
    longp[0] = '/';
    longp[150] = 0;
    EDDY_CHECK_EQ(eddy_unix_listen(longp, NULL, &l), -ENAMETOOLONG);
    EDDY_CHECK_EQ(eddy_unix_connect(longp, &c), -ENAMETOOLONG);
    EDDY_CHECK_EQ(eddy_unix_listen("", NULL, &l), -EINVAL);
    EDDY_CHECK_EQ(eddy_unix_listen(NULL, NULL, &l), -EINVAL);
    EDDY_CHECK_EQ(eddy_unix_listen("@x", NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_unix_listen("@x", &(eddy_unix_listen_opts){.backlog = -1}, &l), -EINVAL);
    EDDY_CHECK_EQ(eddy_unix_listen("/nonexistent-dir-eddy/s", NULL, &l), -ENOENT);
    EDDY_CHECK_EQ(eddy_unix_connect("@", &c), -EINVAL);
    EDDY_CHECK_EQ(eddy_unix_connect(NULL, &c), -EINVAL);
    EDDY_CHECK_EQ(eddy_unix_connect("@x", NULL), -EINVAL);
    return 0;
}

/* A full backlog fails a connect with -EAGAIN at once (no event to wait for); accepting
 * makes room again. */
EDDY_TEST(unix_connect_backlog_full)
{
    char name[80];
    abstract_name(name, sizeof name, "backlog");
    eddy_listener *l;
    EDDY_OK(eddy_unix_listen(name, &(eddy_unix_listen_opts){.backlog = 1}, &l));
    eddy_stream *c[8] = {0};
    int n = 0, rc = 0;
    while (n < 8 && (rc = eddy_unix_connect(name, &c[n])) == 0) n++;
    EDDY_CHECK_EQ(rc, -EAGAIN);
    EDDY_CHECK(n >= 1);
    eddy_stream *s, *extra;
    EDDY_OK(eddy_listener_accept(l, &s, NULL));
    EDDY_OK(eddy_unix_connect(name, &extra));
    EDDY_OK(eddy_stream_close(extra));
    EDDY_OK(eddy_stream_close(s));
    for (int i = 0; i < n; i++) EDDY_OK(eddy_stream_close(c[i]));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

EDDY_TEST(unix_cancelled_connect)
{
    char name[80];
    abstract_name(name, sizeof name, "cancel");
    eddy_listener *l;
    EDDY_OK(eddy_unix_listen(name, NULL, &l));
    eddy_stream *c = (eddy_stream *)1;
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        EDDY_CHECK_EQ(eddy_unix_connect(name, &c), -ECANCELED);
    }
    EDDY_CHECK(c == NULL);
    /* Nothing reached the backlog. */
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { EDDY_CHECK_EQ(eddy_listener_accept(l, &c, NULL), -ECANCELED); }
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

EDDY_TEST(unix_socketpair_and_peer_cred)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    EDDY_CHECK(strcmp(eddy_stream_kind(a), "unix") == 0);
    exchange(a, b);
    eddy_unix_cred cr;
    EDDY_OK(eddy_unix_peer_cred(a, &cr));
    EDDY_CHECK_EQ(cr.pid, getpid());
    EDDY_CHECK_EQ(cr.uid, getuid());
    EDDY_CHECK_EQ(cr.gid, getgid());
    EDDY_CHECK_EQ(eddy_unix_peer_cred(a, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_unix_peer_cred(NULL, &cr), -EINVAL);
    /* Half-close: b reads the end, and can still write back. */
    EDDY_OK(eddy_stream_shutdown_write(a));
    char buf[4];
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 0);
    EDDY_OK(eddy_stream_write_all(b, "x", 1));
    EDDY_CHECK_EQ(eddy_stream_read(a, buf, sizeof buf), 1);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    EDDY_CHECK_EQ(eddy_socketpair(NULL, &b), -EINVAL);
    EDDY_CHECK(b == NULL);
    EDDY_CHECK_EQ(eddy_socketpair(&a, NULL), -EINVAL);
    EDDY_CHECK(a == NULL);
    return 0;
}

EDDY_TEST(unix_send_recv_fd)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    int p[2];
    EDDY_CHECK(pipe2(p, O_CLOEXEC) == 0);
    int before = eddy_test_fd_count();
    EDDY_OK(eddy_unix_send_fd(a, p[1]));
    EDDY_OK(eddy_stream_write_all(a, "after", 5)); /* plain bytes follow the descriptor */
    int fd = -5;
    EDDY_OK(eddy_unix_recv_fd(b, &fd));
    EDDY_CHECK(fd >= 0 && fd != p[1]);
    EDDY_CHECK_EQ(eddy_test_fd_count(), before + 1);
    EDDY_CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    /* It is the same pipe. */
    EDDY_CHECK_EQ(write(fd, "via", 3), 3);
    char buf[8];
    EDDY_CHECK_EQ(read(p[0], buf, sizeof buf), 3);
    EDDY_CHECK(memcmp(buf, "via", 3) == 0);
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "after", 5) == 0);
    close(fd);
    /* Several in a row keep their order. */
    EDDY_OK(eddy_unix_send_fd(a, p[0]));
    EDDY_OK(eddy_unix_send_fd(a, p[1]));
    int r0, r1;
    EDDY_OK(eddy_unix_recv_fd(b, &r0));
    EDDY_OK(eddy_unix_recv_fd(b, &r1));
    EDDY_CHECK_EQ(write(r1, "z", 1), 1);
    EDDY_CHECK_EQ(read(r0, buf, 1), 1);
    EDDY_CHECK_EQ(buf[0], 'z');
    close(r0);
    close(r1);
    close(p[0]);
    close(p[1]);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

/* Send n descriptors (copies of fd) with one byte, as a peer not using eddy might. */
static void raw_send_fds(int sock, int fd, int n)
{
    int fds[16];
    for (int i = 0; i < n; i++) fds[i] = fd;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof fds)];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    char byte = 'F';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = CMSG_SPACE(n * sizeof(int))};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    EDDY_CHECK_EQ(sendmsg(sock, &m, 0), 1);
}

/* Extra descriptors attached by a peer are closed, including when there are more than fit
 * and the kernel truncates the control data. */
EDDY_TEST(unix_recv_fd_closes_extra_descriptors)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    int p[2];
    EDDY_CHECK(pipe2(p, O_CLOEXEC) == 0);
    int before = eddy_test_fd_count();
    int counts[] = {3, 16};
    for (int i = 0; i < 2; i++) {
        raw_send_fds(eddy_stream_fd(a), p[1], counts[i]);
        int fd = -1;
        EDDY_OK(eddy_unix_recv_fd(b, &fd));
        EDDY_CHECK(fd >= 0);
        EDDY_CHECK_EQ(eddy_test_fd_count(), before + 1);
        EDDY_CHECK_EQ(write(fd, "e", 1), 1);
        char c;
        EDDY_CHECK_EQ(read(p[0], &c, 1), 1);
        close(fd);
    }
    close(p[0]);
    close(p[1]);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(unix_recv_fd_plain_byte_and_eof)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    EDDY_OK(eddy_stream_write_all(a, "xy", 2));
    int fd = 7;
    EDDY_CHECK_EQ(eddy_unix_recv_fd(b, &fd), -EBADMSG);
    EDDY_CHECK_EQ(fd, -1);
    char c;
    EDDY_CHECK_EQ(eddy_stream_read(b, &c, 1), 1); /* exactly one byte was consumed */
    EDDY_CHECK_EQ(c, 'y');
    EDDY_OK(eddy_stream_shutdown_write(a));
    EDDY_CHECK_EQ(eddy_unix_recv_fd(b, &fd), -ENODATA);
    EDDY_CHECK_EQ(eddy_unix_send_fd(a, 0), -EPIPE); /* shut down for writing */
    EDDY_OK(eddy_stream_close(a));
    /* The peer is gone: a send gets -EPIPE, never SIGPIPE. */
    EDDY_CHECK_EQ(eddy_unix_send_fd(b, 0), -EPIPE);
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

typedef struct fdrx {
    eddy_stream *s;
    int rc, fd;
    int64_t at;
} fdrx;

static int fd_receiver(void *arg)
{
    fdrx *r = arg;
    r->rc = eddy_unix_recv_fd(r->s, &r->fd);
    r->at = eddy_now();
    return 0;
}

static int fd_receiver_timeout(void *arg)
{
    fdrx *r = arg;
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { r->rc = eddy_unix_recv_fd(r->s, &r->fd); }
    r->at = eddy_now();
    return 0;
}

EDDY_TEST(unix_recv_fd_waits_and_cancels)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    fdrx r = {.s = b, .rc = 99};
    int rc;
    EDDY_NURSERY(nu, &rc) { EDDY_OK(eddy_spawn(nu, fd_receiver_timeout, &r)); }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(r.rc, -ETIMEDOUT);
    EDDY_CHECK_EQ(r.fd, -1);
    EDDY_CHECK_EQ(r.at, EDDY_SEC(1));
    r = (fdrx){.s = b, .rc = 99};
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, fd_receiver, &r));
        char c;
        EDDY_CHECK_EQ(eddy_stream_read(b, &c, 1), -EBUSY); /* one reader at a time */
        int fd;
        EDDY_CHECK_EQ(eddy_unix_recv_fd(b, &fd), -EBUSY);
        EDDY_OK(eddy_sleep(EDDY_SEC(2)));
        EDDY_OK(eddy_unix_send_fd(a, 1));
    }
    EDDY_OK(rc);
    EDDY_OK(r.rc);
    EDDY_CHECK_EQ(r.at, EDDY_SEC(3));
    struct stat s1, s2;
    EDDY_CHECK(fstat(r.fd, &s1) == 0 && fstat(1, &s2) == 0);
    EDDY_CHECK(s1.st_ino == s2.st_ino && s1.st_dev == s2.st_dev);
    close(r.fd);
    /* Close wakes a blocked receiver with -EBADF. */
    r = (fdrx){.s = b, .rc = 99};
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, fd_receiver, &r));
        EDDY_OK(eddy_stream_close(b));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(r.rc, -EBADF);
    EDDY_OK(eddy_stream_close(a));
    return 0;
}

typedef struct bigw {
    eddy_stream *s;
    const char *buf;
    size_t len;
    int rc;
} bigw;

static int big_writer(void *arg)
{
    bigw *w = arg;
    w->rc = eddy_stream_write_all(w->s, w->buf, w->len);
    return 0;
}

static int fd_sender(void *arg)
{
    bigw *w = arg;
    w->rc = eddy_unix_send_fd(w->s, 0);
    return 0;
}

static int fd_sender_cancelled(void *arg)
{
    bigw *w = arg;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { w->rc = eddy_unix_send_fd(w->s, 0); }
    return 0;
}

/* send_fd is a writer: it waits for its FIFO turn behind a writer blocked on a full buffer,
 * so its byte never lands inside that writer's bytes; cancelled while waiting it sends
 * nothing. */
EDDY_TEST(unix_send_fd_waits_its_turn)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    enum { BIG = 1 << 20 };
    char *big = malloc(BIG);
    EDDY_CHECK(big != NULL);
    memset(big, 'b', BIG);
    bigw w = {.s = a, .buf = big, .len = BIG, .rc = 99};
    bigw cancelled = {.s = a, .rc = 99}, f = {.s = a, .rc = 99};
    char *in = malloc(BIG);
    EDDY_CHECK(in != NULL);
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, big_writer, &w)); /* blocks: the buffer is far smaller */
        EDDY_OK(eddy_spawn(nu, fd_sender_cancelled, &cancelled));
        EDDY_OK(eddy_sleep(EDDY_SEC(2)));
        EDDY_CHECK_EQ(cancelled.rc, -ECANCELED);
        EDDY_OK(eddy_spawn(nu, fd_sender, &f));
        EDDY_CHECK_EQ(f.rc, 99); /* waiting behind the big writer */
        size_t got = 0;
        while (got < BIG) {
            ssize_t n = eddy_stream_read(b, in + got, BIG - got);
            EDDY_CHECK(n > 0);
            got += (size_t)n;
        }
        for (size_t i = 0; i < BIG; i++) EDDY_CHECK(in[i] == 'b');
        int fd;
        EDDY_OK(eddy_unix_recv_fd(b, &fd));
        close(fd);
    }
    EDDY_OK(rc);
    EDDY_OK(w.rc);
    EDDY_OK(f.rc);
    /* Nothing else: the cancelled send left no byte. */
    char c;
    EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) { EDDY_CHECK_EQ(eddy_stream_read(b, &c, 1), -ECANCELED); }
    free(big);
    free(in);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

EDDY_TEST(unix_fd_passing_errors)
{
    eddy_stream *a, *b;
    EDDY_OK(eddy_socketpair(&a, &b));
    int fd;
    EDDY_CHECK_EQ(eddy_unix_send_fd(a, -1), -EBADF);
    int closed = dup(0);
    EDDY_CHECK(closed >= 0);
    close(closed);
    EDDY_CHECK_EQ(eddy_unix_send_fd(a, closed), -EBADF);
    EDDY_CHECK_EQ(eddy_unix_send_fd(NULL, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_unix_recv_fd(NULL, &fd), -EINVAL);
    EDDY_CHECK_EQ(eddy_unix_recv_fd(b, NULL), -EINVAL);
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        EDDY_CHECK_EQ(eddy_unix_send_fd(a, 0), -ECANCELED);
        EDDY_CHECK_EQ(eddy_unix_recv_fd(b, &fd), -ECANCELED);
    }
    /* Not a Unix socket: a pipe stream, and a TCP connection. */
    int p[2];
    EDDY_CHECK(pipe2(p, O_CLOEXEC) == 0);
    eddy_stream *ps;
    EDDY_OK(eddy_fd_stream(p[1], 0, &ps));
    EDDY_CHECK_EQ(eddy_unix_send_fd(ps, 0), -ENOTSOCK);
    EDDY_CHECK_EQ(eddy_unix_recv_fd(ps, &fd), -ENOTSOCK);
    eddy_unix_cred cr;
    EDDY_CHECK_EQ(eddy_unix_peer_cred(ps, &cr), -ENOTSOCK);
    EDDY_OK(eddy_stream_close(ps));
    close(p[0]);
    eddy_listener *l;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    eddy_sockaddr la;
    EDDY_OK(eddy_listener_local_addr(l, &la));
    eddy_stream *tc, *ts;
    EDDY_OK(eddy_tcp_connect_addr(&la, &tc));
    EDDY_OK(eddy_listener_accept(l, &ts, NULL));
    EDDY_CHECK_EQ(eddy_unix_send_fd(tc, 0), -ENOTSOCK);
    EDDY_CHECK_EQ(eddy_unix_peer_cred(tc, &cr), -ENOTSOCK);
    /* A TCP socket wrapped by eddy_fd_stream is still not a Unix one. */
    eddy_stream *wrapped;
    EDDY_OK(eddy_fd_stream(eddy_stream_fd(ts), EDDY_FD_NOCLOSE, &wrapped));
    EDDY_CHECK_EQ(eddy_unix_send_fd(wrapped, 0), -ENOTSOCK);
    EDDY_OK(eddy_stream_close(wrapped));
    EDDY_OK(eddy_stream_close(tc));
    EDDY_OK(eddy_stream_close(ts));
    EDDY_OK(eddy_listener_close(l));
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    return 0;
}

static void in_callback(void *arg)
{
    int *rc = arg;
    eddy_stream *s;
    *rc = eddy_unix_connect("@eddy-never", &s);
}

EDDY_TEST(unix_connect_in_callback)
{
    int rc = 1;
    EDDY_OK(eddy_call_soon(in_callback, &rc));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(rc, -EPERM);
    return 0;
}

static int outside(void *arg)
{
    (void)arg;
    eddy_listener *l;
    eddy_stream *a, *b;
    EDDY_CHECK_EQ(eddy_unix_listen("@eddy-outside", NULL, &l), -EPERM);
    EDDY_CHECK_EQ(eddy_unix_connect("@eddy-outside", &a), -EPERM);
    EDDY_CHECK_EQ(eddy_socketpair(&a, &b), -EPERM);
    return 0;
}

EDDY_TEST_EX(unix_outside_loop, .raw = true) { return outside(eddy_test_arg); }

typedef struct leak_kit {
    eddy_listener *l;
    eddy_stream *a, *b;
    bool pair;
} leak_kit;

static int leaks_unix(void *arg)
{
    leak_kit *k = arg;
    if (k->pair) {
        EDDY_OK(eddy_socketpair(&k->a, &k->b));
    } else {
        char name[80];
        abstract_name(name, sizeof name, "leak");
        EDDY_OK(eddy_unix_listen(name, NULL, &k->l));
    }
    return 0; /* not closed */
}

/* Unclosed listeners and socket-pair streams are leaks eddy_run reports. */
EDDY_TEST_EX(unix_leaks_are_reported, .raw = true)
{
    static leak_kit k[2] = {{.pair = false}, {.pair = true}};
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL,
                   .flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_QUIET};
    for (int i = 0; i < 2; i++) EDDY_CHECK_EQ(eddy_run_opts(leaks_unix, &k[i], &o), -ENOTRECOVERABLE);
    EDDY_CHECK(k[0].l && k[1].a && k[1].b);
    return 0;
}

typedef struct acc {
    eddy_listener *l;
    eddy_stream *s;
    int rc;
    int64_t at;
} acc;

static int acceptor(void *arg)
{
    acc *a = arg;
    a->rc = eddy_listener_accept(a->l, &a->s, NULL);
    a->at = eddy_now();
    return 0;
}

/* accept on a Unix listener waits for a connection; closing the listener wakes it with
 * -EBADF and removes the path. */
EDDY_TEST(unix_accept_waits_and_close_wakes)
{
    char dir[64], path[96];
    tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/acc", dir);
    eddy_listener *l;
    EDDY_OK(eddy_unix_listen(path, &(eddy_unix_listen_opts){.unlink_on_close = true}, &l));
    acc a = {.l = l, .rc = 99};
    eddy_stream *c;
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, acceptor, &a));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK_EQ(a.rc, 99);
        EDDY_OK(eddy_unix_connect(path, &c));
    }
    EDDY_OK(rc);
    EDDY_OK(a.rc);
    EDDY_CHECK_EQ(a.at, EDDY_SEC(1));
    exchange(c, a.s);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(a.s));
    a = (acc){.l = l, .rc = 99};
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, acceptor, &a));
        EDDY_OK(eddy_listener_close(l));
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(a.rc, -EBADF);
    EDDY_CHECK(access(path, F_OK) < 0 && errno == ENOENT);
    EDDY_CHECK(rmdir(dir) == 0);
    return 0;
}
