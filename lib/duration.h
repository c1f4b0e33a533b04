/* duration.h: Go-style durations ("1m30s", "100ms", "1.5h"), as Consul and registrator use them.
 * Pure functions; no allocation. */
#ifndef PORTOLAN_DURATION_H
#define PORTOLAN_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_NS  INT64_C(1)
#define DURATION_US  INT64_C(1000)
#define DURATION_MS  INT64_C(1000000)
#define DURATION_SEC INT64_C(1000000000)
#define DURATION_MIN (60 * DURATION_SEC)
#define DURATION_HOUR (60 * DURATION_MIN)

/* Parses a Go duration string into nanoseconds. Accepts an optional sign, "0", and any
 * sequence of <decimal number><unit> with units ns, us, µs, μs, ms, s, m, h.
 * Returns 0 on success, -1 on a syntax error (err, if given, says why, as Go's
 * time.ParseDuration does: "time: missing unit in duration \"10\""). */
int duration_parse(const char *s, int64_t *out, char *err, size_t errlen);

/* Formats as Go's Duration.String(): "1m0s", "100ms", "1.5s", "0s". Returns the length. */
size_t duration_format(int64_t ns, char *buf, size_t len);

#endif
