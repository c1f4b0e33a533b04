/* diff.c: route table -> route table, as a reload or as runtime operations.
 * Both tables are sorted the same way (routes_build), so routes compare pairwise by position
 * and servers merge by name. Anything that is not a server add/remove/move/re-weight inside an
 * unchanged route is structural. */
#include "diff.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int streq_null(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

static void push(diff_t *d, diff_op_kind_t k, const routes_backend_t *b, const routes_server_t *s)
{
    d->ops = xrealloc(d->ops, (d->nops + 1) * sizeof *d->ops);
    d->ops[d->nops].kind = k;
    d->ops[d->nops].b = b;
    d->ops[d->nops].s = s;
    d->nops++;
}

static int same_route(const routes_backend_t *a, const routes_backend_t *b, char *why, size_t len)
{
    if (strcmp(a->service, b->service) || strcmp(a->path, b->path)) {
        snprintf(why, len, "routes changed (%s -> %s)", a->service, b->service);
        return 0;
    }
    if (a->nhosts != b->nhosts) goto hosts;
    for (size_t i = 0; i < a->nhosts; i++)
        if (strcmp(a->hosts[i], b->hosts[i])) goto hosts;
    if (!streq_null(a->check_path, b->check_path)) {
        snprintf(why, len, "service %s: health check changed", a->service);
        return 0;
    }
    return 1;
hosts:
    snprintf(why, len, "service %s: hosts changed", a->service);
    return 0;
}

static void structural(diff_t *d, const char *why)
{
    d->structural = 1;
    snprintf(d->reason, sizeof d->reason, "%s", why);
    free(d->ops);
    d->ops = NULL;
    d->nops = 0;
}

void diff_tables(const routes_table_t *old, const routes_table_t *nw, diff_t *d)
{
    memset(d, 0, sizeof *d);
    if (!old) { structural(d, "first configuration"); return; }
    if (old->maxconn != nw->maxconn) { structural(d, "maxconn changed"); return; }
    if (old->ntimeouts != nw->ntimeouts) { structural(d, "timeouts changed"); return; }
    for (size_t i = 0; i < old->ntimeouts; i++)
        if (strcmp(old->timeouts[i].key, nw->timeouts[i].key) || strcmp(old->timeouts[i].value, nw->timeouts[i].value)) {
            structural(d, "timeouts changed");
            return;
        }
    if (old->n != nw->n) {
        structural(d, old->n < nw->n ? "route added" : "route removed");
        return;
    }
    char why[256];
    for (size_t i = 0; i < old->n; i++)
        if (!same_route(old->b[i], nw->b[i], why, sizeof why)) { structural(d, why); return; }
    for (size_t i = 0; i < old->n; i++) {
        const routes_backend_t *ob = old->b[i], *nb = nw->b[i];
        if (ob == nb) continue; /* shared: built from the same service version */
        size_t a = 0, b = 0;
        while (a < ob->nservers || b < nb->nservers) {
            int c = a == ob->nservers ? 1 : b == nb->nservers ? -1 : strcmp(ob->servers[a].name, nb->servers[b].name);
            if (c < 0) { push(d, DIFF_DEL, ob, &ob->servers[a++]); continue; }
            if (c > 0) { push(d, DIFF_ADD, nb, &nb->servers[b++]); continue; }
            const routes_server_t *os = &ob->servers[a++], *ns = &nb->servers[b++];
            if (strcmp(os->addr, ns->addr) || os->port != ns->port) push(d, DIFF_ADDR, nb, ns);
            if (os->weight != ns->weight) push(d, DIFF_WEIGHT, nb, ns);
        }
    }
}

void diff_clear(diff_t *d)
{
    free(d->ops);
    memset(d, 0, sizeof *d);
}

int diff_equal(const routes_table_t *a, const routes_table_t *b)
{
    if (!a || !b) return a == b;
    diff_t d;
    diff_tables(a, b, &d);
    int eq = !d.structural && d.nops == 0;
    diff_clear(&d);
    return eq;
}
