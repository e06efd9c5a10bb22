/* Benchmark: spawn and wait for /bin/true, processes per second, one after another.
 *
 *   eddy:          eddy_process_spawn + eddy_process_wait + eddy_process_close in a task
 *                  (posix_spawn, exit seen through a pidfd watched by the loop);
 *   eddy_fallback: the same with EDDY_PROCESS_NO_PIDFD=1 (exit seen through SIGCHLD and the
 *                  signal dispatcher), for kernels without pidfd;
 *   uv_spawn:      libuv's uv_spawn with an exit callback that closes the handle and spawns
 *                  the next from the close callback;
 *   asyncio:       Python's asyncio.create_subprocess_exec + wait (bench/bench_process_asyncio.py,
 *                  run as a child; it times its own loop, so the interpreter's start-up is not
 *                  counted). Skipped, with nothing printed for it, if python3 is not there.
 * Every child inherits stdin, stdout and stderr in all four. Rounds rotate the variants
 * (A B C D, B C D A, ...), and each figure is the median over rounds; the ratios are medians of
 * per-round ratios. Goal: eddy at least as fast as uv_spawn. */
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "bench.h"
#include "eddy.h"

extern char **environ;

#ifndef BENCH_SOURCE_DIR
#define BENCH_SOURCE_DIR "bench"
#endif

static long n_spawns;
static const char *const true_argv[] = {"/bin/true", NULL};

/* ---- eddy ---- */

static int e_main(void *arg)
{
    double *out = arg;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n_spawns; i++) {
        eddy_process p;
        int rc = eddy_process_spawn(&p, true_argv, NULL);
        if (rc < 0) return rc;
        int st = eddy_process_wait(&p);
        if (eddy_process_close(&p) < 0 || st != 0) return -EPROTO;
    }
    *out = (double)n_spawns * 1e9 / (double)(bench_now_ns() - t0);
    return 0;
}

static double run_eddy(bool fallback)
{
    if (fallback)
        setenv("EDDY_PROCESS_NO_PIDFD", "1", 1);
    else
        unsetenv("EDDY_PROCESS_NO_PIDFD");
    double r = 0;
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS};
    int rc = eddy_run_opts(e_main, &r, &o);
    unsetenv("EDDY_PROCESS_NO_PIDFD");
    if (rc != 0) {
        fprintf(stderr, "bench_process: eddy round failed: %s\n", eddy_strerror(rc));
        exit(1);
    }
    return r;
}

/* ---- libuv ---- */

static uv_loop_t uvl;
static uv_process_t uvp;
static long uv_done;
static int uv_failed;
static void uv_next(void);

static void uv_closed(uv_handle_t *h)
{
    (void)h;
    if (++uv_done < n_spawns) uv_next();
}

static void uv_exited(uv_process_t *p, int64_t status, int sig)
{
    if (status != 0 || sig != 0) uv_failed = 1;
    uv_close((uv_handle_t *)p, uv_closed);
}

static void uv_next(void)
{
    uv_stdio_container_t io[3];
    for (int i = 0; i < 3; i++) {
        io[i].flags = UV_INHERIT_FD;
        io[i].data.fd = i;
    }
    uv_process_options_t o = {.exit_cb = uv_exited, .file = true_argv[0], .args = (char **)true_argv,
                              .stdio_count = 3, .stdio = io};
    int rc = uv_spawn(&uvl, &uvp, &o);
    if (rc != 0) {
        fprintf(stderr, "bench_process: uv_spawn: %s\n", uv_strerror(rc));
        exit(1);
    }
}

static double run_uv(void)
{
    if (uv_loop_init(&uvl) != 0) exit(1);
    uv_done = 0;
    uv_failed = 0;
    int64_t t0 = bench_now_ns();
    uv_next();
    uv_run(&uvl, UV_RUN_DEFAULT);
    int64_t t1 = bench_now_ns();
    uv_loop_close(&uvl);
    if (uv_failed || uv_done != n_spawns) exit(1);
    return (double)n_spawns * 1e9 / (double)(t1 - t0);
}

/* ---- Python asyncio ---- */

static bool have_python = true;

static double run_asyncio(void)
{
    char n[32];
    snprintf(n, sizeof n, "%ld", n_spawns);
    char *const argv[] = {"python3", BENCH_SOURCE_DIR "/bench_process_asyncio.py", n, NULL};
    int p[2];
    if (pipe(p) < 0) exit(1);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    pid_t pid;
    int rc = posix_spawnp(&pid, "python3", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        have_python = false;
        return 0;
    }
    char buf[64] = "";
    ssize_t len = 0, r;
    while (len < (ssize_t)sizeof buf - 1 && (r = read(p[0], buf + len, sizeof buf - 1 - (size_t)len)) != 0)
        if (r > 0) len += r;
        else if (errno != EINTR) break;
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    if (len <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_process: the asyncio anchor failed (status 0x%x)\n", st);
        have_python = false;
        return 0;
    }
    buf[len] = 0;
    return atof(buf);
}

enum { V_EDDY, V_FALLBACK, V_UV, V_ASYNCIO, NV };
static const char *const names[NV] = {"eddy_spawns_per_s", "eddy_fallback_spawns_per_s",
                                      "uv_spawn_spawns_per_s", "asyncio_spawns_per_s"};

static double run_variant(int k)
{
    switch (k) {
    case V_EDDY: return run_eddy(false);
    case V_FALLBACK: return run_eddy(true);
    case V_UV: return run_uv();
    default: return have_python ? run_asyncio() : 0;
    }
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    int rounds = bench_rounds(argc, argv, quick ? 3 : 5);
    n_spawns = bench_n(argc, argv, quick ? 200 : 1000);
    double v[NV][256];
    long n = n_spawns;
    n_spawns = n / 10 > 0 ? n / 10 : 1; /* warm-up: page cache, the loops' first allocations */
    for (int k = 0; k < NV; k++) (void)run_variant(k);
    n_spawns = n;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < NV; i++) {
            int k = (i + r) % NV;
            v[k][r] = run_variant(k);
        }
    printf("bench=process\nrounds=%d\nspawns=%ld\n", rounds, n_spawns);
    for (int k = 0; k < NV; k++)
        if (k != V_ASYNCIO || have_python) printf("%s=%.0f\n", names[k], bench_median(v[k], rounds));
    bench_kv("ratio_eddy_vs_uv_spawn", bench_median_ratio(v[V_EDDY], v[V_UV], rounds));
    if (have_python) bench_kv("ratio_eddy_vs_asyncio", bench_median_ratio(v[V_EDDY], v[V_ASYNCIO], rounds));
    return 0;
}
