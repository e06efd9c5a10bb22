/* http_hello: the smallest useful HTTP server, and the program the HTTP benchmark measures.
 *
 *   http_hello [PORT]        (default 8080; 0 picks a free port)
 *
 * GET / (and HEAD /) answers 200 with "Hello, World!\n" as text/plain; other methods on /
 * get 405, other paths 404. Keep-alive and pipelining are the server's (eddy_http_serve).
 * On SIGINT or SIGTERM it stops gracefully: no new connections, idle ones closed, requests in
 * progress finished (up to 10 s), then exit status 0; a second signal cuts the rest short.
 * It prints "http_hello: listening on port N" once it accepts connections, and
 * "http_hello: stopped" at the end. */
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
    uint16_t port;
    eddy_http_server srv;
    eddy_cancel_scope all;
} app;

/* SIGINT/SIGTERM arrive through a signalfd: the first shuts the server down gracefully, the
 * second cancels what is left. */
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

static int serve(void *arg)
{
    app *a = arg;
    eddy_listener *l;
    int rc = eddy_tcp_listen(NULL, a->port, &(eddy_tcp_listen_opts){.backlog = 4096}, &l);
    if (rc < 0) {
        fprintf(stderr, "http_hello: cannot listen on port %u: %s\n", a->port, eddy_strerror(rc));
        return rc;
    }
    eddy_sockaddr addr;
    if (eddy_listener_local_addr(l, &addr) == 0) a->port = eddy_sockaddr_port(&addr);
    printf("http_hello: listening on port %u\n", a->port);
    fflush(stdout);
    eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
    o.server = &a->srv;
    EDDY_NURSERY(n, &rc) {
        if ((rc = eddy_spawn(n, signals, a, .name = "signals")) < 0) break;
        rc = eddy_http_serve(l, eddy_http_router_serve, (void *)&router, &o);
        eddy_nursery_cancel(n); /* the signal task */
    }
    int crc = eddy_listener_close(l); /* from a task: l is gone whatever it returns */
    if (crc < 0) fprintf(stderr, "http_hello: closing the listener: %s\n", eddy_strerror(crc));
    if (rc < 0 && rc != -ECANCELED) fprintf(stderr, "http_hello: %s\n", eddy_strerror(rc));
    return rc == -ECANCELED ? 0 : rc;
}

static int run(void *arg)
{
    app *a = arg;
    int rc = -ECANCELED;
    EDDY_CANCEL_SCOPE(&a->all, .deadline = EDDY_FOREVER) { rc = serve(a); }
    printf("http_hello: stopped\n");
    return rc;
}

static void usage(FILE *f) { fprintf(f, "usage: http_hello [PORT]   (default 8080)\n"); }

int main(int argc, char **argv)
{
    app a = {.port = 8080};
    if (argc > 2) {
        usage(stderr);
        return 2;
    }
    if (argc == 2) {
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
            usage(stdout);
            return 0;
        }
        char *end;
        long p = strtol(argv[1], &end, 10);
        if (!*argv[1] || *end || p < 0 || p > 65535) {
            usage(stderr);
            return 2;
        }
        a.port = (uint16_t)p;
    }
    /* Many connections need many descriptors: take the hard limit. */
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
