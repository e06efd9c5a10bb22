/* eddy — the server helper (N2): accept connections and serve each in its own task.
 *
 *   static int echo(eddy_stream *conn, void *arg) { ... read/write conn ...; return 0; }
 *   eddy_listener *l;  eddy_tcp_listen(NULL, 8000, NULL, &l);
 *   eddy_serve_opts o = EDDY_SERVE_OPTS_INIT;  o.max_conns = 1000;
 *   rc = eddy_serve(l, echo, NULL, &o);
 *
 * Every handler runs in a task of a nursery that eddy_serve owns, so no handler outlives the
 * call. Ownership: the listener stays the caller's (eddy_serve never closes it); each
 * connection's stream belongs to the server: the handler uses it but must not close or abort
 * it (eddy_stream_shutdown_write is fine); the server closes it when the handler returns, and
 * aborts it (TCP RST) when the handler was cancelled.
 *
 * A handler's failure is the connection's business, not the server's: a negative return is
 * counted (stats.handler_errors, stats.last_handler_error) and the server goes on, unlike a
 * nursery child whose failure cancels its siblings. eddy_serve prints nothing. */
#ifndef EDDY_SERVER_H
#define EDDY_SERVER_H

#include "net.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Serves one connection. conn belongs to the server (see above). Return 0 or a negative
 * errno (counted, never fatal to the server); the cancel code when cancelled. */
typedef int (*eddy_conn_handler)(eddy_stream *conn, void *arg);

struct eddy_server_stats {
    uint64_t accepted;        /* connections accepted */
    uint64_t accept_calls;    /* eddy_listener_accept calls (shows the EMFILE back-off) */
    uint64_t accept_errors;   /* accepts failed for lack of resources (EMFILE, ENFILE,
                                 ENOBUFS, ENOMEM, ENOSPC, no stack for a handler task) */
    uint64_t handler_errors;  /* handlers that returned a negative errno, not a cancel code,
                                 or whose connection's close then failed (-EIO) */
    uint64_t aborted;         /* handlers that ended cancelled, their connections reset:
                                 still running when a stop's grace period ended, or when
                                 eddy_serve was cancelled */
    size_t active;            /* connections being served now */
    size_t peak;              /* most connections served at once */
    int last_handler_error;   /* the latest handler failure, 0 if none */
    int last_accept_error;    /* the latest accept failure, 0 if none */
};

/* A running server: read stats, or stop it. Filled by eddy_serve (in opts->server, or in
 * eddy_serve's own frame); valid until eddy_serve returns. Fields other than stats are
 * private. */
typedef struct eddy_server {
    struct eddy_server_stats stats;  /* read-only; eddy_server_stats() copies it */
    eddy_cancel_scope accept_cs;  /* private: around the accept loop; stop cancels it */
    eddy_nursery nursery;         /* private: the handlers */
    eddy_task *waiter;            /* private: the acceptor, parked for a slot or a close */
    const eddy_listener *listener; /* private */
    int64_t grace;                /* private */
    int state;                    /* private */
    bool aborting;                /* private: handlers still running are being cancelled */
} eddy_server;

/* Options of eddy_serve. NULL gives the defaults of EDDY_SERVE_OPTS_INIT; a zero-filled
 * struct means what its zeros say (grace 0: handlers are cancelled at once on shutdown).
 * Durations as in docs/api.md: EDDY_FOREVER is no limit, 0 is now, negative is -EINVAL. */
typedef struct eddy_serve_opts {
    size_t max_conns;     /* 0 = no limit; at the limit, accepting pauses (connections wait
                             in the listen backlog) until a handler returns */
    int64_t grace;        /* after eddy_server_shutdown: how long handlers get to finish
                             before they are cancelled; 0 = cancel them at once;
                             EDDY_FOREVER = wait for them (default EDDY_SEC(5)) */
    size_t stack_size;    /* handler task stacks (0 = the loop's default: EDDY_DEFAULT_STACK,
                             256 KiB, unless eddy_opts.stack_size) */
    eddy_server *server;  /* optional storage for the server (to stop it or read stats from
                             another task); NULL = eddy_serve's own frame */
} eddy_serve_opts;
/* The defaults, as a plain brace initializer (C and C++):
 *   eddy_serve_opts o = EDDY_SERVE_OPTS_INIT; o.max_conns = 1000; */
#define EDDY_SERVE_OPTS_INIT {0, EDDY_SEC(5), 0, NULL}

/* N2: accept connections on l and run handler(conn, arg) for each in its own task, until
 * stopped. If the calling task was started with eddy_start and has not called eddy_started,
 * eddy_serve calls eddy_started(server) when accepting begins: after its set-up, before it
 * waits for the first connection, so the starter resumes (with the eddy_server *, to stop it)
 * without any client having connected. o may be NULL.
 * Each handler task gets o->stack_size bytes of stack (0: the loop's default,
 * EDDY_DEFAULT_STACK unless eddy_opts.stack_size says otherwise); a handler that overflows it
 * is reported with the site of this eddy_serve call and that option.
 * Stopping: eddy_server_shutdown stops accepting (new connections stay in the backlog), waits up
 * to o->grace for the running handlers to return, then cancels the rest and waits for them;
 * eddy_serve then returns 0. Cancelling the scope around eddy_serve (a SIGINT with eddy_run's
 * default handling) cancels everything at once: handlers get the cancel code, and eddy_serve
 * returns it once they have all returned.
 * Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM from accept; ENOSPC, the
 * loop's watch limit, while waiting for a connection): the listener
 * is kept and the pending connection stays in the backlog; the server goes on serving and
 * accepts again when one of its connections closes or after a back-off (10 ms, doubling to
 * 1 s), whichever comes first: no busy loop. A connection accepted when no stack can be had
 * for its handler task is reset, then the same back-off applies.
 * Returns 0 after eddy_server_shutdown; -ECANCELED/-ETIMEDOUT if cancelled; -EBADF if l is closed
 * under it; -EINVAL for NULL l or handler, or a negative grace; -EPERM outside a task; another error of
 * eddy_listener_accept (-EBUSY: another task accepts on l). In every case all handlers have
 * returned and their streams are closed. */
/* (Variadic so that a compound literal with several fields, whose commas the preprocessor
 * would otherwise split, can be the options.) */
#define eddy_serve(l, handler, arg, ...) \
    eddy__serve((l), (handler), (arg), (__VA_ARGS__), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__serve(eddy_listener *l, eddy_conn_handler handler, void *arg,
                                  const eddy_serve_opts *o, const char *site);
/* Function form of eddy_serve (same returns); a handler's stack overflow then names the spawn
 * site of the task that called it instead of the call itself. */
EDDY_API EDDY_WUR int(eddy_serve)(eddy_listener *l, eddy_conn_handler handler, void *arg,
                                  const eddy_serve_opts *o);

/* Ask srv to stop gracefully (see eddy_serve); returns at once, from any task or callback of
 * the server's loop. Idempotent.
 * Returns 0; -ESRCH if srv is not serving: zeroed storage that eddy_serve has not filled yet,
 * or opts->server storage after eddy_serve returned; -EINVAL for NULL. */
EDDY_API int eddy_server_shutdown(eddy_server *srv);

/* Copy srv's statistics into *out (the same as reading srv->stats). Zeroes *out for a NULL
 * srv; out must not be NULL. */
EDDY_API void eddy_server_stats(const eddy_server *srv, struct eddy_server_stats *out);

/* In a connection handler's task: the peer address of its connection, as accept reported it
 * (no syscall). NULL in any other task (tasks the handler spawns included) or outside a task. */
EDDY_API const eddy_sockaddr *eddy_serve_peer_addr(void);

#ifdef __cplusplus
}
#endif
#endif
