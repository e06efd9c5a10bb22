/* Tests of the documentation's programs: every C block that README.md or a page of
 * docs/guide/ marks as a program (scripts/docprogs.awk extracts them at configure time, CMake
 * builds them into docprogs/bin) is run here as a child process on the virtual clock, must exit
 * 0, and must print exactly the output the page shows for it, when the page shows one.
 * Servers (mode "server") are run with a client by their own tests (README's server:
 * tests/test_echo_stream.c). Every guide page must have at least one program, so a chapter
 * cannot lose its program unnoticed. */
#include <dirent.h>

#include "test_run_util.h"

#define DOC_DIR EDDY_BUILD_DIR "/docprogs"
#define GUIDE_DIR EDDY_SOURCE_DIR "/docs/guide"

/* The contents of path (at most cap-1 bytes) in buf; false if it cannot be read. */
static bool read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    run_slurp_fd(fd, buf, cap);
    close(fd);
    return true;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n > k && strcmp(s + n - k, suf) == 0;
}

EDDY_TEST_EX(doc_programs_run_and_print_what_the_docs_show, .raw = true, .timeout = EDDY_SEC(120))
{
    DIR *d = opendir(DOC_DIR);
    EDDY_CHECK(d != NULL);
    int programs = 0, outputs = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!has_suffix(e->d_name, ".c")) continue;
        char name[256], path[512];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(e->d_name) - 2), e->d_name);
        static char mode[64], expected[16384];
        snprintf(path, sizeof path, DOC_DIR "/%s.mode", name);
        if (read_file(path, mode, sizeof mode) && strcmp(mode, "server\n") == 0) continue;
        static run r;
        run_program(&r, DOC_DIR "/bin", true, (const char *const[]){name, NULL});
        if (r.status != 0)
            eddy_test_fail(__FILE__, __LINE__, "%s: exit status %d\n--- stdout\n%s--- stderr\n%s",
                           name, r.status, r.out, r.err);
        programs++;
        snprintf(path, sizeof path, DOC_DIR "/%s.out", name);
        if (!read_file(path, expected, sizeof expected)) continue;
        if (strcmp(r.out, expected) != 0)
            eddy_test_fail(__FILE__, __LINE__,
                           "%s: output differs from the page\n--- the page\n%s--- got\n%s--- stderr\n%s",
                           name, expected, r.out, r.err);
        outputs++;
    }
    closedir(d);
    printf("# %d programs ran, %d outputs as the docs show them\n", programs, outputs);
    EDDY_CHECK(programs >= 1); /* README.md's first example at least */
    return 0;
}

EDDY_TEST_EX(every_guide_chapter_has_a_program, .raw = true)
{
    DIR *d = opendir(GUIDE_DIR);
    EDDY_CHECK(d != NULL);
    int pages = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!has_suffix(e->d_name, ".md") || strcmp(e->d_name, "README.md") == 0) continue;
        char path[512];
        static char text[65536];
        snprintf(path, sizeof path, GUIDE_DIR "/%s", e->d_name);
        EDDY_CHECK(read_file(path, text, sizeof text));
        /* The program its marker names must have been extracted and built. */
        const char *m = strstr(text, "<!-- ci: program ");
        if (!m) eddy_test_fail(__FILE__, __LINE__, "%s has no program", e->d_name);
        char name[128];
        EDDY_CHECK(sscanf(m, "<!-- ci: program %127[A-Za-z0-9_]", name) == 1);
        snprintf(path, sizeof path, DOC_DIR "/bin/%s", name);
        if (access(path, X_OK) != 0)
            eddy_test_fail(__FILE__, __LINE__, "%s: program %s was not built", e->d_name, name);
        pages++;
    }
    closedir(d);
    EDDY_CHECK(pages >= 4); /* tasks, cancellation, streams, testing */
    return 0;
}

/* The make targets the README and `make help` promise: help lists each one, and `make bench`
 * runs the benchmarks (a directory named bench/ once made make think it up to date). */
EDDY_TEST_EX(make_help_and_bench, .raw = true)
{
    static run r;
    run_program(&r, "/usr/bin", false,
                (const char *const[]){"make", "-s", "-C", EDDY_SOURCE_DIR, "help", NULL});
    EDDY_CHECK_EQ(r.status, 0);
    static const char *const targets[] = {"build", "test", "demo", "bench", "docs", "ci", "clean"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char line[32];
        snprintf(line, sizeof line, "\n  %-8s ", targets[i]);
        if (!strstr(r.out, line))
            eddy_test_fail(__FILE__, __LINE__, "make help does not list %s:\n%s", targets[i], r.out);
    }
    for (const char *p = r.out; (p = strchr(p, '\n')); p++) {
        const char *e = strchr(p + 1, '\n');
        EDDY_CHECK((e ? (size_t)(e - p - 1) : strlen(p + 1)) <= 100); /* fits 100 columns */
    }
    run_program(&r, "/usr/bin", false,
                (const char *const[]){"make", "-n", "-C", EDDY_SOURCE_DIR, "bench", NULL});
    EDDY_CHECK_EQ(r.status, 0);
    if (!strstr(r.out, "bash scripts/bench.sh"))
        eddy_test_fail(__FILE__, __LINE__, "make -n bench: %s", r.out);
    return 0;
}
