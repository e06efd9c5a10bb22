/* The HTTP client benchmark's eddy side (scripts/bench_http_client.sh): N tasks (default 10)
 * fetch one URL over and over through one eddy_http_client whose pool holds N keep-alive
 * connections, for a given time, each body read to its end.
 *
 *   bench_http_client [--tasks N] [--duration SECONDS] [--warmup SECONDS] URL
 *
 * Prints key=value lines (bench=http_client, requests, seconds, rps, cpu_us_per_req: this
 * process's user+system CPU per request, connections); exits 1 if any request failed or got
 * another status than 200. */
#include <eddy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct run {
    const char *url;
    int tasks;
    double duration, warmup;
    eddy_http_client *c;
    int64_t stop;
    uint64_t requests, errors;
    bool counting;
} run;

static int worker(void *arg)
{
    run *r = arg;
    char buf[16384];
    while (eddy_now() < r->stop) {
        eddy_http_client_response *res;
        int rc = eddy_http_client_get(r->c, r->url, &res);
        if (rc < 0) {
            if (r->errors++ == 0) fprintf(stderr, "bench_http_client: %s\n", eddy_strerror(rc));
            continue;
        }
        ssize_t n;
        while ((n = eddy_stream_read(res->body, buf, sizeof buf)) > 0) {
        }
        if (n < 0 || res->status != 200) {
            if (r->errors++ == 0) fprintf(stderr, "bench_http_client: status %d, %s\n", res->status, eddy_strerror((int)n));
        }
        eddy_http_client_response_close(res);
        if (r->counting) r->requests++;
    }
    return 0;
}

static int phase(run *r, double secs)
{
    r->stop = eddy_now() + EDDY_SEC(secs);
    int rc = 0;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < r->tasks && rc == 0; i++) rc = eddy_spawn(n, worker, r);
    }
    return rc;
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
           (double)u.ru_stime.tv_usec / 1e6;
}

static int amain(void *arg)
{
    run *r = arg;
    eddy_http_client_opts o = EDDY_HTTP_CLIENT_OPTS_INIT;
    o.max_conns = (size_t)r->tasks;
    int rc = eddy_http_client_open(&o, &r->c);
    if (rc < 0) return rc;
    if ((rc = phase(r, r->warmup)) == 0) {
        r->counting = true;
        double c0 = cpu_s();
        int64_t t0 = eddy_now();
        rc = phase(r, r->duration);
        double secs = (double)(eddy_now() - t0) / 1e9, cpu = cpu_s() - c0;
        struct eddy_http_client_stats st;
        eddy_http_client_stats(r->c, &st);
        printf("bench=http_client\nrequests=%llu\nseconds=%.3f\nrps=%.0f\ncpu_us_per_req=%.2f\nconnections=%llu\n",
               (unsigned long long)r->requests, secs, (double)r->requests / secs,
               r->requests ? cpu * 1e6 / (double)r->requests : 0, (unsigned long long)st.connections);
    }
    (void)eddy_http_client_close(r->c);
    return rc;
}

int main(int argc, char **argv)
{
    run r = {.tasks = 10, .duration = 5, .warmup = 0.5};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tasks") && i + 1 < argc) r.tasks = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc) r.duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) r.warmup = atof(argv[++i]);
        else if (argv[i][0] != '-' && !r.url) r.url = argv[i];
        else r.url = NULL, i = argc;
    }
    if (!r.url || r.tasks < 1 || !(r.duration > 0) || !(r.warmup >= 0)) {
        fprintf(stderr, "usage: bench_http_client [--tasks N] [--duration SECONDS] [--warmup SECONDS] URL\n");
        return 2;
    }
    int rc = eddy_run(amain, &r);
    if (rc < 0) {
        fprintf(stderr, "bench_http_client: %s\n", eddy_strerror(rc));
        return 1;
    }
    return r.errors ? 1 : 0;
}
