/* retry_connect: connect to a server that may not be up yet, retrying with exponential
 * back-off and full jitter (eddy_retry), as `backoff.on_exception(backoff.expo, ...)` does in
 * Python.
 *
 *   retry_connect [--max-time SECONDS] HOST PORT
 *
 * Tries eddy_tcp_connect(HOST, PORT); while it fails with an error worth another try (refused,
 * unreachable, timed out, a DNS server that did not answer: eddy_http_client_retryable), it
 * prints "attempt N: ERROR; retrying in S s" and waits (0.1 s, 0.2 s, 0.4 s ... up to 2 s
 * before jitter) — but never past --max-time (default 30 s) since the first attempt. Then
 * "connected to HOST:PORT after N attempts" ("1 attempt") and exit status 0, or "giving up
 * after N attempts: ERROR" and 1 (an error not worth retrying, such as an unknown host, ends it at once); 2 for a
 * usage error. */
#include <eddy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct app {
    const char *host;
    uint16_t port;
    double max_time;
    unsigned attempts;
    eddy_stream *s;
} app;

static int attempt(void *arg)
{
    app *a = arg;
    a->attempts++;
    return eddy_tcp_connect(a->host, a->port, NULL, &a->s);
}

static void on_backoff(void *ctx, uint32_t tries, int err, int64_t delay)
{
    (void)ctx;
    printf("attempt %u: %s; retrying in %.3f s\n", tries, eddy_strerror(err), (double)delay / 1e9);
    fflush(stdout);
}

static int run(void *arg)
{
    app *a = arg;
    eddy_backoff b = EDDY_BACKOFF_INIT;
    b.base = EDDY_MSEC(100);
    b.max_delay = EDDY_SEC(2);
    b.max_tries = EDDY_RETRY_FOREVER;
    b.max_time = EDDY_SEC(a->max_time);
    b.retryable = eddy_http_client_retryable;
    b.on_backoff = on_backoff;
    int rc = eddy_retry(attempt, a, &b);
    if (rc < 0) {
        printf("giving up after %u attempt%s: %s\n", a->attempts, a->attempts == 1 ? "" : "s",
               eddy_strerror(rc));
        return 0;
    }
    printf("connected to %s:%u after %u attempt%s\n", a->host, a->port, a->attempts,
           a->attempts == 1 ? "" : "s");
    int crc = eddy_stream_close(a->s);
    if (crc < 0) fprintf(stderr, "retry_connect: closing the connection: %s\n", eddy_strerror(crc));
    a->s = (eddy_stream *)a; /* success */
    return 0;
}

static void usage(FILE *f) { fprintf(f, "usage: retry_connect [--max-time SECONDS] HOST PORT\n"); }

int main(int argc, char **argv)
{
    app a = {.max_time = 30};
    int i = 1;
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 2 && !strcmp(argv[1], "--max-time")) {
        char *end;
        a.max_time = strtod(argv[2], &end);
        if (!*argv[2] || *end || !(a.max_time >= 0) || a.max_time > 1e6) {
            usage(stderr);
            return 2;
        }
        i = 3;
    }
    if (argc - i != 2) {
        usage(stderr);
        return 2;
    }
    a.host = argv[i];
    char *end;
    long p = strtol(argv[i + 1], &end, 10);
    if (!*argv[i + 1] || *end || p < 1 || p > 65535) {
        usage(stderr);
        return 2;
    }
    a.port = (uint16_t)p;
    int rc = eddy_run(run, &a);
    if (rc < 0) {
        fprintf(stderr, "retry_connect: %s\n", eddy_strerror(rc));
        return 2;
    }
    return a.s ? 0 : 1;
}
