/* eddy tls: OpenSSL's failures as EDDY_ETLS_* codes (error.h) and words (N10), and the
 * accessors that tell what a handshake negotiated. (eddy_strerror has the codes' text.) */
#ifdef EDDY_HAVE_OPENSSL
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "tls/tls_impl.h"

/* The peer's transport ended without close_notify. */
static int truncated(eddy__tls *t, bool in_handshake)
{
    t->detail = "the connection ended without close_notify";
    if (in_handshake) {
        t->detail = "the connection ended during the handshake";
        return EDDY_ETLS_TRUNCATED;
    }
    return t->allow_trunc ? 0 : -ECONNRESET;
}

/* This side could not agree with the peer. */
static bool negotiation(int reason)
{
    switch (reason) {
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_GROUPS:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_NO_SUITABLE_DIGEST_ALGORITHM:
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_NO_RENEGOTIATION:
    case SSL_R_UNSAFE_LEGACY_RENEGOTIATION_DISABLED:
        return true;
    default:
        return false;
    }
}

int eddy__tls_error(eddy__tls *t, int ret, bool in_handshake)
{
    int e = SSL_get_error(t->ssl, ret);
    unsigned long err = ERR_peek_error();
    int rc;
    if (e == SSL_ERROR_ZERO_RETURN) {
        rc = 0;
        if (in_handshake) rc = truncated(t, true);
    } else if (e == SSL_ERROR_SYSCALL || (e == SSL_ERROR_SSL && err == 0)) {
        /* Our BIO failed, without a word from OpenSSL: the inner stream did. */
        rc = t->in_err ? t->in_err : t->in_eof ? truncated(t, in_handshake)
                                   : t->out_err ? t->out_err : -EIO;
    } else {
        int lib = ERR_GET_LIB(err), reason = ERR_GET_REASON(err);
        const char *why = ERR_reason_error_string(err);
        t->detail = why ? why : "unknown TLS error";
        if (reason == ERR_R_MALLOC_FAILURE) {
            rc = -ENOMEM;
        } else if (lib == ERR_LIB_SYS) {
            rc = reason > 0 ? -reason : -EIO;
        } else if (lib != ERR_LIB_SSL) {
            rc = EDDY_ETLS_PROTOCOL; /* a certificate that does not even parse, and so on */
        } else if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            rc = t->in_err ? t->in_err : truncated(t, in_handshake);
        } else if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            long vr = SSL_get_verify_result(t->ssl);
            t->verify_err = vr == X509_V_OK ? NULL : X509_verify_cert_error_string(vr);
            if (t->verify_err) t->detail = t->verify_err;
            rc = vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH
                     ? EDDY_ETLS_HOSTNAME
                     : EDDY_ETLS_VERIFY;
        } else if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
            /* A fatal alert from the peer. OpenSSL's reason string knows the newer alerts
             * ("tlsv13 alert certificate required"), its alert table not all of them. */
            const char *name = why;
            static const char *const prefixes[] = {"sslv3 alert ", "tlsv1 alert ", "tlsv13 alert "};
            for (size_t i = 0; name && i < sizeof prefixes / sizeof prefixes[0]; i++)
                if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) name += strlen(prefixes[i]);
            if (!name) name = SSL_alert_desc_string_long(reason - SSL_AD_REASON_OFFSET);
            snprintf(t->detail_buf, sizeof t->detail_buf, "peer sent alert: %s", name);
            t->detail = t->detail_buf;
            rc = EDDY_ETLS_ALERT;
        } else if (negotiation(reason)) {
            rc = EDDY_ETLS_HANDSHAKE;
        } else {
            rc = EDDY_ETLS_PROTOCOL;
        }
    }
    ERR_clear_error();
    return rc;
}

/* ---- accessors ---- */

static const eddy__tls *done(const eddy_stream *s)
{
    const eddy__tls *t = eddy__tls_of(s);
    return t && t->hs_done ? t : NULL;
}

const char *eddy_tls_version(const eddy_stream *s)
{
    const eddy__tls *t = done(s);
    return t ? SSL_get_version(t->ssl) : NULL;
}

const char *eddy_tls_cipher(const eddy_stream *s)
{
    const eddy__tls *t = done(s);
    return t ? SSL_CIPHER_get_name(SSL_get_current_cipher(t->ssl)) : NULL;
}

const char *eddy_tls_alpn(const eddy_stream *s)
{
    const eddy__tls *t = done(s);
    return t && t->alpn[0] ? t->alpn : NULL;
}

const char *eddy_tls_server_name(const eddy_stream *s)
{
    const eddy__tls *t = eddy__tls_of(s);
    return t ? SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

int eddy_tls_peer_subject(const eddy_stream *s, char *buf, size_t len)
{
    const eddy__tls *t = eddy__tls_of(s);
    if (!t || (!buf && len)) return -EINVAL;
    X509 *x = SSL_get0_peer_certificate(t->ssl);
    if (!x) return -ENOENT;
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return -ENOMEM;
    int rc = -ENOMEM;
    if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        if (len) {
            size_t k = (size_t)n < len - 1 ? (size_t)n : len - 1;
            memcpy(buf, p, k);
            buf[k] = 0;
        }
        rc = (int)n;
    }
    BIO_free(b);
    ERR_clear_error();
    return rc;
}

bool eddy_tls_is_resumed(const eddy_stream *s)
{
    const eddy__tls *t = done(s);
    return t && SSL_session_reused(t->ssl);
}

const char *eddy_tls_verify_error(const eddy_stream *s)
{
    const eddy__tls *t = eddy__tls_of(s);
    if (!t) return NULL;
    if (t->verify_err) return t->verify_err;
    /* An insecure context still learns what a check would have found. */
    if (!t->hs_done || !SSL_get0_peer_certificate(t->ssl)) return NULL;
    long vr = SSL_get_verify_result(t->ssl);
    return vr == X509_V_OK ? NULL : X509_verify_cert_error_string(vr);
}

const char *eddy_tls_error_detail(const eddy_stream *s)
{
    const eddy__tls *t = eddy__tls_of(s);
    return t ? t->detail : NULL;
}
#endif
