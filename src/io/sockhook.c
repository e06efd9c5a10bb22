/* eddy io: the socket factory hook (X3). Every socket the io layer opens for a connection, a
 * listener or a datagram endpoint comes from eddy__socket, so a test can make that one call
 * fail (EMFILE on the third connect, ENOBUFS on listen) or count it, without interposing on
 * libc. */
#include <sys/socket.h>

#include "io/io.h"
#include "loop/sys.h"

/* Like the resolver hook, it belongs to the loop it was set on (h may not outlive it). */
static __thread const eddy_socket_hook *tl_hook;
static __thread eddy__exit_hook tl_hook_reset;

static void hook_reset(eddy__exit_hook *h)
{
    (void)h;
    tl_hook = NULL;
}

int eddy_loop_set_socket_hook(const eddy_socket_hook *h)
{
    eddy_loop *l = eddy__loop();
    if (!l) return -EPERM;
    if (h && !h->socket) return -EINVAL;
    if (h && !eddy__linked(&tl_hook_reset.link)) {
        tl_hook_reset.fn = hook_reset;
        eddy__loop_at_exit(l, &tl_hook_reset);
    }
    tl_hook = h;
    return 0;
}

int eddy__socket(int domain, int type, int protocol)
{
    const eddy_socket_hook *h = tl_hook;
    if (h) return h->socket(h->ctx, domain, type, protocol); /* fd or -errno, its contract */
    int fd = eddy__sys_socket(domain, type, protocol);
    return fd < 0 ? -errno : fd;
}
