/* tail_follow FILE — `tail -F` on eddy's files and inotify receivers.
 *
 * Prints FILE, then whatever is appended to it as it arrives, and follows the name:
 *  - truncated (shorter than what was printed): says so on stderr and prints it again from
 *    the start;
 *  - renamed away (log rotation): keeps printing what is appended to the old file until a new
 *    file takes the name, then prints the rest of the old one and switches ("has been
 *    replaced");
 *  - deleted: says it has become inaccessible, and waits for the name to come back;
 *  - missing at the start, or created later: waits for it ("has appeared").
 * The directory is watched for the name (IN_CREATE, IN_MOVED_TO, IN_MOVED_FROM, IN_DELETE),
 * the file for IN_MODIFY. Reads are eddy_file_pread calls on the thread pool; the loop thread
 * only waits. Messages go to stderr in GNU tail's words:
 *
 *   tail_follow: cannot open 'FILE' for reading: No such file or directory
 *   tail_follow: FILE: file truncated
 *   tail_follow: 'FILE' has been replaced;  following new file
 *   tail_follow: 'FILE' has become inaccessible: No such file or directory
 *   tail_follow: 'FILE' has appeared;  following new file
 *
 * Runs until SIGINT or SIGTERM (exit 0). Exit 1 for a usage error or when the directory of
 * FILE cannot be watched. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "eddy.h"

typedef struct tail {
    const char *path;
    char dir[PATH_MAX], base[NAME_MAX + 1];
    eddy_watch *w;
    int dwd, fwd;        /* directory and file watches (-1: none) */
    eddy_file *f;        /* the file being followed, or NULL */
    dev_t dev;
    ino_t ino;
    int64_t off;         /* bytes of f printed */
    bool moved;          /* the name no longer refers to f (renamed away) */
    eddy_stream *out;
    char buf[65536];     /* not on the task's stack (64 KiB by default) */
} tail;

static void say(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "tail_follow: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
}

/* Print what f holds past off (from the start again if it shrank). */
static int print_rest(tail *t)
{
    if (!t->f) return 0;
    struct stat st;
    int rc = eddy_file_fstat(t->f, &st);
    if (rc < 0) return rc;
    if (st.st_size < t->off) {
        say("%s: file truncated%s", t->path, "");
        t->off = 0;
    }
    for (;;) {
        ssize_t n = eddy_file_pread(t->f, t->buf, sizeof t->buf, t->off);
        if (n <= 0) return (int)n;
        if ((rc = eddy_stream_write_all(t->out, t->buf, (size_t)n)) < 0) return rc;
        t->off += n;
    }
}

static int stop_following(tail *t)
{
    int rc = 0;
    if (t->fwd >= 0) {
        /* -EINVAL if the watch already went with its file: nothing to undo then. */
        int r = eddy_watch_remove(t->w, t->fwd);
        (void)r;
        t->fwd = -1;
    }
    if (t->f) {
        rc = eddy_file_close(t->f);
        t->f = NULL;
    }
    return rc;
}

/* Open the file the name refers to now. -ENOENT if there is none. */
static int start_following(tail *t)
{
    eddy_file *f;
    int rc = eddy_file_open(t->path, O_RDONLY, 0, &f);
    if (rc < 0) return rc;
    struct stat st;
    if ((rc = eddy_file_fstat(f, &st)) < 0 || (rc = eddy_watch_add(t->w, t->path, IN_MODIFY)) < 0) {
        int crc = eddy_file_close(f); /* the first error is the one to report */
        (void)crc;
        return rc;
    }
    t->fwd = rc;
    t->f = f;
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    t->off = 0;
    t->moved = false;
    /* The watch is in place before this first read: nothing appended can be missed. */
    return print_rest(t);
}

/* The name may refer to another file now: switch to it, if so. */
static int check_name(tail *t)
{
    struct stat st;
    int rc = eddy_file_stat(t->path, &st);
    if (rc == -ENOENT) return 0;
    if (rc < 0) return rc;
    if (t->f && st.st_dev == t->dev && st.st_ino == t->ino) return 0;
    const char *how = t->f && t->moved ? "has been replaced" : "has appeared";
    if ((rc = print_rest(t)) < 0 || (rc = stop_following(t)) < 0) return rc;
    say("'%s' %s;  following new file", t->path, how);
    rc = start_following(t);
    return rc == -ENOENT ? 0 : rc; /* gone again already: the next event tells */
}

static int follow(tail *t)
{
    for (;;) {
        eddy_watch_event ev;
        int rc = eddy_watch_recv(t->w, &ev);
        if (rc < 0) return rc;
        if (ev.mask & IN_Q_OVERFLOW) { /* events were lost: look at everything again */
            if ((rc = print_rest(t)) < 0 || (rc = check_name(t)) < 0) return rc;
            continue;
        }
        if (ev.wd == t->fwd && (ev.mask & IN_MODIFY)) {
            if ((rc = print_rest(t)) < 0) return rc;
        } else if (ev.wd == t->fwd && (ev.mask & IN_IGNORED)) {
            t->fwd = -1;
        } else if (ev.wd == t->dwd && strcmp(ev.name, t->base) == 0) {
            if (ev.mask & (IN_CREATE | IN_MOVED_TO)) {
                if ((rc = check_name(t)) < 0) return rc;
            } else if (ev.mask & IN_MOVED_FROM) {
                t->moved = true; /* rotated: keep reading the old file until a new one comes */
            } else if ((ev.mask & IN_DELETE) && t->f) {
                if ((rc = print_rest(t)) < 0 || (rc = stop_following(t)) < 0) return rc;
                say("'%s' %s", t->path, "has become inaccessible: No such file or directory");
            }
        }
    }
}

static int amain(void *arg)
{
    tail *t = arg;
    int rc = eddy_stdio(NULL, &t->out);
    if (rc < 0) return rc;
    if ((rc = eddy_watch_open(&t->w)) < 0) goto out;
    rc = eddy_watch_add(t->w, t->dir, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR);
    if (rc < 0) {
        fprintf(stderr, "tail_follow: cannot watch '%s': %s\n", t->dir, strerror(-rc));
        goto out;
    }
    t->dwd = rc;
    rc = start_following(t);
    if (rc == -ENOENT) say("cannot open '%s' for reading: %s", t->path, "No such file or directory");
    if (rc >= 0 || rc == -ENOENT) rc = follow(t);
out:;
    /* Everything is closed whatever happened; closing can fail too (a file on a network file
     * system), which is reported unless something failed first. */
    int crc = t->f ? stop_following(t) : 0;
    if (t->w) {
        int wrc = eddy_watch_close(t->w);
        if (crc == 0) crc = wrc;
    }
    int orc = eddy_stream_close(t->out);
    if (crc == 0) crc = orc;
    /* SIGINT/SIGTERM cancel the loop's root task: the normal way to stop. */
    if (rc == -ECANCELED) rc = 0;
    return rc < 0 ? rc : crc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tail_follow FILE\n");
        return 1;
    }
    static tail t;
    t.path = argv[1];
    t.dwd = t.fwd = -1;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", argv[1]);
    snprintf(t.dir, sizeof t.dir, "%s", dirname(tmp));
    snprintf(tmp, sizeof tmp, "%s", argv[1]);
    snprintf(t.base, sizeof t.base, "%s", basename(tmp));
    int rc = eddy_run(amain, &t);
    if (rc < 0) {
        if (rc != -ENOTDIR && rc != -ENOENT && rc != -EACCES)
            fprintf(stderr, "tail_follow: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}
