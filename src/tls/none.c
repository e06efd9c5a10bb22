/* eddy tls: the TLS calls of a build without OpenSSL (N10): they exist, so that programs
 * build everywhere, and say at run time that TLS is not available (-ENOTSUP). */
#ifndef EDDY_HAVE_OPENSSL
#include "internal.h"

int eddy_tls_client_ctx_open(const eddy_tls_client_opts *opts, eddy_tls_ctx **out)
{
    (void)opts;
    if (out) *out = NULL;
    return -ENOTSUP;
}

int eddy_tls_server_ctx_open(const eddy_tls_server_opts *opts, eddy_tls_ctx **out)
{
    (void)opts;
    if (out) *out = NULL;
    return -ENOTSUP;
}

void eddy_tls_ctx_close(eddy_tls_ctx *ctx) { (void)ctx; }

int eddy__tls_client(eddy_stream *inner, eddy_tls_ctx *ctx, const char *hostname,
                     const eddy_tls_opts *opts, eddy_stream **out, const char *site)
{
    (void)inner, (void)ctx, (void)hostname, (void)opts, (void)site;
    if (out) *out = NULL;
    return -ENOTSUP;
}

int eddy__tls_server(eddy_stream *inner, eddy_tls_ctx *ctx, const eddy_tls_opts *opts,
                     eddy_stream **out, const char *site)
{
    (void)inner, (void)ctx, (void)opts, (void)site;
    if (out) *out = NULL;
    return -ENOTSUP;
}

/* No stream can be a TLS stream here: the answers for "not a TLS stream". */
int eddy_tls_handshake(eddy_stream *s) { return (void)s, -EINVAL; }
int eddy_tls_key_update(eddy_stream *s, bool request_peer)
{
    (void)s, (void)request_peer;
    return -EINVAL;
}
const char *eddy_tls_version(const eddy_stream *s) { return (void)s, NULL; }
const char *eddy_tls_cipher(const eddy_stream *s) { return (void)s, NULL; }
const char *eddy_tls_alpn(const eddy_stream *s) { return (void)s, NULL; }
const char *eddy_tls_server_name(const eddy_stream *s) { return (void)s, NULL; }
int eddy_tls_peer_subject(const eddy_stream *s, char *buf, size_t len)
{
    (void)s, (void)buf, (void)len;
    return -EINVAL;
}
bool eddy_tls_is_resumed(const eddy_stream *s) { return (void)s, false; }
const char *eddy_tls_verify_error(const eddy_stream *s) { return (void)s, NULL; }
const char *eddy_tls_error_detail(const eddy_stream *s) { return (void)s, NULL; }
#endif
