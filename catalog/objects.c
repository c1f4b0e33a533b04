/* objects.c: the values the store holds, services and checks (types in store.h): their
 * constructors and destructors, the interning of the strings that repeat across instances, and
 * the cleaning of text that comes from outside (invalid UTF-8, oversized check output). Promises:
 * every cat_*_free releases exactly what the object owns, interned strings through their
 * refcount; cleaned text is valid UTF-8. Never: indexes, listings or change hooks (store.c),
 * I/O, clocks. */
#include "store.h"
#include "strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- interned strings ----
 * Service names, tags and Meta pairs repeat across the instances of a service; the store keeps
 * one refcounted copy of each (this halves the memory of a 50,000-instance catalog). */
typedef struct { size_t refs; char *str; } interned_t;
static strmap_t *interned;

static char *intern(char *s)
{
    if (!interned)
        interned = strmap_new();
    interned_t *e = strmap_get(interned, s);
    if (e) {
        e->refs++;
        free(s);
        return e->str;
    }
    e = malloc(sizeof *e);
    e->refs = 1;
    e->str = s;
    strmap_put(interned, s, e);
    return s;
}

static void unintern(char *s)
{
    interned_t *e = interned ? strmap_get(interned, s) : NULL;
    if (!e) {
        free(s);
        return;
    }
    if (--e->refs == 0) {
        strmap_del(interned, s);
        free(e->str);
        free(e);
    }
}

void cat_service_intern(cat_service_t *s)
{
    s->name = intern(s->name);
    for (size_t i = 0; i < s->ntags; i++)
        s->tags[i] = intern(s->tags[i]);
    for (size_t i = 0; i < s->nmeta; i++) {
        s->meta[i].key = intern(s->meta[i].key);
        s->meta[i].value = intern(s->meta[i].value);
    }
    s->interned = 1;
}

/* ---- objects ---- */
cat_service_t *cat_service_new(void)
{
    cat_service_t *s = calloc(1, sizeof *s);
    s->w_passing = 1;
    s->w_warning = 1;
    return s;
}

void cat_service_free(cat_service_t *s)
{
    if (!s)
        return;
    void (*release)(char *) = s->interned ? unintern : (void (*)(char *))free;
    free(s->id); release(s->name); free(s->address); free(s->node);
    for (size_t i = 0; i < s->ntags; i++) release(s->tags[i]);
    free(s->tags);
    for (size_t i = 0; i < s->nmeta; i++) { release(s->meta[i].key); release(s->meta[i].value); }
    free(s->meta);
    for (size_t i = 0; i < s->ntaddrs; i++) { free(s->taddrs[i].key); free(s->taddrs[i].address); }
    free(s->taddrs);
    free(s);
}

cat_check_t *cat_check_new(void)
{
    cat_check_t *c = calloc(1, sizeof *c);
    c->critical_since_ms = -1;
    return c;
}

cat_node_t *cat_node_new(void) { return calloc(1, sizeof(cat_node_t)); }

void cat_node_free(cat_node_t *n)
{
    if (!n)
        return;
    free(n->name); free(n->id); free(n->address);
    for (size_t i = 0; i < n->ntaddrs; i++) { free(n->taddrs[i].key); free(n->taddrs[i].value); }
    for (size_t i = 0; i < n->nmeta; i++) { free(n->meta[i].key); free(n->meta[i].value); }
    free(n->taddrs); free(n->meta);
    free(n);
}

void cat_check_free(cat_check_t *c)
{
    if (!c)
        return;
    free(c->id); free(c->name); free(c->status); free(c->notes); free(c->output); free(c->service_id); free(c->node);
    free(c->http); free(c->method); free(c->body); free(c->tcp); free(c->grpc); free(c->tls_server_name);
    for (size_t i = 0; i < c->nheaders; i++) {
        free(c->headers[i].name);
        for (size_t j = 0; j < c->headers[i].nvalues; j++) free(c->headers[i].values[j]);
        free(c->headers[i].values);
    }
    free(c->headers);
    free(c);
}

const char *cat_check_type(const cat_check_t *c)
{
    switch (c->kind) {
    case CHECK_TTL: return "ttl";
    case CHECK_HTTP: return "http";
    case CHECK_TCP: return "tcp";
    case CHECK_GRPC: return "grpc";
    default: return "";
    }
}

/* One UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, <= U+10FFFF): its length,
 * or 0 when p[0] does not start a valid one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) { len = 3; if (c == 0xe0) lo = 0xa0; if (c == 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
    else return 0;
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return len;
}

char *cat_utf8_clean(const char *s, size_t n, size_t *outlen)
{
    char *o = malloc(n * 3 + 1), *q = o;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(p + i, n - i);
        if (l == 0) {
            memcpy(q, "\xef\xbf\xbd", 3);
            q += 3;
            i++;
        } else {
            memcpy(q, p + i, l);
            q += l;
            i += l;
        }
    }
    *q = '\0';
    if (outlen)
        *outlen = (size_t)(q - o);
    return o;
}

char *cat_truncate_output(const char *out)
{
    const size_t max = 4096;
    size_t len = out ? strlen(out) : 0;
    if (len <= max)
        return cat_utf8_clean(out ? out : "", len, NULL);
    char *r = malloc(max + 64);
    snprintf(r, max + 64, "%.*s ... (captured %zu of %zu bytes)", (int)max, out, max, len);
    char *clean = cat_utf8_clean(r, strlen(r), NULL);   /* the cut may split a character */
    free(r);
    return clean;
}
