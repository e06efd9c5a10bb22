/* The fault sweep's scenarios (tests/test_fault_sweep.c): each runs as eddy_run's root task,
 * calls the public API through CALL (fault_sweep_docs.h), returns 0 when everything worked
 * and 1 when a call failed and it unwound, and always closes what it opened. Included once,
 * by test_fault_sweep.c. */
#ifndef EDDY_FAULT_SWEEP_SCENARIOS_H
#define EDDY_FAULT_SWEEP_SCENARIOS_H
/* ---- scenarios -------------------------------------------------------------------------- */

/* Each runs as eddy_run's root task and returns 0 when everything worked, 1 when a call
 * failed and it unwound (expected under a fault). It always closes what it opened. */
typedef struct scenario {
    const char *name;
    int (*main)(void *);
    bool full_only;
} scenario;

static unsigned char pat(size_t i) { return (unsigned char)(i * 13 + (i >> 9)); }

/* Read s to end of stream, checking the bytes against pat; 0, or 1 on error or wrong bytes. */
static int read_check(eddy_stream *s, size_t expect)
{
    unsigned char buf[3000];
    size_t got = 0;
    for (;;) {
        ssize_t n = CALL(eddy_stream_read, eddy_stream_read(s, buf, sizeof buf));
        if (n < 0) return 1;
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++)
            if (got + (size_t)i >= expect || buf[i] != pat(got + (size_t)i)) return 1;
        got += (size_t)n;
    }
    return got == expect ? 0 : 1;
}

/* Write len pattern bytes, a writev of three pieces then plain writes. */
static int write_pat(eddy_stream *s, size_t len)
{
    unsigned char *b = malloc(len);
    if (!b) return 1;
    for (size_t i = 0; i < len; i++) b[i] = pat(i);
    size_t a = len / 8, c = len / 4;
    struct iovec iov[3] = {{b, a}, {b + a, c}, {b + a + c, len / 8}};
    size_t done = a + c + len / 8, w = 0;
    int rc = CALL(eddy_stream_writev, eddy_stream_writev(s, iov, 3, &w));
    if (rc == 0 && w != done) rc = -EPROTO;
    for (size_t off = done; rc == 0 && off < len; off += 4096) {
        size_t k = len - off < 4096 ? len - off : 4096;
        rc = CALL(eddy_stream_write_all, eddy_stream_write_all(s, b + off, k));
    }
    free(b);
    return rc ? 1 : 0;
}

static int close_stream(eddy_stream *s)
{
    return CALL(eddy_stream_close, eddy_stream_close(s)) ? 1 : 0;
}

/* End a stream: abort it after a failure (bad), else close it; 1 if anything failed. */
static int finish(eddy_stream *s, int bad)
{
    if (bad) {
        eddy_stream_abort(s);
        return 1;
    }
    return close_stream(s);
}

/* Accept one connection and close the listener (a connection still in its backlog is reset,
 * so a client never waits on a server that gave up). -1 and no stream if the accept failed;
 * else 0, or 1 if the listener's close failed. */
static int accept_one(eddy_listener *l, eddy_stream **c)
{
    *c = NULL;
    int rc = (int)CALL(eddy_listener_accept, eddy_listener_accept(l, c, NULL));
    int bad = CALL(eddy_listener_close, eddy_listener_close(l)) != 0;
    return rc ? -1 : bad;
}

/* Echo one connection's bytes back until end of stream, then close it. */
static int echo(eddy_stream *c)
{
    unsigned char buf[2048];
    int bad = 0;
    for (;;) {
        ssize_t n = CALL(eddy_stream_read, eddy_stream_read(c, buf, sizeof buf));
        if (n <= 0) {
            bad = n < 0;
            break;
        }
        if (CALL(eddy_stream_write_all, eddy_stream_write_all(c, buf, (size_t)n))) {
            bad = 1;
            break;
        }
    }
    return finish(c, bad);
}

/* The listening side: accept one connection, then echo. */
static int serve_one(void *p)
{
    eddy_stream *c;
    int a = accept_one(p, &c);
    return a < 0 ? 1 : echo(c) | a;
}

/* The connecting side: send a pattern, half-close, read the echo back. */
static int client_round(eddy_stream *s, size_t len)
{
    int bad = write_pat(s, len);
    if (!bad) bad = CALL(eddy_stream_shutdown_write, eddy_stream_shutdown_write(s)) != 0;
    if (!bad) bad = read_check(s, len);
    return finish(s, bad);
}

/* Run server(sarg) as a task serving l, and client(arg) in this task; the client's end
 * cancels the server if it is still waiting (the client failed before it connected). */
static int with_server_fn(eddy_listener *l, int (*server)(void *), void *sarg,
                          int (*client)(void *), void *arg)
{
    eddy_nursery n;
    if (CALL(eddy_nursery_open, eddy_nursery_open(&n))) {
        (void)CALL(eddy_listener_close, eddy_listener_close(l));
        return 1;
    }
    int bad = 0;
    if (CALL(eddy_spawn, eddy_spawn(&n, server, sarg))) {
        bad = 1;
        (void)CALL(eddy_listener_close, eddy_listener_close(l));
    } else {
        bad = client(arg);
    }
    eddy_nursery_cancel(&n);
    if (CALL(eddy_nursery_close, eddy_nursery_close(&n))) bad = 1;
    return bad;
}

/* The same with serve_one: accept one connection on l and echo it. */
static int with_server(eddy_listener *l, int (*client)(void *), void *arg)
{
    return with_server_fn(l, serve_one, l, client, arg);
}

typedef struct addr_arg {
    eddy_sockaddr addr;
    const char *name;
} addr_arg;

static int tcp_client(void *p)
{
    addr_arg *a = p;
    eddy_stream *s;
    char host[64];
    if (eddy_sockaddr_format(&a->addr, host, sizeof host) < 0) return 1;
    *strrchr(host, ':') = 0;
    if (CALL(eddy_tcp_connect, eddy_tcp_connect(host, eddy_sockaddr_port(&a->addr), NULL, &s)))
        return 1;
    eddy_sockaddr peer, local;
    int bad = CALL(eddy_stream_peer_addr, eddy_stream_peer_addr(s, &peer)) != 0;
    bad |= CALL(eddy_stream_local_addr, eddy_stream_local_addr(s, &local)) != 0;
    return client_round(s, 48 * 1024) | bad;
}

static int tcp_client_addr(void *p)
{
    addr_arg *a = p;
    eddy_stream *s;
    if (CALL(eddy_tcp_connect_addr, eddy_tcp_connect_addr(&a->addr, &s))) return 1;
    return client_round(s, 5000);
}

/* A TCP listener on a free loopback port and its address; 1 (nothing left open) on failure. */
static int listen_local(eddy_listener **l, eddy_sockaddr *a)
{
    if (CALL(eddy_tcp_listen, eddy_tcp_listen("127.0.0.1", 0, NULL, l))) return 1;
    if (CALL(eddy_listener_local_addr, eddy_listener_local_addr(*l, a))) {
        (void)CALL(eddy_listener_close, eddy_listener_close(*l));
        return 1;
    }
    return 0;
}

static int scen_tcp(void *unused)
{
    (void)unused;
    int bad = 0;
    for (int round = 0; round < 2; round++) {
        eddy_listener *l;
        addr_arg a;
        if (listen_local(&l, &a.addr)) return 1;
        bad |= with_server(l, round ? tcp_client_addr : tcp_client, &a);
    }
    return bad;
}

static int unix_client(void *p)
{
    addr_arg *a = p;
    eddy_stream *s;
    if (CALL(eddy_unix_connect, eddy_unix_connect(a->name, &s))) return 1;
    eddy_unix_cred cred;
    int bad = CALL(eddy_unix_peer_cred, eddy_unix_peer_cred(s, &cred)) != 0;
    return client_round(s, 20000) | bad;
}

/* Unix listener and connect, a socket pair passing a descriptor, then an echo over the pair. */
static int scen_unix(void *unused)
{
    (void)unused;
    addr_arg a;
    char name[64];
    snprintf(name, sizeof name, "@eddy-fault-sweep-%d", (int)getpid());
    a.name = name;
    eddy_listener *l;
    int bad = 0;
    if (CALL(eddy_unix_listen, eddy_unix_listen(name, NULL, &l)))
        bad = 1;
    else
        bad |= with_server(l, unix_client, &a);

    eddy_stream *x, *y;
    if (CALL(eddy_socketpair, eddy_socketpair(&x, &y))) return 1;
    int fd = -1;
    if (CALL(eddy_unix_send_fd, eddy_unix_send_fd(x, 0)) ||
        CALL(eddy_unix_recv_fd, eddy_unix_recv_fd(y, &fd)))
        bad = 1;
    if (fd >= 0) close(fd);
    static const char msg[] = "ping";
    char buf[8];
    if (!bad && (CALL(eddy_stream_write_all, eddy_stream_write_all(x, msg, 4)) ||
                 CALL(eddy_stream_read, eddy_stream_read(y, buf, sizeof buf)) <= 0))
        bad = 1;
    bad |= close_stream(x);
    bad |= close_stream(y);
    return bad;
}

typedef struct pipe_job {
    eddy_stream *wr;
    size_t len;
    int bad;
} pipe_job;

static int pipe_writer(void *p)
{
    pipe_job *j = p;
    j->bad = write_pat(j->wr, j->len);
    /* also after a failed write: the reader must see the end instead of waiting forever */
    j->bad |= CALL(eddy_stream_shutdown_write, eddy_stream_shutdown_write(j->wr)) != 0;
    return 0;
}

/* A pipe carrying more than its buffer holds (so both sides wait), then a descriptor stream
 * over a socket pair made outside eddy. */
static int scen_pipe(void *unused)
{
    (void)unused;
    int bad = 0;
    eddy_stream *rd, *wr;
    if (CALL(eddy_pipe, eddy_pipe(&rd, &wr))) return 1;
    pipe_job j = {wr, 200 * 1024, 0};
    eddy_nursery n;
    if (CALL(eddy_nursery_open, eddy_nursery_open(&n))) {
        bad = 1;
    } else {
        if (CALL(eddy_spawn, eddy_spawn(&n, pipe_writer, &j)))
            bad = 1;
        else
            bad |= read_check(rd, j.len);
        if (bad) eddy_nursery_cancel(&n);
        bad |= CALL(eddy_nursery_close, eddy_nursery_close(&n)) != 0;
    }
    bad |= j.bad | close_stream(rd) | close_stream(wr);

    int sv[2];
    EDDY_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    eddy_stream *a, *b;
    if (CALL(eddy_fd_stream, eddy_fd_stream(sv[0], 0, &a))) {
        close(sv[0]);
        close(sv[1]);
        return 1;
    }
    if (CALL(eddy_fd_stream, eddy_fd_stream(sv[1], 0, &b))) {
        close(sv[1]);
        return close_stream(a) | 1;
    }
    static const char msg[] = "hello";
    char buf[16];
    if (CALL(eddy_stream_write_all, eddy_stream_write_all(a, msg, 5)) ||
        CALL(eddy_stream_read, eddy_stream_read(b, buf, sizeof buf)) <= 0)
        bad = 1;
    return bad | close_stream(a) | close_stream(b);
}

typedef struct sf_arg {
    eddy_sockaddr addr;
    int file;
    size_t len;
} sf_arg;

static int sf_server(void *p)
{
    eddy_stream *c;
    int a = accept_one(p, &c);
    return a < 0 ? 1 : finish(c, a | read_check(c, 300 * 1024));
}

static int sf_client(sf_arg *a)
{
    eddy_stream *s;
    if (CALL(eddy_tcp_connect_addr, eddy_tcp_connect_addr(&a->addr, &s))) return 1;
    size_t sent = 0;
    int bad = CALL(eddy_sendfile, eddy_sendfile(s, a->file, 0, a->len, &sent)) != 0;
    if (!bad) bad = CALL(eddy_stream_shutdown_write, eddy_stream_shutdown_write(s)) != 0;
    /* the server closes after reading everything: wait for its end of stream */
    char c;
    if (!bad) bad = CALL(eddy_stream_read, eddy_stream_read(s, &c, 1)) != 0;
    return finish(s, bad);
}

/* eddy_sendfile of a file to a TCP stream (sendfile(2)) and to a pipe (the copying loop). */
static int scen_sendfile(void *unused)
{
    (void)unused;
    char path[] = "/tmp/eddy-fault-sweep-XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    unlink(path);
    sf_arg a = {.file = fd, .len = 300 * 1024};
    static unsigned char blk[4096];
    for (size_t off = 0; off < a.len; off += sizeof blk) {
        for (size_t i = 0; i < sizeof blk; i++) blk[i] = pat(off + i);
        EDDY_CHECK(write(fd, blk, sizeof blk) == (ssize_t)sizeof blk);
    }
    int bad = 0;
    eddy_listener *l;
    eddy_nursery n;
    if (CALL(eddy_tcp_listen, eddy_tcp_listen("127.0.0.1", 0, NULL, &l))) {
        bad = 1;
    } else if (CALL(eddy_listener_local_addr, eddy_listener_local_addr(l, &a.addr)) ||
               CALL(eddy_nursery_open, eddy_nursery_open(&n))) {
        (void)CALL(eddy_listener_close, eddy_listener_close(l));
        bad = 1;
    } else {
        if (CALL(eddy_spawn, eddy_spawn(&n, sf_server, l))) {
            (void)CALL(eddy_listener_close, eddy_listener_close(l));
            bad = 1;
        } else {
            bad = sf_client(&a);
        }
        eddy_nursery_cancel(&n);
        bad |= CALL(eddy_nursery_close, eddy_nursery_close(&n)) != 0;
    }

    eddy_stream *rd, *wr;
    if (CALL(eddy_pipe, eddy_pipe(&rd, &wr))) {
        close(fd);
        return 1;
    }
    size_t sent = 0;
    char buf[512];
    if (CALL(eddy_sendfile, eddy_sendfile(wr, fd, 1000, 300, &sent)) ||
        CALL(eddy_stream_read, eddy_stream_read(rd, buf, sizeof buf)) <= 0)
        bad = 1;
    close(fd);
    return bad | close_stream(rd) | close_stream(wr);
}

typedef struct core_arg {
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    int pfd[2];
    int bad;
} core_arg;

static int core_producer(void *p)
{
    core_arg *c = p;
    for (int i = 0; i < 20; i++) {
        if (CALL(eddy_chan_send, eddy_chan_send(&c->tx, &i))) {
            c->bad = 1;
            break;
        }
        if (i % 5 == 0 && CALL(eddy_sleep, eddy_sleep(EDDY_MSEC(1)))) c->bad = 1;
    }
    (void)eddy_chan_close_send(&c->tx);
    char b = 1;
    if (write(c->pfd[1], &b, 1) != 1) c->bad = 1;
    return 0;
}

static int core_sleeper(void *p)
{
    (void)p;
    return CALL(eddy_sleep, eddy_sleep(EDDY_MSEC(2))) == 0 ? 0 : 0;
}

/* The runtime alone: the loop (created by eddy_run), tasks and their stacks, a channel,
 * timers and a wait on a foreign descriptor. */
static int scen_core(void *unused)
{
    (void)unused;
    core_arg c = {.bad = 0};
    EDDY_CHECK(pipe2(c.pfd, O_CLOEXEC | O_NONBLOCK) == 0);
    int bad = 0;
    if (CALL(eddy_chan_open, eddy_chan_open(&c.tx, &c.rx, sizeof(int), 4))) {
        bad = 1;
        goto out;
    }
    eddy_nursery n;
    if (CALL(eddy_nursery_open, eddy_nursery_open(&n))) {
        (void)eddy_chan_close_send(&c.tx);
        (void)eddy_chan_close_recv(&c.rx);
        bad = 1;
        goto out;
    }
    if (CALL(eddy_spawn, eddy_spawn(&n, core_sleeper, NULL)) ||
        CALL(eddy_spawn, eddy_spawn(&n, core_producer, &c))) {
        bad = 1;
        (void)eddy_chan_close_send(&c.tx);
    }
    int v, sum = 0;
    while (CALL(eddy_chan_recv, eddy_chan_recv(&c.rx, &v)) == 0) sum += v;
    (void)eddy_chan_close_recv(&c.rx);
    if (!bad && sum != 190) bad = 1;
    if (!bad && CALL(eddy_wait_fd, eddy_wait_fd(c.pfd[0], EDDY_READ)) < 0) bad = 1;
    if (CALL(eddy_yield, eddy_yield())) bad = 1;
    bad |= CALL(eddy_nursery_close, eddy_nursery_close(&n)) != 0;
    bad |= c.bad;
out:
    (void)eddy_fd_forget(c.pfd[0]);
    close(c.pfd[0]);
    close(c.pfd[1]);
    return bad;
}

/* -- the callback protocol layer: an echo server, two protocol clients and a stream client -- */

typedef struct proto_run {
    eddy_event done;
    int left; /* clients not finished */
    int bad;
} proto_run;

typedef struct proto_client {
    proto_run *run;
    size_t got;
} proto_client;

#define PROTO_LEN 20000

/* What connection_lost may be given: 0, or a code protocol.h's file comment names under
 * "Errors passed to connection_lost" (parsed as the pseudo-function "connection_lost"). */
static void lost_check(int err, int line)
{
    (void)doc_check("connection_lost", err, line);
}

static void srv_data(eddy_transport *t, const void *buf, size_t len)
{
    if (CALL(eddy_transport_write, eddy_transport_write(t, buf, len))) (void)eddy_transport_abort(t);
}
static bool srv_eof(eddy_transport *t)
{
    (void)t;
    return false;
}
static void srv_lost(eddy_transport *t, int err)
{
    (void)t;
    lost_check(err, __LINE__);
}
static const eddy_protocol srv_proto = {.data_received = srv_data, .eof_received = srv_eof,
                                        .connection_lost = srv_lost};
static int srv_factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **proto, void **user)
{
    (void)arg, (void)peer;
    *proto = &srv_proto;
    *user = NULL;
    return 0;
}

static void cli_made(eddy_transport *t, void *user)
{
    (void)user;
    static unsigned char b[PROTO_LEN];
    for (size_t i = 0; i < sizeof b; i++) b[i] = pat(i);
    if (CALL(eddy_transport_write, eddy_transport_write(t, b, sizeof b)) ||
        CALL(eddy_transport_shutdown_write, eddy_transport_shutdown_write(t)))
        (void)eddy_transport_abort(t);
}
static void cli_data(eddy_transport *t, const void *buf, size_t len)
{
    proto_client *c = eddy_transport_user(t);
    const unsigned char *b = buf;
    for (size_t i = 0; i < len; i++)
        if (c->got + i >= PROTO_LEN || b[i] != pat(c->got + i)) {
            c->run->bad = 1; /* wrong bytes arrived: never acceptable */
            if (rep && !rep->undocumented++)
                snprintf(rep->first, sizeof rep->first, "protocol client got a wrong byte at %zu",
                         c->got + i);
            (void)eddy_transport_abort(t);
            return;
        }
    c->got += len;
}
static bool cli_eof(eddy_transport *t)
{
    (void)t;
    return false;
}
static void cli_lost(eddy_transport *t, int err)
{
    proto_client *c = eddy_transport_user(t);
    lost_check(err, __LINE__);
    if (--c->run->left == 0) eddy_event_set(&c->run->done);
    free(c);
}
static const eddy_protocol cli_proto = {.connection_made = cli_made, .data_received = cli_data,
                                        .eof_received = cli_eof, .connection_lost = cli_lost};
static int cli_factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **proto, void **user)
{
    (void)peer;
    *proto = &cli_proto;
    *user = arg;
    return 0;
}

static int scen_protocol(void *unused)
{
    (void)unused;
    proto_run run = {.left = 2};
    eddy_event_init(&run.done);
    eddy_listener *l;
    addr_arg a;
    if (listen_local(&l, &a.addr)) return 1;
    eddy_protocol_server_opts o = EDDY_PROTOCOL_SERVER_OPTS_INIT;
    o.grace = EDDY_MSEC(200);
    o.accept_backoff = EDDY_MSEC(5);
    eddy_protocol_server *srv;
    if (CALL(eddy_protocol_serve, eddy_protocol_serve(l, srv_factory, NULL, &o, &srv))) {
        (void)CALL(eddy_listener_close, eddy_listener_close(l));
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        proto_client *c = calloc(1, sizeof *c);
        EDDY_CHECK(c != NULL);
        c->run = &run;
        if (CALL(eddy_protocol_connect, eddy_protocol_connect(&a.addr, cli_factory, c, NULL))) {
            free(c);
            bad = 1;
            if (--run.left == 0) eddy_event_set(&run.done);
        }
    }
    bad |= tcp_client_addr(&a); /* a stream client of the protocol server */
    if (CALL(eddy_event_wait, eddy_event_wait(&run.done))) bad = 1;
    (void)CALL(eddy_protocol_server_close, eddy_protocol_server_close(srv));
    bad |= CALL(eddy_listener_close, eddy_listener_close(l)) != 0;
    return bad | run.bad;
}

/* -- UDP: single datagrams and batches between two sockets, one of them connected -- */
static int scen_udp(void *unused)
{
    (void)unused;
    eddy_sockaddr any, aaddr;
    EDDY_OK(eddy_sockaddr_parse("127.0.0.1", 0, &any));
    eddy_udp *a, *b;
    if (CALL(eddy_udp_open, eddy_udp_open(&any, NULL, &a))) return 1;
    if (CALL(eddy_udp_local_addr, eddy_udp_local_addr(a, &aaddr)) ||
        CALL(eddy_udp_open, eddy_udp_open(&any, &aaddr, &b))) {
        (void)CALL(eddy_udp_close, eddy_udp_close(a));
        return 1;
    }
    int bad = 0;
    char buf[64];
    eddy_sockaddr from;
    if (CALL(eddy_udp_send, eddy_udp_send(b, NULL, "one", 3)) != 3 ||
        CALL(eddy_udp_recv, eddy_udp_recv(a, &from, buf, sizeof buf)) != 3)
        bad = 1;
    if (!bad && (CALL(eddy_udp_send, eddy_udp_send(a, &from, "two", 3)) != 3 ||
                 CALL(eddy_udp_recv, eddy_udp_recv(b, NULL, buf, sizeof buf)) != 3))
        bad = 1;
    char p[3][8] = {"x", "yy", "zzz"};
    eddy_udp_msg m[3];
    for (int i = 0; i < 3; i++) m[i] = (eddy_udp_msg){.buf = p[i], .len = strlen(p[i])};
    int k = bad ? 0 : (int)CALL(eddy_udp_send_many, eddy_udp_send_many(b, m, 3));
    if (k <= 0) bad = 1;
    char r[3][8];
    eddy_udp_msg rm[3];
    for (int i = 0; i < 3; i++) rm[i] = (eddy_udp_msg){.buf = r[i], .len = sizeof r[i]};
    for (int got = 0; !bad && got < k;) {
        int n = (int)CALL(eddy_udp_recv_many, eddy_udp_recv_many(a, rm + got, (size_t)(3 - got)));
        if (n <= 0) bad = 1;
        got += n > 0 ? n : 0;
    }
    bad |= CALL(eddy_udp_close, eddy_udp_close(a)) != 0;
    bad |= CALL(eddy_udp_close, eddy_udp_close(b)) != 0;
    return bad;
}

/* -- files and directories on the worker pool -- */
static int scen_files(void *unused)
{
    (void)unused;
    char dir[] = "/tmp/eddy-fault-files-XXXXXX";
    EDDY_CHECK(mkdtemp(dir) != NULL);
    char sub[64], path[96], path2[96];
    snprintf(sub, sizeof sub, "%s/d", dir);
    snprintf(path, sizeof path, "%s/d/f", dir);
    snprintf(path2, sizeof path2, "%s/d/g", dir);
    int bad = 0;
    if (CALL(eddy_file_mkdir, eddy_file_mkdir(sub, 0700))) {
        bad = 1;
        goto out;
    }
    eddy_file *f;
    if (CALL(eddy_file_open, eddy_file_open(path, O_CREAT | O_RDWR | O_TRUNC, 0600, &f))) {
        bad = 1;
    } else {
        static const char a[] = "hello ", b[] = "world";
        struct iovec iov[2] = {{(void *)a, 6}, {(void *)b, 5}};
        char got[16] = {0};
        struct iovec riov[2] = {{got, 6}, {got + 6, 5}};
        struct stat st;
        if (CALL(eddy_file_write, eddy_file_write(f, a, 6)) != 6 ||
            CALL(eddy_file_pwritev, eddy_file_pwritev(f, iov, 2, 0)) != 11 ||
            CALL(eddy_file_pwrite, eddy_file_pwrite(f, "W", 1, 6)) != 1 ||
            CALL(eddy_file_fdatasync, eddy_file_fdatasync(f)) ||
            CALL(eddy_file_fstat, eddy_file_fstat(f, &st)) ||
            CALL(eddy_file_preadv, eddy_file_preadv(f, riov, 2, 0)) != 11 ||
            CALL(eddy_file_pread, eddy_file_pread(f, got, 5, 6)) != 5)
            bad = 1;
        bad |= CALL(eddy_file_close, eddy_file_close(f)) != 0;
    }
    struct stat st;
    if (!bad && (CALL(eddy_file_stat, eddy_file_stat(path, &st)) ||
                 CALL(eddy_file_rename, eddy_file_rename(path, path2))))
        bad = 1;
    eddy_dir *d;
    if (CALL(eddy_dir_open, eddy_dir_open(sub, &d))) {
        bad = 1;
    } else {
        eddy_dirent e;
        int r;
        while ((r = (int)CALL(eddy_dir_read, eddy_dir_read(d, &e))) == 1) {
        }
        bad |= r != 0;
        bad |= CALL(eddy_dir_close, eddy_dir_close(d)) != 0;
    }
out:
    /* cleanup outside eddy: whatever the fault left behind */
    unlink(path);
    unlink(path2);
    rmdir(sub);
    rmdir(dir);
    return bad;
}

/* -- child processes: run-and-capture through pipes, and a plain spawn and wait -- */
static int scen_process(void *unused)
{
    (void)unused;
    int bad = 0;
    static const char *const cat[] = {"cat", NULL};
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.grace = EDDY_MSEC(200);
    o.stderr_mode = EDDY_STDIO_NULL;
    char out[64];
    eddy_process_capture cap = {.input = "hello", .input_len = 5, .out = out, .out_cap = sizeof out};
    long rc = CALL(eddy_process_run, eddy_process_run(cat, &o, &cap));
    if (rc != 0 || cap.out_len != 5 || memcmp(out, "hello", 5)) bad = 1;

    static const char *const tru[] = {"true", NULL};
    eddy_process_opts q = EDDY_PROCESS_OPTS_INIT;
    q.grace = EDDY_MSEC(200);
    q.stdin_mode = q.stdout_mode = q.stderr_mode = EDDY_STDIO_NULL;
    eddy_process p;
    if (CALL(eddy_process_spawn, eddy_process_spawn(&p, tru, &q))) return 1;
    if (CALL(eddy_process_wait, eddy_process_wait(&p)) != 0) bad = 1;
    bad |= CALL(eddy_process_close, eddy_process_close(&p)) != 0;
    return bad;
}

/* -- HTTP: the server with static files, and the client with its pool -- */
typedef struct http_arg {
    eddy_listener *l;
    eddy_http_files files;
    eddy_http_server srv;
    int rc;
} http_arg;

static int http_server(void *p)
{
    http_arg *h = p;
    eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
    o.server = &h->srv;
    o.grace = EDDY_MSEC(200);
    h->rc = (int)CALL(eddy_http_serve, eddy_http_serve(h->l, eddy_http_files_serve, &h->files, &o));
    return 0;
}

static int scen_http(void *unused)
{
    (void)unused;
    char dir[] = "/tmp/eddy-fault-http-XXXXXX";
    EDDY_CHECK(mkdtemp(dir) != NULL);
    char path[96];
    snprintf(path, sizeof path, "%s/f.txt", dir);
    FILE *fp = fopen(path, "w");
    EDDY_CHECK(fp != NULL);
    for (int i = 0; i < 3000; i++) fputs("0123456789", fp);
    fclose(fp);
    int bad = 0;
    http_arg h = {.rc = 0};
    eddy_sockaddr a;
    if (CALL(eddy_http_files_init, eddy_http_files_init(&h.files, dir))) {
        bad = 1;
        goto out;
    }
    if (CALL(eddy_tcp_listen, eddy_tcp_listen("127.0.0.1", 0, NULL, &h.l))) {
        eddy_http_files_destroy(&h.files);
        bad = 1;
        goto out;
    }
    if (CALL(eddy_listener_local_addr, eddy_listener_local_addr(h.l, &a))) bad = 1;
    eddy_nursery n;
    if (!bad && !CALL(eddy_nursery_open, eddy_nursery_open(&n))) {
        if (CALL(eddy_spawn, eddy_spawn(&n, http_server, &h))) bad = 1;
        eddy_http_client *c;
        if (!bad && !CALL(eddy_http_client_open, eddy_http_client_open(NULL, &c))) {
            char url[96], body[40000];
            snprintf(url, sizeof url, "http://127.0.0.1:%u/f.txt", eddy_sockaddr_port(&a));
            for (int i = 0; i < 2; i++) { /* the second request reuses the pooled connection */
                eddy_http_client_response *r;
                if (CALL(eddy_http_client_get, eddy_http_client_get(c, url, &r))) {
                    bad = 1;
                    break;
                }
                size_t len = 0;
                if (CALL(eddy_http_client_response_read_all,
                         eddy_http_client_response_read_all(r, body, sizeof body, &len)) ||
                    len != 30000)
                    bad = 1;
                eddy_http_client_response_close(r);
            }
            (void)CALL(eddy_http_client_close, eddy_http_client_close(c));
        } else {
            bad = 1;
        }
        (void)eddy_http_server_shutdown(&h.srv);
        if (bad) eddy_nursery_cancel(&n);
        bad |= CALL(eddy_nursery_close, eddy_nursery_close(&n)) != 0;
    } else {
        bad = 1;
    }
    bad |= h.rc != 0;
    bad |= CALL(eddy_listener_close, eddy_listener_close(h.l)) != 0;
    eddy_http_files_destroy(&h.files);
out:
    unlink(path);
    rmdir(dir);
    return bad;
}

static int conf_make(void *ctx, eddy_stream **a, eddy_stream **b)
{
    (void)ctx;
    return eddy_socketpair(a, b);
}

/* The stream conformance suite over Unix socket pairs (full sweep only: it is long). */
static int scen_conformance(void *unused)
{
    (void)unused;
    eddy_stream_factory f = EDDY_STREAM_FACTORY_INIT;
    f.name = "unix pair under a fault";
    f.make = conf_make;
    f.flags = EDDY_STREAMTEST_NO_RESET;
    f.kind = "unix";
    f.volume = 256 * 1024;
    /* The real clock here (no autojump), so a guard can cut a check left waiting for a peer
     * whose injected failure (a shutdown that "failed") never told it anything. */
    f.timeout = EDDY_SEC(3);
    /* its verdict under a fault is not the question: crashes, hangs and leaks are */
    return eddy_check_stream(&f) ? 1 : 0;
}

/* TLS over TCP: contexts from the test certificates (tls_util.h), a server task accepting
 * one connection, handshaking and echoing; the client connects, handshakes (verifying the
 * chain and the name), writes, half-closes (close_notify), reads the echo and closes. */
#ifdef EDDY_TEST_OPENSSL
typedef struct tls_arg {
    eddy_listener *l;
    eddy_sockaddr addr;
    eddy_tls_ctx *sctx, *cctx;
    eddy_tls_opts opts;
} tls_arg;

static int tls_serve(void *p)
{
    tls_arg *a = p;
    eddy_stream *c, *t;
    int acc = accept_one(a->l, &c);
    if (acc < 0) return 1;
    if (CALL(eddy__tls_server, eddy_tls_server(c, a->sctx, &a->opts, &t))) {
        eddy_stream_abort(c);
        return 1;
    }
    return echo(t) | acc;
}

static int tls_client(void *p)
{
    tls_arg *a = p;
    eddy_stream *s, *t;
    if (CALL(eddy_tcp_connect_addr, eddy_tcp_connect_addr(&a->addr, &s))) return 1;
    if (CALL(eddy__tls_client, eddy_tls_client(s, a->cctx, "localhost", &a->opts, &t))) {
        eddy_stream_abort(s);
        return 1;
    }
    return client_round(t, 20000);
}

static int scen_tls(void *unused)
{
    (void)unused;
    tls_arg a = {.opts = EDDY_TLS_OPTS_INIT};
    /* a close waits this long for close_notify to go out, well inside the sweep's alarm */
    a.opts.close_timeout = EDDY_SEC(1);
    eddy_tls_cert ck = {.cert_file = tls_file("server.pem"), .key_file = tls_file("server.key")};
    eddy_tls_server_opts so = EDDY_TLS_SERVER_OPTS_INIT;
    so.certs = &ck;
    so.ncerts = 1;
    eddy_tls_client_opts co = EDDY_TLS_CLIENT_OPTS_INIT;
    co.ca_file = tls_file("ca.pem");
    int bad = 1;
    if (CALL(eddy_tls_server_ctx_open, eddy_tls_server_ctx_open(&so, &a.sctx))) return 1;
    if (CALL(eddy_tls_client_ctx_open, eddy_tls_client_ctx_open(&co, &a.cctx))) goto out_s;
    if (listen_local(&a.l, &a.addr)) goto out_c;
    bad = with_server_fn(a.l, tls_serve, &a, tls_client, &a);
out_c:
    eddy_tls_ctx_close(a.cctx);
out_s:
    eddy_tls_ctx_close(a.sctx);
    return bad;
}
#endif

/* Name resolution through eddy's c-ares channel (whose sockets eddy makes and drives:
 * ares_set_socket_functions) against the fake DNS server of dns_fake.h, A and AAAA. */
static const rr sweep_zone[] = {
    {"www.example.test", T_A, "192.0.2.10"},
    {"www.example.test", T_AAAA, "2001:db8::10"},
};

/* The server's own failure (a fault in its eddy_wait_fd) is not the question: the lookup
 * then times out, an error eddy_resolve names. Its task's code would be its own. */
static int dns_server(void *s)
{
    (void)fake_serve(s);
    return 0;
}

static int scen_dns(void *unused)
{
    (void)unused;
    if (eddy__dns_configure(NULL) == -ENOTSUP) return 0; /* built without c-ares */
    fake_dns s;
    fake_open(&s, M_ANSWER, sweep_zone, sizeof sweep_zone / sizeof sweep_zone[0]);
    eddy_nursery n;
    if (CALL(eddy_nursery_open, eddy_nursery_open(&n))) {
        fake_close(&s);
        return 1;
    }
    int bad = 0;
    if (CALL(eddy_spawn, eddy_spawn(&n, dns_server, &s))) {
        bad = 1;
    } else {
        char csv[64];
        snprintf(csv, sizeof csv, "127.0.0.1:%u", s.port);
        /* a lost query (a failed send or receive) times out in 300 ms, within the alarm */
        if (eddy__dns_configure(&(eddy__dns_conf){.servers = csv, .timeout_ms = 300, .tries = 2})) {
            bad = 1;
        } else {
            eddy_sockaddr a[4];
            long k = CALL(eddy_resolve, eddy_resolve("www.example.test", 443, AF_UNSPEC, a, 4));
            bad = k != 2;
        }
    }
    eddy_nursery_cancel(&n);
    if (CALL(eddy_nursery_close, eddy_nursery_close(&n))) bad = 1;
    fake_close(&s);
    return bad;
}

static const scenario scenarios[] = {
    {"core", scen_core, false},
    {"tcp", scen_tcp, false},
    {"unix", scen_unix, false},
    {"pipe", scen_pipe, false},
    {"sendfile", scen_sendfile, false},
    {"protocol", scen_protocol, false},
    {"udp", scen_udp, false},
    {"files", scen_files, false},
    {"process", scen_process, false},
    {"http", scen_http, false},
#ifdef EDDY_TEST_OPENSSL
    {"tls", scen_tls, false},
#endif
    {"dns", scen_dns, false},
    {"conformance", scen_conformance, true},
};


#endif
