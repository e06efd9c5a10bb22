/* eddy task layer: nurseries (B1, B2), joining (A5), eddy_start (A8), gather.
 *
 * A nursery is a cancel scope the parent enters at open and leaves at close, plus the list of
 * its live children. Children's own scopes hang under the nursery's scope, so cancelling the
 * nursery (a failing child does that) cancels the children and the parent's body alike. */
#include <string.h>

#include "internal.h"

void eddy__nursery_exit_checks(eddy_task *t, eddy_cancel_scope *cs, const char *site);

enum { N_UNOPENED = 0, N_OPEN = 1, N_CLOSING = 2, N_CLOSED = 3 };

struct eddy__start_rec {
    eddy_task *parent;
    void *value;
    int rc;
    bool done;
};

int eddy__nursery_open(eddy_nursery *n, unsigned flags, const char *site)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    if (!n) return -EINVAL;
    n->flags = flags ? flags : EDDY_CANCEL_ON_ERROR;
    n->first_error = 0;
    n->nerrors = 0;
    n->nlive = 0;
    n->closer = NULL;
    n->next_waiter = NULL;
    n->site = site;
    n->status_out = NULL;
    eddy__list_init(&n->children);
    eddy__list_init(&n->done);
    eddy__scope_attach(&n->cs, t->cs, t, EDDY__SCOPE_NURSERY, site);
    t->cs = &n->cs;
    n->state = N_OPEN;
    return 0;
}

static void record_error(eddy_nursery *n, eddy_task *t)
{
    if (n->nerrors == 0) n->first_error = t->status;
    if (n->nerrors < EDDY_NURSERY_MAX_ERRORS) {
        eddy_task_error *e = &n->errors[n->nerrors];
        e->code = t->status;
        e->task_id = t->id;
        memcpy(e->name, eddy_task_name(t), sizeof e->name);
        e->site = t->site;
        e->detail = t->error_detail;
    }
    n->nerrors++;
}

/* Called on the dying task's stack, right before it switches away for good. */
void eddy__task_exit_to_nursery(eddy_task *t)
{
    eddy_nursery *n = t->nursery;
    eddy__list_remove(&t->nlink);
    n->nlive--;
    if (t->flags & EDDY__T_PRESTART) {
        /* Failed (or returned) before eddy_started: the error belongs to eddy_start's caller. */
        eddy__start_rec *r = t->start;
        r->rc = t->status < 0 ? t->status : -ECHILD;
        r->done = true;
        t->flags &= ~EDDY__T_PRESTART;
        t->start = NULL;
        eddy__wake(r->parent, 0);
    } else if (t->status < 0) {
        /* A child that returns the cancel code applying to it was cancelled, not failed:
         * by this nursery, by eddy_task_cancel, or by a scope above the nursery (whose
         * owner sees the same cancellation at its own next checkpoint). */
        int cc = eddy__cancel_code_slow(t);
        bool cancelled = cc != 0 && t->status == cc;
        if (!cancelled) {
            record_error(n, t);
            if (!(n->flags & EDDY_WAIT_ALL) && (n->flags & EDDY_CANCEL_ON_ERROR))
                eddy_cancel_scope_cancel(&n->cs);
        }
    }
    if (n->flags & EDDY_CANCEL_ON_FIRST_DONE) eddy_cancel_scope_cancel(&n->cs);
    if (t->flags & EDDY__T_JOINABLE) {
        eddy__list_push_back(&n->done, &t->nlink);
        if (t->joiner) eddy__wake(t->joiner, 0);
    }
    /* Both may wait: the parent in close, a child in next_done (eddy__wake ignores a task
     * that is not blocked). */
    if (n->next_waiter) eddy__wake(n->next_waiter, 0);
    if (n->closer) eddy__wake(n->closer, 0);
}

int eddy__nursery_close(eddy_nursery *n, const char *site)
{
    eddy_task *t = eddy__cur();
    if (!n || n->state != N_OPEN) return -EINVAL;
    eddy__nursery_exit_checks(t, &n->cs, site);
    n->state = N_CLOSING;
    eddy__wait w = {.reason = "nursery close", .obj = n, .uncancellable = true};
    n->closer = t;
    while (n->nlive > 0) (void)eddy__park(&w);
    n->closer = NULL;
    /* Joinable children nobody joined: release them now. */
    eddy__link *x;
    while ((x = eddy__list_pop_front(&n->done))) {
        eddy_task *c = eddy__container_of(x, eddy_task, nlink);
        /* A joiner (possibly a task outside this nursery) was already woken when c finished
         * and has not run yet: it reads c's status and releases c itself. Freeing c here
         * would hand it a dangling task and release the stack twice. */
        if (c->joiner) continue;
        c->flags &= ~EDDY__T_JOINABLE;
        eddy__task_release(c);
    }
    n->state = N_CLOSED;
    n->cs.cancelled_caught = n->cs.cancel_called;
    eddy__scope_detach(&n->cs);
    t->cs = n->cs.parent;
    return n->first_error;
}

int(eddy_nursery_close)(eddy_nursery *n) { return eddy__nursery_close(n, NULL); }

size_t eddy_nursery_errors(const eddy_nursery *n, eddy_task_error *out, size_t len)
{
    if (!n) return 0;
    size_t k = n->nerrors < EDDY_NURSERY_MAX_ERRORS ? n->nerrors : EDDY_NURSERY_MAX_ERRORS;
    if (k > len) k = len;
    if (out && k) memcpy(out, n->errors, k * sizeof *out);
    return n->nerrors;
}

void eddy_nursery_cancel(eddy_nursery *n)
{
    if (n && (n->state == N_OPEN || n->state == N_CLOSING)) eddy_cancel_scope_cancel(&n->cs);
}

eddy_nursery *eddy__nursery_block_open(eddy_nursery *n, unsigned flags, int *statusp, const char *site)
{
    if (eddy__nursery_open(n, flags, site) != 0) {
        if (statusp) *statusp = -EPERM;
        return NULL;
    }
    n->status_out = statusp;
    if (statusp) *statusp = 0;
    return n;
}

void eddy__nursery_cleanup(eddy_nursery **np)
{
    eddy_nursery *n = *np;
    if (!n) return;
    *np = NULL;
    int rc = eddy__nursery_close(n, "the end of its EDDY_NURSERY block");
    if (n->status_out) *n->status_out = rc;
}

/* ---- joining ---- */

static void join_cancel(eddy_task *t, void *arg)
{
    (void)t;
    eddy_task *c = arg;
    c->joiner = NULL;
}

int eddy_task_join(eddy_task *c, int *status)
{
    eddy_task *t = eddy__cur();
    if (!t) return -EPERM;
    if (!c || !(c->flags & EDDY__T_JOINABLE) || (c->flags & EDDY__T_JOINED) || c->joiner)
        return -EINVAL;
    if (c->state != EDDY__DONE) {
        c->joiner = t;
        eddy__wait w = {.reason = "join", .obj = c, .cancel = join_cancel, .arg = c};
        int rc = eddy__park(&w);
        c->joiner = NULL;
        if (rc < 0) return rc;
    }
    if (status) *status = c->status;
    c->flags |= EDDY__T_JOINED;
    eddy__list_remove(&c->nlink);
    eddy__task_release(c);
    return eddy__coop_done(t, 0);
}

static bool has_joinable_live(eddy_nursery *n)
{
    for (eddy__link *x = n->children.next; x != &n->children; x = x->next) {
        eddy_task *c = eddy__container_of(x, eddy_task, nlink);
        if ((c->flags & EDDY__T_JOINABLE) && !c->joiner) return true;
    }
    return false;
}

static void next_done_cancel(eddy_task *t, void *arg)
{
    (void)t;
    ((eddy_nursery *)arg)->next_waiter = NULL; /* never the closer's registration */
}

int eddy_nursery_next_done(eddy_nursery *n, eddy_task **out)
{
    eddy_task *t = eddy__cur();
    if (!t) return -EPERM;
    if (!n || !out || (n->state != N_OPEN && n->state != N_CLOSING)) return -EINVAL;
    for (;;) {
        /* Completion order: the first finished, unclaimed task in the done list. */
        for (eddy__link *x = n->done.next; x != &n->done; x = x->next) {
            eddy_task *c = eddy__container_of(x, eddy_task, nlink);
            if (!(c->flags & EDDY__T_HANDED)) {
                c->flags |= EDDY__T_HANDED; /* later calls skip it; join releases it */
                *out = c;
                return eddy__coop_done(t, 0);
            }
        }
        if (!has_joinable_live(n)) return eddy__coop_done(t, -ENOENT);
        if (n->next_waiter) return -EBUSY;
        n->next_waiter = t;
        eddy__wait w = {.reason = "next done", .obj = n, .cancel = next_done_cancel, .arg = n};
        int rc = eddy__park(&w);
        n->next_waiter = NULL;
        if (rc < 0) return rc;
    }
}

/* ---- eddy_start / eddy_started ---- */

int eddy__start(eddy_nursery *n, int (*fn)(void *), void *arg, void **value,
                const eddy_spawn_opts *o, const char *site)
{
    eddy_task *t = eddy__cur();
    if (!t) return -EPERM;
    struct eddy__start_rec rec = {.parent = t};
    eddy_task *child = NULL;
    eddy_spawn_opts so = o ? *o : (eddy_spawn_opts){0};
    eddy_task **user_handle = so.handle;
    so.handle = NULL;
    eddy_loop *l = t->loop;
    if (!n || !fn || (n->state != N_OPEN && n->state != N_CLOSING)) return -EINVAL;
    /* Flag the child before it first runs: spawn is eager. */
    int rc = eddy__task_new(l, n, fn, arg, &so, site, &child);
    if (rc < 0) return rc;
    child->flags |= EDDY__T_PRESTART;
    child->start = &rec;
    if (user_handle) {
        child->flags |= EDDY__T_JOINABLE;
        *user_handle = child;
    }
    eddy__ready_task(l, t, true);
    eddy__switch_to(l, &t->ctx, t, child, false);
    bool cancelled = false;
    while (!rec.done) {
        /* Nothing to unlink on cancel: the record lives in this frame. */
        eddy__wait w = {.reason = "start", .obj = child, .uncancellable = cancelled};
        rc = eddy__park(&w);
        if (rc < 0 && !cancelled) {
            /* The caller is cancelled: cancel the child, then wait for it to start or exit. */
            cancelled = true;
            eddy_task_cancel(child);
        }
    }
    if (cancelled) {
        /* The child's -ECANCELED is the cancellation we passed on: report the caller's own
         * code (-ETIMEDOUT for a fail scope); a different failure is the child's own. */
        if (rec.rc < 0 && rec.rc != -ECANCELED) return rec.rc;
        int c = eddy__cancel_code(t);
        return c ? c : -ECANCELED;
    }
    if (rec.rc < 0) return rec.rc;
    if (value) *value = rec.value;
    return 0;
}

int eddy_start_with(eddy_nursery *n, int (*fn)(void *), void *arg, void **value,
                    const eddy_spawn_opts *o)
{
    return eddy__start(n, fn, arg, value, o, "?");
}

int eddy_started(void *value)
{
    eddy_task *t = eddy__cur();
    if (!t || !(t->flags & EDDY__T_PRESTART)) return -EINVAL;
    eddy__start_rec *r = t->start;
    r->value = value;
    r->rc = 0;
    r->done = true;
    t->flags &= ~EDDY__T_PRESTART;
    t->start = NULL;
    eddy__wake(r->parent, 0);
    return 0;
}

/* ---- gather ---- */

static int gather_one(void *p)
{
    eddy_gather_item *it = p;
    it->status = it->fn(it->arg);
    return it->status;
}

int eddy_gather(eddy_gather_item *items, size_t n)
{
    eddy_task *t = eddy__cur();
    if (!t) return -EPERM;
    if (n && !items) return -EINVAL;
    for (size_t i = 0; i < n; i++) items[i].status = -ECANCELED;
    eddy_nursery nur;
    int rc = eddy__nursery_open(&nur, EDDY_CANCEL_ON_ERROR, "eddy_gather");
    if (rc < 0) return rc;
    int spawn_err = 0;
    for (size_t i = 0; i < n && !spawn_err; i++) {
        if (!items[i].fn) {
            items[i].status = -EINVAL;
            spawn_err = -EINVAL;
            break;
        }
        rc = eddy__spawn(&nur, gather_one, &items[i], NULL, "eddy_gather");
        if (rc < 0) spawn_err = rc;
    }
    if (spawn_err) eddy_nursery_cancel(&nur);
    rc = eddy_nursery_close(&nur);
    return spawn_err ? spawn_err : rc;
}
