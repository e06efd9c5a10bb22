/* eddy http: static files (eddy_http_files_serve).
 *
 * Containment: the request path is percent-decoded and split into segments; "." and empty
 * segments are dropped, ".." is refused (403) before any lookup, so "..", "%2e%2e" and
 * "a%2f..%2fb" all fail the same way. The file is then opened relative to the root directory
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): the kernel refuses any resolution
 * that would leave the root, through a symbolic link or otherwise (EXDEV: 403), while links
 * that stay inside work. Where openat2 is missing (kernels before 5.6, some sandboxes), the
 * path is walked one component at a time with O_NOFOLLOW, so every symbolic link is refused. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "eddy/http.h"
#include "internal.h"
#include "loop/sys.h"

#define REL_MAX 4096

int eddy_http_files_init(eddy_http_files *f, const char *dir)
{
    if (!f || !dir) return -EINVAL;
    int fd = eddy__sys_open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    f->root_fd = fd;
    f->index = "index.html";
    f->cache_control = NULL;
    return 0;
}

void eddy_http_files_destroy(eddy_http_files *f)
{
    if (!f || f->root_fd < 0) return;
    eddy__sys_close(f->root_fd);
    f->root_fd = -1;
}

/* ---- content types ---------------------------------------------------------------------- */

static const struct {
    const char *ext, *type;
} TYPES[] = {
    {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"}, {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
    {"map", "application/json"}, {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"}, {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"}, {"svg", "image/svg+xml"}, {"png", "image/png"},
    {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"gif", "image/gif"},
    {"webp", "image/webp"}, {"avif", "image/avif"}, {"ico", "image/x-icon"},
    {"wasm", "application/wasm"}, {"pdf", "application/pdf"}, {"zip", "application/zip"},
    {"gz", "application/gzip"}, {"tar", "application/x-tar"}, {"mp4", "video/mp4"},
    {"webm", "video/webm"}, {"mp3", "audio/mpeg"}, {"ogg", "audio/ogg"},
    {"wav", "audio/wav"}, {"woff", "font/woff"}, {"woff2", "font/woff2"},
    {"ttf", "font/ttf"}, {"otf", "font/otf"},
};

const char *eddy_http_content_type(const char *name)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (dot && !strchr(dot, '/')) {
        eddy_http_str ext = {dot + 1, strlen(dot + 1)};
        for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
            if (eddy_http_str_ieq(ext, TYPES[i].ext)) return TYPES[i].type;
    }
    return "application/octet-stream";
}

/* ---- paths --------------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode raw into rel as "seg/seg/seg" (no leading slash; "" for the root). Returns 0, or
 * the status to answer: 400 (bad escape, NUL), 403 (".."), 414 (too long). */
static int decode_path(eddy_http_str raw, char *rel, size_t cap)
{
    char dec[REL_MAX];
    size_t n = 0;
    for (size_t i = 0; i < raw.len; i++) {
        char ch = raw.ptr[i];
        if (ch == '%') {
            if (i + 2 >= raw.len) return 400;
            int h = hexval(raw.ptr[i + 1]), l = hexval(raw.ptr[i + 2]);
            if (h < 0 || l < 0) return 400;
            ch = (char)(h * 16 + l);
            i += 2;
        }
        if (ch == '\0') return 400;
        if (n + 1 >= sizeof dec) return 414;
        dec[n++] = ch;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t s = i;
        while (i < n && dec[i] != '/') i++;
        size_t l = i - s;
        i++; /* past the slash */
        if (l == 0 || (l == 1 && dec[s] == '.')) continue;
        if (l == 2 && dec[s] == '.' && dec[s + 1] == '.') return 403;
        if (o + l + 2 > cap) return 414;
        if (o) rel[o++] = '/';
        memcpy(rel + o, dec + s, l);
        o += l;
    }
    rel[o] = '\0';
    return 0;
}

/* Test hook: behave as if openat2 did not exist. */
EDDY__HIDDEN bool eddy__http_files_no_openat2;

/* Open rel under root without leaving it. A descriptor, or -errno. */
static int open_beneath(int root, const char *rel, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = eddy__http_files_no_openat2 ? (errno = ENOSYS, -1)
                                          : eddy__sys_syscall(SYS_openat2, root, *rel ? rel : ".", &how, sizeof how);
    if (fd >= 0) return (int)fd;
    if (errno != ENOSYS && errno != EPERM) return -errno;
    /* No openat2: walk the components, refusing every symbolic link. */
    int dir = eddy__sys_dup(root);
    if (dir < 0) return -errno;
    const char *p = rel;
    for (;;) {
        const char *e = strchr(p, '/');
        char seg[256];
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l >= sizeof seg) {
            eddy__sys_close(dir);
            return -ENAMETOOLONG;
        }
        memcpy(seg, p, l);
        seg[l] = '\0';
        int next = eddy__sys_openat(dir, l ? seg : ".", (e ? O_PATH | O_DIRECTORY : flags) | O_NOFOLLOW | O_CLOEXEC);
        int err = errno;
        eddy__sys_close(dir);
        if (next < 0) return err == ELOOP || (err == ENOTDIR && e) ? -EXDEV : -err;
        if (!e) return next;
        dir = next;
        p = e + 1;
    }
}

static int status_of_errno(int e)
{
    switch (e) {
    case -ENOENT: case -ENOTDIR: case -ENAMETOOLONG: return 404;
    case -EXDEV: case -ELOOP: case -EACCES: case -EPERM: return 403;
    default: return 500;
    }
}

/* ---- dates and validators ------------------------------------------------------------------ */

static void fmt_date(time_t t, char out[30])
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[64]; /* wide enough for any int the compiler can imagine; the date is 29 */
    snprintf(tmp, sizeof tmp, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", days + 3 * tm.tm_wday,
             tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, tmp, 29);
    out[29] = '\0';
}

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); -1 if it is not one. */
static time_t parse_date(eddy_http_str s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (s.len != 29 || s.ptr[3] != ',' || memcmp(s.ptr + 25, " GMT", 4) != 0) return -1;
    char buf[30];
    memcpy(buf, s.ptr, 29);
    buf[29] = '\0';
    struct tm tm = {0};
    char mon[4];
    if (sscanf(buf + 5, "%2d %3s %4d %2d:%2d:%2d", &tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    const char *m = strstr(months, mon);
    if (!m || (m - months) % 3) return -1;
    tm.tm_mon = (int)(m - months) / 3;
    tm.tm_year -= 1900;
    return timegm(&tm);
}

/* If-None-Match: a list of entity tags or "*"; weak comparison (RFC 9110 13.1.2). */
static bool none_match(eddy_http_str v, const char *etag)
{
    size_t el = strlen(etag);
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ',')) i++;
        if (i < v.len && v.ptr[i] == '*') return true;
        if (i + 2 <= v.len && v.ptr[i] == 'W' && v.ptr[i + 1] == '/') i += 2;
        size_t s = i;
        if (i < v.len && v.ptr[i] == '"') {
            i++;
            while (i < v.len && v.ptr[i] != '"') i++;
            i++;
        } else {
            while (i < v.len && v.ptr[i] != ',') i++;
        }
        if (i - s == el && memcmp(v.ptr + s, etag, el) == 0) return true;
    }
    return false;
}

/* One "bytes=" range of a file of size bytes. 1: *off and *len set; 0: no usable range (serve
 * everything); -1: unsatisfiable (416). */
static int parse_range(eddy_http_str v, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (v.len < 7 || memcmp(v.ptr, "bytes=", 6) != 0) return 0;
    const char *p = v.ptr + 6, *e = v.ptr + v.len;
    if (memchr(p, ',', (size_t)(e - p))) return 0; /* several ranges: the whole file */
    uint64_t a = 0, b = 0;
    bool has_a = false, has_b = false;
    while (p < e && *p >= '0' && *p <= '9') {
        if (a > UINT64_MAX / 10 - 1) return 0;
        a = a * 10 + (uint64_t)(*p++ - '0');
        has_a = true;
    }
    if (p == e || *p++ != '-') return 0;
    while (p < e && *p >= '0' && *p <= '9') {
        if (b > UINT64_MAX / 10 - 1) return 0;
        b = b * 10 + (uint64_t)(*p++ - '0');
        has_b = true;
    }
    if (p != e || (!has_a && !has_b)) return 0;
    if (!has_a) { /* suffix: the last b bytes */
        if (b == 0 || size == 0) return -1;
        if (b > size) b = size;
        *off = size - b;
        *len = b;
        return 1;
    }
    if (has_b && b < a) return 0;
    if (a >= size) return -1;
    if (!has_b || b >= size) b = size - 1;
    *off = a;
    *len = b - a + 1;
    return 1;
}

static const eddy_http_str *field(const eddy_http_request *req, const char *name)
{
    const eddy_http_field *f = eddy_http_field_find(req->fields, req->nfields, 0, name);
    return f ? &f->value : NULL;
}

static int send_status(eddy_http_response *res, int status)
{
    char body[64];
    int n = snprintf(body, sizeof body, "%s\n", eddy_http_reason(status));
    return eddy_http_response_send(res, status, "text/plain", body, (size_t)n);
}

int eddy_http_files_serve(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    const eddy_http_files *f = arg;
    if (!f || !req || !res) return -EINVAL;
    if (req->method_id != EDDY_HTTP_GET && req->method_id != EDDY_HTTP_HEAD) {
        int rc = eddy_http_response_header(res, "Allow", "GET, HEAD");
        return rc < 0 ? rc : send_status(res, 405);
    }
    eddy_http_str raw = req->route_tail.ptr ? req->route_tail : req->path;
    bool dir_req = raw.len == 0 || raw.ptr[raw.len - 1] == '/';
    char rel[REL_MAX];
    int st = decode_path(raw, rel, sizeof rel - 64);
    if (st) return send_status(res, st);
    int fd = open_beneath(f->root_fd, rel, O_RDONLY);
    if (fd < 0) return send_status(res, status_of_errno(fd));
    struct stat sb;
    if (eddy__sys_fstat(fd, &sb) < 0) {
        eddy__sys_close(fd);
        return send_status(res, 500);
    }
    if (S_ISDIR(sb.st_mode)) {
        if (!dir_req) { /* "/dir" -> "/dir/" so relative links inside resolve */
            eddy__sys_close(fd);
            char loc[REL_MAX + 8];
            int n = snprintf(loc, sizeof loc, "%.*s/", (int)req->path.len, req->path.ptr);
            if (n < 0 || (size_t)n >= sizeof loc) return send_status(res, 414);
            int rc = eddy_http_response_header(res, "Location", loc);
            return rc < 0 ? send_status(res, 400) : send_status(res, 301);
        }
        if (!f->index) {
            eddy__sys_close(fd);
            return send_status(res, 404);
        }
        size_t rl = strlen(rel);
        snprintf(rel + rl, sizeof rel - rl, "%s%s", rl ? "/" : "", f->index);
        eddy__sys_close(fd);
        fd = open_beneath(f->root_fd, rel, O_RDONLY);
        if (fd < 0) return send_status(res, status_of_errno(fd));
        if (eddy__sys_fstat(fd, &sb) < 0) {
            eddy__sys_close(fd);
            return send_status(res, 500);
        }
    } else if (dir_req && *rel) {
        eddy__sys_close(fd); /* "/file/" names no file */
        return send_status(res, 404);
    }
    if (!S_ISREG(sb.st_mode)) {
        eddy__sys_close(fd);
        return send_status(res, 404);
    }
    char etag[80], lastmod[30];
    snprintf(etag, sizeof etag, "\"%llx-%llx-%llx\"", (unsigned long long)sb.st_ino,
             (unsigned long long)sb.st_size,
             (unsigned long long)sb.st_mtim.tv_sec * 1000000000ull + (unsigned long long)sb.st_mtim.tv_nsec);
    fmt_date(sb.st_mtim.tv_sec, lastmod);
    int rc = eddy_http_response_header(res, "ETag", etag);
    if (rc == 0) rc = eddy_http_response_header(res, "Last-Modified", lastmod);
    if (rc == 0 && f->cache_control) rc = eddy_http_response_header(res, "Cache-Control", f->cache_control);
    if (rc < 0) goto out;
    const eddy_http_str *inm = field(req, "if-none-match"), *ims = field(req, "if-modified-since");
    bool not_modified = inm ? none_match(*inm, etag)
                            : ims && parse_date(*ims) >= 0 && sb.st_mtim.tv_sec <= parse_date(*ims);
    if (not_modified) {
        rc = eddy_http_response_send(res, 304, NULL, NULL, 0);
        goto out;
    }
    rc = eddy_http_response_header(res, "Content-Type", eddy_http_content_type(rel));
    if (rc == 0) rc = eddy_http_response_header(res, "Accept-Ranges", "bytes");
    if (rc < 0) goto out;
    uint64_t size = (uint64_t)sb.st_size, off = 0, len = size;
    int status = 200;
    const eddy_http_str *range = field(req, "range"), *if_range = field(req, "if-range");
    bool range_ok = range && (!if_range || (if_range->len == strlen(etag) &&
                                            memcmp(if_range->ptr, etag, if_range->len) == 0) ||
                              (if_range->len == 29 && memcmp(if_range->ptr, lastmod, 29) == 0));
    if (range_ok) {
        int r = parse_range(*range, size, &off, &len);
        char cr[80];
        if (r < 0) {
            snprintf(cr, sizeof cr, "bytes " "*" "/%llu", (unsigned long long)size);
            rc = eddy_http_response_header(res, "Content-Range", cr);
            if (rc == 0) rc = send_status(res, 416);
            goto out;
        }
        if (r > 0) {
            snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)off,
                     (unsigned long long)(off + len - 1), (unsigned long long)size);
            rc = eddy_http_response_header(res, "Content-Range", cr);
            if (rc < 0) goto out;
            status = 206;
        }
    }
    rc = eddy_http_response_start(res, status, (int64_t)len);
    if (rc == 0) rc = eddy_http_response_sendfile(res, fd, (off_t)off, (size_t)len);
    if (rc == 0) rc = eddy_http_response_end(res);
out:
    eddy__sys_close(fd);
    return rc;
}
