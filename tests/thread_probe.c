/* Linked into every test binary (tests/CMakeLists.txt, with -Wl,--wrap=pthread_create and
 * --wrap=thrd_create), so a test that starts an OS thread without the ctest label "threads"
 * fails instead of silently escaping the ThreadSanitizer step, which runs that label only.
 *
 * ctest passes each test its labels in EDDY_TEST_LABELS (comma-separated); a binary run by
 * hand has no such variable and is not checked. Every thread created by code linked into the
 * binary (the test, the test library, the static eddy library: a thread pool of eddy's own
 * included) goes through these wrappers; threads created inside shared libraries (a
 * sanitizer's own, libstdc++'s) do not, and need no label. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <unistd.h>

int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __real_thrd_create(thrd_t *t, thrd_start_t fn, void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_thrd_create(thrd_t *t, thrd_start_t fn, void *arg);

static void check_label(void)
{
    const char *labels = getenv("EDDY_TEST_LABELS");
    if (!labels) return;
    for (const char *p = labels; (p = strstr(p, "threads")); p += 7)
        if ((p == labels || p[-1] == ',') && (p[7] == ',' || p[7] == '\0')) return;
    static const char msg[] =
        "eddy test: this test starts an OS thread but has no ctest label 'threads', so the\n"
        "ThreadSanitizer step would skip it: add a pattern that matches it in tests/CMakeLists.txt\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    abort();
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    check_label();
    return __real_pthread_create(t, a, fn, arg);
}

int __wrap_thrd_create(thrd_t *t, thrd_start_t fn, void *arg)
{
    check_label();
    return __real_thrd_create(t, fn, arg);
}
