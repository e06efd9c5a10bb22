/* eddy http client: URLs (RFC 3986) — the absolute http:// and https:// URLs a request names,
 * and the references a Location field holds, resolved against the URL that answered. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/client.h"

void eddy__url_free(eddy__url *u)
{
    if (!u) return;
    free(u->mem);
    memset(u, 0, sizeof *u);
}

static bool scheme_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* reg-name and IPv4 characters (RFC 3986: unreserved, pct-encoded, sub-delims). */
static bool host_char(unsigned char ch)
{
    return isalnum(ch) || strchr("-._~%!$&'()*+,;=", ch) != NULL;
}

int eddy__url_parse(const char *s, size_t n, eddy__url *u)
{
    memset(u, 0, sizeof *u);
    if (!s) return EDDY_EHTTP_BADURL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch == 0x7f) return EDDY_EHTTP_BADURL; /* space, controls, NUL */
    }
    const char *colon = memchr(s, ':', n);
    if (!colon || n - (size_t)(colon - s) < 3 || colon[1] != '/' || colon[2] != '/')
        return EDDY_EHTTP_BADURL;
    size_t sl = (size_t)(colon - s);
    if (scheme_is(s, sl, "http")) u->tls = false;
    else if (scheme_is(s, sl, "https")) u->tls = true;
    else return EDDY_EHTTP_BADURL;

    const char *a = colon + 3, *end = s + n;
    const char *ae = a;
    while (ae < end && *ae != '/' && *ae != '?' && *ae != '#') ae++;
    /* userinfo: up to the last '@' of the authority */
    const char *ui = NULL, *uie = NULL;
    for (const char *p = ae; p > a; p--)
        if (p[-1] == '@') {
            ui = a;
            uie = p - 1;
            a = p;
            break;
        }
    const char *hs, *he, *pe = NULL;
    bool v6 = false;
    if (a < ae && *a == '[') {
        const char *rb = memchr(a, ']', (size_t)(ae - a));
        if (!rb || rb == a + 1) return EDDY_EHTTP_BADURL;
        hs = a + 1;
        he = rb;
        for (const char *p = hs; p < he; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.' && *p != '%')
                return EDDY_EHTTP_BADURL;
        v6 = true;
        pe = rb + 1;
        if (pe < ae && *pe != ':') return EDDY_EHTTP_BADURL;
    } else {
        hs = a;
        he = a;
        while (he < ae && *he != ':') he++;
        pe = he;
        if (he == hs) return EDDY_EHTTP_BADURL;
        for (const char *p = hs; p < he; p++)
            if (!host_char((unsigned char)*p)) return EDDY_EHTTP_BADURL;
    }
    unsigned port = u->tls ? 443 : 80;
    u->default_port = true;
    if (pe < ae) { /* ":" port (empty means the default, RFC 3986 3.2.3) */
        const char *p = pe + 1;
        if (p < ae) {
            port = 0;
            for (; p < ae; p++) {
                if (!isdigit((unsigned char)*p)) return EDDY_EHTTP_BADURL;
                port = port * 10 + (unsigned)(*p - '0');
                if (port > 65535) return EDDY_EHTTP_BADURL;
            }
            if (port == 0) return EDDY_EHTTP_BADURL;
            u->default_port = port == (u->tls ? 443u : 80u);
        }
    }
    u->port = (uint16_t)port;
    u->ipv6 = v6;

    /* path and query, without the fragment; bytes above 0x7f percent-encoded */
    const char *ps = ae, *fe = memchr(ae, '#', (size_t)(end - ae));
    const char *pend = fe ? fe : end;
    size_t tlen = 0;
    for (const char *p = ps; p < pend; p++) tlen += (unsigned char)*p >= 0x80 ? 3 : 1;
    bool add_slash = ps == pend || *ps == '?';
    size_t hl = (size_t)(he - hs), ul = ui ? (size_t)(uie - ui) : 0;
    if (hl > 253) return EDDY_EHTTP_BADURL; /* no DNS name (or address) is longer */
    /* mem: host\0 target\0 userinfo\0 href\0 authority\0 */
    size_t need = hl + 1 + tlen + 2 + ul + 1 + (sl + 3 + hl + 2 + 6 + tlen + 2) + (hl + 2 + 6 + 1);
    char *m = malloc(need);
    if (!m) return -ENOMEM;
    u->mem = m;
    char *host = m;
    for (size_t i = 0; i < hl; i++) host[i] = (char)tolower((unsigned char)hs[i]);
    host[hl] = '\0';
    char *target = host + hl + 1, *t = target;
    if (add_slash) *t++ = '/';
    for (const char *p = ps; p < pend; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch >= 0x80) t += sprintf(t, "%%%02X", ch);
        else *t++ = (char)ch;
    }
    *t++ = '\0';
    char *user = t;
    if (ui) memcpy(user, ui, ul);
    user[ul] = '\0';
    char *auth = user + ul + 1;
    int al = v6 ? sprintf(auth, "[%s]", host) : sprintf(auth, "%s", host);
    if (!u->default_port) al += sprintf(auth + al, ":%u", port);
    char *href = auth + al + 1, *h = href;
    const char *sch = u->tls ? "https://" : "http://";
    size_t l1 = strlen(sch), l2 = (size_t)al, l3 = strlen(target);
    memcpy(h, sch, l1);
    memcpy(h + l1, auth, l2);
    memcpy(h + l1 + l2, target, l3 + 1);
    u->host = host;
    u->target = target;
    u->userinfo = ui ? user : NULL;
    u->authority = auth;
    u->href = href;
    return 0;
}

/* RFC 3986 5.2.4 remove_dot_segments, on the path in[0, n), into out (at least n + 1 bytes).
 * Returns the output length. */
static size_t remove_dots(const char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        if (n - i >= 3 && !strncmp(in + i, "../", 3)) i += 3;
        else if (n - i >= 2 && !strncmp(in + i, "./", 2)) i += 2;
        else if (n - i >= 3 && !strncmp(in + i, "/./", 3)) i += 2;
        else if (n - i == 2 && !strncmp(in + i, "/.", 2)) {
            out[o++] = '/';
            i = n;
        } else if ((n - i >= 4 && !strncmp(in + i, "/../", 4)) ||
                   (n - i == 3 && !strncmp(in + i, "/..", 3))) {
            bool last = n - i == 3;
            i += 3;
            while (o > 0 && out[o - 1] != '/') o--; /* drop the last segment ... */
            if (o > 0) o--;                         /* ... and its slash */
            if (last) out[o++] = '/';
        } else if ((n - i == 1 && in[i] == '.') || (n - i == 2 && !strncmp(in + i, "..", 2))) {
            i = n;
        } else {
            if (in[i] == '/') out[o++] = in[i++];
            while (i < n && in[i] != '/') out[o++] = in[i++];
        }
    }
    return o;
}

int eddy__url_resolve(const eddy__url *base, const char *ref, size_t n, eddy__url *out)
{
    memset(out, 0, sizeof *out);
    const char *hash = memchr(ref, '#', n);
    if (hash) n = (size_t)(hash - ref);
    /* a scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    size_t k = 0;
    if (n && isalpha((unsigned char)ref[0])) {
        k = 1;
        while (k < n && (isalnum((unsigned char)ref[k]) || strchr("+-.", ref[k]))) k++;
        if (k == n || ref[k] != ':') k = 0;
    }
    if (k) return eddy__url_parse(ref, n, out);
    const char *scheme = base->tls ? "https:" : "http:";
    /* the base's path (without its query) */
    const char *bq = strchr(base->target, '?');
    size_t bpl = bq ? (size_t)(bq - base->target) : strlen(base->target);
    size_t cap = strlen(scheme) + strlen(base->authority) + 2 + strlen(base->target) + n * 2 + 8;
    char *buf = malloc(cap), *tmp = malloc(cap);
    if (!buf || !tmp) {
        free(buf);
        free(tmp);
        return -ENOMEM;
    }
    int rc;
    if (n >= 2 && ref[0] == '/' && ref[1] == '/') {
        int l = snprintf(buf, cap, "%s%.*s", scheme, (int)n, ref);
        rc = eddy__url_parse(buf, (size_t)l, out);
    } else {
        /* path = merged and cleaned; query = the reference's, or the base's for "" */
        const char *rq = memchr(ref, '?', n);
        size_t rpl = rq ? (size_t)(rq - ref) : n;
        size_t ml = 0;
        if (rpl == 0) {
            memcpy(tmp, base->target, bpl);
            ml = bpl;
        } else if (ref[0] == '/') {
            memcpy(tmp, ref, rpl);
            ml = rpl;
        } else {
            const char *slash = memrchr(base->target, '/', bpl);
            size_t dl = slash ? (size_t)(slash - base->target) + 1 : 0;
            memcpy(tmp, base->target, dl);
            memcpy(tmp + dl, ref, rpl);
            ml = dl + rpl;
        }
        int l = snprintf(buf, cap, "%s//%s", scheme, base->authority);
        size_t pl = remove_dots(tmp, ml, buf + l);
        l += (int)pl;
        if (pl == 0) buf[l++] = '/';
        if (rq) l += snprintf(buf + l, cap - (size_t)l, "%.*s", (int)(n - rpl), rq);
        else if (n == 0 && bq) l += snprintf(buf + l, cap - (size_t)l, "%s", bq);
        rc = eddy__url_parse(buf, (size_t)l, out);
    }
    free(buf);
    free(tmp);
    return rc;
}
