/* eddy — POSIX signals delivered to tasks (G1).
 *
 * A signal receiver is a channel of signal numbers: a task blocks in eddy_signal_receive until
 * one of the receiver's signals has arrived. Arrivals are coalesced: while a signal number is
 * queued in a receiver, more arrivals of it add nothing (the kernel merges pending standard
 * signals the same way), and distinct numbers come out in the order they arrived. Every open
 * receiver of a signal gets each arrival (two receivers of SIGHUP, in one loop or in two, both
 * see it); several tasks waiting on one receiver take turns, first come first served.
 *
 * How signals reach receivers. There is one dispatcher per process. For every signal that some
 * receiver (in any loop, on any thread) wants, it installs a handler and adds the signal to
 * one signalfd, and each loop with a receiver blocks that receiver's signals in its own thread.
 * A signal sent to the process (kill(1), a terminal's Ctrl-C) that every thread blocks stays
 * pending and is read from the signalfd by a loop that wants it; a signal that lands in a
 * thread that does not block it (a thread the program started before opening the receiver, or
 * one that unblocked it) runs the handler, which only records the number and writes an
 * eventfd that the loops watch. Either way the dispatcher hands the number to every loop that
 * subscribed to it, under its lock, and those loops pass it to their receivers on their own
 * thread. Nothing is lost whichever thread the kernel picks, so, unlike a bare signalfd, no
 * particular thread setup is required. What the program should know:
 *  - A thread started by a loop thread while a receiver is open inherits the blocked signals.
 *    A signal sent to such a thread alone (pthread_kill, raise() there) stays pending on it and
 *    is never delivered; signals sent to the process are not affected. Start threads that are
 *    the target of such signals before opening receivers, or unblock the signals in them.
 *  - Threads that do not block a signal may see a system call interrupted by the handler (it is
 *    installed with SA_RESTART, so most calls restart; see signal(7) for those that do not).
 *    Open receivers before starting other threads if that matters: then the signals stay
 *    blocked everywhere and only the signalfd sees them.
 *  - While a receiver of a signal is open, eddy owns that signal's disposition: a handler the
 *    program installed is saved, not called, and restored when the last receiver of the signal
 *    closes. A signal still queued for no one at that point is discarded, not handed to the
 *    restored disposition.
 *  - Children started with eddy_process_spawn get the signal mask of the spawning thread
 *    without the signals eddy blocked; children started by other means (fork, system, popen)
 *    from a loop thread inherit them blocked.
 *  - SIGPIPE stays ignored (eddy's streams turn a closed pipe into -EPIPE): it cannot be
 *    received. Neither can SIGKILL and SIGSTOP, the synchronous faults (SIGSEGV, SIGBUS,
 *    SIGFPE, SIGILL, SIGTRAP, SIGSYS), nor the real-time signals the C library reserves.
 * For comparison: libuv handles every signal with a sigaction handler writing to a pipe per
 * loop and never blocks signals; trio (Python) receives them through Python's handlers, which
 * only run in the main thread. eddy keeps libuv's "any thread may take it" property and adds
 * the signalfd path, so a program that opens its receivers first has no handler code running
 * at all.
 *
 * eddy_run's own SIGINT/SIGTERM handling (loop.h, EDDY_OPT_NO_SIGNALS) rides on the same
 * dispatcher: the first SIGINT or SIGTERM cancels the root task of every loop that handles
 * them (with eddy_loop_open's loops, every top-level task running then: the loop itself stays
 * usable), so each program unwinds through its cancel paths; a second one while any of them is
 * still running restores the default action and re-raises it, so a stuck shutdown can always
 * be interrupted. Those two signals are deliberately not blocked for eddy_run's handling alone:
 * the handler must run even when the loop is stuck in a task that never yields. While a
 * receiver of SIGINT (or SIGTERM) is open in a loop, that loop's eddy_run handling of the
 * signal is off and the receiver gets it instead (trio's open_signal_receiver does the same
 * with KeyboardInterrupt). */
#ifndef EDDY_SIGNAL_H
#define EDDY_SIGNAL_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A signal receiver. Caller storage, which must stay in place while the receiver is open;
 * fields marked private are the runtime's. A zero-filled receiver is a closed one. */
typedef struct eddy_signal_receiver {
    uint64_t mask;         /* read-only: bit (sig - 1) for every signal received */
    uint64_t queued;       /* private: signals in q */
    unsigned char q[64];   /* private: coalesced arrivals, oldest first, at q[head..] */
    unsigned head, n;      /* private */
    eddy__link waiters;    /* private: tasks in eddy_signal_receive, FIFO */
    eddy__link link;       /* private: in the loop's receiver list */
    eddy_loop *loop;       /* private: the loop it was opened on; NULL when closed */
    eddy__handle handle;   /* private: leak tracking (a receiver must be closed) */
} eddy_signal_receiver;

/* Open r (its previous content is ignored: do not open a receiver that is open) on this
 * thread's loop for the signals given (duplicates are harmless):
 *     eddy_signal_open(&r, SIGHUP, SIGUSR1);
 * eddy__signal_open(&r, signals, n, site) is the same with an array of n signals (the form for
 * C++ and for lists built at run time; site names the caller in leak reports, NULL for none).
 * Signals that arrive from now on are queued in r until a task receives them; the first
 * receiver of a signal in the process takes over its disposition (see above). r must be
 * closed with eddy_signal_close on the same thread before the loop ends, or eddy_run reports
 * it as a leak with this call's site. Not a cancellation point.
 * Returns 0; -EINVAL if r or signals is NULL, n is 0, or a signal cannot be received (out of
 * range, SIGPIPE, SIGKILL, SIGSTOP, a synchronous fault, a reserved real-time signal);
 * -EPERM outside a loop thread; -EMFILE/-ENFILE/-ENOMEM if the dispatcher's descriptors or
 * this loop's record cannot be created (then nothing changed). */
#define eddy_signal_open(r, ...)                                                            \
    eddy__signal_open((r), (const int[]){__VA_ARGS__},                                      \
                      sizeof((const int[]){__VA_ARGS__}) / sizeof(int), EDDY__SITE)
EDDY_API EDDY_WUR int eddy__signal_open(eddy_signal_receiver *r, const int *signals, size_t n,
                                        const char *site);

/* Wait until one of r's signals has arrived and return its number (the oldest queued one).
 * Cancellation point: a cancelled call takes nothing from r.
 * Returns the signal number (> 0); -ECANCELED/-ETIMEDOUT if cancelled; -EBADF if r was closed
 * while waiting; -EINVAL if r is NULL, not open, or open on another loop; -EPERM outside a task
 * (callback context included). */
EDDY_API EDDY_WUR int eddy_signal_receive(eddy_signal_receiver *r);

/* Like eddy_signal_receive without waiting: the oldest queued signal, or 0 if none of r's
 * signals has arrived (it reads what the kernel holds for the loop first). Not a
 * cancellation point. Returns the signal number, 0, or -EINVAL as eddy_signal_receive;
 * callable from callbacks. */
EDDY_API EDDY_WUR int eddy_signal_try_receive(eddy_signal_receiver *r);

/* Close r: tasks waiting in eddy_signal_receive on it return -EBADF (and no longer touch r),
 * signals still queued in it are dropped, and when it was the last receiver of a signal the
 * signal's previous disposition and this thread's signal mask are restored. Returns once the
 * runtime no longer references r. Safe on a zero-filled or already closed receiver and on NULL.
 * Must be called on the thread of the loop r was opened on (elsewhere eddy aborts with a
 * message naming r's open site). Not a cancellation point; callable from callbacks. */
EDDY_API void eddy_signal_close(eddy_signal_receiver *r);

/* The abbreviated name of sig without its "SIG" prefix ("HUP", "USR1", "RTMIN+3"), or NULL
 * for a number that is not a signal. A static string. */
EDDY_API const char *eddy_signal_name(int sig);

#ifdef __cplusplus
}
#endif
#endif
