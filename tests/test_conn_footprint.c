/* The memory a connection's task holds while it waits: a task's stack costs only the pages
 * it touched, and a connection handler that reads into a small buffer, formats its peer's
 * address and echoes must touch one page, its top one, whatever the cache colouring of its
 * stack top (src/task/task.c puts the task struct up to 960 bytes below the top). That page
 * holds the task struct, the handler's frames and everything the read, write and wait paths
 * put below them, on both backends. Ten thousand idle connections then cost 4 KiB of stack
 * each (docs/benchmarks.md, examples/echo_stream); a read path or address formatter that
 * grows its frames by a few hundred bytes costs some of them a second page, and fails here.
 *
 * Resident pages are counted with mincore(2) over each handler's stack while it is parked in
 * eddy_stream_read. The one-page result has room to spare (~700 bytes at the worst colour);
 * what would eat it is checked on its own: eddy_sockaddr_format, which every server calls
 * from its connections' tasks, took ~2.3 KiB of stack through snprintf and inet_ntop and now
 * stays under 512 bytes. Sanitizer and unoptimised builds have much larger frames: there the
 * figures are reported, not checked. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "eddy/test.h"
#include "internal.h"
#include "test_tcp_util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || !defined(__OPTIMIZE__)
#define FRAMES_AS_SHIPPED 0
#else
#define FRAMES_AS_SHIPPED 1
#endif

/* Connection 0 warms up: the first call of each libc function through the PLT (recv, send,
 * epoll_ctl) runs the dynamic linker's resolver on the calling stack, which saves the whole
 * vector register state there (~3 KiB with AVX-512): once per process, not per connection. */
#define NCONN 33 /* 1 + the 16 stack colours twice */
#define MSG 64

typedef struct handlers {
    eddy_task *task[NCONN];
    int n;
    char peer[NCONN][64];
} handlers;

/* The handler as a server would write it: name the peer, then echo through a 1 KiB buffer. */
static int handler(eddy_stream *s, void *arg)
{
    handlers *h = arg;
    int k = h->n++;
    h->task[k] = eddy_task_current();
    int rc = eddy_sockaddr_format(eddy_serve_peer_addr(), h->peer[k], sizeof h->peer[k]);
    if (rc < 0) return rc;
    char buf[1024];
    ssize_t n;
    while ((n = eddy_stream_read(s, buf, sizeof buf)) > 0)
        if ((rc = eddy_stream_write_all(s, buf, (size_t)n)) < 0) return rc;
    return (int)n;
}

/* Pages of t's stack in memory. */
static long resident_pages(const eddy_task *t)
{
    long ps = sysconf(_SC_PAGESIZE);
    size_t n = t->stack.size / (size_t)ps;
    unsigned char *vec = malloc(n);
    EDDY_CHECK(vec != NULL);
    EDDY_CHECK_EQ(mincore(t->stack.lo, t->stack.size, vec), 0);
    long res = 0;
    for (size_t i = 0; i < n; i++) res += vec[i] & 1;
    free(vec);
    return res;
}

typedef struct serve_arg {
    eddy_listener *l;
    handlers *h;
    eddy_server srv;
    int rc;
} serve_arg;

static int serve_main(void *p)
{
    serve_arg *a = p;
    eddy_serve_opts o = EDDY_SERVE_OPTS_INIT;
    /* A stack size of its own: fresh slots, never a pooled stack another task touched. */
    o.stack_size = 192 * 1024;
    o.server = &a->srv;
    a->rc = eddy_serve(a->l, handler, a->h, &o);
    return 0;
}

EDDY_TEST(conn_footprint_handler_stack_is_one_page)
{
    static handlers h;
    memset(&h, 0, sizeof h);
    serve_arg a = {.h = &h, .rc = 1};
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &a.l));
    eddy_sockaddr addr;
    EDDY_OK(eddy_listener_local_addr(a.l, &addr));
    int nrc = 1;
    EDDY_NURSERY(n, &nrc) {
        void *v = NULL;
        EDDY_OK(eddy_start(n, serve_main, &a, &v));
        eddy_stream *c[NCONN];
        char msg[MSG], back[MSG];
        for (int i = 0; i < MSG; i++) msg[i] = (char)('a' + i % 26);
        for (int i = 0; i < NCONN; i++) EDDY_OK(eddy_tcp_connect_addr(&addr, &c[i]));
        /* Idle, then active: every connection echoes a few messages, then all wait. */
        for (int round = 0; round < 3; round++)
            for (int i = 0; i < NCONN; i++) {
                EDDY_OK(eddy_stream_write_all(c[i], msg, sizeof msg));
                tcp_read_exact(c[i], back, sizeof back);
                EDDY_CHECK_EQ(memcmp(back, msg, sizeof msg), 0);
            }
        EDDY_CHECK_EQ(h.n, NCONN);
        /* Each handler is parked in its read now (it wrote the echo, looped, found nothing). */
        long most = 0, total = 0;
        unsigned colours = 0;
        for (int i = 1; i < NCONN; i++) {
            EDDY_CHECK(strncmp(h.peer[i], "127.0.0.1:", 10) == 0);
            const eddy_task *t = h.task[i];
            uintptr_t top = (uintptr_t)t->stack.lo + t->stack.size;
            colours |= 1u << ((top - (uintptr_t)t) / 64 % 32);
            long r = resident_pages(t);
            total += r;
            if (r > most) most = r;
        }
        printf("# %d handlers parked in eddy_stream_read (%s): %ld stack pages in all, at most "
               "%ld for one\n", NCONN - 1, eddy_backend_name(), total, most);
        EDDY_CHECK(__builtin_popcount(colours) >= 16); /* every colour was tried */
        EDDY_CHECK(most >= 1);
        if (FRAMES_AS_SHIPPED) EDDY_CHECK_EQ(most, 1);
        for (int i = 0; i < NCONN; i++) EDDY_OK(eddy_stream_close(c[i]));
        EDDY_OK(eddy_server_shutdown(&a.srv));
    }
    EDDY_OK(nrc);
    EDDY_OK(a.rc);
    EDDY_OK(eddy_listener_close(a.l));
    return 0;
}

/* ---- eddy_sockaddr_format's stack ----
 * Run it at the start of a task on a fresh stack (a stack size no other task here uses, so a
 * slot never touched: its pages read as zero) and find the deepest byte it wrote below the
 * caller's frame. */
typedef struct depth_probe {
    const eddy_sockaddr *a;
    long depth;
    int rc;
} depth_probe;

static __attribute__((noinline)) int format_it(const eddy_sockaddr *a)
{
    char out[128];
    int rc = eddy_sockaddr_format(a, out, sizeof out);
    __asm__ volatile("" : : "r"(out) : "memory"); /* out is used */
    return rc;
}

static int depth_task(void *p)
{
    depth_probe *d = p;
    volatile char mark = 1;
    const volatile char *here = &mark;
    d->rc = format_it(d->a);
    long deepest = 0;
    /* (Not under sanitizers: ASan would take reads of dead frames for errors.) */
    for (const volatile char *x = here - 16384; FRAMES_AS_SHIPPED && x < here; x++)
        if (*x) {
            deepest = (long)(here - x);
            break;
        }
    d->depth = deepest;
    return 0;
}

EDDY_TEST_EX(conn_footprint_sockaddr_format_stack, .one_backend = true, .timeout = EDDY_SEC(20))
{
    /* (A scoped address is left out: naming its interface, if_indextoname, takes a few KiB;
     * peers with a scope are link-local ones, rare on a server.) */
    static const char *const hosts[] = {"203.0.113.254", "2001:db8:1:2:3:4:5:6", "::ffff:192.0.2.1",
                                        "::"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        eddy_sockaddr a;
        EDDY_OK(eddy_sockaddr_parse(hosts[i], 65535, &a));
        depth_probe d = {.a = &a, .depth = -1};
        int nrc = 1;
        EDDY_NURSERY(n, &nrc) {
            /* A stack class of its own per address: every probe starts on untouched pages. */
            eddy_spawn_opts o = {.stack_size = (size_t)(80 + 4 * i) * 1024};
            EDDY_OK(eddy_spawn_with(n, depth_task, &d, &o));
        }
        EDDY_OK(nrc);
        EDDY_CHECK(d.rc > 0);
        printf("# eddy_sockaddr_format(%s): %ld bytes of stack\n", hosts[i], d.depth);
        if (FRAMES_AS_SHIPPED) EDDY_CHECK(d.depth > 0 && d.depth <= 512);
    }
    return 0;
}
