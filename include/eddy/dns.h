/* eddy — name resolution (N11).
 *
 * eddy_resolve turns a host name into socket addresses without blocking the loop thread.
 * Numeric addresses never leave the process. The resolver used by a loop can be replaced
 * (eddy_resolver_set), so tests inject answers without a network. */
#ifndef EDDY_DNS_H
#define EDDY_DNS_H

#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A resolver: fill out[0..max) with addresses of host (port already set in each), of family
 * AF_INET, AF_INET6 or AF_UNSPEC (both), and return how many (> 0) or a negative errno as
 * documented for eddy_resolve. Called from a task; may block it (not the loop). */
typedef struct eddy_resolver {
    int (*resolve)(void *ctx, const char *host, uint16_t port, int family, eddy_sockaddr *out,
                   size_t max);
    void *ctx;
} eddy_resolver;

/* Resolve host for port, suspending the calling task only. Numeric hosts ("10.0.0.1", "::1",
 * "[::1]") are parsed directly. Order: as the resolver returns them (the system's address
 * selection for the default resolver); eddy_tcp_connect interleaves families itself.
 * Returns the number of addresses written (1..max); -ENOENT if the name does not exist or has
 * no address of that family; -EAGAIN on a temporary failure (no answer from any server);
 * -ECONNREFUSED if the servers refused; -EIO for a malformed answer; -EAFNOSUPPORT for a bad
 * family; -EINVAL for NULL/empty host, NULL out or max == 0; -ENOMEM;
 * -ECANCELED/-ETIMEDOUT if cancelled (the query is abandoned); -EPERM outside a task. */
EDDY_API EDDY_WUR int eddy_resolve(const char *host, uint16_t port, int family, eddy_sockaddr *out,
                                   size_t max);

/* Use r for every eddy_resolve on this loop (the thread's loop), NULL to restore the default.
 * r must stay valid while set. Returns 0; -EPERM outside a loop thread. */
EDDY_API EDDY_WUR int eddy_resolver_set(const eddy_resolver *r);

#ifdef __cplusplus
}
#endif
#endif
