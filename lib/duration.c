/* duration.c: Go's time.ParseDuration and Duration.String, reimplemented for C.
 * Owns nothing; pure. Overflow and malformed input are errors, never undefined behaviour. */
#include "duration.h"

#include <stdio.h>
#include <string.h>

static void set_err(char *err, size_t errlen, const char *what, const char *s)
{
    if (err && errlen)
        snprintf(err, errlen, "time: %s \"%s\"", what, s);
}

struct unit { const char *name; int64_t ns; };
static const struct unit units[] = {
    {"ns", DURATION_NS}, {"us", DURATION_US}, {"\xc2\xb5s", DURATION_US}, {"\xce\xbcs", DURATION_US},
    {"ms", DURATION_MS}, {"s", DURATION_SEC}, {"m", DURATION_MIN}, {"h", DURATION_HOUR},
};

int duration_parse(const char *orig, int64_t *out, char *err, size_t errlen)
{
    const char *s = orig;
    if (!s) {
        set_err(err, errlen, "invalid duration", "");
        return -1;
    }
    int neg = 0;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*s == '\0') {
        set_err(err, errlen, "invalid duration", orig);
        return -1;
    }
    uint64_t total = 0;
    while (*s) {
        if (!(*s == '.' || (*s >= '0' && *s <= '9'))) {
            set_err(err, errlen, "invalid duration", orig);
            return -1;
        }
        uint64_t whole = 0, frac = 0, scale = 1;
        int have_digits = 0, overflow = 0;
        while (*s >= '0' && *s <= '9') {
            if (whole > (UINT64_MAX - 9) / 10)
                overflow = 1;
            else
                whole = whole * 10 + (uint64_t)(*s - '0');
            s++;
            have_digits = 1;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                if (scale < UINT64_C(1000000000000000000)) { /* keep 18 digits, ignore the rest */
                    frac = frac * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                }
                s++;
                have_digits = 1;
            }
        }
        if (!have_digits || overflow) {
            set_err(err, errlen, overflow ? "invalid duration" : "invalid duration", orig);
            return -1;
        }
        size_t ulen = 0;
        while (s[ulen] && s[ulen] != '.' && !(s[ulen] >= '0' && s[ulen] <= '9'))
            ulen++;
        if (ulen == 0) {
            set_err(err, errlen, "missing unit in duration", orig);
            return -1;
        }
        const struct unit *u = NULL;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].name) == ulen && strncmp(units[i].name, s, ulen) == 0)
                u = &units[i];
        if (!u) {
            if (err && errlen)
                snprintf(err, errlen, "time: unknown unit \"%.*s\" in duration \"%s\"", (int)ulen, s, orig);
            return -1;
        }
        s += ulen;
        if (whole > (uint64_t)INT64_MAX / (uint64_t)u->ns) {
            set_err(err, errlen, "invalid duration", orig);
            return -1;
        }
        uint64_t v = whole * (uint64_t)u->ns;
        if (frac) /* fraction of the unit, computed in floating point as Go does */
            v += (uint64_t)((double)frac * ((double)u->ns / (double)scale));
        total += v;
        if (total > (uint64_t)INT64_MAX) {
            set_err(err, errlen, "invalid duration", orig);
            return -1;
        }
    }
    *out = neg ? -(int64_t)total : (int64_t)total;
    return 0;
}

/* Writes v/10^prec with the fraction's trailing zeros dropped, into the end of buf[0..w). */
static int fmt_frac(char *buf, int w, uint64_t v, int prec, uint64_t *nv)
{
    int print = 0;
    for (int i = 0; i < prec; i++) {
        int digit = (int)(v % 10);
        print = print || digit != 0;
        if (print)
            buf[--w] = (char)('0' + digit);
        v /= 10;
    }
    if (print)
        buf[--w] = '.';
    *nv = v;
    return w;
}

static int fmt_int(char *buf, int w, uint64_t v)
{
    if (v == 0)
        buf[--w] = '0';
    while (v > 0) {
        buf[--w] = (char)('0' + v % 10);
        v /= 10;
    }
    return w;
}

size_t duration_format(int64_t d, char *out, size_t len)
{
    char buf[32];
    int w = (int)sizeof buf;
    uint64_t u = d < 0 ? (uint64_t)(-(d + 1)) + 1 : (uint64_t)d;
    int neg = d < 0;
    if (u < (uint64_t)DURATION_SEC) {
        int prec = 0;
        buf[--w] = 's';
        w--;
        if (u == 0) {
            buf[w] = '0';
            snprintf(out, len, "%s", "0s");
            return 2;
        } else if (u < (uint64_t)DURATION_US) {
            prec = 0;
            buf[w] = 'n';
        } else if (u < (uint64_t)DURATION_MS) {
            prec = 3;
            w--; /* µ is two bytes */
            memcpy(&buf[w], "\xc2\xb5", 2);
        } else {
            prec = 6;
            buf[w] = 'm';
        }
        w = fmt_frac(buf, w, u, prec, &u);
        w = fmt_int(buf, w, u);
    } else {
        buf[--w] = 's';
        w = fmt_frac(buf, w, u, 9, &u);
        w = fmt_int(buf, w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            w = fmt_int(buf, w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                w = fmt_int(buf, w, u);
            }
        }
    }
    if (neg)
        buf[--w] = '-';
    size_t n = sizeof buf - (size_t)w;
    snprintf(out, len, "%.*s", (int)n, buf + w);
    return n;
}
