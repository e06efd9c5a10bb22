/* echo_protocol — a TCP echo server in callback style (N9): no task or stack per connection,
 * data_received writes the bytes straight back. It is the server the benchmarks compare with
 * a hand-written epoll server, so the path of a message is one recv and one send, with no
 * allocation.
 *
 *   echo_protocol [--workers N] [--pin] [--work K] [PORT]
 *                            (PORT default 4444; listens on every address)
 *
 * Prints "Server listening at HOST:PORT" once it accepts. SIGINT/SIGTERM stop it: eddy_run
 * cancels the root task, which then closes the server (connections get the grace period of
 * the server's options to drain) and exits with status 0.
 *
 * --workers N runs N loops, one per thread (eddy_run_workers; N = 0: one per CPU), each with
 * its own listener on the same port (SO_REUSEPORT); with port 0 the first worker picks the
 * port and the others bind it; "Server listening" comes once all of them listen. --pin pins
 * worker i to the i-th CPU. --work K spends K rounds of a checksum over each message's bytes
 * before echoing them (the benchmark's CPU-heavier handler: scripts/bench_echo.sh --scaling). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eddy.h"

/* Flow control: an echo peer that sends faster than it reads would make the write buffer
 * grow; stop reading from it until it has drained. */
static void pause_writing(eddy_transport *t)
{
    if (eddy_transport_pause_reading(t) < 0) return; /* closed: nothing left to pause */
}

static void resume_writing(eddy_transport *t)
{
    if (eddy_transport_resume_reading(t) < 0) (void)eddy_transport_abort(t);
}

/* --work: a checksum over the message, K times, kept from being optimised away. */
static unsigned work_rounds;
static volatile uint32_t work_sink;
static void burn(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (unsigned r = 0; r < work_rounds; r++)
        for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    work_sink = h;
}

static void data_received(eddy_transport *t, const void *buf, size_t len)
{
    if (work_rounds) burn(buf, len);
    int rc = eddy_transport_write(t, buf, len);
    /* -ENOBUFS cannot happen while pause_writing stops the reads; other errors have already
     * ended the connection (connection_lost follows). */
    if (rc == -ENOBUFS) (void)eddy_transport_abort(t);
}

static const eddy_protocol echo = {
    .data_received = data_received,
    .pause_writing = pause_writing,
    .resume_writing = resume_writing,
};

static int factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **proto, void **user)
{
    (void)arg;
    (void)peer;
    *proto = &echo;
    *user = NULL;
    return 0;
}

/* From a task the close ends l whatever it returns; an error there is worth a line. */
static void close_listener(eddy_listener *l)
{
    int rc = eddy_listener_close(l);
    if (rc < 0) fprintf(stderr, "echo_protocol: closing the listener: %s\n", eddy_strerror(rc));
}

typedef struct server_conf {
    uint16_t port;          /* as given; with workers and 0, the port worker 0 picked */
    bool workers;           /* run by eddy_run_workers (--workers), not eddy_run */
    _Atomic int listening;  /* workers that listen */
    eddy_uevent port_known; /* worker 0 listens: the others may bind its port */
} server_conf;

static int amain(void *arg)
{
    server_conf *conf = arg;
    int w = eddy_worker_index(); /* 0 under eddy_run */
    int rc;
    if (w > 0 && (rc = eddy_uevent_wait(&conf->port_known)) < 0) return 1;
    eddy_listener *l;
    eddy_tcp_listen_opts lo = {.reuse_port = conf->workers};
    rc = eddy_tcp_listen(NULL, conf->port, &lo, &l);
    if (rc < 0) {
        fprintf(stderr, "echo_protocol: listen on port %u: %s\n", conf->port, eddy_strerror(rc));
        if (w == 0 && conf->workers) eddy_uevent_set(&conf->port_known); /* the others fail too */
        return 1;
    }
    eddy_protocol_server *srv;
    rc = eddy_protocol_serve(l, factory, NULL, NULL, &srv);
    if (rc < 0) {
        fprintf(stderr, "echo_protocol: serve: %s\n", eddy_strerror(rc));
        close_listener(l);
        if (w == 0 && conf->workers) eddy_uevent_set(&conf->port_known);
        return 1;
    }
    eddy_sockaddr a;
    char host[INET6_ADDRSTRLEN + 16];
    bool named = eddy_listener_local_addr(l, &a) == 0 && eddy_sockaddr_format(&a, host, sizeof host) > 0;
    if (w == 0 && named) conf->port = eddy_sockaddr_port(&a);
    if (w == 0 && conf->workers) eddy_uevent_set(&conf->port_known);
    if (atomic_fetch_add(&conf->listening, 1) + 1 == eddy_worker_count()) {
        if (named)
            printf("Server listening at %s\n", host);
        else
            printf("Server listening at port %u\n", conf->port);
        fflush(stdout);
    }
    /* Returns -ECANCELED when SIGINT/SIGTERM cancels the root task: the expected way out. */
    rc = eddy_protocol_server_wait(srv);
    (void)eddy_protocol_server_close(srv);
    close_listener(l);
    return rc == 0 || rc == -ECANCELED ? 0 : 1;
}

static const char usage[] =
    "usage: echo_protocol [--workers N] [--pin] [--work K] [PORT]\n"
    "An echo server in callback style (no task per connection), on every address.\n"
    "  PORT         TCP port (default 4444; 0: any free port, printed once listening)\n"
    "  --workers N  N loops on N threads sharing the port (SO_REUSEPORT; 0: one per CPU)\n"
    "  --pin        pin each worker to a CPU of its own\n"
    "  --work K     K rounds of extra CPU work per message (for the scaling benchmark)\n"
    "Ctrl-C (SIGINT) or SIGTERM stops it.\n";

int main(int argc, char **argv)
{
    server_conf conf = {.port = 4444};
    bool pin = false;
    int nworkers = 0;
    cli_help(argc, argv, usage);
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2]; i++) {
        long v;
        if (!strcmp(argv[i], "--pin")) {
            pin = true;
        } else if (!strcmp(argv[i], "--workers") || !strcmp(argv[i], "--work")) {
            if (i + 1 >= argc) cli_fail("echo_protocol", usage, "%s needs a value", argv[i]);
            bool workers = !strcmp(argv[i], "--workers");
            v = cli_number(argv[i + 1], workers ? 4096 : 1000000, argv[i], "echo_protocol", usage);
            if (workers) {
                conf.workers = true;
                nworkers = (int)v;
            } else {
                work_rounds = (unsigned)v;
            }
            i++;
        } else {
            break; /* cli_no_more names it */
        }
    }
    if (i < argc && argv[i][0] != '-') conf.port = cli_port(argv[i++], 0, "echo_protocol", usage);
    cli_no_more(argc, argv, i, "echo_protocol", usage);
    int rc;
    if (!conf.workers) {
        rc = eddy_run(amain, &conf);
    } else {
        if (eddy_uevent_init(&conf.port_known) < 0) return 1;
        rc = eddy_run_workers_with(nworkers, amain, &conf, &(eddy_run_workers_opts){.pin_cpus = pin});
        if (eddy_uevent_destroy(&conf.port_known) < 0 && rc == 0) rc = 1; /* cannot be */
    }
    if (rc < 0) {
        fprintf(stderr, "echo_protocol: %s\n", eddy_strerror(rc));
        return 1;
    }
    return rc;
}
