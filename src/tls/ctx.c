/* eddy tls: contexts (N10). Everything connections share, fixed when the context opens:
 * versions, cipher lists, trust and verification, certificates (several on a server, picked
 * by SNI), ALPN, and the client's session cache (the one part that changes, under a lock:
 * contexts may be shared by loops on several threads). */
#ifdef EDDY_HAVE_OPENSSL
#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/tls_impl.h"
#include "loop/sys.h"

/* Larger than any certificate bundle: a file this big is not one (and must not eat memory). */
#define MAX_PEM_FILE ((off_t)16 << 20)

int eddy__tls_read_file(const char *path, char **out, size_t *len)
{
    int fd = eddy__sys_open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    int rc = 0;
    char *buf = NULL;
    if (eddy__sys_fstat(fd, &st) < 0) {
        rc = -errno;
    } else if (!S_ISREG(st.st_mode)) {
        rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    } else if (st.st_size > MAX_PEM_FILE) {
        rc = -EFBIG;
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        rc = -ENOMEM;
    } else {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t n = eddy__sys_read(fd, buf + got, (size_t)st.st_size - got);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                rc = -errno;
                break;
            }
            if (n == 0) break; /* shrank while read: take what is there */
            got += (size_t)n;
        }
        buf[got] = 0;
        *len = got;
    }
    eddy__sys_close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

/* A memory BIO over a file's contents (*hold keeps them) or over NUL-terminated text. */
static int pem_source(const char *file, const char *text, char **hold, BIO **out)
{
    size_t len;
    *hold = NULL;
    if (file) {
        int rc = eddy__tls_read_file(file, hold, &len);
        if (rc < 0) return rc;
        text = *hold;
    } else {
        len = strlen(text);
    }
    *out = BIO_new_mem_buf(text, (int)len);
    if (!*out) {
        free(*hold);
        *hold = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* A key with a passphrase is refused rather than asked for on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* The code for a failed parse: out of memory, or not something usable. */
static int load_error(void)
{
    unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    return ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE ? -ENOMEM : EDDY_ETLS_LOAD;
}

static void certkey_free(eddy__tls_certkey *ck)
{
    X509_free(ck->leaf);
    EVP_PKEY_free(ck->key);
    sk_X509_pop_free(ck->chain, X509_free);
    *ck = (eddy__tls_certkey){0};
}

/* Load a certificate chain and its key (file, or text when the file is NULL). */
static int certkey_load(const char *cert_file, const char *cert_pem, const char *key_file,
                        const char *key_pem, eddy__tls_certkey *ck)
{
    *ck = (eddy__tls_certkey){0};
    if ((!cert_file && !cert_pem) || (!key_file && !key_pem)) return -EINVAL;
    char *hold;
    BIO *b;
    int rc = pem_source(cert_file, cert_pem, &hold, &b);
    if (rc < 0) return rc;
    ERR_clear_error();
    ck->leaf = PEM_read_bio_X509_AUX(b, NULL, no_passphrase, NULL);
    if (!ck->leaf) {
        rc = load_error();
    } else {
        for (X509 *x; (x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL));) {
            if ((!ck->chain && !(ck->chain = sk_X509_new_null())) || !sk_X509_push(ck->chain, x)) {
                X509_free(x);
                rc = -ENOMEM;
                break;
            }
        }
        /* The loop ends on "no start line" at the end of the text: not an error. */
        ERR_clear_error();
    }
    BIO_free(b);
    free(hold);
    if (rc < 0) goto fail;
    if ((rc = pem_source(key_file, key_pem, &hold, &b)) < 0) goto fail;
    ck->key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
    if (!ck->key) rc = load_error();
    BIO_free(b);
    if (hold) OPENSSL_cleanse(hold, strlen(hold));
    free(hold);
    if (rc < 0) goto fail;
    if (X509_check_private_key(ck->leaf, ck->key) != 1) {
        ERR_clear_error();
        rc = EDDY_ETLS_LOAD;
        goto fail;
    }
    return 0;
fail:
    certkey_free(ck);
    return rc;
}

/* Add every certificate of a PEM file or text to store (and their subjects to names, if
 * given, for a server's list of acceptable client CAs). */
static int cas_load(X509_STORE *store, const char *file, const char *text,
                    STACK_OF(X509_NAME) *names)
{
    char *hold;
    BIO *b;
    int rc = pem_source(file, text, &hold, &b);
    if (rc < 0) return rc;
    ERR_clear_error();
    STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(b, NULL, no_passphrase, NULL);
    BIO_free(b);
    free(hold);
    if (!infos) return load_error();
    int n = 0;
    for (int i = 0; i < sk_X509_INFO_num(infos) && rc == 0; i++) {
        X509_INFO *xi = sk_X509_INFO_value(infos, i);
        if (!xi->x509) continue;
        if (!X509_STORE_add_cert(store, xi->x509)) {
            rc = load_error();
            break;
        }
        if (names) {
            X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(xi->x509));
            if (!nm || !sk_X509_NAME_push(names, nm)) {
                X509_NAME_free(nm);
                rc = -ENOMEM;
            }
        }
        n++;
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    if (rc == 0 && n == 0) rc = EDDY_ETLS_LOAD;
    return rc;
}

/* NULL-terminated names to ALPN's wire form (length-prefixed). */
static int alpn_wire(const char *const *names, unsigned char **out, size_t *len)
{
    size_t total = 0;
    for (const char *const *p = names; *p; p++) {
        size_t n = strlen(*p);
        if (n == 0 || n > 255) return -EINVAL;
        total += 1 + n;
    }
    if (total == 0 || total > 65535) return -EINVAL;
    unsigned char *w = malloc(total);
    if (!w) return -ENOMEM;
    size_t at = 0;
    for (const char *const *p = names; *p; p++) {
        size_t n = strlen(*p);
        w[at++] = (unsigned char)n;
        memcpy(w + at, *p, n);
        at += n;
    }
    *out = w;
    *len = total;
    return 0;
}

static bool version_ok(int v) { return v == 0 || v == EDDY_TLS_V1_2 || v == EDDY_TLS_V1_3; }

/* What client and server settings have in common. */
static int common_setup(eddy_tls_ctx *c, int minv, int maxv, const char *ciphers,
                        const char *suites)
{
    if (!version_ok(minv) || !version_ok(maxv) || (minv && maxv && minv > maxv)) return -EINVAL;
    if ((minv && !SSL_CTX_set_min_proto_version(c->ssl, minv)) ||
        (maxv && !SSL_CTX_set_max_proto_version(c->ssl, maxv)))
        return -EINVAL;
    if (ciphers && !SSL_CTX_set_cipher_list(c->ssl, ciphers)) return -EINVAL;
    if (suites && !SSL_CTX_set_ciphersuites(c->ssl, suites)) return -EINVAL;
    /* conn.c never hands SSL_write more than one record, so it never has to repeat a write
     * (see EDDY__TLS_CHUNK); the modes only say that a retry may come from another buffer. */
    SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return 0;
}

static eddy_tls_ctx *ctx_new(const SSL_METHOD *m, bool server)
{
    eddy_tls_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    ERR_clear_error();
    if (!(c->ssl = SSL_CTX_new(m))) {
        ERR_clear_error();
        free(c);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->server = server;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void sess_drop(eddy_tls_ctx *c, eddy__tls_sess *e)
{
    if (e->prev) e->prev->next = e->next; else c->head = e->next;
    if (e->next) e->next->prev = e->prev; else c->tail = e->prev;
    for (int i = 0; i < e->n; i++) SSL_SESSION_free(e->s[i]);
    free(e);
    c->nsess--;
}

static void ctx_free(eddy_tls_ctx *c)
{
    SSL_CTX_free(c->ssl);
    for (size_t i = 0; i < c->ncerts; i++) certkey_free(&c->certs[i]);
    free(c->certs);
    free(c->alpn);
    while (c->head) sess_drop(c, c->head);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void eddy__tls_ctx_ref(eddy_tls_ctx *c) { atomic_fetch_add(&c->refs, 1); }

void eddy__tls_ctx_unref(eddy_tls_ctx *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) ctx_free(c);
}

void eddy_tls_ctx_close(eddy_tls_ctx *c) { eddy__tls_ctx_unref(c); }

/* ---- the client session cache ---- */

static eddy__tls_sess *sess_find(eddy_tls_ctx *c, const char *key)
{
    for (eddy__tls_sess *e = c->head; e; e = e->next)
        if (strcmp(e->key, key) == 0) return e;
    return NULL;
}

static void sess_to_front(eddy_tls_ctx *c, eddy__tls_sess *e)
{
    if (c->head == e) return;
    if (e->prev) e->prev->next = e->next;
    if (e->next) e->next->prev = e->prev; else c->tail = e->prev;
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    c->head = e;
    if (!c->tail) c->tail = e;
}

/* OpenSSL hands over each new session (TLS 1.3: each ticket, after the handshake, while the
 * connection reads). Returning 1 keeps its reference. */
static int sess_new_cb(SSL *ssl, SSL_SESSION *s)
{
    eddy__tls *t = SSL_get_app_data(ssl);
    eddy_tls_ctx *c = t ? t->ctx : NULL;
    if (!c || !t->session_key || !SSL_SESSION_is_resumable(s)) return 0;
    pthread_mutex_lock(&c->lock);
    eddy__tls_sess *e = sess_find(c, t->session_key);
    if (!e) {
        size_t kl = strlen(t->session_key);
        if (!(e = calloc(1, sizeof *e + kl + 1))) {
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
        memcpy(e->key, t->session_key, kl + 1);
        e->next = c->head;
        if (c->head) c->head->prev = e;
        c->head = e;
        if (!c->tail) c->tail = e;
        c->nsess++;
        while (c->nsess > c->max_sess) sess_drop(c, c->tail);
    } else {
        sess_to_front(c, e);
    }
    if (e->n == EDDY__TLS_SESS_PER_KEY) {
        SSL_SESSION_free(e->s[0]);
        memmove(e->s, e->s + 1, sizeof e->s[0] * (size_t)(e->n - 1));
        e->n--;
    }
    e->s[e->n++] = s;
    pthread_mutex_unlock(&c->lock);
    return 1;
}

SSL_SESSION *eddy__tls_sess_take(eddy_tls_ctx *c, const char *key)
{
    SSL_SESSION *s = NULL;
    pthread_mutex_lock(&c->lock);
    eddy__tls_sess *e = sess_find(c, key);
    if (e && e->n > 0) {
        s = e->s[e->n - 1];
        if (SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION) {
            e->n--; /* the cache's reference becomes the caller's */
            if (e->n == 0) sess_drop(c, e);
        } else {
            SSL_SESSION_up_ref(s); /* a TLS 1.2 session may serve several connections */
            sess_to_front(c, e);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return s;
}

/* ---- client contexts ---- */

static int client_setup(eddy_tls_ctx *c, const eddy_tls_client_opts *o)
{
    int rc = common_setup(c, o->min_version, o->max_version, o->ciphers, o->ciphersuites);
    if (rc < 0) return rc;
    c->verify = !o->insecure;
    if (c->verify) {
        SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
        X509_STORE *st = SSL_CTX_get_cert_store(c->ssl);
        bool own = o->ca_file || o->ca_dir || o->ca_pem;
        if (o->ca_file && (rc = cas_load(st, o->ca_file, NULL, NULL)) < 0) return rc;
        if (o->ca_pem && (rc = cas_load(st, NULL, o->ca_pem, NULL)) < 0) return rc;
        if (o->ca_dir) {
            struct stat sb;
            if (stat(o->ca_dir, &sb) < 0) return -errno;
            if (!S_ISDIR(sb.st_mode)) return -ENOTDIR;
            if (!SSL_CTX_load_verify_dir(c->ssl, o->ca_dir)) return load_error();
        }
        /* The system store: OpenSSL's default file and directory, each overridden by the
         * environment (SSL_CERT_FILE, SSL_CERT_DIR). */
        if ((!own || o->system_ca) && !SSL_CTX_set_default_verify_paths(c->ssl)) {
            ERR_clear_error();
            return -ENOMEM;
        }
    }
    if (o->cert_file || o->cert_pem || o->key_file || o->key_pem) {
        eddy__tls_certkey ck;
        if ((rc = certkey_load(o->cert_file, o->cert_pem, o->key_file, o->key_pem, &ck)) < 0)
            return rc;
        rc = SSL_CTX_use_cert_and_key(c->ssl, ck.leaf, ck.key, ck.chain, 1) ? 0 : load_error();
        certkey_free(&ck);
        if (rc < 0) return rc;
    }
    if (o->alpn) {
        if ((rc = alpn_wire(o->alpn, &c->alpn, &c->alpn_len)) < 0) return rc;
        if (SSL_CTX_set_alpn_protos(c->ssl, c->alpn, (unsigned)c->alpn_len) != 0) return -ENOMEM;
    }
    c->max_sess = o->session_cache;
    if (c->max_sess) {
        /* Sessions go to eddy's cache (keyed by host, not by OpenSSL's session id). */
        SSL_CTX_set_session_cache_mode(c->ssl,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c->ssl, sess_new_cb);
    } else {
        SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_OFF);
    }
    return 0;
}

int eddy_tls_client_ctx_open(const eddy_tls_client_opts *opts, eddy_tls_ctx **out)
{
    if (!out) return -EINVAL;
    *out = NULL;
    eddy_tls_client_opts d = EDDY_TLS_CLIENT_OPTS_INIT;
    eddy_tls_ctx *c = ctx_new(TLS_client_method(), false);
    if (!c) return -ENOMEM;
    int rc = client_setup(c, opts ? opts : &d);
    ERR_clear_error();
    if (rc < 0) {
        ctx_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- server contexts ---- */

/* Certificate selection: the first entry whose names match the SNI name, else the first. */
static int cert_cb(SSL *ssl, void *arg)
{
    eddy_tls_ctx *c = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    size_t pick = 0;
    if (name)
        for (size_t i = 0; i < c->ncerts; i++)
            if (X509_check_host(c->certs[i].leaf, name, 0, 0, NULL) == 1) {
                pick = i;
                break;
            }
    eddy__tls_certkey *ck = &c->certs[pick];
    return SSL_use_cert_and_key(ssl, ck->leaf, ck->key, ck->chain, 1) == 1;
}

/* ALPN: by the callback, or the server's first protocol the client offers. *out points into
 * the client's list (valid for the handshake, as OpenSSL requires). */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    eddy_tls_ctx *c = arg;
    if (c->alpn_select) {
        /* The offer as C strings, in a bounded buffer on the stack. */
        char names[512];
        const char *list[16] = {NULL};
        const unsigned char *at[16];
        size_t n = 0, used = 0;
        for (unsigned i = 0; i < inlen && n < 16;) {
            unsigned len = in[i];
            if (len == 0 || i + 1 + len > inlen) break;
            if (used + len + 1 > sizeof names) break;
            memcpy(names + used, in + i + 1, len);
            names[used + len] = 0;
            list[n] = names + used;
            at[n++] = in + i;
            used += len + 1;
            i += 1 + len;
        }
        int pick = c->alpn_select(c->alpn_arg, list, n);
        if (pick >= 0 && (size_t)pick < n) {
            *outlen = at[pick][0];
            *out = at[pick] + 1;
            return SSL_TLSEXT_ERR_OK;
        }
        return pick == EDDY_TLS_ALPN_NONE ? SSL_TLSEXT_ERR_NOACK : SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    for (size_t s = 0; s < c->alpn_len; s += 1 + c->alpn[s])
        for (unsigned i = 0; i < inlen; i += 1u + in[i])
            if (in[i] == c->alpn[s] && i + 1u + in[i] <= inlen &&
                memcmp(in + i + 1, c->alpn + s + 1, in[i]) == 0) {
                *out = in + i + 1;
                *outlen = in[i];
                return SSL_TLSEXT_ERR_OK;
            }
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301: no_application_protocol */
}

static int server_setup(eddy_tls_ctx *c, const eddy_tls_server_opts *o)
{
    int rc = common_setup(c, o->min_version, o->max_version, o->ciphers, o->ciphersuites);
    if (rc < 0) return rc;
    if (!o->certs || o->ncerts == 0) return -EINVAL;
    if (o->client_cert < EDDY_TLS_CLIENT_CERT_NONE || o->client_cert > EDDY_TLS_CLIENT_CERT_REQUIRE)
        return -EINVAL;
    if (!(c->certs = calloc(o->ncerts, sizeof *c->certs))) return -ENOMEM;
    for (size_t i = 0; i < o->ncerts; i++) {
        const eddy_tls_cert *e = &o->certs[i];
        if ((rc = certkey_load(e->cert_file, e->cert_pem, e->key_file, e->key_pem, &c->certs[i])) < 0)
            return rc;
        c->ncerts++;
    }
    if (c->ncerts == 1) {
        eddy__tls_certkey *ck = &c->certs[0];
        if (!SSL_CTX_use_cert_and_key(c->ssl, ck->leaf, ck->key, ck->chain, 1)) return load_error();
    } else {
        SSL_CTX_set_cert_cb(c->ssl, cert_cb, c);
    }
    /* Stateless tickets carry resumption; OpenSSL's server-side cache would keep every
     * session in memory for nothing. */
    SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_OFF);
    /* TLS 1.3 tickets are not written at the end of the handshake (where a handshake that
     * waits for them to be read would stall on a client that writes first, and a client
     * that never reads closes with them unread: a reset) but queued then for the first
     * write, which the client reads (conn.c). */
    SSL_CTX_set_num_tickets(c->ssl, 0);
    c->tickets = o->session_tickets;
    if (!o->session_tickets) SSL_CTX_set_options(c->ssl, SSL_OP_NO_TICKET);
    static const unsigned char sid_ctx[] = "eddy";
    SSL_CTX_set_session_id_context(c->ssl, sid_ctx, sizeof sid_ctx - 1);
    if (o->alpn_select) {
        c->alpn_select = o->alpn_select;
        c->alpn_arg = o->alpn_arg;
    } else if (o->alpn && (rc = alpn_wire(o->alpn, &c->alpn, &c->alpn_len)) < 0) {
        return rc;
    }
    if (c->alpn_select || c->alpn) SSL_CTX_set_alpn_select_cb(c->ssl, alpn_cb, c);
    if (o->client_cert != EDDY_TLS_CLIENT_CERT_NONE) {
        if (!o->client_ca_file && !o->client_ca_pem) return -EINVAL;
        STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
        if (!names) return -ENOMEM;
        X509_STORE *st = SSL_CTX_get_cert_store(c->ssl);
        if (o->client_ca_file) rc = cas_load(st, o->client_ca_file, NULL, names);
        if (rc == 0 && o->client_ca_pem) rc = cas_load(st, NULL, o->client_ca_pem, names);
        if (rc < 0) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            return rc;
        }
        SSL_CTX_set_client_CA_list(c->ssl, names); /* takes names */
        int mode = SSL_VERIFY_PEER;
        if (o->client_cert == EDDY_TLS_CLIENT_CERT_REQUIRE) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(c->ssl, mode, NULL);
    }
    return 0;
}

int eddy_tls_server_ctx_open(const eddy_tls_server_opts *opts, eddy_tls_ctx **out)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!opts) return -EINVAL;
    eddy_tls_ctx *c = ctx_new(TLS_server_method(), true);
    if (!c) return -ENOMEM;
    int rc = server_setup(c, opts);
    ERR_clear_error();
    if (rc < 0) {
        ctx_free(c);
        return rc;
    }
    *out = c;
    return 0;
}
#endif
