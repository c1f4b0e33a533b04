/* api_txn.h: PUT /v1/txn (api_txn.c). */
#ifndef PORTOLAN_CATALOG_API_TXN_H
#define PORTOLAN_CATALOG_API_TXN_H

#include "api_ctx.h"

void api_txn(api_ctx_t *c);

#endif
