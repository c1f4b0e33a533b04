/* log.c: leveled logging to stderr, text ("2026-11-23T20:47:21.123Z info name: msg") or JSON
 * lines ({"ts":..,"level":..,"prog":..,"msg":..}) built with jansson so the message is escaped.
 * Never used for data output; never exits the process. */
#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *log_name = "portolan";
static log_level_t log_cur = LOG_INFO;
static int log_json = 0;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void log_init(const char *name, log_level_t level, int json)
{
    if (name)
        log_name = name;
    log_cur = level;
    log_json = json;
}

int log_level_parse(const char *s, log_level_t *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (s && strcasecmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    if (s && strcasecmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

log_level_t log_level(void) { return log_cur; }
void log_set_level(log_level_t level) { log_cur = level; }

void log_vmsg(log_level_t level, const char *fmt, va_list ap)
{
    if (level < log_cur || level >= LOG_OFF)
        return;
    char msg[4096];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n >= (int)sizeof msg)
        memcpy(msg + sizeof msg - 4, "...", 4);
    /* one event, one line: fold embedded newlines so hostile input cannot forge log lines */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t k = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + k, sizeof ts - k, ".%03ldZ", (long)(tv.tv_usec / 1000));

    if (log_json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level],
                              "prog", log_name, "msg", msg);
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (line) {
            fprintf(stderr, "%s\n", line);
            free(line);
        }
        json_decref(o);
    } else {
        fprintf(stderr, "%s %s %s: %s\n", ts, level_names[level], log_name, msg);
    }
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
