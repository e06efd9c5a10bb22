/* eddy — TLS over any stream (N10), with OpenSSL 3.
 *
 * A TLS stream IS an eddy_stream: eddy_tls_client / eddy_tls_server wrap an existing stream
 * (a TCP connection, a Unix socket, a memory pair, a stream that already carried plaintext:
 * STARTTLS) and give back a stream that every eddy_stream_* call, the buffered reader, the
 * framing helpers and HTTP use unchanged. OpenSSL never touches a descriptor: it talks to
 * two memory buffers of the TLS stream (a BIO of eddy's own), and the TLS stream moves the
 * ciphertext with eddy_stream_read/eddy_stream_write on the inner stream, so TLS runs over
 * any transport and any I/O backend.
 *
 *   eddy_tls_ctx *ctx;
 *   eddy_stream *tcp, *tls;
 *   rc = eddy_tls_client_ctx_open(NULL, &ctx);          // verifies against the system CAs
 *   rc = eddy_tcp_connect("example.com", 443, NULL, &tcp);
 *   rc = eddy_tls_client(tcp, ctx, "example.com", NULL, &tls);   // handshake; tls owns tcp
 *   if (rc < 0) eddy_stream_abort(tcp);                 // on failure tcp is still yours
 *   ... eddy_stream_write_all(tls, ...), eddy_stream_read(tls, ...) ...
 *   eddy_stream_close(tls);                             // close_notify, then closes tcp
 *   eddy_tls_ctx_close(ctx);
 *
 * Contexts. A context (eddy_tls_ctx) holds everything connections share: trusted CAs and
 * verification settings, certificates and keys, ALPN, protocol versions, the client's
 * session cache. It is immutable once open and may be used by any number of connections on
 * any number of loops and threads at once; each connection holds a reference, so closing
 * the context while connections are open is allowed (it goes when the last one closes).
 *
 * Concurrency on one TLS stream: the stream rules (stream.h) hold unchanged: one reader at a
 * time, FIFO writers, close waking both. A reader and a writer may run at the same time in
 * two tasks even when TLS makes a read send bytes (renegotiation, post-handshake
 * authentication, alerts) or a write wait for the peer's bytes (a renegotiation in
 * progress): whichever task needs ciphertext from the inner stream reads it for both (the
 * other waits for that read instead of starting its own), and whichever needs to send
 * flushes everything queued, in order. A read does not wait behind a writer's flush: what
 * it must send is queued behind the writer's bytes and goes out with them (unless the
 * output buffer is full, which takes a peer that stops reading). Only when no writer is
 * flushing does a read flush what is queued before it waits for the peer: the peer may be
 * waiting for exactly those bytes (a handshake message, a cancelled write's tail).
 *
 * Cancellation. Every blocking call here is a cancellation point. A cancelled read consumed
 * nothing. A write counts a byte as written once TLS has encrypted it (it then cannot be
 * taken back): bytes a cancelled write reported but did not get out yet go out first with
 * the next write, shutdown_write or close, so the peer reads exactly the reported bytes
 * before the next write's (the stream.h contract). Graceful close and shutdown_write must
 * get those bytes and the close_notify alert through the inner stream, so, unlike TCP's,
 * they wait for the peer to take them (close for at most eddy_tls_opts.close_timeout; a
 * close from callback context, which cannot wait, sends nothing more and closes the inner
 * stream as it is: the peer reads a truncation). A shutdown_write cancelled after it queued
 * close_notify has ended the sending side all the same: later writes fail with -EPIPE, and
 * close_notify goes out with the next flush (a read's, or close's).
 *
 * End of stream. eddy_stream_shutdown_write sends close_notify (then ends the inner stream's
 * sending side too, unless borrowed) and reading goes on: TLS 1.3's half-close. OpenSSL
 * allows the same in TLS 1.2, but RFC 5246 lets a TLS 1.2 peer answer close_notify by
 * closing at once (OpenSSL peers do not). A read returns 0 once the peer has sent
 * close_notify (its shutdown_write or close). A peer whose transport ends without close_notify has truncated the stream:
 * reads return -ECONNRESET (as after an abort: an attacker who can cut the connection must
 * not be able to pass a truncated response off as complete), or 0 with
 * eddy_tls_opts.allow_truncation (for protocols that delimit their own messages, like HTTP
 * with Content-Length, talking to servers that skip close_notify).
 *
 * Errors. Failures of the TLS protocol itself are the EDDY_ETLS_* codes of error.h (negative,
 * outside the errno range; eddy_strerror names them); failures of the inner stream
 * (-ECONNRESET, -EPIPE, -ETIMEDOUT, ...) pass through unchanged; -ENOMEM when OpenSSL or
 * eddy cannot allocate. After an EDDY_ETLS_* error the TLS stream is dead: every later read
 * and write returns the same error, and eddy_tls_error_detail(s) says why in words.
 *
 * Built without OpenSSL (CMake EDDY_WITH_OPENSSL=OFF, or libssl-dev missing), the calls that
 * make a context or a TLS stream return -ENOTSUP, and the others find no TLS stream (NULL,
 * false, -EINVAL): programs still build and say at run time that TLS is not available. */
#ifndef EDDY_TLS_H
#define EDDY_TLS_H

#include <sys/types.h>

#include "base.h"
#include "error.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- contexts -------------------------------------------------------------------------- */

typedef struct eddy_tls_ctx eddy_tls_ctx;

/* Protocol versions, for min_version/max_version. */
enum { EDDY_TLS_V1_2 = 0x0303, EDDY_TLS_V1_3 = 0x0304 };

/* How a server treats client certificates (mutual TLS). */
enum {
    EDDY_TLS_CLIENT_CERT_NONE = 0,     /* never asks for one */
    EDDY_TLS_CLIENT_CERT_OPTIONAL = 1, /* asks; a certificate sent must verify */
    EDDY_TLS_CLIENT_CERT_REQUIRE = 2,  /* asks, and fails the handshake without one */
};

/* Client settings. Start from EDDY_TLS_CLIENT_OPTS_INIT; NULL means all defaults. A
 * zero-filled struct means literal zeros (no minimum version of eddy's own, no session
 * cache). Strings are copied or used only during eddy_tls_client_ctx_open. */
typedef struct eddy_tls_client_opts {
    int min_version;     /* EDDY_TLS_V1_2 or EDDY_TLS_V1_3; 0: what OpenSSL's configuration
                            allows (Debian: TLS 1.2). INIT: EDDY_TLS_V1_2 */
    int max_version;     /* 0: the newest OpenSSL knows. INIT: 0 */
    size_t session_cache; /* session keys (hosts) whose latest sessions (a few each) are
                            kept for resumption, least recently used dropped first; 0: no
                            resumption. INIT: 64 */
    /* Verification. By default the server's certificate chain is checked against the
     * system's trusted CAs (OpenSSL's default paths; the environment variables
     * SSL_CERT_FILE and SSL_CERT_DIR override them) and its name against the hostname
     * given to eddy_tls_client. */
    bool insecure;       /* check nothing: any certificate, any name (tests, debugging) */
    const char *ca_file; /* PEM file of CA certificates to trust instead of the system's */
    const char *ca_dir;  /* directory of CA certificates named by hash (openssl rehash) */
    const char *ca_pem;  /* PEM text of CA certificates (NUL-terminated) */
    bool system_ca;      /* with ca_file/ca_dir/ca_pem: trust the system's CAs as well */
    /* A client certificate for servers that ask (mutual TLS): PEM, the certificate first,
     * then its intermediates; the key unencrypted. From files, or from memory when the file
     * name is NULL. */
    const char *cert_file, *key_file;
    const char *cert_pem, *key_pem;
    /* ALPN: the protocols offered, most preferred first, as a NULL-terminated array
     * ({"h2", "http/1.1", NULL}); each 1..255 bytes. NULL: no ALPN. */
    const char *const *alpn;
    const char *ciphers;      /* TLS 1.2 cipher list (OpenSSL syntax); NULL: OpenSSL's */
    const char *ciphersuites; /* TLS 1.3 cipher suites (OpenSSL syntax); NULL: OpenSSL's */
} eddy_tls_client_opts;
#define EDDY_TLS_CLIENT_OPTS_INIT \
    {EDDY_TLS_V1_2, 0, 64, false, NULL, NULL, NULL, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL}

/* A certificate with its key, for a server (or SNI entry). PEM; the certificate file holds
 * the certificate first, then its intermediates; the key is unencrypted. From files, or
 * from memory (NUL-terminated text) when the file name is NULL. */
typedef struct eddy_tls_cert {
    const char *cert_file, *key_file;
    const char *cert_pem, *key_pem;
} eddy_tls_cert;

/* ALPN choice by callback: offered[0..n) are the protocols the client offers, in its order
 * (at most 16, each NUL-terminated; a client offering more is shown the first 16). Return
 * the index of the protocol to use, EDDY_TLS_ALPN_NONE to go on without ALPN, or any other
 * negative value to fail the handshake with a no_application_protocol alert. Called from
 * inside the handshake (in the task running it): it must not block. */
typedef int (*eddy_tls_alpn_fn)(void *arg, const char *const *offered, size_t n);
#define EDDY_TLS_ALPN_NONE (-1)

/* Server settings. Start from EDDY_TLS_SERVER_OPTS_INIT; NULL is not allowed (a server needs
 * a certificate). A zero-filled struct means literal zeros (no session tickets). */
typedef struct eddy_tls_server_opts {
    int min_version;      /* as for clients. INIT: EDDY_TLS_V1_2 */
    int max_version;      /* INIT: 0 */
    bool session_tickets; /* resumption by stateless tickets (a key per context, in memory
                             only). INIT: true */
    /* certs[0] is used unless the name the client asked for (SNI) matches the DNS names
     * (or subject common name) of a later entry, wildcards included. At least one. */
    const eddy_tls_cert *certs;
    size_t ncerts;
    /* ALPN by list: the protocols this server speaks, most preferred first,
     * NULL-terminated. The first of them the client offers is chosen; a client offering
     * ALPN but none of them fails the handshake (no_application_protocol, RFC 7301); a
     * client without ALPN is served with none. NULL (and no alpn_select): no ALPN. */
    const char *const *alpn;
    eddy_tls_alpn_fn alpn_select; /* or by callback (takes precedence over alpn) */
    void *alpn_arg;
    /* Client certificates: EDDY_TLS_CLIENT_CERT_*, verified against these CAs (PEM). */
    int client_cert;
    const char *client_ca_file, *client_ca_pem;
    const char *ciphers, *ciphersuites; /* as for clients */
} eddy_tls_server_opts;
#define EDDY_TLS_SERVER_OPTS_INIT \
    {EDDY_TLS_V1_2, 0, true, NULL, 0, NULL, NULL, NULL, EDDY_TLS_CLIENT_CERT_NONE, NULL, NULL, NULL, NULL}

/* Make a client context in *out. Loads every file now, so a bad one fails here, not in a
 * handshake. Call from any thread. Returns 0; -EINVAL for a version other than 0,
 * EDDY_TLS_V1_2 or EDDY_TLS_V1_3, min above max, an ALPN name of 0 or more than 255 bytes,
 * only one of a certificate and its key, a cipher list OpenSSL rejects, or out NULL;
 * for a file: -ENOENT, -EACCES, -ENOTDIR, -ELOOP, -ENAMETOOLONG (its path), -EMFILE, -ENFILE
 * (no descriptor to open it with), -EISDIR (a directory), -EFBIG (over 16 MiB: no certificate
 * bundle), -EIO (reading it); EDDY_ETLS_LOAD for a file or text that holds no usable
 * certificate or key; -ENOMEM; -ENOTSUP when built without OpenSSL. */
EDDY_API EDDY_WUR int eddy_tls_client_ctx_open(const eddy_tls_client_opts *opts,
                                               eddy_tls_ctx **out);
/* Make a server context in *out: every certificate and key is loaded and checked (the key
 * must match its certificate) now. Returns 0; -EINVAL for opts NULL, no certificate (ncerts
 * 0 or certs NULL), an entry with neither file nor text for its certificate or key, a bad
 * version, ALPN name, client_cert value or cipher list, or out NULL; for a file, the
 * errors of eddy_tls_client_ctx_open (-ENOENT, -EACCES, -EMFILE, ..., -EIO); EDDY_ETLS_LOAD;
 * -ENOMEM; -ENOTSUP when built without OpenSSL. */
EDDY_API EDDY_WUR int eddy_tls_server_ctx_open(const eddy_tls_server_opts *opts,
                                               eddy_tls_ctx **out);
/* Drop the caller's reference: the context goes once no TLS stream uses it. NULL: nothing. */
EDDY_API void eddy_tls_ctx_close(eddy_tls_ctx *ctx);

/* ---- connections ----------------------------------------------------------------------- */

/* Per-connection settings. Start from EDDY_TLS_OPTS_INIT; NULL means all defaults. A
 * zero-filled struct means literal zeros (close_timeout 0: close sends no close_notify). */
typedef struct eddy_tls_opts {
    /* How long a graceful eddy_stream_close may wait to get the last bytes and close_notify
     * through the inner stream (a shield: the caller's cancellation does not cut it short).
     * When it runs out the inner stream is aborted. 0: send nothing more, abort the inner
     * stream at once if bytes were left unsent. EDDY_FOREVER: no limit of its own, and no
     * shield either (cleanup must not hang): the caller's scopes bound it. */
    int64_t close_timeout;
    /* The TLS stream does not own the inner stream: closing or aborting the TLS stream
     * leaves it open, and the caller closes it after the TLS stream. Default: the TLS
     * stream owns it. For a protocol that goes back to plaintext after TLS: bytes the TLS
     * stream read past the peer's close_notify are lost with it, so each side must have
     * read the other's close_notify (eddy_stream_shutdown_write, then read to 0) before
     * plaintext follows. */
    bool borrow;
    /* Return at once, before the handshake: it runs in eddy_tls_handshake, or in the first
     * read or write. The TLS stream owns the inner stream from here on (unless borrow), so
     * a failed handshake leaves a TLS stream to close, whose accessors tell why it failed. */
    bool defer_handshake;
    /* An inner stream that ends without close_notify reads as end of stream (0) instead of
     * -ECONNRESET. */
    bool allow_truncation;
    /* Client: the key under which the session cache keeps this connection's session, so a
     * later connection with the same key resumes it. NULL: the hostname. Use "host:port"
     * when one host has several TLS services. Copied. */
    const char *session_key;
} eddy_tls_opts;
#define EDDY_TLS_CLOSE_TIMEOUT EDDY_SEC(10)
#define EDDY_TLS_OPTS_INIT {EDDY_TLS_CLOSE_TIMEOUT, false, false, false, NULL}

/* Start TLS as the client over inner and complete the handshake: certificate and hostname
 * verification as ctx says, SNI (hostname, unless it is an IP address literal), ALPN,
 * resumption of a cached session for the session key. hostname may be NULL only with an
 * insecure context (nothing to check the certificate against otherwise). On success *out is
 * the TLS stream (kind "tls") and owns inner (unless opts->borrow): close or abort *out, not
 * inner.
 * On failure *out is NULL and inner stays the caller's; unless the failure came before any
 * byte moved (-EINVAL, -ENOMEM, -ENOTSUP), part of a handshake went through it, so it is of
 * no use but to be closed (or aborted). Cancellation point: a cancelled handshake returns
 * the cancel code in the same state (with opts->defer_handshake, call eddy_tls_handshake
 * again to continue it instead).
 * Returns 0; -EINVAL for a NULL inner, ctx or out, a server context, a NULL or empty
 * hostname with a verifying context, or a negative close_timeout; -ECANCELED/-ETIMEDOUT if cancelled; EDDY_ETLS_VERIFY,
 * EDDY_ETLS_HOSTNAME, EDDY_ETLS_HANDSHAKE, EDDY_ETLS_PROTOCOL, EDDY_ETLS_ALERT,
 * EDDY_ETLS_TRUNCATED; the inner stream's errors (-ECONNRESET, -EPIPE, -ENOBUFS, ...: the
 * errors of eddy_stream_read, the errors of eddy_stream_write), which a handshake returns as
 * soon as its flight cannot go out; -ENOMEM; -EPERM outside a task; -ENOTSUP when built
 * without OpenSSL. */
#define eddy_tls_client(inner, ctx, hostname, opts, out) \
    eddy__tls_client((inner), (ctx), (hostname), (opts), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__tls_client(eddy_stream *inner, eddy_tls_ctx *ctx, const char *hostname,
                                       const eddy_tls_opts *opts, eddy_stream **out,
                                       const char *site);

/* The same as the server: waits for the client's hello, picks the certificate (SNI) and the
 * ALPN protocol, completes the handshake. Same ownership, failure states and returns as
 * eddy_tls_client (-EINVAL also for a client context). */
#define eddy_tls_server(inner, ctx, opts, out) \
    eddy__tls_server((inner), (ctx), (opts), (out), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__tls_server(eddy_stream *inner, eddy_tls_ctx *ctx,
                                       const eddy_tls_opts *opts, eddy_stream **out,
                                       const char *site);

/* Run (or finish) the handshake of a TLS stream made with opts.defer_handshake; returns 0 at
 * once when it is done already, and its error again when it failed. Waits for the writer turn like a write (so it goes in line
 * with writers; a concurrent read may drive the same handshake). Cancellation point: a
 * cancelled handshake can be continued by calling again. Returns 0; -EINVAL if s is not a
 * TLS stream; -ECANCELED/-ETIMEDOUT; -EBADF while s is being closed; -EPERM outside a task;
 * the EDDY_ETLS_* and inner errors of eddy_tls_client (the stream is then dead: close it). */
EDDY_API EDDY_WUR int eddy_tls_handshake(eddy_stream *s);

/* TLS 1.3: send a KeyUpdate (new keys for what this side sends) now; request_peer asks the
 * peer to update its keys too. Waits for the writer turn and for the message to go out,
 * like a write. Returns 0; -ENOTSUP on a TLS 1.2 connection; -EINVAL if s is not a TLS
 * stream; -EPIPE after shutdown_write; the errors of eddy_stream_write. */
EDDY_API EDDY_WUR int eddy_tls_key_update(eddy_stream *s, bool request_peer);

/* ---- what was negotiated ----------------------------------------------------------------
 * These never block and are valid until s is closed. Strings are NULL (numbers negative)
 * when s is NULL or not a TLS stream, or before the handshake has told. */

/* "TLSv1.2" or "TLSv1.3". */
EDDY_API const char *eddy_tls_version(const eddy_stream *s);
/* The cipher suite, in OpenSSL's naming ("TLS_AES_128_GCM_SHA256"). */
EDDY_API const char *eddy_tls_cipher(const eddy_stream *s);
/* The ALPN protocol agreed on ("h2", "http/1.1"), or NULL when none was. */
EDDY_API const char *eddy_tls_alpn(const eddy_stream *s);
/* The server name (SNI): on a client the hostname it sent, on a server the one the client
 * asked for; NULL when none. */
EDDY_API const char *eddy_tls_server_name(const eddy_stream *s);
/* The subject of the peer's certificate, one line in RFC 2253 form ("CN=localhost,O=Test"),
 * into buf (always NUL-terminated when len > 0, truncated to fit). Returns its full length
 * (as snprintf); -ENOENT if the peer sent no certificate; -EINVAL if s is not a TLS stream or
 * buf is NULL with len > 0. */
EDDY_API int eddy_tls_peer_subject(const eddy_stream *s, char *buf, size_t len);
/* The handshake resumed an earlier session (no certificate exchange). */
EDDY_API bool eddy_tls_is_resumed(const eddy_stream *s);
/* Why the peer's certificate failed verification ("certificate has expired", "unable to get
 * local issuer certificate", "hostname mismatch"), or NULL if it verified or none was
 * checked. An insecure context still says what a check would have found. */
EDDY_API const char *eddy_tls_verify_error(const eddy_stream *s);
/* Why the last operation on s failed with an EDDY_ETLS_* code (or a truncation), in words:
 * the verification error, the alert the peer sent ("peer sent alert: handshake failure"),
 * OpenSSL's reason ("wrong version number"); NULL if nothing failed. */
EDDY_API const char *eddy_tls_error_detail(const eddy_stream *s);

#ifdef __cplusplus
}
#endif
#endif
