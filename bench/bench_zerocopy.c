/* bench_zerocopy: large writes to a TCP stream with and without zero-copy
 * (eddy_stream_set_zerocopy), 16 KiB and 256 KiB per write, on the backend EDDY_BACKEND names.
 *
 *   bench_zerocopy [--quick] [--rounds=N] [--n=MIB]      (default 7 rounds of 256 MiB each way)
 *
 * One loop, one TCP connection over loopback: a writer task writes MIB MiB in writes of the
 * size under test, a reader task drains the other end into a 256 KiB buffer. Rounds alternate
 * copy and zero-copy (copy first in odd rounds), so drifts hit both alike. Per variant it
 * prints the median MiB/s and the median CPU time (user + system of the process, both tasks)
 * per MiB, and the median per-round ratio zero-copy / copy of each. On loopback the kernel
 * copies the pages anyway when it hands them to the receiver, so zero-copy can only add the
 * cost of its completion notices there; its gain is on a real network device (docs/benchmarks.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "eddy.h"

enum { RBUF = 256 * 1024, MAXR = 64 };

typedef struct drain {
    eddy_stream *s;
    char *buf;
    uint64_t got;
    int rc;
} drain;

static int drain_task(void *arg)
{
    drain *d = arg;
    for (;;) {
        ssize_t n = eddy_stream_read(d->s, d->buf, RBUF);
        if (n <= 0) {
            d->rc = (int)n;
            return 0;
        }
        d->got += (uint64_t)n;
    }
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct cfg {
    long mib;
    int rounds;
    int status;
} cfg;

/* One transfer of c->mib MiB in writes of wlen bytes; zero-copy or not. MiB/s and CPU s/MiB. */
static int one_run(const cfg *c, size_t wlen, bool zc, double *mibps, double *cpu_per_mib)
{
    eddy_listener *l;
    eddy_sockaddr addr;
    eddy_stream *a = NULL, *b = NULL;
    int rc = eddy_tcp_listen("127.0.0.1", 0, NULL, &l);
    if (rc < 0) return rc;
    if ((rc = eddy_listener_local_addr(l, &addr)) == 0 && (rc = eddy_tcp_connect_addr(&addr, &a)) == 0)
        rc = eddy_listener_accept(l, &b, NULL);
    int crc = eddy_listener_close(l);
    if (rc == 0) rc = crc;
    if (rc == 0 && zc) rc = eddy_stream_set_zerocopy(a, wlen);
    char *src = malloc(wlen);
    drain d = {.s = b, .buf = malloc(RBUF)};
    if (rc == 0 && (!src || !d.buf)) rc = -ENOMEM;
    if (rc == 0) {
        memset(src, 'z', wlen);
        uint64_t total = (uint64_t)c->mib << 20;
        double t0 = (double)bench_now_ns(), u0 = cpu_s();
        int nrc = 0;
        EDDY_NURSERY(n, &nrc) {
            rc = eddy_spawn(n, drain_task, &d);
            for (uint64_t sent = 0; rc == 0 && sent < total; sent += wlen)
                rc = eddy_stream_write_all(a, src, wlen);
            if (rc == 0) rc = eddy_stream_shutdown_write(a);
            if (rc < 0) eddy_nursery_cancel(n); /* the reader would wait for ever */
        }
        double secs = ((double)bench_now_ns() - t0) / 1e9, cpu = cpu_s() - u0;
        if (rc == 0) rc = nrc;
        if (rc == 0) rc = d.rc;
        if (rc == 0 && d.got < total) rc = -EIO;
        *mibps = (double)c->mib / secs;
        *cpu_per_mib = cpu / (double)c->mib;
    }
    if (a) eddy_stream_abort(a);
    if (b) eddy_stream_abort(b);
    free(src);
    free(d.buf);
    return rc;
}

static int amain(void *arg)
{
    cfg *c = arg;
    static const size_t sizes[] = {16 * 1024, 256 * 1024};
    printf("backend=%s\nmib_per_run=%ld\nrounds=%d\n", eddy_backend_name(), c->mib, c->rounds);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        double rate[2][MAXR], cpu[2][MAXR];
        for (int r = 0; r < c->rounds; r++)
            for (int i = 0; i < 2; i++) {
                bool zc = (i + r) % 2 == 1; /* copy first in even rounds, zero-copy first in odd */
                int rc = one_run(c, sizes[k], zc, &rate[zc][r], &cpu[zc][r]);
                if (rc < 0) {
                    fprintf(stderr, "bench_zerocopy: %zu-byte writes, %s: %s\n", sizes[k],
                            zc ? "zero-copy" : "copy", eddy_strerror(rc));
                    c->status = 1;
                    return rc;
                }
            }
        unsigned kib = (unsigned)(sizes[k] / 1024);
        printf("copy_%uk_mib_per_s=%.0f\n", kib, bench_median(rate[0], c->rounds));
        printf("zerocopy_%uk_mib_per_s=%.0f\n", kib, bench_median(rate[1], c->rounds));
        printf("copy_%uk_cpu_ms_per_mib=%.3f\n", kib, 1e3 * bench_median(cpu[0], c->rounds));
        printf("zerocopy_%uk_cpu_ms_per_mib=%.3f\n", kib, 1e3 * bench_median(cpu[1], c->rounds));
        printf("zerocopy_vs_copy_%uk_rate=%.3f\n", kib, bench_median_ratio(rate[1], rate[0], c->rounds));
        printf("zerocopy_vs_copy_%uk_cpu=%.3f\n", kib, bench_median_ratio(cpu[1], cpu[0], c->rounds));
    }
    return 0;
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    cfg c = {.mib = bench_n(argc, argv, quick ? 32 : 256), .rounds = bench_rounds(argc, argv, quick ? 1 : 7)};
    if (c.rounds > MAXR) c.rounds = MAXR;
    int rc = eddy_run(amain, &c);
    return rc < 0 || c.status ? 1 : 0;
}
