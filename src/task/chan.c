/* eddy task layer: channels (C7).
 *
 * An element always moves in one step, done by the task (or callback) whose operation makes
 * the transfer possible: a sender that finds a blocked receiver copies straight into the
 * receiver's buffer, unlinks it and wakes it with 0; a receiver that frees a buffer slot moves
 * the first blocked sender's element into the buffer and wakes that sender with 0. So a woken
 * waiter never retries, FIFO order among waiters holds, and cancellation is exact: the cancel
 * hook of a blocked send/recv only unlinks the waiter, and a waiter that was already served is
 * no longer blocked (eddy__wake made it ready), so a later cancel cannot reach it and its
 * success is reported. The same waiters carry eddy_choose clauses (choice != NULL). */
#include <string.h>

#include "chan_impl.h"

static inline void copy_elem(void *dst, const void *src, size_t n)
{
    if (n) memcpy(dst, src, n);
}

static inline unsigned char *slot(eddy_chan *ch, size_t i) { return ch->buf + i * ch->elem_size; }

/* w is already unlinked. */
static void waiter_done(eddy__chan_waiter *w, int rc)
{
    if (w->choice)
        eddy__choice_fire(w->choice, w->idx, rc);
    else
        eddy__wake(w->task, rc);
}

static eddy__chan_waiter *pop_waiter(eddy__link *head)
{
    eddy__link *x = eddy__list_pop_front(head);
    return x ? eddy__container_of(x, eddy__chan_waiter, link) : NULL;
}

static void wake_all(eddy__link *head, int rc)
{
    eddy__chan_waiter *w;
    while ((w = pop_waiter(head))) waiter_done(w, rc);
}

/* Wake the waiters that block through handle `end`. Completing a choice unlinks its other
 * clauses, possibly from this very list, so rescan from the head after each one. */
static void wake_end(eddy__link *head, const void *end, int rc)
{
    for (;;) {
        eddy__chan_waiter *found = NULL;
        for (eddy__link *x = head->next; x != head; x = x->next) {
            eddy__chan_waiter *w = eddy__container_of(x, eddy__chan_waiter, link);
            if (w->end == end) {
                found = w;
                break;
            }
        }
        if (!found) return;
        eddy__list_remove(&found->link);
        waiter_done(found, rc);
    }
}

int eddy__chan_send_now(eddy_chan *ch, const void *elem)
{
    if (ch->nrecv == 0) return -EPIPE;
    eddy__chan_waiter *r = pop_waiter(&ch->receivers);
    if (r) { /* receivers wait only when nothing is buffered */
        copy_elem(r->buf, elem, ch->elem_size);
        waiter_done(r, 0);
        return 0;
    }
    if (ch->count < ch->cap) {
        copy_elem(slot(ch, (ch->head + ch->count) % ch->cap), elem, ch->elem_size);
        ch->count++;
        return 0;
    }
    return -EAGAIN;
}

int eddy__chan_recv_now(eddy_chan *ch, void *elem)
{
    if (ch->count) {
        copy_elem(elem, slot(ch, ch->head), ch->elem_size);
        ch->head = (ch->head + 1) % ch->cap;
        ch->count--;
        /* A slot is free: the first blocked sender's element takes it (keeps FIFO order). */
        eddy__chan_waiter *s = pop_waiter(&ch->senders);
        if (s) {
            copy_elem(slot(ch, (ch->head + ch->count) % ch->cap), s->buf, ch->elem_size);
            ch->count++;
            waiter_done(s, 0);
        }
        return 0;
    }
    eddy__chan_waiter *s = pop_waiter(&ch->senders);
    if (s) { /* rendezvous (or a buffer that is full of nothing: capacity 0) */
        copy_elem(elem, s->buf, ch->elem_size);
        waiter_done(s, 0);
        return 0;
    }
    return ch->nsend == 0 ? -EPIPE : -EAGAIN;
}

int eddy__chan_open(eddy_chan_tx *tx, eddy_chan_rx *rx, size_t elem_size, size_t capacity,
                    const char *site)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    if (!tx || !rx) return -EINVAL;
    if (elem_size && capacity > (SIZE_MAX - sizeof(eddy_chan)) / elem_size) return -EINVAL;
    eddy_chan *ch = malloc(sizeof *ch + capacity * elem_size);
    if (!ch) return -ENOMEM;
    ch->loop = l;
    ch->elem_size = elem_size;
    ch->cap = capacity;
    ch->head = ch->count = 0;
    ch->nsend = ch->nrecv = 1;
    eddy__list_init(&ch->senders);
    eddy__list_init(&ch->receivers);
    eddy__handle_add(l, &ch->handle, "channel", site);
    tx->ch = ch;
    rx->ch = ch;
    return 0;
}

static void maybe_free(eddy_chan *ch)
{
    if (ch->nsend || ch->nrecv) return;
    eddy__handle_del(&ch->handle);
    free(ch);
}

int eddy_chan_clone_send(const eddy_chan_tx *tx, eddy_chan_tx *out)
{
    if (!tx || !out) return -EINVAL;
    if (!tx->ch) return -EBADF;
    tx->ch->nsend++;
    out->ch = tx->ch;
    return 0;
}

int eddy_chan_clone_recv(const eddy_chan_rx *rx, eddy_chan_rx *out)
{
    if (!rx || !out) return -EINVAL;
    if (!rx->ch) return -EBADF;
    rx->ch->nrecv++;
    out->ch = rx->ch;
    return 0;
}

int eddy_chan_close_send(eddy_chan_tx *tx)
{
    if (!tx) return -EINVAL;
    eddy_chan *ch = tx->ch;
    if (!ch) return -EBADF;
    tx->ch = NULL;
    wake_end(&ch->senders, tx, -EBADF);
    if (--ch->nsend == 0) wake_all(&ch->receivers, -EPIPE); /* they wait: nothing is buffered */
    maybe_free(ch);
    return 0;
}

int eddy_chan_close_recv(eddy_chan_rx *rx)
{
    if (!rx) return -EINVAL;
    eddy_chan *ch = rx->ch;
    if (!ch) return -EBADF;
    rx->ch = NULL;
    wake_end(&ch->receivers, rx, -EBADF);
    if (--ch->nrecv == 0) {
        ch->count = 0; /* nobody can ever receive them */
        wake_all(&ch->senders, -EPIPE);
    }
    maybe_free(ch);
    return 0;
}

static void waiter_cancel(eddy_task *t, void *arg)
{
    (void)t;
    eddy__list_remove(&((eddy__chan_waiter *)arg)->link);
}

static int block_on(eddy__link *list, eddy_task *t, void *buf, const void *end, const char *reason,
                    eddy_chan *ch)
{
    eddy__chan_waiter w = {.task = t, .buf = buf, .end = end};
    eddy__list_push_back(list, &w.link);
    eddy__wait wt = {.reason = reason, .obj = ch, .cancel = waiter_cancel, .arg = &w};
    /* Served waiters are unlinked by the server, cancelled ones by waiter_cancel. */
    return eddy__park(&wt);
}

static eddy_task *blocking_task(void)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l || !l->current || l->in_callback) return NULL;
    return l->current;
}

int eddy_chan_send(eddy_chan_tx *tx, const void *elem)
{
    if (!tx) return -EINVAL;
    eddy_chan *ch = tx->ch;
    if (!ch) return -EBADF;
    if (!elem && ch->elem_size) return -EINVAL;
    eddy_task *t = blocking_task();
    if (!t) return -EPERM;
    int rc = eddy__cancel_code(t);
    if (rc) return rc;
    rc = eddy__chan_send_now(ch, elem);
    if (rc != -EAGAIN) return eddy__coop_done(t, rc);
    return block_on(&ch->senders, t, (void *)elem, tx, "chan send", ch);
}

int eddy_chan_try_send(eddy_chan_tx *tx, const void *elem)
{
    if (!tx) return -EINVAL;
    eddy_chan *ch = tx->ch;
    if (!ch) return -EBADF;
    if (!elem && ch->elem_size) return -EINVAL;
    return eddy__chan_send_now(ch, elem);
}

int eddy_chan_recv(eddy_chan_rx *rx, void *elem)
{
    if (!rx) return -EINVAL;
    eddy_chan *ch = rx->ch;
    if (!ch) return -EBADF;
    if (!elem && ch->elem_size) return -EINVAL;
    eddy_task *t = blocking_task();
    if (!t) return -EPERM;
    int rc = eddy__cancel_code(t);
    if (rc) return rc;
    rc = eddy__chan_recv_now(ch, elem);
    if (rc != -EAGAIN) return eddy__coop_done(t, rc);
    return block_on(&ch->receivers, t, elem, rx, "chan recv", ch);
}

int eddy_chan_try_recv(eddy_chan_rx *rx, void *elem)
{
    if (!rx) return -EINVAL;
    eddy_chan *ch = rx->ch;
    if (!ch) return -EBADF;
    if (!elem && ch->elem_size) return -EINVAL;
    return eddy__chan_recv_now(ch, elem);
}

size_t eddy_chan_size(const eddy_chan_rx *rx)
{
    return rx && rx->ch ? rx->ch->count : 0;
}
