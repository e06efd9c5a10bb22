/* eddy task layer: what chan.c and choose.c share (C7, C8). Private, never installed. */
#ifndef EDDY_CHAN_IMPL_H
#define EDDY_CHAN_IMPL_H

#include "internal.h"

/* The shared state behind a channel's handles: one allocation with the buffer after it. */
struct eddy_chan {
    eddy_loop *loop;
    size_t elem_size, cap, head, count;
    size_t nsend, nrecv;   /* open handles per end */
    eddy__link senders;    /* eddy__chan_waiter, FIFO */
    eddy__link receivers;  /* eddy__chan_waiter, FIFO */
    eddy__handle handle;
    unsigned char buf[];   /* cap * elem_size */
};

/* One blocked eddy_choose: every clause is registered at once and points here; whoever
 * completes a clause first claims the record, unregisters the other clauses (so they can no
 * longer complete) and wakes the task with the clause index. Lives in the chooser's frame. */
typedef struct eddy__choice {
    eddy_task *task;
    eddy_clause *c;
    size_t n;
    size_t nreg;  /* clauses [0, nreg) are registered */
    bool done;
} eddy__choice;

/* Complete clause idx of chs with rc (the clause's own registration is already gone or is
 * removed here too) and wake the chooser. Called only while chs is unclaimed: a claimed
 * choice has no registration left anywhere, so nothing can reach it again. */
EDDY__HIDDEN void eddy__choice_fire(eddy__choice *chs, size_t idx, int rc);

/* The channel operations without waiting: 0, -EAGAIN (would block) or -EPIPE. */
EDDY__HIDDEN int eddy__chan_send_now(eddy_chan *ch, const void *elem);
EDDY__HIDDEN int eddy__chan_recv_now(eddy_chan *ch, void *elem);

#endif
