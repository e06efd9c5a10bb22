// A C++ program using eddy through its public headers: they must compile as C++ (C++14 and
// later, -Wall -Wextra -Werror) and the library must work from it. Built by the test suite
// as test_cxx_headers (against the build tree) and by scripts/test.sh's install check
// (against an installed prefix, with pkg-config). Prints "cxx consumer: ok" and exits 0.
#include <eddy.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            std::fprintf(stderr, "cxx consumer: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            return -EPROTO;                                                           \
        }                                                                             \
    } while (0)

namespace {

int sleeper(void *arg)
{
    return eddy_sleep(*static_cast<int64_t *>(arg));
}

int producer(void *arg)
{
    auto *tx = static_cast<eddy_chan_tx *>(arg);
    for (int i = 1; i <= 3; i++) {
        int rc = eddy_chan_send(tx, &i);
        if (rc < 0) return rc;
    }
    return eddy_chan_close_send(tx);
}

int starter(void *arg)
{
    (void)arg;
    return eddy_started(const_cast<char *>("started"));
}

int body(void *)
{
    // Tasks and nurseries: the site-recording macro, and the function forms.
    eddy_nursery n;
    CHECK(eddy_nursery_open(&n) == 0);
    int64_t ten_ms = EDDY_MSEC(10);
    CHECK(eddy_spawn(&n, sleeper, &ten_ms) == 0);
    eddy_spawn_opts so = {};
    so.name = "named";
    CHECK(eddy_spawn_with(&n, sleeper, &ten_ms, &so) == 0);
    void *started = nullptr;
    CHECK(eddy_start(&n, starter, nullptr, &started) == 0);
    CHECK(std::strcmp(static_cast<const char *>(started), "started") == 0);
    CHECK(eddy_nursery_close(&n) == 0);

    // Cancel scopes: the defaults, and options through the function form.
    eddy_cancel_scope cs;
    CHECK(eddy_cancel_scope_enter(&cs) == 0);
    CHECK(eddy_sleep(EDDY_MSEC(1)) == 0);
    eddy_cancel_scope_exit(&cs);
    CHECK(!cs.cancelled_caught);
    eddy_cancel_scope_opts o = EDDY_CANCEL_SCOPE_OPTS_INIT;
    o.timeout = EDDY_MSEC(5);
    o.fail = true;
    CHECK(eddy_cancel_scope_enter_with(&cs, &o) == 0);
    CHECK(eddy_sleep(EDDY_SEC(10)) == -ETIMEDOUT);
    eddy_cancel_scope_exit(&cs);
    CHECK(cs.cancelled_caught);

    // TLS settings from C++: the options' initializers; a context where OpenSSL is built in
    // (-ENOTSUP without it).
    eddy_tls_client_opts tco = EDDY_TLS_CLIENT_OPTS_INIT;
    tco.insecure = true;
    eddy_tls_opts to = EDDY_TLS_OPTS_INIT;
    CHECK(to.close_timeout == EDDY_TLS_CLOSE_TIMEOUT);
    eddy_tls_server_opts tso = EDDY_TLS_SERVER_OPTS_INIT;
    CHECK(tso.session_tickets && tso.certs == nullptr);
    eddy_tls_ctx *tctx = nullptr;
    int trc = eddy_tls_client_ctx_open(&tco, &tctx);
    CHECK(trc == 0 || trc == -ENOTSUP);
    eddy_tls_ctx_close(tctx);

    // A channel, received through eddy_choose with a deadline clause.
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    CHECK(eddy_chan_open(&tx, &rx, sizeof(int), 0) == 0);
    CHECK(eddy_nursery_open(&n) == 0);
    CHECK(eddy_spawn(&n, producer, &tx) == 0);
    int got = 0, sum = 0;
    for (;;) {
        eddy_clause c[2] = {EDDY_CLAUSE_RECV(&rx, &got),
                            EDDY_CLAUSE_DEADLINE(eddy_now() + EDDY_SEC(5))};
        int i = eddy_choose(c, 2, 0);
        CHECK(i == 0);
        if (c[0].rc == -EPIPE) break;
        CHECK(c[0].rc == 0);
        sum += got;
    }
    CHECK(eddy_nursery_close(&n) == 0);
    CHECK(sum == 6);
    CHECK(eddy_chan_close_recv(&rx) == 0);

    // Streams: a memory pair.
    eddy_stream *a = nullptr, *b = nullptr;
    CHECK(eddy_memstream_pair(&a, &b, nullptr) == 0);
    CHECK(eddy_stream_write_all(a, "hello", 5) == 0);
    char buf[8] = {};
    CHECK(eddy_stream_read(b, buf, sizeof buf) == 5);
    CHECK(std::memcmp(buf, "hello", 5) == 0);
    CHECK(eddy_stream_close(a) == 0);
    CHECK(eddy_stream_close(b) == 0);

    // A child process and a signal receiver: the options' initializer, the function forms.
    eddy_process_opts po = EDDY_PROCESS_OPTS_INIT;
    po.stdout_mode = EDDY_STDIO_PIPE;
    const char *const argv[] = {"sh", "-c", "echo child", nullptr};
    eddy_process p;
    CHECK(eddy__process_spawn(&p, argv, &po, "cxx_consumer") == 0);
    char out[16] = {};
    CHECK(eddy_stream_read(eddy_process_stdout(&p), out, sizeof out) == 6);
    CHECK(eddy_process_wait(&p) == 0);
    CHECK(eddy_process_close(&p) == 0);
    eddy_signal_receiver r;
    const int sigs[] = {SIGUSR1};
    CHECK(eddy__signal_open(&r, sigs, 1, "cxx_consumer") == 0);
    CHECK(kill(getpid(), SIGUSR1) == 0);
    CHECK(eddy_signal_receive(&r) == SIGUSR1);
    eddy_signal_close(&r);

    // Synchronisation objects with their static initializers, and statistics.
    static eddy_mutex m = EDDY_MUTEX_INIT(m);
    CHECK(eddy_mutex_lock(&m) == 0);
    CHECK(eddy_mutex_is_locked(&m));
    CHECK(eddy_mutex_unlock(&m) == 0);
    struct eddy_loop_stats st;
    eddy_loop_stats(&st);
    CHECK(st.tasks_spawned >= 4);
    return 0;
}

} // namespace

int main()
{
    if (std::strcmp(eddy_version(), EDDY_VERSION_STRING) != 0) {
        std::fprintf(stderr, "cxx consumer: headers %s, library %s\n", EDDY_VERSION_STRING,
                     eddy_version());
        return 1;
    }
    int rc = eddy_run(body, nullptr);
    if (rc != 0) {
        std::fprintf(stderr, "cxx consumer: eddy_run: %d (%s)\n", rc, std::strerror(-rc));
        return 1;
    }
    std::printf("cxx consumer: ok (eddy %s)\n", eddy_version());
    return 0;
}
