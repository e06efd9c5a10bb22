/* eddy tls: what the files of the TLS module share (OpenSSL builds only). Never installed.
 *
 *   ctx.c     contexts: settings, certificates, SNI selection, ALPN, the client session cache
 *   conn.c    the TLS stream: the memory BIO, moving ciphertext through the inner stream
 *             (one task reads it for everybody, one flushes), the eddy_stream operations
 *   errors.c  OpenSSL's failures as EDDY_ETLS_* codes and words; the accessors
 *   none.c    the -ENOTSUP stand-ins for builds without OpenSSL */
#ifndef EDDY_TLS_IMPL_H
#define EDDY_TLS_IMPL_H

#include <openssl/ssl.h>
#include <pthread.h>

#include "eddy/tls.h"
#include "internal.h"

/* One record's plaintext at most per SSL_write: OpenSSL then writes exactly one record, which
 * the output buffer always has room for (see conn.c), so SSL_write never has to be retried
 * with the same arguments (a cancelled write could not honour that). */
#define EDDY__TLS_CHUNK 16384
/* Room a record needs beyond its plaintext: header, MAC or tag, padding, TLS 1.3 content
 * type, plus what OpenSSL may put in front of it (a pending KeyUpdate), rounded up. */
#define EDDY__TLS_SLACK 1024
/* The ciphertext buffers: in holds what one inner read brings; out one full record and room
 * for what a read has to send meanwhile (alerts, a renegotiation's messages). */
#define EDDY__TLS_IN_CAP 16384
#define EDDY__TLS_OUT_CAP (EDDY__TLS_CHUNK + 2 * EDDY__TLS_SLACK)

typedef struct eddy__tls_certkey {
    X509 *leaf;
    EVP_PKEY *key;
    STACK_OF(X509) *chain; /* intermediates, may be NULL */
} eddy__tls_certkey;

/* A cache entry: the latest resumable sessions for one key, newest last. */
#define EDDY__TLS_SESS_PER_KEY 4
typedef struct eddy__tls_sess {
    struct eddy__tls_sess *prev, *next; /* most recently used first */
    SSL_SESSION *s[EDDY__TLS_SESS_PER_KEY];
    int n;
    char key[];
} eddy__tls_sess;

struct eddy_tls_ctx {
    SSL_CTX *ssl;
    _Atomic long refs; /* the caller's, plus one per TLS stream */
    bool server;
    bool verify;       /* client: check the certificate and the name */
    bool tickets;      /* server: TLS 1.3 session tickets, sent with the first write */
    /* server: SNI candidates (certs[0] the default) when there is more than one */
    eddy__tls_certkey *certs;
    size_t ncerts;
    /* ALPN in wire form (length-prefixed names): the client's offer, the server's list */
    unsigned char *alpn;
    size_t alpn_len;
    eddy_tls_alpn_fn alpn_select;
    void *alpn_arg;
    /* client session cache */
    pthread_mutex_t lock;
    eddy__tls_sess *head, *tail;
    size_t nsess, max_sess;
};

/* The TLS stream. One allocation: the struct, both buffers, the session key. */
typedef struct eddy__tls {
    eddy_stream base;
    eddy_stream *inner;
    SSL *ssl;
    eddy_tls_ctx *ctx;
    int64_t close_timeout;
    bool borrow, allow_trunc, server;
    bool hs_done;      /* the handshake completed */
    bool sent_close;   /* close_notify queued */
    bool got_close;    /* the peer's close_notify read */
    bool tickets_due;  /* server: TLS 1.3 tickets to queue before the first write */
    bool in_eof;       /* the inner stream ended */
    unsigned interrupts; /* close woke the tasks inside (their inner calls end with -EBADF):
                            counted, not a flag, so a TLS stream that is the inner stream of
                            another (a tunnel) is usable again after the outer one's close
                            interrupted it */
    size_t max_frag;   /* plaintext per record (less when the peer asked for that: RFC 6066) */
    int in_err;        /* sticky error of reading the inner stream */
    int out_err;       /* sticky error of writing it */
    int dead;          /* sticky EDDY_ETLS_* (or other fatal) error */
    eddy_task *pumper;  /* the task reading the inner stream for everybody */
    eddy_task *flusher; /* the task writing out to it */
    eddy__waitq in_wait, out_wait;
    size_t ihead, itail, ohead, otail;
    uint64_t queued, sent; /* bytes ever put into out / written to the inner stream */
    const char *detail;    /* eddy_tls_error_detail */
    const char *verify_err;
    char *session_key;     /* client: NULL without a cache */
    char alpn[256];
    char detail_buf[96];
    unsigned char in[EDDY__TLS_IN_CAP];
    unsigned char out[EDDY__TLS_OUT_CAP];
} eddy__tls;

/* ctx.c */
EDDY__HIDDEN void eddy__tls_ctx_ref(eddy_tls_ctx *c);
EDDY__HIDDEN void eddy__tls_ctx_unref(eddy_tls_ctx *c);
/* A cached session for key (a new reference, to SSL_set_session and free), or NULL. TLS 1.3
 * sessions leave the cache when taken (a ticket is for one connection, RFC 8446 C.4). */
EDDY__HIDDEN SSL_SESSION *eddy__tls_sess_take(eddy_tls_ctx *c, const char *key);
/* -errno of opening/reading path into a malloc'd NUL-terminated buffer *out. */
EDDY__HIDDEN int eddy__tls_read_file(const char *path, char **out, size_t *len);

/* errors.c: the code for a failed SSL call (ret, as returned) on t; sets t->detail. Clears
 * OpenSSL's error queue. in_handshake: an end of the inner stream is EDDY_ETLS_TRUNCATED. */
EDDY__HIDDEN int eddy__tls_error(eddy__tls *t, int ret, bool in_handshake);
/* The vtable (conn.c), for the accessors to recognise TLS streams. */
extern const eddy_stream_vt eddy__tls_vt EDDY__HIDDEN;
static inline eddy__tls *eddy__tls_of(const eddy_stream *s)
{
    return s && s->vt == &eddy__tls_vt ? (eddy__tls *)s : NULL;
}

#endif
