/* wal.h: the framing of portolan-catalog's write-ahead log (-data-dir), pure: bytes in, records
 * out; no files (durable.c owns those).
 *
 * A log is the 8-byte magic "PTLNWAL1" and then records, each a 16-byte header and a payload:
 *   u32 payload length | u32 type | u32 CRC-32 of the payload | u32 CRC-32 of the first 12 bytes
 * (little-endian; CRC-32 is zlib's crc32, the ISO-HDLC polynomial). Types: WAL_DATA (a JSON
 * entity record, persist.h) and WAL_COMMIT (closes a batch: everything since the previous commit
 * was made durable by one fsync; its payload is JSON with the store's index). Only committed
 * batches count: records after the last commit belong to a batch whose fsync never returned, so
 * no write in it was acknowledged.
 *
 * The file may go on with zero bytes after the last record: durable.c preallocates the log
 * (writes zeros ahead and then overwrites them), so that a commit's fdatasync does not have to
 * write a new file size too. Every payload is JSON, so a record's last byte is never zero and
 * the zeros after the last record are told apart from it.
 *
 * Reading (wal_scan) tells three cases apart:
 *   - a torn tail: the file ends inside a record (a short header, a payload cut short), or a
 *     record fails a checksum and nothing but zeros follows it (a write cut short in the
 *     preallocated part, or in the very last record), or records follow the last commit. That is
 *     what a crash during a commit leaves; the caller truncates it away (and logs how many
 *     bytes). Zeros alone after the last commit are the unused preallocated part (`padding`).
 *   - corruption in the middle: a header that fails its own checksum, or a payload that fails
 *     its checksum, with non-zero bytes after it. Acknowledged writes may be behind it: refused.
 *   - not a log at all (no magic): refused.
 */
#ifndef PORTOLAN_CATALOG_WAL_H
#define PORTOLAN_CATALOG_WAL_H

#include <stddef.h>
#include <stdint.h>

#define WAL_MAGIC "PTLNWAL1"
#define WAL_MAGIC_LEN 8
#define WAL_HEADER 16
#define WAL_MAX_RECORD (64u << 20)   /* a longer length is corruption */

enum { WAL_DATA = 1, WAL_COMMIT = 2 };

/* A growable byte buffer records are framed into. */
typedef struct { char *data; size_t len, cap; } wal_buf_t;
void wal_buf_free(wal_buf_t *b);
/* Appends one framed record; -1 when payload is longer than WAL_MAX_RECORD or memory runs out. */
int wal_append(wal_buf_t *b, uint32_t type, const void *payload, size_t len);

typedef struct {
    size_t end;        /* bytes that hold the magic and committed batches: keep these */
    size_t torn;       /* bytes after end (a torn tail or an uncommitted batch, and padding) */
    size_t padding;    /* of those, the zeros at the end of the file after end (preallocated) */
    size_t records;    /* committed records (data and commit) */
    size_t commits;
} wal_scan_t;

/* Called for each committed record in order; a non-zero return stops the scan with it. */
typedef int (*wal_record_cb)(void *ctx, uint32_t type, const char *payload, size_t len, size_t offset);

/* Scans buf (a whole log file). 0: *out filled, cb called for every committed record (cb may be
 * NULL). -1: the log is not a log or is corrupt in the middle; err says where. A cb's non-zero
 * return is passed back as is. An empty buffer or a magic cut short is an empty log with a torn
 * tail. */
int wal_scan(const char *buf, size_t len, wal_record_cb cb, void *ctx, wal_scan_t *out, char *err, size_t errlen);

#endif
