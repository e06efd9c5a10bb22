/* fetch_gather — asyncio's create_task/gather timing demo: two simulated one-second fetches
 * run one after the other (about 2 s), then concurrently (about 1 s).
 *
 * The concurrent run uses eddy_gather (A5): every item runs in an internal nursery and the
 * results land in caller-owned slots (struct fetch below), so nothing is allocated. Times
 * are measured with eddy_now(); with EDDY_CLOCK=virtual they are exact (2.00 s / 1.00 s). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eddy.h"

struct fetch {
    const char *url;
    int64_t latency;
    int result; /* filled in by fetch(): the caller owns the slot */
};

static int fetch(void *arg)
{
    struct fetch *f = arg;
    printf("fetching %s\n", f->url);
    fflush(stdout);
    int rc = eddy_sleep(f->latency); /* stands in for network I/O */
    if (rc < 0) return rc;
    f->result = (int)strlen(f->url) * 100;
    printf("fetched %s: %d\n", f->url, f->result);
    fflush(stdout);
    return 0;
}

static int amain(void *arg)
{
    (void)arg;
    struct fetch f[2] = {
        {.url = "https://example.com/a", .latency = EDDY_SEC(1)},
        {.url = "https://example.com/bb", .latency = EDDY_SEC(1)},
    };

    /* One after the other: each call blocks this task for its full latency. */
    int64_t t0 = eddy_now();
    for (int i = 0; i < 2; i++) {
        int rc = fetch(&f[i]);
        if (rc < 0) return rc;
    }
    int64_t seq = eddy_now() - t0;
    printf("sequential: %.2f s (results %d, %d)\n", (double)seq / 1e9, f[0].result, f[1].result);
    fflush(stdout);

    /* Concurrently: both sleeps overlap, so the total is the longest one. */
    f[0].result = f[1].result = 0;
    eddy_gather_item items[2] = {{.fn = fetch, .arg = &f[0]}, {.fn = fetch, .arg = &f[1]}};
    t0 = eddy_now();
    int rc = eddy_gather(items, 2);
    if (rc < 0) return rc;
    int64_t conc = eddy_now() - t0;
    printf("concurrent: %.2f s (results %d, %d)\n", (double)conc / 1e9, f[0].result, f[1].result);
    fflush(stdout);
    return 0;
}

static const char usage[] = "usage: fetch_gather\n"
                            "Two simulated one-second fetches, one after the other (2 s), then at once (1 s).\n"
                            "EDDY_CLOCK=virtual in the environment: no real waiting.\n";

int main(int argc, char **argv)
{
    cli_help(argc, argv, usage);
    cli_no_more(argc, argv, 1, "fetch_gather", usage);
    int rc = eddy_run(amain, NULL);
    if (rc < 0) {
        fprintf(stderr, "fetch_gather: %s\n", eddy_strerror(rc));
        return 1;
    }
    return 0;
}
