/* checks.h: runs the checks the catalog owns, as a Consul agent does: TTL timers (expiry ->
 * critical, "TTL expired", millisecond resolution), HTTP checks (2xx passing, 429 warning, else
 * critical) and TCP checks (connect ok -> passing) on their interval with their timeout, the
 * first run after a random delay up to one interval; and the DeregisterCriticalServiceAfter
 * reaper (every 30 s). Effects only: every status change goes through store_check_update. */
#ifndef PORTOLAN_CATALOG_CHECKS_H
#define PORTOLAN_CATALOG_CHECKS_H

#include <uv.h>
#include "store.h"

typedef struct checks_runner checks_runner_t;

checks_runner_t *checks_runner_new(uv_loop_t *loop, catalog_store_t *store);
/* Call after store_free() of its store (whose removal hooks retire every probe): closes the
 * reaper and frees asynchronously; it never touches the store. */
void checks_runner_free(checks_runner_t *r);
/* A TTL check got pass/warn/fail/update: restart its timer. */
void checks_runner_ttl_touch(checks_runner_t *r, cat_check_t *c);
int64_t checks_now_ms(void);

#endif
