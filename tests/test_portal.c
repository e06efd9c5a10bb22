/* H3: blocking portals. Portals made with eddy_portal_start run their own loop on a thread;
 * portals made with eddy_portal_open serve the test's loop from a task. Calls come from plain
 * threads (pthread_create) and from pool workers. */
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "eddy/test.h"
#include "internal.h"

static int ret5(void *arg)
{
    (void)arg;
    /* A task on the portal's loop: blocking eddy calls work. */
    if (eddy_sleep(EDDY_MSEC(1)) != 0) return -EIO;
    if (strcmp(eddy_task_name(NULL), "portal-call") != 0) return -EINVAL;
    return 5;
}

static int ret_eio(void *arg)
{
    (void)arg;
    return -EIO;
}

static int loop_of(void *arg)
{
    *(eddy_loop **)arg = eddy_loop_current();
    return 0;
}

EDDY_TEST_EX(start_call_stop, .raw = true)
{
    eddy_portal *p = (eddy_portal *)1;
    EDDY_OK(eddy_portal_start(&p));
    EDDY_CHECK(p != NULL);
    EDDY_CHECK_EQ(eddy_portal_call(p, ret5, NULL), 5);
    EDDY_CHECK_EQ(eddy_portal_call(p, ret_eio, NULL), -EIO); /* a failure is just a value */
    EDDY_CHECK_EQ(eddy_portal_call(p, ret5, NULL), 5);       /* and does not stop the portal */
    eddy_loop *l = NULL;
    EDDY_OK(eddy_portal_call(p, loop_of, &l));
    EDDY_CHECK(l != NULL && l == eddy_portal_loop(p));
    EDDY_CHECK(eddy_portal_loop(NULL) == NULL);
    EDDY_OK(eddy_portal_stop(p));
    /* Several portals at once, each with its own loop. */
    eddy_portal *a, *b;
    EDDY_OK(eddy_portal_start(&a));
    EDDY_OK(eddy_portal_start(&b));
    EDDY_CHECK(eddy_portal_loop(a) != eddy_portal_loop(b));
    EDDY_CHECK_EQ(eddy_portal_call(b, ret5, NULL), 5);
    EDDY_OK(eddy_portal_stop(a));
    EDDY_CHECK_EQ(eddy_portal_call(b, ret5, NULL), 5);
    EDDY_OK(eddy_portal_stop(b));
    return 0;
}

static eddy_portal *g_portal;

static int call_self(void *arg)
{
    (void)arg;
    return eddy_portal_call(g_portal, ret5, NULL);
}

static int stop_self(void *arg)
{
    (void)arg;
    return eddy_portal_stop(g_portal);
}

EDDY_TEST_EX(portal_errors, .raw = true)
{
    EDDY_CHECK_EQ(eddy_portal_start(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_portal_stop(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_portal_close(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_portal_open(NULL, NULL), -EINVAL);
    eddy_portal *p;
    EDDY_CHECK_EQ(eddy_portal_open((eddy_nursery *)&p, &p), -EPERM); /* no loop here */
    EDDY_OK(eddy_portal_start(&p));
    g_portal = p;
    EDDY_CHECK_EQ(eddy_portal_call(NULL, ret5, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_portal_call(p, NULL, NULL), -EINVAL);
    /* From the portal's own loop: it would wait for itself. */
    EDDY_CHECK_EQ(eddy_portal_call(p, call_self, NULL), -EDEADLK);
    EDDY_CHECK_EQ(eddy_portal_call(p, stop_self, NULL), -EDEADLK);
    EDDY_CHECK_EQ(eddy_portal_close(p), -EINVAL); /* started portals are stopped */
    EDDY_OK(eddy_portal_stop(p));
    return 0;
}

static int other_loop_calls(void *arg)
{
    (void)arg;
    /* A task of another loop must not block its thread. */
    EDDY_CHECK_EQ(eddy_portal_call(g_portal, ret5, NULL), -EPERM);
    EDDY_CHECK_EQ(eddy_portal_stop(g_portal), -EPERM);
    /* The way in from a loop: through the pool. */
    EDDY_CHECK_EQ(eddy_run_in_thread(call_self, NULL), 5);
    return 0;
}

EDDY_TEST_EX(calls_from_another_loop, .raw = true)
{
    EDDY_OK(eddy_portal_start(&g_portal));
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK};
    EDDY_OK(eddy_run_opts(other_loop_calls, NULL, &o));
    EDDY_OK(eddy_portal_stop(g_portal));
    return 0;
}

/* ---- concurrency ---- */

static long counter; /* only touched on the portal's loop thread */

static int bump(void *arg)
{
    (void)arg;
    long v = counter;
    if (eddy_yield() != 0) return -EIO; /* interleave with other calls */
    counter = v + 1; /* lost updates would show if calls ran on several threads */
    return 0;
}

static int bump_serial(void *arg)
{
    (void)arg;
    counter++;
    return 0;
}

static void *hammer(void *arg)
{
    for (int i = 0; i < 200; i++)
        if (eddy_portal_call(arg, bump_serial, NULL) != 0) return (void *)1;
    return NULL;
}

static eddy_event ev;

static int ev_init(void *arg)
{
    (void)arg;
    eddy_event_init(&ev);
    return 0;
}

static int ev_wait(void *arg)
{
    (void)arg;
    return eddy_event_wait(&ev) == 0 ? 11 : -EIO;
}

static int ev_set(void *arg)
{
    (void)arg;
    eddy_event_set(&ev);
    return 0;
}

static void *call_thread(void *arg)
{
    intptr_t rc = eddy_portal_call(g_portal, (int (*)(void *))arg, NULL);
    return (void *)rc;
}

EDDY_TEST_EX(calls_run_concurrently, .raw = true)
{
    EDDY_OK(eddy_portal_start(&g_portal));
    /* A call that blocks on the loop does not hold up the others: the one that releases it
     * comes from another thread, later. */
    EDDY_OK(eddy_portal_call(g_portal, ev_init, NULL));
    pthread_t w;
    EDDY_CHECK_EQ(pthread_create(&w, NULL, call_thread, (void *)ev_wait), 0);
    EDDY_OK(eddy_portal_call(g_portal, ev_set, NULL));
    void *r;
    EDDY_CHECK_EQ(pthread_join(w, &r), 0);
    EDDY_CHECK_EQ((intptr_t)r, 11);
    /* Many threads at once: every call runs exactly once. */
    pthread_t th[8];
    for (int i = 0; i < 8; i++) EDDY_CHECK_EQ(pthread_create(&th[i], NULL, hammer, g_portal), 0);
    for (int i = 0; i < 8; i++) {
        EDDY_CHECK_EQ(pthread_join(th[i], &r), 0);
        EDDY_CHECK(r == NULL);
    }
    EDDY_OK(eddy_portal_call(g_portal, bump, NULL));
    EDDY_CHECK_EQ(counter, 8 * 200 + 1);
    EDDY_OK(eddy_portal_stop(g_portal));
    return 0;
}

/* ---- stopping and closing ---- */

static eddy_uevent running;

static int forever(void *arg)
{
    (void)arg;
    eddy_uevent_set(&running);
    return eddy_sleep_forever();
}

EDDY_TEST_EX(stop_cancels_running_calls, .raw = true)
{
    EDDY_OK(eddy_uevent_init(&running));
    EDDY_OK(eddy_portal_start(&g_portal));
    pthread_t w;
    EDDY_CHECK_EQ(pthread_create(&w, NULL, call_thread, (void *)forever), 0);
    EDDY_OK(eddy_uevent_wait(&running));
    EDDY_OK(eddy_portal_stop(g_portal));
    void *r;
    EDDY_CHECK_EQ(pthread_join(w, &r), 0);
    EDDY_CHECK_EQ((intptr_t)r, -ECANCELED);
    EDDY_OK(eddy_uevent_destroy(&running));
    return 0;
}

/* ---- portals into a running loop ---- */

typedef struct caller {
    eddy_portal *p;
    int (*fn)(void *);
    int n, rc;
    eddy_promise done;
} caller;

/* Prepare c for a thread that reports to this loop through c->done. */
static void caller_init(caller *c, eddy_portal *p, int (*fn)(void *))
{
    c->p = p;
    c->fn = fn;
    c->rc = 1;
    EDDY_OK(eddy_promise_init(&c->done));
    EDDY_OK(eddy_promise_arm_ts(&c->done));
}

/* One call from a thread, reported through the promise (the loop keeps running meanwhile). */
static void *call_fn(void *arg)
{
    caller *c = arg;
    c->rc = eddy_portal_call(c->p, c->fn, NULL);
    if (eddy_promise_set_ts(&c->done, NULL, 0) != 0) abort();
    return NULL;
}

static void call_from_thread(caller *c)
{
    pthread_t th;
    EDDY_CHECK_EQ(pthread_create(&th, NULL, call_fn, c), 0);
    EDDY_OK(eddy_promise_wait(&c->done, NULL));
    EDDY_CHECK_EQ(pthread_join(th, NULL), 0);
}

static int add_one(void *arg)
{
    int *v = arg;
    if (eddy_sleep(EDDY_USEC(10)) != 0) return -EIO;
    return *v + 1;
}

static void *call_many(void *arg)
{
    caller *c = arg;
    int v = 0;
    for (int i = 0; i < c->n; i++) {
        int r = eddy_portal_call(c->p, add_one, &v);
        if (r < 0) {
            c->rc = r;
            break;
        }
        v = r;
    }
    if (c->rc == 0) c->rc = v;
    if (eddy_promise_set_ts(&c->done, NULL, 0) != 0) abort();
    return NULL;
}

EDDY_TEST_EX(open_serves_the_running_loop, .real_clock = true)
{
    int rc;
    EDDY_NURSERY(n, &rc) {
        caller c = {.n = 100};
        EDDY_CHECK_EQ(eddy_portal_open(n, NULL), -EINVAL);
        EDDY_CHECK_EQ(eddy_portal_open(NULL, &c.p), -EINVAL);
        EDDY_OK(eddy_portal_open(n, &c.p));
        EDDY_CHECK(eddy_portal_loop(c.p) == eddy_loop_current());
        EDDY_CHECK_EQ(eddy_portal_stop(c.p), -EINVAL); /* opened portals are closed */
        EDDY_CHECK_EQ(eddy_portal_call(c.p, add_one, &c.n), -EDEADLK);
        EDDY_OK(eddy_promise_init(&c.done));
        EDDY_OK(eddy_promise_arm_ts(&c.done));
        pthread_t th;
        EDDY_CHECK_EQ(pthread_create(&th, NULL, call_many, &c), 0);
        EDDY_OK(eddy_promise_wait(&c.done, NULL));
        EDDY_CHECK_EQ(pthread_join(th, NULL), 0);
        EDDY_CHECK_EQ(c.rc, 100);
        /* A pool worker reaching back into the loop that waits for it (anyio from_thread). */
        g_portal = c.p;
        EDDY_CHECK_EQ(eddy_run_in_thread(call_self, NULL), 5);
        EDDY_OK(eddy_portal_close(c.p));
    }
    EDDY_CHECK_EQ(rc, 0);
    return 0;
}

static int close_self(void *arg)
{
    (void)arg;
    return eddy_portal_close(g_portal);
}

static void *close_from_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)eddy_portal_close(g_portal);
}

EDDY_TEST(open_needs_an_open_nursery)
{
    eddy_nursery n;
    EDDY_OK(eddy_nursery_open(&n));
    EDDY_OK(eddy_nursery_close(&n));
    eddy_portal *p = (eddy_portal *)1;
    EDDY_CHECK_EQ(eddy_portal_open(&n, &p), -EINVAL);
    EDDY_CHECK(p == NULL);
    return 0;
}

EDDY_TEST_EX(close_errors_and_requests_left_over, .real_clock = true)
{
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_portal_open(n, &g_portal));
        /* From a call of the portal itself: it would wait for itself. */
        caller c;
        caller_init(&c, g_portal, close_self);
        call_from_thread(&c);
        EDDY_CHECK_EQ(c.rc, -EDEADLK);
        /* From a thread without this loop. */
        pthread_t th;
        void *r;
        EDDY_CHECK_EQ(pthread_create(&th, NULL, close_from_thread, NULL), 0);
        EDDY_CHECK_EQ(pthread_join(th, &r), 0);
        EDDY_CHECK_EQ((intptr_t)r, -EPERM);
        /* A request posted but not yet handed to the server when the portal closes is
         * answered -ESHUTDOWN. Spin on the loop thread until the post is in the queue (this
         * blocks the loop on purpose), then close before the loop drains it. */
        caller_init(&c, g_portal, ret5);
        EDDY_CHECK_EQ(pthread_create(&th, NULL, call_fn, &c), 0);
        eddy_loop *l = eddy_loop_current();
        while (!atomic_load(&l->ts_head)) sched_yield();
        EDDY_OK(eddy_portal_close(g_portal));
        EDDY_OK(eddy_promise_wait(&c.done, NULL));
        EDDY_CHECK_EQ(pthread_join(th, NULL), 0);
        EDDY_CHECK_EQ(c.rc, -ESHUTDOWN);
    }
    EDDY_CHECK_EQ(rc, 0);
    return 0;
}

static int portal_in_nursery(void *arg)
{
    eddy_portal **pp = arg;
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_portal_open(n, pp));
        eddy_nursery_cancel(n); /* the server ends with it */
    }
    return rc;
}

EDDY_TEST_EX(a_cancelled_nursery_stops_the_server, .real_clock = true)
{
    eddy_portal *p;
    EDDY_OK(portal_in_nursery(&p));
    /* The server is gone: calls are refused, close only frees. */
    caller c;
    caller_init(&c, p, ret5);
    call_from_thread(&c);
    EDDY_CHECK_EQ(c.rc, -ESHUTDOWN);
    EDDY_OK(eddy_portal_close(p));
    return 0;
}

EDDY_TEST_EX(start_fails_without_descriptors, .raw = true)
{
    struct rlimit old, lim;
    EDDY_CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    int lowest_free = dup(0); /* new descriptors take the lowest free number */
    EDDY_CHECK(lowest_free >= 0);
    close(lowest_free);
    lim = old;
    lim.rlim_cur = (rlim_t)lowest_free; /* the loop cannot create its epoll/eventfd */
    EDDY_CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    eddy_portal *p = (eddy_portal *)1;
    int rc = eddy_portal_start(&p);
    EDDY_CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    EDDY_CHECK_EQ(rc, -EMFILE);
    EDDY_CHECK(p == NULL);
    EDDY_OK(eddy_portal_start(&p));
    EDDY_OK(eddy_portal_stop(p));
    return 0;
}
