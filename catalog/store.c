/* store.c: see store.h. Services and checks live in hash maps keyed by ID; a second map keyed by
 * the lower-cased service name chains a name's instances and keeps that name's index (kept
 * after the last instance goes, so the index a blocked client holds never goes backwards).
 * The KV table is kv.c's and the service and check values are objects.c's; store_kv.c turns
 * KV and session writes into store writes (global index, change hook). Listings are built on demand and
 * sorted; nothing here allocates per read beyond the result array. */
#include "store_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int streq(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static char *lower(const char *s)
{
    char *l = strdup(s ? s : "");
    for (char *p = l; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return l;
}

/* ---- store ---- */
catalog_store_t *store_new(const char *node, const char *node_id, const char *dc, const char *address)
{
    return store_new_at(node, node_id, dc, address, 0);
}

catalog_store_t *store_new_at(const char *node, const char *node_id, const char *dc, const char *address,
                              uint64_t base)
{
    catalog_store_t *s = calloc(1, sizeof *s);
    s->node = strdup(node);
    s->node_id = strdup(node_id);
    s->dc = strdup(dc);
    s->address = strdup(address);
    s->services = strmap_new();
    s->checks = strmap_new();
    s->names = strmap_new();
    s->ext_nodes = strmap_new();
    s->kv = kv_table_new();
    /* boot: the node (index base+1), its serfHealth check (base+2) and the consul service
     * (base+3); the KV table starts at base too, so no index a fresh store sends is below it */
    if (base > UINT64_MAX / 2)
        base = 0;
    kv_restore_index(s->kv, base);
    s->sessions = session_table_new();
    session_set_index(s->sessions, base);
    s->index = base + 1;
    s->node_create = s->node_modify = s->idx_nodes = base + 1;
    cat_check_t *serf = cat_check_new();
    serf->id = strdup("serfHealth");
    serf->name = strdup("Serf Health Status");
    serf->status = strdup("passing");
    serf->notes = strdup("");
    serf->output = strdup("Agent alive and reachable");
    serf->service_id = strdup("");
    serf->kind = CHECK_SERF;
    serf->create_index = serf->modify_index = s->idx_checks = s->index = base + 2;
    strmap_put(s->checks, serf->id, serf);
    s->node_checks = serf;
    cat_service_t *consul = cat_service_new();
    consul->id = strdup("consul");
    consul->name = strdup("consul");
    consul->address = strdup("");
    consul->port = 8300;
    store_register(s, consul, NULL, 0, 0, 0);
    return s;
}

void store_free(catalog_store_t *s)
{
    if (!s)
        return;
    for (strmap_iter_t it = strmap_iter(s->checks); strmap_iter_next(&it);) {
        if (s->on_check_removed)
            s->on_check_removed(s->check_ctx, it.value);
        cat_check_free(it.value);
    }
    for (strmap_iter_t it = strmap_iter(s->services); strmap_iter_next(&it);)
        cat_service_free(it.value);
    for (strmap_iter_t it = strmap_iter(s->names); strmap_iter_next(&it);) {
        cat_name_t *n = it.value;
        free(n->display);
        free(n);
    }
    for (strmap_iter_t it = strmap_iter(s->ext_nodes); strmap_iter_next(&it);)
        cat_node_free(it.value);
    strmap_free(s->services); strmap_free(s->checks); strmap_free(s->names); strmap_free(s->ext_nodes);
    kv_table_free(s->kv);
    session_table_free(s->sessions);
    for (int i = 0; i < s->npending_names; i++) free(s->pending_names[i]);
    free(s->node); free(s->node_id); free(s->dc); free(s->address);
    free(s);
}

void store_set_change_hook(catalog_store_t *s, cat_change_cb cb, void *ctx) { s->on_change = cb; s->change_ctx = ctx; }
void store_notify(catalog_store_t *s, const cat_change_t *ch)
{
    if (s->on_change)
        s->on_change(s->change_ctx, ch);
}
/* ---- durability: each entity a write touched, for the write-ahead log (durable.c) ---- */
void store_dirty(catalog_store_t *s, cat_dirty_t kind, const char *id)
{
    if (s->on_dirty)
        s->on_dirty(s->dirty_ctx, kind, id);
}

static void dirty_service(catalog_store_t *s, const cat_service_t *svc)
{
    store_dirty(s, svc->node ? CAT_DIRTY_NODE : CAT_DIRTY_SERVICE, svc->node ? NULL : svc->id);
}

static void dirty_check(catalog_store_t *s, const cat_check_t *c)
{
    if (c->service_id && *c->service_id) {
        cat_service_t *svc = strmap_get(s->services, c->service_id);
        if (svc)
            dirty_service(s, svc);
        else
            store_dirty(s, CAT_DIRTY_SERVICE, c->service_id);
    } else if (c->node || c->kind == CHECK_MAINT || c->kind == CHECK_SERF) {
        store_dirty(s, CAT_DIRTY_NODE, NULL);
    } else {
        store_dirty(s, CAT_DIRTY_NODE_CHECK, c->id);
    }
}

static void on_kv_dirty(void *ctx, const char *key) { store_dirty(ctx, CAT_DIRTY_KV, key); }

void store_set_dirty_hook(catalog_store_t *s, cat_dirty_cb cb, void *ctx)
{
    s->on_dirty = cb;
    s->dirty_ctx = ctx;
    kv_set_dirty_hook(s->kv, cb ? on_kv_dirty : NULL, s);
}

void store_set_check_hooks(catalog_store_t *s, cat_check_hook a, cat_check_hook r, void *ctx)
{
    s->on_check_added = a;
    s->on_check_removed = r;
    s->check_ctx = ctx;
}

const char *store_node(const catalog_store_t *s) { return s->node; }
const char *store_node_id(const catalog_store_t *s) { return s->node_id; }
const char *store_datacenter(const catalog_store_t *s) { return s->dc; }
const char *store_address(const catalog_store_t *s) { return s->address; }
uint64_t store_node_create_index(const catalog_store_t *s) { return s->node_create; }
uint64_t store_node_modify_index(const catalog_store_t *s) { return s->node_modify; }
uint64_t store_index(const catalog_store_t *s) { return atleast1(s->index); }
uint64_t store_index_nodes(const catalog_store_t *s) { return atleast1(s->idx_nodes); }
uint64_t store_index_services(const catalog_store_t *s) { return atleast1(s->idx_services); }
uint64_t store_index_checks(const catalog_store_t *s) { return atleast1(s->idx_checks); }
uint64_t store_index_kv(const catalog_store_t *s) { return atleast1(kv_index(s->kv)); }
void store_bump_index(catalog_store_t *s, uint64_t idx) { if (idx > s->index) s->index = idx; }

uint64_t store_index_service(const catalog_store_t *s, const char *name)
{
    char *l = lower(name);
    cat_name_t *n = strmap_get(s->names, l);
    free(l);
    /* a name never seen: the services table's index, as Consul falls back to */
    return n ? atleast1(n->index) : store_index_services(s);
}

/* ---- change tracking: collected during one write, delivered once ---- */
uint64_t store_begin_write(catalog_store_t *s)
{
    memset(&s->pending, 0, sizeof s->pending);
    return ++s->index;
}

static void touch_name(catalog_store_t *s, const char *name)
{
    char *l = lower(name);
    cat_name_t *n = strmap_get(s->names, l);
    if (n)
        n->index = s->index;
    for (int i = 0; i < s->npending_names; i++)
        if (strcmp(s->pending_names[i], l) == 0) {
            free(l);
            return;
        }
    if (s->npending_names < 3)
        s->pending_names[s->npending_names++] = l;
    else {
        s->pending.all_services = 1;
        free(l);
    }
}

static void touch_all_names(catalog_store_t *s)
{
    for (strmap_iter_t it = strmap_iter(s->names); strmap_iter_next(&it);)
        ((cat_name_t *)it.value)->index = s->index;
    s->pending.all_services = 1;
}

void store_end_write(catalog_store_t *s)
{
    for (int i = 0; i < s->npending_names; i++)
        s->pending.service_names[i] = s->pending_names[i];
    s->pending.service_names[s->npending_names] = NULL;
    if (s->on_change)
        s->on_change(s->change_ctx, &s->pending);
    for (int i = 0; i < s->npending_names; i++)
        free(s->pending_names[i]);
    s->npending_names = 0;
}

/* ---- name chains ---- */
static void name_link(catalog_store_t *s, cat_service_t *svc)
{
    char *l = lower(svc->name);
    cat_name_t *n = strmap_get(s->names, l);
    if (!n) {
        n = calloc(1, sizeof *n);
        n->display = strdup(svc->name);
        strmap_put(s->names, l, n);
    } else if (!n->head) {
        free(n->display);
        n->display = strdup(svc->name);
    }
    svc->next_same_name = n->head;
    n->head = svc;
    free(l);
}

static void name_unlink(catalog_store_t *s, cat_service_t *svc)
{
    char *l = lower(svc->name);
    cat_name_t *n = strmap_get(s->names, l);
    free(l);
    if (!n)
        return;
    for (cat_service_t **p = &n->head; *p; p = &(*p)->next_same_name)
        if (*p == svc) {
            *p = svc->next_same_name;
            break;
        }
    svc->next_same_name = NULL;
}

/* ---- check lists ---- */
static void list_insert(cat_check_t **head, cat_check_t *c)
{
    cat_check_t **p = head;
    while (*p && strcmp((*p)->id, c->id) < 0)
        p = &(*p)->next_in_service;
    c->next_in_service = *p;
    *p = c;
}

static void list_remove(cat_check_t **head, cat_check_t *c)
{
    for (cat_check_t **p = head; *p; p = &(*p)->next_in_service)
        if (*p == c) {
            *p = c->next_in_service;
            c->next_in_service = NULL;
            return;
        }
}

static cat_check_t **owner_list(catalog_store_t *s, const cat_check_t *c)
{
    if (c->service_id && *c->service_id) {
        cat_service_t *svc = strmap_get(s->services, c->service_id);
        return svc ? &svc->checks : NULL;
    }
    if (c->node) {
        cat_node_t *n = store_ext_node(s, c->node);
        return n ? &n->checks : NULL;
    }
    return &s->node_checks;
}

static void check_destroy(catalog_store_t *s, cat_check_t *c)
{
    dirty_check(s, c);
    cat_check_t **l = owner_list(s, c);
    if (l)
        list_remove(l, c);
    strmap_del(s->checks, c->id);
    if (s->on_check_removed)
        s->on_check_removed(s->check_ctx, c);
    cat_check_free(c);
}

/* ---- equality ---- */
static int service_equal(const cat_service_t *a, const cat_service_t *b)
{
    if (!streq(a->name, b->name) || !streq(a->address, b->address) || a->port != b->port ||
        a->ntags != b->ntags || a->nmeta != b->nmeta || a->ntaddrs != b->ntaddrs ||
        a->w_passing != b->w_passing || a->w_warning != b->w_warning ||
        a->enable_tag_override != b->enable_tag_override)
        return 0;
    for (size_t i = 0; i < a->ntags; i++)
        if (strcmp(a->tags[i], b->tags[i]) != 0) return 0;
    for (size_t i = 0; i < a->nmeta; i++)
        if (strcmp(a->meta[i].key, b->meta[i].key) || strcmp(a->meta[i].value, b->meta[i].value)) return 0;
    for (size_t i = 0; i < a->ntaddrs; i++)
        if (strcmp(a->taddrs[i].key, b->taddrs[i].key) || strcmp(a->taddrs[i].address, b->taddrs[i].address) ||
            a->taddrs[i].port != b->taddrs[i].port) return 0;
    return 1;
}

static int check_def_equal(const cat_check_t *a, const cat_check_t *b)
{
    if (!streq(a->name, b->name) || !streq(a->notes, b->notes) || !streq(a->service_id, b->service_id) ||
        a->kind != b->kind || a->interval_ns != b->interval_ns || a->timeout_ns != b->timeout_ns ||
        a->ttl_ns != b->ttl_ns || a->dereg_after_ns != b->dereg_after_ns || !streq(a->http, b->http) ||
        !streq(a->method, b->method) || !streq(a->body, b->body) || !streq(a->tcp, b->tcp) ||
        !streq(a->grpc, b->grpc) || !streq(a->tls_server_name, b->tls_server_name) ||
        a->tls_skip_verify != b->tls_skip_verify || a->grpc_use_tls != b->grpc_use_tls ||
        a->nheaders != b->nheaders || a->success_before_passing != b->success_before_passing ||
        a->failures_before_critical != b->failures_before_critical)
        return 0;
    for (size_t i = 0; i < a->nheaders; i++) {
        if (strcmp(a->headers[i].name, b->headers[i].name) || a->headers[i].nvalues != b->headers[i].nvalues)
            return 0;
        for (size_t j = 0; j < a->headers[i].nvalues; j++)
            if (strcmp(a->headers[i].values[j], b->headers[i].values[j])) return 0;
    }
    return 1;
}

static void set_critical_since(cat_check_t *c, int64_t now_ms)
{
    if (strcmp(c->status, "critical") == 0) {
        if (c->critical_since_ms < 0)
            c->critical_since_ms = now_ms;
    } else {
        c->critical_since_ms = -1;
    }
}

/* ---- register / deregister ---- */
int store_register(catalog_store_t *s, cat_service_t *svc, cat_check_t **checks, size_t nchecks,
                   int replace_checks, int64_t now_ms)
{
    cat_service_t *old = strmap_get(s->services, svc->id);
    int svc_changed = !old || !service_equal(old, svc);
    int checks_changed = 0;
    for (size_t i = 0; i < nchecks; i++) {
        cat_check_t *ex = strmap_get(s->checks, checks[i]->id);
        if (!ex || !check_def_equal(ex, checks[i]))
            checks_changed = 1;
    }
    if (old && replace_checks) {
        for (cat_check_t *c = old->checks; c; c = c->next_in_service) {
            size_t i = 0;
            while (i < nchecks && strcmp(checks[i]->id, c->id) != 0)
                i++;
            if (i == nchecks && strncmp(c->id, "_service_maintenance:", 21) != 0)
                checks_changed = 1;
        }
    }
    if (!svc_changed && !checks_changed) {
        /* identical: no index moves, but TTL timers restart as on a real agent */
        cat_service_free(svc);
        for (size_t i = 0; i < nchecks; i++) {
            cat_check_t *ex = strmap_get(s->checks, checks[i]->id);
            if (ex && s->on_check_added)
                s->on_check_added(s->check_ctx, ex);
            cat_check_free(checks[i]);
        }
        return 0;
    }
    /* Checks carry their service's name and tags (ServiceName, ServiceTags): when those change,
     * every check the service keeps changes too, as Consul's ensureCheckTxn re-copies them. */
    int denorm_changed = old && svc_changed && (strcmp(old->name, svc->name) != 0 || old->ntags != svc->ntags);
    for (size_t i = 0; !denorm_changed && old && svc_changed && i < svc->ntags; i++)
        denorm_changed = strcmp(old->tags[i], svc->tags[i]) != 0;
    uint64_t idx = store_begin_write(s);
    cat_service_t *target = svc;
    if (old && !svc_changed) {
        target = old;
        cat_service_free(svc);
    } else if (old) {
        cat_service_intern(svc);
        svc->create_index = old->create_index;
        svc->modify_index = idx;
        touch_name(s, old->name);
        name_unlink(s, old);
        svc->checks = old->checks;
        old->checks = NULL;
        strmap_put(s->services, svc->id, svc);
        cat_service_free(old);
        name_link(s, svc);
        s->idx_services = idx;
    } else {
        cat_service_intern(svc);
        svc->create_index = svc->modify_index = idx;
        strmap_put(s->services, svc->id, svc);
        name_link(s, svc);
        s->idx_services = idx;
    }
    touch_name(s, target->name);
    s->pending.services = 1;

    if (replace_checks) {
        cat_check_t *c = target->checks;
        while (c) {
            cat_check_t *next = c->next_in_service;
            size_t i = 0;
            while (i < nchecks && strcmp(checks[i]->id, c->id) != 0)
                i++;
            if (i == nchecks && strncmp(c->id, "_service_maintenance:", 21) != 0)
                check_destroy(s, c);
            c = next;
        }
    }
    for (size_t i = 0; i < nchecks; i++) {
        cat_check_t *c = checks[i];
        cat_check_t *ex = strmap_get(s->checks, c->id);
        if (ex) {
            free(c->status); free(c->output);
            c->status = strdup(ex->status);
            c->output = strdup(ex->output ? ex->output : "");
            c->critical_since_ms = ex->critical_since_ms;
            c->create_index = ex->create_index;
            c->modify_index = check_def_equal(ex, c) ? ex->modify_index : idx;
            check_destroy(s, ex);
        } else {
            c->create_index = c->modify_index = idx;
            if (!c->output)
                c->output = strdup("");
        }
        set_critical_since(c, now_ms);
        strmap_put(s->checks, c->id, c);
        list_insert(&target->checks, c);
        if (s->on_check_added)
            s->on_check_added(s->check_ctx, c);
    }
    if (denorm_changed && target->checks) {
        for (cat_check_t *c = target->checks; c; c = c->next_in_service)
            c->modify_index = idx;
        checks_changed = 1;
    }
    if (checks_changed || nchecks) {
        s->idx_checks = idx;
        s->pending.checks = 1;
    }
    dirty_service(s, target);
    store_end_write(s);
    return 1;
}

int store_deregister(catalog_store_t *s, const char *id)
{
    cat_service_t *svc = strmap_get(s->services, id);
    if (!svc)
        return -1;
    uint64_t idx = store_begin_write(s);
    if (svc->checks) {
        s->idx_checks = idx;
        s->pending.checks = 1;
    }
    while (svc->checks)
        check_destroy(s, svc->checks);
    touch_name(s, svc->name);
    dirty_service(s, svc);
    name_unlink(s, svc);
    strmap_del(s->services, id);
    s->idx_services = idx;
    s->pending.services = 1;
    cat_service_free(svc);
    store_end_write(s);
    return 0;
}

cat_service_t *store_service(const catalog_store_t *s, const char *id) { return strmap_get(s->services, id); }

static int cmp_svc_id(const void *a, const void *b)
{
    return strcmp((*(cat_service_t *const *)a)->id, (*(cat_service_t *const *)b)->id);
}

cat_service_t **store_instances(const catalog_store_t *s, const char *name, size_t *n)
{
    char *l = lower(name);
    cat_name_t *nm = strmap_get(s->names, l);
    free(l);
    size_t cnt = 0;
    for (cat_service_t *p = nm ? nm->head : NULL; p; p = p->next_same_name)
        cnt++;
    cat_service_t **arr = malloc((cnt ? cnt : 1) * sizeof *arr);
    cnt = 0;
    for (cat_service_t *p = nm ? nm->head : NULL; p; p = p->next_same_name)
        arr[cnt++] = p;
    qsort(arr, cnt, sizeof *arr, cmp_svc_id);
    *n = cnt;
    return arr;
}

cat_service_t **store_all_services(const catalog_store_t *s, size_t *n)
{
    size_t cnt = strmap_size(s->services), i = 0;
    cat_service_t **arr = malloc((cnt ? cnt : 1) * sizeof *arr);
    for (strmap_iter_t it = strmap_iter(s->services); strmap_iter_next(&it);)
        arr[i++] = it.value;
    qsort(arr, i, sizeof *arr, cmp_svc_id);
    *n = i;
    return arr;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(cat_name_t *const *)a)->display, (*(cat_name_t *const *)b)->display);
}

void store_each_name(const catalog_store_t *s, cat_name_cb cb, void *ctx)
{
    size_t cnt = strmap_size(s->names), k = 0;
    cat_name_t **arr = malloc((cnt ? cnt : 1) * sizeof *arr);
    for (strmap_iter_t it = strmap_iter(s->names); strmap_iter_next(&it);)
        if (((cat_name_t *)it.value)->head)
            arr[k++] = it.value;
    qsort(arr, k, sizeof *arr, cmp_name);
    for (size_t i = 0; i < k; i++) {
        size_t nt = 0, cap = 0;
        char **tags = NULL;
        for (cat_service_t *p = arr[i]->head; p; p = p->next_same_name) {
            if (nt + p->ntags > cap) {
                cap = (nt + p->ntags) * 2;
                tags = realloc(tags, cap * sizeof *tags);
            }
            for (size_t t = 0; t < p->ntags; t++)
                tags[nt++] = p->tags[t];
        }
        if (nt)
            qsort(tags, nt, sizeof *tags, cmp_str);
        size_t u = 0;
        for (size_t t = 0; t < nt; t++)
            if (u == 0 || strcmp(tags[u - 1], tags[t]) != 0)
                tags[u++] = tags[t];
        cb(ctx, arr[i]->display, tags, u);
        free(tags);
    }
    free(arr);
}

/* ---- standalone checks, updates, maintenance, reaping ---- */
int store_check_register(catalog_store_t *s, cat_check_t *c, int64_t now_ms)
{
    if ((c->service_id && *c->service_id && !strmap_get(s->services, c->service_id)) ||
        (c->node && !(c->service_id && *c->service_id) && !store_ext_node(s, c->node))) {
        cat_check_free(c);
        return -1;
    }
    cat_check_t *ex = strmap_get(s->checks, c->id);
    if (ex && check_def_equal(ex, c)) {
        if (s->on_check_added)
            s->on_check_added(s->check_ctx, ex);
        cat_check_free(c);
        return 0;
    }
    uint64_t idx = store_begin_write(s);
    if (ex) {
        free(c->status); free(c->output);
        c->status = strdup(ex->status);
        c->output = strdup(ex->output);
        c->create_index = ex->create_index;
        check_destroy(s, ex);
    } else {
        c->create_index = idx;
        if (!c->output)
            c->output = strdup("");
    }
    c->modify_index = idx;
    set_critical_since(c, now_ms);
    strmap_put(s->checks, c->id, c);
    list_insert(owner_list(s, c), c);
    dirty_check(s, c);
    s->idx_checks = idx;
    s->pending.checks = 1;
    if (c->service_id && *c->service_id)
        touch_name(s, ((cat_service_t *)strmap_get(s->services, c->service_id))->name);
    else
        touch_all_names(s);
    if (s->on_check_added)
        s->on_check_added(s->check_ctx, c);
    store_end_write(s);
    return 1;
}

int store_check_deregister(catalog_store_t *s, const char *id)
{
    cat_check_t *c = strmap_get(s->checks, id);
    if (!c)
        return -1;
    uint64_t idx = store_begin_write(s);
    if (c->service_id && *c->service_id) {
        cat_service_t *svc = strmap_get(s->services, c->service_id);
        if (svc)
            touch_name(s, svc->name);
    } else {
        touch_all_names(s);
    }
    check_destroy(s, c);
    s->idx_checks = idx;
    s->pending.checks = 1;
    store_end_write(s);
    return 0;
}

cat_check_t *store_check(const catalog_store_t *s, const char *id) { return strmap_get(s->checks, id); }

cat_check_t **store_node_checks(const catalog_store_t *s, size_t *n)
{
    size_t cnt = 0;
    for (cat_check_t *c = s->node_checks; c; c = c->next_in_service)
        cnt++;
    cat_check_t **arr = malloc((cnt ? cnt : 1) * sizeof *arr);
    cnt = 0;
    for (cat_check_t *c = s->node_checks; c; c = c->next_in_service)
        arr[cnt++] = c;
    *n = cnt;
    return arr;
}

cat_check_t **store_all_checks(const catalog_store_t *s, size_t *n)
{
    size_t cnt = strmap_size(s->checks), k = 0, ns;
    cat_check_t **arr = malloc((cnt ? cnt : 1) * sizeof *arr);
    for (cat_check_t *c = s->node_checks; c; c = c->next_in_service)
        arr[k++] = c;
    size_t nn;
    cat_node_t **nodes = store_ext_nodes(s, &nn);
    for (size_t i = 0; i < nn; i++)
        for (cat_check_t *c = nodes[i]->checks; c; c = c->next_in_service)
            arr[k++] = c;
    free(nodes);
    cat_service_t **svcs = store_all_services(s, &ns);
    for (size_t i = 0; i < ns; i++)
        for (cat_check_t *c = svcs[i]->checks; c; c = c->next_in_service)
            arr[k++] = c;
    free(svcs);
    *n = k;
    return arr;
}

int store_check_update(catalog_store_t *s, cat_check_t *c, const char *status, const char *output,
                       int64_t now_ms)
{
    char *out = cat_truncate_output(output);
    if (strcmp(c->status, status) == 0 && streq(c->output, out)) {
        free(out);
        return 0;
    }
    uint64_t idx = store_begin_write(s);
    free(c->status);
    c->status = strdup(status);
    free(c->output);
    c->output = out;
    c->modify_index = idx;
    set_critical_since(c, now_ms);
    dirty_check(s, c);
    s->idx_checks = idx;
    s->pending.checks = 1;
    if (c->service_id && *c->service_id) {
        cat_service_t *svc = strmap_get(s->services, c->service_id);
        if (svc)
            touch_name(s, svc->name);
    } else {
        touch_all_names(s);
    }
    store_end_write(s);
    /* a session bound to a check that went critical is invalid from now on (Consul) */
    if (!strcmp(status, "critical"))
        store_sessions_sweep(s, now_ms);
    return 1;
}

int store_service_maintenance(catalog_store_t *s, const char *service_id, int enable,
                              const char *reason, int64_t now_ms)
{
    if (!strmap_get(s->services, service_id))
        return -1;
    char id[1024];
    snprintf(id, sizeof id, "_service_maintenance:%s", service_id);
    cat_check_t *ex = strmap_get(s->checks, id);
    if (!enable) {
        if (ex)
            store_check_deregister(s, id);
        return 0;
    }
    if (ex)
        return 0;
    cat_check_t *c = cat_check_new();
    c->id = strdup(id);
    c->name = strdup("Service Maintenance Mode");
    const char *why = reason && *reason ? reason
                      : "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";
    c->notes = cat_utf8_clean(why, strlen(why), NULL);  /* ?reason= may hold any bytes */
    c->status = strdup("critical");
    c->output = strdup("");
    c->service_id = strdup(service_id);
    c->kind = CHECK_MAINT;
    store_check_register(s, c, now_ms);
    return 0;
}

int store_reap(catalog_store_t *s, int64_t now_ms)
{
    int reaped = 0;
    for (;;) {
        char *victim = NULL;
        for (strmap_iter_t it = strmap_iter(s->checks); strmap_iter_next(&it);) {
            cat_check_t *c = it.value;
            if (c->dereg_after_ns > 0 && c->critical_since_ms >= 0 && c->service_id && *c->service_id &&
                now_ms - c->critical_since_ms >= c->dereg_after_ns / 1000000) {
                victim = strdup(c->service_id);
                break;
            }
        }
        if (!victim)
            return reaped;
        if (store_deregister(s, victim) == 0)
            reaped++;
        free(victim);
    }
}

static int status_rank(const char *st)
{
    if (strcmp(st, "passing") == 0) return 0;
    if (strcmp(st, "warning") == 0) return 1;
    if (strcmp(st, "maintenance") == 0) return 3;
    return 2;
}

const char *store_instance_status(const catalog_store_t *s, const cat_service_t *svc)
{
    static const char *const names[] = {"passing", "warning", "critical", "maintenance"};
    int worst = 0;
    const cat_node_t *en = svc->node ? store_ext_node(s, svc->node) : NULL;
    for (cat_check_t *c = svc->node ? (en ? en->checks : NULL) : s->node_checks; c; c = c->next_in_service)
        if (status_rank(c->status) > worst) worst = status_rank(c->status);
    for (cat_check_t *c = svc->checks; c; c = c->next_in_service) {
        if (c->kind == CHECK_MAINT) { worst = 3; continue; }
        if (status_rank(c->status) > worst) worst = status_rank(c->status);
    }
    return names[worst];
}

/* ---- external nodes ---- */
cat_node_t *store_ext_node(const catalog_store_t *s, const char *name)
{
    char *l = lower(name);
    cat_node_t *n = strmap_get(s->ext_nodes, l);
    free(l);
    return n;
}

static int cmp_node_name(const void *a, const void *b)
{
    return strcmp((*(cat_node_t *const *)a)->name, (*(cat_node_t *const *)b)->name);
}

cat_node_t **store_ext_nodes(const catalog_store_t *s, size_t *n)
{
    size_t cnt = strmap_size(s->ext_nodes), k = 0;
    cat_node_t **arr = malloc((cnt ? cnt : 1) * sizeof *arr);
    for (strmap_iter_t it = strmap_iter(s->ext_nodes); strmap_iter_next(&it);)
        arr[k++] = it.value;
    qsort(arr, k, sizeof *arr, cmp_node_name);
    *n = k;
    return arr;
}

static int pairs_equal(const cat_pair_t *a, size_t na, const cat_pair_t *b, size_t nb)
{
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].key, b[i].key) || strcmp(a[i].value, b[i].value)) return 0;
    return 1;
}

int store_ext_node_put(catalog_store_t *s, cat_node_t *n)
{
    cat_node_t *ex = store_ext_node(s, n->name);
    if (ex && !strcmp(ex->name, n->name) && streq(ex->id, n->id) && streq(ex->address, n->address) &&
        pairs_equal(ex->taddrs, ex->ntaddrs, n->taddrs, n->ntaddrs) && pairs_equal(ex->meta, ex->nmeta, n->meta, n->nmeta)) {
        cat_node_free(n);
        return 0;
    }
    uint64_t idx = store_begin_write(s);
    char *l = lower(n->name);
    if (ex) {
        n->create_index = ex->create_index;
        n->checks = ex->checks;
        strmap_del(s->ext_nodes, l);
        cat_node_free(ex);
    } else {
        n->create_index = idx;
    }
    n->modify_index = idx;
    strmap_put(s->ext_nodes, l, n);
    free(l);
    store_dirty(s, CAT_DIRTY_NODE, NULL);
    s->idx_nodes = idx;
    s->pending.nodes = 1;
    touch_all_names(s);
    store_end_write(s);
    return 1;
}

int store_ext_node_delete(catalog_store_t *s, const char *name)
{
    cat_node_t *n = store_ext_node(s, name);
    if (!n)
        return -1;
    size_t ns;
    cat_service_t **svcs = store_all_services(s, &ns);
    for (size_t i = 0; i < ns; i++)
        if (svcs[i]->node && !strcasecmp(svcs[i]->node, n->name))
            store_deregister(s, svcs[i]->id);
    free(svcs);
    while (n->checks)
        store_check_deregister(s, n->checks->id);
    store_begin_write(s);
    char *l = lower(n->name);
    strmap_del(s->ext_nodes, l);
    free(l);
    store_dirty(s, CAT_DIRTY_NODE, NULL);
    s->idx_nodes = s->index;
    s->pending.nodes = 1;
    touch_all_names(s);
    cat_node_free(n);
    store_end_write(s);
    return 0;
}

void store_restore_indexes(catalog_store_t *s, uint64_t idx)
{
    if (idx < s->index)
        idx = s->index;
    s->index = s->idx_nodes = s->idx_services = s->idx_checks = idx;
    kv_restore_index(s->kv, idx);
    session_set_index(s->sessions, idx);
    for (strmap_iter_t it = strmap_iter(s->names); strmap_iter_next(&it);)
        ((cat_name_t *)it.value)->index = idx;
}

void store_restore_node_indexes(catalog_store_t *s, uint64_t create, uint64_t modify)
{
    s->node_create = create;
    s->node_modify = modify;
}

void store_each_tombstone(const catalog_store_t *s, cat_tombstone_cb cb, void *ctx) { kv_each_tombstone(s->kv, cb, ctx); }
void store_restore_tombstone(catalog_store_t *s, const char *key, uint64_t index) { kv_restore_tombstone(s->kv, key, index); }
uint64_t store_kv_tombstone(const catalog_store_t *s, const char *key) { return kv_tombstone(s->kv, key); }
