/* Tests of the example programs (docs/capabilities.md, "Example programs"): each binary is run as a child
 * process on the virtual clock (EDDY_CLOCK=virtual) and its stdout compared with the exact
 * expected text, its exit status checked. The tests are raw (no loop in the test process):
 * the child has its own loop, and waitpid here must not block one. */
#include <dirent.h>

#include "test_run_util.h"

#define EX_DIR EDDY_BUILD_DIR "/examples"

static void run_example(run *r, bool virt, const char *const *argv)
{
    run_program(r, EX_DIR, virt, argv);
}

#define RUN(r, virt, ...) run_example((r), (virt), (const char *const[]){__VA_ARGS__, NULL})

/* ---- hello_sleep ---- */

static const char hello_expected[] = "Hello ...\n"
                                     "... World!\n";

EDDY_TEST_EX(hello_sleep_output, .raw = true)
{
    static run r;
    RUN(&r, true, "hello_sleep");
    CHECK_OUTPUT(&r, hello_expected);
    EDDY_CHECK_EQ(r.status, 0);
    EDDY_CHECK_EQ(r.err[0], '\0');
    return 0;
}

/* Without EDDY_CLOCK the example really waits (the sleep is on the monotonic clock): only a
 * lower bound is checked, so a loaded machine cannot make this fail. */
EDDY_TEST_EX(hello_sleep_real_clock_waits, .raw = true)
{
    static run r;
    RUN(&r, false, "hello_sleep");
    CHECK_OUTPUT(&r, hello_expected);
    EDDY_CHECK_EQ(r.status, 0);
    EDDY_CHECK(r.seconds >= 0.99);
    return 0;
}

/* ---- switch_foobar ---- */

EDDY_TEST_EX(switch_foobar_output, .raw = true)
{
    static run r;
    RUN(&r, true, "switch_foobar");
    CHECK_OUTPUT(&r, "Running in foo\n"
                     "Explicit context to bar\n"
                     "Explicit context switch to foo again\n"
                     "Implicit context switch back to bar\n");
    EDDY_CHECK_EQ(r.status, 0);
    return 0;
}

/* The order is a property of eager spawn and FIFO yields, not of time: the same on the real
 * clock. */
EDDY_TEST_EX(switch_foobar_real_clock, .raw = true)
{
    static run r;
    RUN(&r, false, "switch_foobar");
    EDDY_CHECK(strstr(r.out, "Running in foo\nExplicit context to bar\n") == r.out);
    EDDY_CHECK_EQ(r.status, 0);
    return 0;
}

/* ---- fetch_gather ---- */

EDDY_TEST_EX(fetch_gather_output, .raw = true)
{
    static run r;
    RUN(&r, true, "fetch_gather");
    /* On the virtual clock the totals are exact: 2 s one after the other, 1 s together. */
    CHECK_OUTPUT(&r, "fetching https://example.com/a\n"
                     "fetched https://example.com/a: 2100\n"
                     "fetching https://example.com/bb\n"
                     "fetched https://example.com/bb: 2200\n"
                     "sequential: 2.00 s (results 2100, 2200)\n"
                     "fetching https://example.com/a\n"
                     "fetching https://example.com/bb\n"
                     "fetched https://example.com/a: 2100\n"
                     "fetched https://example.com/bb: 2200\n"
                     "concurrent: 1.00 s (results 2100, 2200)\n");
    EDDY_CHECK_EQ(r.status, 0);
    return 0;
}

/* ---- nursery ---- */

static const char nursery_start[] = "parent: starting children\n"
                                    "A: started, sleeping 2 s\n"
                                    "B: started, sleeping 1 s\n"
                                    "C: started, sleeping 3 s\n"
                                    "parent: waiting for children\n";

EDDY_TEST_EX(nursery_output, .raw = true)
{
    static run r;
    static char expected[1024];
    snprintf(expected, sizeof expected, "%s%s", nursery_start,
             "B: finished\n"
             "A: finished\n"
             "C: finished\n"
             "parent: all children finished\n");
    RUN(&r, true, "nursery");
    CHECK_OUTPUT(&r, expected);
    EDDY_CHECK_EQ(r.status, 0);
    return 0;
}

EDDY_TEST_EX(nursery_fail_b_cancels_siblings, .raw = true)
{
    static run r;
    static char expected[1024];
    snprintf(expected, sizeof expected, "%sB: failing with %s\n"
                                        "A: cancelled\n"
                                        "C: cancelled\n"
                                        "parent: nursery failed: %s\n"
                                        "parent: task B failed: %s (%d): simulated I/O failure\n",
             nursery_start, strerror(EIO), strerror(EIO), strerror(EIO), -EIO);
    RUN(&r, true, "nursery", "--fail", "B");
    CHECK_OUTPUT(&r, expected);
    EDDY_CHECK(r.status != 0);
    EDDY_CHECK_EQ(r.status, 1);
    EDDY_CHECK(strstr(r.err, strerror(EIO)) != NULL);
    return 0;
}

/* Another failing child: C fails after everyone else finished, so nobody is cancelled. */
EDDY_TEST_EX(nursery_fail_c_after_others, .raw = true)
{
    static run r;
    static char expected[1024];
    snprintf(expected, sizeof expected, "%sB: finished\n"
                                        "A: finished\n"
                                        "C: failing with %s\n"
                                        "parent: nursery failed: %s\n"
                                        "parent: task C failed: %s (%d): simulated I/O failure\n",
             nursery_start, strerror(EIO), strerror(EIO), strerror(EIO), -EIO);
    RUN(&r, true, "nursery", "--fail", "C");
    CHECK_OUTPUT(&r, expected);
    EDDY_CHECK_EQ(r.status, 1);
    return 0;
}

EDDY_TEST_EX(nursery_bad_usage, .raw = true)
{
    static run r;
    RUN(&r, true, "nursery", "--fail", "Z");
    CHECK_OUTPUT(&r, "");
    EDDY_CHECK_EQ(r.status, 2);
    EDDY_CHECK(strstr(r.err, "usage") != NULL);
    RUN(&r, true, "nursery", "--fail");
    EDDY_CHECK_EQ(r.status, 2);
    return 0;
}

/* ---- taskgroup ---- */

/* Every backend the library has; the example is run once per backend (anyio's switch). One
 * that cannot run here falls back to epoll, and the example says so. */
static const char *const backends[] = {"epoll", "io_uring"};

static const char taskgroup_tail[] = "Task 1 running (2 s)\n"
                                     "Task 2 running (1 s)\n"
                                     "Task 3 running (3 s)\n"
                                     "Task 2 finished\n"
                                     "Task 1 finished\n"
                                     "Task 3 finished\n"
                                     "All tasks completed.\n";

EDDY_TEST_EX(taskgroup_default_backend, .raw = true)
{
    static run r;
    static char expected[1024];
    snprintf(expected, sizeof expected, "backend: epoll\n%s", taskgroup_tail);
    unsetenv("EDDY_BACKEND"); /* this pass's backend: the default is what is tested here */
    RUN(&r, true, "taskgroup");
    CHECK_OUTPUT(&r, expected);
    EDDY_CHECK_EQ(r.status, 0);
    return 0;
}

EDDY_TEST_EX(taskgroup_each_backend, .raw = true)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        static run r;
        static char expected[1024];
        snprintf(expected, sizeof expected, "backend: %s\n%s",
                 eddy_backend_probe(backends[i]) == 0 ? backends[i] : "epoll", taskgroup_tail);
        RUN(&r, true, "taskgroup", "--backend", backends[i]);
        CHECK_OUTPUT(&r, expected);
        EDDY_CHECK_EQ(r.status, 0);
    }
    return 0;
}

EDDY_TEST_EX(taskgroup_unknown_backend, .raw = true)
{
    static run r;
    RUN(&r, true, "taskgroup", "--backend", "no-such-backend");
    CHECK_OUTPUT(&r, "");
    EDDY_CHECK_EQ(r.status, 2);
    EDDY_CHECK(strstr(r.err, "unknown backend 'no-such-backend'") != NULL);
    RUN(&r, true, "taskgroup", "--bogus");
    EDDY_CHECK_EQ(r.status, 2);
    return 0;
}

/* ---- countdown ---- */

EDDY_TEST_EX(countdown_output, .raw = true)
{
    static run r;
    RUN(&r, true, "countdown");
    CHECK_OUTPUT(&r, "Alice: 5\n"
                     "Bob: 3\n"
                     "Alice: 4\n"
                     "Bob: 2\n"
                     "Alice: 3\n"
                     "Bob: 1\n"
                     "Alice: 2\n"
                     "Bob: done\n"
                     "Alice: 1\n"
                     "Alice: done\n"
                     "both countdowns finished\n");
    EDDY_CHECK_EQ(r.status, 0);
    /* 5 s of virtual time: far less real time proves the virtual clock was used (a generous
     * bound so a loaded machine cannot fail it). */
    EDDY_CHECK(r.seconds < 4.0);
    return 0;
}

/* ---- every example is a real command-line program ---- */

/* --help prints the usage on stdout and exits 0; an unknown option or an argument the
 * program does not take is one line saying so, then the usage, on stderr, and exit status 2
 * (the servers among them must not start listening first). Every program in examples/ must
 * be listed here (examples_are_all_listed checks), so a new one cannot skip the conventions.
 * extra: arguments the program takes, then one too many ("extra"); {NULL} for the programs
 * whose argument list has no end (fetch_many's URLs, run_with_timeout's command). */
static const struct {
    const char *name;
    const char *const extra[5];
} cli_examples[] = {
    {"hello_sleep", {"extra"}},
    {"switch_foobar", {"extra"}},
    {"fetch_gather", {"extra"}},
    {"nursery", {"--fail", "A", "extra"}},
    {"taskgroup", {"--backend", "epoll", "extra"}},
    {"countdown", {"extra"}},
    {"echo_stream", {"0", "extra"}},
    {"echo_protocol", {"0", "extra"}},
    {"fake_clamd", {"0", "extra"}},
    {"clamd_scan", {"FILE", "127.0.0.1", "3310", "extra"}},
    {"http_hello", {"0", "extra"}},
    {"http_files", {"/tmp", "0", "extra"}},
    {"https_hello", {"CERT", "KEY", "0", "extra"}},
    {"http_get", {"http://127.0.0.1:1/", "extra"}},
    {"fetch_many", {NULL}},
    {"retry_connect", {"127.0.0.1", "1", "extra"}},
    {"run_with_timeout", {NULL}},
    {"sigwatch", {"extra"}},
    {"to_thread_demo", {"extra"}},
    {"tail_follow", {"FILE", "extra"}},
    {"glib_embed", {"epoll", "extra"}},
};

static void check_usage_error(const run *r, const char *name, const char *what)
{
    char first[160];
    snprintf(first, sizeof first, "%s: %s\nusage: %s", name, what, name);
    if (r->status != 2 || r->out[0] || strncmp(r->err, first, strlen(first)) != 0)
        eddy_test_fail(__FILE__, __LINE__, "%s: want exit 2 and stderr starting \"%s\"; got exit "
                       "%d, stdout \"%s\", stderr \"%s\"", name, first, r->status, r->out, r->err);
}

/* Whether the file at path calls libc's strerror (an eddy error is a negative errno or one of
 * eddy's own codes, which only eddy_strerror knows: "Host name not found", not "No such file
 * or directory"). */
static bool calls_strerror(const char *path)
{
    static char text[1 << 20];
    int fd = open(path, O_RDONLY);
    EDDY_CHECK(fd >= 0);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    EDDY_CHECK(n > 0);
    text[n] = '\0';
    for (const char *p = text; (p = strstr(p, "strerror(")); p++)
        if (p == text || (p[-1] != '_' && p[-1] != 'r')) return true; /* eddy_strerror, _r */
    return false;
}

/* Every examples/NAME.c has its row in cli_examples, and prints errors with eddy_strerror. */
EDDY_TEST_EX(examples_are_all_listed, .raw = true)
{
    DIR *d = opendir(EDDY_SOURCE_DIR "/examples");
    EDDY_CHECK(d != NULL);
    struct dirent *e;
    size_t seen = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0) continue;
        bool listed = false;
        for (size_t i = 0; i < sizeof cli_examples / sizeof cli_examples[0]; i++)
            if (strlen(cli_examples[i].name) == n - 2 && !strncmp(cli_examples[i].name, e->d_name, n - 2))
                listed = true;
        if (!listed) {
            closedir(d);
            eddy_test_fail(__FILE__, __LINE__, "examples/%s is not in cli_examples (tests/test_examples.c): "
                           "list it with arguments it takes and one too many", e->d_name);
        }
        char path[512];
        snprintf(path, sizeof path, "%s/examples/%s", EDDY_SOURCE_DIR, e->d_name);
        if (calls_strerror(path)) {
            closedir(d);
            eddy_test_fail(__FILE__, __LINE__, "examples/%s calls strerror: use eddy_strerror", e->d_name);
        }
        seen++;
    }
    closedir(d);
    EDDY_CHECK_EQ(seen, sizeof cli_examples / sizeof cli_examples[0]); /* no stale rows */
    return 0;
}

/* The conventions for the k-th quarter of cli_examples: four cases, so each stays far inside
 * its time limit (4 runs of a program per example; under ASan on a loaded machine a run
 * takes a quarter of a second or more). */
static int check_cli_quarter(size_t k)
{
    size_t all = sizeof cli_examples / sizeof cli_examples[0];
    for (size_t i = all * k / 4; i < all * (k + 1) / 4; i++) {
        const char *name = cli_examples[i].name;
        static run r;
        char usage[64];
        snprintf(usage, sizeof usage, "usage: %s", name);
        RUN(&r, true, name, "--help");
        if (r.status != 0 || strncmp(r.out, usage, strlen(usage)) != 0 || r.err[0])
            eddy_test_fail(__FILE__, __LINE__, "%s --help: exit %d, stdout \"%s\", stderr \"%s\"",
                           name, r.status, r.out, r.err);
        RUN(&r, true, name, "-h");
        EDDY_CHECK_EQ(r.status, 0);
        EDDY_CHECK(strncmp(r.out, usage, strlen(usage)) == 0);
        RUN(&r, true, name, "--no-such-option");
        check_usage_error(&r, name, "unknown option '--no-such-option'");
        if (!cli_examples[i].extra[0]) continue;
        const char *argv[8] = {name};
        size_t n = 1;
        for (size_t k = 0; k < 5 && cli_examples[i].extra[k]; k++) argv[n++] = cli_examples[i].extra[k];
        argv[n] = NULL;
        run_example(&r, true, argv);
        check_usage_error(&r, name, "unexpected argument 'extra'");
    }
    return 0;
}

EDDY_TEST_EX(examples_follow_command_line_conventions_1, .raw = true) { return check_cli_quarter(0); }
EDDY_TEST_EX(examples_follow_command_line_conventions_2, .raw = true) { return check_cli_quarter(1); }
EDDY_TEST_EX(examples_follow_command_line_conventions_3, .raw = true) { return check_cli_quarter(2); }
EDDY_TEST_EX(examples_follow_command_line_conventions_4, .raw = true) { return check_cli_quarter(3); }
/* ---- glib_embed (I2): eddy tasks inside a GLib main loop ---- */

static const char glib_expected[] = "eddy: started inside the GLib main loop\n"
                                    "eddy: tick 1\n"
                                    "eddy: tick 2\n"
                                    "eddy: tick 3\n"
                                    "glib: timeout fired, setting the eddy event\n"
                                    "eddy: woken by GLib\n"
                                    "eddy: echoed \"hello from a task\"\n"
                                    "glib: main loop ended; eddy's main returned 0\n";

/* On the real clock (GLib's timeouts are real), with this pass's backend named on the command
 * line (run_example clears EDDY_BACKEND). The order is fixed by the program: the GLib timeout
 * is added after the ticks. The run takes ~0.1 s of waiting: a host that spun instead of
 * sleeping would show as CPU time (checked loosely: the machine may be loaded). */
EDDY_TEST_EX(glib_embed_output, .raw = true)
{
    if (access(EX_DIR "/glib_embed", X_OK) != 0) {
        /* CI installs GLib (scripts/deps.sh lists libglib2.0-dev): there a missing example is
         * a broken build, not a machine without GLib, and must not pass as a skip. */
        const char *ci = getenv("CI");
        bool in_ci = ci && *ci && strcmp(ci, "false") != 0 && strcmp(ci, "0") != 0;
        printf("# glib_embed not built: GLib (libglib2.0-dev) was not found at configure time\n");
        EDDY_CHECK(!in_ci);
        return 0;
    }
    static run r;
    const char *backend = getenv("EDDY_BACKEND");
    RUN(&r, false, "glib_embed", backend ? backend : "epoll");
    CHECK_OUTPUT(&r, glib_expected);
    EDDY_CHECK_EQ(r.status, 0);
    EDDY_CHECK_EQ(r.err[0], '\0');
    EDDY_CHECK(r.seconds >= 0.09);
    /* An unknown backend is a usage error, as in taskgroup (it exited 1 with
     * "eddy_loop_open: Invalid argument"). */
    RUN(&r, false, "glib_embed", "kqueue");
    check_usage_error(&r, "glib_embed", "unknown backend 'kqueue'");
    return 0;
}
