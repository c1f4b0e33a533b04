/* dataplane.c: route table -> (layout, plan) for routing through maps and pooled backends.
 * See dataplane.h for the HAProxy side. Routes are matched between tables by service name (both
 * sorted by name here, the tables themselves are sorted by path length); within a kept route the
 * servers merge by name exactly as diff.c does. Allocation: lib/xalloc.h (fatal, with a log line). */
#include "dataplane.h"
#include "xalloc.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int dataplane_depth(const char *service)
{
    int d = 1;
    for (const char *p = service; *p; p++)
        if (*p == '/') d++;
    return d > DATAPLANE_MAX_DEPTH ? DATAPLANE_MAX_DEPTH : d;
}

static size_t opt_spare(const dataplane_opts_t *o) { return o && o->spare ? o->spare : 64; }
static int opt_pre(const dataplane_opts_t *o) { return o && o->pre_depth ? o->pre_depth : 4; }

void dataplane_layout_free(dataplane_layout_t *l)
{
    if (!l) return;
    for (int d = 0; d <= DATAPLANE_MAX_DEPTH; d++) free(l->state[d]);
    for (size_t i = 0; i < l->nslots; i++) { free(l->slots[i].service); free(l->slots[i].backend); }
    free(l->slots);
    free(l);
}

dataplane_layout_t *dataplane_layout_copy(const dataplane_layout_t *l)
{
    dataplane_layout_t *c = xcalloc(1, sizeof *c);
    for (int d = 0; d <= DATAPLANE_MAX_DEPTH; d++) {
        c->size[d] = l->size[d];
        if (l->size[d]) {
            c->state[d] = xrealloc(NULL, l->size[d]);
            memcpy(c->state[d], l->state[d], l->size[d]);
        }
    }
    c->slots = xrealloc(NULL, l->nslots * sizeof *c->slots);
    c->nslots = l->nslots;
    for (size_t i = 0; i < l->nslots; i++) {
        c->slots[i] = l->slots[i];
        c->slots[i].service = xstrdup(l->slots[i].service);
        c->slots[i].backend = xstrdup(l->slots[i].backend);
    }
    return c;
}

static int cmp_slot(const void *a, const void *b)
{
    return strcmp(((const dataplane_slot_t *)a)->service, ((const dataplane_slot_t *)b)->service);
}

const dataplane_slot_t *dataplane_layout_find(const dataplane_layout_t *l, const char *service)
{
    if (!l || !l->nslots) return NULL;
    dataplane_slot_t key = { .service = (char *)service };
    return bsearch(&key, l->slots, l->nslots, sizeof *l->slots, cmp_slot);
}

static void pool_grow(dataplane_layout_t *l, int d, size_t size)
{
    if (size <= l->size[d]) return;
    l->state[d] = xrealloc(l->state[d], size);
    memset(l->state[d] + l->size[d], DATAPLANE_FREE, size - l->size[d]);
    l->size[d] = size;
}

/* Lowest free pool backend of depth d, or -1. */
static long pool_take(dataplane_layout_t *l, int d)
{
    for (size_t i = 0; i < l->size[d]; i++)
        if (l->state[d][i] == DATAPLANE_FREE) {
            l->state[d][i] = DATAPLANE_USED;
            return (long)i;
        }
    return -1;
}

static void slot_push(dataplane_layout_t *l, const char *service, const char *backend, int depth, int index)
{
    l->slots = xrealloc(l->slots, (l->nslots + 1) * sizeof *l->slots);
    dataplane_slot_t *s = &l->slots[l->nslots++];
    s->service = xstrdup(service);
    s->backend = xstrdup(backend);
    s->depth = depth;
    s->index = index;
}

static void pool_name(char *buf, size_t len, int d, long i) { snprintf(buf, len, "p%d_%ld", d, i); }

dataplane_layout_t *dataplane_layout_build(const dataplane_layout_t *prev, const routes_table_t *t,
                                           const dataplane_opts_t *o)
{
    dataplane_layout_t *l = xcalloc(1, sizeof *l);
    size_t used[DATAPLANE_MAX_DEPTH + 1] = { 0 };
    for (int d = 1; d <= DATAPLANE_MAX_DEPTH; d++)
        if (prev && prev->size[d]) pool_grow(l, d, prev->size[d]); /* all free: the reload rebuilds them */
    char name[64];
    /* pass 1: routes that keep their pool backend; pass 2: the others */
    unsigned char *placed = xcalloc(t->n ? t->n : 1, 1);
    for (size_t i = 0; i < t->n; i++) {
        const routes_backend_t *r = t->b[i];
        int d = dataplane_depth(r->service);
        used[d]++;
        if (r->check_path) {
            slot_push(l, r->service, r->backend, d, -1);
            placed[i] = 1;
            continue;
        }
        const dataplane_slot_t *ps = dataplane_layout_find(prev, r->service);
        if (ps && ps->index >= 0 && ps->depth == d) {
            l->state[d][ps->index] = DATAPLANE_USED;
            slot_push(l, r->service, ps->backend, d, ps->index);
            placed[i] = 1;
        }
    }
    for (int d = 1; d <= DATAPLANE_MAX_DEPTH; d++) {
        size_t want = used[d] + opt_spare(o);
        if (used[d] || d <= opt_pre(o)) pool_grow(l, d, want > l->size[d] ? want : l->size[d]);
    }
    for (size_t i = 0; i < t->n; i++) {
        if (placed[i]) continue;
        const routes_backend_t *r = t->b[i];
        int d = dataplane_depth(r->service);
        long k = pool_take(l, d);
        if (k < 0) abort(); /* grown above to hold every route */
        pool_name(name, sizeof name, d, k);
        slot_push(l, r->service, name, d, (int)k);
    }
    free(placed);
    qsort(l->slots, l->nslots, sizeof *l->slots, cmp_slot);
    return l;
}

/* ---- the plan ---- */

static void map_op(dataplane_plan_t *p, dataplane_map_kind_t k, int map, const char *key, const char *value)
{
    p->maps = xrealloc(p->maps, (p->nmaps + 1) * sizeof *p->maps);
    dataplane_map_op_t *m = &p->maps[p->nmaps++];
    m->kind = k;
    m->map = map;
    m->key = xstrdup(key);
    m->value = value ? xstrdup(value) : NULL;
}

static void srv_op(dataplane_srv_op_t **list, size_t *n, diff_op_kind_t k, const char *backend,
                   const routes_backend_t *b, const routes_server_t *s)
{
    *list = xrealloc(*list, (*n + 1) * sizeof **list);
    (*list)[*n] = (dataplane_srv_op_t){ .kind = k, .backend = backend, .b = b, .s = s };
    (*n)++;
}

static void plan_reset_ops(dataplane_plan_t *p)
{
    for (size_t i = 0; i < p->nmaps; i++) { free(p->maps[i].key); free(p->maps[i].value); }
    for (size_t i = 0; i < p->ndropped; i++) { free(p->dropped[i].service); free(p->dropped[i].backend); }
    free(p->maps); free(p->add); free(p->ops); free(p->dropped);
    p->maps = NULL; p->add = p->ops = NULL; p->dropped = NULL;
    p->nmaps = p->nadd = p->nops = p->ndropped = 0;
}

static void plan_reload(dataplane_plan_t *p, const dataplane_layout_t *lay, const routes_table_t *nw,
                        const dataplane_opts_t *o, const char *why)
{
    plan_reset_ops(p);
    dataplane_layout_free(p->layout);
    p->reload = 1;
    snprintf(p->reason, sizeof p->reason, "%s", why);
    p->layout = dataplane_layout_build(lay, nw, o);
}

static int cmp_route(const void *a, const void *b)
{
    return strcmp((*(const routes_backend_t *const *)a)->service, (*(const routes_backend_t *const *)b)->service);
}

static const routes_backend_t **by_name(const routes_table_t *t)
{
    const routes_backend_t **v = xrealloc(NULL, (t->n ? t->n : 1) * sizeof *v);
    for (size_t i = 0; i < t->n; i++) v[i] = t->b[i];
    qsort(v, t->n, sizeof *v, cmp_route);
    return v;
}

static int streq_null(const char *a, const char *b) { return (!a || !b) ? a == b : strcmp(a, b) == 0; }

static void path_key(char *buf, size_t len, const routes_backend_t *r) { snprintf(buf, len, "%s/", r->path); }

static int globals_differ(const routes_table_t *a, const routes_table_t *b)
{
    if (a->maxconn != b->maxconn || a->ntimeouts != b->ntimeouts) return 1;
    for (size_t i = 0; i < a->ntimeouts; i++)
        if (strcmp(a->timeouts[i].key, b->timeouts[i].key) || strcmp(a->timeouts[i].value, b->timeouts[i].value))
            return 1;
    return 0;
}

/* The difference of two sorted host lists as map ops: deletes (adds == 0) or adds (adds == 1). */
static void host_ops(dataplane_plan_t *p, const routes_backend_t *ob, const routes_backend_t *nb,
                     const char *backend, int adds)
{
    size_t i = 0, j = 0, on = ob ? ob->nhosts : 0, nn = nb ? nb->nhosts : 0;
    while (i < on || j < nn) {
        int c = i == on ? 1 : j == nn ? -1 : strcmp(ob->hosts[i], nb->hosts[j]);
        if (c < 0) { if (!adds) map_op(p, DATAPLANE_MAP_DEL, DATAPLANE_HOSTS, ob->hosts[i], NULL); i++; }
        else if (c > 0) { if (adds) map_op(p, DATAPLANE_MAP_ADD, DATAPLANE_HOSTS, nb->hosts[j], backend); j++; }
        else { i++; j++; }
    }
}

void dataplane_plan(const routes_table_t *old, const dataplane_layout_t *lay, const routes_table_t *nw,
                    const dataplane_opts_t *o, dataplane_plan_t *p)
{
    memset(p, 0, sizeof *p);
    if (!old || !lay) { plan_reload(p, lay, nw, o, "first configuration"); return; }
    if (globals_differ(old, nw)) { plan_reload(p, lay, nw, o, "maxconn or timeouts changed"); return; }
    p->layout = dataplane_layout_copy(lay);
    const routes_backend_t **ov = by_name(old), **nv = by_name(nw);
    char why[256], key[256];
    /* pass 0: decide (reload?) and allocate (new slots pushed once it is done: the lookups of
     * kept routes need the slots sorted); then emit deletes, adds, server ops */
    const routes_backend_t **fresh = NULL;
    long *fresh_k = NULL;
    size_t nfresh = 0;
    size_t i = 0, j = 0;
    while (i < old->n || j < nw->n) {
        int c = i == old->n ? 1 : j == nw->n ? -1 : strcmp(ov[i]->service, nv[j]->service);
        if (c < 0) { /* route removed */
            const dataplane_slot_t *s = dataplane_layout_find(p->layout, ov[i]->service);
            if (!s) { snprintf(why, sizeof why, "service %s: no backend on record", ov[i]->service); goto reload; }
            i++;
            continue;
        }
        if (c > 0) { /* route added */
            const routes_backend_t *r = nv[j++];
            if (r->check_path) {
                snprintf(why, sizeof why, "service %s: new route with a health check (own backend)", r->service);
                goto reload;
            }
            int d = dataplane_depth(r->service);
            long k = pool_take(p->layout, d);
            if (k < 0) {
                snprintf(why, sizeof why, "service %s: no free backend of depth %d (pool of %zu): growing the pool",
                         r->service, d, p->layout->size[d]);
                goto reload;
            }
            fresh = xrealloc(fresh, (nfresh + 1) * sizeof *fresh);
            fresh_k = xrealloc(fresh_k, (nfresh + 1) * sizeof *fresh_k);
            fresh[nfresh] = r;
            fresh_k[nfresh++] = k;
            continue;
        }
        const routes_backend_t *ob = ov[i++], *nb = nv[j++];
        if (!streq_null(ob->check_path, nb->check_path)) {
            snprintf(why, sizeof why, "service %s: health check changed", nb->service);
            goto reload;
        }
        if (!dataplane_layout_find(p->layout, nb->service)) {
            snprintf(why, sizeof why, "service %s: no backend on record", nb->service);
            goto reload;
        }
    }
    for (size_t f = 0; f < nfresh; f++) {
        char name[64];
        int d = dataplane_depth(fresh[f]->service);
        pool_name(name, sizeof name, d, fresh_k[f]);
        slot_push(p->layout, fresh[f]->service, name, d, (int)fresh_k[f]);
    }
    if (nfresh) qsort(p->layout->slots, p->layout->nslots, sizeof *p->layout->slots, cmp_slot);
    free(fresh);
    free(fresh_k);
    fresh = NULL;
    fresh_k = NULL;
    /* removed routes: their backends become dirty, their slots move to p->dropped (whose names
     * the removal ops below point to) */
    for (i = 0, j = 0; i < old->n;) {
        int c = j == nw->n ? -1 : strcmp(ov[i]->service, nv[j]->service);
        if (c > 0) { j++; continue; }
        if (c == 0) { i++; j++; continue; }
        const routes_backend_t *r = ov[i++];
        dataplane_slot_t *s = (dataplane_slot_t *)dataplane_layout_find(p->layout, r->service);
        if (s->index >= 0) p->layout->state[s->depth][s->index] = DATAPLANE_DIRTY;
        p->dropped = xrealloc(p->dropped, (p->ndropped + 1) * sizeof *p->dropped);
        p->dropped[p->ndropped++] = *s;
        size_t at = (size_t)(s - p->layout->slots);
        memmove(s, s + 1, (p->layout->nslots - at - 1) * sizeof *s);
        p->layout->nslots--;
    }
    /* emit; the backend names point into p->layout and p->dropped, which no longer change */
    /* deletes: maps of removed routes and hosts that left a kept route */
    for (i = 0, j = 0; i < old->n || j < nw->n;) {
        int c = i == old->n ? 1 : j == nw->n ? -1 : strcmp(ov[i]->service, nv[j]->service);
        if (c > 0) { j++; continue; }
        if (c < 0) {
            const routes_backend_t *r = ov[i++];
            path_key(key, sizeof key, r);
            map_op(p, DATAPLANE_MAP_DEL, DATAPLANE_PATHS, key, NULL);
            host_ops(p, r, NULL, NULL, 0);
            for (size_t k = 0; k < p->ndropped; k++)
                if (!strcmp(p->dropped[k].service, r->service))
                    map_op(p, DATAPLANE_MAP_DEL, DATAPLANE_PREFIX, p->dropped[k].backend, NULL);
            continue;
        }
        host_ops(p, ov[i], nv[j], NULL, 0);
        i++; j++;
    }
    /* adds: servers of new routes, then their prefix, host and path entries; new hosts of kept routes */
    for (i = 0, j = 0; i < old->n || j < nw->n;) {
        int c = i == old->n ? 1 : j == nw->n ? -1 : strcmp(ov[i]->service, nv[j]->service);
        if (c < 0) { i++; continue; }
        const routes_backend_t *nb = nv[j];
        const dataplane_slot_t *s = dataplane_layout_find(p->layout, nb->service);
        if (c > 0) {
            for (size_t k = 0; k < nb->nservers; k++) srv_op(&p->add, &p->nadd, DIFF_ADD, s->backend, nb, &nb->servers[k]);
            map_op(p, DATAPLANE_MAP_ADD, DATAPLANE_PREFIX, s->backend, nb->path);
            host_ops(p, NULL, nb, s->backend, 1);
            path_key(key, sizeof key, nb);
            map_op(p, DATAPLANE_MAP_ADD, DATAPLANE_PATHS, key, s->backend);
            j++;
            continue;
        }
        host_ops(p, ov[i], nb, s->backend, 1);
        i++; j++;
    }
    /* server changes of kept routes (merge by name, as diff.c), removals of dropped routes */
    for (i = 0, j = 0; i < old->n || j < nw->n;) {
        int c = i == old->n ? 1 : j == nw->n ? -1 : strcmp(ov[i]->service, nv[j]->service);
        if (c > 0) { j++; continue; }
        const routes_backend_t *ob = ov[i];
        if (c < 0) {
            const dataplane_slot_t *s = NULL;
            for (size_t k = 0; k < p->ndropped && !s; k++)
                if (!strcmp(p->dropped[k].service, ob->service)) s = &p->dropped[k];
            for (size_t k = 0; k < ob->nservers; k++) srv_op(&p->ops, &p->nops, DIFF_DEL, s->backend, ob, &ob->servers[k]);
            i++;
            continue;
        }
        const routes_backend_t *nb = nv[j];
        i++; j++;
        if (ob == nb) continue; /* shared: built from the same service version */
        const char *be = dataplane_layout_find(p->layout, nb->service)->backend;
        size_t a = 0, b = 0;
        while (a < ob->nservers || b < nb->nservers) {
            int d = a == ob->nservers ? 1 : b == nb->nservers ? -1 : strcmp(ob->servers[a].name, nb->servers[b].name);
            if (d < 0) { srv_op(&p->ops, &p->nops, DIFF_DEL, be, ob, &ob->servers[a++]); continue; }
            if (d > 0) { srv_op(&p->ops, &p->nops, DIFF_ADD, be, nb, &nb->servers[b++]); continue; }
            const routes_server_t *os = &ob->servers[a++], *ns = &nb->servers[b++];
            if (strcmp(os->addr, ns->addr) || os->port != ns->port) srv_op(&p->ops, &p->nops, DIFF_ADDR, be, nb, ns);
            if (os->weight != ns->weight) srv_op(&p->ops, &p->nops, DIFF_WEIGHT, be, nb, ns);
        }
    }
    free(ov);
    free(nv);
    return;
reload:
    free(fresh);
    free(fresh_k);
    free(ov);
    free(nv);
    plan_reload(p, lay, nw, o, why);
}

void dataplane_plan_clear(dataplane_plan_t *p)
{
    plan_reset_ops(p);
    dataplane_layout_free(p->layout);
    memset(p, 0, sizeof *p);
}

dataplane_layout_t *dataplane_plan_take_layout(dataplane_plan_t *p)
{
    dataplane_layout_t *l = p->layout;
    p->layout = NULL;
    return l;
}

char *dataplane_map_render(const routes_table_t *t, const dataplane_layout_t *l, int map)
{
    size_t cap = 256, len = 0;
    char *out = xrealloc(NULL, cap);
    out[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        const routes_backend_t *r = t->b[i];
        const dataplane_slot_t *s = dataplane_layout_find(l, r->service);
        if (!s) continue;
        for (size_t h = 0; h < (map == DATAPLANE_HOSTS ? r->nhosts : 1); h++) {
            size_t need = strlen(r->path) + strlen(s->backend) + (map == DATAPLANE_HOSTS ? strlen(r->hosts[h]) : 0) + 4;
            if (len + need + 1 > cap) { cap = (len + need + 1) * 2; out = xrealloc(out, cap); }
            if (map == DATAPLANE_PATHS) len += (size_t)sprintf(out + len, "%s/ %s\n", r->path, s->backend);
            else if (map == DATAPLANE_HOSTS) len += (size_t)sprintf(out + len, "%s %s\n", r->hosts[h], s->backend);
            else len += (size_t)sprintf(out + len, "%s %s\n", s->backend, r->path);
        }
    }
    return out;
}

dataplane_layout_t *dataplane_layout_parse_prefix(const char *text, size_t *ignored)
{
    dataplane_layout_t *l = xcalloc(1, sizeof *l);
    size_t bad = 0;
    const char *line = text;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        char buf[320], be[64], path[260];
        int d = 0;
        long k = -1;
        char tail = 0;
        if (n == 0 || (n > 2 && !strncmp(line, "b_", 2))) { /* own backends are rebuilt anyway */
            line = nl ? nl + 1 : NULL;
            continue;
        }
        int okl = n < sizeof buf;
        if (okl) {
            memcpy(buf, line, n);
            buf[n] = '\0';
            okl = sscanf(buf, "%63s %259s %c", be, path, &tail) == 2 && sscanf(be, "p%d_%ld%c", &d, &k, &tail) == 2 &&
                  path[0] == '/' && validate_service_name(path + 1) && d == dataplane_depth(path + 1) && k >= 0 &&
                  k < 100000;
            if (okl) {
                char canon[64];
                pool_name(canon, sizeof canon, d, k);
                okl = strcmp(canon, be) == 0 && !dataplane_layout_find(l, path + 1);
                for (size_t i = 0; okl && i < l->nslots; i++)
                    if (l->slots[i].depth == d && l->slots[i].index == k) okl = 0;
            }
        }
        if (okl) {
            pool_grow(l, d, (size_t)k + 1);
            l->state[d][k] = DATAPLANE_USED;
            slot_push(l, path + 1, be, d, (int)k);
            qsort(l->slots, l->nslots, sizeof *l->slots, cmp_slot);
        } else {
            bad++;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (ignored) *ignored = bad;
    return l;
}
