/* log.h: one line per event on stderr, with a level, as text or as JSON lines.
 * Owns: the process-wide log level and format. Promises: never blocks on anything but
 * stderr, never truncates silently (long messages are cut and marked "..."). */
#ifndef PORTOLAN_LOG_H
#define PORTOLAN_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level_t;

/* name: the program name put on every line ("portolan-agent"). */
void log_init(const char *name, log_level_t level, int json);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 when unknown. */
int log_level_parse(const char *s, log_level_t *out);
log_level_t log_level(void);
void log_set_level(log_level_t level);

void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(log_level_t level, const char *fmt, va_list ap);

/* The escaping every message gets before it is written (both formats): newline, carriage return
 * and tab become \n \r \t, other C0 control bytes, DEL, C1 controls and bytes that are not
 * valid UTF-8 become \xHH; printable ASCII and valid UTF-8 pass unchanged. Writes at most cap
 * bytes including the terminating NUL (whole escapes only) and returns the length written. */
size_t log_escape(const char *in, char *out, size_t cap);

/* An untrusted string (a service name, a tag) quoted for a log line: JSON string escaping, so a
 * quote or a control byte in it cannot pass for the line's own; "?" quoted when it is not valid
 * UTF-8. Longer than len-1 bytes: cut, ending in "...". Returns buf. */
const char *log_quote(const char *s, char *buf, size_t len);

#define log_debug(...) do { if (log_level() <= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
