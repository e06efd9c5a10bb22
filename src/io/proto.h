/* eddy io: internals shared by the transport (transport.c) and the protocol server
 * (protocol.c) of the callback protocol layer (N9). Never installed. */
#ifndef EDDY_IO_PROTO_H
#define EDDY_IO_PROTO_H

#include "eddy/protocol.h"
#include "io/io.h"

enum {
    EDDY__TP_CONNECTING = 1, /* client: connect in progress, the write watcher waits for it */
    EDDY__TP_OPEN,
    EDDY__TP_CLOSING,        /* eddy_transport_close with data left: flushing, then close */
    EDDY__TP_DEAD,           /* socket closed; connection_lost pending (on the dead list) */
};

struct eddy_transport {
    int fd;
    uint8_t state;
    bool made;          /* connection_made was called */
    bool rpaused;       /* eddy_transport_pause_reading */
    bool eof_seen;      /* the peer's FIN was read */
    bool wshut_req;     /* eddy_transport_shutdown_write: FIN once the buffer drains */
    bool wshut_done;
    bool wpaused;       /* pause_writing was called, resume_writing not yet */
    int lost_err;
    eddy__feed feed;    /* reading: the bytes arriving, as they come (loop/op.h) */
    eddy_io wio;        /* writing: the socket's writability while wbuf has a backlog */
    const eddy_protocol *proto;
    void *user;
    /* The write buffer: bytes [woff, woff + wlen) of wbuf are still to be sent. */
    char *wbuf;
    size_t woff, wlen, wcap;
    size_t high, low, hard;
    eddy_protocol_server *server; /* NULL for a client transport */
    eddy__link slink;   /* in server->conns */
    eddy__link dlink;   /* on the loop's dead list while connection_lost is pending */
    eddy_sockaddr peer;
    eddy__handle handle;
};

/* The per-loop state of the layer: the shared receive buffer, and the dead list drained by
 * one eddy_call_soon. Counted by live transports and servers; freed with the last. */
EDDY__HIDDEN int eddy__proto_acquire(void);
EDDY__HIDDEN void eddy__proto_release(void);

/* A transport over a connected (or connecting) non-blocking socket; the transport owns fd
 * from then on. Returns 0 or -ENOMEM (fd untouched). Takes a reference on the layer. */
EDDY__HIDDEN int eddy__transport_new(int fd, uint8_t state, const eddy_sockaddr *peer,
                                     const eddy_transport_limits *lim, const char *site,
                                     eddy_transport **out);
/* Free a transport that was never started (factory refused): closes its socket. */
EDDY__HIDDEN void eddy__transport_discard(eddy_transport *t);
/* Call connection_made and start reading (server side: the socket is connected). */
EDDY__HIDDEN void eddy__transport_made(eddy_transport *t);

/* The server learns that one of its transports is gone (after connection_lost returned). */
EDDY__HIDDEN void eddy__server_transport_gone(eddy_protocol_server *s);

/* Run stmt in callback context (blocking calls give -EPERM) also when called from a task. */
#define EDDY__IN_CALLBACK(stmt)                      \
    do {                                             \
        eddy_loop *eddy__l_ = eddy__loop();          \
        bool eddy__was_ = eddy__l_->in_callback;     \
        eddy__l_->in_callback = true;                \
        stmt;                                        \
        eddy__l_->in_callback = eddy__was_;          \
    } while (0)

#endif
