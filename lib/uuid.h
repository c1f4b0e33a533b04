/* uuid.h: random (version 4) UUIDs in their 36-character text form, from OpenSSL's RAND_bytes.
 * Owns nothing; never fails (out must hold 37 bytes). */
#ifndef PORTOLAN_UUID_H
#define PORTOLAN_UUID_H

void uuid_random(char out[37]);

#endif
