/* api_session.h: Consul's /v1/session endpoints (api_session.c). */
#ifndef PORTOLAN_CATALOG_API_SESSION_H
#define PORTOLAN_CATALOG_API_SESSION_H

#include "api_ctx.h"

/* Routes /v1/session/<rest>: create, destroy/:id, info/:id, node/:node, list, renew/:id
 * (reads do their own prologue and block on the sessions table). The method was checked by
 * the caller (api.c): PUT for create, destroy and renew, GET for the others. */
void api_session_handle(api_ctx_t *c, const char *rest);

#endif
