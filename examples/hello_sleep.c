/* hello_sleep — the hello world of every async library (asyncio, trio, anyio, uvloop):
 * print, sleep one second without blocking the loop, print again.
 *
 * Real time when run directly; EDDY_CLOCK=virtual runs it on the virtual clock (no wait). */
#include <stdio.h>
#include <string.h>

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

int main(void)
{
    int rc = eddy_run(amain, NULL);
    if (rc < 0) {
        fprintf(stderr, "hello_sleep: %s\n", eddy_strerror(rc));
        return 1;
    }
    return 0;
}
