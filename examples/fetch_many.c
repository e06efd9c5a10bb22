/* fetch_many: fetch many URLs at once over a bounded pool — the classic "fetch ten sites
 * concurrently" program, with eddy's HTTP client.
 *
 *   fetch_many [--limit N] URL...
 *
 * Every URL gets a task of its own, all started at once, in one nursery; they share one
 * client, whose pool opens at most N connections (default 10) in all, reusing them
 * (keep-alive) and queueing the requests that find none free. Each body is read to its end
 * (decoded if gzip or deflate) and counted; redirects are followed (up to 5); https is
 * verified against the system's CAs (SSL_CERT_FILE honoured).
 *
 * Output, one line per URL in the order they complete:
 *   STATUS BYTES SECONDS URL
 * (SECONDS since the start, three decimals; a URL that failed prints ERR for STATUS and its
 * error after the URL: "ERR 0 0.012 http://x/ (Connection refused)"), then one line
 *   total: U URLs, B bytes, S seconds, C connections, E errors
 * Exit status: 0 if every URL was answered (whatever its status), 1 if some failed, 2 for a
 * usage error. */
#include <eddy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    const char *url;
    eddy_http_client *c;
    int64_t t0;
    int status;
    uint64_t bytes;
    int err;
} job;

typedef struct app {
    job *jobs;
    int n;
    size_t limit;
    int errors;
    uint64_t bytes;
    uint64_t connections;
} app;

static int fetch(void *arg)
{
    job *j = arg;
    eddy_http_client_response *r;
    int rc = eddy_http_client_get(j->c, j->url, &r);
    if (rc == 0) {
        j->status = r->status;
        char buf[16384];
        ssize_t n;
        while ((n = eddy_stream_read(r->body, buf, sizeof buf)) > 0) j->bytes += (uint64_t)n;
        if (n < 0) rc = (int)n;
        eddy_http_client_response_close(r);
    }
    j->err = rc;
    double s = (double)(eddy_now() - j->t0) / 1e9;
    if (rc < 0) printf("ERR %llu %.3f %s (%s)\n", (unsigned long long)j->bytes, s, j->url, eddy_strerror(rc));
    else printf("%d %llu %.3f %s\n", j->status, (unsigned long long)j->bytes, s, j->url);
    fflush(stdout);
    return 0; /* a failed URL does not stop the others */
}

static int run(void *arg)
{
    app *a = arg;
    eddy_http_client_opts o = EDDY_HTTP_CLIENT_OPTS_INIT;
    o.max_conns = a->limit;
    o.max_redirects = 5;
    eddy_http_client *c;
    int rc = eddy_http_client_open(&o, &c);
    if (rc < 0) return rc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < a->n && rc >= 0; i++) {
            a->jobs[i].c = c;
            a->jobs[i].t0 = t0;
            rc = eddy_spawn(n, fetch, &a->jobs[i], .name = "fetch");
        }
    }
    struct eddy_http_client_stats st;
    eddy_http_client_stats(c, &st);
    for (int i = 0; i < a->n; i++) {
        a->bytes += a->jobs[i].bytes;
        if (a->jobs[i].err < 0) a->errors++;
    }
    printf("total: %d URLs, %llu bytes, %.3f seconds, %llu connections, %d errors\n", a->n,
           (unsigned long long)a->bytes, (double)(eddy_now() - t0) / 1e9,
           (unsigned long long)st.connections, a->errors);
    fflush(stdout);
    (void)eddy_http_client_close(c);
    return rc;
}

static void usage(FILE *f) { fprintf(f, "usage: fetch_many [--limit N] URL...\n"); }

int main(int argc, char **argv)
{
    app a = {.limit = 10};
    a.jobs = calloc((size_t)argc, sizeof *a.jobs);
    if (!a.jobs) return 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            free(a.jobs);
            return 0;
        }
        if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || v < 1 || v > 100000) {
                usage(stderr);
                free(a.jobs);
                return 2;
            }
            a.limit = (size_t)v;
        } else if (argv[i][0] == '-') {
            usage(stderr);
            free(a.jobs);
            return 2;
        } else {
            a.jobs[a.n++].url = argv[i];
        }
    }
    if (a.n == 0) {
        usage(stderr);
        free(a.jobs);
        return 2;
    }
    int rc = eddy_run(run, &a);
    free(a.jobs);
    if (rc < 0) {
        fprintf(stderr, "fetch_many: %s\n", eddy_strerror(rc));
        return 2;
    }
    return a.errors ? 1 : 0;
}
