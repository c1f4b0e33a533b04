/* flags.c: Go flag package semantics (-x, --x, -x=v, -x v; bools take no separate value),
 * environment fallbacks and defaults. Validation of each value happens here, once, so a bad
 * flag is rejected before anything starts. */
#include "flags.h"
#include "duration.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void flags_env_name(const char *env_prefix, const char *name, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "%s_", env_prefix);
    for (const char *p = name; *p && n + 1 < len; p++)
        buf[n++] = (*p == '-' || *p == '.') ? '_' : (char)toupper((unsigned char)*p);
    if (n < len)
        buf[n] = '\0';
}

const char *flags_env_get(const char *(*getenv_fn)(const char *), const char *name)
{
    const char *v = getenv_fn ? getenv_fn(name) : getenv(name);
    return (v && *v) ? v : NULL;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(v, t[i]) == 0) { *out = 1; return 0; }
        if (strcmp(v, f[i]) == 0) { *out = 0; return 0; }
    }
    return -1;
}

int flags_set(const flags_opt_t *opt, const char *value, char *err, size_t errlen)
{
    switch (opt->type) {
    case FLAGS_STRING:
        *(const char **)opt->ptr = value;
        return 0;
    case FLAGS_BOOL:
        if (parse_bool(value, (int *)opt->ptr) == 0)
            return 0;
        snprintf(err, errlen, "invalid boolean value \"%s\" for flag -%s", value, opt->name);
        return -1;
    case FLAGS_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 0);
        if (errno || end == value || *end) {
            snprintf(err, errlen, "invalid value \"%s\" for flag -%s: not an integer", value, opt->name);
            return -1;
        }
        *(long long *)opt->ptr = v;
        return 0;
    }
    case FLAGS_DURATION: {
        char derr[200];
        int64_t ns;
        const char *p = value;
        int digits = *p != '\0';
        for (; *p; p++)
            if (!isdigit((unsigned char)*p))
                digits = 0;
        if (digits) { /* registrator's -resync/-ttl take plain seconds */
            *(int64_t *)opt->ptr = strtoll(value, NULL, 10) * DURATION_SEC;
            return 0;
        }
        if (duration_parse(value, &ns, derr, sizeof derr) != 0) {
            snprintf(err, errlen, "invalid value \"%s\" for flag -%s: %s", value, opt->name, derr);
            return -1;
        }
        *(int64_t *)opt->ptr = ns;
        return 0;
    }
    }
    return -1;
}

static const flags_opt_t *find(const flags_opt_t *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

int flags_parse(const char *env_prefix, const flags_opt_t *opts, size_t nopts,
                 int argc, char **argv, int *first_arg, char *err, size_t errlen)
{
    /* defaults, then environment */
    for (size_t i = 0; i < nopts; i++) {
        const flags_opt_t *o = &opts[i];
        switch (o->type) {
        case FLAGS_STRING: *(const char **)o->ptr = NULL; break;
        case FLAGS_BOOL: *(int *)o->ptr = 0; break;
        case FLAGS_INT: *(long long *)o->ptr = 0; break;
        case FLAGS_DURATION: *(int64_t *)o->ptr = 0; break;
        }
        if (o->def && flags_set(o, o->def, err, errlen) != 0)
            return -1;
        char env[128];
        flags_env_name(env_prefix, o->name, env, sizeof env);
        const char *ev = getenv(env);
        if (ev && flags_set(o, ev, err, errlen) != 0) {
            size_t l = strlen(err);
            snprintf(err + l, errlen - l, " (from %s)", env);
            return -1;
        }
    }
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            break;
        a++;
        if (*a == '-') {
            a++;
            if (*a == '\0') { /* "--" ends the flags */
                i++;
                break;
            }
        }
        if (strcmp(a, "h") == 0 || strcmp(a, "help") == 0)
            return 1;
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const flags_opt_t *o = find(opts, nopts, a, nlen);
        if (!o) {
            snprintf(err, errlen, "flag provided but not defined: -%.*s", (int)nlen, a);
            return -1;
        }
        const char *val;
        if (eq) {
            val = eq + 1;
        } else if (o->type == FLAGS_BOOL) {
            val = "true";
        } else {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "flag needs an argument: -%s", o->name);
                return -1;
            }
            val = argv[++i];
        }
        if (flags_set(o, val, err, errlen) != 0)
            return -1;
    }
    if (first_arg)
        *first_arg = i;
    return 0;
}

void flags_usage(FILE *f, const char *usage_line, const char *env_prefix,
                  const flags_opt_t *opts, size_t nopts)
{
    static const char *const tn[] = {"string", "", "int", "duration"};
    fprintf(f, "Usage: %s\n\nFlags (each also settable as an environment variable):\n", usage_line);
    for (size_t i = 0; i < nopts; i++) {
        char env[128];
        flags_env_name(env_prefix, opts[i].name, env, sizeof env);
        fprintf(f, "  -%s %s\n    \t%s", opts[i].name, tn[opts[i].type], opts[i].help ? opts[i].help : "");
        if (opts[i].def && *opts[i].def)
            fprintf(f, " (default %s)", opts[i].def);
        fprintf(f, " [$%s]\n", env);
    }
}
