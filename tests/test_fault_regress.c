/* Regression tests of the bugs the syscall fault sweep (tests/test_fault_sweep.c) found, each
 * failing the one system call that showed it (src/loop/sys.h). They need the fault layer
 * (EDDY_FAULTS: Debug builds, so make test's asan configuration). */
#include <string.h>
#include <unistd.h>

#include "eddy/test.h"
#include "loop/sys.h"

#ifndef EDDY_FAULTS

EDDY_TEST(fault_regress_needs_faults)
{
    printf("# fault regressions: skipped, this build has no fault injection (EDDY_FAULTS)\n");
    return 0;
}

#else

/* A protocol client whose connection_made runs a step, against a stream server task. */
typedef struct cli {
    int (*step)(eddy_transport *t);
    int step_rc;
    int lost;
    unsigned fired; /* calls the armed fault failed */
    bool made, gone;
    eddy_event done;
} cli;

static void made(eddy_transport *t, void *user)
{
    cli *c = user;
    c->made = true;
    c->step_rc = c->step(t);
}
static void lost(eddy_transport *t, int err)
{
    cli *c = eddy_transport_user(t);
    c->lost = err;
    c->gone = true;
    eddy_event_set(&c->done);
}
static const eddy_protocol cli_proto = {.connection_made = made, .connection_lost = lost};
static int factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **p, void **user)
{
    (void)peer;
    *p = &cli_proto;
    *user = arg;
    return 0;
}

static void run_client(cli *c)
{
    eddy_listener *l;
    eddy_sockaddr a;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    EDDY_OK(eddy_listener_local_addr(l, &a));
    eddy_event_init(&c->done);
    EDDY_OK(eddy_protocol_connect(&a, factory, c, NULL));
    eddy_stream *s;
    EDDY_OK(eddy_listener_accept(l, &s, NULL));
    EDDY_OK(eddy_event_wait(&c->done));
    c->fired = eddy__sys_fault_fired();
    eddy__sys_fault_set(NULL);
    eddy_stream_abort(s);
    EDDY_OK(eddy_listener_close(l));
}

static int write_one(eddy_transport *t)
{
    eddy__sys_fault f = {.kind = EDDY__SYS_SEND, .func = "eddy_transport_write", .nth = 1,
                         .err = ENOBUFS};
    eddy__sys_fault_set(&f);
    return eddy_transport_write(t, "x", 1);
}

/* Bug: a send the kernel refused with ENOBUFS lost the connection and made
 * eddy_transport_write return -ENOBUFS, the code protocol.h reserves for "over the hard
 * limit, nothing taken, the transport still usable": a caller backing off and retrying met a
 * dead transport. Now the write and connection_lost both say -ENOMEM. */
EDDY_TEST_EX(fault_regress_transport_kernel_enobufs_is_enomem, .real_clock = true)
{
    cli c = {.step = write_one};
    run_client(&c);
    EDDY_CHECK(c.made && c.gone);
    EDDY_CHECK_EQ(c.fired, 1u);
    EDDY_CHECK_EQ(c.step_rc, -ENOMEM);
    EDDY_CHECK_EQ(c.lost, -ENOMEM);
    return 0;
}

static int shut(eddy_transport *t)
{
    eddy__sys_fault f = {.kind = EDDY__SYS_SHUTDOWN, .func = "do_shutdown_wr", .nth = 1,
                         .err = ENOTCONN};
    eddy__sys_fault_set(&f);
    return eddy_transport_shutdown_write(t);
}

/* Bug: shutdown(2) on a connection the peer had reset fails with ENOTCONN, and that reached
 * connection_lost, which protocol.h documents as -ECONNRESET for a reset. */
EDDY_TEST_EX(fault_regress_transport_shutdown_enotconn_is_reset, .real_clock = true)
{
    cli c = {.step = shut};
    run_client(&c);
    EDDY_CHECK(c.made && c.gone);
    EDDY_CHECK_EQ(c.fired, 1u);
    EDDY_CHECK_EQ(c.step_rc, 0);
    EDDY_CHECK_EQ(c.lost, -ECONNRESET);
    return 0;
}

#endif
