/* nginx (Debian nginx-light) as a real server for the HTTP client's tests: a configuration
 * written at test time into a fresh directory (removed at the end), one process
 * (master_process off), three servers on free loopback ports:
 *   plain    / "Hello, World!\n"; /r1../r6 redirect down to /; /cross to the second server;
 *            /static/ files (big.txt, gzip-compressible, gzipped when asked: chunked);
 *            /static/sub.txt through sub_filter (chunked, never gzipped)
 *   second   every path "second\n"
 *   tls      (with a certificate) / "Hello, TLS!\n", /static/ as above
 * and an access log of "$connection $connection_requests $ssl_session_reused $request_uri
 * $status" lines, which tells which requests shared a connection. */
#ifndef EDDY_NGINX_UTIL_H
#define EDDY_NGINX_UTIL_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "eddy/test.h"

typedef struct nginx {
    char dir[64];
    pid_t pid;
    int port, port2, tls_port; /* tls_port 0 without a certificate */
    char big[256];             /* path of www/static/big.txt */
    size_t big_len;
} nginx;

/* A free loopback port (bound, then released for nginx to take). */
static inline int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EDDY_CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t l = sizeof a;
    EDDY_CHECK(getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static inline bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static inline void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "we");
    EDDY_CHECK(f != NULL);
    EDDY_CHECK(fwrite(text, 1, len, f) == len);
    EDDY_CHECK(fclose(f) == 0);
}

/* Start nginx; cert/key (PEM files) add the TLS server. Blocks until it listens (a process
 * starting has no event to wait for: its ports are polled, at most 10 s). */
static inline void nginx_start(nginx *x, const char *cert, const char *key)
{
    memset(x, 0, sizeof *x);
    strcpy(x->dir, "/tmp/eddy-nginx-XXXXXX");
    EDDY_CHECK(mkdtemp(x->dir) != NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/www", x->dir);
    EDDY_CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/www/static", x->dir);
    EDDY_CHECK(mkdir(p, 0755) == 0);
    /* big.txt: 400 KB of varied lines (compresses well) */
    size_t cap = 500000, n = 0;
    char *big = malloc(cap);
    for (int i = 0; n + 100 < cap - 100 && n < 400000; i++)
        n += (size_t)snprintf(big + n, cap - n, "line %d of eddy's test file %.*s\n", i, i % 37,
                              "abcdefghijklmnopqrstuvwxyz0123456789.");
    snprintf(x->big, sizeof x->big, "%s/www/static/big.txt", x->dir);
    write_file(x->big, big, n);
    x->big_len = n;
    free(big);
    snprintf(p, sizeof p, "%s/www/static/sub.txt", x->dir);
    char sub[4000];
    size_t sl = 0;
    for (int i = 0; i < 100; i++) sl += (size_t)snprintf(sub + sl, sizeof sub - sl, "hello XX %02d\n", i);
    write_file(p, sub, sl);
    x->port = free_port();
    x->port2 = free_port();
    x->tls_port = cert ? free_port() : 0;
    char tls[1024] = "";
    if (cert)
        snprintf(tls, sizeof tls,
                 "    server {\n"
                 "        listen 127.0.0.1:%d ssl;\n"
                 "        ssl_certificate %s;\n"
                 "        ssl_certificate_key %s;\n"
                 "        ssl_session_cache shared:eddy:1m;\n"
                 "        root %s/www;\n"
                 "        location = / { return 200 \"Hello, TLS!\\n\"; }\n"
                 "    }\n",
                 x->tls_port, cert, key, x->dir);
    static char conf[8192];
    const char *d = x->dir;
    int cl = snprintf(conf, sizeof conf,
        "daemon off;\n"
        "master_process off;\n"
        "worker_processes 1;\n"
        "pid %s/nginx.pid;\n"
        "error_log %s/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        "    log_format conns '$connection $connection_requests $ssl_session_reused $request_uri $status';\n"
        "    access_log %s/access.log conns;\n"
        "    client_body_temp_path %s/body;\n"
        "    proxy_temp_path %s/proxy;\n"
        "    fastcgi_temp_path %s/fastcgi;\n"
        "    uwsgi_temp_path %s/uwsgi;\n"
        "    scgi_temp_path %s/scgi;\n"
        "    default_type text/plain;\n"
        "    keepalive_requests 100000;\n"
        "    keepalive_timeout 60s;\n"
        "    gzip on;\n"
        "    gzip_types text/plain;\n"
        "    gzip_min_length 100;\n"
        "    server {\n"
        "        listen 127.0.0.1:%d backlog=1024;\n"
        "        absolute_redirect off;\n"
        "        root %s/www;\n"
        "        location = / { return 200 \"Hello, World!\\n\"; }\n"
        "        location = /r1 { return 302 /; }\n"
        "        location = /r2 { return 302 /r1; }\n"
        "        location = /r3 { return 302 r2; }\n"
        "        location = /r4 { return 301 /r3; }\n"
        "        location = /r5 { return 307 /r4; }\n"
        "        location = /r6 { return 308 /r5; }\n"
        "        location = /cross { return 302 http://127.0.0.1:%d/there; }\n"
        "        location = /static/sub.txt { sub_filter 'XX' 'YY'; sub_filter_once off;\n"
        "                                     sub_filter_types text/plain; gzip off; }\n"
        "    }\n"
        "    server {\n"
        "        listen 127.0.0.1:%d;\n"
        "        location / { return 200 \"second\\n\"; }\n"
        "    }\n"
        "%s"
        "}\n",
        d, d, d, d, d, d, d, d, x->port, d, x->port2, x->port2, tls);
    snprintf(p, sizeof p, "%s/nginx.conf", d);
    write_file(p, conf, (size_t)cl);
    x->pid = fork();
    EDDY_CHECK(x->pid >= 0);
    if (x->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execlp("nginx", "nginx", "-p", d, "-c", p, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1000; i++) {
        if (port_open(x->port) && port_open(x->port2) && (!cert || port_open(x->tls_port))) return;
        int ws;
        if (waitpid(x->pid, &ws, WNOHANG) == x->pid) {
            char log[2048] = "";
            snprintf(p, sizeof p, "%s/error.log", d);
            FILE *f = fopen(p, "re");
            if (f) {
                size_t k = fread(log, 1, sizeof log - 1, f);
                log[k] = '\0';
                fclose(f);
            }
            eddy_test_fail(__FILE__, __LINE__, "nginx exited: %s", log);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    eddy_test_fail(__FILE__, __LINE__, "nginx did not listen within 10 s");
}

/* The access log: how many requests, and how many distinct connections served them
 * (and how many of the TLS ones resumed a session). nginx writes each line once the request
 * is over, which may be after the client has its answer: read it after nginx_stop. */
typedef struct nginx_log {
    int requests, connections, resumed;
} nginx_log;

static inline nginx_log nginx_read_log(const nginx *x)
{
    nginx_log g = {0};
    char p[512];
    snprintf(p, sizeof p, "%s/access.log", x->dir);
    FILE *f = fopen(p, "re");
    if (!f) return g;
    long seen[4096];
    int ns = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        long conn, reqs;
        char reused[8];
        if (sscanf(line, "%ld %ld %7s", &conn, &reqs, reused) != 3) continue;
        g.requests++;
        if (!strcmp(reused, "r") && reqs == 1) g.resumed++;
        bool known = false;
        for (int i = 0; i < ns; i++) known |= seen[i] == conn;
        if (!known && ns < 4096) seen[ns++] = conn;
    }
    fclose(f);
    g.connections = ns;
    return g;
}

/* Stop nginx and wait for it to exit (by then every request it answered is in its log),
 * read the log, and remove the directory. */
static inline nginx_log nginx_stop(nginx *x)
{
    if (x->pid > 0) {
        kill(x->pid, SIGTERM);
        int ws;
        waitpid(x->pid, &ws, 0);
        x->pid = 0;
    }
    nginx_log g = nginx_read_log(x);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
    if (system(cmd) != 0) fprintf(stderr, "nginx_util: could not remove %s\n", x->dir);
    return g;
}

#endif
