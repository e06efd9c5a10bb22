/* eddy_strerror and eddy's own error codes (error.h). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "eddy/test.h"

#define CHECK_STR(got, want)                                                                  \
    do {                                                                                      \
        const char *g_ = (got), *w_ = (want);                                                 \
        if (!g_ || strcmp(g_, w_) != 0)                                                       \
            eddy_test_fail(__FILE__, __LINE__, "%s is \"%s\", want \"%s\"", #got, g_ ? g_ : "(null)", \
                           w_);                                                               \
    } while (0)

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
};
#define NOWN (sizeof own / sizeof own[0])

EDDY_TEST(strerror_knows_eddy_codes)
{
    for (size_t i = 0; i < NOWN; i++) {
        CHECK_STR(eddy_strerror(own[i].code), own[i].text);
        /* positive, as an errno-style value, the same code */
        CHECK_STR(eddy_strerror(-own[i].code), own[i].text);
    }
    return 0;
}

/* Every code is outside the errno range (so never read as an errno value), in the resolver's
 * range, and distinct. */
EDDY_TEST(eddy_codes_are_outside_errno_range)
{
    for (size_t i = 0; i < NOWN; i++) {
        EDDY_CHECK(own[i].code < -4096);
        EDDY_CHECK(own[i].code <= -4100 && own[i].code >= -4199);
        for (size_t j = 0; j < i; j++) EDDY_CHECK(own[i].code != own[j].code);
        /* what strerror makes of it: not a real errno text */
        char want[64];
        snprintf(want, sizeof want, "Unknown error %d", -own[i].code);
        CHECK_STR(strerror(-own[i].code), want);
    }
    return 0;
}

/* TLS's codes (built with or without OpenSSL: the values and their text are always there). */
static const struct {
    int code;
    const char *text;
} tls[] = {
    {EDDY_ETLS_VERIFY, "TLS certificate verification failed"},
    {EDDY_ETLS_HOSTNAME, "TLS certificate does not match the host name"},
    {EDDY_ETLS_HANDSHAKE, "TLS handshake failed: no parameters in common with the peer"},
    {EDDY_ETLS_PROTOCOL, "TLS protocol error"},
    {EDDY_ETLS_ALERT, "TLS peer sent a fatal alert"},
    {EDDY_ETLS_TRUNCATED, "TLS handshake cut off: the connection ended"},
    {EDDY_ETLS_LOAD, "TLS certificate or key could not be loaded"},
};

EDDY_TEST(strerror_knows_tls_codes)
{
    for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++) {
        EDDY_CHECK(tls[i].code <= -4200 && tls[i].code >= -4299);
        for (size_t j = 0; j < i; j++) EDDY_CHECK(tls[i].code != tls[j].code);
        CHECK_STR(eddy_strerror(tls[i].code), tls[i].text);
        CHECK_STR(eddy_strerror(-tls[i].code), tls[i].text);
    }
    return 0;
}

EDDY_TEST(strerror_of_errno_values)
{
    char want[256];
    snprintf(want, sizeof want, "%s", strerror(ENOENT));
    CHECK_STR(eddy_strerror(-ENOENT), want);
    CHECK_STR(eddy_strerror(ENOENT), want);
    snprintf(want, sizeof want, "%s", strerror(ECONNREFUSED));
    CHECK_STR(eddy_strerror(-ECONNREFUSED), want);
    snprintf(want, sizeof want, "%s", strerror(ECANCELED));
    CHECK_STR(eddy_strerror(-ECANCELED), want);
    snprintf(want, sizeof want, "%s", strerror(0));
    CHECK_STR(eddy_strerror(0), want);
    /* eddy's meaning of -ETIMEDOUT: most often a deadline, not a connection */
    CHECK_STR(eddy_strerror(-ETIMEDOUT), "Timed out");
    CHECK_STR(eddy_strerror(ETIMEDOUT), "Timed out");
    return 0;
}

EDDY_TEST(strerror_of_unknown_values)
{
    CHECK_STR(eddy_strerror(-4150), "Unknown eddy error -4150");
    CHECK_STR(eddy_strerror(-4097), "Unknown eddy error -4097");
    CHECK_STR(eddy_strerror(-4399), "Unknown eddy error -4399");
    CHECK_STR(eddy_strerror(4250), "Unknown eddy error -4250");
    /* outside every range: strerror's own "Unknown error" */
    char want[64];
    snprintf(want, sizeof want, "%s", strerror(5000));
    CHECK_STR(eddy_strerror(-5000), want);
    snprintf(want, sizeof want, "%s", strerror(3000));
    CHECK_STR(eddy_strerror(-3000), want);
    EDDY_CHECK(eddy_strerror(INT_MIN) != NULL);
    EDDY_CHECK(eddy_strerror(INT_MAX) != NULL);
    EDDY_CHECK(strlen(eddy_strerror(INT_MIN)) > 0);
    return 0;
}

/* The buffer for formatted texts is per thread: a text stays as it was while other threads
 * format theirs. */
typedef struct fmt_arg {
    int code;
    int bad;
} fmt_arg;

static void *format_many(void *p)
{
    fmt_arg *a = p;
    char want[64];
    snprintf(want, sizeof want, "Unknown eddy error %d", a->code);
    for (int i = 0; i < 20000; i++) {
        const char *s = eddy_strerror(a->code);
        if (strcmp(s, want) != 0) a->bad++;
    }
    return NULL;
}

EDDY_TEST_EX(strerror_buffers_are_per_thread, .real_clock = true)
{
    fmt_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (fmt_arg){.code = -4190 - i};
        EDDY_OK(pthread_create(&th[i], NULL, format_many, &args[i]));
    }
    const char *mine = eddy_strerror(-4180);
    for (int i = 0; i < 4; i++) EDDY_OK(pthread_join(th[i], NULL));
    CHECK_STR(mine, "Unknown eddy error -4180");
    for (int i = 0; i < 4; i++) EDDY_CHECK_EQ(args[i].bad, 0);
    return 0;
}

/* The HTTP client's codes: in the HTTP range, distinct, each with its text. */
static const struct {
    int code;
    const char *text;
} http[] = {
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

EDDY_TEST(strerror_knows_http_codes)
{
    size_t n = sizeof http / sizeof http[0];
    for (size_t i = 0; i < n; i++) {
        EDDY_CHECK(http[i].code <= -4300 && http[i].code >= -4399);
        for (size_t j = 0; j < i; j++) EDDY_CHECK(http[i].code != http[j].code);
        CHECK_STR(eddy_strerror(http[i].code), http[i].text);
        CHECK_STR(eddy_strerror(-http[i].code), http[i].text);
    }
    CHECK_STR(eddy_strerror(-4399), "Unknown eddy error -4399");
    return 0;
}
