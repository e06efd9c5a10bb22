/* N5: eddy_wait_fd / eddy_fd_forget with descriptors the test owns (raw socket pairs), the
 * way a foreign library (libpq, libcurl multi, c-ares) plugs its own fds in. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/test.h"

static void raw_pair(int sv[2])
{
    EDDY_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
}

static void close_pair(int sv[2])
{
    (void)eddy_fd_forget(sv[0]);
    (void)eddy_fd_forget(sv[1]);
    close(sv[0]);
    close(sv[1]);
}

/* Fill fd's send buffer until the kernel says EAGAIN; returns the bytes written. */
static size_t fill(int fd)
{
    char buf[4096];
    memset(buf, 'f', sizeof buf);
    size_t total = 0;
    for (;;) {
        ssize_t n = write(fd, buf, sizeof buf);
        if (n < 0) {
            EDDY_CHECK(errno == EAGAIN);
            return total;
        }
        total += (size_t)n;
    }
}

static void drain(int fd, size_t len)
{
    char buf[4096];
    while (len) {
        ssize_t n = read(fd, buf, len < sizeof buf ? len : sizeof buf);
        EDDY_CHECK(n > 0);
        len -= (size_t)n;
    }
}

typedef struct waiter {
    int fd;
    unsigned events;
    int rc;
    int64_t at;
} waiter;

static int wait_task(void *arg)
{
    waiter *w = arg;
    w->rc = eddy_wait_fd(w->fd, w->events);
    w->at = eddy_now();
    return 0;
}

static int wait_fail_after(void *arg)
{
    waiter *w = arg;
    EDDY_FAIL_AFTER(EDDY_SEC(2)) { w->rc = eddy_wait_fd(w->fd, w->events); }
    w->at = eddy_now();
    return 0;
}

EDDY_TEST(wait_fd_readable)
{
    int sv[2];
    raw_pair(sv);
    waiter w = {.fd = sv[0], .events = EDDY_READ, .rc = 99};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, wait_task, &w));
        EDDY_OK(eddy_sleep(EDDY_SEC(3)));
        EDDY_CHECK_EQ(w.rc, 99); /* nothing to read yet */
        EDDY_CHECK_EQ(write(sv[1], "r", 1), 1);
    }
    EDDY_OK(rc);
    EDDY_CHECK(w.rc > 0 && (w.rc & EDDY_READ));
    EDDY_CHECK(!(w.rc & EDDY_WRITE)); /* only what was asked for */
    EDDY_CHECK_EQ(w.at, EDDY_SEC(3));
    /* Readiness is level-triggered: still readable, so a second wait returns at once. */
    int64_t t0 = eddy_now();
    EDDY_CHECK(eddy_wait_fd(sv[0], EDDY_READ) & EDDY_READ);
    EDDY_CHECK_EQ(eddy_now(), t0);
    char c;
    EDDY_CHECK_EQ(read(sv[0], &c, 1), 1);
    EDDY_CHECK_EQ(c, 'r');
    close_pair(sv);
    return 0;
}

EDDY_TEST(wait_fd_writable_and_both_directions)
{
    int sv[2];
    raw_pair(sv);
    EDDY_CHECK(eddy_wait_fd(sv[0], EDDY_WRITE) & EDDY_WRITE); /* empty buffer: at once */
    size_t filled = fill(sv[0]);
    EDDY_CHECK(filled > 0);
    /* A reader and a writer may wait on one fd together. */
    waiter r = {.fd = sv[0], .events = EDDY_READ, .rc = 99};
    waiter w = {.fd = sv[0], .events = EDDY_WRITE, .rc = 99};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, wait_task, &r));
        EDDY_OK(eddy_spawn(nu, wait_task, &w));
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK_EQ(r.rc, 99);
        EDDY_CHECK_EQ(w.rc, 99);
        EDDY_CHECK_EQ(write(sv[1], "x", 1), 1);
        EDDY_OK(eddy_sleep(EDDY_SEC(1)));
        EDDY_CHECK(r.rc & EDDY_READ);
        EDDY_CHECK_EQ(w.rc, 99); /* its buffer is still full */
        drain(sv[1], filled);
    }
    EDDY_OK(rc);
    EDDY_CHECK(w.rc & EDDY_WRITE);
    EDDY_CHECK_EQ(r.at, EDDY_SEC(1));
    EDDY_CHECK_EQ(w.at, EDDY_SEC(2));
    close_pair(sv);
    return 0;
}

EDDY_TEST(wait_fd_second_waiter_is_busy)
{
    int sv[2];
    raw_pair(sv);
    waiter a = {.fd = sv[0], .events = EDDY_READ, .rc = 99};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, wait_task, &a));
        EDDY_CHECK_EQ(eddy_wait_fd(sv[0], EDDY_READ), -EBUSY);
        EDDY_CHECK_EQ(eddy_wait_fd(sv[0], EDDY_READ | EDDY_WRITE), -EBUSY);
        EDDY_CHECK_EQ(write(sv[1], "y", 1), 1);
    }
    EDDY_OK(rc);
    EDDY_CHECK(a.rc & EDDY_READ);
    close_pair(sv);
    return 0;
}

/* A cancelled wait returns the cancel code and leaves nothing registered: the next waiter
 * in that direction is not -EBUSY. */
EDDY_TEST(wait_fd_cancelled)
{
    int sv[2];
    raw_pair(sv);
    waiter a = {.fd = sv[0], .events = EDDY_READ, .rc = 99};
    int rc;
    EDDY_NURSERY(nu, &rc) { EDDY_OK(eddy_spawn(nu, wait_fail_after, &a)); }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(a.rc, -ETIMEDOUT);
    EDDY_CHECK_EQ(a.at, EDDY_SEC(2));

    waiter b = {.fd = sv[0], .events = EDDY_READ, .rc = 99};
    eddy_task *t;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, wait_task, &b, .handle = &t));
        eddy_task_cancel(t);
        EDDY_OK(eddy_task_join(t, NULL));
        EDDY_CHECK_EQ(b.rc, -ECANCELED);
    }
    EDDY_OK(rc);

    /* Level-triggered: in a cancelled scope even a ready fd gives the cancel code. */
    EDDY_CHECK_EQ(write(sv[1], "z", 1), 1);
    eddy_cancel_scope cs;
    EDDY_CANCEL_SCOPE(&cs) {
        eddy_cancel_scope_cancel(&cs);
        EDDY_CHECK_EQ(eddy_wait_fd(sv[0], EDDY_READ), -ECANCELED);
    }
    EDDY_CHECK(eddy_wait_fd(sv[0], EDDY_READ) & EDDY_READ);
    close_pair(sv);
    return 0;
}

/* fd_forget while a task waits: the task gets -EBADF, and the fd number can be reused at
 * once (the new descriptor is registered afresh). */
EDDY_TEST(wait_fd_forget_while_waiting)
{
    int sv[2];
    raw_pair(sv);
    waiter r = {.fd = sv[0], .events = EDDY_READ, .rc = 99};
    waiter w = {.fd = sv[0], .events = EDDY_WRITE, .rc = 99};
    EDDY_CHECK(fill(sv[0]) > 0); /* so the writer waits too */
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, wait_task, &r));
        EDDY_OK(eddy_spawn(nu, wait_task, &w));
        EDDY_CHECK_EQ(eddy_fd_forget(sv[0]), 2); /* both woken */
        EDDY_CHECK_EQ(eddy_fd_forget(sv[0]), 0); /* nobody left */
    }
    EDDY_OK(rc);
    EDDY_CHECK_EQ(r.rc, -EBADF);
    EDDY_CHECK_EQ(w.rc, -EBADF);
    EDDY_CHECK_EQ(r.at, 0);
    int old = sv[0];
    close(sv[0]);
    close(sv[1]);
    /* Same iteration, same number: the loop must not think it is still registered. */
    int nv[2];
    raw_pair(nv);
    EDDY_CHECK_EQ(nv[0], old);
    waiter n = {.fd = nv[0], .events = EDDY_READ, .rc = 99};
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, wait_task, &n));
        EDDY_CHECK_EQ(write(nv[1], "n", 1), 1);
    }
    EDDY_OK(rc);
    EDDY_CHECK(n.rc & EDDY_READ);
    close_pair(nv);
    EDDY_CHECK_EQ(eddy_fd_forget(-1), 0);
    EDDY_CHECK_EQ(eddy_fd_forget(1 << 20), 0); /* never seen */
    return 0;
}

/* The peer going away wakes a reader (end of file is "readable"), with EDDY_HUP when the
 * kernel reports it. */
EDDY_TEST(wait_fd_peer_closed)
{
    int sv[2];
    raw_pair(sv);
    waiter r = {.fd = sv[0], .events = EDDY_READ, .rc = 99};
    int rc;
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, wait_task, &r));
        close(sv[1]);
    }
    EDDY_OK(rc);
    EDDY_CHECK(r.rc & EDDY_READ);
    EDDY_CHECK(r.rc & EDDY_HUP);
    char c;
    EDDY_CHECK_EQ(read(sv[0], &c, 1), 0);
    (void)eddy_fd_forget(sv[0]);
    close(sv[0]);
    return 0;
}

static void wait_in_callback(void *arg)
{
    int *rc = arg;
    *rc = eddy_wait_fd(0, EDDY_READ);
}

EDDY_TEST(wait_fd_errors)
{
    EDDY_CHECK_EQ(eddy_wait_fd(-1, EDDY_READ), -EINVAL);
    int sv[2];
    raw_pair(sv);
    EDDY_CHECK_EQ(eddy_wait_fd(sv[0], 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_wait_fd(sv[0], EDDY_HUP), -EINVAL); /* not a direction */
    close_pair(sv);
    /* A closed descriptor (the number is free). */
    int fd = dup(0);
    EDDY_CHECK(fd >= 0);
    close(fd);
    EDDY_CHECK_EQ(eddy_wait_fd(fd, EDDY_READ), -EBADF);
    /* Regular files cannot be polled. */
    char path[] = "/tmp/eddy-waitfd-XXXXXX";
    fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    EDDY_CHECK(unlink(path) == 0);
    EDDY_CHECK_EQ(eddy_wait_fd(fd, EDDY_READ), -EPERM);
    (void)eddy_fd_forget(fd);
    close(fd);
    /* Callback context cannot block. */
    int rc = 1;
    EDDY_OK(eddy_call_soon(wait_in_callback, &rc));
    EDDY_OK(eddy_sleep(1));
    EDDY_CHECK_EQ(rc, -EPERM);
    return 0;
}

static int outside(void *arg)
{
    (void)arg;
    EDDY_CHECK_EQ(eddy_wait_fd(0, EDDY_READ), -EPERM);
    EDDY_CHECK_EQ(eddy_fd_forget(0), 0);
    return 0;
}

EDDY_TEST_EX(wait_fd_outside_loop, .raw = true) { return outside(eddy_test_arg); }

/* ---- a waiter woken by readiness that has not run yet ---- */

#include "internal.h" /* the woken task's state, to stage the race exactly */

typedef struct woken_case {
    int sv[2];
    eddy_task *a;
    int a_rc;
    int forgotten;
} woken_case;

static int woken_waiter(void *arg)
{
    woken_case *c = arg;
    c->a_rc = eddy_wait_fd(c->sv[0], EDDY_READ);
    return 0;
}

static int woken_main(void *arg)
{
    woken_case *c = arg;
    raw_pair(c->sv);
    int rc = 0;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, woken_waiter, c, .handle = &c->a));
        EDDY_CHECK_EQ(write(c->sv[1], "x", 1), 1);
        /* With a poll after every task run, the poll wakes the waiter behind this task. */
        for (int i = 0; i < 100 && c->a->state != EDDY__READY; i++) EDDY_OK(eddy_yield());
        EDDY_CHECK_EQ(c->a->state, EDDY__READY);
        c->forgotten = eddy_fd_forget(c->sv[0]);
        int st;
        EDDY_OK(eddy_task_join(c->a, &st));
    }
    close_pair(c->sv);
    return rc;
}

/* The watcher of a task woken by readiness stays started until the task runs (so the loop
 * keeps its kernel registration); eddy_fd_forget in between must still make that task's
 * eddy_wait_fd return -EBADF, not the stale readiness. */
EDDY_TEST_EX(forget_after_readiness_woke_the_waiter, .raw = true)
{
    woken_case c = {.a_rc = 1};
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .poll_interval = 1,
                   .flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_NO_SIGNALS};
    EDDY_OK(eddy_run_opts(woken_main, &c, &o));
    EDDY_CHECK_EQ(c.forgotten, 1);
    EDDY_CHECK_EQ(c.a_rc, -EBADF);
    return 0;
}

/* A foreign library closes its descriptor with plain close() (no eddy_fd_forget) and a new
 * pipe gets the same number: the loop must see the new descriptor. The registration cache
 * used to trust the number — it still believed the old descriptor registered (the kernel
 * drops a closed one by itself) and skipped the registration, so a waiter on the new pipe
 * hung forever with data ready (reported by an outside review). Borrowed descriptors are now
 * registered when a wait or a watcher starts and dropped when it ends. */
static int reuse_number(int fd)
{
    /* The lowest free numbers come back first; dup2 makes it certain. */
    int q[2];
    EDDY_CHECK(pipe2(q, O_NONBLOCK | O_CLOEXEC) == 0);
    if (q[0] != fd) {
        EDDY_CHECK(dup2(q[0], fd) == fd);
        close(q[0]);
    }
    return q[1];
}

EDDY_TEST(wait_fd_after_plain_close_and_reuse)
{
    int p[2];
    EDDY_CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    EDDY_CHECK(write(p[1], "x", 1) == 1);
    int rc = eddy_wait_fd(p[0], EDDY_READ);
    EDDY_CHECK(rc > 0 && (rc & EDDY_READ));
    int fd = p[0];
    close(p[0]); /* no eddy_fd_forget: a foreign library's own close */
    close(p[1]);
    int wr = reuse_number(fd);
    EDDY_CHECK(write(wr, "y", 1) == 1);
    rc = 0;
    EDDY_FAIL_AFTER(EDDY_SEC(5)) { rc = eddy_wait_fd(fd, EDDY_READ); }
    EDDY_CHECK(rc > 0 && (rc & EDDY_READ)); /* was -ETIMEDOUT: the new pipe never registered */
    close(fd);
    close(wr);
    return 0;
}

static void count_cb(eddy_io *w, unsigned revents)
{
    (void)revents;
    ++*(int *)w->data;
    eddy_io_stop(w);
}

/* The same with an eddy_io watcher: stopped, its descriptor closed with close(), the number
 * reused, a new watcher on it. */
EDDY_TEST(watcher_after_plain_close_and_reuse)
{
    int p[2], fired = 0;
    EDDY_CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    EDDY_CHECK(write(p[1], "x", 1) == 1);
    eddy_io w = {0};
    EDDY_OK(eddy_io_start(&w, p[0], EDDY_READ, count_cb, &fired));
    EDDY_OK(eddy_sleep(EDDY_MSEC(1)));
    EDDY_CHECK_EQ(fired, 1);
    int fd = p[0];
    close(p[0]);
    close(p[1]);
    int wr = reuse_number(fd);
    EDDY_CHECK(write(wr, "y", 1) == 1);
    eddy_io w2 = {0};
    EDDY_OK(eddy_io_start(&w2, fd, EDDY_READ, count_cb, &fired));
    EDDY_OK(eddy_sleep(EDDY_SEC(1)));
    EDDY_CHECK_EQ(fired, 2); /* was 1: the watcher on the new pipe never fired */
    eddy_io_stop(&w2);
    close(fd);
    close(wr);
    return 0;
}
