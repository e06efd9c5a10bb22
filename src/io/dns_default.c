/* eddy io: the default resolver when eddy is built without c-ares (dns_cares.c): /etc/hosts
 * only, read with plain file reads (a local file, so no network wait on the loop thread).
 * A name that is not there is EDDY_ENONAME; one that is there with addresses of the other
 * family only is EDDY_ENOADDR. */
#ifndef EDDY_HAVE_CARES
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "io/io.h"

int eddy__resolve_default(const char *host, uint16_t port, int family, eddy_sockaddr *out, size_t max)
{
    FILE *f = fopen("/etc/hosts", "re");
    if (!f) return errno == ENOENT ? EDDY_ENONAME : -errno; /* no hosts file: no names */
    char *line = NULL;
    size_t cap = 0, n = 0;
    bool named = false; /* host is listed, perhaps only with the other family */
    int e = 0;
    while (n < max) {
        errno = 0;
        if (getline(&line, &cap, f) < 0) {
            if (!feof(f)) e = errno ? errno : EIO; /* ENOMEM (a huge line) or a read error */
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *save, *addr = strtok_r(line, " \t\r\n", &save);
        if (!addr) continue;
        for (char *name; (name = strtok_r(NULL, " \t\r\n", &save));) {
            if (strcasecmp(name, host) != 0) continue;
            eddy_sockaddr a;
            if (eddy_sockaddr_parse(addr, port, &a) == 0) {
                named = true;
                if (family == AF_UNSPEC || a.ss.ss_family == family) out[n++] = a;
            }
            break;
        }
    }
    free(line);
    fclose(f);
    if (n) return (int)n;
    if (e) return -e;
    return named ? EDDY_ENOADDR : EDDY_ENONAME;
}

int eddy__dns_configure(const eddy__dns_conf *conf)
{
    (void)conf;
    return eddy__loop() ? -ENOTSUP : -EPERM;
}

size_t eddy__dns_pending(void) { return 0; }

int eddy__dns_channel_info(int *timeout_ms, int *tries, int *nservers)
{
    (void)timeout_ms;
    (void)tries;
    (void)nservers;
    return eddy__loop() ? -ENOTSUP : -EPERM;
}
#endif
