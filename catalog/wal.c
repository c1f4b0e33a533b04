/* wal.c: see wal.h. Two passes over the buffer: the first finds where the committed batches end
 * (and whether what follows is a torn tail or corruption), the second hands out the committed
 * records, so a caller never applies a record of a batch that turns out to be unfinished. */
#include "wal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void wal_buf_free(wal_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc(const void *p, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)p, (uInt)n);
}

int wal_append(wal_buf_t *b, uint32_t type, const void *payload, size_t len)
{
    if (len > WAL_MAX_RECORD)
        return -1;
    size_t need = b->len + WAL_HEADER + len;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    unsigned char *h = (unsigned char *)b->data + b->len;
    put32(h, (uint32_t)len);
    put32(h + 4, type);
    put32(h + 8, crc(payload, len));
    put32(h + 12, crc(h, 12));
    if (len)
        memcpy(h + WAL_HEADER, payload, len);
    b->len = need;
    return 0;
}

/* Where the file's all-zero suffix starts (len when its last byte is not zero). */
static size_t zero_suffix(const char *buf, size_t len)
{
    size_t z = len;
    while (z > 0 && buf[z - 1] == 0)
        z--;
    return z;
}

int wal_scan(const char *buf, size_t len, wal_record_cb cb, void *ctx, wal_scan_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len < WAL_MAGIC_LEN) {
        if (memcmp(buf, WAL_MAGIC, len) != 0) {
            snprintf(err, errlen, "not a portolan-catalog log (no magic)");
            return -1;
        }
        out->torn = len;
        return 0;
    }
    if (memcmp(buf, WAL_MAGIC, WAL_MAGIC_LEN) != 0) {
        snprintf(err, errlen, "not a portolan-catalog log (no magic)");
        return -1;
    }
    /* a record is never followed by zeros alone unless it is the last one written: JSON payloads
     * end in a non-zero byte, so zeros from z on are the preallocated part or a torn write */
    size_t z = zero_suffix(buf, len);
    size_t pos = WAL_MAGIC_LEN, end = WAL_MAGIC_LEN, records = 0, commits = 0, nrec = 0;
    while (pos < len) {
        size_t rem = len - pos;
        const unsigned char *h = (const unsigned char *)buf + pos;
        if (rem < WAL_HEADER)
            break;                                            /* torn: a header cut short */
        if (get32(h + 12) != crc(h, 12)) {
            if (z <= pos + WAL_HEADER)
                break;                         /* the end (zeros), or a header written in part */
            snprintf(err, errlen, "corrupt record header at offset %zu of %zu (checksum mismatch)", pos, len);
            return -1;
        }
        uint32_t plen = get32(h), type = get32(h + 4);
        if (plen > WAL_MAX_RECORD || (type != WAL_DATA && type != WAL_COMMIT)) {
            snprintf(err, errlen, "corrupt record at offset %zu of %zu (type %u, length %u)", pos, len, type, plen);
            return -1;
        }
        if (plen > rem - WAL_HEADER)
            break;                                            /* torn: payload cut short */
        if (get32(h + 8) != crc(h + WAL_HEADER, plen)) {
            if (z <= pos + WAL_HEADER + plen)
                break;                     /* torn: the last record, nothing but zeros after it */
            snprintf(err, errlen, "corrupt record at offset %zu of %zu (payload checksum mismatch)", pos, len);
            return -1;
        }
        pos += WAL_HEADER + plen;
        nrec++;
        if (type == WAL_COMMIT) {
            end = pos;
            records = nrec;
            commits++;
        }
    }
    out->end = end;
    out->torn = len - end;
    out->padding = len - (z > end ? z : end);
    out->records = records;
    out->commits = commits;
    if (!cb)
        return 0;
    for (pos = WAL_MAGIC_LEN; pos < end;) {
        const unsigned char *h = (const unsigned char *)buf + pos;
        uint32_t plen = get32(h);
        int rc = cb(ctx, get32(h + 4), buf + pos + WAL_HEADER, plen, pos);
        if (rc)
            return rc;
        pos += WAL_HEADER + plen;
    }
    return 0;
}
