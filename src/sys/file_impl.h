/* eddy sys: the eddy_file object, shared by file.c and lock.c. Never installed. */
#ifndef EDDY_SYS_FILE_IMPL_H
#define EDDY_SYS_FILE_IMPL_H

#include "eddy/file.h"
#include "sys/fileop.h"

struct eddy_file {
    eddy_stream base; /* first: a file is a stream */
    int fd;
    unsigned flags;   /* EDDY_FD_NOCLOSE */
    eddy__link ops;   /* eddy__fop.link: ops in flight on fd (loop thread): close interrupts them */
};

/* A direct call's checks (task, cancellation, closing) and bookkeeping: the caller becomes a
 * user of f, so a close waits for it. 0, or the error to return (nothing to undo). */
EDDY__HIDDEN int eddy__file_enter(eddy_file *f);
EDDY__HIDDEN void eddy__file_leave(eddy_file *f);
/* Run o (o->fd set) on f's behalf, waiting as how says, with o on f->ops meanwhile. Returns
 * what the public calls return: o->res, or -EBADF when f is being closed (the count if bytes
 * moved), the cancel code for a worker interrupted by a cancellation, or the errors of
 * eddy__fop_run. */
EDDY__HIDDEN int64_t eddy__file_run(eddy_file *f, eddy__fop *o, unsigned how);

#endif
