/* Tests of the router (eddy_http_router_serve) and of static files (eddy_http_files_serve),
 * through the server over memory streams. The file tests build a directory tree with
 * symbolic links pointing inside and outside it. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_test_util.h"

/* Answers with the route's name and the tail the router set. */
static int h_named(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    char b[128];
    int n = snprintf(b, sizeof b, "%s tail=%s%.*s", (const char *)arg, req->route_tail.ptr ? "" : "(none)",
                     (int)req->route_tail.len, req->route_tail.ptr ? req->route_tail.ptr : "");
    return eddy_http_response_send(res, 200, "text/plain", b, (size_t)n);
}

static const eddy_http_route ROUTES[] = {
    {"GET", "/", h_named, "A"},
    {"GET", "/about", h_named, "B"},
    {NULL, "/any", h_named, "C"},
    {"POST", "/api/*", h_named, "D"},
    {"GET", "/api/*", h_named, "E"},
    {"GET", "/api/v2/*", h_named, "F"},
    {"DELETE", "/api/v2/x", h_named, "G"},
    {"GET", "*", NULL, "ignored: no handler"},
};
static const eddy_http_router ROUTER = {ROUTES, sizeof ROUTES / sizeof ROUTES[0]};

static void run(fixture *x, fixture_client fn) { fixture_run(x, fn, NULL); }

/* req: the request line's method and target; want: status, then the body (NULL: any). */
static void expect(hclient *c, const char *method, const char *target, int status, const char *body,
                   hresp *keep)
{
    char req[512];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: a\r\n\r\n", method, target);
    hresp r;
    EDDY_OK(hc_send(c, req));
    EDDY_OK(hc_read(c, &r, strcmp(method, "HEAD") == 0 ? EDDY_HTTP_HEAD : EDDY_HTTP_GET));
    if (r.status != status || (body && strcmp(r.body, body) != 0))
        fprintf(stderr, "%s %s: %d '%s'\n", method, target, r.status, r.body);
    EDDY_CHECK_EQ(r.status, status);
    if (body) EDDY_CHECK(strcmp(r.body, body) == 0);
    if (keep) *keep = r;
    else hr_free(&r);
}

static int c_router(hclient *c, fixture *x)
{
    (void)x;
    expect(c, "GET", "/", 200, "A tail=(none)", NULL);
    expect(c, "GET", "/about", 200, "B tail=(none)", NULL);
    expect(c, "GET", "/about?x=1", 200, "B tail=(none)", NULL);
    expect(c, "GET", "/about/", 404, "Not Found\n", NULL);
    expect(c, "PUT", "/any", 200, "C tail=(none)", NULL);
    expect(c, "POST", "/api/x/y", 200, "D tail=x/y", NULL);
    expect(c, "GET", "/api/", 200, "E tail=", NULL);
    expect(c, "GET", "/api/v2/y", 200, "F tail=y", NULL);
    expect(c, "GET", "/api/v2/x", 200, "F tail=x", NULL); /* the exact route is DELETE only */
    expect(c, "DELETE", "/api/v2/x", 200, "G tail=(none)", NULL);
    expect(c, "get", "/about", 405, NULL, NULL); /* methods are case-sensitive */
    hresp r;
    expect(c, "HEAD", "/about", 200, "", &r); /* a GET route serves HEAD, without the body */
    EDDY_CHECK(strcmp(hr_get(&r, "content-length"), "13") == 0);
    hr_free(&r);
    expect(c, "PUT", "/api/z", 405, "Method Not Allowed\n", &r);
    EDDY_CHECK(strcmp(hr_get(&r, "allow"), "POST, GET, HEAD, OPTIONS") == 0);
    hr_free(&r);
    expect(c, "OPTIONS", "/api/v2/x", 204, "", &r);
    EDDY_CHECK(strcmp(hr_get(&r, "allow"), "POST, GET, HEAD, DELETE, OPTIONS") == 0);
    hr_free(&r);
    expect(c, "GET", "/nothing", 404, "Not Found\n", NULL);
    expect(c, "GET", "/apix", 404, NULL, NULL);
    return 0;
}

HTTP_TEST(http_router)
{
    fixture x;
    fixture_init(&x, eddy_http_router_serve, (void *)&ROUTER);
    run(&x, c_router);
    EDDY_CHECK_EQ(eddy_http_router_serve(NULL, NULL, NULL), -EINVAL);
    return 0;
}

/* ---- static files ---- */

static char base[64], root[256], outside[256];

static void put_file(const char *dir, const char *name, const char *data)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EDDY_CHECK(fd >= 0);
    EDDY_CHECK(write(fd, data, strlen(data)) == (ssize_t)strlen(data));
    close(fd);
}

static void make_tree(void)
{
    snprintf(base, sizeof base, "/tmp/eddy-files-XXXXXX");
    EDDY_CHECK(mkdtemp(base) != NULL);
    snprintf(root, sizeof root, "%s/root", base);
    snprintf(outside, sizeof outside, "%s/outside", base);
    EDDY_CHECK(mkdir(root, 0755) == 0 && mkdir(outside, 0755) == 0);
    put_file(root, "hello.txt", "Hello, files!\n");
    put_file(root, "page.HTML", "<p>hi</p>\n");
    put_file(root, "a b.css", "x{}\n");
    put_file(outside, "secret.txt", "secret\n");
    char p[512], q[512];
    snprintf(p, sizeof p, "%s/dir", root);
    EDDY_CHECK(mkdir(p, 0755) == 0);
    put_file(p, "index.html", "<h1>index</h1>\n");
    snprintf(p, sizeof p, "%s/noindex", root);
    EDDY_CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/link-in.txt", root);
    EDDY_CHECK(symlink("hello.txt", p) == 0);
    snprintf(p, sizeof p, "%s/link-out.txt", root);
    snprintf(q, sizeof q, "%s/secret.txt", outside);
    EDDY_CHECK(symlink(q, p) == 0);
    snprintf(p, sizeof p, "%s/dir-out", root);
    EDDY_CHECK(symlink("../outside", p) == 0);
    /* a large file, for sendfile */
    snprintf(p, sizeof p, "%s/big.bin", root);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    char blk[4096];
    for (int i = 0; i < 256; i++) {
        memset(blk, 'a' + i % 26, sizeof blk);
        EDDY_CHECK(write(fd, blk, sizeof blk) == sizeof blk);
    }
    close(fd);
}

static void remove_tree(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    EDDY_CHECK(system(cmd) == 0);
}

static int c_files(hclient *c, fixture *x)
{
    (void)x;
    hresp r;
    expect(c, "GET", "/hello.txt", 200, "Hello, files!\n", &r);
    EDDY_CHECK(strcmp(hr_get(&r, "content-type"), "text/plain; charset=utf-8") == 0);
    EDDY_CHECK(strcmp(hr_get(&r, "accept-ranges"), "bytes") == 0);
    EDDY_CHECK(strcmp(hr_get(&r, "cache-control"), "max-age=60") == 0);
    char etag[128], lastmod[64];
    snprintf(etag, sizeof etag, "%s", hr_get(&r, "etag"));
    snprintf(lastmod, sizeof lastmod, "%s", hr_get(&r, "last-modified"));
    EDDY_CHECK(etag[0] == '"' && strlen(lastmod) == 29);
    hr_free(&r);
    expect(c, "HEAD", "/hello.txt", 200, "", &r);
    EDDY_CHECK(strcmp(hr_get(&r, "content-length"), "14") == 0);
    hr_free(&r);
    expect(c, "GET", "/page.HTML", 200, "<p>hi</p>\n", &r);
    EDDY_CHECK(strcmp(hr_get(&r, "content-type"), "text/html; charset=utf-8") == 0);
    hr_free(&r);
    expect(c, "GET", "/a%20b.css", 200, "x{}\n", NULL);
    expect(c, "GET", "/./hello.txt", 200, "Hello, files!\n", NULL);
    expect(c, "GET", "//hello.txt", 200, "Hello, files!\n", NULL);
    expect(c, "GET", "/hello.txt?v=1", 200, "Hello, files!\n", NULL);

    /* conditional requests */
    char req[512];
    snprintf(req, sizeof req, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\", %s\r\n\r\n", etag);
    EDDY_OK(hc_get(c, req, &r));
    EDDY_CHECK_EQ(r.status, 304);
    EDDY_CHECK_EQ(r.body_len, 0);
    EDDY_CHECK(strcmp(hr_get(&r, "etag"), etag) == 0);
    hr_free(&r);
    snprintf(req, sizeof req, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: W/%s\r\n\r\n", etag);
    hc_expect(c, req, 304, NULL);
    hc_expect(c, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\n\r\n", 304, NULL);
    hc_expect(c, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"other\"\r\n\r\n", 200, NULL);
    snprintf(req, sizeof req, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: %s\r\n\r\n", lastmod);
    hc_expect(c, req, 304, NULL);
    hc_expect(c, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n\r\n", 200, NULL);

    /* ranges */
    EDDY_OK(hc_get(c, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=7-11\r\n\r\n", &r));
    EDDY_CHECK_EQ(r.status, 206);
    EDDY_CHECK(strcmp(r.body, "files") == 0);
    EDDY_CHECK(strcmp(hr_get(&r, "content-range"), "bytes 7-11/14") == 0);
    hr_free(&r);
    hc_expect(c, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=-7\r\n\r\n", 206, "files!\n");
    EDDY_OK(hc_get(c, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=7-999\r\n\r\n", &r));
    EDDY_CHECK(r.status == 206 && strcmp(r.body, "files!\n") == 0);
    hr_free(&r);
    EDDY_OK(hc_get(c, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=14-\r\n\r\n", &r));
    EDDY_CHECK_EQ(r.status, 416);
    EDDY_CHECK(strcmp(hr_get(&r, "content-range"), "bytes */14") == 0);
    hr_free(&r);
    EDDY_OK(hc_get(c, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1,3-4\r\n\r\n", &r));
    EDDY_CHECK(r.status == 200 && r.body_len == 14); /* several ranges: the whole file */
    hr_free(&r);
    hc_expect(c, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=5-2\r\n\r\n", 200, NULL);
    hc_expect(c, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-0\r\nIf-Range: \"old\"\r\n\r\n", 200, NULL);
    snprintf(req, sizeof req, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-0\r\nIf-Range: %s\r\n\r\n", etag);
    EDDY_OK(hc_get(c, req, &r));
    EDDY_CHECK(r.status == 206 && strcmp(r.body, "H") == 0);
    hr_free(&r);

    /* directories */
    expect(c, "GET", "/dir", 301, NULL, &r);
    EDDY_CHECK(strcmp(hr_get(&r, "location"), "/dir/") == 0);
    hr_free(&r);
    expect(c, "GET", "/dir/", 200, "<h1>index</h1>\n", NULL);
    expect(c, "GET", "/", 404, NULL, NULL);
    expect(c, "GET", "/noindex/", 404, NULL, NULL);
    expect(c, "GET", "/hello.txt/", 404, NULL, NULL);
    expect(c, "GET", "/missing", 404, NULL, NULL);

    /* never outside the root */
    expect(c, "GET", "/../outside/secret.txt", 403, NULL, NULL);
    expect(c, "GET", "/%2e%2e/outside/secret.txt", 403, NULL, NULL);
    expect(c, "GET", "/%2E%2E/outside/secret.txt", 403, NULL, NULL);
    expect(c, "GET", "/dir/..%2f..%2foutside/secret.txt", 403, NULL, NULL);
    expect(c, "GET", "/dir/../hello.txt", 403, NULL, NULL);
    expect(c, "GET", "/link-in.txt", 200, "Hello, files!\n", NULL);
    expect(c, "GET", "/link-out.txt", 403, NULL, NULL);
    expect(c, "GET", "/dir-out/secret.txt", 403, NULL, NULL);
    expect(c, "GET", "/hello.txt%00.png", 400, NULL, NULL);
    expect(c, "GET", "/bad%zz", 400, NULL, NULL);
    expect(c, "GET", "/bad%2", 400, NULL, NULL);
    expect(c, "POST", "/hello.txt", 405, NULL, &r);
    EDDY_CHECK(strcmp(hr_get(&r, "allow"), "GET, HEAD") == 0);
    hr_free(&r);

    /* a large file */
    expect(c, "GET", "/big.bin", 200, NULL, &r);
    EDDY_CHECK_EQ(r.body_len, 256 * 4096);
    for (int i = 0; i < 256; i++) EDDY_CHECK(r.body[i * 4096] == 'a' + i % 26 && r.body[i * 4096 + 4095] == 'a' + i % 26);
    hr_free(&r);
    EDDY_OK(hc_get(c, "GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=4095-4096\r\n\r\n", &r));
    EDDY_CHECK(r.status == 206 && strcmp(r.body, "ab") == 0);
    hr_free(&r);
    return 0;
}

HTTP_TEST(http_files)
{
    make_tree();
    eddy_http_files f;
    EDDY_OK(eddy_http_files_init(&f, root));
    EDDY_CHECK_EQ(strcmp(f.index, "index.html"), 0);
    f.cache_control = "max-age=60";
    fixture x;
    fixture_init(&x, eddy_http_files_serve, &f);
    run(&x, c_files);
    eddy_http_files_destroy(&f);
    eddy_http_files_destroy(&f); /* idempotent */
    remove_tree();
    return 0;
}

/* Under a prefix route: the file is named by the rest of the path. */
static eddy_http_files pf;
static const eddy_http_route PREFIX[] = {{"GET", "/static/*", eddy_http_files_serve, &pf}};
static const eddy_http_router PREFIX_ROUTER = {PREFIX, 1};

static int c_prefix(hclient *c, fixture *x)
{
    (void)x;
    expect(c, "GET", "/static/hello.txt", 200, "Hello, files!\n", NULL);
    expect(c, "GET", "/static/dir/", 200, "<h1>index</h1>\n", NULL);
    expect(c, "GET", "/static/../hello.txt", 403, NULL, NULL);
    expect(c, "GET", "/hello.txt", 404, NULL, NULL);
    return 0;
}

HTTP_TEST(http_files_under_prefix)
{
    make_tree();
    EDDY_OK(eddy_http_files_init(&pf, root));
    fixture x;
    fixture_init(&x, eddy_http_router_serve, (void *)&PREFIX_ROUTER);
    run(&x, c_prefix);
    eddy_http_files_destroy(&pf);
    remove_tree();
    return 0;
}

HTTP_TEST(http_files_init_errors)
{
    eddy_http_files f;
    EDDY_CHECK_EQ(eddy_http_files_init(NULL, "/tmp"), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_files_init(&f, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_http_files_init(&f, "/nonexistent/dir"), -ENOENT);
    EDDY_CHECK_EQ(eddy_http_files_init(&f, "/etc/passwd"), -ENOTDIR);
    eddy_http_files_destroy(NULL);
    EDDY_CHECK_EQ(eddy_http_files_serve(NULL, NULL, NULL), -EINVAL);
    EDDY_CHECK(strcmp(eddy_http_content_type("x/A.Png"), "image/png") == 0);
    EDDY_CHECK(strcmp(eddy_http_content_type("app.js"), "text/javascript; charset=utf-8") == 0);
    EDDY_CHECK(strcmp(eddy_http_content_type("noext"), "application/octet-stream") == 0);
    EDDY_CHECK(strcmp(eddy_http_content_type("dir.d/file"), "application/octet-stream") == 0);
    EDDY_CHECK(strcmp(eddy_http_content_type(NULL), "application/octet-stream") == 0);
    return 0;
}

/* Without openat2 (old kernels, sandboxes) every symbolic link is refused, in or out. */
extern bool eddy__http_files_no_openat2;

static int c_walk(hclient *c, fixture *x)
{
    (void)x;
    expect(c, "GET", "/hello.txt", 200, "Hello, files!\n", NULL);
    expect(c, "GET", "/dir/", 200, "<h1>index</h1>\n", NULL);
    expect(c, "GET", "/dir/index.html", 200, "<h1>index</h1>\n", NULL);
    expect(c, "GET", "/link-in.txt", 403, NULL, NULL);
    expect(c, "GET", "/link-out.txt", 403, NULL, NULL);
    expect(c, "GET", "/dir-out/secret.txt", 403, NULL, NULL);
    expect(c, "GET", "/missing/x", 404, NULL, NULL);
    expect(c, "GET", "/%2e%2e/outside/secret.txt", 403, NULL, NULL);
    return 0;
}

HTTP_TEST(http_files_without_openat2)
{
    make_tree();
    eddy__http_files_no_openat2 = true;
    eddy_http_files f;
    EDDY_OK(eddy_http_files_init(&f, root));
    fixture x;
    fixture_init(&x, eddy_http_files_serve, &f);
    run(&x, c_walk);
    eddy_http_files_destroy(&f);
    remove_tree();
    return 0;
}
