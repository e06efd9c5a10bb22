/* X3: the socket factory hook — failures injected at exactly the socket a test means. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/test.h"

typedef struct fake {
    int calls;
    int fail_at;   /* 1-based call that fails; 0 = none */
    int err;       /* negative errno it fails with */
    int last_domain, last_type;
} fake;

static int fake_socket(void *ctx, int domain, int type, int protocol)
{
    fake *f = ctx;
    f->calls++;
    f->last_domain = domain;
    f->last_type = type;
    if (f->calls == f->fail_at) return f->err;
    int fd = socket(domain, type, protocol);
    return fd < 0 ? -errno : fd;
}

EDDY_TEST(socket_hook_injects_and_counts)
{
    fake f = {.fail_at = 2, .err = -EMFILE};
    eddy_socket_hook h = {.socket = fake_socket, .ctx = &f};
    EDDY_OK(eddy_loop_set_socket_hook(&h));
    eddy_listener *l;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l)); /* call 1 */
    EDDY_CHECK_EQ(f.last_domain, AF_INET);
    EDDY_CHECK(f.last_type & SOCK_NONBLOCK);
    EDDY_CHECK(f.last_type & SOCK_CLOEXEC);
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_local_addr(l, &a));
    eddy_stream *s = NULL;
    int fds0 = eddy_test_fd_count();
    EDDY_CHECK_EQ(eddy_tcp_connect_addr(&a, &s), -EMFILE); /* call 2: injected */
    EDDY_CHECK(s == NULL);
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds0);
    EDDY_OK(eddy_tcp_connect_addr(&a, &s)); /* call 3 works again */
    eddy_stream *c;
    EDDY_OK(eddy_listener_accept(l, &c, NULL)); /* accepted sockets are not hooked */
    EDDY_CHECK_EQ(f.calls, 3);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    /* UDP and Unix go through it too */
    f.fail_at = 4;
    f.err = -ENOBUFS;
    eddy_udp *u;
    EDDY_CHECK_EQ(eddy_udp_open(NULL, NULL, &u), -ENOBUFS);
    f.fail_at = 5;
    f.err = -EACCES;
    eddy_listener *ul;
    EDDY_CHECK_EQ(eddy_unix_listen("@eddy-sockhook-test", NULL, &ul), -EACCES);
    EDDY_CHECK_EQ(f.last_domain, AF_UNIX);
    /* NULL restores socket(2) */
    EDDY_OK(eddy_loop_set_socket_hook(NULL));
    EDDY_OK(eddy_tcp_connect_addr(&a, &s));
    EDDY_CHECK_EQ(f.calls, 5);
    EDDY_OK(eddy_listener_accept(l, &c, NULL));
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

EDDY_TEST(socket_hook_errors)
{
    eddy_socket_hook bad = {0};
    EDDY_CHECK_EQ(eddy_loop_set_socket_hook(&bad), -EINVAL);
    return 0;
}

static fake leftover_fake = {.fail_at = 1, .err = -EMFILE};
static eddy_socket_hook leftover = {.socket = fake_socket, .ctx = &leftover_fake};

static int set_and_leave(void *arg)
{
    (void)arg;
    return eddy_loop_set_socket_hook(&leftover);
}

static int listen_once(void *arg)
{
    (void)arg;
    eddy_listener *l;
    int rc = eddy_tcp_listen("127.0.0.1", 0, NULL, &l);
    if (rc < 0) return rc;
    return eddy_listener_close(l);
}

/* The hook ends with the loop it was set on: the next loop on the thread opens real sockets. */
EDDY_TEST_EX(socket_hook_ends_with_its_loop, .raw = true)
{
    EDDY_CHECK_EQ(eddy_loop_set_socket_hook(NULL), -EPERM); /* outside a loop */
    EDDY_OK(eddy_run(set_and_leave, NULL));
    EDDY_OK(eddy_run(listen_once, NULL));
    EDDY_CHECK_EQ(leftover_fake.calls, 0);
    return 0;
}
