/* persist.h: the catalog's state as JSON, for -data-dir (durable.c does the files and the log).
 * Two shapes: the whole state (services with their checks and check status, KV with flags,
 * indexes and lock holders, sessions, tombstones, external nodes, node maintenance, the index),
 * which is the snapshot (and the state.json of catalogs before the write-ahead log), and one
 * record per entity for the log (persist_record), which carries that entity's whole current
 * state or its deletion, so replaying records in order rebuilds the state. A state file is
 * written to NAME.tmp, fsync'd, renamed over NAME and the directory fsync'd: a kill -9 at any
 * moment leaves either the old or the new file, never a mix. It carries a SHA-256 of its body; a truncated or
 * corrupt file is reported and refused, never half-loaded, and so is one that is not a regular
 * file (a FIFO, a symlink to a device) or is larger than PERSIST_MAX_STATE. Every entry's
 * CreateIndex/ModifyIndex (services, checks, maintenance, node checks, the node and its boot
 * entries, KV) comes back exactly as saved. */
#ifndef PORTOLAN_CATALOG_PERSIST_H
#define PORTOLAN_CATALOG_PERSIST_H

#include <stddef.h>
#include "store.h"

/* The largest state file saved or loaded (bytes): a save past it is refused with an error. */
#define PERSIST_MAX_STATE (256 << 20)

/* Loads dir/state.json into s (a fresh store). Returns 1 loaded, 0 no state file, -1 error
 * (err says what and where). */
int persist_load(catalog_store_t *s, const char *dir, char *err, size_t errlen);
/* Saves dir/state.json (the format before the log; tests and the fuzz target use it); returns 0
 * or -1 with err. */
int persist_save(const catalog_store_t *s, const char *dir, char *err, size_t errlen);

#include <jansson.h>

/* The snapshot: the whole state as the log's records, one JSON record a line (a first "meta"
 * line with the index and the name of the log to replay on top of it), after a header line
 * with the SHA-256 of the body. Written and read one record at a time: it never exists as one
 * JSON tree in memory (a tree of 50,000 services took ~250 MB). */
#define PERSIST_SNAPSHOT "snapshot.json"
/* Saves dir/snapshot.json naming log_name; *bytes (may be NULL) its size. 0 or -1 with err. */
int persist_snapshot_save(const catalog_store_t *s, const char *dir, const char *log_name, size_t *bytes,
                          char *err, size_t errlen);
/* Loads dir/snapshot.json into s (a fresh store) and copies the log name it carries. 1 loaded,
 * 0 none, -1 error (err says what and where). */
int persist_snapshot_load(catalog_store_t *s, const char *dir, char *log_name, size_t lnlen, size_t *bytes,
                          char *err, size_t errlen);

/* The whole state as a JSON object (new reference) and back (into a fresh store; where names the
 * source in errors). */
json_t *persist_state_json(const catalog_store_t *s);
int persist_state_apply(catalog_store_t *s, const json_t *root, const char *where, char *err, size_t errlen);

/* One log record: the current state of the entity (kind, id) names (store.h, cat_dirty_t), or
 * its deletion when it is gone; a JSON object with "t" its type (svc, svc-, nchk, nchk-, node,
 * sess, sess-, kv, kv-). New reference. */
json_t *persist_record(const catalog_store_t *s, cat_dirty_t kind, const char *id);
/* Applies a record to s (replacing the entity, or removing it). 0, or -1 with err (where names
 * the log and offset). The records of one write batch come in the order durable.c writes them:
 * node, services, node checks, sessions, KV, so a lock's session is there before its key. */
int persist_record_apply(catalog_store_t *s, const json_t *rec, const char *where, char *err, size_t errlen);

#endif
