/* backoff.h: exponential backoff with full jitter for retries (Consul writes, reconnects).
 * Pure but for the random source (OpenSSL RAND_bytes). */
#ifndef PORTOLAN_BACKOFF_H
#define PORTOLAN_BACKOFF_H

#include <stdint.h>

typedef struct {
    uint64_t base_ms;  /* first delay's upper bound */
    uint64_t cap_ms;   /* no delay exceeds this */
    unsigned attempt;  /* failures so far */
} backoff_t;

void backoff_init(backoff_t *b, uint64_t base_ms, uint64_t cap_ms);
/* Delay before the next try: uniform in [ceiling/2, ceiling], ceiling = min(cap, base * 2^attempt).
 * Increments attempt. */
uint64_t backoff_next_ms(backoff_t *b);
void backoff_reset(backoff_t *b);
/* Deterministic form for tests: r is a uniform random number in [0, UINT32_MAX]. */
uint64_t backoff_delay_ms(uint64_t base_ms, uint64_t cap_ms, unsigned attempt, uint32_t r);
/* Uniform random 32-bit number from OpenSSL. */
uint32_t backoff_random32(void);

#endif
