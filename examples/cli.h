/* Command-line conventions of the example programs, as of any Unix tool:
 *
 *   PROGRAM --help (or -h)     the usage on stdout, exit status 0
 *   anything it does not take  one line saying what is wrong, then the usage, on stderr;
 *                              exit status 2 (getopt's convention for a usage error)
 *
 * Each example keeps its own usage text; this header only holds the shared mechanics. */
#ifndef EDDY_EXAMPLES_CLI_H
#define EDDY_EXAMPLES_CLI_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* If any argument before "--" is --help or -h: print usage on stdout and exit 0. */
static inline void cli_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
}

/* A usage error: "PROG: what" and the usage on stderr, exit status 2. */
__attribute__((noreturn, format(printf, 3, 4))) static inline void cli_fail(const char *prog,
                                                                            const char *usage,
                                                                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fputs(usage, stderr);
    exit(2);
}

/* The first argument the program does not take (argv[first] onwards): a usage error.
 * An option-looking argument is "unknown option", anything else "unexpected argument". */
static inline void cli_no_more(int argc, char **argv, int first, const char *prog,
                               const char *usage)
{
    if (first >= argc) return;
    cli_fail(prog, usage, "%s '%s'", argv[first][0] == '-' ? "unknown option" : "unexpected argument",
             argv[first]);
}

/* A TCP port number from s, min..65535 (min 0 allows "pick a free port"); a usage error
 * otherwise. */
static inline unsigned short cli_port(const char *s, unsigned long min, const char *prog,
                                      const char *usage)
{
    char *end;
    unsigned long p = strtoul(s, &end, 10);
    if (!*s || *end || *s == '-' || *s == '+' || p < min || p > 65535)
        cli_fail(prog, usage, "bad port '%s' (%lu..65535)", s, min);
    return (unsigned short)p;
}

/* A non-negative decimal from s, 0..max, the value of option opt; a usage error otherwise. */
static inline long cli_number(const char *s, long max, const char *opt, const char *prog,
                              const char *usage)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > max)
        cli_fail(prog, usage, "bad value '%s' for %s (0..%ld)", s, opt, max);
    return v;
}

#endif
