/* fake_clamd — a stand-in clamd for clamd_scan: speaks the INSTREAM protocol and flags the
 * EICAR test string.
 *
 *   fake_clamd [PORT]        (default 3310; 0 picks a free port)
 *
 * Listens on 127.0.0.1, prints "Server listening at 127.0.0.1:PORT" once ready, and serves
 * each connection in its own task of one nursery. A connection carries one command, in
 * clamd's z form ("zINSTREAM\0": replies end in NUL) or n form ("nINSTREAM\n": replies end
 * in a newline): INSTREAM, or PING (answered "PONG"). Anything else is answered
 * "UNKNOWN COMMAND" and the connection closed. INSTREAM data comes as chunks with a 4-byte
 * big-endian length and ends with a zero length; a stream that would exceed STREAM_MAX gets
 * "INSTREAM size limit exceeded. ERROR". The reply is "stream: Eicar-Signature FOUND" if the
 * data contains the EICAR string anywhere (also across chunk boundaries: the last
 * strlen(EICAR) - 1 bytes of the data are carried over, so memory stays bounded), else
 * "stream: OK".
 *
 * SIGINT or SIGTERM cancels the root scope (B9): the accept loop and every connection task
 * unwind, and the program exits with status 0. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy.h"

#define STREAM_MAX (25u * 1024 * 1024) /* clamd's default StreamMaxLength */
#define CMD_MAX 64
#define IDLE_TIMEOUT EDDY_SEC(30) /* per connection: a client that stalls is dropped */
#define DRAIN_TIMEOUT EDDY_SEC(2)

static const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
#define EICAR_LEN (sizeof eicar - 1)

/* EICAR search over a stream of pieces: window = carried tail + the new piece. */
typedef struct scanner {
    char win[EICAR_LEN - 1 + 4096];
    size_t carry;
    bool found;
} scanner;

static void scan_piece(scanner *sc, const char *p, size_t n)
{
    while (n > 0 && !sc->found) {
        size_t take = sizeof sc->win - sc->carry;
        if (take > n) take = n;
        memcpy(sc->win + sc->carry, p, take);
        size_t len = sc->carry + take;
        if (memmem(sc->win, len, eicar, EICAR_LEN)) sc->found = true;
        /* Keep what could be the start of a match that the next piece completes. */
        sc->carry = len < EICAR_LEN - 1 ? len : EICAR_LEN - 1;
        memmove(sc->win, sc->win + len - sc->carry, sc->carry);
        p += take;
        n -= take;
    }
}

static int reply(eddy_stream *s, const char *msg, char term)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%s%c", msg, term);
    return eddy_stream_write_all(s, buf, (size_t)n);
}

/* After an error reply: say nothing more, and read what the client still sends (bounded
 * in time) so that closing does not reset the connection before it has read the reply. */
static void drain(eddy_bufreader *br)
{
    if (eddy_stream_shutdown_write(br->stream) < 0) return;
    EDDY_MOVE_ON_AFTER(DRAIN_TIMEOUT)
    {
        char junk[4096];
        while (eddy_bufreader_read(br, junk, sizeof junk) > 0) {
        }
    }
}

/* INSTREAM: chunks until the zero length. Returns 0 after replying, or a negative errno
 * (-EPIPE: the client went away mid-stream). */
static int instream(eddy_bufreader *br, char term)
{
    scanner sc = {.carry = 0, .found = false};
    size_t total = 0;
    for (;;) {
        unsigned char h[4];
        int rc = eddy_read_exactly(br, h, 4, NULL);
        if (rc < 0) return rc;
        uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        if (len == 0) break;
        if (len > STREAM_MAX - total) {
            rc = reply(br->stream, "INSTREAM size limit exceeded. ERROR", term);
            if (rc == 0) drain(br);
            return rc;
        }
        total += len;
        while (len > 0) {
            char piece[4096];
            ssize_t n = eddy_bufreader_read(br, piece, len < sizeof piece ? len : sizeof piece);
            if (n < 0) return (int)n;
            if (n == 0) return -EPIPE;
            scan_piece(&sc, piece, (size_t)n);
            len -= (uint32_t)n;
        }
    }
    return reply(br->stream, sc.found ? "stream: Eicar-Signature FOUND" : "stream: OK", term);
}

/* One command: its first byte says the framing (clamd's z: NUL-terminated, n: newline). */
static int command(eddy_bufreader *br)
{
    char first;
    size_t got = 0;
    int rc = eddy_read_exactly(br, &first, 1, &got);
    if (rc == -EPIPE) return 0; /* closed without a command: nothing to answer */
    if (rc < 0) return rc;
    /* Anything else is not a command (a bare word ends in a newline there, so answer in
     * that form). */
    bool framed = first == 'z' || first == 'n';
    char term = first == 'z' ? '\0' : '\n';
    eddy_span sp;
    ssize_t n = framed ? eddy_read_suffixed(br, &term, 1, CMD_MAX + 1, &sp) : -EPROTO;
    if (n == 0 || n == -EPIPE) return 0; /* closed in the middle of the command */
    if (n < 0 && n != -EMSGSIZE && n != -EPROTO) return (int)n;
    char cmd[CMD_MAX + 1] = "";
    if (n > 0) {
        memcpy(cmd, sp.data, sp.len);
        cmd[sp.len] = 0;
    }
    if (n > 0 && strcmp(cmd, "INSTREAM") == 0) return instream(br, term);
    if (n > 0 && strcmp(cmd, "PING") == 0) return reply(br->stream, "PONG", term);
    rc = reply(br->stream, "UNKNOWN COMMAND", term);
    if (rc == 0) drain(br);
    return rc;
}

static int serve_conn(void *arg)
{
    eddy_stream *s = arg;
    eddy_bufreader br;
    int rc = eddy_bufreader_init(&br, s, NULL, 0); /* 8 KiB, off the task's stack */
    if (rc == 0) {
        EDDY_FAIL_AFTER(IDLE_TIMEOUT) { rc = command(&br); }
        eddy_bufreader_destroy(&br);
    }
    if (rc < 0 && rc != -ECANCELED) {
        char peer[64] = "?";
        eddy_sockaddr pa;
        if (eddy_stream_peer_addr(s, &pa) == 0) (void)eddy_sockaddr_format(&pa, peer, sizeof peer);
        fprintf(stderr, "fake_clamd: connection from %s: %s\n", peer, eddy_strerror(rc));
    }
    if ((rc = eddy_stream_close(s)) < 0) /* s is gone all the same (closed from a task) */
        fprintf(stderr, "fake_clamd: closing a connection: %s\n", strerror(-rc));
    return 0; /* one connection's trouble is not the server's */
}

static int amain(void *arg)
{
    uint16_t port = *(uint16_t *)arg;
    eddy_listener *l;
    int rc = eddy_tcp_listen("127.0.0.1", port, NULL, &l);
    if (rc < 0) {
        fprintf(stderr, "fake_clamd: cannot listen on 127.0.0.1 port %u: %s\n", port, eddy_strerror(rc));
        return rc;
    }
    eddy_sockaddr a;
    char where[64] = "?";
    if (eddy_listener_local_addr(l, &a) == 0) (void)eddy_sockaddr_format(&a, where, sizeof where);
    printf("Server listening at %s\n", where);
    fflush(stdout);
    int nrc;
    EDDY_NURSERY(n, &nrc) {
        for (;;) {
            eddy_stream *c;
            rc = eddy_listener_accept(l, &c, NULL);
            if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
                /* Out of descriptors or memory: let connections finish, then try again. */
                fprintf(stderr, "fake_clamd: accept: %s (pausing)\n", eddy_strerror(rc));
                rc = eddy_sleep(EDDY_MSEC(100));
                if (rc < 0) break;
                continue;
            }
            if (rc < 0) break;
            rc = eddy_spawn(n, serve_conn, c, .name = "conn");
            if (rc < 0) {
                fprintf(stderr, "fake_clamd: cannot start a connection task: %s\n", eddy_strerror(rc));
                eddy_stream_abort(c);
            }
        }
        /* Only a signal cancels this task: stop accepting; the nursery's cancellation
         * (it is inside the cancelled root scope) ends the connection tasks. */
    }
    int crc = eddy_listener_close(l); /* from a task: l is gone whatever it returns */
    if (crc < 0) fprintf(stderr, "fake_clamd: closing the listener: %s\n", strerror(-crc));
    if (rc == -ECANCELED) rc = 0;
    if (rc < 0) fprintf(stderr, "fake_clamd: accept: %s\n", eddy_strerror(rc));
    return rc < 0 ? rc : nrc;
}

int main(int argc, char **argv)
{
    uint16_t port = 3310;
    if (argc > 2) {
        fprintf(stderr, "usage: fake_clamd [PORT]   (default 3310, 0 = any free port)\n");
        return 2;
    }
    if (argc == 2) {
        char *end;
        unsigned long p = strtoul(argv[1], &end, 10);
        if (!*argv[1] || *end || p > 65535) {
            fprintf(stderr, "fake_clamd: bad port \"%s\" (0..65535)\n", argv[1]);
            return 2;
        }
        port = (uint16_t)p;
    }
    int rc = eddy_run(amain, &port);
    if (rc < 0) {
        fprintf(stderr, "fake_clamd: %s\n", eddy_strerror(rc));
        return 1;
    }
    return 0;
}
