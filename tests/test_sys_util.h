/* Helpers shared by the tests of the sys layer (thread pool, files, watches, locks, their
 * examples): scratch directories, and waiting until pool workers sit in a system call. */
#ifndef EDDY_TEST_SYS_UTIL_H
#define EDDY_TEST_SYS_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "eddy/test.h"

/* Make a fresh directory /tmp/eddy-TAG-XXXXXX into dir (at least 64 bytes). */
static inline void sys_tmpdir(char *dir, size_t cap, const char *tag)
{
    snprintf(dir, cap, "/tmp/eddy-%s-XXXXXX", tag);
    EDDY_CHECK(mkdtemp(dir) != NULL);
}

/* Remove dir and everything in it. */
static inline void sys_rm_tmpdir(const char *dir)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    EDDY_CHECK_EQ(system(cmd), 0);
}

/* How many pool workers are inside system call nr right now: /proc/self/task/TID/syscall
 * starts with the number of the call a blocked thread is in. */
static inline int sys_workers_in(long nr)
{
    DIR *d = opendir("/proc/self/task");
    EDDY_CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[300], buf[128] = {0};
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        FILE *fp = fopen(p, "re");
        if (!fp) continue;
        bool pool = fgets(buf, sizeof buf, fp) && strcmp(buf, "eddy-pool\n") == 0;
        fclose(fp);
        if (!pool) continue;
        snprintf(p, sizeof p, "/proc/self/task/%s/syscall", e->d_name);
        fp = fopen(p, "re");
        if (!fp) continue;
        long got;
        if (fscanf(fp, "%ld", &got) == 1 && got == nr) n++;
        fclose(fp);
    }
    closedir(d);
    return n;
}

/* Let the loop run (without letting virtual time move) until n workers are blocked in nr. */
static inline void sys_wait_workers_in(long nr, int n)
{
    while (sys_workers_in(nr) < n) EDDY_OK(eddy_yield());
}

#endif
