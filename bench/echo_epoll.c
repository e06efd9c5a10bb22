/* echo_epoll: the "no runtime" anchor of the echo benchmark (scripts/bench_echo.sh).
 *
 *   echo_epoll PORT
 *
 * A TCP echo server on 127.0.0.1:PORT written directly on level-triggered epoll, the way a
 * careful C programmer would without any library: what eddy's echo examples are measured
 * against, in throughput, CPU time per message and memory per connection. Prints "Server
 * listening at 127.0.0.1:PORT" once it accepts connections; exits 0 on SIGTERM or SIGINT.
 *
 * Per readable connection: read into one buffer shared by all connections until a read comes
 * back short (the socket is then empty: one read per message, no extra read to see EAGAIN) or
 * EAGAIN, writing each chunk straight back. Only when a write is short does the connection get
 * a buffer of its own, holding the unsent rest; it then waits for EPOLLOUT and stops reading
 * until the rest is out, so a client that does not read cannot make the server buffer without
 * bound. An idle connection costs a 24-byte struct (plus the kernel's socket). */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
    int fd;
    unsigned pend_off, pend_len; /* unsent bytes in pend[pend_off .. pend_off + pend_len) */
    char *pend;                  /* NULL unless a write was short */
};

/* The listening socket and the signalfd are told apart from connections by these addresses
 * in epoll's data.ptr. */
static char tag_listen, tag_signal;
static int ep;
static char rbuf[64 * 1024];

static void conn_close(struct conn *c)
{
    close(c->fd); /* also removes it from the epoll set */
    free(c->pend);
    free(c);
}

static int watch(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write buf[0..len) to c; keep whatever the socket does not take. 0, or -1 to close. */
static int send_or_keep(struct conn *c, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(c->fd, buf, len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            c->pend = malloc(len);
            if (!c->pend) return -1;
            memcpy(c->pend, buf, len);
            c->pend_off = 0;
            c->pend_len = (unsigned)len;
            return watch(c, EPOLLOUT);
        }
        return -1;
    }
    return 0;
}

static void on_readable(struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, rbuf, sizeof rbuf);
        if (n > 0) {
            if (send_or_keep(c, rbuf, (size_t)n) < 0) break;
            if (c->pend) return; /* the rest waits for EPOLLOUT; reading waits for the rest */
            if ((size_t)n < sizeof rbuf) return;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        break; /* 0: the client closed; <0: a reset or another error */
    }
    conn_close(c);
}

static void on_writable(struct conn *c)
{
    while (c->pend_len > 0) {
        ssize_t n = write(c->fd, c->pend + c->pend_off, c->pend_len);
        if (n > 0) {
            c->pend_off += (unsigned)n;
            c->pend_len -= (unsigned)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        conn_close(c);
        return;
    }
    free(c->pend);
    c->pend = NULL;
    if (watch(c, EPOLLIN) < 0) conn_close(c);
}

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            /* EAGAIN: the queue is empty. EMFILE/ENFILE/ENOBUFS: the connection stays queued
             * and level-triggered epoll reports it again; nothing better to do here. */
            return;
        }
        /* Echo replies are small writes answering small reads: never let Nagle hold one back
         * waiting for the client's delayed ACK. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (!c || (c->fd = fd, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)) {
            close(fd);
            free(c);
            continue;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
        fprintf(stderr, "usage: echo_epoll PORT\n");
        return 2;
    }
    int port = atoi(argv[1]);

    /* Thousands of connections: take every descriptor the hard limit allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Signals arrive through a signalfd in the epoll set: no handler racing epoll_wait. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN); /* a write to a reset connection must fail, not kill */
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || lfd < 0 || ep < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(lfd, SOMAXCONN) < 0) {
        fprintf(stderr, "echo_epoll: port %d: %s\n", port, strerror(errno));
        return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tag_listen};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.ptr = &tag_signal;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

    printf("Server listening at 127.0.0.1:%d\n", port);
    fflush(stdout);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("echo_epoll: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &tag_listen) {
                on_accept(lfd);
            } else if (p == &tag_signal) {
                /* Connections are left to exit() to close: the process is going away. */
                return 0;
            } else {
                struct conn *c = p;
                /* A connection closed earlier in this batch cannot appear later in it: close()
                 * removed it from the set, and each fd is reported at most once per call. */
                if (c->pend) {
                    if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(c);
                } else {
                    on_readable(c);
                }
            }
        }
    }
}
