/* The client-side example programs on their exact behaviour — http_get, fetch_many — and
 * https_hello with curl as its client, including a flood of aborted TLS handshakes that must
 * not stop it serving others. The servers run as child processes (the examples http_hello and
 * https_hello, and nginx for redirects and connection counts); certificates are made at test
 * time (tls_util.h). Raw tests: the test process runs no loop, so it may block. */
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "http_proc_util.h"
#include "nginx_util.h"
#ifdef EDDY_TEST_OPENSSL
#include "tls_util.h"
#endif

#define RAW(name) EDDY_TEST_EX(name, .raw = true, .timeout = EDDY_SEC(120))

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void start_hello(child *c)
{
    char *argv[] = {EX_DIR "http_hello", "0", NULL};
    child_start(c, argv);
}

static void stop(child *c)
{
    char rest[256];
    EDDY_CHECK_EQ(child_stop(c, SIGTERM, rest, sizeof rest), 0);
}

/* ---- http_get ---- */

RAW(http_get_usage)
{
    char out[512];
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get --help"), 0);
    EDDY_CHECK(!strcmp(out, "usage: http_get [--timeout SECONDS] [--insecure] [-o FILE] URL\n"));
    const char *bad[] = {"", "a b", "--timeout", "--timeout x URL", "--timeout -1 URL", "-o", "--what URL"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get %s 2>&1", bad[i]), 2);
        EDDY_CHECK(strstr(out, "usage: http_get") == out);
    }
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get ftp://example.com/ 2>&1"), 2);
    EDDY_CHECK(!strcmp(out, "http_get: invalid URL: ftp://example.com/\n"));
    return 0;
}

RAW(http_get_statuses_files_and_errors)
{
    child c;
    start_hello(&c);
    char out[4096];
    /* 2xx: the body on stdout, nothing on stderr, exit 0 */
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get http://127.0.0.1:%d/ 2>&1", c.port), 0);
    EDDY_CHECK(!strcmp(out, "Hello, World!\n"));
    /* another status: exit 1, the status line on stderr, the body still written */
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get http://127.0.0.1:%d/nope 2>/dev/null", c.port), 1);
    EDDY_CHECK(!strcmp(out, "Not Found\n"));
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get http://127.0.0.1:%d/nope 2>&1 >/dev/null", c.port), 1);
    EDDY_CHECK(!strcmp(out, "http_get: HTTP/1.1 404 Not Found\n"));
    /* -o FILE */
    char path[] = "/tmp/eddy-http-get-XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    close(fd);
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get -o %s http://127.0.0.1:%d/ 2>&1", path, c.port), 0);
    EDDY_CHECK(!strcmp(out, ""));
    EDDY_CHECK_EQ(sh(out, sizeof out, "cat %s", path), 0);
    EDDY_CHECK(!strcmp(out, "Hello, World!\n"));
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get -o /nonexistent/dir/f http://127.0.0.1:%d/ 2>&1", c.port), 2);
    EDDY_CHECK(strstr(out, "http_get: cannot write /nonexistent/dir/f: ") == out);
    unlink(path);
    int port = c.port;
    stop(&c);
    /* nobody listening any more */
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get http://127.0.0.1:%d/ 2>&1", port), 2);
    EDDY_CHECK(!strcmp(out, "http_get: network error: Connection refused\n"));
    /* a name that does not resolve (quickly: one attempt of one second at most) */
    EDDY_CHECK_EQ(sh(out, sizeof out, "RES_OPTIONS='timeout:1 attempts:1' " EX_DIR
                                      "http_get http://no-such-host.invalid/ 2>&1"), 2);
    EDDY_CHECK(strstr(out, "http_get: DNS error: ") == out);
    /* a server that accepts and never answers: the --timeout */
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EDDY_CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 16) == 0);
    socklen_t al = sizeof a;
    EDDY_CHECK(getsockname(l, (struct sockaddr *)&a, &al) == 0);
    double t0 = now_s();
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get --timeout 0.5 http://127.0.0.1:%d/ 2>&1", ntohs(a.sin_port)), 2);
    double took = now_s() - t0;
    EDDY_CHECK(!strcmp(out, "http_get: timeout: HTTP request exceeded its total time limit\n"));
    EDDY_CHECK(took >= 0.5 && took < 10);
    close(l);
    return 0;
}

RAW(http_get_follows_up_to_five_redirects)
{
    EDDY_CHECK(have("nginx"));
    nginx x;
    nginx_start(&x, NULL, NULL);
    char out[4096];
    /* /r5: five redirects (307, 301, 302 relative, 302, 302) */
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get http://127.0.0.1:%d/r5 2>&1", x.port), 0);
    EDDY_CHECK(!strcmp(out, "Hello, World!\n"));
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get http://127.0.0.1:%d/r6 2>&1", x.port), 2);
    EDDY_CHECK(!strcmp(out, "http_get: HTTP error: Too many HTTP redirects\n"));
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get http://127.0.0.1:%d/cross 2>&1", x.port), 0);
    EDDY_CHECK(!strcmp(out, "second\n"));
    /* gzip is decoded: the file's bytes */
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "http_get http://127.0.0.1:%d/static/big.txt | cmp - %s && echo same",
                     x.port, x.big), 0);
    EDDY_CHECK(!strcmp(out, "same\n"));
    nginx_stop(&x);
    return 0;
}

/* ---- fetch_many ---- */

RAW(fetch_many_usage)
{
    char out[512];
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "fetch_many --help"), 0);
    EDDY_CHECK(!strcmp(out, "usage: fetch_many [--limit N] URL...\n"));
    const char *bad[] = {"", "--limit 2", "--limit 0 http://x/", "--limit x http://x/", "-z http://x/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "fetch_many %s 2>&1", bad[i]), 2);
        EDDY_CHECK(strstr(out, "usage: fetch_many") == out);
    }
    return 0;
}

/* Check one output line "STATUS BYTES SECONDS URL" and return its URL's index in urls. */
static int check_line(const char *line, const char *status, const char *bytes, char urls[][128], int n)
{
    char st[16], by[32], secs[32], u[128];
    EDDY_CHECK(sscanf(line, "%15s %31s %31s %127s", st, by, secs, u) == 4);
    EDDY_CHECK(!strcmp(st, status));
    EDDY_CHECK(!strcmp(by, bytes));
    char *end;
    double s = strtod(secs, &end);
    EDDY_CHECK(*end == '\0' && s >= 0 && s < 60 && strchr(secs, '.') && strlen(strchr(secs, '.')) == 4);
    for (int i = 0; i < n; i++)
        if (!strcmp(urls[i], u)) return i;
    eddy_test_fail(__FILE__, __LINE__, "unknown URL in %s", line);
}

RAW(fetch_many_prints_each_url_and_a_total)
{
    child c;
    start_hello(&c);
    char urls[20][128], cmd[4096] = EX_DIR "fetch_many --limit 3";
    for (int i = 0; i < 20; i++) {
        snprintf(urls[i], sizeof urls[i], "http://127.0.0.1:%d/%s", c.port, i == 7 ? "missing" : "");
        if (i == 7) continue;
        strcat(cmd, " ");
        strcat(cmd, urls[i]);
    }
    strcat(cmd, " ");
    strcat(cmd, urls[7]);
    static char out[16384];
    EDDY_CHECK_EQ(sh(out, sizeof out, "%s", cmd), 0);
    char *save, *line = strtok_r(out, "\n", &save);
    int seen = 0;
    for (; line && strncmp(line, "total:", 6); line = strtok_r(NULL, "\n", &save)) {
        bool missing = strstr(line, "/missing") != NULL;
        check_line(line, missing ? "404" : "200", missing ? "10" : "14", urls, 20);
        seen++;
    }
    EDDY_CHECK_EQ(seen, 20);
    EDDY_CHECK(line != NULL);
    double secs;
    EDDY_CHECK(sscanf(line, "total: 20 URLs, 276 bytes, %lf seconds, 3 connections, 0 errors", &secs) == 1);
    EDDY_CHECK(strtok_r(NULL, "\n", &save) == NULL);
    /* a URL that fails: ERR, its error, exit status 1 */
    int port = c.port;
    stop(&c);
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "fetch_many http://127.0.0.1:%d/a http://127.0.0.1:%d/b", port, port), 1);
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/a (Connection refused)", port);
    EDDY_CHECK(strstr(out, "ERR 0 0.") == out && strstr(out, u));
    EDDY_CHECK(strstr(out, "\ntotal: 2 URLs, 0 bytes, ") && strstr(out, " seconds, 0 connections, 2 errors\n"));
    return 0;
}

/* Against nginx: 30 large bodies over at most 4 connections, as nginx counts them. */
RAW(fetch_many_limit_seen_by_nginx)
{
    EDDY_CHECK(have("nginx"));
    nginx x;
    nginx_start(&x, NULL, NULL);
    static char cmd[8192], out[16384];
    int n = snprintf(cmd, sizeof cmd, EX_DIR "fetch_many --limit 4");
    for (int i = 0; i < 30; i++) n += snprintf(cmd + n, sizeof cmd - (size_t)n, " http://127.0.0.1:%d/static/big.txt", x.port);
    EDDY_CHECK_EQ(sh(out, sizeof out, "%s", cmd), 0);
    char want[128];
    snprintf(want, sizeof want, "total: 30 URLs, %zu bytes, ", 30 * x.big_len);
    EDDY_CHECK(strstr(out, want));
    EDDY_CHECK(strstr(out, " seconds, 4 connections, 0 errors\n"));
    nginx_log g = nginx_stop(&x);
    EDDY_CHECK_EQ(g.requests, 30);
    EDDY_CHECK_EQ(g.connections, 4);
    return 0;
}

/* ---- https_hello ---- */

#ifdef EDDY_TEST_OPENSSL
static void start_https(child *c)
{
    char *argv[] = {EX_DIR "https_hello", (char *)tls_file("server.pem"), (char *)tls_file("server.key"), "0", NULL};
    child_start(c, argv);
    EDDY_CHECK(strncmp(c->line, "https_hello: listening on port ", 31) == 0);
}

RAW(https_hello_usage_and_bad_certificates)
{
    char out[512];
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "https_hello --help"), 0);
    EDDY_CHECK(!strcmp(out, "usage: https_hello CERT KEY [PORT]   (default 8443)\n"));
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "https_hello 2>&1"), 2);
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "https_hello a b c d 2>&1"), 2);
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "https_hello a b 70000 2>&1"), 2);
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "https_hello %s %s 0 2>&1", tls_file("server.pem"), tls_file("alt.key")), 1);
    EDDY_CHECK(strstr(out, "https_hello: cannot use ") && strstr(out, "https_hello: stopped\n"));
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "https_hello /nonexistent.pem /nonexistent.key 0 2>&1"), 1);
    EDDY_CHECK(strstr(out, "No such file or directory"));
    return 0;
}

RAW(https_hello_with_curl_and_http_get)
{
    EDDY_CHECK(have("curl"));
    child c;
    start_https(&c);
    char out[4096];
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s --cacert %s https://localhost:%d/", tls_file("ca.pem"), c.port), 0);
    EDDY_CHECK(!strcmp(out, "Hello, World!\n"));
    /* HTTP/1.1 through ALPN, keep-alive over TLS: three requests, one connection */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s --cacert %s -o /dev/null -o /dev/null -o /dev/null "
                                      "-w '%%{http_version} %%{num_connects}\\n' https://localhost:%d/ "
                                      "https://localhost:%d/ https://localhost:%d/nope",
                     tls_file("ca.pem"), c.port, c.port, c.port), 0);
    EDDY_CHECK(!strcmp(out, "1.1 1\n1.1 0\n1.1 0\n"));
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -sv --cacert %s https://localhost:%d/ 2>&1 | grep -c 'ALPN: server accepted http/1.1'",
                     tls_file("ca.pem"), c.port), 0);
    EDDY_CHECK(!strcmp(out, "1\n"));
    /* TLS 1.2 too */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s --tlsv1.2 --tls-max 1.2 --cacert %s https://localhost:%d/", tls_file("ca.pem"), c.port), 0);
    EDDY_CHECK(!strcmp(out, "Hello, World!\n"));
    /* http_get: verified against SSL_CERT_FILE; not without it; --insecure skips the check */
    EDDY_CHECK_EQ(sh(out, sizeof out, "SSL_CERT_FILE=%s " EX_DIR "http_get https://localhost:%d/ 2>&1", tls_file("ca.pem"), c.port), 0);
    EDDY_CHECK(!strcmp(out, "Hello, World!\n"));
    EDDY_CHECK_EQ(sh(out, sizeof out, "SSL_CERT_FILE=/dev/null " EX_DIR "http_get https://localhost:%d/ 2>&1", c.port), 2);
    EDDY_CHECK(!strcmp(out, "http_get: TLS error: TLS certificate verification failed\n"));
    EDDY_CHECK_EQ(sh(out, sizeof out, "SSL_CERT_FILE=/dev/null " EX_DIR "http_get --insecure https://localhost:%d/ 2>&1", c.port), 0);
    EDDY_CHECK(!strcmp(out, "Hello, World!\n"));
    EDDY_CHECK_EQ(sh(out, sizeof out, "SSL_CERT_FILE=%s " EX_DIR "http_get https://127.0.0.2:%d/ 2>&1", tls_file("ca.pem"), c.port), 2);
    EDDY_CHECK(!strcmp(out, "http_get: TLS error: TLS certificate does not match the host name\n"));
    /* fetch_many over TLS: one pool, kept connections */
    EDDY_CHECK_EQ(sh(out, sizeof out, "SSL_CERT_FILE=%s " EX_DIR "fetch_many --limit 2 https://localhost:%d/ "
                                      "https://localhost:%d/ https://localhost:%d/ https://localhost:%d/",
                     tls_file("ca.pem"), c.port, c.port, c.port, c.port), 0);
    EDDY_CHECK(strstr(out, "total: 4 URLs, 56 bytes, ") && strstr(out, " seconds, 2 connections, 0 errors\n"));
    char rest[256];
    EDDY_CHECK_EQ(child_stop(&c, SIGINT, rest, sizeof rest), 0);
    EDDY_CHECK(!strcmp(rest, "https_hello: stopped\n"));
    return 0;
}

/* A connection closed with a reset (SO_LINGER 0) after sending what the caller wants. */
static void abort_with(int port, const void *bytes, size_t n)
{
    int fd = tcp_to(port);
    if (n) send_all(fd, bytes, n);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* Hundreds of handshakes that never finish — reset at once, cut in the middle of a
 * ClientHello, plaintext instead of TLS, and connections that say nothing and stay open — do
 * not stop https_hello from serving a real client. (How soon is the machine's business: the
 * client's connection waits behind the flood in the listen queue, each aborted handshake
 * costing the server an accept, a task and a failed TLS read; a sanitized build on a loaded
 * machine takes seconds. The checks are that the client is served, and while the silent
 * connections are still held.) */
RAW(https_hello_survives_a_flood_of_aborted_handshakes)
{
    EDDY_CHECK(have("curl"));
    EDDY_CHECK(raise_nofile(4096) >= 1024);
    child c;
    start_https(&c);
    /* the start of a real ClientHello: record header (handshake, 512 bytes), message header */
    unsigned char hello[64] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
    for (size_t i = 11; i < sizeof hello; i++) hello[i] = (unsigned char)(i * 37);
    for (int round = 0; round < 300; round++) {
        abort_with(c.port, NULL, 0);
        abort_with(c.port, hello, sizeof hello);
        if (round % 3 == 0) abort_with(c.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    }
    int silent[200];
    for (int i = 0; i < 200; i++) silent[i] = tcp_to(c.port);
    char out[4096];
    for (int i = 0; i < 3; i++) {
        EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s --max-time 60 --cacert %s https://localhost:%d/", tls_file("ca.pem"), c.port), 0);
        EDDY_CHECK(!strcmp(out, "Hello, World!\n"));
    }
    /* a silent one that finally speaks plaintext gets at most a TLS alert, and is closed */
    send_all(silent[0], "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    char buf[256];
    EDDY_CHECK(recv_all(silent[0], buf, sizeof buf) < 64);
    for (int i = 0; i < 200; i++) close(silent[i]);
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s --max-time 60 --cacert %s https://localhost:%d/", tls_file("ca.pem"), c.port), 0);
    EDDY_CHECK(!strcmp(out, "Hello, World!\n"));
    char rest[256];
    EDDY_CHECK_EQ(child_stop(&c, SIGTERM, rest, sizeof rest), 0);
    EDDY_CHECK(!strcmp(rest, "https_hello: stopped\n"));
    return 0;
}

#endif

/* ---- retry_connect ---- */

/* Start argv with its stdout on a pipe (*out). */
static pid_t spawn_out(char *const argv[], int *out)
{
    int p[2];
    EDDY_CHECK(pipe2(p, O_CLOEXEC) == 0);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 1);
        unsetenv("EDDY_CLOCK");
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

static int wait_exit(pid_t pid)
{
    int ws;
    EDDY_CHECK(waitpid(pid, &ws, 0) == pid);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static bool refused_line(const char *line, unsigned n)
{
    char want[64];
    snprintf(want, sizeof want, "attempt %u: Connection refused; retrying in ", n);
    size_t l = strlen(line);
    return strncmp(line, want, strlen(want)) == 0 && l > 2 && !strcmp(line + l - 2, " s");
}

/* A server that appears while it retries: refused attempts, then connected. */
RAW(retry_connect_waits_for_a_server)
{
    char out[256];
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "retry_connect --help"), 0);
    EDDY_CHECK(!strcmp(out, "usage: retry_connect [--max-time SECONDS] HOST PORT\n"));
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "retry_connect 127.0.0.1 2>&1"), 2);
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "retry_connect 127.0.0.1 0 2>&1"), 2);
    EDDY_CHECK_EQ(sh(out, sizeof out, EX_DIR "retry_connect --max-time x 127.0.0.1 80 2>&1"), 2);
    /* a bound socket that does not listen yet: connections to it are refused */
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EDDY_CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t al = sizeof a;
    EDDY_CHECK(getsockname(l, (struct sockaddr *)&a, &al) == 0);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    char *argv[] = {EX_DIR "retry_connect", "--max-time", "60", "127.0.0.1", port, NULL};
    int fd;
    pid_t pid = spawn_out(argv, &fd);
    char line[256];
    unsigned n = 0;
    for (; n < 2; n++) {
        EDDY_CHECK(read_line(fd, line, sizeof line));
        EDDY_CHECK(refused_line(line, n + 1));
    }
    EDDY_CHECK(listen(l, 8) == 0); /* the server appears */
    for (;;) {
        EDDY_CHECK(read_line(fd, line, sizeof line));
        if (strncmp(line, "attempt ", 8)) break;
        EDDY_CHECK(refused_line(line, ++n)); /* a retry already on its way may still fail */
    }
    char want[128];
    snprintf(want, sizeof want, "connected to 127.0.0.1:%s after %u attempts", port, n + 1);
    EDDY_CHECK(!strcmp(line, want));
    close(fd);
    EDDY_CHECK_EQ(wait_exit(pid), 0);
    close(l);
    /* nobody ever listens: it gives up when --max-time is spent */
    char *argv2[] = {EX_DIR "retry_connect", "--max-time", "0.3", "127.0.0.1", port, NULL};
    pid = spawn_out(argv2, &fd);
    for (n = 0;; n++) {
        EDDY_CHECK(read_line(fd, line, sizeof line));
        if (strncmp(line, "attempt ", 8)) break;
        EDDY_CHECK(refused_line(line, n + 1));
    }
    snprintf(want, sizeof want, "giving up after %u attempts: Connection refused", n + 1);
    EDDY_CHECK(!strcmp(line, want));
    EDDY_CHECK(n >= 2); /* 0.1 s then 0.2 s at most: at least three attempts in 0.3 s */
    close(fd);
    EDDY_CHECK_EQ(wait_exit(pid), 1);
    return 0;
}
