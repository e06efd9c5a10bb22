/* glib_embed — eddy tasks inside a GLib main loop (I2). GLib owns the thread and runs its main
 * loop; eddy is one GSource in it, driven through eddy_loop_fd (a descriptor GLib polls),
 * eddy_loop_timeout (how long GLib may sleep) and eddy_loop_step (one iteration of eddy's loop
 * that never waits). The eddy tasks sleep, wait for an event that a GLib timeout sets, and
 * echo a message between two tasks over a socket pair; then the main task ends GLib's loop.
 *
 *   glib_embed [BACKEND]     ("epoll" or "io_uring"; default: eddy's default; another name
 *                            is a usage error: exit status 2)
 *
 * Prints, in this order:
 *   eddy: started inside the GLib main loop
 *   eddy: tick 1 / 2 / 3                 (20 ms apart, eddy_sleep)
 *   glib: timeout fired, setting the eddy event
 *   eddy: woken by GLib
 *   eddy: echoed "hello from a task"
 *   glib: main loop ended; eddy's main returned 0
 *
 * Everything runs on the one thread GLib runs on, so GLib calls from eddy tasks and eddy calls
 * from GLib callbacks need no locking: a task may add a GLib timeout, a GLib callback may set
 * an eddy event (eddy's loop belongs to this thread from eddy_loop_open to eddy_loop_close).
 * Built only when GLib is found (libglib2.0-dev); eddy itself does not use GLib. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eddy.h"

/* ---- eddy as a GSource ---- */

typedef struct eddy_gsource {
    GSource src;
    eddy_loop *loop;
    gpointer fd_tag;
} eddy_gsource;

/* Before GLib polls: may it sleep, and for how long? */
static gboolean eddy_prepare(GSource *s, gint *timeout_ms)
{
    eddy_gsource *es = (eddy_gsource *)s;
    int64_t t = eddy_loop_timeout(es->loop); /* also hands io_uring what eddy queued */
    if (t == 0 || t < 0) {                   /* work now (or an error: let dispatch say it) */
        *timeout_ms = 0;
        return TRUE;
    }
    if (t == EDDY_FOREVER)
        *timeout_ms = -1;
    else
        *timeout_ms = (gint)MIN((t + 999999) / 1000000, (int64_t)G_MAXINT); /* never early */
    return FALSE;
}

/* After GLib polled: is eddy's descriptor readable, or is one of its timers due? */
static gboolean eddy_check(GSource *s)
{
    eddy_gsource *es = (eddy_gsource *)s;
    if (g_source_query_unix_fd(s, es->fd_tag) & G_IO_IN) return TRUE;
    return eddy_loop_timeout(es->loop) <= 0;
}

static gboolean eddy_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    (void)cb;
    (void)data;
    eddy_gsource *es = (eddy_gsource *)s;
    int rc = eddy_loop_step(es->loop);
    if (rc < 0) {
        g_printerr("glib_embed: eddy_loop_step: %s\n", eddy_strerror(rc));
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs eddy_gsource_funcs = {eddy_prepare, eddy_check, eddy_dispatch, NULL, NULL, NULL};

/* Attach loop l to GLib's default context. NULL (after a message) if eddy_loop_fd failed. */
static GSource *eddy_gsource_attach(eddy_loop *l)
{
    int fd = eddy_loop_fd(l);
    if (fd < 0) {
        g_printerr("glib_embed: eddy_loop_fd: %s\n", eddy_strerror(fd));
        return NULL;
    }
    GSource *s = g_source_new(&eddy_gsource_funcs, sizeof(eddy_gsource));
    eddy_gsource *es = (eddy_gsource *)s;
    es->loop = l;
    es->fd_tag = g_source_add_unix_fd(s, fd, G_IO_IN);
    g_source_set_name(s, "eddy");
    g_source_attach(s, NULL);
    return s;
}

/* ---- the program ---- */

typedef struct app {
    GMainLoop *ml;
    eddy_event woken; /* set by a GLib timeout */
    eddy_stream *a, *b;
} app;

static gboolean glib_timeout(gpointer p)
{
    app *a = p;
    printf("glib: timeout fired, setting the eddy event\n");
    eddy_event_set(&a->woken); /* wakes the eddy task at eddy's next step */
    return G_SOURCE_REMOVE;
}

static int echo_once(void *arg)
{
    app *a = arg;
    char buf[64];
    ssize_t n = eddy_stream_read(a->b, buf, sizeof buf);
    if (n <= 0) return n < 0 ? (int)n : -EPIPE;
    return eddy_stream_write_all(a->b, buf, (size_t)n);
}

static int echo_between_tasks(app *a)
{
    static const char msg[] = "hello from a task";
    int rc = eddy_socketpair(&a->a, &a->b);
    if (rc < 0) return rc;
    int nrc = 0;
    char back[64] = "";
    EDDY_NURSERY(n, &nrc) {
        if ((rc = eddy_spawn(n, echo_once, a)) < 0) break;
        if ((rc = eddy_stream_write_all(a->a, msg, sizeof msg - 1)) < 0) break;
        size_t got = 0;
        while (got < sizeof msg - 1) {
            ssize_t r = eddy_stream_read(a->a, back + got, sizeof back - 1 - got);
            if (r <= 0) {
                rc = r < 0 ? (int)r : -EPIPE;
                break;
            }
            got += (size_t)r;
        }
    }
    int c1 = eddy_stream_close(a->a), c2 = eddy_stream_close(a->b);
    if (rc == 0) rc = nrc ? nrc : c1 ? c1 : c2;
    if (rc == 0) printf("eddy: echoed \"%s\"\n", back);
    return rc;
}

static int app_main(void *arg)
{
    app *a = arg;
    printf("eddy: started inside the GLib main loop\n");
    int rc = 0;
    for (int i = 1; i <= 3 && rc == 0; i++) {
        rc = eddy_sleep(EDDY_MSEC(20));
        if (rc == 0) printf("eddy: tick %d\n", i);
    }
    if (rc == 0) {
        g_timeout_add(30, glib_timeout, a); /* GLib, from an eddy task: the same thread */
        rc = eddy_event_wait(&a->woken);
    }
    if (rc == 0) printf("eddy: woken by GLib\n");
    if (rc == 0) rc = echo_between_tasks(a);
    fflush(stdout);
    g_main_loop_quit(a->ml);
    return rc;
}

static const char usage[] =
    "usage: glib_embed [BACKEND]\n"
    "eddy tasks inside a GLib main loop: ticks, a GLib timeout waking a task, an echo.\n"
    "  BACKEND   eddy's I/O backend: epoll or io_uring (default: EDDY_BACKEND, else epoll)\n";

int main(int argc, char **argv)
{
    cli_help(argc, argv, usage);
    int i = 1;
    const char *backend = NULL;
    if (i < argc && argv[i][0] != '-') backend = argv[i++];
    cli_no_more(argc, argv, i, "glib_embed", usage);
    /* A name eddy does not know is a usage error (exit 2), as in taskgroup; a backend this
     * machine cannot run is not: eddy_loop_open falls back to epoll. */
    if (backend && eddy_backend_probe(backend) == -EINVAL)
        cli_fail("glib_embed", usage, "unknown backend '%s'", backend);
    /* The host owns the signals; eddy leaves SIGINT/SIGTERM alone. */
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS, .backend = backend};
    eddy_loop *l;
    int rc = eddy_loop_open(&l, &o);
    if (rc < 0) {
        fprintf(stderr, "glib_embed: eddy_loop_open: %s\n", eddy_strerror(rc));
        return 1;
    }
    app a = {.ml = g_main_loop_new(NULL, FALSE)};
    eddy_event_init(&a.woken);
    eddy_task *t;
    int status = -1;
    rc = eddy_loop_spawn(l, app_main, &a, .name = "app", .handle = &t);
    GSource *src = rc == 0 ? eddy_gsource_attach(l) : NULL;
    if (src) {
        g_main_loop_run(a.ml);
        /* app_main has returned (it quit GLib's loop): this takes its status, running nothing. */
        rc = eddy_loop_run_until(l, t, &status);
        g_source_destroy(src);
        g_source_unref(src);
    } else if (rc < 0) {
        fprintf(stderr, "glib_embed: eddy_loop_spawn: %s\n", eddy_strerror(rc));
    } else {
        rc = -EIO;
    }
    int crc = eddy_loop_close(l); /* a task still there (an error above) is cancelled first */
    g_main_loop_unref(a.ml);
    if (rc == 0) {
        printf("glib: main loop ended; eddy's main returned %d\n", status);
        if (crc < 0) fprintf(stderr, "glib_embed: eddy_loop_close: %s\n", eddy_strerror(crc));
    } else {
        fprintf(stderr, "glib_embed: %s\n", eddy_strerror(rc));
    }
    return rc == 0 && crc == 0 && status == 0 ? 0 : 1;
}
