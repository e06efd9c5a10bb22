/* eddy: the system-call layer's fault injection (sys.h). Compiled to nothing without
 * EDDY_FAULTS. The armed fault is process-wide and read without a lock: a test arms it before
 * the calls it means to fail and disarms it after, and the signal dispatcher's handler (which
 * writes through the layer) may run at any moment, so eddy__sys_hit uses only atomics. */
#ifdef EDDY_FAULTS

#include "loop/sys.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Bounds of the section holding a pointer to every site record (sys.h, EDDY__SYS_SITE); the
 * linker defines them because the section's name is a C identifier. Weak: a program that links
 * no call site at all still links. */
extern eddy__sys_site *const __start_eddy_sys_sites[] __attribute__((weak, visibility("hidden")));
extern eddy__sys_site *const __stop_eddy_sys_sites[] __attribute__((weak, visibility("hidden")));

static eddy__sys_fault armed;   /* valid while armed_on */
static int armed_on;            /* atomic */
static unsigned matched, fired; /* atomic: calls that matched / that failed since arming */

static bool matches(const eddy__sys_fault *f, const eddy__sys_site *s)
{
    if (f->site) return f->site == s;
    if (f->kind >= 0 && f->kind != s->kind) return false;
    return !f->func || strcmp(f->func, s->func) == 0;
}

int eddy__sys_hit(eddy__sys_site *s)
{
    __atomic_fetch_add(&s->hits, 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&armed_on, __ATOMIC_ACQUIRE) || !matches(&armed, s)) return 0;
    unsigned n = __atomic_add_fetch(&matched, 1, __ATOMIC_RELAXED);
    unsigned count = armed.count ? armed.count : 1;
    if (n < armed.nth || n - armed.nth >= count) return 0;
    __atomic_fetch_add(&fired, 1, __ATOMIC_RELAXED);
    return armed.err;
}

size_t eddy__sys_shorten(size_t n)
{
    return n > 1 ? n / 2 : n;
}

/* The first non-empty buffer, halved, and nothing after it: fewer bytes than asked whenever
 * more than one was asked. Up to 16 leading buffers are copied; beyond that (never, in eddy)
 * the call is made whole. */
ssize_t eddy__sys_vshort(int kind, int fd, const struct iovec *iov, int cnt, struct msghdr *m,
                         int flags)
{
    if (m) iov = m->msg_iov, cnt = (int)m->msg_iovlen;
    struct iovec cut[16];
    int k = 0;
    while (k < cnt && k < 16 && iov[k].iov_len == 0) k++;
    const struct iovec *use = iov;
    int ucnt = cnt;
    if (k < cnt && k < 16) {
        memcpy(cut, iov, (size_t)(k + 1) * sizeof *iov);
        cut[k].iov_len = eddy__sys_shorten(cut[k].iov_len);
        use = cut, ucnt = k + 1;
    }
    struct msghdr mm;
    if (m) {
        mm = *m;
        mm.msg_iov = (struct iovec *)use;
        mm.msg_iovlen = (size_t)ucnt;
    }
    ssize_t r;
    switch (kind) {
    case EDDY__SYS_READV: return readv(fd, use, ucnt);
    case EDDY__SYS_WRITEV: return writev(fd, use, ucnt);
    case EDDY__SYS_RECVMSG:
        r = recvmsg(fd, &mm, flags);
        /* what the kernel reports back in the header (flags, lengths) is the caller's */
        m->msg_flags = mm.msg_flags, m->msg_controllen = mm.msg_controllen,
        m->msg_namelen = mm.msg_namelen;
        return r;
    case EDDY__SYS_SENDMSG: return sendmsg(fd, &mm, flags);
    }
    errno = EINVAL;
    return -1;
}

void eddy__sys_fault_set(const eddy__sys_fault *f)
{
    __atomic_store_n(&armed_on, 0, __ATOMIC_RELEASE);
    if (!f) return;
    armed = *f;
    __atomic_store_n(&matched, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fired, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&armed_on, 1, __ATOMIC_RELEASE);
}

unsigned eddy__sys_fault_fired(void)
{
    return __atomic_load_n(&fired, __ATOMIC_RELAXED);
}

eddy__sys_site *const *eddy__sys_sites(size_t *n)
{
    if (!__start_eddy_sys_sites) {
        *n = 0;
        return NULL;
    }
    *n = (size_t)(__stop_eddy_sys_sites - __start_eddy_sys_sites);
    return __start_eddy_sys_sites;
}

void eddy__sys_count_reset(void)
{
    size_t n;
    eddy__sys_site *const *s = eddy__sys_sites(&n);
    for (size_t i = 0; i < n; i++) __atomic_store_n(&s[i]->hits, 0, __ATOMIC_RELAXED);
}

bool eddy__sys_is_dgram(int fd)
{
    int type = 0;
    socklen_t len = sizeof type;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM;
}

#define EDDY__SYS_NAME_(E, n) #n,
static const char *const kind_names[] = {EDDY__SYS_KINDS(EDDY__SYS_NAME_)};

const char *eddy__sys_kind_name(int kind)
{
    return kind >= 0 && kind < EDDY__SYS_NKINDS ? kind_names[kind] : "?";
}

#else
/* ISO C wants something in a translation unit. */
typedef int eddy__sys_unused;
#endif
