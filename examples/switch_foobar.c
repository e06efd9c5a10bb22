/* switch_foobar — gevent's "synchronous & asynchronous execution" example: two tasks hand
 * control to each other at explicit switch points.
 *
 * eddy_spawn is eager (A8): the child runs at once until it first blocks, so foo prints
 * before the parent spawns bar. eddy_yield puts the caller at the back of the ready queue,
 * which makes the order below exact:
 *   Running in foo
 *   Explicit context to bar
 *   Explicit context switch to foo again
 *   Implicit context switch back to bar */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eddy.h"

static int say(const char *line)
{
    printf("%s\n", line);
    fflush(stdout);
    return 0;
}

static int foo(void *arg)
{
    (void)arg;
    say("Running in foo");
    int rc = eddy_yield(); /* gevent.sleep(0): let bar run */
    if (rc < 0) return rc;
    return say("Explicit context switch to foo again");
}

static int bar(void *arg)
{
    (void)arg;
    say("Explicit context to bar");
    int rc = eddy_sleep(0); /* same as eddy_yield: a zero sleep is a switch point */
    if (rc < 0) return rc;
    return say("Implicit context switch back to bar");
}

static int amain(void *arg)
{
    (void)arg;
    eddy_nursery n;
    int rc = eddy_nursery_open(&n);
    if (rc < 0) return rc;
    int s1 = eddy_spawn(&n, foo, NULL, .name = "foo");
    int s2 = s1 < 0 ? 0 : eddy_spawn(&n, bar, NULL, .name = "bar");
    if (s1 < 0 || s2 < 0) eddy_nursery_cancel(&n);
    rc = eddy_nursery_close(&n); /* gevent.joinall([foo, bar]) */
    if (s1 < 0) return s1;
    if (s2 < 0) return s2;
    return rc;
}

static const char usage[] = "usage: switch_foobar\n"
                            "Two tasks hand control to each other at explicit switch points.\n";

int main(int argc, char **argv)
{
    cli_help(argc, argv, usage);
    cli_no_more(argc, argv, 1, "switch_foobar", usage);
    int rc = eddy_run(amain, NULL);
    if (rc < 0) {
        fprintf(stderr, "switch_foobar: %s\n", eddy_strerror(rc));
        return 1;
    }
    return 0;
}
