/* test_catalog_wal.c: the catalog's write-ahead log. The framing (wal.c): round trip, a torn tail
 * cut at every byte, a byte flipped anywhere in a batch that has another after it (refused), a
 * bad checksum in the last record (torn), a zero-filled tail (the preallocated part, not torn),
 * a write cut short into those zeros at every byte (torn), zeros in the middle (refused). The
 * files (durable.c): a mix of writes through the API replays into an identical state (every
 * entity, index and lock), also across a compaction; an old state.json is migrated; the log is
 * preallocated and its zeros are not taken as torn; a torn tail on disk is truncated; a corrupt
 * middle is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog_fixture.h"
#include "durable.h"
#include "log.h"
#include "persist.h"
#include "wal.h"

static int64_t now_ms(void) { return 1700000000000LL; }

/* ---- framing ---- */
typedef struct { char got[16][64]; uint32_t types[16]; size_t n; } seen_t;

static int collect(void *ctx, uint32_t type, const char *p, size_t len, size_t off)
{
    (void)off;
    seen_t *s = ctx;
    if (s->n < 16) {
        snprintf(s->got[s->n], 64, "%.*s", (int)len, p);
        s->types[s->n] = type;
    }
    s->n++;
    return 0;
}

/* magic, batch 1 (a, b, commit), batch 2 (c, commit); *b1 the end of batch 1 */
static void two_batches(wal_buf_t *b, size_t *b1)
{
    memset(b, 0, sizeof *b);
    b->cap = 64;
    b->data = malloc(b->cap);
    memcpy(b->data, WAL_MAGIC, WAL_MAGIC_LEN);
    b->len = WAL_MAGIC_LEN;
    assert_int_equal(wal_append(b, WAL_DATA, "{\"a\":1}", 7), 0);
    assert_int_equal(wal_append(b, WAL_DATA, "{\"b\":2}", 7), 0);
    assert_int_equal(wal_append(b, WAL_COMMIT, "{\"Index\":5}", 11), 0);
    *b1 = b->len;
    assert_int_equal(wal_append(b, WAL_DATA, "{\"c\":3}", 7), 0);
    assert_int_equal(wal_append(b, WAL_COMMIT, "{\"Index\":6}", 11), 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    wal_buf_t b;
    size_t b1;
    two_batches(&b, &b1);
    seen_t s = {0};
    wal_scan_t sc;
    char err[256];
    assert_int_equal(wal_scan(b.data, b.len, collect, &s, &sc, err, sizeof err), 0);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.got[0], "{\"a\":1}");
    assert_string_equal(s.got[1], "{\"b\":2}");
    assert_int_equal(s.types[2], WAL_COMMIT);
    assert_string_equal(s.got[3], "{\"c\":3}");
    assert_int_equal(sc.end, b.len);
    assert_int_equal(sc.torn, 0);
    assert_int_equal(sc.commits, 2);
    assert_int_equal(wal_append(&b, WAL_DATA, "x", (size_t)WAL_MAX_RECORD + 1), -1);
    wal_buf_free(&b);
}

/* cut at every length: never refused, only whole committed batches delivered */
static void test_torn_tail_every_cut(void **state)
{
    (void)state;
    wal_buf_t b;
    size_t b1;
    two_batches(&b, &b1);
    for (size_t cut = 0; cut < b.len; cut++) {
        seen_t s = {0};
        wal_scan_t sc;
        char err[256];
        assert_int_equal(wal_scan(b.data, cut, collect, &s, &sc, err, sizeof err), 0);
        size_t want_end = cut >= b1 ? b1 : (cut >= WAL_MAGIC_LEN ? WAL_MAGIC_LEN : 0);
        assert_int_equal(sc.end, want_end);
        assert_int_equal(sc.torn, cut - want_end);
        assert_int_equal(s.n, cut >= b1 ? 3 : 0);
    }
    wal_buf_free(&b);
}

/* one byte inverted anywhere before the last batch: corruption, refused, nothing delivered after it */
static void test_corrupt_middle_refused(void **state)
{
    (void)state;
    wal_buf_t b;
    size_t b1;
    two_batches(&b, &b1);
    for (size_t i = 0; i < b1; i++) {
        b.data[i] ^= 0x5a;
        wal_scan_t sc;
        char err[256] = "";
        int rc = wal_scan(b.data, b.len, NULL, NULL, &sc, err, sizeof err);
        if (rc != -1)
            fail_msg("byte %zu inverted: scan returned %d (end %zu)", i, rc, sc.end);
        assert_true(strstr(err, "corrupt") || strstr(err, "not a portolan-catalog log"));
        b.data[i] ^= 0x5a;
    }
    wal_buf_free(&b);
}

/* a bad payload checksum in the very last record is a torn tail; zeros to the end too */
static void test_checksum_last_record_and_zero_tail(void **state)
{
    (void)state;
    wal_buf_t b;
    size_t b1;
    two_batches(&b, &b1);
    b.data[b.len - 2] ^= 1;
    wal_scan_t sc;
    char err[256];
    assert_int_equal(wal_scan(b.data, b.len, NULL, NULL, &sc, err, sizeof err), 0);
    assert_int_equal(sc.end, b1);
    b.data[b.len - 2] ^= 1;
    size_t full = b.len;
    char *z = calloc(1, full + 100);
    memcpy(z, b.data, full);
    assert_int_equal(wal_scan(z, full + 100, NULL, NULL, &sc, err, sizeof err), 0);
    assert_int_equal(sc.end, full);
    assert_int_equal(sc.torn, 100);
    assert_int_equal(sc.padding, 100);     /* zeros alone: the preallocated part, nothing torn */
    /* the same bad payload checksum with a record after it: refused */
    b.data[b1 + WAL_HEADER + 2] ^= 1;
    assert_int_equal(wal_scan(b.data, b.len, NULL, NULL, &sc, err, sizeof err), -1);
    assert_non_null(strstr(err, "payload checksum mismatch"));
    free(z);
    wal_buf_free(&b);
}

/* A write cut short inside the preallocated zeros (at any byte of the last batch: a header or a
 * payload written in part, then zeros to the end) is a torn tail; zeros in the middle with
 * records after them are corruption. */
static void test_torn_into_zeros(void **state)
{
    (void)state;
    wal_buf_t b;
    size_t b1;
    two_batches(&b, &b1);
    size_t full = b.len, cap = full + 4096;
    char *z = calloc(1, cap);
    for (size_t cut = b1 + 1; cut < full; cut++) {
        memset(z, 0, cap);
        memcpy(z, b.data, cut);            /* batch 2 written in part (up to `cut`), zeros after */
        wal_scan_t sc;
        char err[256] = "";
        if (wal_scan(z, cap, NULL, NULL, &sc, err, sizeof err) != 0)
            fail_msg("cut at %zu: %s", cut, err);
        assert_int_equal(sc.end, b1);
        assert_int_equal(sc.torn, cap - b1);
        assert_true(sc.padding >= cap - cut && sc.padding < sc.torn);
    }
    /* a header zeroed in the middle, records after it: refused */
    memset(z, 0, cap);
    memcpy(z, b.data, full);
    memset(z + WAL_MAGIC_LEN, 0, WAL_HEADER);
    wal_scan_t sc;
    char err[256] = "";
    assert_int_equal(wal_scan(z, cap, NULL, NULL, &sc, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrupt record header"));
    /* a payload zeroed in part, records after it: refused */
    memcpy(z, b.data, full);
    memset(z + WAL_MAGIC_LEN + WAL_HEADER + 2, 0, 3);
    assert_int_equal(wal_scan(z, cap, NULL, NULL, &sc, err, sizeof err), -1);
    assert_non_null(strstr(err, "payload checksum mismatch"));
    free(z);
    wal_buf_free(&b);
}

/* ---- files ---- */
static void rmrf(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static catalog_store_t *fresh(void)
{
    return store_new("node1", "11111111-2222-3333-4444-555555555555", "dc1", "127.0.0.1");
}

/* the whole state as text, without the global index (replays raise it past the original) */
static char *state_text(const catalog_store_t *s)
{
    json_t *j = persist_state_json(s);
    json_object_del(j, "Index");
    char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return t;
}

static void writes(catfx_t *f, int round)
{
    char body[512], path[128];
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof body, "{\"Name\":\"web\",\"ID\":\"web%d\",\"Port\":%d,\"Tags\":[\"r%d\"],"
                 "\"Check\":{\"CheckID\":\"c%d\",\"TTL\":\"30s\",\"Status\":\"passing\"}}", i, 8000 + i + round, round, i);
        assert_int_equal(catfx_call(f, "PUT", "/v1/agent/service/register", body, NULL)->status, 200);
        snprintf(path, sizeof path, "/v1/kv/k/%d", i);
        snprintf(body, sizeof body, "v%d-%d", i, round);
        assert_int_equal(catfx_call(f, "PUT", path, body, "flags", "9", NULL)->status, 200);
    }
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/service/deregister/web3", NULL, NULL)->status, 200);
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/check/fail/c1", NULL, "note", "down", NULL)->status, 200);
    assert_int_equal(catfx_call(f, "DELETE", "/v1/kv/k/2", NULL, NULL)->status, 200);
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/check/register", "{\"Name\":\"disk\",\"TTL\":\"60s\"}", NULL)->status, 200);
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/service/maintenance/web4", NULL, "enable", "true", "reason", "r", NULL)->status, 200);
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/maintenance", NULL, "enable", round ? "false" : "true", NULL)->status, 200);
    assert_int_equal(catfx_call(f, "PUT", "/v1/catalog/register",
                                "{\"Node\":\"ext\",\"Address\":\"10.0.0.9\",\"Service\":{\"Service\":\"pg\",\"ID\":\"pg1\",\"Port\":5432}}",
                                NULL)->status, 200);
    api_response_t *r = catfx_call(f, "PUT", "/v1/session/create", "{\"TTL\":\"60s\"}", NULL);
    assert_int_equal(r->status, 200);
    json_t *j = catfx_json(r);
    char sid[40];
    snprintf(sid, sizeof sid, "%s", json_string_value(json_object_get(j, "ID")));
    json_decref(j);
    snprintf(path, sizeof path, "/v1/kv/lock/%d", round);
    assert_string_equal(catfx_call(f, "PUT", path, "me", "acquire", sid, NULL)->body, "true");
    if (round == 2) {   /* a session destroyed while it holds its lock: the key is released */
        snprintf(path, sizeof path, "/v1/session/destroy/%s", sid);
        assert_int_equal(catfx_call(f, "PUT", path, NULL, NULL)->status, 200);
    }
    if (round == 1) {   /* a second session: its lock released, then destroyed */
        assert_string_equal(catfx_call(f, "PUT", path, "me", "release", sid, NULL)->body, "true");
        snprintf(path, sizeof path, "/v1/session/destroy/%s", sid);
        assert_int_equal(catfx_call(f, "PUT", path, NULL, NULL)->status, 200);
    }
    assert_int_equal(catfx_call(f, "PUT", "/v1/txn",
                                "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"t/1\",\"Value\":\"eA==\"}},{\"KV\":{\"Verb\":\"delete\",\"Key\":\"k/0\"}}]",
                                NULL)->status, 200);
}

static void reopen_equal(catfx_t *f, const char *dir, size_t compact)
{
    char err[1024];
    catalog_store_t *s2 = fresh();
    durable_opts_t o = {.compact_bytes = compact};
    durable_t *d2 = durable_open(s2, dir, &o, err, sizeof err);
    if (!d2)
        fail_msg("reopen: %s", err);
    char *a = state_text(f->api.store), *b = state_text(s2);
    assert_string_equal(a, b);
    assert_true(store_index(s2) >= store_index(f->api.store));
    free(a);
    free(b);
    durable_close(d2);
    store_free(s2);
}

static void test_durable_replay_equal(void **state)
{
    catfx_t *f = *state;
    char dir[] = "/tmp/pt-wal-unit-XXXXXX", err[1024];
    assert_non_null(mkdtemp(dir));
    durable_t *d = durable_open(f->api.store, dir, NULL, err, sizeof err);
    assert_non_null(d);
    writes(f, 0);
    assert_true(durable_pending(d));
    assert_int_equal(durable_commit(d, err, sizeof err), 0);
    assert_false(durable_pending(d));
    writes(f, 1);
    assert_int_equal(durable_commit(d, err, sizeof err), 0);
    durable_stats_t st;
    durable_stats(d, &st);
    assert_int_equal(st.compactions, 0);
    assert_int_equal(st.commits, 2);
    reopen_equal(f, dir, 0);
    /* compaction: the log resets, the snapshot holds everything */
    assert_int_equal(durable_compact(d, err, sizeof err), 0);
    writes(f, 2);
    assert_int_equal(durable_commit(d, err, sizeof err), 0);
    reopen_equal(f, dir, 0);
    durable_close(d);
    rmrf(dir);
}

/* with a tiny threshold every commit past it compacts; the state still replays identically */
static void test_durable_auto_compaction(void **state)
{
    catfx_t *f = *state;
    char dir[] = "/tmp/pt-wal-unit-XXXXXX", err[1024];
    assert_non_null(mkdtemp(dir));
    durable_opts_t o = {.compact_bytes = 4096};
    durable_t *d = durable_open(f->api.store, dir, &o, err, sizeof err);
    assert_non_null(d);
    for (int r = 0; r < 6; r++) {
        writes(f, r);
        assert_int_equal(durable_commit(d, err, sizeof err), 0);
    }
    durable_stats_t st;
    durable_stats(d, &st);
    assert_true(st.compactions >= 1);
    reopen_equal(f, dir, 4096);
    /* exactly one log file is left */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test $(ls %s | grep -c '^wal-.*\\.log$') -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    durable_close(d);
    rmrf(dir);
}

/* an old state.json loads, becomes snapshot.json + a log, and is removed */
static void test_durable_migrates_state_json(void **state)
{
    catfx_t *f = *state;
    char dir[] = "/tmp/pt-wal-unit-XXXXXX", err[1024], p[300];
    assert_non_null(mkdtemp(dir));
    writes(f, 0);
    assert_int_equal(persist_save(f->api.store, dir, err, sizeof err), 0);
    catalog_store_t *s2 = fresh();
    durable_t *d = durable_open(s2, dir, NULL, err, sizeof err);
    assert_non_null(d);
    durable_stats_t st;
    durable_stats(d, &st);
    assert_true(st.migrated);
    snprintf(p, sizeof p, "%s/state.json", dir);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof p, "%s/snapshot.json", dir);
    assert_int_equal(access(p, F_OK), 0);
    char *a = state_text(f->api.store), *b = state_text(s2);
    assert_string_equal(a, b);
    free(a);
    free(b);
    durable_close(d);
    store_free(s2);
    reopen_equal(f, dir, 0);
    rmrf(dir);
}

static char *log_file(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "ls %s/wal-*.log", dir);
    FILE *p = popen(cmd, "r");
    static char path[300];
    assert_non_null(fgets(path, sizeof path, p));
    pclose(p);
    path[strcspn(path, "\n")] = 0;
    return path;
}

/* on disk: a torn tail is truncated (the last batch lost, the rest kept); a corrupt middle refused */
static void test_durable_torn_and_corrupt(void **state)
{
    catfx_t *f = *state;
    char dir[] = "/tmp/pt-wal-unit-XXXXXX", err[1024];
    assert_non_null(mkdtemp(dir));
    durable_t *d = durable_open(f->api.store, dir, NULL, err, sizeof err);
    assert_non_null(d);
    writes(f, 0);
    assert_int_equal(durable_commit(d, err, sizeof err), 0);
    char *before = state_text(f->api.store);
    durable_stats_t st;
    durable_stats(d, &st);
    size_t good = st.log_bytes;
    assert_int_equal(catfx_call(f, "PUT", "/v1/kv/late", "x", NULL)->status, 200);
    assert_int_equal(durable_commit(d, err, sizeof err), 0);
    durable_stats(d, &st);
    size_t end2 = st.log_bytes;
    durable_close(d);
    char *path = log_file(dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    /* the log is preallocated: zeros after the records, and a reopen finds nothing torn */
    assert_true((size_t)sb.st_size >= DURABLE_PREALLOC && (size_t)sb.st_size > end2);
    catalog_store_t *s1 = fresh();
    durable_t *d1 = durable_open(s1, dir, NULL, err, sizeof err);
    assert_non_null(d1);
    durable_stats(d1, &st);
    assert_int_equal(st.torn_bytes, 0);
    assert_int_equal(st.log_bytes, end2);
    assert_non_null(store_kv_get(s1, "late"));
    durable_close(d1);
    store_free(s1);
    /* the second batch written only in part (a crash inside the preallocated zeros): its second
     * half zeros, as the file was before the write */
    size_t mid = good + (end2 - good) / 2;
    int zfd = open(path, O_WRONLY);
    char zeros[4096] = {0};
    assert_true(end2 - mid <= sizeof zeros);
    assert_int_equal(pwrite(zfd, zeros, end2 - mid, (off_t)mid), (ssize_t)(end2 - mid));
    close(zfd);
    catalog_store_t *s2 = fresh();
    durable_t *d2 = durable_open(s2, dir, NULL, err, sizeof err);
    assert_non_null(d2);
    durable_stats(d2, &st);
    assert_true(st.torn_bytes > 0 && st.torn_bytes <= mid - good);
    assert_int_equal(st.log_bytes, good);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((size_t)sb.st_size, good);      /* truncated on disk */
    char *after = state_text(s2);
    assert_string_equal(before, after);
    assert_null(store_kv_get(s2, "late"));
    free(after);
    /* the reopened log takes appends after the cut */
    assert_int_equal(store_kv_put(s2, "again", "y", 1, 0, -1), 1);
    assert_int_equal(durable_commit(d2, err, sizeof err), 0);
    durable_close(d2);
    store_free(s2);
    /* a byte inverted in the first record, with records after it: refused, naming the log */
    int fd = open(path, O_RDWR);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, WAL_MAGIC_LEN + WAL_HEADER + 3), 1);
    c ^= 0xff;
    assert_int_equal(pwrite(fd, &c, 1, WAL_MAGIC_LEN + WAL_HEADER + 3), 1);
    close(fd);
    catalog_store_t *s3 = fresh();
    err[0] = 0;
    assert_null(durable_open(s3, dir, NULL, err, sizeof err));
    assert_non_null(strstr(err, "corrupt record"));
    assert_non_null(strstr(err, "refusing to start"));
    assert_non_null(strstr(err, path));
    store_free(s3);
    free(before);
    rmrf(dir);
}

static int setup(void **state) { return catfx_setup(state, now_ms); }

int main(void)
{
    log_init("test", LOG_OFF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_torn_tail_every_cut),
        cmocka_unit_test(test_corrupt_middle_refused),
        cmocka_unit_test(test_checksum_last_record_and_zero_tail),
        cmocka_unit_test(test_torn_into_zeros),
        cmocka_unit_test_setup_teardown(test_durable_replay_equal, setup, catfx_teardown),
        cmocka_unit_test_setup_teardown(test_durable_auto_compaction, setup, catfx_teardown),
        cmocka_unit_test_setup_teardown(test_durable_migrates_state_json, setup, catfx_teardown),
        cmocka_unit_test_setup_teardown(test_durable_torn_and_corrupt, setup, catfx_teardown),
    };
    return cmocka_run_group_tests_name("catalog_wal", tests, NULL, NULL);
}
