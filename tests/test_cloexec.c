/* Every descriptor eddy creates is close-on-exec (issue 9): with DNS (c-ares's socket and the
 * resolver's timerfd), TCP, UDP and Unix sockets, socket pairs, pipes, the signal dispatcher's
 * descriptors, a child process's pidfd and pipes, and the loop's own descriptors all open, a
 * program started with posix_spawn sees only its stdin, stdout and stderr. The program is this
 * test binary itself: run with EDDY_FD_REPORT in its environment, the test runner lists
 * /proc/self/fd and exits (eddy_test_main). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/test.h"
#include "io/io.h"

extern char **environ;

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Run this binary as the reporter; the descriptors it saw, sorted, as "0 1 2". */
static void spawn_report(char *out, size_t cap)
{
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    EDDY_CHECK(n > 0);
    self[n] = 0;
    int p[2];
    EDDY_OK(pipe2(p, O_CLOEXEC));
    posix_spawn_file_actions_t fa;
    EDDY_OK(posix_spawn_file_actions_init(&fa));
    EDDY_OK(posix_spawn_file_actions_adddup2(&fa, p[1], 1));
    char *const argv[] = {self, NULL};
    char *const envp[] = {"EDDY_FD_REPORT=1", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, self, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    EDDY_OK(rc);
    char buf[1024];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(p[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)r;
    buf[len] = 0;
    close(p[0]);
    int st;
    EDDY_CHECK_EQ(waitpid(pid, &st, 0), pid);
    EDDY_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int fds[256], k = 0;
    for (char *save, *t = strtok_r(buf, " \n", &save); t && k < 256; t = strtok_r(NULL, " \n", &save))
        fds[k++] = atoi(t);
    qsort(fds, (size_t)k, sizeof fds[0], cmp_int);
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < k && o < cap; i++) o += (size_t)snprintf(out + o, cap - o, "%s%d", i ? " " : "", fds[i]);
}

static void check_only_stdio(const char *where)
{
    char got[1024];
    spawn_report(got, sizeof got);
    /* stdin, stdout, stderr, or fewer if the runner closed one: never a descriptor above 2 */
    for (char *p = got; *p;) {
        int fd = atoi(p);
        if (fd > 2) eddy_test_fail(__FILE__, __LINE__, "%s: the child has descriptors %s", where, got);
        while (*p && *p != ' ') p++;
        while (*p == ' ') p++;
    }
}

/* ---- a DNS server that keeps every query (so c-ares keeps its socket open) ---- */

typedef struct sink {
    int fd;
    uint16_t port;
    int queries;
    eddy_event got;
} sink;

static int sink_serve(void *arg)
{
    sink *s = arg;
    for (;;) {
        int rc = eddy_wait_fd(s->fd, EDDY_READ);
        if (rc < 0) return rc == -ECANCELED ? 0 : rc;
        char q[512];
        while (recv(s->fd, q, sizeof q, 0) > 0) {
            s->queries++;
            eddy_event_set(&s->got);
        }
    }
}

typedef struct lookup {
    int rc;
} lookup;

static int lookup_task(void *arg)
{
    lookup *l = arg;
    eddy_sockaddr a[2];
    l->rc = eddy_resolve("held.test", 80, AF_INET, a, 2);
    return 0;
}

static int accept_task(void *arg)
{
    void **v = arg;
    return eddy_listener_accept(v[0], (eddy_stream **)v[1], NULL);
}

static int everything_open(void *arg)
{
    (void)arg;
    int rc;
    sink dns = {.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    EDDY_CHECK(dns.fd >= 0);
    eddy_event_init(&dns.got);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EDDY_OK(bind(dns.fd, (struct sockaddr *)&sa, sizeof sa));
    socklen_t sl = sizeof sa;
    EDDY_OK(getsockname(dns.fd, (struct sockaddr *)&sa, &sl));
    dns.port = ntohs(sa.sin_port);
    bool cares = eddy__dns_configure(NULL) == 0;
    lookup lk = {.rc = 1}; /* outlives the nursery's tasks */

    EDDY_NURSERY(n, &rc) {
        /* DNS: a query in flight keeps c-ares's socket (and, on this virtual clock, the
         * resolver's timerfd) open. */
        if (cares) {
            char csv[64];
            snprintf(csv, sizeof csv, "127.0.0.1:%u", dns.port);
            EDDY_OK(eddy__dns_configure(&(eddy__dns_conf){.servers = csv, .timeout_ms = 60000, .tries = 1}));
            EDDY_OK(eddy_spawn(n, sink_serve, &dns));
            EDDY_OK(eddy_spawn(n, lookup_task, &lk));
            EDDY_OK(eddy_event_wait(&dns.got));
        }

        /* TCP: a listener, a connection, the accepted end */
        eddy_listener *tl;
        EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &tl));
        eddy_sockaddr ta;
        EDDY_OK(eddy_listener_local_addr(tl, &ta));
        eddy_stream *tc, *ts = NULL;
        EDDY_OK(eddy_tcp_connect_addr(&ta, &tc));
        EDDY_OK(eddy_listener_accept(tl, &ts, NULL));

        /* UDP */
        eddy_sockaddr ua;
        EDDY_OK(eddy_sockaddr_parse("127.0.0.1", 0, &ua));
        eddy_udp *u;
        EDDY_OK(eddy_udp_open(&ua, NULL, &u));

        /* Unix: a listener, a connection, the accepted end (accepted in a task: a Unix
         * connect completes at once), and a socket pair */
        char uname[64];
        snprintf(uname, sizeof uname, "@eddy-cloexec-%d", (int)getpid());
        eddy_listener *ul;
        EDDY_OK(eddy_unix_listen(uname, NULL, &ul));
        eddy_stream *uc, *us = NULL;
        void *acc[2] = {ul, &us};
        int arc = 1;
        EDDY_NURSERY(an, &arc) {
            EDDY_OK(eddy_spawn(an, accept_task, acc));
            EDDY_OK(eddy_unix_connect(uname, &uc));
        }
        EDDY_CHECK_EQ(arc, 0);
        eddy_stream *pa, *pb;
        EDDY_OK(eddy_socketpair(&pa, &pb));

        /* a pipe */
        eddy_stream *rd, *wr;
        EDDY_OK(eddy_pipe(&rd, &wr));

        /* the signal dispatcher (signalfd, eventfd), and a running child with its pidfd and
         * its three pipes */
        eddy_signal_receiver sr;
        EDDY_OK(eddy_signal_open(&sr, SIGUSR1));
        eddy_process_opts po = EDDY_PROCESS_OPTS_INIT;
        po.stdin_mode = po.stdout_mode = po.stderr_mode = EDDY_STDIO_PIPE;
        eddy_process child;
        EDDY_OK(eddy_process_spawn(&child, ((const char *const[]){"cat", NULL}), &po));

        int mine = eddy_test_fd_count();
        /* stdio, loop, tcp, udp, unix, pair, pipe, signals, process */
        EDDY_CHECK(mine >= 3 + 2 + 4 + 1 + 3 + 2 + 2 + 2 + 4);
        check_only_stdio("with everything open");

        /* The check sees a descriptor that is inherited: it can fail. */
        int leak[2];
        EDDY_OK(pipe(leak));
        char got[1024];
        spawn_report(got, sizeof got);
        char want[32];
        snprintf(want, sizeof want, " %d %d", leak[0], leak[1]);
        if (!strstr(got, want)) eddy_test_fail(__FILE__, __LINE__, "inherited pipe %s not seen in %s", want, got);
        close(leak[0]);
        close(leak[1]);

        EDDY_OK(eddy_stream_shutdown_write(eddy_process_stdin(&child))); /* cat ends */
        EDDY_CHECK_EQ(eddy_process_wait(&child), 0);
        EDDY_OK(eddy_process_close(&child));
        eddy_signal_close(&sr);
        EDDY_OK(eddy_stream_close(rd));
        EDDY_OK(eddy_stream_close(wr));
        EDDY_OK(eddy_stream_close(pa));
        EDDY_OK(eddy_stream_close(pb));
        EDDY_OK(eddy_stream_close(uc));
        EDDY_OK(eddy_stream_close(us));
        EDDY_OK(eddy_listener_close(ul));
        EDDY_OK(eddy_udp_close(u));
        EDDY_OK(eddy_stream_close(tc));
        EDDY_OK(eddy_stream_close(ts));
        EDDY_OK(eddy_listener_close(tl));
        if (cares) EDDY_CHECK(dns.queries >= 1);
        eddy_nursery_cancel(n); /* the lookup (abandoned) and the sink */
    }
    EDDY_CHECK_EQ(rc, 0);
    if (cares) EDDY_CHECK_EQ(lk.rc, -ECANCELED);
    eddy_fd_forget(dns.fd);
    close(dns.fd);
    return 0;
}

EDDY_TEST_EX(spawned_child_inherits_only_stdio, .raw = true)
{
    /* Descriptors this process had before the loop started are the runner's, not eddy's:
     * they are not the subject here. */
    DIR *d = opendir("/proc/self/fd");
    EDDY_CHECK(d != NULL);
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd > 2 && fd != dirfd(d)) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    closedir(d);
    check_only_stdio("before the loop");
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    EDDY_CHECK_EQ(eddy_run_opts(everything_open, NULL, &o), 0);
    check_only_stdio("after the loop");
    return 0;
}
