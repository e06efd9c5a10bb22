/* echo_protocol — a TCP echo server in callback style (N9): no task or stack per connection,
 * data_received writes the bytes straight back. It is the server the benchmarks compare with
 * a hand-written epoll server, so the path of a message is one recv and one send, with no
 * allocation.
 *
 *   echo_protocol [PORT]     (default 4444; listens on every address)
 *
 * Prints "Server listening at HOST:PORT" once it accepts. SIGINT/SIGTERM stop it: eddy_run
 * cancels the root task, which then closes the server (connections get the grace period of
 * the server's options to drain) and exits with status 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void data_received(eddy_transport *t, const void *buf, size_t len)
{
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

static int amain(void *arg)
{
    const char *port_s = arg;
    char *end;
    long port = strtol(port_s, &end, 10);
    if (*port_s == '\0' || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "echo_protocol: bad port %s\n", port_s);
        return 2;
    }
    eddy_listener *l;
    int rc = eddy_tcp_listen(NULL, (uint16_t)port, NULL, &l);
    if (rc < 0) {
        fprintf(stderr, "echo_protocol: listen on port %ld: %s\n", port, eddy_strerror(rc));
        return 1;
    }
    eddy_protocol_server *srv;
    rc = eddy_protocol_serve(l, factory, NULL, NULL, &srv);
    if (rc < 0) {
        fprintf(stderr, "echo_protocol: serve: %s\n", eddy_strerror(rc));
        close_listener(l);
        return 1;
    }
    eddy_sockaddr a;
    char host[INET6_ADDRSTRLEN + 16];
    if (eddy_listener_local_addr(l, &a) == 0 && eddy_sockaddr_format(&a, host, sizeof host) > 0)
        printf("Server listening at %s\n", host);
    else
        printf("Server listening at port %ld\n", port);
    fflush(stdout);
    /* Returns -ECANCELED when SIGINT/SIGTERM cancels the root task: the expected way out. */
    rc = eddy_protocol_server_wait(srv);
    (void)eddy_protocol_server_close(srv);
    close_listener(l);
    return rc == 0 || rc == -ECANCELED ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s [PORT]\n", argv[0]);
        return 2;
    }
    int rc = eddy_run(amain, argc == 2 ? argv[1] : "4444");
    if (rc < 0) {
        fprintf(stderr, "echo_protocol: %s\n", eddy_strerror(rc));
        return 1;
    }
    return rc;
}
