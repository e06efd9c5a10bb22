/* eddy — error codes and the text a person reads for them.
 *
 * A fallible eddy function returns 0 (or a count) on success and a negative number on
 * failure. That number is either a negative errno value (-ECONNREFUSED, -ECANCELED, -EMFILE,
 * ...), whenever an errno value means what happened, or one of eddy's own codes below, for
 * failures no errno value describes without misleading: an unknown host is not "No such file
 * or directory" (-ENOENT). eddy_strerror turns either kind into a message.
 *
 * eddy's own codes are negative numbers below -4096. Linux keeps every errno value below
 * 4096 (the kernel's MAX_ERRNO is 4095), so an eddy code can never be taken for an errno
 * value, and `rc < 0` still means "failed" for every call. The codes are grouped in ranges of
 * one hundred, one per subsystem; a subsystem that needs codes of its own adds them to its
 * range here (this header lists them all, so that eddy_strerror knows every one):
 *
 *   -4100 .. -4199   name resolution (eddy_resolve and every call that resolves a name)
 *   -4200 .. -4299   TLS (eddy_tls_*, and every call on a TLS stream)
 *   -4300 .. -4399   HTTP (the client, http_client.h)
 *
 * A code keeps its value once released: new codes take new numbers, never a retired one's. */
#ifndef EDDY_ERROR_H
#define EDDY_ERROR_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- name resolution ----------------------------------------------------------------- */

/* The name does not exist: no hosts file lists it and the DNS says NXDOMAIN for it (and for
 * every search-list expansion tried). Permanent: asking again gives the same answer. */
#define EDDY_ENONAME (-4101)
/* The name exists but has no address of the requested family (an IPv6-only host asked for
 * AF_INET, a numeric address of the other family, a name whose records are not addresses).
 * Permanent. */
#define EDDY_ENOADDR (-4102)
/* No DNS server answered within the configured timeout and attempts (resolv.conf's
 * `options timeout:` and `attempts:`). Temporary: the network or the servers may recover. */
#define EDDY_EDNSTIMEDOUT (-4103)
/* No DNS server could be reached (connection refused, network or host unreachable, no socket
 * to be had), or every one refused the query or failed it (REFUSED, or SERVFAIL for c-ares
 * releases that move on to the next server after one). Temporary. */
#define EDDY_EDNSUNREACH (-4104)
/* A DNS server answered with a failure of its own (SERVFAIL, NOTIMP, FORMERR). Temporary. */
#define EDDY_EDNSFAIL (-4105)
/* A DNS answer that could not be parsed, or a connection to a server that ended in the middle
 * of one. Usually temporary. */
#define EDDY_EDNSBADRESP (-4106)

/* ---- TLS ------------------------------------------------------------------------------- */

/* The peer's certificate chain did not verify: an issuer nobody trusts (self-signed, or a CA
 * not in the trust store), expired or not yet valid, a bad signature, a missing intermediate.
 * eddy_tls_verify_error says which. Permanent for that server and trust store. */
#define EDDY_ETLS_VERIFY (-4201)
/* The certificate verified but does not name the host (or IP address) asked for. */
#define EDDY_ETLS_HOSTNAME (-4202)
/* This side could not agree with the peer: no protocol version, cipher suite, group,
 * signature algorithm or ALPN protocol in common; a client certificate required but not sent;
 * a renegotiation refused. */
#define EDDY_ETLS_HANDSHAKE (-4203)
/* The peer broke the protocol: not TLS at all (plaintext, an HTTP request, garbage), a
 * malformed or unexpected message, a record that does not decrypt or authenticate. */
#define EDDY_ETLS_PROTOCOL (-4204)
/* The peer ended the connection with a fatal alert (it rejected our certificate, our offer,
 * or something we sent); eddy_tls_error_detail names the alert. */
#define EDDY_ETLS_ALERT (-4205)
/* The connection ended in the middle of the TLS handshake (a peer that closed, a connection
 * cut). After the handshake a truncation reads as -ECONNRESET (see tls.h). Temporary. */
#define EDDY_ETLS_TRUNCATED (-4206)
/* A certificate, key or CA bundle given to a TLS context could not be used: not PEM, an
 * encrypted key, a key that does not belong to its certificate, no certificate in it. */
#define EDDY_ETLS_LOAD (-4207)

/* ---- HTTP (the client, http_client.h) ---------------------------------------------------- */

/* Not an absolute http:// or https:// URL the client can use: another scheme, no host, a bad
 * port, spaces or control characters (also a redirect's Location, a proxy's URL). */
#define EDDY_EHTTP_BADURL (-4301)
/* The server's answer is not HTTP/1.x: a malformed status line, field or chunked body, a
 * framing the parser refuses (both Content-Length and Transfer-Encoding, ...). */
#define EDDY_EHTTP_BADRESP (-4302)
/* The response head is larger than the client accepts (bytes or number of fields). */
#define EDDY_EHTTP_HEADTOOBIG (-4303)
/* The connection ended before the response was complete: before or inside the head, or
 * before the body's declared end (Content-Length, chunked). */
#define EDDY_EHTTP_TRUNCATED (-4304)
/* A request was redirected more often than the client follows. */
#define EDDY_EHTTP_REDIRECTS (-4305)
/* The proxy did not open the tunnel (its answer to CONNECT was not 2xx). */
#define EDDY_EHTTP_PROXY (-4306)
/* A gzip or deflate body (Content-Encoding) that does not decode. */
#define EDDY_EHTTP_DECODE (-4307)
/* Phase time limits of a request (eddy_http_timeouts), one code each. */
#define EDDY_EHTTP_POOL_TIMEOUT (-4310)
#define EDDY_EHTTP_CONNECT_TIMEOUT (-4311)
#define EDDY_EHTTP_TLS_TIMEOUT (-4312)
#define EDDY_EHTTP_HEADERS_TIMEOUT (-4313)
#define EDDY_EHTTP_BODY_TIMEOUT (-4314)
#define EDDY_EHTTP_TOTAL_TIMEOUT (-4315)

/* A message for err, one of eddy's codes (negative, as returned) or an errno value (negative
 * as eddy returns it, or positive as in errno). Never NULL:
 *  - eddy's own codes get eddy's text ("Host name not found", ...); an unknown code in eddy's
 *    ranges gets "Unknown eddy error -NNNN";
 *  - -ETIMEDOUT is "Timed out": in eddy it most often means that a deadline (a fail-after
 *    scope) expired, where strerror's "Connection timed out" would mislead;
 *  - every other value is strerror's text for the errno value (in the locale's language if
 *    the program set one; "Success" for 0; "Unknown error N" for what is no errno).
 * The string is constant, or held in a buffer of the calling thread that the thread's next
 * eddy_strerror call may overwrite: copy it to keep it. Safe from any thread, in and out of
 * tasks; never blocks. */
EDDY_API const char *eddy_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
