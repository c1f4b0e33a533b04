/* log.c: leveled logging to stderr, text ("2026-11-23T20:47:21.123Z info name: msg") or JSON
 * lines ({"ts":..,"level":..,"prog":..,"msg":..}) built with jansson.
 * Messages carry untrusted text (container names and metadata, certificate subjects, Consul and
 * Docker answers), so the formatted message is escaped here, once for every caller and both
 * formats (log_escape): no control byte reaches a terminal or a log file raw, one event stays
 * one line, and invalid UTF-8 (which jansson would refuse, dropping the line) is shown as bytes.
 * Never used for data output; never exits the process. */
#include "log.h"

#include <iconv.h>
#include <jansson.h>
#include <stdlib.h>
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

/* Length of the valid UTF-8 character at p (n bytes left), or 0. The lead byte says how long
 * the sequence claims to be; whether it is valid (no overlong forms, surrogates or values past
 * U+10FFFF, continuation bytes where they belong) is decided by iconv, not by a decoder of ours. */
static size_t utf8_char_len(iconv_t cd, const char *p, size_t n)
{
    unsigned char c = (unsigned char)*p;
    size_t want = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (cd == (iconv_t)-1 || want == 0 || n < want)
        return 0;
    char *in = (char *)p, outbuf[16], *out = outbuf;
    size_t inleft = want, outleft = sizeof outbuf;
    iconv(cd, NULL, NULL, NULL, NULL);
    if (iconv(cd, &in, &inleft, &out, &outleft) == (size_t)-1 || inleft != 0)
        return 0;
    return want;
}

static size_t put_hex(char *o, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    o[0] = '\\';
    o[1] = 'x';
    o[2] = hex[c >> 4];
    o[3] = hex[c & 15];
    return 4;
}

const char *log_quote(const char *s, char *buf, size_t len)
{
    json_t *j = json_string(s ? s : "");
    char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!d)
        snprintf(buf, len, "\"?\"");
    else if (strlen(d) >= len && len > 4)
        snprintf(buf, len, "%.*s...", (int)(len - 4), d);
    else
        snprintf(buf, len, "%s", d);
    free(d);
    return buf;
}

size_t log_escape(const char *in, char *out, size_t cap)
{
    iconv_t cd = (iconv_t)-1;
    size_t n = strlen(in), o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)in[i];
        char buf[16];
        size_t len = 0, used = 1;
        if (c == '\n' || c == '\r' || c == '\t') {
            buf[0] = '\\';
            buf[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            len = 2;
        } else if (c < 0x20 || c == 0x7f) {
            len = put_hex(buf, c);
        } else if (c < 0x80) {
            buf[0] = (char)c;
            len = 1;
        } else {
            if (cd == (iconv_t)-1)
                cd = iconv_open("UTF-8", "UTF-8");
            size_t k = utf8_char_len(cd, in + i, n - i);
            if (k == 2 && c == 0xc2 && (unsigned char)in[i + 1] < 0xa0) {
                /* C1 controls (U+0080..U+009F: CSI and friends) */
                len = put_hex(buf, c);
                len += put_hex(buf + len, (unsigned char)in[i + 1]);
                used = 2;
            } else if (k > 0) {
                memcpy(buf, in + i, k);
                len = used = k;
            } else {
                len = put_hex(buf, c);
            }
        }
        if (o + len >= cap)
            break;
        memcpy(out + o, buf, len);
        o += len;
        i += used;
    }
    out[o] = '\0';
    if (cd != (iconv_t)-1)
        iconv_close(cd);
    return o;
}

void log_vmsg(log_level_t level, const char *fmt, va_list ap)
{
    if (level < log_cur || level >= LOG_OFF)
        return;
    char raw[4096], msg[4 * sizeof raw + 4];
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    size_t m = log_escape(raw, msg, sizeof msg - 4);
    if (n >= (int)sizeof raw)
        memcpy(msg + m, "...", 4);

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
