/* api_kv.h: Consul's /v1/kv endpoint (api_kv.c), for api.c's router. */
#ifndef PORTOLAN_CATALOG_API_KV_H
#define PORTOLAN_CATALOG_API_KV_H

#include "api_ctx.h"

/* Answers GET, PUT or DELETE of /v1/kv/<key> (key "" for /v1/kv); the router has already
 * checked the method against "OPTIONS,GET,PUT,DELETE". */
void api_kv_handle(api_ctx_t *c, const char *key);

#endif
