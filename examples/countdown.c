/* countdown — curio's first example: two countdowns running concurrently, each printing a
 * line and then sleeping one second, so their lines interleave once a second:
 * Alice counts down from 5, Bob from 3.
 *
 * Both tasks wake at the same instants; the timer heap fires equal deadlines in arming order
 * (Alice armed first), so the interleaving is the same on every run.
 * Real time when run directly; EDDY_CLOCK=virtual runs it on the virtual clock. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eddy.h"

struct counter {
    const char *name;
    int from;
};

static int countdown(void *arg)
{
    const struct counter *c = arg;
    for (int n = c->from; n > 0; n--) {
        printf("%s: %d\n", c->name, n);
        fflush(stdout);
        int rc = eddy_sleep(EDDY_SEC(1));
        if (rc < 0) return rc;
    }
    printf("%s: done\n", c->name);
    fflush(stdout);
    return 0;
}

static int amain(void *arg)
{
    (void)arg;
    static const struct counter alice = {"Alice", 5}, bob = {"Bob", 3};
    int rc, s = 0;
    EDDY_NURSERY(n, &rc) {
        s = eddy_spawn(n, countdown, (void *)&alice, .name = "Alice");
        if (s == 0) s = eddy_spawn(n, countdown, (void *)&bob, .name = "Bob");
        if (s < 0) eddy_nursery_cancel(n);
    }
    if (s < 0) return s;
    if (rc < 0) return rc;
    printf("both countdowns finished\n");
    fflush(stdout);
    return 0;
}

static const char usage[] = "usage: countdown\n"
                            "Two countdowns at once, one line a second: Alice from 5, Bob from 3.\n"
                            "EDDY_CLOCK=virtual in the environment: no real waiting.\n";

int main(int argc, char **argv)
{
    cli_help(argc, argv, usage);
    cli_no_more(argc, argv, 1, "countdown", usage);
    int rc = eddy_run(amain, NULL);
    if (rc < 0) {
        fprintf(stderr, "countdown: %s\n", eddy_strerror(rc));
        return 1;
    }
    return 0;
}
