/* txn.c: KV transactions (see txn.h). Each verb is Consul's, with its error text; results carry
 * the entry (its Value only for get and get-tree, as Consul blanks it for the others). */
#include "txn.h"
#include "consul_client.h"

#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *txn_decode(const char *body, size_t len, int *status, char *err, size_t errlen)
{
    json_error_t je;
    json_t *ops = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    *status = 400;
    if (!ops || !json_is_array(ops)) {
        snprintf(err, errlen, "Failed to parse body: %s", ops ? "body must be a JSON array of operations" : je.text);
        json_decref(ops);
        return NULL;
    }
    if (json_array_size(ops) > TXN_MAX_OPS) {
        *status = 413;
        snprintf(err, errlen, "Transaction contains too many operations (%zu > %d)", json_array_size(ops), TXN_MAX_OPS);
        json_decref(ops);
        return NULL;
    }
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op) {
        json_t *kv = json_is_object(op) ? json_object_get(op, "KV") : NULL;
        if (!json_is_object(kv)) {
            snprintf(err, errlen, "Failed to parse body: operation %zu: portolan-catalog runs KV operations only", i);
            json_decref(ops);
            return NULL;
        }
        json_t *v = json_object_get(kv, "Value");
        if (v && !json_is_null(v)) {
            size_t n;
            char *dec = json_is_string(v) ? consul_kv_value(kv, &n) : NULL;
            if (!dec && !(json_is_string(v) && !*json_string_value(v))) {
                snprintf(err, errlen, "Failed to parse body: operation %zu: Value must be base64", i);
                json_decref(ops);
                return NULL;
            }
            free(dec);
        }
        const char *fields[] = {"Verb", "Key", "Session"};
        for (size_t k = 0; k < 3; k++) {
            json_t *f = json_object_get(kv, fields[k]);
            if (f && !json_is_string(f) && !json_is_null(f)) {
                snprintf(err, errlen, "Failed to parse body: operation %zu: %s must be a string", i, fields[k]);
                json_decref(ops);
                return NULL;
            }
        }
        const char *nums[] = {"Flags", "Index"};
        for (size_t k = 0; k < 2; k++) {
            json_t *f = json_object_get(kv, nums[k]);
            if (f && !json_is_null(f) && !(json_is_integer(f) && json_integer_value(f) >= 0)) {
                snprintf(err, errlen, "Failed to parse body: operation %zu: %s must be an unsigned integer", i, nums[k]);
                json_decref(ops);
                return NULL;
            }
        }
    }
    return ops;
}

static json_t *entry_json(const cat_kv_t *e, int with_value)
{
    json_t *o = json_object();
    json_object_set_new(o, "LockIndex", json_integer((json_int_t)e->lock_index));
    json_object_set_new(o, "Key", json_string(e->key));
    json_object_set_new(o, "Flags", json_integer((json_int_t)e->flags));
    if (with_value && e->has_value) {
        unsigned char *b = malloc(4 * ((e->len + 2) / 3) + 1);
        EVP_EncodeBlock(b, e->value, (int)e->len);
        json_object_set_new(o, "Value", json_string((char *)b));
        free(b);
    } else {
        json_object_set_new(o, "Value", json_null());
    }
    if (e->session)
        json_object_set_new(o, "Session", json_string(e->session));
    json_object_set_new(o, "CreateIndex", json_integer((json_int_t)e->create_index));
    json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)e->modify_index));
    return o;
}

static void add_result(json_t *results, const cat_kv_t *e, int with_value)
{
    json_array_append_new(results, json_pack("{s:o}", "KV", entry_json(e, with_value)));
}

static const char *str(json_t *kv, const char *f)
{
    const char *s = json_string_value(json_object_get(kv, f));
    return s ? s : "";
}

static uint64_t num(json_t *kv, const char *f) { return (uint64_t)json_integer_value(json_object_get(kv, f)); }

/* One operation; returns NULL or a malloc'd error text. */
static char *run_op(kv_table_t *t, json_t *kv, uint64_t idx, txn_session_ok_cb session_ok, void *ctx,
                    json_t *results, int *wrote)
{
    const char *verb = str(kv, "Verb"), *key = str(kv, "Key"), *sess = str(kv, "Session");
    uint64_t flags = num(kv, "Flags"), index = num(kv, "Index");
    size_t vlen = 0;
    char *val = consul_kv_value(kv, &vlen), *err = NULL;
    cat_kv_t *e = kv_get(t, key);
    int is_write = 1;
#define FAIL(...) do { if (asprintf(&err, __VA_ARGS__) < 0) err = NULL; goto out; } while (0)
    if (!*key && strcmp(verb, "get-tree") != 0 && strcmp(verb, "delete-tree") != 0)
        FAIL("Missing key name");
    if (!strcmp(verb, "set")) {
        kv_put(t, key, val, vlen, flags, -1, idx);
    } else if (!strcmp(verb, "cas")) {
        if (kv_put(t, key, val, vlen, flags, (int64_t)(index > INT64_MAX ? INT64_MAX : index), idx) != KV_WRITTEN)
            FAIL("failed to set key \"%s\", index is stale", key);
    } else if (!strcmp(verb, "lock") || !strcmp(verb, "unlock")) {
        int lock = verb[0] == 'l';
        if (!*sess)
            FAIL("missing session");
        if (lock && !session_ok(ctx, sess))
            FAIL("invalid session \"%s\"", sess);
        if ((lock ? kv_lock : kv_unlock)(t, key, val, vlen, flags, sess, idx) != KV_WRITTEN) {
            if (lock)
                FAIL("failed to lock key \"%s\", lock is already held", key);
            FAIL("failed to unlock key \"%s\", lock isn't held, or is held by another session", key);
        }
    } else if (!strcmp(verb, "delete")) {
        kv_delete(t, key, 0, -1, idx);
        goto out_noresult;
    } else if (!strcmp(verb, "delete-tree")) {
        kv_delete(t, key, 1, -1, idx);
        goto out_noresult;
    } else if (!strcmp(verb, "delete-cas")) {
        if (!e || e->modify_index != index)
            FAIL("failed to delete key \"%s\", index is stale", key);
        kv_delete(t, key, 0, -1, idx);
        goto out_noresult;
    } else if (!strcmp(verb, "get") || !strcmp(verb, "check-index") || !strcmp(verb, "check-session")) {
        is_write = 0;
        if (!e)
            FAIL("key \"%s\" doesn't exist", key);
        if (verb[0] == 'c' && verb[6] == 'i' && e->modify_index != index)
            FAIL("current modify index %llu != %llu", (unsigned long long)e->modify_index, (unsigned long long)index);
        if (verb[0] == 'c' && verb[6] == 's' && strcmp(e->session ? e->session : "", sess) != 0)
            FAIL("current session \"%s\" != \"%s\"", e->session ? e->session : "", sess);
        add_result(results, e, verb[0] == 'g');
        goto out_read;
    } else if (!strcmp(verb, "get-tree")) {
        is_write = 0;
        size_t n;
        cat_kv_t **list = kv_list(t, key, &n);
        for (size_t i = 0; i < n; i++)
            add_result(results, list[i], 1);
        free(list);
        goto out_read;
    } else if (!strcmp(verb, "check-not-exists")) {
        is_write = 0;
        if (e)
            FAIL("key \"%s\" exists", key);
        goto out_read;
    } else {
        is_write = 0;
        FAIL("unknown KV verb \"%s\"", verb);
    }
    add_result(results, kv_get(t, key), 0);
out_noresult:
    *wrote = 1;
out_read:
out:
    (void)is_write;
    free(val);
    return err;
#undef FAIL
}

json_t *txn_run(kv_table_t *t, json_t *ops, uint64_t idx, txn_session_ok_cb session_ok, void *ctx,
                int *failed, int *wrote)
{
    json_t *results = json_array(), *errors = json_array(), *op;
    size_t i;
    *wrote = 0;
    json_array_foreach(ops, i, op) {
        char *err = run_op(t, json_object_get(op, "KV"), idx, session_ok, ctx, results, wrote);
        if (err) {
            json_array_append_new(errors, json_pack("{s:I,s:s}", "OpIndex", (json_int_t)i, "What", err));
            free(err);
        }
    }
    *failed = (int)json_array_size(errors);
    if (*failed) {
        json_decref(results);
        return json_pack("{s:n,s:o}", "Results", "Errors", errors);
    }
    json_decref(errors);
    return json_pack("{s:o,s:n}", "Results", results, "Errors");
}
