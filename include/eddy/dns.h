/* eddy — name resolution (N11).
 *
 * eddy_resolve turns a host name into socket addresses without blocking the loop thread.
 * Numeric addresses never leave the process. The resolver used by a loop can be replaced
 * (eddy_loop_set_resolver), so tests inject answers without a network. */
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
 * "[::1]") are parsed directly; "localhost" and names under ".localhost" are the loopback
 * addresses (RFC 6761) unless a resolver is set (eddy_loop_set_resolver), which gets every other
 * name. The default resolver is c-ares when eddy is built with it (otherwise /etc/hosts only):
 * it runs on the loop (no thread, no getaddrinfo) and follows the system's configuration as
 * the libc resolver does: /etc/hosts and DNS in the order /etc/nsswitch.conf gives, servers,
 * search list, ndots, timeout and attempts from /etc/resolv.conf (read when the loop first
 * resolves a name; one c-ares channel per loop, released when the loop ends).
 * Order: as the resolver returns them (the system's address selection, RFC 6724, for the
 * default resolver); eddy_tcp_connect interleaves families itself.
 * Returns the number of addresses written (1..max: the first max when there are more);
 * -ENOENT if the name does not exist (NXDOMAIN) or has no address of that family; -EAGAIN on a
 * temporary failure: no server answered within resolv.conf's timeout and attempts (or a server
 * reported SERVFAIL, for c-ares versions that pass that on); -ECONNREFUSED if no server could
 * be reached (refused, unreachable, no socket to be had) or every one refused or failed the
 * query; -EIO for a malformed answer, another server error, or a configuration c-ares cannot
 * use; -EAFNOSUPPORT for a bad family; -EINVAL for NULL/empty host, NULL out, max == 0, or a
 * host that cannot be a DNS name (a label over 63 bytes); -ENOMEM; -EMFILE/-ENFILE and the
 * other errors of eddy_io_start when the resolver's own descriptors cannot be had;
 * -ECANCELED/-ETIMEDOUT if cancelled: the call returns at once and leaves its query behind,
 * abandoned (c-ares finishes or times it out in the background and drops the answer; nothing
 * of the caller is touched); -EPERM outside a task (callback context included). */
EDDY_API EDDY_WUR int eddy_resolve(const char *host, uint16_t port, int family, eddy_sockaddr *out,
                                   size_t max);

/* Use r for every eddy_resolve on this loop (the thread's loop), NULL to restore the default.
 * r must stay valid while set; it is unset when the loop ends (a later loop on the thread
 * starts with the default). Returns 0; -EPERM outside a loop thread. */
EDDY_API EDDY_WUR int eddy_loop_set_resolver(const eddy_resolver *r);

#ifdef __cplusplus
}
#endif
#endif
