/* txn.h: Consul's /v1/txn for KV operations, as a pure function over a KV table: decodes the
 * operations (Consul's shapes, base64 values, at most TXN_MAX_OPS) and runs them in order on a
 * table the caller owns (a copy: store_kv_begin), all stamped with one index.
 *
 * Promises: the answer is Consul's: {"Results":[...],"Errors":null} when every operation
 * succeeded, else {"Results":null,"Errors":[{"OpIndex":i,"What":"..."}...]} naming each that
 * failed; the caller keeps the table only in the first case, so a transaction applies whole or
 * not at all. Never: touches the store, reads a clock, does I/O.
 */
#ifndef PORTOLAN_CATALOG_TXN_H
#define PORTOLAN_CATALOG_TXN_H

#include <jansson.h>
#include <stdint.h>

#include "kv.h"

#define TXN_MAX_OPS 64

typedef int (*txn_session_ok_cb)(void *ctx, const char *session);

/* Checks the request body: a JSON array of at most TXN_MAX_OPS objects each with a "KV" object.
 * Returns the parsed array, or NULL with *status (400 or 413) and Consul's error text in err. */
json_t *txn_decode(const char *body, size_t len, int *status, char *err, size_t errlen);
/* Runs ops (from txn_decode) on t at index idx. *failed: how many failed; *wrote: whether any
 * write happened. Returns the answer body. */
json_t *txn_run(kv_table_t *t, json_t *ops, uint64_t idx, txn_session_ok_cb session_ok, void *ctx,
                int *failed, int *wrote);

#endif
