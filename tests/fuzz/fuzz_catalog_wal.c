/* fuzz_catalog_wal.c: libFuzzer target for portolan-catalog's -data-dir write-ahead log reader
 * (catalog/wal.c framing, catalog/durable.c replay, catalog/persist.c records).
 *
 * Two input shapes, by the first byte:
 *   'R' + bytes: the rest is a whole log file as is (magic, headers, checksums: the framing and
 *                the torn-tail / corruption rules);
 *   otherwise:   lines, each a record's JSON payload; the harness frames each one with correct
 *                checksums and puts a commit record after every line that is empty, so mutations
 *                reach the record decoder and the store instead of dying on a CRC.
 * Either way the log goes next to an empty snapshot naming it, in a private directory on
 * /dev/shm, and durable_open loads it into a fresh store. When it loads:
 *   - a compaction must succeed, and the compacted data dir must load again into the same state
 *     (a log the catalog accepted must never become a snapshot it refuses, or a different state);
 *   - the state is read through the API (agent, catalog, health, KV): real statuses, no index 0.
 * Seeds: tests/fuzz/corpus-fuzz_catalog_wal/ (records of real catalogs: services, checks, KV with
 * locks, sessions, external nodes, deletions; and one raw log). Built and run by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "durable.h"
#include "log.h"
#include "persist.h"
#include "store.h"
#include "wal.h"

static char dir[64];

static int64_t fuzz_now_ms(void) { return 1700000000000LL; }

static catalog_store_t *fresh_store(void)
{
    return store_new("fuzz-node", "0b5a1c6e-0000-4000-8000-000000000001", "dc1", "127.0.0.1");
}

static void clean(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -f %s/*", dir);
    if (system(cmd) != 0) abort();
}

static void write_file(const char *name, const void *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

static void get(catalog_api_t *api, const char *path, const char *param)
{
    api_param_t p = {param, ""};
    api_request_t req = {.method = "GET", .path = path, .params = param ? &p : NULL, .nparams = param ? 1 : 0};
    api_response_t resp;
    catalog_api_handle(api, &req, 0, &resp);
    if (resp.status < 100 || resp.status > 599) __builtin_trap();
    if (resp.has_index && resp.index == 0) __builtin_trap();
    api_response_clear(&resp);
}

static char *state_text(const catalog_store_t *s)
{
    json_t *j = persist_state_json(s);
    json_object_del(j, "Index");
    char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init("fuzz", LOG_OFF, 0);
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/portolan-fuzz-wal-XXXXXX", base);
    if (!mkdtemp(dir)) abort();
    atexit(clean);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clean();
    /* an empty snapshot naming the log */
    catalog_store_t *empty = fresh_store();
    char err[1024];
    if (persist_snapshot_save(empty, dir, "wal-0000000000000001.log", NULL, err, sizeof err) != 0) abort();
    store_free(empty);
    wal_buf_t b = {0};
    if (size && data[0] == 'R') {
        write_file("wal-0000000000000001.log", data + 1, size - 1);
    } else {
        b.cap = 64;
        b.data = malloc(b.cap);
        memcpy(b.data, WAL_MAGIC, WAL_MAGIC_LEN);
        b.len = WAL_MAGIC_LEN;
        size_t i = 0;
        while (i < size) {
            const uint8_t *nl = memchr(data + i, '\n', size - i);
            size_t n = nl ? (size_t)(nl - (data + i)) : size - i;
            if (n == 0)
                wal_append(&b, WAL_COMMIT, "{\"Index\":7}", 11);
            else
                wal_append(&b, WAL_DATA, data + i, n);
            i += n + 1;
        }
        wal_append(&b, WAL_COMMIT, "{\"Index\":9}", 11);
        write_file("wal-0000000000000001.log", b.data, b.len);
        wal_buf_free(&b);
    }
    catalog_store_t *s = fresh_store();
    durable_t *d = durable_open(s, dir, NULL, err, sizeof err);
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "open: %s\n", d ? "ok" : err);
    if (d) {
        catalog_api_t api = {.store = s, .leader = "127.0.0.1:8300", .version = "1.15.0", .now_ms = fuzz_now_ms};
        get(&api, "/v1/agent/services", NULL);
        get(&api, "/v1/agent/checks", NULL);
        get(&api, "/v1/catalog/services", NULL);
        get(&api, "/v1/catalog/nodes", NULL);
        get(&api, "/v1/health/state/any", NULL);
        get(&api, "/v1/kv/", "recurse");
        get(&api, "/v1/session/list", NULL);
        if (durable_compact(d, err, sizeof err) != 0) {
            fprintf(stderr, "compaction of a loaded log failed: %s\n", err);
            __builtin_trap();
        }
        durable_close(d);
        catalog_store_t *again = fresh_store();
        durable_t *d2 = durable_open(again, dir, NULL, err, sizeof err);
        if (!d2) {
            fprintf(stderr, "a compacted data dir does not load again: %s\n", err);
            __builtin_trap();
        }
        char *a = state_text(s), *c = state_text(again);
        if (strcmp(a, c) != 0) {
            fprintf(stderr, "state changed across compaction:\n%s\n%s\n", a, c);
            __builtin_trap();
        }
        free(a);
        free(c);
        durable_close(d2);
        store_free(again);
    }
    store_free(s);
    return 0;
}
