/* taskgroup — anyio's task group example: three tasks sleeping 2, 1 and 3 s in one group,
 * then "All tasks completed.". Like anyio.run(main, backend=...), the backend is chosen at
 * run time: --backend NAME goes to eddy_run_opts (eddy_opts.backend; the environment
 * variable EDDY_BACKEND works too), and the program prints which backend ran it.
 *
 * Real time when run directly; EDDY_CLOCK=virtual runs it on the virtual clock. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eddy.h"

struct job {
    int num;
    int seconds;
};

static int sometask(void *arg)
{
    const struct job *j = arg;
    printf("Task %d running (%d s)\n", j->num, j->seconds);
    fflush(stdout);
    int rc = eddy_sleep(EDDY_SEC(j->seconds));
    if (rc < 0) return rc;
    printf("Task %d finished\n", j->num);
    fflush(stdout);
    return 0;
}

static int amain(void *arg)
{
    (void)arg;
    printf("backend: %s\n", eddy_backend_name());
    fflush(stdout);
    static const struct job jobs[] = {{1, 2}, {2, 1}, {3, 3}};
    int rc, s = 0;
    EDDY_NURSERY(tg, &rc) {
        for (size_t i = 0; i < 3; i++) {
            char name[16];
            snprintf(name, sizeof name, "task-%d", jobs[i].num);
            s = eddy_spawn(tg, sometask, (void *)&jobs[i], .name = name);
            if (s < 0) {
                eddy_nursery_cancel(tg); /* stop the ones already running, then report */
                break;
            }
        }
    }
    if (s < 0) return s;
    if (rc < 0) return rc;
    printf("All tasks completed.\n");
    fflush(stdout);
    return 0;
}

static const char usage[] =
    "usage: taskgroup [--backend NAME]\n"
    "Three tasks sleep 2, 1 and 3 s in one nursery, then \"All tasks completed.\".\n"
    "  --backend NAME   the I/O backend to run on (eddy_opts.backend): epoll\n"
    "EDDY_CLOCK=virtual in the environment: no real waiting.\n";

int main(int argc, char **argv)
{
    eddy_opts opts = {0};
    cli_help(argc, argv, usage);
    int i = 1;
    if (i < argc && strcmp(argv[i], "--backend") == 0) {
        if (i + 1 >= argc) cli_fail("taskgroup", usage, "--backend needs a NAME");
        opts.backend = argv[i + 1];
        i += 2;
    }
    cli_no_more(argc, argv, i, "taskgroup", usage);
    int rc = eddy_run_opts(amain, NULL, &opts);
    if (rc == -EINVAL && opts.backend) {
        cli_fail("taskgroup", usage, "unknown backend '%s'", opts.backend);
    }
    if (rc < 0) {
        fprintf(stderr, "taskgroup: %s\n", eddy_strerror(rc));
        return 1;
    }
    return 0;
}
