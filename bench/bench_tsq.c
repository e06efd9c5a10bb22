/* Benchmark 5: calls sent from another OS thread to the loop thread, items per second.
 *
 * A producer thread (pinned to one CPU) sends n items as fast as it can; the loop thread
 * (pinned to the other CPU) runs one tiny callback per item (a counter increment). The clock
 * starts when the producer starts and stops when the loop has run the n-th item.
 *   eddy_post: eddy_loop_post_ts with caller-owned eddy_ts_call nodes (no allocation);
 *   eddy_call: eddy_loop_call_ts (nodes eddy allocates and recycles: a fresh loop and
 *              producer thread each round, so the node pool warms up inside the timing);
 *   uv_async:  the usual libuv pattern: a pthread mutex-protected intrusive queue (caller-
 *              owned nodes, like eddy_post) and uv_async_send; the async callback swaps the
 *              queue out under the lock and runs the items;
 *   uv_malloc: the same with a malloc'd node per item, freed by the loop (the like-for-like
 *              anchor for what eddy_call did before its nodes were recycled).
 * Rounds rotate the variants. Goal: eddy at least as fast as uv_async, also under load:
 * --load=N starts N threads that spin for the whole run, pinned round-robin over the CPUs, so
 * the producer and the loop keep losing their CPUs as they do on a busy machine (a quiet
 * machine can then reproduce the "under load" figures; 2 on a 2-CPU machine is heavy). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include "bench.h"
#include "eddy.h"

static int cpu_loop = 1, cpu_producer = 0;
static _Atomic int hog_stop;

static void pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
        /* Fewer CPUs than expected: run unpinned (the figures will say less). */
    }
}

static long n_items;
static _Atomic int64_t t_start;
static int64_t t_end;
static long consumed;

/* ---- eddy ---- */
static eddy_ts_call *nodes;
static eddy_loop *e_loop;
static int e_done_fd;
static int e_mode; /* 0 post, 1 call */

static void e_item(void *arg)
{
    (void)arg;
    if (++consumed == n_items) {
        t_end = bench_now_ns();
        uint64_t one = 1;
        if (write(e_done_fd, &one, sizeof one) < 0) abort();
    }
}

static void *e_producer(void *p)
{
    (void)p;
    pin_self(cpu_producer);
    atomic_store(&t_start, bench_now_ns());
    if (e_mode == 0) {
        for (long i = 0; i < n_items; i++) {
            nodes[i].fn = e_item;
            nodes[i].arg = NULL;
            if (eddy_loop_post_ts(e_loop, &nodes[i]) != 0) abort();
        }
    } else {
        for (long i = 0; i < n_items; i++)
            if (eddy_loop_call_ts(e_loop, e_item, NULL) != 0) abort();
    }
    return NULL;
}

static int e_main(void *p)
{
    (void)p;
    e_loop = eddy_loop_current();
    e_done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (e_done_fd < 0) return -errno;
    consumed = 0;
    eddy_loop_ref(e_loop);
    pthread_t th;
    if (pthread_create(&th, NULL, e_producer, NULL) != 0) return -EAGAIN;
    int rc = 0;
    while (consumed < n_items && rc >= 0) rc = eddy_wait_fd(e_done_fd, EDDY_READ);
    pthread_join(th, NULL);
    eddy_loop_unref(e_loop);
    (void)eddy_fd_forget(e_done_fd);
    close(e_done_fd);
    return rc < 0 ? rc : 0;
}

static double eddy_rate(int mode)
{
    e_mode = mode;
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS};
    int rc = eddy_run_opts(e_main, NULL, &o);
    if (rc != 0) {
        fprintf(stderr, "bench_tsq: eddy_run failed (%d)\n", rc);
        exit(1);
    }
    return (double)n_items / ((double)(t_end - atomic_load(&t_start)) * 1e-9);
}

/* ---- libuv: mutex-protected queue + uv_async_send ---- */
typedef struct uv_item {
    struct uv_item *next;
    void (*fn)(void *);
    void *arg;
} uv_item;

static uv_item *uv_nodes;
static int uv_heap; /* 1: malloc a node per item, the loop frees it */
static pthread_mutex_t uv_mu = PTHREAD_MUTEX_INITIALIZER;
static uv_item *uv_head, *uv_tail;
static uv_async_t uv_as;

static void u_item(void *arg)
{
    (void)arg;
    if (++consumed == n_items) t_end = bench_now_ns();
}

static void u_async_cb(uv_async_t *a)
{
    pthread_mutex_lock(&uv_mu);
    uv_item *q = uv_head;
    uv_head = uv_tail = NULL;
    pthread_mutex_unlock(&uv_mu);
    while (q) {
        uv_item *next = q->next; /* the node may be reused once its call starts */
        q->fn(q->arg);
        if (uv_heap) free(q);
        q = next;
    }
    if (consumed == n_items) uv_close((uv_handle_t *)a, NULL);
}

static void *u_producer(void *p)
{
    (void)p;
    pin_self(cpu_producer);
    atomic_store(&t_start, bench_now_ns());
    for (long i = 0; i < n_items; i++) {
        uv_item *it = uv_heap ? malloc(sizeof *it) : &uv_nodes[i];
        if (!it) abort();
        it->next = NULL;
        it->fn = u_item;
        it->arg = NULL;
        pthread_mutex_lock(&uv_mu);
        if (uv_tail)
            uv_tail->next = it;
        else
            uv_head = it;
        uv_tail = it;
        pthread_mutex_unlock(&uv_mu);
        uv_async_send(&uv_as);
    }
    return NULL;
}

static double uv_rate(int heap)
{
    uv_heap = heap;
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0 || uv_async_init(&loop, &uv_as, u_async_cb) != 0) exit(1);
    consumed = 0;
    pthread_t th;
    if (pthread_create(&th, NULL, u_producer, NULL) != 0) exit(1);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once the async handle is closed */
    pthread_join(th, NULL);
    uv_loop_close(&loop);
    return (double)n_items / ((double)(t_end - atomic_load(&t_start)) * 1e-9);
}

static void *hog(void *arg)
{
    pin_self((int)(intptr_t)arg);
    volatile uint64_t spin = 0;
    while (!atomic_load_explicit(&hog_stop, memory_order_relaxed)) spin++;
    return NULL;
}

static void stop_hogs(void) { atomic_store(&hog_stop, 1); }

static int start_hogs(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--load=", 7)) n = atoi(argv[i] + 7);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 0; i < n && i < 64; i++) {
        pthread_t th;
        if (pthread_create(&th, NULL, hog, (void *)(intptr_t)(i % (ncpu > 0 ? ncpu : 1))) != 0) exit(1);
        pthread_detach(th);
    }
    if (n > 0) atexit(stop_hogs);
    return n;
}

enum { V_POST, V_CALL, V_UV, V_UV_MALLOC, NV };
static const char *names[NV] = {"eddy_post_ts_items_per_s", "eddy_call_ts_items_per_s",
                                "uv_async_mutex_items_per_s", "uv_async_mutex_malloc_items_per_s"};

static double run_variant(int v)
{
    switch (v) {
    case V_POST: return eddy_rate(0);
    case V_CALL: return eddy_rate(1);
    case V_UV: return uv_rate(0);
    default: return uv_rate(1);
    }
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    int rounds = bench_rounds(argc, argv, quick ? 3 : 7);
    n_items = bench_n(argc, argv, quick ? 500000 : 2000000);
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) cpu_loop = cpu_producer = 0;
    pin_self(cpu_loop);
    int load = start_hogs(argc, argv);
    nodes = calloc((size_t)n_items, sizeof *nodes);
    uv_nodes = calloc((size_t)n_items, sizeof *uv_nodes);
    if (!nodes || !uv_nodes) return 1;
    /* Page the node arrays in up front: first-touch faults are not what is measured. */
    memset(nodes, 0, (size_t)n_items * sizeof *nodes);
    memset(uv_nodes, 0, (size_t)n_items * sizeof *uv_nodes);
    const char *only = bench_only(argc, argv);
    if (only) {
        static const char *short_names[NV] = {"post", "call", "uv", "uv_malloc"};
        for (int k = 0; k < NV; k++)
            if (!strcmp(only, short_names[k])) {
                for (int r = 0; r < rounds; r++) printf("%s=%.0f\n", names[k], run_variant(k));
                return 0;
            }
        fprintf(stderr, "bench_tsq: --only=post|call|uv|uv_malloc\n");
        return 2;
    }
    double v[NV][256];
    for (int k = 0; k < NV; k++) (void)run_variant(k); /* warm-up */
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < NV; i++) {
            int k = (i + r) % NV;
            v[k][r] = run_variant(k);
        }
    printf("bench=tsq\nrounds=%d\nitems=%ld\nloop_cpu=%d\nproducer_cpu=%d\nload_threads=%d\n", rounds,
           n_items, cpu_loop, cpu_producer, load);
    double m[NV];
    for (int k = 0; k < NV; k++) {
        m[k] = bench_median(v[k], rounds);
        printf("%s=%.0f\n", names[k], m[k]);
    }
    bench_kv("ratio_post_ts_vs_uv", bench_median_ratio(v[V_POST], v[V_UV], rounds));
    bench_kv("ratio_call_ts_vs_uv", bench_median_ratio(v[V_CALL], v[V_UV], rounds));
    bench_kv("ratio_call_ts_vs_uv_malloc", bench_median_ratio(v[V_CALL], v[V_UV_MALLOC], rounds));
    return 0;
}
