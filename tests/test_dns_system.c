/* The resolver against the system's own configuration and a real DNS server (issue 7, bug 9;
 * issue 8, item 4).
 *
 * - How timeout and attempts are read from resolv.conf and $RES_OPTIONS (glibc's rules), and
 *   what the c-ares channel is given (glibc's defaults where nothing is said: c-ares 1.18 alone
 *   would use 5 s x 4 tries and ignore `timeout:` and `attempts:`).
 * - dnsmasq (Debian dnsmasq-base, see scripts/deps.sh), started by the test, serving a small
 *   zone: names that answer, NXDOMAIN and NODATA; beside it a UDP socket that never answers
 *   and an address where nothing listens. Twice over:
 *     * through the test hook that names the resolv.conf to read (a file of the test's, the
 *       servers on a free port), which works on any machine;
 *     * through the real paths: in a forked child with private mount and network namespaces,
 *       a resolv.conf, hosts and nsswitch.conf of the test's are bind-mounted over /etc's,
 *       dnsmasq listens on 127.0.0.1:53 of the private loopback, and eddy reads
 *       /etc/resolv.conf as any program would. Needs root (CAP_SYS_ADMIN): skipped, with a
 *       message, where namespaces cannot be made. Without c-ares this is the test of the
 *       /etc/hosts-only resolver, and the example clamd_scan is run there against an unknown
 *       host, which must say so in words. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "eddy/test.h"
#include "io/io.h"

extern char **environ;

static void write_file(const char *path, const char *text)
{
    /* In place (O_TRUNC, not a rename): a bind mount of the file sees the new text. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) eddy_test_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
    size_t n = strlen(text);
    EDDY_CHECK_EQ(write(fd, text, n), (ssize_t)n);
    close(fd);
}

static bool have_cares(void)
{
    int rc = eddy__dns_configure(NULL);
    if (rc == -ENOTSUP) return false;
    EDDY_OK(rc);
    return true;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- resolv.conf and $RES_OPTIONS, read as glibc reads them ---- */

typedef struct opt_case {
    const char *file; /* NULL: no file at all */
    const char *env;
    int timeout_ms, attempts;
} opt_case;

EDDY_TEST(dns_resolv_options_glibc_rules)
{
    static const opt_case cases[] = {
        {NULL, NULL, 5000, 2},                                        /* glibc's defaults */
        {"", NULL, 5000, 2},
        {"nameserver 10.0.0.1\nsearch x.test\n", NULL, 5000, 2},
        {"options timeout:1 attempts:1\n", NULL, 1000, 1},
        {"options\ttimeout:3\tattempts:4", NULL, 3000, 4},           /* tabs; no newline */
        {"options ndots:2 rotate timeout:7 edns0\n", NULL, 7000, 2}, /* among others */
        {"options timeout:2\noptions timeout:4 attempts:3\n", NULL, 4000, 3}, /* the last wins */
        {"options timeout:99 attempts:9\n", NULL, 30000, 5},         /* glibc's caps */
        {"options timeout:0 attempts:0\n", NULL, 1000, 1},           /* at least one second, one try */
        {"options timeout:-4 attempts:x\n", NULL, 1000, 1},
        {"options timeout:2s\n", NULL, 2000, 2},                      /* atoi */
        {"# options timeout:1\n; options timeout:1\n", NULL, 5000, 2}, /* comments */
        {" options timeout:1\n", NULL, 5000, 2},                      /* not at the line start */
        {"optionstimeout:1\noptions2 timeout:1\n", NULL, 5000, 2},     /* no blank after the word */
        {"options retrans:1000 retry:1\n", NULL, 5000, 2},            /* c-ares's words, not glibc's */
        {"options timeout:1 attempts:1\n", "timeout:3", 3000, 1},    /* the environment after the file */
        {NULL, "attempts:4 timeout:2", 2000, 4},
        {"options attempts:3\n", "  ndots:1   ", 5000, 3},
    };
    char path[] = "/tmp/eddy-resolv-opts.XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    close(fd);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const opt_case *c = &cases[i];
        if (c->file) write_file(path, c->file);
        eddy__resolv_opts o = {0};
        EDDY_OK(eddy__resolv_options(c->file ? path : "/nonexistent/resolv.conf", c->env, &o));
        if (o.timeout_ms != c->timeout_ms || o.attempts != c->attempts)
            eddy_test_fail(__FILE__, __LINE__, "case %zu: timeout %d ms, %d attempts; want %d, %d", i,
                           o.timeout_ms, o.attempts, c->timeout_ms, c->attempts);
    }
    /* a line far longer than any buffer, with the option at its end */
    static char big[20000];
    memset(big, ' ', sizeof big);
    memcpy(big, "options", 7);
    memcpy(big + sizeof big - 12, "timeout:9\n", 11);
    write_file(path, big);
    eddy__resolv_opts o;
    EDDY_OK(eddy__resolv_options(path, NULL, &o));
    EDDY_CHECK_EQ(o.timeout_ms, 9000);
    EDDY_OK(eddy__resolv_options(NULL, NULL, &o));
    EDDY_CHECK_EQ(o.timeout_ms, 5000);
    unlink(path);
    return 0;
}

/* The loop's channel, made from the resolv.conf at path, has timeout t ms, n tries and ns
 * servers (ns < 0: not checked). */
static void check_channel(const char *path, int t, int n, int ns)
{
    EDDY_OK(eddy__dns_configure(&(eddy__dns_conf){.resolvconf = path}));
    int gt, gn, gns;
    EDDY_OK(eddy__dns_channel_info(&gt, &gn, &gns));
    if (gt != t || gn != n || (ns >= 0 && gns != ns))
        eddy_test_fail(__FILE__, __LINE__, "%s: %d ms, %d tries, %d servers; want %d, %d, %d", path,
                       gt, gn, gns, t, n, ns);
}

/* What the c-ares channel is given. Before eddy read them itself, c-ares 1.18 gave 5000 ms and
 * 4 tries for every one of these files. */
EDDY_TEST(dns_channel_gets_timeout_and_attempts)
{
    if (!have_cares()) {
        printf("# skipped: eddy built without c-ares\n");
        return 0;
    }
    EDDY_OK(unsetenv("RES_OPTIONS"));
    char path[] = "/tmp/eddy-resolv-chan.XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    close(fd);
    write_file(path, "nameserver 127.0.0.1\n");
    check_channel(path, 5000, 2, 1);
    write_file(path, "nameserver 127.0.0.1\nnameserver 127.0.0.2\noptions timeout:1 attempts:1\n");
    check_channel(path, 1000, 1, 2);
    /* $RES_OPTIONS over the file, as glibc */
    EDDY_OK(setenv("RES_OPTIONS", "attempts:4", 1));
    check_channel(path, 1000, 4, 2);
    EDDY_OK(unsetenv("RES_OPTIONS"));
    unlink(path);

    /* the system's own file, read as the parser reads it */
    eddy__resolv_opts want;
    EDDY_OK(eddy__resolv_options("/etc/resolv.conf", NULL, &want));
    EDDY_OK(eddy__dns_configure(NULL));
    int t, n, ns;
    EDDY_OK(eddy__dns_channel_info(&t, &n, &ns));
    EDDY_CHECK_EQ(t, want.timeout_ms);
    EDDY_CHECK_EQ(n, want.attempts);
    EDDY_OK(eddy__dns_configure(NULL));
    return 0;
}

/* ---- dnsmasq ---- */

static const char *dnsmasq_path(void)
{
    static const char *const where[] = {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++)
        if (access(where[i], X_OK) == 0) return where[i];
    return NULL;
}

typedef struct dnsmasq {
    pid_t watchdog;
    int life;      /* closing it (or this process ending) makes the watchdog stop dnsmasq */
    uint16_t port;
} dnsmasq;

static void dnsmasq_stop(dnsmasq *d);

/* A free UDP port on 127.0.0.1 (the kernel's pick; dnsmasq may still lose it to a race, and
 * then the caller tries another). */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EDDY_OK(bind(fd, (struct sockaddr *)&a, sizeof a));
    socklen_t al = sizeof a;
    EDDY_OK(getsockname(fd, (struct sockaddr *)&a, &al));
    close(fd);
    return ntohs(a.sin_port);
}

/* The watchdog: runs dnsmasq, waits for the end of the life pipe (dnsmasq_stop closes it; so
 * does this test process's end, however it ends, where PR_SET_PDEATHSIG would not survive
 * dnsmasq dropping its privileges), then stops dnsmasq and reaps it. */
static void watchdog(const char *path, const char *const argv[], int life, int logfd)
{
    pid_t pid = fork();
    if (pid < 0) _exit(126);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(logfd, 2) < 0) _exit(126);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(logfd);
    char c;
    while (read(life, &c, 1) != 0 && errno == EINTR) {
    }
    kill(pid, SIGTERM);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    _exit(0);
}

/* Start dnsmasq on 127.0.0.1:port (0: a free port) serving the test zone, and wait until it
 * says "started" on its log (it binds its sockets before that: a port in use ends it with a
 * message instead). Under "test" only what is listed exists: other names are NXDOMAIN, a
 * listed name without a record of the asked type is NODATA. */
static void dnsmasq_start(dnsmasq *d, uint16_t port)
{
    const char *path = dnsmasq_path();
    if (!path)
        eddy_test_fail(__FILE__, __LINE__,
                       "dnsmasq not found: install Debian's dnsmasq-base (scripts/deps.sh lists it)");
    for (int attempt = 0; attempt < 20; attempt++) {
        d->port = port ? port : free_port();
        char portarg[32];
        snprintf(portarg, sizeof portarg, "--port=%u", d->port);
        const char *argv[] = {path, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                              "--no-hosts", "--no-poll", "--listen-address=127.0.0.1",
                              "--bind-interfaces", portarg, "--log-facility=-", "--user=root",
                              "--pid-file=", "--local=/test/",
                              "--host-record=www.example.test,192.0.2.10,2001:db8::10",
                              "--host-record=v4only.test,198.51.100.7",
                              "--host-record=db.corp.test,10.2.2.2", NULL};
        int life[2], logp[2];
        EDDY_OK(pipe2(life, O_CLOEXEC));
        EDDY_OK(pipe2(logp, O_CLOEXEC));
        fflush(stdout);
        d->watchdog = fork();
        EDDY_CHECK(d->watchdog >= 0);
        if (d->watchdog == 0) {
            close(life[1]);
            close(logp[0]);
            watchdog(path, argv, life[0], logp[1]);
        }
        close(life[0]);
        close(logp[1]);
        d->life = life[1];
        char log[4096];
        size_t len = 0;
        bool started = false;
        while (!started && len < sizeof log - 1) {
            ssize_t r = read(logp[0], log + len, sizeof log - 1 - len);
            if (r <= 0) break;
            len += (size_t)r;
            log[len] = 0;
            started = strstr(log, ": started, version") != NULL;
        }
        close(logp[0]);
        if (started) return;
        dnsmasq_stop(d);
        if (!port && strstr(log, "Address already in use")) continue; /* lost the race: again */
        eddy_test_fail(__FILE__, __LINE__, "dnsmasq did not start:\n%s", log);
    }
    eddy_test_fail(__FILE__, __LINE__, "dnsmasq: no free port in 20 tries");
}

static void dnsmasq_stop(dnsmasq *d)
{
    close(d->life);
    int st;
    EDDY_CHECK_EQ(waitpid(d->watchdog, &st, 0), d->watchdog);
    EDDY_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A UDP socket on addr:port that takes queries and never answers. */
static int silent_server(const char *addr, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    EDDY_CHECK_EQ(inet_pton(AF_INET, addr, &a.sin_addr), 1);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        eddy_test_fail(__FILE__, __LINE__, "bind %s:%u: %s", addr, port, strerror(errno));
    return fd;
}

/* ---- the cases, on either path ---- */

typedef struct sysenv {
    bool ns;           /* real /etc paths (in namespaces), else the resolv.conf hook */
    uint16_t port;     /* the servers' port */
    char conf[64];     /* the resolv.conf text goes here (bind-mounted over /etc's in ns) */
    char hosts[64];    /* the hosts file */
} sysenv;

static const char hosts_text[] = "# test hosts\n10.9.8.7 alpha.test\nfd00::8 beta6.test\n";

/* Write the resolv.conf and make the loop read it (a new channel). */
static void use_conf(const sysenv *e, const char *text)
{
    write_file(e->conf, text);
    if (e->ns)
        EDDY_OK(eddy__dns_configure(NULL));
    else
        EDDY_OK(eddy__dns_configure(&(eddy__dns_conf){.resolvconf = e->conf, .port = e->port,
                                                       .env_hosts = true}));
}

static void check_addr(const eddy_sockaddr *a, const char *want)
{
    char buf[80];
    EDDY_CHECK(eddy_sockaddr_format(a, buf, sizeof buf) > 0);
    if (strcmp(buf, want) != 0) eddy_test_fail(__FILE__, __LINE__, "address %s, want %s", buf, want);
}

/* Names from the hosts file: every build. */
static void hosts_cases(void)
{
    eddy_sockaddr a[4];
    EDDY_CHECK_EQ(eddy_resolve("alpha.test", 22, AF_UNSPEC, a, 4), 1);
    check_addr(&a[0], "10.9.8.7:22");
    EDDY_CHECK_EQ(eddy_resolve("beta6.test", 22, AF_INET6, a, 4), 1);
    check_addr(&a[0], "[fd00::8]:22");
}

static int64_t timed_failure(const char *host, int want)
{
    eddy_sockaddr a[4];
    int64_t t0 = mono_ms();
    int rc = eddy_resolve(host, 80, AF_INET, a, 4);
    int64_t took = mono_ms() - t0;
    if (rc != want)
        eddy_test_fail(__FILE__, __LINE__, "%s: %d (%s), want %d (%s)", host, rc, eddy_strerror(rc),
                       want, eddy_strerror(want));
    return took;
}

static int dns_cases(void *arg)
{
    const sysenv *e = arg;
    eddy_sockaddr a[4];
    if (!have_cares()) { /* the /etc/hosts-only resolver, which reads the real /etc/hosts only */
        if (!e->ns) {
            printf("# skipped: eddy built without c-ares (see dns_system_files_in_namespaces)\n");
            return 0;
        }
        hosts_cases();
        EDDY_CHECK_EQ(eddy_resolve("nosuch.test", 80, AF_UNSPEC, a, 4), EDDY_ENONAME);
        eddy_stream *s = NULL;
        EDDY_CHECK_EQ(eddy_tcp_connect("nosuch.test", 80, NULL, &s), EDDY_ENONAME);
        /* listed, but only with an IPv6 address (with DNS after the file, this would be the
         * DNS's answer instead) */
        EDDY_CHECK_EQ(eddy_resolve("beta6.test", 22, AF_INET, a, 4), EDDY_ENOADDR);
        EDDY_CHECK_EQ(eddy_tcp_connect("beta6.test", 22, &(eddy_tcp_connect_opts){.family = AF_INET}, &s),
                      EDDY_ENOADDR);
        EDDY_CHECK(s == NULL);
        return 0;
    }
    if (!e->ns) EDDY_OK(setenv("CARES_HOSTS", e->hosts, 1));
    EDDY_OK(unsetenv("RES_OPTIONS"));

    /* answers, NXDOMAIN, NODATA, the search list, the hosts file before DNS */
    use_conf(e, "nameserver 127.0.0.1\nsearch corp.test\noptions ndots:2\n");
    EDDY_CHECK_EQ(eddy_resolve("www.example.test", 443, AF_INET, a, 4), 1);
    check_addr(&a[0], "192.0.2.10:443");
    EDDY_CHECK_EQ(eddy_resolve("www.example.test", 443, AF_INET6, a, 4), 1);
    check_addr(&a[0], "[2001:db8::10]:443");
    EDDY_CHECK_EQ(eddy_resolve("www.example.test", 443, AF_UNSPEC, a, 4), 2);
    EDDY_CHECK_EQ(eddy_resolve("db", 5432, AF_INET, a, 4), 1);
    check_addr(&a[0], "10.2.2.2:5432");
    EDDY_CHECK_EQ(eddy_resolve("nosuch.test", 80, AF_INET, a, 4), EDDY_ENONAME);
    EDDY_CHECK_EQ(eddy_resolve("nosuch.test", 80, AF_UNSPEC, a, 4), EDDY_ENONAME);
    EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET6, a, 4), EDDY_ENOADDR);
    eddy_stream *s = NULL;
    EDDY_CHECK_EQ(eddy_tcp_connect("nosuch.test", 80, NULL, &s), EDDY_ENONAME);
    EDDY_CHECK_EQ(eddy_tcp_connect("v4only.test", 80, &(eddy_tcp_connect_opts){.family = AF_INET6}, &s),
                  EDDY_ENOADDR);
    EDDY_CHECK(s == NULL);
    hosts_cases();
    int t, n, ns;
    EDDY_OK(eddy__dns_channel_info(&t, &n, &ns));
    EDDY_CHECK_EQ(t, 5000); /* glibc's defaults: no options in the file */
    EDDY_CHECK_EQ(n, 2);

    /* A server that never answers, with `options timeout:1 attempts:1`: about 1 s (c-ares 1.18
     * on its own: 5 s x 4 tries, doubling, 75 s). */
    use_conf(e, "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n");
    int64_t took = timed_failure("www.example.test", EDDY_EDNSTIMEDOUT);
    if (took < 900 || took >= 3000)
        eddy_test_fail(__FILE__, __LINE__, "timeout:1 attempts:1 took %lld ms", (long long)took);

    /* The same through $RES_OPTIONS, with no options in the file. */
    EDDY_OK(setenv("RES_OPTIONS", "timeout:1 attempts:1", 1));
    use_conf(e, "nameserver 127.0.0.2\n");
    took = timed_failure("v4only.test", EDDY_EDNSTIMEDOUT);
    if (took < 900 || took >= 3000)
        eddy_test_fail(__FILE__, __LINE__, "RES_OPTIONS timeout:1 attempts:1 took %lld ms", (long long)took);
    EDDY_OK(unsetenv("RES_OPTIONS"));

    /* Nothing listens there: refused at once (ICMP port unreachable), no waiting. */
    use_conf(e, "nameserver 127.0.0.3\noptions timeout:5 attempts:2\n");
    took = timed_failure("www.example.test", EDDY_EDNSUNREACH);
    if (took >= 3000) eddy_test_fail(__FILE__, __LINE__, "a refused server took %lld ms", (long long)took);

    /* The silent server first, dnsmasq second: the answer after one timeout. */
    use_conf(e, "nameserver 127.0.0.2\nnameserver 127.0.0.1\noptions timeout:1 attempts:2\n");
    EDDY_CHECK_EQ(eddy_resolve("v4only.test", 80, AF_INET, a, 4), 1);
    check_addr(&a[0], "198.51.100.7:80");

    EDDY_OK(eddy__dns_configure(NULL)); /* the abandoned queries go with this channel */
    return 0;
}

static void set_paths(sysenv *e, const char *dir)
{
    snprintf(e->conf, sizeof e->conf, "%s/resolv.conf", dir);
    snprintf(e->hosts, sizeof e->hosts, "%s/hosts", dir);
}

static void write_files(sysenv *e, const char *dir)
{
    set_paths(e, dir);
    write_file(e->conf, "");
    write_file(e->hosts, hosts_text);
}

static void remove_files(const sysenv *e, const char *dir)
{
    unlink(e->conf);
    unlink(e->hosts);
    char ns[96];
    snprintf(ns, sizeof ns, "%s/nsswitch.conf", dir);
    unlink(ns);
    rmdir(dir);
}

static const eddy_opts real_opts = {.clock_kind = EDDY_CLOCK_MONOTONIC,
                                    .flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};

/* Through the hook: this process's resolv.conf path and port, dnsmasq on a free port. */
EDDY_TEST_EX(dns_dnsmasq_through_resolv_conf_file, .raw = true, .timeout = EDDY_SEC(60))
{
    char dir[] = "/tmp/eddy-dnssys.XXXXXX";
    EDDY_CHECK(mkdtemp(dir) != NULL);
    sysenv e = {.ns = false};
    write_files(&e, dir);
    dnsmasq d;
    dnsmasq_start(&d, 0);
    e.port = d.port;
    int silent = silent_server("127.0.0.2", e.port);
    EDDY_CHECK_EQ(eddy_run_opts(dns_cases, &e, &real_opts), 0);
    close(silent);
    dnsmasq_stop(&d);
    remove_files(&e, dir);
    return 0;
}

/* ---- the real paths, in namespaces ---- */

static void bind_over(const char *src, const char *target)
{
    if (mount(src, target, NULL, MS_BIND, NULL) < 0)
        eddy_test_fail(__FILE__, __LINE__, "bind %s over %s: %s", src, target, strerror(errno));
}

/* Run argv with stderr captured into err; returns the exit status (or -1). */
static int run_capture(const char *const argv[], char *err, size_t cap)
{
    int p[2];
    EDDY_OK(pipe2(p, O_CLOEXEC));
    posix_spawn_file_actions_t fa;
    EDDY_OK(posix_spawn_file_actions_init(&fa));
    EDDY_OK(posix_spawn_file_actions_adddup2(&fa, p[1], 2));
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    EDDY_OK(rc);
    size_t len = 0;
    ssize_t r;
    while (len < cap - 1 && (r = read(p[0], err + len, cap - 1 - len)) > 0) len += (size_t)r;
    err[len] = 0;
    close(p[0]);
    int st;
    EDDY_CHECK_EQ(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

enum { NS_SKIP = 77 };

/* In the child: private mount and network namespaces, the test's files over /etc's. */
static int ns_child(const char *dir)
{
    if (unshare(CLONE_NEWNS | CLONE_NEWNET) < 0) {
        printf("# skipped: no private namespaces here (unshare: %s; needs CAP_SYS_ADMIN)\n",
               strerror(errno));
        return NS_SKIP;
    }
    /* Nothing mounted here may reach the parent's namespace. */
    EDDY_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EDDY_CHECK(fd >= 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    EDDY_OK(ioctl(fd, SIOCGIFFLAGS, &ifr));
    ifr.ifr_flags |= IFF_UP;
    EDDY_OK(ioctl(fd, SIOCSIFFLAGS, &ifr));
    close(fd);

    sysenv e = {.ns = true, .port = 53};
    write_files(&e, dir);
    bind_over(e.conf, "/etc/resolv.conf");
    bind_over(e.hosts, "/etc/hosts");
    struct stat st;
    if (stat("/etc/nsswitch.conf", &st) == 0) {
        char ns[96];
        snprintf(ns, sizeof ns, "%s/nsswitch.conf", dir);
        write_file(ns, "hosts: files dns\n");
        bind_over(ns, "/etc/nsswitch.conf");
    }
    dnsmasq d;
    dnsmasq_start(&d, 53);
    int silent = silent_server("127.0.0.2", 53);
    EDDY_CHECK_EQ(eddy_run_opts(dns_cases, &e, &real_opts), 0);
#if defined(__SANITIZE_ADDRESS__)
    EDDY_CHECK(!__lsan_do_recoverable_leak_check()); /* _exit below skips LSan's own check */
#endif

    /* The example program, with the same files: an unknown host is said in words. */
    char prog[512];
    snprintf(prog, sizeof prog, "%s/examples/clamd_scan", EDDY_BUILD_DIR);
    if (access(prog, X_OK) == 0) {
        char err[1024];
        int rc = run_capture((const char *const[]){prog, e.hosts, "nosuch.test", "3310", NULL}, err,
                             sizeof err);
        if (rc != 2 || !strstr(err, "Host name not found"))
            eddy_test_fail(__FILE__, __LINE__, "clamd_scan nosuch.test: status %d, stderr: %s", rc, err);
        if (strstr(err, "No such file"))
            eddy_test_fail(__FILE__, __LINE__, "clamd_scan nosuch.test says: %s", err);
    } else {
        printf("# example clamd_scan not built: not run\n");
    }
    close(silent);
    dnsmasq_stop(&d);
    return 0;
}

EDDY_TEST_EX(dns_system_files_in_namespaces, .raw = true, .timeout = EDDY_SEC(60))
{
    char dir[] = "/tmp/eddy-dnsns.XXXXXX";
    EDDY_CHECK(mkdtemp(dir) != NULL);
    fflush(stdout);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        int rc = ns_child(dir);
        fflush(stdout);
        _exit(rc);
    }
    int st;
    EDDY_CHECK_EQ(waitpid(pid, &st, 0), pid);
    sysenv e;
    set_paths(&e, dir);
    remove_files(&e, dir);
    if (WIFEXITED(st) && WEXITSTATUS(st) == NS_SKIP) return 0;
    EDDY_CHECK(WIFEXITED(st));
    EDDY_CHECK_EQ(WEXITSTATUS(st), 0);
    return 0;
}
