/* to_thread_demo — blocking work on the thread pool while the loop stays live (asyncio's
 * to_thread, trio's to_thread.run_sync).
 *
 * Four jobs each block their thread in a plain nanosleep of 1 s, run through
 * eddy_run_in_thread; meanwhile a ticker task prints a tick every 100 ms. The jobs run side
 * by side on pool workers and the loop thread never blocks, so the whole takes about 1 s (not
 * 4) and the ticker ticks about 10 times. The last line says both:
 *
 *   tick 1 at 0.10 s
 *   ...
 *   job 3 finished at 1.00 s
 *   ...
 *   4 blocking jobs of 1 s each took 1.00 s in all; the loop ticked 10 times meanwhile
 *
 * The sleeps are real (they happen on worker threads, outside the loop's clock), so run it on
 * the real clock. Exit status 0, or 1 if the runtime fails. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "eddy.h"

enum { JOBS = 4 };

static int64_t t0;
static uint64_t ticks;

static double since_start(void) { return (double)(eddy_now_fresh() - t0) / 1e9; }

/* Runs on a pool worker: a blocking call the loop could not survive. */
static int blocking_job(void *arg)
{
    struct timespec ts = {1, 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return (int)(intptr_t)arg;
}

static int run_job(void *arg)
{
    int rc = eddy_run_in_thread(blocking_job, arg);
    if (rc < 0) return rc;
    printf("job %d finished at %.2f s\n", rc, since_start());
    fflush(stdout);
    return 0;
}

static int ticker(void *arg)
{
    (void)arg;
    eddy_ticker tk = {0};
    int rc = eddy_ticker_start(&tk, EDDY_MSEC(100), EDDY_TICK_FIXED_RATE);
    if (rc < 0) return rc;
    uint64_t n;
    while ((rc = eddy_ticker_wait(&tk, &n)) == 0) {
        ticks = n;
        printf("tick %llu at %.2f s\n", (unsigned long long)n, since_start());
        fflush(stdout);
    }
    eddy_ticker_stop(&tk);
    return rc == -ECANCELED ? 0 : rc;
}

static int amain(void *arg)
{
    (void)arg;
    t0 = eddy_now_fresh();
    int rc, jobs_rc = 0;
    eddy_task *tick_task = NULL;
    EDDY_NURSERY(n, &rc) {
        int s = eddy_spawn(n, ticker, NULL, .name = "ticker", .handle = &tick_task);
        EDDY_NURSERY(jobs, &jobs_rc) {
            for (int i = 1; i <= JOBS && s == 0; i++)
                s = eddy_spawn(jobs, run_job, (void *)(intptr_t)i, .name = "job");
            if (s < 0) eddy_nursery_cancel(jobs);
        }
        if (s < 0 && jobs_rc == 0) jobs_rc = s;
        if (tick_task) eddy_task_cancel(tick_task);
    }
    if (jobs_rc < 0) return jobs_rc;
    if (rc < 0) return rc;
    printf("%d blocking jobs of 1 s each took %.2f s in all; the loop ticked %llu times meanwhile\n",
           JOBS, since_start(), (unsigned long long)ticks);
    fflush(stdout);
    return 0;
}

int main(void)
{
    int rc = eddy_run(amain, NULL);
    if (rc < 0) {
        fprintf(stderr, "to_thread_demo: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}
