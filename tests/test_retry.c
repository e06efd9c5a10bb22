/* eddy_retry (W4) on the virtual clock with a seeded jitter source: the delays backoff's expo
 * and full_jitter would give, the budgets (tries, total time), the classifier, the enclosing
 * deadline (never slept past: the last error instead), cancellation, and bad policies. */
#include <errno.h>
#include <string.h>

#include "eddy/test.h"

typedef struct attempt {
    int calls;
    int fail_until;   /* calls before this one fail */
    int err;          /* with this error */
    int64_t at[32];   /* when each call was made */
    int64_t delay[32];/* what on_backoff was told */
    uint32_t tries[32];
    int errs[32];
    int nb;
} attempt;

static int flaky(void *arg)
{
    attempt *a = arg;
    if (a->calls < 32) a->at[a->calls] = eddy_now();
    a->calls++;
    return a->calls < a->fail_until || a->fail_until < 0 ? a->err : 7;
}

static void on_backoff(void *ctx, uint32_t tries, int err, int64_t delay)
{
    attempt *a = ctx;
    if (a->nb < 32) {
        a->tries[a->nb] = tries;
        a->errs[a->nb] = err;
        a->delay[a->nb] = delay;
    }
    a->nb++;
}

/* splitmix64: a seeded, reproducible uniform source */
static uint64_t seeded(void *ctx)
{
    uint64_t *s = ctx;
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static eddy_backoff policy(attempt *a, int jitter)
{
    eddy_backoff b = EDDY_BACKOFF_INIT;
    b.base = EDDY_MSEC(100);
    b.factor = 2;
    b.max_delay = EDDY_SEC(1);
    b.jitter = jitter;
    b.max_tries = 10;
    b.on_backoff = on_backoff;
    b.on_backoff_ctx = a;
    return b;
}

EDDY_TEST(exponential_delays_without_jitter)
{
    attempt a = {.fail_until = 7, .err = -ECONNREFUSED};
    eddy_backoff b = policy(&a, EDDY_JITTER_NONE);
    int64_t t0 = eddy_now();
    EDDY_CHECK_EQ(eddy_retry(flaky, &a, &b), 7); /* fn's success value comes back */
    EDDY_CHECK_EQ(a.calls, 7);
    /* 0.1, 0.2, 0.4, 0.8, then capped at max_delay: 1, 1 */
    const int64_t want[] = {EDDY_MSEC(100), EDDY_MSEC(200), EDDY_MSEC(400), EDDY_MSEC(800),
                            EDDY_SEC(1), EDDY_SEC(1)};
    EDDY_CHECK_EQ(a.nb, 6);
    int64_t t = t0;
    for (int i = 0; i < 6; i++) {
        EDDY_CHECK_EQ(a.delay[i], want[i]);
        EDDY_CHECK_EQ(a.tries[i], (uint32_t)i + 1);
        EDDY_CHECK_EQ(a.errs[i], -ECONNREFUSED);
        EDDY_CHECK_EQ(a.at[i] - t, 0);
        t = a.at[i] + want[i];
    }
    EDDY_CHECK_EQ(a.at[6], t);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_MSEC(3500));
    /* success at once: one call, no sleep */
    attempt ok = {.fail_until = 0};
    b = policy(&ok, EDDY_JITTER_NONE);
    t0 = eddy_now();
    EDDY_CHECK_EQ(eddy_retry(flaky, &ok, &b), 7);
    EDDY_CHECK_EQ(ok.calls, 1);
    EDDY_CHECK_EQ(eddy_now(), t0);
    return 0;
}

/* Full jitter: each delay uniform in [0, d], drawn from the caller's source: the same seed
 * gives the same delays, all within bounds, and the clock moves by exactly their sum. */
EDDY_TEST(full_and_equal_jitter_are_reproducible)
{
    for (int j = 0; j < 2; j++) {
        int jitter = j ? EDDY_JITTER_EQUAL : EDDY_JITTER_FULL;
        int64_t first[8];
        for (int round = 0; round < 2; round++) {
            attempt a = {.fail_until = 9, .err = -EIO};
            uint64_t seed = 42;
            eddy_backoff b = policy(&a, jitter);
            b.random = seeded;
            b.random_ctx = &seed;
            int64_t t0 = eddy_now();
            EDDY_CHECK_EQ(eddy_retry(flaky, &a, &b), 7);
            EDDY_CHECK_EQ(a.nb, 8);
            int64_t sum = 0, cap = EDDY_MSEC(100);
            bool varied = false;
            for (int i = 0; i < 8; i++) {
                int64_t lo = jitter == EDDY_JITTER_FULL ? 0 : cap / 2;
                EDDY_CHECK(a.delay[i] >= lo && a.delay[i] <= cap);
                if (round == 0) first[i] = a.delay[i];
                else EDDY_CHECK_EQ(a.delay[i], first[i]);
                if (a.delay[i] != cap) varied = true;
                sum += a.delay[i];
                cap = cap * 2 > EDDY_SEC(1) ? EDDY_SEC(1) : cap * 2;
            }
            EDDY_CHECK(varied);
            EDDY_CHECK_EQ(eddy_now() - t0, sum);
        }
    }
    /* the default source works too (delays within bounds) */
    attempt a = {.fail_until = 4, .err = -EIO};
    eddy_backoff b = policy(&a, EDDY_JITTER_FULL);
    EDDY_CHECK_EQ(eddy_retry(flaky, &a, &b), 7);
    EDDY_CHECK(a.delay[0] <= EDDY_MSEC(100) && a.delay[1] <= EDDY_MSEC(200) && a.delay[2] <= EDDY_MSEC(400));
    return 0;
}

EDDY_TEST(max_tries_and_max_time)
{
    attempt a = {.fail_until = -1, .err = -EAGAIN};
    eddy_backoff b = policy(&a, EDDY_JITTER_NONE);
    b.max_tries = 3;
    EDDY_CHECK_EQ(eddy_retry(flaky, &a, &b), -EAGAIN); /* the last error */
    EDDY_CHECK_EQ(a.calls, 3);
    EDDY_CHECK_EQ(a.nb, 2);
    /* max_tries 1: no retry */
    attempt one = {.fail_until = -1, .err = -EAGAIN};
    b = policy(&one, EDDY_JITTER_NONE);
    b.max_tries = 1;
    EDDY_CHECK_EQ(eddy_retry(flaky, &one, &b), -EAGAIN);
    EDDY_CHECK_EQ(one.calls, 1);
    /* max_time 1 s: sleeps 0.1, 0.2, 0.4, then the last cut to what is left (0.3), one more
     * call at exactly 1 s, and no more (backoff's rules) */
    attempt t = {.fail_until = -1, .err = -EAGAIN};
    b = policy(&t, EDDY_JITTER_NONE);
    b.max_tries = EDDY_RETRY_FOREVER;
    b.max_time = EDDY_SEC(1);
    int64_t t0 = eddy_now();
    EDDY_CHECK_EQ(eddy_retry(flaky, &t, &b), -EAGAIN);
    EDDY_CHECK_EQ(t.calls, 5);
    EDDY_CHECK_EQ(t.delay[3], EDDY_MSEC(300));
    EDDY_CHECK_EQ(t.at[4] - t0, EDDY_SEC(1));
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
    /* max_time 0: one call */
    attempt z = {.fail_until = -1, .err = -EAGAIN};
    b = policy(&z, EDDY_JITTER_NONE);
    b.max_time = 0;
    EDDY_CHECK_EQ(eddy_retry(flaky, &z, &b), -EAGAIN);
    EDDY_CHECK_EQ(z.calls, 1);
    return 0;
}

static bool only_refused(int err, void *ctx)
{
    int *seen = ctx;
    ++*seen;
    return err == -ECONNREFUSED;
}

static int refused_then_denied(void *arg)
{
    attempt *a = arg;
    a->calls++;
    return a->calls < 3 ? -ECONNREFUSED : -EACCES;
}

EDDY_TEST(classifier_stops_at_a_permanent_error)
{
    attempt a = {0};
    int seen = 0;
    eddy_backoff b = policy(&a, EDDY_JITTER_NONE);
    b.retryable = only_refused;
    b.retryable_ctx = &seen;
    EDDY_CHECK_EQ(eddy_retry(refused_then_denied, &a, &b), -EACCES);
    EDDY_CHECK_EQ(a.calls, 3);
    EDDY_CHECK_EQ(seen, 3);
    EDDY_CHECK_EQ(a.nb, 2);
    /* the HTTP client's classifier */
    EDDY_CHECK(eddy_http_client_retryable(-ECONNREFUSED, NULL));
    EDDY_CHECK(eddy_http_client_retryable(EDDY_EHTTP_HEADERS_TIMEOUT, NULL));
    EDDY_CHECK(eddy_http_client_retryable(EDDY_EDNSTIMEDOUT, NULL));
    EDDY_CHECK(!eddy_http_client_retryable(EDDY_ENONAME, NULL));
    EDDY_CHECK(!eddy_http_client_retryable(EDDY_ETLS_VERIFY, NULL));
    EDDY_CHECK(!eddy_http_client_retryable(EDDY_EHTTP_BADURL, NULL));
    EDDY_CHECK(!eddy_http_client_retryable(-ECANCELED, NULL));
    return 0;
}

/* The caller's deadline: a sleep that would end past it is not started; the last error comes
 * back at once (not -ETIMEDOUT after a wasted wait). */
EDDY_TEST(never_sleeps_past_the_enclosing_deadline)
{
    attempt a = {.fail_until = -1, .err = -ECONNRESET};
    eddy_backoff b = policy(&a, EDDY_JITTER_NONE);
    b.max_tries = EDDY_RETRY_FOREVER;
    int rc = 0;
    int64_t t0 = eddy_now();
    EDDY_FAIL_AFTER(EDDY_MSEC(500)) { rc = eddy_retry(flaky, &a, &b); }
    /* calls at 0, 0.1, 0.3; the next sleep (0.4) would end at 0.7 > 0.5 */
    EDDY_CHECK_EQ(rc, -ECONNRESET);
    EDDY_CHECK_EQ(a.calls, 3);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_MSEC(300));
    /* a sleep ending exactly at the deadline is not started either */
    attempt e = {.fail_until = -1, .err = -ECONNRESET};
    b = policy(&e, EDDY_JITTER_NONE);
    t0 = eddy_now();
    EDDY_MOVE_ON_AFTER(EDDY_MSEC(300)) { rc = eddy_retry(flaky, &e, &b); }
    EDDY_CHECK_EQ(rc, -ECONNRESET);
    EDDY_CHECK_EQ(e.calls, 2);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_MSEC(100));
    return 0;
}

/* Cancellation: a sleep cut by an explicit cancel returns the cancel code; an error made while
 * the caller is being cancelled is not retried. */
static int cancel_me(void *arg)
{
    eddy_cancel_scope *cs = arg;
    eddy_cancel_scope_cancel(cs);
    return -EIO;
}

typedef struct canceller {
    eddy_cancel_scope *cs;
    int64_t after;
} canceller;

static int cancel_later(void *arg)
{
    canceller *c = arg;
    int rc = eddy_sleep(c->after);
    if (rc == 0) eddy_cancel_scope_cancel(c->cs);
    return 0;
}

EDDY_TEST(cancellation_ends_retries)
{
    eddy_cancel_scope cs;
    int rc = 0;
    EDDY_CANCEL_SCOPE(&cs) { rc = eddy_retry(cancel_me, &cs, NULL); }
    EDDY_CHECK_EQ(rc, -ECANCELED);
    attempt a = {.fail_until = -1, .err = -EIO};
    eddy_backoff b = policy(&a, EDDY_JITTER_NONE);
    int nrc = 0;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(n, &nrc) {
        eddy_cancel_scope inner;
        canceller k = {.cs = &inner, .after = EDDY_MSEC(150)};
        EDDY_CANCEL_SCOPE(&inner) {
            EDDY_OK(eddy_spawn(n, cancel_later, &k));
            rc = eddy_retry(flaky, &a, &b);
        }
    }
    EDDY_OK(nrc);
    EDDY_CHECK_EQ(rc, -ECANCELED);
    EDDY_CHECK_EQ(a.calls, 2); /* at 0 and 0.1; cancelled in the 0.2 sleep */
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_MSEC(150));
    return 0;
}

static eddy_backoff cb_policy;
static int cb_rc;
static void outside(void *arg)
{
    (void)arg;
    cb_rc = eddy_retry(flaky, &(attempt){0}, &cb_policy);
}

EDDY_TEST(bad_policies)
{
    attempt a = {0};
    eddy_backoff b = policy(&a, EDDY_JITTER_NONE);
    EDDY_CHECK_EQ(eddy_retry(NULL, &a, &b), -EINVAL);
    eddy_backoff x = b;
    x.base = -1;
    EDDY_CHECK_EQ(eddy_retry(flaky, &a, &x), -EINVAL);
    x = b;
    x.max_delay = -1;
    EDDY_CHECK_EQ(eddy_retry(flaky, &a, &x), -EINVAL);
    x = b;
    x.max_time = -1;
    EDDY_CHECK_EQ(eddy_retry(flaky, &a, &x), -EINVAL);
    x = b;
    x.factor = 0.5;
    EDDY_CHECK_EQ(eddy_retry(flaky, &a, &x), -EINVAL);
    x.factor = 0.0 / 0.0;
    EDDY_CHECK_EQ(eddy_retry(flaky, &a, &x), -EINVAL);
    x = b;
    x.jitter = 7;
    EDDY_CHECK_EQ(eddy_retry(flaky, &a, &x), -EINVAL);
    x = b;
    x.max_tries = 0;
    EDDY_CHECK_EQ(eddy_retry(flaky, &a, &x), -EINVAL);
    EDDY_CHECK_EQ(a.calls, 0);
    /* a zero-filled policy: literal zeros (max_tries 0) */
    eddy_backoff zero;
    memset(&zero, 0, sizeof zero);
    EDDY_CHECK_EQ(eddy_retry(flaky, &a, &zero), -EINVAL);
    /* NULL: the defaults (100 ms, x2, full jitter, 5 tries) */
    attempt d = {.fail_until = -1, .err = -EIO};
    int64_t t0 = eddy_now();
    EDDY_CHECK_EQ(eddy_retry(flaky, &d, NULL), -EIO);
    EDDY_CHECK_EQ(d.calls, 5);
    EDDY_CHECK(eddy_now() - t0 <= EDDY_MSEC(100 + 200 + 400 + 800));
    /* outside a task */
    cb_policy = b;
    EDDY_OK(eddy_call_soon(outside, NULL));
    EDDY_OK(eddy_yield());
    EDDY_CHECK_EQ(cb_rc, -EPERM);
    return 0;
}
