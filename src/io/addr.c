/* eddy io: socket addresses — parse numeric hosts, format for logs. */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
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

int eddy_sockaddr_format(const eddy_sockaddr *a, char *buf, size_t len)
{
    if (!a || (!buf && len)) return -EINVAL;
    char h[INET6_ADDRSTRLEN];
    switch (a->ss.ss_family) {
    case AF_INET: {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &a4->sin_addr, h, sizeof h);
        return snprintf(buf, len, "%s:%u", h, ntohs(a4->sin_port));
    }
    case AF_INET6: {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &a6->sin6_addr, h, sizeof h);
        if (a6->sin6_scope_id) {
            /* Keep the scope, so that parsing the text gives the same address back. */
            char ifn[IF_NAMESIZE];
            if (if_indextoname(a6->sin6_scope_id, ifn))
                return snprintf(buf, len, "[%s%%%s]:%u", h, ifn, ntohs(a6->sin6_port));
            return snprintf(buf, len, "[%s%%%u]:%u", h, (unsigned)a6->sin6_scope_id,
                            ntohs(a6->sin6_port));
        }
        return snprintf(buf, len, "[%s]:%u", h, ntohs(a6->sin6_port));
    }
    case AF_UNIX: {
        const struct sockaddr_un *u = (const struct sockaddr_un *)&a->ss;
        size_t plen = a->len > offsetof(struct sockaddr_un, sun_path)
                          ? a->len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (plen > sizeof u->sun_path) plen = sizeof u->sun_path;
        if (plen == 0) return snprintf(buf, len, "(unnamed)");
        if (u->sun_path[0] == 0) /* abstract: length-delimited, not NUL-terminated */
            return snprintf(buf, len, "@%.*s", (int)(plen - 1), u->sun_path + 1);
        return snprintf(buf, len, "%.*s", (int)strnlen(u->sun_path, plen), u->sun_path);
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
