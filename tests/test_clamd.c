/* Tests of the clamd example pair (docs/capabilities.md, "Example programs": clamd_scan, fake_clamd). The
 * binaries run as child processes on the real clock (their sockets talk to another process:
 * the virtual clock's autojump would fire clamd_scan's 30 s limit whenever it waits). Servers
 * that misbehave are written here with plain blocking sockets on 127.0.0.1, bounded by poll
 * timeouts. The tests are raw (no loop in the test process), like test_examples. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/test.h"

#define EX_DIR EDDY_BUILD_DIR "/examples/"
#define WAIT_MS 10000 /* upper bound for any step; a passing run takes milliseconds */

static const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
#define EICAR_LEN (sizeof eicar - 1)

typedef struct child {
    pid_t pid;
    int out;   /* read end of its stdout */
    int err;   /* memfd with its stderr */
} child;

static bool virtual_clock; /* the next spawn runs on EDDY_CLOCK=virtual */
static int child_stdin = -1; /* the next spawn's standard input, if >= 0 */

static child spawn(const char *prog, const char *const *args)
{
    char path[512];
    snprintf(path, sizeof path, EX_DIR "%s", prog);
    int out[2];
    EDDY_CHECK(pipe2(out, O_CLOEXEC) == 0);
    int errfd = memfd_create("stderr", MFD_CLOEXEC);
    EDDY_CHECK(errfd >= 0);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(errfd, 2);
        if (child_stdin >= 0) dup2(child_stdin, 0);
        if (virtual_clock)
            setenv("EDDY_CLOCK", "virtual", 1);
        else
            unsetenv("EDDY_CLOCK");
        unsetenv("EDDY_SCHED_SEED"); /* EDDY_BACKEND stays: the harness's pass (raw cases) */
        const char *argv[8] = {prog};
        for (int i = 0; args[i] && i < 6; i++) argv[i + 1] = args[i];
        execv(path, (char *const *)argv);
        dprintf(2, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(out[1]);
    return (child){pid, out[0], errfd};
}

/* Read fd until EOF (bounded by WAIT_MS without data) into buf. */
static void slurp(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, WAIT_MS) <= 0) break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        if (len == cap - 1) break;
    }
    buf[len] = 0;
}

/* Wait for the child's exit (killing it after WAIT_MS): exit status or 128 + signal. */
static int reap(pid_t pid)
{
    int ws;
    for (int i = 0; i < WAIT_MS / 10; i++) {
        pid_t r = waitpid(pid, &ws, WNOHANG);
        EDDY_CHECK(r >= 0);
        if (r == pid) return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    EDDY_CHECK(waitpid(pid, &ws, 0) == pid);
    eddy_test_fail(__FILE__, __LINE__, "child %d did not exit in time", (int)pid);
}

typedef struct result {
    char out[4096], err[4096];
    int status;
} result;

static void finish(child *c, result *r)
{
    slurp(c->out, r->out, sizeof r->out);
    close(c->out);
    r->status = reap(c->pid);
    EDDY_CHECK(lseek(c->err, 0, SEEK_SET) == 0);
    slurp(c->err, r->err, sizeof r->err);
    close(c->err);
}

/* fake_clamd on a free port: returns it running; *port is the one it printed. */
static child start_fake(uint16_t *port)
{
    child c = spawn("fake_clamd", (const char *const[]){"0", NULL});
    char line[128];
    size_t len = 0;
    while (len < sizeof line - 1) {
        struct pollfd p = {.fd = c.out, .events = POLLIN};
        EDDY_CHECK(poll(&p, 1, WAIT_MS) == 1);
        EDDY_CHECK(read(c.out, line + len, 1) == 1);
        if (line[len++] == '\n') break;
    }
    line[len] = 0;
    unsigned p = 0;
    EDDY_CHECK(sscanf(line, "Server listening at 127.0.0.1:%u\n", &p) == 1);
    EDDY_CHECK(p > 0 && p < 65536);
    *port = (uint16_t)p;
    return c;
}

static void stop_fake(child *c, int sig)
{
    EDDY_CHECK(kill(c->pid, sig) == 0);
    result r;
    finish(c, &r);
    if (r.status != 0) eddy_test_fail(__FILE__, __LINE__, "fake_clamd exit %d, stderr:\n%s", r.status, r.err);
    EDDY_CHECK_EQ(r.out[0], 0); /* nothing after the listening line */
}

/* A file in /tmp with the given bytes; path in buf. */
static void make_file(char *path, const void *data, size_t len)
{
    strcpy(path, "/tmp/eddy_clamd_XXXXXX");
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    EDDY_CHECK_EQ(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void scan(result *r, const char *file, uint16_t port)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%u", port);
    child c = spawn("clamd_scan", (const char *const[]){file, "127.0.0.1", ps, NULL});
    finish(&c, r);
}

#define CHECK_STR(a, b)                                                                       \
    do {                                                                                      \
        if (strcmp((a), (b)) != 0)                                                            \
            eddy_test_fail(__FILE__, __LINE__, "got \"%s\", expected \"%s\"", (a), (b));       \
    } while (0)
#define CHECK_HAS(hay, needle)                                                                \
    do {                                                                                      \
        if (!strstr((hay), (needle)))                                                         \
            eddy_test_fail(__FILE__, __LINE__, "\"%s\" not in \"%s\"", (needle), (hay));      \
    } while (0)

/* ---- clamd_scan against fake_clamd ---- */

EDDY_TEST_EX(clamd_clean_file, .raw = true)
{
    uint16_t port;
    child srv = start_fake(&port);
    static char data[10000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (char)('a' + i % 26);
    char path[64];
    make_file(path, data, sizeof data);
    result r;
    scan(&r, path, port);
    CHECK_STR(r.out, "No virus. Everything is safe.\n");
    CHECK_STR(r.err, "");
    EDDY_CHECK_EQ(r.status, 0);
    /* An empty file is clean too (only the terminator is sent). */
    char empty[64];
    make_file(empty, "", 0);
    scan(&r, empty, port);
    CHECK_STR(r.out, "No virus. Everything is safe.\n");
    EDDY_CHECK_EQ(r.status, 0);
    unlink(empty);
    unlink(path);
    stop_fake(&srv, SIGINT);
    return 0;
}

/* The signature straddles clamd_scan's 4096-byte chunks at several split points, and sits
 * at the very start and end; a near miss (last byte changed) is clean. */
EDDY_TEST_EX(clamd_eicar_across_chunks, .raw = true)
{
    uint16_t port;
    child srv = start_fake(&port);
    static const size_t at[] = {4096 - 1, 4096 - 34, 4096 - 67, 2 * 4096 - 5, 0, 3 * 4096 - EICAR_LEN};
    static char data[3 * 4096];
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        memset(data, 'x', sizeof data);
        memcpy(data + at[k], eicar, EICAR_LEN);
        char path[64];
        make_file(path, data, sizeof data);
        result r;
        scan(&r, path, port);
        if (strcmp(r.out, "Found a virus! Eicar-Signature\n") != 0)
            eddy_test_fail(__FILE__, __LINE__, "EICAR at %zu: got \"%s\" (stderr \"%s\")", at[k],
                           r.out, r.err);
        EDDY_CHECK_EQ(r.status, 1);
        unlink(path);
    }
    memset(data, 'x', sizeof data);
    memcpy(data + 4096 - 30, eicar, EICAR_LEN);
    data[4096 - 30 + EICAR_LEN - 1] = '!';
    char path[64];
    make_file(path, data, sizeof data);
    result r;
    scan(&r, path, port);
    CHECK_STR(r.out, "No virus. Everything is safe.\n");
    EDDY_CHECK_EQ(r.status, 0);
    unlink(path);
    stop_fake(&srv, SIGTERM);
    return 0;
}

EDDY_TEST_EX(clamd_missing_file, .raw = true)
{
    result r;
    scan(&r, "/nonexistent/eddy-clamd-test", 1);
    CHECK_STR(r.out, "");
    CHECK_HAS(r.err, "cannot open /nonexistent/eddy-clamd-test: No such file or directory");
    EDDY_CHECK_EQ(r.status, 2);
    child c = spawn("clamd_scan", (const char *const[]){NULL});
    finish(&c, &r);
    CHECK_HAS(r.err, "usage: clamd_scan FILE [HOST [PORT]]");
    EDDY_CHECK_EQ(r.status, 2);
    char path[64];
    make_file(path, "x", 1);
    c = spawn("clamd_scan", (const char *const[]){path, "127.0.0.1", "70000", NULL});
    finish(&c, &r);
    CHECK_HAS(r.err, "bad port \"70000\"");
    EDDY_CHECK_EQ(r.status, 2);
    unlink(path);
    return 0;
}

/* A TCP socket on 127.0.0.1 with a free port; listening or only bound (then connecting to
 * it is refused, and nobody else can take the port meanwhile). */
static int local_socket(bool listening, uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EDDY_CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    if (listening) EDDY_CHECK(listen(fd, 8) == 0);
    socklen_t al = sizeof a;
    EDDY_CHECK(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    *port = ntohs(a.sin_port);
    return fd;
}

EDDY_TEST_EX(clamd_no_server, .raw = true)
{
    uint16_t port;
    int fd = local_socket(false, &port);
    char path[64];
    make_file(path, "hello", 5);
    result r;
    scan(&r, path, port);
    CHECK_STR(r.out, "");
    char expect[128];
    snprintf(expect, sizeof expect, "cannot connect to clamd at 127.0.0.1 port %u: Connection refused", port);
    CHECK_HAS(r.err, expect);
    EDDY_CHECK_EQ(r.status, 2);
    close(fd);
    unlink(path);
    return 0;
}

/* ---- clamd_scan against servers that misbehave ---- */

typedef enum { GARBAGE, TOO_LONG, CLOSE_EARLY, SIZE_LIMIT, CUT_REPLY } misbehaviour;

/* Accept one connection from clamd_scan and misbehave; returns after closing it. */
static void bad_server(int lfd, misbehaviour how)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    EDDY_CHECK(poll(&p, 1, WAIT_MS) == 1);
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    EDDY_CHECK(c >= 0);
    struct timeval tv = {.tv_sec = WAIT_MS / 1000};
    EDDY_CHECK(setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    EDDY_CHECK(setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
    char cmd[10];
    size_t got = 0;
    while (got < sizeof cmd) {
        ssize_t n = recv(c, cmd + got, sizeof cmd - got, 0);
        EDDY_CHECK(n > 0);
        got += (size_t)n;
    }
    EDDY_CHECK(memcmp(cmd, "zINSTREAM\0", 10) == 0);
    char buf[8192];
    switch (how) {
    case GARBAGE:
        EDDY_CHECK(send(c, "\x01garbage\x7f reply\0", 16, MSG_NOSIGNAL) == 16);
        break;
    case TOO_LONG:
        memset(buf, 'A', sizeof buf);
        EDDY_CHECK(send(c, buf, sizeof buf, MSG_NOSIGNAL) == (ssize_t)sizeof buf);
        break;
    case CLOSE_EARLY:
        break;
    case SIZE_LIMIT: {
        static const char m[] = "INSTREAM size limit exceeded. ERROR";
        EDDY_CHECK(send(c, m, sizeof m, MSG_NOSIGNAL) == (ssize_t)sizeof m);
        break;
    }
    case CUT_REPLY:
        EDDY_CHECK(send(c, "stream: O", 9, MSG_NOSIGNAL) == 9);
        break;
    }
    if (how != CLOSE_EARLY) {
        /* Let the client read the reply before the close (unread input would reset). */
        shutdown(c, SHUT_WR);
        while (recv(c, buf, sizeof buf, 0) > 0) {
        }
    }
    close(c);
}

static void run_bad(misbehaviour how, size_t file_size, result *r)
{
    uint16_t port;
    int lfd = local_socket(true, &port);
    static char data[1 << 20];
    memset(data, 'q', sizeof data);
    EDDY_CHECK(file_size <= sizeof data);
    char path[64];
    make_file(path, data, file_size);
    char ps[16];
    snprintf(ps, sizeof ps, "%u", port);
    child c = spawn("clamd_scan", (const char *const[]){path, "127.0.0.1", ps, NULL});
    bad_server(lfd, how);
    finish(&c, r);
    close(lfd);
    unlink(path);
    CHECK_STR(r->out, "");
    EDDY_CHECK_EQ(r->status, 2);
}

EDDY_TEST_EX(clamd_garbage_reply, .raw = true)
{
    result r;
    run_bad(GARBAGE, 100, &r);
    CHECK_HAS(r.err, "unexpected reply from the server: \"?garbage? reply\"");
    return 0;
}

EDDY_TEST_EX(clamd_reply_too_long, .raw = true)
{
    result r;
    run_bad(TOO_LONG, 100, &r);
    CHECK_HAS(r.err, "reply longer than 1024 bytes");
    return 0;
}

EDDY_TEST_EX(clamd_reply_cut_off, .raw = true)
{
    result r;
    run_bad(CUT_REPLY, 100, &r);
    CHECK_HAS(r.err, "connection closed in the middle of the reply");
    return 0;
}

/* The server closes without reading the file: whether clamd_scan notices while sending (a
 * reset) or when reading the reply (end of stream), it says the connection closed. */
EDDY_TEST_EX(clamd_connection_closed_early, .raw = true)
{
    result r;
    run_bad(CLOSE_EARLY, sizeof(char[1 << 20]), &r);
    CHECK_HAS(r.err, "connection closed");
    return 0;
}

/* The server refuses the stream while clamd_scan is still sending (1 MiB: more than the
 * socket buffers take before the reply arrives): the server's reason is reported. */
EDDY_TEST_EX(clamd_size_limit_reply, .raw = true)
{
    result r;
    run_bad(SIZE_LIMIT, sizeof(char[1 << 20]), &r);
    CHECK_HAS(r.err, "server error: INSTREAM size limit exceeded.");
    return 0;
}

/* A server that accepts (the kernel completes the handshake) but never answers: the 30 s
 * limit ends the exchange. On the virtual clock the wait takes no real time: once
 * clamd_scan has nothing to do but wait, its clock jumps to the deadline. */
EDDY_TEST_EX(clamd_silent_server_times_out, .raw = true)
{
    uint16_t port;
    int lfd = local_socket(true, &port);
    char path[64];
    make_file(path, "hello", 5);
    char ps[16];
    snprintf(ps, sizeof ps, "%u", port);
    virtual_clock = true;
    child c = spawn("clamd_scan", (const char *const[]){path, "127.0.0.1", ps, NULL});
    virtual_clock = false;
    result r;
    finish(&c, &r);
    CHECK_STR(r.out, "");
    CHECK_HAS(r.err, "clamd_scan: reading the reply: timed out");
    EDDY_CHECK_EQ(r.status, 2);
    close(lfd);
    unlink(path);
    return 0;
}

/* A host name goes through the resolver ("localhost" from /etc/hosts or the built-in
 * answer) and eddy_tcp_connect. */
EDDY_TEST_EX(clamd_host_name, .raw = true)
{
    uint16_t port;
    child srv = start_fake(&port);
    char path[64];
    make_file(path, "clean", 5);
    char ps[16];
    snprintf(ps, sizeof ps, "%u", port);
    child c = spawn("clamd_scan", (const char *const[]){path, "localhost", ps, NULL});
    result r;
    finish(&c, &r);
    CHECK_STR(r.out, "No virus. Everything is safe.\n");
    EDDY_CHECK_EQ(r.status, 0);
    unlink(path);
    stop_fake(&srv, SIGINT);
    return 0;
}

/* The file can be a pipe: clamd_scan reads it as a stream. */
EDDY_TEST_EX(clamd_scan_from_pipe, .raw = true)
{
    uint16_t port;
    child srv = start_fake(&port);
    int p[2];
    EDDY_CHECK(pipe2(p, O_CLOEXEC) == 0);
    static char data[5000];
    memset(data, '.', sizeof data);
    memcpy(data + 4000, eicar, EICAR_LEN);
    EDDY_CHECK_EQ(write(p[1], data, sizeof data), (ssize_t)sizeof data);
    close(p[1]);
    char ps[16];
    snprintf(ps, sizeof ps, "%u", port);
    child_stdin = p[0];
    child c = spawn("clamd_scan", (const char *const[]){"/dev/stdin", "127.0.0.1", ps, NULL});
    child_stdin = -1;
    close(p[0]);
    result r;
    finish(&c, &r);
    CHECK_STR(r.out, "Found a virus! Eicar-Signature\n");
    EDDY_CHECK_EQ(r.status, 1);
    stop_fake(&srv, SIGINT);
    return 0;
}

/* ---- fake_clamd's protocol, spoken directly ---- */

static int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EDDY_CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    struct timeval tv = {.tv_sec = WAIT_MS / 1000};
    EDDY_CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    return fd;
}

static void put(int fd, const void *p, size_t n)
{
    EDDY_CHECK_EQ(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void put_chunk(int fd, const void *p, uint32_t n)
{
    unsigned char h[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    put(fd, h, 4);
    if (n) put(fd, p, n);
}

/* Everything the server sends until it closes. */
static size_t get_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        EDDY_CHECK(n >= 0);
        if (n == 0) return len;
        len += (size_t)n;
        EDDY_CHECK(len < cap);
    }
}

EDDY_TEST_EX(fake_clamd_protocol, .raw = true)
{
    uint16_t port;
    child srv = start_fake(&port);
    char buf[256];
    /* An unknown command: answered, then closed. */
    int fd = dial(port);
    put(fd, "zSCAN /etc/passwd\0", 18);
    EDDY_CHECK_EQ(get_all(fd, buf, sizeof buf), 16);
    EDDY_CHECK(memcmp(buf, "UNKNOWN COMMAND\0", 16) == 0);
    close(fd);
    /* No z/n prefix. */
    fd = dial(port);
    put(fd, "INSTREAM\n", 9);
    EDDY_CHECK_EQ(get_all(fd, buf, sizeof buf), 16);
    EDDY_CHECK(memcmp(buf, "UNKNOWN COMMAND\n", 16) == 0);
    close(fd);
    /* An over-long command. */
    fd = dial(port);
    static char longcmd[200];
    memset(longcmd, 'I', sizeof longcmd);
    longcmd[0] = 'z';
    put(fd, longcmd, sizeof longcmd);
    EDDY_CHECK_EQ(get_all(fd, buf, sizeof buf), 16);
    EDDY_CHECK(memcmp(buf, "UNKNOWN COMMAND\0", 16) == 0);
    close(fd);
    /* PING in the n form. */
    fd = dial(port);
    put(fd, "nPING\n", 6);
    EDDY_CHECK_EQ(get_all(fd, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "PONG\n", 5) == 0);
    close(fd);
    /* A chunk length over the limit. */
    fd = dial(port);
    put(fd, "zINSTREAM\0", 10);
    put(fd, "\xff\xff\xff\xf0", 4);
    EDDY_CHECK_EQ(get_all(fd, buf, sizeof buf), 36);
    EDDY_CHECK(memcmp(buf, "INSTREAM size limit exceeded. ERROR\0", 36) == 0);
    close(fd);
    /* The signature one byte per chunk, n form. */
    fd = dial(port);
    put(fd, "nINSTREAM\n", 10);
    for (size_t i = 0; i < EICAR_LEN; i++) put_chunk(fd, eicar + i, 1);
    put_chunk(fd, NULL, 0);
    EDDY_CHECK_EQ(get_all(fd, buf, sizeof buf), 30);
    EDDY_CHECK(memcmp(buf, "stream: Eicar-Signature FOUND\n", 30) == 0);
    close(fd);
    stop_fake(&srv, SIGINT);
    return 0;
}

/* Connections are served concurrently: a client stalled mid-stream does not hold up others,
 * and a client that vanishes mid-stream leaves the server serving. */
EDDY_TEST_EX(fake_clamd_concurrent_connections, .raw = true)
{
    uint16_t port;
    child srv = start_fake(&port);
    char buf[64];
    int slow = dial(port);
    put(slow, "zINSTREAM\0", 10);
    put_chunk(slow, eicar, 20); /* the first part of the signature, then a pause */
    int gone = dial(port);
    put(gone, "zINSTREAM\0", 10);
    put(gone, "\0\0\x10\0abc", 7); /* a 4096-byte chunk, cut short */
    close(gone);
    int fast = dial(port);
    put(fast, "zINSTREAM\0", 10);
    put_chunk(fast, "hello", 5);
    put_chunk(fast, NULL, 0);
    EDDY_CHECK_EQ(get_all(fast, buf, sizeof buf), 11);
    EDDY_CHECK(memcmp(buf, "stream: OK\0", 11) == 0);
    close(fast);
    put_chunk(slow, eicar + 20, EICAR_LEN - 20);
    put_chunk(slow, NULL, 0);
    EDDY_CHECK_EQ(get_all(slow, buf, sizeof buf), 30);
    EDDY_CHECK(memcmp(buf, "stream: Eicar-Signature FOUND\0", 30) == 0);
    close(slow);
    stop_fake(&srv, SIGTERM);
    return 0;
}

EDDY_TEST_EX(fake_clamd_port_in_use, .raw = true)
{
    uint16_t port;
    int fd = local_socket(true, &port);
    char ps[16];
    snprintf(ps, sizeof ps, "%u", port);
    child c = spawn("fake_clamd", (const char *const[]){ps, NULL});
    result r;
    finish(&c, &r);
    CHECK_STR(r.out, "");
    CHECK_HAS(r.err, "cannot listen on 127.0.0.1 port");
    CHECK_HAS(r.err, "Address already in use");
    EDDY_CHECK(r.status != 0);
    close(fd);
    return 0;
}
