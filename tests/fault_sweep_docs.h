/* The fault sweep's check of errors against the headers (tests/test_fault_sweep.c): errno
 * names, a parser of include/eddy/ headers giving each declared function the codes named in the
 * comment above it, and CALL(fn, expr), which checks a public call's result. Included once, by
 * test_fault_sweep.c. */
#ifndef EDDY_FAULT_SWEEP_DOCS_H
#define EDDY_FAULT_SWEEP_DOCS_H
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
#define MAX_CODES 96
typedef struct docfn {
    char name[64];
    int pass;
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

static void add_code(docfn *d, int code)
{
    for (int i = 0; i < d->ncodes; i++)
        if (d->codes[i] == code) return;
    if (d->ncodes < MAX_CODES) d->codes[d->ncodes++] = code;
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
        for (int i = 0; from && from != d && i < from->ncodes; i++) add_code(d, from->codes[i]);
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
static int doc_pass;      /* parse_headers reads every header more than once (see there) */
static docfn *doc_prev;   /* the function declared just before */
static void doc_add(const char *name, size_t len, const char *comment)
{
    if (len >= sizeof docs[0].name) return;
    char nm[sizeof docs[0].name];
    memcpy(nm, name, len);
    nm[len] = 0;
    docfn *d = doc_find(nm);
    if (!d) {
        if (ndocs == MAX_DOCS) return;
        d = &docs[ndocs++];
        memcpy(d->name, nm, len + 1);
    }
    const docfn *from = doc_prev;
    doc_prev = d;
    if (d->pass != doc_pass) d->pass = doc_pass, d->ncodes = 0; /* declared twice: both */
    int own[MAX_CODES];
    int n = codes_in(comment, own);
    for (int i = 0; i < n; i++) add_code(d, own[i]);
    doc_inherit(d, comment);
    const char *same = strcasestr(comment, "same returns");
    if (!same) return;
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
    for (int i = 0; from && from != d && i < from->ncodes; i++) add_code(d, from->codes[i]);
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
            /* one line of text: a line break, the next line's indent and its leading '*' are
             * one space, so "returns as\n * eddy_x" reads as "returns as eddy_x" */
            size_t l = 0;
            for (const char *c = p; c < e && l + 1 < sizeof comment; c++) {
                if (*c == '\n') {
                    while (c + 1 < e && (c[1] == ' ' || c[1] == '\t')) c++;
                    if (c + 1 < e && c[1] == '*') c++;
                    while (c + 1 < e && (c[1] == ' ' || c[1] == '\t')) c++;
                    comment[l++] = ' ';
                    continue;
                }
                comment[l++] = *c;
            }
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
    /* "the errors of eddy_x" may name a function of a header read later (readdir's order):
     * each pass sees what the one before found, so three passes settle chains of three. */
    for (doc_pass = 1; doc_pass <= 3; doc_pass++) {
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

#endif
