/* Helpers of the HTTP tests that run real programs (curl, python3, the examples) and talk to
 * servers over plain blocking sockets. Used by raw tests: no loop runs in the test process,
 * so blocking here blocks nothing else. */
#ifndef EDDY_HTTP_PROC_UTIL_H
#define EDDY_HTTP_PROC_UTIL_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/test.h"

#define EX_DIR EDDY_BUILD_DIR "/examples/"

/* A server program running in a child process, its stdout on a pipe. */
typedef struct child {
    pid_t pid;
    int out;       /* read end of its stdout */
    int port;      /* parsed from its first line */
    char line[256]; /* its first line */
} child;

/* Read one line (without the newline) from fd, byte by byte: the rest stays in the pipe. */
static inline bool read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r <= 0) break;
        if (ch == '\n') {
            buf[n] = '\0';
            return true;
        }
        buf[n++] = ch;
    }
    buf[n] = '\0';
    return false;
}

/* Fork a child that runs argv (argv[0] a path) or, with argv NULL, main_fn on its own loop
 * (eddy_run: SIGINT/SIGTERM cancel it; exit status 0 if it returned 0); its stdout comes back
 * on c->out. Waits for its first line, which ends with the port number it listens on. */
static inline void child_spawn(child *c, char *const argv[], int (*main_fn)(void *))
{
    int p[2];
    EDDY_CHECK(pipe2(p, O_CLOEXEC) == 0);
    c->pid = fork();
    EDDY_CHECK(c->pid >= 0);
    if (c->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed check ends the test: the server too */
        dup2(p[1], 1);
        if (!argv) _exit(eddy_run(main_fn, NULL) == 0 ? 0 : 1);
        unsetenv("EDDY_CLOCK");
        unsetenv("EDDY_SCHED_SEED");
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    c->out = p[0];
    EDDY_CHECK(read_line(c->out, c->line, sizeof c->line));
    const char *sp = strrchr(c->line, ' ');
    c->port = sp ? atoi(sp + 1) : 0;
    EDDY_CHECK(c->port > 0);
}

static inline void child_start(child *c, char *const argv[]) { child_spawn(c, argv, NULL); }
static inline void child_fork(child *c, int (*main_fn)(void *)) { child_spawn(c, NULL, main_fn); }

/* Raise the soft descriptor limit to at least want (and the hard one too, when allowed: root
 * on CI). Returns the soft limit now in force. */
static inline long raise_nofile(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if ((long)rl.rlim_max < want) {
        struct rlimit hard = {(rlim_t)want, (rlim_t)want};
        if (setrlimit(RLIMIT_NOFILE, &hard) == 0) return want;
    }
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

/* Send sig, wait for the exit; returns the exit status (128 + signal if killed). The rest of
 * its stdout goes to rest. */
static inline int child_stop(child *c, int sig, char *rest, size_t cap)
{
    if (sig) kill(c->pid, sig);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(c->out, rest + n, cap - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        if (n == cap - 1) break;
    }
    rest[n] = '\0';
    close(c->out);
    int ws;
    EDDY_CHECK(waitpid(c->pid, &ws, 0) == c->pid);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* Run a shell command; its stdout (and stderr with "2>&1" in cmd) into out. Exit status. */
static inline int sh(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int sh(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *f = popen(cmd, "r");
    EDDY_CHECK(f != NULL);
    size_t n = 0;
    if (out) {
        n = fread(out, 1, cap - 1, f);
        out[n] = '\0';
    } else {
        char sink[4096];
        while (fread(sink, 1, sizeof sink, f) > 0) {
        }
    }
    int ws = pclose(f);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128;
}

/* True if tool is on PATH. */
static inline bool have(const char *tool)
{
    char out[8];
    return sh(out, sizeof out, "command -v %s >/dev/null 2>&1 && echo y", tool) == 0 && out[0] == 'y';
}

/* A blocking TCP connection to 127.0.0.1:port. */
static inline int tcp_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EDDY_CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static inline void send_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        EDDY_CHECK(w > 0);
        b += w;
        n -= (size_t)w;
    }
}

/* Read until the peer closes (or cap - 1 bytes, or a 20 s silence); returns the count. */
static inline size_t recv_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

/* Read until buf holds count occurrences of needle (or the peer closes). */
static inline size_t recv_until(int fd, char *buf, size_t cap, const char *needle, int count)
{
    size_t n = 0;
    buf[0] = '\0';
    for (;;) {
        int seen = 0;
        for (const char *p = buf; (p = strstr(p, needle)); p++) seen++;
        if (seen >= count || n + 1 >= cap) break;
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = '\0';
    }
    return n;
}

static inline int count_of(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) k++;
    return k;
}

#endif
