/* Tests of two echo servers built from the tree: examples/echo_stream, and README.md's network
 * server exactly as the README shows it (CMake extracts it with scripts/docprogs.awk into
 * docprogs/readme_server.c). Each binary runs as a child process on a free port (argument
 * 0); the test reads its stdout until "Server listening", talks to it over loopback (small
 * messages, 1 MiB, several clients at once), sends SIGTERM or SIGINT and checks the exit
 * status (and echo_stream's per-connection lines). Real clock: the child runs on it, and the
 * test bounds each step with a fail-after scope instead of waiting forever. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/test.h"

#define EXE EDDY_BUILD_DIR "/examples/echo_stream"
#define README_EXE EDDY_BUILD_DIR "/docprogs/bin/readme_server"

typedef struct child {
    pid_t pid;
    eddy_stream *out; /* its stdout */
    char text[65536]; /* everything it printed */
    size_t len;
    uint16_t port;
} child;

static child ch;

/* Run the program exe with the arguments args (NULL-terminated, at most 6). */
static void spawn_exe_args(child *c, const char *exe, const char *const *args)
{
    int p[2];
    EDDY_CHECK(pipe2(p, O_CLOEXEC) == 0);
    const char *backend = eddy_backend_name(); /* the server runs on this pass's backend */
    c->pid = fork();
    EDDY_CHECK(c->pid >= 0);
    if (c->pid == 0) {
        dup2(p[1], 1);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        unsetenv("EDDY_CLOCK");
        unsetenv("EDDY_SCHED_SEED");
        setenv("EDDY_BACKEND", backend, 1);
        const char *argv[8] = {exe};
        for (int i = 0; args[i] && i < 6; i++) argv[i + 1] = args[i];
        execv(exe, (char *const *)argv);
        dprintf(2, "exec %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    EDDY_OK(eddy_fd_stream(p[0], 0, &c->out));
    c->len = 0;
}

static void spawn_exe(child *c, const char *exe, const char *port_arg)
{
    spawn_exe_args(c, exe, (const char *const[]){port_arg, NULL});
}

/* Run echo_stream with the arguments args (NULL-terminated). */
static void spawn_server_args(child *c, const char *const *args) { spawn_exe_args(c, EXE, args); }

static void spawn_server(child *c, const char *port_arg) { spawn_exe(c, EXE, port_arg); }

/* Read the child's stdout until it contains `needle` (or it ends). */
static bool read_until(child *c, const char *needle)
{
    for (;;) {
        c->text[c->len] = 0;
        if (strstr(c->text, needle)) return true;
        EDDY_CHECK(c->len < sizeof c->text - 1);
        ssize_t n = eddy_stream_read(c->out, c->text + c->len, sizeof c->text - 1 - c->len);
        EDDY_CHECK(n >= 0);
        if (n == 0) return false;
        c->len += (size_t)n;
    }
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

static void wait_listening(child *c)
{
    EDDY_CHECK(read_until(c, "Server listening at "));
    EDDY_CHECK(read_until(c, "\n"));
    const char *line = strstr(c->text, "Server listening at ");
    const char *colon = strrchr(line, ':');
    EDDY_CHECK(colon != NULL);
    long port = strtol(colon + 1, NULL, 10);
    EDDY_CHECK(port > 0 && port < 65536);
    c->port = (uint16_t)port;
    /* Listening on every address: the wildcard shows as [::] (or 0.0.0.0 without IPv6). */
    EDDY_CHECK(strncmp(line, "Server listening at [::]:", 25) == 0 ||
               strncmp(line, "Server listening at 0.0.0.0:", 28) == 0);
}

/* Signal sig, then the rest of its output and its exit status. */
static int stop_server_with(child *c, int sig)
{
    EDDY_CHECK(kill(c->pid, sig) == 0);
    while (read_until(c, "\x01")) { /* never printed: reads to the end */
    }
    EDDY_OK(eddy_stream_close(c->out));
    int ws;
    EDDY_CHECK(waitpid(c->pid, &ws, 0) == c->pid);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static int stop_server(child *c) { return stop_server_with(c, SIGTERM); }

static eddy_stream *connect_to(child *c)
{
    eddy_stream *s;
    EDDY_OK(eddy_tcp_connect("127.0.0.1", c->port, NULL, &s));
    return s;
}

static void read_exact(eddy_stream *s, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = eddy_stream_read(s, (char *)buf + got, len - got);
        EDDY_CHECK(n > 0);
        got += (size_t)n;
    }
}

/* ---- a large message: one task writes while this one reads ---- */

#define BIG (1u << 20)
static unsigned char big_out[BIG], big_in[BIG];

static int big_writer(void *arg)
{
    return eddy_stream_write_all(arg, big_out, BIG);
}

/* ---- several clients at once ---- */

#define NCLIENTS 8
#define ROUNDS 20

static int client_task(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    eddy_stream *s = connect_to(&ch);
    char msg[3000], got[3000];
    for (int r = 0; r < ROUNDS; r++) {
        /* Sizes differ per client and round, so interleaved echoes would be noticed. */
        size_t len = 1 + (id * 397 + (size_t)r * 131) % sizeof msg;
        for (size_t i = 0; i < len; i++) msg[i] = (char)('a' + (id + i + (size_t)r) % 26);
        EDDY_OK(eddy_stream_write_all(s, msg, len));
        read_exact(s, got, len);
        EDDY_CHECK(memcmp(msg, got, len) == 0);
        EDDY_OK(eddy_yield());
    }
    EDDY_OK(eddy_stream_close(s));
    return 0;
}

/* Talk to a listening echo server c: one client with a small message, then 1 MiB, more than
 * any buffer on the way, then several clients at once while the first stays connected.
 * Returns the first client, still connected. */
static eddy_stream *exercise(child *c)
{
    /* One client, a small message. */
    eddy_stream *a = connect_to(c);
    EDDY_OK(eddy_stream_write_all(a, "hello, echo\n", 12));
    char buf[16];
    read_exact(a, buf, 12);
    EDDY_CHECK(memcmp(buf, "hello, echo\n", 12) == 0);

    /* 1 MiB, more than the server's buffer and the socket buffers: written and read at
     * once, byte for byte. */
    for (size_t i = 0; i < BIG; i++) big_out[i] = (unsigned char)(i * 2654435761u >> 13);
    int rc = 1;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, big_writer, a));
        read_exact(a, big_in, BIG);
    }
    EDDY_OK(rc);
    EDDY_CHECK(memcmp(big_out, big_in, BIG) == 0);

    /* Several clients at once, while `a` stays connected. */
    EDDY_NURSERY(n, &rc) {
        for (uintptr_t i = 0; i < NCLIENTS; i++) EDDY_OK(eddy_spawn(n, client_task, (void *)i));
    }
    EDDY_OK(rc);
    return a;
}

EDDY_TEST_EX(echo_stream_serves_and_stops_on_sigterm, .real_clock = true, .timeout = EDDY_SEC(60))
{
    spawn_server(&ch, "0");
    EDDY_FAIL_AFTER(EDDY_SEC(20)) {
        wait_listening(&ch);

        eddy_stream *a = exercise(&ch);
        EDDY_CHECK(read_until(&ch, "Connection closed\n"));
        char buf[16];
        /* SIGTERM with `a` still connected: its handler is cancelled, the server exits 0. */
        EDDY_CHECK_EQ(stop_server(&ch), 0);
        ssize_t n = eddy_stream_read(a, buf, 1);
        EDDY_CHECK(n == 0 || n == -ECONNRESET);
        EDDY_OK(eddy_stream_close(a));
    }
    EDDY_CHECK_EQ(count(ch.text, "Server listening at "), 1);
    EDDY_CHECK_EQ(count(ch.text, "Connection from 127.0.0.1:"), 1 + NCLIENTS);
    EDDY_CHECK_EQ(count(ch.text, "Connection closed\n"), 1 + NCLIENTS);
    return 0;
}

/* README.md's network server, as the README prints it: its handler keeps a 64 KiB buffer on
 * its stack (a 64 KiB default stack made it crash on the first connection). Ctrl-C stops
 * it, as the README says, with exit status 0. */
EDDY_TEST_EX(readme_server_serves_and_stops_on_sigint, .real_clock = true, .timeout = EDDY_SEC(60))
{
    spawn_exe(&ch, README_EXE, "0");
    EDDY_FAIL_AFTER(EDDY_SEC(20)) {
        wait_listening(&ch);
        eddy_stream *a = exercise(&ch);
        EDDY_CHECK_EQ(stop_server_with(&ch, SIGINT), 0);
        char b;
        ssize_t n = eddy_stream_read(a, &b, 1);
        EDDY_CHECK(n == 0 || n == -ECONNRESET);
        EDDY_OK(eddy_stream_close(a));
    }
    EDDY_CHECK_EQ(count(ch.text, "Server listening at "), 1);
    return 0;
}

/* --workers (R4): two loops on two threads share the port (SO_REUSEPORT); "Server listening"
 * once both listen; every client is served (whichever worker the kernel picked, which
 * test_workers checks) with the CPU-heavier handler on; SIGTERM stops both. */
EDDY_TEST_EX(echo_stream_workers_serve_and_stop, .real_clock = true, .timeout = EDDY_SEC(60))
{
    spawn_server_args(&ch, (const char *const[]){"--workers", "2", "--work", "3", "--pin", "0", NULL});
    EDDY_FAIL_AFTER(EDDY_SEC(20)) {
        wait_listening(&ch);
        int rc = 1;
        EDDY_NURSERY(n, &rc) {
            for (uintptr_t i = 0; i < NCLIENTS; i++) EDDY_OK(eddy_spawn(n, client_task, (void *)i));
        }
        EDDY_OK(rc);
        EDDY_CHECK_EQ(stop_server(&ch), 0);
    }
    EDDY_CHECK_EQ(count(ch.text, "Server listening at "), 1);
    EDDY_CHECK_EQ(count(ch.text, "Connection from 127.0.0.1:"), NCLIENTS);
    EDDY_CHECK_EQ(count(ch.text, "Connection closed\n"), NCLIENTS);
    return 0;
}

EDDY_TEST_EX(echo_stream_bad_arguments, .real_clock = true)
{
    const char *const bad[][4] = {{"65536"}, {"x"}, {""}, {"--workers"}, {"--workers", "x"},
                                  {"--work", "-1"}, {"--bogus"}, {"1", "2"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spawn_server_args(&ch, bad[i]);
        EDDY_FAIL_AFTER(EDDY_SEC(10)) {
            EDDY_CHECK(!read_until(&ch, "Server listening"));
            EDDY_OK(eddy_stream_close(ch.out));
        }
        int ws;
        EDDY_CHECK(waitpid(ch.pid, &ws, 0) == ch.pid);
        EDDY_CHECK(WIFEXITED(ws));
        EDDY_CHECK_EQ(WEXITSTATUS(ws), 2);
    }
    return 0;
}
