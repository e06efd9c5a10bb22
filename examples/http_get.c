/* http_get: fetch a URL like a small curl, with eddy's HTTP client.
 *
 *   http_get [--timeout SECONDS] [--insecure] [-o FILE] URL
 *
 * Fetches an http:// or https:// URL and writes the body to standard output (or FILE, made
 * once the answer has come), following up to 5 redirects. https is verified against the
 * system's CA store (SSL_CERT_FILE and SSL_CERT_DIR override it) unless --insecure.
 * --timeout bounds the whole request, body included (default: none beyond the client's
 * per-phase limits: 10 s to connect, 10 s for TLS, 30 s for the answer, 30 s between body
 * bytes).
 *
 * Exit status: 0 for a 2xx answer; 1 for any other status, with the status line on stderr
 * ("http_get: HTTP/1.1 404 Not Found"; the body is still written); 2 for a usage error or a
 * failure, with one line on stderr naming its kind:
 *   http_get: DNS error: Host name not found
 *   http_get: TLS error: TLS certificate verification failed
 *   http_get: timeout: Timed out connecting
 *   http_get: network error: Connection refused
 *   http_get: HTTP error: Too many HTTP redirects
 *   http_get: invalid URL: ftp://x/
 *   http_get: cannot write FILE: No space left on device */
#include <eddy.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct args {
    const char *url;
    const char *out;
    double timeout; /* seconds; < 0: none */
    bool insecure;
    int status;     /* exit status */
} args;

static void usage(FILE *f)
{
    fprintf(f, "usage: http_get [--timeout SECONDS] [--insecure] [-o FILE] URL\n");
}

/* The kind of failure err is, for the one line on stderr. */
static const char *kind(int err)
{
    if (err <= -4100 && err > -4200) return "DNS error";
    if ((err <= -4200 && err > -4300) || err == -ENOTSUP) return "TLS error";
    if ((err <= EDDY_EHTTP_POOL_TIMEOUT && err >= EDDY_EHTTP_TOTAL_TIMEOUT) || err == -ETIMEDOUT)
        return "timeout";
    if (err == EDDY_EHTTP_BADURL) return "invalid URL";
    if (err <= -4300 && err > -4400) return "HTTP error";
    return "network error";
}

static void fail(args *a, int err)
{
    const char *what = err == -ENOTSUP ? "TLS is not available (built without OpenSSL)"
                                       : eddy_strerror(err);
    if (err == EDDY_EHTTP_BADURL) fprintf(stderr, "http_get: invalid URL: %s\n", a->url);
    else fprintf(stderr, "http_get: %s: %s\n", kind(err), what);
    a->status = 2;
}

static int run(void *arg)
{
    args *a = arg;
    eddy_http_client_opts o = EDDY_HTTP_CLIENT_OPTS_INIT;
    o.max_redirects = 5;
    o.max_conns = 1;
    eddy_tls_client_opts to = EDDY_TLS_CLIENT_OPTS_INIT;
    if (a->insecure) {
        to.insecure = true;
        o.tls_opts = &to;
    }
    if (a->timeout >= 0) o.timeouts.total = EDDY_SEC(a->timeout);
    eddy_http_client *c;
    int rc = eddy_http_client_open(&o, &c);
    if (rc < 0) {
        fail(a, rc);
        return 0;
    }
    eddy_http_client_response *r;
    rc = eddy_http_client_get(c, a->url, &r);
    if (rc < 0) {
        fail(a, rc);
        (void)eddy_http_client_close(c);
        return 0;
    }
    a->status = r->status >= 200 && r->status < 300 ? 0 : 1;
    if (a->status)
        fprintf(stderr, "http_get: HTTP/%d.%d %d %.*s\n", r->version / 10, r->version % 10, r->status,
                (int)r->reason.len, r->reason.ptr);
    eddy_stream *out = NULL;
    if (a->out) {
        int fd = open(a->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        rc = fd < 0 ? -errno : eddy_fd_stream(fd, 0, &out);
        if (rc < 0 && fd >= 0) close(fd);
    } else {
        rc = eddy_stdio(NULL, &out);
    }
    if (rc < 0) {
        fprintf(stderr, "http_get: cannot write %s: %s\n", a->out ? a->out : "standard output",
                eddy_strerror(rc));
        a->status = 2;
    }
    static char buf[65536];
    while (rc >= 0) {
        ssize_t n = eddy_stream_read(r->body, buf, sizeof buf);
        if (n <= 0) {
            if (n < 0) fail(a, (int)n);
            break;
        }
        if ((rc = eddy_stream_write_all(out, buf, (size_t)n)) < 0) {
            fprintf(stderr, "http_get: cannot write %s: %s\n", a->out ? a->out : "standard output",
                    eddy_strerror(rc));
            a->status = 2;
        }
    }
    if (out && eddy_stream_close(out) < 0 && a->status != 2) {
        fprintf(stderr, "http_get: cannot write %s\n", a->out ? a->out : "standard output");
        a->status = 2;
    }
    eddy_http_client_response_close(r);
    (void)eddy_http_client_close(c);
    return 0;
}

int main(int argc, char **argv)
{
    args a = {.timeout = -1};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(s, "--insecure") || !strcmp(s, "-k")) {
            a.insecure = true;
        } else if (!strcmp(s, "--timeout") && i + 1 < argc) {
            char *end;
            a.timeout = strtod(argv[++i], &end);
            if (!*argv[i] || *end || !(a.timeout >= 0) || a.timeout > 1e9) {
                usage(stderr);
                return 2;
            }
        } else if (!strcmp(s, "-o") && i + 1 < argc) {
            a.out = argv[++i];
        } else if (s[0] == '-' || a.url) {
            usage(stderr);
            return 2;
        } else {
            a.url = s;
        }
    }
    if (!a.url) {
        usage(stderr);
        return 2;
    }
    int rc = eddy_run(run, &a);
    if (rc < 0) {
        fprintf(stderr, "http_get: %s\n", eddy_strerror(rc));
        return 2;
    }
    return a.status;
}
