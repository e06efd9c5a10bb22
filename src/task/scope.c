/* eddy task layer: cancel scopes (B3–B7).
 *
 * Scopes form one tree per loop: the root scope, each task's own scope under the nursery it
 * was spawned into, each nursery's scope under the scope current in its parent when opened,
 * and plain scopes under the task's innermost scope. A task is cancelled when any scope on the
 * path from its innermost scope up to the first shield is cancelled; that check walks only
 * that path (eddy__cancel_code), so cancellation is level-triggered and cannot be swallowed.
 * Cancelling a scope walks its subtree once, iteratively (no recursion: nesting can be deep
 * and the canceller may be a task on a small stack), and wakes each blocked task that is now
 * cancelled. Blocking calls need no timer of their own: a deadline is one timer per scope. */
#include <string.h>

#include "internal.h"

void eddy__scope_attach(eddy_cancel_scope *cs, eddy_cancel_scope *parent, eddy_task *owner,
                        unsigned flags, const char *site)
{
    cs->cancel_called = false;
    cs->cancelled_caught = false;
    cs->flags = flags;
    cs->code = 0;
    cs->deadline = EDDY_FOREVER;
    cs->parent = parent;
    cs->owner = owner;
    cs->site = site;
    cs->timer.heap_index = SIZE_MAX;
    cs->timer.site = NULL;
    eddy__list_init(&cs->children);
    if (parent)
        eddy__list_push_back(&parent->children, &cs->sibling);
    else
        eddy__list_init(&cs->sibling);
    bool inherit = parent && !(flags & EDDY_SCOPE_SHIELD);
    cs->eff_cancelled = inherit && parent->eff_cancelled;
    cs->eff_deadline = inherit ? parent->eff_deadline : EDDY_FOREVER;
}

void eddy__scope_detach(eddy_cancel_scope *cs)
{
    eddy_loop *l = eddy__tl_loop;
    if (l) eddy__timer_stop(l, &cs->timer);
    eddy__list_remove(&cs->sibling);
}

static int scope_code(const eddy_cancel_scope *cs)
{
    return (cs->flags & EDDY_SCOPE_FAIL) ? -ETIMEDOUT : -ECANCELED;
}

int eddy__cancel_code_slow(eddy_task *t)
{
    int64_t now = t->loop->now;
    /* Something applies (see the inline fast path in internal.h): walk to find the innermost
     * scope responsible, for its code. */
    for (eddy_cancel_scope *cs = t->cs; cs; cs = cs->parent) {
        if (cs->cancel_called) return cs->code;
        if (cs->deadline <= now) return scope_code(cs); /* due; its timer fires this iteration */
        if (cs->flags & EDDY_SCOPE_SHIELD) break;
    }
    return 0;
}

static void wake_if_cancelled(eddy_task *t)
{
    if (!t || t->state != EDDY__BLOCKED) return;
    const eddy__wait *w = t->wait;
    if (!w || w->uncancellable) return;
    int c = eddy__cancel_code(t);
    if (!c) return;
    if (w->cancel) w->cancel(t, w->arg);
    eddy__wake(t, c);
}

/* First child of cs that cancellation reaches (shields stop it), or NULL. */
static eddy_cancel_scope *first_reached(eddy_cancel_scope *parent, eddy__link *from)
{
    for (eddy__link *x = from; x != &parent->children; x = x->next) {
        eddy_cancel_scope *c = eddy__container_of(x, eddy_cancel_scope, sibling);
        if (!(c->flags & EDDY_SCOPE_SHIELD)) return c;
    }
    return NULL;
}

/* Recompute x's caches from its parent (x is not a shield, or is the walk's root). */
static void refresh_eff(eddy_cancel_scope *x)
{
    eddy_cancel_scope *p = x->parent;
    bool inherit = p && !(x->flags & EDDY_SCOPE_SHIELD);
    x->eff_cancelled = x->cancel_called || (inherit && p->eff_cancelled);
    int64_t d = inherit ? p->eff_deadline : EDDY_FOREVER;
    x->eff_deadline = x->deadline < d ? x->deadline : d;
}

/* Pre-order walk of root's subtree, skipping shielded subtrees (nothing outside a shield
 * reaches in): refresh each scope's caches (parents come before children), and when
 * wake is set, wake the scope's owner if it is blocked and now cancelled. */
static void walk_subtree(eddy_cancel_scope *root, bool wake)
{
    eddy_cancel_scope *x = root;
    for (;;) {
        refresh_eff(x);
        if (wake) wake_if_cancelled(x->owner);
        eddy_cancel_scope *down = first_reached(x, x->children.next);
        if (down) {
            x = down;
            continue;
        }
        /* No child: the next sibling, else climb until an ancestor has one. */
        for (;;) {
            if (x == root) return;
            eddy_cancel_scope *p = x->parent, *next = first_reached(p, x->sibling.next);
            if (next) {
                x = next;
                break;
            }
            x = p;
        }
    }
}

void eddy__scope_cancel_code(eddy_cancel_scope *cs, int code)
{
    if (cs->cancel_called) return;
    cs->cancel_called = true;
    cs->code = code;
    eddy_loop *l = eddy__tl_loop;
    if (l) eddy__timer_stop(l, &cs->timer);
    walk_subtree(cs, true);
}

void eddy_cancel_scope_cancel(eddy_cancel_scope *cs)
{
    if (cs) eddy__scope_cancel_code(cs, -ECANCELED);
}

static void deadline_fired(void *arg)
{
    eddy_cancel_scope *cs = arg;
    eddy__scope_cancel_code(cs, scope_code(cs));
}

void eddy_cancel_scope_set_deadline(eddy_cancel_scope *cs, int64_t deadline)
{
    eddy_loop *l = eddy__tl_loop;
    if (!cs || !l) return;
    cs->deadline = deadline;
    walk_subtree(cs, false); /* a new scope has no children: O(1) on scope entry */
    if (cs->cancel_called) return;
    if (deadline == EDDY_FOREVER) {
        eddy__timer_stop(l, &cs->timer);
        return;
    }
    if (deadline <= l->now) {
        eddy__timer_stop(l, &cs->timer);
        deadline_fired(cs);
        return;
    }
    if (eddy__timer_start(l, &cs->timer, deadline, deadline_fired, cs) < 0) {
        /* No memory for the timer: fail safe, as if the deadline had passed. */
        deadline_fired(cs);
    }
}

/* The deadline o asks for (EDDY_FOREVER: none), or -EINVAL in *err for options no scope can
 * have. Durations follow docs/api.md: 0 is "now", EDDY_FOREVER is no limit, negative is
 * invalid; a deadline is a time, so any value is one (the virtual clock starts at 0). */
static int64_t opts_deadline(const eddy_loop *l, const eddy_cancel_scope_opts *o, const char **err)
{
    *err = NULL;
    if (o->timeout < 0) {
        *err = "a negative timeout";
        return 0;
    }
    int64_t d = o->deadline;
    if (o->timeout != EDDY_FOREVER) {
        int64_t rel = eddy__time_add(l->now, o->timeout); /* past the range: never */
        if (rel < d) d = rel;
    }
    if (o->shield && d == EDDY_FOREVER) *err = "a shield without a deadline or timeout";
    return d;
}

static int enter(eddy_cancel_scope *cs, const eddy_cancel_scope_opts *o, const char *site,
                 bool fatal)
{
    eddy_loop *l = eddy__tl_loop;
    eddy_task *t = l ? l->current : NULL;
    if (!t || l->in_callback) return -EPERM;
    if (!cs) return -EINVAL;
    const char *err;
    int64_t d = opts_deadline(l, o, &err);
    if (err) {
        if (fatal)
            eddy__fatal("cancel scope at %s: %s (a block scope cannot report -EINVAL, and "
                        "skipping its block would hide the mistake)",
                        site ? site : "?", err);
        return -EINVAL;
    }
    unsigned flags = (o->shield ? EDDY_SCOPE_SHIELD : 0) | (o->fail ? EDDY_SCOPE_FAIL : 0);
    eddy__scope_attach(cs, t->cs, t, flags, site);
    t->cs = cs;
    if (d != EDDY_FOREVER) eddy_cancel_scope_set_deadline(cs, d);
    return 0;
}

int eddy__scope_enter(eddy_cancel_scope *cs, eddy_cancel_scope_opts o, const char *site)
{
    return enter(cs, &o, site, false);
}

int eddy_cancel_scope_enter_with(eddy_cancel_scope *cs, const eddy_cancel_scope_opts *o)
{
    static const eddy_cancel_scope_opts none = EDDY_CANCEL_SCOPE_OPTS_INIT;
    return enter(cs, o ? o : &none, "?", false);
}

eddy_cancel_scope *eddy__scope_block_enter(eddy_cancel_scope *cs, eddy_cancel_scope_opts o,
                                           const char *site)
{
    return enter(cs, &o, site, true) == 0 ? cs : NULL;
}

static void exit_checks(eddy_task *t, eddy_cancel_scope *cs, const char *what, const char *site)
{
    if (!t || cs->owner != t)
        eddy__fatal("%s entered at %s by task '%s' (spawned at %s) is left at %s by %s%s%s%s: a "
                    "scope must be left by the task that entered it",
                    what, cs->site, cs->owner ? eddy_task_name(cs->owner) : "?",
                    cs->owner && cs->owner->site ? cs->owner->site : "?", site ? site : "?",
                    t ? "task '" : "a callback", t ? eddy_task_name(t) : "",
                    t ? "' spawned at " : "", t && t->site ? t->site : "");
    if (t->cs != cs)
        eddy__fatal("%s entered at %s is left at %s while the scope entered at %s inside it is "
                    "still active: leave scopes innermost first",
                    what, cs->site, site ? site : "?", t->cs->site);
}

void eddy__scope_exit(eddy_cancel_scope *cs, const char *site)
{
    eddy_task *t = eddy__cur();
    exit_checks(t, cs, "cancel scope", site);
    eddy_loop *l = t->loop;
    cs->cancelled_caught = cs->cancel_called || cs->deadline <= l->now;
    if (cs->cancelled_caught && !cs->cancel_called) {
        cs->cancel_called = true;
        cs->code = scope_code(cs);
    }
    eddy__scope_detach(cs);
    t->cs = cs->parent;
}

void(eddy_cancel_scope_exit)(eddy_cancel_scope *cs) { eddy__scope_exit(cs, NULL); }

void eddy__scope_cleanup(eddy_cancel_scope **csp)
{
    if (*csp) {
        eddy__scope_exit(*csp, "the end of its block");
        *csp = NULL;
    }
}

eddy_cancel_scope *eddy_cancel_scope_current(void)
{
    eddy_task *t = eddy__cur();
    return t ? t->cs : NULL;
}

int64_t eddy_effective_deadline(void)
{
    eddy_task *t = eddy__cur();
    if (!t) return EDDY_FOREVER;
    int64_t d = EDDY_FOREVER;
    for (eddy_cancel_scope *cs = t->cs; cs; cs = cs->parent) {
        if (cs->cancel_called) return t->loop->now < d ? t->loop->now : d;
        if (cs->deadline < d) d = cs->deadline;
        if (cs->flags & EDDY_SCOPE_SHIELD) break;
    }
    return d;
}

/* Used by nursery.c: the same owner/innermost checks with the nursery's words. */
void eddy__nursery_exit_checks(eddy_task *t, eddy_cancel_scope *cs, const char *site);
void eddy__nursery_exit_checks(eddy_task *t, eddy_cancel_scope *cs, const char *site)
{
    exit_checks(t, cs, "nursery", site);
}
