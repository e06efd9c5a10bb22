/* N10: TLS streams over memory pairs (virtual clock): handshakes, verification, SNI, ALPN,
 * resumption, STARTTLS, close_notify, cancellation, concurrency, errors. */
#include "eddy/test.h"
#ifdef EDDY_TEST_OPENSSL
#include "tls_util.h"

EDDY_TEST(tls_basic_roundtrip)
{
    eddy_tls_ctx *cc = tls_client_ctx(), *sc = tls_server_ctx_for("server");
    eddy_stream *c, *s;
    EDDY_OK(tls_mem_pair(NULL, cc, sc, &c, &s));
    EDDY_CHECK(strcmp(eddy_stream_kind(c), "tls") == 0);
    EDDY_CHECK(strcmp(eddy_tls_version(c), "TLSv1.3") == 0);
    EDDY_OK(eddy_stream_write_all(c, "hello", 5));
    char buf[16];
    EDDY_CHECK_EQ(eddy_stream_read(s, buf, sizeof buf), 5);
    EDDY_CHECK(memcmp(buf, "hello", 5) == 0);
    EDDY_OK(eddy_stream_write_all(s, "world!", 6));
    EDDY_CHECK_EQ(eddy_stream_read(c, buf, sizeof buf), 6);
    EDDY_OK(eddy_stream_close(c));
    EDDY_CHECK_EQ(eddy_stream_read(s, buf, sizeof buf), 0);
    EDDY_OK(eddy_stream_close(s));
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    return 0;
}
#endif
