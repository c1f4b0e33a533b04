/* decode.h: request bodies -> catalog objects, with Consul's decoding rules: field names match
 * case-insensitively, snake_case aliases are accepted, unknown fields are rejected, JSON null
 * means absent, durations are Go strings or nanosecond numbers; then Consul's validation, in
 * Consul's order, with Consul's error texts. Pure: no I/O. */
#ifndef PORTOLAN_CATALOG_DECODE_H
#define PORTOLAN_CATALOG_DECODE_H

#include <stddef.h>
#include "store.h"

/* PUT /v1/agent/service/register. On success returns 200 and fills *svc and *checks (malloc'd
 * array of owned checks). On failure returns the HTTP status (400, 500) with the body in err. */
int decode_service_register(const char *body, size_t len, cat_service_t **svc,
                            cat_check_t ***checks, size_t *nchecks, char *err, size_t errlen);

/* PUT /v1/agent/check/register. */
int decode_check_register(const char *body, size_t len, cat_check_t **check, char *err, size_t errlen);

/* PUT /v1/agent/check/update/:id body {"Status","Output"}. */
int decode_check_update(const char *body, size_t len, char **status, char **output, char *err, size_t errlen);

/* For other request decoders (api_catalog.c): the body parsed with the rules above (EOF and
 * syntax errors in err), and an object's fields bound by name as Go's decoder does (exact, then
 * case-insensitive, then snake_case alias; unknown fields and wrong types are errors with
 * Consul's texts). types[i]: DECODE_STR, ... as below. */
enum { DECODE_STR, DECODE_INT, DECODE_BOOL, DECODE_STRLIST, DECODE_STRMAP, DECODE_DUR, DECODE_ANY, DECODE_OBJ,
       DECODE_OBJLIST };
typedef struct { const char *name, *alias; int type; } decode_field_t;
struct json_t;
struct json_t *decode_parse_body(const char *body, size_t len, char *err, size_t errlen);
int decode_bind(const struct json_t *obj, const char *structname, const decode_field_t *fields, size_t n,
                struct json_t **vals, char *err, size_t errlen);

/* Consul's Meta rules; returns 0, or -1 with the reason ("Key contains invalid characters"). */
int decode_meta_pair_valid(const char *k, const char *v, const char **reason);

#endif
