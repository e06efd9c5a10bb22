/* Tests of the HTTP example programs on their exact behaviour: http_hello and http_files run as
 * child processes on free ports; curl (Debian's) and raw sockets talk to them; SIGINT/SIGTERM
 * stop them. Raw tests: the test process runs no loop. */
#include <sys/stat.h>

#include "http_proc_util.h"

#define RAW(name) EDDY_TEST_EX(name, .raw = true, .timeout = EDDY_SEC(60))

static int run_ex(char *out, size_t cap, const char *args)
{
    return sh(out, cap, EX_DIR "%s 2>&1", args);
}

RAW(http_hello_usage)
{
    char out[512];
    EDDY_CHECK_EQ(run_ex(out, sizeof out, "http_hello --help"), 0);
    EDDY_CHECK(strcmp(out, "usage: http_hello [PORT]   (default 8080)\n") == 0);
    EDDY_CHECK_EQ(run_ex(out, sizeof out, "http_hello -h"), 0);
    EDDY_CHECK_EQ(run_ex(out, sizeof out, "http_hello 1 2"), 2);
    EDDY_CHECK(strstr(out, "usage: http_hello") == out);
    EDDY_CHECK_EQ(run_ex(out, sizeof out, "http_hello port"), 2);
    EDDY_CHECK_EQ(run_ex(out, sizeof out, "http_hello 65536"), 2);
    EDDY_CHECK_EQ(run_ex(out, sizeof out, "http_hello ''"), 2);
    return 0;
}

static void start_hello(child *c)
{
    char *argv[] = {EX_DIR "http_hello", "0", NULL};
    child_start(c, argv);
    EDDY_CHECK(strncmp(c->line, "http_hello: listening on port ", 30) == 0);
}

RAW(http_hello_with_curl)
{
    EDDY_CHECK(have("curl"));
    child c;
    start_hello(&c);
    char out[8192];
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s http://127.0.0.1:%d/", c.port), 0);
    EDDY_CHECK(strcmp(out, "Hello, World!\n") == 0);
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -o /dev/null -w '%%{http_code} %%{content_type} %%{size_download}' "
                                      "http://127.0.0.1:%d/", c.port), 0);
    EDDY_CHECK(strcmp(out, "200 text/plain 14") == 0);
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/nope", c.port), 0);
    EDDY_CHECK(strcmp(out, "404") == 0);
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -o /dev/null -w '%%{http_code}' -X POST http://127.0.0.1:%d/", c.port), 0);
    EDDY_CHECK(strcmp(out, "405") == 0);
    /* HEAD: the head of the GET, no body */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -I http://127.0.0.1:%d/", c.port), 0);
    EDDY_CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    EDDY_CHECK(strstr(out, "\r\nContent-Length: 14\r\n") && strstr(out, "\r\nContent-Type: text/plain\r\n"));
    EDDY_CHECK(strstr(out, "\r\nDate: ") != NULL);
    /* keep-alive: three requests, one connection */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -o /dev/null -o /dev/null -o /dev/null -w '%%{num_connects}' "
                                      "http://127.0.0.1:%d/ http://127.0.0.1:%d/ http://127.0.0.1:%d/",
                     c.port, c.port, c.port), 0);
    EDDY_CHECK(strcmp(out, "100") == 0);
    /* HTTP/1.0 */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -0 -i http://127.0.0.1:%d/", c.port), 0);
    EDDY_CHECK(strstr(out, "HTTP/1.1 200 OK\r\n") == out && strstr(out, "\r\nConnection: close\r\n"));
    EDDY_CHECK(strstr(out, "\r\n\r\nHello, World!\n") != NULL);
    char rest[256];
    EDDY_CHECK_EQ(child_stop(&c, SIGINT, rest, sizeof rest), 0);
    EDDY_CHECK(strcmp(rest, "http_hello: stopped\n") == 0);
    return 0;
}

/* Pipelining over a raw socket: 100 requests in one write, answered in order. */
RAW(http_hello_pipelining)
{
    child c;
    start_hello(&c);
    int fd = tcp_to(c.port);
    char *req = malloc(100 * 40), *p = req;
    for (int i = 0; i < 100; i++)
        p += sprintf(p, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", i % 3 == 2 ? "/x" : "/");
    send_all(fd, req, strlen(req));
    free(req);
    static char buf[1 << 16];
    recv_until(fd, buf, sizeof buf, "HTTP/1.1 ", 100);
    const char *q = buf;
    for (int i = 0; i < 100; i++) {
        q = strstr(q, "HTTP/1.1 ");
        EDDY_CHECK(q != NULL);
        EDDY_CHECK(strncmp(q + 9, i % 3 == 2 ? "404" : "200", 3) == 0);
        q += 9;
    }
    EDDY_CHECK_EQ(count_of(buf, "Hello, World!\n"), 67);
    /* the connection stays open after the batch */
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 46);
    size_t n = recv_all(fd, buf, sizeof buf);
    EDDY_CHECK(n > 0 && strstr(buf, "Connection: close\r\n") && strstr(buf, "Hello, World!\n"));
    close(fd);
    char rest[256];
    EDDY_CHECK_EQ(child_stop(&c, SIGTERM, rest, sizeof rest), 0);
    return 0;
}

/* SIGTERM with an idle keep-alive connection: the connection is closed, the exit status is 0. */
RAW(http_hello_graceful_stop)
{
    child c;
    start_hello(&c);
    int fd = tcp_to(c.port);
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    char buf[4096];
    recv_until(fd, buf, sizeof buf, "Hello, World!\n", 1);
    kill(c.pid, SIGTERM);
    EDDY_CHECK_EQ(recv(fd, buf, sizeof buf, 0), 0); /* closed by the server, not reset */
    close(fd);
    char rest[256];
    EDDY_CHECK_EQ(child_stop(&c, 0, rest, sizeof rest), 0);
    EDDY_CHECK(strcmp(rest, "http_hello: stopped\n") == 0);
    return 0;
}

RAW(http_hello_port_in_use)
{
    child c;
    start_hello(&c);
    char out[512], cmd[64];
    snprintf(cmd, sizeof cmd, "http_hello %d", c.port);
    EDDY_CHECK_EQ(run_ex(out, sizeof out, cmd), 1);
    EDDY_CHECK(strstr(out, "cannot listen on port") != NULL);
    char rest[256];
    EDDY_CHECK_EQ(child_stop(&c, SIGINT, rest, sizeof rest), 0);
    return 0;
}

/* ---- http_files ---- */

static char base[64], root[128];

static void tree(void)
{
    snprintf(base, sizeof base, "/tmp/eddy-hf-XXXXXX");
    EDDY_CHECK(mkdtemp(base) != NULL);
    snprintf(root, sizeof root, "%s/www", base);
    char out[64];
    EDDY_CHECK_EQ(sh(out, sizeof out,
                     "cd %s && mkdir www www/docs && printf 'Hello, files!\\n' >www/hello.txt && "
                     "printf '<h1>docs</h1>\\n' >www/docs/index.html && printf secret >secret.txt && "
                     "ln -s ../secret.txt www/out.txt && ln -s hello.txt www/in.txt && "
                     "head -c 300000 /dev/zero | tr '\\0' z >www/big.txt", base), 0);
}

static void untree(void)
{
    EDDY_CHECK_EQ(sh(NULL, 0, "rm -rf %s", base), 0);
}

RAW(http_files_usage)
{
    char out[512];
    EDDY_CHECK_EQ(run_ex(out, sizeof out, "http_files --help"), 0);
    EDDY_CHECK(strcmp(out, "usage: http_files DIR [PORT]   (default port 8080)\n") == 0);
    EDDY_CHECK_EQ(run_ex(out, sizeof out, "http_files"), 2);
    EDDY_CHECK_EQ(run_ex(out, sizeof out, "http_files /tmp 1 2"), 2);
    EDDY_CHECK_EQ(run_ex(out, sizeof out, "http_files /tmp x"), 2);
    EDDY_CHECK_EQ(run_ex(out, sizeof out, "http_files /nonexistent 0"), 1);
    EDDY_CHECK(strcmp(out, "http_files: /nonexistent: No such file or directory\n") == 0);
    return 0;
}

RAW(http_files_with_curl)
{
    EDDY_CHECK(have("curl"));
    tree();
    child c;
    char *argv[] = {EX_DIR "http_files", root, "0", NULL};
    child_start(&c, argv);
    char want[256];
    snprintf(want, sizeof want, "http_files: serving %s on port %d", root, c.port);
    EDDY_CHECK(strcmp(c.line, want) == 0);
    char out[1 << 19];
    const char *u = "http://127.0.0.1";
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s %s:%d/hello.txt", u, c.port), 0);
    EDDY_CHECK(strcmp(out, "Hello, files!\n") == 0);
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -i %s:%d/hello.txt", u, c.port), 0);
    EDDY_CHECK(strstr(out, "\r\nContent-Length: 14\r\n") && strstr(out, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    char etag[64] = "";
    const char *e = strstr(out, "\r\nETag: ");
    EDDY_CHECK(e != NULL);
    sscanf(e + 8, "%63[^\r]", etag);
    /* HEAD */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -I %s:%d/big.txt", u, c.port), 0);
    EDDY_CHECK(strstr(out, "HTTP/1.1 200 OK\r\n") == out && strstr(out, "\r\nContent-Length: 300000\r\n"));
    /* ETag and If-None-Match */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -o /dev/null -w '%%{http_code}' -H 'If-None-Match: %s' %s:%d/hello.txt",
                     etag, u, c.port), 0);
    EDDY_CHECK(strcmp(out, "304") == 0);
    /* one Range */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -r 7-11 -w ' %%{http_code}' %s:%d/hello.txt", u, c.port), 0);
    EDDY_CHECK(strcmp(out, "files 206") == 0);
    /* a whole large file (sendfile), byte for byte */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s %s:%d/big.txt | cmp - %s/big.txt && echo same", u, c.port, root), 0);
    EDDY_CHECK(strcmp(out, "same\n") == 0);
    /* directories */
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -L %s:%d/docs", u, c.port), 0);
    EDDY_CHECK(strcmp(out, "<h1>docs</h1>\n") == 0);
    /* never outside the directory */
    const char *bad[] = {"/../secret.txt", "/%%2e%%2e/secret.txt", "/docs/..%%2f..%%2fsecret.txt", "/out.txt"};
    for (int i = 0; i < 4; i++) {
        char fmt[128];
        snprintf(fmt, sizeof fmt, "curl -s --path-as-is -o /dev/null -w '%%%%{http_code}' %%s:%%d%s", bad[i]);
        EDDY_CHECK_EQ(sh(out, sizeof out, fmt, u, c.port), 0);
        EDDY_CHECK(strcmp(out, "403") == 0);
    }
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s %s:%d/in.txt", u, c.port), 0);
    EDDY_CHECK(strcmp(out, "Hello, files!\n") == 0);
    EDDY_CHECK_EQ(sh(out, sizeof out, "curl -s -o /dev/null -w '%%{http_code}' %s:%d/missing", u, c.port), 0);
    EDDY_CHECK(strcmp(out, "404") == 0);
    char rest[256];
    EDDY_CHECK_EQ(child_stop(&c, SIGTERM, rest, sizeof rest), 0);
    untree();
    return 0;
}
