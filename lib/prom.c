/* prom.c: see prom.h. A plain byte buffer doubled as it fills; the first failure (memory, a bad
 * name) is sticky, so callers write every line unchecked and test once, in prom_finish. Numbers
 * are printed the way the exposition format reads them: integers in full, doubles with 15 significant digits, or
 * 17 where 15 would not read back the same, NaN and infinities as the format spells them. */
#include "prom.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct prom {
    char *buf;
    size_t len, cap;
    int failed;
    char *prefix;
};

prom_t *prom_new(const char *prefix)
{
    prom_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->prefix = strdup(prefix ? prefix : "");
    p->cap = 1024;
    p->buf = malloc(p->cap);
    if (!p->prefix || !p->buf) {
        free(p->prefix);
        free(p->buf);
        free(p);
        return NULL;
    }
    p->buf[0] = '\0';
    return p;
}

static int reserve(prom_t *p, size_t more)
{
    if (p->failed)
        return -1;
    if (p->len + more + 1 <= p->cap)
        return 0;
    size_t nc = p->cap;
    while (p->len + more + 1 > nc)
        nc *= 2;
    char *nb = realloc(p->buf, nc);
    if (!nb) {
        p->failed = 1;
        return -1;
    }
    p->buf = nb;
    p->cap = nc;
    return 0;
}

static void put(prom_t *p, const char *s, size_t n)
{
    if (reserve(p, n) != 0)
        return;
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

static void puts_(prom_t *p, const char *s) { put(p, s, strlen(s)); }

static void printf_(prom_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void printf_(prom_t *p, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        p->failed = 1;
        return;
    }
    put(p, tmp, (size_t)n);
}

static int name_ok(const char *s, int colon)
{
    if (!s || !*s)
        return 0;
    for (const char *c = s; *c; c++) {
        int alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' || (colon && *c == ':');
        if (!alpha && !(c > s && *c >= '0' && *c <= '9'))
            return 0;
    }
    return 1;
}

/* the full metric name (prefix + name), or the writer fails */
static int put_name(prom_t *p, const char *name)
{
    if (!name_ok(name, 1) || (*p->prefix && !name_ok(p->prefix, 1))) {
        p->failed = 1;
        return -1;
    }
    puts_(p, p->prefix);
    puts_(p, name);
    return 0;
}

void prom_family(prom_t *p, const char *name, const char *type, const char *help)
{
    if (!p || p->failed)
        return;
    if (!type || !name_ok(type, 0)) {
        p->failed = 1;
        return;
    }
    if (help) {
        puts_(p, "# HELP ");
        if (put_name(p, name) != 0)
            return;
        put(p, " ", 1);
        for (const char *c = help; *c; c++) { /* HELP escapes backslash and newline only */
            if (*c == '\\')
                puts_(p, "\\\\");
            else if (*c == '\n')
                puts_(p, "\\n");
            else
                put(p, c, 1);
        }
        put(p, "\n", 1);
    }
    puts_(p, "# TYPE ");
    if (put_name(p, name) != 0)
        return;
    put(p, " ", 1);
    puts_(p, type);
    put(p, "\n", 1);
}

static void put_label_value(prom_t *p, const char *value)
{
    for (const char *c = value; *c; c++) {
        if (*c == '\\')
            puts_(p, "\\\\");
        else if (*c == '"')
            puts_(p, "\\\"");
        else if (*c == '\n')
            puts_(p, "\\n");
        else
            put(p, c, 1);
    }
}

/* name{l1="v1",l2="v2",...} : labels is NULL or name/value pairs ending with a NULL name. */
static int sample_head_pairs(prom_t *p, const char *name, const char *const *labels)
{
    if (!p || p->failed || put_name(p, name) != 0)
        return -1;
    if (labels && labels[0]) {
        put(p, "{", 1);
        for (size_t i = 0; labels[i]; i += 2) {
            if (!name_ok(labels[i], 0) || !labels[i + 1]) {
                p->failed = 1;
                return -1;
            }
            if (i)
                put(p, ",", 1);
            puts_(p, labels[i]);
            puts_(p, "=\"");
            put_label_value(p, labels[i + 1]);
            put(p, "\"", 1);
        }
        put(p, "}", 1);
    }
    put(p, " ", 1);
    return p->failed ? -1 : 0;
}

static int sample_head(prom_t *p, const char *name, const char *label_name, const char *label_value)
{
    const char *pairs[3] = {label_name, label_value, NULL};
    return sample_head_pairs(p, name, label_name ? pairs : NULL);
}

void prom_sample_u64_labels(prom_t *p, const char *name, const char *const *labels, uint64_t v)
{
    if (sample_head_pairs(p, name, labels) != 0)
        return;
    printf_(p, "%llu\n", (unsigned long long)v);
}

void prom_sample_u64(prom_t *p, const char *name, const char *label_name, const char *label_value, uint64_t v)
{
    if (sample_head(p, name, label_name, label_value) != 0)
        return;
    printf_(p, "%llu\n", (unsigned long long)v);
}

void prom_sample_double(prom_t *p, const char *name, const char *label_name, const char *label_value, double v)
{
    if (sample_head(p, name, label_name, label_value) != 0)
        return;
    if (isnan(v))
        puts_(p, "NaN\n");
    else if (isinf(v))
        puts_(p, v > 0 ? "+Inf\n" : "-Inf\n");
    else {
        char tmp[40];
        snprintf(tmp, sizeof tmp, "%.15g", v); /* 15 digits when they read back the same */
        if (strtod(tmp, NULL) != v)
            snprintf(tmp, sizeof tmp, "%.17g", v);
        puts_(p, tmp);
        put(p, "\n", 1);
    }
}

void prom_counter(prom_t *p, const char *name, const char *help, uint64_t v)
{
    prom_family(p, name, "counter", help);
    prom_sample_u64(p, name, NULL, NULL, v);
}

void prom_gauge(prom_t *p, const char *name, const char *help, uint64_t v)
{
    prom_family(p, name, "gauge", help);
    prom_sample_u64(p, name, NULL, NULL, v);
}

void prom_gauge_double(prom_t *p, const char *name, const char *help, double v)
{
    prom_family(p, name, "gauge", help);
    prom_sample_double(p, name, NULL, NULL, v);
}

char *prom_finish(prom_t *p, size_t *len)
{
    if (!p)
        return NULL;
    char *out = NULL;
    if (!p->failed) {
        out = p->buf;
        if (len)
            *len = p->len;
    } else {
        free(p->buf);
    }
    free(p->prefix);
    free(p);
    return out;
}
