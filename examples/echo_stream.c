/* echo_stream — curio's coroutine echo server: one task per client, each reading into a
 * 100000-byte buffer and writing everything back.
 *
 *   echo_stream [PORT]      (default 25000; 0 picks a free port, printed once listening)
 *
 * It listens on every address (IPv6 and IPv4), prints "Server listening at HOST:PORT" once
 * it accepts, and "Connection from ADDR" / "Connection closed" for each client. SIGINT or
 * SIGTERM stops it: eddy_run cancels the root task, eddy_serve cancels every handler and
 * returns once they are gone, and the program exits 0.
 *
 * This is the benchmark server, so the per-message path is one read and one write_all on the
 * handler's own stack: no allocation, no extra syscall. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy.h"

#define BUF_SIZE 100000
/* The buffer lives on the handler's stack: room for it plus the call chain under read/write
 * (sanitizer builds have much larger frames). */
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

static int echo_client(eddy_stream *conn, void *arg)
{
    (void)arg;
    char addr[80];
    format_peer(eddy_serve_peer_addr(), addr, sizeof addr);
    printf("Connection from %s\n", addr);
    fflush(stdout);
    char buf[BUF_SIZE];
    ssize_t n;
    int rc = 0;
    while ((n = eddy_stream_read(conn, buf, sizeof buf)) > 0)
        if ((rc = eddy_stream_write_all(conn, buf, (size_t)n)) < 0) break;
    if (n < 0) rc = (int)n;
    printf("Connection closed\n");
    fflush(stdout);
    /* A client that resets is routine for an echo server; eddy_serve counts it and goes on. */
    return rc;
}

static int amain(void *arg)
{
    uint16_t port = *(const uint16_t *)arg;
    eddy_listener *l;
    int rc = eddy_tcp_listen(NULL, port, NULL, &l);
    if (rc < 0) {
        fprintf(stderr, "echo_stream: listen on port %u: %s\n", port, eddy_strerror(rc));
        return rc;
    }
    eddy_sockaddr a;
    char where[80] = "?";
    if (eddy_listener_local_addr(l, &a) == 0) (void)eddy_sockaddr_format(&a, where, sizeof where);
    printf("Server listening at %s\n", where);
    fflush(stdout);
    rc = eddy_serve(l, echo_client, NULL, &(eddy_serve_opts){.stack_size = HANDLER_STACK});
    int crc = eddy_listener_close(l); /* from a task: l is gone whatever it returns */
    if (crc < 0) fprintf(stderr, "echo_stream: closing the listener: %s\n", strerror(-crc));
    /* Cancelled by SIGINT/SIGTERM (B9): that is how this server is meant to stop. */
    if (rc == -ECANCELED) rc = 0;
    if (rc < 0) fprintf(stderr, "echo_stream: %s\n", eddy_strerror(rc));
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long port = 25000;
    if (argc > 2) {
        fprintf(stderr, "usage: %s [PORT]\n", argv[0]);
        return 2;
    }
    if (argc == 2) {
        char *end;
        port = strtoul(argv[1], &end, 10);
        if (!*argv[1] || *end || port > 65535) {
            fprintf(stderr, "echo_stream: bad port '%s'\n", argv[1]);
            return 2;
        }
    }
    uint16_t p = (uint16_t)port;
    int rc = eddy_run(amain, &p);
    return rc < 0 ? 1 : 0;
}
