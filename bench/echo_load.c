/* echo_load: load generator for the echo benchmark (scripts/bench_echo.sh).
 *
 *   echo_load -p PORT [-c CONNS] [-s BYTES] [-d SECONDS] [-w SECONDS] [-V] [-P SERVER_PID]
 *             [-a ADDR] [-b BATCH] [-n COUNT]
 *
 * CONNS connections (default 100) each do strict ping-pong with the server: write one
 * BYTES-byte message (default 64), wait until all BYTES have come back, write the next. After
 * every connection is up, the load runs W seconds of warm-up (default 1) and then D measured
 * seconds (default 3); only round trips that complete inside the measured window count.
 * Output: `key=value` lines (msgs_per_s, p50_us, p99_us, errors, ...). Exit status 0 when
 * the run had no error, 1 when some connection failed or echoed wrong bytes, 2 when the run
 * could not be set up at all.
 *
 * With -P the generator also samples the server process itself, at the two edges of the
 * measured window so that connection set-up and warm-up stay out of the figures: CPU time
 * (utime and stime from /proc/PID/stat) per message, and VmRSS (/proc/PID/status) before the
 * first connection and at the end of the window, per connection; and, from /proc/stat, how
 * much CPU other programs took during the window (other_cpu_pct).
 *
 * With -n every connection makes exactly COUNT round trips after its first one and then
 * stops: no warm-up, no timed window (-d and -w are ignored), and the run ends when all of
 * them are done. For counting the server's work per message under a tool that slows it down
 * by an unknown factor (scripts/callgrind_echo.sh).
 *
 * One thread, level-triggered epoll. Per round trip the generator makes one write and (for
 * messages that arrive in one piece) one read: it reads at most what the current message
 * still lacks, so it never needs a second read to learn that the socket is empty, and its own
 * cost stays as close as possible to the server's. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The pattern has a prime period so that a message shifted by a few bytes, or one from an
 * earlier round, does not compare equal by accident. */
#define PATTERN_PERIOD 251

struct conn {
    int fd;
    int idx;
    uint32_t seq;    /* messages completed on this connection */
    uint32_t off;    /* this message's starting offset into the pattern */
    size_t sent;     /* bytes of the current message written */
    size_t got;      /* bytes of the current message echoed back */
    int64_t t_send;  /* when the current message's first byte was written */
    int want_out;    /* EPOLLOUT registered (a write was short) */
    int state;       /* CONNECTING, PRIMING, IDLE, RUNNING, DEAD */
};

enum { CONNECTING, PRIMING, IDLE, RUNNING, DEAD };

/* Round-trip histogram, log-linear: 32 linear sub-buckets per power of two of nanoseconds,
 * so every bucket is within ~3% of its value and the table stays small (2 K counters) for
 * any range from 1 ns to hours. */
#define SUB_BITS 5
#define SUB (1 << SUB_BITS)
#define NBUCKETS (64 * SUB)

static uint64_t hist[NBUCKETS];
static uint64_t hist_total;
static int64_t lat_max;

static int bucket_of(int64_t v)
{
    if (v < SUB) return v < 0 ? 0 : (int)v;
    int bits = 63 - __builtin_clzll((unsigned long long)v);
    int shift = bits - SUB_BITS;
    return (shift + 1) * SUB + (int)((v >> shift) - SUB);
}

/* Middle of bucket i, in ns. */
static double bucket_value(int i)
{
    if (i < SUB) return i;
    int shift = i / SUB - 1;
    double lo = (double)((uint64_t)(SUB + i % SUB) << shift);
    return lo + (double)(1ull << shift) / 2;
}

static double percentile_us(double p)
{
    if (hist_total == 0) return 0;
    uint64_t want = (uint64_t)(p * (double)hist_total + 0.999999);
    if (want < 1) want = 1;
    uint64_t seen = 0;
    for (int i = 0; i < NBUCKETS; i++) {
        seen += hist[i];
        if (seen >= want) return bucket_value(i) / 1000.0;
    }
    return (double)lat_max / 1000.0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- options and shared state ---- */
static const char *opt_addr = "127.0.0.1";
static int opt_port, opt_conns = 100, opt_batch = 100, opt_verify;
static size_t opt_size = 64;
static double opt_dur = 3, opt_warm = 1;
static int opt_pid;
static long opt_count; /* -n: round trips per connection, 0 = timed run */

static int ep;
static struct conn *conns;
static unsigned char *pattern; /* opt_size + PATTERN_PERIOD bytes: any offset gives a message */
static unsigned char *rbuf;
static uint64_t errors, verify_errors;
static int measuring;
static int64_t t_meas0, t_meas1;
static uint64_t msgs;     /* round trips completed inside the measured window */
static int primed;        /* connections that finished their priming round trip (or died) */
static int done_conns;    /* -n: connections that made their COUNT round trips (or died) */

static void fail_conn(struct conn *c, const char *what, int err)
{
    /* The first few reasons are worth seeing; thousands of identical lines are not. */
    if (errors < 5)
        fprintf(stderr, "echo_load: connection %d: %s%s%s\n", c->idx, what, err ? ": " : "",
                err ? strerror(err) : "");
    errors++;
    if (c->state == CONNECTING || c->state == PRIMING) primed++;
    if (c->state == RUNNING) done_conns++;
    c->state = DEAD;
    close(c->fd);
    c->fd = -1;
}

static void set_out(struct conn *c, int on)
{
    if (c->want_out == on) return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->want_out = on;
}

/* Write what is left of the current message; register EPOLLOUT if the socket is full. */
static void push(struct conn *c)
{
    while (c->sent < opt_size) {
        ssize_t n = write(c->fd, pattern + c->off + c->sent, opt_size - c->sent);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            set_out(c, 1);
            return;
        }
        fail_conn(c, "write", n < 0 ? errno : 0);
        return;
    }
    set_out(c, 0);
}

static void start_msg(struct conn *c, int64_t t)
{
    /* Each message starts at its own offset in the pattern, so a stale or repeated echo of an
     * earlier message fails verification. */
    c->off = (uint32_t)(((uint64_t)c->idx * 97 + (uint64_t)c->seq * 13) % PATTERN_PERIOD);
    c->sent = c->got = 0;
    c->t_send = t;
    push(c);
}

static void on_readable(struct conn *c)
{
    size_t want = opt_size - c->got;
    if (want == 0) {
        /* Bytes beyond the message we sent: the server is not echoing what it got. */
        ssize_t n = read(c->fd, rbuf, 1);
        if (n > 0) fail_conn(c, "server sent more bytes than were sent to it", 0);
        else if (n == 0) fail_conn(c, "server closed the connection", 0);
        else if (errno != EAGAIN && errno != EINTR) fail_conn(c, "read", errno);
        return;
    }
    ssize_t n = read(c->fd, rbuf, want);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) fail_conn(c, "read", errno);
        return;
    }
    if (n == 0) {
        fail_conn(c, "server closed the connection", 0);
        return;
    }
    if (c->got + (size_t)n > c->sent) {
        fail_conn(c, "server echoed bytes that were not sent yet", 0);
        return;
    }
    if (opt_verify && memcmp(rbuf, pattern + c->off + c->got, (size_t)n) != 0) {
        verify_errors++;
        fail_conn(c, "echoed bytes differ from the bytes sent", 0);
        return;
    }
    c->got += (size_t)n;
    if (c->got < opt_size) return;

    int64_t t = now_ns();
    c->seq++;
    if (c->state == PRIMING) {
        /* The server has accepted this connection and answered once: it is really up. */
        c->state = IDLE;
        primed++;
        return;
    }
    if (opt_count) {
        msgs++;
        if ((long)c->seq > opt_count) { /* the first round trip was the priming one */
            c->state = IDLE;
            done_conns++;
            return;
        }
    } else if (measuring && t >= t_meas0 && t < t_meas1) {
        int64_t rtt = t - c->t_send;
        hist[bucket_of(rtt)]++;
        hist_total++;
        if (rtt > lat_max) lat_max = rtt;
        msgs++;
    }
    start_msg(c, t);
}

static void on_event(struct conn *c, uint32_t events)
{
    if (c->state == DEAD) return;
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err) {
            fail_conn(c, "connect", err);
            return;
        }
        c->state = PRIMING;
        start_msg(c, now_ns());
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
    if (c->state != DEAD && (events & EPOLLOUT) && c->want_out) push(c);
}

/* One pass of the event loop, waiting at most timeout_ms. */
static int poll_once(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
    return n;
}

static int open_conn(struct conn *c, const struct sockaddr_in *sa)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -errno;
    /* Ping-pong: without TCP_NODELAY the tail of a short write could wait for the peer's
     * delayed ACK (up to 40 ms). */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->want_out = 1;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) return -errno;
    if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) < 0 && errno != EINPROGRESS) {
        fail_conn(c, "connect", errno);
        return 0;
    }
    return 0;
}

/* Server CPU time (µs, user and system) from /proc/PID/stat; -1 when unreadable. */
static int server_cpu(double *user_us, double *sys_us)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", opt_pid);
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The command name (field 2) may hold spaces and parentheses: count from the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long long ut, st;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    double tick_us = 1e6 / (double)sysconf(_SC_CLK_TCK);
    *user_us = (double)ut * tick_us;
    *sys_us = (double)st * tick_us;
    return 0;
}

/* CPU time (µs) all CPUs spent in user, nice and system mode, from /proc/stat: less what the
 * server and the generator used, it tells how much other programs took from this run (the
 * machine is shared; a disturbed run shows up here rather than only as a slow one). */
static int machine_busy_us(double *us)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f) return -1;
    unsigned long long user, nice, sys;
    int n = fscanf(f, "cpu %llu %llu %llu", &user, &nice, &sys);
    fclose(f);
    if (n != 3) return -1;
    *us = (double)(user + nice + sys) * 1e6 / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

/* Server VmRSS in KiB; -1 when unreadable. */
static long server_rss_kib(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", opt_pid);
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

/* 10,000 connections need 10,000 descriptors: raise the soft limit, and the hard one too if
 * allowed (root), rather than making every caller remember `ulimit -n`. */
static void raise_nofile(rlim_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need) return;
    if (rl.rlim_max < need) {
        struct rlimit hard = {need, need};
        if (setrlimit(RLIMIT_NOFILE, &hard) == 0) return;
    }
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static void usage(void)
{
    fprintf(stderr, "usage: echo_load -p PORT [-c CONNS] [-s BYTES] [-d SECONDS] [-w SECONDS] "
                    "[-V] [-P SERVER_PID] [-a ADDR] [-b BATCH] [-n COUNT]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "p:c:s:d:w:VP:a:b:n:h")) != -1) {
        switch (ch) {
        case 'p': opt_port = atoi(optarg); break;
        case 'c': opt_conns = atoi(optarg); break;
        case 's': opt_size = (size_t)atol(optarg); break;
        case 'd': opt_dur = atof(optarg); break;
        case 'w': opt_warm = atof(optarg); break;
        case 'V': opt_verify = 1; break;
        case 'P': opt_pid = atoi(optarg); break;
        case 'a': opt_addr = optarg; break;
        case 'b': opt_batch = atoi(optarg); break;
        case 'n': opt_count = atol(optarg); break;
        default: usage();
        }
    }
    if (opt_port <= 0 || opt_port > 65535 || opt_conns <= 0 || opt_size == 0 ||
        opt_size > (64u << 20) || opt_dur <= 0 || opt_warm < 0 || opt_batch <= 0 || opt_count < 0)
        usage();

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
    if (inet_pton(AF_INET, opt_addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "echo_load: bad address %s\n", opt_addr);
        return 2;
    }
    raise_nofile((rlim_t)opt_conns + 64);

    pattern = malloc(opt_size + PATTERN_PERIOD);
    rbuf = malloc(opt_size);
    conns = calloc((size_t)opt_conns, sizeof *conns);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!pattern || !rbuf || !conns || ep < 0) {
        perror("echo_load: setup");
        return 2;
    }
    for (size_t i = 0; i < opt_size + PATTERN_PERIOD; i++) pattern[i] = (unsigned char)(i % PATTERN_PERIOD);

    long rss_idle = opt_pid ? server_rss_kib() : -1;

    /* Connect in batches, each connection doing one round trip before the next batch starts:
     * a finished connect() only means the kernel queued the connection, so waiting for the
     * echo is what proves the server accepted it, and the listen backlog never holds more
     * than one batch (an overflowing backlog drops SYNs, costing a 1 s retransmit each). */
    int64_t t_conn0 = now_ns();
    for (int base = 0; base < opt_conns; base += opt_batch) {
        int end = base + opt_batch < opt_conns ? base + opt_batch : opt_conns;
        for (int i = base; i < end; i++) {
            conns[i].idx = i;
            int rc = open_conn(&conns[i], &sa);
            if (rc < 0) {
                fprintf(stderr, "echo_load: socket %d of %d: %s\n", i + 1, opt_conns, strerror(-rc));
                return 2;
            }
        }
        int64_t deadline = now_ns() + 30 * 1000000000ll;
        while (primed < end) {
            if (poll_once(100) < 0) {
                perror("echo_load: epoll_wait");
                return 2;
            }
            if (now_ns() > deadline) {
                fprintf(stderr, "echo_load: connections %d..%d not answered after 30 s\n", base, end - 1);
                return 2;
            }
        }
    }
    double connect_s = (double)(now_ns() - t_conn0) / 1e9;
    int alive = 0;
    for (int i = 0; i < opt_conns; i++) alive += conns[i].state == IDLE;
    if (alive == 0) {
        fprintf(stderr, "echo_load: no connection to %s:%d succeeded\n", opt_addr, opt_port);
        return 2;
    }

    if (opt_count) {
        /* Counted run: every connection makes its round trips, nothing is timed. */
        int64_t t = now_ns();
        int running = 0;
        for (int i = 0; i < opt_conns; i++)
            if (conns[i].state == IDLE) {
                conns[i].state = RUNNING;
                running++;
                start_msg(&conns[i], t);
            }
        while (done_conns < running)
            if (poll_once(1000) < 0) {
                perror("echo_load: epoll_wait");
                return 2;
            }
        for (int i = 0; i < opt_conns; i++)
            if (conns[i].fd >= 0) close(conns[i].fd);
        printf("conns=%d\nsize=%zu\ncount=%ld\nmsgs=%llu\nerrors=%llu\n", opt_conns, opt_size,
               opt_count, (unsigned long long)msgs, (unsigned long long)errors);
        return errors ? 1 : 0;
    }

    /* Every connection up: start them all at once, warm up, then measure. */
    int64_t t_start = now_ns();
    t_meas0 = t_start + (int64_t)(opt_warm * 1e9);
    t_meas1 = t_meas0 + (int64_t)(opt_dur * 1e9);
    measuring = 1;
    for (int i = 0; i < opt_conns; i++)
        if (conns[i].state == IDLE) {
            conns[i].state = RUNNING;
            start_msg(&conns[i], t_start);
        }

    double u0 = 0, s0 = 0, u1 = 0, s1 = 0;
    int have_cpu = 0, have_busy = 0;
    double busy0 = 0, busy1 = 0;
    struct rusage ru0, ru1;
    int in_window = 0;
    for (;;) {
        int64_t t = now_ns();
        if (!in_window && t >= t_meas0) {
            in_window = 1;
            have_cpu = opt_pid && server_cpu(&u0, &s0) == 0;
            have_busy = machine_busy_us(&busy0) == 0;
            getrusage(RUSAGE_SELF, &ru0);
        }
        if (t >= t_meas1) break;
        int64_t until = in_window ? t_meas1 : t_meas0;
        int timeout = (int)((until - t) / 1000000) + 1;
        if (poll_once(timeout) < 0) {
            perror("echo_load: epoll_wait");
            return 2;
        }
    }
    /* Sample the server before closing anything: its CPU for the window and its RSS while
     * every connection is still open. */
    if (have_cpu && server_cpu(&u1, &s1) != 0) have_cpu = 0;
    long rss_busy = opt_pid ? server_rss_kib() : -1;
    getrusage(RUSAGE_SELF, &ru1);
    if (have_busy && machine_busy_us(&busy1) != 0) have_busy = 0;
    double window_s = (double)(now_ns() - t_meas0) / 1e9;
    double self_cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                        (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                        (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                        (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    alive = 0;
    for (int i = 0; i < opt_conns; i++)
        if (conns[i].fd >= 0) {
            alive++;
            close(conns[i].fd);
        }

    printf("conns=%d\nsize=%zu\nwarmup_s=%.3f\nduration_s=%.3f\nconnect_s=%.3f\n", opt_conns,
           opt_size, opt_warm, opt_dur, connect_s);
    printf("msgs=%llu\nmsgs_per_s=%.0f\n", (unsigned long long)msgs, (double)msgs / (opt_dur));
    printf("p50_us=%.1f\np90_us=%.1f\np99_us=%.1f\np999_us=%.1f\nmax_us=%.1f\n", percentile_us(0.50),
           percentile_us(0.90), percentile_us(0.99), percentile_us(0.999), (double)lat_max / 1000.0);
    printf("errors=%llu\nverify=%d\nverify_errors=%llu\nconns_alive=%d\n", (unsigned long long)errors,
           opt_verify, (unsigned long long)verify_errors, alive);
    printf("client_cpu_pct=%.0f\n", 100 * self_cpu_s / window_s);
    if (have_cpu && msgs > 0) {
        printf("server_user_us_per_msg=%.3f\n", (u1 - u0) / (double)msgs);
        printf("server_sys_us_per_msg=%.3f\n", (s1 - s0) / (double)msgs);
        printf("server_cpu_pct=%.0f\n", 100 * (u1 - u0 + s1 - s0) / 1e6 / window_s);
        if (have_busy) {
            /* Tick-sampled on both sides: a few percent either way is noise, not a program. */
            double other = (busy1 - busy0) - (u1 - u0 + s1 - s0) - self_cpu_s * 1e6;
            printf("other_cpu_pct=%.0f\n", 100 * (other > 0 ? other : 0) / 1e6 / window_s);
        }
    }
    if (rss_idle >= 0 && rss_busy >= 0) {
        printf("server_rss_idle_kib=%ld\nserver_rss_kib=%ld\n", rss_idle, rss_busy);
        printf("server_rss_per_conn_bytes=%.0f\n", (double)(rss_busy - rss_idle) * 1024 / (alive ? alive : 1));
    }
    return errors ? 1 : 0;
}
