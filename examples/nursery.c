/* nursery — trio's nursery tutorial: a parent starts children A (2 s), B (1 s) and C (3 s)
 * at once; they finish B, A, C, and only then does the parent go on.
 *
 *   nursery            every child finishes; exit status 0
 *   nursery --fail B   B fails with EIO after its second: the nursery cancels A and C, waits
 *                      for them to unwind, and returns B's error, which the parent prints with
 *                      the failed task's name (eddy_nursery_errors, B2); exit status 1
 *
 * Real time when run directly; EDDY_CLOCK=virtual runs it on the virtual clock. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eddy.h"

struct child {
    const char *name;
    int seconds;
    bool fail;
};

/* printf, then flush, so the lines keep their order when stdout is a pipe. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static int child(void *arg)
{
    const struct child *c = arg;
    say("%s: started, sleeping %d s\n", c->name, c->seconds);
    int rc = eddy_sleep(EDDY_SEC(c->seconds));
    if (rc == -ECANCELED) {
        /* Level-triggered: every further blocking call here would return -ECANCELED too,
         * so the only sensible thing is to unwind. */
        say("%s: cancelled\n", c->name);
        return rc;
    }
    if (rc < 0) return rc;
    if (c->fail) {
        say("%s: failing with %s\n", c->name, eddy_strerror(-EIO));
        eddy_task_set_error_detail("simulated I/O failure");
        return -EIO;
    }
    say("%s: finished\n", c->name);
    return 0;
}

struct args {
    const char *fail; /* name of the child that fails, or NULL */
};

static int amain(void *arg)
{
    const struct args *a = arg;
    struct child kids[] = {{"A", 2, false}, {"B", 1, false}, {"C", 3, false}};
    for (size_t i = 0; i < 3; i++)
        kids[i].fail = a->fail && strcmp(a->fail, kids[i].name) == 0;

    printf("parent: starting children\n");
    fflush(stdout);
    eddy_nursery n;
    int rc = eddy_nursery_open(&n);
    if (rc < 0) return rc;
    for (size_t i = 0; i < 3; i++) {
        rc = eddy_spawn(&n, child, &kids[i], .name = kids[i].name);
        if (rc < 0) {
            eddy_nursery_cancel(&n); /* cannot spawn: stop the others, then report */
            break;
        }
    }
    printf("parent: waiting for children\n");
    fflush(stdout);
    int st = eddy_nursery_close(&n); /* waits for every child; first error comes out */
    if (rc < 0) return rc;
    if (st < 0) {
        printf("parent: nursery failed: %s\n", eddy_strerror(st));
        eddy_task_error errs[EDDY_NURSERY_MAX_ERRORS];
        size_t ne = eddy_nursery_errors(&n, errs, EDDY_NURSERY_MAX_ERRORS);
        for (size_t i = 0; i < ne && i < EDDY_NURSERY_MAX_ERRORS; i++)
            printf("parent: task %s failed: %s (%d)%s%s\n", errs[i].name, eddy_strerror(errs[i].code),
                   errs[i].code, errs[i].detail ? ": " : "", errs[i].detail ? errs[i].detail : "");
        fflush(stdout);
        return st;
    }
    printf("parent: all children finished\n");
    fflush(stdout);
    return 0;
}

static const char usage[] =
    "usage: nursery [--fail A|B|C]\n"
    "A parent starts children A (2 s), B (1 s) and C (3 s) in a nursery and waits for them.\n"
    "  --fail X   child X fails after its sleep: the nursery cancels the others and the\n"
    "             program exits with status 1, naming the failed child\n"
    "EDDY_CLOCK=virtual in the environment: no real waiting.\n";

int main(int argc, char **argv)
{
    struct args a = {NULL};
    cli_help(argc, argv, usage);
    int i = 1;
    if (i < argc && strcmp(argv[i], "--fail") == 0) {
        if (i + 1 >= argc) cli_fail("nursery", usage, "--fail needs a child: A, B or C");
        const char *c = argv[i + 1];
        if (strcmp(c, "A") != 0 && strcmp(c, "B") != 0 && strcmp(c, "C") != 0)
            cli_fail("nursery", usage, "no child '%s' (A, B or C)", c);
        a.fail = c;
        i += 2;
    }
    cli_no_more(argc, argv, i, "nursery", usage);
    int rc = eddy_run(amain, &a);
    if (rc < 0) {
        fprintf(stderr, "nursery: %s\n", eddy_strerror(rc));
        return 1;
    }
    return 0;
}
