/* haproxy_check.c: `haproxy -c` output -> one line saying why a configuration was refused.
 * HAProxy 2.6 writes, for a refused file:
 *   [NOTICE]   (11634) : haproxy version is 2.6.12-1+deb12u4
 *   [ALERT]    (11634) : config : parsing [h.cfg.tmp:5] : timer overflow in argument '25d' to ...
 *   [ALERT]    (11634) : config : Error(s) found in configuration file : h.cfg.tmp
 *   [ALERT]    (11634) : config : Fatal errors found in configuration.
 * and the line worth logging is the first ALERT's message. See haproxy_check.h. Below it, the
 * run itself (a child process on the caller's libuv loop). */
#include "haproxy_check.h"

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
 * Its exit and the end of its stderr come in either order; the outcome is decided once both are
 * in, so a refusal is reported with HAProxy's own reason (its ALERT lines: `-q` would silence
 * them). Each run has its own handles: the next check may start at once. */
typedef struct {
    uv_process_t proc;
    uv_pipe_t err;
    haproxy_check_cb cb;
    void *data;
    int exited, eof, open_handles;
    int64_t status;
    int sig;
    size_t len;
    char out[8192];           /* the start of stderr; the rest is read and dropped */
} check_proc_t;

static void on_check_closed(uv_handle_t *h)
{
    check_proc_t *cp = h->data;
    if (--cp->open_handles == 0) free(cp);
}

static void check_done(check_proc_t *cp)
{
    if (!cp->exited || !cp->eof) return;
    if (cp->status != 0 || cp->sig != 0) {
        char why[1024], how[64], msg[1200];
        haproxy_check_reason(cp->out, cp->len, why, sizeof why);
        if (cp->sig) snprintf(how, sizeof how, "signal %d", cp->sig);
        else snprintf(how, sizeof how, "exit %lld", (long long)cp->status);
        snprintf(msg, sizeof msg, "haproxy -c rejected the new configuration (%s)%s%s", how, *why ? ": " : "",
                 *why ? why : "; HAProxy printed nothing");
        cp->cb(0, msg, cp->data);
        return;
    }
    cp->cb(1, NULL, cp->data);
}

static void on_check_exit(uv_process_t *p, int64_t status, int sig)
{
    check_proc_t *cp = p->data;
    cp->exited = 1;
    cp->status = status;
    cp->sig = sig;
    uv_close((uv_handle_t *)p, on_check_closed);
    check_done(cp);
}

static void on_check_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char discard[4096];
    check_proc_t *cp = h->data;
    (void)suggested;
    if (cp->len + 1 < sizeof cp->out) *buf = uv_buf_init(cp->out + cp->len, (unsigned)(sizeof cp->out - 1 - cp->len));
    else *buf = uv_buf_init(discard, sizeof discard);
}

static void on_check_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    check_proc_t *cp = s->data;
    if (n > 0) {
        if (buf->base == cp->out + cp->len) cp->len += (size_t)n;
        return;
    }
    if (n == 0) return;
    /* end of stderr (or a read error: what was read is all there is) */
    cp->eof = 1;
    uv_close((uv_handle_t *)s, on_check_closed);
    check_done(cp);
}

int haproxy_check_run(uv_loop_t *loop, const char *bin, const char *path, haproxy_check_cb cb, void *data,
                      char *err, size_t errlen)
{
    char *args[] = { (char *)bin, "-c", "-f", (char *)path, NULL };
    check_proc_t *cp = calloc(1, sizeof *cp);
    if (!cp) abort();
    cp->cb = cb;
    cp->data = data;
    uv_pipe_init(loop, &cp->err, 0);
    uv_process_options_t po;
    memset(&po, 0, sizeof po);
    po.file = bin;
    po.args = args;
    po.exit_cb = on_check_exit;
    /* stdout only says "Configuration file is valid" */
    uv_stdio_container_t stdio[3] = { { .flags = UV_IGNORE }, { .flags = UV_IGNORE },
                                      { .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&cp->err } };
    po.stdio = stdio;
    po.stdio_count = 3;
    int rc = uv_spawn(loop, &cp->proc, &po);
    cp->proc.data = cp->err.data = cp;
    cp->open_handles = 2;
    if (rc < 0) {
        uv_close((uv_handle_t *)&cp->proc, on_check_closed);
        uv_close((uv_handle_t *)&cp->err, on_check_closed);
        snprintf(err, errlen, "cannot run %s -c: %s", bin, uv_strerror(rc));
        return -1;
    }
    uv_read_start((uv_stream_t *)&cp->err, on_check_alloc, on_check_read);
    return 0;
}
