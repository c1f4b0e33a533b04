/* backoff.c: capped exponential backoff, "equal jitter" (half fixed, half random) so retries
 * of many clients spread out but never come back immediately. */
#include "backoff.h"

#include <openssl/rand.h>

void backoff_init(backoff_t *b, uint64_t base_ms, uint64_t cap_ms)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
    b->attempt = 0;
}

void backoff_reset(backoff_t *b) { b->attempt = 0; }

uint64_t backoff_delay_ms(uint64_t base_ms, uint64_t cap_ms, unsigned attempt, uint32_t r)
{
    uint64_t ceil = base_ms;
    for (unsigned i = 0; i < attempt && ceil < cap_ms; i++)
        ceil *= 2;
    if (ceil > cap_ms)
        ceil = cap_ms;
    uint64_t half = ceil / 2;
    return half + (uint64_t)(((double)r / 4294967295.0) * (double)(ceil - half));
}

uint32_t backoff_random32(void)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = 0x80000000u; /* RNG failure: fall back to the middle of the range */
    return r;
}

uint64_t backoff_next_ms(backoff_t *b)
{
    uint64_t d = backoff_delay_ms(b->base_ms, b->cap_ms, b->attempt, backoff_random32());
    if (b->attempt < 64)
        b->attempt++;
    return d;
}
