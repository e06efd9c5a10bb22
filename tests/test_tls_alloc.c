/* N10: a TLS stream in its steady state allocates nothing per read or write beyond what
 * OpenSSL does: this binary counts every malloc, calloc and realloc of the process (its own
 * definitions take the place of libc's), OpenSSL's apart (through CRYPTO_set_mem_functions).
 * Not under the sanitizers, whose allocators must stay in place.
 *
 * (OpenSSL 3.0 itself allocates a few times per record: its cipher calls set up parameters
 * on the heap. The test reports the figure; it is OpenSSL's to improve, 3.1+ does.) */
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stddef.h>

#include "eddy/test.h"
#if defined(EDDY_TEST_OPENSSL) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#include "tls_util.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static _Atomic long allocs, ossl_allocs;

static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file, (void)line;
    atomic_fetch_add_explicit(&ossl_allocs, 1, memory_order_relaxed);
    return __libc_malloc(n);
}
static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file, (void)line;
    atomic_fetch_add_explicit(&ossl_allocs, 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}
extern void __libc_free(void *);
static void ossl_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    __libc_free(p);
}
/* Before tls_util's constructor makes the first OpenSSL allocation. */
__attribute__((constructor(101))) static void ossl_counting(void)
{
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) abort();
}

void *malloc(size_t n)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_malloc(n);
}
void *calloc(size_t k, size_t n)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_calloc(k, n);
}
void *realloc(void *p, size_t n)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}
int posix_memalign(void **p, size_t align, size_t n)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    *p = __libc_memalign(align, n);
    return *p ? 0 : ENOMEM;
}

static void exchange(eddy_stream *c, eddy_stream *s, int rounds)
{
    static char buf[3000], in[3000];
    for (int i = 0; i < rounds; i++) {
        size_t n = 1 + (size_t)(i * 37) % sizeof buf;
        struct iovec v[2] = {{buf, 5}, {buf + 5, n}};
        EDDY_OK(eddy_stream_writev(c, v, 2, NULL));
        size_t got = 0;
        while (got < n + 5) {
            ssize_t k = eddy_stream_read(s, in, sizeof in);
            EDDY_CHECK(k > 0);
            got += (size_t)k;
        }
        EDDY_OK(eddy_stream_write_all(s, buf, n));
        for (got = 0; got < n;) {
            ssize_t k = eddy_stream_read(c, in, sizeof in);
            EDDY_CHECK(k > 0);
            got += (size_t)k;
        }
    }
}

EDDY_TEST(tls_steady_state_allocates_nothing)
{
    eddy_tls_ctx *cc = tls_client_ctx(), *sc = tls_server_ctx_for("server");
    eddy_stream *c, *s;
    EDDY_OK(tls_mem_pair(NULL, cc, sc, &c, &s));
    exchange(c, s, 50); /* the first records settle OpenSSL's buffers and tickets */
    long before = atomic_load(&allocs), obefore = atomic_load(&ossl_allocs);
    exchange(c, s, 2000);
    long during = atomic_load(&allocs) - before;
    if (during != 0)
        eddy_test_fail(__FILE__, __LINE__, "%ld allocations outside OpenSSL in 2000 round trips",
                       during);
    printf("# OpenSSL's own: %.1f allocations per record\n",
           (double)(atomic_load(&ossl_allocs) - obefore) / 4000);
    /* The counter counts: a handshake allocates. */
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    before = atomic_load(&allocs);
    obefore = atomic_load(&ossl_allocs);
    EDDY_OK(tls_mem_pair(NULL, cc, sc, &c, &s));
    EDDY_CHECK(atomic_load(&allocs) > before);
    printf("# one handshake (both ends): %ld allocations by eddy and libc, %ld by OpenSSL\n",
           atomic_load(&allocs) - before, atomic_load(&ossl_allocs) - obefore);
    EDDY_OK(eddy_stream_close(c));
    EDDY_OK(eddy_stream_close(s));
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    return 0;
}
#else
EDDY_TEST(tls_steady_state_allocates_nothing)
{
    printf("# skipped: built without OpenSSL or under a sanitizer\n");
    return 0;
}
#endif
