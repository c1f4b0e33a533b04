/* consul_watch.c: a blocking query kept alive forever (see consul_watch.h for the rules).
 *
 * A small state machine around one timer and at most one request:
 *   timer fires -> send <path>?index=I&wait=W -> answer:
 *     error        -> index = 0 (next query non-blocking), backoff timer (250 ms x 2^n, jitter,
 *                     capped), report, keep last data
 *     index back   -> index = 0, re-query at once
 *     same index   -> poll again (after the rate limit)
 *     index up     -> deliver unless the data equal the last delivered, poll again (rate limit)
 * The decisions are the pure consul_index_next() and consul_watch_rate_delay(); the rest is
 * plumbing. Callbacks may stop or free the watch: after every callback the code checks the
 * flags before touching anything, and the memory itself is released by the timer's close
 * callback, which libuv runs only after the current callback chain has returned. */
#include "consul_watch.h"
#include "backoff.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

consul_index_step_t consul_index_next(uint64_t last, uint64_t got, int have_data)
{
    consul_index_step_t s = {0, 0, 0};
    if (got == 0)
        got = 1; /* Consul never sends 0; a proxy or a bug might: never loop on index=0 */
    if (!have_data) {
        s.next_index = got;
        s.fire = 1;
    } else if (got == last) {
        s.next_index = last;
    } else if (got < last) {
        s.reset = 1;
        s.next_index = 0;
    } else {
        s.next_index = got;
        s.fire = 1;
    }
    return s;
}

uint64_t consul_watch_rate_delay(uint64_t elapsed_ms, uint64_t min_interval_ms, uint64_t jitter_ms, uint32_t r)
{
    if (elapsed_ms >= min_interval_ms)
        return 0;
    uint64_t j = (uint64_t)(((double)r / 4294967295.0) * (double)jitter_ms);
    if (j > jitter_ms)
        j = jitter_ms;
    return (min_interval_ms - elapsed_ms) + j;
}

struct consul_watch {
    consul_client_t *c;
    uv_timer_t timer;
    char *path;
    uint64_t wait_ms;
    int stale;
    uint64_t min_interval_ms, jitter_ms;
    int fire_on_equal;
    consul_watch_on_change_cb on_change;
    consul_watch_on_error_cb on_error;
    void *udata;
    consul_call_t *call;
    uint64_t index;
    int have_data;
    json_t *data;
    backoff_t bo;
    consul_watch_stats_t st;
    int running;
    int freed;
};

void consul_watch_opts_init(consul_watch_opts_t *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    o->min_interval_ms = -1;
    o->jitter_ms = -1;
}

static void on_closed(uv_handle_t *h)
{
    consul_watch_t *w = h->data;
    free(w);
}

consul_watch_t *consul_watch_new(consul_client_t *c, const consul_watch_opts_t *o,
                                 consul_watch_on_change_cb on_change, consul_watch_on_error_cb on_error,
                                 void *udata)
{
    if (!c || !o || !o->path || strncmp(o->path, "/v1/", 4) != 0 || !on_change || strlen(o->path) > 4000)
        return NULL;
    consul_watch_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->path = strdup(o->path);
    if (!w->path) {
        free(w);
        return NULL;
    }
    w->c = c;
    w->wait_ms = o->wait_ms ? o->wait_ms : 60000;
    w->stale = o->stale;
    w->min_interval_ms = o->min_interval_ms < 0 ? 100 : (uint64_t)o->min_interval_ms;
    w->jitter_ms = o->jitter_ms < 0 ? 20 : (uint64_t)o->jitter_ms;
    w->fire_on_equal = o->fire_on_equal_data;
    w->on_change = on_change;
    w->on_error = on_error;
    w->udata = udata;
    backoff_init(&w->bo, o->backoff_base_ms ? o->backoff_base_ms : 250,
                 o->backoff_cap_ms ? o->backoff_cap_ms : 60000);
    uv_timer_init(http_client_loop(consul_client_http(c)), &w->timer);
    w->timer.data = w;
    return w;
}

static void on_timer(uv_timer_t *t);

static void schedule(consul_watch_t *w, uint64_t delay_ms)
{
    if (w->running && !w->freed)
        uv_timer_start(&w->timer, on_timer, delay_ms, 0);
}

static int is_kv(const consul_watch_t *w) { return strncmp(w->path, "/v1/kv/", 7) == 0; }

static void fail(consul_watch_t *w, const char *msg)
{
    w->st.errors++;
    /* The index we hold may belong to a server that is gone: a restarted or restored one counts
     * from a lower index and would hold a query carrying ours for the whole wait. So the next
     * query carries none and answers at once; its index starts the count again (the caller's
     * data stays until that answer, which fires only if the data differ). */
    if (w->index)
        w->st.error_resets++;
    w->index = 0;
    uint64_t delay = backoff_next_ms(&w->bo);
    if (w->on_error)
        w->on_error(w, msg, w->bo.attempt, delay, w->udata);
    else
        log_warn("%s (retrying in %llu ms)", msg, (unsigned long long)delay);
    schedule(w, delay);
}

static int data_equal(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    return json_equal((json_t *)a, (json_t *)b);
}

static void on_result(consul_client_t *c, const consul_result_t *r, void *data)
{
    consul_watch_t *w = data;
    w->call = NULL;
    if (!w->running || w->freed)
        return;
    /* KV: 404 means "no such key" (Consul still sends X-Consul-Index), not a failure */
    int absent = is_kv(w) && r->status == 404;
    if (r->error && !absent) {
        fail(w, r->error);
        return;
    }
    if (!absent && !r->json) {
        char msg[700];
        snprintf(msg, sizeof msg, "consul: GET %.400s: answer is not JSON (%ld, %zu bytes)", w->path, r->status, r->len);
        fail(w, msg);
        return;
    }
    backoff_reset(&w->bo);
    consul_index_step_t s = consul_index_next(w->index, r->has_index ? r->index : 0, w->have_data);
    if (!r->has_index) {
        /* not a blocking endpoint (agent/..., status/...): no index to go by, so poll without one
         * (at the rate limit) and let the data comparison decide */
        s.next_index = 0;
        s.fire = 1;
        s.reset = 0;
    }
    if (s.reset) {
        w->st.resets++;
        log_debug("consul: %s: index went backwards (%llu -> %llu): re-querying", w->path,
                  (unsigned long long)w->index, (unsigned long long)r->index);
        w->index = 0;
        schedule(w, 0);
        return;
    }
    w->index = s.next_index;
    json_t *d = absent ? NULL : r->json;
    if (!s.fire) {
        w->st.same_index++;
    } else if (w->have_data && !w->fire_on_equal && data_equal(d, w->data)) {
        w->st.equal_data++;
    } else {
        json_decref(w->data);
        w->data = json_incref(d);
        w->have_data = 1;
        w->st.changes++;
        w->on_change(w, d, w->index, w->udata);
        if (!w->running || w->freed)
            return;
    }
    uint64_t delay = consul_watch_rate_delay(r->elapsed_ms, w->min_interval_ms, w->jitter_ms, backoff_random32());
    if (delay)
        w->st.rate_limited++;
    schedule(w, delay);
}

static void on_timer(uv_timer_t *t)
{
    consul_watch_t *w = t->data;
    if (!w->running || w->freed || w->call)
        return;
    char *p = consul_blocking_path(w->path, w->index, w->index ? w->wait_ms : 0, w->stale);
    /* Consul adds up to wait/16 of jitter: allow for it plus slack before calling it a failure */
    long timeout = w->index ? (long)(w->wait_ms + w->wait_ms / 16 + 5000) : -1;
    w->call = p ? consul_client_request(w->c, "GET", p, NULL, 0, timeout, on_result, w) : NULL;
    free(p);
    w->st.requests++;
    if (!w->call) {
        char msg[600];
        snprintf(msg, sizeof msg, "consul: GET %.400s: could not start the request", w->path);
        fail(w, msg);
    }
}

int consul_watch_start(consul_watch_t *w)
{
    if (!w || w->freed)
        return -1;
    if (w->running)
        return 0;
    w->running = 1;
    schedule(w, 0);
    return 0;
}

void consul_watch_stop(consul_watch_t *w)
{
    if (!w)
        return;
    w->running = 0;
    uv_timer_stop(&w->timer);
    if (w->call) {
        consul_call_cancel(w->call);
        w->call = NULL;
    }
}

void consul_watch_free(consul_watch_t *w)
{
    if (!w || w->freed)
        return;
    consul_watch_stop(w);
    w->freed = 1;
    json_decref(w->data);
    w->data = NULL;
    free(w->path);
    w->path = NULL;
    uv_close((uv_handle_t *)&w->timer, on_closed);
}

uint64_t consul_watch_index(const consul_watch_t *w) { return w->index; }
const json_t *consul_watch_data(const consul_watch_t *w) { return w->data; }
const char *consul_watch_path(const consul_watch_t *w) { return w->path; }
void consul_watch_stats(const consul_watch_t *w, consul_watch_stats_t *out) { *out = w->st; }
