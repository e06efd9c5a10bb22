/* N10: TLS against real peers the tests start: `openssl s_server` as the server of eddy's
 * client (TLS 1.3 and 1.2, ALPN, a wrong name, an expired and a self-signed certificate,
 * resumption, close_notify both ways, renegotiation and key updates while a reader and a
 * writer run) and `openssl s_client` as the client of eddy's server (versions, ALPN, SNI,
 * client certificates, resumption); and raw TCP peers for what no well-behaved tool does: a
 * handshake cut short, garbage instead of a ClientHello, a server that never answers.
 *
 * Real clock: the peers are real processes. Every exchange runs under a fail-after scope, so
 * a peer that does not answer fails the case instead of hanging it. The `openssl` program
 * comes from Debian's openssl package (scripts/deps.sh installs it). */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/test.h"
#ifdef EDDY_TEST_OPENSSL
#include "tls_util.h"

extern char **environ;

#define GUARD EDDY_SEC(30)

/* ---- a child process with its stdin and output as streams ------------------------------------ */

typedef struct proc {
    pid_t pid;
    eddy_stream *in;  /* its standard input */
    eddy_stream *out; /* its standard output and error */
    char log[1 << 16];
    size_t len;  /* bytes in log (the newest, when more came than it holds) */
    size_t from; /* where the next search starts */
} proc;

static void proc_start(proc *p, const char *const *argv)
{
    memset(p, 0, sizeof *p);
    int in[2], out[2];
    EDDY_CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    int rc = posix_spawnp(&p->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (rc != 0)
        eddy_test_fail(__FILE__, __LINE__, "cannot run %s: %s (scripts/deps.sh installs it)",
                       argv[0], strerror(rc));
    EDDY_OK(eddy_fd_stream(in[1], 0, &p->in));
    EDDY_OK(eddy_fd_stream(out[0], 0, &p->out));
}

/* Read more output; false at its end. */
static bool proc_more(proc *p)
{
    if (p->len > sizeof p->log - 4096) { /* keep the newest half */
        size_t drop = p->len - sizeof p->log / 2;
        memmove(p->log, p->log + drop, p->len - drop);
        p->len -= drop;
        p->from = p->from > drop ? p->from - drop : 0;
    }
    ssize_t n = eddy_stream_read(p->out, p->log + p->len, sizeof p->log - 1 - p->len);
    if (n <= 0) return false;
    p->len += (size_t)n;
    p->log[p->len] = 0;
    return true;
}

/* Wait for needle in the output after the last match; the text after it. */
static const char *proc_wait_for(proc *p, const char *needle)
{
    for (;;) {
        p->log[p->len] = 0;
        char *at = strstr(p->log + p->from, needle);
        if (at) {
            p->from = (size_t)(at - p->log) + strlen(needle);
            return p->log + p->from;
        }
        if (!proc_more(p))
            eddy_test_fail(__FILE__, __LINE__, "output ended without \"%s\"; it was:\n%s", needle,
                           p->log);
    }
}

/* The output up to its end (the process has exited or closed it). */
static void proc_read_all(proc *p)
{
    while (proc_more(p)) {
    }
}

static void proc_send(proc *p, const char *text)
{
    EDDY_OK(eddy_stream_write_all(p->in, text, strlen(text)));
}

static int proc_end(proc *p)
{
    if (p->in) EDDY_OK(eddy_stream_close(p->in));
    p->in = NULL;
    kill(p->pid, SIGTERM);
    int st = 0;
    while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {
    }
    EDDY_OK(eddy_stream_close(p->out));
    return st;
}

/* ---- openssl s_server --------------------------------------------------------------------- */

/* Start `openssl s_server` with cert (leaf, chain, key) and the extra arguments; *addr gets
 * where it listens. */
static void s_server(proc *p, const char *cert, const char *const *extra, eddy_sockaddr *addr)
{
    /* stdbuf: s_server prints some of its messages with stdio, which a pipe would hold back
     * until 4 KiB gathered. */
    const char *argv[32] = {"stdbuf", "-oL", "openssl", "s_server", "-accept", "127.0.0.1:0"};
    int n = 6;
    char c[32], k[32];
    if (strcmp(cert, "server") == 0) {
        argv[n++] = "-cert";
        argv[n++] = tls_file("leaf.pem");
        argv[n++] = "-cert_chain";
        argv[n++] = tls_file("inter.pem");
        argv[n++] = "-key";
        argv[n++] = tls_file("server.key");
    } else {
        snprintf(c, sizeof c, "%s.pem", cert);
        snprintf(k, sizeof k, "%s.key", cert);
        argv[n++] = "-cert";
        argv[n++] = tls_file(c);
        argv[n++] = "-key";
        argv[n++] = tls_file(k);
    }
    for (; extra && *extra; extra++) argv[n++] = *extra;
    argv[n] = NULL;
    proc_start(p, argv);
    const char *port = proc_wait_for(p, "ACCEPT 127.0.0.1:");
    EDDY_OK(eddy_sockaddr_parse("127.0.0.1", (uint16_t)atoi(port), addr));
}

static eddy_tls_ctx *client_ctx_alpn(const char *const *alpn, const char *ca)
{
    eddy_tls_client_opts o = EDDY_TLS_CLIENT_OPTS_INIT;
    o.ca_file = tls_file(ca);
    o.alpn = alpn;
    eddy_tls_ctx *c;
    EDDY_OK(eddy_tls_client_ctx_open(&o, &c));
    return c;
}

/* Connect eddy's client to addr. */
static int connect_tls(const eddy_sockaddr *addr, eddy_tls_ctx *cc, const char *host,
                       const eddy_tls_opts *o, eddy_stream **out)
{
    eddy_stream *tcp;
    int rc = eddy_tcp_connect_addr(addr, &tcp);
    if (rc < 0) return rc;
    rc = eddy_tls_client(tcp, cc, host, o, out);
    if (rc < 0) EDDY_OK(eddy_stream_close(tcp));
    return rc;
}

static void expect_line(eddy_stream *s, const char *line)
{
    char buf[256];
    size_t n = strlen(line), got = 0;
    while (got < n) {
        ssize_t k = eddy_stream_read(s, buf + got, n - got);
        if (k <= 0) eddy_test_fail(__FILE__, __LINE__, "read: %zd", k);
        got += (size_t)k;
    }
    if (memcmp(buf, line, n) != 0)
        eddy_test_fail(__FILE__, __LINE__, "got \"%.*s\", want \"%s\"", (int)n, buf, line);
}

EDDY_TEST_EX(tls_interop_client_versions_alpn, .real_clock = true, .timeout = EDDY_SEC(60))
{
    static const char *const versions[][2] = {{"-tls1_3", "TLSv1.3"}, {"-tls1_2", "TLSv1.2"}};
    const char *alpn[] = {"h2", "http/1.1", NULL};
    eddy_tls_ctx *cc = client_ctx_alpn(alpn, "ca.pem");
    EDDY_FAIL_AFTER(GUARD) {
        for (int v = 0; v < 2; v++) {
            static proc p;
            eddy_sockaddr addr;
            const char *extra[] = {versions[v][0], "-alpn", "http/1.1", "-rev", NULL};
            s_server(&p, "server", extra, &addr);
            eddy_stream *t;
            EDDY_OK(connect_tls(&addr, cc, "localhost", NULL, &t));
            EDDY_CHECK(strcmp(eddy_tls_version(t), versions[v][1]) == 0);
            EDDY_CHECK(strcmp(eddy_tls_alpn(t), "http/1.1") == 0);
            EDDY_CHECK(eddy_tls_verify_error(t) == NULL);
            EDDY_OK(eddy_stream_write_all(t, "hello there\n", 12));
            expect_line(t, "ereht olleh\n");
            EDDY_OK(eddy_stream_write_all(t, "second line\n", 12));
            expect_line(t, "enil dnoces\n");
            EDDY_OK(eddy_stream_close(t));
            proc_end(&p);
        }
    }
    eddy_tls_ctx_close(cc);
    return 0;
}

EDDY_TEST_EX(tls_interop_client_rejects_bad_certificates, .real_clock = true, .timeout = EDDY_SEC(60))
{
    eddy_tls_ctx *cc = client_ctx_alpn(NULL, "ca.pem");
    EDDY_FAIL_AFTER(GUARD) {
        static proc p;
        eddy_sockaddr addr;
        eddy_stream *t;
        /* A name the certificate does not have. */
        s_server(&p, "server", NULL, &addr);
        EDDY_CHECK_EQ(connect_tls(&addr, cc, "wrong.example", NULL, &t), EDDY_ETLS_HOSTNAME);
        /* The server heard why: our alert. */
        proc_wait_for(&p, "bad certificate");
        proc_end(&p);
        /* An expired certificate. */
        s_server(&p, "expired", NULL, &addr);
        eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
        o.defer_handshake = true;
        EDDY_OK(connect_tls(&addr, cc, "localhost", &o, &t));
        EDDY_CHECK_EQ(eddy_tls_handshake(t), EDDY_ETLS_VERIFY);
        EDDY_CHECK(strcmp(eddy_tls_verify_error(t), "certificate has expired") == 0);
        EDDY_OK(eddy_stream_close(t));
        proc_wait_for(&p, "certificate expired");
        proc_end(&p);
        /* A self-signed certificate: refused, unless it is the trust anchor itself. */
        s_server(&p, "self", NULL, &addr);
        EDDY_CHECK_EQ(connect_tls(&addr, cc, "localhost", NULL, &t), EDDY_ETLS_VERIFY);
        eddy_tls_ctx *self = client_ctx_alpn(NULL, "self.pem");
        EDDY_OK(connect_tls(&addr, self, "localhost", NULL, &t));
        EDDY_OK(eddy_stream_close(t));
        eddy_tls_ctx_close(self);
        proc_end(&p);
    }
    eddy_tls_ctx_close(cc);
    return 0;
}

/* GET / from `s_server -www`: its page says "Reused" for a resumed session. */
static bool www_visit(const eddy_sockaddr *addr, eddy_tls_ctx *cc)
{
    eddy_stream *t;
    EDDY_OK(connect_tls(addr, cc, "localhost", NULL, &t));
    EDDY_OK(eddy_stream_write_all(t, "GET / HTTP/1.0\r\n\r\n", 18));
    static char page[1 << 16];
    size_t len = 0;
    ssize_t n;
    while ((n = eddy_stream_read(t, page + len, sizeof page - 1 - len)) > 0) len += (size_t)n;
    EDDY_CHECK_EQ(n, 0); /* s_server ends with close_notify */
    page[len] = 0;
    bool resumed = eddy_tls_is_resumed(t);
    EDDY_CHECK(strstr(page, resumed ? "Reused, TLSv1." : "New, TLSv1.") != NULL);
    EDDY_OK(eddy_stream_close(t));
    return resumed;
}

EDDY_TEST_EX(tls_interop_client_resumption, .real_clock = true, .timeout = EDDY_SEC(60))
{
    EDDY_FAIL_AFTER(GUARD) {
        const char *const modes[] = {"-tls1_3", "-tls1_2"};
        for (int m = 0; m < 2; m++) {
            eddy_tls_ctx *cc = client_ctx_alpn(NULL, "ca.pem");
            static proc p;
            eddy_sockaddr addr;
            const char *extra[] = {"-www", modes[m], NULL};
            s_server(&p, "server", extra, &addr);
            EDDY_CHECK(!www_visit(&addr, cc));
            EDDY_CHECK(www_visit(&addr, cc));
            EDDY_CHECK(www_visit(&addr, cc));
            proc_end(&p);
            eddy_tls_ctx_close(cc);
        }
    }
    return 0;
}

EDDY_TEST_EX(tls_interop_close_notify_both_ways, .real_clock = true, .timeout = EDDY_SEC(60))
{
    eddy_tls_ctx *cc = client_ctx_alpn(NULL, "ca.pem");
    EDDY_FAIL_AFTER(GUARD) {
        static proc p;
        eddy_sockaddr addr;
        eddy_stream *t;
        /* Our close sends close_notify: s_server sees a clean end. */
        s_server(&p, "server", NULL, &addr);
        EDDY_OK(connect_tls(&addr, cc, "localhost", NULL, &t));
        EDDY_OK(eddy_stream_write_all(t, "ping\n", 5));
        proc_wait_for(&p, "ping");
        EDDY_OK(eddy_stream_close(t));
        proc_wait_for(&p, "DONE");
        EDDY_CHECK(strstr(p.log, "unexpected eof") == NULL);
        proc_end(&p);
        /* Our abort does not: s_server reports the truncation. */
        s_server(&p, "server", NULL, &addr);
        EDDY_OK(connect_tls(&addr, cc, "localhost", NULL, &t));
        EDDY_OK(eddy_stream_write_all(t, "ping\n", 5));
        proc_wait_for(&p, "ping");
        eddy_stream_abort(t);
        proc_wait_for(&p, "ERROR");
        proc_end(&p);
        /* s_server's close_notify reads as the end of the stream (www_visit checks that);
         * its "q" command closes the socket without one: a truncation, read as a reset
         * unless allowed. */
        for (int allow = 0; allow < 2; allow++) {
            s_server(&p, "server", NULL, &addr);
            eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
            o.allow_truncation = allow;
            EDDY_OK(connect_tls(&addr, cc, "localhost", &o, &t));
            EDDY_OK(eddy_stream_write_all(t, "ping\n", 5));
            proc_wait_for(&p, "ping");
            /* (s_server takes a command only from a read of stdin holding nothing else.) */
            proc_send(&p, "from server\n");
            expect_line(t, "from server\n");
            proc_send(&p, "q\n");
            char b[8];
            EDDY_CHECK_EQ(eddy_stream_read(t, b, sizeof b), allow ? 0 : -ECONNRESET);
            EDDY_CHECK(strcmp(eddy_tls_error_detail(t), "the connection ended without close_notify") == 0);
            EDDY_OK(eddy_stream_close(t));
            proc_end(&p);
        }
    }
    eddy_tls_ctx_close(cc);
    return 0;
}

/* ---- a reader and a writer while s_server renegotiates or updates keys ----------------------- */

typedef struct bulk {
    eddy_stream *t;
    size_t written;
    int wrc, rrc;
    char got[64];
    size_t glen;
    bool stop, done;
} bulk;

static int bulk_writer(void *arg)
{
    bulk *b = arg;
    static char chunk[8192];
    memset(chunk, 'x', sizeof chunk - 1);
    chunk[sizeof chunk - 1] = '\n';
    while (!b->stop) {
        if ((b->wrc = eddy_stream_write_all(b->t, chunk, sizeof chunk)) < 0) return 0;
        b->written += sizeof chunk;
    }
    b->wrc = eddy_stream_write_all(b->t, "END-OF-DATA\n", 12);
    b->done = true;
    return 0;
}

static int bulk_reader(void *arg)
{
    bulk *b = arg;
    while (b->glen < 16) {
        ssize_t k = eddy_stream_read(b->t, b->got + b->glen, 16 - b->glen);
        if (k <= 0) {
            b->rrc = k ? (int)k : -EPIPE;
            return 0;
        }
        b->glen += (size_t)k;
    }
    return 0;
}

typedef struct drain {
    proc *p;
    const char *marker; /* looked for in what s_server prints once armed */
    bool armed, seen_marker, seen_end;
} drain;

/* s_server prints all it receives: keep reading it, and look for what matters. */
static int drain_task(void *arg)
{
    drain *d = arg;
    while (!d->seen_end && proc_more(d->p)) {
        if (d->armed && !d->seen_marker && strstr(d->p->log + d->p->from, d->marker))
            d->seen_marker = true;
        if (strstr(d->p->log, "END-OF-DATA")) d->seen_end = true;
    }
    return 0;
}

#define WAIT_UNTIL(cond)                                                                       \
    do {                                                                                       \
        while (!(cond)) EDDY_OK(eddy_sleep(EDDY_MSEC(1)));                                     \
    } while (0)

/* While our writer sends and our reader waits, s_server runs command: the handshake
 * messages it starts must get our answer (marker: s_server's -msg trace of it), and both
 * directions must go on. */
static void io_during(const char *version, const char *command, const char *marker)
{
    eddy_tls_ctx *cc = client_ctx_alpn(NULL, "ca.pem");
    EDDY_FAIL_AFTER(GUARD) {
        static proc p;
        eddy_sockaddr addr;
        const char *extra[] = {version, "-msg", NULL};
        s_server(&p, "server", extra, &addr);
        eddy_stream *t;
        EDDY_OK(connect_tls(&addr, cc, "localhost", NULL, &t));
        bulk b = {.t = t};
        drain d = {.p = &p, .marker = marker};
        int nrc = 0;
        EDDY_NURSERY(n, &nrc) {
            EDDY_OK(eddy_spawn(n, drain_task, &d));
            EDDY_OK(eddy_spawn(n, bulk_reader, &b));
            EDDY_OK(eddy_spawn(n, bulk_writer, &b));
            /* Each line alone: s_server takes a command only from a read of its input that
             * holds nothing else. */
            WAIT_UNTIL(b.written >= 200000 || b.wrc);
            proc_send(&p, "hello 1\n");
            WAIT_UNTIL(b.glen >= 8 || b.rrc);
            p.from = p.len; /* the marker must come after the command */
            d.armed = true;
            proc_send(&p, command);
            WAIT_UNTIL(d.seen_marker || d.seen_end);
            size_t at = b.written;
            proc_send(&p, "hello 2\n");
            WAIT_UNTIL(b.glen >= 16 || b.rrc);
            WAIT_UNTIL(b.written >= at + (1 << 20) || b.wrc); /* and the writer goes on */
            b.stop = true;
        }
        EDDY_OK(nrc);
        EDDY_OK(b.wrc);
        EDDY_OK(b.rrc);
        EDDY_CHECK(b.done && d.seen_end && d.seen_marker);
        EDDY_CHECK(memcmp(b.got, "hello 1\nhello 2\n", 16) == 0);
        EDDY_OK(eddy_stream_close(t));
        proc_end(&p);
    }
    eddy_tls_ctx_close(cc);
}

EDDY_TEST_EX(tls_interop_renegotiation_during_io, .real_clock = true, .timeout = EDDY_SEC(60))
{
    /* TLS 1.2: s_server asks for a new handshake ("r"); our reader answers it with a
     * ClientHello while our writer's SSL_write waits for the handshake to finish. */
    io_during("-tls1_2", "r\n", "], ClientHello");
    return 0;
}

EDDY_TEST_EX(tls_interop_key_update_during_io, .real_clock = true, .timeout = EDDY_SEC(60))
{
    /* TLS 1.3: s_server updates its keys and asks us to update ours ("K"): our reader takes
     * the request, our writer's next record carries our KeyUpdate. */
    io_during("-tls1_3", "K\n", "<<< TLS 1.3, Handshake [length 0005], KeyUpdate");
    return 0;
}

/* ---- openssl s_client against eddy's server --------------------------------------------- */

typedef struct srv {
    eddy_listener *l;
    eddy_tls_ctx *ctx;
    size_t tail; /* bytes of 'z' sent after the reply */
    int rc;
    char sni[64], alpn[32], subject[128], version[16];
    bool resumed;
} srv;

/* One connection: handshake, answer a line, close (close_notify ends s_client). */
static int serve_one(void *arg)
{
    srv *v = arg;
    eddy_stream *tcp, *t;
    EDDY_OK(eddy_listener_accept(v->l, &tcp, NULL));
    if ((v->rc = eddy_tls_server(tcp, v->ctx, NULL, &t)) < 0) {
        EDDY_OK(eddy_stream_close(tcp));
        return 0;
    }
    const char *x;
    snprintf(v->sni, sizeof v->sni, "%s", (x = eddy_tls_server_name(t)) ? x : "");
    snprintf(v->alpn, sizeof v->alpn, "%s", (x = eddy_tls_alpn(t)) ? x : "");
    snprintf(v->version, sizeof v->version, "%s", eddy_tls_version(t));
    if (eddy_tls_peer_subject(t, v->subject, sizeof v->subject) < 0) v->subject[0] = 0;
    v->resumed = eddy_tls_is_resumed(t);
    char line[64];
    size_t n = 0;
    while (n < sizeof line && (n == 0 || line[n - 1] != '\n')) {
        ssize_t k = eddy_stream_read(t, line + n, 1);
        if (k <= 0) {
            v->rc = k ? (int)k : -EPIPE;
            eddy_stream_abort(t);
            return 0;
        }
        n++;
    }
    char reply[128];
    int len = snprintf(reply, sizeof reply, "you said: %.*s", (int)n, line);
    v->rc = eddy_stream_write_all(t, reply, (size_t)len);
    static char zs[1 << 16];
    memset(zs, 'z', sizeof zs);
    for (size_t left = v->tail; left && v->rc == 0;) {
        size_t k = left < sizeof zs ? left : sizeof zs;
        v->rc = eddy_stream_write_all(t, zs, k);
        left -= k;
    }
    EDDY_OK(eddy_stream_close(t));
    return 0;
}

/* Run s_client with args against v's listener, sending "hello\n"; its whole output. */
static const char *s_client(srv *v, const char *const *args)
{
    static proc p;
    eddy_sockaddr a;
    EDDY_OK(eddy_listener_local_addr(v->l, &a));
    char connect[64];
    snprintf(connect, sizeof connect, "127.0.0.1:%u", eddy_sockaddr_port(&a));
    const char *argv[32] = {"openssl", "s_client", "-connect", connect, "-CAfile", tls_file("ca.pem"),
                            "-verify_return_error", "-ign_eof"};
    int n = 8;
    for (; *args; args++) argv[n++] = *args;
    argv[n] = NULL;
    proc_start(&p, argv);
    proc_send(&p, "hello\n");
    int nrc = 0;
    EDDY_NURSERY(nu, &nrc) {
        EDDY_OK(eddy_spawn(nu, serve_one, v));
        proc_read_all(&p);
    }
    EDDY_OK(nrc);
    int st = proc_end(&p);
    (void)st;
    return p.log;
}

static eddy_tls_ctx *server_ctx(const eddy_tls_server_opts *base)
{
    eddy_tls_cert certs[] = {
        {.cert_file = tls_file("server.pem"), .key_file = tls_file("server.key")},
        {.cert_file = tls_file("alt.pem"), .key_file = tls_file("alt.key")},
    };
    eddy_tls_server_opts o = *base;
    o.certs = certs;
    o.ncerts = 2;
    eddy_tls_ctx *c;
    EDDY_OK(eddy_tls_server_ctx_open(&o, &c));
    return c;
}

#define HAS(out, text)                                                                         \
    do {                                                                                       \
        if (!strstr((out), (text)))                                                            \
            eddy_test_fail(__FILE__, __LINE__, "no \"%s\" in s_client's output:\n%s", (text),    \
                           (out));                                                             \
    } while (0)

EDDY_TEST_EX(tls_interop_server_with_s_client, .real_clock = true, .timeout = EDDY_SEC(60))
{
    const char *alpn[] = {"h2", "http/1.1", NULL};
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    o.alpn = alpn;
    srv v = {.ctx = server_ctx(&o)};
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &v.l));
    EDDY_FAIL_AFTER(GUARD) {
        static const char *const vers[][2] = {{"-tls1_3", "TLSv1.3"}, {"-tls1_2", "TLSv1.2"}};
        for (int i = 0; i < 2; i++) {
            const char *args[] = {vers[i][0], "-servername", "localhost", "-alpn", "http/1.1", NULL};
            const char *out = s_client(&v, args);
            EDDY_OK(v.rc);
            HAS(out, "you said: hello");
            HAS(out, "Verify return code: 0 (ok)");
            HAS(out, "ALPN protocol: http/1.1");
            HAS(out, vers[i][1]);
            EDDY_CHECK(strcmp(v.version, vers[i][1]) == 0);
            EDDY_CHECK(strcmp(v.alpn, "http/1.1") == 0);
            EDDY_CHECK(strcmp(v.sni, "localhost") == 0);
        }
        /* SNI picks the second certificate, which s_client verifies for its name. */
        const char *sni[] = {"-servername", "alt.test", "-verify_hostname", "alt.test", NULL};
        const char *out = s_client(&v, sni);
        EDDY_OK(v.rc);
        HAS(out, "CN = alt.test");
        HAS(out, "Verify return code: 0 (ok)");
        EDDY_CHECK(strcmp(v.sni, "alt.test") == 0);
        /* A client that asks for 512-byte records (RFC 6066): every record we send fits. */
        v.tail = 5000;
        const char *mfl[] = {"-servername", "localhost", "-maxfraglen", "512", "-tls1_2", NULL};
        out = s_client(&v, mfl);
        v.tail = 0;
        EDDY_OK(v.rc);
        HAS(out, "you said: hello\nzzzzzzzz");
        /* (A record over 512 bytes would have been refused: record_overflow.) */
        size_t zs = 0;
        for (const char *q = strstr(out, "you said"); *q; q++) zs += *q == 'z';
        EDDY_CHECK_EQ(zs, 5000);
        /* An ALPN offer the server does not speak. */
        const char *odd[] = {"-servername", "localhost", "-alpn", "spdy/3", NULL};
        out = s_client(&v, odd);
        EDDY_CHECK_EQ(v.rc, EDDY_ETLS_HANDSHAKE);
        HAS(out, "no application protocol");
    }
    EDDY_OK(eddy_listener_close(v.l));
    eddy_tls_ctx_close(v.ctx);
    return 0;
}

EDDY_TEST_EX(tls_interop_server_client_certs_and_resumption, .real_clock = true, .timeout = EDDY_SEC(60))
{
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    o.client_cert = EDDY_TLS_CLIENT_CERT_REQUIRE;
    o.client_ca_file = tls_file("ca.pem");
    srv v = {.ctx = server_ctx(&o)};
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &v.l));
    char sess[160];
    snprintf(sess, sizeof sess, "%s", tls_file("s_client.session"));
    EDDY_FAIL_AFTER(GUARD) {
        const char *with[] = {"-servername", "localhost", "-cert", tls_file("client.pem"), "-key",
                              tls_file("client.key"), "-sess_out", sess, NULL};
        const char *out = s_client(&v, with);
        EDDY_OK(v.rc);
        HAS(out, "you said: hello");
        EDDY_CHECK(strstr(v.subject, "CN=test client") != NULL);
        EDDY_CHECK(!v.resumed);
        /* The session s_client saved (its ticket came with our first write) resumes. */
        const char *again[] = {"-servername", "localhost", "-cert", tls_file("client.pem"), "-key",
                               tls_file("client.key"), "-sess_in", sess, NULL};
        out = s_client(&v, again);
        EDDY_OK(v.rc);
        HAS(out, "Reused, TLSv1.3");
        EDDY_CHECK(v.resumed);
        /* No client certificate: refused. */
        const char *none[] = {"-servername", "localhost", NULL};
        out = s_client(&v, none);
        EDDY_CHECK_EQ(v.rc, EDDY_ETLS_HANDSHAKE);
        HAS(out, "certificate required");
    }
    unlink(sess);
    EDDY_OK(eddy_listener_close(v.l));
    eddy_tls_ctx_close(v.ctx);
    return 0;
}

/* ---- raw TCP peers ------------------------------------------------------------------------ */

typedef struct raw {
    eddy_listener *l;
    int mode; /* 0: say nothing; 1: read the hello, close; 2: read the hello, answer garbage */
    eddy_stream *conn;
} raw;

static int raw_server(void *arg)
{
    raw *r = arg;
    EDDY_OK(eddy_listener_accept(r->l, &r->conn, NULL));
    if (r->mode == 0) return 0; /* the test closes it */
    char buf[4096];
    EDDY_CHECK(eddy_stream_read(r->conn, buf, sizeof buf) > 0);
    if (r->mode == 2) EDDY_OK(eddy_stream_write_all(r->conn, "SSH-2.0-OpenSSH_9.2\r\n", 21));
    EDDY_OK(eddy_stream_close(r->conn));
    r->conn = NULL;
    return 0;
}

EDDY_TEST_EX(tls_interop_raw_tcp_peers, .real_clock = true, .timeout = EDDY_SEC(60))
{
    eddy_tls_ctx *cc = client_ctx_alpn(NULL, "ca.pem"), *sc = server_ctx(&(eddy_tls_server_opts)EDDY_TLS_SERVER_OPTS_INIT);
    raw r = {0};
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &r.l));
    eddy_sockaddr addr;
    EDDY_OK(eddy_listener_local_addr(r.l, &addr));
    EDDY_FAIL_AFTER(GUARD) {
        int nrc = 0;
        eddy_stream *t = NULL;
        /* A server that never answers: the handshake obeys the scope. */
        EDDY_NURSERY(n, &nrc) {
            r.mode = 0;
            EDDY_OK(eddy_spawn(n, raw_server, &r));
            int rc = 1;
            int64_t t0 = eddy_now();
            EDDY_FAIL_AFTER(EDDY_MSEC(200)) { rc = connect_tls(&addr, cc, "localhost", NULL, &t); }
            EDDY_CHECK_EQ(rc, -ETIMEDOUT);
            EDDY_CHECK(eddy_now() - t0 >= EDDY_MSEC(200));
        }
        EDDY_OK(nrc);
        EDDY_OK(eddy_stream_close(r.conn));
        /* One that hangs up after the ClientHello; one that is not TLS at all. */
        static const int expect[] = {0, EDDY_ETLS_TRUNCATED, EDDY_ETLS_PROTOCOL};
        for (int mode = 1; mode <= 2; mode++) {
            EDDY_NURSERY(n, &nrc) {
                r.mode = mode;
                EDDY_OK(eddy_spawn(n, raw_server, &r));
                EDDY_CHECK_EQ(connect_tls(&addr, cc, "localhost", NULL, &t), expect[mode]);
            }
            EDDY_OK(nrc);
        }
        /* eddy's server: an HTTP request instead of a ClientHello, and a client that
         * resets half-way through its hello. */
        eddy_stream *c, *s;
        EDDY_OK(eddy_tcp_connect_addr(&addr, &c));
        EDDY_OK(eddy_listener_accept(r.l, &s, NULL));
        EDDY_OK(eddy_stream_write_all(c, "GET / HTTP/1.0\r\n\r\n", 18));
        EDDY_CHECK_EQ(eddy_tls_server(s, sc, NULL, &t), EDDY_ETLS_PROTOCOL);
        EDDY_OK(eddy_stream_close(s));
        EDDY_OK(eddy_stream_close(c));
        EDDY_OK(eddy_tcp_connect_addr(&addr, &c));
        EDDY_OK(eddy_listener_accept(r.l, &s, NULL));
        EDDY_OK(eddy_stream_write_all(c, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
        eddy_stream_abort(c);
        EDDY_CHECK_EQ(eddy_tls_server(s, sc, NULL, &t), -ECONNRESET);
        EDDY_OK(eddy_stream_close(s));
    }
    EDDY_OK(eddy_listener_close(r.l));
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    return 0;
}
#endif
