/* durable.h: -data-dir as a write-ahead log plus snapshots (the effects edge of persistence;
 * the JSON of records and snapshots is persist.c's, the log's framing wal.c's).
 *
 * On disk, in the data dir: snapshot.json (the whole state at one moment as one record per
 * entity, one a line, SHA-256-checked, naming the log that continues it) and that log, wal-<generation>.log. Every store write
 * reports the entities it changed (store_set_dirty_hook); durable_commit appends one record per
 * changed entity (its whole new state, or its deletion) and a commit record, in one write(),
 * and fsyncs once: the server calls it once for all the writes that came in since the last
 * commit (group commit), and answers them only after it returned 0. A commit costs what the
 * turn changed, not the size of the state. The log file is preallocated: it grows in steps of
 * DURABLE_PREALLOC zero bytes and commits overwrite those zeros, so the file's size does not
 * change with each commit and fdatasync has the data to write, not the inode as well (on this
 * machine's ext4 that was one I/O instead of two and about a third of the time; see
 * bench/README.md). wal.h: zeros after the last record are the unused part.
 *
 * When the log has grown past max(compact_bytes, 2 x the snapshot), durable_commit compacts:
 * a new empty log is created and fsync'd, a new snapshot naming it is written (tmp, fsync,
 * rename, directory fsync), then the old log is removed. A crash at any point leaves a snapshot
 * and the log it names, both complete.
 *
 * Loading: the snapshot, then its log's committed batches in order (wal.h: a torn tail is
 * truncated with a warning, corruption in the middle refused). A data dir with only a
 * state.json (catalogs before the log) is loaded from it and compacted into a snapshot and a
 * log at once; the state.json is then removed. */
#ifndef PORTOLAN_CATALOG_DURABLE_H
#define PORTOLAN_CATALOG_DURABLE_H

#include <stddef.h>
#include "store.h"

#define DURABLE_COMPACT_DEFAULT ((size_t)64 << 20)
#define DURABLE_MAX_LOG ((size_t)2 << 30)   /* a longer log is refused at load */
#define DURABLE_PREALLOC ((size_t)1 << 20)  /* the log file grows in steps of this many zeros */

typedef struct durable durable_t;

typedef struct {
    size_t compact_bytes;     /* 0: DURABLE_COMPACT_DEFAULT */
} durable_opts_t;

typedef struct {
    size_t log_bytes, snapshot_bytes;
    size_t loaded_records;    /* committed records replayed at open */
    size_t torn_bytes;        /* truncated at open */
    size_t commits, compactions;
    size_t appended_records;  /* data records appended by commits since open */
    uint64_t sync_ns, sync_ns_max;  /* time in the commits' write + fdatasync: total and longest */
    int migrated;             /* opened from a state.json */
    int loaded;               /* there was state to load */
} durable_stats_t;

/* Loads the state in dir into s (a fresh store), opens the log for appending and installs the
 * store's dirty hook. NULL with err (what and which file) when the state cannot be loaded. */
durable_t *durable_open(catalog_store_t *s, const char *dir, const durable_opts_t *o, char *err, size_t errlen);
/* Whether a write has changed something not yet committed. */
int durable_pending(const durable_t *d);
/* Appends a record for every entity changed since the last commit and fsyncs. 0 (also when
 * nothing was pending), or -1 with err: nothing of it can be taken as durable. */
int durable_commit(durable_t *d, char *err, size_t errlen);
/* Writes a snapshot now and starts a new log. 0 or -1 with err (the old files stay valid). */
int durable_compact(durable_t *d, char *err, size_t errlen);
void durable_stats(const durable_t *d, durable_stats_t *out);
/* Removes the dirty hook and closes the log (commit first). */
void durable_close(durable_t *d);

#endif
