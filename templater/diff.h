/* diff.h: what it takes to go from one route table to the next. Pure.
 * Either "structural" (routes, hosts, checks or global settings changed: a new config and a
 * reload) or a list of runtime API operations on servers (no reload). The operations point into
 * the two tables, which must outlive the diff. */
#ifndef PORTOLAN_DIFF_H
#define PORTOLAN_DIFF_H
#include <stddef.h>
#include "routes.h"

typedef enum {
    DIFF_ADD,     /* add server b/s (new), then enable (and enable health) */
    DIFF_DEL,     /* drain, maint, del server b/s (old) */
    DIFF_ADDR,    /* set server b/s addr <ip> port <p> (new) */
    DIFF_WEIGHT,  /* set weight b/s <w> (new) */
} diff_op_kind_t;

typedef struct {
    diff_op_kind_t kind;
    const routes_backend_t *b;
    const routes_server_t *s;
} diff_op_t;

typedef struct {
    int structural;      /* 1: reload needed (ops empty) */
    char reason[256];    /* why structural, for the log */
    diff_op_t *ops;
    size_t nops;
} diff_t;

/* old may be NULL (first render: structural). */
void diff_tables(const routes_table_t *old, const routes_table_t *new_, diff_t *out);
void diff_clear(diff_t *d);
/* 1 when the two tables would render the same configuration. */
int diff_equal(const routes_table_t *a, const routes_table_t *b);
#endif
