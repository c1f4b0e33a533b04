/* flags.h: command-line flags with Go's flag syntax (registrator compatibility) plus
 * environment variables. Precedence: flag > environment (<PREFIX>_<FLAG>, upper case, '-' and
 * '.' become '_') > default. Owns nothing: string options point into argv, environ or the
 * defaults, which live as long as the process. */
#ifndef PORTOLAN_FLAGS_H
#define PORTOLAN_FLAGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    FLAGS_STRING,   /* const char ** */
    FLAGS_BOOL,     /* int * (0/1); "-flag" alone means true, "-flag=false" false */
    FLAGS_INT,      /* long long * */
    FLAGS_DURATION, /* int64_t * nanoseconds; Go duration syntax, bare integers are seconds */
} flags_type_t;

typedef struct {
    const char *name;   /* without dashes: "retry-attempts" */
    flags_type_t type;
    void *ptr;
    const char *def;    /* default, in flag syntax; NULL: zero / NULL */
    const char *help;
} flags_opt_t;

/* Parses flags from argv[1..] until the first non-flag argument or "--"; *first_arg is its
 * index. Returns 0 on success, 1 when -h/-help/--help was given (usage should be printed),
 * -1 on error with a message in err. */
int flags_parse(const char *env_prefix, const flags_opt_t *opts, size_t nopts,
                 int argc, char **argv, int *first_arg, char *err, size_t errlen);

/* Sets one option from text; returns 0 or -1 with err set. */
int flags_set(const flags_opt_t *opt, const char *value, char *err, size_t errlen);

/* Name of the environment variable for an option ("PORTOLAN_RETRY_ATTEMPTS"). */
void flags_env_name(const char *env_prefix, const char *name, char *buf, size_t len);

/* The value of environment variable name, read through getenv_fn (NULL: getenv); NULL when it
 * is unset or empty. For settings read straight from the environment (CONSUL_*, DOCKER_*), with
 * getenv_fn letting tests supply their own environment. */
const char *flags_env_get(const char *(*getenv_fn)(const char *), const char *name);

void flags_usage(FILE *f, const char *usage_line, const char *env_prefix,
                  const flags_opt_t *opts, size_t nopts);

#endif
