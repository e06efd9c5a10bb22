/* A fake DNS server on 127.0.0.1 for tests (test_dns.c, the fault sweep's "dns" scenario):
 * a UDP socket answering queries built here by hand from a small zone, or never answering,
 * or answering garbage, run as a task; and a TCP socket on the same port (for truncated
 * answers). It makes its own system calls directly, so a fault injected into eddy's (loop/sys.h)
 * never hits the server. use_server points the loop's c-ares channel at it
 * (eddy__dns_configure, an internal hook). Include once per test file. */
#ifndef EDDY_TESTS_DNS_FAKE_H
#define EDDY_TESTS_DNS_FAKE_H

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/test.h"
#include "io/io.h"

/* ---- a fake DNS server ---- */

enum { T_A = 1, T_AAAA = 28 };

typedef struct rr {
    const char *name;
    int type;
    const char *addr;
} rr;

enum {
    M_ANSWER,   /* from the zone: records, NODATA for a known name, else NXDOMAIN */
    M_SILENT,   /* never answers */
    M_HOLD,     /* keeps queries until fake_release, then answers them from the zone */
    M_BADRR,    /* right id and question, an answer record cut short */
    M_JUNK,     /* random bytes, then (if junk_then_answer) the real answer */
    M_REFUSED,  /* rcode 5 */
    M_SERVFAIL, /* rcode 2 */
    M_FORMERR,  /* rcode 1 */
    M_TC,       /* truncated: c-ares retries over TCP */
};

typedef struct held {
    unsigned char buf[512];
    size_t len;
    struct sockaddr_in from;
} held;

typedef struct fake_dns {
    int fd, tcp_fd;
    uint16_t port;
    int mode;
    bool junk_then_answer;
    const rr *zone;
    size_t nzone;
    int queries, tcp_queries;
    eddy_event got; /* set at the first query */
    held held[8];
    int nheld;
    char last_name[256];
} fake_dns;

/* The query's name (dotted, lower case) and type; the end of its question in *qend. */
static bool parse_query(const unsigned char *q, size_t len, char *name, int *type, size_t *qend)
{
    if (len < 12) return false;
    size_t i = 12, n = 0;
    while (i < len && q[i]) {
        size_t l = q[i++];
        if (l > 63 || i + l > len || n + l + 2 > 255) return false;
        if (n) name[n++] = '.';
        for (size_t k = 0; k < l; k++) name[n++] = (char)tolower(q[i + k]);
        i += l;
    }
    name[n] = 0;
    if (i + 5 > len) return false;
    i++;
    *type = q[i] << 8 | q[i + 1];
    *qend = i + 4;
    return true;
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/* The answer to query q from the zone (or with rcode forced). Returns its length. */
static size_t build_reply(const fake_dns *s, const unsigned char *q, size_t len, unsigned char *out,
                          int rcode, bool tc)
{
    char name[256];
    int type;
    size_t qend;
    if (!parse_query(q, len, name, &type, &qend)) return 0;
    memcpy(out, q, qend);
    out[2] = (unsigned char)(0x81 | (tc ? 0x02 : 0)); /* QR, RD (+TC) */
    out[3] = 0x80;                                    /* RA */
    put16(out + 6, 0);
    put16(out + 8, 0);
    put16(out + 10, 0);
    size_t o = qend, an = 0;
    bool known = false;
    for (size_t i = 0; rcode < 0 && !tc && i < s->nzone; i++) {
        if (strcasecmp(s->zone[i].name, name) != 0) continue;
        known = true;
        if (s->zone[i].type != type) continue;
        put16(out + o, 0xC00C); /* the name: a pointer to the question's */
        put16(out + o + 2, (unsigned)type);
        put16(out + o + 4, 1);
        memcpy(out + o + 6, "\0\0\1\0", 4); /* TTL 256 */
        int fam = type == T_A ? AF_INET : AF_INET6;
        size_t alen = type == T_A ? 4 : 16;
        put16(out + o + 10, (unsigned)alen);
        if (inet_pton(fam, s->zone[i].addr, out + o + 12) != 1) abort();
        o += 12 + alen;
        an++;
    }
    put16(out + 6, (unsigned)an);
    if (rcode < 0) rcode = known ? 0 : 3; /* NOERROR (NODATA if no record) or NXDOMAIN */
    out[3] |= (unsigned char)rcode;
    return o;
}

static void send_to(fake_dns *s, const void *buf, size_t len, const struct sockaddr_in *to)
{
    ssize_t r = sendto(s->fd, buf, len, 0, (const struct sockaddr *)to, sizeof *to);
    if (r != (ssize_t)len) abort(); /* loopback: a short send would be a broken test */
}

static void fake_answer(fake_dns *s, const unsigned char *q, size_t len, const struct sockaddr_in *from)
{
    unsigned char out[1024];
    size_t n = 0;
    int type;
    size_t qend;
    if (!parse_query(q, len, s->last_name, &type, &qend)) return;
    switch (s->mode) {
    case M_SILENT: return;
    case M_HOLD:
        if (s->nheld < 8) {
            held *h = &s->held[s->nheld++];
            memcpy(h->buf, q, len);
            h->len = len;
            h->from = *from;
        }
        return;
    case M_BADRR:
        n = build_reply(s, q, len, out, 0, false);
        put16(out + 6, 1);
        memcpy(out + n, "\xC0\x0C\x00\x01\x00\x01\x00", 7); /* stops inside the TTL */
        n += 7;
        break;
    case M_JUNK: {
        unsigned char junk[40];
        for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 37 + 11);
        send_to(s, junk, sizeof junk, from);
        send_to(s, junk, 5, from); /* shorter than a header */
        if (!s->junk_then_answer) return;
        n = build_reply(s, q, len, out, -1, false);
        break;
    }
    case M_REFUSED: n = build_reply(s, q, len, out, 5, false); break;
    case M_SERVFAIL: n = build_reply(s, q, len, out, 2, false); break;
    case M_FORMERR: n = build_reply(s, q, len, out, 1, false); break;
    case M_TC: n = build_reply(s, q, len, out, -1, true); break;
    default: n = build_reply(s, q, len, out, -1, false); break;
    }
    if (n) send_to(s, out, n, from);
}

static int fake_serve(void *arg)
{
    fake_dns *s = arg;
    for (;;) {
        int rc = eddy_wait_fd(s->fd, EDDY_READ);
        if (rc < 0) return rc == -ECANCELED ? 0 : rc;
        unsigned char q[512];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n;
        while ((n = recvfrom(s->fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl)) > 0) {
            s->queries++;
            fake_answer(s, q, (size_t)n, &from);
            eddy_event_set(&s->got);
            fl = sizeof from;
        }
    }
}

/* Answer the held queries now, in the order they came. */
__attribute__((unused)) static void fake_release(fake_dns *s)
{
    unsigned char out[1024];
    for (int i = 0; i < s->nheld; i++) {
        size_t n = build_reply(s, s->held[i].buf, s->held[i].len, out, -1, false);
        send_to(s, out, n, &s->held[i].from);
    }
    s->nheld = 0;
}

/* Bind the server's UDP socket (and a TCP socket on the same port that never listens, so a
 * TCP connection to it is refused and no one else can take the port). */
static void fake_open(fake_dns *s, int mode, const rr *zone, size_t nzone)
{
    *s = (fake_dns){.mode = mode, .zone = zone, .nzone = nzone};
    eddy_event_init(&s->got);
    /* The kernel picks a free UDP port; the same TCP port may be taken: then try another. */
    for (int attempt = 0;; attempt++) {
        EDDY_CHECK(attempt < 50);
        s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        EDDY_CHECK(s->fd >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        EDDY_OK(bind(s->fd, (struct sockaddr *)&a, sizeof a));
        socklen_t al = sizeof a;
        EDDY_OK(getsockname(s->fd, (struct sockaddr *)&a, &al));
        s->port = ntohs(a.sin_port);
        s->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        EDDY_CHECK(s->tcp_fd >= 0);
        if (bind(s->tcp_fd, (struct sockaddr *)&a, sizeof a) == 0) return;
        EDDY_CHECK_EQ(errno, EADDRINUSE);
        close(s->tcp_fd);
        close(s->fd);
    }
}

/* The TCP side (M_TC with tcp_answers): one connection at a time, queries and answers with
 * their two-byte length prefix. */
static int read_full(int fd, unsigned char *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
        } else if (r == 0) {
            return -EPIPE;
        } else if (errno == EAGAIN) {
            int rc = eddy_wait_fd(fd, EDDY_READ);
            if (rc < 0) return rc;
        } else {
            return -errno;
        }
    }
    return 0;
}

__attribute__((unused)) static int fake_serve_tcp(void *arg)
{
    fake_dns *s = arg;
    for (;;) {
        int rc = eddy_wait_fd(s->tcp_fd, EDDY_READ);
        if (rc < 0) return rc == -ECANCELED ? 0 : rc;
        int c = accept4(s->tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) continue;
        unsigned char len[2], q[512], out[1024];
        while ((rc = read_full(c, len, 2)) == 0) {
            size_t n = (size_t)(len[0] << 8 | len[1]);
            if (n > sizeof q || (rc = read_full(c, q, n)) < 0) break;
            s->tcp_queries++;
            size_t m = build_reply(s, q, n, out + 2, -1, false);
            put16(out, (unsigned)m);
            EDDY_CHECK_EQ(write(c, out, m + 2), (ssize_t)(m + 2)); /* small: fits the buffer */
        }
        eddy_fd_forget(c);
        close(c);
        if (rc == -ECANCELED) return 0;
    }
}

static void fake_close(fake_dns *s)
{
    eddy_fd_forget(s->fd);
    close(s->fd);
    eddy_fd_forget(s->tcp_fd);
    close(s->tcp_fd);
}

/* The loop's channel asks only s (no system configuration). */
__attribute__((unused)) static void use_server(const fake_dns *s, int timeout_ms, int tries)
{
    char csv[64];
    snprintf(csv, sizeof csv, "127.0.0.1:%u", s->port);
    EDDY_OK(eddy__dns_configure(&(eddy__dns_conf){.servers = csv, .timeout_ms = timeout_ms,
                                                   .tries = tries}));
}

#endif
