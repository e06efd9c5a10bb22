/* 1,000 spawns leave no descriptor, no child (zombie or not) and no memory behind, with pidfd
 * and with the SIGCHLD fallback. A file of its own: the longest process test, with a time
 * budget of its own (label "heavy"). */
#include <malloc.h>
#include <signal.h>

#include "eddy/test.h"
#include "test_process_util.h"

PROC_TEST_EX(a_thousand_spawns_leave_nothing_behind, .timeout = EDDY_SEC(120))
{
    eddy_process p;
    /* Warm up: the first spawns set up things that stay (the fd table, malloc arenas). */
    for (int i = 0; i < 20; i++) {
        SPAWN(&p, ARGV("true"), NULL);
        EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
        EDDY_OK(eddy_process_close(&p));
    }
    int fds = eddy_test_fd_count();
    struct mallinfo2 m0 = mallinfo2();
    for (int i = 0; i < 1000; i++) {
        eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
        if (i % 2) o.stdout_mode = o.stdin_mode = EDDY_STDIO_PIPE;
        SPAWN(&p, ARGV("true"), &o);
        EDDY_CHECK_EQ(eddy_process_wait(&p), 0);
        EDDY_OK(eddy_process_close(&p));
    }
    struct mallinfo2 m1 = mallinfo2();
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
    EDDY_CHECK_EQ(count_children(), 0);
    /* Memory in use does not grow with the number of spawns (under ASan mallinfo says
     * nothing: LeakSanitizer checks the case instead). */
    EDDY_CHECK(m1.uordblks <= m0.uordblks + 64 * 1024);
    struct sigaction cur;
    EDDY_CHECK(sigaction(SIGCHLD, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL);
    return 0;
}

int main(int argc, char **argv) { return eddy_test_main(argc, argv); }
