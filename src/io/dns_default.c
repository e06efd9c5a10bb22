/* eddy io: the default resolver when eddy is built without c-ares (dns_cares.c): /etc/hosts
 * only, read with plain file reads (a local file, so no network wait on the loop thread). */
#ifndef EDDY_HAVE_CARES
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "io/io.h"

int eddy__resolve_default(const char *host, uint16_t port, int family, eddy_sockaddr *out, size_t max)
{
    FILE *f = fopen("/etc/hosts", "re");
    if (!f) return -ENOENT;
    char line[512];
    size_t n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *save, *addr = strtok_r(line, " \t\r\n", &save);
        if (!addr) continue;
        for (char *name; (name = strtok_r(NULL, " \t\r\n", &save));) {
            if (strcasecmp(name, host) != 0) continue;
            eddy_sockaddr a;
            if (eddy_sockaddr_parse(addr, port, &a) == 0 &&
                (family == AF_UNSPEC || a.ss.ss_family == family))
                out[n++] = a;
            break;
        }
    }
    fclose(f);
    return n ? (int)n : -ENOENT;
}

int eddy__dns_configure(const eddy__dns_conf *conf)
{
    (void)conf;
    return eddy__loop() ? -ENOTSUP : -EPERM;
}

size_t eddy__dns_pending(void) { return 0; }
#endif
