/* eddy: eddy_strerror, the text for eddy's own error codes and for errno values
 * (include/eddy/error.h). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "eddy/error.h"

static const struct {
    int code;
    const char *text;
} own[] = {
    {EDDY_ENONAME, "Host name not found"},
    {EDDY_ENOADDR, "Host has no address of the requested family"},
    {EDDY_EDNSTIMEDOUT, "DNS server did not answer in time"},
    {EDDY_EDNSUNREACH, "DNS server unreachable or refused the query"},
    {EDDY_EDNSFAIL, "DNS server failure"},
    {EDDY_EDNSBADRESP, "Malformed DNS answer"},
    {EDDY_ETLS_VERIFY, "TLS certificate verification failed"},
    {EDDY_ETLS_HOSTNAME, "TLS certificate does not match the host name"},
    {EDDY_ETLS_HANDSHAKE, "TLS handshake failed: no parameters in common with the peer"},
    {EDDY_ETLS_PROTOCOL, "TLS protocol error"},
    {EDDY_ETLS_ALERT, "TLS peer sent a fatal alert"},
    {EDDY_ETLS_TRUNCATED, "TLS handshake cut off: the connection ended"},
    {EDDY_ETLS_LOAD, "TLS certificate or key could not be loaded"},
    {EDDY_EHTTP_BADURL, "Invalid or unsupported URL"},
    {EDDY_EHTTP_BADRESP, "Malformed HTTP response"},
    {EDDY_EHTTP_HEADTOOBIG, "HTTP response head too large"},
    {EDDY_EHTTP_TRUNCATED, "Connection closed before the HTTP response was complete"},
    {EDDY_EHTTP_REDIRECTS, "Too many HTTP redirects"},
    {EDDY_EHTTP_PROXY, "Proxy refused the tunnel (CONNECT)"},
    {EDDY_EHTTP_DECODE, "HTTP body does not decode (gzip/deflate)"},
    {EDDY_EHTTP_POOL_TIMEOUT, "Timed out waiting for a pooled HTTP connection"},
    {EDDY_EHTTP_CONNECT_TIMEOUT, "Timed out connecting"},
    {EDDY_EHTTP_TLS_TIMEOUT, "Timed out in the TLS handshake"},
    {EDDY_EHTTP_HEADERS_TIMEOUT, "Timed out waiting for the HTTP response"},
    {EDDY_EHTTP_BODY_TIMEOUT, "Timed out waiting for the HTTP response body"},
    {EDDY_EHTTP_TOTAL_TIMEOUT, "HTTP request exceeded its total time limit"},
};

/* Unknown codes and strerror_r's own text for unknown errno values are formatted here:
 * per thread, so concurrent callers never share a buffer. */
static __thread char buf[64];

const char *eddy_strerror(int err)
{
    if (err == INT_MIN) err = INT_MIN + 1; /* not an errno value either way; negating it is UB */
    if (err > 0) err = -err;
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (own[i].code == err) return own[i].text;
    if (err <= -4096 && err >= -4399) {
        snprintf(buf, sizeof buf, "Unknown eddy error %d", err);
        return buf;
    }
    if (err == -ETIMEDOUT) return "Timed out";
    return strerror_r(-err, buf, sizeof buf); /* GNU: a constant string, or buf */
}
