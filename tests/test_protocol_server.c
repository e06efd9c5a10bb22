/* Tests of the callback protocol server (N9): accept under EMFILE, the stop policies
 * (grace period, abort), waiting from a task, closing from a callback, max_conns, argument
 * errors, Unix listeners, and the echo_protocol example program. */
#include <sys/prctl.h>

#include "test_protocol_util.h"

/* ---- server stop policies ---- */

static int stuck_client(uint16_t port, int *fd)
{
    *fd = raw_connect(port, 4096);
    send_all(*fd, "go", 2);
    return 0;
}

EDDY_TEST(server_close_grace_then_abort)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    eddy_protocol_server_opts o = EDDY_PROTOCOL_SERVER_OPTS_INIT;
    o.grace = EDDY_SEC(2);
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&close_proto, &o, &s));
    int fd;
    EDDY_OK(stuck_client(port, &fd)); /* never reads: the server's close cannot flush */
    EDDY_OK(eddy_event_wait(&ev_data));
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(2)); /* waited the grace period, then aborted */
    EDDY_CHECK(conns[0].lost);
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    raw_close(fd);
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* Regression (docs/api.md, "Durations"): grace 0 meant 5 s. Durations have one rule now: 0 aborts
 * at once what the close could not end, EDDY_FOREVER never aborts, and NULL options (or
 * EDDY_PROTOCOL_SERVER_OPTS_INIT) give the 5 s default. */
static int grace_case(const eddy_protocol_server_opts *o, int64_t *took)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&close_proto, o, &s));
    int fd;
    EDDY_OK(stuck_client(port, &fd));
    EDDY_OK(eddy_event_wait(&ev_data));
    int64_t t0 = eddy_now();
    int rc = 1;
    eddy_protocol_server_shutdown(s);
    EDDY_MOVE_ON_AFTER(EDDY_SEC(100)) rc = eddy_protocol_server_wait(s);
    *took = eddy_now() - t0;
    if (rc == -ECANCELED) {
        EDDY_CHECK(!conns[0].lost); /* still flushing to a peer that does not read */
        raw_close(fd);              /* the peer goes: the transport ends */
        fd = -1;
        EDDY_OK(eddy_protocol_server_wait(s));
    }
    EDDY_CHECK(conns[0].lost);
    EDDY_OK(eddy_protocol_server_close(s));
    if (fd >= 0) raw_close(fd);
    EDDY_OK(eddy_listener_close(l));
    return rc;
}

EDDY_TEST(server_grace_zero_now_forever_none_default_5s)
{
    int64_t took;
    eddy_protocol_server_opts o = EDDY_PROTOCOL_SERVER_OPTS_INIT;
    EDDY_CHECK_EQ(o.grace, EDDY_SEC(5));
    EDDY_CHECK_EQ(o.accept_backoff, EDDY_MSEC(100));
    o.grace = 0;
    EDDY_OK(grace_case(&o, &took));
    EDDY_CHECK_EQ(took, 0); /* aborted at once */
    EDDY_OK(grace_case(NULL, &took));
    EDDY_CHECK_EQ(took, EDDY_SEC(5));
    o.grace = EDDY_FOREVER;
    EDDY_CHECK_EQ(grace_case(&o, &took), -ECANCELED); /* never aborted: still there at 100 s */
    EDDY_CHECK_EQ(took, EDDY_SEC(100));
    return 0;
}

/* Clients that drain within the grace period end it early (and its timer is disarmed: the
 * leak check would report it otherwise). On the real clock: the peer's reads open its TCP
 * window through the kernel's own timers (delayed ACKs), and on the virtual clock the loop
 * would jump to the grace deadline while waiting for them. */
EDDY_TEST_EX(server_close_grace_ends_when_drained, .real_clock = true)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    eddy_protocol_server_opts o = EDDY_PROTOCOL_SERVER_OPTS_INIT;
    o.grace = EDDY_SEC(30);
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&close_proto, &o, &s));
    int fd;
    EDDY_OK(stuck_client(port, &fd));
    EDDY_OK(eddy_event_wait(&ev_data));
    eddy_protocol_server_shutdown(s); /* the transport is already closing: nothing changes */
    EDDY_OK(eddy_sleep(EDDY_MSEC(50)));
    int64_t t0 = eddy_now();
    static char buf[65536];
    size_t got = 0;
    ssize_t n;
    while ((n = recv_some(fd, buf, sizeof buf)) > 0) got += (size_t)n;
    EDDY_CHECK_EQ(got, 1 << 20);
    EDDY_OK(eddy_protocol_server_wait(s));
    EDDY_CHECK(eddy_now() - t0 < EDDY_SEC(15)); /* well before the grace deadline */
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    EDDY_OK(eddy_protocol_server_close(s));
    raw_close(fd);
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* Issue 7, bug 1: eddy_call_later added its delay to eddy_now() unchecked, so a grace period
 * too long for the clock overflowed into the past and aborted the flushing client at once.
 * Durations past the clock's range saturate to "no limit". */
EDDY_TEST(server_grace_past_the_clock_never_aborts)
{
    int64_t took;
    eddy_protocol_server_opts o = EDDY_PROTOCOL_SERVER_OPTS_INIT;
    o.grace = EDDY_FOREVER - 1;
    EDDY_OK(eddy_sleep(EDDY_SEC(1))); /* eddy_now() > 0: now + grace is out of range */
    EDDY_CHECK_EQ(grace_case(&o, &took), -ECANCELED); /* still flushing at 100 s */
    EDDY_CHECK_EQ(took, EDDY_SEC(100));
    return 0;
}

EDDY_TEST(server_close_abort_clients)
{
    state_reset(2);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    eddy_protocol_server_opts o = EDDY_PROTOCOL_SERVER_OPTS_INIT;
    o.abort_clients = true;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, &o, &s));
    int fd1 = raw_connect(port, 0), fd2 = raw_connect(port, 0);
    send_all(fd1, "a", 1);
    send_all(fd2, "b", 1);
    char c;
    EDDY_CHECK_EQ(recv_some(fd1, &c, 1), 1);
    EDDY_CHECK_EQ(recv_some(fd2, &c, 1), 1);
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_CHECK_EQ(eddy_now(), t0);
    EDDY_CHECK_EQ(nlost, 2);
    EDDY_CHECK_EQ(recv_some(fd1, &c, 1), -ECONNRESET);
    EDDY_CHECK_EQ(recv_some(fd2, &c, 1), -ECONNRESET);
    raw_close(fd1);
    raw_close(fd2);
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* A task waits on the server while a protocol callback stops it. */
static eddy_protocol_server *the_server;

static void stop_server_on_data(eddy_transport *t, const void *buf, size_t len)
{
    record(t, buf, len);
    EDDY_CHECK_EQ(eddy_protocol_server_wait(the_server), -EPERM); /* callbacks cannot wait */
    EDDY_OK(eddy_transport_write(t, "stopping", 8));
    eddy_protocol_server_shutdown(the_server);
    eddy_protocol_server_shutdown(the_server); /* idempotent */
}

static const eddy_protocol stopper_proto = {
    .connection_made = made,
    .data_received = stop_server_on_data,
    .connection_lost = lost,
};

EDDY_TEST(server_wait_returns_when_stopped_from_callback)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&stopper_proto, NULL, &the_server));
    /* A cancelled wait leaves the server running. */
    EDDY_MOVE_ON_AFTER(EDDY_MSEC(10)) {
        EDDY_CHECK_EQ(eddy_protocol_server_wait(the_server), -ECANCELED);
    }
    int fd = raw_connect(port, 0);
    send_all(fd, "stop", 4);
    EDDY_OK(eddy_protocol_server_wait(the_server));
    EDDY_OK(eddy_protocol_server_wait(the_server)); /* returns at once now */
    EDDY_CHECK(conns[0].lost);
    char buf[16];
    EDDY_CHECK_EQ(recv_all(fd, buf, sizeof buf), 8); /* flushed by the graceful stop */
    EDDY_CHECK(memcmp(buf, "stopping", 8) == 0);
    /* No longer accepting. */
    int fd2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    eddy_sockaddr a = loopback(port);
    (void)connect(fd2, (struct sockaddr *)&a.ss, a.len);
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    struct eddy_protocol_server_stats st;
    eddy_protocol_server_stats(the_server, &st);
    EDDY_CHECK_EQ(st.accepted, 1);
    close(fd2);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(the_server));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* Closing the server from a callback frees it once its last transport is gone. */
static void close_server_on_data(eddy_transport *t, const void *buf, size_t len)
{
    record(t, buf, len);
    EDDY_OK(eddy_protocol_server_close(the_server));
}

static const eddy_protocol closer_proto = {
    .connection_made = made,
    .data_received = close_server_on_data,
    .connection_lost = lost,
};

EDDY_TEST(server_close_from_callback)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&closer_proto, NULL, &the_server));
    int fd = raw_connect(port, 0);
    send_all(fd, "x", 1);
    EDDY_OK(eddy_event_wait(&ev_lost));
    char c;
    EDDY_CHECK_EQ(recv_some(fd, &c, 1), 0);
    raw_close(fd);
    EDDY_OK(eddy_listener_close(l)); /* the leak check proves the server was freed */
    return 0;
}

EDDY_TEST(serve_errors)
{
    state_reset(0);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    EDDY_CHECK_EQ(eddy_protocol_serve(NULL, factory, NULL, NULL, &s), -EINVAL);
    EDDY_CHECK_EQ(eddy_protocol_serve(l, NULL, NULL, NULL, &s), -EINVAL);
    EDDY_CHECK_EQ(eddy_protocol_serve(l, factory, NULL, NULL, NULL), -EINVAL);
    eddy_protocol_server_opts bad = {.grace = -1};
    EDDY_CHECK_EQ(eddy_protocol_serve(l, factory, NULL, &bad, &s), -EINVAL);
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, NULL, &s));
    eddy_protocol_server *s2;
    EDDY_CHECK_EQ(eddy_protocol_serve(l, factory, (void *)&echo_proto, NULL, &s2), -EBUSY);
    EDDY_CHECK_EQ(eddy_protocol_server_wait(NULL), -EINVAL);
    EDDY_OK(eddy_protocol_server_close(NULL));
    eddy_protocol_server_shutdown(NULL);
    /* The factory refusing a connection closes it. */
    refuse_with = -EACCES;
    int fd = raw_connect(port, 0);
    char c;
    EDDY_CHECK_EQ(recv_some(fd, &c, 1), 0);
    struct eddy_protocol_server_stats st;
    eddy_protocol_server_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 1);
    EDDY_CHECK_EQ(st.active, 0);
    EDDY_CHECK_EQ(nconns, 0);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

EDDY_TEST(max_conns_pauses_accepting)
{
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    eddy_protocol_server_opts o = EDDY_PROTOCOL_SERVER_OPTS_INIT;
    o.max_conns = 1;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, &o, &s));
    int fd1 = raw_connect(port, 0), fd2 = raw_connect(port, 0);
    send_all(fd1, "1", 1);
    send_all(fd2, "2", 1);
    char c;
    EDDY_CHECK_EQ(recv_some(fd1, &c, 1), 1);
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    struct eddy_protocol_server_stats st;
    eddy_protocol_server_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 1); /* the second waits in the backlog */
    raw_close(fd1);
    EDDY_CHECK_EQ(recv_some(fd2, &c, 1), 1); /* accepted once the first ended */
    EDDY_CHECK_EQ(c, '2');
    eddy_protocol_server_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 2);
    raw_close(fd2);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- EMFILE on accept ---- */

static int fillers[4096];

/* Use up every descriptor (dups of fd): the limit just above the highest in use, holes
 * filled. *old gets the limit to restore with free_fds. Returns how many were made. */
static int use_up_fds(int fd, struct rlimit *old)
{
    EDDY_OK(getrlimit(RLIMIT_NOFILE, old));
    int maxfd = 0;
    DIR *d = opendir("/proc/self/fd");
    EDDY_CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) > maxfd) maxfd = atoi(e->d_name);
    closedir(d);
    struct rlimit low = {.rlim_cur = (rlim_t)maxfd + 1, .rlim_max = old->rlim_max};
    EDDY_OK(setrlimit(RLIMIT_NOFILE, &low));
    int nf = 0;
    for (;;) {
        int f = dup(fd);
        if (f < 0) {
            EDDY_CHECK_EQ(errno, EMFILE);
            break;
        }
        EDDY_CHECK(nf < 4096);
        fillers[nf++] = f;
    }
    return nf;
}

static void free_fds(int nf, const struct rlimit *old)
{
    for (int i = 0; i < nf; i++) close(fillers[i]);
    EDDY_OK(setrlimit(RLIMIT_NOFILE, old));
}

EDDY_TEST(emfile_on_accept_backs_off_and_recovers)
{
    int fds0 = eddy_test_fd_count();
    state_reset(1);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    eddy_protocol_server_opts o = EDDY_PROTOCOL_SERVER_OPTS_INIT;
    o.accept_backoff = EDDY_MSEC(100);
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, &o, &s));
    /* Connect without letting the loop run: the server must not accept before the limit. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    eddy_sockaddr a = loopback(port);
    EDDY_CHECK(connect(fd, (struct sockaddr *)&a.ss, a.len) == 0 || errno == EINPROGRESS);
    struct rlimit old;
    int nf = use_up_fds(fd, &old);
    int64_t t0 = eddy_now();
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    struct eddy_protocol_server_stats st;
    eddy_protocol_server_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 0);
    EDDY_CHECK_EQ(st.last_accept_error, -EMFILE);
    /* One attempt per backoff period, not a spin: about 1 s / 100 ms. */
    EDDY_CHECK(st.accept_errors >= 9 && st.accept_errors <= 12);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
    EDDY_CHECK(eddy_wait_fd(fd, EDDY_WRITE) > 0); /* the handshake completed in the backlog */
    /* Free descriptors: the pending connection is accepted at the next retry. */
    free_fds(nf, &old);
    send_all(fd, "still there", 11);
    char buf[16];
    EDDY_CHECK_EQ(recv_all(fd, buf, 11), 11);
    EDDY_CHECK(memcmp(buf, "still there", 11) == 0);
    EDDY_CHECK(eddy_now() - t0 <= EDDY_SEC(1) + EDDY_MSEC(100));
    eddy_protocol_server_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 1);
    raw_close(fd);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds0);
    return 0;
}

/* accept_backoff = EDDY_FOREVER (docs/api.md, "Durations": a 0 meant "the default"; now
 * EDDY_FOREVER is "no timer"): after EMFILE the server retries only when one of its own
 * connections ends and gives a descriptor back. */
EDDY_TEST(emfile_backoff_forever_waits_for_a_connection_to_end)
{
    int fds0 = eddy_test_fd_count();
    state_reset(2);
    uint16_t port;
    eddy_listener *l = listen_any(&port);
    eddy_protocol_server *s;
    eddy_protocol_server_opts o = EDDY_PROTOCOL_SERVER_OPTS_INIT;
    o.accept_backoff = EDDY_FOREVER;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, &o, &s));
    int first = raw_connect(port, 0);
    send_all(first, "a", 1);
    char buf[16];
    EDDY_CHECK_EQ(recv_all(first, buf, 1), 1); /* accepted and served */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    eddy_sockaddr a = loopback(port);
    EDDY_CHECK(connect(fd, (struct sockaddr *)&a.ss, a.len) == 0 || errno == EINPROGRESS);
    struct rlimit old;
    int nf = use_up_fds(fd, &old);
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    struct eddy_protocol_server_stats st;
    eddy_protocol_server_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 1);
    EDDY_CHECK_EQ(st.accept_errors, 1); /* one try, no timer retrying */
    free_fds(nf, &old);
    EDDY_OK(eddy_sleep(EDDY_SEC(10)));
    eddy_protocol_server_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 1); /* descriptors are free, but nothing told the server */
    EDDY_CHECK_EQ(st.accept_errors, 1);
    raw_close(first); /* its transport ends: accepting restarts */
    send_all(fd, "still there", 11);
    EDDY_CHECK_EQ(recv_all(fd, buf, 11), 11);
    EDDY_CHECK(memcmp(buf, "still there", 11) == 0);
    eddy_protocol_server_stats(s, &st);
    EDDY_CHECK_EQ(st.accepted, 2);
    raw_close(fd);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds0);
    return 0;
}

/* ---- other families ---- */

/* A Unix listener adopted with eddy_listener_from_fd serves the same way (no TCP options). */
EDDY_TEST(serve_unix_listener)
{
    int fds0 = eddy_test_fd_count();
    state_reset(1);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EDDY_CHECK(lfd >= 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int len = snprintf(un.sun_path + 1, sizeof un.sun_path - 1, "eddy-proto-%d", (int)getpid());
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
    EDDY_OK(bind(lfd, (struct sockaddr *)&un, alen));
    EDDY_OK(listen(lfd, 8));
    eddy_listener *l;
    EDDY_OK(eddy_listener_from_fd(lfd, &l));
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, NULL, &s));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EDDY_CHECK(connect(fd, (struct sockaddr *)&un, alen) == 0 || errno == EINPROGRESS ||
               errno == EAGAIN);
    send_all(fd, "over unix", 9);
    char buf[16];
    EDDY_CHECK_EQ(recv_all(fd, buf, 9), 9);
    EDDY_CHECK(memcmp(buf, "over unix", 9) == 0);
    raw_close(fd);
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds0);
    return 0;
}

/* IPv6 loopback, client and server both protocol transports (skipped without IPv6). */
static void v6_hello(eddy_transport *t, void *user)
{
    made(t, user);
    EDDY_OK(eddy_transport_write(t, "six", 3));
}

static void v6_data(eddy_transport *t, const void *buf, size_t len)
{
    record(t, buf, len);
    if (((conn *)eddy_transport_user(t))->nrx == 3) EDDY_OK(eddy_transport_close(t));
}

static const eddy_protocol v6_client = {
    .connection_made = v6_hello,
    .data_received = v6_data,
    .connection_lost = lost,
};

EDDY_TEST(serve_and_connect_ipv6)
{
    state_reset(2);
    eddy_listener *l;
    int rc = eddy_tcp_listen("::1", 0, NULL, &l);
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
        printf("# skipped: no IPv6 loopback\n");
        return 0;
    }
    EDDY_OK(rc);
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_local_addr(l, &a));
    eddy_protocol_server *s;
    EDDY_OK(eddy_protocol_serve(l, factory, (void *)&echo_proto, NULL, &s));
    eddy_transport *t;
    EDDY_OK(eddy_protocol_connect(&a, factory, (void *)&v6_client, &t));
    EDDY_OK(eddy_event_wait(&ev_lost));
    EDDY_CHECK_EQ(conns[0].nrx, 3);
    EDDY_CHECK(memcmp(conns[0].rx, "six", 3) == 0);
    EDDY_CHECK_EQ(conns[0].lost_err, 0);
    EDDY_CHECK_EQ(conns[1].lost_err, 0);
    EDDY_OK(eddy_protocol_server_close(s));
    EDDY_OK(eddy_listener_close(l));
    return 0;
}

/* ---- the example program ---- */

/* Run the example on a free port (with two workers sharing it, and the CPU-heavier handler,
 * if workers), echo through it on a few connections, stop it with sig: it must exit 0. */
static int run_echo_example(int sig, bool workers)
{
    int out[2];
    EDDY_CHECK(pipe2(out, O_CLOEXEC) == 0);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        dup2(out[1], 1);
        unsetenv("EDDY_CLOCK");
        unsetenv("EDDY_SCHED_SEED");
        if (workers)
            execl(EDDY_BUILD_DIR "/examples/echo_protocol", "echo_protocol", "--workers", "2", "--work",
                  "2", "0", (char *)NULL);
        else
            execl(EDDY_BUILD_DIR "/examples/echo_protocol", "echo_protocol", "0", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[256];
    size_t n = 0;
    while (n < sizeof line - 1 && !memchr(line, '\n', n)) {
        ssize_t k = read(out[0], line + n, sizeof line - 1 - n);
        EDDY_CHECK(k > 0);
        n += (size_t)k;
    }
    line[n] = 0;
    EDDY_CHECK(strncmp(line, "Server listening at ", 20) == 0);
    char *colon = strrchr(line, ':');
    EDDY_CHECK(colon != NULL);
    int port = atoi(colon + 1);
    EDDY_CHECK(port > 0 && port < 65536);
    enum { NFD = 4 };
    int fds[NFD];
    for (int i = 0; i < NFD; i++) {
        int fd = fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        EDDY_OK(connect(fd, (struct sockaddr *)&sa, sizeof sa));
        static char msg[100000], back[100000];
        pattern(msg, 3 + i, sizeof msg);
        size_t got = 0;
        EDDY_CHECK_EQ(send(fd, msg, sizeof msg, 0), (ssize_t)sizeof msg);
        while (got < sizeof back) {
            ssize_t k = recv(fd, back + got, sizeof back - got, 0);
            EDDY_CHECK(k > 0);
            got += (size_t)k;
        }
        EDDY_CHECK(memcmp(msg, back, sizeof msg) == 0);
    }
    EDDY_OK(kill(pid, sig));
    int ws;
    EDDY_CHECK(waitpid(pid, &ws, 0) == pid);
    EDDY_CHECK(WIFEXITED(ws));
    EDDY_CHECK_EQ(WEXITSTATUS(ws), 0);
    /* The open connections were closed by the server's stop. */
    for (int i = 0; i < NFD; i++) {
        char c;
        EDDY_CHECK_EQ(recv(fds[i], &c, 1, 0), 0);
        close(fds[i]);
    }
    close(out[0]);
    return 0;
}

EDDY_TEST_EX(echo_protocol_example_sigterm, .raw = true) { return run_echo_example(SIGTERM, false); }
EDDY_TEST_EX(echo_protocol_example_sigint, .raw = true) { return run_echo_example(SIGINT, false); }
/* R4: --workers 2 (SO_REUSEPORT listeners, one loop per thread); a signal stops both. */
EDDY_TEST_EX(echo_protocol_example_workers, .raw = true) { return run_echo_example(SIGTERM, true); }
