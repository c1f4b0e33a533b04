/* api_catalog.h: the catalog's external-node endpoints (api_catalog.c). */
#ifndef PORTOLAN_CATALOG_API_CATALOG_H
#define PORTOLAN_CATALOG_API_CATALOG_H

#include "api_ctx.h"

/* PUT /v1/catalog/register */
void api_catalog_register(api_ctx_t *c);
/* PUT /v1/catalog/deregister */
void api_catalog_deregister(api_ctx_t *c);

/* Decodes, validates and applies one RegisterRequest body to s (the handler, and persist.c
 * replaying the state file): 200 with *wrote, or the status with err. */
int api_catalog_apply(catalog_store_t *s, const char *body, size_t len, int64_t now, int *wrote, char *err,
                      size_t errlen);
/* The external nodes, their services and checks as RegisterRequest bodies that
 * api_catalog_apply turns back into the same state (for the state file). */
json_t *api_catalog_dump(const catalog_store_t *s);

#endif
