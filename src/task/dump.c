/* eddy task layer: eddy_dump (D3), the scope/task tree with wait reasons.
 *
 * The scope tree already is the task tree (see scope.c), so the dump is one walk over it:
 * a task's own scope prints the task, a nursery scope prints the nursery, a plain scope
 * prints its deadline and state. Recursion depth is the nesting depth of the program. */
#include <inttypes.h>
#include <string.h>

#include "internal.h"

typedef struct dump_ctx {
    FILE *f;
    bool json;
    int64_t now;
    bool first;
} dump_ctx;

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void fmt_rel(char *buf, size_t n, int64_t t, int64_t now)
{
    if (t == EDDY_FOREVER || t == 0) {
        snprintf(buf, n, "none");
        return;
    }
    double d = (double)(t - now) / 1e9;
    snprintf(buf, n, "%+.3fs", d);
}

static void dump_scope(dump_ctx *c, eddy_cancel_scope *cs, int depth);

static void dump_children(dump_ctx *c, eddy_cancel_scope *cs, int depth)
{
    bool first = true;
    if (c->json) fputs(",\"children\":[", c->f);
    for (eddy__link *x = cs->children.next; x != &cs->children; x = x->next) {
        if (c->json && !first) fputc(',', c->f);
        first = false;
        dump_scope(c, eddy__container_of(x, eddy_cancel_scope, sibling), depth + 1);
    }
    if (c->json) fputc(']', c->f);
}

static void dump_task(dump_ctx *c, eddy_task *t, int depth)
{
    char dl[32] = "", reason[128] = "";
    const eddy__wait *w = t->wait;
    if (t->state == EDDY__BLOCKED && w) {
        char obj[40] = "";
        if (w->obj && !strncmp(w->reason, "wait ", 5))
            snprintf(obj, sizeof obj, " fd=%d", (int)(intptr_t)w->obj);
        else if (w->obj)
            snprintf(obj, sizeof obj, " obj=%p", w->obj);
        if (w->deadline && w->deadline != EDDY_FOREVER) fmt_rel(dl, sizeof dl, w->deadline, c->now);
        snprintf(reason, sizeof reason, "%s%s%s%s", w->reason, obj, dl[0] ? " deadline=" : "", dl);
    }
    double age = (double)(c->now - t->spawned_at) / 1e9;
    if (c->json) {
        fprintf(c->f, "{\"kind\":\"task\",\"id\":%" PRIu64 ",\"name\":", t->id);
        json_str(c->f, eddy_task_name(t));
        fprintf(c->f, ",\"state\":\"%s\",\"wait\":", eddy__state_name(t));
        json_str(c->f, reason);
        fputs(",\"site\":", c->f);
        json_str(c->f, t->site);
        fprintf(c->f, ",\"age_s\":%.3f", age);
    } else {
        fprintf(c->f, "%*stask %" PRIu64 " \"%s\" %s%s%s spawned at %s age %.3fs\n", depth * 2, "",
                t->id, eddy_task_name(t), eddy__state_name(t), reason[0] ? ": " : "", reason,
                t->site ? t->site : "?", age);
    }
}

static void dump_scope(dump_ctx *c, eddy_cancel_scope *cs, int depth)
{
    if (cs->flags & EDDY__SCOPE_TASK) {
        dump_task(c, cs->owner, depth);
    } else {
        const char *kind = (cs->flags & EDDY__SCOPE_NURSERY) ? "nursery"
                           : (cs->flags & EDDY__SCOPE_ROOT) ? "root"
                                                             : "cancel scope";
        char dl[32];
        fmt_rel(dl, sizeof dl, cs->deadline, c->now);
        if (c->json) {
            fprintf(c->f, "{\"kind\":\"%s\",\"site\":", kind);
            json_str(c->f, cs->site);
            fprintf(c->f, ",\"deadline\":\"%s\",\"cancelled\":%s,\"shield\":%s", dl,
                    cs->cancel_called ? "true" : "false",
                    (cs->flags & EDDY_SCOPE_SHIELD) ? "true" : "false");
        } else {
            fprintf(c->f, "%*s%s at %s%s%s%s%s\n", depth * 2, "", kind, cs->site ? cs->site : "?",
                    cs->deadline != EDDY_FOREVER ? " deadline=" : "",
                    cs->deadline != EDDY_FOREVER ? dl : "", cs->cancel_called ? " (cancelled)" : "",
                    (cs->flags & EDDY_SCOPE_SHIELD) ? " (shield)" : "");
        }
    }
    dump_children(c, cs, depth);
    if (c->json) fputc('}', c->f);
}

int eddy_dump(FILE *f, unsigned flags)
{
    eddy_loop *l = eddy__tl_loop;
    if (!l) return -EPERM;
    if (!f || (flags & ~(unsigned)(EDDY_DUMP_TREE | EDDY_DUMP_JSON))) return -EINVAL;
    dump_ctx c = {.f = f, .json = flags & EDDY_DUMP_JSON, .now = l->now};
    if (c.json) {
        fprintf(f, "{\"backend\":\"%s\",\"tasks\":%zu,\"ready\":%zu,\"timers\":%zu,\"tree\":", l->be->name,
                l->ntasks, l->nready, l->nheap);
        dump_scope(&c, &l->root_cs, 0);
        fputs("}\n", f);
    } else {
        fprintf(f, "eddy loop (%s): %zu tasks, %zu ready, %zu timers\n", l->be->name, l->ntasks,
                l->nready, l->nheap);
        dump_scope(&c, &l->root_cs, 0);
    }
    fflush(f);
    return ferror(f) ? -EIO : 0;
}
