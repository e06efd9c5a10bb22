/* eddy io: name resolution front end (N11): numeric hosts, the per-loop resolver hook.
 * Names go to the default resolver (dns_cares.c when c-ares is built in). */
#include <string.h>
#include <strings.h>

#include "io/io.h"

/* The hook belongs to the loop, not the thread: a later loop on this thread starts with the
 * default resolver (r may not outlive the loop it was set for). */
static __thread const eddy_resolver *tl_resolver;
static __thread eddy__exit_hook tl_resolver_reset;

static void resolver_reset(eddy__exit_hook *h)
{
    (void)h;
    tl_resolver = NULL;
}

int eddy_loop_set_resolver(const eddy_resolver *r)
{
    eddy_loop *l = eddy__loop();
    if (!l) return -EPERM;
    if (r && !eddy__linked(&tl_resolver_reset.link)) {
        tl_resolver_reset.fn = resolver_reset;
        eddy__loop_at_exit(l, &tl_resolver_reset);
    }
    tl_resolver = r;
    return 0;
}

/* "localhost" and its subdomains are loopback (RFC 6761), whatever the resolver says. */
static int resolve_localhost(uint16_t port, int family, eddy_sockaddr *out, size_t max)
{
    size_t n = 0;
    if (family != AF_INET && n < max && eddy_sockaddr_parse("::1", port, &out[n]) == 0) n++;
    if (family != AF_INET6 && n < max && eddy_sockaddr_parse("127.0.0.1", port, &out[n]) == 0) n++;
    return (int)n;
}

static bool is_localhost(const char *h)
{
    size_t n = strlen(h);
    if (n && h[n - 1] == '.') n--;
    if (n == 9 && strncasecmp(h, "localhost", 9) == 0) return true;
    return n > 10 && strncasecmp(h + n - 10, ".localhost", 10) == 0;
}

int eddy_resolve(const char *host, uint16_t port, int family, eddy_sockaddr *out, size_t max)
{
    if (!host || !*host || !out || max == 0) return -EINVAL;
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) return -EAFNOSUPPORT;
    eddy_loop *l = eddy__loop();
    if (!l || l->in_callback || !l->current) return -EPERM;
    int c = eddy__cancel_code(l->current);
    if (c) return c;
    int rc;
    if (eddy_sockaddr_parse(host, port, &out[0]) == 0) {
        int f = out[0].ss.ss_family;
        rc = family != AF_UNSPEC && f != family ? EDDY_ENOADDR : 1;
    } else if (tl_resolver) {
        rc = tl_resolver->resolve(tl_resolver->ctx, host, port, family, out, max);
    } else if (is_localhost(host)) {
        rc = resolve_localhost(port, family, out, max);
    } else {
        rc = eddy__resolve_default(host, port, family, out, max);
    }
    /* A numeric or local answer (or a hook's, or a cached one) never suspends: the budget. */
    return eddy__coop_done(l->current, rc);
}
