/* durable.c: see durable.h. The dirty set is one map per entity kind (keys only) and a flag for
 * the node-level record; a commit turns each entry into a record of the entity's state at that
 * moment, so an entity written many times in one turn costs one record, and reporting an entity
 * that did not change costs a redundant record, never a wrong one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "durable.h"
#include "persist.h"
#include "wal.h"
#include "file.h"
#include "log.h"
#include "strmap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct durable {
    catalog_store_t *store;
    char *dir;
    char log_name[64];
    uint64_t gen;
    int fd;
    size_t alloc;           /* the log file's size: log_bytes of records, then zeros (preallocated) */
    size_t compact_bytes;
    strmap_t *dirty[5];     /* by cat_dirty_t; CAT_DIRTY_NODE's map is unused (node flag) */
    int node_dirty;
    size_t ndirty;
    durable_stats_t st;
};

static void on_dirty(void *ctx, cat_dirty_t kind, const char *id)
{
    durable_t *d = ctx;
    if (kind == CAT_DIRTY_NODE) {
        d->ndirty += !d->node_dirty;
        d->node_dirty = 1;
        return;
    }
    if (!id || strmap_get(d->dirty[kind], id))
        return;
    strmap_put(d->dirty[kind], id, d);
    d->ndirty++;
}

static void clear_dirty(durable_t *d)
{
    for (int k = 0; k < 5; k++) {
        if (!strmap_size(d->dirty[k]))
            continue;
        strmap_free(d->dirty[k]);
        d->dirty[k] = strmap_new();
    }
    d->node_dirty = 0;
    d->ndirty = 0;
}

int durable_pending(const durable_t *d) { return d && d->ndirty > 0; }

static void log_path(const durable_t *d, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", d->dir, name);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int pwrite_all(int fd, const char *p, size_t n, size_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        off += (size_t)w;
    }
    return 0;
}

/* Zeros from offset `from` up to `to` (the part of the log not written yet). */
static int write_zeros(int fd, size_t from, size_t to)
{
    static const char zeros[65536];
    while (from < to) {
        size_t n = to - from < sizeof zeros ? to - from : sizeof zeros;
        if (pwrite_all(fd, zeros, n, from) != 0)
            return -1;
        from += n;
    }
    return 0;
}

/* Makes the log file at least `need` bytes long, in DURABLE_PREALLOC steps of zeros (not
 * fsync'd here: the commit's fdatasync that follows covers them and the new size). */
static int log_reserve(durable_t *d, size_t need)
{
    if (need <= d->alloc)
        return 0;
    size_t to = (need / DURABLE_PREALLOC + 1) * DURABLE_PREALLOC;
    if (write_zeros(d->fd, d->alloc, to) != 0) {
        int e = errno;
        if (ftruncate(d->fd, (off_t)d->alloc) != 0)
            log_warn("log %s: cutting a failed preallocation back: %s", d->log_name, strerror(errno));
        errno = e;
        return -1;
    }
    d->alloc = to;
    return 0;
}

static int fsync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

int durable_compact(durable_t *d, char *err, size_t errlen)
{
    char name[64], path[4200];
    snprintf(name, sizeof name, "wal-%016" PRIx64 ".log", d->gen + 1);
    log_path(d, name, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "log %s: %s", path, strerror(errno));
        return -1;
    }
    if (write_all(fd, WAL_MAGIC, WAL_MAGIC_LEN) != 0 || write_zeros(fd, WAL_MAGIC_LEN, DURABLE_PREALLOC) != 0 ||
        fsync(fd) != 0) {
        snprintf(err, errlen, "log %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    size_t snap = 0;
    if (persist_snapshot_save(d->store, d->dir, name, &snap, err, errlen) != 0) {
        close(fd);
        unlink(path);
        return -1;
    }
    /* the snapshot now names the new log (its directory entry made durable with the rename's) */
    if (d->fd >= 0) {
        close(d->fd);
        char old[4200];
        log_path(d, d->log_name, old, sizeof old);
        unlink(old);
    }
    d->fd = fd;
    d->alloc = DURABLE_PREALLOC;
    d->gen++;
    snprintf(d->log_name, sizeof d->log_name, "%s", name);
    d->st.log_bytes = WAL_MAGIC_LEN;
    d->st.snapshot_bytes = snap;
    d->st.compactions++;
    clear_dirty(d);     /* the snapshot holds every change so far */
    malloc_trim(0);     /* the snapshot's JSON tree was large and short-lived */
    return 0;
}

static int append_record(wal_buf_t *b, json_t *rec)
{
    char *p = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (!p)
        return -1;
    int rc = wal_append(b, WAL_DATA, p, strlen(p));
    free(p);
    return rc;
}

static int append_kind(durable_t *d, wal_buf_t *b, cat_dirty_t kind, size_t *n)
{
    for (strmap_iter_t it = strmap_iter(d->dirty[kind]); strmap_iter_next(&it);) {
        if (append_record(b, persist_record(d->store, kind, it.key)) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

int durable_commit(durable_t *d, char *err, size_t errlen)
{
    if (!d->ndirty)
        return 0;
    wal_buf_t b = {0};
    int rc = -1;
    size_t n = d->node_dirty ? 1 : 0;
    /* dependency order: a KV entry's lock names a session written before it */
    if ((d->node_dirty && append_record(&b, persist_record(d->store, CAT_DIRTY_NODE, NULL)) != 0) ||
        append_kind(d, &b, CAT_DIRTY_SERVICE, &n) != 0 || append_kind(d, &b, CAT_DIRTY_NODE_CHECK, &n) != 0 ||
        append_kind(d, &b, CAT_DIRTY_SESSION, &n) != 0 || append_kind(d, &b, CAT_DIRTY_KV, &n) != 0) {
        snprintf(err, errlen, "log: a record could not be encoded (out of memory or larger than %u bytes); not saved",
                 WAL_MAX_RECORD);
        goto out;
    }
    char commit[64];
    int cl = snprintf(commit, sizeof commit, "{\"Index\":%" PRIu64 "}", store_index(d->store));
    wal_append(&b, WAL_COMMIT, commit, (size_t)cl);
    char path[4200];
    log_path(d, d->log_name, path, sizeof path);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* into the preallocated zeros: the file's size (and so its inode) stays as it is, and
     * fdatasync writes the data alone (one I/O instead of two, each commit) */
    if (log_reserve(d, d->st.log_bytes + b.len) != 0) {
        snprintf(err, errlen, "log %s: preallocating: %s", path, strerror(errno));
        goto out;
    }
    if (pwrite_all(d->fd, b.data, b.len, d->st.log_bytes) != 0 || fdatasync(d->fd) != 0) {
        snprintf(err, errlen, "log %s: write: %s", path, strerror(errno));
        /* zero what may have reached the file (the next commit writes these entities again, and
         * its fdatasync takes the zeros along): the log must end in zeros after its last commit */
        if (write_zeros(d->fd, d->st.log_bytes, d->st.log_bytes + b.len) != 0)
            log_warn("log %s: zeroing a failed commit: %s", path, strerror(errno));
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec - (uint64_t)t0.tv_nsec;
    d->st.sync_ns += ns;
    if (ns > d->st.sync_ns_max)
        d->st.sync_ns_max = ns;
    d->st.log_bytes += b.len;
    d->st.commits++;
    d->st.appended_records += n;
    clear_dirty(d);
    rc = 0;
    size_t limit = d->compact_bytes > 2 * d->st.snapshot_bytes ? d->compact_bytes : 2 * d->st.snapshot_bytes;
    if (d->st.log_bytes >= limit) {
        char cerr[1024];
        if (durable_compact(d, cerr, sizeof cerr) != 0)
            log_error("compaction failed (the log goes on): %s", cerr);
        else
            log_info("compacted: snapshot %zu bytes, new log %s", d->st.snapshot_bytes, d->log_name);
    }
out:
    wal_buf_free(&b);
    return rc;
}

typedef struct {
    durable_t *d;
    const char *path;
    uint64_t index;
    char *err;
    size_t errlen;
} replay_t;

static int on_record(void *ctx, uint32_t type, const char *payload, size_t len, size_t offset)
{
    replay_t *r = ctx;
    json_error_t je;
    json_t *rec = json_loadb(payload, len, 0, &je);
    char where[4300];
    snprintf(where, sizeof where, "log %s at offset %zu", r->path, offset);
    if (!json_is_object(rec)) {
        snprintf(r->err, r->errlen, "%s: invalid record JSON: %s; refusing to start", where, je.text);
        json_decref(rec);
        return 2;
    }
    int rc = 0;
    if (type == WAL_COMMIT) {
        json_int_t idx = json_integer_value(json_object_get(rec, "Index"));
        if (idx > 0 && (uint64_t)idx > r->index)
            r->index = (uint64_t)idx;
    } else if (persist_record_apply(r->d->store, rec, where, r->err, r->errlen) != 0) {
        rc = 2;
    } else {
        r->d->st.loaded_records++;
    }
    json_decref(rec);
    return rc;
}

/* Replays dir/log_name onto the store; truncates a torn tail. */
static int replay(durable_t *d, char *err, size_t errlen)
{
    char path[4200];
    log_path(d, d->log_name, path, sizeof path);
    size_t len;
    char *buf = file_read(path, DURABLE_MAX_LOG, &len);
    if (!buf) {
        snprintf(err, errlen, "log %s (named by %s): %s; refusing to start", path, PERSIST_SNAPSHOT,
                 errno == ENOENT ? "missing" : file_strerror(errno));
        return -1;
    }
    replay_t r = {d, path, 0, err, errlen};
    wal_scan_t sc;
    char serr[512];
    int rc = wal_scan(buf, len, on_record, &r, &sc, serr, sizeof serr);
    free(buf);
    if (rc != 0) {
        if (rc == -1)
            snprintf(err, errlen, "log %s: %s; refusing to start (acknowledged writes may be behind it; "
                     "move the data dir away to start empty)", path, serr);
        return -1;
    }
    if (r.index)
        store_restore_indexes(d->store, r.index);
    d->alloc = len;
    if (sc.torn > sc.padding) {    /* zeros alone after the last commit are the preallocated part */
        log_warn("log %s: torn tail of %zu bytes after offset %zu (a write cut short by a crash, never "
                 "acknowledged): truncated", path, sc.torn - sc.padding, sc.end);
        if (truncate(path, (off_t)sc.end) != 0) {
            snprintf(err, errlen, "log %s: truncating the torn tail: %s", path, strerror(errno));
            return -1;
        }
        d->st.torn_bytes = sc.torn - sc.padding;
        d->alloc = sc.end;
    }
    d->st.log_bytes = sc.end;
    if (sc.end < WAL_MAGIC_LEN) {    /* the magic itself was torn: write it again */
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0 || write_all(fd, WAL_MAGIC, WAL_MAGIC_LEN) != 0 || fsync(fd) != 0) {
            snprintf(err, errlen, "log %s: %s", path, strerror(errno));
            if (fd >= 0) close(fd);
            return -1;
        }
        close(fd);
        d->st.log_bytes = d->alloc = WAL_MAGIC_LEN;
    }
    return 0;
}

/* Logs left by an interrupted compaction (not the one the snapshot names). */
static void remove_stray_logs(durable_t *d)
{
    DIR *dp = opendir(d->dir);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        size_t l = strlen(e->d_name);
        if (l == 24 && !strncmp(e->d_name, "wal-", 4) && !strcmp(e->d_name + 20, ".log") &&
            strcmp(e->d_name, d->log_name) != 0) {
            char p[4200];
            log_path(d, e->d_name, p, sizeof p);
            unlink(p);
        }
    }
    closedir(dp);
}

durable_t *durable_open(catalog_store_t *s, const char *dir, const durable_opts_t *o, char *err, size_t errlen)
{
    durable_t *d = calloc(1, sizeof *d);
    d->store = s;
    d->dir = strdup(dir);
    d->fd = -1;
    d->compact_bytes = o && o->compact_bytes ? o->compact_bytes : DURABLE_COMPACT_DEFAULT;
    for (int k = 0; k < 5; k++)
        d->dirty[k] = strmap_new();
    int l = persist_snapshot_load(s, dir, d->log_name, sizeof d->log_name, &d->st.snapshot_bytes, err, errlen);
    if (l < 0)
        goto fail;
    if (l > 0) {
        d->st.loaded = 1;
        if (sscanf(d->log_name, "wal-%16" SCNx64 ".log", &d->gen) != 1) {
            snprintf(err, errlen, "state %s/%s: names log %s, not a wal-<generation>.log; refusing to start", dir,
                     PERSIST_SNAPSHOT, d->log_name);
            goto fail;
        }
        if (replay(d, err, errlen) != 0)
            goto fail;
        char path[4200];
        log_path(d, d->log_name, path, sizeof path);
        d->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (d->fd < 0) {
            snprintf(err, errlen, "log %s: %s", path, strerror(errno));
            goto fail;
        }
        remove_stray_logs(d);
    } else {
        l = persist_load(s, dir, err, errlen);   /* a state.json from before the log */
        if (l < 0)
            goto fail;
        d->st.loaded = d->st.migrated = l > 0;
    }
    size_t limit = d->compact_bytes > 2 * d->st.snapshot_bytes ? d->compact_bytes : 2 * d->st.snapshot_bytes;
    if (d->fd < 0 || d->st.log_bytes >= limit) {
        if (durable_compact(d, err, errlen) != 0)
            goto fail;
        d->st.compactions = 0;
    }
    if (d->st.migrated) {
        char old[4200];
        log_path(d, "state.json", old, sizeof old);
        unlink(old);
        fsync_dir(dir);
        log_info("state %s migrated into %s/%s and log %s", old, dir, PERSIST_SNAPSHOT, d->log_name);
    }
    store_set_dirty_hook(s, on_dirty, d);
    malloc_trim(0);     /* the log file and its records' JSON were read and freed */
    return d;
fail:
    durable_close(d);
    return NULL;
}

void durable_stats(const durable_t *d, durable_stats_t *out) { *out = d->st; }

void durable_close(durable_t *d)
{
    if (!d)
        return;
    if (d->st.commits)
        log_info("log %s: %zu commits (fsyncs) of %zu records since the start, %zu compactions", d->log_name,
                 d->st.commits, d->st.appended_records, d->st.compactions);
    if (d->store)
        store_set_dirty_hook(d->store, NULL, NULL);
    if (d->fd >= 0)
        close(d->fd);
    for (int k = 0; k < 5; k++)
        strmap_free(d->dirty[k]);
    free(d->dir);
    free(d);
}
