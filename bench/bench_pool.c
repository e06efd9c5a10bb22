/* Benchmark 6: the thread pool (H1) and file reads through it (F1), against libuv's pool.
 *
 *   roundtrip  one task runs a no-op job and waits for its result, again and again:
 *              eddy_run_in_thread / uv_queue_work chained from its after_work callback;
 *   jobs64     64 tasks do the same at once (64 chains in libuv): jobs per second;
 *   pread1     4 KiB reads at random 4 KiB-aligned offsets of a cached 64 MiB file, one at a
 *              time: eddy_file_pread / uv_fs_read with an offset;
 *   pread64    the same with 64 reads in flight (64 tasks; 64 chained uv_fs_t).
 * The one-at-a-time variants (roundtrip, pread1) run a quarter of --n operations, the 64-wide
 * ones --n (default 40000; 8000 with --quick).
 * Both pools get the same number of workers (default 4, libuv's default; --threads=N): eddy
 * through eddy_threadpool_configure, libuv through UV_THREADPOOL_SIZE, set before its pool
 * starts. Each figure is operations per second (higher is better); rounds alternate eddy and
 * libuv, rotating the variants, inside one process. --only=NAME runs one variant once (for
 * instruction counts under callgrind: scripts/bench_icount.sh); names: eddy_roundtrip,
 * uv_roundtrip, eddy_jobs64, uv_jobs64, eddy_pread1, uv_pread1, eddy_pread64, uv_pread64. */
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#include <uv.h>

#include "bench.h"
#include "eddy.h"

enum { FILE_SIZE = 64 << 20, BLOCK = 4096, WIDE = 64 };

static long n_ops;
static int n_threads = 4;
static char file_path[64];

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static int64_t random_offset(uint64_t *s)
{
    return (int64_t)(rng_next(s) % (FILE_SIZE / BLOCK)) * BLOCK;
}

/* ---- eddy ---- */

typedef struct e_chain {
    long n;
    uint64_t seed;
    eddy_file *f;
    char buf[BLOCK];
} e_chain;

static int noop(void *arg)
{
    (void)arg;
    return 0;
}

static int e_jobs(void *arg)
{
    e_chain *c = arg;
    for (long i = 0; i < c->n; i++)
        if (eddy_run_in_thread(noop, NULL) != 0) return -EIO;
    return 0;
}

static int e_preads(void *arg)
{
    e_chain *c = arg;
    for (long i = 0; i < c->n; i++)
        if (eddy_file_pread(c->f, c->buf, BLOCK, random_offset(&c->seed)) != BLOCK) return -EIO;
    return 0;
}

static int e_mode, e_width;
static int64_t e_elapsed;
static e_chain e_chains[WIDE];

static int e_main(void *arg)
{
    (void)arg;
    eddy_file *f = NULL;
    int rc;
    if (e_mode == 1 && (rc = eddy_file_open(file_path, O_RDONLY, 0, &f)) < 0) return rc;
    for (int i = 0; i < e_width; i++)
        e_chains[i] = (e_chain){.n = n_ops / e_width, .seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1), .f = f};
    int64_t t0 = bench_now_ns();
    int nrc;
    EDDY_NURSERY(n, &nrc) {
        for (int i = 0; i < e_width; i++)
            if ((rc = eddy_spawn(n, e_mode ? e_preads : e_jobs, &e_chains[i])) < 0) {
                eddy_nursery_cancel(n);
                break;
            }
    }
    e_elapsed = bench_now_ns() - t0;
    int crc = f ? eddy_file_close(f) : 0;
    return nrc ? nrc : crc;
}

static double eddy_rate(int mode, int width)
{
    e_mode = mode;
    e_width = width;
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS};
    int rc = eddy_run_opts(e_main, NULL, &o);
    if (rc != 0) {
        fprintf(stderr, "bench_pool: eddy_run failed (%d)\n", rc);
        exit(1);
    }
    return (double)(n_ops / width * width) / ((double)e_elapsed * 1e-9);
}

/* ---- libuv ---- */

typedef struct u_chain {
    uv_work_t work;
    uv_fs_t fs;
    long left;
    uint64_t seed;
    char buf[BLOCK];
} u_chain;

static uv_loop_t u_loop;
static uv_file u_fd;
static u_chain u_chains[WIDE];

static void u_noop(uv_work_t *w) { (void)w; }

static void u_after(uv_work_t *w, int status)
{
    u_chain *c = w->data;
    if (status != 0) abort();
    if (--c->left > 0 && uv_queue_work(&u_loop, &c->work, u_noop, u_after) != 0) abort();
}

static void u_read_cb(uv_fs_t *req)
{
    u_chain *c = req->data;
    if (req->result != BLOCK) abort();
    uv_fs_req_cleanup(req);
    if (--c->left > 0) {
        uv_buf_t b = uv_buf_init(c->buf, BLOCK);
        if (uv_fs_read(&u_loop, &c->fs, u_fd, &b, 1, random_offset(&c->seed), u_read_cb) != 0) abort();
    }
}

static double uv_rate(int mode, int width)
{
    if (uv_loop_init(&u_loop) != 0) exit(1);
    if (mode == 1) {
        uv_fs_t open_req;
        u_fd = uv_fs_open(NULL, &open_req, file_path, O_RDONLY, 0, NULL);
        uv_fs_req_cleanup(&open_req);
        if (u_fd < 0) exit(1);
    }
    int64_t t0 = bench_now_ns();
    for (int i = 0; i < width; i++) {
        u_chain *c = &u_chains[i];
        c->left = n_ops / width;
        c->seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
        c->work.data = c->fs.data = c;
        if (mode == 0) {
            if (uv_queue_work(&u_loop, &c->work, u_noop, u_after) != 0) exit(1);
        } else {
            uv_buf_t b = uv_buf_init(c->buf, BLOCK);
            if (uv_fs_read(&u_loop, &c->fs, u_fd, &b, 1, random_offset(&c->seed), u_read_cb) != 0) exit(1);
        }
    }
    uv_run(&u_loop, UV_RUN_DEFAULT);
    int64_t el = bench_now_ns() - t0;
    if (mode == 1) {
        uv_fs_t close_req;
        uv_fs_close(NULL, &close_req, u_fd, NULL);
        uv_fs_req_cleanup(&close_req);
    }
    uv_loop_close(&u_loop);
    return (double)(n_ops / width * width) / ((double)el * 1e-9);
}

/* ---- driver ---- */

enum { V_E_RT, V_U_RT, V_E_J64, V_U_J64, V_E_P1, V_U_P1, V_E_P64, V_U_P64, NV };
static const char *names[NV] = {"eddy_roundtrip", "uv_roundtrip", "eddy_jobs64", "uv_jobs64",
                                "eddy_pread1", "uv_pread1", "eddy_pread64", "uv_pread64"};

static long n_wide;

static double run_variant(int v)
{
    int mode = v >= V_E_P1, width = (v == V_E_J64 || v == V_U_J64 || v == V_E_P64 || v == V_U_P64) ? WIDE : 1;
    n_ops = width == WIDE ? n_wide : n_wide / 4; /* one at a time is slower: keep runs short */
    if (n_ops < width) n_ops = width;
    return v % 2 == 0 ? eddy_rate(mode, width) : uv_rate(mode, width);
}

static void make_file(void)
{
    snprintf(file_path, sizeof file_path, "/tmp/eddy-bench-pool-XXXXXX");
    int fd = mkstemp(file_path);
    if (fd < 0) exit(1);
    static char chunk[1 << 20];
    for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (char)(i * 131);
    for (int i = 0; i < FILE_SIZE / (int)sizeof chunk; i++)
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) exit(1);
    /* Read it once: every measured read hits the page cache. */
    if (lseek(fd, 0, SEEK_SET) != 0) exit(1);
    while (read(fd, chunk, sizeof chunk) > 0) {
    }
    close(fd);
}

static void remove_file(void) { unlink(file_path); }

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    int rounds = bench_rounds(argc, argv, quick ? 3 : 7);
    n_wide = bench_n(argc, argv, quick ? 8000 : 40000);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--threads=", 10)) n_threads = atoi(argv[i] + 10);
    if (n_threads < 1 || n_threads > 128) n_threads = 4;
    char nt[16];
    snprintf(nt, sizeof nt, "%d", n_threads);
    setenv("UV_THREADPOOL_SIZE", nt, 1); /* read when libuv's pool starts */
    eddy_threadpool_opts po = EDDY_THREADPOOL_OPTS_INIT;
    po.size = n_threads;
    if (eddy_threadpool_configure(&po) != 0) return 1;
    make_file();
    atexit(remove_file);
    const char *only = bench_only(argc, argv);
    if (only) {
        for (int k = 0; k < NV; k++)
            if (!strcmp(only, names[k])) {
                for (int r = 0; r < rounds; r++) printf("%s_per_s=%.0f\n", names[k], run_variant(k));
                return 0;
            }
        fprintf(stderr, "bench_pool: unknown --only variant\n");
        return 2;
    }
    double v[NV][256];
    for (int k = 0; k < NV; k++) (void)run_variant(k); /* warm-up: both pools started */
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < NV / 2; i++) {
            /* Rotate which pair goes first; within a pair alternate who starts. */
            int pair = (i + r) % (NV / 2), first = r % 2;
            v[2 * pair + first][r] = run_variant(2 * pair + first);
            v[2 * pair + !first][r] = run_variant(2 * pair + !first);
        }
    printf("bench=pool\nrounds=%d\nops=%ld\nthreads=%d\n", rounds, n_wide, n_threads);
    for (int k = 0; k < NV; k++) printf("%s_per_s=%.0f\n", names[k], bench_median(v[k], rounds));
    bench_kv("ratio_roundtrip", bench_median_ratio(v[V_E_RT], v[V_U_RT], rounds));
    bench_kv("ratio_jobs64", bench_median_ratio(v[V_E_J64], v[V_U_J64], rounds));
    bench_kv("ratio_pread1", bench_median_ratio(v[V_E_P1], v[V_U_P1], rounds));
    bench_kv("ratio_pread64", bench_median_ratio(v[V_E_P64], v[V_U_P64], rounds));
    return 0;
}
