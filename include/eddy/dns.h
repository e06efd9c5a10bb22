/* eddy — name resolution (N11).
 *
 * eddy_resolve turns a host name into socket addresses without blocking the loop thread.
 * Numeric addresses never leave the process. The default resolver is c-ares, driven by the
 * loop itself (no thread, no getaddrinfo); eddy built without c-ares (CMake option
 * EDDY_WITH_CARES=OFF, or c-ares not found) resolves from /etc/hosts only. The resolver used
 * by a loop can be replaced (eddy_loop_set_resolver), so tests inject answers without a network.
 *
 * Failures a resolver reports are eddy's own codes (error.h), never errno values that could
 * be read as file errors: EDDY_ENONAME, EDDY_ENOADDR, EDDY_EDNSTIMEDOUT, EDDY_EDNSUNREACH,
 * EDDY_EDNSFAIL, EDDY_EDNSBADRESP; eddy_strerror gives their text. */
#ifndef EDDY_DNS_H
#define EDDY_DNS_H

#include "error.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A resolver: fill out[0..max) with addresses of host (port already set in each), of family
 * AF_INET, AF_INET6 or AF_UNSPEC (both), and return how many (> 0) or a negative code as
 * documented for eddy_resolve (EDDY_ENONAME for an unknown name, and so on). Called from a
 * task; may block it (not the loop). */
typedef struct eddy_resolver {
    int (*resolve)(void *ctx, const char *host, uint16_t port, int family, eddy_sockaddr *out,
                   size_t max);
    void *ctx;
} eddy_resolver;

/* Resolve host for port, suspending the calling task only. Numeric hosts ("10.0.0.1", "::1",
 * "[::1]") are parsed directly; "localhost" and names under ".localhost" are the loopback
 * addresses (RFC 6761) unless a resolver is set (eddy_loop_set_resolver), which gets every other
 * name.
 * The default resolver, with c-ares, runs on the loop and follows the system's configuration
 * as the libc resolver does: /etc/hosts and DNS in the order /etc/nsswitch.conf gives;
 * servers, search list, ndots and rotate from /etc/resolv.conf; `options timeout:N` and
 * `attempts:N` from /etc/resolv.conf and $RES_OPTIONS read with glibc's rules and defaults
 * (5 s, 2 attempts; at most 30 s and 5), whatever the c-ares release. A lookup fails with
 * EDDY_EDNSTIMEDOUT after at most timeout x attempts x servers, as with glibc. The
 * configuration is read when the loop first resolves a name (one c-ares channel per loop,
 * released when the loop ends). Without c-ares, /etc/hosts is read at each call.
 * Order: as the resolver returns them (the system's address selection, RFC 6724, for the
 * default resolver); eddy_tcp_connect interleaves families itself.
 * Returns the number of addresses written (1..max: the first max when there are more);
 * EDDY_ENONAME if the name does not exist (NXDOMAIN, or not in /etc/hosts without c-ares);
 * EDDY_ENOADDR if it has no address of that family (a numeric host of the other family
 * included); EDDY_EDNSTIMEDOUT if no server answered in time; EDDY_EDNSUNREACH if no server
 * could be reached, or every one refused or failed the query; EDDY_EDNSFAIL if a server
 * reported a failure of its own (SERVFAIL, for c-ares releases that pass it on, NOTIMP,
 * FORMERR); EDDY_EDNSBADRESP for an answer that cannot be parsed; -EMFILE/-ENFILE/-ENOBUFS/
 * -ENOMEM (or what a socket hook returned, eddy_loop_set_socket_hook) when no socket could be made
 * for a server; -EIO if the system's configuration cannot be used (or /etc/hosts cannot be
 * read, without c-ares: then its open or read error); -EAFNOSUPPORT for a bad family; -EINVAL
 * for NULL/empty host, NULL out, max == 0, or a host that cannot be a DNS name (a label over
 * 63 bytes); -ENOMEM; the errors of eddy_io_start when the resolver's own timer descriptor
 * cannot be had; -ECANCELED/-ETIMEDOUT if cancelled: the call returns at once and leaves its
 * query behind, abandoned (c-ares finishes or times it out in the background and drops the
 * answer; nothing of the caller is touched); -EPERM outside a task (callback context
 * included). */
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
