/* registration.c: see registration.h. Consul normalises what it stores (Tags [] for none, Meta {}
 * for none, Address "" for none), so comparisons treat absent and empty alike. */
#include "registration.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *registration_body(const service_t *s)
{
    json_t *b = json_object();
    if (!b)
        return NULL;
    if (s->id && *s->id)
        json_object_set_new(b, "ID", json_string(s->id));
    if (s->name && *s->name)
        json_object_set_new(b, "Name", json_string(s->name));
    if (json_array_size(s->tags) > 0)
        json_object_set(b, "Tags", s->tags);
    if (s->port != 0)
        json_object_set_new(b, "Port", json_integer(s->port));
    if (s->address && *s->address)
        json_object_set_new(b, "Address", json_string(s->address));
    if (json_object_size(s->meta) > 0)
        json_object_set(b, "Meta", s->meta);
    size_t nc = json_array_size(s->checks);
    if (nc == 1)
        json_object_set(b, "Check", json_array_get(s->checks, 0));
    else if (nc > 1)
        json_object_set(b, "Checks", s->checks);
    return b;
}

static int same_str(const json_t *a, const char *b)
{
    const char *s = json_is_string(a) ? json_string_value(a) : "";
    return strcmp(s, b ? b : "") == 0;
}

static int same_tags(const json_t *consul, const json_t *want)
{
    size_t n = json_array_size(want);
    if (json_array_size(consul) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!json_equal(json_array_get(consul, i), json_array_get(want, i)))
            return 0;
    return 1;
}

static int same_meta(const json_t *consul, const json_t *want)
{
    if (json_object_size(consul) != json_object_size(want))
        return 0;
    if (json_object_size(want) == 0)
        return 1;
    return json_equal((json_t *)consul, (json_t *)want);
}

static int matches(const char *id, const char *name, const char *address, long long port,
                   const json_t *tags, const json_t *meta, const json_t *e)
{
    if (!json_is_object(e))
        return 0;
    const json_t *pj = json_object_get(e, "Port");
    long long p = json_is_integer(pj) ? json_integer_value(pj) : 0;
    return same_str(json_object_get(e, "ID"), id) &&
           same_str(json_object_get(e, "Service"), name) &&
           same_str(json_object_get(e, "Address"), address) &&
           p == port &&
           same_tags(json_object_get(e, "Tags"), tags) &&
           same_meta(json_object_get(e, "Meta"), meta);
}

int registration_matches(const service_t *s, const json_t *e)
{
    return matches(s->id, s->name, s->address, s->port, s->tags, s->meta, e);
}

int registration_body_matches(const json_t *b, const json_t *e)
{
    const json_t *pj = json_object_get(b, "Port");
    return matches(json_string_value(json_object_get(b, "ID")), json_string_value(json_object_get(b, "Name")),
                   json_string_value(json_object_get(b, "Address")),
                   json_is_integer(pj) ? json_integer_value(pj) : 0, json_object_get(b, "Tags"),
                   json_object_get(b, "Meta"), e);
}

json_t *registration_body_cmp(const json_t *body, const char *health_check_id)
{
    if (!health_check_id) /* nothing to strip: share the body (callers never modify either) */
        return json_incref((json_t *)body);
    json_t *c = json_deep_copy(body);
    if (!c)
        return c;
    json_t *one = json_object_get(c, "Check");
    if (one && !strcmp(json_string_value(json_object_get(one, "CheckID")) ?: "", health_check_id))
        json_object_del(one, "Status");
    size_t i;
    json_t *chk;
    json_array_foreach(json_object_get(c, "Checks"), i, chk) {
        if (!strcmp(json_string_value(json_object_get(chk, "CheckID")) ?: "", health_check_id))
            json_object_del(chk, "Status");
    }
    return c;
}

char *registration_describe(const service_t *s)
{
    char *tags = json_dumps(s->tags, JSON_COMPACT);
    const char *addr = (s->address && *s->address) ? s->address : "<node address>";
    int v6 = strchr(addr, ':') != NULL;
    size_t len = strlen(s->name) + strlen(addr) + (tags ? strlen(tags) : 0) + 64;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "name=%s address=%s%s%s:%d tags=%s checks=%zu", s->name, v6 ? "[" : "", addr,
                 v6 ? "]" : "", s->port, tags ? tags : "[]", json_array_size(s->checks));
    free(tags);
    return out;
}
