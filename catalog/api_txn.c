/* api_txn.c: PUT /v1/txn: decodes the operations (txn.c), runs them on a copy of the KV table
 * (store_kv_begin) and keeps the copy only when every one succeeded (store_kv_end): 200 with the
 * results, or 409 with the errors and nothing applied. Owns only the answer; never changes the
 * store but through store_kv_end. The copy makes a transaction cost O(KV size).
 */
#include "api_txn.h"
#include "txn.h"

#include <string.h>

static int session_ok(void *ctx, const char *id) { return store_session_exists(ctx, id); }

void api_txn(api_ctx_t *c)
{
    const char *dc = api_param(c->req, "dc");
    if (dc && *dc && strcmp(dc, store_datacenter(c->api->store)) != 0) {
        api_set_text(c->resp, 500, "No path to datacenter");
        return;
    }
    int status;
    char err[512];
    json_t *ops = txn_decode(c->req->body, c->req->body_len, &status, err, sizeof err);
    if (!ops) {
        api_set_text(c->resp, status, "%s", err);
        return;
    }
    uint64_t idx;
    kv_table_t *work = store_kv_begin(c->api->store, &idx);
    int failed, wrote;
    json_t *answer = txn_run(work, ops, idx, session_ok, c->api->store, &failed, &wrote);
    json_decref(ops);
    store_kv_end(c->api->store, work, !failed && wrote);
    c->resp->wrote = !failed && wrote;
    api_set_json(c, failed ? 409 : 200, answer);
}
