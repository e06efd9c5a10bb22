/* https_hello: http_hello over TLS, the program the HTTPS benchmark measures.
 *
 *   https_hello CERT KEY [PORT]        (default 8443; 0 picks a free port)
 *
 * CERT is a PEM file with the server's certificate (then its intermediates), KEY its
 * unencrypted PEM key. Every accepted connection first completes a TLS handshake (TLS 1.2 or
 * 1.3, ALPN "http/1.1", session tickets for resumption) in the server's accept hook, bounded
 * by the server's header timeout (a client that stalls or aborts its handshake costs one
 * task until then, never the others), then is served exactly as http_hello serves: GET / (and
 * HEAD /) answers 200 "Hello, World!\n" as text/plain, other methods on / get 405, other
 * paths 404, keep-alive and pipelining.
 * It prints "https_hello: listening on port N" once it accepts connections; SIGINT or SIGTERM
 * stop it gracefully (a second one at once), then "https_hello: stopped" and exit status 0.
 * Exit status 1 if the certificate or key cannot be used or the port cannot be had (with a
 * line on stderr), 2 for a usage error. */
#include <eddy.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

static int hello(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return eddy_http_response_send(res, 200, "text/plain", "Hello, World!\n", 14);
}

static const eddy_http_route routes[] = {{"GET", "/", hello, NULL}};
static const eddy_http_router router = {routes, 1};

typedef struct app {
    const char *cert, *key;
    uint16_t port;
    eddy_tls_ctx *tls;
    eddy_http_server srv;
    eddy_cancel_scope all;
} app;

/* The accept hook: TLS in front of every connection. The TLS stream borrows the TCP one
 * (the server closes both, TLS first, so close_notify still goes out). */
static int tls_accept(eddy_stream *raw, eddy_stream **out, void *ctx)
{
    app *a = ctx;
    eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
    o.borrow = true;
    o.close_timeout = EDDY_SEC(1);
    return eddy_tls_server(raw, a->tls, &o, out);
}

/* SIGINT/SIGTERM through a signalfd: the first shuts down gracefully, the second cancels. */
static int signals(void *arg)
{
    app *a = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = 0;
    for (int n = 0; rc >= 0; n++) {
        rc = eddy_wait_fd(fd, EDDY_READ);
        struct signalfd_siginfo si;
        if (rc < 0 || read(fd, &si, sizeof si) != sizeof si) continue;
        if (n == 0) (void)eddy_http_server_shutdown(&a->srv);
        else eddy_cancel_scope_cancel(&a->all);
    }
    (void)eddy_fd_forget(fd);
    close(fd);
    return rc == -ECANCELED ? 0 : rc;
}

static int serve(app *a)
{
    static const char *const alpn[] = {"http/1.1", NULL};
    eddy_tls_cert cert = {.cert_file = a->cert, .key_file = a->key};
    eddy_tls_server_opts to = EDDY_TLS_SERVER_OPTS_INIT;
    to.certs = &cert;
    to.ncerts = 1;
    to.alpn = alpn;
    int rc = eddy_tls_server_ctx_open(&to, &a->tls);
    if (rc < 0) {
        fprintf(stderr, "https_hello: cannot use %s and %s: %s\n", a->cert, a->key, eddy_strerror(rc));
        return rc;
    }
    eddy_listener *l;
    rc = eddy_tcp_listen(NULL, a->port, &(eddy_tcp_listen_opts){.backlog = 4096}, &l);
    if (rc < 0) {
        fprintf(stderr, "https_hello: cannot listen on port %u: %s\n", a->port, eddy_strerror(rc));
        eddy_tls_ctx_close(a->tls);
        return rc;
    }
    eddy_sockaddr addr;
    if (eddy_listener_local_addr(l, &addr) == 0) a->port = eddy_sockaddr_port(&addr);
    printf("https_hello: listening on port %u\n", a->port);
    fflush(stdout);
    eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
    o.server = &a->srv;
    o.accept = tls_accept;
    o.accept_ctx = a;
    EDDY_NURSERY(n, &rc) {
        if ((rc = eddy_spawn(n, signals, a, .name = "signals")) < 0) break;
        rc = eddy_http_serve(l, eddy_http_router_serve, (void *)&router, &o);
        eddy_nursery_cancel(n); /* the signal task */
    }
    int crc = eddy_listener_close(l); /* from a task: l is gone whatever it returns */
    if (crc < 0) fprintf(stderr, "https_hello: closing the listener: %s\n", eddy_strerror(crc));
    eddy_tls_ctx_close(a->tls);
    if (rc < 0 && rc != -ECANCELED) fprintf(stderr, "https_hello: %s\n", eddy_strerror(rc));
    return rc == -ECANCELED ? 0 : rc;
}

static int run(void *arg)
{
    app *a = arg;
    int rc = -ECANCELED;
    EDDY_CANCEL_SCOPE(&a->all) { rc = serve(a); }
    printf("https_hello: stopped\n");
    return rc;
}

static void usage(FILE *f) { fprintf(f, "usage: https_hello CERT KEY [PORT]   (default 8443)\n"); }

int main(int argc, char **argv)
{
    app a = {.port = 8443};
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 3 || argc > 4) {
        usage(stderr);
        return 2;
    }
    a.cert = argv[1];
    a.key = argv[2];
    if (argc == 4) {
        char *end;
        long p = strtol(argv[3], &end, 10);
        if (!*argv[3] || *end || p < 0 || p > 65535) {
            usage(stderr);
            return 2;
        }
        a.port = (uint16_t)p;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL); /* delivered through the signalfd only */
    int rc = eddy_run_opts(run, &a, &(eddy_opts){.flags = EDDY_OPT_NO_SIGNALS});
    return rc < 0 ? 1 : 0;
}
