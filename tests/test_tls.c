/* N10: TLS contexts and handshakes over memory pairs (virtual clock): context settings and
 * their errors, certificate and hostname verification (the test CA, an expired certificate,
 * a self-signed one, IP addresses, SSL_CERT_FILE), SNI certificate selection, ALPN, protocol
 * versions, client certificates, session resumption and the session cache. */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "eddy/test.h"
#ifdef EDDY_TEST_OPENSSL
#include "tls_util.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* Handshake a fresh memory pair; both results out, the streams closed unless kept. */
typedef struct hs {
    int cr, sr, rc;
    eddy_stream *c, *s;
} hs;

static hs shake(eddy_tls_ctx *cc, const char *host, const eddy_tls_opts *co, eddy_tls_ctx *sc,
                const eddy_tls_opts *so)
{
    hs h = {0};
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    h.rc = tls_handshake_pair(a, b, cc, host, co, sc, so, &h.c, &h.s, &h.cr, &h.sr);
    return h;
}

/* The same with a deferred client handshake, run by eddy_tls_handshake: h.c exists even when
 * it failed (to be aborted), h.s only when the server's handshake succeeded. */
static hs shake_deferred(eddy_tls_ctx *cc, const char *host, eddy_tls_ctx *sc)
{
    hs h = {0};
    eddy_stream *a, *b;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    tls_side sv = {.inner = b, .ctx = sc};
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, tls__server_task, &sv));
        eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
        o.defer_handshake = true;
        EDDY_OK(eddy_tls_client(a, cc, host, &o, &h.c));
        h.cr = eddy_tls_handshake(h.c);
    }
    EDDY_OK(nrc);
    h.sr = sv.rc;
    if (sv.rc < 0)
        eddy_stream_abort(b);
    else
        h.s = sv.out;
    return h;
}

static void hs_close(hs *h)
{
    if (h->c) EDDY_OK(eddy_stream_close(h->c));
    if (h->s) EDDY_OK(eddy_stream_close(h->s));
    h->c = h->s = NULL;
}

static eddy_tls_ctx *client_ctx_opts(eddy_tls_client_opts *o)
{
    eddy_tls_ctx *c;
    EDDY_OK(eddy_tls_client_ctx_open(o, &c));
    return c;
}

static eddy_tls_ctx *server_ctx_opts(eddy_tls_server_opts *o, const char *cert)
{
    char cf[32], kf[32];
    snprintf(cf, sizeof cf, "%s.pem", cert);
    snprintf(kf, sizeof kf, "%s.key", cert);
    eddy_tls_cert ck = {.cert_file = tls_file(cf), .key_file = tls_file(kf)};
    if (!o->certs) {
        o->certs = &ck;
        o->ncerts = 1;
    }
    eddy_tls_ctx *c;
    EDDY_OK(eddy_tls_server_ctx_open(o, &c));
    if (o->certs == &ck) o->certs = NULL;
    return c;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    EDDY_CHECK(f != NULL);
    static char bufs[4][8192];
    static int k;
    char *b = bufs[k++ % 4];
    size_t n = fread(b, 1, 8191, f);
    b[n] = 0;
    fclose(f);
    return b;
}

/* The subject's CN of the peer's certificate ("" if none). */
static const char *peer_cn(eddy_stream *s)
{
    static char buf[256];
    int n = eddy_tls_peer_subject(s, buf, sizeof buf);
    if (n < 0) return "";
    char *cn = strstr(buf, "CN=");
    if (!cn) return "";
    char *end = strchr(cn, ',');
    if (end) *end = 0;
    return cn + 3;
}

/* ---- client contexts ---------------------------------------------------------------------- */

EDDY_TEST(tls_client_ctx_defaults_and_errors)
{
    eddy_tls_ctx *c;
    EDDY_OK(eddy_tls_client_ctx_open(NULL, &c)); /* the system store */
    eddy_tls_ctx_close(c);
    eddy_tls_ctx_close(NULL);
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(NULL, NULL), -EINVAL);

    eddy_tls_client_opts o = EDDY_TLS_CLIENT_OPTS_INIT;
    o.min_version = 0x0301; /* TLS 1.0: not offered */
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), -EINVAL);
    EDDY_CHECK(c == NULL);
    o = (eddy_tls_client_opts)EDDY_TLS_CLIENT_OPTS_INIT;
    o.min_version = EDDY_TLS_V1_3;
    o.max_version = EDDY_TLS_V1_2;
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), -EINVAL);
    o = (eddy_tls_client_opts)EDDY_TLS_CLIENT_OPTS_INIT;
    o.ca_file = "/nonexistent/ca.pem";
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), -ENOENT);
    o.ca_file = "/etc/hostname"; /* a file, but no certificate in it */
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), EDDY_ETLS_LOAD);
    o.ca_file = NULL;
    o.ca_pem = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), EDDY_ETLS_LOAD);
    o.ca_pem = NULL;
    o.ca_dir = "/nonexistent";
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), -ENOENT);
    o.ca_dir = tls_file("ca.pem");
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), -ENOTDIR);
    o.ca_dir = NULL;
    const char *empty[] = {"", NULL};
    o.alpn = empty;
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), -EINVAL);
    char longname[300];
    memset(longname, 'a', 299);
    longname[299] = 0;
    const char *toolong[] = {"h2", longname, NULL};
    o.alpn = toolong;
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), -EINVAL);
    o.alpn = NULL;
    o.ciphers = "NO-SUCH-CIPHER";
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), -EINVAL);
    o.ciphers = NULL;
    o.ciphersuites = "TLS_NO_SUCH_SUITE";
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), -EINVAL);
    o.ciphersuites = NULL;
    o.cert_file = tls_file("client.pem"); /* a certificate without its key */
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), -EINVAL);
    o.key_file = tls_file("alt.key"); /* someone else's key */
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(&o, &c), EDDY_ETLS_LOAD);
    o.key_file = tls_file("client.key");
    EDDY_OK(eddy_tls_client_ctx_open(&o, &c));
    eddy_tls_ctx_close(c);
    return 0;
}

EDDY_TEST(tls_server_ctx_errors)
{
    eddy_tls_ctx *c = (eddy_tls_ctx *)1;
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(NULL, &c), -EINVAL);
    EDDY_CHECK(c == NULL);
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, &c), -EINVAL); /* no certificate */
    eddy_tls_cert ck = {.cert_file = tls_file("server.pem"), .key_file = "/nonexistent.key"};
    o.certs = &ck;
    o.ncerts = 1;
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, &c), -ENOENT);
    ck.key_file = tls_file("alt.key");
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, &c), EDDY_ETLS_LOAD);
    ck.key_file = tls_file("ca.pem"); /* no key in it */
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, &c), EDDY_ETLS_LOAD);
    ck.key_file = NULL; /* neither file nor text */
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, &c), -EINVAL);
    ck.cert_file = "/tmp";
    ck.key_file = tls_file("server.key");
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, &c), -EISDIR);
    ck.cert_file = tls_file("server.pem");
    o.client_cert = 7;
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, &c), -EINVAL);
    o.client_cert = EDDY_TLS_CLIENT_CERT_REQUIRE; /* without CAs to check them against */
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, &c), -EINVAL);
    o.client_cert = EDDY_TLS_CLIENT_CERT_NONE;
    o.max_version = 0x0305;
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, &c), -EINVAL);
    o.max_version = 0;
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, NULL), -EINVAL);

    /* An encrypted key is refused, never asked for on the terminal. */
    EVP_PKEY *k = EVP_EC_gen("P-256");
    char path[160];
    snprintf(path, sizeof path, "%s", tls_file("encrypted.key"));
    FILE *f = fopen(path, "w");
    EDDY_CHECK(f && PEM_write_PrivateKey(f, k, EVP_aes_128_cbc(), (unsigned char *)"pw", 2, NULL, NULL));
    fclose(f);
    EVP_PKEY_free(k);
    ck.key_file = path;
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, &c), EDDY_ETLS_LOAD);
    unlink(path);

    /* From memory. */
    ck = (eddy_tls_cert){.cert_pem = slurp(tls_file("server.pem")),
                         .key_pem = slurp(tls_file("server.key"))};
    EDDY_OK(eddy_tls_server_ctx_open(&o, &c));
    eddy_tls_ctx *cc = tls_client_ctx();
    hs h = shake(cc, "localhost", NULL, c, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(strcmp(peer_cn(h.c), "localhost") == 0);
    hs_close(&h);
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(c);
    return 0;
}

/* ---- verification ------------------------------------------------------------------------- */

EDDY_TEST(tls_verify_default_store_rejects_test_ca)
{
    /* The test CA is self-signed and not in the system store: accepted only when configured. */
    unsetenv("SSL_CERT_FILE");
    unsetenv("SSL_CERT_DIR");
    eddy_tls_ctx *cc, *sc = tls_server_ctx_for("server");
    EDDY_OK(eddy_tls_client_ctx_open(NULL, &cc));
    hs h = shake_deferred(cc, "localhost", sc);
    EDDY_CHECK_EQ(h.cr, EDDY_ETLS_VERIFY);
    EDDY_CHECK(strcmp(eddy_tls_verify_error(h.c), "unable to get local issuer certificate") == 0);
    EDDY_CHECK(strcmp(eddy_tls_error_detail(h.c), eddy_tls_verify_error(h.c)) == 0);
    /* The stream is dead now, with the same error everywhere. */
    char b[4];
    EDDY_CHECK_EQ(eddy_stream_read(h.c, b, sizeof b), EDDY_ETLS_VERIFY);
    EDDY_CHECK_EQ(eddy_stream_write_all(h.c, "x", 1), EDDY_ETLS_VERIFY);
    EDDY_CHECK_EQ(eddy_stream_shutdown_write(h.c), EDDY_ETLS_VERIFY);
    EDDY_CHECK_EQ(eddy_tls_handshake(h.c), EDDY_ETLS_VERIFY);
    EDDY_CHECK(eddy_tls_version(h.c) == NULL);
    EDDY_OK(eddy_stream_close(h.c));
    /* The server learnt why from the client's alert. */
    EDDY_CHECK_EQ(h.sr, EDDY_ETLS_ALERT);
    /* The same through the one-call form: the inner stream stays the caller's. */
    eddy_stream *a, *bb, *c = (eddy_stream *)1;
    EDDY_OK(eddy_memstream_pair(&a, &bb, NULL));
    tls_side sv = {.inner = bb, .ctx = sc};
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, tls__server_task, &sv));
        EDDY_CHECK_EQ(eddy_tls_client(a, cc, "localhost", NULL, &c), EDDY_ETLS_VERIFY);
        EDDY_CHECK(c == NULL);
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(sv.rc, EDDY_ETLS_ALERT);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(bb));
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    return 0;
}

EDDY_TEST(tls_verify_ssl_cert_file_is_honoured)
{
    setenv("SSL_CERT_FILE", tls_file("ca.pem"), 1);
    eddy_tls_ctx *cc, *sc = tls_server_ctx_for("server");
    EDDY_OK(eddy_tls_client_ctx_open(NULL, &cc));
    hs h = shake(cc, "localhost", NULL, sc, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(eddy_tls_verify_error(h.c) == NULL);
    hs_close(&h);
    eddy_tls_ctx_close(cc);
    /* SSL_CERT_DIR: a directory of CA certificates named by their hash. */
    unsetenv("SSL_CERT_FILE");
    char dir[160], link[200];
    snprintf(dir, sizeof dir, "%s", tls_file("hashed"));
    EDDY_CHECK(mkdir(dir, 0700) == 0);
    FILE *f = fopen(tls_file("ca.pem"), "r");
    X509 *ca = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    snprintf(link, sizeof link, "%s/%08lx.0", dir, X509_subject_name_hash(ca));
    X509_free(ca);
    EDDY_CHECK(symlink(tls_file("ca.pem"), link) == 0);
    setenv("SSL_CERT_FILE", "/nonexistent", 1); /* not the system's bundle either */
    setenv("SSL_CERT_DIR", dir, 1);
    EDDY_OK(eddy_tls_client_ctx_open(NULL, &cc));
    h = shake(cc, "localhost", NULL, sc, NULL);
    EDDY_OK(h.rc);
    hs_close(&h);
    eddy_tls_ctx_close(cc);
    /* And ca_dir, explicitly. */
    unsetenv("SSL_CERT_DIR");
    eddy_tls_client_opts o = EDDY_TLS_CLIENT_OPTS_INIT;
    o.ca_dir = dir;
    cc = client_ctx_opts(&o);
    h = shake(cc, "localhost", NULL, sc, NULL);
    EDDY_OK(h.rc);
    hs_close(&h);
    eddy_tls_ctx_close(cc);
    unlink(link);
    rmdir(dir);
    unsetenv("SSL_CERT_FILE");
    eddy_tls_ctx_close(sc);
    return 0;
}

EDDY_TEST(tls_verify_wrong_hostname)
{
    eddy_tls_ctx *cc = tls_client_ctx(), *sc = tls_server_ctx_for("server");
    hs h = shake(cc, "www.example.com", NULL, sc, NULL);
    EDDY_CHECK_EQ(h.cr, EDDY_ETLS_HOSTNAME);
    EDDY_CHECK_EQ(h.sr, EDDY_ETLS_ALERT);
    /* An IP address is checked against the certificate's IP addresses (and sent as no SNI). */
    h = shake(cc, "10.1.2.3", NULL, sc, NULL);
    EDDY_CHECK_EQ(h.cr, EDDY_ETLS_HOSTNAME);
    h = shake(cc, "127.0.0.1", NULL, sc, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(eddy_tls_server_name(h.s) == NULL);
    hs_close(&h);
    h = shake(cc, "::1", NULL, sc, NULL);
    EDDY_OK(h.rc);
    hs_close(&h);
    /* A name is needed to verify against. */
    eddy_stream *a, *b, *out = (eddy_stream *)1;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_CHECK_EQ(eddy_tls_client(a, cc, NULL, NULL, &out), -EINVAL);
    EDDY_CHECK(out == NULL);
    EDDY_CHECK_EQ(eddy_tls_client(a, cc, "", NULL, &out), -EINVAL);
    EDDY_CHECK_EQ(eddy_tls_client(a, sc, "localhost", NULL, &out), -EINVAL); /* server ctx */
    EDDY_CHECK_EQ(eddy_tls_server(a, cc, NULL, &out), -EINVAL);               /* client ctx */
    EDDY_CHECK_EQ(eddy_tls_client(NULL, cc, "localhost", NULL, &out), -EINVAL);
    EDDY_CHECK_EQ(eddy_tls_client(a, NULL, "localhost", NULL, &out), -EINVAL);
    EDDY_CHECK_EQ(eddy_tls_client(a, cc, "localhost", NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_tls_client(a, cc, "localhost", &(eddy_tls_opts){.close_timeout = -1}, &out),
                  -EINVAL);
    /* Nothing moved: the pair still works as plain streams. */
    EDDY_OK(eddy_stream_write_all(a, "ok", 2));
    char buf[2];
    EDDY_CHECK_EQ(eddy_stream_read(b, buf, 2), 2);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    return 0;
}

EDDY_TEST(tls_verify_expired_certificate)
{
    eddy_tls_ctx *cc = tls_client_ctx(), *sc = tls_server_ctx_for("expired");
    hs h = shake_deferred(cc, "localhost", sc);
    EDDY_CHECK_EQ(h.cr, EDDY_ETLS_VERIFY);
    EDDY_CHECK(strcmp(eddy_tls_verify_error(h.c), "certificate has expired") == 0);
    EDDY_CHECK_EQ(h.sr, EDDY_ETLS_ALERT);
    eddy_stream_abort(h.c);
    /* An insecure context takes it, and still says what a check would have found. */
    eddy_tls_client_opts o = EDDY_TLS_CLIENT_OPTS_INIT;
    o.insecure = true;
    eddy_tls_ctx *ic = client_ctx_opts(&o);
    h = shake(ic, NULL, NULL, sc, NULL); /* no name needed */
    EDDY_OK(h.rc);
    EDDY_CHECK(strcmp(eddy_tls_verify_error(h.c), "unable to get local issuer certificate") == 0 ||
               strcmp(eddy_tls_verify_error(h.c), "certificate has expired") == 0);
    EDDY_CHECK(eddy_tls_server_name(h.c) == NULL);
    hs_close(&h);
    h = shake(ic, "anything.invalid", NULL, sc, NULL);
    EDDY_OK(h.rc);
    hs_close(&h);
    eddy_tls_ctx_close(ic);
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    return 0;
}

EDDY_TEST(tls_verify_self_signed_only_when_trusted)
{
    eddy_tls_ctx *cc = tls_client_ctx(), *sc = tls_server_ctx_for("self");
    hs h = shake(cc, "localhost", NULL, sc, NULL);
    EDDY_CHECK_EQ(h.cr, EDDY_ETLS_VERIFY);
    eddy_tls_ctx_close(cc);
    eddy_tls_client_opts o = EDDY_TLS_CLIENT_OPTS_INIT;
    o.ca_pem = slurp(tls_file("self.pem")); /* trusted as its own anchor, from memory */
    cc = client_ctx_opts(&o);
    h = shake(cc, "localhost", NULL, sc, NULL);
    EDDY_OK(h.rc);
    hs_close(&h);
    eddy_tls_ctx_close(cc);
    /* Several trust sources at once: the test CA's file and the self-signed one. */
    o.ca_file = tls_file("ca.pem");
    cc = client_ctx_opts(&o);
    h = shake(cc, "localhost", NULL, sc, NULL);
    EDDY_OK(h.rc);
    hs_close(&h);
    eddy_tls_ctx *sc2 = tls_server_ctx_for("server");
    h = shake(cc, "localhost", NULL, sc2, NULL);
    EDDY_OK(h.rc);
    hs_close(&h);
    eddy_tls_ctx_close(cc);
    /* system_ca adds the system store to an explicit one (it does not replace it). */
    o = (eddy_tls_client_opts)EDDY_TLS_CLIENT_OPTS_INIT;
    o.ca_file = tls_file("ca.pem");
    o.system_ca = true;
    cc = client_ctx_opts(&o);
    h = shake(cc, "localhost", NULL, sc2, NULL);
    EDDY_OK(h.rc);
    hs_close(&h);
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    eddy_tls_ctx_close(sc2);
    return 0;
}

/* ---- SNI ---------------------------------------------------------------------------------- */

EDDY_TEST(tls_sni_selects_certificate)
{
    eddy_tls_cert certs[] = {
        {.cert_file = tls_file("server.pem"), .key_file = tls_file("server.key")},
        {.cert_file = tls_file("alt.pem"), .key_file = tls_file("alt.key")},
    };
    eddy_tls_server_opts so = EDDY_TLS_SERVER_OPTS_INIT;
    so.certs = certs;
    so.ncerts = 2;
    eddy_tls_ctx *sc, *cc = tls_client_ctx();
    EDDY_OK(eddy_tls_server_ctx_open(&so, &sc));
    static const struct {
        const char *host, *cn;
    } cases[] = {{"localhost", "localhost"},
                 {"alt.test", "alt.test"},
                 {"ALT.Test", "alt.test"},
                 {"x.wild.test", "alt.test"},
                 {"127.0.0.1", "localhost"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hs h = shake(cc, cases[i].host, NULL, sc, NULL);
        EDDY_OK(h.rc);
        EDDY_CHECK(strcmp(peer_cn(h.c), cases[i].cn) == 0);
        if (isalpha((unsigned char)cases[i].host[0])) {
            EDDY_CHECK(strcasecmp(eddy_tls_server_name(h.s), cases[i].host) == 0);
            EDDY_CHECK(strcmp(eddy_tls_server_name(h.c), cases[i].host) == 0);
        } else { /* no SNI for an address */
            EDDY_CHECK(eddy_tls_server_name(h.s) == NULL);
        }
        hs_close(&h);
    }
    /* A name nobody has gets the first certificate, which then fails the client's check. */
    hs h = shake(cc, "nope.test", NULL, sc, NULL);
    EDDY_CHECK_EQ(h.cr, EDDY_ETLS_HOSTNAME);
    /* A wildcard covers one label only. */
    h = shake(cc, "a.b.wild.test", NULL, sc, NULL);
    EDDY_CHECK_EQ(h.cr, EDDY_ETLS_HOSTNAME);
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    return 0;
}

/* ---- ALPN --------------------------------------------------------------------------------- */

static eddy_tls_ctx *alpn_client(const char *const *alpn)
{
    eddy_tls_client_opts o = EDDY_TLS_CLIENT_OPTS_INIT;
    o.ca_file = tls_file("ca.pem");
    o.alpn = alpn;
    return client_ctx_opts(&o);
}

static eddy_tls_ctx *alpn_server(const char *const *alpn)
{
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    o.alpn = alpn;
    return server_ctx_opts(&o, "server");
}

EDDY_TEST(tls_alpn_by_list)
{
    const char *h2_h1[] = {"h2", "http/1.1", NULL}, *h1[] = {"http/1.1", NULL},
               *odd[] = {"spdy/1", NULL}, *h1_h2[] = {"http/1.1", "h2", NULL};
    eddy_tls_ctx *c_h2h1 = alpn_client(h2_h1), *c_none = tls_client_ctx(), *c_odd = alpn_client(odd);
    eddy_tls_ctx *s_h1 = alpn_server(h1), *s_h1h2 = alpn_server(h1_h2), *s_none = alpn_server(NULL);
    hs h = shake(c_h2h1, "localhost", NULL, s_h1, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(strcmp(eddy_tls_alpn(h.c), "http/1.1") == 0);
    EDDY_CHECK(strcmp(eddy_tls_alpn(h.s), "http/1.1") == 0);
    hs_close(&h);
    /* The server's preference wins. */
    h = shake(c_h2h1, "localhost", NULL, s_h1h2, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(strcmp(eddy_tls_alpn(h.c), "http/1.1") == 0);
    hs_close(&h);
    /* A client without ALPN is served without. */
    h = shake(c_none, "localhost", NULL, s_h1, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(eddy_tls_alpn(h.c) == NULL && eddy_tls_alpn(h.s) == NULL);
    hs_close(&h);
    /* A server without ALPN ignores the client's offer. */
    h = shake(c_h2h1, "localhost", NULL, s_none, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(eddy_tls_alpn(h.c) == NULL);
    hs_close(&h);
    /* Nothing in common: RFC 7301's no_application_protocol. */
    h = shake(c_odd, "localhost", NULL, s_h1, NULL);
    EDDY_CHECK_EQ(h.sr, EDDY_ETLS_HANDSHAKE);
    EDDY_CHECK_EQ(h.cr, EDDY_ETLS_ALERT);
    eddy_tls_ctx *all[] = {c_h2h1, c_none, c_odd, s_h1, s_h1h2, s_none};
    for (size_t i = 0; i < 6; i++) eddy_tls_ctx_close(all[i]);
    return 0;
}

typedef struct alpn_seen {
    char offered[8][32];
    size_t n;
    int answer; /* an index, or EDDY_TLS_ALPN_NONE, or another negative value */
} alpn_seen;

static int pick(void *arg, const char *const *offered, size_t n)
{
    alpn_seen *a = arg;
    a->n = n;
    for (size_t i = 0; i < n && i < 8; i++) snprintf(a->offered[i], 32, "%s", offered[i]);
    return a->answer;
}

EDDY_TEST(tls_alpn_by_callback)
{
    const char *three[] = {"h2", "http/1.1", "x-test", NULL};
    eddy_tls_ctx *cc = alpn_client(three);
    alpn_seen seen = {.answer = 2};
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    o.alpn_select = pick;
    o.alpn_arg = &seen;
    eddy_tls_ctx *sc = server_ctx_opts(&o, "server");
    hs h = shake(cc, "localhost", NULL, sc, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK_EQ(seen.n, 3);
    EDDY_CHECK(!strcmp(seen.offered[0], "h2") && !strcmp(seen.offered[1], "http/1.1") &&
               !strcmp(seen.offered[2], "x-test"));
    EDDY_CHECK(strcmp(eddy_tls_alpn(h.c), "x-test") == 0);
    hs_close(&h);
    seen.answer = EDDY_TLS_ALPN_NONE;
    h = shake(cc, "localhost", NULL, sc, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(eddy_tls_alpn(h.c) == NULL);
    hs_close(&h);
    seen.answer = -2;
    h = shake(cc, "localhost", NULL, sc, NULL);
    EDDY_CHECK_EQ(h.sr, EDDY_ETLS_HANDSHAKE);
    EDDY_CHECK_EQ(h.cr, EDDY_ETLS_ALERT);
    seen.answer = 3; /* out of range: refused too */
    h = shake(cc, "localhost", NULL, sc, NULL);
    EDDY_CHECK_EQ(h.sr, EDDY_ETLS_HANDSHAKE);
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    return 0;
}

/* ---- versions ----------------------------------------------------------------------------- */

EDDY_TEST(tls_versions)
{
    eddy_tls_ctx *cc = tls_client_ctx();
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    o.max_version = EDDY_TLS_V1_2;
    eddy_tls_ctx *s12 = server_ctx_opts(&o, "server");
    hs h = shake(cc, "localhost", NULL, s12, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(strcmp(eddy_tls_version(h.c), "TLSv1.2") == 0);
    EDDY_CHECK(strcmp(eddy_tls_version(h.s), "TLSv1.2") == 0);
    EDDY_CHECK(eddy_tls_cipher(h.c) && strcmp(eddy_tls_cipher(h.c), eddy_tls_cipher(h.s)) == 0);
    /* Data both ways, and a key update is TLS 1.3's. */
    char b[8];
    EDDY_OK(eddy_stream_write_all(h.c, "12", 2));
    EDDY_CHECK_EQ(eddy_stream_read(h.s, b, sizeof b), 2);
    EDDY_CHECK_EQ(eddy_tls_key_update(h.c, true), -ENOTSUP);
    hs_close(&h);
    eddy_tls_client_opts co = EDDY_TLS_CLIENT_OPTS_INIT;
    co.ca_file = tls_file("ca.pem");
    co.min_version = EDDY_TLS_V1_3;
    eddy_tls_ctx *c13 = client_ctx_opts(&co);
    h = shake(c13, "localhost", NULL, s12, NULL);
    EDDY_CHECK_EQ(h.sr, EDDY_ETLS_HANDSHAKE);
    EDDY_CHECK_EQ(h.cr, EDDY_ETLS_ALERT);
    eddy_tls_ctx *s13 = tls_server_ctx_for("server");
    h = shake(c13, "localhost", NULL, s13, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(strcmp(eddy_tls_version(h.c), "TLSv1.3") == 0);
    hs_close(&h);
    /* Cipher choices. */
    co = (eddy_tls_client_opts)EDDY_TLS_CLIENT_OPTS_INIT;
    co.ca_file = tls_file("ca.pem");
    co.ciphersuites = "TLS_CHACHA20_POLY1305_SHA256";
    eddy_tls_ctx *cch = client_ctx_opts(&co);
    h = shake(cch, "localhost", NULL, s13, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(strcmp(eddy_tls_cipher(h.s), "TLS_CHACHA20_POLY1305_SHA256") == 0);
    hs_close(&h);
    eddy_tls_ctx_close(cch);
    eddy_tls_ctx_close(c13);
    eddy_tls_ctx_close(s13);
    eddy_tls_ctx_close(s12);
    eddy_tls_ctx_close(cc);
    return 0;
}

/* ---- client certificates ------------------------------------------------------------------ */

static eddy_tls_ctx *client_with_cert(const char *name)
{
    eddy_tls_client_opts o = EDDY_TLS_CLIENT_OPTS_INIT;
    o.ca_file = tls_file("ca.pem");
    char c[32], k[32];
    snprintf(c, sizeof c, "%s.pem", name);
    snprintf(k, sizeof k, "%s.key", name);
    if (name[0]) {
        o.cert_file = tls_file(c);
        o.key_file = tls_file(k);
    }
    return client_ctx_opts(&o);
}

EDDY_TEST(tls_client_certificates)
{
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    o.client_cert = EDDY_TLS_CLIENT_CERT_REQUIRE;
    o.client_ca_file = tls_file("ca.pem");
    eddy_tls_ctx *req = server_ctx_opts(&o, "server");
    o.client_cert = EDDY_TLS_CLIENT_CERT_OPTIONAL;
    o.client_ca_file = NULL;
    o.client_ca_pem = slurp(tls_file("ca.pem"));
    eddy_tls_ctx *opt = server_ctx_opts(&o, "server");
    eddy_tls_ctx *with = client_with_cert("client"), *none = client_with_cert(""),
                 *stranger = client_with_cert("stranger");
    char b[8];

    hs h = shake(with, "localhost", NULL, req, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK(strcmp(peer_cn(h.s), "test client") == 0);
    hs_close(&h);

    /* TLS 1.3: the client has finished before the server checks; it hears at its first read. */
    h = shake(none, "localhost", NULL, req, NULL);
    EDDY_CHECK_EQ(h.sr, EDDY_ETLS_HANDSHAKE);
    EDDY_CHECK(h.cr == EDDY_ETLS_ALERT || h.cr == 0);

    h = shake(stranger, "localhost", NULL, req, NULL);
    EDDY_CHECK_EQ(h.sr, EDDY_ETLS_VERIFY);

    /* Optional: none is fine, a bad one is not. */
    h = shake(none, "localhost", NULL, opt, NULL);
    EDDY_OK(h.rc);
    EDDY_CHECK_EQ(eddy_tls_peer_subject(h.s, b, sizeof b), -ENOENT);
    hs_close(&h);
    h = shake(stranger, "localhost", NULL, opt, NULL);
    EDDY_CHECK_EQ(h.sr, EDDY_ETLS_VERIFY);
    eddy_tls_ctx *all[] = {req, opt, with, none, stranger};
    for (size_t i = 0; i < 5; i++) eddy_tls_ctx_close(all[i]);
    return 0;
}

EDDY_TEST(tls_client_cert_missing_seen_at_first_read)
{
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    o.client_cert = EDDY_TLS_CLIENT_CERT_REQUIRE;
    o.client_ca_file = tls_file("ca.pem");
    eddy_tls_ctx *sc = server_ctx_opts(&o, "server"), *cc = tls_client_ctx();
    eddy_stream *a, *b, *c = NULL;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    tls_side sv = {.inner = b, .ctx = sc};
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, tls__server_task, &sv));
        EDDY_OK(eddy_tls_client(a, cc, "localhost", NULL, &c)); /* TLS 1.3: done on our side */
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(sv.rc, EDDY_ETLS_HANDSHAKE);
    EDDY_OK(eddy_stream_close(b)); /* the server's alert stays readable */
    char buf[4];
    EDDY_CHECK_EQ(eddy_stream_read(c, buf, sizeof buf), EDDY_ETLS_ALERT);
    EDDY_CHECK(strstr(eddy_tls_error_detail(c), "certificate required") != NULL);
    eddy_stream_abort(c);
    eddy_tls_ctx_close(sc);
    eddy_tls_ctx_close(cc);
    return 0;
}

/* ---- resumption --------------------------------------------------------------------------- */

/* Connect, exchange a byte each way (the server's write carries its TLS 1.3 tickets), close. */
static bool visit(eddy_tls_ctx *cc, const char *host, const char *key, eddy_tls_ctx *sc)
{
    eddy_tls_opts o = EDDY_TLS_OPTS_INIT;
    o.session_key = key;
    hs h = shake(cc, host, &o, sc, NULL);
    EDDY_OK(h.rc);
    bool resumed = eddy_tls_is_resumed(h.c);
    EDDY_CHECK(resumed == eddy_tls_is_resumed(h.s));
    char b;
    EDDY_OK(eddy_stream_write_all(h.s, "s", 1));
    EDDY_CHECK_EQ(eddy_stream_read(h.c, &b, 1), 1);
    EDDY_OK(eddy_stream_write_all(h.c, "c", 1));
    EDDY_CHECK_EQ(eddy_stream_read(h.s, &b, 1), 1);
    /* A resumed session still knows who the server is. */
    EDDY_CHECK(strcmp(peer_cn(h.c), "localhost") == 0);
    hs_close(&h);
    return resumed;
}

EDDY_TEST(tls_resumption_tls13_and_tls12)
{
    eddy_tls_ctx *cc = tls_client_ctx(), *sc = tls_server_ctx_for("server");
    EDDY_CHECK(!visit(cc, "localhost", NULL, sc));
    EDDY_CHECK(visit(cc, "localhost", NULL, sc));
    EDDY_CHECK(visit(cc, "localhost", NULL, sc));
    /* Another key (the same host on another port, say) has no session yet. */
    EDDY_CHECK(!visit(cc, "localhost", "localhost:8443", sc));
    EDDY_CHECK(visit(cc, "localhost", "localhost:8443", sc));
    /* A server that does not know the ticket (another context: another ticket key) makes
     * a full handshake. */
    eddy_tls_ctx *sc2 = tls_server_ctx_for("server");
    EDDY_CHECK(!visit(cc, "localhost", NULL, sc2));
    eddy_tls_ctx_close(sc2);
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    o.max_version = EDDY_TLS_V1_2;
    eddy_tls_ctx *s12 = server_ctx_opts(&o, "server");
    EDDY_CHECK(!visit(cc, "localhost", "v12", s12));
    EDDY_CHECK(visit(cc, "localhost", "v12", s12));
    EDDY_CHECK(visit(cc, "localhost", "v12", s12));
    eddy_tls_ctx_close(s12);
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    return 0;
}

EDDY_TEST(tls_resumption_off)
{
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    o.session_tickets = false;
    eddy_tls_ctx *sc = server_ctx_opts(&o, "server"), *cc = tls_client_ctx();
    EDDY_CHECK(!visit(cc, "localhost", NULL, sc));
    EDDY_CHECK(!visit(cc, "localhost", NULL, sc));
    eddy_tls_ctx_close(sc);
    eddy_tls_client_opts co = EDDY_TLS_CLIENT_OPTS_INIT;
    co.ca_file = tls_file("ca.pem");
    co.session_cache = 0;
    eddy_tls_ctx *nc = client_ctx_opts(&co);
    sc = tls_server_ctx_for("server");
    EDDY_CHECK(!visit(nc, "localhost", NULL, sc));
    EDDY_CHECK(!visit(nc, "localhost", NULL, sc));
    eddy_tls_ctx_close(nc);
    eddy_tls_ctx_close(sc);
    eddy_tls_ctx_close(cc);
    return 0;
}

EDDY_TEST(tls_session_cache_is_bounded)
{
    eddy_tls_client_opts co = EDDY_TLS_CLIENT_OPTS_INIT;
    co.ca_file = tls_file("ca.pem");
    co.session_cache = 2;
    eddy_tls_ctx *cc = client_ctx_opts(&co), *sc = tls_server_ctx_for("server");
    EDDY_CHECK(!visit(cc, "localhost", "a", sc));
    EDDY_CHECK(!visit(cc, "localhost", "b", sc));
    EDDY_CHECK(visit(cc, "localhost", "a", sc)); /* a is the most recent now */
    EDDY_CHECK(!visit(cc, "localhost", "c", sc)); /* evicts b */
    EDDY_CHECK(!visit(cc, "localhost", "b", sc));
    EDDY_CHECK(!visit(cc, "localhost", "a", sc)); /* b's return evicted a */
    /* Many connections to one key keep a few sessions, not all. */
    for (int i = 0; i < 20; i++) (void)visit(cc, "localhost", "many", sc);
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    return 0;
}

/* ---- contexts outlive their users' references ---------------------------------------------- */

EDDY_TEST(tls_ctx_closed_while_streams_live)
{
    eddy_tls_ctx *cc = tls_client_ctx(), *sc = tls_server_ctx_for("server");
    hs h = shake(cc, "localhost", NULL, sc, NULL);
    EDDY_OK(h.rc);
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    char b[4];
    EDDY_OK(eddy_stream_write_all(h.s, "tick", 4)); /* carries tickets into cc's cache */
    EDDY_CHECK_EQ(eddy_stream_read(h.c, b, 4), 4);
    EDDY_OK(eddy_stream_write_all(h.c, "tock", 4));
    EDDY_CHECK_EQ(eddy_stream_read(h.s, b, 4), 4);
    hs_close(&h); /* the contexts go now (ASan/LSan would see a leak or a use after free) */
    return 0;
}
#else
EDDY_TEST(tls_not_built)
{
    /* Built without OpenSSL: every call says so. */
    eddy_tls_ctx *c = (eddy_tls_ctx *)1;
    EDDY_CHECK_EQ(eddy_tls_client_ctx_open(NULL, &c), -ENOTSUP);
    EDDY_CHECK(c == NULL);
    eddy_tls_server_opts o = EDDY_TLS_SERVER_OPTS_INIT;
    EDDY_CHECK_EQ(eddy_tls_server_ctx_open(&o, &c), -ENOTSUP);
    eddy_stream *a, *b, *t = (eddy_stream *)1;
    EDDY_OK(eddy_memstream_pair(&a, &b, NULL));
    EDDY_CHECK_EQ(eddy_tls_client(a, NULL, "localhost", NULL, &t), -ENOTSUP);
    EDDY_CHECK(t == NULL);
    EDDY_CHECK_EQ(eddy_tls_server(a, NULL, NULL, &t), -ENOTSUP);
    EDDY_CHECK_EQ(eddy_tls_handshake(a), -EINVAL);
    EDDY_CHECK_EQ(eddy_tls_key_update(a, false), -EINVAL);
    EDDY_CHECK(eddy_tls_version(a) == NULL && eddy_tls_alpn(a) == NULL && !eddy_tls_is_resumed(a));
    EDDY_CHECK(strncmp(eddy_strerror(EDDY_ETLS_VERIFY), "TLS ", 4) == 0);
    EDDY_OK(eddy_stream_close(a));
    EDDY_OK(eddy_stream_close(b));
    eddy_tls_ctx_close(NULL);
    return 0;
}
#endif
