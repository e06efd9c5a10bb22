/* The operation layer's promise (loop/op.h): a cancelled or interrupted operation returns only
 * when the kernel no longer holds the caller's buffer, and an operation that completed while
 * it was being cancelled reports its result — no byte and no connection is lost to a
 * cancellation. On io_uring the kernel may still be working on the operation when the
 * cancellation comes (IORING_OP_ASYNC_CANCEL, then the wait for its CQE); on epoll the
 * system call is synchronous, and the same checks hold trivially. Each case runs on every
 * backend. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/test.h"

static void pair(eddy_stream **a, eddy_stream **b) { EDDY_OK(eddy_socketpair(a, b)); }

/* A read into a buffer on the reader's stack, cancelled by its deadline. After it returned the
 * reader goes on using its stack; data the peer sends afterwards must not land there (a recv
 * still in flight in the kernel would write it into the old frame), and must be there for
 * the next read. */
typedef struct stack_reader {
    eddy_stream *s;
    ssize_t first;
    bool clean;      /* the buffer was untouched after the cancelled read and a wait */
    char got[16];
    ssize_t second;
} stack_reader;

static int stack_reader_task(void *arg)
{
    stack_reader *r = arg;
    char buf[64];
    memset(buf, 'S', sizeof buf);
    EDDY_MOVE_ON_AFTER(EDDY_MSEC(5)) { r->first = eddy_stream_read(r->s, buf, sizeof buf); }
    EDDY_OK(eddy_sleep(EDDY_MSEC(10))); /* the peer writes meanwhile; the loop polls */
    r->clean = true;
    for (size_t i = 0; i < sizeof buf; i++) r->clean &= buf[i] == 'S';
    r->second = eddy_stream_read(r->s, r->got, sizeof r->got);
    return 0;
}

EDDY_TEST(cancelled_read_never_writes_the_callers_buffer)
{
    eddy_stream *a, *b;
    pair(&a, &b);
    stack_reader r = {.s = a};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, stack_reader_task, &r));
        EDDY_OK(eddy_sleep(EDDY_MSEC(7))); /* the read has been cancelled */
        EDDY_CHECK_EQ(r.first, -ECANCELED);
        EDDY_OK(eddy_stream_write_all(b, "late", 4));
    }
    EDDY_OK(rc);
    EDDY_CHECK(r.clean);
    EDDY_CHECK_EQ(r.second, 4);
    EDDY_CHECK_EQ(memcmp(r.got, "late", 4), 0);
    eddy_stream_abort(a);
    eddy_stream_abort(b);
    return 0;
}

/* A read cancelled just after data reached its socket, many times over. The data arrives and
 * the cancellation comes in the same turn of the loop, before it polls: on io_uring the read
 * is still only queued, so at the next poll the kernel completes it with the data, and the
 * cancel that follows finds nothing to cancel. Either way each read took bytes (and reports
 * them) or took none, and what was sent is what was received, in order. */
typedef struct race_reader {
    eddy_stream *s;
    eddy_cancel_scope cs;
    unsigned char *into;
    size_t got;
    int took;        /* reads that returned bytes although cancelled */
} race_reader;

static int race_reader_task(void *arg)
{
    race_reader *r = arg;
    EDDY_CANCEL_SCOPE(&r->cs) {
        ssize_t n = eddy_stream_read(r->s, r->into + r->got, 7);
        if (n > 0) {
            r->got += (size_t)n;
            r->took++;
        } else {
            EDDY_CHECK(n == -ECANCELED);
        }
    }
    return 0;
}

EDDY_TEST(reads_cancelled_as_data_arrives_lose_nothing)
{
    enum { ROUNDS = 200 };
    eddy_stream *a, *b;
    pair(&a, &b);
    int bfd = eddy_stream_fd(b);
    unsigned char sent[ROUNDS * 3], recv[ROUNDS * 3 + 64];
    race_reader r = {.s = a, .into = recv};
    for (int i = 0; i < ROUNDS; i++) {
        int rc;
        EDDY_NURSERY(n, &rc) {
            EDDY_OK(eddy_spawn(n, race_reader_task, &r)); /* runs until its read waits */
            for (int k = 0; k < 3; k++) sent[i * 3 + k] = (unsigned char)(i * 3 + k);
            EDDY_CHECK(send(bfd, &sent[i * 3], 3, MSG_NOSIGNAL) == 3); /* there at once */
            eddy_cancel_scope_cancel(&r.cs);
        }
        EDDY_OK(rc);
    }
    /* Whatever no read took is still in the socket. */
    EDDY_OK(eddy_stream_shutdown_write(b));
    ssize_t n;
    while ((n = eddy_stream_read(a, recv + r.got, sizeof recv - r.got)) > 0) r.got += (size_t)n;
    EDDY_CHECK_EQ(n, 0);
    EDDY_CHECK_EQ(r.got, sizeof sent);
    EDDY_CHECK_EQ(memcmp(recv, sent, sizeof sent), 0);
    /* On io_uring the kernel completed the queued reads: the case this test is for. */
    if (!strcmp(eddy_backend_name(), "io_uring")) EDDY_CHECK_EQ(r.took, ROUNDS);
    eddy_stream_abort(a);
    eddy_stream_abort(b);
    return 0;
}

/* The same for accept: a client connects (the handshake completes in the kernel at once on
 * loopback) and the acceptor is cancelled in the same turn. The connection is accepted by that
 * call (and reported) or left for the next one; none is dropped. */
typedef struct race_acceptor {
    eddy_listener *l;
    eddy_cancel_scope cs;
    int accepted;
    eddy_stream *conns[64];
} race_acceptor;

static int race_acceptor_task(void *arg)
{
    race_acceptor *r = arg;
    EDDY_CANCEL_SCOPE(&r->cs) {
        eddy_stream *s;
        int rc = eddy_listener_accept(r->l, &s, NULL);
        if (rc == 0) r->conns[r->accepted++] = s;
        else EDDY_CHECK(rc == -ECANCELED);
    }
    return 0;
}

EDDY_TEST(accepts_cancelled_as_clients_connect_lose_none)
{
    enum { ROUNDS = 32 };
    eddy_listener *l;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    eddy_sockaddr addr;
    EDDY_OK(eddy_listener_local_addr(l, &addr));
    race_acceptor r = {.l = l};
    int clients[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        int rc;
        EDDY_NURSERY(n, &rc) {
            EDDY_OK(eddy_spawn(n, race_acceptor_task, &r));
            clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            EDDY_CHECK(clients[i] >= 0);
            EDDY_CHECK(connect(clients[i], (const struct sockaddr *)&addr.ss, addr.len) == 0);
            eddy_cancel_scope_cancel(&r.cs);
        }
        EDDY_OK(rc);
    }
    int taken = r.accepted;
    /* The rest are in the backlog: accept them now. */
    while (r.accepted < ROUNDS) {
        int rc = 1;
        EDDY_MOVE_ON_AFTER(EDDY_SEC(1)) rc = eddy_listener_accept(l, &r.conns[r.accepted], NULL);
        EDDY_OK(rc);
        r.accepted++;
    }
    if (!strcmp(eddy_backend_name(), "io_uring")) EDDY_CHECK_EQ(taken, ROUNDS);
    for (int i = 0; i < ROUNDS; i++) {
        eddy_stream_abort(r.conns[i]);
        close(clients[i]);
    }
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* Closing a stream while a task reads it: the reader gets -EBADF, and close returns only once
 * the reader has left (the kernel let go of its buffer first). */
typedef struct closing_reader {
    eddy_stream *s;
    ssize_t rc;
    bool clean;
} closing_reader;

static int closing_reader_task(void *arg)
{
    closing_reader *r = arg;
    char buf[64];
    memset(buf, 'S', sizeof buf);
    r->rc = eddy_stream_read(r->s, buf, sizeof buf);
    EDDY_OK(eddy_sleep(EDDY_MSEC(10)));
    r->clean = true;
    for (size_t i = 0; i < sizeof buf; i++) r->clean &= buf[i] == 'S';
    return 0;
}

EDDY_TEST(close_waits_for_the_kernel_to_let_go)
{
    eddy_stream *a, *b;
    pair(&a, &b);
    closing_reader r = {.s = a, .rc = 99};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, closing_reader_task, &r));
        EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
        EDDY_OK(eddy_stream_close(a));
        EDDY_CHECK_EQ(r.rc, -EBADF);
    }
    EDDY_OK(rc);
    EDDY_CHECK(r.clean);
    eddy_stream_abort(b);
    return 0;
}
