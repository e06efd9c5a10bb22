/* eddy sys layer internals: the per-loop record of the signal dispatcher, shared by signal
 * receivers (signal.c), eddy_run's SIGINT/SIGTERM handling and the dispatcher itself
 * (sigdisp.c), and the SIGCHLD fallback of the process layer (process.c). Never installed. */
#ifndef EDDY_SYS_INTERNAL_H
#define EDDY_SYS_INTERNAL_H

#include "eddy/process.h"
#include "eddy/signal.h"
#include "internal.h"

/* Signals are kept as bit (sig - 1) of a uint64_t: Linux has signals 1..64. */
#define EDDY__NSIG 64
#define EDDY__SIGBIT(s) (UINT64_C(1) << ((s) - 1))

/* Who subscribes a loop to a signal. Receivers and internal users (the SIGCHLD fallback) have
 * the signal blocked in the loop's thread so the signalfd sees it; eddy_run's handling does
 * not block (signal.h says why). */
enum { EDDY__SUB_RECV, EDDY__SUB_INTERNAL, EDDY__SUB_BUILTIN, EDDY__SUB_KINDS };

/* A loop's subscriptions. Created by the first subscription of the loop, freed when the last
 * one ends. Fields marked "loop" are touched only on the loop's thread; "mu" ones under the
 * dispatcher's mutex (written by the loop thread, read by whichever thread delivers). */
typedef struct eddy__sighub {
    eddy__link node;                          /* mu: in the dispatcher's list */
    eddy_loop *loop;
    uint64_t want;                            /* mu: signals delivered to this loop */
    uint64_t builtin_eff;                     /* mu: signals eddy_run's handling acts on here */
    uint16_t count[EDDY__SUB_KINDS][EDDY__NSIG]; /* loop: subscriptions per kind and signal */
    uint64_t block;                           /* loop: signals wanted blocked in this thread */
    uint64_t blocked;                         /* loop: of those, the ones eddy blocked (that
                                                 were not blocked before) */
    bool root_cancelled;                      /* loop: eddy_run's first signal has acted */
    eddy__link receivers;                     /* loop: open eddy_signal_receivers */
    eddy__link children;                      /* loop: unreaped fallback eddy_processes */
    eddy_io efd_io, sfd_io;                   /* loop: watchers on the dispatcher's fds */
} eddy__sighub;

/* Add (or remove) one subscription of loop l to each signal in sigs for kind. On the loop's
 * thread. subscribe returns 0 or -EMFILE/-ENFILE/-ENOMEM (nothing changed); the signals
 * must be valid (eddy__signal_receivable, or SIGINT/SIGTERM/SIGCHLD). */
EDDY__HIDDEN int eddy__sig_subscribe(eddy_loop *l, uint64_t sigs, int kind);
EDDY__HIDDEN void eddy__sig_unsubscribe(eddy_loop *l, uint64_t sigs, int kind);
/* Read the signals that have arrived for l (and for this thread) now, and act on them, as the
 * loop would at its next iteration. Loop thread. */
EDDY__HIDDEN void eddy__sig_poll(eddy_loop *l);
/* True for a signal number a receiver may take (signal.h lists the exceptions). */
EDDY__HIDDEN bool eddy__signal_receivable(int sig);
/* The signals eddy blocked in the calling thread (a child must not inherit them blocked). */
EDDY__HIDDEN uint64_t eddy__sig_blocked_here(void);

/* signal.c: sig arrived for loop h->loop: queue it in every receiver of it. Loop thread. */
EDDY__HIDDEN void eddy__sigrecv_deliver(eddy__sighub *h, int sig);
/* process.c: SIGCHLD arrived: reap what exited among h's fallback children. Loop thread. */
EDDY__HIDDEN void eddy__process_sigchld(eddy__sighub *h);

#endif
