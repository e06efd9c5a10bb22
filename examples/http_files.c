/* http_files: a static file server.
 *
 *   http_files DIR [PORT]     (default 8080; 0 picks a free port)
 *
 * Serves the files under DIR for GET and HEAD (eddy_http_files_serve): Content-Type by
 * extension, Content-Length, ETag with If-None-Match (304), one Range (206), index.html for
 * directories; never anything outside DIR ("..", encoded or not, and symbolic links leading
 * out get 403). Bodies go out with sendfile. SIGINT or SIGTERM stops it gracefully (exit
 * status 0); a second signal cuts the transfers still running. It prints
 * "http_files: serving DIR on port N" once it accepts connections. */
#include <eddy.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

typedef struct app {
    const char *dir;
    uint16_t port;
    eddy_http_files files;
    eddy_http_server srv;
    eddy_cancel_scope all;
} app;

/* The first SIGINT/SIGTERM shuts the server down gracefully, the second cancels the rest. */
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
    eddy_listener *l;
    int rc = eddy_tcp_listen(NULL, a->port, NULL, &l);
    if (rc < 0) {
        fprintf(stderr, "http_files: cannot listen on port %u: %s\n", a->port, eddy_strerror(rc));
        return rc;
    }
    eddy_sockaddr addr;
    if (eddy_listener_local_addr(l, &addr) == 0) a->port = eddy_sockaddr_port(&addr);
    printf("http_files: serving %s on port %u\n", a->dir, a->port);
    fflush(stdout);
    eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
    o.server = &a->srv;
    o.request_timeout = EDDY_FOREVER; /* large files take the time they take */
    EDDY_NURSERY(n, &rc) {
        if ((rc = eddy_spawn(n, signals, a, .name = "signals")) < 0) break;
        rc = eddy_http_serve(l, eddy_http_files_serve, &a->files, &o);
        eddy_nursery_cancel(n);
    }
    int crc = eddy_listener_close(l); /* from a task: l is gone whatever it returns */
    if (crc < 0) fprintf(stderr, "http_files: closing the listener: %s\n", eddy_strerror(crc));
    if (rc < 0 && rc != -ECANCELED) fprintf(stderr, "http_files: %s\n", eddy_strerror(rc));
    return rc == -ECANCELED ? 0 : rc;
}

static int run(void *arg)
{
    app *a = arg;
    int rc = eddy_http_files_init(&a->files, a->dir);
    if (rc < 0) {
        fprintf(stderr, "http_files: %s: %s\n", a->dir, eddy_strerror(rc));
        return rc;
    }
    EDDY_CANCEL_SCOPE(&a->all, .deadline = EDDY_FOREVER) { rc = serve(a); }
    eddy_http_files_destroy(&a->files);
    return rc;
}

static void usage(FILE *f) { fprintf(f, "usage: http_files DIR [PORT]   (default port 8080)\n"); }

int main(int argc, char **argv)
{
    app a = {.port = 8080};
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || argc > 3) {
        usage(stderr);
        return 2;
    }
    a.dir = argv[1];
    if (argc == 3) {
        char *end;
        long p = strtol(argv[2], &end, 10);
        if (!*argv[2] || *end || p < 0 || p > 65535) {
            usage(stderr);
            return 2;
        }
        a.port = (uint16_t)p;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL); /* delivered through the signalfd only */
    int rc = eddy_run_opts(run, &a, &(eddy_opts){.flags = EDDY_OPT_NO_SIGNALS});
    return rc < 0 ? 1 : 0;
}
