/* eddy io: socket addresses — parse numeric hosts, format for logs. */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>

#include "io/io.h"
#include "loop/sys.h"

int eddy_sockaddr_parse(const char *host, uint16_t port, eddy_sockaddr *out)
{
    if (!out) return -EINVAL;
    memset(out, 0, sizeof *out);
    if (!host || !*host) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_any;
        a6->sin6_port = htons(port);
        out->len = sizeof *a6;
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        out->len = sizeof *a4;
        return 0;
    }
    /* IPv6, optionally in brackets and with a %scope (interface name or number). */
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 4];
    size_t n = strlen(host);
    if (n >= sizeof buf) return -EINVAL;
    memcpy(buf, host, n + 1);
    char *p = buf;
    if (*p == '[') {
        if (n < 2 || buf[n - 1] != ']') return -EINVAL;
        buf[n - 1] = 0;
        p++;
    }
    char *scope = strchr(p, '%');
    if (scope) *scope++ = 0;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
    if (inet_pton(AF_INET6, p, &a6->sin6_addr) != 1) return -EINVAL;
    if (scope) {
        /* Digits only: strtoul alone would take "-1", " 7" and values past 32 bits. */
        size_t nd = strspn(scope, "0123456789");
        if (nd > 0 && scope[nd] == 0) {
            char *end;
            errno = 0;
            unsigned long long id = strtoull(scope, &end, 10);
            if (errno || id > UINT32_MAX) return -EINVAL;
            a6->sin6_scope_id = (uint32_t)id;
        } else if (!(a6->sin6_scope_id = if_nametoindex(scope))) {
            return -EINVAL;
        }
    }
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    out->len = sizeof *a6;
    return 0;
}

/* ---- formatting ----
 * By hand rather than with snprintf and inet_ntop: glibc's printf machinery takes ~2 KiB of
 * stack (inet_ntop's IPv4 part is a sprintf too), and servers format their peer's address
 * from the connection's task, whose stack pages stay resident while the connection lives. A
 * handler that logs its peer then cost a second stack page per connection (examples/echo_stream:
 * 19% of 10,000 connections did); this takes ~100 bytes. The output is inet_ntop's, digit for
 * digit (tests/test_tcp.c compares them over many addresses). */
typedef struct fmt_out {
    char *buf;
    size_t len, at; /* at: what the whole text needs, as snprintf counts */
} fmt_out;

static void put_c(fmt_out *o, char c)
{
    if (o->at + 1 < o->len) o->buf[o->at] = c;
    o->at++;
}

static void put_s(fmt_out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) put_c(o, s[i]);
}

static void put_u(fmt_out *o, unsigned long v, unsigned base)
{
    char d[24];
    size_t n = 0;
    do {
        d[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n) put_c(o, d[--n]);
}

static void put_ip4(fmt_out *o, const unsigned char *b)
{
    for (int i = 0; i < 4; i++) {
        if (i) put_c(o, '.');
        put_u(o, b[i], 10);
    }
}

/* inet_ntop's rules (RFC 5952 as glibc applies them): the longest run of two or more zero
 * groups (the first of equal ones) becomes "::"; ::a.b.c.d and ::ffff:a.b.c.d keep the dotted
 * IPv4 tail. */
static void put_ip6(fmt_out *o, const unsigned char *b)
{
    unsigned w[8];
    for (int i = 0; i < 8; i++) w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i <= 8; i++) {
        if (i < 8 && w[i] == 0) {
            if (cur < 0) cur = i, cur_len = 0;
            cur_len++;
        } else if (cur >= 0) {
            if (cur_len > best_len) best = cur, best_len = cur_len;
            cur = -1;
        }
    }
    if (best_len < 2) best = -1;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best) put_c(o, ':');
            continue;
        }
        if (i) put_c(o, ':');
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
            put_ip4(o, b + 12);
            return;
        }
        put_u(o, w[i], 16);
    }
    if (best >= 0 && best + best_len == 8) put_c(o, ':');
}

static int fmt_end(fmt_out *o)
{
    if (o->len) o->buf[o->at < o->len ? o->at : o->len - 1] = 0;
    return o->at > INT32_MAX ? INT32_MAX : (int)o->at;
}

int eddy_sockaddr_format(const eddy_sockaddr *a, char *buf, size_t len)
{
    if (!a || (!buf && len)) return -EINVAL;
    fmt_out o = {buf, len, 0};
    switch (a->ss.ss_family) {
    case AF_INET: {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->ss;
        put_ip4(&o, (const unsigned char *)&a4->sin_addr);
        put_c(&o, ':');
        put_u(&o, ntohs(a4->sin_port), 10);
        return fmt_end(&o);
    }
    case AF_INET6: {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a->ss;
        put_c(&o, '[');
        put_ip6(&o, a6->sin6_addr.s6_addr);
        if (a6->sin6_scope_id) {
            /* Keep the scope, so that parsing the text gives the same address back. */
            char ifn[IF_NAMESIZE];
            put_c(&o, '%');
            if (if_indextoname(a6->sin6_scope_id, ifn))
                put_s(&o, ifn, strlen(ifn));
            else
                put_u(&o, a6->sin6_scope_id, 10);
        }
        put_s(&o, "]:", 2);
        put_u(&o, ntohs(a6->sin6_port), 10);
        return fmt_end(&o);
    }
    case AF_UNIX: {
        const struct sockaddr_un *u = (const struct sockaddr_un *)&a->ss;
        size_t plen = a->len > offsetof(struct sockaddr_un, sun_path)
                          ? a->len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (plen > sizeof u->sun_path) plen = sizeof u->sun_path;
        if (plen == 0) {
            put_s(&o, "(unnamed)", 9);
        } else if (u->sun_path[0] == 0) { /* abstract: length-delimited, not NUL-terminated */
            put_c(&o, '@');
            put_s(&o, u->sun_path + 1, strnlen(u->sun_path + 1, plen - 1));
        } else {
            put_s(&o, u->sun_path, strnlen(u->sun_path, plen));
        }
        return fmt_end(&o);
    }
    default:
        if (len) buf[0] = 0;
        return -EAFNOSUPPORT;
    }
}

uint16_t eddy_sockaddr_port(const eddy_sockaddr *a)
{
    if (!a) return 0;
    if (a->ss.ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return 0;
}

int eddy__fd_addr(int fd, eddy_sockaddr *out, bool peer)
{
    memset(out, 0, sizeof *out);
    out->len = sizeof out->ss;
    int rc = peer ? eddy__sys_getpeername(fd, (struct sockaddr *)&out->ss, &out->len)
                  : eddy__sys_getsockname(fd, (struct sockaddr *)&out->ss, &out->len);
    return rc < 0 ? -errno : 0;
}

static int sock_addr(eddy_stream *s, eddy_sockaddr *out, bool peer)
{
    if (!s || !out) return -EINVAL;
    int fd = eddy_stream_fd(s);
    if (fd < 0) return -ENOTSOCK;
    return eddy__fd_addr(fd, out, peer);
}

int eddy_stream_local_addr(eddy_stream *s, eddy_sockaddr *out) { return sock_addr(s, out, false); }
int eddy_stream_peer_addr(eddy_stream *s, eddy_sockaddr *out) { return sock_addr(s, out, true); }
