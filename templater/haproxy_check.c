/* haproxy_check.c: `haproxy -c` output -> one line saying why a configuration was refused.
 * HAProxy 2.6 writes, for a refused file:
 *   [NOTICE]   (11634) : haproxy version is 2.6.12-1+deb12u4
 *   [ALERT]    (11634) : config : parsing [h.cfg.tmp:5] : timer overflow in argument '25d' to ...
 *   [ALERT]    (11634) : config : Error(s) found in configuration file : h.cfg.tmp
 *   [ALERT]    (11634) : config : Fatal errors found in configuration.
 * and the line worth logging is the first ALERT's message. See haproxy_check.h. Below it, the
 * run itself (a child process on the caller's libuv loop). */
#include "haproxy_check.h"

#include "child.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p;
    size_t size, len;
    int cut;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (o->len + 1 >= o->size) { o->cut = 1; return; }
        unsigned char c = (unsigned char)s[i];
        o->p[o->len++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
}

static const char *find(const char *s, size_t n, const char *what)
{
    size_t w = strlen(what);
    for (size_t i = 0; i + w <= n; i++)
        if (memcmp(s + i, what, w) == 0) return s + i;
    return NULL;
}

/* The message of an ALERT line (s, n without the newline), or NULL for a generic one. */
static const char *alert_message(const char *s, size_t n, size_t *mlen)
{
    const char *end = s + n;
    const char *p = s + 7; /* after "[ALERT]" */
    const char *sep = find(p, (size_t)(end - p), ") : "); /* after "(<pid>)" */
    if (sep) p = sep + 4;
    while (p < end && *p == ' ') p++;
    if ((size_t)(end - p) >= 9 && memcmp(p, "config : ", 9) == 0) p += 9;
    size_t m = (size_t)(end - p);
    if (find(p, m, "Error(s) found in configuration file") || find(p, m, "Fatal errors found in configuration"))
        return NULL;
    *mlen = m;
    return m ? p : NULL;
}

size_t haproxy_check_reason(const char *out, size_t len, char *buf, size_t size)
{
    if (!buf || size == 0) return 0;
    out_t o = { buf, size, 0, 0 };
    const char *last = NULL;
    size_t lastn = 0;
    int alerts = 0;
    for (size_t i = 0; out && i < len;) {
        const char *line = out + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        i += n + (nl ? 1 : 0);
        if (n && line[n - 1] == '\r') n--;
        if (n) { last = line; lastn = n; }
        if (n >= 7 && memcmp(line, "[ALERT]", 7) == 0) {
            size_t m = 0;
            const char *msg = alert_message(line, n, &m);
            if (!msg) continue;
            if (alerts++) put(&o, " | ", 3);
            put(&o, msg, m);
        }
    }
    if (!alerts && last) put(&o, last, lastn);
    if (o.cut && size >= 4) {
        o.len = size - 4;
        memcpy(o.p + o.len, "...", 3);
        o.len += 3;
    }
    buf[o.len] = '\0';
    return o.len;
}

/* ---- running it ----
 * lib/child.h runs it and reports once both its exit and the end of its stderr are in, so a
 * refusal is reported with HAProxy's own reason (its ALERT lines: `-q` would silence them). Each
 * run is a child of its own: the next check may start at once. */
typedef struct {
    haproxy_check_cb cb;
    void *data;
} check_run_t;

static void on_check_exit(const child_result_t *r, void *data)
{
    check_run_t run = *(check_run_t *)data;
    free(data);
    if (r->status != 0 || r->sig != 0) {
        char why[1024], how[64], msg[1200];
        haproxy_check_reason(r->err, r->errlen, why, sizeof why);
        if (r->sig) snprintf(how, sizeof how, "signal %d", r->sig);
        else snprintf(how, sizeof how, "exit %lld", (long long)r->status);
        snprintf(msg, sizeof msg, "haproxy -c rejected the new configuration (%s)%s%s", how, *why ? ": " : "",
                 *why ? why : "; HAProxy printed nothing");
        run.cb(0, msg, run.data);
        return;
    }
    run.cb(1, NULL, run.data);
}

int haproxy_check_run(uv_loop_t *loop, const char *bin, const char *path, int background, haproxy_check_cb cb,
                      void *data, char *err, size_t errlen)
{
    char *args[] = { (char *)bin, "-c", "-f", (char *)path, NULL };
    check_run_t *run = xmalloc(sizeof *run);
    run->cb = cb;
    run->data = data;
    child_opts_t co = {
        .file = bin, .args = args,
        .capture_stderr = 8192,   /* the start of stderr; the rest is read and dropped */
        .stdout_ignore = 1,       /* stdout only says "Configuration file is valid" */
        .nice = background ? 10 : 0,
        .on_exit = on_check_exit, .data = run,
    };
    char why[256];
    if (!child_spawn(loop, &co, why, sizeof why)) {
        free(run);
        snprintf(err, errlen, "cannot run %s -c: %s", bin, why);
        return -1;
    }
    return 0;
}
