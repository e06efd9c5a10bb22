/* I1: choosing the I/O backend — eddy_opts.backend, EDDY_BACKEND, eddy_backend_probe — and
 * R2's fall-back: io_uring refused by the kernel in each way it can be (seccomp answering
 * ENOSYS or EPERM, kernel.io_uring_disabled, a missing opcode, a kernel without
 * IORING_FEAT_EXT_ARG, a failed set-up) leaves the loop on epoll, and EDDY_DEBUG=1 says why, once per process.
 * Each case runs in a child process of its own (the harness forks), so seccomp filters and the
 * probe hook end with it. */
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "eddy/test.h"
#include "loop/uring.h"

/* ---- helpers ---- */

static char seen_backend[16];
static int note_backend(void *arg)
{
    (void)arg;
    snprintf(seen_backend, sizeof seen_backend, "%s", eddy_backend_name());
    return 0;
}

/* eddy_run_opts(note_backend) on backend (NULL: not given) with stderr captured into err. */
static int run_captured(const char *backend, char *err, size_t errlen)
{
    fflush(stderr);
    char path[] = "/tmp/eddy-test-backend.XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0);
    unlink(path);
    int saved = dup(2);
    dup2(fd, 2);
    seen_backend[0] = 0;
    eddy_opts o = {.flags = EDDY_OPT_NO_SIGNALS | EDDY_OPT_FAIL_ON_LEAK, .backend = backend};
    int rc = eddy_run_opts(note_backend, NULL, &o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, err, errlen - 1, 0);
    err[n > 0 ? n : 0] = 0;
    close(fd);
    return rc;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* ---- names, the environment, the probe ---- */

EDDY_TEST_EX(probe_names, .raw = true)
{
    EDDY_CHECK_EQ(eddy_backend_probe("epoll"), 0);
    EDDY_CHECK_EQ(eddy_backend_probe("EPoll"), 0); /* any case, as in EDDY_BACKEND */
    EDDY_CHECK_EQ(eddy_backend_probe(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_backend_probe(""), -EINVAL);
    EDDY_CHECK_EQ(eddy_backend_probe("kqueue"), -EINVAL);
    int rc = eddy_backend_probe("io_uring");
    /* Built without liburing, or a kernel that refuses: the documented answers. */
    EDDY_CHECK(rc == 0 || rc == -ENOTSUP || rc == -ENOSYS || rc == -EPERM || rc == -ENOMEM);
    EDDY_CHECK_EQ(eddy_backend_probe("IO_URING"), rc);
    return 0;
}

/* Each backend that can run here runs when asked for, by the options and by the environment;
 * the options win over the environment. */
EDDY_TEST_EX(backend_chosen_by_opts_and_env, .raw = true)
{
    char err[512];
    unsetenv("EDDY_BACKEND");
    EDDY_OK(run_captured(NULL, err, sizeof err));
    EDDY_CHECK(!strcmp(seen_backend, "epoll")); /* the default */
    EDDY_OK(run_captured("epoll", err, sizeof err));
    EDDY_CHECK(!strcmp(seen_backend, "epoll"));
    bool uring = eddy_backend_probe("io_uring") == 0;
    EDDY_OK(run_captured("io_uring", err, sizeof err));
    EDDY_CHECK(!strcmp(seen_backend, uring ? "io_uring" : "epoll"));
    EDDY_OK(run_captured("Io_Uring", err, sizeof err));
    EDDY_CHECK(!strcmp(seen_backend, uring ? "io_uring" : "epoll"));
    setenv("EDDY_BACKEND", "io_uring", 1);
    EDDY_OK(run_captured(NULL, err, sizeof err));
    EDDY_CHECK(!strcmp(seen_backend, uring ? "io_uring" : "epoll"));
    EDDY_OK(run_captured("epoll", err, sizeof err)); /* the program's choice wins */
    EDDY_CHECK(!strcmp(seen_backend, "epoll"));
    setenv("EDDY_BACKEND", "", 1); /* empty: unset */
    EDDY_OK(run_captured(NULL, err, sizeof err));
    EDDY_CHECK(!strcmp(seen_backend, "epoll"));
    unsetenv("EDDY_BACKEND");
    return 0;
}

EDDY_TEST_EX(unknown_backend_is_einval, .raw = true)
{
    char err[512];
    unsetenv("EDDY_BACKEND");
    EDDY_CHECK_EQ(run_captured("kqueue", err, sizeof err), -EINVAL);
    EDDY_CHECK_EQ(seen_backend[0], 0); /* main never ran */
    /* The environment's mistake is reported, naming the variable, its value and the names;
     * also when the program names a backend itself (so every program reports it). */
    setenv("EDDY_BACKEND", "uring", 1);
    EDDY_CHECK_EQ(run_captured(NULL, err, sizeof err), -EINVAL);
    EDDY_CHECK(strstr(err, "EDDY_BACKEND=\"uring\" is not valid; use one of: epoll, io_uring"));
    EDDY_CHECK_EQ(run_captured("epoll", err, sizeof err), -EINVAL);
    EDDY_CHECK(strstr(err, "EDDY_BACKEND=\"uring\""));
    unsetenv("EDDY_BACKEND");
    EDDY_OK(run_captured(NULL, err, sizeof err));
    return 0;
}

/* ---- the fall-back, forced ---- */

/* A seccomp filter answering io_uring_setup with err, as container runtimes do (Docker's
 * default profile answers EPERM; a kernel without io_uring, ENOSYS). Everything else runs. */
static void forbid_io_uring_setup(int err)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    EDDY_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    EDDY_CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

/* Asked for io_uring, the loop runs on epoll: twice, with the reason said once (EDDY_DEBUG=1),
 * and the probe reports the refusal as want. */
static int expect_fallback(int want, const char *reason)
{
    if (eddy_backend_probe("epoll") < 0) return -EPROTO;
    int built = eddy_backend_probe("io_uring");
    setenv("EDDY_DEBUG", "1", 1);
    unsetenv("EDDY_BACKEND");
    char err1[1024], err2[1024];
    EDDY_OK(run_captured("io_uring", err1, sizeof err1));
    EDDY_CHECK(!strcmp(seen_backend, "epoll"));
    EDDY_OK(run_captured("io_uring", err2, sizeof err2));
    EDDY_CHECK(!strcmp(seen_backend, "epoll"));
    if (built == -ENOTSUP) { /* without liburing the reason is that, whatever was forced */
        EDDY_CHECK_EQ(count(err1, "eddy: debug: backend io_uring: not built in"), 1);
        return 0;
    }
    EDDY_CHECK_EQ(built, want);
    if (count(err1, "eddy: debug: backend io_uring unavailable (") != 1 || !strstr(err1, reason) ||
        !strstr(err1, "; using epoll"))
        eddy_test_fail(__FILE__, __LINE__, "debug output: %s", err1);
    EDDY_CHECK_EQ(count(err2, "io_uring"), 0); /* once per process */
    return 0;
}

EDDY_TEST_EX(fallback_when_seccomp_says_enosys, .raw = true)
{
    forbid_io_uring_setup(ENOSYS);
    return expect_fallback(-ENOSYS, "io_uring_setup: Function not implemented");
}

EDDY_TEST_EX(fallback_when_seccomp_says_eperm, .raw = true)
{
    forbid_io_uring_setup(EPERM);
    return expect_fallback(-EPERM, "io_uring_setup: Operation not permitted");
}

EDDY_TEST_EX(fallback_when_disabled_by_sysctl, .raw = true)
{
    char path[] = "/tmp/eddy-test-sysctl.XXXXXX";
    int fd = mkstemp(path);
    EDDY_CHECK(fd >= 0 && write(fd, "2\n", 2) == 2);
    close(fd);
    eddy__uring_probe h = {.sysctl_path = path};
    eddy__uring_probe_hook = &h;
    int rc = expect_fallback(-EPERM, "kernel.io_uring_disabled=2");
    /* 1 leaves it to the kernel (root and io_uring_group may), 0 allows it. */
    if (rc == 0 && eddy_backend_probe("io_uring") != -ENOTSUP) {
        fd = open(path, O_WRONLY | O_TRUNC);
        EDDY_CHECK(fd >= 0 && write(fd, "0\n", 2) == 2);
        close(fd);
        eddy__uring_probe_hook = NULL;
        int real = eddy_backend_probe("io_uring");
        eddy__uring_probe_hook = &h;
        EDDY_CHECK_EQ(eddy_backend_probe("io_uring"), real);
    }
    eddy__uring_probe_hook = NULL;
    unlink(path);
    return rc;
}

EDDY_TEST_EX(fallback_when_an_opcode_is_missing, .raw = true)
{
    int real = eddy_backend_probe("io_uring");
    eddy__uring_probe h = {.drop_op = "SEND"};
    eddy__uring_probe_hook = &h;
    /* A kernel that refuses io_uring altogether has no opcode to take away: it says so. */
    int rc = expect_fallback(real == 0 ? -ENOSYS : real,
                             real == 0 ? "no IORING_OP_SEND: Function not implemented" : "");
    eddy__uring_probe_hook = NULL;
    return rc;
}

EDDY_TEST_EX(fallback_on_a_kernel_without_ext_arg, .raw = true)
{
    int real = eddy_backend_probe("io_uring");
    eddy__uring_probe h = {.no_ext_arg = true};
    eddy__uring_probe_hook = &h;
    int rc = expect_fallback(real == 0 ? -ENOSYS : real, real == 0 ? "kernel too old" : "");
    eddy__uring_probe_hook = NULL;
    return rc;
}

/* The set-up failing for lack of memory (locked memory on kernels before 5.12) falls back too. */
EDDY_TEST_EX(fallback_when_setup_fails, .raw = true)
{
    eddy__uring_probe h = {.setup_err = -ENOMEM};
    eddy__uring_probe_hook = &h;
    int rc = expect_fallback(-ENOMEM, "io_uring_setup: Cannot allocate memory");
    eddy__uring_probe_hook = NULL;
    return rc;
}

/* EDDY_DEBUG takes 0 or 1; anything else is said (once) and is off. */
EDDY_TEST_EX(debug_variable_values, .raw = true)
{
    setenv("EDDY_DEBUG", "yes", 1);
    forbid_io_uring_setup(EPERM);
    char err[1024];
    EDDY_OK(run_captured("io_uring", err, sizeof err));
    EDDY_CHECK(!strcmp(seen_backend, "epoll"));
    EDDY_CHECK(strstr(err, "EDDY_DEBUG=\"yes\" is not valid; use one of: 0, 1"));
    EDDY_CHECK_EQ(count(err, "debug:"), 0);
    unsetenv("EDDY_DEBUG");
    return 0;
}
