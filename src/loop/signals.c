/* eddy loop: graceful SIGINT/SIGTERM (B9) for the loop that eddy_run started first.
 *
 * A sigaction handler (process-wide, whatever thread receives the signal) counts the signal
 * and wakes the loop through its eventfd — both async-signal-safe. The loop, at a safe point
 * in its iteration, cancels the root scope: every task unwinds through its cancel paths.
 * A second signal before the program ends restores the default action and re-raises it, so
 * a stuck shutdown can always be interrupted. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <unistd.h>

#include "internal.h"

static eddy_loop *_Atomic sig_loop;
static struct sigaction prev_int, prev_term;

static void on_signal(int sig)
{
    int saved = errno;
    eddy_loop *l = atomic_load(&sig_loop);
    if (!l || atomic_fetch_add(&l->sig_count, 1) >= 1) {
        signal(sig, SIG_DFL);
        raise(sig);
        errno = saved;
        return;
    }
    l->be->wake(l); /* a write(2) to an eventfd: async-signal-safe */
    errno = saved;
}

int eddy__signals_install(eddy_loop *l)
{
    eddy_loop *expect = NULL;
    if (!atomic_compare_exchange_strong(&sig_loop, &expect, l)) return -EBUSY; /* another loop */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, &prev_int) < 0 || sigaction(SIGTERM, &sa, &prev_term) < 0) {
        int e = errno;
        atomic_store(&sig_loop, NULL);
        return -e;
    }
    l->signals_installed = true;
    return 0;
}

void eddy__signals_restore(eddy_loop *l)
{
    if (!l->signals_installed) return;
    sigaction(SIGINT, &prev_int, NULL);
    sigaction(SIGTERM, &prev_term, NULL);
    atomic_store(&sig_loop, NULL);
    l->signals_installed = false;
}

void eddy__signals_check(eddy_loop *l)
{
    int n = atomic_load(&l->sig_count);
    if (n > 0 && l->sig_handled == 0) {
        l->sig_handled = n;
        eddy__scope_cancel_code(&l->root_cs, -ECANCELED);
        /* Only the first loop has the handler: under eddy_run_workers it stands for all. */
        if (l->group) eddy__workers_cancel(l->group);
    }
}
