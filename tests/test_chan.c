/* C7 eddy_chan and C8 eddy_choose. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "eddy/test.h"

/* ---- helpers ---- */

typedef struct {
    eddy_chan_tx *tx;
    eddy_chan_rx *rx;
    int value;
    int rc;
    int64_t t_done;
    bool done;
    int *log;
    int *nlog;
    eddy_cancel_scope *cs;
} op_arg;

static int sender(void *p)
{
    op_arg *a = p;
    a->rc = eddy_chan_send(a->tx, &a->value);
    a->t_done = eddy_now();
    a->done = true;
    return 0;
}

static int receiver(void *p)
{
    op_arg *a = p;
    a->rc = eddy_chan_recv(a->rx, &a->value);
    a->t_done = eddy_now();
    a->done = true;
    if (a->log && a->rc == 0) a->log[(*a->nlog)++] = a->value;
    return 0;
}

static int scoped_sender(void *p)
{
    op_arg *a = p;
    EDDY_CANCEL_SCOPE(a->cs) { a->rc = eddy_chan_send(a->tx, &a->value); }
    a->done = true;
    return 0;
}

static int scoped_receiver(void *p)
{
    op_arg *a = p;
    EDDY_CANCEL_SCOPE(a->cs) { a->rc = eddy_chan_recv(a->rx, &a->value); }
    a->done = true;
    return 0;
}

/* ---- open / close / clone ---- */

EDDY_TEST_EX(chan_open_outside_loop_eperm, .raw = true)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_CHECK_EQ(eddy_chan_open(&tx, &rx, sizeof(int), 1), -EPERM);
    return 0;
}

EDDY_TEST(chan_open_errors)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_CHECK_EQ(eddy_chan_open(NULL, &rx, 4, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_open(&tx, NULL, 4, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_open(&tx, &rx, SIZE_MAX / 2, 4), -EINVAL);
    return 0;
}

static int leak_main(void *p)
{
    (void)p;
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 1));
    return eddy_chan_close_recv(&rx); /* tx never closed */
}

EDDY_TEST_EX(chan_unclosed_handle_is_a_leak, .raw = true, .leaks_memory = true)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_QUIET};
    EDDY_CHECK_EQ(eddy_run_opts(leak_main, NULL, &o), -ENOTRECOVERABLE);
    return 0;
}

EDDY_TEST(chan_close_errors_and_closed_handles)
{
    eddy_chan_tx tx, tx2;
    eddy_chan_rx rx, rx2;
    int v = 1;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 1));
    EDDY_CHECK_EQ(eddy_chan_close_send(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_close_recv(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_clone_send(NULL, &tx2), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_clone_send(&tx, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_clone_recv(NULL, &rx2), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_clone_recv(&rx, NULL), -EINVAL);
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_CHECK_EQ(eddy_chan_close_send(&tx), -EBADF);
    EDDY_CHECK_EQ(eddy_chan_send(&tx, &v), -EBADF);
    EDDY_CHECK_EQ(eddy_chan_try_send(&tx, &v), -EBADF);
    EDDY_CHECK_EQ(eddy_chan_clone_send(&tx, &tx2), -EBADF);
    EDDY_OK(eddy_chan_close_recv(&rx));
    EDDY_CHECK_EQ(eddy_chan_close_recv(&rx), -EBADF);
    EDDY_CHECK_EQ(eddy_chan_recv(&rx, &v), -EBADF);
    EDDY_CHECK_EQ(eddy_chan_try_recv(&rx, &v), -EBADF);
    EDDY_CHECK_EQ(eddy_chan_clone_recv(&rx, &rx2), -EBADF);
    EDDY_CHECK_EQ(eddy_chan_size(&rx), 0);
    EDDY_CHECK_EQ(eddy_chan_send(NULL, &v), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_recv(NULL, &v), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_try_send(NULL, &v), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_try_recv(NULL, &v), -EINVAL);
    return 0;
}

EDDY_TEST(chan_null_elem_einval)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 1));
    EDDY_CHECK_EQ(eddy_chan_send(&tx, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_try_send(&tx, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_recv(&rx, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_chan_try_recv(&rx, NULL), -EINVAL);
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_OK(eddy_chan_close_recv(&rx));
    return 0;
}

EDDY_TEST(chan_zero_size_elements)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, 0, 2));
    EDDY_OK(eddy_chan_send(&tx, NULL));
    EDDY_OK(eddy_chan_try_send(&tx, NULL));
    EDDY_CHECK_EQ(eddy_chan_try_send(&tx, NULL), -EAGAIN);
    EDDY_CHECK_EQ(eddy_chan_size(&rx), 2);
    EDDY_OK(eddy_chan_recv(&rx, NULL));
    EDDY_OK(eddy_chan_try_recv(&rx, NULL));
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_CHECK_EQ(eddy_chan_recv(&rx, NULL), -EPIPE);
    EDDY_OK(eddy_chan_close_recv(&rx));
    return 0;
}

/* ---- buffered and rendezvous ---- */

EDDY_TEST(chan_buffered_fifo_and_try)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 3));
    int v;
    EDDY_CHECK_EQ(eddy_chan_try_recv(&rx, &v), -EAGAIN);
    for (int i = 0; i < 3; i++) EDDY_OK(i % 2 ? eddy_chan_try_send(&tx, &i) : eddy_chan_send(&tx, &i));
    EDDY_CHECK_EQ(eddy_chan_size(&rx), 3);
    v = 99;
    EDDY_CHECK_EQ(eddy_chan_try_send(&tx, &v), -EAGAIN);
    for (int i = 0; i < 3; i++) {
        EDDY_OK(i % 2 ? eddy_chan_try_recv(&rx, &v) : eddy_chan_recv(&rx, &v));
        EDDY_CHECK_EQ(v, i);
    }
    /* wrap around the ring */
    for (int r = 0; r < 5; r++) {
        for (int i = 0; i < 2; i++) EDDY_OK(eddy_chan_send(&tx, &(int){r * 10 + i}));
        for (int i = 0; i < 2; i++) {
            EDDY_OK(eddy_chan_recv(&rx, &v));
            EDDY_CHECK_EQ(v, r * 10 + i);
        }
    }
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_OK(eddy_chan_close_recv(&rx));
    return 0;
}

EDDY_TEST(chan_rendezvous_send_waits_for_receiver)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 0));
    EDDY_CHECK_EQ(eddy_chan_try_send(&tx, &(int){1}), -EAGAIN); /* nobody receives */
    op_arg a = {.tx = &tx, .value = 42};
    int rc, v = 0;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sender, &a));
        EDDY_CHECK(!a.done);
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK(!a.done); /* still no receiver: the send has not completed */
        EDDY_OK(eddy_chan_recv(&rx, &v));
        EDDY_CHECK_EQ(v, 42);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(a.rc, 0);
    EDDY_CHECK_EQ(a.t_done, EDDY_SEC(1));
    /* receiver first: try_send hands off to it */
    op_arg b = {.rx = &rx};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, receiver, &b));
        EDDY_OK(eddy_chan_try_send(&tx, &(int){7}));
    }
    EDDY_CHECK_EQ(b.rc, 0);
    EDDY_CHECK_EQ(b.value, 7);
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_OK(eddy_chan_close_recv(&rx));
    return 0;
}

static void check_blocked_senders_fifo(size_t cap)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), cap));
    for (size_t i = 0; i < cap; i++) EDDY_OK(eddy_chan_send(&tx, &(int){-1}));
    op_arg a[4];
    int rc, v;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 4; i++) {
            a[i] = (op_arg){.tx = &tx, .value = i};
            EDDY_OK(eddy_spawn(n, sender, &a[i]));
        }
        for (size_t i = 0; i < cap; i++) {
            EDDY_OK(eddy_chan_recv(&rx, &v));
            EDDY_CHECK_EQ(v, -1);
        }
        for (int i = 0; i < 4; i++) {
            EDDY_OK(eddy_chan_recv(&rx, &v));
            EDDY_CHECK_EQ(v, i);
        }
    }
    EDDY_CHECK_EQ(rc, 0);
    for (int i = 0; i < 4; i++) EDDY_CHECK_EQ(a[i].rc, 0);
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_OK(eddy_chan_close_recv(&rx));
}

EDDY_TEST(chan_blocked_senders_fifo)
{
    check_blocked_senders_fifo(0);
    check_blocked_senders_fifo(2);
    return 0;
}

EDDY_TEST(chan_blocked_receivers_fifo)
{
    for (size_t cap = 0; cap < 3; cap += 2) {
        eddy_chan_tx tx;
        eddy_chan_rx rx;
        EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), cap));
        op_arg a[4];
        int log[4], nlog = 0, rc;
        EDDY_NURSERY(n, &rc) {
            for (int i = 0; i < 4; i++) {
                a[i] = (op_arg){.rx = &rx, .log = log, .nlog = &nlog};
                EDDY_OK(eddy_spawn(n, receiver, &a[i]));
            }
            for (int i = 0; i < 4; i++) EDDY_OK(eddy_chan_send(&tx, &(int){100 + i}));
        }
        EDDY_CHECK_EQ(rc, 0);
        for (int i = 0; i < 4; i++) {
            EDDY_CHECK_EQ(a[i].rc, 0);
            EDDY_CHECK_EQ(a[i].value, 100 + i); /* the first to wait gets the first element */
        }
        EDDY_CHECK_EQ(nlog, 4);
        EDDY_OK(eddy_chan_close_send(&tx));
        EDDY_OK(eddy_chan_close_recv(&rx));
    }
    return 0;
}

/* ---- per-end close with clones (trio) ---- */

EDDY_TEST(chan_close_send_drains_then_epipe)
{
    eddy_chan_tx tx, tx2;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 4));
    EDDY_OK(eddy_chan_clone_send(&tx, &tx2));
    EDDY_OK(eddy_chan_send(&tx, &(int){1}));
    EDDY_OK(eddy_chan_send(&tx2, &(int){2}));
    EDDY_OK(eddy_chan_close_send(&tx));
    int v;
    EDDY_OK(eddy_chan_recv(&rx, &v));
    EDDY_CHECK_EQ(v, 1);
    EDDY_OK(eddy_chan_recv(&rx, &v));
    EDDY_CHECK_EQ(v, 2);
    EDDY_CHECK_EQ(eddy_chan_try_recv(&rx, &v), -EAGAIN); /* tx2 still open */
    EDDY_OK(eddy_chan_send(&tx2, &(int){3}));
    EDDY_OK(eddy_chan_close_send(&tx2));
    EDDY_OK(eddy_chan_recv(&rx, &v)); /* buffered data survives the close */
    EDDY_CHECK_EQ(v, 3);
    EDDY_CHECK_EQ(eddy_chan_recv(&rx, &v), -EPIPE);
    EDDY_CHECK_EQ(eddy_chan_try_recv(&rx, &v), -EPIPE);
    EDDY_OK(eddy_chan_close_recv(&rx));
    return 0;
}

EDDY_TEST(chan_last_sender_close_wakes_receivers)
{
    eddy_chan_tx tx, tx2;
    eddy_chan_rx rx, rx2;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 0));
    EDDY_OK(eddy_chan_clone_send(&tx, &tx2));
    EDDY_OK(eddy_chan_clone_recv(&rx, &rx2));
    op_arg a = {.rx = &rx}, b = {.rx = &rx2};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, receiver, &a));
        EDDY_OK(eddy_spawn(n, receiver, &b));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_OK(eddy_chan_close_send(&tx));
        EDDY_OK(eddy_yield());
        EDDY_CHECK(!a.done && !b.done); /* a sender clone is still open */
        EDDY_OK(eddy_chan_close_send(&tx2));
    }
    EDDY_CHECK_EQ(a.rc, -EPIPE);
    EDDY_CHECK_EQ(b.rc, -EPIPE);
    EDDY_CHECK_EQ(a.t_done, EDDY_SEC(1));
    EDDY_OK(eddy_chan_close_recv(&rx));
    EDDY_OK(eddy_chan_close_recv(&rx2));
    return 0;
}

EDDY_TEST(chan_last_receiver_close_wakes_senders)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx, rx2;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 1));
    EDDY_OK(eddy_chan_clone_recv(&rx, &rx2));
    EDDY_OK(eddy_chan_send(&tx, &(int){1})); /* fills the buffer */
    op_arg a = {.tx = &tx, .value = 2};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sender, &a));
        EDDY_OK(eddy_chan_close_recv(&rx));
        EDDY_OK(eddy_yield());
        EDDY_CHECK(!a.done);
        EDDY_OK(eddy_chan_close_recv(&rx2));
    }
    EDDY_CHECK_EQ(a.rc, -EPIPE);
    EDDY_CHECK_EQ(eddy_chan_send(&tx, &(int){3}), -EPIPE);
    EDDY_CHECK_EQ(eddy_chan_try_send(&tx, &(int){3}), -EPIPE);
    EDDY_OK(eddy_chan_close_send(&tx));
    return 0;
}

EDDY_TEST(chan_close_own_handle_wakes_its_blocked_users_ebadf)
{
    eddy_chan_tx tx, tx2;
    eddy_chan_rx rx, rx2;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 0));
    EDDY_OK(eddy_chan_clone_send(&tx, &tx2));
    EDDY_OK(eddy_chan_clone_recv(&rx, &rx2));
    op_arg s1 = {.tx = &tx, .value = 1}, s2 = {.tx = &tx2, .value = 2};
    int rc, v;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, sender, &s1));
        EDDY_OK(eddy_spawn(n, sender, &s2));
        EDDY_OK(eddy_chan_close_send(&tx)); /* s1 blocked through tx */
        /* s1 is woken; let it run (a seeded scheduler may run it after a few yields). */
        for (int i = 0; i < 16 && !s1.done; i++) EDDY_OK(eddy_yield());
        EDDY_CHECK(s1.done && !s2.done);
        EDDY_OK(eddy_chan_recv(&rx2, &v));
        EDDY_CHECK_EQ(v, 2);
    }
    EDDY_CHECK_EQ(s1.rc, -EBADF);
    EDDY_CHECK_EQ(s2.rc, 0);
    op_arg r1 = {.rx = &rx};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, receiver, &r1));
        EDDY_OK(eddy_chan_close_recv(&rx));
    }
    EDDY_CHECK_EQ(r1.rc, -EBADF);
    EDDY_OK(eddy_chan_close_send(&tx2));
    EDDY_OK(eddy_chan_close_recv(&rx2));
    return 0;
}

/* ---- cancellation ---- */

EDDY_TEST(chan_cancel_blocked_send_not_delivered)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 0));
    eddy_cancel_scope cs;
    op_arg a = {.tx = &tx, .value = 5, .cs = &cs};
    int rc, v;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, scoped_sender, &a));
        eddy_cancel_scope_cancel(&cs);
        EDDY_CHECK_EQ(eddy_chan_try_recv(&rx, &v), -EAGAIN); /* unlinked at once */
    }
    EDDY_CHECK_EQ(a.rc, -ECANCELED);
    EDDY_CHECK(cs.cancelled_caught);
    /* cancelled receiver: takes nothing */
    a = (op_arg){.rx = &rx, .cs = &cs};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, scoped_receiver, &a));
        eddy_cancel_scope_cancel(&cs);
        EDDY_CHECK_EQ(eddy_chan_try_send(&tx, &(int){6}), -EAGAIN);
    }
    EDDY_CHECK_EQ(a.rc, -ECANCELED);
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_OK(eddy_chan_close_recv(&rx));
    return 0;
}

EDDY_TEST(chan_cancel_after_handoff_reports_success)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 0));
    eddy_cancel_scope cs;
    op_arg a = {.tx = &tx, .value = 5, .cs = &cs};
    int rc, v = 0;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, scoped_sender, &a));
        EDDY_OK(eddy_chan_recv(&rx, &v)); /* takes the element: the sender is served */
        eddy_cancel_scope_cancel(&cs);    /* before the sender runs again */
    }
    EDDY_CHECK_EQ(v, 5);
    EDDY_CHECK_EQ(a.rc, 0);
    a = (op_arg){.rx = &rx, .cs = &cs};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, scoped_receiver, &a));
        EDDY_OK(eddy_chan_send(&tx, &(int){8}));
        eddy_cancel_scope_cancel(&cs);
    }
    EDDY_CHECK_EQ(a.rc, 0);
    EDDY_CHECK_EQ(a.value, 8);
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_OK(eddy_chan_close_recv(&rx));
    return 0;
}

EDDY_TEST(chan_precancelled_does_nothing)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 2));
    int v;
    EDDY_OK(eddy_chan_send(&tx, &(int){1}));
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        EDDY_CHECK_EQ(eddy_chan_send(&tx, &(int){2}), -ECANCELED); /* could complete: still no */
        EDDY_CHECK_EQ(eddy_chan_recv(&rx, &v), -ECANCELED);
        EDDY_OK(eddy_chan_try_send(&tx, &(int){3})); /* try_* are not cancellation points */
    }
    EDDY_CHECK_EQ(eddy_chan_size(&rx), 2);
    EDDY_FAIL_AFTER(EDDY_SEC(1)) { EDDY_CHECK_EQ(eddy_chan_send(&tx, &(int){4}), -ETIMEDOUT); }
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(1));
    EDDY_OK(eddy_chan_recv(&rx, &v));
    EDDY_CHECK_EQ(v, 1);
    EDDY_OK(eddy_chan_recv(&rx, &v));
    EDDY_CHECK_EQ(v, 3);
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_OK(eddy_chan_close_recv(&rx));
    return 0;
}

/* A producer and a consumer both give up on their operations at awkward moments (deadlines
 * that often fire in the same loop iteration as the hand-off) and retry: the consumer must see
 * every number exactly once, in order. */
#define SEQ_N 400
typedef struct {
    eddy_chan_tx *tx;
    eddy_chan_rx *rx;
    int cancels;
    int seen[SEQ_N];
} seq_arg;

static int seq_producer(void *p)
{
    seq_arg *a = p;
    for (int i = 0; i < SEQ_N; i++) {
        for (;;) {
            int rc = -1;
            EDDY_MOVE_ON_AFTER(EDDY_MSEC(1 + i % 3)) { rc = eddy_chan_send(a->tx, &i); }
            if (rc == 0) break;
            EDDY_CHECK_EQ(rc, -ECANCELED);
            a->cancels++;
        }
        if (i % 5 == 0) EDDY_OK(eddy_sleep(EDDY_MSEC(i % 4)));
    }
    return eddy_chan_close_send(a->tx);
}

static int seq_consumer(void *p)
{
    seq_arg *a = p;
    int expect = 0;
    for (;;) {
        int v = -1, rc = -1;
        EDDY_MOVE_ON_AFTER(EDDY_MSEC(2 + expect % 2)) { rc = eddy_chan_recv(a->rx, &v); }
        if (rc == -EPIPE) break;
        if (rc == -ECANCELED) {
            a->cancels++;
            continue;
        }
        EDDY_CHECK_EQ(rc, 0);
        EDDY_CHECK_EQ(v, expect);
        a->seen[v]++;
        expect++;
        if (expect % 3 == 0) EDDY_OK(eddy_sleep(EDDY_MSEC(expect % 5)));
    }
    EDDY_CHECK_EQ(expect, SEQ_N);
    return 0;
}

EDDY_TEST(chan_cancel_sequence_nothing_lost_or_duplicated)
{
    for (size_t cap = 0; cap < 3; cap++) {
        eddy_chan_tx tx;
        eddy_chan_rx rx;
        EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), cap));
        static seq_arg a;
        memset(&a, 0, sizeof a);
        a.tx = &tx;
        a.rx = &rx;
        int rc;
        EDDY_NURSERY(n, &rc) {
            EDDY_OK(eddy_spawn(n, seq_producer, &a));
            EDDY_OK(eddy_spawn(n, seq_consumer, &a));
        }
        EDDY_CHECK_EQ(rc, 0);
        for (int i = 0; i < SEQ_N; i++) EDDY_CHECK_EQ(a.seen[i], 1);
        EDDY_CHECK(a.cancels > 10); /* the test did exercise cancellation */
        EDDY_OK(eddy_chan_close_recv(&rx));
    }
    return 0;
}

/* ---- callback context ---- */

typedef struct {
    eddy_chan_tx *tx;
    int rc_block, rc_try;
} cb_arg;

static void cb_send(void *p)
{
    cb_arg *a = p;
    a->rc_block = eddy_chan_send(a->tx, &(int){1});
    a->rc_try = eddy_chan_try_send(a->tx, &(int){2});
}

EDDY_TEST(chan_callback_context)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 0));
    cb_arg a = {.tx = &tx, .rc_block = 1, .rc_try = 1};
    int v = 0;
    EDDY_OK(eddy_call_soon(cb_send, &a));
    EDDY_OK(eddy_chan_recv(&rx, &v)); /* the callback's try_send hands off to us */
    EDDY_CHECK_EQ(a.rc_block, -EPERM);
    EDDY_CHECK_EQ(a.rc_try, 0);
    EDDY_CHECK_EQ(v, 2);
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_OK(eddy_chan_close_recv(&rx));
    return 0;
}

/* ==== eddy_choose ==== */

typedef struct {
    eddy_clause *c;
    size_t n;
    unsigned flags;
    int rc;
    bool done;
    int64_t t_done;
    eddy_cancel_scope *cs;
} choose_arg;

static int chooser(void *p)
{
    choose_arg *a = p;
    if (a->cs) {
        EDDY_CANCEL_SCOPE(a->cs) { a->rc = eddy_choose(a->c, a->n, a->flags); }
    } else {
        a->rc = eddy_choose(a->c, a->n, a->flags);
    }
    a->done = true;
    a->t_done = eddy_now();
    return 0;
}

typedef struct {
    eddy_chan_tx tx[3];
    eddy_chan_rx rx[3];
} chans;

static void chans_open(chans *c, size_t cap)
{
    for (int i = 0; i < 3; i++) EDDY_OK(eddy_chan_open(&c->tx[i], &c->rx[i], sizeof(int), cap));
}

static void chans_close(chans *c)
{
    for (int i = 0; i < 3; i++) {
        if (c->tx[i].ch) EDDY_OK(eddy_chan_close_send(&c->tx[i]));
        if (c->rx[i].ch) EDDY_OK(eddy_chan_close_recv(&c->rx[i]));
    }
}

EDDY_TEST(choose_errors)
{
    chans c;
    chans_open(&c, 1);
    int v;
    eddy_clause cl[2] = {EDDY_CLAUSE_RECV(&c.rx[0], &v), EDDY_CLAUSE_RECV(&c.rx[1], &v)};
    EDDY_CHECK_EQ(eddy_choose(cl, 0, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_choose(NULL, 1, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_choose(cl, 2, 0x80), -EINVAL);
    EDDY_CHECK_EQ(eddy_choose(cl, 0, EDDY_CHOOSE_NOWAIT), -EAGAIN);
    eddy_clause bad[] = {{.op = 99}};
    EDDY_CHECK_EQ(eddy_choose(bad, 1, 0), -EINVAL);
    eddy_clause nul[] = {EDDY_CLAUSE_SEND(NULL, &v)};
    EDDY_CHECK_EQ(eddy_choose(nul, 1, 0), -EINVAL);
    eddy_clause nulrx[] = {EDDY_CLAUSE_RECV(NULL, &v)};
    EDDY_CHECK_EQ(eddy_choose(nulrx, 1, 0), -EINVAL);
    eddy_clause noelem[] = {EDDY_CLAUSE_RECV(&c.rx[0], NULL)};
    EDDY_CHECK_EQ(eddy_choose(noelem, 1, 0), -EINVAL);
    eddy_clause badfd[] = {EDDY_CLAUSE_FD(-1, EDDY_READ)};
    EDDY_CHECK_EQ(eddy_choose(badfd, 1, 0), -EINVAL);
    eddy_clause noev[] = {EDDY_CLAUSE_FD(0, 0)};
    EDDY_CHECK_EQ(eddy_choose(noev, 1, 0), -EINVAL);
    eddy_chan_tx closed = {NULL};
    eddy_clause cl2[] = {EDDY_CLAUSE_RECV(&c.rx[0], &v), EDDY_CLAUSE_SEND(&closed, &v)};
    EDDY_CHECK_EQ(eddy_choose(cl2, 2, 0), -EBADF);
    int p[2];
    EDDY_OK(pipe2(p, O_CLOEXEC));
    eddy_clause twice[] = {EDDY_CLAUSE_FD(p[0], EDDY_READ), EDDY_CLAUSE_FD(p[0], EDDY_READ)};
    EDDY_CHECK_EQ(eddy_choose(twice, 2, 0), -EBUSY);
    close(p[1]);
    close(p[0]);
    eddy_clause nv[] = {EDDY_CLAUSE_FD(p[0], EDDY_READ)}; /* closed fd */
    EDDY_CHECK_EQ(eddy_choose(nv, 1, EDDY_CHOOSE_NOWAIT), -EBADF);
    chans_close(&c);
    return 0;
}

EDDY_TEST_EX(choose_outside_task_eperm, .raw = true)
{
    eddy_clause cl[] = {EDDY_CLAUSE_DEADLINE(0)};
    EDDY_CHECK_EQ(eddy_choose(cl, 1, 0), -EPERM);
    EDDY_CHECK_EQ(eddy_choose(cl, 1, EDDY_CHOOSE_NOWAIT), -EPERM);
    return 0;
}

EDDY_TEST(choose_ready_clause_first_in_order)
{
    chans c;
    chans_open(&c, 2);
    EDDY_OK(eddy_chan_send(&c.tx[1], &(int){11}));
    EDDY_OK(eddy_chan_send(&c.tx[2], &(int){22}));
    int v0 = 0, v1 = 0, v2 = 0;
    eddy_clause cl[] = {EDDY_CLAUSE_RECV(&c.rx[0], &v0), EDDY_CLAUSE_RECV(&c.rx[1], &v1),
                        EDDY_CLAUSE_RECV(&c.rx[2], &v2)};
    EDDY_CHECK_EQ(eddy_choose(cl, 3, 0), 1);
    EDDY_CHECK_EQ(cl[1].rc, 0);
    EDDY_CHECK_EQ(v1, 11);
    EDDY_CHECK_EQ(v2, 0);                       /* untouched */
    EDDY_CHECK_EQ(eddy_chan_size(&c.rx[2]), 1);  /* still there */
    EDDY_CHECK_EQ(eddy_choose(cl, 3, EDDY_CHOOSE_NOWAIT), 2);
    EDDY_CHECK_EQ(v2, 22);
    EDDY_CHECK_EQ(eddy_choose(cl, 3, EDDY_CHOOSE_NOWAIT), -EAGAIN);
    /* a send clause on a channel with room */
    eddy_clause sc[] = {EDDY_CLAUSE_RECV(&c.rx[0], &v0), EDDY_CLAUSE_SEND(&c.tx[0], &(int){5})};
    EDDY_CHECK_EQ(eddy_choose(sc, 2, EDDY_CHOOSE_NOWAIT), 1);
    EDDY_CHECK_EQ(eddy_choose(sc, 2, EDDY_CHOOSE_NOWAIT), 0); /* now the recv is ready first */
    EDDY_CHECK_EQ(v0, 5);
    /* a deadline already passed */
    eddy_clause dl[] = {EDDY_CLAUSE_RECV(&c.rx[0], &v0), EDDY_CLAUSE_DEADLINE(eddy_now())};
    EDDY_CHECK_EQ(eddy_choose(dl, 2, EDDY_CHOOSE_NOWAIT), 1);
    EDDY_CHECK_EQ(dl[1].rc, 0);
    chans_close(&c);
    return 0;
}

EDDY_TEST(choose_blocks_and_completes_exactly_one)
{
    chans c;
    chans_open(&c, 0);
    int v0 = -1, v1 = -1;
    eddy_clause cl[] = {EDDY_CLAUSE_RECV(&c.rx[0], &v0), EDDY_CLAUSE_RECV(&c.rx[1], &v1)};
    choose_arg a = {.c = cl, .n = 2};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, chooser, &a));
        EDDY_CHECK(!a.done);
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        /* both become possible in the same step: only the first may complete */
        EDDY_OK(eddy_chan_try_send(&c.tx[1], &(int){7}));
        EDDY_CHECK_EQ(eddy_chan_try_send(&c.tx[0], &(int){8}), -EAGAIN);
    }
    EDDY_CHECK_EQ(a.rc, 1);
    EDDY_CHECK_EQ(cl[1].rc, 0);
    EDDY_CHECK_EQ(v1, 7);
    EDDY_CHECK_EQ(v0, -1);
    EDDY_CHECK_EQ(a.t_done, EDDY_SEC(1));
    chans_close(&c);
    return 0;
}

static int recv_one(void *p)
{
    op_arg *a = p;
    a->rc = eddy_chan_recv(a->rx, &a->value);
    return 0;
}

EDDY_TEST(choose_send_clause_rendezvous)
{
    chans c;
    chans_open(&c, 0);
    int v = -1;
    /* send and receive on the same rendezvous channel: a peer receiver takes the send */
    eddy_clause cl[] = {EDDY_CLAUSE_RECV(&c.rx[0], &v), EDDY_CLAUSE_SEND(&c.tx[0], &(int){33})};
    choose_arg a = {.c = cl, .n = 2};
    op_arg r = {.rx = &c.rx[0]};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, chooser, &a));
        EDDY_OK(eddy_spawn(n, recv_one, &r));
    }
    EDDY_CHECK_EQ(a.rc, 1);
    EDDY_CHECK_EQ(r.rc, 0);
    EDDY_CHECK_EQ(r.value, 33);
    EDDY_CHECK_EQ(v, -1);
    /* a peer chooser can serve a blocked chooser */
    int got = -1;
    eddy_clause c1[] = {EDDY_CLAUSE_SEND(&c.tx[1], &(int){44})};
    eddy_clause c2[] = {EDDY_CLAUSE_DEADLINE(EDDY_FOREVER), EDDY_CLAUSE_RECV(&c.rx[1], &got)};
    choose_arg a1 = {.c = c1, .n = 1};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, chooser, &a1));
        EDDY_CHECK_EQ(eddy_choose(c2, 2, 0), 1);
    }
    EDDY_CHECK_EQ(a1.rc, 0);
    EDDY_CHECK_EQ(got, 44);
    chans_close(&c);
    return 0;
}

EDDY_TEST(choose_deadline_clause)
{
    chans c;
    chans_open(&c, 0);
    int v;
    eddy_clause cl[] = {EDDY_CLAUSE_RECV(&c.rx[0], &v), EDDY_CLAUSE_DEADLINE(EDDY_SEC(5)),
                        EDDY_CLAUSE_DEADLINE(EDDY_SEC(3))};
    EDDY_CHECK_EQ(eddy_choose(cl, 3, 0), 2);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(3));
    EDDY_CHECK_EQ(eddy_chan_try_send(&c.tx[0], &v), -EAGAIN); /* recv clause unregistered */
    chans_close(&c);
    return 0;
}

static int write_later(void *p)
{
    int fd = *(int *)p;
    EDDY_OK(eddy_sleep(EDDY_SEC(2)));
    return write(fd, "x", 1) == 1 ? 0 : -EIO;
}

EDDY_TEST(choose_fd_clause)
{
    chans c;
    chans_open(&c, 0);
    int p[2], v;
    EDDY_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
    eddy_clause cl[] = {EDDY_CLAUSE_RECV(&c.rx[0], &v), EDDY_CLAUSE_FD(p[0], EDDY_READ)};
    EDDY_CHECK_EQ(eddy_choose(cl, 2, EDDY_CHOOSE_NOWAIT), -EAGAIN);
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, write_later, &p[1]));
        EDDY_CHECK_EQ(eddy_choose(cl, 2, 0), 1);
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK(cl[1].rc & EDDY_READ);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(2));
    /* ready at once now (level-triggered) */
    EDDY_CHECK_EQ(eddy_choose(cl, 2, EDDY_CHOOSE_NOWAIT), 1);
    eddy_clause wr[] = {EDDY_CLAUSE_FD(p[1], EDDY_WRITE)};
    EDDY_CHECK_EQ(eddy_choose(wr, 1, 0), 0);
    EDDY_CHECK(wr[0].rc & EDDY_WRITE);
    close(p[0]);
    close(p[1]);
    chans_close(&c);
    return 0;
}

EDDY_TEST(choose_closed_channel_completes_with_epipe)
{
    chans c;
    chans_open(&c, 0);
    int v;
    EDDY_OK(eddy_chan_close_send(&c.tx[1]));
    eddy_clause cl[] = {EDDY_CLAUSE_RECV(&c.rx[0], &v), EDDY_CLAUSE_RECV(&c.rx[1], &v)};
    EDDY_CHECK_EQ(eddy_choose(cl, 2, 0), 1);
    EDDY_CHECK_EQ(cl[1].rc, -EPIPE);
    /* while blocked: the last sender of channel 0 closes */
    choose_arg a = {.c = cl, .n = 1};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, chooser, &a));
        EDDY_OK(eddy_chan_close_send(&c.tx[0]));
    }
    EDDY_CHECK_EQ(a.rc, 0);
    EDDY_CHECK_EQ(cl[0].rc, -EPIPE);
    /* send clause, receivers gone while blocked */
    eddy_clause sc[] = {EDDY_CLAUSE_SEND(&c.tx[2], &v)};
    a = (choose_arg){.c = sc, .n = 1};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, chooser, &a));
        EDDY_OK(eddy_chan_close_recv(&c.rx[2]));
    }
    EDDY_CHECK_EQ(a.rc, 0);
    EDDY_CHECK_EQ(sc[0].rc, -EPIPE);
    chans_close(&c);
    return 0;
}

EDDY_TEST(choose_cancelled)
{
    chans c;
    chans_open(&c, 0);
    int v = -1, p[2];
    EDDY_OK(pipe2(p, O_CLOEXEC));
    eddy_clause cl[] = {EDDY_CLAUSE_RECV(&c.rx[0], &v), EDDY_CLAUSE_SEND(&c.tx[1], &(int){1}),
                        EDDY_CLAUSE_FD(p[0], EDDY_READ), EDDY_CLAUSE_DEADLINE(EDDY_SEC(100))};
    eddy_cancel_scope cs;
    choose_arg a = {.c = cl, .n = 4, .cs = &cs};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, chooser, &a));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        eddy_cancel_scope_cancel(&cs);
        /* every registration is gone before the chooser even runs */
        EDDY_CHECK_EQ(eddy_chan_try_send(&c.tx[0], &(int){2}), -EAGAIN);
        EDDY_CHECK_EQ(eddy_chan_try_recv(&c.rx[1], &v), -EAGAIN);
    }
    EDDY_CHECK_EQ(a.rc, -ECANCELED);
    EDDY_CHECK_EQ(v, -1);
    EDDY_CHECK_EQ(eddy_now(), EDDY_SEC(1));
    /* already cancelled: nothing happens even if a clause is ready */
    EDDY_OK(eddy_chan_close_send(&c.tx[2]));
    eddy_clause ready[] = {EDDY_CLAUSE_RECV(&c.rx[2], &v)};
    EDDY_FAIL_AT(eddy_now()) { EDDY_CHECK_EQ(eddy_choose(ready, 1, 0), -ETIMEDOUT); }
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        EDDY_CHECK_EQ(eddy_choose(ready, 1, 0), -ECANCELED);
        EDDY_CHECK_EQ(eddy_choose(ready, 1, EDDY_CHOOSE_NOWAIT), 0); /* never blocks: not a
                                                                        cancellation point */
    }
    close(p[0]);
    close(p[1]);
    chans_close(&c);
    return 0;
}

EDDY_TEST(choose_own_handle_closed_while_waiting_ebadf)
{
    eddy_chan_tx tx;
    eddy_chan_rx rx, rx2;
    EDDY_OK(eddy_chan_open(&tx, &rx, sizeof(int), 0));
    EDDY_OK(eddy_chan_clone_recv(&rx, &rx2));
    int v;
    eddy_clause cl[] = {EDDY_CLAUSE_DEADLINE(EDDY_SEC(10)), EDDY_CLAUSE_RECV(&rx2, &v)};
    choose_arg a = {.c = cl, .n = 2};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, chooser, &a));
        EDDY_OK(eddy_chan_close_recv(&rx2));
    }
    EDDY_CHECK_EQ(a.rc, 1);
    EDDY_CHECK_EQ(cl[1].rc, -EBADF);
    EDDY_CHECK_EQ(a.t_done, 0);
    EDDY_CHECK_EQ(eddy_chan_try_send(&tx, &v), -EAGAIN); /* rx still open, nobody waits */
    EDDY_OK(eddy_chan_close_send(&tx));
    EDDY_OK(eddy_chan_close_recv(&rx));
    return 0;
}
