/* N10, X3: the stream conformance suite (eddy_check_stream) over TLS streams: on memory
 * pairs (plain and with every evil hook), Unix socket pairs and TCP.
 *
 * TLS streams declare EDDY_STREAMTEST_CLOSE_FLUSHES: a graceful close or shutdown_write
 * sends close_notify (and a cancelled write's tail) through the inner stream, so it waits
 * for the peer to read when the inner buffer is full.
 *
 * The binary runs with glibc's per-thread malloc cache off (it re-executes itself so): freed
 * chunks in that cache still count as allocated in mallinfo2, and OpenSSL's many allocation
 * sizes fill it a little more over hundreds of handshakes, which the checker's leak cycles
 * would read as growth (measured: tens of KiB over the first thousand handshakes, none with
 * the cache off, and no growth of OpenSSL's own live allocations at all). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* glibc passes main's arguments to constructors too. */
__attribute__((constructor)) static void no_tcache(int argc, char **argv)
{
    (void)argc;
    const char *t = getenv("GLIBC_TUNABLES");
    if (t && strstr(t, "glibc.malloc.tcache_count=0")) return;
    char v[512];
    snprintf(v, sizeof v, "%s%sglibc.malloc.tcache_count=0", t ? t : "", t ? ":" : "");
    setenv("GLIBC_TUNABLES", v, 1);
    execv("/proc/self/exe", argv);
    /* Could not: run anyway (the leak check may then see the cache filling). */
}

#include "eddy/test.h"
#ifdef EDDY_TEST_OPENSSL
#include "tls_util.h"

typedef struct conf {
    eddy_tls_ctx *cc, *sc;
    const eddy_memstream_hooks *hooks; /* memory pairs */
    int kind;                          /* 0 mem, 1 socketpair, 2 tcp */
    eddy_listener *l;
    eddy_sockaddr addr;
} conf;

static int make(void *p, eddy_stream **a, eddy_stream **b)
{
    conf *c = p;
    eddy_stream *ia, *ib;
    int rc;
    if (c->kind == 0) {
        rc = eddy_memstream_pair(&ia, &ib, c->hooks);
    } else if (c->kind == 1) {
        rc = eddy_socketpair(&ia, &ib);
    } else {
        if ((rc = eddy_tcp_connect_addr(&c->addr, &ia)) < 0) return rc;
        if ((rc = eddy_listener_accept(c->l, &ib, NULL)) < 0) eddy_stream_abort(ia);
    }
    if (rc < 0) return rc;
    return tls_handshake_pair(ia, ib, c->cc, "localhost", NULL, c->sc, NULL, a, b, NULL, NULL);
}

static int check(conf *c, const char *name, size_t volume, int64_t timeout)
{
    /* No session cache: its entries (each holding the server's certificates) fill up over
     * the first connections, which the leak cycles would count; test_tls checks it stays
     * bounded. */
    eddy_tls_client_opts o = EDDY_TLS_CLIENT_OPTS_INIT;
    o.ca_file = tls_file("ca.pem");
    o.session_cache = 0;
    EDDY_OK(eddy_tls_client_ctx_open(&o, &c->cc));
    c->sc = tls_server_ctx_for("server");
    int rc = eddy_check_stream(&(eddy_stream_factory){.name = name, .make = make, .ctx = c,
                                                     .kind = "tls", .volume = volume,
                                                     .flags = EDDY_STREAMTEST_CLOSE_FLUSHES,
                                                     .timeout = timeout});
    eddy_tls_ctx_close(c->cc);
    eddy_tls_ctx_close(c->sc);
    return rc;
}

EDDY_TEST(tls_conform_mem)
{
    conf c = {.kind = 0};
    EDDY_OK(check(&c, "tls over mem", 0, 0));
    return 0;
}
#endif
