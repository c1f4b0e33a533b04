/* metadata.c: SERVICE_* parsing (see metadata.h). Values live in a jansson object keyed by the
 * lower-cased key; a second object remembers which keys came from a port-specific entry, which
 * is what lets SERVICE_80_NAME beat SERVICE_NAME regardless of the order the entries come in. */
#include "metadata.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct metadata {
    json_t *vals;     /* key -> string */
    json_t *fromport; /* key -> true */
    char *port;
};

/* Go's strconv.Atoi: optional sign, at least one decimal digit, value fits in 64 bits. */
static int go_atoi_ok(const char *s, size_t len)
{
    size_t i = 0;
    int neg = 0;
    if (len > 0 && (s[0] == '+' || s[0] == '-'))
        neg = s[0] == '-', i = 1;
    if (i == len)
        return 0;
    for (size_t j = i; j < len; j++)
        if (!isdigit((unsigned char)s[j]))
            return 0;
    while (i < len - 1 && s[i] == '0')
        i++;
    size_t nd = len - i;
    const char *lim = neg ? "9223372036854775808" : "9223372036854775807";
    if (nd < 19)
        return 1;
    if (nd > 19)
        return 0;
    return strncmp(s + i, lim, 19) <= 0;
}

static void take(metadata_t *m, const char *name, size_t namelen, const char *value)
{
    if (namelen < 8 || strncmp(name, "SERVICE_", 8) != 0)
        return;
    if (!value || !*value)
        return; /* empty = unset */
    size_t klen = namelen - 8;
    char *key = malloc(klen + 1);
    if (!key)
        return;
    for (size_t i = 0; i < klen; i++)
        key[i] = (char)tolower((unsigned char)name[8 + i]);
    key[klen] = '\0';
    if (strlen(key) != klen) { /* embedded NUL: not a usable name */
        free(key);
        return;
    }
    if (json_object_get(m->fromport, key)) {
        free(key);
        return;
    }
    char *us = strchr(key, '_');
    if (us && go_atoi_ok(key, (size_t)(us - key))) {
        size_t plen = (size_t)(us - key);
        if (strlen(m->port) == plen && strncmp(key, m->port, plen) == 0) {
            json_object_set_new(m->vals, us + 1, json_string(value));
            json_object_set_new(m->fromport, us + 1, json_true());
        }
        free(key);
        return;
    }
    json_object_set_new(m->vals, key, json_string(value));
    free(key);
}

metadata_t *metadata_build(const json_t *env, const json_t *labels, const char *port)
{
    metadata_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->vals = json_object();
    m->fromport = json_object();
    m->port = strdup(port ? port : "");
    if (!m->vals || !m->fromport || !m->port) {
        metadata_free(m);
        return NULL;
    }
    if (json_is_array(env)) {
        size_t i;
        const json_t *e;
        json_array_foreach(env, i, e) {
            const char *s = json_string_value(e);
            if (!s)
                continue;
            const char *eq = strchr(s, '=');
            if (!eq)
                continue;
            take(m, s, (size_t)(eq - s), eq + 1);
        }
    }
    if (json_is_object(labels)) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)labels, k, v) {
            if (json_is_string(v))
                take(m, k, strlen(k), json_string_value(v));
        }
    }
    return m;
}

void metadata_free(metadata_t *m)
{
    if (!m)
        return;
    json_decref(m->vals);
    json_decref(m->fromport);
    free(m->port);
    free(m);
}

const char *metadata_get(const metadata_t *m, const char *key)
{
    const char *v = json_string_value(json_object_get(m->vals, key));
    return (v && *v) ? v : NULL;
}

int metadata_from_port(const metadata_t *m, const char *key)
{
    return json_object_get(m->fromport, key) != NULL;
}

const json_t *metadata_all(const metadata_t *m) { return m->vals; }

const char *metadata_meta_pair_invalid(const char *key, const char *value)
{
    if (!*key)
        return "Key cannot be blank";
    for (const char *p = key; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-'))
            return "Key contains invalid characters";
    if (strlen(key) > METADATA_META_MAX_KEY)
        return "Key is too long (limit: 128 characters)";
    if (strncmp(key, "consul-", 7) == 0)
        return "Key prefix 'consul-' is reserved for internal use";
    if (strlen(value) > METADATA_META_MAX_VALUE)
        return "Value is too long (limit: 512 characters)";
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Shows at most 40 bytes of hostile text, with control characters as '?'. */
static void shorten(const char *s, char *buf, size_t len)
{
    size_t n = 0;
    for (; *s && n + 4 < len && n < 40; s++)
        buf[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    if (*s)
        buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n] = '\0';
}

json_t *metadata_consul_meta(const metadata_t *m, warn_list_t *w)
{
    json_t *meta = json_object();
    if (!meta)
        return NULL;
    size_t n = json_object_size(m->vals), k = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys)
        return meta;
    const char *key;
    json_t *v;
    json_object_foreach(m->vals, key, v) keys[k++] = key;
    qsort(keys, k, sizeof *keys, cmp_str);
    size_t pairs = 0;
    for (size_t i = 0; i < k; i++) {
        const char *val = json_string_value(json_object_get(m->vals, keys[i]));
        if (!strcmp(keys[i], "id") || !strcmp(keys[i], "name") || !strcmp(keys[i], "tags") ||
            !strcmp(keys[i], "ignore") || !val || !*val)
            continue;
        char sk[48], sv[48];
        const char *why = metadata_meta_pair_invalid(keys[i], val);
        if (why) {
            shorten(keys[i], sk, sizeof sk);
            shorten(val, sv, sizeof sv);
            warn_list_add(w, "metadata SERVICE_%s skipped: invalid Consul Meta pair ('%s', '%s'): %s",
                          sk, sk, sv, why);
            continue;
        }
        if (pairs == METADATA_META_MAX_PAIRS) {
            shorten(keys[i], sk, sizeof sk);
            warn_list_add(w, "metadata SERVICE_%s skipped: Consul allows at most %d Meta pairs",
                          sk, METADATA_META_MAX_PAIRS);
            continue;
        }
        json_object_set_new(meta, keys[i], json_string(val));
        pairs++;
    }
    free(keys);
    return meta;
}

void metadata_tags_append(json_t *arr, const char *s)
{
    if (!s)
        return;
    size_t len = strlen(s);
    char *buf = malloc(len + 1);
    if (!buf)
        return;
    size_t n = 0;
    for (size_t i = 0; i <= len; i++) {
        if (s[i] == '\\' && s[i + 1] == ',') {
            buf[n++] = ',';
            i++;
        } else if (s[i] == ',' || s[i] == '\0') {
            if (n > 0)
                json_array_append_new(arr, json_stringn(buf, n));
            n = 0;
        } else {
            buf[n++] = s[i];
        }
    }
    free(buf);
}

const char *metadata_plain(const json_t *env, const json_t *labels, const char *name)
{
    const char *v = json_string_value(json_object_get(labels, name));
    if (json_is_object(labels) && v && *v)
        return v;
    if (!json_is_array(env))
        return NULL;
    size_t nlen = strlen(name), i;
    const json_t *e;
    const char *found = NULL;
    json_array_foreach(env, i, e) {
        const char *s = json_string_value(e);
        if (s && strncmp(s, name, nlen) == 0 && s[nlen] == '=')
            found = s + nlen + 1; /* last one wins, as in a process environment */
    }
    return (found && *found) ? found : NULL;
}
