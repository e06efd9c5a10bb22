/* The cooperative budget (issue 7, bug 10): a task whose blocking calls keep completing
 * without suspending must still let the loop run, every 128 calls: other tasks get their
 * turns, the clock moves and timers fire, its own deadline included. Before the budget, a
 * reader of an always-ready source (/dev/zero through eddy_fd_stream, a memory stream or a
 * buffered reader with data, a fast socket) never suspended: a ticker beside it never ticked
 * and its own EDDY_MOVE_ON_AFTER never fired, because eddy_now() only moves when the loop
 * runs; the program hung. Every test here hung or failed that way before. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "eddy/test.h"

/* ---- the reader of /dev/zero under a deadline, with a ticker beside it ---------------- */

typedef struct ticking {
    eddy_ticker tk;
    int64_t period;
    uint64_t ticks;
    bool stop;
} ticking;

static int ticker_task(void *arg)
{
    ticking *k = arg;
    /* Fixed rate: a late tick does not shift the later ones, so the count is the number of
     * periods that passed, however the scheduler orders the tasks. */
    EDDY_OK(eddy_ticker_start(&k->tk, k->period, EDDY_TICK_FIXED_RATE));
    while (!k->stop) {
        int rc = eddy_ticker_wait(&k->tk, NULL);
        if (rc < 0) break; /* stopped */
        k->ticks++;
    }
    eddy_ticker_stop(&k->tk);
    return 0;
}

/* On the virtual clock time moves only by eddy_clock_jump (or when every task waits): this
 * task is the clock, 1 ms per turn it gets. Without the budget it never gets one. */
static bool clock_stop;
static int clock_task(void *arg)
{
    (void)arg;
    while (!clock_stop) {
        EDDY_OK(eddy_clock_jump(EDDY_MSEC(1)));
        EDDY_OK(eddy_yield());
    }
    return 0;
}

static double real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct zero_run {
    ssize_t last;       /* what the read that ended the loop returned */
    uint64_t bytes;
    bool caught;        /* the scope's cancelled_caught */
    int64_t loop_ns;    /* eddy_now() from entering the scope to leaving it */
    double real_s;      /* the same on the real clock */
} zero_run;

static void read_dev_zero(zero_run *z, size_t chunk)
{
    int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    EDDY_CHECK(fd >= 0);
    eddy_stream *s;
    EDDY_OK(eddy_fd_stream(fd, 0, &s));
    static char buf[65536];
    EDDY_CHECK(chunk <= sizeof buf);
    eddy_cancel_scope cs;
    int64_t t0 = eddy_now();
    double r0 = real_now();
    EDDY_CANCEL_SCOPE(&cs, .timeout = EDDY_SEC(1)) {
        while ((z->last = eddy_stream_read(s, buf, chunk)) > 0) z->bytes += (uint64_t)z->last;
    }
    z->loop_ns = eddy_now() - t0;
    z->real_s = real_now() - r0;
    z->caught = cs.cancelled_caught;
    EDDY_OK(eddy_stream_close(s));
}

/* The test, on the real clock: returns -ECANCELED within 1.1 s, the ticker ticks. */
EDDY_TEST_EX(dev_zero_reader_meets_its_deadline, .real_clock = true, .timeout = EDDY_SEC(10))
{
    ticking k = {.period = EDDY_MSEC(10)};
    zero_run z = {0};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, ticker_task, &k));
        read_dev_zero(&z, 4096);
        k.stop = true;
        eddy_ticker_stop(&k.tk); /* wakes its waiter with -EPIPE */
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(z.last, -ECANCELED);
    EDDY_CHECK(z.caught);
    EDDY_CHECK(z.bytes > 0);
    EDDY_CHECK(z.loop_ns >= EDDY_SEC(1));
    if (z.real_s >= 1.1) eddy_test_fail(__FILE__, __LINE__, "returned after %.3f s", z.real_s);
    /* 100 ticks in a second; the machine may be loaded, but not one tick was the bug. */
    if (k.ticks < 50) eddy_test_fail(__FILE__, __LINE__, "only %llu ticks", (unsigned long long)k.ticks);
    return 0;
}

/* The same on the virtual clock, deterministic: the clock task moves time 1 ms per turn, and
 * gets a turn each time the reader's budget is spent. */
EDDY_TEST(dev_zero_reader_meets_its_deadline_virtual)
{
    ticking k = {.period = EDDY_MSEC(10)};
    zero_run z = {0};
    clock_stop = false;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, ticker_task, &k));
        EDDY_OK(eddy_spawn(n, clock_task, NULL));
        read_dev_zero(&z, 64);
        clock_stop = true;
        k.stop = true;
        eddy_ticker_stop(&k.tk);
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(z.last, -ECANCELED);
    EDDY_CHECK(z.caught);
    EDDY_CHECK(z.loop_ns >= EDDY_SEC(1) && z.loop_ns <= EDDY_SEC(1) + EDDY_MSEC(2));
    EDDY_CHECK(k.ticks >= 95 && k.ticks <= 100); /* fixed rate: 100 grid points passed */
    /* Each millisecond took one spent budget, 128 reads of 64 bytes: about 1000 of them
     * (seeded schedulers give the clock task a turn more or less often). */
    EDDY_CHECK(z.bytes >= 500ull * 128 * 64 && z.bytes <= 1500ull * 128 * 64);
    return 0;
}

/* ---- every kind of call that can complete without suspending ---------------------------
 * A spinner makes N such calls in a row while an observer task counts its own turns: with the
 * budget the observer runs about N / 128 times during the spin, without it never. */

enum { N = 1280 };

typedef struct spin {
    int (*setup)(struct spin *);
    int (*op)(struct spin *, int i);
    void (*teardown)(struct spin *);
    const char *name;
    eddy_stream *a, *b;
    eddy_bufreader br;
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    eddy_queue q;
    eddy_uqueue uq;
    eddy_mutex m;
    eddy_sem sem;
    eddy_limiter lim;
    eddy_limiter_token tok;
    eddy_event ev;
    eddy_promise p;
    eddy_barrier bar;
    eddy_ticker tk;
    eddy_udp *u;
    eddy_sockaddr ua;
    eddy_listener *l;
    int cfd;
    eddy_nursery *nu;
    char buf[N];
} spin;

static uint64_t observer_turns;
static bool spin_done;

static int observer(void *arg)
{
    (void)arg;
    while (!spin_done) {
        observer_turns++;
        EDDY_OK(eddy_yield());
    }
    return 0;
}

static int spinner(void *arg)
{
    spin *s = arg;
    uint64_t t0 = observer_turns;
    for (int i = 0; i < N; i++) {
        int rc = s->op(s, i);
        if (rc < 0) eddy_test_fail(__FILE__, __LINE__, "%s: op %d: %d", s->name, i, rc);
    }
    uint64_t turns = observer_turns - t0;
    spin_done = true;
    /* N / 128 = 10 forced yields; seeded schedulers may give the spinner some of them back. */
    if (turns < 2)
        eddy_test_fail(__FILE__, __LINE__, "%s: %d calls in a row, the observer ran %llu times",
                       s->name, N, (unsigned long long)turns);
    return 0;
}

/* streams */
static int mem_setup(spin *s)
{
    EDDY_OK(eddy_memstream_pair(&s->a, &s->b, NULL));
    memset(s->buf, 'x', N);
    return eddy_stream_write_all(s->a, s->buf, N); /* fits: 64 KiB per direction */
}
static int mem_read(spin *s, int i)
{
    (void)i;
    char c;
    ssize_t n = eddy_stream_read(s->b, &c, 1);
    return n == 1 ? 0 : (int)(n < 0 ? n : -EPROTO);
}
static int mem_write(spin *s, int i) { return eddy_stream_write_all(s->a, &s->buf[i], 1); }
static int mem_write_setup(spin *s) { return eddy_memstream_pair(&s->a, &s->b, NULL); }
static void pair_teardown(spin *s)
{
    EDDY_OK(eddy_stream_close(s->a));
    EDDY_OK(eddy_stream_close(s->b));
}

static int sock_setup(spin *s)
{
    EDDY_OK(eddy_socketpair(&s->a, &s->b));
    memset(s->buf, 'y', N);
    return eddy_stream_write_all(s->a, s->buf, N);
}

static int fd_setup(spin *s, const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    EDDY_CHECK(fd >= 0);
    return eddy_fd_stream(fd, 0, &s->a);
}
static int zero_setup(spin *s) { return fd_setup(s, "/dev/zero", O_RDONLY); }
static int null_setup(spin *s) { return fd_setup(s, "/dev/null", O_WRONLY); }
static int fd_read(spin *s, int i)
{
    (void)i;
    ssize_t n = eddy_stream_read(s->a, s->buf, 64);
    return n > 0 ? 0 : (int)(n < 0 ? n : -EPROTO);
}
static int fd_write(spin *s, int i)
{
    (void)i;
    return eddy_stream_write_all(s->a, s->buf, 64);
}
static int writev_op(spin *s, int i)
{
    (void)i;
    struct iovec iov[2] = {{s->buf, 16}, {s->buf + 16, 16}};
    return eddy_stream_writev(s->a, iov, 2, NULL);
}
static void one_teardown(spin *s) { EDDY_OK(eddy_stream_close(s->a)); }

static int bufr_setup(spin *s)
{
    EDDY_OK(mem_setup(s));
    EDDY_OK(eddy_bufreader_init(&s->br, s->b, NULL, 0));
    return (int)(eddy_bufreader_fill(&s->br) == N ? 0 : -EPROTO); /* all of it buffered */
}
static int bufr_read(spin *s, int i)
{
    (void)i;
    char c;
    ssize_t n = eddy_bufreader_read(&s->br, &c, 1);
    return n == 1 ? 0 : (int)(n < 0 ? n : -EPROTO);
}
static void bufr_teardown(spin *s)
{
    eddy_bufreader_destroy(&s->br);
    pair_teardown(s);
}

/* task-layer objects */
static int chan_setup(spin *s) { return eddy_chan_open(&s->tx, &s->rx, sizeof(int), 1); }
static int chan_op(spin *s, int i)
{
    return i % 2 ? eddy_chan_recv(&s->rx, &i) : eddy_chan_send(&s->tx, &i);
}
static void chan_teardown(spin *s)
{
    EDDY_OK(eddy_chan_close_send(&s->tx));
    EDDY_OK(eddy_chan_close_recv(&s->rx));
}

static int queue_setup(spin *s) { return eddy_queue_init(&s->q, sizeof(int), 1, 0); }
static int queue_op(spin *s, int i)
{
    return i % 2 ? eddy_queue_get(&s->q, &i) : eddy_queue_put(&s->q, &i);
}
static void queue_teardown(spin *s) { EDDY_OK(eddy_queue_destroy(&s->q)); }

static int uq_setup(spin *s) { return eddy_uqueue_init(&s->uq, sizeof(int), 1); }
static int uq_op(spin *s, int i)
{
    return i % 2 ? eddy_uqueue_get(&s->uq, &i) : eddy_uqueue_put(&s->uq, &i);
}
static void uq_teardown(spin *s) { EDDY_OK(eddy_uqueue_destroy(&s->uq)); }

static int mutex_setup(spin *s)
{
    eddy_mutex_init(&s->m);
    return 0;
}
static int mutex_op(spin *s, int i)
{
    (void)i;
    int rc = eddy_mutex_lock(&s->m);
    return rc < 0 ? rc : eddy_mutex_unlock(&s->m);
}

static int sem_setup(spin *s) { return eddy_sem_init(&s->sem, 1, 1); }
static int sem_op(spin *s, int i)
{
    (void)i;
    int rc = eddy_sem_acquire(&s->sem);
    return rc < 0 ? rc : eddy_sem_release(&s->sem);
}

static int lim_setup(spin *s) { return eddy_limiter_init(&s->lim, 1); }
static int lim_op(spin *s, int i)
{
    (void)i;
    int rc = eddy_limiter_acquire(&s->lim, &s->tok);
    return rc < 0 ? rc : eddy_limiter_release(&s->lim);
}

static int event_setup(spin *s)
{
    eddy_event_init(&s->ev);
    eddy_event_set(&s->ev);
    return 0;
}
static int event_op(spin *s, int i)
{
    (void)i;
    return eddy_event_wait(&s->ev);
}

static int promise_setup(spin *s)
{
    int rc = eddy_promise_init(&s->p);
    return rc < 0 ? rc : eddy_promise_set(&s->p, NULL, 0);
}
static int promise_op(spin *s, int i)
{
    (void)i;
    return eddy_promise_wait(&s->p, NULL);
}

static int barrier_setup(spin *s) { return eddy_barrier_init(&s->bar, 1); }
static int barrier_op(spin *s, int i)
{
    (void)i;
    return eddy_barrier_wait(&s->bar, NULL);
}

/* A fixed-rate ticker N periods behind: N ticks are due at once. */
static int ticker_setup(spin *s)
{
    EDDY_OK(eddy_ticker_start(&s->tk, EDDY_MSEC(1), EDDY_TICK_FIXED_RATE));
    return eddy_clock_jump(EDDY_MSEC(N + 1));
}
static int ticker_op(spin *s, int i)
{
    (void)i;
    return eddy_ticker_wait(&s->tk, NULL);
}
static void ticker_teardown(spin *s) { eddy_ticker_stop(&s->tk); }

static int choose_op(spin *s, int i)
{
    (void)s;
    (void)i;
    eddy_clause c = {.op = EDDY_CLAUSE_DEADLINE, .deadline = 0}; /* passed */
    return eddy_choose(&c, 1, 0);
}

static int resolve_op(spin *s, int i)
{
    (void)s;
    (void)i;
    eddy_sockaddr a;
    int rc = eddy_resolve("127.0.0.1", 80, AF_UNSPEC, &a, 1);
    return rc == 1 ? 0 : rc < 0 ? rc : -EPROTO;
}

static int udp_setup(spin *s)
{
    eddy_sockaddr local;
    EDDY_OK(eddy_sockaddr_parse("127.0.0.1", 0, &local));
    EDDY_OK(eddy_udp_open(&local, NULL, &s->u));
    return eddy_udp_local_addr(s->u, &s->ua);
}
static int udp_op(spin *s, int i)
{
    ssize_t n = i % 2 ? eddy_udp_recv(s->u, NULL, s->buf, 8) : eddy_udp_send(s->u, &s->ua, "d", 1);
    return n == 1 ? 0 : (int)(n < 0 ? n : -EPROTO);
}
static void udp_teardown(spin *s) { EDDY_OK(eddy_udp_close(s->u)); }

/* Accepts that find a connection waiting (the test connects a plain socket first: loopback
 * completes the handshake at once): half the calls are accepts. */
static int accept_setup(spin *s)
{
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &s->l));
    return eddy_listener_local_addr(s->l, &s->ua);
}
static int accept_op(spin *s, int i)
{
    if (i % 2 == 0) {
        s->cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->cfd < 0) return -errno;
        if (connect(s->cfd, (struct sockaddr *)&s->ua.ss, s->ua.len) < 0 && errno != EINPROGRESS)
            return -errno;
        return 0;
    }
    eddy_stream *c;
    int rc = eddy_listener_accept(s->l, &c, NULL);
    if (rc == 0) eddy_stream_abort(c);
    close(s->cfd);
    return rc;
}
static void accept_teardown(spin *s) { EDDY_OK(eddy_listener_close(s->l)); }

static int quick_child(void *arg)
{
    (void)arg;
    return 0;
}
static int join_op(spin *s, int i)
{
    (void)i;
    eddy_task *t;
    int rc = eddy_spawn(s->nu, quick_child, NULL, .handle = &t); /* done when spawn returns */
    return rc < 0 ? rc : eddy_task_join(t, NULL);
}

static const spin kinds[] = {
    {.name = "memory stream read", .setup = mem_setup, .op = mem_read, .teardown = pair_teardown},
    {.name = "memory stream write", .setup = mem_write_setup, .op = mem_write, .teardown = pair_teardown},
    {.name = "socket read", .setup = sock_setup, .op = mem_read, .teardown = pair_teardown},
    {.name = "fd read (/dev/zero)", .setup = zero_setup, .op = fd_read, .teardown = one_teardown},
    {.name = "fd write (/dev/null)", .setup = null_setup, .op = fd_write, .teardown = one_teardown},
    {.name = "fd writev (/dev/null)", .setup = null_setup, .op = writev_op, .teardown = one_teardown},
    {.name = "buffered reader", .setup = bufr_setup, .op = bufr_read, .teardown = bufr_teardown},
    {.name = "channel", .setup = chan_setup, .op = chan_op, .teardown = chan_teardown},
    {.name = "queue", .setup = queue_setup, .op = queue_op, .teardown = queue_teardown},
    {.name = "uqueue", .setup = uq_setup, .op = uq_op, .teardown = uq_teardown},
    {.name = "mutex", .setup = mutex_setup, .op = mutex_op},
    {.name = "semaphore", .setup = sem_setup, .op = sem_op},
    {.name = "limiter", .setup = lim_setup, .op = lim_op},
    {.name = "event", .setup = event_setup, .op = event_op},
    {.name = "promise", .setup = promise_setup, .op = promise_op},
    {.name = "barrier", .setup = barrier_setup, .op = barrier_op},
    {.name = "ticker", .setup = ticker_setup, .op = ticker_op, .teardown = ticker_teardown},
    {.name = "choose", .op = choose_op},
    {.name = "resolve", .op = resolve_op},
    {.name = "udp", .setup = udp_setup, .op = udp_op, .teardown = udp_teardown},
    {.name = "join", .op = join_op},
    {.name = "accept", .setup = accept_setup, .op = accept_op, .teardown = accept_teardown},
};

EDDY_TEST(every_call_that_completes_at_once_spends_the_budget)
{
    static spin s;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        s = kinds[k];
        int rc;
        EDDY_NURSERY(n, &rc) {
            s.nu = n;
            if (s.setup) {
                int src = s.setup(&s);
                if (src < 0) eddy_test_fail(__FILE__, __LINE__, "%s: setup: %d", s.name, src);
            }
            spin_done = false;
            EDDY_OK(eddy_spawn(n, observer, NULL));
            EDDY_OK(eddy_spawn(n, spinner, &s));
        }
        EDDY_OK(rc);
        if (s.teardown) s.teardown(&s);
    }
    return 0;
}

/* ---- what a yield may not do ---------------------------------------------------------- */

/* Calls that suspend refill the budget: a ping-pong whose every call waits never adds a
 * forced yield. */
static int pong(void *arg)
{
    eddy_chan_rx *rx = arg;
    int v;
    while (eddy_chan_recv(rx, &v) == 0) {
    }
    return 0;
}

EDDY_TEST(calls_that_suspend_refill_the_budget)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 0)); /* rendezvous: every send waits */
    struct eddy_loop_stats st0, st1;
    eddy_loop_stats(&st0);
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, pong, &rx));
        for (int i = 0; i < 10 * N; i++) EDDY_OK(eddy_chan_send(&tx, &i));
        EDDY_OK(eddy_chan_close_send(&tx));
    }
    EDDY_OK(rc);
    EDDY_OK(eddy_chan_close_recv(&rx));
    eddy_loop_stats(&st1);
    EDDY_CHECK_EQ(st1.coop_yields - st0.coop_yields, 0);
    /* ... while the same number of calls that complete at once is made to yield. */
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 1));
    for (int i = 0; i < 10 * N; i++) {
        EDDY_OK(eddy_chan_send(&tx, &i));
        EDDY_OK(eddy_chan_recv(&rx, &i));
    }
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_OK(eddy_chan_close_recv(&rx));
    eddy_loop_stats(&st0);
    EDDY_CHECK(st0.coop_yields - st1.coop_yields >= 20 * N / 128 - 1);
    return 0;
}

/* A reader of L->b, one byte at a time, under a deadline (EDDY_FOREVER: none), until a read
 * does not return a byte; it stops the clock task when it is done. */
typedef struct reader {
    eddy_stream *a, *b;
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    int64_t timeout;
    uint64_t got;
    int last;
} reader;

static int read_bytes(void *arg)
{
    reader *L = arg;
    char c;
    ssize_t n = 0;
    EDDY_MOVE_ON_AFTER(L->timeout) {
        while ((n = eddy_stream_read(L->b, &c, 1)) == 1) L->got++;
    }
    L->last = (int)n;
    clock_stop = true;
    return 0;
}

/* Nothing is lost to a deadline that passes during a yield. A stream call yields before it
 * reads, and then stops: every byte is either counted by the reader or still in the stream.
 * A channel receive yields after it received: its element is the reader's. */
static int receive_ints(void *arg)
{
    reader *L = arg;
    int v, rc = 0;
    EDDY_MOVE_ON_AFTER(L->timeout) {
        while ((rc = eddy_chan_recv(&L->rx, &v)) == 0) L->got++;
    }
    L->last = rc;
    clock_stop = true;
    return 0;
}

EDDY_TEST(a_deadline_during_a_yield_loses_nothing)
{
    static char data[8 * N];
    for (int kind = 0; kind < 2; kind++) {
        reader L = {.timeout = EDDY_MSEC(3)};
        if (kind == 0) {
            EDDY_OK(eddy_memstream_pair(&L.a, &L.b, NULL));
            EDDY_OK(eddy_stream_write_all(L.a, data, sizeof data));
        } else {
            EDDY_OK(eddy_chan_open(&L.tx, &L.rx, sizeof(int), sizeof data));
            for (size_t i = 0; i < sizeof data; i++) EDDY_OK(eddy_chan_send(&L.tx, &(int){0}));
        }
        clock_stop = false;
        int rc;
        EDDY_NURSERY(n, &rc) {
            EDDY_OK(eddy_spawn(n, clock_task, NULL));
            EDDY_OK(eddy_spawn(n, kind == 0 ? read_bytes : receive_ints, &L));
        }
        EDDY_OK(rc);
        EDDY_CHECK_EQ(L.last, -ECANCELED);
        EDDY_CHECK(L.got > 0 && L.got < sizeof data);
        if (kind == 0) {
            EDDY_CHECK_EQ(L.got + eddy_memstream_pending(L.b), sizeof data);
            EDDY_OK(eddy_stream_close(L.a));
            EDDY_OK(eddy_stream_close(L.b));
        } else {
            EDDY_CHECK_EQ(L.got + eddy_chan_size(&L.rx), sizeof data);
            EDDY_OK(eddy_chan_close_send(&L.tx));
            EDDY_OK(eddy_chan_close_recv(&L.rx));
        }
    }
    return 0;
}

/* A stream call that yields is inside the stream: a close made meanwhile waits for it, and
 * the call reports -EBADF (and nothing is touched after the close frees the stream: ASan). */
EDDY_TEST(a_close_during_a_yield_waits_for_the_call)
{
    reader L = {.timeout = EDDY_FOREVER};
    EDDY_OK(eddy_memstream_pair(&L.a, &L.b, NULL));
    static char data[4 * N];
    EDDY_OK(eddy_stream_write_all(L.a, data, sizeof data));
    int rc;
    EDDY_NURSERY(n, &rc) {
        /* Eager: it reads until its budget is spent and yields, still inside b; this task,
         * first in line, then closes b. */
        EDDY_OK(eddy_spawn(n, read_bytes, &L));
        EDDY_OK(eddy_stream_close(L.b));
        EDDY_CHECK_EQ(L.last, -EBADF); /* it left before the close returned */
    }
    EDDY_OK(rc);
    EDDY_CHECK(L.got > 0 && L.got < sizeof data);
    EDDY_OK(eddy_stream_close(L.a));
    return 0;
}
