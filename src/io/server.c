/* eddy io: the server helper (N2): an accept loop plus one task per connection.
 *
 * Layout inside the serving task:
 *   nursery (EDDY_WAIT_ALL)        handlers are its children
 *     accept_cs                    the accept loop; eddy_server_shutdown cancels this scope only,
 *                                  so the handlers (children of the nursery, not of
 *                                  accept_cs) keep running through the grace period
 *   drain: wait up to grace for handlers, then eddy_nursery_cancel, then close the nursery.
 *
 * The acceptor waits for two things besides the listener: a free slot (max_conns) and the
 * end of an EMFILE back-off. Both are "a connection finished, or a timer": the acceptor parks
 * on srv->waiter and every handler task wakes it as it ends. */
#include <string.h>

#include "eddy/server.h"
#include "io/io.h"

enum { SRV_IDLE = 0, SRV_SERVING, SRV_STOPPING, SRV_DRAINING, SRV_DONE };

#define BACKOFF_MIN EDDY_MSEC(10)
#define BACKOFF_MAX EDDY_SEC(1)

/* One connection; copied into the handler task's frame as it starts. */
typedef struct conn {
    eddy_server *srv;
    eddy_conn_handler handler;
    void *arg;
    eddy_stream *s;
    eddy_sockaddr peer;
} conn;

static void clear_waiter(eddy_task *t, void *arg)
{
    (void)t;
    ((eddy_server *)arg)->waiter = NULL;
}

/* Park until a handler ends (eddy__wake from conn_main) or timeout has passed (EDDY_FOREVER:
 * no limit). Returns 0 for either; the cancel code if the caller's scopes are cancelled. */
static int wait_for_conn_end(eddy_server *srv, int64_t timeout)
{
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs, .timeout = timeout) {
        srv->waiter = eddy_task_current();
        eddy__wait w = {.reason = "server", .obj = srv, .cancel = clear_waiter, .arg = srv};
        (void)eddy__park(&w);
        srv->waiter = NULL;
    }
    /* Our own timeout is not an error; a cancellation from outside cs still applies here. */
    return eddy_checkpoint_if_cancelled();
}

static int conn_main(void *p)
{
    /* Spawn is eager: the record is the acceptor's loop variable, copy it before blocking.
     * The task's arg then points at the copy, which is how eddy_serve_peer_addr finds it. */
    conn c = *(conn *)p;
    eddy_task_current()->arg = &c;
    eddy_server *srv = c.srv;
    int rc = c.handler(c.s, c.arg);
    int cc = eddy_checkpoint_if_cancelled();
    if (cc < 0) {
        eddy_stream_abort(c.s); /* cut off: unsent data is dropped, the peer sees a reset */
        /* Counted here, as it ends, not when the server decided: a handler cancelled with
         * eddy_serve's own scope may end before the server reaches its drain (it does when
         * the acceptor first waits for the kernel to cancel its accept: io_uring). */
        srv->stats.aborted++;
    } else {
        /* From a task, close ends s whatever it returns; a close error (-EIO) is the
         * connection's failure as much as the handler's own, and counted as one. */
        int crc = eddy_stream_close(c.s);
        if (rc >= 0 && crc < 0) rc = crc;
    }
    if (rc < 0 && rc != cc) {
        srv->stats.handler_errors++;
        srv->stats.last_handler_error = rc;
    }
    srv->stats.active--;
    if (srv->waiter) eddy__wake(srv->waiter, 0);
    /* Always 0: a handler's failure must not look like a failed child to the nursery. */
    return 0;
}

/* Accept errors that mean "no resources right now": retry later, keep the listener. ENOSPC:
 * the loop could not register the listener to wait on it (epoll's limit of watches per user),
 * which connections closing give back like descriptors. */
static bool resource_error(int e)
{
    return e == -EMFILE || e == -ENFILE || e == -ENOBUFS || e == -ENOMEM || e == -ENOSPC;
}

static int accept_loop(eddy_server *srv, eddy_listener *l, eddy_conn_handler handler, void *arg,
                       const eddy_serve_opts *o, const char *site, int stack_from)
{
    int64_t backoff = 0;
    for (;;) {
        if (o->max_conns && srv->stats.active >= o->max_conns) {
            int rc = wait_for_conn_end(srv, EDDY_FOREVER);
            if (rc < 0) return rc;
            continue;
        }
        conn c = {.srv = srv, .handler = handler, .arg = arg};
        srv->stats.accept_calls++;
        int rc = eddy_listener_accept(l, &c.s, &c.peer);
        if (rc == 0) {
            /* Counted before the spawn: the handler runs at once and may already end in it. */
            srv->stats.active++;
            if (srv->stats.active > srv->stats.peak) srv->stats.peak = srv->stats.active;
            /* The handler's stack is set by o->stack_size at the user's eddy_serve call: a
             * stack overflow names that call and that option, not this spawn. */
            rc = eddy__spawn_from(&srv->nursery, conn_main, &c,
                                  &(eddy_spawn_opts){.name = "conn", .stack_size = o->stack_size},
                                  site, stack_from);
            if (rc == 0) {
                srv->stats.accepted++;
                backoff = 0;
                continue;
            }
            srv->stats.active--;
            /* No stack for a handler: this connection cannot be served; reset it. */
            eddy_stream_abort(c.s);
        } else if (!resource_error(rc)) {
            return rc;
        }
        srv->stats.accept_errors++;
        srv->stats.last_accept_error = rc;
        /* The pending connection keeps the listener readable, so waiting on it would spin:
         * wait for one of our connections to give its descriptor back, or a back-off. */
        backoff = backoff ? (backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2) : BACKOFF_MIN;
        rc = wait_for_conn_end(srv, backoff);
        if (rc < 0) return rc;
    }
}

/* Let the handlers finish within the grace period, then cancel the rest. */
static void drain(eddy_server *srv)
{
    if (srv->stats.active && srv->grace != 0) {
        eddy_cancel_scope cs;
        EDDY_CANCEL_SCOPE(&cs, .timeout = srv->grace) {
            while (srv->stats.active)
                if (wait_for_conn_end(srv, EDDY_FOREVER) < 0) break;
        }
    }
    if (srv->stats.active) {
        srv->aborting = true;
        eddy_nursery_cancel(&srv->nursery);
    }
}

int(eddy_serve)(eddy_listener *l, eddy_conn_handler handler, void *arg, const eddy_serve_opts *o)
{
    eddy_task *t = eddy__cur();
    return eddy__serve(l, handler, arg, o, t ? t->site : NULL);
}

int eddy__serve(eddy_listener *l, eddy_conn_handler handler, void *arg, const eddy_serve_opts *o,
                const char *site)
{
    return eddy__serve_from(l, handler, arg, o, site, EDDY__STACK_FROM_SERVE);
}

int eddy__serve_from(eddy_listener *l, eddy_conn_handler handler, void *arg,
                     const eddy_serve_opts *o, const char *site, int stack_from)
{
    if (!l || !handler) return -EINVAL;
    eddy_loop *lp = eddy__loop();
    if (!lp || lp->in_callback || !lp->current) return -EPERM;
    static const eddy_serve_opts def = EDDY_SERVE_OPTS_INIT;
    if (!o) o = &def;
    if (o->grace < 0) return -EINVAL;
    eddy_server own;
    eddy_server *srv = o->server ? o->server : &own;
    memset(srv, 0, sizeof *srv);
    srv->listener = l;
    srv->grace = o->grace;
    int rc = eddy_nursery_open_flags(&srv->nursery, EDDY_WAIT_ALL);
    if (rc < 0) return rc;
    rc = eddy_cancel_scope_enter(&srv->accept_cs);
    if (rc < 0) {
        int nrc = eddy_nursery_close(&srv->nursery);
        (void)nrc;
        return rc;
    }
    srv->state = SRV_SERVING;
    (void)eddy_started(srv); /* -EINVAL unless our task was started with eddy_start */
    rc = accept_loop(srv, l, handler, arg, o, site, stack_from);
    eddy_cancel_scope_exit(&srv->accept_cs);
    bool stopped = srv->state == SRV_STOPPING;
    srv->state = SRV_DRAINING;
    drain(srv);
    /* Handlers always return 0 (see conn_main): nothing to report from the nursery. */
    int nrc = eddy_nursery_close(&srv->nursery);
    (void)nrc;
    srv->state = SRV_DONE;
    srv->waiter = NULL;
    int c = eddy_checkpoint_if_cancelled();
    if (c < 0) return c;
    return stopped ? 0 : rc;
}

int eddy_server_shutdown(eddy_server *srv)
{
    if (!srv) return -EINVAL;
    switch (srv->state) {
    case SRV_SERVING:
        srv->state = SRV_STOPPING;
        eddy_cancel_scope_cancel(&srv->accept_cs);
        return 0;
    case SRV_STOPPING:
    case SRV_DRAINING:
        return 0;
    default:
        return -ESRCH;
    }
}

void eddy_server_stats(const eddy_server *srv, struct eddy_server_stats *out)
{
    if (srv) *out = srv->stats;
    else *out = (struct eddy_server_stats){0};
}

const eddy_sockaddr *eddy_serve_peer_addr(void)
{
    eddy_task *t = eddy__cur();
    if (!t || t->fn != conn_main) return NULL;
    return &((conn *)t->arg)->peer;
}
