/* eddy internals: the io_uring backend's test hook (uring.c). Never installed. */
#ifndef EDDY_LOOP_URING_H
#define EDDY_LOOP_URING_H

#include "internal.h"

/* Tests force each way the probe at loop start can fail (tests/test_backend.c). NULL outside
 * tests; read by every loop start, so set it before eddy_run. Defined in backend.c, so that it
 * exists in a build without liburing too. */
typedef struct eddy__uring_probe {
    const char *sysctl_path; /* read instead of /proc/sys/kernel/io_uring_disabled */
    int setup_err;           /* io_uring_setup fails with this (-ENOSYS, -EPERM, ...), 0: no */
    const char *drop_op;     /* pretend the kernel lacks this opcode ("SEND", ...; NULL: none) */
    bool no_ext_arg;         /* pretend the kernel lacks IORING_FEAT_EXT_ARG (before 5.11) */
} eddy__uring_probe;
extern const eddy__uring_probe *eddy__uring_probe_hook EDDY__HIDDEN;

#endif
