/* eddy loop: the environment variables eddy_run reads (docs/environment.md lists them).
 *
 * One reader for all of them, so every bad value fails the same way: eddy_run returns -EINVAL
 * and stderr says which variable, which value, and what it accepts. A setting that is
 * silently ignored (EDDY_CLOCK=VIRTUAL once was) makes a program behave as if it had not been
 * set, which is worse than failing. Rules, the same for every variable:
 *   - unset or empty: not given (the program's own options apply);
 *   - names are matched without regard to case ("VIRTUAL" is "virtual"), nothing is trimmed;
 *   - numbers are unsigned integers, decimal or 0x-prefixed hex, and must fit in 64 bits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

int eddy__env_choice(const char *var, const char *const *names, size_t n, size_t *index)
{
    const char *v = getenv(var);
    if (!v || !*v) return 0;
    if (eddy__name_index(v, names, n, index)) return 1;
    fprintf(stderr, "eddy: %s=\"%s\" is not valid; use one of:", var, v);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%s %s", i ? "," : "", names[i]);
    fprintf(stderr, " (any case), or leave it unset\n");
    return -EINVAL;
}

bool eddy__name_index(const char *v, const char *const *names, size_t n, size_t *index)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v, names[i]) == 0) {
            *index = i;
            return true;
        }
    return false;
}

int eddy__env_u64(const char *var, const char *meaning, uint64_t *out)
{
    const char *v = getenv(var);
    if (!v || !*v) return 0;
    /* strtoull accepts leading blanks and a minus sign (wrapping it around): refuse both. */
    if (*v >= '0' && *v <= '9') {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 0);
        if (errno == 0 && *end == '\0') {
            *out = x;
            return 1;
        }
    }
    fprintf(stderr, "eddy: %s=\"%s\" is not valid; use %s, or leave it unset\n", var, v, meaning);
    return -EINVAL;
}
