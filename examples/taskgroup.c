/* taskgroup — anyio's task group example: three tasks sleeping 2, 1 and 3 s in one group,
 * then "All tasks completed.". Like anyio.run(main, backend=...), the backend is chosen at
 * run time: --backend NAME goes to eddy_run_opts (eddy_opts.backend; the environment
 * variable EDDY_BACKEND works too), and the program prints which backend ran it.
 *
 * Real time when run directly; EDDY_CLOCK=virtual runs it on the virtual clock. */
#include <stdio.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    eddy_opts opts = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            opts.backend = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--backend NAME]\n", argv[0]);
            return 2;
        }
    }
    int rc = eddy_run_opts(amain, NULL, &opts);
    if (rc == -EINVAL && opts.backend) {
        fprintf(stderr, "taskgroup: unknown backend \"%s\"\n", opts.backend);
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "taskgroup: %s\n", eddy_strerror(rc));
        return 1;
    }
    return 0;
}
