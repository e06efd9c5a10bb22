/* One loop per core (loop.h, R4): eddy_run_workers and eddy_worker_index — a loop per worker
 * thread, statuses, a failing worker cancelling the others, SIGTERM cancelling every worker,
 * CPU pinning, messages between workers through the thread-safe objects (eddy_uqueue,
 * eddy_loop_call_ts), and TCP connections spread over workers by SO_REUSEPORT listeners.
 * Raw cases (eddy_run_workers makes the loops; the harness names the backend in
 * EDDY_BACKEND); ThreadSanitizer runs them (label threads). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "test_core_util.h"

/* ---- every worker its own thread and loop ---- */

typedef struct seen {
    _Atomic unsigned mask;
    eddy_loop *_Atomic loops[8];
    pthread_barrier_t all_in; /* every worker inside main at once: their loops coexist */
} seen;

static int record_worker(void *arg)
{
    seen *s = arg;
    int i = eddy_worker_index();
    if (i < 0 || i >= 8) return -ERANGE;
    atomic_fetch_or(&s->mask, 1u << i);
    atomic_store(&s->loops[i], eddy_loop_current());
    /* Hold every loop open until all have recorded theirs: a loop closed early could give its
     * address to a later one, and the check below would see two workers share a loop. (Each
     * worker has a thread of its own, so blocking here cannot stop another from arriving.) */
    (void)pthread_barrier_wait(&s->all_in);
    EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
    return 0;
}

EDDY_TEST_EX(workers_each_have_a_loop_and_an_index, .raw = true)
{
    seen s = {0};
    EDDY_CHECK_EQ(pthread_barrier_init(&s.all_in, NULL, 4), 0);
    EDDY_OK(eddy_run_workers(4, record_worker, &s));
    pthread_barrier_destroy(&s.all_in);
    EDDY_CHECK_EQ(atomic_load(&s.mask), 0xF);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) EDDY_CHECK(s.loops[i] != s.loops[j]);
    EDDY_CHECK(eddy_loop_current() == NULL); /* worker 0's loop (this thread's) is closed */
    /* n = 1 is eddy_run on this thread. */
    seen one = {0};
    EDDY_CHECK_EQ(pthread_barrier_init(&one.all_in, NULL, 1), 0);
    EDDY_OK(eddy_run_workers(1, record_worker, &one));
    pthread_barrier_destroy(&one.all_in);
    EDDY_CHECK_EQ(atomic_load(&one.mask), 1);
    return 0;
}

static int count_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return (int)sysconf(_SC_NPROCESSORS_ONLN);
    return CPU_COUNT(&set);
}

static _Atomic int nstarted;
static int count_worker(void *arg)
{
    (void)arg;
    atomic_fetch_add(&nstarted, 1);
    return eddy_worker_count(); /* every worker's status: 0 only if the count is wrong */
}

EDDY_TEST_EX(workers_default_count_and_errors, .raw = true)
{
    /* Each worker returns eddy_worker_count(): the first nonzero status is the count. */
    EDDY_CHECK_EQ(eddy_worker_count(), -EPERM); /* outside a loop */
    atomic_store(&nstarted, 0);
    int ncpu = count_cpus();
    EDDY_CHECK_EQ(eddy_run_workers(0, count_worker, NULL), ncpu);
    EDDY_CHECK_EQ(atomic_load(&nstarted), ncpu);
    atomic_store(&nstarted, 0);
    EDDY_CHECK_EQ(eddy_run_workers(-3, count_worker, NULL), ncpu);
    EDDY_CHECK_EQ(atomic_load(&nstarted), ncpu);
    atomic_store(&nstarted, 0);
    EDDY_CHECK_EQ(eddy_run_workers(3, count_worker, NULL), 3);
    EDDY_CHECK_EQ(atomic_load(&nstarted), 3);
    EDDY_CHECK_EQ(eddy_run(count_worker, NULL), 1); /* any other loop: 1 */
    EDDY_CHECK_EQ(eddy_run_workers(2, NULL, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_run_workers(4097, count_worker, NULL), -EINVAL);
    /* A bad loop option: every worker fails to open its loop. */
    eddy_opts bad = {.autojump_threshold = -1};
    eddy_run_workers_opts o = {.loop = &bad};
    EDDY_CHECK_EQ(eddy_run_workers_with(3, count_worker, NULL, &o), -EINVAL);
    return 0;
}

/* ---- statuses and cancellation ---- */

typedef struct group_case {
    int failing;          /* this worker fails with -EIO after a sleep (-1: none) */
    int positive;         /* this worker returns 3 (-1: none) */
    eddy_uevent never;    /* nobody sets it: a wait that only cancellation ends */
    _Atomic int cancelled;
} group_case;

static int status_worker(void *arg)
{
    group_case *g = arg;
    int i = eddy_worker_index();
    if (i == g->positive) return 3;
    if (i == g->failing) {
        EDDY_OK(eddy_sleep(EDDY_MSEC(5)));
        return -EIO;
    }
    if (g->failing < 0) return 0;
    int rc = eddy_uevent_wait(&g->never);
    if (rc == -ECANCELED) atomic_fetch_add(&g->cancelled, 1);
    return rc;
}

EDDY_TEST_EX(workers_first_failure_cancels_the_rest, .raw = true)
{
    group_case g = {.failing = 2, .positive = -1};
    EDDY_OK(eddy_uevent_init(&g.never));
    /* Worker 2 fails; the other three wait until cancelled; its status is the first. */
    EDDY_CHECK_EQ(eddy_run_workers(4, status_worker, &g), -EIO);
    EDDY_CHECK_EQ(atomic_load(&g.cancelled), 3);
    /* A positive status is returned, but cancels nothing. */
    group_case p = {.failing = -1, .positive = 1};
    EDDY_CHECK_EQ(eddy_run_workers(3, status_worker, &p), 3);
    EDDY_OK(eddy_uevent_destroy(&g.never));
    return 0;
}

/* The first SIGTERM cancels every worker's root, as eddy_run's handling does for its one
 * loop; each worker unwinds and returns 0 (a server's normal stop). In a child process: the
 * signal is process-wide. */
static _Atomic int ready_workers;

static int waits_for_signal(void *arg)
{
    group_case *g = arg;
    atomic_fetch_add(&ready_workers, 1);
    int rc = eddy_uevent_wait(&g->never);
    if (rc != -ECANCELED) return rc == 0 ? -EPROTO : rc;
    atomic_fetch_add(&g->cancelled, 1);
    return 0;
}

static void *send_sigterm(void *arg)
{
    int n = (int)(intptr_t)arg;
    while (atomic_load(&ready_workers) < n) sched_yield();
    struct timespec d = {0, 10 * 1000 * 1000}; /* they are (about to be) parked */
    nanosleep(&d, NULL);
    kill(getpid(), SIGTERM);
    return NULL;
}

static int sigterm_child(void *arg)
{
    (void)arg;
    group_case g = {0};
    if (eddy_uevent_init(&g.never) != 0) return 90;
    atomic_store(&ready_workers, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, send_sigterm, (void *)(intptr_t)3) != 0) return 91;
    int rc = eddy_run_workers(3, waits_for_signal, &g);
    pthread_join(th, NULL);
    if (rc != 0) return 92;
    if (atomic_load(&g.cancelled) != 3) return 93;
    return eddy_uevent_destroy(&g.never) == 0 ? 0 : 94;
}

EDDY_TEST_EX(workers_sigterm_cancels_every_root, .raw = true, .timeout = EDDY_SEC(60))
{
#if defined(__SANITIZE_THREAD__)
    /* TSan refuses to start threads in a forked child of a threaded process; the test process
     * has none yet, so the child may. */
#endif
    char out[4096];
    int ws = core_run_child(sigterm_child, NULL, out, sizeof out);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        eddy_test_fail(__FILE__, __LINE__, "child: status 0x%x, output: %s", ws, out);
    return 0;
}

/* ---- pinning and loop options ---- */

typedef struct pin_case {
    int cpus[64];
    int ncpus;
    _Atomic int bad;
} pin_case;

static int check_pinned(void *arg)
{
    pin_case *p = arg;
    cpu_set_t set;
    if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return -EIO;
    int i = eddy_worker_index();
    if (CPU_COUNT(&set) != 1 || !CPU_ISSET(p->cpus[i % p->ncpus], &set)) atomic_fetch_add(&p->bad, 1);
    /* The loop options reached every worker: the virtual clock makes an hour instant. */
    if (eddy_now() != 0) atomic_fetch_add(&p->bad, 1);
    EDDY_OK(eddy_sleep(EDDY_SEC(3600)));
    if (eddy_now() != EDDY_SEC(3600)) atomic_fetch_add(&p->bad, 1);
    return 0;
}

EDDY_TEST_EX(workers_pinned_to_cpus_with_loop_options, .raw = true)
{
    pin_case p = {0};
    cpu_set_t mine;
    EDDY_CHECK(sched_getaffinity(0, sizeof mine, &mine) == 0);
    for (int c = 0; c < CPU_SETSIZE && p.ncpus < 64; c++)
        if (CPU_ISSET(c, &mine)) p.cpus[p.ncpus++] = c;
    eddy_opts lo = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    eddy_run_workers_opts o = {.pin_cpus = true, .loop = &lo};
    EDDY_OK(eddy_run_workers_with(p.ncpus + 1, check_pinned, &p, &o)); /* wraps around */
    EDDY_CHECK_EQ(atomic_load(&p.bad), 0);
    /* The calling thread (worker 0) has its own CPU set back. */
    cpu_set_t after;
    EDDY_CHECK(sched_getaffinity(0, sizeof after, &after) == 0);
    EDDY_CHECK(CPU_EQUAL(&mine, &after));
    return 0;
}

/* ---- messages between workers ---- */

enum { NMSG = 2000 };

typedef struct relay {
    eddy_uqueue to1, to0;   /* worker 0 -> worker 1 -> worker 0 */
    eddy_uevent w1_ready;
    eddy_loop *_Atomic w1_loop;
    _Atomic int calls_run;  /* eddy_loop_call_ts callbacks run on worker 1's loop */
    _Atomic bool wrong_loop;
    int sum;
} relay;

static void on_worker1(void *arg)
{
    relay *r = arg;
    if (eddy_loop_current() != atomic_load(&r->w1_loop)) atomic_store(&r->wrong_loop, true);
    atomic_fetch_add(&r->calls_run, 1);
}

static int sender(void *arg)
{
    relay *r = arg;
    for (int i = 0; i < NMSG; i++) {
        int rc = eddy_uqueue_put(&r->to1, &i);
        if (rc < 0) return rc;
    }
    return 0;
}

static int relay_worker(void *arg)
{
    relay *r = arg;
    if (eddy_worker_index() == 1) {
        atomic_store(&r->w1_loop, eddy_loop_current());
        eddy_uevent_set(&r->w1_ready);
        for (int i = 0; i < NMSG; i++) {
            int v;
            int rc = eddy_uqueue_get(&r->to1, &v);
            if (rc < 0) return rc;
            v += 1;
            if ((rc = eddy_uqueue_put(&r->to0, &v)) < 0) return rc;
        }
        return 0;
    }
    /* Worker 0: calls posted to worker 1's loop, then a sender task while this one takes the
     * answers. */
    int rc = eddy_uevent_wait(&r->w1_ready);
    if (rc < 0) return rc;
    eddy_loop *l1 = atomic_load(&r->w1_loop);
    for (int i = 0; i < 100; i++) {
        eddy_loop_ref(l1); /* worker 1 cannot finish before it has taken every message */
        rc = eddy_loop_call_ts(l1, on_worker1, r);
        eddy_loop_unref(l1);
        if (rc < 0) return rc;
    }
    int nrc = 0;
    EDDY_NURSERY(n, &nrc) {
        if ((rc = eddy_spawn(n, sender, r)) < 0) break;
        for (int i = 0; i < NMSG; i++) {
            int v;
            if ((rc = eddy_uqueue_get(&r->to0, &v)) < 0) break;
            if (v != i + 1) {
                rc = -EPROTO;
                break;
            }
            r->sum += v;
        }
        if (rc < 0) eddy_nursery_cancel(n);
    }
    return rc < 0 ? rc : nrc;
}

EDDY_TEST_EX(workers_pass_messages_through_uqueues_and_call_ts, .raw = true)
{
    relay r = {0};
    EDDY_OK(eddy_uqueue_init(&r.to1, sizeof(int), 8));
    EDDY_OK(eddy_uqueue_init(&r.to0, sizeof(int), 8));
    EDDY_OK(eddy_uevent_init(&r.w1_ready));
    EDDY_OK(eddy_run_workers(2, relay_worker, &r));
    EDDY_CHECK_EQ(r.sum, NMSG * (NMSG + 1) / 2);
    EDDY_CHECK_EQ(atomic_load(&r.calls_run), 100);
    EDDY_CHECK(!atomic_load(&r.wrong_loop));
    EDDY_OK(eddy_uqueue_destroy(&r.to1));
    EDDY_OK(eddy_uqueue_destroy(&r.to0));
    EDDY_OK(eddy_uevent_destroy(&r.w1_ready));
    return 0;
}

/* ---- SO_REUSEPORT: the kernel spreads connections over the workers ---- */

enum { NWORKERS = 2, NCONN = 40 };

typedef struct shard {
    _Atomic int port;          /* worker 0's listener, once bound */
    _Atomic int nbound;
    eddy_uevent port_known;    /* worker 0 has bound: the others may bind its port */
    eddy_uevent all_bound;     /* every worker listens: the client may start */
    eddy_uevent done;          /* the client is done: the servers stop */
    _Atomic int accepted[NWORKERS];
    int by_worker[NWORKERS];   /* what the client was told */
} shard;

typedef struct shard_worker_ctx {
    shard *s;
    eddy_server srv;
} shard_worker_ctx;

static int answer(eddy_stream *c, void *arg)
{
    shard *s = arg;
    int i = eddy_worker_index();
    atomic_fetch_add(&s->accepted[i], 1);
    char b = (char)('0' + i);
    return eddy_stream_write_all(c, &b, 1);
}

static int stop_when_done(void *arg)
{
    shard_worker_ctx *c = arg;
    int rc = eddy_uevent_wait(&c->s->done);
    (void)eddy_server_shutdown(&c->srv); /* serving long since: filled */
    return rc;
}

static int client(void *arg)
{
    shard *s = arg;
    int rc = eddy_uevent_wait(&s->all_bound);
    for (int k = 0; k < NCONN && rc == 0; k++) {
        eddy_stream *c;
        if ((rc = eddy_tcp_connect("127.0.0.1", (uint16_t)atomic_load(&s->port), NULL, &c)) < 0) break;
        char b = 0;
        ssize_t n = eddy_stream_read(c, &b, 1);
        if (n != 1 || b < '0' || b >= '0' + NWORKERS)
            rc = n < 0 ? (int)n : -EPROTO;
        else
            s->by_worker[b - '0']++;
        int crc = eddy_stream_close(c);
        if (rc == 0) rc = crc;
    }
    eddy_uevent_set(&s->done);
    return rc;
}

static int shard_worker(void *arg)
{
    shard *s = arg;
    int i = eddy_worker_index(), rc;
    if (i != 0 && (rc = eddy_uevent_wait(&s->port_known)) < 0) return rc;
    eddy_tcp_listen_opts lo = {.reuse_port = true};
    eddy_listener *l;
    rc = eddy_tcp_listen("127.0.0.1", (uint16_t)(i == 0 ? 0 : atomic_load(&s->port)), &lo, &l);
    if (rc < 0) {
        eddy_uevent_set(&s->done); /* nobody will connect: let the others stop */
        return rc;
    }
    if (i == 0) {
        eddy_sockaddr a;
        EDDY_OK(eddy_listener_local_addr(l, &a));
        atomic_store(&s->port, eddy_sockaddr_port(&a));
        eddy_uevent_set(&s->port_known);
    }
    if (atomic_fetch_add(&s->nbound, 1) + 1 == NWORKERS) eddy_uevent_set(&s->all_bound);
    shard_worker_ctx c = {.s = s};
    eddy_serve_opts o = EDDY_SERVE_OPTS_INIT;
    o.server = &c.srv;
    int nrc = 0, src = 0;
    EDDY_NURSERY(n, &nrc) {
        if ((rc = eddy_spawn(n, stop_when_done, &c)) < 0) break;
        if (i == 0 && (rc = eddy_spawn(n, client, s)) < 0) break;
        src = eddy_serve(l, answer, s, &o);
    }
    int crc = eddy_listener_close(l);
    return rc < 0 ? rc : nrc ? nrc : src ? src : crc;
}

/* Each worker listens on the same port (SO_REUSEPORT); the kernel hashes each connection to
 * one of them. 40 connections from distinct ports all landing on one worker has probability
 * 2^-39: both must have served some. */
EDDY_TEST_EX(workers_share_a_port_with_reuse_port, .raw = true, .timeout = EDDY_SEC(60))
{
    shard s = {0};
    EDDY_OK(eddy_uevent_init(&s.port_known));
    EDDY_OK(eddy_uevent_init(&s.all_bound));
    EDDY_OK(eddy_uevent_init(&s.done));
    eddy_opts lo = {.flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    eddy_run_workers_opts o = {.loop = &lo};
    EDDY_OK(eddy_run_workers_with(NWORKERS, shard_worker, &s, &o));
    EDDY_CHECK_EQ(s.by_worker[0] + s.by_worker[1], NCONN);
    EDDY_CHECK(s.by_worker[0] > 0 && s.by_worker[1] > 0);
    for (int i = 0; i < NWORKERS; i++) EDDY_CHECK_EQ(atomic_load(&s.accepted[i]), s.by_worker[i]);
    EDDY_OK(eddy_uevent_destroy(&s.port_known));
    EDDY_OK(eddy_uevent_destroy(&s.all_bound));
    EDDY_OK(eddy_uevent_destroy(&s.done));
    return 0;
}
