/* F3: OFD byte-range locks: conflicts between open files, shared and exclusive, ranges,
 * conversion, another process's POSIX lock, a blocking acquire that waits, is cancelled (the
 * worker's fcntl interrupted) or is ended by close, the polling path without the interrupt
 * signal, and errors. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/test.h"
#include "sys/pool.h"
#include "test_sys_util.h"

static char dir[64], path[96];

static void tmp(void)
{
    sys_tmpdir(dir, sizeof dir, "lock");
    snprintf(path, sizeof path, "%s/lockfile", dir);
}

static void rm_tmp(void) { sys_rm_tmpdir(dir); }

static eddy_file *open_rw(void)
{
    eddy_file *f;
    EDDY_OK(eddy_file_open(path, O_RDWR | O_CREAT, 0600, &f));
    return f;
}


EDDY_TEST(locks_exclude_other_open_files)
{
    tmp();
    eddy_file *a = open_rw(), *b = open_rw(), *c = open_rw();
    EDDY_OK(eddy_file_lock(a, EDDY_LOCK_EX, 0, 0));
    EDDY_OK(eddy_file_lock(a, EDDY_LOCK_EX, 0, 0)); /* again: no change */
    EDDY_CHECK_EQ(eddy_file_lock(b, EDDY_LOCK_EX | EDDY_LOCK_NB, 0, 0), -EAGAIN);
    EDDY_CHECK_EQ(eddy_file_lock(b, EDDY_LOCK_SH | EDDY_LOCK_NB, 100, 1), -EAGAIN);
    EDDY_OK(eddy_file_unlock(a, 0, 0));
    /* Shared locks share; an exclusive one waits for all of them. */
    EDDY_OK(eddy_file_lock(a, EDDY_LOCK_SH, 0, 0));
    EDDY_OK(eddy_file_lock(b, EDDY_LOCK_SH | EDDY_LOCK_NB, 0, 0));
    EDDY_CHECK_EQ(eddy_file_lock(c, EDDY_LOCK_EX | EDDY_LOCK_NB, 0, 0), -EAGAIN);
    EDDY_OK(eddy_file_unlock(a, 0, 0));
    EDDY_CHECK_EQ(eddy_file_lock(c, EDDY_LOCK_EX | EDDY_LOCK_NB, 0, 0), -EAGAIN);
    EDDY_OK(eddy_file_unlock(b, 0, 0));
    EDDY_OK(eddy_file_lock(c, EDDY_LOCK_EX | EDDY_LOCK_NB, 0, 0));
    EDDY_OK(eddy_file_unlock(c, 0, 0));
    /* Ranges: disjoint ones coexist; len 0 reaches the end. */
    EDDY_OK(eddy_file_lock(a, EDDY_LOCK_EX, 0, 10));
    EDDY_OK(eddy_file_lock(b, EDDY_LOCK_EX, 10, 10));
    EDDY_CHECK_EQ(eddy_file_lock(c, EDDY_LOCK_EX | EDDY_LOCK_NB, 5, 10), -EAGAIN);
    EDDY_OK(eddy_file_lock(c, EDDY_LOCK_EX | EDDY_LOCK_NB, 20, 0));
    EDDY_CHECK_EQ(eddy_file_lock(a, EDDY_LOCK_SH | EDDY_LOCK_NB, 1000000, 1), -EAGAIN);
    /* Unlocking a range we do not hold is fine; closing releases what a file holds. */
    EDDY_OK(eddy_file_unlock(a, 500, 10));
    EDDY_OK(eddy_file_close(c));
    EDDY_OK(eddy_file_lock(a, EDDY_LOCK_EX | EDDY_LOCK_NB, 20, 0));
    /* Conversion: a's exclusive [0,10) becomes shared, so b can share it. */
    EDDY_OK(eddy_file_lock(a, EDDY_LOCK_SH, 0, 10));
    EDDY_OK(eddy_file_lock(b, EDDY_LOCK_SH | EDDY_LOCK_NB, 0, 10));
    EDDY_OK(eddy_file_close(a));
    EDDY_OK(eddy_file_close(b));
    rm_tmp();
    return 0;
}

typedef struct locker {
    eddy_file *f;
    unsigned how;
    int rc;
    bool done;
} locker;

static int lock_task(void *arg)
{
    locker *k = arg;
    k->rc = eddy_file_lock(k->f, k->how, 0, 0);
    k->done = true;
    return 0;
}

static void blocking_acquire_waits_then_is_cancelled(bool signals)
{
    tmp();
    eddy__intr_force_unavailable(!signals);
    eddy_file *a = open_rw(), *b = open_rw(), *c = open_rw();
    EDDY_OK(eddy_file_lock(a, EDDY_LOCK_EX, 0, 0));
    /* A waiter gets the lock when it is released. */
    locker k = {.f = b, .how = EDDY_LOCK_EX, .rc = 1};
    int rc;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, lock_task, &k));
        if (signals) sys_wait_workers_in(SYS_fcntl, 1);
        for (int i = 0; i < 20; i++) EDDY_OK(eddy_yield());
        EDDY_CHECK(!k.done);
        EDDY_OK(eddy_file_unlock(a, 0, 0));
    }
    EDDY_CHECK_EQ(k.rc, 0);
    EDDY_CHECK_EQ(eddy_file_lock(a, EDDY_LOCK_SH | EDDY_LOCK_NB, 0, 0), -EAGAIN);
    EDDY_OK(eddy_file_unlock(b, 0, 0));
    /* A cancelled waiter takes nothing. */
    EDDY_OK(eddy_file_lock(a, EDDY_LOCK_EX, 0, 0));
    k = (locker){.f = b, .how = EDDY_LOCK_EX, .rc = 1};
    eddy_task *t;
    int st;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, lock_task, &k, .handle = &t));
        if (signals) sys_wait_workers_in(SYS_fcntl, 1); /* the worker sits in F_OFD_SETLKW */
        eddy_task_cancel(t);
        EDDY_OK(eddy_task_join(t, &st));
    }
    EDDY_CHECK_EQ(k.rc, -ECANCELED);
    EDDY_OK(eddy_file_unlock(a, 0, 0));
    EDDY_OK(eddy_file_lock(c, EDDY_LOCK_EX | EDDY_LOCK_NB, 0, 0)); /* b did not get it */
    EDDY_OK(eddy_file_unlock(c, 0, 0));
    /* In a deadline scope. */
    EDDY_OK(eddy_file_lock(a, EDDY_LOCK_SH, 0, 0));
    int64_t t0 = eddy_now();
    EDDY_FAIL_AFTER(EDDY_SEC(2)) { EDDY_CHECK_EQ(eddy_file_lock(b, EDDY_LOCK_EX, 0, 0), -ETIMEDOUT); }
    EDDY_CHECK(eddy_now() - t0 >= EDDY_SEC(2));
    /* Close ends a blocked acquire with -EBADF. */
    k = (locker){.f = b, .how = EDDY_LOCK_EX, .rc = 1};
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, lock_task, &k));
        if (signals) sys_wait_workers_in(SYS_fcntl, 1);
        EDDY_OK(eddy_file_close(b));
    }
    EDDY_CHECK_EQ(k.rc, -EBADF);
    EDDY_OK(eddy_file_close(a));
    EDDY_OK(eddy_file_close(c));
    eddy__intr_force_unavailable(false);
    rm_tmp();
}

EDDY_TEST(blocking_acquire_with_the_interrupt_signal)
{
    blocking_acquire_waits_then_is_cancelled(true);
    return 0;
}

EDDY_TEST(blocking_acquire_by_polling)
{
    blocking_acquire_waits_then_is_cancelled(false);
    return 0;
}

EDDY_TEST(lock_errors)
{
    tmp();
    eddy_file *f = open_rw(), *ro, *wo;
    EDDY_CHECK_EQ(eddy_file_lock(NULL, EDDY_LOCK_EX, 0, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_lock(f, 0, 0, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_lock(f, EDDY_LOCK_NB, 0, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_lock(f, EDDY_LOCK_SH | EDDY_LOCK_EX, 0, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_lock(f, EDDY_LOCK_EX | 0x100, 0, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_lock(f, EDDY_LOCK_EX, -1, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_lock(f, EDDY_LOCK_EX, 0, -1), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_unlock(NULL, 0, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_unlock(f, -1, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_file_unlock(f, 0, -1), -EINVAL);
    EDDY_OK(eddy_file_open(path, O_RDONLY, 0, &ro));
    EDDY_OK(eddy_file_open(path, O_WRONLY, 0, &wo));
    EDDY_CHECK_EQ(eddy_file_lock(ro, EDDY_LOCK_EX, 0, 0), -EBADF);
    EDDY_CHECK_EQ(eddy_file_lock(wo, EDDY_LOCK_SH, 0, 0), -EBADF);
    EDDY_OK(eddy_file_lock(ro, EDDY_LOCK_SH, 0, 0));
    EDDY_CHECK_EQ(eddy_file_lock(wo, EDDY_LOCK_EX | EDDY_LOCK_NB, 1, 1), -EAGAIN);
    /* Acquire is a cancellation point; unlock is not (cleanup in a cancelled scope works). */
    EDDY_MOVE_ON_AFTER(0) {
        EDDY_CHECK_EQ(eddy_file_lock(f, EDDY_LOCK_SH | EDDY_LOCK_NB, 0, 0), -ECANCELED);
        EDDY_OK(eddy_file_unlock(ro, 0, 0));
    }
    EDDY_OK(eddy_file_lock(wo, EDDY_LOCK_EX | EDDY_LOCK_NB, 0, 0));
    EDDY_OK(eddy_file_close(ro));
    EDDY_OK(eddy_file_close(wo));
    EDDY_OK(eddy_file_close(f));
    rm_tmp();
    return 0;
}

/* Another process's classic POSIX lock conflicts with ours. */
EDDY_TEST(another_process_holds_a_posix_lock)
{
    tmp();
    eddy_file *f = open_rw();
    int go[2], done[2];
    EDDY_CHECK(pipe(go) == 0 && pipe(done) == 0);
    pid_t pid = fork();
    EDDY_CHECK(pid >= 0);
    if (pid == 0) {
        int fd = open(path, O_RDWR);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0) _exit(1);
        if (write(go[1], "l", 1) != 1) _exit(2);
        char c;
        if (read(done[0], &c, 1) != 1) _exit(3);
        _exit(0); /* the lock goes with the process */
    }
    char c;
    EDDY_CHECK_EQ(read(go[0], &c, 1), 1);
    EDDY_CHECK_EQ(eddy_file_lock(f, EDDY_LOCK_SH | EDDY_LOCK_NB, 0, 0), -EAGAIN);
    EDDY_CHECK_EQ(write(done[1], "d", 1), 1);
    int ws;
    EDDY_CHECK_EQ(waitpid(pid, &ws, 0), pid);
    EDDY_CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    EDDY_OK(eddy_file_lock(f, EDDY_LOCK_EX, 0, 0));
    EDDY_OK(eddy_file_close(f));
    for (int i = 0; i < 2; i++) {
        close(go[i]);
        close(done[i]);
    }
    rm_tmp();
    return 0;
}

EDDY_TEST_EX(lock_outside_a_loop, .raw = true)
{
    EDDY_CHECK_EQ(eddy_file_lock((eddy_file *)&dir, EDDY_LOCK_EX, 0, 0), -EPERM);
    EDDY_CHECK_EQ(eddy_file_unlock((eddy_file *)&dir, 0, 0), -EPERM);
    return 0;
}
