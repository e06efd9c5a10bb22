/* clamd_scan — scan a file with a clamd server through its INSTREAM command:
 *
 *   clamd_scan FILE [HOST [PORT]]        (default 127.0.0.1 3310)
 *
 * Sends "zINSTREAM\0", then the file in chunks, each prefixed by its length as 4 bytes
 * big-endian, then a zero length; clamd answers one line ("stream: OK" or "stream: NAME
 * FOUND", NUL-terminated for a z command). Prints "No virus. Everything is safe." (exit 0)
 * or "Found a virus! NAME" (exit 1); any error — no server, a reply that is not one of
 * those, the connection closing early, the server's "INSTREAM size limit exceeded" —
 * is a message on stderr and exit status 2.
 *
 * The whole exchange runs under one fail-after scope (30 s): a server that stops answering
 * gives -ETIMEDOUT in whatever call is waiting, and everything unwinds through the normal
 * error paths. Try it against examples/fake_clamd. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy.h"

#define TIMEOUT_S 30
#define CHUNK 4096       /* bytes of the file per INSTREAM chunk */
#define REPLY_MAX 1024   /* a longer reply is refused, not buffered without bound */

enum { EXIT_CLEAN = 0, EXIT_VIRUS = 1, EXIT_ERROR = 2 };

struct scan {
    const char *file, *host;
    uint16_t port;
    int fd;
    int result; /* EXIT_* */
};

static void fail(const char *fmt, const char *a, int err)
{
    fprintf(stderr, "clamd_scan: ");
    fprintf(stderr, fmt, a);
    if (err) fprintf(stderr, ": %s", err == -ETIMEDOUT ? "timed out" : eddy_strerror(err));
    fputc('\n', stderr);
}

/* Connect to host:port: a numeric address directly, a name through eddy_tcp_connect
 * (resolution, then Happy Eyeballs over the addresses). Returns 0 and *out, or an error. */
static int connect_to(const char *host, uint16_t port, eddy_stream **out)
{
    eddy_sockaddr a;
    if (eddy_sockaddr_parse(host, port, &a) == 0) return eddy_tcp_connect_addr(&a, out);
    return eddy_tcp_connect(host, port, NULL, out);
}

/* The command, the file as INSTREAM chunks, then the terminator. Returns 0, a negative
 * errno from the connection, or 1 for a file read error (reported here). The file is read
 * as a stream too, so a pipe ("clamd_scan /dev/stdin") waits without blocking the loop and
 * the time limit covers it. */
static int send_stream(eddy_stream *s, eddy_stream *in, const char *file)
{
    static const char cmd[] = "zINSTREAM"; /* sizeof includes the NUL clamd expects */
    int rc = eddy_stream_write_all(s, cmd, sizeof cmd);
    if (rc < 0) return rc;
    unsigned char buf[4 + CHUNK];
    for (;;) {
        ssize_t n = eddy_stream_read(in, buf + 4, CHUNK);
        if (n == -ETIMEDOUT || n == -ECANCELED) return (int)n;
        if (n < 0) {
            fail("reading %s", file, (int)n);
            return 1;
        }
        buf[0] = (unsigned char)((size_t)n >> 24);
        buf[1] = (unsigned char)((size_t)n >> 16);
        buf[2] = (unsigned char)((size_t)n >> 8);
        buf[3] = (unsigned char)n;
        rc = eddy_stream_write_all(s, buf, 4 + (size_t)n); /* n == 0: the terminator */
        if (rc < 0 || n == 0) return rc;
    }
}

/* Show a reply in a message safely: control bytes from the peer become '?'. */
static void sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f) *s = '?';
}

/* Read and judge the reply line: EXIT_CLEAN, EXIT_VIRUS (the name in name[REPLY_MAX + 1]),
 * EXIT_ERROR (already reported), or a negative errno from the stream (not reported). */
static int read_reply(eddy_bufreader *br, char *name)
{
    static const eddy_sep ends[] = {{"\0", 1}, {"\n", 1}}; /* z commands: NUL; n: newline */
    eddy_span sp;
    ssize_t n = eddy_read_until(br, ends, 2, REPLY_MAX + 1, &sp);
    if (n == -EMSGSIZE) {
        fail("reply longer than %s bytes", "1024", 0);
        return EXIT_ERROR;
    }
    if (n == 0 || n == -EPIPE) {
        fail("%s", n ? "connection closed in the middle of the reply"
                     : "connection closed before a reply", 0);
        return EXIT_ERROR;
    }
    if (n < 0) return (int)n;
    char line[REPLY_MAX + 1];
    n = (ssize_t)sp.len - 1; /* without the separator */
    memcpy(line, sp.data, (size_t)n);
    line[n] = 0;
    sanitize(line);
    static const char prefix[] = "stream: ";
    const size_t pl = sizeof prefix - 1, sl = 6; /* strlen(" FOUND"), strlen(" ERROR") */
    if (strcmp(line, "stream: OK") == 0) return EXIT_CLEAN;
    if ((size_t)n > pl + sl && strncmp(line, prefix, pl) == 0 &&
        strcmp(line + n - sl, " FOUND") == 0) {
        memcpy(name, line + pl, (size_t)n - sl - pl);
        name[(size_t)n - sl - pl] = 0;
        return EXIT_VIRUS;
    }
    if ((size_t)n > sl && strcmp(line + n - sl, " ERROR") == 0) {
        line[n - sl] = 0; /* "INSTREAM size limit exceeded." and clamd's other errors */
        fail("server error: %s", line, 0);
    } else {
        fail("unexpected reply from the server: \"%s\"", line, 0);
    }
    return EXIT_ERROR;
}

static void exchange(struct scan *sc)
{
    eddy_stream *s;
    int rc = connect_to(sc->host, sc->port, &s);
    if (rc < 0) {
        char where[300];
        snprintf(where, sizeof where, "%s port %u", sc->host, sc->port);
        fail("cannot connect to clamd at %s", where, rc);
        return;
    }
    char rbuf[REPLY_MAX + 1];
    eddy_bufreader br;
    eddy_stream *in = NULL;
    rc = eddy_bufreader_init(&br, s, rbuf, sizeof rbuf);
    if (rc == 0) rc = eddy_fd_stream(sc->fd, EDDY_FD_NOCLOSE, &in);
    if (rc == 0) rc = send_stream(s, in, sc->file);
    int crc = eddy_stream_close(in); /* NOCLOSE: the descriptor stays open, its flags restored */
    if (rc == 0) rc = crc;
    char name[REPLY_MAX + 1];
    if (rc == 0) {
        int v = read_reply(&br, name);
        if (v == EXIT_CLEAN) printf("No virus. Everything is safe.\n");
        if (v == EXIT_VIRUS) printf("Found a virus! %s\n", name);
        if (v == -ECONNRESET) fail("%s", "connection closed before a reply", v);
        else if (v < 0) fail("%s", "reading the reply", v);
        sc->result = v < 0 ? EXIT_ERROR : v;
    } else if (rc == -EPIPE || rc == -ECONNRESET) {
        /* The server stopped taking data; it may have said why before it closed. Either
         * way a file that was not sent whole has no verdict. */
        if (read_reply(&br, name) != EXIT_ERROR) fail("%s", "connection closed while sending", rc);
    } else if (rc < 0) {
        fail("%s", "sending the file", rc);
    }
    /* One request per connection. From a task the close ends s whatever it returns; an
     * error there (-EIO) is worth a line but does not undo the verdict. */
    if ((crc = eddy_stream_close(s)) < 0) fail("%s", "closing the connection", crc);
}

static int amain(void *arg)
{
    struct scan *sc = arg;
    sc->result = EXIT_ERROR;
    EDDY_FAIL_AFTER(EDDY_SEC(TIMEOUT_S)) { exchange(sc); }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: clamd_scan FILE [HOST [PORT]]   (default 127.0.0.1 3310)\n");
        return EXIT_ERROR;
    }
    struct scan sc = {.file = argv[1], .host = argc > 2 ? argv[2] : "127.0.0.1", .port = 3310};
    if (argc > 3) {
        char *end;
        unsigned long p = strtoul(argv[3], &end, 10);
        if (!*argv[3] || *end || p == 0 || p > 65535) {
            fprintf(stderr, "clamd_scan: bad port \"%s\" (1..65535)\n", argv[3]);
            return EXIT_ERROR;
        }
        sc.port = (uint16_t)p;
    }
    sc.fd = open(sc.file, O_RDONLY | O_CLOEXEC);
    if (sc.fd < 0) {
        fprintf(stderr, "clamd_scan: cannot open %s: %s\n", sc.file, eddy_strerror(errno));
        return EXIT_ERROR;
    }
    int rc = eddy_run(amain, &sc);
    close(sc.fd);
    if (rc < 0) {
        fprintf(stderr, "clamd_scan: %s\n", eddy_strerror(rc));
        return EXIT_ERROR;
    }
    fflush(stdout);
    return sc.result;
}
