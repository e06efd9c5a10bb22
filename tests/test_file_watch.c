/* F2: inotify receivers: the events of a watched directory and file, removal, errors,
 * cancellation and close of a blocked receive, kernel queue overflow reported as an event,
 * and the descriptor in eddy_choose. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "eddy/test.h"
#include "test_sys_util.h"

static char dir[64];

static void tmp(void) { sys_tmpdir(dir, sizeof dir, "watch"); }

static void rm_tmp(void) { sys_rm_tmpdir(dir); }

static void expect(eddy_watch *w, int wd, uint32_t mask, const char *name, uint32_t *cookie)
{
    eddy_watch_event ev;
    EDDY_OK(eddy_watch_recv(w, &ev));
    if (ev.wd != wd || (ev.mask & ~(uint32_t)IN_ISDIR) != mask || strcmp(ev.name, name) != 0)
        eddy_test_fail(__FILE__, __LINE__, "event wd %d mask %#x name '%s', want wd %d mask %#x name '%s'",
                       ev.wd, ev.mask, ev.name, wd, mask, name);
    if (cookie) *cookie = ev.cookie;
}

EDDY_TEST(directory_and_file_events)
{
    tmp();
    eddy_watch *w;
    EDDY_OK(eddy_watch_open(&w));
    EDDY_CHECK(eddy_watch_fd(w) >= 0);
    EDDY_CHECK((fcntl(eddy_watch_fd(w), F_GETFD) & FD_CLOEXEC) != 0);
    int dwd = eddy_watch_add(w, dir, IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE);
    EDDY_CHECK(dwd >= 0);
    EDDY_CHECK_EQ(eddy_watch_add(w, dir, IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE), dwd);
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    int fd = open(a, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    EDDY_CHECK(fd >= 0);
    expect(w, dwd, IN_CREATE, "a", NULL);
    int fwd = eddy_watch_add(w, a, IN_MODIFY | IN_DELETE_SELF | IN_ATTRIB);
    EDDY_CHECK(fwd >= 0 && fwd != dwd);
    EDDY_CHECK_EQ(write(fd, "x", 1), 1);
    expect(w, fwd, IN_MODIFY, "", NULL);
    close(fd);
    expect(w, dwd, IN_CLOSE_WRITE, "a", NULL);
    EDDY_CHECK(rename(a, b) == 0);
    uint32_t c1, c2;
    expect(w, dwd, IN_MOVED_FROM, "a", &c1);
    expect(w, dwd, IN_MOVED_TO, "b", &c2);
    EDDY_CHECK(c1 != 0 && c1 == c2);
    EDDY_CHECK(unlink(b) == 0);
    expect(w, fwd, IN_ATTRIB, "", NULL); /* the link count changed */
    expect(w, fwd, IN_DELETE_SELF, "", NULL);
    expect(w, fwd, IN_IGNORED, "", NULL); /* the watch went with the file */
    expect(w, dwd, IN_DELETE, "b", NULL);
    /* Removing a watch: IN_IGNORED follows; the wd is gone. */
    EDDY_OK(eddy_watch_remove(w, dwd));
    expect(w, dwd, IN_IGNORED, "", NULL);
    EDDY_CHECK_EQ(eddy_watch_remove(w, dwd), -EINVAL);
    eddy_watch_event ev;
    EDDY_CHECK_EQ(eddy_watch_try_recv(w, &ev), -EAGAIN);
    EDDY_OK(eddy_watch_close(w));
    EDDY_OK(eddy_watch_close(NULL));
    rm_tmp();
    return 0;
}

static void cb_recv(void *arg)
{
    eddy_watch_event ev;
    if (eddy_watch_recv(arg, &ev) != -EPERM) abort();
    if (eddy_watch_try_recv(arg, &ev) != -EAGAIN) abort(); /* try_recv works here */
}

EDDY_TEST(watch_errors)
{
    tmp();
    EDDY_CHECK_EQ(eddy_watch_open(NULL), -EINVAL);
    eddy_watch *w;
    EDDY_OK(eddy_watch_open(&w));
    char p[128];
    snprintf(p, sizeof p, "%s/missing", dir);
    EDDY_CHECK_EQ(eddy_watch_add(w, p, IN_MODIFY), -ENOENT);
    EDDY_CHECK_EQ(eddy_watch_add(w, NULL, IN_MODIFY), -EINVAL);
    EDDY_CHECK_EQ(eddy_watch_add(NULL, dir, IN_MODIFY), -EINVAL);
    EDDY_CHECK_EQ(eddy_watch_add(w, dir, 0), -EINVAL);
    EDDY_CHECK_EQ(eddy_watch_add(w, dir, IN_ONLYDIR), -EINVAL); /* no event in it */
    snprintf(p, sizeof p, "%s/f", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    EDDY_CHECK(fd >= 0);
    close(fd);
    EDDY_CHECK_EQ(eddy_watch_add(w, p, IN_MODIFY | IN_ONLYDIR), -ENOTDIR);
    EDDY_MOVE_ON_AFTER(0) { EDDY_CHECK_EQ(eddy_watch_add(w, p, IN_MODIFY), -ECANCELED); }
    EDDY_CHECK_EQ(eddy_watch_remove(NULL, 1), -EINVAL);
    EDDY_CHECK_EQ(eddy_watch_remove(w, 12345), -EINVAL);
    eddy_watch_event ev;
    EDDY_CHECK_EQ(eddy_watch_recv(NULL, &ev), -EINVAL);
    EDDY_CHECK_EQ(eddy_watch_recv(w, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_watch_try_recv(NULL, &ev), -EINVAL);
    EDDY_CHECK_EQ(eddy_watch_try_recv(w, NULL), -EINVAL);
    EDDY_CHECK_EQ(eddy_watch_fd(NULL), -1);
    EDDY_OK(eddy_call_soon(cb_recv, w));
    EDDY_OK(eddy_yield());
    EDDY_OK(eddy_watch_close(w));
    rm_tmp();
    return 0;
}

EDDY_TEST_EX(watch_outside_a_loop, .raw = true)
{
    eddy_watch *w;
    EDDY_CHECK_EQ(eddy_watch_open(&w), -EPERM);
    return 0;
}

typedef struct receiver {
    eddy_watch *w;
    eddy_watch_event ev;
    int rc;
    int64_t timeout;
} receiver;

static int receive(void *arg)
{
    receiver *r = arg;
    EDDY_MOVE_ON_AFTER(r->timeout) { r->rc = eddy_watch_recv(r->w, &r->ev); }
    return 0;
}

static eddy_watch *g_watch;

static void cb_close(void *arg) { *(int *)arg = eddy_watch_close(g_watch); }

EDDY_TEST(receive_is_cancellable_and_close_wakes_it)
{
    tmp();
    eddy_watch *w;
    EDDY_OK(eddy_watch_open(&w));
    int wd = eddy_watch_add(w, dir, IN_CREATE);
    EDDY_CHECK(wd >= 0);
    receiver r = {.w = w, .rc = 1, .timeout = EDDY_SEC(5)};
    int64_t t0 = eddy_now();
    EDDY_OK(receive(&r));
    EDDY_CHECK_EQ(r.rc, -ECANCELED);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(5));
    /* Nothing lost: an event after the cancelled receive arrives. */
    char p[128];
    snprintf(p, sizeof p, "%s/n", dir);
    EDDY_CHECK(mkdir(p, 0700) == 0);
    expect(w, wd, IN_CREATE, "n", NULL);
    /* One receiver at a time; close wakes the one blocked (not from a callback: -EBUSY). */
    r = (receiver){.w = w, .rc = 1, .timeout = EDDY_FOREVER};
    int rc, cbrc = 1;
    EDDY_NURSERY(n, &rc) {
        EDDY_OK(eddy_spawn(n, receive, &r));
        eddy_watch_event ev;
        EDDY_CHECK_EQ(eddy_watch_recv(w, &ev), -EBUSY);
        EDDY_CHECK_EQ(eddy_watch_try_recv(w, &ev), -EBUSY);
        g_watch = w;
        EDDY_OK(eddy_call_soon(cb_close, &cbrc));
        EDDY_OK(eddy_yield());
        EDDY_CHECK_EQ(cbrc, -EBUSY);
        EDDY_OK(eddy_watch_close(w));
    }
    EDDY_CHECK_EQ(r.rc, -EBADF);
    rm_tmp();
    return 0;
}

/* More events than the kernel queues: the overflow is an event, not a silent loss. */
EDDY_TEST_EX(queue_overflow_is_reported, .real_clock = true, .timeout = EDDY_SEC(60))
{
    tmp();
    long max = 16384;
    FILE *fp = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
    if (fp) {
        if (fscanf(fp, "%ld", &max) != 1) max = 16384;
        fclose(fp);
    }
    EDDY_CHECK(max > 0 && max < 10000000);
    eddy_watch *w;
    EDDY_OK(eddy_watch_open(&w));
    int wd = eddy_watch_add(w, dir, IN_CREATE | IN_DELETE);
    EDDY_CHECK(wd >= 0);
    char p[128];
    snprintf(p, sizeof p, "%s/x", dir);
    /* Two events per round, never two equal ones in a row (the kernel merges those). */
    for (long i = 0; i < max / 2 + 100; i++) {
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        EDDY_CHECK(fd >= 0);
        close(fd);
        EDDY_CHECK(unlink(p) == 0);
    }
    long n = 0;
    bool overflow = false;
    eddy_watch_event ev;
    int rc;
    while ((rc = eddy_watch_try_recv(w, &ev)) == 0) {
        if (ev.mask & IN_Q_OVERFLOW) {
            EDDY_CHECK_EQ(ev.wd, -1);
            overflow = true;
        } else {
            EDDY_CHECK_EQ(ev.wd, wd);
            n++;
        }
    }
    EDDY_CHECK_EQ(rc, -EAGAIN);
    EDDY_CHECK(overflow);
    EDDY_CHECK(n >= max - 1 && n <= max);
    EDDY_OK(eddy_watch_close(w));
    rm_tmp();
    return 0;
}

EDDY_TEST(descriptor_works_with_choose)
{
    tmp();
    eddy_watch *w;
    EDDY_OK(eddy_watch_open(&w));
    int wd = eddy_watch_add(w, dir, IN_CREATE);
    EDDY_CHECK(wd >= 0);
    eddy_clause c[2] = {EDDY_CLAUSE_FD(eddy_watch_fd(w), EDDY_READ),
                        EDDY_CLAUSE_DEADLINE(eddy_now() + EDDY_SEC(1))};
    EDDY_CHECK_EQ(eddy_choose(c, 2, 0), 1); /* nothing yet: the deadline */
    char p[128];
    snprintf(p, sizeof p, "%s/d", dir);
    EDDY_CHECK(mkdir(p, 0700) == 0);
    c[1] = EDDY_CLAUSE_DEADLINE(eddy_now() + EDDY_SEC(1));
    EDDY_CHECK_EQ(eddy_choose(c, 2, 0), 0);
    eddy_watch_event ev;
    EDDY_OK(eddy_watch_try_recv(w, &ev));
    EDDY_CHECK_EQ(ev.mask, IN_CREATE | IN_ISDIR);
    EDDY_CHECK(strcmp(ev.name, "d") == 0);
    EDDY_CHECK_EQ(eddy_watch_try_recv(w, &ev), -EAGAIN);
    EDDY_OK(eddy_watch_close(w));
    rm_tmp();
    return 0;
}
