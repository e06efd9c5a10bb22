/* The syscall fault sweep (src/loop/sys.h, docs/testing.md "Syscall fault injection").
 *
 * Each scenario (core runtime, TCP, Unix sockets, pipes and descriptor streams, sendfile;
 * the stream conformance suite in the full sweep) first runs once with every call site
 * counting its calls. Then, for every call site it reached and every errno plausible for that
 * kind of call (plus a short read or write where the call moves bytes), it runs again in a
 * forked child with that one call failing once, and checks:
 *   - no crash (the child exits normally) and no hang (a real-time alarm per run);
 *   - no descriptor left open (the /proc/self/fd count before and after eddy_run);
 *   - no memory leaked (LeakSanitizer, under ASan) and no handle left open (eddy_run runs with
 *     EDDY_OPT_FAIL_ON_LEAK);
 *   - every negative result a public call returned is one the comment above that function in
 *     include/eddy/ headers name (the headers are parsed here: "-EMFILE", "EDDY_ENONAME", ...).
 * A site is one call in the source (kind, file, line, function); the faulted call is its first
 * (and, in the full sweep, also its last) call in the scenario. Each scenario prints how many
 * (site, errno) pairs it tried.
 *
 * ctest runs the bounded sweep (first call of each site, conformance suite left out);
 * `make faults` runs the full one (EDDY_FAULT_SWEEP=full). Without EDDY_FAULTS compiled in
 * (release builds) there is nothing to inject and the cases say so. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "eddy/test.h"
#include "loop/sys.h"

#ifndef EDDY_FAULTS

EDDY_TEST_EX(fault_sweep, .raw = true)
{
    printf("# fault sweep: skipped, this build has no fault injection (EDDY_FAULTS is on in "
           "Debug builds: make test's asan configuration, make faults)\n");
    return 0;
}

#else

/* ---- errno names, and the errors each public function documents -------------------------- */

#define ERRNOS(X)                                                                              \
    X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(ENOEXEC) X(EBADF)          \
    X(ECHILD) X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(EBUSY) X(EEXIST) X(EXDEV) X(ENODEV)    \
    X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE) X(EMFILE) X(ENOTTY) X(EFBIG) X(ENOSPC) X(ESPIPE)  \
    X(EROFS) X(EMLINK) X(EPIPE) X(EDOM) X(ERANGE) X(EDEADLK) X(ENAMETOOLONG) X(ENOSYS)         \
    X(ENOTEMPTY) X(ELOOP) X(ENOMSG) X(ENODATA) X(ETIME) X(EPROTO) X(EBADMSG) X(EOVERFLOW)      \
    X(EILSEQ) X(ENOTSOCK) X(EDESTADDRREQ) X(EMSGSIZE) X(EPROTOTYPE) X(ENOPROTOOPT)             \
    X(EPROTONOSUPPORT) X(EOPNOTSUPP) X(EAFNOSUPPORT) X(EADDRINUSE) X(EADDRNOTAVAIL)            \
    X(ENETDOWN) X(ENETUNREACH) X(ECONNABORTED) X(ECONNRESET) X(ENOBUFS) X(EISCONN)             \
    X(ENOTCONN) X(ETOOMANYREFS) X(ETIMEDOUT) X(ECONNREFUSED) X(EHOSTUNREACH) X(EALREADY)       \
    X(EINPROGRESS) X(ECANCELED) X(ENOTRECOVERABLE) X(EOWNERDEAD) X(ENOTSUP) X(ENOMEDIUM)       \
    X(EDQUOT) X(ESHUTDOWN) X(ENOLINK) X(EREMOTEIO) X(ENOKEY) X(EKEYREJECTED)

#define EDDY_ERRS(X)                                                                           \
    X(EDDY_ENONAME) X(EDDY_ENOADDR) X(EDDY_EDNSTIMEDOUT) X(EDDY_EDNSUNREACH) X(EDDY_EDNSFAIL)  \
    X(EDDY_EDNSBADRESP) X(EDDY_ETLS_VERIFY) X(EDDY_ETLS_HOSTNAME) X(EDDY_ETLS_HANDSHAKE)        \
    X(EDDY_ETLS_PROTOCOL) X(EDDY_ETLS_ALERT) X(EDDY_ETLS_TRUNCATED) X(EDDY_ETLS_LOAD)          \
    X(EDDY_EHTTP_BADURL) X(EDDY_EHTTP_BADRESP) X(EDDY_EHTTP_HEADTOOBIG) X(EDDY_EHTTP_TRUNCATED) \
    X(EDDY_EHTTP_REDIRECTS) X(EDDY_EHTTP_PROXY) X(EDDY_EHTTP_DECODE) X(EDDY_EHTTP_POOL_TIMEOUT) \
    X(EDDY_EHTTP_CONNECT_TIMEOUT) X(EDDY_EHTTP_TLS_TIMEOUT) X(EDDY_EHTTP_HEADERS_TIMEOUT)       \
    X(EDDY_EHTTP_BODY_TIMEOUT) X(EDDY_EHTTP_TOTAL_TIMEOUT)

typedef struct named {
    const char *name;
    int code; /* negative, as returned */
} named;

#define NAMED_ERRNO(e) {"-" #e, -e},
#define NAMED_EDDY(e) {#e, e},
static const named codes[] = {ERRNOS(NAMED_ERRNO) EDDY_ERRS(NAMED_EDDY)};

static const char *code_name(long rc)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == rc) return codes[i].name;
    static char buf[32];
    snprintf(buf, sizeof buf, "%ld", rc);
    return buf;
}

static int errno_of_name(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strlen(codes[i].name) == len && !strncmp(codes[i].name, s, len)) return codes[i].code;
    return 0;
}

#define MAX_DOCS 1024
#define MAX_CODES 48
typedef struct docfn {
    char name[64];
    int ncodes;
    int codes[MAX_CODES];
} docfn;
static docfn docs[MAX_DOCS];
static int ndocs;

/* The codes named in comment text c. */
static int codes_in(const char *c, int *out)
{
    int n = 0;
    for (const char *p = c; *p; p++) {
        const char *s = NULL;
        if (p[0] == '-' && p[1] == 'E' && isupper((unsigned char)p[2]))
            s = p;
        else if (!strncmp(p, "EDDY_E", 6) && (p == c || !isalnum((unsigned char)p[-1])))
            s = p;
        if (!s) continue;
        const char *e = s + 1;
        while (isalnum((unsigned char)*e) || *e == '_') e++;
        int code = errno_of_name(s, (size_t)(e - s));
        if (code && n < MAX_CODES) out[n++] = code;
        p = e - 1;
    }
    return n;
}

static docfn *doc_find(const char *name)
{
    for (int i = 0; i < ndocs; i++)
        if (!strcmp(docs[i].name, name)) return &docs[i];
    return NULL;
}

static void inherit_from(docfn *d, const char *comment, const char *pat)
{
    size_t skip = strlen(pat) - 5; /* up to "eddy_" */
    for (const char *p = strstr(comment, pat); p; p = strstr(p + 1, pat)) {
        const char *s = p + skip;
        char ref[64];
        size_t k = 0;
        while (k + 1 < sizeof ref && (isalnum((unsigned char)s[k]) || s[k] == '_')) ref[k] = s[k], k++;
        ref[k] = 0;
        const docfn *from = doc_find(ref);
        for (int i = 0; from && from != d && i < from->ncodes && d->ncodes < MAX_CODES; i++)
            d->codes[d->ncodes++] = from->codes[i];
    }
}

/* "the errors of eddy_x", "as eddy_x" (returns as, the same as): eddy_x's codes too. */
static void doc_inherit(docfn *d, const char *comment)
{
    inherit_from(d, comment, "errors of eddy_");
    inherit_from(d, comment, " as eddy_");
}

/* A comment saying "Same returns as eddy_x" or "the errors of eddy_x" adds eddy_x's codes;
 * "Same returns." alone, those of the function declared just before. */
static void doc_add(const char *name, size_t len, const char *comment)
{
    if (ndocs == MAX_DOCS || len >= sizeof docs[0].name) return;
    docfn *d = &docs[ndocs++];
    memcpy(d->name, name, len);
    d->name[len] = 0;
    d->ncodes = codes_in(comment, d->codes);
    doc_inherit(d, comment);
    const char *same = strcasestr(comment, "same returns");
    if (!same) return;
    const docfn *from = ndocs > 1 ? &docs[ndocs - 2] : NULL;
    const char *as = same + 12;
    while (*as == ' ' || *as == '\n' || *as == '*') as++;
    if (!strncmp(as, "as ", 3)) {
        as += 3;
        char ref[64];
        size_t k = 0;
        while (k + 1 < sizeof ref && (isalnum((unsigned char)as[k]) || as[k] == '_')) ref[k] = as[k], k++;
        ref[k] = 0;
        from = doc_find(ref);
    }
    for (int i = 0; from && from != d && i < from->ncodes && d->ncodes < MAX_CODES; i++)
        d->codes[d->ncodes++] = from->codes[i];
}


/* Read one header: every function (or function-like macro) declared after a comment gets
 * that comment's codes, up to the next comment. */
static void parse_header(const char *path)
{
    FILE *f = fopen(path, "r");
    EDDY_CHECK(f != NULL);
    static char text[1 << 18];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    static char comment[1 << 14];
    comment[0] = 0;
    for (char *p = text; *p;) {
        if (p[0] == '/' && p[1] == '*') {
            char *e = strstr(p + 2, "*/");
            if (!e) break;
            size_t l = (size_t)(e - p);
            if (l >= sizeof comment) l = sizeof comment - 1;
            memcpy(comment, p, l);
            comment[l] = 0;
            p = e + 2;
            /* protocol.h's file comment lists what connection_lost may be given */
            const char *lost = strstr(comment, "Errors passed to connection_lost");
            if (lost) doc_add("connection_lost", 15, lost);
            continue;
        }
        char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        char save = *eol;
        *eol = 0;
        char *d = strstr(p, "#define eddy_");
        if (d == p) {
            char *s = d + 8, *e = s;
            while (isalnum((unsigned char)*e) || *e == '_') e++;
            if (*e == '(') doc_add(s, (size_t)(e - s), comment);
        } else if (strstr(p, "EDDY_API")) {
            /* EDDY_API EDDY_WUR int eddy_x(...), int(eddy_spawn)(...), const char *eddy_y( */
            for (char *s = strstr(p, "eddy_"); s; s = strstr(s + 1, "eddy_")) {
                if (s > p && (isalnum((unsigned char)s[-1]) || s[-1] == '_')) continue;
                char *e = s;
                while (isalnum((unsigned char)*e) || *e == '_') e++;
                char *q = e;
                if (*q == ')') q++;
                if (*q == '(') {
                    doc_add(s, (size_t)(e - s), comment);
                    break;
                }
            }
        }
        *eol = save;
        p = *eol ? eol + 1 : eol;
    }
}

static void parse_headers(void)
{
    if (ndocs) return;
    const char *dir = EDDY_SOURCE_DIR "/include/eddy";
    DIR *d = opendir(dir);
    EDDY_CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 3 || strcmp(e->d_name + l - 2, ".h")) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        parse_header(path);
    }
    closedir(d);
}

/* Shared with the parent: what a faulted run saw. */
typedef struct report {
    int undocumented;       /* public calls that returned an error their header does not name */
    char first[160];        /* the first of them */
    unsigned fired;         /* calls the armed fault failed */
    int fds_before, fds_after;
    int run_rc;             /* eddy_run's result */
} report;
static report *rep;

/* Check a public call's result against its documentation; returns rc. */
static long doc_check(const char *fn, long rc, int line)
{
    if (rc >= 0) return rc;
    const docfn *d = doc_find(fn);
    for (int k = 0; d && k < d->ncodes; k++)
        if (d->codes[k] == rc) return rc;
    if (rep) {
        if (!rep->undocumented++)
            snprintf(rep->first, sizeof rep->first, "%s returned %s, which its header does not "
                     "name (test_fault_sweep.c:%d)", fn, code_name(rc), line);
    }
    return rc;
}
#define CALL(fn, ...) doc_check(#fn, (long)(__VA_ARGS__), __LINE__)

/* ---- scenarios -------------------------------------------------------------------------- */

/* Each runs as eddy_run's root task and returns 0 when everything worked, 1 when a call
 * failed and it unwound (expected under a fault). It always closes what it opened. */
typedef struct scenario {
    const char *name;
    int (*main)(void *);
    bool full_only;
} scenario;

static unsigned char pat(size_t i) { return (unsigned char)(i * 13 + (i >> 9)); }

/* Read s to end of stream, checking the bytes against pat; 0, or 1 on error or wrong bytes. */
static int read_check(eddy_stream *s, size_t expect)
{
    unsigned char buf[3000];
    size_t got = 0;
    for (;;) {
        ssize_t n = CALL(eddy_stream_read, eddy_stream_read(s, buf, sizeof buf));
        if (n < 0) return 1;
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++)
            if (got + (size_t)i >= expect || buf[i] != pat(got + (size_t)i)) return 1;
        got += (size_t)n;
    }
    return got == expect ? 0 : 1;
}

/* Write len pattern bytes, a writev of three pieces then plain writes. */
static int write_pat(eddy_stream *s, size_t len)
{
    unsigned char *b = malloc(len);
    if (!b) return 1;
    for (size_t i = 0; i < len; i++) b[i] = pat(i);
    size_t a = len / 8, c = len / 4;
    struct iovec iov[3] = {{b, a}, {b + a, c}, {b + a + c, len / 8}};
    size_t done = a + c + len / 8, w = 0;
    int rc = CALL(eddy_stream_writev, eddy_stream_writev(s, iov, 3, &w));
    if (rc == 0 && w != done) rc = -EPROTO;
    for (size_t off = done; rc == 0 && off < len; off += 4096) {
        size_t k = len - off < 4096 ? len - off : 4096;
        rc = CALL(eddy_stream_write_all, eddy_stream_write_all(s, b + off, k));
    }
    free(b);
    return rc ? 1 : 0;
}

static int close_stream(eddy_stream *s)
{
    return CALL(eddy_stream_close, eddy_stream_close(s)) ? 1 : 0;
}

/* Echo one connection's bytes back until end of stream, then close it. */
static int echo(eddy_stream *c)
{
    unsigned char buf[2048];
    int bad = 0;
    for (;;) {
        ssize_t n = CALL(eddy_stream_read, eddy_stream_read(c, buf, sizeof buf));
        if (n <= 0) {
            bad = n < 0;
            break;
        }
        if (CALL(eddy_stream_write_all, eddy_stream_write_all(c, buf, (size_t)n))) {
            bad = 1;
            break;
        }
    }
    if (bad) {
        eddy_stream_abort(c);
        return 1;
    }
    return close_stream(c);
}

/* The listening side: accept one connection, close the listener (a connection still in its
 * backlog is reset, so a client never waits on a server that gave up), echo. */
static int serve_one(void *p)
{
    eddy_listener *l = p;
    eddy_stream *c = NULL;
    int rc = (int)CALL(eddy_listener_accept, eddy_listener_accept(l, &c, NULL));
    int bad = CALL(eddy_listener_close, eddy_listener_close(l)) != 0;
    if (rc) return 1;
    return echo(c) | bad;
}

/* The connecting side: send a pattern, half-close, read the echo back. */
static int client_round(eddy_stream *s, size_t len)
{
    int bad = write_pat(s, len);
    if (!bad) bad = CALL(eddy_stream_shutdown_write, eddy_stream_shutdown_write(s)) != 0;
    if (!bad) bad = read_check(s, len);
    if (bad) {
        eddy_stream_abort(s);
        return 1;
    }
    return close_stream(s);
}

/* Run a server task on l and client(arg) in this task; the client's end cancels the server
 * if it is still waiting (the client failed before it connected). */
static int with_server(eddy_listener *l, int (*client)(void *), void *arg)
{
    eddy_nursery n;
    if (CALL(eddy_nursery_open, eddy_nursery_open(&n))) {
        (void)CALL(eddy_listener_close, eddy_listener_close(l));
        return 1;
    }
    int bad = 0;
    if (CALL(eddy_spawn, eddy_spawn(&n, serve_one, l))) {
        bad = 1;
        (void)CALL(eddy_listener_close, eddy_listener_close(l));
    } else {
        bad = client(arg);
    }
    eddy_nursery_cancel(&n);
    if (CALL(eddy_nursery_close, eddy_nursery_close(&n))) bad = 1;
    return bad;
}

typedef struct addr_arg {
    eddy_sockaddr addr;
    const char *name;
} addr_arg;

static int tcp_client(void *p)
{
    addr_arg *a = p;
    eddy_stream *s;
    char host[64];
    if (eddy_sockaddr_format(&a->addr, host, sizeof host) < 0) return 1;
    *strrchr(host, ':') = 0;
    if (CALL(eddy_tcp_connect, eddy_tcp_connect(host, eddy_sockaddr_port(&a->addr), NULL, &s)))
        return 1;
    eddy_sockaddr peer, local;
    int bad = CALL(eddy_stream_peer_addr, eddy_stream_peer_addr(s, &peer)) != 0;
    bad |= CALL(eddy_stream_local_addr, eddy_stream_local_addr(s, &local)) != 0;
    return client_round(s, 48 * 1024) | bad;
}

static int tcp_client_addr(void *p)
{
    addr_arg *a = p;
    eddy_stream *s;
    if (CALL(eddy_tcp_connect_addr, eddy_tcp_connect_addr(&a->addr, &s))) return 1;
    return client_round(s, 5000);
}

static int scen_tcp(void *unused)
{
    (void)unused;
    int bad = 0;
    for (int round = 0; round < 2; round++) {
        eddy_listener *l;
        addr_arg a;
        if (CALL(eddy_tcp_listen, eddy_tcp_listen("127.0.0.1", 0, NULL, &l))) return 1;
        if (CALL(eddy_listener_local_addr, eddy_listener_local_addr(l, &a.addr))) {
            (void)CALL(eddy_listener_close, eddy_listener_close(l));
            return 1;
        }
        bad |= with_server(l, round ? tcp_client_addr : tcp_client, &a);
    }
    return bad;
}

static int unix_client(void *p)
{
    addr_arg *a = p;
    eddy_stream *s;
    if (CALL(eddy_unix_connect, eddy_unix_connect(a->name, &s))) return 1;
    eddy_unix_cred cred;
    int bad = CALL(eddy_unix_peer_cred, eddy_unix_peer_cred(s, &cred)) != 0;
    return client_round(s, 20000) | bad;
}

/* Unix listener and connect, a socket pair passing a descriptor, then an echo over the pair. */
static int scen_unix(void *unused)
{
    (void)unused;
    addr_arg a;
    char name[64];
    snprintf(name, sizeof name, "@eddy-fault-sweep-%d", (int)getpid());
    a.name = name;
    eddy_listener *l;
    int bad = 0;
    if (CALL(eddy_unix_listen, eddy_unix_listen(name, NULL, &l)))
        bad = 1;
    else
        bad |= with_server(l, unix_client, &a);

    eddy_stream *x, *y;
    if (CALL(eddy_socketpair, eddy_socketpair(&x, &y))) return 1;
    int fd = -1;
    if (CALL(eddy_unix_send_fd, eddy_unix_send_fd(x, 0)) ||
        CALL(eddy_unix_recv_fd, eddy_unix_recv_fd(y, &fd)))
        bad = 1;
    if (fd >= 0) close(fd);
    static const char msg[] = "ping";
    char buf[8];
    if (!bad && (CALL(eddy_stream_write_all, eddy_stream_write_all(x, msg, 4)) ||
                 CALL(eddy_stream_read, eddy_stream_read(y, buf, sizeof buf)) <= 0))
        bad = 1;
    bad |= close_stream(x);
    bad |= close_stream(y);
    return bad;
}

typedef struct pipe_job {
    eddy_stream *wr;
    size_t len;
    int bad;
} pipe_job;

static int pipe_writer(void *p)
{
    pipe_job *j = p;
    j->bad = write_pat(j->wr, j->len);
    /* also after a failed write: the reader must see the end instead of waiting forever */
    j->bad |= CALL(eddy_stream_shutdown_write, eddy_stream_shutdown_write(j->wr)) != 0;
    return 0;
}

/* A pipe carrying more than its buffer holds (so both sides wait), then a descriptor stream
 * over a socket pair made outside eddy. */
static int scen_pipe(void *unused)
{
    (void)unused;
    int bad = 0;
    eddy_stream *rd, *wr;
    if (CALL(eddy_pipe, eddy_pipe(&rd, &wr))) return 1;
    pipe_job j = {wr, 200 * 1024, 0};
    eddy_nursery n;
    if (CALL(eddy_nursery_open, eddy_nursery_open(&n))) {
        bad = 1;
    } else {
        if (CALL(eddy_spawn, eddy_spawn(&n, pipe_writer, &j)))
            bad = 1;
        else
            bad |= read_check(rd, j.len);
        if (bad) eddy_nursery_cancel(&n);
        bad |= CALL(eddy_nursery_close, eddy_nursery_close(&n)) != 0;
    }
    bad |= j.bad | close_stream(rd) | close_stream(wr);

    int sv[2];
    EDDY_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    eddy_stream *a, *b;
    if (CALL(eddy_fd_stream, eddy_fd_stream(sv[0], 0, &a))) {
        close(sv[0]);
        close(sv[1]);
        return 1;
    }
    if (CALL(eddy_fd_stream, eddy_fd_stream(sv[1], 0, &b))) {
        close(sv[1]);
        return close_stream(a) | 1;
    }
    static const char msg[] = "hello";
    char buf[16];
    if (CALL(eddy_stream_write_all, eddy_stream_write_all(a, msg, 5)) ||
        CALL(eddy_stream_read, eddy_stream_read(b, buf, sizeof buf)) <= 0)
        bad = 1;
    return bad | close_stream(a) | close_stream(b);
}

typedef struct sf_arg {
    eddy_sockaddr addr;
    int file;
    size_t len;
} sf_arg;

static int sf_server(void *p)
{
    eddy_listener *l = p;
    eddy_stream *c = NULL;
    int rc = (int)CALL(eddy_listener_accept, eddy_listener_accept(l, &c, NULL));
    int bad = CALL(eddy_listener_close, eddy_listener_close(l)) != 0;
    if (rc) return 1;
    bad |= read_check(c, 300 * 1024);
    if (bad) {
        eddy_stream_abort(c);
        return 1;
    }
    return close_stream(c);
}

static int sf_client(sf_arg *a)
{
    eddy_stream *s;
    if (CALL(eddy_tcp_connect_addr, eddy_tcp_connect_addr(&a->addr, &s))) return 1;
    size_t sent = 0;
    int bad = CALL(eddy_sendfile, eddy_sendfile(s, a->file, 0, a->len, &sent)) != 0;
    if (!bad) bad = CALL(eddy_stream_shutdown_write, eddy_stream_shutdown_write(s)) != 0;
    if (bad) {
        eddy_stream_abort(s);
        return 1;
    }
    /* the server closes after reading everything: wait for its end of stream */
    char c;
    bad = CALL(eddy_stream_read, eddy_stream_read(s, &c, 1)) != 0;
    return bad | close_stream(s);
}

/* eddy_sendfile of a file to a TCP stream (sendfile(2)) and to a pipe (the copying loop). */
static int scen_sendfile(void *unused)
{
    (void)unused;
    char path[] = "/tmp/eddy-fault-sweep-XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    unlink(path);
    sf_arg a = {.file = fd, .len = 300 * 1024};
    static unsigned char blk[4096];
    for (size_t off = 0; off < a.len; off += sizeof blk) {
        for (size_t i = 0; i < sizeof blk; i++) blk[i] = pat(off + i);
        EDDY_CHECK(write(fd, blk, sizeof blk) == (ssize_t)sizeof blk);
    }
    int bad = 0;
    eddy_listener *l;
    eddy_nursery n;
    if (CALL(eddy_tcp_listen, eddy_tcp_listen("127.0.0.1", 0, NULL, &l))) {
        bad = 1;
    } else if (CALL(eddy_listener_local_addr, eddy_listener_local_addr(l, &a.addr)) ||
               CALL(eddy_nursery_open, eddy_nursery_open(&n))) {
        (void)CALL(eddy_listener_close, eddy_listener_close(l));
        bad = 1;
    } else {
        if (CALL(eddy_spawn, eddy_spawn(&n, sf_server, l))) {
            (void)CALL(eddy_listener_close, eddy_listener_close(l));
            bad = 1;
        } else {
            bad = sf_client(&a);
        }
        eddy_nursery_cancel(&n);
        bad |= CALL(eddy_nursery_close, eddy_nursery_close(&n)) != 0;
    }

    eddy_stream *rd, *wr;
    if (CALL(eddy_pipe, eddy_pipe(&rd, &wr))) {
        close(fd);
        return 1;
    }
    size_t sent = 0;
    char buf[512];
    if (CALL(eddy_sendfile, eddy_sendfile(wr, fd, 1000, 300, &sent)) ||
        CALL(eddy_stream_read, eddy_stream_read(rd, buf, sizeof buf)) <= 0)
        bad = 1;
    close(fd);
    return bad | close_stream(rd) | close_stream(wr);
}

typedef struct core_arg {
    eddy_chan_tx tx;
    eddy_chan_rx rx;
    int pfd[2];
    int bad;
} core_arg;

static int core_producer(void *p)
{
    core_arg *c = p;
    for (int i = 0; i < 20; i++) {
        if (CALL(eddy_chan_send, eddy_chan_send(&c->tx, &i))) {
            c->bad = 1;
            break;
        }
        if (i % 5 == 0 && CALL(eddy_sleep, eddy_sleep(EDDY_MSEC(1)))) c->bad = 1;
    }
    (void)eddy_chan_close_send(&c->tx);
    char b = 1;
    if (write(c->pfd[1], &b, 1) != 1) c->bad = 1;
    return 0;
}

static int core_sleeper(void *p)
{
    (void)p;
    return CALL(eddy_sleep, eddy_sleep(EDDY_MSEC(2))) == 0 ? 0 : 0;
}

/* The runtime alone: the loop (created by eddy_run), tasks and their stacks, a channel,
 * timers and a wait on a foreign descriptor. */
static int scen_core(void *unused)
{
    (void)unused;
    core_arg c = {.bad = 0};
    EDDY_CHECK(pipe2(c.pfd, O_CLOEXEC | O_NONBLOCK) == 0);
    int bad = 0;
    if (CALL(eddy_chan_open, eddy_chan_open(&c.tx, &c.rx, sizeof(int), 4))) {
        bad = 1;
        goto out;
    }
    eddy_nursery n;
    if (CALL(eddy_nursery_open, eddy_nursery_open(&n))) {
        (void)eddy_chan_close_send(&c.tx);
        (void)eddy_chan_close_recv(&c.rx);
        bad = 1;
        goto out;
    }
    if (CALL(eddy_spawn, eddy_spawn(&n, core_sleeper, NULL)) ||
        CALL(eddy_spawn, eddy_spawn(&n, core_producer, &c))) {
        bad = 1;
        (void)eddy_chan_close_send(&c.tx);
    }
    int v, sum = 0;
    while (CALL(eddy_chan_recv, eddy_chan_recv(&c.rx, &v)) == 0) sum += v;
    (void)eddy_chan_close_recv(&c.rx);
    if (!bad && sum != 190) bad = 1;
    if (!bad && CALL(eddy_wait_fd, eddy_wait_fd(c.pfd[0], EDDY_READ)) < 0) bad = 1;
    if (CALL(eddy_yield, eddy_yield())) bad = 1;
    bad |= CALL(eddy_nursery_close, eddy_nursery_close(&n)) != 0;
    bad |= c.bad;
out:
    (void)eddy_fd_forget(c.pfd[0]);
    close(c.pfd[0]);
    close(c.pfd[1]);
    return bad;
}

/* -- the callback protocol layer: an echo server, two protocol clients and a stream client -- */

typedef struct proto_run {
    eddy_event done;
    int left; /* clients not finished */
    int bad;
} proto_run;

typedef struct proto_client {
    proto_run *run;
    size_t got;
} proto_client;

#define PROTO_LEN 20000

/* What connection_lost may be given: 0, or a code protocol.h's file comment names under
 * "Errors passed to connection_lost" (parsed as the pseudo-function "connection_lost"). */
static void lost_check(int err, int line)
{
    (void)doc_check("connection_lost", err, line);
}

static void srv_data(eddy_transport *t, const void *buf, size_t len)
{
    if (CALL(eddy_transport_write, eddy_transport_write(t, buf, len))) (void)eddy_transport_abort(t);
}
static bool srv_eof(eddy_transport *t)
{
    (void)t;
    return false;
}
static void srv_lost(eddy_transport *t, int err)
{
    (void)t;
    lost_check(err, __LINE__);
}
static const eddy_protocol srv_proto = {.data_received = srv_data, .eof_received = srv_eof,
                                        .connection_lost = srv_lost};
static int srv_factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **proto, void **user)
{
    (void)arg, (void)peer;
    *proto = &srv_proto;
    *user = NULL;
    return 0;
}

static void cli_made(eddy_transport *t, void *user)
{
    (void)user;
    static unsigned char b[PROTO_LEN];
    for (size_t i = 0; i < sizeof b; i++) b[i] = pat(i);
    if (CALL(eddy_transport_write, eddy_transport_write(t, b, sizeof b)) ||
        CALL(eddy_transport_shutdown_write, eddy_transport_shutdown_write(t)))
        (void)eddy_transport_abort(t);
}
static void cli_data(eddy_transport *t, const void *buf, size_t len)
{
    proto_client *c = eddy_transport_user(t);
    const unsigned char *b = buf;
    for (size_t i = 0; i < len; i++)
        if (c->got + i >= PROTO_LEN || b[i] != pat(c->got + i)) {
            c->run->bad = 1; /* wrong bytes arrived: never acceptable */
            if (rep && !rep->undocumented++)
                snprintf(rep->first, sizeof rep->first, "protocol client got a wrong byte at %zu",
                         c->got + i);
            (void)eddy_transport_abort(t);
            return;
        }
    c->got += len;
}
static bool cli_eof(eddy_transport *t)
{
    (void)t;
    return false;
}
static void cli_lost(eddy_transport *t, int err)
{
    proto_client *c = eddy_transport_user(t);
    lost_check(err, __LINE__);
    if (--c->run->left == 0) eddy_event_set(&c->run->done);
    free(c);
}
static const eddy_protocol cli_proto = {.connection_made = cli_made, .data_received = cli_data,
                                        .eof_received = cli_eof, .connection_lost = cli_lost};
static int cli_factory(void *arg, const eddy_sockaddr *peer, const eddy_protocol **proto, void **user)
{
    (void)peer;
    *proto = &cli_proto;
    *user = arg;
    return 0;
}

static int scen_protocol(void *unused)
{
    (void)unused;
    proto_run run = {.left = 2};
    eddy_event_init(&run.done);
    eddy_listener *l;
    addr_arg a;
    if (CALL(eddy_tcp_listen, eddy_tcp_listen("127.0.0.1", 0, NULL, &l))) return 1;
    if (CALL(eddy_listener_local_addr, eddy_listener_local_addr(l, &a.addr))) {
        (void)CALL(eddy_listener_close, eddy_listener_close(l));
        return 1;
    }
    eddy_protocol_server_opts o = EDDY_PROTOCOL_SERVER_OPTS_INIT;
    o.grace = EDDY_MSEC(200);
    o.accept_backoff = EDDY_MSEC(5);
    eddy_protocol_server *srv;
    if (CALL(eddy_protocol_serve, eddy_protocol_serve(l, srv_factory, NULL, &o, &srv))) {
        (void)CALL(eddy_listener_close, eddy_listener_close(l));
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        proto_client *c = calloc(1, sizeof *c);
        EDDY_CHECK(c != NULL);
        c->run = &run;
        if (CALL(eddy_protocol_connect, eddy_protocol_connect(&a.addr, cli_factory, c, NULL))) {
            free(c);
            bad = 1;
            if (--run.left == 0) eddy_event_set(&run.done);
        }
    }
    bad |= tcp_client_addr(&a); /* a stream client of the protocol server */
    if (CALL(eddy_event_wait, eddy_event_wait(&run.done))) bad = 1;
    (void)CALL(eddy_protocol_server_close, eddy_protocol_server_close(srv));
    bad |= CALL(eddy_listener_close, eddy_listener_close(l)) != 0;
    return bad | run.bad;
}

/* -- UDP: single datagrams and batches between two sockets, one of them connected -- */
static int scen_udp(void *unused)
{
    (void)unused;
    eddy_sockaddr any, aaddr;
    EDDY_OK(eddy_sockaddr_parse("127.0.0.1", 0, &any));
    eddy_udp *a, *b;
    if (CALL(eddy_udp_open, eddy_udp_open(&any, NULL, &a))) return 1;
    if (CALL(eddy_udp_local_addr, eddy_udp_local_addr(a, &aaddr)) ||
        CALL(eddy_udp_open, eddy_udp_open(&any, &aaddr, &b))) {
        (void)CALL(eddy_udp_close, eddy_udp_close(a));
        return 1;
    }
    int bad = 0;
    char buf[64];
    eddy_sockaddr from;
    if (CALL(eddy_udp_send, eddy_udp_send(b, NULL, "one", 3)) != 3 ||
        CALL(eddy_udp_recv, eddy_udp_recv(a, &from, buf, sizeof buf)) != 3)
        bad = 1;
    if (!bad && (CALL(eddy_udp_send, eddy_udp_send(a, &from, "two", 3)) != 3 ||
                 CALL(eddy_udp_recv, eddy_udp_recv(b, NULL, buf, sizeof buf)) != 3))
        bad = 1;
    char p[3][8] = {"x", "yy", "zzz"};
    eddy_udp_msg m[3];
    for (int i = 0; i < 3; i++) m[i] = (eddy_udp_msg){.buf = p[i], .len = strlen(p[i])};
    int k = bad ? 0 : (int)CALL(eddy_udp_send_many, eddy_udp_send_many(b, m, 3));
    if (k <= 0) bad = 1;
    char r[3][8];
    eddy_udp_msg rm[3];
    for (int i = 0; i < 3; i++) rm[i] = (eddy_udp_msg){.buf = r[i], .len = sizeof r[i]};
    for (int got = 0; !bad && got < k;) {
        int n = (int)CALL(eddy_udp_recv_many, eddy_udp_recv_many(a, rm + got, (size_t)(3 - got)));
        if (n <= 0) bad = 1;
        got += n > 0 ? n : 0;
    }
    bad |= CALL(eddy_udp_close, eddy_udp_close(a)) != 0;
    bad |= CALL(eddy_udp_close, eddy_udp_close(b)) != 0;
    return bad;
}

/* -- files and directories on the worker pool -- */
static int scen_files(void *unused)
{
    (void)unused;
    char dir[] = "/tmp/eddy-fault-files-XXXXXX";
    EDDY_CHECK(mkdtemp(dir) != NULL);
    char sub[64], path[96], path2[96];
    snprintf(sub, sizeof sub, "%s/d", dir);
    snprintf(path, sizeof path, "%s/d/f", dir);
    snprintf(path2, sizeof path2, "%s/d/g", dir);
    int bad = 0;
    if (CALL(eddy_file_mkdir, eddy_file_mkdir(sub, 0700))) {
        bad = 1;
        goto out;
    }
    eddy_file *f;
    if (CALL(eddy_file_open, eddy_file_open(path, O_CREAT | O_RDWR | O_TRUNC, 0600, &f))) {
        bad = 1;
    } else {
        static const char a[] = "hello ", b[] = "world";
        struct iovec iov[2] = {{(void *)a, 6}, {(void *)b, 5}};
        char got[16] = {0};
        struct iovec riov[2] = {{got, 6}, {got + 6, 5}};
        struct stat st;
        if (CALL(eddy_file_write, eddy_file_write(f, a, 6)) != 6 ||
            CALL(eddy_file_pwritev, eddy_file_pwritev(f, iov, 2, 0)) != 11 ||
            CALL(eddy_file_pwrite, eddy_file_pwrite(f, "W", 1, 6)) != 1 ||
            CALL(eddy_file_fdatasync, eddy_file_fdatasync(f)) ||
            CALL(eddy_file_fstat, eddy_file_fstat(f, &st)) ||
            CALL(eddy_file_preadv, eddy_file_preadv(f, riov, 2, 0)) != 11 ||
            CALL(eddy_file_pread, eddy_file_pread(f, got, 5, 6)) != 5)
            bad = 1;
        bad |= CALL(eddy_file_close, eddy_file_close(f)) != 0;
    }
    struct stat st;
    if (!bad && (CALL(eddy_file_stat, eddy_file_stat(path, &st)) ||
                 CALL(eddy_file_rename, eddy_file_rename(path, path2))))
        bad = 1;
    eddy_dir *d;
    if (CALL(eddy_dir_open, eddy_dir_open(sub, &d))) {
        bad = 1;
    } else {
        eddy_dirent e;
        int r;
        while ((r = (int)CALL(eddy_dir_read, eddy_dir_read(d, &e))) == 1) {
        }
        bad |= r != 0;
        bad |= CALL(eddy_dir_close, eddy_dir_close(d)) != 0;
    }
out:
    /* cleanup outside eddy: whatever the fault left behind */
    unlink(path);
    unlink(path2);
    rmdir(sub);
    rmdir(dir);
    return bad;
}

/* -- child processes: run-and-capture through pipes, and a plain spawn and wait -- */
static int scen_process(void *unused)
{
    (void)unused;
    int bad = 0;
    static const char *const cat[] = {"cat", NULL};
    eddy_process_opts o = EDDY_PROCESS_OPTS_INIT;
    o.grace = EDDY_MSEC(200);
    o.stderr_mode = EDDY_STDIO_NULL;
    char out[64];
    eddy_process_capture cap = {.input = "hello", .input_len = 5, .out = out, .out_cap = sizeof out};
    long rc = CALL(eddy_process_run, eddy_process_run(cat, &o, &cap));
    if (rc != 0 || cap.out_len != 5 || memcmp(out, "hello", 5)) bad = 1;

    static const char *const tru[] = {"true", NULL};
    eddy_process_opts q = EDDY_PROCESS_OPTS_INIT;
    q.grace = EDDY_MSEC(200);
    q.stdin_mode = q.stdout_mode = q.stderr_mode = EDDY_STDIO_NULL;
    eddy_process p;
    if (CALL(eddy_process_spawn, eddy_process_spawn(&p, tru, &q))) return 1;
    if (CALL(eddy_process_wait, eddy_process_wait(&p)) != 0) bad = 1;
    bad |= CALL(eddy_process_close, eddy_process_close(&p)) != 0;
    return bad;
}

/* -- HTTP: the server with static files, and the client with its pool -- */
typedef struct http_arg {
    eddy_listener *l;
    eddy_http_files files;
    eddy_http_server srv;
    int rc;
} http_arg;

static int http_server(void *p)
{
    http_arg *h = p;
    eddy_http_serve_opts o = EDDY_HTTP_SERVE_OPTS_INIT;
    o.server = &h->srv;
    o.grace = EDDY_MSEC(200);
    h->rc = (int)CALL(eddy_http_serve, eddy_http_serve(h->l, eddy_http_files_serve, &h->files, &o));
    return 0;
}

static int scen_http(void *unused)
{
    (void)unused;
    char dir[] = "/tmp/eddy-fault-http-XXXXXX";
    EDDY_CHECK(mkdtemp(dir) != NULL);
    char path[96];
    snprintf(path, sizeof path, "%s/f.txt", dir);
    FILE *fp = fopen(path, "w");
    EDDY_CHECK(fp != NULL);
    for (int i = 0; i < 3000; i++) fputs("0123456789", fp);
    fclose(fp);
    int bad = 0;
    http_arg h = {.rc = 0};
    eddy_sockaddr a;
    if (CALL(eddy_http_files_init, eddy_http_files_init(&h.files, dir))) {
        bad = 1;
        goto out;
    }
    if (CALL(eddy_tcp_listen, eddy_tcp_listen("127.0.0.1", 0, NULL, &h.l))) {
        eddy_http_files_destroy(&h.files);
        bad = 1;
        goto out;
    }
    if (CALL(eddy_listener_local_addr, eddy_listener_local_addr(h.l, &a))) bad = 1;
    eddy_nursery n;
    if (!bad && !CALL(eddy_nursery_open, eddy_nursery_open(&n))) {
        if (CALL(eddy_spawn, eddy_spawn(&n, http_server, &h))) bad = 1;
        eddy_http_client *c;
        if (!bad && !CALL(eddy_http_client_open, eddy_http_client_open(NULL, &c))) {
            char url[96], body[40000];
            snprintf(url, sizeof url, "http://127.0.0.1:%u/f.txt", eddy_sockaddr_port(&a));
            for (int i = 0; i < 2; i++) { /* the second request reuses the pooled connection */
                eddy_http_client_response *r;
                if (CALL(eddy_http_client_get, eddy_http_client_get(c, url, &r))) {
                    bad = 1;
                    break;
                }
                size_t len = 0;
                if (CALL(eddy_http_client_response_read_all,
                         eddy_http_client_response_read_all(r, body, sizeof body, &len)) ||
                    len != 30000)
                    bad = 1;
                eddy_http_client_response_close(r);
            }
            (void)CALL(eddy_http_client_close, eddy_http_client_close(c));
        } else {
            bad = 1;
        }
        (void)eddy_http_server_shutdown(&h.srv);
        if (bad) eddy_nursery_cancel(&n);
        bad |= CALL(eddy_nursery_close, eddy_nursery_close(&n)) != 0;
    } else {
        bad = 1;
    }
    bad |= h.rc != 0;
    bad |= CALL(eddy_listener_close, eddy_listener_close(h.l)) != 0;
    eddy_http_files_destroy(&h.files);
out:
    unlink(path);
    rmdir(dir);
    return bad;
}

static int conf_make(void *ctx, eddy_stream **a, eddy_stream **b)
{
    (void)ctx;
    return eddy_socketpair(a, b);
}

/* The stream conformance suite over Unix socket pairs (full sweep only: it is long). */
static int scen_conformance(void *unused)
{
    (void)unused;
    eddy_stream_factory f = EDDY_STREAM_FACTORY_INIT;
    f.name = "unix pair under a fault";
    f.make = conf_make;
    f.flags = EDDY_STREAMTEST_NO_RESET;
    f.kind = "unix";
    f.volume = 256 * 1024;
    /* The real clock here (no autojump), so a guard can cut a check left waiting for a peer
     * whose injected failure (a shutdown that "failed") never told it anything. */
    f.timeout = EDDY_SEC(3);
    /* its verdict under a fault is not the question: crashes, hangs and leaks are */
    return eddy_check_stream(&f) ? 1 : 0;
}

static const scenario scenarios[] = {
    {"core", scen_core, false},
    {"tcp", scen_tcp, false},
    {"unix", scen_unix, false},
    {"pipe", scen_pipe, false},
    {"sendfile", scen_sendfile, false},
    {"protocol", scen_protocol, false},
    {"udp", scen_udp, false},
    {"files", scen_files, false},
    {"process", scen_process, false},
    {"http", scen_http, false},
    {"conformance", scen_conformance, true},
};

/* ---- the sweep -------------------------------------------------------------------------- */

/* The errnos tried at a kind of call: what the kernel can really return there (for the
 * resource and interruption errors the issue lists) and SHORT for calls that move bytes. */
#define SHORT EDDY__SYS_SHORT

/* Sites where the descriptor's kind rules out what the call's kind allows in general. */
static const struct {
    int kind;
    const char *func;
    int errs[8];
} site_errs[] = {
    /* adding 1 to an eventfd: never blocks (no EINTR), never short; EAGAIN only when the
     * counter is saturated, that is, already readable, so the wake-up is there anyway */
    {EDDY__SYS_WRITE, "wake_loop", {0}},
    {EDDY__SYS_WRITE, "on_signal", {0}},
    /* draining an eventfd, a timerfd or a signalfd: 8 bytes (or whole siginfo records) or
     * EAGAIN; a shorter buffer would be EINVAL, not a short read */
    {EDDY__SYS_READ, "wake_io_cb", {EAGAIN}},
    {EDDY__SYS_READ, "on_timerfd", {EAGAIN}},
    {EDDY__SYS_READ, "drain_sfd_locked", {EAGAIN}},
    {EDDY__SYS_READ, "drain_caught_locked", {EAGAIN}},
    {EDDY__SYS_READ, "refill", {EAGAIN, EINTR}}, /* inotify: whole events only */
    {EDDY__SYS_WRITE, "put_str", {0}},           /* the stack-overflow message, then abort */
    /* files on the pool's blocking threads */
    {EDDY__SYS_READ, "eddy__fop_exec", {EIO, SHORT}},
    {EDDY__SYS_READV, "eddy__fop_exec", {EIO, SHORT}},
    {EDDY__SYS_WRITE, "eddy__fop_exec", {ENOSPC, EIO, SHORT}},
    {EDDY__SYS_WRITEV, "eddy__fop_exec", {ENOSPC, EIO, SHORT}},
    {EDDY__SYS_SYSCALL, "eddy__fop_exec", {EIO, ENOENT}},  /* getdents64 */
    {EDDY__SYS_SYSCALL, "futex_wait_nonzero", {EINTR, EAGAIN}}, /* futex wait: spurious */
    {EDDY__SYS_SYSCALL, "futex_store_wake", {0}},               /* futex wake cannot fail */
};

static int plausible(int kind, const char *func, int *out)
{
    for (size_t i = 0; i < sizeof site_errs / sizeof site_errs[0]; i++) {
        if (site_errs[i].kind != kind || strcmp(site_errs[i].func, func)) continue;
        int n = 0;
        while (n < 8 && site_errs[i].errs[n]) out[n] = site_errs[i].errs[n], n++;
        return n;
    }
    static const struct {
        int kind;
        int errs[8];
    } t[] = {
        /* read/write here are on pipes, eventfds, timerfds and files: sockets use recv/send */
        {EDDY__SYS_READ, {EINTR, EAGAIN, SHORT}},
        {EDDY__SYS_READV, {EINTR, EAGAIN, SHORT}},
        {EDDY__SYS_PREAD, {EINTR, EIO, SHORT}},
        {EDDY__SYS_RECV, {EINTR, EAGAIN, ENOMEM, ECONNRESET, SHORT}},
        /* recvfrom/sendto are UDP's (eddy_udp, the resolver's queries): an ICMP error is
         * ECONNREFUSED, and a datagram is never sent in part */
        {EDDY__SYS_RECVFROM, {EINTR, EAGAIN, ENOMEM, ECONNREFUSED, SHORT}},
        {EDDY__SYS_RECVMSG, {EINTR, EAGAIN, ENOMEM, ECONNRESET, SHORT}},
        {EDDY__SYS_WRITE, {EINTR, EAGAIN, EPIPE, SHORT}},
        {EDDY__SYS_WRITEV, {EINTR, EAGAIN, EPIPE, SHORT}},
        {EDDY__SYS_SEND, {EINTR, EAGAIN, ENOBUFS, ENOMEM, EPIPE, ECONNRESET, SHORT}},
        {EDDY__SYS_SENDTO, {EINTR, EAGAIN, ENOBUFS, ENOMEM, ECONNREFUSED}},
        {EDDY__SYS_SENDMSG, {EINTR, EAGAIN, ENOBUFS, ENOMEM, EPIPE, ECONNRESET, SHORT}},
        {EDDY__SYS_RECVMMSG, {EINTR, EAGAIN, ENOMEM, ECONNREFUSED, SHORT}},
        {EDDY__SYS_SENDMMSG, {EINTR, EAGAIN, ENOBUFS, ENOMEM, SHORT}},
        {EDDY__SYS_SENDFILE, {EINTR, EAGAIN, ENOMEM, EPIPE, ECONNRESET, SHORT}},
        {EDDY__SYS_SPLICE, {EINTR, EAGAIN, ENOMEM, EPIPE, SHORT}},
        {EDDY__SYS_ACCEPT4, {EINTR, EAGAIN, EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED}},
        {EDDY__SYS_CONNECT, {EAGAIN, ECONNREFUSED, ENOBUFS, ENOMEM}},
        {EDDY__SYS_SOCKET, {EMFILE, ENFILE, ENOBUFS, ENOMEM}},
        {EDDY__SYS_SOCKETPAIR, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_PIPE2, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_EVENTFD, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_EPOLL_CREATE1, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_TIMERFD_CREATE, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_SIGNALFD, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_OPEN, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_OPENAT, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_DUP, {EMFILE}},
        {EDDY__SYS_BIND, {EADDRINUSE, ENOMEM}},
        {EDDY__SYS_LISTEN, {EADDRINUSE}},
        {EDDY__SYS_SETSOCKOPT, {ENOMEM, ENOBUFS}},
        {EDDY__SYS_GETSOCKNAME, {ENOBUFS}},
        {EDDY__SYS_GETPEERNAME, {ENOBUFS, ENOTCONN}},
        {EDDY__SYS_SHUTDOWN, {ENOTCONN}},
        {EDDY__SYS_CLOSE, {EINTR, EIO}},
        {EDDY__SYS_EPOLL_CTL, {ENOMEM, ENOSPC}},
        {EDDY__SYS_EPOLL_WAIT, {EINTR}},
        {EDDY__SYS_MMAP, {ENOMEM}},
        {EDDY__SYS_MPROTECT, {ENOMEM}},
        {EDDY__SYS_MADVISE, {ENOMEM}},
        {EDDY__SYS_FSTAT, {ENOMEM}},
        {EDDY__SYS_POLL, {EINTR, ENOMEM}},
        {EDDY__SYS_WAITID, {EINTR}},
        {EDDY__SYS_WAITPID, {EINTR}},
        {EDDY__SYS_POSIX_SPAWNP, {ENOMEM, EAGAIN}},
        /* files and directories, on the worker pool */
        {EDDY__SYS_PWRITE, {ENOSPC, EIO, SHORT}},
        {EDDY__SYS_PREADV, {EIO, SHORT}},
        {EDDY__SYS_PWRITEV, {ENOSPC, EIO, SHORT}},
        {EDDY__SYS_FSYNC, {EIO, ENOSPC}},
        {EDDY__SYS_FDATASYNC, {EIO, ENOSPC}},
        {EDDY__SYS_STATX, {ENOMEM}},
        {EDDY__SYS_RENAMEAT, {ENOSPC, EIO}},
        {EDDY__SYS_UNLINKAT, {EIO, EBUSY}},
        {EDDY__SYS_MKDIRAT, {ENOSPC, EIO}},
        {EDDY__SYS_INOTIFY_INIT1, {EMFILE, ENFILE, ENOMEM}},
        {EDDY__SYS_INOTIFY_ADD_WATCH, {ENOSPC, ENOMEM}},
        {EDDY__SYS_PTHREAD_CREATE, {EAGAIN}},
        /* the io_uring backend's kernel entries (liburing returns -errno) */
        {EDDY__SYS_IO_URING_QUEUE_INIT_PARAMS, {ENOMEM, EMFILE, EPERM, ENOSYS}},
        {EDDY__SYS_IO_URING_SUBMIT, {EINTR, EAGAIN, EBUSY}},
        {EDDY__SYS_IO_URING_SUBMIT_AND_WAIT, {EINTR, EAGAIN, EBUSY}},
        {EDDY__SYS_IO_URING_SUBMIT_AND_WAIT_TIMEOUT, {EINTR, EAGAIN, EBUSY}},
        {EDDY__SYS_IO_URING_SUBMIT_AND_GET_EVENTS, {EINTR, EAGAIN, EBUSY}},
        {EDDY__SYS_IO_URING_REGISTER_BUF_RING, {ENOMEM, EINVAL}},
        {EDDY__SYS_IO_URING_GET_PROBE_RING, {ENOMEM}},
        {EDDY__SYS_SYSCALL, {ENOMEM, EMFILE}},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (t[i].kind != kind) continue;
        int n = 0;
        while (n < 8 && t[i].errs[n]) out[n] = t[i].errs[n], n++;
        return n;
    }
    return 0; /* getsockopt, fcntl, munmap, kill, timerfd_settime, unlink: nothing the kernel
                 returns for the valid arguments eddy passes */
}

static const char *err_name(int e)
{
    return e == SHORT ? "short" : code_name(-e) + 1;
}

static int mult = 1;

/* What one run found wrong, or NULL. */
static const char *verdict(int st, bool baseline, char *why, size_t len)
{
    if (WIFSIGNALED(st)) {
        if (WTERMSIG(st) == SIGALRM) return "hang (no progress before the alarm)";
        snprintf(why, len, "crash (signal %d, %s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
        return why;
    }
    if (WEXITSTATUS(st) == 3) return "memory leaked (LeakSanitizer report above)";
    if (WEXITSTATUS(st) != 0) {
        snprintf(why, len, "child exit status %d", WEXITSTATUS(st));
        return why;
    }
    if (rep->undocumented) return rep->first;
    if (rep->fds_after != rep->fds_before) {
        snprintf(why, len, "descriptor leak (%d open before eddy_run, %d after)", rep->fds_before,
                 rep->fds_after);
        return why;
    }
    if (rep->run_rc == -EDEADLK) return "eddy_run: -EDEADLK (tasks blocked forever)";
    if (rep->run_rc == -ENOTRECOVERABLE) return "eddy_run: handles left open (leak report above)";
    if (rep->run_rc < 0) {
        int c = rep->run_rc;
        rep->run_rc = 0;
        if (doc_check("eddy_run", c, __LINE__) < 0 && rep->undocumented) return rep->first;
    }
    if (baseline && rep->run_rc != 0) {
        snprintf(why, len, "the scenario fails without any fault (%d)", rep->run_rc);
        return why;
    }
    return NULL;
}

/* Run sc once in a child, with fault f armed (NULL: counting only). Returns the wait status;
 * the child's stderr goes to errfd. */
static int run_child(const scenario *sc, const eddy__sys_fault *f, int errfd)
{
    memset(rep, 0, sizeof *rep);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        dup2(errfd, 2);
        alarm((unsigned)(10 * mult));
        rep->fds_before = eddy_test_fd_count();
        eddy_opts o = {.flags = EDDY_OPT_FAIL_ON_LEAK | EDDY_OPT_NO_SIGNALS};
        eddy__sys_count_reset();
        eddy__sys_fault_set(f);
        rep->run_rc = eddy_run_opts(sc->main, NULL, &o);
        eddy__sys_fault_set(NULL);
        rep->fired = eddy__sys_fault_fired();
        rep->fds_after = eddy_test_fd_count();
        int code = 0;
#if defined(__SANITIZE_ADDRESS__)
        if (__lsan_do_recoverable_leak_check()) code = 3;
#endif
        if (!f) { /* the counts go to the parent through the shared page after rep */
            size_t n;
            eddy__sys_site *const *s = eddy__sys_sites(&n);
            unsigned *hits = (unsigned *)(rep + 1);
            for (size_t i = 0; i < n && i < 4000; i++) hits[i] = s[i]->hits;
        }
        fflush(stderr);
        _exit(code);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) EDDY_CHECK(errno == EINTR);
    return st;
}

/* Print what the failed child wrote (its leak report, eddy's own messages). */
static void dump_err(int errfd)
{
    char buf[4096];
    ssize_t n = pread(errfd, buf, sizeof buf - 1, 0);
    if (n <= 0) return;
    buf[n] = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        printf("#     %s\n", line);
}

typedef struct totals {
    unsigned pairs, failed, unfired, reached, linked;
} totals;

/* sc is scenarios[idx]. The bounded sweep fails a site only in the first scenario that
 * reaches it (the loop's own sites, reached by all of them, are failed in "core"): earlier
 * scenarios are run once each, counting, to know which sites they took. The full sweep fails
 * every site in every scenario that reaches it. */
static void sweep(const scenario *sc, size_t idx, bool full, totals *t)
{
    size_t nsites;
    eddy__sys_site *const *sites = eddy__sys_sites(&nsites);
    EDDY_CHECK(nsites > 0 && nsites <= 4000);
    int errfd = memfd_create("fault-sweep-stderr", MFD_CLOEXEC);
    EDDY_CHECK(errfd >= 0);
    char why[200];

    /* counting run: which sites the scenario reaches, and how often */
    int st = run_child(sc, NULL, errfd);
    const char *bad = verdict(st, true, why, sizeof why);
    if (bad) {
        printf("# %s: the scenario fails with no fault: %s\n", sc->name, bad);
        dump_err(errfd);
        EDDY_CHECK(!"scenario broken without faults");
    }
    unsigned *hits = malloc(nsites * sizeof *hits);
    bool *before = calloc(nsites, sizeof *before);
    EDDY_CHECK(hits != NULL && before != NULL);
    memcpy(hits, rep + 1, nsites * sizeof *hits);
    for (size_t j = 0; !full && j < idx; j++) {
        if (scenarios[j].full_only) continue;
        st = run_child(&scenarios[j], NULL, errfd);
        EDDY_CHECK(WIFEXITED(st));
        const unsigned *h = (const unsigned *)(rep + 1);
        for (size_t i = 0; i < nsites; i++) before[i] |= h[i] > 0;
    }

    unsigned pairs = 0, failed = 0, unfired = 0, reached = 0, shared = 0;
    for (size_t i = 0; i < nsites; i++) {
        if (!hits[i]) continue;
        reached++;
        if (before[i]) {
            shared++;
            continue;
        }
        int errs[8];
        int ne = plausible(sites[i]->kind, sites[i]->func, errs);
        unsigned nths[2] = {1, hits[i]};
        int nn = full && hits[i] > 1 ? 2 : 1;
        for (int k = 0; k < nn; k++) {
            for (int e = 0; e < ne; e++) {
                eddy__sys_fault f = {.site = sites[i], .kind = -1, .nth = nths[k], .err = errs[e]};
                if (ftruncate(errfd, 0) != 0 || lseek(errfd, 0, SEEK_SET) != 0) EDDY_CHECK(0);
                st = run_child(sc, &f, errfd);
                pairs++;
                if (!rep->fired && WIFEXITED(st)) unfired++;
                bad = verdict(st, false, why, sizeof why);
                if (!bad) continue;
                failed++;
                printf("# FAIL %s: %s() at %s:%d in %s(), call %u of %u, %s: %s\n", sc->name,
                       eddy__sys_kind_name(sites[i]->kind), strrchr(sites[i]->file, '/') + 1,
                       sites[i]->line, sites[i]->func, nths[k], hits[i], err_name(errs[e]), bad);
                dump_err(errfd);
            }
        }
    }
    printf("# fault sweep %s%s: %u call sites reached (of %zu linked; %u already swept in an "
           "earlier scenario), %u (site, errno) pairs tried, %u failed, %u where the fault did "
           "not fire (the run took another path)\n",
           sc->name, full ? " (full)" : "", reached, nsites, shared, pairs, failed, unfired);
    t->pairs += pairs, t->failed += failed, t->unfired += unfired, t->reached += reached;
    t->linked = (unsigned)nsites;
    free(hits);
    free(before);
    close(errfd);
}

static int sweep_named(const char *only)
{
    const char *e = getenv("EDDY_TEST_TIMEOUT");
    if (e && atoi(e) > 0) mult = atoi(e);
    const char *m = getenv("EDDY_FAULT_SWEEP");
    bool full = m && !strcmp(m, "full");
    parse_headers();
    if (!rep) {
        rep = mmap(NULL, sizeof *rep + 4000 * sizeof(unsigned), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        EDDY_CHECK(rep != MAP_FAILED);
    }
    totals t = {0};
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        if (strcmp(scenarios[i].name, only)) continue;
        if (scenarios[i].full_only && !full) {
            printf("# fault sweep %s: in the full sweep only (make faults)\n", only);
            return 0;
        }
        sweep(&scenarios[i], i, full, &t);
    }
    fflush(stdout);
    EDDY_CHECK_EQ(t.failed, 0u);
    return 0;
}

/* The header parser itself: a known function's codes are found, and an undocumented code is
 * caught (so the sweep's fourth check can fail). */
EDDY_TEST_EX(fault_sweep_docs_parsed, .raw = true)
{
    parse_headers();
    EDDY_CHECK(ndocs > 100);
    report r = {0};
    rep = &r;
    EDDY_CHECK_EQ(doc_check("eddy_listener_accept", -EMFILE, __LINE__), -EMFILE);
    EDDY_CHECK_EQ(doc_check("eddy_tcp_connect", EDDY_ENONAME, __LINE__), EDDY_ENONAME);
    EDDY_CHECK_EQ(doc_check("eddy_spawn", -ENOMEM, __LINE__), -ENOMEM);
    EDDY_CHECK_EQ(doc_check("eddy_stream_writev", -ECANCELED, __LINE__), -ECANCELED); /* "Same returns as" */
    EDDY_CHECK_EQ(doc_check("eddy_udp_send_many", -ENOBUFS, __LINE__), -ENOBUFS);     /* "the errors of" */
    EDDY_CHECK_EQ(doc_check("connection_lost", -ECONNRESET, __LINE__), -ECONNRESET);
    EDDY_CHECK_EQ(r.undocumented, 0);
    EDDY_CHECK_EQ(doc_check("eddy_listener_accept", -EXDEV, __LINE__), -EXDEV);
    EDDY_CHECK_EQ(r.undocumented, 1);
    rep = NULL;
    return 0;
}

/* The control itself: the Nth call of a kind fails with the errno asked, once, and a short
 * read is short. */
EDDY_TEST_EX(fault_control_nth_call, .raw = true)
{
    int p[2];
    EDDY_CHECK(pipe(p) == 0);
    EDDY_CHECK(write(p[1], "abcdef", 6) == 6);
    eddy__sys_fault f = {.kind = EDDY__SYS_READ, .nth = 2, .err = EMFILE};
    eddy__sys_fault_set(&f);
    char b[8];
    EDDY_CHECK_EQ(eddy__sys_read(p[0], b, 1), 1);
    errno = 0;
    EDDY_CHECK_EQ(eddy__sys_read(p[0], b, 1), -1);
    EDDY_CHECK_EQ(errno, EMFILE);
    EDDY_CHECK_EQ(eddy__sys_read(p[0], b, 1), 1);
    EDDY_CHECK_EQ(eddy__sys_fault_fired(), 1u);
    f = (eddy__sys_fault){.kind = EDDY__SYS_READ, .nth = 1, .err = EDDY__SYS_SHORT};
    eddy__sys_fault_set(&f);
    EDDY_CHECK_EQ(eddy__sys_read(p[0], b, 3), 1);
    eddy__sys_fault_set(NULL);
    EDDY_CHECK_EQ(eddy__sys_read(p[0], b, 8), 3); /* "def": nothing lost on the way */
    close(p[0]);
    close(p[1]);
    return 0;
}

EDDY_TEST_EX(fault_sweep_core, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("core"); }
EDDY_TEST_EX(fault_sweep_tcp, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("tcp"); }
EDDY_TEST_EX(fault_sweep_unix, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("unix"); }
EDDY_TEST_EX(fault_sweep_pipe, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("pipe"); }
EDDY_TEST_EX(fault_sweep_sendfile, .raw = true, .timeout = EDDY_FOREVER)
{
    return sweep_named("sendfile");
}
EDDY_TEST_EX(fault_sweep_protocol, .raw = true, .timeout = EDDY_FOREVER)
{
    return sweep_named("protocol");
}
EDDY_TEST_EX(fault_sweep_udp, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("udp"); }
EDDY_TEST_EX(fault_sweep_files, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("files"); }
EDDY_TEST_EX(fault_sweep_process, .raw = true, .timeout = EDDY_FOREVER)
{
    return sweep_named("process");
}
EDDY_TEST_EX(fault_sweep_http, .raw = true, .timeout = EDDY_FOREVER) { return sweep_named("http"); }
EDDY_TEST_EX(fault_sweep_conformance, .raw = true, .timeout = EDDY_FOREVER)
{
    return sweep_named("conformance");
}

#endif
