/* eddy loop: choosing the I/O backend (I1) — eddy_opts.backend, EDDY_BACKEND, the probe at
 * loop start and the fall-back to epoll — and eddy's debug lines (EDDY_DEBUG). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "loop/uring.h"

const eddy__uring_probe *eddy__uring_probe_hook;

/* The backends by name, the default first: making io_uring the default is moving its line
 * to the top. A name whose backend is not built in (no liburing) is still a valid name: the
 * loop falls back to epoll, as it does when the kernel refuses io_uring. */
static const struct {
    const char *name;
    const eddy__backend *be;
} backends[] = {
    {"epoll", &eddy__backend_epoll},
#ifdef EDDY_HAVE_URING
    {"io_uring", &eddy__backend_uring},
#else
    {"io_uring", NULL},
#endif
};
#define NBACKENDS (sizeof backends / sizeof backends[0])

static int name_index(const char *v)
{
    for (size_t i = 0; i < NBACKENDS; i++)
        if (strcasecmp(v, backends[i].name) == 0) return (int)i;
    return -1;
}

/* EDDY_DEBUG: unset, empty or 0 = off, 1 = on; anything else is reported once and is off. */
static bool debug_on(void)
{
    static _Atomic int state; /* 0 unknown, 1 off, 2 on */
    int s = atomic_load(&state);
    if (s) return s == 2;
    const char *v = getenv("EDDY_DEBUG");
    s = v && strcmp(v, "1") == 0 ? 2 : 1;
    if (v && *v && strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
        fprintf(stderr, "eddy: EDDY_DEBUG=\"%s\" is not valid; use one of: 0, 1, or leave it unset\n", v);
    atomic_store(&state, s);
    return s == 2;
}

void eddy__debug(const char *fmt, ...)
{
    if (!debug_on()) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("eddy: debug: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int eddy__backend_choose(eddy_loop *l, const char *asked)
{
    int bi = 0;
    const char *v = getenv("EDDY_BACKEND");
    /* Checked even when the program names its backend itself, so that a bad value is reported
     * by every program, not only by those it would change. */
    if (v && *v) {
        bi = name_index(v);
        if (bi < 0) {
            fprintf(stderr, "eddy: EDDY_BACKEND=\"%s\" is not valid; use one of:", v);
            for (size_t i = 0; i < NBACKENDS; i++) fprintf(stderr, "%s %s", i ? "," : "", backends[i].name);
            fprintf(stderr, " (any case), or leave it unset\n");
            return -EINVAL;
        }
    }
    if (asked && *asked && (bi = name_index(asked)) < 0) return -EINVAL;
    l->be = backends[bi].be;
    if (!l->be) { /* named but not built in */
        static _Atomic bool said;
        if (!atomic_exchange(&said, true))
            eddy__debug("backend %s: not built in (eddy was built without liburing); using epoll",
                        backends[bi].name);
        l->be = &eddy__backend_epoll;
    }
    return 0;
}

int eddy__backend_init(eddy_loop *l)
{
    const char *why = "?";
    int rc = l->be->init(l, &why);
    if (rc == 0 || l->be == &eddy__backend_epoll) return rc;
    static _Atomic bool said;
    if (!atomic_exchange(&said, true))
        eddy__debug("backend %s unavailable (%s: %s); using epoll", l->be->name, why, strerror(-rc));
    l->be = &eddy__backend_epoll;
    return l->be->init(l, &why);
}

int eddy_backend_probe(const char *name)
{
    if (!name) return -EINVAL;
    int bi = name_index(name);
    if (bi < 0) return -EINVAL;
    const eddy__backend *be = backends[bi].be;
    if (!be) return -ENOTSUP;
    /* A loop of its own, never run: the backend sets up and tears down its kernel objects
     * exactly as at a loop's start. */
    eddy_loop *l = calloc(1, sizeof *l);
    if (!l) return -ENOMEM;
    const char *why;
    int rc = be->init(l, &why);
    if (rc == 0) be->destroy(l);
    free(l);
    return rc;
}
