/* eddy http: routing by method and path (eddy_http_router_serve). A linear scan of the
 * caller's table: tables are short, and a scan keeps the rules simple to state (httpd.h). */
#include <string.h>

#include "eddy/http.h"
#include "internal.h"

static bool method_matches(const eddy_http_route *r, const eddy_http_request *req)
{
    if (!r->method) return true;
    if (strlen(r->method) == req->method.len && memcmp(req->method.ptr, r->method, req->method.len) == 0)
        return true; /* methods are case-sensitive */
    /* a GET route serves HEAD (the server drops the body) */
    return req->method_id == EDDY_HTTP_HEAD && strcmp(r->method, "GET") == 0;
}

/* How well r's path matches: -1 no match; the prefix length for a prefix; 2^30 exact. */
static long path_rank(const eddy_http_route *r, eddy_http_str path)
{
    size_t pl = strlen(r->path);
    if (pl && r->path[pl - 1] == '*') {
        pl--;
        if (path.len >= pl && memcmp(path.ptr, r->path, pl) == 0) return (long)pl;
        return -1;
    }
    if (path.len == pl && memcmp(path.ptr, r->path, pl) == 0) return 1L << 30;
    return -1;
}

/* Append method m to the Allow list in buf (comma-separated, no duplicates). */
static void allow_add(char *buf, size_t cap, const char *m)
{
    size_t ml = strlen(m), bl = strlen(buf);
    for (const char *p = buf; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == ml && memcmp(p, m, ml) == 0) return;
        p = e ? e + 2 : p + l;
    }
    if (bl + ml + 3 > cap) return;
    if (bl) memcpy(buf + bl, ", ", 2), bl += 2;
    memcpy(buf + bl, m, ml + 1);
}

int eddy_http_router_serve(eddy_http_request *req, eddy_http_response *res, void *arg)
{
    const eddy_http_router *rt = arg;
    if (!rt || !req || !res) return -EINVAL;
    const eddy_http_route *best = NULL;
    long best_rank = -1;
    bool path_seen = false;
    for (size_t i = 0; i < rt->nroutes; i++) {
        const eddy_http_route *r = &rt->routes[i];
        if (!r->path || !r->handler) continue;
        long rank = path_rank(r, req->path);
        if (rank < 0) continue;
        path_seen = true;
        if (rank > best_rank && method_matches(r, req)) {
            best = r;
            best_rank = rank;
        }
    }
    if (best) {
        size_t pl = strlen(best->path);
        if (pl && best->path[pl - 1] == '*')
            req->route_tail = (eddy_http_str){req->path.ptr + pl - 1, req->path.len - (pl - 1)};
        return best->handler(req, res, best->arg);
    }
    if (!path_seen) return eddy_http_response_send(res, 404, "text/plain", "Not Found\n", 10);
    /* Routes know the path, none the method: list the methods they allow. */
    char allow[256] = "";
    for (size_t i = 0; i < rt->nroutes; i++) {
        const eddy_http_route *r = &rt->routes[i];
        if (!r->path || !r->handler || !r->method || path_rank(r, req->path) < 0) continue;
        allow_add(allow, sizeof allow, r->method);
        if (strcmp(r->method, "GET") == 0) allow_add(allow, sizeof allow, "HEAD");
    }
    allow_add(allow, sizeof allow, "OPTIONS");
    int rc = eddy_http_response_header(res, "Allow", allow);
    if (rc == 0 && req->method_id == EDDY_HTTP_OPTIONS) return eddy_http_response_send(res, 204, NULL, NULL, 0);
    if (rc == 0) rc = eddy_http_response_send(res, 405, "text/plain", "Method Not Allowed\n", 19);
    return rc;
}
