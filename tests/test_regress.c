/* Regression tests for bugs found across subsystems (each failed before its fix). */
#include "eddy/test.h"

static int sleep_once(void *arg)
{
    (void)arg;
    return eddy_sleep(1);
}

/* Under ASan, the second eddy_run in a process reused a pooled stack whose previous task's
 * frames (which never return) left poisoned redzones: eddy__ctx_make then tripped a
 * stack-buffer-overflow report. Fixed by unpoisoning a stack when a task takes it. */
EDDY_TEST_EX(regress_asan_second_run_reuses_stack, .raw = true)
{
    eddy_opts o = {.clock_kind = EDDY_CLOCK_VIRTUAL, .flags = EDDY_OPT_NO_SIGNALS};
    for (int i = 0; i < 3; i++) EDDY_CHECK_EQ(eddy_run_opts(sleep_once, NULL, &o), 0);
    return 0;
}
