/* uuid.h: random (version 4) UUIDs in their 36-character text form, from OpenSSL's RAND_bytes,
 * and the check that a text is one.
 * Owns nothing; never fails (out must hold 37 bytes). */
#ifndef PORTOLAN_UUID_H
#define PORTOLAN_UUID_H

#include <stddef.h>

void uuid_random(char out[37]);

/* 1 when the n bytes at s are a UUID in its text form (8-4-4-4-12 hex digits), else 0. */
int uuid_valid(const char *s, size_t n);

#endif
