/* cstr.h: small C-string helpers that lib/'s clients share (each used to carry its own copy).
 * Owns nothing but the copies it returns. Promises: cstr_fmt terminates buf whenever len > 0
 * and cuts a message that does not fit instead of failing; cstr_dup passes NULL through.
 * Never: aborts, logs, or keeps state. */
#ifndef PORTOLAN_CSTR_H
#define PORTOLAN_CSTR_H

#include <stddef.h>

/* printf into buf (len bytes), cut to fit. For the "char *err, size_t errlen" messages of lib/:
 * they are cut on purpose, and going through vsnprintf keeps gcc's -Wformat-truncation (which
 * cannot know that) quiet. */
void cstr_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A malloc'd copy of s; NULL when s is NULL or memory runs out. */
char *cstr_dup(const char *s);

#endif
