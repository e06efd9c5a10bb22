/* echo_uring: the hand-written io_uring anchor of the echo benchmark (scripts/bench_echo.sh).
 *
 *   echo_uring PORT
 *
 * A TCP echo server on 127.0.0.1:PORT written directly on liburing, the way a careful C
 * programmer would without a runtime: what eddy on its io_uring backend is measured against
 * (throughput, CPU time per message, memory per connection), as echo_epoll is for its epoll
 * backend. Prints "Server listening at 127.0.0.1:PORT" once it accepts connections; exits 0 on
 * SIGTERM or SIGINT (a signalfd read through the ring).
 *
 * One multishot accept on the listening socket. Per connection, one recv at a time into a
 * buffer of its own (a completion-based recv needs its buffer while it waits: 16 KiB, the
 * largest message of the benchmark, allocated at accept), then a send of what
 * came, resubmitted for the rest if short, then the next recv. Submission and completion are
 * batched: io_uring_submit_and_wait once per loop turn, every ready CQE handled before the next.
 * Nothing here is eddy's: it links liburing only. */

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUF = 16 * 1024, ENTRIES = 4096 };

struct conn {
    int fd;
    bool sending;       /* the CQE due is a send's (else a recv's) */
    unsigned off, len;  /* sending: buf[off .. len) is still to go */
    char *buf;
};

/* user_data: a struct conn *, or one of these tags (the pointers are aligned: never 1 or 2). */
enum { TAG_ACCEPT = 1, TAG_SIGNAL = 2 };

static struct io_uring ring;

/* An SQE, submitting what is queued when the submission queue is full. */
static struct io_uring_sqe *sqe(void)
{
    struct io_uring_sqe *q;
    while (!(q = io_uring_get_sqe(&ring))) io_uring_submit(&ring);
    return q;
}

static void arm_recv(struct conn *c)
{
    c->sending = false;
    struct io_uring_sqe *q = sqe();
    io_uring_prep_recv(q, c->fd, c->buf, BUF, 0);
    io_uring_sqe_set_data(q, c);
}

static void arm_send(struct conn *c)
{
    c->sending = true;
    struct io_uring_sqe *q = sqe();
    io_uring_prep_send(q, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data(q, c);
}

static void arm_accept(int lfd)
{
    struct io_uring_sqe *q = sqe();
    io_uring_prep_multishot_accept(q, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(q, TAG_ACCEPT);
}

static void conn_close(struct conn *c)
{
    close(c->fd);
    free(c->buf);
    free(c);
}

static void on_accept(int lfd, struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(lfd); /* the multishot ended: again */
    if (cqe->res < 0) return; /* EMFILE and the like: the connection waits in the queue */
    int fd = cqe->res;
    /* Echo replies are small writes answering small reads: no Nagle delay. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = calloc(1, sizeof *c);
    if (!c || !(c->buf = malloc(BUF))) {
        free(c);
        close(fd);
        return;
    }
    c->fd = fd;
    arm_recv(c);
}

static void on_conn(struct conn *c, int res)
{
    if (res <= 0) { /* 0: the client closed; < 0: a reset or another error */
        if (res == -EINTR || res == -EAGAIN) {
            if (c->sending) arm_send(c); else arm_recv(c);
            return;
        }
        conn_close(c);
        return;
    }
    if (!c->sending) {
        c->off = 0;
        c->len = (unsigned)res;
        arm_send(c);
        return;
    }
    c->off += (unsigned)res;
    if (c->off < c->len) arm_send(c);
    else arm_recv(c);
}

int main(int argc, char **argv)
{
    if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
        fprintf(stderr, "usage: echo_uring PORT\n");
        return 2;
    }
    int port = atoi(argv[1]);

    /* Thousands of connections: take every descriptor the hard limit allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (sfd < 0 || lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(lfd, SOMAXCONN) < 0) {
        fprintf(stderr, "echo_uring: port %d: %s\n", port, strerror(errno));
        return 1;
    }
    struct io_uring_params p = {.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                                         IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    int rc = io_uring_queue_init_params(ENTRIES, &ring, &p);
    if (rc < 0) { /* a kernel before 6.1: without the task-run flags */
        p = (struct io_uring_params){0};
        rc = io_uring_queue_init_params(ENTRIES, &ring, &p);
    }
    if (rc < 0) {
        fprintf(stderr, "echo_uring: io_uring_queue_init: %s\n", strerror(-rc));
        return 1;
    }
    arm_accept(lfd);
    struct signalfd_siginfo si;
    struct io_uring_sqe *q = sqe();
    io_uring_prep_read(q, sfd, &si, sizeof si, 0);
    io_uring_sqe_set_data64(q, TAG_SIGNAL);

    printf("Server listening at 127.0.0.1:%d\n", port);
    fflush(stdout);

    for (;;) {
        rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            fprintf(stderr, "echo_uring: io_uring_submit_and_wait: %s\n", strerror(-rc));
            return 1;
        }
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            n++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            if (ud == TAG_ACCEPT)
                on_accept(lfd, cqe);
            else if (ud == TAG_SIGNAL)
                return 0; /* connections are left to exit() to close */
            else
                on_conn((struct conn *)(uintptr_t)ud, cqe->res);
        }
        io_uring_cq_advance(&ring, n);
    }
}
