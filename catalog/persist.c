/* persist.c: see persist.h. The state is saved as the bodies Consul's own API accepts
 * (service registrations, KV entries), so loading goes through the same decoder and
 * validation as live requests: a state file cannot smuggle in what the API would refuse. */
#include "persist.h"
#include "node_maint.h"
#include "api_catalog.h"
#include "decode.h"
#include "checks.h"
#include "file.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define HEADER "portolan-catalog-state v1 sha256="
#define SNAP_HEADER "portolan-catalog-snapshot v2 sha256="

static json_t *indexes_json(uint64_t create, uint64_t modify)
{
    return json_pack("{s:I,s:I}", "CreateIndex", (json_int_t)create, "ModifyIndex", (json_int_t)modify);
}

/* Sets *create and *modify from {"CreateIndex","ModifyIndex"} when o has them (older files do not). */
static void indexes_from_json(const json_t *o, uint64_t *create, uint64_t *modify)
{
    json_t *c = json_object_get(o, "CreateIndex"), *m = json_object_get(o, "ModifyIndex");
    if (json_is_integer(c) && json_is_integer(m) && json_integer_value(c) > 0 && json_integer_value(m) > 0) {
        *create = (uint64_t)json_integer_value(c);
        *modify = (uint64_t)json_integer_value(m);
    }
}

static json_t *check_json(const cat_check_t *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "CheckID", json_string(c->id));
    json_object_set_new(o, "Name", json_string(c->name));
    json_object_set_new(o, "Notes", json_string(c->notes ? c->notes : ""));
    json_object_set_new(o, "Status", json_string(c->status));
    if (c->service_id && *c->service_id)
        json_object_set_new(o, "ServiceID", json_string(c->service_id));
    if (c->ttl_ns) json_object_set_new(o, "TTL", json_integer(c->ttl_ns));
    if (c->interval_ns) json_object_set_new(o, "Interval", json_integer(c->interval_ns));
    if (c->timeout_ns) json_object_set_new(o, "Timeout", json_integer(c->timeout_ns));
    if (c->dereg_after_ns) json_object_set_new(o, "DeregisterCriticalServiceAfter", json_integer(c->dereg_after_ns));
    if (c->http) json_object_set_new(o, "HTTP", json_string(c->http));
    if (c->method) json_object_set_new(o, "Method", json_string(c->method));
    if (c->body) json_object_set_new(o, "Body", json_string(c->body));
    if (c->tcp) json_object_set_new(o, "TCP", json_string(c->tcp));
    if (c->grpc) json_object_set_new(o, "GRPC", json_string(c->grpc));
    if (c->tls_server_name) json_object_set_new(o, "TLSServerName", json_string(c->tls_server_name));
    json_object_set_new(o, "TLSSkipVerify", json_boolean(c->tls_skip_verify));
    json_object_set_new(o, "GRPCUseTLS", json_boolean(c->grpc_use_tls));
    if (c->success_before_passing) json_object_set_new(o, "SuccessBeforePassing", json_integer(c->success_before_passing));
    if (c->failures_before_critical) json_object_set_new(o, "FailuresBeforeCritical", json_integer(c->failures_before_critical));
    if (c->nheaders) {
        json_t *h = json_object();
        for (size_t i = 0; i < c->nheaders; i++) {
            json_t *a = json_array();
            for (size_t j = 0; j < c->headers[i].nvalues; j++)
                json_array_append_new(a, json_string(c->headers[i].values[j]));
            json_object_set_new(h, c->headers[i].name, a);
        }
        json_object_set_new(o, "Header", h);
    }
    return o;
}

static json_t *service_json(const cat_service_t *svc, json_t **extra)
{
    json_t *o = json_object();
    json_object_set_new(o, "ID", json_string(svc->id));
    json_object_set_new(o, "Name", json_string(svc->name));
    json_t *tags = json_array();
    for (size_t i = 0; i < svc->ntags; i++)
        json_array_append_new(tags, json_string(svc->tags[i]));
    json_object_set_new(o, "Tags", tags);
    json_object_set_new(o, "Address", json_string(svc->address));
    json_object_set_new(o, "Port", json_integer(svc->port));
    json_t *meta = json_object();
    for (size_t i = 0; i < svc->nmeta; i++)
        json_object_set_new(meta, svc->meta[i].key, json_string(svc->meta[i].value));
    json_object_set_new(o, "Meta", meta);
    json_t *ta = json_object();
    for (size_t i = 0; i < svc->ntaddrs; i++)
        json_object_set_new(ta, svc->taddrs[i].key, json_pack("{s:s,s:i}", "Address", svc->taddrs[i].address, "Port", svc->taddrs[i].port));
    json_object_set_new(o, "TaggedAddresses", ta);
    json_object_set_new(o, "Weights", json_pack("{s:i,s:i}", "Passing", svc->w_passing, "Warning", svc->w_warning));
    json_object_set_new(o, "EnableTagOverride", json_boolean(svc->enable_tag_override));
    json_t *checks = json_array();
    *extra = json_object();
    json_t *outputs = json_object(), *maint = json_null();
    for (cat_check_t *c = svc->checks; c; c = c->next_in_service) {
        if (c->kind == CHECK_MAINT) {
            json_decref(maint);
            maint = json_string(c->notes ? c->notes : "");
            json_object_set_new(outputs, c->id, indexes_json(c->create_index, c->modify_index));
            continue;
        }
        json_array_append_new(checks, check_json(c));
        json_object_set_new(outputs, c->id, json_pack("{s:s,s:I,s:I}", "Output", c->output ? c->output : "",
                                                      "CreateIndex", (json_int_t)c->create_index,
                                                      "ModifyIndex", (json_int_t)c->modify_index));
    }
    json_object_set_new(o, "Checks", checks);
    json_object_set_new(*extra, "CreateIndex", json_integer((json_int_t)svc->create_index));
    json_object_set_new(*extra, "ModifyIndex", json_integer((json_int_t)svc->modify_index));
    json_object_set_new(*extra, "Checks", outputs);
    json_object_set_new(*extra, "Maintenance", maint);
    return o;
}

static void sha256_hex(const char *buf, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

/* {"Key": k} or, for a key that is not UTF-8 (a KV key is any bytes from a URL; a JSON string
 * must be UTF-8 and json_pack would drop the entry), {"KeyBase64": base64(k)}. */
static json_t *key_json(const char *k)
{
    json_t *key = json_string(k);
    if (key)
        return json_pack("{s:o}", "Key", key);
    size_t kl = strlen(k);
    char *kb = malloc(4 * ((kl + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)kb, (const unsigned char *)k, (int)kl);
    json_t *o = json_pack("{s:s}", "KeyBase64", kb);
    free(kb);
    return o;
}

/* The key of a KV or tombstone item, malloc'd, or NULL when it has none / a bad one. */
static char *key_from_json(const json_t *item)
{
    const char *key = json_string_value(json_object_get(item, "Key"));
    if (key)
        return *key ? strdup(key) : NULL;
    const char *k64 = json_string_value(json_object_get(item, "KeyBase64"));
    if (!k64)
        return NULL;
    size_t l = strlen(k64);
    char *buf = malloc(l + 1);
    int kl = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)k64, (int)l);
    if (kl >= 0) {
        if (l >= 2 && k64[l - 1] == '=') kl--;
        if (l >= 2 && k64[l - 2] == '=') kl--;
        buf[kl] = '\0';
        if (kl > 0 && strlen(buf) == (size_t)kl)
            return buf;
    }
    free(buf);
    return NULL;
}

static void on_tombstone(void *ctx, const char *key, uint64_t index)
{
    json_t *e = key_json(key);
    json_object_set_new(e, "Index", json_integer((json_int_t)index));
    json_array_append_new(ctx, e);
}

/* ---- one entity each: the snapshot's items and the log's records share these ---- */
static json_t *service_item(const cat_service_t *svc)
{
    json_t *extra;
    json_t *body = service_json(svc, &extra);
    return json_pack("{s:o,s:o}", "Register", body, "State", extra);
}

static json_t *node_check_item(const cat_check_t *c)
{
    return json_pack("{s:o,s:s,s:I,s:I}", "Register", check_json(c), "Output", c->output ? c->output : "",
                     "CreateIndex", (json_int_t)c->create_index, "ModifyIndex", (json_int_t)c->modify_index);
}

static json_t *session_item(const cat_session_t *ss)
{
    json_t *nc = json_array(), *sc = json_array();
    for (size_t k = 0; k < ss->nnode_checks; k++)
        json_array_append_new(nc, json_string(ss->node_checks[k]));
    for (size_t k = 0; k < ss->nservice_checks; k++)
        json_array_append_new(sc, json_pack("{s:s}", "ID", ss->service_checks[k]));
    char ld[32];   /* a duration string: a bare number below 1000 would read back as seconds */
    snprintf(ld, sizeof ld, "%lldns", (long long)ss->lock_delay_ns);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:I,s:I}", "ID", ss->id, "Name", ss->name, "Node", ss->node,
                     "Behavior", ss->delete_behavior ? "delete" : "release", "LockDelay", ld, "TTL", ss->ttl,
                     "NodeChecks", nc, "ServiceChecks", sc, "CreateIndex", (json_int_t)ss->create_index,
                     "ModifyIndex", (json_int_t)ss->modify_index);
}

static json_t *kv_item(const cat_kv_t *kv)
{
    json_t *v = json_null();
    if (kv->has_value) {
        char *b = malloc(4 * ((kv->len + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)b, kv->value, (int)kv->len);
        v = json_string(b);
        free(b);
    }
    json_t *e = key_json(kv->key);
    json_object_set_new(e, "Flags", json_integer((json_int_t)kv->flags));
    json_object_set_new(e, "Value", v);
    json_object_set_new(e, "CreateIndex", json_integer((json_int_t)kv->create_index));
    json_object_set_new(e, "ModifyIndex", json_integer((json_int_t)kv->modify_index));
    if (kv->lock_index)
        json_object_set_new(e, "LockIndex", json_integer((json_int_t)kv->lock_index));
    if (kv->session)
        json_object_set_new(e, "Session", json_string(kv->session));
    return e;
}

/* Node-level state into o: external registrations, node maintenance, the boot entries' indexes
 * (not in any register body; they depend on the run's base, store_new_at). */
static void node_part(const catalog_store_t *s, json_t *o)
{
    json_object_set_new(o, "CatalogRegistrations", api_catalog_dump(s));
    const char *nm = node_maint_reason(s);
    json_object_set_new(o, "NodeMaintenance", nm ? json_string(nm) : json_null());
    json_t *boot = json_object();
    json_object_set_new(boot, "Node", indexes_json(store_node_create_index(s), store_node_modify_index(s)));
    const cat_check_t *serf = store_check(s, "serfHealth");
    if (serf)
        json_object_set_new(boot, "serfHealth", indexes_json(serf->create_index, serf->modify_index));
    const cat_service_t *consul = store_service(s, "consul");
    if (consul)
        json_object_set_new(boot, "consul", indexes_json(consul->create_index, consul->modify_index));
    const cat_check_t *maint = nm ? store_check(s, NODE_MAINT_CHECK_ID) : NULL;
    if (maint)
        json_object_set_new(boot, NODE_MAINT_CHECK_ID, indexes_json(maint->create_index, maint->modify_index));
    json_object_set_new(o, "Boot", boot);
}

static int is_local_service(const cat_service_t *svc) { return strcmp(svc->id, "consul") != 0 && !svc->node; }
static int is_plain_node_check(const cat_check_t *c)
{
    return !(c->service_id && *c->service_id) && !c->node && c->kind != CHECK_SERF && c->kind != CHECK_MAINT;
}

json_t *persist_state_json(const catalog_store_t *s)
{
    json_t *root = json_object();
    json_object_set_new(root, "Index", json_integer((json_int_t)store_index(s)));
    size_t n;
    cat_service_t **svcs = store_all_services(s, &n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (is_local_service(svcs[i]))   /* external: in CatalogRegistrations */
            json_array_append_new(arr, service_item(svcs[i]));
    free(svcs);
    json_object_set_new(root, "Services", arr);
    cat_check_t **nc = store_node_checks(s, &n);
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (is_plain_node_check(nc[i]))  /* node maintenance: NodeMaintenance */
            json_array_append_new(arr, node_check_item(nc[i]));
    free(nc);
    json_object_set_new(root, "NodeChecks", arr);
    node_part(s, root);
    cat_session_t **ss = store_sessions(s, NULL, &n);
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, session_item(ss[i]));
    free(ss);
    json_object_set_new(root, "Sessions", arr);
    cat_kv_t **kv = store_kv_list(s, "", &n);
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, kv_item(kv[i]));
    free(kv);
    json_object_set_new(root, "KV", arr);
    arr = json_array();
    store_each_tombstone(s, on_tombstone, arr);
    json_object_set_new(root, "Tombstones", arr);
    return root;
}

/* Writes root as a checksummed file dir/name (through name.tmp, fsync, rename, directory
 * fsync). *bytes (may be NULL): the file's size. */
static int save_file(json_t *root, const char *dir, const char *name, const char *header, size_t *bytes, char *err,
                     size_t errlen)
{
    char *body = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!body) {
        snprintf(err, errlen, "state: out of memory");
        return -1;
    }
    size_t blen = strlen(body);
    if (blen + strlen(header) + 66 > PERSIST_MAX_STATE) {
        snprintf(err, errlen, "state: %zu bytes would exceed the %d MiB a state file may hold; not saved", blen,
                 PERSIST_MAX_STATE >> 20);
        free(body);
        return -1;
    }
    char hex[65];
    sha256_hex(body, blen, hex);
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd < 0) {
        snprintf(err, errlen, "state: open %s: %s", tmp, strerror(errno));
        free(body);
        return -1;
    }
    char head[128];
    int hl = snprintf(head, sizeof head, "%s%s\n", header, hex);
    struct iovec iov[3] = {{head, (size_t)hl}, {body, blen}, {"\n", 1}};
    ssize_t want = hl + (ssize_t)blen + 1, w = writev(fd, iov, 3);
    if (w != want)
        snprintf(err, errlen, "state: write %s: %s", tmp, w < 0 ? strerror(errno) : "short write");
    else if (fsync(fd) != 0)
        snprintf(err, errlen, "state: fsync %s: %s", tmp, strerror(errno));
    else
        rc = 0;
    close(fd);
    free(body);
    if (rc == 0 && rename(tmp, path) != 0) {
        snprintf(err, errlen, "state: rename to %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        if (bytes)
            *bytes = (size_t)want;
    }
    return rc;
}

int persist_save(const catalog_store_t *s, const char *dir, char *err, size_t errlen)
{
    return save_file(persist_state_json(s), dir, "state.json", HEADER, NULL, err, errlen);
}

/* ---- applying one entity (a snapshot's item, a log record) ---- */
static int apply_service(catalog_store_t *s, const json_t *item, char *err, size_t errlen)
{
    char *rb = json_dumps(json_object_get(item, "Register"), JSON_COMPACT);
    cat_service_t *svc;
    cat_check_t **checks;
    size_t nchecks;
    char derr[1024];
    int st = rb ? decode_service_register(rb, strlen(rb), &svc, &checks, &nchecks, derr, sizeof derr) : 400;
    free(rb);
    if (st != 200) {
        snprintf(err, errlen, "service refused: %s", rb ? derr : "missing");
        return -1;
    }
    char id[1024];
    snprintf(id, sizeof id, "%s", svc->id);
    store_deregister(s, id);           /* a log record replaces the service as a whole */
    store_register(s, svc, checks, nchecks, 1, 0);
    free(checks);
    json_t *state = json_object_get(item, "State");
    cat_service_t *live = store_service(s, id);
    if (!live)
        return 0;
    live->create_index = (uint64_t)json_integer_value(json_object_get(state, "CreateIndex"));
    live->modify_index = (uint64_t)json_integer_value(json_object_get(state, "ModifyIndex"));
    json_t *outs = json_object_get(state, "Checks");
    for (cat_check_t *c = live->checks; c; c = c->next_in_service) {
        json_t *o = json_object_get(outs, c->id);
        if (!o)
            continue;
        free(c->output);
        c->output = strdup(json_string_value(json_object_get(o, "Output")) ? json_string_value(json_object_get(o, "Output")) : "");
        c->create_index = (uint64_t)json_integer_value(json_object_get(o, "CreateIndex"));
        c->modify_index = (uint64_t)json_integer_value(json_object_get(o, "ModifyIndex"));
    }
    json_t *maint = json_object_get(state, "Maintenance");
    if (json_is_string(maint)) {
        char mid[1100];
        snprintf(mid, sizeof mid, "_service_maintenance:%s", id);
        store_service_maintenance(s, id, 1, json_string_value(maint), 0);
        cat_check_t *mc = store_check(s, mid);
        if (mc)
            indexes_from_json(json_object_get(outs, mid), &mc->create_index, &mc->modify_index);
    }
    return 0;
}

static int apply_node_check(catalog_store_t *s, const json_t *item, char *err, size_t errlen)
{
    char *rb = json_dumps(json_object_get(item, "Register"), JSON_COMPACT);
    cat_check_t *c;
    char derr[1024];
    if (!rb || decode_check_register(rb, strlen(rb), &c, derr, sizeof derr) != 200) {
        snprintf(err, errlen, "node check refused");
        free(rb);
        return -1;
    }
    free(rb);
    char *cid = strdup(c->id); /* store_check_register owns c from here */
    store_check_deregister(s, cid);
    store_check_register(s, c, 0);
    cat_check_t *live = store_check(s, cid);
    free(cid);
    if (live) {
        const char *out = json_string_value(json_object_get(item, "Output"));
        if (out) {
            free(live->output);
            live->output = strdup(out);
        }
        indexes_from_json(item, &live->create_index, &live->modify_index);
    }
    return 0;
}

/* Node-level state (node_part): replaces every external node and node maintenance. */
static int apply_node_part(catalog_store_t *s, const json_t *o, char *err, size_t errlen)
{
    size_t n, i;
    cat_node_t **nodes = store_ext_nodes(s, &n);
    char **names = malloc((n ? n : 1) * sizeof *names);
    for (i = 0; i < n; i++)
        names[i] = strdup(nodes[i]->name);
    free(nodes);
    for (i = 0; i < n; i++) {
        store_ext_node_delete(s, names[i]);
        free(names[i]);
    }
    free(names);
    json_t *boot = json_object_get(o, "Boot"), *item;
    if (json_is_object(boot)) {
        uint64_t nc = store_node_create_index(s), nm = store_node_modify_index(s);
        indexes_from_json(json_object_get(boot, "Node"), &nc, &nm);
        store_restore_node_indexes(s, nc, nm);
        cat_check_t *serf = store_check(s, "serfHealth");
        if (serf)
            indexes_from_json(json_object_get(boot, "serfHealth"), &serf->create_index, &serf->modify_index);
        cat_service_t *consul = store_service(s, "consul");
        if (consul)
            indexes_from_json(json_object_get(boot, "consul"), &consul->create_index, &consul->modify_index);
    }
    json_array_foreach(json_object_get(o, "CatalogRegistrations"), i, item) {
        char *rb = json_dumps(item, JSON_COMPACT);
        char derr[1024];
        int wrote;
        int st = rb ? api_catalog_apply(s, rb, strlen(rb), 0, &wrote, derr, sizeof derr) : 400;
        free(rb);
        if (st != 200) {
            snprintf(err, errlen, "catalog registration %zu refused: %s", i, rb ? derr : "missing");
            return -1;
        }
    }
    json_t *nm = json_object_get(o, "NodeMaintenance");
    node_maint_set(s, 0, NULL, 0);
    if (json_is_string(nm)) {
        node_maint_set(s, 1, json_string_value(nm), 0);
        cat_check_t *maint = store_check(s, NODE_MAINT_CHECK_ID);
        if (maint && json_is_object(boot))
            indexes_from_json(json_object_get(boot, NODE_MAINT_CHECK_ID), &maint->create_index, &maint->modify_index);
    }
    return 0;
}

/* Sessions go through the create-body decoder, as live ones. One already there is kept (a
 * session never changes after its creation). */
static int apply_session(catalog_store_t *s, const json_t *item, char *err, size_t errlen)
{
    const char *id = json_string_value(json_object_get(item, "ID"));
    if (id && store_session(s, id))
        return 0;
    char *sb = json_dumps(item, JSON_COMPACT), serr[512];
    cat_session_t *sess = sb ? session_decode(sb, strlen(sb), store_node(s), serr, sizeof serr) : NULL;
    free(sb);
    if (!sess || !id || strlen(id) != 36) {
        if (sess)
            snprintf(serr, sizeof serr, "bad ID");
        snprintf(err, errlen, "session refused: %s", serr);
        cat_session_free(sess);
        return -1;
    }
    memcpy(sess->id, id, 37);
    indexes_from_json(item, &sess->create_index, &sess->modify_index);
    store_session_restore(s, sess, checks_now_ms());
    return 0;
}

static int apply_kv(catalog_store_t *s, const json_t *item, const char *where, char *err, size_t errlen)
{
    char *key = key_from_json(item);
    const char *v64 = json_string_value(json_object_get(item, "Value"));
    if (!key) {
        snprintf(err, errlen, "KV entry has no key");
        return -1;
    }
    unsigned char *val = NULL;
    int vlen = 0;
    if (v64) {
        size_t l = strlen(v64);
        val = malloc(l + 1);
        vlen = EVP_DecodeBlock(val, (const unsigned char *)v64, (int)l);
        if (vlen < 0) {
            free(val);
            snprintf(err, errlen, "KV entry has a bad value");
            free(key);
            return -1;
        }
        if (l >= 2 && v64[l - 1] == '=') vlen--;
        if (l >= 2 && v64[l - 2] == '=') vlen--;
    }
    store_kv_put(s, key, val, (size_t)vlen, (uint64_t)json_integer_value(json_object_get(item, "Flags")), -1);
    free(val);
    cat_kv_t *e = store_kv_get(s, key);
    e->create_index = (uint64_t)json_integer_value(json_object_get(item, "CreateIndex"));
    e->modify_index = (uint64_t)json_integer_value(json_object_get(item, "ModifyIndex"));
    const char *holder = json_string_value(json_object_get(item, "Session"));
    json_int_t li = json_integer_value(json_object_get(item, "LockIndex"));
    if (store_kv_restore_lock(s, key, holder, li > 0 ? (uint64_t)li : 0) != 0)
        log_warn("%s: a KV entry names session %s, which is not in the state: loaded unlocked", where, holder);
    free(key);
    return 0;
}

static int apply_tombstone(catalog_store_t *s, const json_t *item, char *err, size_t errlen)
{
    char *key = key_from_json(item);
    if (!key) {
        snprintf(err, errlen, "tombstone has no key");
        return -1;
    }
    store_kv_delete(s, key, 0, -1);
    json_int_t idx = json_integer_value(json_object_get(item, "Index"));
    if (idx > 0)
        store_restore_tombstone(s, key, (uint64_t)idx);
    free(key);
    return 0;
}

int persist_state_apply(catalog_store_t *s, const json_t *root, const char *where, char *err, size_t errlen)
{
    char e[1536];
    json_t *item;
    size_t i;
#define APPLY(what, call)                                                         \
    if ((call) != 0) {                                                            \
        snprintf(err, errlen, "state %s: %s %zu: %s", where, what, i, e);         \
        return -1;                                                                \
    }
    json_array_foreach(json_object_get(root, "Services"), i, item)
        APPLY("service", apply_service(s, item, e, sizeof e))
    json_array_foreach(json_object_get(root, "NodeChecks"), i, item)
        APPLY("node check", apply_node_check(s, item, e, sizeof e))
    i = 0;
    APPLY("node", apply_node_part(s, root, e, sizeof e))
    json_array_foreach(json_object_get(root, "Sessions"), i, item)
        APPLY("session", apply_session(s, item, e, sizeof e))
    json_array_foreach(json_object_get(root, "KV"), i, item)
        APPLY("KV entry", apply_kv(s, item, where, e, sizeof e))
    json_array_foreach(json_object_get(root, "Tombstones"), i, item)
        APPLY("tombstone", apply_tombstone(s, item, e, sizeof e))
#undef APPLY
    store_restore_indexes(s, (uint64_t)json_integer_value(json_object_get(root, "Index")));
    return 0;
}

/* Reads and verifies dir/name (header + SHA-256 of the body). 1 with *buf (free it) and the body
 * in *bodyp and *blenp (without its final newline), 0 no file, -1 error. */
static int read_verified(const char *dir, const char *name, const char *header, char **bufp, char **bodyp,
                         size_t *blenp, size_t *bytes, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    /* file_read reads only a regular file of at most PERSIST_MAX_STATE bytes, checked on the open
     * descriptor: a FIFO would block the start for ever, /dev/zero (through a symlink) would fill
     * memory */
    size_t len;
    char *buf = file_read(path, PERSIST_MAX_STATE, &len);
    *bufp = NULL;
    if (!buf) {
        if (errno == ENOENT)
            return 0;
        if (errno == EFBIG)
            snprintf(err, errlen, "state %s: larger than %d MiB; refusing to start (move it away to start empty)", path,
                     PERSIST_MAX_STATE >> 20);
        else if (errno == EINVAL || errno == EISDIR)
            snprintf(err, errlen, "state %s: not a regular file; refusing to start (move it away to start empty)", path);
        else
            snprintf(err, errlen, "state %s: %s", path, strerror(errno));
        return -1;
    }
    if (bytes)
        *bytes = len;
    int rc = -1;
    size_t hlen = strlen(header);
    char *nl = memchr(buf, '\n', len);
    if (len < hlen + 65 || memcmp(buf, header, hlen) != 0 || !nl || nl - buf != (ptrdiff_t)(hlen + 64)) {
        snprintf(err, errlen, "state %s: not a portolan-catalog state file or truncated header; refusing to start (move it away to start empty)", path);
        goto out;
    }
    char *body = nl + 1;
    size_t blen = len - (size_t)(body - buf);
    if (blen == 0 || body[blen - 1] != '\n') {
        snprintf(err, errlen, "state %s: truncated (no final newline); refusing to start (move it away to start empty)", path);
        goto out;
    }
    blen--;
    char hex[65];
    sha256_hex(body, blen, hex);
    if (memcmp(hex, buf + hlen, 64) != 0) {
        snprintf(err, errlen, "state %s: checksum mismatch (corrupt or truncated); refusing to start (move it away to start empty)", path);
        goto out;
    }
    *bufp = buf;
    *bodyp = body;
    *blenp = blen;
    return 1;
out:
    free(buf);
    return rc;
}

/* Reads, verifies and parses dir/name as one JSON object. 1 with *root, 0 no file, -1 error. */
static int load_file(const char *dir, const char *name, const char *header, json_t **root, size_t *bytes,
                     char *err, size_t errlen)
{
    char *buf, *body;
    size_t blen;
    *root = NULL;
    int rc = read_verified(dir, name, header, &buf, &body, &blen, bytes, err, errlen);
    if (rc != 1)
        return rc;
    json_error_t je;
    *root = json_loadb(body, blen, 0, &je);
    if (!*root || !json_is_object(*root)) {
        snprintf(err, errlen, "state %s/%s: invalid JSON at line %d: %s", dir, name, je.line, je.text);
        json_decref(*root);
        *root = NULL;
        rc = -1;
    }
    free(buf);
    return rc;
}

int persist_load(catalog_store_t *s, const char *dir, char *err, size_t errlen)
{
    json_t *root;
    int rc = load_file(dir, "state.json", HEADER, &root, NULL, err, errlen);
    if (rc != 1)
        return rc;
    char where[4200];
    snprintf(where, sizeof where, "%s/state.json", dir);
    rc = persist_state_apply(s, root, where, err, errlen) == 0 ? 1 : -1;
    json_decref(root);
    return rc;
}

/* The snapshot is written and read one entity at a time (the records of the log, one a line),
 * never as one JSON tree: a tree of 50,000 services took ~250 MB while it existed. */
typedef struct {
    FILE *f;
    EVP_MD_CTX *md;
    int failed;
    size_t lines;
} snap_writer_t;

static void snap_line(snap_writer_t *w, json_t *rec)
{
    char *p = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (!p) {
        w->failed = 1;
        return;
    }
    size_t n = strlen(p);
    if (w->lines++)                  /* the digest covers the body without its final newline */
        EVP_DigestUpdate(w->md, "\n", 1);
    EVP_DigestUpdate(w->md, p, n);
    if (fwrite(p, 1, n, w->f) != n || fputc('\n', w->f) == EOF)
        w->failed = 1;
    free(p);
}

static void on_snap_tombstone(void *ctx, const char *key, uint64_t index)
{
    json_t *o = key_json(key);
    json_object_set_new(o, "Index", json_integer((json_int_t)index));
    json_object_set_new(o, "t", json_string("kv-"));
    snap_line(ctx, o);
}

int persist_snapshot_save(const catalog_store_t *s, const char *dir, const char *log_name, size_t *bytes,
                          char *err, size_t errlen)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/" PERSIST_SNAPSHOT, dir);
    snprintf(tmp, sizeof tmp, "%s/" PERSIST_SNAPSHOT ".tmp", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        snprintf(err, errlen, "state: open %s: %s", tmp, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    snap_writer_t w = {f, EVP_MD_CTX_new(), 0, 0};
    EVP_DigestInit_ex(w.md, EVP_sha256(), NULL);
    size_t hlen = strlen(SNAP_HEADER);
    fprintf(f, "%s%064d\n", SNAP_HEADER, 0);          /* the digest goes here at the end */
    snap_line(&w, json_pack("{s:s,s:I,s:s}", "t", "meta", "Index", (json_int_t)store_index(s), "Log", log_name));
    snap_line(&w, persist_record(s, CAT_DIRTY_NODE, NULL));
    size_t n;
    cat_service_t **svcs = store_all_services(s, &n);
    for (size_t i = 0; i < n; i++)
        if (is_local_service(svcs[i]))
            snap_line(&w, persist_record(s, CAT_DIRTY_SERVICE, svcs[i]->id));
    free(svcs);
    cat_check_t **nc = store_node_checks(s, &n);
    for (size_t i = 0; i < n; i++)
        if (is_plain_node_check(nc[i]))
            snap_line(&w, persist_record(s, CAT_DIRTY_NODE_CHECK, nc[i]->id));
    free(nc);
    cat_session_t **ss = store_sessions(s, NULL, &n);
    for (size_t i = 0; i < n; i++)
        snap_line(&w, persist_record(s, CAT_DIRTY_SESSION, ss[i]->id));
    free(ss);
    cat_kv_t **kv = store_kv_list(s, "", &n);
    for (size_t i = 0; i < n; i++)
        snap_line(&w, persist_record(s, CAT_DIRTY_KV, kv[i]->key));
    free(kv);
    store_each_tombstone(s, on_snap_tombstone, &w);
    unsigned char md[32];
    unsigned int mdn = 0;
    EVP_DigestFinal_ex(w.md, md, &mdn);
    EVP_MD_CTX_free(w.md);
    char hex[65];
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    long size = ftell(f);
    int rc = -1;
    if (w.failed || fflush(f) != 0)
        snprintf(err, errlen, "state: write %s: %s", tmp, w.failed && !errno ? "out of memory" : strerror(errno));
    else if (size < 0 || (size_t)size > PERSIST_MAX_STATE)
        snprintf(err, errlen, "state: %ld bytes would exceed the %d MiB a snapshot may hold; not saved", size,
                 PERSIST_MAX_STATE >> 20);
    else if (pwrite(fd, hex, 64, (off_t)hlen) != 64 || fsync(fd) != 0)
        snprintf(err, errlen, "state: write %s: %s", tmp, strerror(errno));
    else
        rc = 0;
    fclose(f);
    if (rc == 0 && rename(tmp, path) != 0) {
        snprintf(err, errlen, "state: rename to %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        unlink(tmp);
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    if (bytes)
        *bytes = (size_t)size;
    return 0;
}

int persist_snapshot_load(catalog_store_t *s, const char *dir, char *log_name, size_t lnlen, size_t *bytes,
                          char *err, size_t errlen)
{
    char *buf, *body;
    size_t blen;
    int rc = read_verified(dir, PERSIST_SNAPSHOT, SNAP_HEADER, &buf, &body, &blen, bytes, err, errlen);
    if (rc != 1)
        return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/" PERSIST_SNAPSHOT, dir);
    uint64_t index = 0;
    size_t line = 0;
    rc = 1;
    for (char *p = body, *end = body + blen; p <= end && rc == 1; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        json_error_t je;
        json_t *rec = json_loadb(p, n, 0, &je);
        char where[4300];
        snprintf(where, sizeof where, "state %s line %zu", path, line + 2);
        const char *t = json_string_value(json_object_get(rec, "t"));
        if (!json_is_object(rec)) {
            snprintf(err, errlen, "%s: invalid JSON: %s; refusing to start", where, je.text);
            rc = -1;
        } else if (line == 0) {
            const char *ln = json_string_value(json_object_get(rec, "Log"));
            json_int_t idx = json_integer_value(json_object_get(rec, "Index"));
            if (!t || strcmp(t, "meta") || !ln || !*ln || strchr(ln, '/') || strlen(ln) >= lnlen || idx < 0) {
                snprintf(err, errlen, "%s: not a snapshot's first record (meta with the log's name); refusing to start", where);
                rc = -1;
            } else {
                snprintf(log_name, lnlen, "%s", ln);
                index = (uint64_t)idx;
            }
        } else if (persist_record_apply(s, rec, where, err, errlen) != 0) {
            rc = -1;
        }
        json_decref(rec);
        if (!nl)
            break;
        p = nl + 1;
    }
    free(buf);
    if (rc == 1)
        store_restore_indexes(s, index);
    return rc;
}

/* ---- log records ---- */
static json_t *tagged(const char *t, json_t *o)
{
    json_object_set_new(o, "t", json_string(t));
    return o;
}

json_t *persist_record(const catalog_store_t *s, cat_dirty_t kind, const char *id)
{
    switch (kind) {
    case CAT_DIRTY_SERVICE: {
        const cat_service_t *svc = store_service(s, id);
        if (!svc)
            return json_pack("{s:s,s:s}", "t", "svc-", "ID", id);
        if (is_local_service(svc))
            return tagged("svc", service_item(svc));
        break;   /* external: the node record */
    }
    case CAT_DIRTY_NODE_CHECK: {
        const cat_check_t *c = store_check(s, id);
        if (!c)
            return json_pack("{s:s,s:s}", "t", "nchk-", "ID", id);
        if (is_plain_node_check(c))
            return tagged("nchk", node_check_item(c));
        break;
    }
    case CAT_DIRTY_SESSION: {
        const cat_session_t *ss = store_session(s, id);
        return ss ? tagged("sess", session_item(ss)) : json_pack("{s:s,s:s}", "t", "sess-", "ID", id);
    }
    case CAT_DIRTY_KV: {
        const cat_kv_t *e = store_kv_get(s, id);
        if (e)
            return tagged("kv", kv_item(e));
        json_t *o = key_json(id);
        json_object_set_new(o, "Index", json_integer((json_int_t)store_kv_tombstone(s, id)));
        return tagged("kv-", o);
    }
    case CAT_DIRTY_NODE:
        break;
    }
    json_t *o = json_object();
    node_part(s, o);
    return tagged("node", o);
}

int persist_record_apply(catalog_store_t *s, const json_t *rec, const char *where, char *err, size_t errlen)
{
    const char *t = json_string_value(json_object_get(rec, "t"));
    const char *id = json_string_value(json_object_get(rec, "ID"));
    char e[1536] = "";
    int rc = 0;
    if (!t)
        rc = -1, snprintf(e, sizeof e, "no record type");
    else if (!strcmp(t, "svc"))
        rc = apply_service(s, rec, e, sizeof e);
    else if (!strcmp(t, "nchk"))
        rc = apply_node_check(s, rec, e, sizeof e);
    else if (!strcmp(t, "node"))
        rc = apply_node_part(s, rec, e, sizeof e);
    else if (!strcmp(t, "sess"))
        rc = apply_session(s, rec, e, sizeof e);
    else if (!strcmp(t, "kv"))
        rc = apply_kv(s, rec, where, e, sizeof e);
    else if (!strcmp(t, "kv-"))
        rc = apply_tombstone(s, rec, e, sizeof e);
    else if ((!strcmp(t, "svc-") || !strcmp(t, "nchk-") || !strcmp(t, "sess-")) && id) {
        if (t[1] == 'v')
            store_deregister(s, id);
        else if (t[0] == 'n')
            store_check_deregister(s, id);
        else
            store_session_destroy(s, id, 0);   /* its keys' records follow in the same batch */
    } else
        rc = -1, snprintf(e, sizeof e, "unknown record type %.40s", t);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s record: %s", where, t ? t : "untyped", e);
    return rc;
}
