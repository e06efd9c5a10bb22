/* eddy sys: signal receivers (G1), the task side of the dispatcher (sigdisp.c).
 *
 * A receiver is a coalescing queue of signal numbers and a FIFO of waiting tasks, both on its
 * loop's thread: the dispatcher's delivery reaches the loop as bits in sig_pending, and
 * eddy__signals_check hands each signal to eddy__sigrecv_deliver here. The queue holds each
 * number at most once (a bit in `queued` says whether it is there), so it never needs more
 * than 64 slots. */
#include <string.h>

#include "sys/sys.h"

static int q_pop(eddy_signal_receiver *r)
{
    int sig = r->q[r->head];
    r->head = (r->head + 1) % (unsigned)sizeof r->q;
    r->n--;
    r->queued &= ~EDDY__SIGBIT(sig);
    return sig;
}

static bool is_open_here(const eddy_signal_receiver *r)
{
    return r && r->loop && r->loop == eddy__tl_loop;
}

int eddy__signal_open(eddy_signal_receiver *r, const int *signals, size_t n, const char *site)
{
    eddy_loop *l = eddy__tl_loop;
    if (!r || !signals || n == 0) return -EINVAL;
    if (!l) return -EPERM;
    uint64_t mask = 0;
    for (size_t i = 0; i < n; i++) {
        if (!eddy__signal_receivable(signals[i])) return -EINVAL;
        mask |= EDDY__SIGBIT(signals[i]);
    }
    int rc = eddy__sig_subscribe(l, mask, EDDY__SUB_RECV);
    if (rc < 0) return rc;
    memset(r, 0, sizeof *r);
    r->mask = mask;
    r->loop = l;
    eddy__list_init(&r->waiters);
    eddy__list_push_back(&l->sighub->receivers, &r->link);
    eddy__handle_add(l, &r->handle, "signal receiver", site);
    return 0;
}

void eddy__sigrecv_deliver(eddy__sighub *h, int sig)
{
    uint64_t bit = EDDY__SIGBIT(sig);
    for (eddy__link *x = h->receivers.next; x != &h->receivers; x = x->next) {
        eddy_signal_receiver *r = eddy__container_of(x, eddy_signal_receiver, link);
        if (!(r->mask & bit) || (r->queued & bit)) continue; /* not its signal, or coalesced */
        r->q[(r->head + r->n) % (unsigned)sizeof r->q] = (unsigned char)sig;
        r->n++;
        r->queued |= bit;
        while (r->n && !eddy__list_empty(&r->waiters))
            (void)eddy__waitq_wake_one((eddy__waitq *)&r->waiters, q_pop(r));
    }
}

typedef struct recv_wait {
    eddy__waiter w;
    eddy_loop *loop;
} recv_wait;

static void recv_cancel(eddy_task *t, void *arg)
{
    (void)t;
    eddy__list_remove(&((recv_wait *)arg)->w.link);
}

int eddy_signal_receive(eddy_signal_receiver *r)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    if (!is_open_here(r)) return -EINVAL;
    int c = eddy__cancel_code(t);
    if (c) return c;
    if (r->n) return q_pop(r);
    recv_wait rw = {.w = {.task = t}, .loop = l};
    eddy__list_push_back(&r->waiters, &rw.w.link);
    eddy__wait w = {.reason = "signal", .obj = r, .cancel = recv_cancel, .arg = &rw};
    /* A signal can come at any time: a task waiting for one is not deadlocked. */
    l->nwatch_ref++;
    int rc = eddy__park(&w);
    l->nwatch_ref--;
    if (rc < 0) eddy__list_remove(&rw.w.link); /* idempotent: the hook or close may have done it */
    return rc; /* r may be closed and gone by now: not touched again */
}

int eddy_signal_try_receive(eddy_signal_receiver *r)
{
    if (!is_open_here(r)) return -EINVAL;
    if (!r->n) eddy__sig_poll(r->loop); /* arrived, but the loop has not read it yet */
    return r->n ? q_pop(r) : 0;
}

void eddy_signal_close(eddy_signal_receiver *r)
{
    if (!r || !r->loop) return;
    eddy_loop *l = r->loop;
    if (l != eddy__tl_loop)
        eddy__fatal("eddy_signal_close: receiver opened at %s closed on another thread",
                    r->handle.site ? r->handle.site : "?");
    while (!eddy__list_empty(&r->waiters))
        (void)eddy__waitq_wake_one((eddy__waitq *)&r->waiters, -EBADF);
    eddy__list_remove(&r->link);
    eddy__handle_del(&r->handle);
    uint64_t mask = r->mask;
    r->loop = NULL;
    r->n = 0;
    r->queued = 0;
    eddy__sig_unsubscribe(l, mask, EDDY__SUB_RECV);
}
