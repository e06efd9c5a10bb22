/* echo_uv: the libuv anchor of the echo benchmark (scripts/bench_echo.sh).
 *
 *   echo_uv PORT
 *
 * A TCP echo server on 127.0.0.1:PORT on libuv, written the way libuv is used at its best
 * rather than the way its tutorial does it (a malloc'd 64 KiB buffer per read and a uv_write
 * request per echo): reads go into one buffer shared by all connections, and each chunk is
 * sent back with uv_try_write. Only when the socket does not take all of it is the rest copied
 * into a uv_write request; reading then stops until that write completes, as in echo_epoll.
 * Prints "Server listening at 127.0.0.1:PORT" once it accepts connections; exits 0 on SIGTERM
 * or SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sig_term, sig_int;

/* One read buffer for every connection: libuv calls alloc_cb and then read_cb for the same
 * connection back to back, and read_cb is done with the bytes (sent, or copied) before it
 * returns, so nothing else can be using it at an alloc. */
static char rbuf[64 * 1024];

struct write_req {
    uv_write_t req;
    uv_buf_t buf;
    char data[];
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_closed(uv_handle_t *h) { free(h); }

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    uv_stream_t *s = req->handle;
    free(req);
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    if (!uv_is_closing((uv_handle_t *)s) && uv_read_start(s, on_alloc, on_read) < 0)
        uv_close((uv_handle_t *)s, on_closed);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n == 0) return; /* EAGAIN: nothing to do */
    if (n < 0) {        /* UV_EOF or an error */
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    int w = uv_try_write(s, &out, 1);
    if (w == n) return;
    if (w < 0 && w != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0, rest = (size_t)n - done;
    struct write_req *wr = malloc(sizeof *wr + rest);
    if (!wr) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    memcpy(wr->data, buf->base + done, rest);
    wr->buf = uv_buf_init(wr->data, (unsigned)rest);
    uv_read_stop(s); /* backpressure: read again once the echo is out */
    if (uv_write(&wr->req, s, &wr->buf, 1, on_written) < 0) {
        free(wr);
        uv_close((uv_handle_t *)s, on_closed);
    }
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0) return;
    uv_tcp_t *c = malloc(sizeof *c);
    if (!c) return;
    uv_tcp_init(loop, c);
    if (uv_accept(srv, (uv_stream_t *)c) < 0) {
        uv_close((uv_handle_t *)c, on_closed);
        return;
    }
    /* As in echo_epoll: no Nagle delay on the echoed replies. */
    uv_tcp_nodelay(c, 1);
    if (uv_read_start((uv_stream_t *)c, on_alloc, on_read) < 0) uv_close((uv_handle_t *)c, on_closed);
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h)) return;
    /* Connections were malloc'd; the server and signal handles are static. */
    uv_close(h, h->type == UV_TCP && h != (uv_handle_t *)&server ? on_closed : NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    uv_walk(loop, close_any, NULL); /* uv_run then returns once every handle is closed */
}

int main(int argc, char **argv)
{
    if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
        fprintf(stderr, "usage: echo_uv PORT\n");
        return 2;
    }
    int port = atoi(argv[1]);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);

    loop = uv_default_loop();
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port, &sa);
    uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&sa, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection);
    if (rc < 0) {
        fprintf(stderr, "echo_uv: port %d: %s\n", port, uv_strerror(rc));
        return 1;
    }
    uv_signal_init(loop, &sig_term);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_int, on_signal, SIGINT);

    printf("Server listening at 127.0.0.1:%d\n", port);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
