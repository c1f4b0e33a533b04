/* persist.h: -data-dir durability. After every write that changed the catalog, the whole state
 * (services with their checks and check status, KV with flags, indexes and lock holders,
 * sessions, tombstones, the index) is written to state.json.tmp, fsync'd, renamed over state.json and the directory
 * fsync'd, before the write's response is sent: a kill -9 at any moment leaves either the old
 * or the new state, never a mix. The file carries a SHA-256 of its body; a truncated or
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
/* Saves; returns 0 or -1 with err. */
int persist_save(const catalog_store_t *s, const char *dir, char *err, size_t errlen);

#endif
