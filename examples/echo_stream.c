/* echo_stream — curio's coroutine echo server: one task per client, each reading up to
 * 100000 bytes at a time and writing everything back.
 *
 *   echo_stream [--workers N] [--pin] [--work K] [PORT]
 *                           (PORT default 25000; 0 picks a free port, printed once listening)
 *
 * It listens on every address (IPv6 and IPv4), prints "Server listening at HOST:PORT" once
 * it accepts, and "Connection from ADDR" / "Connection closed" for each client. SIGINT or
 * SIGTERM stops it: eddy_run cancels the root task, eddy_serve cancels every handler and
 * returns once they are gone, and the program exits 0.
 *
 * --workers N runs N loops, one per thread (eddy_run_workers; N = 0: one per CPU), each with
 * its own listener on the same port (SO_REUSEPORT: the kernel spreads the connections); with
 * port 0 the first worker picks the port and the others bind it. "Server listening" is printed
 * once every worker listens. --pin pins worker i to the i-th CPU. --work K makes each message
 * cost K rounds of a checksum over its bytes before it is echoed: the benchmark's way to make
 * the server, not the load generator, the bottleneck (scripts/bench_echo.sh --scaling).
 *
 * This is the benchmark server, so the per-message path is one read and one write_all: no
 * allocation, no extra syscall. The buffer starts as 1 KiB in a frame of its own, inside the
 * stack page the handler's frames already use, so an idle connection costs that one page
 * (a 100000-byte buffer on the stack put its first page ~100 KB below the frames: three
 * pages per connection); a client that fills it gets the 100000-byte buffer from the heap,
 * once. */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eddy.h"

#define BUF_SIZE 100000 /* the most one read takes, as curio's recv(100000) */
#define SMALL_BUF 1024  /* the first buffer, on the stack (see above) */
/* Room for the call chain under read/write, which sanitizer builds make much larger; pages
 * never touched cost nothing. */
#define HANDLER_STACK (256 * 1024)

/* "[::ffff:1.2.3.4]:80" reads better as the IPv4 address it is. */
static void format_peer(const eddy_sockaddr *a, char *buf, size_t len)
{
    eddy_sockaddr v4;
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
    if (a->ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&v4.ss;
        memset(&v4, 0, sizeof v4);
        s4->sin_family = AF_INET;
        s4->sin_port = s6->sin6_port;
        memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
        v4.len = sizeof *s4;
        a = &v4;
    }
    if (eddy_sockaddr_format(a, buf, len) < 0) snprintf(buf, len, "?");
}

typedef struct server_conf {
    uint16_t port;          /* as given; with workers and 0, the port worker 0 picked */
    bool workers;           /* run by eddy_run_workers (--workers), not eddy_run */
    unsigned work;          /* checksum rounds per message */
    _Atomic int listening;  /* workers that listen */
    eddy_uevent port_known; /* worker 0 listens: the others may bind its port */
} server_conf;

/* --work: a checksum over the message, K times, kept from being optimised away. */
static volatile uint32_t work_sink;
static void burn(const char *buf, size_t n, unsigned rounds)
{
    uint32_t h = 2166136261u;
    for (unsigned r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)buf[i]) * 16777619u;
    work_sink = h;
}

/* The echo itself, in a frame of its own under echo_client's (see the top of the file): into
 * the small buffer until a read fills it, then into the 100000-byte one. Without memory for
 * that, the small buffer goes on serving (more reads, same bytes). */
static __attribute__((noinline)) int echo(eddy_stream *conn, const server_conf *conf)
{
    char small[SMALL_BUF];
    char *buf = small;
    size_t cap = sizeof small;
    ssize_t n;
    int rc = 0;
    while ((n = eddy_stream_read(conn, buf, cap)) > 0) {
        if (conf->work) burn(buf, (size_t)n, conf->work);
        if ((rc = eddy_stream_write_all(conn, buf, (size_t)n)) < 0) break;
        if ((size_t)n == cap && buf == small) { /* (one compare per message, usually false) */
            char *big = malloc(BUF_SIZE);
            if (big) {
                buf = big;
                cap = BUF_SIZE;
            }
        }
    }
    if (buf != small) free(buf);
    return n < 0 ? (int)n : rc;
}

static int echo_client(eddy_stream *conn, void *arg)
{
    const server_conf *conf = arg;
    char addr[80];
    format_peer(eddy_serve_peer_addr(), addr, sizeof addr);
    printf("Connection from %s\n", addr);
    fflush(stdout);
    int rc = echo(conn, conf);
    printf("Connection closed\n");
    fflush(stdout);
    /* A client that resets is routine for an echo server; eddy_serve counts it and goes on. */
    return rc;
}

static _Atomic bool reported; /* a worker printed the error it returns */

/* Listen on conf's port; with workers, worker 0 first (port 0 is resolved by it), sharing the
 * port with SO_REUSEPORT. Prints "Server listening" once everyone listens. */
static int listen_on(server_conf *conf, eddy_listener **l)
{
    int w = eddy_worker_index(); /* 0 under eddy_run */
    int rc;
    if (w > 0 && (rc = eddy_uevent_wait(&conf->port_known)) < 0) return rc;
    eddy_tcp_listen_opts lo = {.reuse_port = conf->workers};
    rc = eddy_tcp_listen(NULL, conf->port, &lo, l);
    if (rc < 0) {
        fprintf(stderr, "echo_stream: listen on port %u: %s\n", conf->port, eddy_strerror(rc));
        reported = true;
        if (w == 0 && conf->workers) eddy_uevent_set(&conf->port_known); /* the others fail too */
        return rc;
    }
    eddy_sockaddr a;
    char where[80] = "?";
    if (eddy_listener_local_addr(*l, &a) == 0) {
        (void)eddy_sockaddr_format(&a, where, sizeof where);
        if (w == 0) conf->port = eddy_sockaddr_port(&a);
    }
    if (w == 0 && conf->workers) eddy_uevent_set(&conf->port_known);
    if (atomic_fetch_add(&conf->listening, 1) + 1 == eddy_worker_count()) {
        printf("Server listening at %s\n", where);
        fflush(stdout);
    }
    return 0;
}

static int amain(void *arg)
{
    server_conf *conf = arg;
    eddy_listener *l;
    int rc = listen_on(conf, &l);
    if (rc < 0) return rc;
    rc = eddy_serve(l, echo_client, conf, &(eddy_serve_opts){.stack_size = HANDLER_STACK});
    int crc = eddy_listener_close(l); /* from a task: l is gone whatever it returns */
    if (crc < 0) fprintf(stderr, "echo_stream: closing the listener: %s\n", eddy_strerror(crc));
    /* Cancelled by SIGINT/SIGTERM (B9): that is how this server is meant to stop. */
    if (rc == -ECANCELED) rc = 0;
    if (rc < 0) {
        fprintf(stderr, "echo_stream: %s\n", eddy_strerror(rc));
        reported = true;
    }
    return rc;
}

static const char usage[] =
    "usage: echo_stream [--workers N] [--pin] [--work K] [PORT]\n"
    "An echo server, one task per connection, on every address (IPv6 and IPv4).\n"
    "  PORT         TCP port (default 25000; 0: any free port, printed once listening)\n"
    "  --workers N  N loops on N threads sharing the port (SO_REUSEPORT; 0: one per CPU)\n"
    "  --pin        pin each worker to a CPU of its own\n"
    "  --work K     K rounds of extra CPU work per message (for the scaling benchmark)\n"
    "Ctrl-C (SIGINT) or SIGTERM stops it.\n";

int main(int argc, char **argv)
{
    server_conf conf = {.port = 25000};
    bool pin = false;
    int nworkers = 0;
    cli_help(argc, argv, usage);
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2]; i++) {
        long v;
        if (!strcmp(argv[i], "--pin")) {
            pin = true;
        } else if (!strcmp(argv[i], "--workers") || !strcmp(argv[i], "--work")) {
            if (i + 1 >= argc) cli_fail("echo_stream", usage, "%s needs a value", argv[i]);
            bool workers = !strcmp(argv[i], "--workers");
            v = cli_number(argv[i + 1], workers ? 4096 : 1000000, argv[i], "echo_stream", usage);
            if (workers) {
                conf.workers = true;
                nworkers = (int)v;
            } else {
                conf.work = (unsigned)v;
            }
            i++;
        } else {
            break; /* cli_no_more names it */
        }
    }
    if (i < argc && argv[i][0] != '-') conf.port = cli_port(argv[i++], 0, "echo_stream", usage);
    cli_no_more(argc, argv, i, "echo_stream", usage);
    int rc;
    if (!conf.workers) {
        rc = eddy_run(amain, &conf);
    } else {
        if (eddy_uevent_init(&conf.port_known) < 0) return 1;
        rc = eddy_run_workers_with(nworkers, amain, &conf, &(eddy_run_workers_opts){.pin_cpus = pin});
        if (eddy_uevent_destroy(&conf.port_known) < 0 && rc == 0) rc = -EBUSY; /* cannot be */
    }
    if (rc < 0 && !reported) fprintf(stderr, "echo_stream: %s\n", eddy_strerror(rc));
    return rc < 0 ? 1 : 0;
}
