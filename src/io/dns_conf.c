/* eddy io: the resolver's timeout and attempts, read from resolv.conf and $RES_OPTIONS the
 * way glibc reads them.
 *
 * c-ares reads servers, search list, ndots and rotate itself, but the c-ares of Debian 12
 * (1.18) not `timeout:` and `attempts:` (it knows only its own `retrans:` and `retry:`; later
 * releases learned glibc's words), and no release's defaults (5 s and 4 tries in 1.18, other
 * values later) are glibc's (5 s and 2 attempts). A release check would not help: the
 * defaults must be passed whenever the file says nothing, and only reading the file tells. So
 * the two values are read here whichever c-ares eddy was built with (ARES_VERSION) or runs
 * with (ares_version()), and always handed to it: one behaviour, the libc resolver's (for a
 * release that reads them itself, the values are the same ones).
 *
 * glibc's rules (resolv/res_init.c): a line that starts with "options" followed by a blank
 * holds blank-separated words; `timeout:N` (seconds, at most 30) and `attempts:N` (at most 5)
 * are taken with atoi, the last one given wins, unknown words are ignored, and $RES_OPTIONS
 * holds more such words, applied after the file. A missing or unreadable file leaves the
 * defaults. glibc would take timeout 0 as 1 s and attempts 0 as no attempt at all; eddy takes
 * both as 1 (a lookup that cannot make a single attempt is of no use to anyone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

#define RES_TIMEOUT_S 5   /* glibc's RES_TIMEOUT */
#define RES_MAXRETRANS 30 /* glibc's cap on timeout: */
#define RES_DFLRETRY 2    /* glibc's default attempts */
#define RES_MAXRETRY 5    /* glibc's cap on attempts: */

static int clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static void set_options(const char *p, eddy__resolv_opts *o)
{
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!strncmp(p, "timeout:", 8))
            o->timeout_ms = clamp(atoi(p + 8), 1, RES_MAXRETRANS) * 1000;
        else if (!strncmp(p, "attempts:", 9))
            o->attempts = clamp(atoi(p + 9), 1, RES_MAXRETRY);
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
    }
}

int eddy__resolv_options(const char *path, const char *env, eddy__resolv_opts *out)
{
    eddy__resolv_opts o = {.timeout_ms = RES_TIMEOUT_S * 1000, .attempts = RES_DFLRETRY};
    FILE *f = path ? fopen(path, "re") : NULL;
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        errno = 0;
        while ((n = getline(&line, &cap, f)) >= 0)
            if (!strncmp(line, "options", 7) && (line[7] == ' ' || line[7] == '\t'))
                set_options(line + 7, &o);
        int e = errno; /* getline's ENOMEM for a long line; a read error ends the file as EOF */
        free(line);
        fclose(f);
        if (e == ENOMEM) return -ENOMEM;
    }
    if (env) set_options(env, &o);
    *out = o;
    return 0;
}
