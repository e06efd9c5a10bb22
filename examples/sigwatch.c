/* sigwatch — print the name of each SIGHUP, SIGUSR1 or SIGUSR2 it receives, one per line;
 * on SIGINT or SIGTERM print "stopping" and exit 0.
 *
 *   $ sigwatch &
 *   $ kill -HUP %1; kill -USR1 %1; kill -TERM %1
 *   SIGHUP
 *   SIGUSR1
 *   stopping
 *
 * One signal receiver takes all five signals (a receiver of SIGINT and SIGTERM replaces
 * eddy_run's own handling of them while it is open): the task simply loops on
 * eddy_signal_receive. The signals are blocked in the loop's thread and read from a signalfd,
 * so no signal handler runs at all (include/eddy/signal.h). A signal sent again before the
 * previous one was printed is coalesced with it, as the kernel does with pending signals. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "eddy.h"

static int watch(void *arg)
{
    (void)arg;
    eddy_signal_receiver r;
    int rc = eddy_signal_open(&r, SIGHUP, SIGUSR1, SIGUSR2, SIGINT, SIGTERM);
    if (rc < 0) {
        fprintf(stderr, "sigwatch: %s\n", strerror(-rc));
        return rc;
    }
    for (;;) {
        int sig = eddy_signal_receive(&r);
        if (sig < 0) {
            rc = sig;
            break;
        }
        if (sig == SIGINT || sig == SIGTERM) {
            printf("stopping\n");
            rc = 0;
            break;
        }
        printf("SIG%s\n", eddy_signal_name(sig));
        fflush(stdout); /* a line as soon as it happens, also into a pipe */
    }
    fflush(stdout);
    eddy_signal_close(&r);
    return rc;
}

int main(void)
{
    int rc = eddy_run(watch, NULL);
    if (rc < 0) fprintf(stderr, "sigwatch: %s\n", strerror(-rc));
    return rc == 0 ? 0 : 1;
}
