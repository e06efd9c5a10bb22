/* What the TLS tests share: certificates made at test time (OpenSSL's own API, into a fresh
 * temporary directory removed at exit: no key is ever committed), and TLS pairs over memory
 * pairs, socket pairs or TCP, both handshakes run at once. Include once per test file. */
#ifndef EDDY_TESTS_TLS_UTIL_H
#define EDDY_TESTS_TLS_UTIL_H

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eddy/test.h"

/* ---- certificates ---------------------------------------------------------------------- */

/* The files, under dir:
 *   ca.pem           the test root CA (self-signed)
 *   inter.pem        an intermediate CA issued by it
 *   server.pem/.key  CN=localhost, DNS:localhost, IP:127.0.0.1, IP:::1, issued by the
 *                    intermediate; server.pem holds the leaf then the intermediate
 *   leaf.pem         the leaf alone (for openssl s_server -cert, with -cert_chain inter.pem)
 *   alt.pem/.key     CN=alt.test, DNS:alt.test, DNS:*.wild.test, issued by the root
 *   expired.pem/.key like server, but valid from 10 to 5 days ago
 *   self.pem/.key    CN=localhost, self-signed (not issued by the test CA)
 *   client.pem/.key  CN=test client, for client authentication, issued by the root
 *   other_ca.pem     a CA nobody trusts, and
 *   stranger.pem/.key a client certificate it issued */
typedef struct tls_certs {
    char dir[64];
    char path[16][128];
} tls_certs;

static tls_certs tls__certs;
static bool tls__made;

__attribute__((unused)) static const char *tls_file(const char *name)
{
    static char buf[8][160];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 160, "%s/%s", tls__certs.dir, name);
    return p;
}

static EVP_PKEY *tls__key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (!k) {
        fprintf(stderr, "tls_util: EC key generation failed\n");
        abort();
    }
    return k;
}

static void tls__ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
    if (!e || !X509_add_ext(x, e, -1)) {
        fprintf(stderr, "tls_util: extension %d=%s failed\n", nid, value);
        abort();
    }
    X509_EXTENSION_free(e);
}

/* A certificate for key, issued by (issuer, ikey) or self-signed, valid from from_s to to_s
 * seconds relative to now. san may be NULL; ca makes it a CA; eku an extended key usage. */
static X509 *tls__cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer,
                       EVP_PKEY *ikey, long from_s, long to_s, bool ca, const char *eku)
{
    static long serial = 1000;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++ ^ (long)getpid() << 12);
    X509_gmtime_adj(X509_getm_notBefore(x), from_s);
    X509_gmtime_adj(X509_getm_notAfter(x), to_s);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"eddy tests", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    tls__ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    tls__ext(x, issuer, NID_key_usage,
             ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyAgreement");
    tls__ext(x, issuer, NID_subject_key_identifier, "hash");
    if (issuer) tls__ext(x, issuer, NID_authority_key_identifier, "keyid");
    if (san) tls__ext(x, issuer, NID_subject_alt_name, san);
    if (eku) tls__ext(x, issuer, NID_ext_key_usage, eku);
    if (!X509_sign(x, ikey ? ikey : key, EVP_sha256())) abort();
    return x;
}

static void tls__write(const char *name, X509 *x1, X509 *x2, EVP_PKEY *key)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s.pem", tls__certs.dir, name);
    FILE *f = fopen(path, "w");
    if (!f || !PEM_write_X509(f, x1) || (x2 && !PEM_write_X509(f, x2))) abort();
    fclose(f);
    if (key) {
        snprintf(path, sizeof path, "%s/%s.key", tls__certs.dir, name);
        f = fopen(path, "w");
        if (!f || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) abort();
        fclose(f);
    }
}

static void tls__cleanup(void)
{
    if (!tls__made) return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tls__certs.dir);
    if (system(cmd) != 0) fprintf(stderr, "tls_util: could not remove %s\n", tls__certs.dir);
}

/* Made once, in the runner process before any test forks (the children inherit the files);
 * removed when the runner exits. A file defining TLS_UTIL_ON_DEMAND calls tls__make_certs
 * (and tls__cleanup) itself, in the one case that needs them: the fault sweep, where
 * OpenSSL's state in every process would lengthen each of its thousand leak checks. */
#ifndef TLS_UTIL_ON_DEMAND
__attribute__((constructor))
#endif
static void tls__make_certs(void)
{
    strcpy(tls__certs.dir, "/tmp/eddy-tls-XXXXXX");
    if (!mkdtemp(tls__certs.dir)) abort();
    tls__made = true;
    atexit(tls__cleanup);
    const long day = 86400;
    EVP_PKEY *ca_k = tls__key(), *in_k = tls__key(), *sv_k = tls__key(), *alt_k = tls__key(),
             *ex_k = tls__key(), *self_k = tls__key(), *cl_k = tls__key(), *oca_k = tls__key(),
             *st_k = tls__key();
    X509 *ca = tls__cert(ca_k, "eddy test root CA", NULL, NULL, NULL, -day, 30 * day, true, NULL);
    X509 *in = tls__cert(in_k, "eddy test intermediate", NULL, ca, ca_k, -day, 30 * day, true, NULL);
    const char *san = "DNS:localhost,IP:127.0.0.1,IP:::1";
    X509 *sv = tls__cert(sv_k, "localhost", san, in, in_k, -day, 30 * day, false, "serverAuth");
    X509 *alt = tls__cert(alt_k, "alt.test", "DNS:alt.test,DNS:*.wild.test", ca, ca_k, -day,
                          30 * day, false, "serverAuth");
    X509 *ex = tls__cert(ex_k, "localhost", san, ca, ca_k, -10 * day, -5 * day, false, "serverAuth");
    X509 *self = tls__cert(self_k, "localhost", san, NULL, NULL, -day, 30 * day, false, "serverAuth");
    X509 *cl = tls__cert(cl_k, "test client", NULL, ca, ca_k, -day, 30 * day, false, "clientAuth");
    X509 *oca = tls__cert(oca_k, "eddy untrusted CA", NULL, NULL, NULL, -day, 30 * day, true, NULL);
    X509 *st = tls__cert(st_k, "stranger", NULL, oca, oca_k, -day, 30 * day, false, "clientAuth");
    tls__write("ca", ca, NULL, NULL);
    tls__write("inter", in, NULL, NULL);
    tls__write("server", sv, in, sv_k);
    tls__write("leaf", sv, NULL, NULL);
    tls__write("alt", alt, NULL, alt_k);
    tls__write("expired", ex, NULL, ex_k);
    tls__write("self", self, NULL, self_k);
    tls__write("client", cl, NULL, cl_k);
    tls__write("other_ca", oca, NULL, NULL);
    tls__write("stranger", st, NULL, st_k);
    X509 *xs[] = {ca, in, sv, alt, ex, self, cl, oca, st};
    EVP_PKEY *ks[] = {ca_k, in_k, sv_k, alt_k, ex_k, self_k, cl_k, oca_k, st_k};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) X509_free(xs[i]);
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) EVP_PKEY_free(ks[i]);
}

/* ---- contexts -------------------------------------------------------------------------- */

/* A server context for cert (e.g. "server": server.pem/server.key). */
__attribute__((unused)) static eddy_tls_ctx *tls_server_ctx_for(const char *cert)
{
    char c[64], k[64];
    snprintf(c, sizeof c, "%s.pem", cert);
    snprintf(k, sizeof k, "%s.key", cert);
    eddy_tls_cert ck = {.cert_file = tls_file(c), .key_file = tls_file(k)};
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    o.certs = &ck;
    o.ncerts = 1;
    eddy_tls_ctx *ctx;
    EDDY_OK(eddy_tls_server_ctx_open(&o, &ctx));
    return ctx;
}

/* A client context trusting the test CA. */
__attribute__((unused)) static eddy_tls_ctx *tls_client_ctx(void)
{
    eddy_tls_client_opts o = EDDY_TLS_CLIENT_OPTS_INIT;
    o.ca_file = tls_file("ca.pem");
    eddy_tls_ctx *ctx;
    EDDY_OK(eddy_tls_client_ctx_open(&o, &ctx));
    return ctx;
}

/* ---- pairs ----------------------------------------------------------------------------- */

typedef struct tls_side {
    eddy_stream *inner;
    eddy_tls_ctx *ctx;
    const char *host; /* client: the name to verify */
    const eddy_tls_opts *opts;
    eddy_stream *out;
    int rc;
} tls_side;

static int tls__server_task(void *arg)
{
    tls_side *s = arg;
    s->rc = eddy_tls_server(s->inner, s->ctx, s->opts, &s->out);
    return 0;
}

/* Both handshakes at once over the inner pair (ia: the client's end). Returns 0 with *c and
 * *s (owning the inner ends), or the client's error (else the server's) with both inner
 * ends aborted; *cr and *sr (if not NULL) get each side's result. */
static int tls_handshake_pair(eddy_stream *ia, eddy_stream *ib, eddy_tls_ctx *cctx,
                              const char *host, const eddy_tls_opts *copts, eddy_tls_ctx *sctx,
                              const eddy_tls_opts *sopts, eddy_stream **c, eddy_stream **s,
                              int *cr, int *sr)
{
    tls_side sv = {.inner = ib, .ctx = sctx, .opts = sopts};
    int crc = 0, nrc = 0;
    *c = *s = NULL;
    EDDY_NURSERY(n, &nrc) {
        if ((nrc = eddy_spawn(n, tls__server_task, &sv)) < 0) break;
        crc = eddy_tls_client(ia, cctx, host, copts, c);
        /* A client that failed leaves the server waiting: end its inner stream (gracefully:
         * the alert the client sent stays readable). */
        if (crc < 0) EDDY_OK(eddy_stream_close(ia)); /* ours still, and unused: it ends */
    }
    if (cr) *cr = crc;
    if (sr) *sr = sv.rc;
    if (nrc < 0) return nrc;
    if (crc < 0 || sv.rc < 0) {
        if (sv.rc < 0) eddy_stream_abort(ib); else eddy_stream_abort(sv.out);
        if (crc == 0) eddy_stream_abort(*c);
        *c = *s = NULL;
        return crc < 0 ? crc : sv.rc;
    }
    *s = sv.out;
    return 0;
}

/* A TLS pair over a memory pair (hooks may be NULL). */
__attribute__((unused)) static int tls_mem_pair(const eddy_memstream_hooks *hooks, eddy_tls_ctx *cctx, eddy_tls_ctx *sctx,
                        eddy_stream **c, eddy_stream **s)
{
    eddy_stream *a, *b;
    int rc = eddy_memstream_pair(&a, &b, hooks);
    if (rc < 0) return rc;
    return tls_handshake_pair(a, b, cctx, "localhost", NULL, sctx, NULL, c, s, NULL, NULL);
}

#endif
