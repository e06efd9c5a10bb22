/* hello_sleep — the hello world of every async library (asyncio, trio, anyio, uvloop):
 * print, sleep one second without blocking the loop, print again.
 *
 * Real time when run directly; EDDY_CLOCK=virtual runs it on the virtual clock (no wait). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eddy.h"

static int amain(void *arg)
{
    (void)arg;
    printf("Hello ...\n");
    fflush(stdout);
    /* A blocking-style call that suspends only this task: the loop keeps running. */
    int rc = eddy_sleep(EDDY_SEC(1));
    if (rc < 0) return rc;
    printf("... World!\n");
    fflush(stdout);
    return 0;
}

static const char usage[] = "usage: hello_sleep\n"
                            "Print \"Hello ...\", sleep one second without blocking the loop,\n"
                            "then print \"... World!\".\n"
                            "EDDY_CLOCK=virtual in the environment: no real waiting.\n";

int main(int argc, char **argv)
{
    cli_help(argc, argv, usage);
    cli_no_more(argc, argv, 1, "hello_sleep", usage);
    int rc = eddy_run(amain, NULL);
    if (rc < 0) {
        fprintf(stderr, "hello_sleep: %s\n", eddy_strerror(rc));
        return 1;
    }
    return 0;
}
