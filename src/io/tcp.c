/* eddy io: TCP connect to a numeric address, TCP listen, and listeners (accept) for every
 * stream-socket family. Connect by name (happy eyeballs) lives in connect.c. */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/io.h"
#include "loop/sys.h"

static eddy_task *task_or_null(void)
{
    eddy_loop *l = eddy__loop();
    if (!l || l->in_callback) return NULL;
    return l->current;
}

static void set_nodelay(int fd)
{
    int one = 1;
    (void)eddy__sys_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int eddy__tcp_connect_addr(const eddy_sockaddr *a, eddy_stream **out, const char *site)
{
    return eddy__tcp_connect_from(a, NULL, out, site);
}

int eddy__tcp_connect_from(const eddy_sockaddr *a, const eddy_sockaddr *local, eddy_stream **out,
                           const char *site)
{
    if (!a || !out) return -EINVAL;
    *out = NULL;
    eddy_task *t = task_or_null();
    if (!t) return -EPERM;
    int fam = a->ss.ss_family;
    if (fam != AF_INET && fam != AF_INET6) return -EAFNOSUPPORT;
    if (local && local->ss.ss_family != fam) return -EAFNOSUPPORT;
    int c = eddy__cancel_code(t);
    if (c) return c;
    int fd = eddy__socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fd;
    set_nodelay(fd);
    if (local) {
        /* Port 0: let connect pick the port, so the source port need only be unique per
         * destination instead of reserving an ephemeral port at bind time. */
        if (eddy_sockaddr_port(local) == 0) {
            int one = 1;
            (void)eddy__sys_setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        }
        if (eddy__sys_bind(fd, (const struct sockaddr *)&local->ss, local->len) < 0) {
            int e = errno;
            eddy__sys_close(fd);
            return -e;
        }
    }
    /* An operation (loop/op.h): a cancelled connect (a Happy Eyeballs loser) returns only
     * once the kernel has let go of the address in this frame; its half-open socket goes. */
    eddy__iofd io;
    eddy__iofd_init(&io, fd);
    int rc = eddy__io_connect(&io, (const struct sockaddr *)&a->ss, a->len);
    if (rc == 0) rc = eddy__fdstream_new(fd, true, -1, 0, &eddy__fdstream_vt_tcp, site, out);
    if (rc < 0) (void)eddy__iofd_close(&io, false);
    return rc;
}

/* ---- listeners ---- */

int eddy__listener_new(int fd, int family, char *unlink_path, const char *site, eddy_listener **out)
{
    eddy_listener *l = calloc(1, sizeof *l);
    if (!l) return -ENOMEM;
    eddy__iofd_init(&l->io, fd);
    l->family = family;
    l->unlink_path = unlink_path;
    eddy_loop *lp = eddy__loop();
    if (lp) eddy__handle_add(lp, &l->handle, "listener", site);
    *out = l;
    return 0;
}

int eddy__listener_from_fd(int fd, eddy_listener **out, const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!eddy__loop()) return -EPERM;
    int v = 0, type = 0, dom = 0;
    socklen_t len = sizeof v;
    if (eddy__sys_getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || !v) return -EINVAL;
    len = sizeof type;
    if (eddy__sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) return -EINVAL;
    len = sizeof dom;
    if (eddy__sys_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) < 0) return -EINVAL;
    int fl = eddy__sys_fcntl(fd, F_GETFL);
    if (fl < 0 || eddy__sys_fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -EBADF;
    return eddy__listener_new(fd, dom, NULL, site, out);
}

static int listen_on(const eddy_sockaddr *a, const eddy_tcp_listen_opts *o, int *fdp)
{
    int fd = eddy__socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fd;
    int one = 1;
    if (!o->no_reuse_addr) (void)eddy__sys_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (o->reuse_port && eddy__sys_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) goto fail;
    if (a->ss.ss_family == AF_INET6) {
        int v6only = o->v6only ? 1 : 0;
        (void)eddy__sys_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (eddy__sys_bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0) goto fail;
    if (eddy__sys_listen(fd, o->backlog > 0 ? o->backlog : SOMAXCONN) < 0) goto fail;
    *fdp = fd;
    return 0;
fail:;
    int e = errno;
    eddy__sys_close(fd);
    return -e;
}

int eddy__tcp_listen(const char *host, uint16_t port, const eddy_tcp_listen_opts *o,
                     eddy_listener **out, const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!eddy__loop()) return -EPERM;
    eddy_tcp_listen_opts def = {0};
    if (!o) o = &def;
    if (o->backlog < 0) return -EINVAL;
    eddy_sockaddr addrs[8];
    int n;
    if (eddy_sockaddr_parse(host, port, &addrs[0]) == 0) {
        n = 1;
    } else {
        n = eddy_resolve(host, port, AF_UNSPEC, addrs, 8);
        if (n < 0) return n;
    }
    int rc = -EADDRNOTAVAIL, fd = -1, fam = AF_UNSPEC;
    for (int i = 0; i < n; i++) {
        rc = listen_on(&addrs[i], o, &fd);
        /* The wildcard on a host without IPv6: fall back to IPv4's. */
        if (rc == -EAFNOSUPPORT && (!host || !*host)) {
            eddy_sockaddr a4 = {0};
            struct sockaddr_in *s4 = (struct sockaddr_in *)&a4.ss;
            s4->sin_family = AF_INET;
            s4->sin_port = htons(port);
            a4.len = sizeof *s4;
            addrs[i] = a4;
            rc = listen_on(&addrs[i], o, &fd);
        }
        if (rc == 0) {
            fam = addrs[i].ss.ss_family; /* the one that bound, not the first tried */
            break;
        }
    }
    if (rc < 0) return rc;
    rc = eddy__listener_new(fd, fam, NULL, site, out);
    if (rc < 0) eddy__sys_close(fd);
    return rc;
}

/* accept(2): network errors of the new connection, already pending, are reported by accept
 * and should be treated like EAGAIN (try again), not as failures of the listener. */
bool eddy__accept_error_is_transient(int e)
{
    switch (e) {
    case ECONNABORTED: case EINTR: case EPROTO: case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN:
    case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

int eddy_listener_accept(eddy_listener *l, eddy_stream **out, eddy_sockaddr *peer)
{
    if (!l || !out) return -EINVAL;
    *out = NULL;
    eddy_task *t = task_or_null();
    if (!t) return -EPERM;
    int c = eddy__cancel_code(t);
    if (c) return c;
    if (l->closer) return -EBADF;
    if (l->acceptor) return -EBUSY;
    l->acceptor = t;
    int rc = 0;
    /* The cooperative budget (internal.h), registered as the acceptor: a close waits for this
     * call, which after a yield stops if it was cancelled or a close began. */
    if (eddy__coop_spend(t)) {
        rc = eddy__cancel_code(t);
        if (rc == 0 && l->closer) rc = -EBADF;
        if (rc) goto out;
    }
    for (;;) {
        eddy_sockaddr tmp;
        eddy_sockaddr *pa = peer ? peer : &tmp;
        pa->len = sizeof pa->ss;
        int fd = eddy__io_accept(&l->io, (struct sockaddr *)&pa->ss, &pa->len, 0);
        if (fd >= 0) {
            if (l->closer) { /* accepted while the close began: the close wins */
                eddy__sys_close(fd);
                rc = -EBADF;
                break;
            }
            bool inet = l->family == AF_INET || l->family == AF_INET6;
            if (inet) set_nodelay(fd);
            rc = eddy__fdstream_new(fd, true, -1, 0,
                                    inet ? &eddy__fdstream_vt_tcp : &eddy__fdstream_vt_unix,
                                    t->site, out);
            if (rc < 0) eddy__sys_close(fd);
            break;
        }
        /* A connection that died in the backlog: skip it, the listener is fine. */
        if (eddy__accept_error_is_transient(-fd)) continue;
        rc = fd;
        break;
    }
out:
    l->acceptor = NULL;
    if (l->closer) eddy__wake(l->closer, 0);
    return rc < 0 ? rc : 0;
}

int eddy_listener_local_addr(const eddy_listener *l, eddy_sockaddr *out)
{
    if (!l || !out) return -EINVAL;
    return eddy__fd_addr(l->io.fd, out, false);
}

int eddy_listener_fd(const eddy_listener *l) { return l ? l->io.fd : -1; }

int eddy_listener_close(eddy_listener *l)
{
    if (!l) return 0;
    if (l->closer) return -EBADF;
    if (l->acceptor) {
        eddy_task *t = task_or_null();
        if (!t) return -EBUSY;
        l->closer = t;
        eddy__iofd_interrupt(&l->io); /* the acceptor wakes with -EBADF */
        while (l->acceptor) {
            eddy__wait w = {.reason = "listener close", .obj = l, .uncancellable = true};
            (void)eddy__park(&w);
        }
    }
    int rc = eddy__iofd_close(&l->io, false);
    if (l->unlink_path) {
        if (eddy__sys_unlink(l->unlink_path) < 0 && errno != ENOENT && rc == 0) rc = -errno;
        free(l->unlink_path);
    }
    eddy__handle_del(&l->handle);
    free(l);
    return rc;
}
