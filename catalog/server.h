/* server.h: portolan-catalog's HTTP glue: requests from lib/http_server go to
 * catalog_api_handle; blocking queries are parked until the store reports a change they watch
 * (then re-evaluated: answered only if their own index rose) or their wait (+ jitter up to
 * wait/16) runs out; with a data dir, every changing write is committed to the write-ahead log (one fsync for
 * all the writes that came in since the last one, which waits up to 1 ms for the writers that one
 * answered: server.c, pending_write_t) before it is answered. */
#ifndef PORTOLAN_CATALOG_SERVER_H
#define PORTOLAN_CATALOG_SERVER_H

#include <uv.h>
#include "store.h"

typedef struct catalog_server catalog_server_t;

typedef struct {
    const char *listen;      /* "127.0.0.1:8500" */
    struct durable *durable; /* -data-dir's write-ahead log (durable.h), owned from here; NULL: memory only */
    const char *leader;      /* "127.0.0.1:8300" */
    const char *version;
} catalog_server_opts_t;

/* Takes ownership of store. NULL with err on failure (e.g. address in use). */
catalog_server_t *catalog_server_new(uv_loop_t *loop, catalog_store_t *store, const catalog_server_opts_t *o,
                                     char *err, size_t errlen);
/* Answers parked queries, closes connections, stops checks, frees. */
void catalog_server_close(catalog_server_t *srv);
size_t catalog_server_parked(const catalog_server_t *srv);

#endif
