/* scale_nodes.c: runs the node command of POST /v1/scale-nodes as a libuv child process with a
 * bounded number at a time, a time limit and its output kept for the answer (scale_nodes.h). */
#include "scale_nodes.h"

#include "log.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_KEEP 4096

typedef struct child {
    scale_nodes_t *sn;
    struct child *next;
    uv_process_t proc;
    uv_pipe_t out;
    uv_timer_t timer;
    int open_handles;
    int exited, exit_status, term_signal, killed;
    int out_done;
    char buf[OUT_KEEP + 1];
    size_t len;
    scale_nodes_done_cb cb;
    void *data;
} child_t;

struct scale_nodes {
    uv_loop_t *loop;
    char cmd[PATH_MAX];
    int max, running;
    uint64_t timeout_ms;
    child_t *children;
    int freeing;
};

static void resolve_cmd(const char *cmd, char *out, size_t len) {
    if (strcmp(cmd, "machine") != 0) {
        snprintf(out, len, "%s", cmd);
        return;
    }
    const char *dir = getenv("PORTOLAN_SCRIPTS");
    if (dir && *dir) {
        snprintf(out, len, "%s/scaleNodes.sh", dir);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(out, len, "scaleNodes.sh");
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(out, len, "%.3900s/../scripts/scaleNodes.sh", exe);
}

scale_nodes_t *scale_nodes_new(uv_loop_t *loop, const char *cmd, int max, uint64_t timeout_ms) {
    if (!cmd || !*cmd) return NULL;
    scale_nodes_t *sn = calloc(1, sizeof *sn);
    if (!sn) return NULL;
    sn->loop = loop;
    sn->max = max > 0 ? max : 1;
    sn->timeout_ms = timeout_ms ? timeout_ms : 15 * 60 * 1000;
    resolve_cmd(cmd, sn->cmd, sizeof sn->cmd);
    return sn;
}

const char *scale_nodes_cmd(const scale_nodes_t *sn) { return sn ? sn->cmd : ""; }
int scale_nodes_running(const scale_nodes_t *sn) { return sn ? sn->running : 0; }

static void child_unlink(child_t *c) {
    scale_nodes_t *sn = c->sn;
    for (child_t **pp = &sn->children; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
}

static void on_handle_closed(uv_handle_t *h) {
    child_t *c = h->data;
    if (--c->open_handles > 0) return;
    scale_nodes_t *sn = c->sn;
    child_unlink(c);
    free(c);
    if (sn->freeing && !sn->children) free(sn);
}

static void child_maybe_done(child_t *c) {
    if (!c->exited || !c->out_done) return;
    c->sn->running--;
    c->buf[c->len] = '\0';
    if (c->cb) c->cb(c->killed ? -1 : c->exit_status, c->term_signal, c->buf, c->data);
    c->cb = NULL;
    uv_close((uv_handle_t *)&c->proc, on_handle_closed);
    uv_close((uv_handle_t *)&c->out, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
    child_t *c = p->data;
    c->exited = 1;
    c->exit_status = (int)status;
    c->term_signal = sig;
    uv_timer_stop(&c->timer);
    child_maybe_done(c);
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
    (void)h;
    static char scratch[4096];
    (void)sz;
    b->base = scratch;
    b->len = sizeof scratch;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    child_t *c = s->data;
    if (n < 0) {
        uv_read_stop(s);
        c->out_done = 1;
        child_maybe_done(c);
        return;
    }
    /* keep the last OUT_KEEP bytes */
    size_t k = (size_t)n;
    if (k >= OUT_KEEP) {
        memcpy(c->buf, b->base + k - OUT_KEEP, OUT_KEEP);
        c->len = OUT_KEEP;
    } else {
        if (c->len + k > OUT_KEEP) {
            size_t drop = c->len + k - OUT_KEEP;
            memmove(c->buf, c->buf + drop, c->len - drop);
            c->len -= drop;
        }
        memcpy(c->buf + c->len, b->base, k);
        c->len += k;
    }
}

static void on_timeout(uv_timer_t *t) {
    child_t *c = t->data;
    if (c->exited) return;
    if (!c->killed) {
        log_warn("scale-nodes: %s ran past its time limit: SIGTERM", c->sn->cmd);
        c->killed = 1;
        uv_process_kill(&c->proc, SIGTERM);
        uv_timer_start(&c->timer, on_timeout, 10000, 0);
    } else {
        uv_process_kill(&c->proc, SIGKILL);
    }
}

int scale_nodes_start(scale_nodes_t *sn, const char *dir, long n, const char *type, scale_nodes_done_cb cb,
                      void *data, char *err, size_t errlen) {
    if (sn->running >= sn->max) {
        snprintf(err, errlen, "%d node command%s already running (-scale-nodes-max %d); retry when done", sn->running,
                 sn->running == 1 ? "" : "s", sn->max);
        return -1;
    }
    child_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->sn = sn;
    c->cb = cb;
    c->data = data;
    uv_pipe_init(sn->loop, &c->out, 0);
    c->out.data = c;
    uv_timer_init(sn->loop, &c->timer);
    c->timer.data = c;
    char nbuf[24];
    snprintf(nbuf, sizeof nbuf, "%ld", n);
    char *args[] = {sn->cmd, (char *)dir, nbuf, (char *)type, NULL};
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&c->out;
    stdio[2].flags = UV_INHERIT_FD; /* its stderr goes to the agent's log */
    stdio[2].data.fd = 2;
    uv_process_options_t po = {.exit_cb = on_exit_cb, .file = sn->cmd, .args = args, .stdio_count = 3, .stdio = stdio};
    c->proc.data = c;
    c->next = sn->children;
    sn->children = c;
    int rc = uv_spawn(sn->loop, &c->proc, &po);
    if (rc != 0) {
        snprintf(err, errlen, "cannot run %s: %s", sn->cmd, uv_strerror(rc));
        c->cb = NULL;
        c->open_handles = 3; /* libuv: a failed spawn's handle is closed like any other */
        uv_close((uv_handle_t *)&c->out, on_handle_closed);
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
        uv_close((uv_handle_t *)&c->proc, on_handle_closed);
        return -1;
    }
    c->open_handles = 3;
    sn->running++;
    uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read);
    uv_timer_start(&c->timer, on_timeout, sn->timeout_ms, 0);
    log_info("scale-nodes: started %s %s %s %s (pid %d)", sn->cmd, dir, nbuf, type, c->proc.pid);
    return 0;
}

void scale_nodes_free(scale_nodes_t *sn) {
    if (!sn) return;
    if (!sn->children) {
        free(sn);
        return;
    }
    sn->freeing = 1;
    for (child_t *c = sn->children; c; c = c->next) {
        c->cb = NULL;
        if (!c->exited) uv_process_kill(&c->proc, SIGTERM);
    }
    /* the children's exits close their handles and the last close frees sn */
}
