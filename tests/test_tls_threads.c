/* N10: TLS contexts are shared by loops on several threads: each connection holds a reference
 * (counted atomically) and the client's session cache takes a lock. Four threads, each its own
 * eddy_run, make connections with the same two contexts at once (and resume each other's
 * sessions); ThreadSanitizer runs this binary. */
#include <pthread.h>

#include "eddy/test.h"
#ifdef EDDY_TEST_OPENSSL
#include "tls_util.h"

#define THREADS 4
#define CONNS 25

static eddy_tls_ctx *cc, *sc;

typedef struct worker {
    int id, rc, resumed;
} worker;

static int loop_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < CONNS; i++) {
        eddy_stream *c, *s;
        int rc = tls_mem_pair(NULL, cc, sc, &c, &s);
        if (rc < 0) return rc;
        w->resumed += eddy_tls_is_resumed(c);
        char b;
        if ((rc = eddy_stream_write_all(s, "s", 1)) < 0 || (rc = (int)eddy_stream_read(c, &b, 1)) != 1 ||
            (rc = eddy_stream_write_all(c, "c", 1)) < 0 || (rc = (int)eddy_stream_read(s, &b, 1)) != 1)
            return rc < 0 ? rc : -EPROTO;
        if ((rc = eddy_stream_close(c)) < 0 || (rc = eddy_stream_close(s)) < 0) return rc;
    }
    return 0;
}

static void *thread_main(void *arg)
{
    worker *w = arg;
    w->rc = eddy_run(loop_main, w);
    return NULL;
}

EDDY_TEST_EX(tls_contexts_shared_by_threads, .real_clock = true, .timeout = EDDY_SEC(120))
{
    eddy_tls_client_opts o = EDDY_TLS_CLIENT_OPTS_INIT;
    o.ca_file = tls_file("ca.pem");
    o.session_cache = 2;
    EDDY_OK(eddy_tls_client_ctx_open(&o, &cc));
    sc = tls_server_ctx_for("server");
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.id = i};
        EDDY_CHECK(pthread_create(&th[i], NULL, thread_main, &w[i]) == 0);
    }
    int resumed = 0;
    for (int i = 0; i < THREADS; i++) {
        EDDY_CHECK(pthread_join(th[i], NULL) == 0);
        EDDY_OK(w[i].rc);
        resumed += w[i].resumed;
    }
    EDDY_CHECK(resumed > 0);
    eddy_tls_ctx_close(cc);
    eddy_tls_ctx_close(sc);
    return 0;
}
#endif
