/* F1: files on the thread pool: open, read/write and their positional and vectored forms,
 * sync, stat, path operations, directories, files as streams (bufreader, conformance), and
 * what cancellation and close do to operations in flight (interrupted FIFO reads, abandoned
 * opens). Each case works in a fresh temporary directory. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "eddy/test.h"
#include "sys/pool.h"
#include "test_sys_util.h"

static char dir[64];

static const char *tmp(void)
{
    sys_tmpdir(dir, sizeof dir, "file");
    return dir;
}

static const char *path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

static void rm_tmp(void) { sys_rm_tmpdir(dir); }

EDDY_TEST(open_write_read_close)
{
    tmp();
    char p[128];
    path_in(p, sizeof p, "a");
    eddy_file *f;
    EDDY_OK(eddy_file_open(p, O_RDWR | O_CREAT | O_EXCL, 0600, &f));
    EDDY_CHECK(eddy_file_fd(f) >= 0);
    EDDY_CHECK((fcntl(eddy_file_fd(f), F_GETFD) & FD_CLOEXEC) != 0);
    EDDY_CHECK(eddy_file_stream(f) != NULL);
    EDDY_CHECK(strcmp(eddy_stream_kind(eddy_file_stream(f)), "file") == 0);
    EDDY_CHECK_EQ(eddy_file_write(f, "hello ", 6), 6);
    struct iovec wv[2] = {{"wor", 3}, {"ld\n", 3}};
    EDDY_CHECK_EQ(eddy_file_writev(f, wv, 2), 6);
    EDDY_CHECK_EQ(eddy_file_pwrite(f, "H", 1, 0), 1);
    struct iovec pv[2] = {{"W", 1}, {"O", 1}};
    EDDY_CHECK_EQ(eddy_file_pwritev(f, pv, 2, 6), 2);
    char buf[32] = {0};
    EDDY_CHECK_EQ(eddy_file_pread(f, buf, sizeof buf, 0), 12);
    EDDY_CHECK(memcmp(buf, "Hello WOrld\n", 12) == 0);
    EDDY_CHECK_EQ(eddy_file_read(f, buf, sizeof buf), 0); /* the position is at the end */
    char a[5] = {0}, b[4] = {0};
    struct iovec rv[2] = {{a, 4}, {b, 3}};
    EDDY_CHECK_EQ(eddy_file_preadv(f, rv, 2, 1), 7);
    EDDY_CHECK(strcmp(a, "ello") == 0 && strcmp(b, " WO") == 0);
    EDDY_CHECK_EQ(lseek(eddy_file_fd(f), 6, SEEK_SET), 6);
    EDDY_CHECK_EQ(eddy_file_readv(f, rv, 2), 6);
    EDDY_CHECK(memcmp(a, "WOrl", 4) == 0 && memcmp(b, "d\n", 2) == 0);
    EDDY_CHECK_EQ(eddy_file_read(f, buf, 0), 0);
    EDDY_OK(eddy_file_fsync(f));
    EDDY_OK(eddy_file_fdatasync(f));
    struct stat st, st2;
    EDDY_OK(eddy_file_fstat(f, &st));
    EDDY_CHECK_EQ(st.st_size, 12);
    EDDY_CHECK(S_ISREG(st.st_mode));
    EDDY_CHECK_EQ(st.st_mode & 0777, 0600);
    EDDY_CHECK(stat(p, &st2) == 0);
    EDDY_CHECK_EQ(st.st_ino, st2.st_ino);
    EDDY_CHECK_EQ(st.st_dev, st2.st_dev);
    EDDY_CHECK_EQ(st.st_mtim.tv_sec, st2.st_mtim.tv_sec);
    EDDY_CHECK_EQ(st.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
    EDDY_OK(eddy_file_close(f));
    EDDY_OK(eddy_file_close(NULL));
    EDDY_CHECK_EQ(eddy_file_fd(NULL), -1);
    EDDY_CHECK(eddy_file_stream(NULL) == NULL);
    rm_tmp();
    return 0;
}

static void cb_read(void *arg)
{
    eddy_file *f = arg;
    char c;
    ssize_t n = eddy_file_read(f, &c, 1);
    if (n != -EPERM) abort();
}

EDDY_TEST(file_errors)
{
    tmp();
    char p[128], q[128];
    path_in(p, sizeof p, "a");
    eddy_file *f = (eddy_file *)1;
    EDDY_CHECK_EQ(eddy_file_open(p, O_RDONLY, 0, &f), -ENOENT);
    EDDY_CHECK(f == NULL);
    EDDY_CHECK_EQ(eddy_file_open(NULL, O_RDONLY, 0, &f), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_open(p, O_RDONLY, 0, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_open(dir, O_WRONLY, 0, &f), -EISDIR);
    EDDY_OK(eddy_file_open(p, O_WRONLY | O_CREAT, 0600, &f));
    eddy_file *g;
    EDDY_CHECK_EQ(eddy_file_open(p, O_WRONLY | O_CREAT | O_EXCL, 0600, &g), -EEXIST);
    EDDY_CHECK_EQ(eddy_file_open(path_in(q, sizeof q, "a/b"), O_RDONLY, 0, &g), -ENOTDIR);
    /* Cancelled first: nothing runs. */
    EDDY_MOVE_ON_AFTER(0) {
        EDDY_CHECK_EQ(eddy_file_open(path_in(q, sizeof q, "new"), O_WRONLY | O_CREAT, 0600, &g), -ECANCELED);
        EDDY_CHECK_EQ(eddy_file_write(f, "x", 1), -ECANCELED);
        EDDY_CHECK_EQ(eddy_file_fsync(f), -ECANCELED);
    }
    EDDY_CHECK(access(q, F_OK) != 0);
    struct stat st;
    EDDY_OK(eddy_file_fstat(f, &st));
    EDDY_CHECK_EQ(st.st_size, 0);
    /* Bad arguments. */
    char buf[8];
    EDDY_CHECK_EQ(eddy_file_read(NULL, buf, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_read(f, NULL, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_pread(f, buf, 1, -1), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_pwrite(f, buf, 1, -5), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_write(NULL, buf, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_readv(f, NULL, 1), -EINVAL);
    struct iovec v = {buf, 1};
    EDDY_CHECK_EQ(eddy_file_writev(f, &v, -1), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_preadv(f, &v, IOV_MAX + 1, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_pwritev(f, &v, 1, -2), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_fstat(f, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_fstat(NULL, &st), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_fsync(NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_fdatasync(NULL), -EINVAL);
    /* The kernel's own errors come through. */
    EDDY_CHECK_EQ(eddy_file_read(f, buf, 1), -EBADF); /* opened write-only */
    EDDY_OK(eddy_file_close(f));
    EDDY_OK(eddy_file_open(p, O_RDONLY, 0, &f));
    EDDY_CHECK_EQ(eddy_file_write(f, "x", 1), -EBADF);
    EDDY_OK(eddy_file_close(f));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    EDDY_CHECK(dfd >= 0);
    EDDY_OK(eddy_file_open_fd(dfd, 0, &f));
    EDDY_CHECK_EQ(eddy_file_read(f, buf, 1), -EISDIR);
    EDDY_OK(eddy_file_close(f));
    EDDY_CHECK(fcntl(dfd, F_GETFD) < 0); /* the file owned it */
    /* A file that cannot be synced (a pipe). */
    int pp[2];
    EDDY_CHECK(pipe2(pp, O_CLOEXEC) == 0);
    EDDY_OK(eddy_file_open_fd(pp[1], 0, &f));
    EDDY_CHECK_EQ(eddy_file_fsync(f), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_fdatasync(f), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_pwrite(f, "x", 1, 0), -ESPIPE);
    EDDY_OK(eddy_file_close(f));
    close(pp[0]);
    /* Callback context. */
    EDDY_OK(eddy_file_open(p, O_RDONLY, 0, &f));
    EDDY_OK(eddy_call_soon(cb_read, f));
    EDDY_OK(eddy_yield());
    EDDY_OK(eddy_file_close(f));
    rm_tmp();
    return 0;
}

EDDY_TEST_EX(file_calls_outside_a_loop, .raw = true)
{
    eddy_file *f;
    struct stat st;
    EDDY_CHECK_EQ(eddy_file_open("/", O_RDONLY, 0, &f), -EPERM);
    EDDY_CHECK_EQ(eddy_file_open_fd(0, EDDY_FD_NOCLOSE, &f), -EPERM);
    EDDY_CHECK_EQ(eddy_file_stat("/", &st), -EPERM);
    EDDY_CHECK_EQ(eddy_file_unlink("/nonexistent"), -EPERM);
    eddy_dir *d;
    EDDY_CHECK_EQ(eddy_dir_open("/", &d), -EPERM);
    return 0;
}

EDDY_TEST(open_fd_borrows_or_owns)
{
    tmp();
    char p[128];
    int fd = open(path_in(p, sizeof p, "b"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    EDDY_CHECK(fd >= 0);
    eddy_file *f = (eddy_file *)1;
    EDDY_CHECK_EQ(eddy_file_open_fd(fd, 0x100, &f), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_open_fd(fd, 0, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_open_fd(-1, 0, &f), -EBADF);
    EDDY_CHECK_EQ(eddy_file_open_fd(999, 0, &f), -EBADF);
    EDDY_OK(eddy_file_open_fd(fd, EDDY_FD_NOCLOSE, &f));
    EDDY_CHECK_EQ(eddy_file_fd(f), fd);
    EDDY_CHECK_EQ(eddy_file_write(f, "abc", 3), 3);
    EDDY_OK(eddy_file_close(f));
    EDDY_CHECK(fcntl(fd, F_GETFD) >= 0); /* borrowed: still open */
    EDDY_CHECK_EQ(lseek(fd, 0, SEEK_CUR), 3);
    close(fd);
    rm_tmp();
    return 0;
}

EDDY_TEST(stat_and_path_operations)
{
    tmp();
    char a[128], b[128], d[128], l[128];
    path_in(a, sizeof a, "a");
    path_in(b, sizeof b, "b");
    path_in(d, sizeof d, "d");
    path_in(l, sizeof l, "l");
    struct stat st;
    EDDY_CHECK_EQ(eddy_file_stat(a, &st), -ENOENT);
    EDDY_CHECK_EQ(eddy_file_stat(NULL, &st), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_stat(a, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_lstat(NULL, &st), -EINVAL);
    eddy_file *f;
    EDDY_OK(eddy_file_open(a, O_WRONLY | O_CREAT, 0640, &f));
    EDDY_CHECK_EQ(eddy_file_write(f, "12345", 5), 5);
    EDDY_OK(eddy_file_close(f));
    EDDY_OK(eddy_file_stat(a, &st));
    EDDY_CHECK_EQ(st.st_size, 5);
    EDDY_CHECK_EQ(st.st_mode & 0777, 0640);
    EDDY_CHECK(symlink("a", l) == 0);
    EDDY_OK(eddy_file_lstat(l, &st));
    EDDY_CHECK(S_ISLNK(st.st_mode));
    EDDY_OK(eddy_file_stat(l, &st));
    EDDY_CHECK(S_ISREG(st.st_mode));
    EDDY_OK(eddy_file_rename(a, b));
    EDDY_CHECK_EQ(eddy_file_stat(a, &st), -ENOENT);
    EDDY_OK(eddy_file_stat(b, &st));
    EDDY_CHECK_EQ(eddy_file_rename(a, b), -ENOENT);
    EDDY_CHECK_EQ(eddy_file_rename(NULL, b), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_rename(a, NULL), -EINVAL);
    EDDY_OK(eddy_file_mkdir(d, 0750));
    EDDY_OK(eddy_file_stat(d, &st));
    EDDY_CHECK(S_ISDIR(st.st_mode));
    EDDY_CHECK_EQ(st.st_mode & 0777, 0750);
    EDDY_CHECK_EQ(eddy_file_mkdir(d, 0750), -EEXIST);
    EDDY_CHECK_EQ(eddy_file_mkdir(NULL, 0750), -EINVAL);
    char c[160];
    snprintf(c, sizeof c, "%s/x/y", dir);
    EDDY_CHECK_EQ(eddy_file_mkdir(c, 0700), -ENOENT);
    snprintf(c, sizeof c, "%s/inner", d);
    EDDY_OK(eddy_file_mkdir(c, 0700));
    EDDY_CHECK_EQ(eddy_file_rmdir(d), -ENOTEMPTY);
    EDDY_CHECK_EQ(eddy_file_rename(b, c), -EISDIR);
    EDDY_CHECK_EQ(eddy_file_unlink(d), -EISDIR);
    EDDY_CHECK_EQ(eddy_file_rmdir(b), -ENOTDIR);
    EDDY_OK(eddy_file_rmdir(c));
    EDDY_OK(eddy_file_rmdir(d));
    EDDY_CHECK_EQ(eddy_file_rmdir(NULL), -EINVAL);
    EDDY_OK(eddy_file_unlink(b));
    EDDY_OK(eddy_file_unlink(l));
    EDDY_CHECK_EQ(eddy_file_unlink(b), -ENOENT);
    EDDY_CHECK_EQ(eddy_file_unlink(NULL), -EINVAL);
    /* A path op cancelled before it started never happens. */
    EDDY_OK(eddy_file_mkdir(d, 0700));
    EDDY_MOVE_ON_AFTER(0) { EDDY_CHECK_EQ(eddy_file_rmdir(d), -ECANCELED); }
    EDDY_FAIL_AFTER(0) { EDDY_CHECK_EQ(eddy_file_stat(d, &st), -ETIMEDOUT); }
    EDDY_OK(eddy_file_stat(d, &st));
    EDDY_OK(eddy_file_rmdir(d));
    rm_tmp();
    return 0;
}

/* ---- directories ---- */

typedef struct dir_reader {
    eddy_dir *d;
    int rc;
} dir_reader;

static int read_one(void *arg)
{
    dir_reader *r = arg;
    eddy_dirent e;
    r->rc = eddy_dir_read(r->d, &e);
    return 0;
}

static eddy_dir *g_dir;

static void cb_dir_close(void *arg) { *(int *)arg = eddy_dir_close(g_dir); }

EDDY_TEST(directories)
{
    tmp();
    enum { N = 1500 }; /* more than one buffer's worth */
    char p[160];
    for (int i = 0; i < N; i++) {
        snprintf(p, sizeof p, "%s/file-%04d", dir, i);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        EDDY_CHECK(fd >= 0);
        close(fd);
    }
    snprintf(p, sizeof p, "%s/sub", dir);
    EDDY_CHECK(mkdir(p, 0700) == 0);
    eddy_dir *d;
    EDDY_OK(eddy_dir_open(dir, &d));
    static bool seen[N];
    int files = 0, dirs = 0;
    eddy_dirent e;
    int rc;
    while ((rc = eddy_dir_read(d, &e)) == 1) {
        EDDY_CHECK(strcmp(e.name, ".") != 0 && strcmp(e.name, "..") != 0);
        EDDY_CHECK(e.ino != 0);
        int i;
        if (sscanf(e.name, "file-%d", &i) == 1) {
            EDDY_CHECK(i >= 0 && i < N && !seen[i]);
            EDDY_CHECK(e.type == DT_REG || e.type == DT_UNKNOWN);
            seen[i] = true;
            files++;
        } else {
            EDDY_CHECK(strcmp(e.name, "sub") == 0);
            EDDY_CHECK(e.type == DT_DIR || e.type == DT_UNKNOWN);
            dirs++;
        }
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(files, N);
    EDDY_CHECK_EQ(dirs, 1);
    EDDY_CHECK_EQ(eddy_dir_read(d, &e), 0); /* stays at the end */
    EDDY_CHECK_EQ(eddy_dir_close(d), 0);
    EDDY_CHECK_EQ(eddy_dir_close(NULL), 0);
    /* Errors. */
    EDDY_CHECK_EQ(eddy_dir_open(p, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_dir_open(NULL, &d), -EINVAL);
    snprintf(p, sizeof p, "%s/missing", dir);
    EDDY_CHECK_EQ(eddy_dir_open(p, &d), -ENOENT);
    snprintf(p, sizeof p, "%s/file-0001", dir);
    EDDY_CHECK_EQ(eddy_dir_open(p, &d), -ENOTDIR);
    EDDY_OK(eddy_dir_open(dir, &d));
    EDDY_CHECK_EQ(eddy_dir_read(NULL, &e), -EINVAL);
    EDDY_CHECK_EQ(eddy_dir_read(d, NULL), -EINVAL);
    EDDY_MOVE_ON_AFTER(0) { EDDY_CHECK_EQ(eddy_dir_read(d, &e), -ECANCELED); }
    /* One reader at a time; a close waits for the reader in a refill, which gets -EBADF
     * (callback context cannot wait: -EBUSY there). */
    dir_reader r = {.d = d, .rc = 9};
    int nrc, cbrc = 1;
    EDDY_NURSERY(n, &nrc) {
        EDDY_OK(eddy_spawn(n, read_one, &r)); /* runs until its refill waits for the pool */
        EDDY_CHECK_EQ(eddy_dir_read(d, &e), -EBUSY);
        g_dir = d;
        EDDY_OK(eddy_call_soon(cb_dir_close, &cbrc));
        EDDY_OK(eddy_yield());
        EDDY_CHECK_EQ(cbrc, -EBUSY);
        EDDY_OK(eddy_dir_close(d));
    }
    EDDY_CHECK_EQ(r.rc, -EBADF);
    /* The directory removed under an open handle. */
    char sub[160];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    EDDY_OK(eddy_dir_open(sub, &d));
    EDDY_CHECK(rmdir(sub) == 0);
    EDDY_CHECK_EQ(eddy_dir_read(d, &e), -ENOENT);
    EDDY_OK(eddy_dir_close(d));
    rm_tmp();
    return 0;
}

/* ---- files as streams ---- */

EDDY_TEST(bufreader_reads_a_file_by_lines)
{
    tmp();
    char p[128];
    FILE *fp = fopen(path_in(p, sizeof p, "lines"), "w");
    EDDY_CHECK(fp != NULL);
    for (int i = 0; i < 5000; i++) fprintf(fp, "line %d\n", i);
    fprintf(fp, "last");
    fclose(fp);
    eddy_file *f;
    EDDY_OK(eddy_file_open(p, O_RDONLY, 0, &f));
    char buf[4096];
    eddy_bufreader br;
    EDDY_OK(eddy_bufreader_init(&br, eddy_file_stream(f), buf, sizeof buf));
    eddy_span line;
    char want[32];
    for (int i = 0; i < 5000; i++) {
        ssize_t n = eddy_read_line(&br, 100, 0, &line);
        snprintf(want, sizeof want, "line %d", i);
        EDDY_CHECK_EQ(n, (ssize_t)strlen(want) + 1);
        EDDY_CHECK_EQ(line.len, strlen(want));
        EDDY_CHECK(memcmp(line.data, want, line.len) == 0);
    }
    EDDY_CHECK_EQ(eddy_read_line(&br, 100, 0, &line), -EPIPE); /* no terminator */
    EDDY_CHECK_EQ(line.len, 4);
    eddy_bufreader_destroy(&br);
    /* Writes through the stream land in the file. */
    EDDY_OK(eddy_stream_close(eddy_file_stream(f)));
    EDDY_OK(eddy_file_open(p, O_WRONLY | O_TRUNC, 0, &f));
    EDDY_OK(eddy_stream_write_all(eddy_file_stream(f), "abc\n", 4));
    struct iovec v[2] = {{"de", 2}, {"f\n", 2}};
    size_t w;
    EDDY_OK(eddy_stream_writev(eddy_file_stream(f), v, 2, &w));
    EDDY_CHECK_EQ(w, 4);
    EDDY_CHECK_EQ(eddy_stream_shutdown_write(eddy_file_stream(f)), -ENOTSUP);
    EDDY_OK(eddy_file_close(f));
    struct stat st;
    EDDY_OK(eddy_file_stat(p, &st));
    EDDY_CHECK_EQ(st.st_size, 8);
    rm_tmp();
    return 0;
}

/* A pipe made of two files: every read and write is a blocking call on a pool worker. */
static int file_pipe_make(void *ctx, eddy_stream **a, eddy_stream **b)
{
    (void)ctx;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -errno;
    eddy_file *w, *r;
    int rc = eddy_file_open_fd(p[1], 0, &w);
    if (rc < 0) {
        close(p[0]);
        close(p[1]);
        return rc;
    }
    rc = eddy_file_open_fd(p[0], 0, &r);
    if (rc < 0) {
        close(p[0]);
        EDDY_OK(eddy_file_close(w));
        return rc;
    }
    *a = eddy_file_stream(w);
    *b = eddy_file_stream(r);
    return 0;
}

EDDY_TEST_EX(files_over_a_pipe_conform_to_the_stream_contract, .real_clock = true, .timeout = EDDY_SEC(120))
{
    EDDY_CHECK(eddy__intr_available()); /* cancelled and closed blocked calls need it */
    EDDY_OK(eddy_check_stream(&(eddy_stream_factory){
        .name = "file pipe", .make = file_pipe_make, .kind = "file",
        .flags = EDDY_STREAMTEST_ONE_WAY | EDDY_STREAMTEST_NO_RESET | EDDY_STREAMTEST_NO_HALF_CLOSE,
        .volume = 1 << 20, .timeout = EDDY_FOREVER}));
    return 0;
}

/* ---- cancellation and close with operations in flight ---- */


typedef struct blocked_read {
    eddy_file *f;
    ssize_t rc;
    char c;
    int64_t timeout;
} blocked_read;

static int read_with_timeout(void *arg)
{
    blocked_read *r = arg;
    EDDY_MOVE_ON_AFTER(r->timeout) { r->rc = eddy_file_read(r->f, &r->c, 1); }
    return 0;
}

/* A FIFO opened read-write never blocks in open and always has a writer: reads block. */
static eddy_file *open_fifo_rdwr(const char *name, int *wfd)
{
    char p[128];
    path_in(p, sizeof p, name);
    EDDY_CHECK(mkfifo(p, 0600) == 0);
    eddy_file *f;
    EDDY_OK(eddy_file_open(p, O_RDWR, 0, &f));
    *wfd = open(p, O_WRONLY | O_CLOEXEC);
    EDDY_CHECK(*wfd >= 0);
    return f;
}

EDDY_TEST(cancel_interrupts_a_blocked_read)
{
    tmp();
    int wfd;
    eddy_file *f = open_fifo_rdwr("fifo", &wfd);
    blocked_read r = {.f = f, .rc = 1, .timeout = EDDY_FOREVER};
    eddy_task *t;
    int rc, st;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, read_with_timeout, &r, .handle = &t));
        sys_wait_workers_in(SYS_read, 1); /* the worker sits in read(2) */
        eddy_task_cancel(t);
        EDDY_OK(eddy_task_join(t, &st)); /* the signal ended the read */
    }
    EDDY_CHECK_EQ(r.rc, -ECANCELED);
    /* Nothing was consumed: the next read gets the byte. */
    EDDY_CHECK_EQ(write(wfd, "z", 1), 1);
    char c;
    EDDY_CHECK_EQ(eddy_file_read(f, &c, 1), 1);
    EDDY_CHECK_EQ(c, 'z');
    struct eddy_threadpool_stats ps;
    eddy_threadpool_stats(&ps);
    EDDY_CHECK(ps.interrupts);
    /* A signal that comes just before the worker enters read(2) is lost; the canceller sends
     * again until the job ends. Many rounds make that window likely to be hit at least once
     * in some run; every round must end. */
    for (int i = 0; i < 50; i++) {
        r.rc = 1;
        EDDY_NURSERY(n, &rc) {
            EDDY_OK(eddy_spawn(n, read_with_timeout, &r, .handle = &t));
            for (int k = 0; k < i % 5; k++) EDDY_OK(eddy_yield());
            eddy_task_cancel(t);
            EDDY_OK(eddy_task_join(t, &st));
        }
        EDDY_CHECK_EQ(r.rc, -ECANCELED);
    }
    close(wfd);
    EDDY_OK(eddy_file_close(f));
    rm_tmp();
    return 0;
}

EDDY_TEST(without_the_interrupt_signal_a_cancelled_read_waits)
{
    tmp();
    eddy__intr_force_unavailable(true);
    int wfd;
    eddy_file *f = open_fifo_rdwr("fifo", &wfd);
    blocked_read r = {.f = f, .rc = 1, .timeout = EDDY_FOREVER};
    eddy_task *t;
    int rc, st;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, read_with_timeout, &r, .handle = &t));
        sys_wait_workers_in(SYS_read, 1);
        eddy_task_cancel(t);
        for (int i = 0; i < 100; i++) EDDY_OK(eddy_yield());
        EDDY_CHECK_EQ(r.rc, 1); /* still waiting: the read cannot be interrupted */
        EDDY_CHECK_EQ(write(wfd, "y", 1), 1);
        EDDY_OK(eddy_task_join(t, &st));
    }
    /* Cancelled, but it waited for the byte and reports it. */
    EDDY_CHECK_EQ(r.rc, 1);
    EDDY_CHECK_EQ(r.c, 'y');
    eddy__intr_force_unavailable(false);
    close(wfd);
    EDDY_OK(eddy_file_close(f));
    rm_tmp();
    return 0;
}

EDDY_TEST(close_interrupts_blocked_operations)
{
    tmp();
    int wfd;
    eddy_file *f = open_fifo_rdwr("fifo", &wfd);
    blocked_read r1 = {.f = f, .rc = 1, .timeout = EDDY_FOREVER};
    blocked_read r2 = {.f = f, .rc = 1, .timeout = EDDY_FOREVER};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, read_with_timeout, &r1));
        EDDY_OK(eddy_spawn(n, read_with_timeout, &r2));
        sys_wait_workers_in(SYS_read, 2);
        EDDY_OK(eddy_file_close(f)); /* both readers are in read(2) on workers */
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(r1.rc, -EBADF);
    EDDY_CHECK_EQ(r2.rc, -EBADF);
    close(wfd);
    rm_tmp();
    return 0;
}

static int ret0(void *arg)
{
    (void)arg;
    return 0;
}

typedef struct opener {
    const char *path;
    eddy_file *f;
    int rc;
} opener;

static int open_fifo_reader(void *arg)
{
    opener *o = arg;
    o->rc = eddy_file_open(o->path, O_RDONLY, 0, &o->f);
    return 0;
}

EDDY_TEST(a_cancelled_open_is_abandoned_and_cleaned_up)
{
    tmp();
    eddy_threadpool_opts po = EDDY_THREADPOOL_OPTS_INIT;
    po.size = 1; /* one worker: its jobs finish in submission order */
    EDDY_OK(eddy_threadpool_configure(&po));
    char p[128];
    path_in(p, sizeof p, "fifo");
    EDDY_CHECK(mkfifo(p, 0600) == 0);
    int fds = eddy_test_fd_count();
    opener o = {.path = p, .f = (eddy_file *)1, .rc = 1};
    eddy_task *t;
    int rc, st;
    EDDY_NURSERY(n, &rc) {
        /* Opening a FIFO for reading waits for a writer. Once the worker is in open(2),
         * cancel: the open is abandoned, not dropped. */
        EDDY_OK(eddy_spawn(n, open_fifo_reader, &o, .handle = &t));
        sys_wait_workers_in(SYS_openat, 1);
        int64_t t0 = eddy_now();
        eddy_task_cancel(t);
        EDDY_OK(eddy_task_join(t, &st));
        EDDY_CHECK_EQ(eddy_now(), t0); /* at once */
    }
    EDDY_CHECK_EQ(o.rc, -ECANCELED);
    EDDY_CHECK(o.f == NULL);
    /* The worker is still in open(2): a writer lets it finish, and the descriptor it got is
     * closed by the layer. */
    int wfd = open(p, O_WRONLY | O_CLOEXEC);
    EDDY_CHECK(wfd >= 0);
    EDDY_CHECK_EQ(eddy_run_in_thread(ret0, NULL), 0); /* after the abandoned job's cleanup */
    close(wfd);
    EDDY_CHECK_EQ(eddy_test_fd_count(), fds);
    rm_tmp();
    return 0;
}

EDDY_TEST_EX(open_reports_emfile, .real_clock = true)
{
    tmp();
    struct rlimit old, lim;
    EDDY_CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    /* Start the worker first (its own needs are not what is measured). */
    struct stat st;
    EDDY_OK(eddy_file_stat(dir, &st));
    int lowest = dup(0);
    EDDY_CHECK(lowest >= 0);
    close(lowest);
    lim = old;
    lim.rlim_cur = (rlim_t)lowest;
    EDDY_CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    eddy_file *f;
    int rc = eddy_file_open(dir, O_RDONLY, 0, &f);
    eddy_dir *d;
    int drc = eddy_dir_open(dir, &d);
    EDDY_CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    EDDY_CHECK_EQ(rc, -EMFILE);
    EDDY_CHECK_EQ(drc, -EMFILE);
    rm_tmp();
    return 0;
}

static int pread_many(void *arg)
{
    eddy_file *f = arg;
    char b[4];
    for (int i = 0; i < 200; i++) {
        int64_t off = (i * 37) % 1000;
        if (eddy_file_pread(f, b, 4, off * 4) != 4) return -EIO;
        uint32_t v;
        memcpy(&v, b, 4);
        if (v != (uint32_t)off) return -EPROTO;
    }
    return 0;
}

EDDY_TEST_EX(concurrent_preads, .real_clock = true)
{
    tmp();
    char p[128];
    eddy_file *f;
    EDDY_OK(eddy_file_open(path_in(p, sizeof p, "data"), O_RDWR | O_CREAT, 0600, &f));
    for (uint32_t i = 0; i < 1000; i++) EDDY_CHECK_EQ(eddy_file_pwrite(f, &i, 4, (int64_t)i * 4), 4);
    int rc;
    EDDY_NURSERY(n, &rc) {
        for (int i = 0; i < 16; i++) EDDY_OK(eddy_spawn(n, pread_many, f));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_OK(eddy_file_close(f));
    rm_tmp();
    return 0;
}
